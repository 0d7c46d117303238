/*
 * store_import.c - bulk load of the nightly extract (see store_import in
 * store.h).
 *
 * Two threads share the work.  The reader parses, validates and
 * normalizes rows, checks uniqueness (license numbers, plates, VINs) and
 * history's reference to a driver in memory, and encodes each record
 * into a batch; the writer inserts batches into DBPATH.new.  Rows are
 * reported and skipped (or, with strict, stop the load) at their line,
 * in file order, by the reader.
 *
 * The database is written with journaling and syncs off (it is not live
 * until renamed).  Records are one text column each (see store_int.h).
 * Lookup keys are 64-bit hashes collected in memory while reading, radix
 * sorted, and written last into one WITHOUT ROWID table in key order:
 * SQLite then appends to the B-tree instead of sorting a million random
 * keys per index, which was most of the load's time.  History events take the rowids of their driver's
 * range, so they need no index.  Finally the file is synced and renamed
 * over DBPATH: readers see the old records or the new, never half.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "norm.h"
#include "record.h"
#include "store_int.h"
#include "util.h"

#define IMPORT_PAGE_SIZE "16384"

/* ---- an open-addressing set of short keys with a value and a counter ---- */

#define KEYSET_KEY 20     /* license (16), "ST|PLATE" (11), VIN (17), + NUL */

struct keyset_slot {
	char key[KEYSET_KEY];   /* NUL-padded; empty slot when key[0] == 0 */
	uint32_t count;         /* history events seen for a driver */
	int64_t value;
};

struct keyset {
	struct keyset_slot *slots;
	size_t cap, used;
	size_t hint;            /* first capacity, a power of two, or 0 */
};

/* Sizes a set for about rows keys so that it never rehashes on the way. */
static void
keyset_hint(struct keyset *ks, uint64_t rows)
{
	size_t cap = 1 << 16;

	while (cap * 7 < rows * 10 + 16 && cap < ((size_t)1 << 31))
		cap <<= 1;
	ks->hint = cap;
}

static uint64_t
slot_hash(const char *p, size_t n)
{
	return (uint64_t)store_key_hash(p, n);
}

static int
keyset_grow(struct keyset *ks)
{
	size_t ncap = ks->cap ? ks->cap * 2 : ks->hint ? ks->hint : 1 << 16;
	struct keyset_slot *ns = calloc(ncap, sizeof *ns), *old = ks->slots;

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < ks->cap; i++) {
		if (old[i].key[0] == '\0')
			continue;
		size_t j = slot_hash(old[i].key, strnlen(old[i].key, KEYSET_KEY)) & (ncap - 1);
		while (ns[j].key[0] != '\0')
			j = (j + 1) & (ncap - 1);
		ns[j] = old[i];
	}
	free(old);
	ks->slots = ns;
	ks->cap = ncap;
	return 0;
}

/*
 * Finds key (n bytes, 1..KEYSET_KEY-1); when absent and insert is set,
 * adds it with value.  Returns the slot, or NULL when absent or when an
 * insertion could not allocate.  *found tells whether it was there.
 */
static struct keyset_slot *
keyset_get(struct keyset *ks, const char *key, size_t n, int insert, int64_t value, int *found)
{
	size_t j;

	*found = 0;
	if (n == 0 || n >= KEYSET_KEY)
		return NULL;
	if (insert && (ks->used + 1) * 10 > ks->cap * 7 && keyset_grow(ks) < 0)
		return NULL;
	if (ks->cap == 0)
		return NULL;
	j = slot_hash(key, n) & (ks->cap - 1);
	while (ks->slots[j].key[0] != '\0') {
		struct keyset_slot *sl = &ks->slots[j];
		if (memcmp(sl->key, key, n) == 0 && sl->key[n] == '\0') {
			*found = 1;
			return sl;
		}
		j = (j + 1) & (ks->cap - 1);
	}
	if (!insert)
		return NULL;
	memcpy(ks->slots[j].key, key, n);
	ks->slots[j].value = value;
	ks->used++;
	return &ks->slots[j];
}

/* ---- lookup keys: collected while reading, sorted, written in order ---- */

struct kv {
	int64_t hash, id;
};

struct keyvec {
	struct kv *v;
	size_t n, cap;
};

static int
keyvec_add(struct keyvec *k, int64_t hash, int64_t id)
{
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 1 << 16;
		struct kv *nv = realloc(k->v, ncap * sizeof *nv);
		if (nv == NULL)
			return -1;
		k->v = nv;
		k->cap = ncap;
	}
	k->v[k->n].hash = hash;
	k->v[k->n].id = id;
	k->n++;
	return 0;
}

/*
 * Sorts by hash in SQLite's integer order (signed), keeping the id order
 * of equal hashes: an LSD radix sort, 16 bits a pass.  Returns 0 or -1.
 */
