/*
 * notice.c - notices to data subjects (see notice.h, docs/notices.md):
 * the holiday calendar and due-date arithmetic, and the `notice` table in
 * DIR/registry.db (create, list, mark sent, count overdue).  The letters
 * themselves are written by notice_render.c.
 *
 * Statements are prepared once in notice_open (no SQL is built from
 * input).  Marking a notice sent runs in one IMMEDIATE transaction that
 * also queues its audit record in the registry's pending_audit table and
 * bumps meta.changes, the mechanism registry.h describes; "sent twice" is
 * refused by the UPDATE's own `sent_us = 0` condition, so two operators
 * racing cannot both mark it.  Released items are stored by name, not as
 * a mask, so stored notices do not depend on the numbering of enum field.
 */
#include "notice.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "datadir.h"
#include "process.h"
#include "record.h"
#include "registry.h"
#include "sqldb.h"
#include "util.h"

/* ---- calendar ---- */

struct notice_calendar {
	int n;
	int32_t days[NOTICE_MAX_HOLIDAYS];   /* sorted, unique */
};

/* US federal holidays (5 U.S.C. 6103), with the observed weekday when the
 * holiday falls on a weekend (OPM rules), 2026-2027. */
static const char *const us_federal[] = {
	"2026-01-01",  /* New Year's Day */
	"2026-01-19",  /* Birthday of Martin Luther King, Jr. */
	"2026-02-16",  /* Washington's Birthday */
	"2026-05-25",  /* Memorial Day */
	"2026-06-19",  /* Juneteenth National Independence Day */
	"2026-07-03",  /* Independence Day (observed; July 4 is a Saturday) */
	"2026-09-07",  /* Labor Day */
	"2026-10-12",  /* Columbus Day */
	"2026-11-11",  /* Veterans Day */
	"2026-11-26",  /* Thanksgiving Day */
	"2026-12-25",  /* Christmas Day */
	"2027-01-01",  /* New Year's Day */
	"2027-01-18",  /* Birthday of Martin Luther King, Jr. */
	"2027-02-15",  /* Washington's Birthday */
	"2027-05-31",  /* Memorial Day */
	"2027-06-18",  /* Juneteenth (observed; June 19 is a Saturday) */
	"2027-07-05",  /* Independence Day (observed; July 4 is a Sunday) */
	"2027-09-06",  /* Labor Day */
	"2027-10-11",  /* Columbus Day */
	"2027-11-11",  /* Veterans Day */
	"2027-11-25",  /* Thanksgiving Day */
	"2027-12-24",  /* Christmas Day (observed; December 25 is a Saturday) */
	"2027-12-31",  /* New Year's Day 2028 (observed; January 1 is a Saturday) */
};

static int
cmp_day(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static void
cal_sort(struct notice_calendar *c)
{
	int w = 0;

	qsort(c->days, (size_t)c->n, sizeof c->days[0], cmp_day);
	for (int i = 0; i < c->n; i++)
		if (w == 0 || c->days[w - 1] != c->days[i])
			c->days[w++] = c->days[i];
	c->n = w;
}

struct notice_calendar *
notice_calendar_default(void)
{
	struct notice_calendar *c = util_calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < UTIL_NELEM(us_federal); i++) {
		if (util_date_parse(us_federal[i], 10, &c->days[c->n]) < 0) {
			free(c);
			return NULL;
		}
		c->n++;
	}
	cal_sort(c);
	return c;
}

struct notice_calendar *
notice_calendar_parse(const char *name, const char *text, size_t len)
{
	struct notice_calendar *c = util_calloc(1, sizeof *c);
	size_t pos = 0;
	int line = 0;

	if (c == NULL)
		return NULL;
	while (pos < len) {
		const char *s = text + pos;
		size_t n = 0, i = 0;

		while (pos + n < len && s[n] != '\n')
			n++;
		pos += n + 1;
		line++;
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == n || s[i] == '#')
			continue;
		if (n - i < 10 || (n - i > 10 && s[i + 10] != ' ' && s[i + 10] != '\t' &&
		    s[i + 10] != '\r' && s[i + 10] != '#')) {
			util_errx("%s:%d: expected a date YYYY-MM-DD", name, line);
			goto fail;
		}
		if (c->n >= NOTICE_MAX_HOLIDAYS) {
			util_errx("%s:%d: more than %d holidays", name, line, NOTICE_MAX_HOLIDAYS);
			goto fail;
		}
		if (util_date_parse(s + i, 10, &c->days[c->n]) < 0) {
			util_errx("%s:%d: not a valid date YYYY-MM-DD", name, line);
			goto fail;
		}
		c->n++;
	}
	cal_sort(c);
	return c;
