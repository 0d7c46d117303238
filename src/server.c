/*
 * server.c - the gateway daemon (see server.h): libmicrohttpd plumbing,
 * the /v1/query pipeline, /v1/checkpoint, /healthz, /metrics, the signal
 * and registry-poll loop, and the request log.
 *
 * Threads: MHD's worker pool runs the access handler; each worker lazily
 * opens its own read-only struct store.  The audit log's writer thread
 * calls on_durable(), which only records the status and resumes the
 * suspended connection; the worker then queues the reply it built before
 * the entry was committed.  The main thread waits for signals and polls
 * the registry's change counter.
 *
 * The response body names its own audit index and leaf hash, and the
 * entry holds SHA-256 of the body; to break the cycle the hash covers the
 * body as sent minus the `,"leaf_hash":"<64 hex>"` member (docs/api.md,
 * "Verifying a response").
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <nettle/sha2.h>

#include "audit.h"
#include "field.h"
#include "key.h"
#include "nlets.h"
#include "notice.h"
#include "policy.h"
#include "process.h"
#include "query.h"
#include "registry.h"
#include "report.h"
#include "privdrop.h"
#include "server_limits.h"
#include "server_log.h"
#include "server_tls.h"
#include "store.h"
#include "util.h"

#define SERVER_MAX_STORES 512
#define SERVER_PHOTO_MAX (512 * 1024)   /* largest photo file inlined */
#define SERVER_RESP_MAX (4 * 1024 * 1024)
#define SERVER_DRAIN_SECONDS 20

/* ---- a bounded string builder ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int err;                  /* allocation failed or over SERVER_RESP_MAX */
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > SERVER_RESP_MAX || (np = realloc(b->p, ncap)) == NULL) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void UTIL_PRINTF(2, 3)
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512], *big = NULL;
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = 1;
	} else if ((size_t)n < sizeof tmp) {
		sb_put(b, tmp, (size_t)n);
	} else if ((big = malloc((size_t)n + 1)) == NULL) {
		b->err = 1;
	} else {
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
		sb_put(b, big, (size_t)n);
		free(big);
	}
	va_end(ap2);
}

/* A JSON string literal; invalid UTF-8 is escaped byte by byte. */
static void
sb_jstr(struct sbuf *b, const char *s, size_t n)
{
	int valid = -1;            /* UTF-8 validity, checked at the first non-ASCII byte */
	size_t start = 0;

	sb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			continue;      /* plain ASCII: most of what we send */
		if (c >= 0x80) {
			if (valid < 0)
				valid = util_utf8_valid(s, n) == 0;
			if (valid)
				continue;
		}
		sb_put(b, s + start, i - start);
		if (c == '"')
			sb_put(b, "\\\"", 2);
		else if (c == '\\')
			sb_put(b, "\\\\", 2);
		else {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			sb_put(b, esc, 6);
		}
		start = i + 1;
	}
	sb_put(b, s + start, n - start);
	sb_put(b, "\"", 1);
}

static void
sb_jstrz(struct sbuf *b, const char *s)
{
	sb_jstr(b, s, strlen(s));
}

/* ---- metrics ---- */

enum outcome {
	OUT_PERMIT, OUT_DENY, OUT_BAD_REQUEST, OUT_UNAUTHORIZED, OUT_TOO_LARGE,
	OUT_LIMITED, OUT_UNAVAILABLE, OUT_OTHER, OUT_COUNT
};
static const char *const outcome_names[OUT_COUNT] = {
	"permit", "deny", "bad_request", "unauthorized", "too_large", "limited",
	"unavailable", "other"
};

static const double dec_bounds[] = {   /* seconds */
	0.25e-6, 0.5e-6, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 1e-3
};
static const double e2e_bounds[] = {   /* seconds */
	100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
	250e-3, 1.0, 5.0
};
#define NB_DEC (sizeof dec_bounds / sizeof dec_bounds[0])
#define NB_E2E (sizeof e2e_bounds / sizeof e2e_bounds[0])

struct hist {
	_Atomic uint64_t bucket[16];  /* non-cumulative; last = +Inf */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
};

static void
hist_add(struct hist *h, const double *bounds, size_t nb, uint64_t ns)
{
	size_t i = util_bucket(bounds, nb, (double)ns / 1e9);

	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* Prints a Prometheus histogram from non-cumulative buckets (nb bounds
 * and one +Inf bucket); sum in the unit of the bounds. */
static void
buckets_print(struct sbuf *b, const char *name, const char *help, const uint64_t *bucket,
    const double *bounds, size_t nb, double sum)
{
	uint64_t cum = 0;

	sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < nb; i++) {
		cum += bucket[i];
		sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
	}
	cum += bucket[nb];
	sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	sb_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

static void
hist_print(struct sbuf *b, const char *name, const char *help, struct hist *h,
    const double *bounds, size_t nb)
{
	uint64_t bucket[16];

	for (size_t i = 0; i <= nb; i++)
		bucket[i] = atomic_load(&h->bucket[i]);
	buckets_print(b, name, help, bucket, bounds, nb, (double)atomic_load(&h->sum_ns) / 1e9);
}

/* ---- the server ---- */

struct srv {
	struct config cfg;
	const char *datadir;
	const char *policy_path;
	char records_path[PATH_MAX];
	char registry_path[PATH_MAX];
	struct MHD_Daemon *mhd;
	struct server_tls *tls;          /* NULL: plain HTTP (server_tls.h) */
	struct policy_handle *pol;
	struct audit_log *log;
	char origin[KEY_NAME_MAX + 1];
	struct registry *reg;            /* main thread: polls, drains */
	struct registry *reg_auth;       /* workers: failed attempts */
	pthread_mutex_t auth_mu;
	struct registry_cache *cache;
	struct process_db *proc;         /* legal process (own mutex) */
	struct notice_db *notices;       /* notices to subjects (own mutex) */
	struct server_limits *limits;    /* the policy's `limit` statements */
	struct server_log *reqlog;       /* one line per request, batched (server_log.h) */
	struct report_cache *report;     /* GET /transparency* (report.h) */
	pthread_mutex_t stores_mu;
	struct store *stores[SERVER_MAX_STORES];
	int nstores;
	_Atomic int inflight;
	_Atomic uint64_t requests[2][OUT_COUNT];   /* [json, nlets] */
	_Atomic uint64_t http_other;     /* checkpoint, healthz, metrics, 404 */
	_Atomic uint64_t records_sent;
	_Atomic uint64_t auth_failures;
	_Atomic uint64_t policy_reloads, policy_reload_failures;
	_Atomic uint64_t notices_created, notice_failures;
	_Atomic uint64_t limits_hit, suspensions;
	struct hist decide_hist, e2e_hist, audit_wait_hist;
	_Atomic int64_t drivers, vehicles;
	_Atomic uint64_t records_gen;    /* bumped when records.db is replaced */
	ino_t records_ino;               /* main thread only */
	dev_t records_dev;
	time_t records_mtime;
};

static _Thread_local struct store *tls_store;
static _Thread_local uint64_t tls_store_gen;
static _Thread_local int tls_store_failed;

/*
 * The calling worker's store, opened on first use and reopened when the
 * main thread saw records.db replaced (an import renames a new file over
 * it); NULL on error.  A worker only ever closes its own store, between
 * requests.
 */
static struct store *
worker_store(struct srv *s)
{
	uint64_t gen = atomic_load(&s->records_gen);
	struct store *st;

	if (tls_store != NULL && tls_store_gen == gen)
		return tls_store;
	if (tls_store_failed && tls_store_gen == gen)
		return NULL;
	if (tls_store != NULL) {
		pthread_mutex_lock(&s->stores_mu);
		for (int i = 0; i < s->nstores; i++)
			if (s->stores[i] == tls_store)
				s->stores[i] = s->stores[--s->nstores];
		pthread_mutex_unlock(&s->stores_mu);
		store_close(tls_store);
		tls_store = NULL;
	}
	tls_store_gen = gen;
	tls_store_failed = 0;
	st = store_open(s->records_path, 1);
	if (st == NULL) {
		tls_store_failed = 1;
		return NULL;
	}
	pthread_mutex_lock(&s->stores_mu);
	if (s->nstores < SERVER_MAX_STORES)
		s->stores[s->nstores++] = st;
	else {
		pthread_mutex_unlock(&s->stores_mu);
		store_close(st);
		tls_store_failed = 1;
		return NULL;
	}
	pthread_mutex_unlock(&s->stores_mu);
	tls_store = st;
	return st;
}

/* Notices a replaced records.db (new inode or mtime); main thread. */
static void
poll_records(struct srv *s)
{
	struct stat sb;
	struct store *st;

	if (stat(s->records_path, &sb) < 0)
		return;
	if (sb.st_ino == s->records_ino && sb.st_dev == s->records_dev &&
	    sb.st_mtime == s->records_mtime)
		return;
	if (s->records_ino != 0) {
		util_errx("serve: %s was replaced; workers reopen it", s->records_path);
		atomic_fetch_add(&s->records_gen, 1);
	}
	s->records_ino = sb.st_ino;
	s->records_dev = sb.st_dev;
	s->records_mtime = sb.st_mtime;
	if ((st = store_open(s->records_path, 1)) != NULL) {
		s->drivers = store_count(st, STORE_DRIVER);
		s->vehicles = store_count(st, STORE_VEHICLE);
		store_close(st);
	}
}

enum route { R_QUERY, R_NLETS, R_CHECKPOINT, R_HEALTH, R_METRICS, R_REPORT, R_NOT_FOUND, R_BAD_METHOD };

struct req {
	struct srv *s;
	struct MHD_Connection *conn;
	enum route route;
	const char *method, *path;   /* static strings, for the log */
	uint64_t t0;
	char *body;
	size_t len, cap;
	int too_large;
	int waiting;                 /* suspended until on_durable */
	_Atomic int audit_status;    /* 0 durable, -1 failed, 1 pending */
	uint64_t commit_ns;          /* when the entry was handed to the log */
	unsigned status;
	char *resp;                  /* malloc'd body */
	size_t resplen;
	const char *ctype;
	int64_t audit_index;         /* -1: none */
	enum outcome outcome;
	int www_auth;
	int nlets;                   /* POST /v1/nlets: text answers */
	char client[INET6_ADDRSTRLEN + 8];
};

static void
log_line(struct req *r)
{
	char line[256];
	uint64_t us = (util_mono_ns() - r->t0) / 1000;

	char num[24];
	size_t n = 0;

	/* "dmvgate: METHOD PATH STATUS audit=INDEX|- USus" (no snprintf: every request) */
#define PUT(str, len) do { size_t l_ = (len); if (n + l_ < sizeof line) { \
		memcpy(line + n, (str), l_); n += l_; } } while (0)
	PUT("dmvgate: ", 9);
	PUT(r->method, strlen(r->method));
	PUT(" ", 1);
	PUT(r->path, strlen(r->path));
	PUT(" ", 1);
	PUT(num, util_u64_dec(num, r->status));
	PUT(" audit=", 7);
	if (r->audit_index >= 0)
		PUT(num, util_u64_dec(num, (uint64_t)r->audit_index));
	else
		PUT("-", 1);
	PUT(" ", 1);
	PUT(num, util_u64_dec(num, us));
	PUT("us\n", 3);