static int
keyvec_sort(struct keyvec *k)
{
	struct kv *tmp, *src = k->v, *dst;
	size_t *count;

	if (k->n < 2)
		return 0;
	if ((tmp = malloc(k->n * sizeof *tmp)) == NULL)
		return -1;
	if ((count = malloc(65536 * sizeof *count)) == NULL) {
		free(tmp);
		return -1;
	}
	dst = tmp;
	for (int shift = 0; shift < 64; shift += 16) {
		size_t sum = 0;
		memset(count, 0, 65536 * sizeof *count);
		for (size_t i = 0; i < k->n; i++)
			count[(((uint64_t)src[i].hash ^ 0x8000000000000000u) >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < k->n; i++)
			dst[count[(((uint64_t)src[i].hash ^ 0x8000000000000000u) >> shift) & 0xffff]++] =
			    src[i];
		struct kv *t = src;
		src = dst;
		dst = t;
	}
	/* Four passes: the sorted data is back in k->v. */
	free(count);
	free(tmp);
	return 0;
}

/* ---- batches handed from the reader to the writer ---- */

#define BATCH_ROWS 4096
#define BATCH_DATA (4u << 20)
#define NBATCH 4

enum brow_kind { BROW_DRIVER, BROW_HISTORY, BROW_VEHICLE };

struct brow {
	enum brow_kind kind;
	int64_t id;
	uint32_t rec_off, rec_len;    /* the record text */
	uint32_t sens_off, sens_len;  /* driver: ssn, place_of_birth, documents */
	uint32_t kind_off, kind_len;  /* driver: license_kind */
};

struct batch {
	struct brow rows[BATCH_ROWS];
	size_t n;
	char data[BATCH_DATA];
	size_t used;
	int full;                     /* handed to the writer */
	int keys_from, keys_to;       /* then write these kinds of lookup key */
};

#define MULTI 64

struct multi {
	sqlite3_stmt *many, *one;
	int ncols;
	int pending;
	const struct brow *rows[MULTI];
};

struct loader;

/*
 * A reader thread's state: drivers and history are read by one reader,
 * vehicles by another (they share nothing but the writer).  Each has its
 * own ring of NBATCH batches, filled in turn.
 */
struct reader {
	struct loader *L;
	struct batch *batches;
	int fill;                     /* the batch being filled */
	int next;                     /* the next batch the writer takes */
	int done;                     /* no more batches will come */
	int failed;                   /* stopped on an error */
	uint64_t rejected;
	uint64_t bytes;               /* input consumed, for the progress bar */
};

struct loader {
	sqlite3 *db;
	struct multi m[4];            /* driver, driver_sensitive, history, vehicle */
	struct keyset licenses, plates, vins;
	int strict;
	struct store_import_stats *st;
	struct util_progress prog;
	uint64_t bytes_total;

	struct keyvec keys[STORE_NKEYS];  /* lookup keys, by kind */

	struct reader rd[2];          /* 0: drivers, history; 1: vehicles */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int writer_failed;            /* the writer hit a SQLite error */
	int stop;                     /* a reader failed: the other stops too */
};

/* Hands the current batch to the writer and waits for the next to be free.
 * Returns 0, or -1 when the writer failed or the load is stopping. */
static int
batch_push(struct reader *R)
{
	struct loader *L = R->L;
	int rc = 0;

	pthread_mutex_lock(&L->mu);
	R->batches[R->fill].full = 1;
	pthread_cond_broadcast(&L->cv);
	R->fill = (R->fill + 1) % NBATCH;
	while (R->batches[R->fill].full && !L->writer_failed && !L->stop)
		pthread_cond_wait(&L->cv, &L->mu);
	if (L->writer_failed || L->stop)
		rc = -1;
	pthread_mutex_unlock(&L->mu);
	R->batches[R->fill].n = 0;
	R->batches[R->fill].used = 0;
	return rc;
}

/* A new row in the current batch with room for need bytes of text. */
static struct brow *
batch_row(struct reader *R, size_t need)
{
	struct batch *b = &R->batches[R->fill];

	if ((b->n == BATCH_ROWS || b->used + need > BATCH_DATA) && batch_push(R) < 0)
		return NULL;
	b = &R->batches[R->fill];
	memset(&b->rows[b->n], 0, sizeof b->rows[0]);
	return &b->rows[b->n++];
}

/* Appends fields to the batch's text, separated by STORE_SEP. */
static void
put_fields(struct reader *R, const struct csv_field *const *f, int n, uint32_t *off,
    uint32_t *len)
{
	struct batch *b = &R->batches[R->fill];

	*off = (uint32_t)b->used;
	for (int i = 0; i < n; i++) {
		if (i > 0)
			b->data[b->used++] = STORE_SEP;
		memcpy(b->data + b->used, f[i]->p, f[i]->len);
		b->used += f[i]->len;
	}
	*len = (uint32_t)(b->used - *off);
}

static int
step_reset(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		util_errx("import: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int
bind_part(sqlite3_stmt *st, int i, const struct batch *b, uint32_t off, uint32_t len)
{
	if (len == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, b->data + off, (int)len, SQLITE_STATIC);
}

/*
 * Multi-row inserts: one statement per MULTI rows of a table, because the
 * per-statement cost dominates these narrow appends.  A table's pending
 * rows are bound into `many` and stepped when MULTI are bound; flush()
 * inserts a remainder one by one.
 */
/* Binds row r's columns at parameter base+1.. of st. */
static void
bind_row(sqlite3_stmt *st, int base, const struct batch *b, const struct brow *r, int sens)
{
	sqlite3_bind_int64(st, base + 1, r->id);
	if (sens) {
		bind_part(st, base + 2, b, r->kind_off, r->kind_len);
		/* Never NULL: an empty record still has its separators. */
		sqlite3_bind_text(st, base + 3, b->data + r->sens_off, (int)r->sens_len,
		    SQLITE_STATIC);
	} else {
		bind_part(st, base + 2, b, r->rec_off, r->rec_len);
	}
}

static int
multi_add(struct loader *L, struct multi *m, const struct batch *b, const struct brow *r, int sens)
{
	bind_row(m->many, m->pending * m->ncols, b, r, sens);
	m->rows[m->pending++] = r;
	if (m->pending < MULTI)
		return 0;
	m->pending = 0;
	return step_reset(L->db, m->many);
}

static int
multi_flush(struct loader *L, struct multi *m, const struct batch *b, int sens)
{
	for (int i = 0; i < m->pending; i++) {
		bind_row(m->one, 0, b, m->rows[i], sens);
		if (step_reset(L->db, m->one) < 0)
			return -1;
	}
	m->pending = 0;
	return 0;
}

/* Inserts one batch.  Returns 0 or -1. */
static int
write_batch(struct loader *L, const struct batch *b)
{
	struct multi *drv = &L->m[0], *sens = &L->m[1], *hist = &L->m[2], *veh = &L->m[3];

	for (size_t i = 0; i < b->n; i++) {
		const struct brow *r = &b->rows[i];
		int rc;

		switch (r->kind) {
		case BROW_DRIVER:
			rc = multi_add(L, drv, b, r, 0);
			if (rc == 0)
				rc = multi_add(L, sens, b, r, 1);
			break;
		case BROW_HISTORY:
			rc = multi_add(L, hist, b, r, 0);
			break;
		case BROW_VEHICLE:
		default:
			rc = multi_add(L, veh, b, r, 0);
			break;
		}
		if (rc < 0)
			return -1;
	}
	/* The batch's memory is reused after this: insert what is pending. */
	if (multi_flush(L, drv, b, 0) < 0 || multi_flush(L, sens, b, 1) < 0 ||
	    multi_flush(L, hist, b, 0) < 0 || multi_flush(L, veh, b, 0) < 0)
		return -1;
	return 0;
}

static int write_keys(struct loader *L, int from, int to);

/*
 * The writer: takes full batches from both readers' rings, in each ring's
 * order, until both readers are done.  After a batch that ends a file it
 * writes that file's lookup keys, while the readers go on.
 */
static void *
writer_main(void *arg)
{
	struct loader *L = arg;

	for (;;) {
		struct reader *R = NULL;
		struct batch *b;
		int failed;

		pthread_mutex_lock(&L->mu);
		for (;;) {
			for (int i = 0; i < 2 && R == NULL; i++)
				if (L->rd[i].batches[L->rd[i].next].full)
					R = &L->rd[i];
			if (R != NULL || (L->rd[0].done && L->rd[1].done))
				break;
			pthread_cond_wait(&L->cv, &L->mu);
		}
		pthread_mutex_unlock(&L->mu);
		if (R == NULL)
			break;
		b = &R->batches[R->next];
		failed = write_batch(L, b) < 0;
		if (!failed && b->keys_from > 0)
			failed = write_keys(L, b->keys_from, b->keys_to) < 0;
		b->keys_from = b->keys_to = 0;
		pthread_mutex_lock(&L->mu);
		b->full = 0;
		R->next = (R->next + 1) % NBATCH;
		if (failed)
			L->writer_failed = 1;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
		if (failed)
			break;
	}
	return NULL;
}

/* ---- the reader ---- */

/* Checks the header row against the expected column names. */
static int
check_header(struct csv *c, const char *const *names, int ncols)
{
	const struct csv_field *f;
	size_t n;
	int rc = csv_next(c, &f, &n);

	if (rc <= 0) {
		util_errx("%s:1: %s", csv_name(c), rc == 0 ? "empty file, expected a header row"
							   : csv_error(c));
		return -1;
	}
	for (int i = 0; i < ncols; i++) {
		if ((size_t)i >= n) {
			util_errx("%s:1: header: missing column '%s'", csv_name(c), names[i]);
			return -1;
		}
		if (!csv_field_is(&f[i], names[i])) {
			util_errx("%s:1: header: column %d is '%.*s', expected '%s'", csv_name(c),
			    i + 1, (int)(f[i].len > 64 ? 64 : f[i].len), f[i].p, names[i]);
			return -1;
		}
	}
	if (n > (size_t)ncols) {
		util_errx("%s:1: header: unexpected extra column '%.*s'", csv_name(c),
		    (int)(f[ncols].len > 64 ? 64 : f[ncols].len), f[ncols].p);
		return -1;
	}
	return 0;
}

/* Reports a bad row.  Returns -1 when the import must stop (strict). */
static int
reject(struct reader *R, struct csv *c, const char *msg)
{
	fprintf(stderr, "%s:%zu: %s\n", csv_name(c), csv_line(c), msg);
	R->rejected++;
	return R->L->strict ? -1 : 0;
}

typedef int (*row_fn)(struct reader *, struct csv *, const struct csv_field *, size_t);

/* Progress of both readers; reader 0 draws it. */
static void
progress(struct reader *R, uint64_t bytes)
{
	struct loader *L = R->L;

	__atomic_store_n(&R->bytes, bytes, __ATOMIC_RELAXED);
	if (R == &L->rd[0])
		util_progress_update(&L->prog, bytes +
		    __atomic_load_n(&L->rd[1].bytes, __ATOMIC_RELAXED));
}

static int
load_file(struct reader *R, const char *path, const char *const *names, int ncols, row_fn fn)
{
	struct csv *c = csv_open(path);
	const struct csv_field *f;
	size_t n;
	int rc = -1, r;
	uint64_t rows = 0, before = R->bytes;

	if (c == NULL)
		return -1;
	if (check_header(c, names, ncols) < 0)
		goto out;
	while ((r = csv_next(c, &f, &n)) != 0) {
		if (r < 0) {
			if (reject(R, c, csv_error(c)) < 0)
				goto out;
			continue;
		}
		if (fn(R, c, f, n) < 0)
			goto out;
		if ((++rows & 8191) == 0) {
			if (__atomic_load_n(&R->L->stop, __ATOMIC_RELAXED))
				goto out;
			progress(R, before + csv_offset(c));
		}
	}
	progress(R, before + csv_size(c));
	rc = 0;
out:
	csv_close(c);
	return rc;
}

static int
oom(void)
{
	util_errx("import: out of memory");
	return -1;
}

static int
driver_row(struct reader *R, struct csv *c, const struct csv_field *f, size_t n)
{
	struct loader *L = R->L;
	char err[160], key[NORM_KEY_MAX];
	const struct csv_field *pub[RECORD_DRIVER_COLS], *sens[3];
	const enum field *order;
	int norder = store_record_fields(1, &order), found, kn;
	int64_t id = (int64_t)L->st->drivers + 1, name_hash, addr_hash;
	struct brow *r;
#define F(x) (&f[(x) - FIELD_LICENSE_NUMBER])

	if (record_check_driver(f, n, err, sizeof err) < 0)
		return reject(R, c, err);
	kn = norm_name_key(F(FIELD_LAST_NAME)->p, F(FIELD_LAST_NAME)->len, F(FIELD_FIRST_NAME)->p,
	    F(FIELD_FIRST_NAME)->len, key, sizeof key - 12);
	if (kn < 0)
		return reject(R, c, "name cannot be normalized");
	key[kn] = '|';
	memcpy(key + kn + 1, F(FIELD_DOB)->p, 10);
	name_hash = store_key_hash(key, (size_t)kn + 11);
	kn = norm_address_key(F(FIELD_STREET)->p, F(FIELD_STREET)->len, F(FIELD_CITY)->p,
	    F(FIELD_CITY)->len, F(FIELD_ZIP)->p, F(FIELD_ZIP)->len, key, sizeof key);
	if (kn < 0)
		return reject(R, c, "address cannot be normalized");
	addr_hash = store_key_hash(key, (size_t)kn);
	if (keyset_get(&L->licenses, F(FIELD_LICENSE_NUMBER)->p, F(FIELD_LICENSE_NUMBER)->len, 1,
		id, &found) == NULL)
		return oom();
	if (found) {
		snprintf(err, sizeof err, "license_number: duplicate %.*s",
		    (int)F(FIELD_LICENSE_NUMBER)->len, F(FIELD_LICENSE_NUMBER)->p);
		return reject(R, c, err);
	}
	for (int i = 0; i < norder; i++)
		pub[i] = F(order[i]);
	sens[0] = F(FIELD_SSN);
	sens[1] = F(FIELD_PLACE_OF_BIRTH);
	sens[2] = F(FIELD_DOCUMENTS);
	if ((r = batch_row(R, (size_t)CSV_MAX_RECORD + CSV_MAX_FIELDS)) == NULL)
		return -1;
	r->kind = BROW_DRIVER;
	r->id = id;
	if (keyvec_add(&L->keys[STORE_KEY_LICENSE], store_key_hash(F(FIELD_LICENSE_NUMBER)->p,
		F(FIELD_LICENSE_NUMBER)->len), id) < 0 ||
	    keyvec_add(&L->keys[STORE_KEY_NAME_DOB], name_hash, id) < 0 ||
	    keyvec_add(&L->keys[STORE_KEY_DRIVER_ADDR], addr_hash, id) < 0)
		return oom();
	put_fields(R, pub, norder, &r->rec_off, &r->rec_len);
	put_fields(R, sens, 3, &r->sens_off, &r->sens_len);
	sens[0] = F(FIELD_LICENSE_KIND);
	put_fields(R, sens, 1, &r->kind_off, &r->kind_len);
	L->st->drivers++;
	return 0;
#undef F
}

static int
history_row(struct reader *R, struct csv *c, const struct csv_field *f, size_t n)
{
	struct loader *L = R->L;
	char err[160];
	const struct csv_field *parts[RECORD_HISTORY_COLS - 1];
	struct keyset_slot *sl;
	struct brow *r;
	int found;

	if (record_check_history(f, n, err, sizeof err) < 0)
		return reject(R, c, err);
	sl = keyset_get(&L->licenses, f[RECORD_H_LICENSE].p, f[RECORD_H_LICENSE].len, 0, 0, &found);
	if (sl == NULL)
		return reject(R, c, "license_number: no such driver in drivers.csv");
	if (sl->count >= STORE_HISTORY_SLOTS)
		return reject(R, c, "license_number: more than 1024 history events for one driver");
	for (int i = 1; i < RECORD_HISTORY_COLS; i++)
		parts[i - 1] = &f[i];
	if ((r = batch_row(R, (size_t)CSV_MAX_RECORD + CSV_MAX_FIELDS)) == NULL)
		return -1;
	r->kind = BROW_HISTORY;
	r->id = sl->value * STORE_HISTORY_SLOTS + sl->count++;
	put_fields(R, parts, RECORD_HISTORY_COLS - 1, &r->rec_off, &r->rec_len);
	L->st->history++;
	return 0;
}

static int
vehicle_row(struct reader *R, struct csv *c, const struct csv_field *f, size_t n)
{
	struct loader *L = R->L;
	char err[160], key[NORM_KEY_MAX], pkey[KEYSET_KEY];
	const struct csv_field *all[RECORD_VEHICLE_COLS];
	int found, kn;
	int64_t id = (int64_t)L->st->vehicles + 1;
	struct brow *r;
#define F(x) (&f[(x) - FIELD_PLATE])

	if (record_check_vehicle(f, n, err, sizeof err) < 0)
		return reject(R, c, err);
	kn = norm_address_key(F(FIELD_OWNER_STREET)->p, F(FIELD_OWNER_STREET)->len,
	    F(FIELD_OWNER_CITY)->p, F(FIELD_OWNER_CITY)->len, F(FIELD_OWNER_ZIP)->p,
	    F(FIELD_OWNER_ZIP)->len, key, sizeof key);
	if (kn < 0)
		return reject(R, c, "owner address cannot be normalized");
	snprintf(pkey, sizeof pkey, "%.2s|%.*s", F(FIELD_PLATE_STATE)->p, (int)F(FIELD_PLATE)->len,
	    F(FIELD_PLATE)->p);
	if (keyset_get(&L->plates, pkey, strlen(pkey), 1, id, &found) == NULL)
		return oom();
	if (found)
		return reject(R, c, "plate: duplicate plate and plate_state");
	if (keyset_get(&L->vins, F(FIELD_VIN)->p, F(FIELD_VIN)->len, 1, id, &found) == NULL)
		return oom();
	if (found)
		return reject(R, c, "vin: duplicate");
	for (int i = 0; i < RECORD_VEHICLE_COLS; i++)
		all[i] = &f[i];
	if ((r = batch_row(R, (size_t)CSV_MAX_RECORD + CSV_MAX_FIELDS)) == NULL)
		return -1;
	r->kind = BROW_VEHICLE;
	r->id = id;
	if (keyvec_add(&L->keys[STORE_KEY_PLATE], store_key_hash(pkey, strlen(pkey)), id) < 0 ||
	    keyvec_add(&L->keys[STORE_KEY_VIN], store_key_hash(F(FIELD_VIN)->p,
		F(FIELD_VIN)->len), id) < 0 ||
	    keyvec_add(&L->keys[STORE_KEY_VEHICLE_ADDR], store_key_hash(key, (size_t)kn), id) < 0 ||
	    (F(FIELD_OWNER_LICENSE_NUMBER)->len > 0 &&
		keyvec_add(&L->keys[STORE_KEY_OWNER], store_key_hash(F(FIELD_OWNER_LICENSE_NUMBER)->p,
		    F(FIELD_OWNER_LICENSE_NUMBER)->len), id) < 0))
		return oom();
	put_fields(R, all, RECORD_VEHICLE_COLS, &r->rec_off, &r->rec_len);
	L->st->vehicles++;
	return 0;
#undef F
}

/* ---- setup and the final rename ---- */

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		util_errx("import: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int
file_size(const char *path, uint64_t *sz)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	*sz = (uint64_t)st.st_size;
	return 0;
}

static int
write_meta(sqlite3 *db, const struct store_import_stats *st, const char *dir)
{
	sqlite3_stmt *ins = NULL;
	char when[32], num[3][32], ver[16];
	const char *keys[] = { "schema_version", "imported_at", "source", "drivers", "history",
		"vehicles" };
	const char *vals[6];
	int rc = -1;

	util_time_format(util_now_us(), when);
	snprintf(ver, sizeof ver, "%d", STORE_SCHEMA_VERSION);
	snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)st->drivers);
	snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)st->history);
	snprintf(num[2], sizeof num[2], "%llu", (unsigned long long)st->vehicles);
	vals[0] = ver;
	vals[1] = when;
	vals[2] = dir;
	vals[3] = num[0];
	vals[4] = num[1];
	vals[5] = num[2];
	if (prepare(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &ins) < 0)
		return -1;
	for (size_t i = 0; i < UTIL_NELEM(keys); i++) {
		sqlite3_bind_text(ins, 1, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, vals[i], -1, SQLITE_STATIC);
		if (step_reset(db, ins) < 0)
			goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(ins);
	return rc;
}

