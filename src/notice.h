/*
 * notice.h - notices to data subjects (issue 6, docs/notices.md).
 *
 * When a decision carries a `notify subject within N days` (or business
 * days) obligation, permit or deny alike (New York's notice is triggered by
 * the request), the server creates a notice: who was asked about, which
 * agency asked (name and category), when, for what purpose, the outcome,
 * the items released, the legal process cited, the mailing address on the
 * record at that moment, and the due date.  Notices live in the `notice`
 * table of DIR/registry.db; DMV staff list them, render the letters
 * (notice_render.c: HTML in English and Spanish, and plain text) and mark
 * them sent (audited, once).
 *
 * Due dates count calendar days, or business days skipping Saturdays,
 * Sundays and holidays: DIR/holidays (one YYYY-MM-DD per line, '#'
 * comments) when present, else the built-in US federal holidays of
 * 2026-2027.
 *
 * A struct notice_db is one SQLite connection guarded by a mutex: every
 * function may be called from any thread.  A struct notice_calendar is
 * immutable once built.
 */
#ifndef DMVGATE_NOTICE_H
#define DMVGATE_NOTICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "field.h"

#define NOTICE_MAX_HOLIDAYS 1024
#define NOTICE_HOLIDAYS_FILE "holidays"
#define NOTICE_HOLIDAYS_MAX_BYTES (64 * 1024)
#define NOTICE_MAX_DAYS 365         /* longest deadline accepted */
#define NOTICE_ID_MAX 24            /* "N-<n>" with the NUL */

/* Results besides 0 / -1 (errors print a message on stderr). */
#define NOTICE_NOTFOUND (-3)
#define NOTICE_INVALID (-4)
#define NOTICE_ALREADY_SENT (-5)

/* Deadline units (the same values as POLICY_NOTIFY_*). */
#define NOTICE_DAYS 1
#define NOTICE_BUSINESS_DAYS 2

/* ---- calendar ---- */

struct notice_calendar;

/*
 * The built-in calendar (US federal holidays 2026-2027, observed dates).
 * Returns a new calendar the caller frees with notice_calendar_free, or
 * NULL on allocation failure.
 */
struct notice_calendar *notice_calendar_default(void);
/*
 * Parses a holiday list: one YYYY-MM-DD per line, optionally followed by
 * whitespace and a name; blank lines and '#' comments ignored.  name is
 * used in messages ("file:line: ...").  Returns a new calendar (caller
 * frees) or NULL on the first error.
 */
struct notice_calendar *notice_calendar_parse(const char *name, const char *text, size_t len);
/*
 * DIR/holidays when it exists, else the default.  NULL on error (a bad
 * file is an error, not a silent fallback).
 */
struct notice_calendar *notice_calendar_load(const char *datadir);
void notice_calendar_free(struct notice_calendar *c);
/* Number of holidays, and 1 when day is one. */
int notice_calendar_count(const struct notice_calendar *c);
int notice_calendar_is_holiday(const struct notice_calendar *c, int32_t day);
/* 1 when day is a business day: not Saturday, Sunday or a holiday. */
int notice_business_day(const struct notice_calendar *c, int32_t day);
/*
 * The due date of a notice for a request on day `from`: `from` + n days
 * (NOTICE_DAYS), or the n-th business day after `from` (NOTICE_BUSINESS_
 * DAYS; `from` itself never counts).  c may be NULL (no holidays).
 * Returns the day number, or INT32_MIN for a bad unit or n outside
 * 0..NOTICE_MAX_DAYS.
 */
int32_t notice_due_date(const struct notice_calendar *c, int32_t from, int n, int unit);

/* ---- notices ---- */