#undef PUT
	server_log_line(r->s->reqlog, line, n);
}

static void
set_response(struct req *r, unsigned status, struct sbuf *b, const char *ctype)
{
	free(r->resp);
	r->status = status;
	r->resp = b->p;
	r->resplen = b->len;
	r->ctype = ctype;
	b->p = NULL;
	b->len = b->cap = 0;
}

/* A fixed error body with no audit index (401, 404, 405, 503). */
static void
error_response(struct req *r, unsigned status, const char *code, const char *msg)
{
	struct sbuf b = { 0 };

	if (r->nlets) {
		/* in kind: "REJECT - UNAUTHORIZED" (no audit index to add) */
		sb_puts(&b, "REJECT - ");
		for (const char *c = code; *c != '\0'; c++) {
			char ch = *c == '_' ? ' ' : (*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c;
			sb_put(&b, &ch, 1);
		}
		sb_puts(&b, "\n");
		(void)msg;
	} else {
		sb_puts(&b, "{\"error\":{\"code\":");
		sb_jstrz(&b, code);
		sb_puts(&b, ",\"message\":");
		sb_jstrz(&b, msg);
		sb_puts(&b, "}}\n");
	}
	if (b.err) {
		free(b.p);
		b.p = NULL;
		b.len = 0;
	}
	set_response(r, status, &b, r->nlets ? "text/plain; charset=us-ascii" : "application/json");
}

static void
on_durable(void *arg, uint64_t index, int status)
{
	struct req *r = arg;

	(void)index;
	hist_add(&r->s->audit_wait_hist, e2e_bounds, NB_E2E, util_mono_ns() - r->commit_ns);
	atomic_store(&r->audit_status, status == 0 ? 0 : -1);
	MHD_resume_connection(r->conn);
}

static void
noop_done(void *arg, uint64_t index, int status)
{
	(void)arg;
	(void)index;
	(void)status;
}

/* Reserves the next audit index; on failure sets a 503 and returns -1. */
static int
reply_reserve(struct req *r, uint64_t *index)
{
	if (audit_reserve(r->s->log, index) == 0)
		return 0;
	error_response(r, 503, "audit_unavailable",
	    "the audit log cannot record this request; nothing was disclosed");
	r->outcome = OUT_UNAVAILABLE;
	return -1;
}

/*
 * Sets body (its buffer is taken) as the reply, suspends the connection
 * and commits e at index (or its encoding enc, n bytes, and leaf hash when
 * enc is not NULL: audited_reply has them already); the reply leaves once
 * on_durable resumes it, or becomes a 503 when the log fails.
 */
static void
reply_commit(struct req *r, struct audit_entry *e, unsigned status, uint64_t index,
    struct sbuf *body, const char *ctype, const uint8_t *enc, size_t n, const uint8_t *leaf)
{
	int rc;

	set_response(r, status, body, ctype);
	r->audit_index = (int64_t)index;
	atomic_store(&r->audit_status, 1);
	r->waiting = 1;
	MHD_suspend_connection(r->conn);
	r->commit_ns = util_mono_ns();
	if (enc != NULL)
		rc = audit_commit_encoded(r->s->log, index, enc, n, leaf, on_durable, r);
	else
		rc = audit_commit(r->s->log, index, e, on_durable, r);
	if (rc < 0) {
		util_warn("serve: audit commit of entry %llu", (unsigned long long)index);
		atomic_store(&r->audit_status, -1);
		MHD_resume_connection(r->conn);
	}
}

/*
 * Appends e and builds the reply around it: head + "audit":{...} + tail.
 * On success the connection is suspended and the reply goes out from
 * on_durable's resume; on failure a 503 without disclosure is set.
 */
static void
audited_reply(struct req *r, struct audit_entry *e, unsigned status,
    const char *head, size_t headlen, const char *tail, size_t taillen)
{
	struct srv *s = r->s;
	uint8_t enc[AUDIT_ENTRY_MAX], leaf[AUDIT_HASH_SIZE];
	char leafhex[AUDIT_HASH_SIZE * 2 + 1], idx[64];
	struct sha256_ctx h;
	struct sbuf b = { 0 };
	uint64_t index;
	const char *why = NULL;
	long n;

	if (reply_reserve(r, &index) < 0)
		return;
	memcpy(idx, "\"audit\":{\"index\":", 17);
	util_u64_dec(idx + 17, index);
	e->status = (int)status;
	e->time_us = util_now_us();
	e->origin = s->origin;
	/* the hash covers the body without the leaf_hash member */
	sha256_init(&h);
	sha256_update(&h, headlen, (const uint8_t *)head);
	sha256_update(&h, strlen(idx), (const uint8_t *)idx);
	sha256_update(&h, 1, (const uint8_t *)"}");
	sha256_update(&h, taillen, (const uint8_t *)tail);
	sha256_digest(&h, AUDIT_HASH_SIZE, e->response_sha256);
	e->has_response = 1;
	n = audit_entry_encode(e, index, s->origin, enc, sizeof enc, &why);
	if (n < 0) {
		util_errx("serve: audit entry not encodable: %s", why ? why : "?");
		audit_cancel(s->log, index);
		error_response(r, 503, "audit_unavailable", "the audit log cannot record this request; nothing was disclosed");
		r->outcome = OUT_UNAVAILABLE;
		return;
	}
	audit_leaf_hash(enc, (size_t)n, leaf);
	util_hex(leaf, sizeof leaf, leafhex);
	sb_put(&b, head, headlen);
	sb_puts(&b, idx);
	sb_puts(&b, ",\"leaf_hash\":\"");
	sb_puts(&b, leafhex);
	sb_puts(&b, "\"}");
	sb_put(&b, tail, taillen);
	if (b.err) {
		free(b.p);
		audit_cancel(s->log, index);
		error_response(r, 503, "unavailable", "out of memory");
		r->outcome = OUT_UNAVAILABLE;
		return;
	}
	reply_commit(r, e, status, index, &b, "application/json", enc, (size_t)n, leaf);
}

/*
 * A text (Nlets) body that already names its index: hashed whole.  Takes
 * body's buffer.  Same durability rule as audited_reply.
 */
static void
audited_text_reply(struct req *r, struct audit_entry *e, unsigned status, uint64_t index,
    struct sbuf *body)
{
	struct sha256_ctx h;

	e->status = (int)status;
	e->time_us = util_now_us();
	e->origin = r->s->origin;
	sha256_init(&h);
	sha256_update(&h, body->len, (const uint8_t *)body->p);
	sha256_digest(&h, AUDIT_HASH_SIZE, e->response_sha256);
	e->has_response = 1;
	reply_commit(r, e, status, index, body, "text/plain; charset=us-ascii", NULL, 0, NULL);
}

/* ---- /v1/query ---- */

struct rows {
	struct sbuf *b;
	field_mask released;
	int nrows;
	const char *subjects[AUDIT_MAX_SUBJECTS];
	int nsubjects;
	struct store *st;
	int photo;
	uint64_t person[AUDIT_MAX_SUBJECTS];  /* for the address limits */
	uint64_t addr[AUDIT_MAX_SUBJECTS];   /* 0 unless want_addr */
	int npeople;
	int want_addr;               /* the policy limits people at one address */
	struct nlets_writer *w;      /* Nlets channel: records go here */
	enum store_type type;
	/* last, and not zeroed (8 KiB): subjects[i] points into it */
	char subj_buf[AUDIT_MAX_SUBJECTS][AUDIT_KEY_MAX];
};

static void
add_subject(struct rows *x, const char *prefix, const char *v, size_t n, const char *v2, size_t n2)
{
	char *out;
	size_t k;

	if (x->nsubjects >= AUDIT_MAX_SUBJECTS || v == NULL)
		return;
	out = x->subj_buf[x->nsubjects];
	/* prefix:v or prefix:v2:v (what snprintf did, without its cost) */
	k = strlen(prefix);
	if (k + 1 + (v2 != NULL ? n2 + 1 : 0) + n >= AUDIT_KEY_MAX)
		return;
	memcpy(out, prefix, k);
	out[k++] = ':';
	if (v2 != NULL) {
		memcpy(out + k, v2, n2);
		k += n2;
		out[k++] = ':';
	}
	memcpy(out + k, v, n);
	out[k + n] = '\0';
	for (int i = 0; i < x->nsubjects; i++)
		if (strcmp(x->subjects[i], out) == 0)
			return;
	x->subjects[x->nsubjects] = out;
	x->nsubjects++;
}

static int
history_cb(void *arg, const struct store_event *ev)
{
	struct rows *x = arg;
	struct sbuf *b = x->b;

	if (b->p[b->len - 1] != '[')
		sb_put(b, ",", 1);
	sb_puts(b, "{\"date\":");
	sb_jstrz(b, ev->date ? ev->date : "");
	sb_puts(b, ",\"kind\":");
	sb_jstrz(b, ev->kind ? ev->kind : "");
	sb_puts(b, ",\"code\":");
	sb_jstrz(b, ev->code ? ev->code : "");
	sb_puts(b, ",\"description\":");
	sb_jstrz(b, ev->description ? ev->description : "");
	sb_put(b, "}", 1);
	return b->err;
}

static int
all_digits(const char *v, size_t n)
{
	if (n == 0 || n > 9)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

static void
add_photo(struct rows *x, const struct store_row *row)
{
	size_t n;
	const char *id = store_row_get(row, FIELD_PHOTO_ID, &n);
	char pid[128], *data = NULL, *enc = NULL;
	const char *path;
	size_t len;

	if (id == NULL || n >= sizeof pid)
		return;
	memcpy(pid, id, n);
	pid[n] = '\0';
	path = store_photo_path(x->st, pid);
	if (path == NULL || util_read_file(path, SERVER_PHOTO_MAX, &data, &len) < 0)
		return;
	enc = malloc((len + 2) / 3 * 4 + 1);
	if (enc != NULL) {
		key_b64_encode((const uint8_t *)data, len, enc);
		sb_puts(x->b, ",\"photo\":{\"encoding\":\"base64\",\"data\":\"");
		sb_puts(x->b, enc);
		sb_puts(x->b, "\"}");
	}
	free(enc);
	free(data);
}

/* `"name":` of every field, made once by server_run before any worker
 * starts: field names are plain identifiers, so the JSON keys need no
 * escaping per row. */
static char field_key[FIELD_COUNT][48];
static size_t field_key_len[FIELD_COUNT];

static void
make_field_keys(void)
{
	for (int f = 0; f < FIELD_COUNT; f++) {
		int n = snprintf(field_key[f], sizeof field_key[f], "\"%s\":", field_info[f].name);
		field_key_len[f] = n > 0 && (size_t)n < sizeof field_key[f] ? (size_t)n : 0;
	}
}

static int
row_cb(void *arg, const struct store_row *row)
{
	struct rows *x = arg;
	struct sbuf *b = x->b;
	int first = 1;
	size_t n, n2;
	const char *v, *v2;

	/* subjects returned, for the audit entry (released or not) */
	if ((v = store_row_get(row, FIELD_LICENSE_NUMBER, &n)) != NULL ||
	    (v = store_row_get(row, FIELD_OWNER_LICENSE_NUMBER, &n)) != NULL) {
		if (x->npeople < AUDIT_MAX_SUBJECTS) {
			const char *ak = x->want_addr ? store_row_addr_key(row) : "";
			x->person[x->npeople] = server_limits_hash(v, n);
			x->addr[x->npeople] = ak[0] ? server_limits_hash(ak, strlen(ak)) : 0;
			x->npeople++;
		}
	}
	if ((v = store_row_get(row, FIELD_LICENSE_NUMBER, &n)) != NULL)
		add_subject(x, "license", v, n, NULL, 0);
	if ((v = store_row_get(row, FIELD_PLATE, &n)) != NULL &&
	    (v2 = store_row_get(row, FIELD_PLATE_STATE, &n2)) != NULL)
		add_subject(x, "plate", v, n, v2, n2);
	if ((v = store_row_get(row, FIELD_VIN, &n)) != NULL)
		add_subject(x, "vin", v, n, NULL, 0);
	if ((v = store_row_get(row, FIELD_OWNER_LICENSE_NUMBER, &n)) != NULL)
		add_subject(x, "license", v, n, NULL, 0);

	if (x->w != NULL) {          /* Nlets: the codec writes released fields only */
		if ((x->type == STORE_DRIVER ? nlets_encode_driver(x->w, row, x->released) :
		    nlets_encode_vehicle(x->w, row, x->released)) < 0)
			return 1;
		x->nrows++;
		return 0;
	}
	sb_puts(b, x->nrows ? ",{" : "{");
	for (int f = 0; f < FIELD_COUNT; f++) {
		if (!(x->released & FIELD_BIT(f)) || field_info[f].record == FIELD_REC_PSEUDO ||
		    field_info[f].sensitive)
			continue;
		v = store_row_get(row, (enum field)f, &n);
		if (v == NULL)
			continue;
		if (!first)
			sb_put(b, ",", 1);
		first = 0;
		sb_put(b, field_key[f], field_key_len[f]);
		if (field_info[f].integer && all_digits(v, n))
			sb_put(b, v, n);
		else
			sb_jstr(b, v, n);
	}
	if (x->released & FIELD_BIT(FIELD_HISTORY)) {
		sb_puts(b, first ? "\"history\":[" : ",\"history\":[");
		first = 0;
		if (store_row_history(row, history_cb, x) < 0)
			b->err = 1;
		sb_put(b, "]", 1);
	}
	if (x->photo && (x->released & FIELD_BIT(FIELD_PHOTO)))
		add_photo(x, row);
	sb_put(b, "}", 1);
	x->nrows++;
	return b->err;
}

static void
rules_json(struct sbuf *b, const struct policy *pol, const struct policy_decision *d)
{
	sb_puts(b, "\"rules\":[");
	for (int i = 0; i < d->nrules; i++) {
		const char *id = policy_rule_id(pol, d->rules[i]);
		const char *cite = policy_rule_cite(pol, d->rules[i]);
		if (i)
			sb_put(b, ",", 1);
		sb_puts(b, "{\"id\":");
		sb_jstrz(b, id ? id : "");
		sb_puts(b, ",\"cite\":");
		sb_jstrz(b, cite ? cite : "");
		sb_put(b, "}", 1);
	}
	sb_put(b, "]", 1);
}

static void
client_addr(struct req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	strcpy(r->client, "");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		/* dotted quad by hand: inet_ntop goes through sprintf */
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		size_t n = 0;
		for (int i = 0; i < 4; i++) {
			if (i)
				r->client[n++] = '.';
			n += util_u64_dec(r->client + n, a[i]);
		}
	} else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    r->client, sizeof r->client);
}

