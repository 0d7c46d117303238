/*
 * process.h - the legal-process registry (issue 6): judicial warrants,
 * court orders and subpoenas registered by DMV counsel with their scope
 * (issuing agency, subjects, data items, validity, number of uses), kept in
 * DIR/registry.db next to agencies and users (docs/legal-process.md).
 *
 * A request cites a process by id ("LP-7").  process_check turns the id,
 * the requesting agency, the subjects of the matched records and the date
 * into the facts the policy sees (kind, valid, issued_to_agency,
 * covers_subject, items); after a permit the server counts the use with
 * process_record_use, which refuses atomically once max_uses is reached.
 *
 * Registration and revocation run in one transaction that also queues an
 * audit record in the registry's pending_audit table and bumps its change
 * counter (the mechanism of registry.h): a CLI then writes the queued
 * records to the audit log itself, or a running server drains them.
 *
 * A struct process_db is one SQLite connection guarded by a mutex: every
 * function may be called from any thread.
 */
#ifndef DMVGATE_PROCESS_H
#define DMVGATE_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "field.h"

#define PROCESS_DOC_MAX (20 * 1024 * 1024)  /* largest document, bytes */
#define PROCESS_MAX_SUBJECTS 64     /* license numbers named by one process */
#define PROCESS_TEXT_MAX 200        /* court, judge, case number, bytes */
#define PROCESS_REASON_MAX 500      /* revocation reason, bytes */
#define PROCESS_ID_MAX 24           /* "LP-<n>" with the NUL */
#define PROCESS_LICENSE_MAX 16      /* a license number, bytes */
#define PROCESS_MAX_USES 1000000

/* Results besides 0 / -1 (errors print a message on stderr). */
#define PROCESS_NOTFOUND (-3)       /* no such process */
#define PROCESS_INVALID (-4)        /* bad input: the message says which */
#define PROCESS_USED_UP (-5)        /* record_use: no use left, or revoked */
#define PROCESS_REVOKED (-6)        /* revoke: already revoked */

/* Kinds of legal process.  Their names are the ones the policy declares. */
enum process_kind {
	PROCESS_JUDICIAL_WARRANT,
	PROCESS_COURT_ORDER,
	PROCESS_JUDICIAL_SUBPOENA,
	PROCESS_GRAND_JURY_SUBPOENA,
	PROCESS_ADMINISTRATIVE_SUBPOENA,
	PROCESS_ADMINISTRATIVE_WARRANT,
	PROCESS_KIND_COUNT
};

/* "judicial_warrant", ...; NULL when out of range. */
const char *process_kind_name(int kind);
/* The kind named s, or -1. */
int process_kind_parse(const char *s);

/*
 * Parses a process id: "LP-7", "lp-7" or "7".  Returns the number (>= 1)
 * or -1 when s is not one.  process_id_format writes "LP-<n>".
 */
int64_t process_id_parse(const char *s);
void process_id_format(int64_t id, char out[PROCESS_ID_MAX]);

/*
 * Parses an item list (names separated by commas and/or spaces): canonical
 * field names (field.h) including `history` and `photo`.  ORs them into
 * *mask.  Returns 0, or -1 naming the unknown item on stderr.
 */
int process_items_parse(const char *list, field_mask *mask);

/* One registered process, as stored (all strings NUL-terminated). */
struct process_info {
	int64_t id;
	enum process_kind kind;
	char ori[10];                       /* the agency it is issued to */
	char court[PROCESS_TEXT_MAX + 1];
	char case_number[PROCESS_TEXT_MAX + 1];
	char judge[PROCESS_TEXT_MAX + 1];
	int32_t issued, expires;            /* day numbers, inclusive */
	field_mask items;                   /* the data items it names */
	int nsubjects;
	char subjects[PROCESS_MAX_SUBJECTS][PROCESS_LICENSE_MAX + 1];
	int64_t max_uses;                   /* 0: no limit */
	int64_t uses;
	char document_sha256[65];           /* lower-case hex */
	char document_name[PROCESS_TEXT_MAX + 1];   /* base name as given */
	int64_t document_size;
	int64_t created_us;
	char created_by[64];
	int64_t revoked_us;                 /* 0: in force */
	char revoked_reason[PROCESS_REASON_MAX + 1];
	char revoked_by[64];
};

