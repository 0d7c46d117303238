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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "norm.h"
#include "store_int.h"
#include "util.h"

const char store_schema_tables[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS driver(id INTEGER PRIMARY KEY, license_number TEXT NOT NULL,"
    " last_name TEXT, first_name TEXT, middle_name TEXT, suffix TEXT, dob TEXT, sex TEXT,"
    " height_in INTEGER, weight_lb INTEGER, eye_color TEXT, hair_color TEXT, street TEXT,"
    " city TEXT, state TEXT, zip TEXT, license_class TEXT, status TEXT, restrictions TEXT,"
    " endorsements TEXT, issued TEXT, expires TEXT, photo_id TEXT,"
    " name_key TEXT NOT NULL, addr_key TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS driver_sensitive(id INTEGER PRIMARY KEY, license_kind TEXT,"
    " ssn TEXT, place_of_birth TEXT, documents TEXT);"
    "CREATE TABLE IF NOT EXISTS history(driver_id INTEGER NOT NULL, date TEXT, kind TEXT,"
    " code TEXT, description TEXT);"
    "CREATE TABLE IF NOT EXISTS vehicle(id INTEGER PRIMARY KEY, plate TEXT NOT NULL,"
    " plate_state TEXT NOT NULL, plate_type TEXT, plate_expires TEXT, vin TEXT NOT NULL,"
    " make TEXT, model TEXT, model_year INTEGER, color TEXT, body_style TEXT,"
    " owner_license_number TEXT, owner_name TEXT, owner_street TEXT, owner_city TEXT,"
    " owner_state TEXT, owner_zip TEXT, registration_status TEXT, addr_key TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS photo(photo_id TEXT PRIMARY KEY, path TEXT NOT NULL)"
    " WITHOUT ROWID;";

const char store_schema_indexes[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS driver_license ON driver(license_number);"
    "CREATE INDEX IF NOT EXISTS driver_name ON driver(name_key, dob);"
    "CREATE INDEX IF NOT EXISTS driver_addr ON driver(addr_key);"
    "CREATE INDEX IF NOT EXISTS sensitive_kind ON driver_sensitive(license_kind);"
    "CREATE INDEX IF NOT EXISTS history_driver ON history(driver_id);"
    "CREATE UNIQUE INDEX IF NOT EXISTS vehicle_plate ON vehicle(plate_state, plate);"
    "CREATE UNIQUE INDEX IF NOT EXISTS vehicle_vin ON vehicle(vin);"
    "CREATE INDEX IF NOT EXISTS vehicle_addr ON vehicle(addr_key);"
    "CREATE INDEX IF NOT EXISTS vehicle_owner ON vehicle(owner_license_number);";

enum stmt_id {
	Q_DRV_LICENSE, Q_DRV_NAME, Q_DRV_ADDR, Q_DRV_KIND,
	Q_VEH_PLATE, Q_VEH_VIN, Q_VEH_ADDR, Q_VEH_OWNER,
	Q_SENSITIVE, Q_HISTORY, Q_PHOTO, Q_COUNT_DRV, Q_COUNT_VEH,
	Q_NSTMT
};

struct store {
	sqlite3 *db;
	char *path;
	uint64_t ino;            /* inode opened, to notice a re-import */
	sqlite3_stmt *st[Q_NSTMT];
	char photo_path[4096];
};

struct store_row {
	struct store *s;
	enum store_type type;
	sqlite3_stmt *main;
	sqlite3_stmt *sens;      /* stepped onto this row's sensitive data, or NULL */
	field_mask want;
	int64_t id;
};

/*
 * Column positions in the main statements: column 0 is the id, then the
 * record's columns in field order, then addr_key.
 */
static int drv_col[FIELD_COUNT];
static int veh_col[FIELD_COUNT];
static int drv_addr_col, veh_addr_col;

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

/* Builds "id, col, col, ..., addr_key" for one record kind into buf. */
static int
column_list(int driver, char *buf, size_t sz)
{
	size_t n = 0;
	int pos = 1;
	int *map = driver ? drv_col : veh_col;

	n += (size_t)snprintf(buf + n, sz - n, "id");
	for (int f = 0; f < FIELD_COUNT; f++) {
		map[f] = -1;
		if (driver ? !store_is_driver_col((enum field)f)
			   : field_info[f].record != FIELD_REC_VEHICLE)
			continue;
		if (n >= sz)
			return -1;
		n += (size_t)snprintf(buf + n, sz - n, ", %s", field_info[f].name);
		map[f] = pos++;
	}
	if (n >= sz)
		return -1;
	n += (size_t)snprintf(buf + n, sz - n, ", addr_key");
	if (driver)
		drv_addr_col = pos;
	else
		veh_addr_col = pos;
	return n < sz ? 0 : -1;
}

static int
prepare_all(struct store *s)
{
	char dcols[1024], vcols[1024], sql[2048];
	const char *fmt[Q_NSTMT];
	int rc = -1;

	if (column_list(1, dcols, sizeof dcols) < 0 || column_list(0, vcols, sizeof vcols) < 0)
		return -1;
	memset(fmt, 0, sizeof fmt);
	fmt[Q_DRV_LICENSE] = " FROM driver WHERE license_number = ?1";
	fmt[Q_DRV_NAME] = " FROM driver WHERE name_key = ?1 AND dob = ?2 LIMIT ?3";
	fmt[Q_DRV_ADDR] = " FROM driver WHERE addr_key = ?1 LIMIT ?2";
	fmt[Q_DRV_KIND] = " FROM driver WHERE id IN (SELECT id FROM driver_sensitive"
			  " WHERE license_kind = ?1) LIMIT ?2";
	fmt[Q_VEH_PLATE] = " FROM vehicle WHERE plate_state = ?2 AND plate = ?1";
	fmt[Q_VEH_VIN] = " FROM vehicle WHERE vin = ?1";
	fmt[Q_VEH_ADDR] = " FROM vehicle WHERE addr_key = ?1 LIMIT ?2";
	fmt[Q_VEH_OWNER] = " FROM vehicle WHERE owner_license_number = ?1 LIMIT ?2";
	for (int i = 0; i < Q_NSTMT; i++) {
		const char *text;

		if (fmt[i] != NULL) {
			snprintf(sql, sizeof sql, "SELECT %s%s", i < Q_VEH_PLATE ? dcols : vcols, fmt[i]);
			text = sql;
		} else {
			switch (i) {
			case Q_SENSITIVE:
				text = "SELECT license_kind, ssn, place_of_birth, documents"
				       " FROM driver_sensitive WHERE id = ?1";
				break;
			case Q_HISTORY:
				text = "SELECT date, kind, code, description FROM history"
				       " WHERE driver_id = ?1 ORDER BY date, rowid";
				break;
			case Q_PHOTO:
				text = "SELECT path FROM photo WHERE photo_id = ?1";
				break;
			case Q_COUNT_DRV:
				text = "SELECT count(*) FROM driver";
				break;
			default:
				text = "SELECT count(*) FROM vehicle";
				break;
			}
		}
		if (sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
			NULL) != SQLITE_OK) {
			util_errx("%s: %s", s->path, sqlite3_errmsg(s->db));
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

struct store *
store_open(const char *path, int readonly)
{
	struct store *s = util_calloc(1, sizeof *s);
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;

	if (s == NULL)
		return NULL;
	if ((s->path = util_strdup(path)) == NULL)
		goto fail;
	flags |= readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	{
		struct stat sb;
		if (stat(path, &sb) == 0)
			s->ino = (uint64_t)sb.st_ino;
	}
	if (store_exec(s->db, "PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -16384;"
			      "PRAGMA temp_store = MEMORY;", path) < 0)
		goto fail;
	if (!readonly && (store_exec(s->db, store_schema_tables, path) < 0 ||
			     store_exec(s->db, store_schema_indexes, path) < 0))
		goto fail;
	if (readonly && store_exec(s->db, "PRAGMA query_only = 1;", path) < 0)
		goto fail;
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
	free(s);
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

/* Loads the sensitive row for r when the mask needs it. */
static int
load_sensitive(struct store_row *r)
{
	sqlite3_stmt *st = r->s->st[Q_SENSITIVE];
	int rc;

	r->sens = NULL;
	if (r->type != STORE_DRIVER || !(r->want & FIELD_MASK_SENSITIVE))
		return 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, r->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r->sens = st;
	else if (rc != SQLITE_DONE)
		return -1;
	return 0;
}

int
store_find(struct store *s, const struct store_query *q, field_mask want, unsigned max_rows,
    store_row_cb cb, void *arg)
{
	char key[NORM_KEY_MAX];
	sqlite3_stmt *st = NULL;
	struct store_row row;
	int n = 0, rc, limit_param = 0;

	if (max_rows == 0)
		return 0;
#define NEED(x) do { if ((x) == NULL) return -1; } while (0)
	if (q->type == STORE_DRIVER) {
		switch (q->by) {
		case STORE_BY_LICENSE:
			NEED(q->license_number);
			st = s->st[Q_DRV_LICENSE];
			sqlite3_reset(st);
			bind_text(st, 1, q->license_number);
			break;
		case STORE_BY_NAME_DOB:
			NEED(q->last_name); NEED(q->first_name); NEED(q->dob);
			if (norm_name_key(q->last_name, strlen(q->last_name), q->first_name,
				strlen(q->first_name), key, sizeof key) < 0)
				return -1;
			st = s->st[Q_DRV_NAME];
			sqlite3_reset(st);
			bind_text(st, 1, key);
			bind_text(st, 2, q->dob);
			limit_param = 3;
			break;
		case STORE_BY_ADDRESS:
			NEED(q->street); NEED(q->city); NEED(q->zip);
			if (norm_address_key(q->street, strlen(q->street), q->city, strlen(q->city),
				q->zip, strlen(q->zip), key, sizeof key) < 0)
				return -1;
			st = s->st[Q_DRV_ADDR];
			sqlite3_reset(st);
			bind_text(st, 1, key);
			limit_param = 2;
			break;
		case STORE_BY_LICENSE_KIND:
			NEED(q->license_kind);
			st = s->st[Q_DRV_KIND];
			sqlite3_reset(st);
			bind_text(st, 1, q->license_kind);
			limit_param = 2;
			break;
		case STORE_BY_PLATE:
		case STORE_BY_VIN:
		default:
			return -1;
		}
	} else {
		switch (q->by) {
		case STORE_BY_PLATE:
			NEED(q->plate); NEED(q->plate_state);
			if (norm_plate(q->plate, strlen(q->plate), key, sizeof key) < 0)
				return 0; /* cannot match any stored plate */
			st = s->st[Q_VEH_PLATE];
			sqlite3_reset(st);
			bind_text(st, 1, key);
			bind_text(st, 2, q->plate_state);
			break;
		case STORE_BY_VIN:
			NEED(q->vin);
			st = s->st[Q_VEH_VIN];
			sqlite3_reset(st);
			bind_text(st, 1, q->vin);
			break;
		case STORE_BY_ADDRESS:
			NEED(q->street); NEED(q->city); NEED(q->zip);
			if (norm_address_key(q->street, strlen(q->street), q->city, strlen(q->city),
				q->zip, strlen(q->zip), key, sizeof key) < 0)
				return -1;
			st = s->st[Q_VEH_ADDR];
			sqlite3_reset(st);
			bind_text(st, 1, key);
			limit_param = 2;
			break;
		case STORE_BY_LICENSE:
			NEED(q->license_number);
			st = s->st[Q_VEH_OWNER];
			sqlite3_reset(st);
			bind_text(st, 1, q->license_number);
			limit_param = 2;
			break;
		case STORE_BY_NAME_DOB:
		case STORE_BY_LICENSE_KIND:
		default:
			return -1;
		}
	}
#undef NEED
	if (limit_param)
		sqlite3_bind_int64(st, limit_param, (sqlite3_int64)max_rows);
	memset(&row, 0, sizeof row);
	row.s = s;
	row.type = q->type;
	row.main = st;
	row.want = want;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;

		row.id = sqlite3_column_int64(st, 0);
		if (load_sensitive(&row) < 0) {
			n = -1;
			break;
		}
		stop = cb(arg, &row);
		if (row.sens != NULL)
			sqlite3_reset(row.sens);
		n++;
		if (stop || (unsigned)n >= max_rows)
			break;
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
	const unsigned char *v;
	sqlite3_stmt *st;
	int col;

	*len = 0;
	if ((unsigned)f >= FIELD_COUNT || !(r->want & FIELD_BIT(f)))
		return NULL;
	if (field_info[f].sensitive) {
		if (r->sens == NULL)
			return NULL;
		st = r->sens;
		col = f == FIELD_LICENSE_KIND ? 0 : f == FIELD_SSN ? 1 : f == FIELD_PLACE_OF_BIRTH ? 2 : 3;
	} else {
		col = r->type == STORE_DRIVER ? drv_col[f] : veh_col[f];
		if (col < 0)
			return NULL;
		st = r->main;
	}
	v = sqlite3_column_text(st, col);
	if (v == NULL)
		return NULL;
	*len = (size_t)sqlite3_column_bytes(st, col);
	if (*len == 0)
		return NULL;
	return (const char *)v;
}

const char *
store_row_addr_key(const struct store_row *r)
{
	const unsigned char *v = sqlite3_column_text(r->main,
	    r->type == STORE_DRIVER ? drv_addr_col : veh_addr_col);

	return v ? (const char *)v : "";
}

int
store_row_history(const struct store_row *r, store_event_cb cb, void *arg)
{
	sqlite3_stmt *st = r->s->st[Q_HISTORY];
	int rc, n = 0;

	if (r->type != STORE_DRIVER || !(r->want & FIELD_BIT(FIELD_HISTORY)))
		return 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, r->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event ev;

		ev.date = (const char *)sqlite3_column_text(st, 0);
		ev.kind = (const char *)sqlite3_column_text(st, 1);
		ev.code = (const char *)sqlite3_column_text(st, 2);
		ev.description = (const char *)sqlite3_column_text(st, 3);
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