/* Sorts each kind's keys and writes them in (kind, hash, id) order, which
 * SQLite appends to the lookup_key B-tree without a sort of its own. */
static int
write_keys(struct loader *L, int from, int to)
{
	enum { ROWS = 256 };
	sqlite3_stmt *many = NULL, *one = NULL;
	char *sql = NULL;
	size_t n = 0;
	int rc = -1;

	/* One statement inserts ROWS keys: the per-statement cost, not the
	 * B-tree, dominates a sorted load. */
	enum { SQLSZ = 64 + ROWS * 10 };
	if ((sql = malloc(SQLSZ)) == NULL) {
		oom();
		goto out;
	}
	n = (size_t)snprintf(sql, SQLSZ, "INSERT INTO lookup_key VALUES(?, ?, ?)");
	for (int i = 1; i < ROWS && n < SQLSZ; i++)
		n += (size_t)snprintf(sql + n, SQLSZ - n, ",(?,?,?)");
	if (prepare(L->db, sql, &many) < 0 ||
	    prepare(L->db, "INSERT INTO lookup_key VALUES(?, ?, ?)", &one) < 0)
		goto out;
	for (int k = from; k <= to; k++) {
		struct keyvec *kv = &L->keys[k];
		size_t i = 0;

		if (keyvec_sort(kv) < 0) {
			oom();
			goto out;
		}
		for (; i + ROWS <= kv->n; i += ROWS) {
			for (int j = 0; j < ROWS; j++) {
				sqlite3_bind_int(many, 3 * j + 1, k);
				sqlite3_bind_int64(many, 3 * j + 2, kv->v[i + (size_t)j].hash);
				sqlite3_bind_int64(many, 3 * j + 3, kv->v[i + (size_t)j].id);
			}
			if (step_reset(L->db, many) < 0)
				goto out;
		}
		for (; i < kv->n; i++) {
			sqlite3_bind_int(one, 1, k);
			sqlite3_bind_int64(one, 2, kv->v[i].hash);
			sqlite3_bind_int64(one, 3, kv->v[i].id);
			if (step_reset(L->db, one) < 0)
				goto out;
		}
		free(kv->v);
		kv->v = NULL;
		kv->n = kv->cap = 0;
	}
	rc = 0;
out:
	sqlite3_finalize(many);
	sqlite3_finalize(one);
	free(sql);
	return rc;
}

