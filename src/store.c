/*
 * store.c - lookups in the records database (see store.h).
 *
 * Layout: driver (public columns + name_key + addr_key), driver_sensitive
 * (same id; license_kind, ssn, place_of_birth, documents), history
 * (driver_id), vehicle, photo.  Every statement is prepared once at open.
 * A driver lookup by license number is one index probe plus one rowid
 * fetch; the sensitive row is fetched only when the mask asks for it.
 */
#include "store.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>

#include "norm.h"
#include "record.h"
#include "store_int.h"
#include "util.h"

const char store_schema_tables[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS driver(id INTEGER PRIMARY KEY, rec TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS driver_sensitive(id INTEGER PRIMARY KEY, license_kind TEXT,"
    " rec TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS history(id INTEGER PRIMARY KEY, rec TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vehicle(id INTEGER PRIMARY KEY, rec TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lookup_key(kind INTEGER NOT NULL, hash INTEGER NOT NULL,"
    " id INTEGER NOT NULL, PRIMARY KEY(kind, hash, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS photo(photo_id TEXT PRIMARY KEY, path TEXT NOT NULL)"
    " WITHOUT ROWID;";

/* Lookup keys live in lookup_key, written in key order by the import; no
 * secondary index is built. */
const char store_schema_indexes[] = "";

int64_t
store_key_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return (int64_t)h;
}

enum stmt_id {
	Q_DRV_LICENSE, Q_DRV_NAME, Q_DRV_ADDR, Q_DRV_KIND,
	Q_VEH_PLATE, Q_VEH_VIN, Q_VEH_ADDR, Q_VEH_OWNER,
	Q_SENSITIVE, Q_HISTORY, Q_PHOTO, Q_COUNT_DRV, Q_COUNT_VEH, Q_HISTORY_IDS, Q_MAX_DRIVER,
	Q_NSTMT
};

struct store {
	sqlite3 *db;
	char *path;
	uint64_t ino;            /* inode opened, to notice a re-import */
	sqlite3_stmt *st[Q_NSTMT];
	char photo_path[4096];
	/* One bit per driver id that has history events, built by a read-only
	 * (immutable) store at its STORE_HIST_MAP_AFTER-th history lookup, so
	 * only by a store that serves many (the server's; not a CLI lookup):
	 * a scan of the history table's rowids, ~0.15 s for 437k events here.
	 * 71% of the generated drivers have no events, and their lookups then
	 * skip a B-tree search.  hist_state 0 not built, 1 built, -1 not to be
	 * built (writable store, or it failed: every lookup queries). */
	uint8_t *hist_map;
	uint64_t hist_n;         /* driver ids covered: 0 .. hist_n-1 */
	unsigned hist_calls;
	int hist_state;
};

struct store_row {
	struct store *s;
	enum store_type type;
	sqlite3_stmt *main;      /* column 0 id, column 1 rec */
	sqlite3_stmt *sens;      /* stepped onto this row's sensitive data, or NULL */
	field_mask want;
	int64_t id;
	const char *fv[FIELD_COUNT];   /* every field of the record, parsed */
	size_t fl[FIELD_COUNT];
	char addr_key[NORM_KEY_MAX];   /* computed on demand */
};

int
store_is_driver_col(enum field f)
{
	return field_info[f].record == FIELD_REC_DRIVER && !field_info[f].sensitive;
}

int
store_exec(sqlite3 *db, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		util_errx("%s: %s", what, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

#define KIND_(k) #k
#define KIND(k) KIND_(k)

static int
prepare_all(struct store *s)
{
	static const char *const sql[Q_NSTMT] = {
		[Q_DRV_LICENSE] = "SELECT t.id, t.rec FROM lookup_key k JOIN driver t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_LICENSE) " AND k.hash = ?1",
		[Q_DRV_NAME] = "SELECT t.id, t.rec FROM lookup_key k JOIN driver t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_NAME_DOB) " AND k.hash = ?1",
		[Q_DRV_ADDR] = "SELECT t.id, t.rec FROM lookup_key k JOIN driver t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_DRIVER_ADDR) " AND k.hash = ?1",
		[Q_DRV_KIND] = "SELECT d.id, d.rec FROM driver_sensitive s JOIN driver d"
			       " ON d.id = s.id WHERE s.license_kind = ?1 LIMIT ?2",
		[Q_VEH_PLATE] = "SELECT t.id, t.rec FROM lookup_key k JOIN vehicle t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_PLATE) " AND k.hash = ?1",
		[Q_VEH_VIN] = "SELECT t.id, t.rec FROM lookup_key k JOIN vehicle t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_VIN) " AND k.hash = ?1",
		[Q_VEH_ADDR] = "SELECT t.id, t.rec FROM lookup_key k JOIN vehicle t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_VEHICLE_ADDR) " AND k.hash = ?1",
		[Q_VEH_OWNER] = "SELECT t.id, t.rec FROM lookup_key k JOIN vehicle t ON t.id = k.id"
			" WHERE k.kind = " KIND(STORE_KEY_OWNER) " AND k.hash = ?1",
		[Q_SENSITIVE] = "SELECT license_kind, rec FROM driver_sensitive WHERE id = ?1",
		[Q_HISTORY] = "SELECT rec FROM history WHERE id BETWEEN ?1 * 1024 AND ?1 * 1024 + 1023"
				" ORDER BY id",
		[Q_PHOTO] = "SELECT path FROM photo WHERE photo_id = ?1",
		[Q_COUNT_DRV] = "SELECT count(*) FROM driver",
		[Q_COUNT_VEH] = "SELECT count(*) FROM vehicle",
		[Q_HISTORY_IDS] = "SELECT id FROM history",
		[Q_MAX_DRIVER] = "SELECT max(id) FROM driver",
	};

	for (int i = 0; i < Q_NSTMT; i++) {
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
			NULL) != SQLITE_OK) {
			util_errx("%s: %s (re-import the records: the database is from another "
				  "version)", s->path, sqlite3_errmsg(s->db));
			return -1;
		}
	}
	return 0;
}

/* "file:PATH?immutable=1" with PATH percent-encoded where URIs need it. */
static int
immutable_uri(const char *path, char *out, size_t outsz)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t n = 0;

	if (outsz < 32)
		return -1;
	memcpy(out, "file:", 5);
	n = 5;
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		if (n + 4 >= outsz)
			return -1;
		if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20 || *p >= 0x7f) {
			out[n++] = '%';
			out[n++] = hx[*p >> 4];
			out[n++] = hx[*p & 15];
		} else {
			out[n++] = (char)*p;
		}
	}
	if (n + sizeof "?immutable=1" > outsz)
		return -1;
	memcpy(out + n, "?immutable=1", sizeof "?immutable=1");
	return 0;
}