/* An entry about r by p (kind query): who, from where, and q's fields when q
 * is not NULL. */
static void
entry_for(struct audit_entry *e, struct req *r, const struct registry_principal *p,
    const struct query *q)
{
	memset(e, 0, sizeof *e);
	e->kind = AUDIT_QUERY;
	e->ori = p->ori;
	e->user = p->userid;
	e->category = p->category;
	e->channel = r->nlets ? "nlets" : "json";
	e->client_addr = r->client;
	if (q != NULL) {
		e->query_type = q->type_name;
		e->by = q->by_name;
		e->purpose = q->purpose;
		e->reason = q->reason;
		e->legal_process = q->legal_process;
	}
}

/* Authenticates the request; returns 0, or -1 after setting a 401. */
static int
authenticate(struct req *r, struct registry_principal *p)
{
	struct srv *s = r->s;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	enum registry_auth a = REGISTRY_AUTH_MALFORMED;
	struct audit_entry e;
	const char *msg;

	memset(p, 0, sizeof *p);
	if (h != NULL && strncmp(h, "Bearer ", 7) == 0) {
		const char *t = h + 7;
		size_t n = strnlen(t, REGISTRY_TOKEN_MAX);
		while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			n--;
		a = registry_cache_auth(s->cache, t, n, util_today(), p);
	}
	/* An agency bound to client certificates (agency bind-cert) needs
	 * one of them on this connection, whatever the token. */
	if ((a == REGISTRY_AUTH_OK || a == REGISTRY_AUTH_EXPIRED) &&
	    !registry_cache_cert_ok(s->cache, p->ori, NULL)) {
		uint8_t fp[32];
		int have = server_tls_peer_sha256(r->conn, fp) == 1;
		if (!registry_cache_cert_ok(s->cache, p->ori, have ? fp : NULL))
			a = REGISTRY_AUTH_CERTIFICATE;
	}
	/* An expired certification is authenticated but not certified: the
	 * policy denies it (naming its rule) and handle_query refuses any
	 * permit regardless, so it is audited with an index like any denial. */
	if (a == REGISTRY_AUTH_OK || a == REGISTRY_AUTH_EXPIRED)
		return 0;
	atomic_fetch_add(&s->auth_failures, 1);
	if (a == REGISTRY_AUTH_BAD_SECRET && !p->locked) {
		/* (once locked, more failures change nothing: no disk write,
		 * so guessing cannot be turned into an fsync storm) */
		int locked = 0;
		pthread_mutex_lock(&s->auth_mu);
		if (registry_auth_failure(s->reg_auth, p->pubid, util_now_us(), &locked) == 0 && locked)
			registry_cache_lock(s->cache, p->pubid);
		pthread_mutex_unlock(&s->auth_mu);
	}
	entry_for(&e, r, p, NULL);
	e.kind = AUDIT_AUTH_FAILURE;
	e.time_us = util_now_us();
	e.origin = s->origin;
	e.decision = AUDIT_DENY;
	e.status = 401;
	e.detail = registry_auth_name(a);
	if (audit_append(s->log, &e, noop_done, NULL, NULL) < 0)
		util_warn("serve: audit of an authentication failure");
	switch (a) {
	case REGISTRY_AUTH_REVOKED: msg = "this token has been revoked"; break;
	case REGISTRY_AUTH_LOCKED: msg = "this user is locked after repeated failed authentications; ask the DMV to unlock it"; break;
	case REGISTRY_AUTH_SUSPENDED: msg = "this agency's access is suspended"; break;
	case REGISTRY_AUTH_CERTIFICATE: msg = "this agency's tokens are accepted only over TLS with its registered client certificate"; break;
	case REGISTRY_AUTH_OK:
	case REGISTRY_AUTH_EXPIRED:
	case REGISTRY_AUTH_MALFORMED:
	case REGISTRY_AUTH_UNKNOWN:
	case REGISTRY_AUTH_BAD_SECRET:
	default: msg = "a valid Authorization: Bearer token is required"; a = REGISTRY_AUTH_UNKNOWN; break;
	}
	error_response(r, 401, a == REGISTRY_AUTH_UNKNOWN ? "unauthorized" : registry_auth_name(a), msg);
	r->www_auth = 1;
	r->outcome = OUT_UNAUTHORIZED;
	return -1;
}

/* 400 / 413 for an authenticated user: audited, with the index. */
static void
audited_error(struct req *r, const struct registry_principal *p, unsigned status,
    const char *code, const char *msg, enum outcome oc)
{
	struct audit_entry e;
	struct sbuf b = { 0 };
	char detail[200];

	entry_for(&e, r, p, NULL);
	e.decision = AUDIT_DENY;
	snprintf(detail, sizeof detail, "%s: %s", code, msg);
	e.detail = detail;
	sb_puts(&b, "{\"error\":{\"code\":");
	sb_jstrz(&b, code);
	sb_puts(&b, ",\"message\":");
	sb_jstrz(&b, msg);
	sb_puts(&b, "},");
	r->outcome = oc;
	if (b.err) {
		free(b.p);
		error_response(r, 503, "unavailable", "out of memory");
		r->outcome = OUT_UNAVAILABLE;
		return;
	}
	audited_reply(r, &e, status, b.p, b.len, "}\n", 2);
	free(b.p);
}