/* Prepares the one-row and MULTI-row inserts of a table of ncols. */
static int
prepare_multi(sqlite3 *db, struct multi *m, const char *table, int ncols)
{
	char sql[MULTI * 16 + 64];
	size_t n;
	int rc;

	m->ncols = ncols;
	m->pending = 0;
	n = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(?%s)", table,
	    ncols == 3 ? ",?,?" : ",?");
	if (prepare(db, sql, &m->one) < 0)
		return -1;
	for (int i = 1; i < MULTI && n < sizeof sql; i++)
		n += (size_t)snprintf(sql + n, sizeof sql - n, ncols == 3 ? ",(?,?,?)" : ",(?,?)");
	if (n >= sizeof sql)
		return -1;
	rc = prepare(db, sql, &m->many);
	return rc;
}

static void
finalize_all(struct loader *L)
{
	for (int i = 0; i < 4; i++) {
		sqlite3_finalize(L->m[i].many);
		sqlite3_finalize(L->m[i].one);
		L->m[i].many = L->m[i].one = NULL;
	}
}

struct reader_job {
	struct reader *R;
	const char *path[2];
	int have[2];
	int rc;
};

/* Marks the current batch as the end of a file whose keys are from..to,
 * and hands it over. */
static int
end_of_keys(struct reader *R, int from, int to)
{
	R->batches[R->fill].keys_from = from;
	R->batches[R->fill].keys_to = to;
	return batch_push(R);
}