/* One notice (strings NUL-terminated; "" when absent). */
struct notice {
	int64_t id;
	int64_t created_us;
	int64_t request_us;             /* when the request arrived */
	char subject[17];               /* license number */
	char agency_ori[10];
	char agency_name[201];
	char agency_category[65];
	char purpose[65];
	char outcome[8];                /* "permit" | "deny" */
	field_mask items;               /* released (0 on deny) */
	char legal_process[25];         /* cited id, "" when none */
	char process_kind[32];          /* its kind when registered, else "" */
	char process_court[201];
	char process_case[201];
	int notify_days;
	int notify_unit;                /* NOTICE_DAYS | NOTICE_BUSINESS_DAYS */
	int32_t due_day;
	/* mailing address, from the record at the time of the request */
	char name[200];                 /* "FIRST MIDDLE LAST SUFFIX" */
	char street[129];
	char city[65];
	char state[3];
	char zip[11];
	int64_t audit_index;            /* entry of the request, -1 unknown */
	int64_t sent_us;                /* 0: not sent */
	char sent_by[64];
};

struct notice_db;

/*
 * Opens DIR/registry.db (creating the notice table) and loads the
 * calendar of datadir (notice_calendar_load).  NULL on error.  The caller
 * frees with notice_close (NULL is fine).
 */
struct notice_db *notice_open(const char *datadir);
void notice_close(struct notice_db *db);
/* The calendar in use, owned by db. */
const struct notice_calendar *notice_db_calendar(const struct notice_db *db);

/* "N-<n>" and its parser ("N-3", "n-3" or "3"; -1 when malformed). */
void notice_id_format(int64_t id, char out[NOTICE_ID_MAX]);
int64_t notice_id_parse(const char *s);

/*
 * Creates a notice from in (copied; id, created_us, due_day and the sent
 * fields are ignored: the due date is computed from request_us, notify_days
 * and notify_unit with the db's calendar).  Requires a well-formed subject,
 * outcome "permit" or "deny", a unit and 1..NOTICE_MAX_DAYS days.  Stores
 * the id in *id (may be NULL).  Returns 0, NOTICE_INVALID or -1.
 */
int notice_create(struct notice_db *db, const struct notice *in, int64_t *id);

int notice_get(struct notice_db *db, int64_t id, struct notice *out);

/* Which notices notice_list shows. */
enum notice_filter {
	NOTICE_ALL,
	NOTICE_DUE,        /* not sent yet (overdue ones included) */
	NOTICE_OVERDUE,    /* not sent and today is after the due date */
	NOTICE_SENT,
};
/*
 * Calls cb for each notice matching filter (as of day today) in id order;
 * the struct is valid during the call.  cb returns non-zero to stop.
 * Returns 0 or -1.
 */
typedef int (*notice_cb)(void *arg, const struct notice *n);
int notice_list(struct notice_db *db, enum notice_filter filter, int32_t today, notice_cb cb,
    void *arg);
/* Notices about one subject (license number), for `audit subject`. */
int notice_list_subject(struct notice_db *db, const char *license, notice_cb cb, void *arg);

/*
 * Marks notice id sent at now_us by operator_name (queues an audit record
 * "notice.sent").  Returns 0, NOTICE_NOTFOUND, NOTICE_ALREADY_SENT or -1.
 */
int notice_mark_sent(struct notice_db *db, int64_t id, const char *operator_name,
    int64_t now_us);

/* Unsent notices whose due date is before today (for /metrics and the
 * report).  Returns 0 and *n, or -1. */
int notice_count_overdue(struct notice_db *db, int32_t today, int64_t *n);

/* ---- letters (notice_render.c) ---- */

/*
 * Writes the letter for n: a self-contained, printable HTML page with the
 * English text followed by the Spanish one, or the plain-text form (both
 * languages).  letter_day is the date printed on the letter.  Only what
 * the person is entitled to appears: who asked, when, for what purpose,
 * under which legal process, the outcome and what was released, and how
 * to get their access history.  Returns 0 or -1 (write error).
 */
int notice_render_html(const struct notice *n, int32_t letter_day, FILE *f);
int notice_render_text(const struct notice *n, int32_t letter_day, FILE *f);

#endif /* DMVGATE_NOTICE_H */