static int
policy_names(const struct policy *pol, const struct query *q,
    const struct registry_principal *p, struct policy_request *pr, char *why, size_t whysz)
{
	memset(pr, 0, sizeof *pr);
	pr->category = policy_category_id(pol, p->category);
	if (pr->category < 0) {
		snprintf(why, whysz, "agency category \"%s\" is not declared by the policy", p->category);
		return -1;
	}
	pr->purpose = policy_purpose_id(pol, q->purpose);
	if (pr->purpose < 0) {
		snprintf(why, whysz, "purpose \"%s\" is not declared by the policy", q->purpose);
		return -1;
	}
	pr->type = policy_type_id(q->type_name);
	pr->by = policy_by_id(q->by_name);
	if (pr->type < 0 || pr->by < 0) {
		snprintf(why, whysz, "query type or \"by\" unknown to the policy engine");
		return -1;
	}
	memcpy(pr->ori, p->ori, sizeof pr->ori);
	pr->certified = p->certified_until >= util_today();
	pr->extras = q->photo ? POLICY_EXTRA_PHOTO : 0;
	pr->process_kind = -1;          /* none cited, or not registered */
	return 0;
}

/*
 * The people a query is about, read for internal use only (legal-process
 * scope, notices' mailing addresses), never copied into a response.
 */
#define SERVER_MAX_NOTICE_SUBJECTS 16
struct person {
	char lic[PROCESS_LICENSE_MAX + 1];
	char name[256];               /* 64+1+64+1+64+1+8 fits */
	char street[129], city[65], state[3], zip[11];
};
struct people {
	int n;
	int done;
	struct person p[SERVER_MAX_NOTICE_SUBJECTS];   /* not zeroed: p[0..n) are set */
};

/* Copies src into dst, truncating (notice texts are informative only). */
static void
scopy(char *dst, size_t dstsz, const char *src)
{
	if (util_strlcpy(dst, src, dstsz) < 0) {
		/* truncated */
	}
}