/* Reader 0: drivers, then history (which needs every license number). */
static void *
reader0_main(void *arg)
{
	struct reader_job *j = arg;
	const char *dnames[RECORD_DRIVER_COLS];

	for (int i = 0; i < RECORD_DRIVER_COLS; i++)
		dnames[i] = field_info[record_driver_col(i)].name;
	j->rc = -1;
	if (load_file(j->R, j->path[0], dnames, RECORD_DRIVER_COLS, driver_row) < 0 ||
	    end_of_keys(j->R, STORE_KEY_LICENSE, STORE_KEY_DRIVER_ADDR) < 0)
		return NULL;
	if (j->have[1] && (load_file(j->R, j->path[1], record_history_cols, RECORD_HISTORY_COLS,
			       history_row) < 0 || batch_push(j->R) < 0))
		return NULL;
	j->rc = 0;
	return NULL;
}

/* Reader 1: vehicles. */
static void *
reader1_main(void *arg)
{
	struct reader_job *j = arg;
	const char *vnames[RECORD_VEHICLE_COLS];

	for (int i = 0; i < RECORD_VEHICLE_COLS; i++)
		vnames[i] = field_info[record_vehicle_col(i)].name;
	j->rc = -1;
	if (j->have[0] && (load_file(j->R, j->path[0], vnames, RECORD_VEHICLE_COLS,
			       vehicle_row) < 0 ||
			       end_of_keys(j->R, STORE_KEY_PLATE, STORE_NKEYS - 1) < 0))
		return NULL;
	j->rc = 0;
	return NULL;
}

