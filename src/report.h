/*
 * report.h - transparency reports (issue 9, docs/transparency.md).
 *
 * One computation over the audit log (plus the registry, the legal-process
 * table and the notices) for a period fills a struct report: counts of
 * requests by agency category x purpose x outcome, by channel, denials by
 * deciding rule (with its citation), limits that stopped requesters, legal
 * process by kind, notices, authentication failures, alerts and
 * suspensions, registry changes, agencies and their certifications, and
 * the latest signed checkpoint.  Three renderers (JSON, CSV, HTML with
 * inline SVG charts) print that one struct, so the formats always agree.
 *
 * Public reports suppress small counts: a count 1..k-1 is shown as "<k"
 * (0 stays 0), and they never name a person, a user or an agency (agencies
 * appear only by category; requester-chosen strings such as reasons and
 * legal-process ids never appear; a purpose or category the policy does
 * not declare is shown as "(undeclared)").  An internal report adds
 * per-agency (ORI) tables and is never served over HTTP.
 *
 * Memory is bounded by the number of distinct keys (each table holds at
 * most REPORT_MAX_ROWS rows; further keys are counted in an "(other)" row),
 * never by the number of entries: the log is streamed once.  The struct
 * can be brought up to date incrementally (report_update scans only the
 * entries appended since its last call), which is what the server's cache
 * does.
 *
 * A struct report is not thread-safe; struct report_cache is.
 */
#ifndef DMVGATE_REPORT_H
#define DMVGATE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REPORT_K_DEFAULT 10          /* suppression threshold */
#define REPORT_K_MAX 1000
#define REPORT_MAX_ROWS 2048         /* rows of one table before "(other)" */
#define REPORT_LABEL_MAX 32
/* Entries are placed in a period by their own time; the log is in time
 * order up to small reorderings (and registry changes drained late), so
 * the scan starts and stops this far outside the period. */
#define REPORT_SLACK_US (24LL * 3600 * 1000000)
#define REPORT_CACHE_SECONDS 60      /* the server regenerates at most this often */

struct audit_log;
struct policy;
struct registry;
struct process_db;
struct notice_db;

enum report_format {
	REPORT_JSON,
	REPORT_CSV,
	REPORT_HTML
};

/* A period: entries with from_us <= time < to_us. */
struct report_period {
	int64_t from_us, to_us;
	char label[REPORT_LABEL_MAX];    /* "2026Q3" or "2026-07-01..2026-08-15" */
};

/*
 * Period parsers.  "2026Q3" (also "2026q3", "2026-Q3"): July 1 to
 * September 30 inclusive.  Dates are YYYY-MM-DD, both inclusive
 * (from <= to).  report_period_of_time gives the quarter holding the time
 * us, report_period_previous the quarter before p (a quarter).  Return 0,
 * or -1 for malformed input (nothing printed).
 */
int report_period_quarter(const char *s, struct report_period *p);
int report_period_dates(const char *from, const char *to, struct report_period *p);
void report_period_of_time(int64_t us, struct report_period *p);
int report_period_previous(const struct report_period *p, struct report_period *prev);
/* "json" | "csv" | "html" -> format, or -1. */
int report_format_parse(const char *s);

struct report;

/*
 * A new, empty report for period p.  k is the suppression threshold
 * (1..REPORT_K_MAX; 1 suppresses nothing); internal adds the per-agency
 * tables.  Returns NULL on allocation failure or a bad k.  The caller owns
 * the result and frees it with report_free.
 */
struct report *report_new(const struct report_period *p, int k, int internal);
void report_free(struct report *r);

/* What report_update reads; every member is borrowed and may be NULL
 * except log. */
struct report_sources {
	struct audit_log *log;         /* read only */
	const struct policy *pol;      /* declared names, rule citations */
	struct registry *reg;          /* agencies and certifications */
	struct process_db *proc;       /* kinds of the processes cited */
	struct notice_db *notices;     /* created, sent, overdue */
	const char *verifier;          /* the log's public keys (signed-note verifiers), one a
	                                * line: the current one, then those retired by
	                                * `keys rotate`, newest first (key_history) */
	int progress;                  /* progress bar on a terminal */
};

/*
 * Brings r up to date: scans the entries appended since the last call
 * (the first call finds the period's start by binary search on time) and
 * recomputes the snapshot parts (agencies, notices, checkpoint) as of now.
 * Returns 0, or -1 when the log cannot be read or an entry is corrupt
 * (message on stderr; r then keeps its counts but must not be published).
 */
int report_update(struct report *r, const struct report_sources *src);

/*
 * Counts one decoded entry as report_update would (for tests: an entry
 * outside the period is ignored).  The caller must have set up processes
 * and names with report_update or report_set_names first, else every
 * category and purpose is "(undeclared)".  Returns 0 or -1 (allocation).
 */
struct audit_record;
int report_add_record(struct report *r, const struct audit_record *rec);
/* Takes the declared categories, purposes and rule citations from pol
 * (copied).  Returns 0 or -1. */
int report_set_names(struct report *r, const struct policy *pol);

/*
 * Writes r in format fmt to f, as of its last update; now_us is the
 * generation time printed (0: now).  Returns 0 or -1 (write error).
 */
int report_render(const struct report *r, enum report_format fmt, int64_t now_us, FILE *f);
/*
 * The same into a malloc'd buffer (*out, *len; the caller frees *out).
 * Returns 0 or -1.
 */
int report_render_mem(const struct report *r, enum report_format fmt, int64_t now_us,
    char **out, size_t *len);

/*
 * A displayed count: "0", "42", or "<k" when 0 < v < k.  Writes into out
 * (at least 24 bytes) and returns 1 when suppressed, else 0.
 */
int report_count_format(uint64_t v, int k, char *out, size_t outsz);

/*
 * Reads one raw count for tests: table id (e.g. "requests"), the row's key
 * parts joined with '|' ("local_police|criminal_investigation"), and the
 * measure ("permit").  Returns 0 and *v, or -1 when there is no such row.
 */
int report_get(const struct report *r, const char *table, const char *key, const char *measure,
    uint64_t *v);

/* ---- the server's cache (public reports only) ---- */

struct report_cache;
/*
 * A cache for `dmvgate serve` over datadir (copied): it opens its own
 * registry, legal-process and notice connections on first use.  k is the
 * suppression threshold (0: REPORT_K_DEFAULT).  NULL on allocation
 * failure.  Free with report_cache_free (NULL is fine).
 */
struct report_cache *report_cache_new(const char *datadir, int k);
void report_cache_free(struct report_cache *c);
/*
 * Answers GET path ("/transparency", "/transparency.json",
 * "/transparency.csv") for quarter (the ?quarter= argument, NULL or ""
 * for the current quarter; only the current and the previous quarter are
 * served).  A quarter's report is brought up to date (incrementally) at
 * most every REPORT_CACHE_SECONDS and rendered once per update, by one
 * thread at a time; meanwhile every other request gets the previous
 * renderings at once, so the page cannot be used to load the gateway.
 * log and pol are borrowed.  Sets *status (200, 400 for a bad quarter, 404
 * for another path, 503 while the first report is being made or when it
 * cannot be made), *body (malloc'd, the caller frees) and its length, and
 * *ctype (static).  Thread-safe.  Returns 0, or -1 on allocation failure
 * (nothing to free).
 */
int report_cache_http(struct report_cache *c, struct audit_log *log, const struct policy *pol,
    const char *path, const char *quarter, unsigned *status, char **body, size_t *len,
    const char **ctype);

#endif /* DMVGATE_REPORT_H */