fail:
	free(c);
	return NULL;
}

struct notice_calendar *
notice_calendar_load(const char *datadir)
{
	struct notice_calendar *c;
	char path[PATH_MAX], *buf = NULL;
	size_t len;

	if (datadir_path(datadir, NOTICE_HOLIDAYS_FILE, path, sizeof path) < 0)
		return NULL;
	if (util_read_file(path, NOTICE_HOLIDAYS_MAX_BYTES, &buf, &len) < 0) {
		if (errno == ENOENT)
			return notice_calendar_default();
		util_warn("%s", path);
		return NULL;
	}
	c = notice_calendar_parse(path, buf, len);
	free(buf);
	return c;
}

void
notice_calendar_free(struct notice_calendar *c)
{
	free(c);
}

int
notice_calendar_count(const struct notice_calendar *c)
{
	return c ? c->n : 0;
}

int
notice_calendar_is_holiday(const struct notice_calendar *c, int32_t day)
{
	if (c == NULL || c->n == 0)
		return 0;
	return bsearch(&day, c->days, (size_t)c->n, sizeof c->days[0], cmp_day) != NULL;
}

int
notice_business_day(const struct notice_calendar *c, int32_t day)
{
	int wd = util_weekday(day);

	return wd != 0 && wd != 6 && !notice_calendar_is_holiday(c, day);
}

int32_t
notice_due_date(const struct notice_calendar *c, int32_t from, int n, int unit)
{
	int32_t d = from;

	if (n < 0 || n > NOTICE_MAX_DAYS)
		return INT32_MIN;
	if (unit == NOTICE_DAYS)
		return from + n;
	if (unit != NOTICE_BUSINESS_DAYS)
		return INT32_MIN;
	/* At most NOTICE_MAX_HOLIDAYS + weekends can be skipped: bounded. */
	while (n > 0) {
		d++;
		if (notice_business_day(c, d))
			n--;
	}
	return d;
}

/* ---- the notice table ---- */

static const char schema[] =
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS notice("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, created_us INTEGER NOT NULL,"
	" request_us INTEGER NOT NULL, subject TEXT NOT NULL,"
	" agency_ori TEXT NOT NULL, agency_name TEXT NOT NULL,"
	" agency_category TEXT NOT NULL, purpose TEXT NOT NULL, outcome TEXT NOT NULL,"
	" items TEXT NOT NULL, legal_process TEXT NOT NULL, process_kind TEXT NOT NULL,"
	" process_court TEXT NOT NULL, process_case TEXT NOT NULL,"
	" notify_days INTEGER NOT NULL, notify_unit INTEGER NOT NULL,"
	" due_day INTEGER NOT NULL, name TEXT NOT NULL, street TEXT NOT NULL,"
	" city TEXT NOT NULL, state TEXT NOT NULL, zip TEXT NOT NULL,"
	" audit_index INTEGER NOT NULL, sent_us INTEGER NOT NULL DEFAULT 0,"
	" sent_by TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS notice_subject ON notice(subject);"
	"CREATE INDEX IF NOT EXISTS notice_pending ON notice(sent_us, due_day);";

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_BUMP, S_QUEUE,
	S_ADD, S_GET, S_LIST_ALL, S_LIST_DUE, S_LIST_OVERDUE, S_LIST_SENT,
	S_LIST_SUBJECT, S_SENT, S_OVERDUE,
	S_COUNT
};