static void
reader_finish(struct loader *L, struct reader_job *j)
{
	pthread_mutex_lock(&L->mu);
	j->R->done = 1;
	if (j->rc < 0)
		L->stop = 1;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
}

/*
 * Runs the two readers and the writer; this thread is reader 0.  Returns
 * 0 when every file was read and written, else -1.
 */
static int
load_all(struct loader *L, const char *pdrv, const char *phist, const char *pveh, int have_hist,
    int have_veh)
{
	struct reader_job j0 = { &L->rd[0], { pdrv, phist }, { 1, have_hist }, -1 };
	struct reader_job j1 = { &L->rd[1], { pveh, NULL }, { have_veh, 0 }, -1 };
	pthread_t writer, r1;
	int have_r1 = 0;

	for (int i = 0; i < 2; i++)
		L->rd[i].L = L;
	if (pthread_create(&writer, NULL, writer_main, L) != 0) {
		util_errx("import: cannot start the writer thread");
		return -1;
	}
	if (pthread_create(&r1, NULL, reader1_main, &j1) == 0)
		have_r1 = 1;
	else
		util_errx("import: cannot start a reader thread");
	reader0_main(&j0);
	reader_finish(L, &j0);
	if (have_r1) {
		pthread_join(r1, NULL);
		reader_finish(L, &j1);
	} else {
		j1.rc = -1;
		reader_finish(L, &j1);
	}
	pthread_join(writer, NULL);
	L->st->rejected = L->rd[0].rejected + L->rd[1].rejected;
	return j0.rc == 0 && j1.rc == 0 && !L->writer_failed ? 0 : -1;
}