static void
copy_field(const struct store_row *row, enum field f, char *dst, size_t dstsz)
{
	size_t n;
	const char *v = store_row_get(row, f, &n);

	if (v == NULL || n >= dstsz)
		n = 0;
	if (n)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

static int
people_cb(void *arg, const struct store_row *row)
{
	struct people *pp = arg;
	struct person *p;

	if (pp->n >= SERVER_MAX_NOTICE_SUBJECTS)
		return 1;
	p = &pp->p[pp->n];
	memset(p, 0, sizeof *p);
	if (store_row_get(row, FIELD_LAST_NAME, &(size_t){ 0 }) != NULL) {
		char first[65], middle[65], last[65], suffix[9];
		copy_field(row, FIELD_LICENSE_NUMBER, p->lic, sizeof p->lic);
		copy_field(row, FIELD_FIRST_NAME, first, sizeof first);
		copy_field(row, FIELD_MIDDLE_NAME, middle, sizeof middle);
		copy_field(row, FIELD_LAST_NAME, last, sizeof last);
		copy_field(row, FIELD_SUFFIX, suffix, sizeof suffix);
		scopy(p->name, sizeof p->name, first);
		if (middle[0] != '\0') {
			strcat(p->name, " ");
			strcat(p->name, middle);
		}
		strcat(p->name, " ");
		strcat(p->name, last);
		if (suffix[0] != '\0') {
			strcat(p->name, " ");
			strcat(p->name, suffix);
		}
		copy_field(row, FIELD_STREET, p->street, sizeof p->street);
		copy_field(row, FIELD_CITY, p->city, sizeof p->city);
		copy_field(row, FIELD_STATE, p->state, sizeof p->state);
		copy_field(row, FIELD_ZIP, p->zip, sizeof p->zip);
	} else {
		copy_field(row, FIELD_OWNER_LICENSE_NUMBER, p->lic, sizeof p->lic);
		copy_field(row, FIELD_OWNER_NAME, p->name, sizeof p->name);
		copy_field(row, FIELD_OWNER_STREET, p->street, sizeof p->street);
		copy_field(row, FIELD_OWNER_CITY, p->city, sizeof p->city);
		copy_field(row, FIELD_OWNER_STATE, p->state, sizeof p->state);
		copy_field(row, FIELD_OWNER_ZIP, p->zip, sizeof p->zip);
	}
	if (p->lic[0] != '\0')
		pp->n++;
	return 0;
}

/* Finds the people behind q (once); 0 or -1 on a store error. */
static int
find_people(struct srv *s, const struct query *q, struct people *pp)
{
	struct store *st;
	struct store_query sq;
	const field_mask want = FIELD_BIT(FIELD_LICENSE_NUMBER) | FIELD_BIT(FIELD_FIRST_NAME) |
	    FIELD_BIT(FIELD_MIDDLE_NAME) | FIELD_BIT(FIELD_LAST_NAME) | FIELD_BIT(FIELD_SUFFIX) |
	    FIELD_BIT(FIELD_STREET) | FIELD_BIT(FIELD_CITY) | FIELD_BIT(FIELD_STATE) |
	    FIELD_BIT(FIELD_ZIP) | FIELD_BIT(FIELD_OWNER_LICENSE_NUMBER) |
	    FIELD_BIT(FIELD_OWNER_NAME) | FIELD_BIT(FIELD_OWNER_STREET) |
	    FIELD_BIT(FIELD_OWNER_CITY) | FIELD_BIT(FIELD_OWNER_STATE) | FIELD_BIT(FIELD_OWNER_ZIP);

	if (pp->done)
		return 0;
	pp->done = 1;
	pp->n = 0;
	/* bulk kinds are never resolved: they are refused before any lookup */
	if (q->by == STORE_BY_ADDRESS || q->by == STORE_BY_LICENSE_KIND)
		return 0;
	if ((st = worker_store(s)) == NULL)
		return -1;
	query_to_store(q, &sq);
	if (store_find(st, &sq, want, SERVER_MAX_NOTICE_SUBJECTS, people_cb, pp) < 0)
		return -1;
	return 0;
}

/* Creates the notices a decision calls for (one per person found). */
static void
create_notices(struct req *r, const struct registry_principal *p, const struct query *q,
    const struct policy_decision *d, const struct process_facts *pf, struct people *pp,
    int64_t request_us)
{
	struct srv *s = r->s;
	struct notice n;
	struct process_info *pi = NULL;

	if (d->notify_days <= 0 || s->notices == NULL)
		return;
	if (find_people(s, q, pp) < 0) {
		atomic_fetch_add(&s->notice_failures, 1);
		util_errx("serve: notice: cannot read the subjects' addresses");
		return;
	}
	if (pf->exists && (pi = util_calloc(1, sizeof *pi)) != NULL &&
	    process_get(s->proc, pf->id, pi) != 0) {
		free(pi);
		pi = NULL;
	}
	for (int i = 0; i < pp->n; i++) {
		memset(&n, 0, sizeof n);
		n.request_us = request_us;
		scopy(n.subject, sizeof n.subject, pp->p[i].lic);
		scopy(n.agency_ori, sizeof n.agency_ori, p->ori);
		scopy(n.agency_name, sizeof n.agency_name, p->name);
		scopy(n.agency_category, sizeof n.agency_category, p->category);
		scopy(n.purpose, sizeof n.purpose, q->purpose);
		scopy(n.outcome, sizeof n.outcome, d->permit ? "permit" : "deny");
		n.items = d->permit ? d->released : 0;
		scopy(n.legal_process, sizeof n.legal_process, q->legal_process);
		if (pi != NULL) {
			scopy(n.process_kind, sizeof n.process_kind, pf->kind);
			scopy(n.process_court, sizeof n.process_court, pi->court);
			scopy(n.process_case, sizeof n.process_case, pi->case_number);
		}
		n.notify_days = d->notify_days;
		n.notify_unit = d->notify_unit == POLICY_NOTIFY_BUSINESS_DAYS ?
		    NOTICE_BUSINESS_DAYS : NOTICE_DAYS;
		scopy(n.name, sizeof n.name, pp->p[i].name);
		scopy(n.street, sizeof n.street, pp->p[i].street);
		scopy(n.city, sizeof n.city, pp->p[i].city);
		scopy(n.state, sizeof n.state, pp->p[i].state);
		scopy(n.zip, sizeof n.zip, pp->p[i].zip);
		n.audit_index = r->audit_index;
		if (notice_create(s->notices, &n, NULL) == 0)
			atomic_fetch_add(&s->notices_created, 1);
		else
			atomic_fetch_add(&s->notice_failures, 1);
	}
	free(pi);
}

static void limit_effects(struct req *r, const struct registry_principal *p,
    const struct server_limit_hit *hit);

/*
 * A limit stopped the request: 429, audited with the limit named; with
 * `then suspend` the user is also locked until an administrator unlocks it
 * (an alert entry records that).
 */
static void
limit_reply(struct req *r, struct audit_entry *e, const struct registry_principal *p,
    const struct server_limit_hit *hit)
{
	struct sbuf head = { 0 };

	(void)p;                     /* limit_effects already ran */
	e->decision = AUDIT_DENY;
	e->items = 0;
	e->detail = hit->text;
	e->nrules = 0;
	if (hit->id[0] != '\0') {   /* the limit is the deciding rule */
		e->rules[0] = hit->id;
		e->nrules = 1;
	}
	sb_puts(&head, hit->full ? "{\"error\":{\"code\":\"limit_state_full\",\"message\":" :
	    "{\"error\":{\"code\":\"limit_exceeded\",\"message\":");
	sb_jstrz(&head, hit->text);
	sb_puts(&head, "},\"rules\":[");
	if (hit->id[0] != '\0') {
		sb_puts(&head, "{\"id\":");
		sb_jstrz(&head, hit->id);
		sb_puts(&head, ",\"cite\":");
		sb_jstrz(&head, hit->cite);
		sb_puts(&head, "}");
	}
	sb_puts(&head, "],");
	r->outcome = OUT_LIMITED;
	if (head.err)
		error_response(r, 503, "unavailable", "out of memory");
	else
		audited_reply(r, e, 429, head.p, head.len, "}\n", 2);
	free(head.p);
}

/* What a limit hit does besides the reply: count, and suspend the user. */
static void
limit_effects(struct req *r, const struct registry_principal *p,
    const struct server_limit_hit *hit)
{
	struct srv *s = r->s;
	int suspended = 0;

	atomic_fetch_add(&s->limits_hit, 1);
	if (hit->suspend) {
		int rc;

		pthread_mutex_lock(&s->auth_mu);
		rc = registry_user_lock(s->reg_auth, p->pubid, hit->text);
		pthread_mutex_unlock(&s->auth_mu);
		if (rc == 0) {
			registry_cache_lock(s->cache, p->pubid);
			atomic_fetch_add(&s->suspensions, 1);
			suspended = 1;
		}
	}
	/* an alert (audit entry + log line; the limiter counts it for
	 * /metrics) once per limit and key per window, and on a suspension */
	if (hit->alert || suspended) {
		struct audit_entry a;
		char detail[400], idx[24] = "-";
		uint64_t index = 0;

		entry_for(&a, r, p, NULL);
		a.kind = AUDIT_ALERT;
		a.time_us = util_now_us();
		a.origin = s->origin;
		a.query_type = "limit";
		a.decision = AUDIT_DENY;
		a.status = 429;
		if (hit->id[0] != '\0') {
			a.rules[0] = hit->id;
			a.nrules = 1;
		}
		snprintf(detail, sizeof detail, "%s%s; %u counted of %u; user %s, agency %s; action: %s",
		    suspended ? "user suspended: " : "", hit->text, hit->have, hit->count, p->userid,
		    p->ori, suspended ? "refused, user suspended" : "refused");
		a.detail = detail;
		if (audit_append(s->log, &a, noop_done, NULL, &index) < 0)
			util_warn("serve: audit of a limit alert");
		else
			snprintf(idx, sizeof idx, "%llu", (unsigned long long)index);
		/* no personal data: the limit, the requester, the counts */
		util_errx("serve: alert: %s; user %s, agency %s, %u counted of %u; %s audit=%s",
		    hit->text, p->userid, p->ori, hit->have, hit->count,
		    suspended ? "user suspended" : "refused", idx);
	}
}

/* The channel-independent part of one query. */
struct qrun {
	struct registry_principal p;
	struct query q;
	struct policy_request pr;
	struct policy_decision d;
	struct process_facts pf;
	struct server_limit_hit hit;
	struct audit_entry e;
	const struct policy *pol;        /* held until qrun_end */
	char subject[AUDIT_KEY_MAX];
	char why[256];
	char records[24];                /* a permit's detail: "records N" */
	int64_t request_us;
	struct rows *x;                  /* subjects found, for the entry */
	struct people pp;                /* last: only pp.n and pp.done are zeroed */
};

/*
 * Decides c->q for the authenticated c->p: the audit entry's query fields,
 * the cited legal process's scope, the policy's decision, the refusal
 * without certification, the limits counted before a lookup, and the
 * legal process's use.  Returns 0 (c->d.permit says whether to look up;
 * c->why says why not when it is set), or 1 when a limit stopped the
 * request (c->hit; limit_effects already ran).  Needs c->x allocated.
 */
static int
qrun_decide(struct req *r, struct qrun *c)
{
	struct srv *s = r->s;
	uint64_t t;

	entry_for(&c->e, r, &c->p, &c->q);
	query_subject(&c->q, c->subject, sizeof c->subject);
	c->x->subjects[0] = c->subject;
	c->x->nsubjects = 1;
	c->pol = policy_handle_acquire(s->pol);
	c->why[0] = '\0';
	c->request_us = util_now_us();
	if (policy_names(c->pol, &c->q, &c->p, &c->pr, c->why, sizeof c->why) == 0 &&
	    c->q.legal_process[0] != '\0') {
		/* the process's scope is checked against the people the query
		 * finds (by license: the license asked for) */
		const char *subs[SERVER_MAX_NOTICE_SUBJECTS];
		int ns = 0;
		if (c->q.by == STORE_BY_LICENSE && c->q.type == STORE_DRIVER)
			subs[ns++] = c->q.license_number;
		else if (find_people(s, &c->q, &c->pp) == 0)
			for (; ns < c->pp.n; ns++)
				subs[ns] = c->pp.p[ns].lic;
		if (process_check(s->proc, c->q.legal_process, c->p.ori, subs, ns, util_today(),
		    &c->pf) < 0)
			memset(&c->pf, 0, sizeof c->pf);     /* database error: no process */
		if (c->pf.exists && c->pf.kind[0] != '\0') {
			c->pr.process_kind = policy_process_kind_id(c->pol, c->pf.kind);
			c->pr.process_valid = c->pf.valid;
			c->pr.process_issued_to_agency = c->pf.issued_to_agency;
			c->pr.process_covers_subject = c->pf.covers_subject;
			c->pr.process_items = c->pf.items;
		}
	}
	if (c->why[0] == '\0') {
		t = util_mono_ns();
		if (policy_decide(c->pol, &c->pr, &c->d) < 0 || c->d.error) {
			c->d.permit = 0;
			snprintf(c->why, sizeof c->why, "policy evaluation error (fail closed)");
		}
		hist_add(&s->decide_hist, dec_bounds, NB_DEC, util_mono_ns() - t);
	} else {
		c->d.permit = 0;
		c->d.nrules = 0;
	}
	if (c->d.nrules > AUDIT_MAX_RULES)
		c->d.nrules = AUDIT_MAX_RULES;
	for (int i = 0; i < c->d.nrules; i++) {
		const char *id = policy_rule_id(c->pol, c->d.rules[i]);
		c->e.rules[i] = id ? id : "";
	}
	c->e.nrules = c->d.nrules;
	if (c->d.permit && !c->pr.certified) {
		c->d.permit = 0;         /* no certification, no access at all */
		snprintf(c->why, sizeof c->why, "the agency's certification has expired");
	}
	if (c->d.permit && server_limits_before(s->limits, c->pol, c->p.userid, c->p.ori,
	    c->subject, c->request_us, &c->hit)) {
		c->e.nsubjects = 1;
		c->e.subjects[0] = c->subject;
		limit_effects(r, &c->p, &c->hit);
		return 1;
	}
	if (c->d.permit && c->pf.exists && c->pf.valid &&
	    process_record_use(s->proc, c->pf.id, c->p.ori, c->p.userid, c->subject,
	    c->request_us, -1) != 0) {
		c->d.permit = 0;         /* used up or revoked meanwhile: disclose nothing */
		snprintf(c->why, sizeof c->why, "legal process %s has no use left",
		    c->q.legal_process);
	}
	if (!c->d.permit && c->why[0] == '\0') {
		if (c->d.nrules > 0) {
			size_t n = (size_t)snprintf(c->why, sizeof c->why, "forbidden by rule%s",
			    c->d.nrules > 1 ? "s" : "");
			for (int i = 0; i < c->d.nrules && n < sizeof c->why; i++)
				n += (size_t)snprintf(c->why + n, sizeof c->why - n, "%s \"%s\"",
				    i ? "," : "", c->e.rules[i]);
		} else
			snprintf(c->why, sizeof c->why, "no rule permits this request (default deny)");
	}
	if (c->d.permit) {
		c->d.released &= ~FIELD_MASK_SENSITIVE;
		if (!c->q.photo)
			c->d.released &= ~FIELD_BIT(FIELD_PHOTO);
	}
	return 0;
}

/*
 * Looks up the released fields of the records c->q matches, through
 * row_cb into c->x (JSON into c->x->b, or the Nlets writer c->x->w).
 * Returns the number found, or -1 on a store error.
 */
static int
qrun_lookup(struct req *r, struct qrun *c)
{
	struct srv *s = r->s;
	struct store *st = worker_store(s);
	struct store_query sq;
	field_mask want;
	unsigned max = c->q.by == STORE_BY_NAME_DOB ? s->cfg.name_candidates : s->cfg.max_records;

	want = c->d.released | FIELD_BIT(FIELD_LICENSE_NUMBER) | FIELD_BIT(FIELD_PLATE) |
	    FIELD_BIT(FIELD_PLATE_STATE) | FIELD_BIT(FIELD_VIN) |
	    FIELD_BIT(FIELD_OWNER_LICENSE_NUMBER);
	if (c->d.released & FIELD_BIT(FIELD_PHOTO))
		want |= FIELD_BIT(FIELD_PHOTO_ID);
	want &= ~FIELD_MASK_SENSITIVE;
	c->x->released = c->d.released;
	c->x->want_addr = server_limits_need_addresses(c->pol);
	c->x->st = st;
	c->x->photo = c->q.photo;
	c->x->type = c->q.type;
	query_to_store(&c->q, &sq);
	return st ? store_find(st, &sq, want, max, row_cb, c->x) : -1;
}

/* Copies the subjects asked for and found into the entry. */
static void
qrun_subjects(struct qrun *c)
{
	c->e.nsubjects = c->x->nsubjects;
	for (int i = 0; i < c->x->nsubjects; i++)
		c->e.subjects[i] = c->x->subjects[i];
}

/* After the reply is set: notices owed, and the policy reference. */
static void
qrun_end(struct req *r, struct qrun *c)
{
	if (r->audit_index >= 0 && c->pol != NULL)
		create_notices(r, &c->p, &c->q, &c->d, &c->pf, &c->pp, c->request_us);
	policy_release(c->pol);
	free(c->x);
	free(c);
}

/*
 * A zeroed qrun and rows, but for their large buffers (7.5 and 8 KiB),
 * which are written before they are read: zeroing them was a visible part
 * of a request's time.
 */
static struct qrun *
qrun_new(struct req *r)
{
	struct qrun *c = malloc(sizeof *c);

	if (c != NULL) {
		memset(c, 0, offsetof(struct qrun, pp.p));
		if ((c->x = malloc(sizeof *c->x)) == NULL) {
			free(c);
			c = NULL;
		} else
			memset(c->x, 0, offsetof(struct rows, subj_buf));
	}
	if (c == NULL) {
		error_response(r, 503, "unavailable", "out of memory");
		r->outcome = OUT_UNAVAILABLE;
	}
	return c;
}

static void
handle_query(struct req *r)
{
	struct srv *s = r->s;
	struct query_error qe;
	struct sbuf head = { 0 }, tail = { 0 };
	struct qrun *c;

	client_addr(r);
	if ((c = qrun_new(r)) == NULL)
		return;
	if (authenticate(r, &c->p) < 0)
		goto out;
	if (r->too_large) {
		char msg[96];
		snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", s->cfg.max_body);
		audited_error(r, &c->p, 413, "body_too_large", msg, OUT_TOO_LARGE);
		goto out;
	}
	if (query_parse(r->body ? r->body : "", r->len, &c->q, &qe) < 0) {
		audited_error(r, &c->p, 400, query_err_name(qe.code), qe.message, OUT_BAD_REQUEST);
		goto out;
	}
	if (qrun_decide(r, c) != 0) {
		limit_reply(r, &c->e, &c->p, &c->hit);
		goto out;
	}
	if (c->d.permit) {
		c->x->b = &tail;
		sb_puts(&tail, ",\"records\":[");
		if (qrun_lookup(r, c) < 0 || tail.err) {
			util_errx("serve: record lookup failed");
			audited_error(r, &c->p, 503, "store_unavailable",
			    "the record store could not answer; nothing was disclosed", OUT_UNAVAILABLE);
			goto out;
		}
		sb_puts(&tail, "]}\n");
		qrun_subjects(c);
		if (server_limits_after(s->limits, c->pol, c->p.userid, c->p.ori, c->x->nrows,
		    c->x->person, c->x->addr, c->x->npeople, c->request_us, &c->hit)) {
			limit_effects(r, &c->p, &c->hit);
			limit_reply(r, &c->e, &c->p, &c->hit);   /* found, not disclosed */
			goto out;
		}
		atomic_fetch_add(&s->records_sent, (uint64_t)c->x->nrows);
		memcpy(c->records, "records ", 8);
		util_u64_dec(c->records + 8, (uint64_t)c->x->nrows);
		c->e.detail = c->records;    /* for the limits' rebuild (misses) */
		c->e.decision = AUDIT_PERMIT;
		c->e.items = c->d.released;
		sb_puts(&head, "{\"decision\":\"permit\",");
		rules_json(&head, c->pol, &c->d);
		sb_put(&head, ",", 1);
		r->outcome = OUT_PERMIT;
	} else {
		c->e.decision = AUDIT_DENY;
		c->e.detail = c->why;
		sb_puts(&head, "{\"decision\":\"deny\",");
		rules_json(&head, c->pol, &c->d);
		sb_puts(&head, ",\"reason\":");
		sb_jstrz(&head, c->why);
		sb_put(&head, ",", 1);
		sb_puts(&tail, "}\n");
		r->outcome = OUT_DENY;
	}
	qrun_subjects(c);
	if (head.err || tail.err) {
		error_response(r, 503, "unavailable", "out of memory");
		r->outcome = OUT_UNAVAILABLE;
	} else
		audited_reply(r, &c->e, c->d.permit ? 200 : 403, head.p, head.len, tail.p, tail.len);
out:
	qrun_end(r, c);
	free(head.p);
	free(tail.p);
}

/* ---- /v1/nlets ---- */

/* An audited Nlets reject (parse error, ORI mismatch, too long). */
static void
nlets_reject_reply(struct req *r, struct qrun *c, const struct nlets_msg *m, enum nlets_err ne)
{
	struct sbuf b = { 0 };
	uint64_t index;
	unsigned status = ne == NLETS_ERR_ORI_MISMATCH ? 403 :
	    ne == NLETS_ERR_TOO_LONG && r->too_large ? 413 : 400;
	int n;

	entry_for(&c->e, r, &c->p, NULL);
	c->e.decision = AUDIT_DENY;
	c->e.detail = nlets_err_text(ne);
	r->outcome = status == 413 ? OUT_TOO_LARGE : status == 403 ? OUT_DENY : OUT_BAD_REQUEST;
	if (reply_reserve(r, &index) < 0)
		return;
	if ((b.p = malloc(NLETS_RESPONSE_MAX)) == NULL ||
	    (n = nlets_reject(b.p, NLETS_RESPONSE_MAX, m, ne, (int64_t)index)) < 0) {
		free(b.p);
		audit_cancel(r->s->log, index);
		error_response(r, 503, "unavailable", "out of memory");
		r->outcome = OUT_UNAVAILABLE;
		return;
	}
	b.len = (size_t)n;
	b.cap = NLETS_RESPONSE_MAX;
	audited_text_reply(r, &c->e, status, index, &b);
}

/*
 * POST /v1/nlets: one DQ/RQ message in, DR/RR (records, NOT ON FILE, or a
 * policy denial) or an ER reject out, through the same decision, limits
 * and audit as /v1/query (channel "nlets"), ending in AUD/<index>.
 */
static void
handle_nlets(struct req *r)
{
	struct srv *s = r->s;
	struct nlets_msg *m = NULL;
	struct nlets_writer w;
	struct sbuf b = { 0 };
	struct qrun *c;
	enum nlets_err ne;
	unsigned status;
	uint64_t index;
	size_t size;
	int n;

	r->nlets = 1;
	client_addr(r);
	if ((c = qrun_new(r)) == NULL)
		return;
	if (authenticate(r, &c->p) < 0)
		goto out;
	if ((m = util_calloc(1, sizeof *m)) == NULL) {
		error_response(r, 503, "unavailable", "out of memory");
		goto out;
	}
	if (r->too_large)
		ne = NLETS_ERR_TOO_LONG;
	else if ((ne = nlets_parse(r->body ? r->body : "", r->len, NULL, m)) == NLETS_OK)
		ne = nlets_check_ori(m, c->p.ori);   /* no sending for another agency */
	if (ne != NLETS_OK) {
		nlets_reject_reply(r, c, m, ne);
		goto out;
	}
	c->q = m->q;
	size = (size_t)NLETS_RESPONSE_MAX * ((size_t)s->cfg.name_candidates + 1);
	if ((b.p = malloc(size)) == NULL) {
		error_response(r, 503, "unavailable", "out of memory");
		goto out;
	}
	b.cap = size;
	nlets_writer_init(&w, b.p, size);
	if (nlets_begin(&w, m) < 0)
		goto overflow;
	if (qrun_decide(r, c) != 0) {
		const char *rules[1] = { c->hit.id[0] ? c->hit.id : "limits" };
		c->e.decision = AUDIT_DENY;
		c->e.detail = c->hit.text;
		c->e.nrules = c->hit.id[0] ? 1 : 0;
		c->e.rules[0] = c->hit.id;
		r->outcome = OUT_LIMITED;
		status = 429;
		if (nlets_encode_denial(&w, c->hit.text, rules, 1) < 0)
			goto overflow;
	} else if (c->d.permit) {
		c->x->w = &w;
		if (qrun_lookup(r, c) < 0) {
			util_errx("serve: record lookup failed");
			free(b.p);
			b.p = NULL;
			error_response(r, 503, "store_unavailable", "");
			r->outcome = OUT_UNAVAILABLE;
			goto out;
		}
		qrun_subjects(c);
		if (server_limits_after(s->limits, c->pol, c->p.userid, c->p.ori, c->x->nrows,
		    c->x->person, c->x->addr, c->x->npeople, c->request_us, &c->hit)) {
			const char *rules[1] = { c->hit.id[0] ? c->hit.id : "limits" };
			limit_effects(r, &c->p, &c->hit);
			nlets_writer_init(&w, b.p, size);    /* found, not disclosed */
			if (nlets_begin(&w, m) < 0 || nlets_encode_denial(&w, c->hit.text, rules, 1) < 0)
				goto overflow;
			c->e.decision = AUDIT_DENY;
			c->e.detail = c->hit.text;
			c->e.nrules = c->hit.id[0] ? 1 : 0;
			c->e.rules[0] = c->hit.id;
			r->outcome = OUT_LIMITED;
			status = 429;
		} else {
			if (c->x->nrows == 0 && nlets_encode_not_on_file(&w) < 0)
				goto overflow;
			atomic_fetch_add(&s->records_sent, (uint64_t)c->x->nrows);
			memcpy(c->records, "records ", 8);
		util_u64_dec(c->records + 8, (uint64_t)c->x->nrows);
			c->e.detail = c->records;    /* for the limits' rebuild (misses) */
			c->e.decision = AUDIT_PERMIT;
			c->e.items = c->d.released;
			r->outcome = OUT_PERMIT;
			status = 200;
		}
	} else {
		if (nlets_encode_denial(&w, c->why, c->e.rules, (size_t)c->e.nrules) < 0)
			goto overflow;
		c->e.decision = AUDIT_DENY;
		c->e.detail = c->why;
		r->outcome = OUT_DENY;
		status = 403;
	}
	qrun_subjects(c);
	if (reply_reserve(r, &index) < 0) {
		free(b.p);
		goto out;
	}
	if ((n = nlets_finish(&w, (int64_t)index)) < 0) {
		audit_cancel(s->log, index);
		goto overflow;
	}
	b.len = (size_t)n;
	audited_text_reply(r, &c->e, status, index, &b);
	goto out;
overflow:
	/* an answer that does not fit is never cut: refuse, disclose nothing */
	free(b.p);
	util_errx("serve: nlets answer over %zu bytes", size);
	error_response(r, 503, "answer_too_large", "");
	r->outcome = OUT_UNAVAILABLE;
out:
	qrun_end(r, c);
	free(m);
}

/* ---- other routes ---- */

static void
handle_checkpoint(struct req *r)
{
	struct audit_checkpoint *cp;
	struct sbuf b = { 0 };

	/* /v1/checkpoint/keys: the verifier keys, current first, then those
	 * retired by `dmvgate keys rotate` (key.h), one per line. */
	if (strcmp(r->path, "/v1/checkpoint/keys") == 0) {
		char *keys = key_history(r->s->datadir);

		if (keys == NULL) {
			error_response(r, 503, "no_keys", "the verifier keys cannot be read");
			return;
		}
		sb_printf(&b, "%s\n", keys);
		free(keys);
		set_response(r, 200, &b, "text/plain; charset=utf-8");
		return;
	}
	cp = util_calloc(1, sizeof *cp);
	if (cp == NULL || audit_latest_checkpoint(r->s->log, cp) < 0) {
		error_response(r, 503, "no_checkpoint", "no signed checkpoint yet");
		free(cp);
		return;
	}
	sb_put(&b, cp->text, cp->textlen);
	free(cp);
	set_response(r, 200, &b, "text/plain; charset=utf-8");
}

static void
handle_health(struct req *r)
{
	struct sbuf b = { 0 };

	sb_printf(&b, "{\"status\":\"ok\",\"audit_size\":%llu}\n",
	    (unsigned long long)audit_size(r->s->log));
	set_response(r, 200, &b, "application/json");
}

static void
alert_metric(void *arg, const char *id, uint64_t n)
{
	struct sbuf *b = arg;

	sb_puts(b, "dmvgate_alerts_total{limit=");
	sb_jstrz(b, id);             /* a policy name: no quote or backslash */
	sb_printf(b, "} %llu\n", (unsigned long long)n);
}

static void
handle_metrics(struct req *r)
{
	struct srv *s = r->s;
	struct sbuf b = { 0 };
	struct audit_stats as;
	int64_t na = 0, nu = 0;
	struct rusage ru;

	sb_puts(&b, "# HELP dmvgate_requests_total Queries by channel and outcome.\n"
		    "# TYPE dmvgate_requests_total counter\n");
	for (int ch = 0; ch < 2; ch++)
		for (int i = 0; i < OUT_COUNT; i++)
			sb_printf(&b, "dmvgate_requests_total{channel=\"%s\",outcome=\"%s\"} %llu\n",
			    ch ? "nlets" : "json", outcome_names[i],
			    (unsigned long long)atomic_load(&s->requests[ch][i]));
	sb_printf(&b, "# HELP dmvgate_http_other_total Requests to other endpoints.\n"
		      "# TYPE dmvgate_http_other_total counter\ndmvgate_http_other_total %llu\n",
	    (unsigned long long)atomic_load(&s->http_other));
	sb_printf(&b, "# TYPE dmvgate_records_released_total counter\n"
		      "dmvgate_records_released_total %llu\n",
	    (unsigned long long)atomic_load(&s->records_sent));
	sb_printf(&b, "# TYPE dmvgate_auth_failures_total counter\n"
		      "dmvgate_auth_failures_total %llu\n",
	    (unsigned long long)atomic_load(&s->auth_failures));
	sb_printf(&b, "# TYPE dmvgate_policy_reloads_total counter\n"
		      "dmvgate_policy_reloads_total{result=\"ok\"} %llu\n"
		      "dmvgate_policy_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)atomic_load(&s->policy_reloads),
	    (unsigned long long)atomic_load(&s->policy_reload_failures));
	sb_printf(&b, "# TYPE dmvgate_limits_hit_total counter\ndmvgate_limits_hit_total %llu\n"
		      "# TYPE dmvgate_limit_suspensions_total counter\n"
		      "dmvgate_limit_suspensions_total %llu\n",
	    (unsigned long long)atomic_load(&s->limits_hit),
	    (unsigned long long)atomic_load(&s->suspensions));
	{
		struct server_limits_stats ls;
		sb_puts(&b, "# HELP dmvgate_alerts_total Alerts raised, by limit.\n"
			    "# TYPE dmvgate_alerts_total counter\n");
		server_limits_foreach_alert(s->limits, alert_metric, &b);
		server_limits_get_stats(s->limits, &ls);
		sb_printf(&b, "# TYPE dmvgate_limits_tracked gauge\ndmvgate_limits_tracked %llu\n"
			      "# TYPE dmvgate_limits_bytes gauge\ndmvgate_limits_bytes %llu\n"
			      "# TYPE dmvgate_limits_full_total counter\ndmvgate_limits_full_total %llu\n",
		    (unsigned long long)ls.trackers, (unsigned long long)ls.bytes,
		    (unsigned long long)ls.full);
	}
	sb_printf(&b, "# TYPE dmvgate_notices_created_total counter\n"
		      "dmvgate_notices_created_total %llu\n"
		      "# TYPE dmvgate_notice_failures_total counter\n"
		      "dmvgate_notice_failures_total %llu\n",
	    (unsigned long long)atomic_load(&s->notices_created),
	    (unsigned long long)atomic_load(&s->notice_failures));
	{
		int64_t overdue = 0;    /* unsent notices past their due date */
		if (s->notices != NULL && notice_count_overdue(s->notices, util_today(), &overdue) == 0)
			sb_printf(&b, "# TYPE dmvgate_notices_overdue gauge\n"
				      "dmvgate_notices_overdue %lld\n", (long long)overdue);
	}
	hist_print(&b, "dmvgate_decision_seconds", "Policy decision time.",
	    &s->decide_hist, dec_bounds, NB_DEC);
	hist_print(&b, "dmvgate_request_seconds", "End-to-end /v1/query time, audit included.",
	    &s->e2e_hist, e2e_bounds, NB_E2E);
	hist_print(&b, "dmvgate_audit_wait_seconds",
	    "Time from handing an entry to the audit log to its durability (batching + fdatasync).",
	    &s->audit_wait_hist, e2e_bounds, NB_E2E);
	audit_get_stats(s->log, &as);
	sb_printf(&b, "# TYPE dmvgate_audit_entries_total counter\ndmvgate_audit_entries_total %llu\n"
		      "# TYPE dmvgate_audit_batches_total counter\ndmvgate_audit_batches_total %llu\n"
		      "# TYPE dmvgate_audit_syncs_total counter\ndmvgate_audit_syncs_total %llu\n"
		      "# TYPE dmvgate_audit_checkpoints_total counter\ndmvgate_audit_checkpoints_total %llu\n"
		      "# TYPE dmvgate_audit_failed_total counter\ndmvgate_audit_failed_total %llu\n"
		      "# TYPE dmvgate_audit_voided_total counter\ndmvgate_audit_voided_total %llu\n"
		      "# TYPE dmvgate_audit_batch_max gauge\ndmvgate_audit_batch_max %llu\n"
		      "# TYPE dmvgate_audit_size gauge\ndmvgate_audit_size %llu\n",
	    (unsigned long long)as.appended, (unsigned long long)as.batches,
	    (unsigned long long)as.syncs, (unsigned long long)as.checkpoints,
	    (unsigned long long)as.failed, (unsigned long long)as.voided,
	    (unsigned long long)as.max_batch,
	    (unsigned long long)audit_size(s->log));
	buckets_print(&b, "dmvgate_audit_fdatasync_seconds",
	    "Duration of each batch's fdatasync of the audit entries file.",
	    as.sync_bucket, audit_sync_bounds, AUDIT_SYNC_NB, (double)as.sync_ns / 1e9);
	buckets_print(&b, "dmvgate_audit_batch_size",
	    "Entries made durable by one write and fdatasync.",
	    as.batch_bucket, audit_batch_bounds, AUDIT_BATCH_NB, (double)as.appended);
	registry_cache_counts(s->cache, &na, &nu);
	sb_printf(&b, "# TYPE dmvgate_registry_agencies gauge\ndmvgate_registry_agencies %lld\n"
		      "# TYPE dmvgate_registry_users gauge\ndmvgate_registry_users %lld\n"
		      "# TYPE dmvgate_records gauge\ndmvgate_records{type=\"driver\"} %lld\n"
		      "dmvgate_records{type=\"vehicle\"} %lld\n",
	    (long long)na, (long long)nu, (long long)atomic_load(&s->drivers),
	    (long long)atomic_load(&s->vehicles));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		sb_printf(&b, "# TYPE dmvgate_max_rss_bytes gauge\ndmvgate_max_rss_bytes %lld\n",
		    (long long)ru.ru_maxrss * 1024);
	if (b.err) {                 /* never a silently truncated page */
		free(b.p);
		error_response(r, 503, "unavailable", "out of memory");
		return;
	}
	set_response(r, 200, &b, "text/plain; version=0.0.4");
}

/* ---- MHD callbacks ---- */

static enum MHD_Result
queue_reply(struct req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->resp == NULL)
		error_response(r, 503, "unavailable", "out of memory");
	resp = MHD_create_response_from_buffer(r->resplen, r->resp ? r->resp : (void *)"",
	    r->resp ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	r->resp = NULL;
	if (r->ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->www_auth)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (r->audit_index >= 0) {
		char idx[32];
		util_u64_dec(idx, (uint64_t)r->audit_index);
		MHD_add_response_header(resp, "X-Audit-Index", idx);
	}
	if (r->route == R_BAD_METHOD)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    strncmp(r->path, "/v1/query", 9) == 0 || strcmp(r->path, "/v1/nlets") == 0 ?
		    "POST" : "GET");
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum route
route_of(const char *url, const char *method, const char **path)
{
	static const struct { const char *path; enum route r; const char *m; } t[] = {
		{ "/v1/query", R_QUERY, "POST" },
		{ "/v1/nlets", R_NLETS, "POST" },
		{ "/v1/checkpoint", R_CHECKPOINT, "GET" },
		{ "/v1/checkpoint/keys", R_CHECKPOINT, "GET" },
		{ "/healthz", R_HEALTH, "GET" },
		{ "/metrics", R_METRICS, "GET" },
		{ "/transparency", R_REPORT, "GET" },
		{ "/transparency.json", R_REPORT, "GET" },
		{ "/transparency.csv", R_REPORT, "GET" },
	};

	for (size_t i = 0; i < UTIL_NELEM(t); i++)
		if (strcmp(url, t[i].path) == 0) {
			*path = t[i].path;
			if (strcmp(method, t[i].m) == 0 ||
			    (strcmp(t[i].m, "GET") == 0 && strcmp(method, "HEAD") == 0))
				return t[i].r;
			return R_BAD_METHOD;
		}
	*path = "(other)";
	return R_NOT_FOUND;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct srv *s = cls;
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		const char *cl;
		r = util_calloc(1, sizeof *r);
		if (r == NULL)
			return MHD_NO;
		r->s = s;
		r->conn = conn;
		r->t0 = util_mono_ns();
		r->audit_index = -1;
		r->outcome = OUT_OTHER;
		r->route = route_of(url, method, &r->path);
		r->method = strcmp(method, "POST") == 0 ? "POST" : strcmp(method, "GET") == 0 ?
		    "GET" : strcmp(method, "HEAD") == 0 ? "HEAD" : "OTHER";
		atomic_fetch_add(&s->inflight, 1);
		*con_cls = r;
		if (r->route == R_QUERY || r->route == R_NLETS) {
			cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_CONTENT_LENGTH);
			if (cl != NULL) {
				int64_t v;
				if (util_parse_i64(cl, 0, INT64_MAX, &v) < 0 ||
				    (uint64_t)v > s->cfg.max_body)
					r->too_large = 1;
			}
			if (!r->too_large)
				return MHD_YES;
			/* answer at once; MHD closes after the reply */
		} else
			return MHD_YES;
	}
	if (r->waiting) {
		int st = atomic_load(&r->audit_status);
		if (st == 1)
			return MHD_YES;   /* spurious: still waiting */
		r->waiting = 0;
		if (st != 0) {
			error_response(r, 503, "audit_unavailable",
			    "the audit log could not record this request; nothing was disclosed");
			r->audit_index = -1;
			r->outcome = OUT_UNAVAILABLE;
		}
		return queue_reply(r);
	}
	if (r->status != 0)
		return queue_reply(r);   /* answered before the body was read */
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if ((r->route != R_QUERY && r->route != R_NLETS) || r->too_large)
			return MHD_YES;
		if (r->len + n > s->cfg.max_body) {
			r->too_large = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t ncap = r->cap ? r->cap : 1024;
			char *nb;
			while (ncap < r->len + n + 1)
				ncap *= 2;
			nb = realloc(r->body, ncap);
			if (nb == NULL)
				return MHD_NO;
			r->body = nb;
			r->cap = ncap;
		}
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	switch (r->route) {
	case R_QUERY:
		handle_query(r);
		break;
	case R_NLETS:
		handle_nlets(r);
		break;
	case R_CHECKPOINT:
		handle_checkpoint(r);
		break;
	case R_HEALTH:
		handle_health(r);
		break;
	case R_METRICS:
		handle_metrics(r);
		break;
	case R_REPORT: {     /* the public report, no authentication, cached (report.h) */
		const struct policy *pol = policy_handle_acquire(s->pol);
		struct sbuf b = { 0 };
		if (report_cache_http(s->report, s->log, pol, r->path, MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "quarter"), &r->status, &b.p, &b.len, &r->ctype) < 0)
			error_response(r, 503, "unavailable", "the report cannot be made now");
		else
			set_response(r, r->status, &b, r->ctype);
		policy_release(pol);
		break;
	}
	case R_BAD_METHOD:
		error_response(r, 405, "method_not_allowed", "method not allowed on this path");
		break;
	case R_NOT_FOUND:
	default:
		error_response(r, 404, "not_found", "no such endpoint");
		break;
	}
	if (r->waiting)
		return MHD_YES;
	return queue_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct srv *s = cls;
	struct req *r = *con_cls;

	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (r->route == R_QUERY || r->route == R_NLETS) {
		atomic_fetch_add(&s->requests[r->route == R_NLETS][r->outcome], 1);
		hist_add(&s->e2e_hist, e2e_bounds, NB_E2E, util_mono_ns() - r->t0);
	} else
		atomic_fetch_add(&s->http_other, 1);
	if (r->status == 0)
		r->status = 499;     /* the client went away */
	log_line(r);
	free(r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

/* ---- registry changes -> audit ---- */

static int
drain_one(void *arg, const struct registry_change *c)
{
	struct srv *s = arg;
	struct audit_entry e;
	struct registry_entry_text t;

	registry_change_entry(c, &e, &t);
	e.origin = s->origin;
	return audit_append_wait(s->log, &e, NULL) == 0 ? 0 : 1;
}

static void
poll_registry(struct srv *s, int64_t *seen)
{
	int64_t ch = registry_changes(s->reg);

	if (ch < 0 || ch == *seen)
		return;
	if (registry_cache_reload(s->cache, s->reg) == 0)
		*seen = ch;
	while (registry_drain(s->reg, drain_one, s) == REGISTRY_DRAIN_BATCH)
		;
}

static void
reload_policy(struct srv *s)
{
	struct policy_errors errs;

	policy_errors_init(&errs);
	if (policy_handle_reload(s->pol, s->policy_path, &errs) == 0) {
		atomic_fetch_add(&s->policy_reloads, 1);
		util_errx("serve: policy reloaded from %s", s->policy_path);
	} else {
		atomic_fetch_add(&s->policy_reload_failures, 1);
		util_errx("serve: policy reload failed, keeping the old policy:\n%s",
		    errs.text ? errs.text : "(no detail)");
	}
	policy_errors_free(&errs);
}

/*
 * The limits' state from the audit log's recent window, so that a restart
 * is no way around a limit (server_limits_rebuild).  0, or -1 when the log
 * cannot be read (the server does not start: fail closed).
 */
static int
rebuild_limits(struct srv *s)
{
	const struct policy *pol = policy_handle_acquire(s->pol);
	struct store *st = store_open(s->records_path, 1);
	struct server_limits_rebuilt rb;
	int rc = server_limits_rebuild(s->limits, pol, s->log, st, util_now_us(), &rb);

	if (rc < 0)
		util_errx("serve: cannot rebuild the limits from the audit log");
	else if (rb.window_s > 0)
		util_errx("serve: limits rebuilt from audit entries %llu.. (last %llds): %llu read, "
		    "%llu permits counted, %llu people re-found, %.2fs",
		    (unsigned long long)rb.from_index, (long long)rb.window_s,
		    (unsigned long long)rb.scanned, (unsigned long long)rb.counted,
		    (unsigned long long)rb.people, rb.seconds);
	store_close(st);
	policy_release(pol);
	return rc;
}

static struct MHD_Daemon *
start_mhd(struct srv *s)
{
	struct sockaddr_storage ss;
	struct MHD_OptionItem tls_opts[SERVER_TLS_NOPTS];
	unsigned threads = s->cfg.threads, tls_flag = server_tls_options(s->tls, tls_opts);

	memset(&ss, 0, sizeof ss);
	if (strchr(s->cfg.listen_host, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(s->cfg.listen_port);
		if (inet_pton(AF_INET6, s->cfg.listen_host, &a->sin6_addr) != 1)
			return NULL;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(s->cfg.listen_port);
		if (inet_pton(AF_INET, s->cfg.listen_host, &a->sin_addr) != 1)
			return NULL;
	}
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 2;
	}
	return MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ITC | (strchr(s->cfg.listen_host, ':') ? MHD_USE_IPv6 : 0) | tls_flag,
	    0, NULL, NULL, on_request, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.connection_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(s->cfg.max_header + 8192),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
	    MHD_OPTION_ARRAY, tls_opts,
	    MHD_OPTION_END);
}