struct store *
store_open(const char *path, int readonly)
{
	struct store *s = util_calloc(1, sizeof *s);
	char uri[8192];
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;

	if (s == NULL)
		return NULL;
	if ((s->path = util_strdup(path)) == NULL)
		goto fail;
	flags |= readonly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
			  : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/*
	 * records.db is never written in place: an import renames a new file
	 * over it.  So a reader may open it immutable, which spares a file
	 * lock and a hot-journal check on every lookup; it notices the
	 * replacement with store_stale() and reopens.
	 */
	if (readonly && immutable_uri(path, uri, sizeof uri) < 0) {
		util_errx("%s: path too long", path);
		goto fail;
	}
	if (sqlite3_open_v2(readonly ? uri : path, &s->db, flags, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	{
		struct stat sb;
		if (stat(path, &sb) == 0)
			s->ino = (uint64_t)sb.st_ino;
	}
	if (store_exec(s->db, "PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -2048;"
			      "PRAGMA temp_store = MEMORY;", path) < 0)
		goto fail;
	if (!readonly && (store_exec(s->db, store_schema_tables, path) < 0 ||
			     store_exec(s->db, store_schema_indexes, path) < 0))
		goto fail;
	if (readonly && store_exec(s->db, "PRAGMA query_only = 1;", path) < 0)
		goto fail;
	s->hist_state = readonly ? 0 : -1;   /* a writable store's history may change */
	if (prepare_all(s) < 0)
		goto fail;
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < Q_NSTMT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s->path);
	free(s->hist_map);
	free(s);
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

/*
 * Splits a stored record (fields joined by STORE_SEP) into the row's
 * field slots, in the order given by first..first+n-1 skipping sensitive
 * fields when skip_sensitive.  Returns 0, or -1 when the record does not
 * have the expected number of fields (a corrupt database).
 */
static int
split_rec(struct store_row *r, const char *rec, size_t len, const enum field *order, int n)
{
	size_t i = 0;
	int k = 0;

	for (;;) {
		size_t j = i;
		while (j < len && rec[j] != STORE_SEP)
			j++;
		if (k >= n)
			return -1;
		r->fv[order[k]] = rec + i;
		r->fl[order[k]] = j - i;
		k++;
		if (j >= len)
			break;
		i = j + 1;
	}
	return k == n ? 0 : -1;
}

static enum field drv_order[FIELD_COUNT], veh_order[FIELD_COUNT];
static const enum field sens_order[] = { FIELD_SSN, FIELD_PLACE_OF_BIRTH, FIELD_DOCUMENTS };
static int drv_n, veh_n;

/* The stored order of driver and vehicle fields (enum order, public only). */
static void
init_orders(void)
{
	if (drv_n != 0)
		return;
	for (int f = 0; f < FIELD_COUNT; f++) {
		if (store_is_driver_col((enum field)f))
			drv_order[drv_n++] = (enum field)f;
		else if (field_info[f].record == FIELD_REC_VEHICLE)
			veh_order[veh_n++] = (enum field)f;
	}
}

int
store_record_fields(int driver, const enum field **order)
{
	init_orders();
	*order = driver ? drv_order : veh_order;
	return driver ? drv_n : veh_n;
}

/* Loads the row's fields from the main statement, and the sensitive row
 * when the mask needs it. */
static int
load_row(struct store_row *r)
{
	sqlite3_stmt *st = r->main;
	const char *rec = (const char *)sqlite3_column_text(st, 1);
	size_t len = (size_t)sqlite3_column_bytes(st, 1);
	int rc;

	memset(r->fv, 0, sizeof r->fv);
	memset(r->fl, 0, sizeof r->fl);
	r->addr_key[0] = '\0';
	r->sens = NULL;
	r->id = sqlite3_column_int64(st, 0);
	if (rec == NULL || (r->type == STORE_DRIVER ? split_rec(r, rec, len, drv_order, drv_n)
						    : split_rec(r, rec, len, veh_order, veh_n)) < 0) {
		util_errx("%s: corrupt record %lld", r->s->path, (long long)r->id);
		return -1;
	}
	if (r->type != STORE_DRIVER || !(r->want & FIELD_MASK_SENSITIVE))
		return 0;
	st = r->s->st[Q_SENSITIVE];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, r->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return -1;
	r->sens = st;
	r->fv[FIELD_LICENSE_KIND] = (const char *)sqlite3_column_text(st, 0);
	r->fl[FIELD_LICENSE_KIND] = (size_t)sqlite3_column_bytes(st, 0);
	rec = (const char *)sqlite3_column_text(st, 1);
	len = (size_t)sqlite3_column_bytes(st, 1);
	if (rec == NULL || split_rec(r, rec, len, sens_order, 3) < 0) {
		util_errx("%s: corrupt sensitive record %lld", r->s->path, (long long)r->id);
		return -1;
	}
	return 0;
}

/* The name key of a loaded driver row plus its dob: "LAST|FIRST|DOB". */
static int
row_name_dob_key(const struct store_row *r, char *out, size_t outsz)
{
	int n = norm_name_key(r->fv[FIELD_LAST_NAME], r->fl[FIELD_LAST_NAME],
	    r->fv[FIELD_FIRST_NAME], r->fl[FIELD_FIRST_NAME], out, outsz);

	if (n < 0 || (size_t)n + 12 > outsz || r->fl[FIELD_DOB] != 10)
		return -1;
	out[n] = '|';
	memcpy(out + n + 1, r->fv[FIELD_DOB], 10);
	out[n + 11] = '\0';
	return n + 11;
}

static const char *
row_addr_key(struct store_row *r)
{
	enum field st, ci, zi;

	if (r->addr_key[0] != '\0')
		return r->addr_key;
	if (r->type == STORE_DRIVER) {
		st = FIELD_STREET; ci = FIELD_CITY; zi = FIELD_ZIP;
	} else {
		st = FIELD_OWNER_STREET; ci = FIELD_OWNER_CITY; zi = FIELD_OWNER_ZIP;
	}
	if (norm_address_key(r->fv[st] ? r->fv[st] : "", r->fl[st], r->fv[ci] ? r->fv[ci] : "",
		r->fl[ci], r->fv[zi] ? r->fv[zi] : "", r->fl[zi], r->addr_key,
		sizeof r->addr_key) < 0)
		r->addr_key[0] = '\0';
	return r->addr_key;
}

/* Which real key a candidate from a hash lookup must carry. */
enum verify { V_NONE, V_NAME_DOB, V_ADDRESS, V_FIELD, V_PLATE };

/* Does the loaded row carry the key the lookup asked for? */
static int
row_matches(struct store_row *r, enum verify verify, enum field f, const char *key, size_t klen,
    char *cand, size_t candsz)
{
	switch (verify) {
	case V_NAME_DOB:
		return row_name_dob_key(r, cand, candsz) >= 0 && strcmp(cand, key) == 0;
	case V_ADDRESS:
		return strcmp(row_addr_key(r), key) == 0;
	case V_FIELD:
		return r->fl[f] == klen && memcmp(r->fv[f], key, klen) == 0;
	case V_PLATE: /* "ST|PLATE" */
		return klen == r->fl[FIELD_PLATE] + 3 && r->fl[FIELD_PLATE_STATE] == 2 &&
		    memcmp(key, r->fv[FIELD_PLATE_STATE], 2) == 0 && key[2] == '|' &&
		    memcmp(key + 3, r->fv[FIELD_PLATE], r->fl[FIELD_PLATE]) == 0;
	case V_NONE:
	default:
		return 1;
	}
}

/*
 * How a lookup runs: the statement, the key it looks for (hashed, except
 * license_kind which is matched as text), and which real key every
 * candidate must then carry.
 */
struct plan {
	enum stmt_id stmt;
	char key[NORM_KEY_MAX];
	size_t klen;
	int text;                  /* bind key as text (and a LIMIT), not its hash */
	enum verify verify;
	enum field vfield;         /* with V_FIELD */
};

static int
plan_key(struct plan *p, const char *v)
{
	if (v == NULL || (size_t)snprintf(p->key, sizeof p->key, "%s", v) >= sizeof p->key)
		return -1;
	p->klen = strlen(p->key);
	return 0;
}

static int
plan_address(struct plan *p, const char *street, const char *city, const char *zip)
{
	int n;

	if (street == NULL || city == NULL || zip == NULL)
		return -1;
	n = norm_address_key(street, strlen(street), city, strlen(city), zip, strlen(zip), p->key,
	    sizeof p->key);
	if (n < 0)
		return -1;
	p->klen = (size_t)n;
	p->verify = V_ADDRESS;
	return 0;
}

/*
 * Fills p for q.  Returns 0, 1 when q cannot match any stored record (a
 * malformed plate), or -1 when q is not a valid lookup (a `by` that does
 * not fit its type, or a missing key).
 */
static int
plan_query(const struct store_query *q, struct plan *p)
{
	memset(p, 0, sizeof *p);
	if (q->type == STORE_DRIVER) {
		switch (q->by) {
		case STORE_BY_LICENSE:
			p->stmt = Q_DRV_LICENSE;
			p->verify = V_FIELD;
			p->vfield = FIELD_LICENSE_NUMBER;
			return plan_key(p, q->license_number);
		case STORE_BY_NAME_DOB: {
			int kn;
			if (q->last_name == NULL || q->first_name == NULL || q->dob == NULL)
				return -1;
			kn = norm_name_key(q->last_name, strlen(q->last_name), q->first_name,
			    strlen(q->first_name), p->key, sizeof p->key);
			if (kn < 0 || (size_t)kn + strlen(q->dob) + 2 > sizeof p->key)
				return -1;
			p->key[kn] = '|';
			memcpy(p->key + kn + 1, q->dob, strlen(q->dob) + 1);
			p->klen = strlen(p->key);
			p->stmt = Q_DRV_NAME;
			p->verify = V_NAME_DOB;
			return 0;
		}
		case STORE_BY_ADDRESS:
			p->stmt = Q_DRV_ADDR;
			return plan_address(p, q->street, q->city, q->zip);
		case STORE_BY_LICENSE_KIND:
			p->stmt = Q_DRV_KIND;
			p->text = 1;
			return plan_key(p, q->license_kind);
		case STORE_BY_PLATE:
		case STORE_BY_VIN:
		default:
			return -1;
		}
	}
	switch (q->by) {
	case STORE_BY_PLATE: {
		char plate[16];
		if (q->plate == NULL || q->plate_state == NULL)
			return -1;
		if (norm_plate(q->plate, strlen(q->plate), plate, sizeof plate) < 0 ||
		    strlen(q->plate_state) != 2)
			return 1; /* cannot match any stored plate */
		snprintf(p->key, sizeof p->key, "%s|%s", q->plate_state, plate);
		p->klen = strlen(p->key);
		p->stmt = Q_VEH_PLATE;
		p->verify = V_PLATE;
		return 0;
	}
	case STORE_BY_VIN:
		p->stmt = Q_VEH_VIN;
		p->verify = V_FIELD;
		p->vfield = FIELD_VIN;
		return plan_key(p, q->vin);
	case STORE_BY_ADDRESS:
		p->stmt = Q_VEH_ADDR;
		return plan_address(p, q->street, q->city, q->zip);
	case STORE_BY_LICENSE:
		p->stmt = Q_VEH_OWNER;
		p->verify = V_FIELD;
		p->vfield = FIELD_OWNER_LICENSE_NUMBER;
		return plan_key(p, q->license_number);
	case STORE_BY_NAME_DOB:
	case STORE_BY_LICENSE_KIND:
	default:
		return -1;
	}
}

int
store_find(struct store *s, const struct store_query *q, field_mask want, unsigned max_rows,
    store_row_cb cb, void *arg)
{
	char cand[NORM_KEY_MAX];
	struct plan p;
	sqlite3_stmt *st;
	struct store_row rowbuf, *row = &rowbuf;
	int n = 0, rc;
	unsigned scanned = 0, scan_cap = max_rows * 4 + 64;

	if (max_rows == 0)
		return 0;
	init_orders();
	if ((rc = plan_query(q, &p)) != 0)
		return rc > 0 ? 0 : -1;
	st = s->st[p.stmt];
	sqlite3_reset(st);
	if (p.text) {
		sqlite3_bind_text(st, 1, p.key, (int)p.klen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)max_rows);
	} else {
		sqlite3_bind_int64(st, 1, store_key_hash(p.key, p.klen));
	}
	memset(row, 0, offsetof(struct store_row, fv));
	row->s = s;
	row->type = q->type;
	row->main = st;
	row->want = want;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;

		if (++scanned > scan_cap)
			break;
		if (load_row(row) < 0) {
			n = -1;
			break;
		}
		/* A hash index can return another key's rows: compare the real key. */
		if (!row_matches(row, p.verify, p.vfield, p.key, p.klen, cand, sizeof cand))
			goto next;
		stop = cb(arg, row);
		n++;
		if (stop || (unsigned)n >= max_rows) {
			if (row->sens != NULL)
				sqlite3_reset(row->sens);
			break;
		}
next:
		if (row->sens != NULL)
			sqlite3_reset(row->sens);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		util_errx("%s: %s", s->path, sqlite3_errmsg(s->db));
		n = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

const char *
store_row_get(const struct store_row *r, enum field f, size_t *len)
{
	*len = 0;
	if ((unsigned)f >= FIELD_COUNT || !(r->want & FIELD_BIT(f)) || r->fv[f] == NULL ||
	    r->fl[f] == 0)
		return NULL;
	*len = r->fl[f];
	return r->fv[f];
}

const char *
store_row_addr_key(const struct store_row *r)
{
	return row_addr_key((struct store_row *)(uintptr_t)r);
}

#define STORE_HIST_MAP_MAX ((uint64_t)1 << 28)   /* ids: a 32 MiB map at most */
#define STORE_HIST_MAP_AFTER 256

/* Builds s->hist_map (see struct store); on any failure hist_state -1. */
static void
build_hist_map(struct store *s)
{
	sqlite3_stmt *st = s->st[Q_MAX_DRIVER];
	int64_t max = -1;
	int rc;

	s->hist_state = -1;
	sqlite3_reset(st);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		max = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (max < 0 || (uint64_t)max >= STORE_HIST_MAP_MAX)
		return;
	s->hist_n = (uint64_t)max + 1;
	if ((s->hist_map = calloc(1, (size_t)((s->hist_n + 7) / 8))) == NULL)
		return;
	st = s->st[Q_HISTORY_IDS];
	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint64_t d = id < 0 ? UINT64_MAX : (uint64_t)id / 1024;

		if (d < s->hist_n)
			s->hist_map[d / 8] |= (uint8_t)(1u << (d % 8));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(s->hist_map);
		s->hist_map = NULL;
		return;
	}
	s->hist_state = 1;
}

int
store_row_history(const struct store_row *r, store_event_cb cb, void *arg)
{
	struct store *s = r->s;
	sqlite3_stmt *st = s->st[Q_HISTORY];
	int rc, n = 0;

	if (r->type != STORE_DRIVER || !(r->want & FIELD_BIT(FIELD_HISTORY)))
		return 0;
	if (s->hist_state == 0 && ++s->hist_calls >= STORE_HIST_MAP_AFTER)
		build_hist_map(s);
	if (s->hist_state == 1 && r->id >= 0 && ((uint64_t)r->id >= s->hist_n ||
	    !(s->hist_map[(uint64_t)r->id / 8] & (1u << ((uint64_t)r->id % 8)))))
		return 0;        /* no events (the map is of this immutable file) */
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, r->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *rec = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0), i = 0;
		char part[4][RECORD_TEXT_MAX + 1];
		struct store_event ev;
		int k = 0;

		part[0][0] = part[1][0] = part[2][0] = part[3][0] = '\0';
		while (rec != NULL && k < 4) {
			size_t j = i, m;
			while (j < len && rec[j] != STORE_SEP)
				j++;
			m = j - i < RECORD_TEXT_MAX ? j - i : RECORD_TEXT_MAX;   /* (as snprintf cut it) */
			memcpy(part[k], rec + i, m);
			part[k][m] = '\0';
			k++;
			if (j >= len)
				break;
			i = j + 1;
		}
		ev.date = part[0];
		ev.kind = part[1];
		ev.code = part[2];
		ev.description = part[3];
		n++;
		if (cb(arg, &ev))
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return n;
}

int64_t
store_count(struct store *s, enum store_type t)
{
	sqlite3_stmt *st = s->st[t == STORE_DRIVER ? Q_COUNT_DRV : Q_COUNT_VEH];
	int64_t n = -1;

	sqlite3_reset(st);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

const char *
store_photo_path(struct store *s, const char *photo_id)
{
	sqlite3_stmt *st = s->st[Q_PHOTO];
	const char *res = NULL;

	sqlite3_reset(st);
	bind_text(st, 1, photo_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);
		if (p != NULL && snprintf(s->photo_path, sizeof s->photo_path, "%s", p) <
		    (int)sizeof s->photo_path)
			res = s->photo_path;
	}
	sqlite3_reset(st);
	return res;
}

int
store_stale(struct store *s)
{
	struct stat a;

	if (stat(s->path, &a) < 0)
		return 1;
	return (uint64_t)a.st_ino != s->ino;
}