int
store_import(const char *dbpath, const char *dir, int strict, struct store_import_stats *stats)
{
	struct loader L;
	char *tmp = NULL, *lockpath = NULL, *pdrv = NULL, *phist = NULL, *pveh = NULL;
	uint64_t sz, t0 = util_mono_ns();
	int rc = -1, lockfd = -1, have_hist, have_veh, fd, sync_ok;

	memset(&L, 0, sizeof L);
	memset(stats, 0, sizeof *stats);
	L.st = stats;
	L.strict = strict;
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	for (int i = 0; i < 2; i++) {
		if ((L.rd[i].batches = calloc(NBATCH, sizeof *L.rd[i].batches)) == NULL) {
			oom();
			goto out;
		}
	}
	if ((tmp = util_aprintf("%s.new", dbpath)) == NULL ||
	    (lockpath = util_aprintf("%s.import-lock", dbpath)) == NULL ||
	    (pdrv = util_aprintf("%s/drivers.csv", dir)) == NULL ||
	    (phist = util_aprintf("%s/history.csv", dir)) == NULL ||
	    (pveh = util_aprintf("%s/vehicles.csv", dir)) == NULL)
		goto out;
	if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		util_warn("%s: another import is running", lockpath);
		goto out;
	}
	if (file_size(pdrv, &sz) < 0) {
		util_warn("%s", pdrv);
		goto out;
	}
	L.bytes_total = sz;
	/* Rows are about 200 (drivers) and 150 (vehicles) bytes: size the
	 * sets from that; a wrong guess only costs a rehash. */
	keyset_hint(&L.licenses, sz / 200);
	have_hist = file_size(phist, &sz) == 0;
	if (have_hist)
		L.bytes_total += sz;
	have_veh = file_size(pveh, &sz) == 0;
	if (have_veh) {
		L.bytes_total += sz;
		keyset_hint(&L.plates, sz / 150);
		keyset_hint(&L.vins, sz / 150);
	}
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &L.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		util_errx("%s: %s", tmp, L.db ? sqlite3_errmsg(L.db) : "cannot create");
		goto out;
	}
	if (store_exec(L.db, "PRAGMA page_size = " IMPORT_PAGE_SIZE "; PRAGMA journal_mode = OFF;"
			     "PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;"
			     "PRAGMA cache_size = -524288; PRAGMA temp_store = MEMORY;"
			     "PRAGMA threads = 2;", tmp) < 0 ||
	    store_exec(L.db, store_schema_tables, tmp) < 0)
		goto out;
	if (prepare_multi(L.db, &L.m[0], "driver", 2) < 0 ||
	    prepare_multi(L.db, &L.m[1], "driver_sensitive", 3) < 0 ||
	    prepare_multi(L.db, &L.m[2], "history", 2) < 0 ||
	    prepare_multi(L.db, &L.m[3], "vehicle", 2) < 0)
		goto out;
	util_progress_init(&L.prog, "import", L.bytes_total);
	if (store_exec(L.db, "BEGIN", tmp) < 0)
		goto out;
	if (load_all(&L, pdrv, phist, pveh, have_hist, have_veh) < 0)
		goto out;
	util_progress_done(&L.prog);
	if (write_meta(L.db, stats, dir) < 0 ||
	    store_exec(L.db, "COMMIT", tmp) < 0 ||
	    store_exec(L.db, "PRAGMA journal_mode = DELETE;", tmp) < 0)
		goto out;
	finalize_all(&L);
	if (sqlite3_close(L.db) != SQLITE_OK) {
		util_errx("%s: close failed", tmp);
		goto out;
	}
	L.db = NULL;
	fd = open(tmp, O_RDWR | O_CLOEXEC);
	sync_ok = fd >= 0 && fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		sync_ok = 0;
	if (!sync_ok) {
		util_warn("%s: sync", tmp);
		goto out;
	}
	if (chmod(tmp, 0600) < 0 || rename(tmp, dbpath) < 0) {
		util_warn("%s", dbpath);
		goto out;
	}
	{
		char *slash = strrchr(dbpath, '/');
		char *d = slash ? util_strndup(dbpath, (size_t)(slash - dbpath)) : util_strdup(".");
		if (d == NULL || util_fsync_dir(d) < 0) {
			util_warn("fsync directory of %s", dbpath);
			free(d);
			goto out;
		}
		free(d);
	}
	rc = 0;
out:
	stats->seconds = (double)(util_mono_ns() - t0) / 1e9;
	finalize_all(&L);
	if (L.db != NULL)
		sqlite3_close(L.db);
	if (rc < 0 && tmp != NULL)
		unlink(tmp);
	free(L.licenses.slots);
	free(L.plates.slots);
	free(L.vins.slots);
	for (int k = 0; k < STORE_NKEYS; k++)
		free(L.keys[k].v);
	free(L.rd[0].batches);
	free(L.rd[1].batches);
	pthread_mutex_destroy(&L.mu);
	pthread_cond_destroy(&L.cv);
	if (lockfd >= 0)
		close(lockfd);
	free(tmp);
	free(lockpath);
	free(pdrv);
	free(phist);
	free(pveh);
	return rc;
}
