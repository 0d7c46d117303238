/*
 * store_import.c - bulk load of the nightly extract (see store_import in
 * store.h).
 *
 * The load goes into DBPATH.new with journaling and syncs off (the file
 * is not live until renamed), tables first and indexes after, which lets
 * SQLite build each index with one sort instead of a million B-tree
 * insertions.  Uniqueness (license numbers, plates, VINs) and history's
 * reference to a driver are checked in memory while loading, so a bad
 * row is reported at its line rather than failing the index build.
 * Finally the file is synced and renamed over DBPATH.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
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

/* ---- an open-addressing set of short keys with a 64-bit value ---- */

#define KEYSET_KEY 24

struct keyset_slot {
	char key[KEYSET_KEY];   /* NUL-padded; empty slot when key[0] == 0 */
	int64_t value;
};

struct keyset {
	struct keyset_slot *slots;
	size_t cap, used;
};

static uint64_t
hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15u ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return h;
}

static int
keyset_grow(struct keyset *ks)
{
	size_t ncap = ks->cap ? ks->cap * 2 : 1 << 16;
	struct keyset_slot *ns = calloc(ncap, sizeof *ns), *old = ks->slots;

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < ks->cap; i++) {
		if (old[i].key[0] == '\0')
			continue;
		size_t klen = strnlen(old[i].key, KEYSET_KEY);
		size_t j = hash_bytes(old[i].key, klen) & (ncap - 1);
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
 * Finds key; when absent and insert is set, adds it with value.  Returns
 * the slot, or NULL when absent (or on allocation failure with *oom set).
 * *found tells whether it was there before.
 */
static struct keyset_slot *
keyset_get(struct keyset *ks, const char *key, size_t n, int insert, int64_t value, int *found)
{
	size_t j;

	*found = 0;
	if (n == 0 || n >= KEYSET_KEY)
		return NULL;
	if (insert && (ks->used + 1) * 2 > ks->cap && keyset_grow(ks) < 0)
		return NULL;
	if (ks->cap == 0)
		return NULL;
	j = hash_bytes(key, n) & (ks->cap - 1);
	while (ks->slots[j].key[0] != '\0') {
		struct keyset_slot *sl = &ks->slots[j];
		if (memcmp(sl->key, key, n) == 0 && (n == KEYSET_KEY || sl->key[n] == '\0')) {
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

/* ---- the load ---- */

struct loader {
	sqlite3 *db;
	sqlite3_stmt *ins_driver, *ins_sens, *ins_hist, *ins_veh;
	struct keyset licenses, plates, vins;
	int strict;
	struct store_import_stats *st;
	struct util_progress prog;
	uint64_t bytes_before, bytes_total;
};

static int
bind_field(sqlite3_stmt *st, int i, const struct csv_field *f)
{
	if (f->len == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, f->p, (int)f->len, SQLITE_STATIC);
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
reject(struct loader *L, struct csv *c, const char *msg)
{
	fprintf(stderr, "%s:%zu: %s\n", csv_name(c), csv_line(c), msg);
	L->st->rejected++;
	return L->strict ? -1 : 0;
}

typedef int (*row_fn)(struct loader *, struct csv *, const struct csv_field *, size_t);

static int
load_file(struct loader *L, const char *path, const char *const *names, int ncols, row_fn fn)
{
	struct csv *c = csv_open(path);
	const struct csv_field *f;
	size_t n;
	int rc = -1, r;
	uint64_t rows = 0;

	if (c == NULL)
		return -1;
	if (check_header(c, names, ncols) < 0)
		goto out;
	while ((r = csv_next(c, &f, &n)) != 0) {
		if (r < 0) {
			if (reject(L, c, csv_error(c)) < 0)
				goto out;
			continue;
		}
		if (fn(L, c, f, n) < 0)
			goto out;
		if ((++rows & 8191) == 0)
			util_progress_update(&L->prog, L->bytes_before + csv_offset(c));
	}
	L->bytes_before += csv_size(c);
	util_progress_update(&L->prog, L->bytes_before);
	rc = 0;
out:
	csv_close(c);
	return rc;
}

static int
driver_row(struct loader *L, struct csv *c, const struct csv_field *f, size_t n)
{
	char err[160], namekey[NORM_KEY_MAX], addrkey[NORM_KEY_MAX];
	int found, col = 2;
	int64_t id = (int64_t)L->st->drivers + 1;
#define F(x) (&f[(x) - FIELD_LICENSE_NUMBER])

	if (record_check_driver(f, n, err, sizeof err) < 0)
		return reject(L, c, err);
	if (norm_name_key(F(FIELD_LAST_NAME)->p, F(FIELD_LAST_NAME)->len, F(FIELD_FIRST_NAME)->p,
		F(FIELD_FIRST_NAME)->len, namekey, sizeof namekey) < 0 ||
	    norm_address_key(F(FIELD_STREET)->p, F(FIELD_STREET)->len, F(FIELD_CITY)->p,
		F(FIELD_CITY)->len, F(FIELD_ZIP)->p, F(FIELD_ZIP)->len, addrkey, sizeof addrkey) < 0)
		return reject(L, c, "name or address cannot be normalized");
	if (keyset_get(&L->licenses, F(FIELD_LICENSE_NUMBER)->p, F(FIELD_LICENSE_NUMBER)->len, 1,
		id, &found) == NULL) {
		util_errx("import: out of memory");
		return -1;
	}
	if (found) {
		snprintf(err, sizeof err, "license_number: duplicate %.*s",
		    (int)F(FIELD_LICENSE_NUMBER)->len, F(FIELD_LICENSE_NUMBER)->p);
		return reject(L, c, err);
	}
	sqlite3_bind_int64(L->ins_driver, 1, id);
	for (int i = 0; i < RECORD_DRIVER_COLS; i++) {
		enum field fl = record_driver_col(i);
		if (!store_is_driver_col(fl))
			continue;
		bind_field(L->ins_driver, col++, &f[i]);
	}
	sqlite3_bind_text(L->ins_driver, col++, namekey, -1, SQLITE_STATIC);
	sqlite3_bind_text(L->ins_driver, col, addrkey, -1, SQLITE_STATIC);
	if (step_reset(L->db, L->ins_driver) < 0)
		return -1;
	sqlite3_bind_int64(L->ins_sens, 1, id);
	bind_field(L->ins_sens, 2, F(FIELD_LICENSE_KIND));
	bind_field(L->ins_sens, 3, F(FIELD_SSN));
	bind_field(L->ins_sens, 4, F(FIELD_PLACE_OF_BIRTH));
	bind_field(L->ins_sens, 5, F(FIELD_DOCUMENTS));
	if (step_reset(L->db, L->ins_sens) < 0)
		return -1;
	L->st->drivers++;
	return 0;
#undef F
}

static int
history_row(struct loader *L, struct csv *c, const struct csv_field *f, size_t n)
{
	char err[160];
	struct keyset_slot *sl;
	int found;

	if (record_check_history(f, n, err, sizeof err) < 0)
		return reject(L, c, err);
	sl = keyset_get(&L->licenses, f[RECORD_H_LICENSE].p, f[RECORD_H_LICENSE].len, 0, 0, &found);
	if (sl == NULL)
		return reject(L, c, "license_number: no such driver in drivers.csv");
	sqlite3_bind_int64(L->ins_hist, 1, sl->value);
	for (int i = 1; i < RECORD_HISTORY_COLS; i++)
		bind_field(L->ins_hist, i + 1, &f[i]);
	if (step_reset(L->db, L->ins_hist) < 0)
		return -1;
	L->st->history++;
	return 0;
}

static int
vehicle_row(struct loader *L, struct csv *c, const struct csv_field *f, size_t n)
{
	char err[160], addrkey[NORM_KEY_MAX], pkey[KEYSET_KEY];
	int found;
	int64_t id = (int64_t)L->st->vehicles + 1;
#define F(x) (&f[(x) - FIELD_PLATE])

	if (record_check_vehicle(f, n, err, sizeof err) < 0)
		return reject(L, c, err);
	if (norm_address_key(F(FIELD_OWNER_STREET)->p, F(FIELD_OWNER_STREET)->len,
		F(FIELD_OWNER_CITY)->p, F(FIELD_OWNER_CITY)->len, F(FIELD_OWNER_ZIP)->p,
		F(FIELD_OWNER_ZIP)->len, addrkey, sizeof addrkey) < 0)
		return reject(L, c, "owner address cannot be normalized");
	snprintf(pkey, sizeof pkey, "%.2s|%.*s", F(FIELD_PLATE_STATE)->p, (int)F(FIELD_PLATE)->len,
	    F(FIELD_PLATE)->p);
	if (keyset_get(&L->plates, pkey, strlen(pkey), 1, id, &found) == NULL)
		goto oom;
	if (found)
		return reject(L, c, "plate: duplicate plate and plate_state");
	if (keyset_get(&L->vins, F(FIELD_VIN)->p, F(FIELD_VIN)->len, 1, id, &found) == NULL)
		goto oom;
	if (found)
		return reject(L, c, "vin: duplicate");
	sqlite3_bind_int64(L->ins_veh, 1, id);
	for (int i = 0; i < RECORD_VEHICLE_COLS; i++)
		bind_field(L->ins_veh, i + 2, &f[i]);
	sqlite3_bind_text(L->ins_veh, RECORD_VEHICLE_COLS + 2, addrkey, -1, SQLITE_STATIC);
	if (step_reset(L->db, L->ins_veh) < 0)
		return -1;
	L->st->vehicles++;
	return 0;
oom:
	util_errx("import: out of memory");
	return -1;
#undef F
}

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
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
		fclose(f);
		return -1;
	}
	fclose(f);
	*sz = (uint64_t)n;
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

int
store_import(const char *dbpath, const char *dir, int strict, struct store_import_stats *stats)
{
	struct loader L;
	char *tmp = NULL, *lockpath = NULL, *pdrv = NULL, *phist = NULL, *pveh = NULL;
	const char *dnames[RECORD_DRIVER_COLS], *vnames[RECORD_VEHICLE_COLS];
	uint64_t sz, t0 = util_mono_ns();
	int rc = -1, lockfd = -1, have_hist, have_veh, fd;
	char cols[2048];
	size_t cn = 0;

	memset(&L, 0, sizeof L);
	memset(stats, 0, sizeof *stats);
	L.st = stats;
	L.strict = strict;
	for (int i = 0; i < RECORD_DRIVER_COLS; i++)
		dnames[i] = field_info[record_driver_col(i)].name;
	for (int i = 0; i < RECORD_VEHICLE_COLS; i++)
		vnames[i] = field_info[record_vehicle_col(i)].name;
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
	have_hist = file_size(phist, &sz) == 0;
	if (have_hist)
		L.bytes_total += sz;
	have_veh = file_size(pveh, &sz) == 0;
	if (have_veh)
		L.bytes_total += sz;
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &L.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		util_errx("%s: %s", tmp, L.db ? sqlite3_errmsg(L.db) : "cannot create");
		goto out;
	}
	if (store_exec(L.db, "PRAGMA page_size = 4096; PRAGMA journal_mode = OFF;"
			     "PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;"
			     "PRAGMA cache_size = -524288; PRAGMA temp_store = MEMORY;"
			     "PRAGMA threads = 2;", tmp) < 0 ||
	    store_exec(L.db, store_schema_tables, tmp) < 0)
		goto out;
	/* INSERT INTO driver(id, <public columns>, name_key, addr_key) */
	cn += (size_t)snprintf(cols, sizeof cols, "INSERT INTO driver(id");
	for (int i = 0; i < RECORD_DRIVER_COLS; i++) {
		enum field fl = record_driver_col(i);
		if (store_is_driver_col(fl))
			cn += (size_t)snprintf(cols + cn, sizeof cols - cn, ", %s", field_info[fl].name);
	}
	cn += (size_t)snprintf(cols + cn, sizeof cols - cn, ", name_key, addr_key) VALUES(?");
	for (int i = 0; i < RECORD_DRIVER_COLS - 4 + 2; i++)
		cn += (size_t)snprintf(cols + cn, sizeof cols - cn, ", ?");
	snprintf(cols + cn, sizeof cols - cn, ")");
	if (prepare(L.db, cols, &L.ins_driver) < 0 ||
	    prepare(L.db, "INSERT INTO driver_sensitive VALUES(?, ?, ?, ?, ?)", &L.ins_sens) < 0 ||
	    prepare(L.db, "INSERT INTO history VALUES(?, ?, ?, ?, ?)", &L.ins_hist) < 0 ||
	    prepare(L.db, "INSERT INTO vehicle VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			  " ?, ?, ?, ?)", &L.ins_veh) < 0)
		goto out;
	util_progress_init(&L.prog, "import", L.bytes_total);
	if (store_exec(L.db, "BEGIN", tmp) < 0)
		goto out;
	if (load_file(&L, pdrv, dnames, RECORD_DRIVER_COLS, driver_row) < 0)
		goto out;
	if (have_hist && load_file(&L, phist, record_history_cols, RECORD_HISTORY_COLS,
		history_row) < 0)
		goto out;
	if (have_veh && load_file(&L, pveh, vnames, RECORD_VEHICLE_COLS, vehicle_row) < 0)
		goto out;
	if (write_meta(L.db, stats, dir) < 0 || store_exec(L.db, "COMMIT", tmp) < 0)
		goto out;
	util_progress_done(&L.prog);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "import: building indexes...\r");
	if (store_exec(L.db, store_schema_indexes, tmp) < 0 ||
	    store_exec(L.db, "PRAGMA journal_mode = DELETE; ANALYZE;", tmp) < 0)
		goto out;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\033[K");
	sqlite3_finalize(L.ins_driver);
	sqlite3_finalize(L.ins_sens);
	sqlite3_finalize(L.ins_hist);
	sqlite3_finalize(L.ins_veh);
	L.ins_driver = L.ins_sens = L.ins_hist = L.ins_veh = NULL;
	if (sqlite3_close(L.db) != SQLITE_OK) {
		util_errx("%s: close failed", tmp);
		goto out;
	}
	L.db = NULL;
	if ((fd = open(tmp, O_RDWR | O_CLOEXEC)) < 0 || fsync(fd) < 0 || close(fd) < 0) {
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
	sqlite3_finalize(L.ins_driver);
	sqlite3_finalize(L.ins_sens);
	sqlite3_finalize(L.ins_hist);
	sqlite3_finalize(L.ins_veh);
	if (L.db != NULL)
		sqlite3_close(L.db);
	if (rc < 0 && tmp != NULL)
		unlink(tmp);
	free(L.licenses.slots);
	free(L.plates.slots);
	free(L.vins.slots);
	if (lockfd >= 0)
		close(lockfd);
	free(tmp);
	free(lockpath);
	free(pdrv);
	free(phist);
	free(pveh);
	return rc;
}