struct process_db;

/*
 * Opens the registry database at path (creating the legal-process tables
 * when missing).  NULL on error (message on stderr).  The caller frees it
 * with process_close (NULL is fine).
 */
struct process_db *process_open(const char *path);
void process_close(struct process_db *db);

/*
 * Copies the document at path into docdir (created 0700 if missing) as a
 * file named by its SHA-256 (mode 0600).  Refuses what is not a regular
 * file, an empty file and one over PROCESS_DOC_MAX bytes.  Stores the hex
 * digest in sha256 and the size in *size.  Returns 0, PROCESS_INVALID or -1.
 */
int process_store_document(const char *docdir, const char *path, char sha256[65],
    int64_t *size);

/*
 * Registers a process.  in (copied, not kept) must have kind, ori, court,
 * case_number, judge, issued <= expires, at least one subject (well-formed
 * license numbers, duplicates dropped), non-zero items, max_uses 0..
 * PROCESS_MAX_USES, the document fields; id, uses and the revocation are
 * ignored.  The agency must exist in the registry.  operator names who
 * registered it (for the audit record).  Stores the new id in *id.
 * Returns 0, PROCESS_INVALID (message on stderr) or -1.
 */
int process_add(struct process_db *db, const struct process_info *in, const char *operator_name,
    int64_t *id);

/* Reads process id into out.  Returns 0, PROCESS_NOTFOUND or -1. */
int process_get(struct process_db *db, int64_t id, struct process_info *out);

/*
 * Calls cb for every process in id order with a struct owned by the call
 * (valid during cb).  cb returns non-zero to stop.  Returns 0 or -1.
 */
typedef int (*process_cb)(void *arg, const struct process_info *p);
int process_list(struct process_db *db, process_cb cb, void *arg);

/*
 * Revokes process id (reason 1..PROCESS_REASON_MAX bytes of UTF-8).
 * Returns 0, PROCESS_NOTFOUND, PROCESS_REVOKED (already), PROCESS_INVALID
 * or -1.
 */
int process_revoke(struct process_db *db, int64_t id, const char *reason,
    const char *operator_name);

/*
 * The facts a request citing a process gives the policy.  kind is "" when
 * the process does not exist (the policy then sees no process); why says,
 * in a few words, what made it not valid ("" when valid).
 */
struct process_facts {
	int64_t id;                 /* 0 when the id did not parse */
	int exists;
	char kind[32];              /* policy process kind name, or "" */
	int valid;                  /* exists, issued to the agency, in its dates,
				       not revoked, uses left */
	int issued_to_agency;
	int covers_subject;         /* every subject given is named (and >= 1) */
	field_mask items;
	const char *why;            /* static string */
};

/*
 * Checks the process cited as id_str (untrusted) for a request of agency
 * ori about the records whose license numbers are subjects[0..n-1], on day
 * today.  Fills *out (always, even on error: then nothing is valid).
 * Returns 0 (whatever the facts) or -1 on a database error.
 */
int process_check(struct process_db *db, const char *id_str, const char *ori,
    const char *const *subjects, int nsubjects, int32_t today, struct process_facts *out);

/*
 * Counts one use of process id by agency ori / user for subject (a subject
 * key or license number) at time_us, with the audit index of the entry
 * that records it (-1 when not known).  Atomic with the max-uses check:
 * returns 0 when counted, PROCESS_USED_UP when revoked or no use is left
 * (the caller must then not disclose), PROCESS_NOTFOUND or -1.
 */
int process_record_use(struct process_db *db, int64_t id, const char *ori, const char *user,
    const char *subject, int64_t time_us, int64_t audit_index);

#endif /* DMVGATE_PROCESS_H */