#define COLS "id, created_us, request_us, subject, agency_ori, agency_name," \
	" agency_category, purpose, outcome, items, legal_process, process_kind," \
	" process_court, process_case, notify_days, notify_unit, due_day, name, street," \
	" city, state, zip, audit_index, sent_us, sent_by"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'changes'",
	[S_QUEUE] = "INSERT INTO pending_audit(time_us, action, ori, userid, detail)"
		    " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_ADD] = "INSERT INTO notice(created_us, request_us, subject, agency_ori, agency_name,"
		  " agency_category, purpose, outcome, items, legal_process, process_kind,"
		  " process_court, process_case, notify_days, notify_unit, due_day, name,"
		  " street, city, state, zip, audit_index) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
		  " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
	[S_GET] = "SELECT " COLS " FROM notice WHERE id = ?1",
	[S_LIST_ALL] = "SELECT " COLS " FROM notice ORDER BY id",
	[S_LIST_DUE] = "SELECT " COLS " FROM notice WHERE sent_us = 0 ORDER BY id",
	[S_LIST_OVERDUE] = "SELECT " COLS " FROM notice WHERE sent_us = 0 AND due_day < ?1"
			   " ORDER BY id",
	[S_LIST_SENT] = "SELECT " COLS " FROM notice WHERE sent_us != 0 ORDER BY id",
	[S_LIST_SUBJECT] = "SELECT " COLS " FROM notice WHERE subject = ?1 ORDER BY id",
	[S_SENT] = "UPDATE notice SET sent_us = ?2, sent_by = ?3 WHERE id = ?1 AND sent_us = 0",
	[S_OVERDUE] = "SELECT count(*) FROM notice WHERE sent_us = 0 AND due_day < ?1",
};

struct notice_db {
	pthread_mutex_t mu;
	struct sqldb d;
	sqlite3_stmt *st[S_COUNT];
	struct notice_calendar *cal;
	struct registry *reg;     /* creates meta and pending_audit (mark-sent) */
};

void
notice_id_format(int64_t id, char out[NOTICE_ID_MAX])
{
	snprintf(out, NOTICE_ID_MAX, "N-%lld", (long long)id);
}

int64_t
notice_id_parse(const char *s)
{
	int64_t v;

	if (s == NULL)
		return -1;
	if ((s[0] == 'N' || s[0] == 'n') && s[1] == '-')
		s += 2;
	if (s[0] < '1' || s[0] > '9')
		return -1;
	if (util_parse_i64(s, 1, INT64_MAX / 2, &v) < 0)
		return -1;
	return v;
}

void
notice_close(struct notice_db *db)
{
	if (db == NULL)
		return;
	sqldb_close(&db->d);
	notice_calendar_free(db->cal);
	registry_close(db->reg);
	pthread_mutex_destroy(&db->mu);
	free(db);
}

struct notice_db *
notice_open(const char *datadir)
{
	struct notice_db *db = util_calloc(1, sizeof *db);
	char path[PATH_MAX];

	if (db == NULL)
		return NULL;
	if (pthread_mutex_init(&db->mu, NULL) != 0) {
		free(db);
		return NULL;
	}
	if (datadir_path(datadir, DATADIR_REGISTRY, path, sizeof path) < 0)
		goto fail;
	if ((db->cal = notice_calendar_load(datadir)) == NULL)
		goto fail;
	/* The registry creates meta and pending_audit, which mark-sent uses. */
	if ((db->reg = registry_open(path)) == NULL)
		goto fail;
	if (sqldb_open(&db->d, path, 0, schema, stmt_sql, db->st, S_COUNT, "notices") < 0)
		goto fail;
	return db;
fail:
	notice_close(db);
	return NULL;
}

const struct notice_calendar *
notice_db_calendar(const struct notice_db *db)
{
	return db->cal;
}

