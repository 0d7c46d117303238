/*
 * report_int.h - the inside of struct report, shared by report.c (the
 * computation, JSON and CSV) and report_html.c (the HTML page) and by
 * nothing else: every other file sees the opaque struct of report.h.
 */
#ifndef DMVGATE_REPORT_INT_H
#define DMVGATE_REPORT_INT_H

#include "report.h"

#include <stdint.h>
#include <stdio.h>

#include "audit.h"

#define REPORT_PARTS 4      /* key parts of a row */
#define REPORT_MEASURES 6   /* counters of a row */
#define REPORT_VERIFY_STEPS 4

/* The tables, in the order every format prints them. */
enum report_tab_id {
	T_SUMMARY, T_REQ_CAT, T_REQ, T_CHANNEL, T_DENY_RULE, T_LIMIT, T_PROCESS, T_NOTICE,
	T_AUTH, T_ALERTS, T_REGISTRY, T_AGENCY, T_ORI_REQ, T_ORI_AGENCY, T_COUNT
};
/* Outcome measures of the request tables. */
enum { O_PERMIT, O_DENY, O_LIMITED, O_INVALID, O_ERROR, O_TOTAL, O_COUNT = O_TOTAL };
/* Rows of the summary table. */
enum {
	S_ENTRIES, S_REQUESTS, S_PERMIT, S_DENY, S_LIMITED, S_INVALID, S_ERROR, S_IMM,
	S_IMM_PERMIT, S_IMM_JUDICIAL, S_IMM_OTHER, S_PROCESS_CITED, S_AUTHFAIL, S_ALERTS,
	S_NOTICES, S_COUNT
};
enum { CH_NONE, CH_STACK, CH_BAR };

struct report_tabdef {
	const char *id, *title, *desc;
	int nparts;                  /* key parts printed */
	int nkey;                    /* of which form the key (the rest are attributes) */
	const char *parts[REPORT_PARTS];
	int nmeas;
	const char *meas[REPORT_MEASURES];
	int chart;                   /* CH_* */
	int nchart;                  /* measures drawn (stacked, or the one bar) ... */
	int chart_first;             /* ... starting at this measure */
	int total;                   /* print a total row */
	int sorted;                  /* rows sorted by key, else in insertion order */
	int internal;                /* only in --internal reports */
};
extern const struct report_tabdef report_tabdefs[T_COUNT];
extern const char *const report_verify_steps[REPORT_VERIFY_STEPS];

struct report_row {
	char *part[REPORT_PARTS];    /* owned; "" for unused parts */
	uint64_t v[REPORT_MEASURES];
};

struct report_tab {
	const struct report_tabdef *def;
	struct report_row *rows;
	size_t n, cap;
	uint32_t *slots;             /* open addressing: row index + 1, 0 empty */
	size_t nslots;
};

struct report_proc {
	int64_t id;
	int kind;
};

struct report_agency {
	char ori[16];
	char name[201];
	char category[65];
};

struct report_rule {
	char *id, *cite;
	int forbid;
};

struct report {
	struct report_period period;
	int k;
	int internal;
	struct report_tab tabs[T_COUNT];
	/* scan state */
	uint64_t scan_next;          /* UINT64_MAX before the first update */
	int scan_done;               /* passed the period's end (plus slack) */
	uint64_t nentries, first_index, last_index;
	uint64_t log_size, log_first;
	int pruned;                  /* entries of the period may have been pruned */
	int updated;
	int64_t updated_us;
	/* names from the policy (owned copies) */
	char **cats, **purposes;
	size_t ncats, npurposes;
	struct report_rule *rules;
	size_t nrules;
	/* registry snapshots */
	struct report_proc *procs;
	size_t nprocs;
	struct report_agency *agencies;
	size_t nagencies;
	/* the latest checkpoint (NULL: none yet) */
	struct audit_checkpoint *cp;
	char verifier[256];             /* the current public key */
	char retired[2048];             /* retired public keys, one a line, newest first */
	char origin[256];
};

/* Helpers shared by the renderers (report.c). */
size_t *report_row_order(const struct report_tab *t);   /* malloc'd; caller frees */
int report_tab_visible(const struct report *r, int t);
void report_tab_total(const struct report_tab *t, uint64_t tot[REPORT_MEASURES]);
void report_period_text(const struct report *r, char from[11], char last[11]);
int report_complete(const struct report *r, int64_t now_us);
/* The checkpoint's signature line ("— origin base64") into out; 0 or -1. */
int report_signature_line(const struct report *r, char *out, size_t outsz);
/* report_html.c */
int report_render_html(const struct report *r, int64_t now_us, FILE *f);

#endif /* DMVGATE_REPORT_INT_H */