int
server_run(const struct config *cfg, const char *datadir, const char *policy_path)
{
	struct srv *s = util_calloc(1, sizeof *s);
	struct audit_config acfg;
	struct policy_errors errs;
	struct policy *pol;
	char auditdir[PATH_MAX];
	sigset_t set;
	int64_t seen = -1;
	int rc = -1, stop = 0;

	policy_errors_init(&errs);
	if (s == NULL)
		return -1;
	pthread_mutex_init(&s->auth_mu, NULL);
	pthread_mutex_init(&s->stores_mu, NULL);
	s->cfg = *cfg;
	s->datadir = datadir;
	s->policy_path = policy_path;
	snprintf(s->records_path, sizeof s->records_path, "%s/records.db", datadir);
	snprintf(s->registry_path, sizeof s->registry_path, "%s/registry.db", datadir);
	snprintf(auditdir, sizeof auditdir, "%s/audit", datadir);

	/* signals are handled by this thread only; block before any thread */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	make_field_keys();
	pol = policy_load(policy_path, &errs);
	if (pol == NULL) {
		util_errx("serve: cannot load the policy %s:\n%s", policy_path,
		    errs.text ? errs.text : "");
		goto out;
	}
	if ((s->pol = policy_handle_new(pol)) == NULL)
		goto out;
	if ((s->reg = registry_open(s->registry_path)) == NULL ||
	    (s->reg_auth = registry_open(s->registry_path)) == NULL ||
	    (s->cache = registry_cache_new(s->reg)) == NULL ||
	    (s->proc = process_open(s->registry_path)) == NULL ||
	    (s->notices = notice_open(datadir)) == NULL ||
	    (s->limits = server_limits_new()) == NULL ||
	    (s->reqlog = server_log_new(STDERR_FILENO)) == NULL ||
	    (s->report = report_cache_new(datadir, (int)cfg->report_k)) == NULL)
		goto out;
	{
		struct store *st = store_open(s->records_path, 1);
		if (st == NULL) {
			util_errx("serve: cannot open the records in %s (run dmvgate init/import)", datadir);
			goto out;
		}
		store_close(st);
		poll_records(s);
	}
	memset(&acfg, 0, sizeof acfg);
	acfg.checkpoint_every_ms = (int)(s->cfg.checkpoint_interval * 1000);
	s->log = audit_open(auditdir, &acfg, AUDIT_WRITE);
	if (s->log == NULL) {
		if (errno == EWOULDBLOCK)
			util_errx("serve: another process holds the audit log in %s", auditdir);
		goto out;
	}
	if (util_strlcpy(s->origin, audit_origin(s->log), sizeof s->origin) < 0)
		goto out;
	poll_registry(s, &seen);
	if (rebuild_limits(s) < 0)
		goto out;
	if (s->cfg.tls_cert[0] != '\0' &&
	    (s->tls = server_tls_load(s->cfg.tls_cert, s->cfg.tls_key, s->cfg.tls_client_ca)) == NULL)
		goto out;
	s->mhd = start_mhd(s);
	if (s->mhd == NULL) {
		util_warn("serve: cannot listen on %s:%u", s->cfg.listen_host, s->cfg.listen_port);
		goto out;
	}
	/* the port and every file are open: drop root for good (privdrop.h) */
	if (privdrop_to(s->cfg.user) < 0)
		goto out;
	util_errx("serve: listening on %s:%u%s (policy %s, %lld drivers, %lld vehicles)",
	    s->cfg.listen_host, s->cfg.listen_port,
	    s->tls == NULL ? "" : s->cfg.tls_client_ca[0] ? " with TLS and client certificates" : " with TLS",
	    policy_path,
	    (long long)atomic_load(&s->drivers), (long long)atomic_load(&s->vehicles));

	while (!stop) {
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGHUP)
			reload_policy(s);
		else if (sig == SIGTERM || sig == SIGINT)
			stop = 1;
		poll_registry(s, &seen);
		poll_records(s);
		server_log_tick(s->reqlog);
	}
	util_errx("serve: stopping: draining %d request(s)", atomic_load(&s->inflight));
	{
		MHD_socket ls = MHD_quiesce_daemon(s->mhd);
		uint64_t deadline = util_mono_ns() + (uint64_t)SERVER_DRAIN_SECONDS * 1000000000u;
		if (ls != MHD_INVALID_SOCKET)
			close(ls);
		while (atomic_load(&s->inflight) > 0 && util_mono_ns() < deadline) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	server_log_flush(s->reqlog);
	seen = -1;
	poll_registry(s, &seen);
	rc = 0;
out:
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->log) {
		audit_close(s->log);     /* final checkpoint */
		if (rc == 0)
			util_errx("serve: audit log closed with a final checkpoint; bye");
	}
	for (int i = 0; i < s->nstores; i++)
		store_close(s->stores[i]);
	registry_cache_free(s->cache);
	process_close(s->proc);
	notice_close(s->notices);
	server_limits_free(s->limits);
	server_log_free(s->reqlog);
	report_cache_free(s->report);
	registry_close(s->reg);
	registry_close(s->reg_auth);
	if (s->pol)
		policy_handle_free(s->pol);
	policy_errors_free(&errs);
	server_tls_free(s->tls);
	pthread_mutex_destroy(&s->auth_mu);
	pthread_mutex_destroy(&s->stores_mu);
	free(s);
	return rc;
}