/* 1 when s is valid UTF-8 without control characters (may be empty). */
static int
text_ok(const char *s)
{
	size_t n = strlen(s);

	if (util_utf8_valid(s, n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
invalid(const char *what)
{
	util_errx("notices: %s", what);
	return NOTICE_INVALID;
}

int
notice_create(struct notice_db *db, const struct notice *in, int64_t *id)
{
	const char *texts[] = { in->agency_ori, in->agency_name, in->agency_category,
		in->purpose, in->legal_process, in->process_kind, in->process_court,
		in->process_case, in->name, in->street, in->city, in->state, in->zip };
	char items[1024];
	sqlite3_stmt *q;
	int32_t due;
	int rc = -1;

	if (!record_license_ok(in->subject, strnlen(in->subject, sizeof in->subject)))
		return invalid("subject: not a license number");
	if (strcmp(in->outcome, "permit") != 0 && strcmp(in->outcome, "deny") != 0)
		return invalid("outcome must be permit or deny");
	for (size_t i = 0; i < UTIL_NELEM(texts); i++)
		if (!text_ok(texts[i]))
			return invalid("text fields must be UTF-8 without control characters");
	if (in->notify_days < 1)
		return invalid("deadline must be at least one day");
	if (field_mask_format(in->items, ',', items, sizeof items) < 0)
		return invalid("items");
	pthread_mutex_lock(&db->mu);
	due = notice_due_date(db->cal, (int32_t)(in->request_us / 86400000000LL),
	    in->notify_days, in->notify_unit);
	if (due == INT32_MIN) {
		rc = invalid("bad deadline (days 1-365, unit days or business days)");
		goto out;
	}
	q = sqldb_stmt(&db->d, S_ADD);
	sqlite3_bind_int64(q, 1, util_now_us());
	sqlite3_bind_int64(q, 2, in->request_us);
	sqldb_bind_text(q, 3, in->subject);
	sqldb_bind_text(q, 4, in->agency_ori);
	sqldb_bind_text(q, 5, in->agency_name);
	sqldb_bind_text(q, 6, in->agency_category);
	sqldb_bind_text(q, 7, in->purpose);
	sqldb_bind_text(q, 8, in->outcome);
	sqldb_bind_text(q, 9, items);
	sqldb_bind_text(q, 10, in->legal_process);
	sqldb_bind_text(q, 11, in->process_kind);
	sqldb_bind_text(q, 12, in->process_court);
	sqldb_bind_text(q, 13, in->process_case);
	sqlite3_bind_int(q, 14, in->notify_days);
	sqlite3_bind_int(q, 15, in->notify_unit);
	sqlite3_bind_int(q, 16, due);
	sqldb_bind_text(q, 17, in->name);
	sqldb_bind_text(q, 18, in->street);
	sqldb_bind_text(q, 19, in->city);
	sqldb_bind_text(q, 20, in->state);
	sqldb_bind_text(q, 21, in->zip);
	sqlite3_bind_int64(q, 22, in->audit_index);
	if (sqlite3_step(q) != SQLITE_DONE) {
		sqldb_err(&db->d, "create");
		sqlite3_reset(q);
		goto out;
	}
	sqlite3_reset(q);
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(db->d.db);
	rc = 0;
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static void
read_notice(sqlite3_stmt *q, struct notice *n)
{
	const unsigned char *items;

	memset(n, 0, sizeof *n);
	n->id = sqlite3_column_int64(q, 0);
	n->created_us = sqlite3_column_int64(q, 1);
	n->request_us = sqlite3_column_int64(q, 2);
	sqldb_copy_col(q, 3, n->subject, sizeof n->subject);
	sqldb_copy_col(q, 4, n->agency_ori, sizeof n->agency_ori);
	sqldb_copy_col(q, 5, n->agency_name, sizeof n->agency_name);
	sqldb_copy_col(q, 6, n->agency_category, sizeof n->agency_category);
	sqldb_copy_col(q, 7, n->purpose, sizeof n->purpose);
	sqldb_copy_col(q, 8, n->outcome, sizeof n->outcome);
	items = sqlite3_column_text(q, 9);
	for (const char *p = (const char *)items; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, ",");
		int f = field_lookup(p, len);
		if (f >= 0)
			n->items |= FIELD_BIT(f);
		p += len;
		if (*p == ',')
			p++;
	}
	sqldb_copy_col(q, 10, n->legal_process, sizeof n->legal_process);
	sqldb_copy_col(q, 11, n->process_kind, sizeof n->process_kind);
	sqldb_copy_col(q, 12, n->process_court, sizeof n->process_court);
	sqldb_copy_col(q, 13, n->process_case, sizeof n->process_case);
	n->notify_days = sqlite3_column_int(q, 14);
	n->notify_unit = sqlite3_column_int(q, 15);
	n->due_day = (int32_t)sqlite3_column_int(q, 16);
	sqldb_copy_col(q, 17, n->name, sizeof n->name);
	sqldb_copy_col(q, 18, n->street, sizeof n->street);
	sqldb_copy_col(q, 19, n->city, sizeof n->city);
	sqldb_copy_col(q, 20, n->state, sizeof n->state);
	sqldb_copy_col(q, 21, n->zip, sizeof n->zip);
	n->audit_index = sqlite3_column_int64(q, 22);
	n->sent_us = sqlite3_column_int64(q, 23);
	sqldb_copy_col(q, 24, n->sent_by, sizeof n->sent_by);
}

static int
get_locked(struct notice_db *db, int64_t id, struct notice *out)
{
	sqlite3_stmt *q = sqldb_stmt(&db->d, S_GET);
	int rc;

	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		read_notice(q, out);
	sqlite3_reset(q);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return NOTICE_NOTFOUND;
	sqldb_err(&db->d, "get");
	return -1;
}

int
notice_get(struct notice_db *db, int64_t id, struct notice *out)
{
	int rc;

	pthread_mutex_lock(&db->mu);
	rc = get_locked(db, id, out);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int
run_list(struct notice_db *db, sqlite3_stmt *q, notice_cb cb, void *arg)
{
	struct notice *n = util_calloc(1, sizeof *n);
	int step, rc = -1;

	if (n == NULL)
		return -1;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		read_notice(q, n);
		if (cb(arg, n) != 0)
			break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		sqldb_err(&db->d, "list");
	else
		rc = 0;
	sqlite3_reset(q);
	free(n);
	return rc;
}

int
notice_list(struct notice_db *db, enum notice_filter filter, int32_t today, notice_cb cb,
    void *arg)
{
	sqlite3_stmt *q;
	int rc;

	pthread_mutex_lock(&db->mu);
	switch (filter) {
	case NOTICE_DUE:
		q = sqldb_stmt(&db->d, S_LIST_DUE);
		break;
	case NOTICE_OVERDUE:
		q = sqldb_stmt(&db->d, S_LIST_OVERDUE);
		sqlite3_bind_int(q, 1, today);
		break;
	case NOTICE_SENT:
		q = sqldb_stmt(&db->d, S_LIST_SENT);
		break;
	case NOTICE_ALL:
	default:
		q = sqldb_stmt(&db->d, S_LIST_ALL);
		break;
	}
	rc = run_list(db, q, cb, arg);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int
notice_list_subject(struct notice_db *db, const char *license, notice_cb cb, void *arg)
{
	sqlite3_stmt *q;
	int rc;

	pthread_mutex_lock(&db->mu);
	q = sqldb_stmt(&db->d, S_LIST_SUBJECT);
	sqldb_bind_text(q, 1, license);
	rc = run_list(db, q, cb, arg);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int
notice_mark_sent(struct notice_db *db, int64_t id, const char *operator_name, int64_t now_us)
{
	char detail[REGISTRY_DETAIL_MAX], idstr[NOTICE_ID_MAX];
	struct notice *n = util_calloc(1, sizeof *n);
	sqlite3_stmt *q;
	int rc = -1, step;

	if (n == NULL)
		return -1;
	pthread_mutex_lock(&db->mu);
	if (sqldb_exec(&db->d, S_BEGIN) < 0)
		goto out;
	if ((rc = get_locked(db, id, n)) != 0)
		goto rollback;
	rc = -1;
	q = sqldb_stmt(&db->d, S_SENT);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, now_us);
	sqldb_bind_text(q, 3, operator_name);
	step = sqlite3_step(q);
	sqlite3_reset(q);
	if (step != SQLITE_DONE) {
		sqldb_err(&db->d, "mark sent");
		goto rollback;
	}
	if (sqlite3_changes(db->d.db) == 0) {
		rc = NOTICE_ALREADY_SENT;
		goto rollback;
	}
	notice_id_format(id, idstr);
	snprintf(detail, sizeof detail, "id=%s subject=license:%s agency=%s by=%s", idstr,
	    n->subject, n->agency_ori, operator_name ? operator_name : "");
	q = sqldb_stmt(&db->d, S_QUEUE);
	sqlite3_bind_int64(q, 1, now_us);
	sqldb_bind_text(q, 2, "notice.sent");
	sqldb_bind_text(q, 3, n->agency_ori);
	sqldb_bind_text(q, 4, "");
	sqldb_bind_text(q, 5, detail);
	step = sqlite3_step(q);
	sqlite3_reset(q);
	if (step != SQLITE_DONE) {
		sqldb_err(&db->d, "queue audit record");
		goto rollback;
	}
	if (sqldb_exec(&db->d, S_BUMP) < 0 || sqldb_exec(&db->d, S_COMMIT) < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	(void)sqldb_exec(&db->d, S_ROLLBACK);
out:
	pthread_mutex_unlock(&db->mu);
	free(n);
	return rc;
}

int
notice_count_overdue(struct notice_db *db, int32_t today, int64_t *n)
{
	sqlite3_stmt *q;
	int rc = -1;

	pthread_mutex_lock(&db->mu);
	q = sqldb_stmt(&db->d, S_OVERDUE);
	sqlite3_bind_int(q, 1, today);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*n = sqlite3_column_int64(q, 0);
		rc = 0;
	} else {
		sqldb_err(&db->d, "count overdue");
	}
	sqlite3_reset(q);
	pthread_mutex_unlock(&db->mu);
	return rc;
}
