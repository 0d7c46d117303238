/*
 * audit_verify.c - `audit verify`: an independent, read-only check of a
 * whole audit directory.  It streams the entries file once, decodes every
 * entry strictly, recomputes every leaf and every tree hash, compares them
 * with the stored hashes and offsets, and walks the checkpoint history in
 * step: each checkpoint must be signed by the log's key, never smaller than
 * the one before, and its root must equal the recomputed root at its size.
 * The published `checkpoint` must be the last one in the history.  The
 * first problem is reported with the index to blame when there is one.
 */
#include "audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct vstate {
	const char *dir;
	int fd_entries, fd_hashes, fd_offsets, fd_cps;
	struct audit_recreader hr, orr;   /* hashes and offsets streams */
	int hashes_end, offsets_end;      /* the derived stream ended */
	uint64_t derived_n;               /* entries whose derived data was compared */
	/* checkpoint history cursor */
	uint64_t cps_off, cps_size;
	struct audit_checkpoint cp;
	int have_cp;
	uint64_t ncp;
	uint64_t prev_size;
	uint8_t prev_root[AUDIT_HASH_SIZE];
	char last_text[AUDIT_NOTE_MAX];
	size_t last_len;
	char origin[256];
	const char *verifier;
	struct audit_verify_result *res;
};

static int
fail(struct vstate *v, int64_t index, const char *fmt, ...) UTIL_PRINTF(3, 4);

static int
fail(struct vstate *v, int64_t index, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->res->error, sizeof v->res->error, fmt, ap);
	va_end(ap);
	if (index >= 0) {
		v->res->bad_index = (uint64_t)index;
		v->res->bad_index_set = 1;
	}
	return -1;
}

static int
open_opt(const char *dir, const char *name)
{
	char *p = util_aprintf("%s/%s", dir, name);
	int fd;

	if (p == NULL)
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	return fd;
}

static int writer_running(const char *dir);

/* Reads the next checkpoint of the history; 1 got one, 0 end, -1 bad.  A
 * record cut short at the end while a writer holds the log is one being
 * appended (length, note, length: three writes): the end, for now. */
static int
next_cp(struct vstate *v)
{
	uint8_t b4[4];
	char note[AUDIT_NOTE_MAX];
	uint32_t l, l2;
	const char *why;

	v->have_cp = 0;
	if (v->fd_cps < 0 || v->cps_off >= v->cps_size)
		return 0;
	if (v->cps_size - v->cps_off < 8 || pread(v->fd_cps, b4, 4, (off_t)v->cps_off) != 4) {
		if (writer_running(v->dir))
			return 0;
		return fail(v, -1, "checkpoints: incomplete record at byte %llu (checkpoint #%llu)",
		    (unsigned long long)v->cps_off, (unsigned long long)v->ncp + 1);
	}
	l = audit_get_u32(b4);
	if (l > 0 && l < AUDIT_NOTE_MAX && v->cps_off + 8 + l > v->cps_size && writer_running(v->dir))
		return 0;
	if (l == 0 || l >= AUDIT_NOTE_MAX || v->cps_off + 8 + l > v->cps_size ||
	    pread(v->fd_cps, note, l, (off_t)v->cps_off + 4) != (ssize_t)l ||
	    pread(v->fd_cps, b4, 4, (off_t)(v->cps_off + 4 + l)) != 4 ||
	    (l2 = audit_get_u32(b4)) != l)
		return fail(v, -1, "checkpoints: bad record at byte %llu (checkpoint #%llu)",
		    (unsigned long long)v->cps_off, (unsigned long long)v->ncp + 1);
	if (audit_checkpoint_parse(note, l, v->verifier, &v->cp, &why) < 0)
		return fail(v, -1, "checkpoint #%llu: %s", (unsigned long long)v->ncp + 1, why);
	if (v->origin[0] == '\0')
		memcpy(v->origin, v->cp.origin, sizeof v->origin);
	else if (strcmp(v->origin, v->cp.origin) != 0)
		return fail(v, -1, "checkpoint #%llu: origin '%s' differs from '%s'",
		    (unsigned long long)v->ncp + 1, v->cp.origin, v->origin);
	if (v->ncp > 0 && v->cp.size < v->prev_size)
		return fail(v, -1, "checkpoint #%llu (size %llu) is older than the one before it (size %llu)",
		    (unsigned long long)v->ncp + 1, (unsigned long long)v->cp.size,
		    (unsigned long long)v->prev_size);
	if (v->ncp > 0 && v->cp.size == v->prev_size &&
	    memcmp(v->cp.root, v->prev_root, AUDIT_HASH_SIZE) != 0)
		return fail(v, -1, "checkpoints #%llu and #%llu sign different roots for size %llu",
		    (unsigned long long)v->ncp, (unsigned long long)v->ncp + 1,
		    (unsigned long long)v->cp.size);
	v->cps_off += 8 + l;
	v->ncp++;
	v->prev_size = v->cp.size;
	memcpy(v->prev_root, v->cp.root, AUDIT_HASH_SIZE);
	memcpy(v->last_text, note, l);
	v->last_len = l;
	v->have_cp = 1;
	return 1;
}

/* Checks every checkpoint of size b->n against the builder's root. */
static int
check_cps_at(struct vstate *v, const struct audit_builder *b)
{
	uint8_t root[AUDIT_HASH_SIZE];
	int r;

	while (v->have_cp && v->cp.size == b->n) {
		audit_builder_root(b, root);
		if (memcmp(root, v->cp.root, AUDIT_HASH_SIZE) != 0)
			return fail(v, b->n > 0 ? (int64_t)(b->n - 1) : -1,
			    "checkpoint #%llu (size %llu) does not match the log: an entry before index %llu "
			    "was altered, removed or reordered",
			    (unsigned long long)v->ncp, (unsigned long long)v->cp.size,
			    (unsigned long long)v->cp.size);
		v->res->checkpoints++;
		if ((r = next_cp(v)) < 0)
			return -1;
	}
	return 0;
}

/* Compares the m emitted hashes for entry i with the stored stream; a leaf
 * from the stream is returned in stored_leaf when want_leaf. */
static int
check_hashes(struct vstate *v, uint64_t i, uint8_t (*emit)[AUDIT_HASH_SIZE], int m)
{
	for (int j = 0; j < m; j++) {
		int r;

		if (v->hashes_end)
			return 0;
		if ((r = audit_rr_need(&v->hr, AUDIT_HASH_SIZE)) <= 0) {
			if (r < 0)
				return fail(v, -1, "hashes: read error");
			v->hashes_end = 1;
			return 0;
		}
		if (memcmp(v->hr.buf + v->hr.pos, emit[j], AUDIT_HASH_SIZE) != 0)
			return fail(v, (int64_t)i,
			    "entry %llu: the stored tree hash %s differs from the recomputed one",
			    (unsigned long long)i, j == 0 ? "of its leaf" : "of a node it completes");
		v->hr.pos += AUDIT_HASH_SIZE;
	}
	return 0;
}

static int
check_offset(struct vstate *v, uint64_t i, uint64_t off)
{
	int r;

	if (v->offsets_end)
		return 0;
	if ((r = audit_rr_need(&v->orr, 8)) <= 0) {
		if (r < 0)
			return fail(v, -1, "offsets: read error");
		v->offsets_end = 1;
		return 0;
	}
	if (audit_get_u64(v->orr.buf + v->orr.pos) != off)
		return fail(v, (int64_t)i, "entry %llu: stored offset differs from its position",
		    (unsigned long long)i);
	v->orr.pos += 8;
	return 0;
}

/*
 * A server may have signed and published a newer checkpoint while verify
 * ran: accept the published one when it is now the last of the history and
 * not older than the last one checked.
 */
static int
newer_in_history(struct vstate *v, const char *text, size_t len, uint64_t size)
{
	struct stat st;
	uint8_t b4[4];
	char note[AUDIT_NOTE_MAX];
	uint64_t end;
	uint32_t l;

	if (v->fd_cps < 0 || fstat(v->fd_cps, &st) < 0 || size < v->prev_size)
		return 0;
	end = (uint64_t)st.st_size;
	if (end < 8 || pread(v->fd_cps, b4, 4, (off_t)end - 4) != 4)
		return 0;
	l = audit_get_u32(b4);
	if (l != len || end < (uint64_t)l + 8 ||
	    pread(v->fd_cps, note, l, (off_t)(end - 4 - l)) != (ssize_t)l)
		return 0;
	return memcmp(note, text, len) == 0;
}

/* Is a writer holding DIR/lock? */
static int
writer_running(const char *dir)
{
	char *p = util_aprintf("%s/lock", dir);
	int fd, busy = 0;

	if (p == NULL)
		return 0;
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (flock(fd, LOCK_SH | LOCK_NB) < 0)
			busy = errno == EWOULDBLOCK;
		(void)close(fd); /* releases a lock we took */
	}
	free(p);
	return busy;
}

/* NULL when the published checkpoint is right, else what is wrong. */
static const char *
published_ok(struct vstate *v, const char *dir, const char *verifier)
{
	static _Thread_local char msg[256];
	char *p = util_aprintf("%s/checkpoint", dir), *text = NULL;
	struct audit_checkpoint cp;
	const char *why, *res = NULL;
	size_t len = 0;

	if (p == NULL)
		return "out of memory";
	if (util_read_file(p, AUDIT_NOTE_MAX, &text, &len) < 0) {
		res = errno == ENOENT && v->ncp == 0 ? NULL : "checkpoint: cannot read the latest checkpoint";
		goto out;
	}
	if (audit_checkpoint_parse(text, len, verifier, &cp, &why) < 0) {
		snprintf(msg, sizeof msg, "checkpoint (latest): %s", why);
		res = msg;
		goto out;
	}
	if ((v->ncp == 0 || len != v->last_len || memcmp(text, v->last_text, len) != 0) &&
	    !newer_in_history(v, text, len, cp.size)) {
		snprintf(msg, sizeof msg, "checkpoint (latest, size %llu) is not the last checkpoint of "
		    "the history (size %llu): replaced by an older or foreign one",
		    (unsigned long long)cp.size, (unsigned long long)v->prev_size);
		res = msg;
	}
out:
	free(text);
	free(p);
	return res;
}

/* The data directory's key history (key.h): checkpoint.key.pub and the
 * retired verifiers of DIR/keys/retired, so that checkpoints signed before
 * a key rotation verify too.  Caller frees; NULL when there is none. */
static char *
default_verifier(const char *dir)
{
	char *d = util_strdup(dir), *slash, *text = NULL;
	size_t len = strlen(d != NULL ? d : "");

	if (d == NULL)
		return NULL;
	while (len > 1 && d[len - 1] == '/')
		d[--len] = '\0';
	slash = strrchr(d, '/');
	if (slash == NULL)
		text = key_history(".");
	else {
		*slash = '\0';
		text = key_history(slash == d ? "/" : d);
	}
	free(d);
	return text;
}

static int
read_first(const char *dir, uint64_t *first, uint64_t *first_off)
{
	char *p = util_aprintf("%s/pruned", dir), *text = NULL, *sp;
	size_t len;
	int64_t v, o;
	int rc = -1;

	*first = 0;
	*first_off = 0;
	if (p == NULL)
		return -1;
	if (util_read_file(p, 64, &text, &len) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (len < 9 || strncmp(text, "first ", 6) != 0 || text[len - 1] != '\n' ||
	    (sp = strchr(text + 6, ' ')) == NULL)
		goto out;
	text[len - 1] = '\0';
	*sp++ = '\0';
	if (util_parse_i64(text + 6, 0, INT64_MAX, &v) < 0 || util_parse_i64(sp, 0, INT64_MAX, &o) < 0)
		goto out;
	*first = (uint64_t)v;
	*first_off = (uint64_t)o;
	rc = 0;
out:
	free(text);
	free(p);
	return rc;
}

int
audit_verify(const char *auditdir, const char *verifier, int progress, struct audit_verify_result *res)
{
	struct vstate v;
	struct audit_builder b;
	struct audit_recreader er = { 0 };
	struct audit_record *rec = NULL;
	struct util_progress pg;
	uint8_t emit[65][AUDIT_HASH_SIZE];
	char *vdefault = NULL, *pub = NULL;
	uint64_t first, i, recoff, start_off = 0, esize;
	const uint8_t *e;
	size_t elen;
	const char *why = "";
	struct stat st;
	int rc = -1, m, retries = 0;
	enum audit_rec_status rs;

	memset(res, 0, sizeof *res);
	memset(&v, 0, sizeof v);
	v.res = res;
	v.dir = auditdir;
	v.fd_entries = v.fd_hashes = v.fd_offsets = v.fd_cps = -1;
	audit_builder_init(&b);
	if (stat(auditdir, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail(&v, -1, "%s: not an audit directory", auditdir);
	if (verifier == NULL) {
		if ((vdefault = default_verifier(auditdir)) == NULL)
			return fail(&v, -1, "no verifier key: give --key (checkpoint.key.pub not found)");
		verifier = vdefault;
	}
	v.verifier = verifier;
	{
		struct key_verifier *kv = util_calloc(KEY_LIST_MAX, sizeof *kv);
		int nkv = kv != NULL ? key_parse_verifier_list(verifier, kv, KEY_LIST_MAX) : -1;

		free(kv);
		if (nkv < 0) {
			fail(&v, -1, "malformed verifier key");
			goto out;
		}
	}
	if (read_first(auditdir, &first, &start_off) < 0) {
		fail(&v, -1, "pruned: malformed");
		goto out;
	}
	v.fd_entries = open_opt(auditdir, "entries");
	v.fd_hashes = open_opt(auditdir, "hashes");
	v.fd_offsets = open_opt(auditdir, "offsets");
	v.fd_cps = open_opt(auditdir, "checkpoints");
	v.cps_size = v.fd_cps >= 0 && fstat(v.fd_cps, &st) == 0 ? (uint64_t)st.st_size : 0;
	esize = v.fd_entries >= 0 && fstat(v.fd_entries, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (v.fd_hashes < 0)
		v.hashes_end = 1;
	if (v.fd_offsets < 0)
		v.offsets_end = 1;
	if ((!v.hashes_end && audit_rr_init(&v.hr, v.fd_hashes, 0) < 0) ||
	    (!v.offsets_end && audit_rr_init(&v.orr, v.fd_offsets, 0) < 0) ||
	    (rec = malloc(sizeof *rec)) == NULL) {
		fail(&v, -1, "out of memory");
		goto out;
	}
	if (next_cp(&v) < 0 || check_cps_at(&v, &b) < 0)
		goto out;
	/* Pruned entries: only their stored hashes remain. */
	for (i = 0; i < first; i++) {
		uint8_t leaf[AUDIT_HASH_SIZE];

		if (v.hashes_end || audit_rr_need(&v.hr, AUDIT_HASH_SIZE) <= 0) {
			fail(&v, (int64_t)i, "hashes: missing the leaf hash of pruned entry %llu",
			    (unsigned long long)i);
			goto out;
		}
		memcpy(leaf, v.hr.buf + v.hr.pos, AUDIT_HASH_SIZE);
		m = audit_builder_add(&b, leaf, emit);
		if (check_hashes(&v, i, emit, m) < 0)
			goto out;
		/* pruned offsets point at zeros: skip them */
		if (!v.offsets_end) {
			if (audit_rr_need(&v.orr, 8) <= 0)
				v.offsets_end = 1;
			else
				v.orr.pos += 8;
		}
		if (check_cps_at(&v, &b) < 0)
			goto out;
	}
	res->pruned = first;

	if (v.fd_entries < 0) {
		if (first > 0 || v.have_cp) {
			fail(&v, -1, "entries file is missing");
			goto out;
		}
		goto done;
	}
	if (audit_rr_init(&er, v.fd_entries, start_off) < 0) {
		fail(&v, -1, "out of memory");
		goto out;
	}
	util_progress_init(&pg, "verify", esize);
	pg.enabled = pg.enabled && progress;
	for (i = first;; i++) {
		rs = audit_rr_next(&er, &e, &elen, &recoff, rec, NULL, &why);
		if (rs == AUDIT_REC_OK && rec->e.index != i) {
			rs = AUDIT_REC_BAD;
			why = "its index field does not match its position (entries removed or reordered?)";
		}
		if (rs == AUDIT_REC_END)
			break;
		if (rs == AUDIT_REC_IOERR) {
			fail(&v, -1, "entries: read error: %s", strerror(errno));
			goto out;
		}
		if (rs != AUDIT_REC_OK && !v.have_cp && retries < 50 && writer_running(auditdir)) {
			/* Past every checkpoint a running writer may be midway through
			 * writing this batch into its zero padding: read it again. */
			struct timespec ts = { 0, 2 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			retries++;
			audit_rr_free(&er);
			if (audit_rr_init(&er, v.fd_entries, recoff) < 0) {
				fail(&v, -1, "out of memory");
				goto out;
			}
			i--;
			continue;
		}
		if (rs != AUDIT_REC_OK) {
			/* An incomplete or invalid last record past every checkpoint is an
			 * unacknowledged torn write: the next writer cuts it. */
			int last = rs == AUDIT_REC_TORN;

			if (rs == AUDIT_REC_BAD && er.len - er.pos >= AUDIT_REC_HDR) {
				uint32_t l = audit_get_u32(er.buf + er.pos);

				/* nothing but the writer's zero padding after it */
				last = l > 0 && l <= AUDIT_ENTRY_MAX &&
				    audit_rr_need(&er, AUDIT_REC_HDR + l + AUDIT_REC_TRAILER) == 1 &&
				    audit_rr_zero_from(&er, AUDIT_REC_HDR + l + AUDIT_REC_TRAILER) == 1;
			}
			if (last && !v.have_cp) {
				fprintf(stderr, "%s: note: ignored an incomplete last record at entry %llu (%s)\n",
				    util_progname, (unsigned long long)i, why);
				break;
			}
			fail(&v, (int64_t)i, "entry %llu: %s", (unsigned long long)i, why);
			goto out;
		}
		m = audit_builder_add(&b, rec->leaf_hash, emit);
		if (check_hashes(&v, i, emit, m) < 0 || check_offset(&v, i, recoff) < 0)
			goto out;
		if (!v.hashes_end && !v.offsets_end)
			v.derived_n = i + 1;
		if (check_cps_at(&v, &b) < 0)
			goto out;
		res->entries++;
		if ((i & 0xffff) == 0)
			util_progress_update(&pg, er.base + er.pos);
	}
	util_progress_done(&pg);
done:
	if (v.have_cp) {
		fail(&v, (int64_t)b.n, "checkpoint #%llu covers %llu entries but the log has only %llu: "
		    "entries from index %llu on were removed or truncated",
		    (unsigned long long)v.ncp, (unsigned long long)v.cp.size, (unsigned long long)b.n,
		    (unsigned long long)b.n);
		goto out;
	}
	if (v.ncp > 0 && v.derived_n < v.prev_size && first < v.prev_size) {
		fail(&v, (int64_t)v.derived_n, "hashes/offsets cover only %llu entries but a checkpoint "
		    "covers %llu", (unsigned long long)v.derived_n, (unsigned long long)v.prev_size);
		goto out;
	}
	/*
	 * The published checkpoint is the last of the history.  A running writer
	 * appends to the history before it publishes, so for a moment the two
	 * differ: while the lock is held, look again for up to a second.
	 */
	{
		int busy = writer_running(auditdir);

		/* Entries that no signed checkpoint covers are only tamper-evident
		 * once one does: the writer signs within a second and at close. */
		if (v.ncp == 0 && b.n > 0 && !busy) {
			fail(&v, -1, "no signed checkpoint covers the %llu entries (open the log for "
			    "writing, e.g. start the server, to sign one)", (unsigned long long)b.n);
			goto out;
		}
		if (v.ncp > 0 && b.n > v.prev_size && !busy)
			fprintf(stderr, "%s: note: entries %llu..%llu are not yet covered by a signed "
			    "checkpoint (one is signed when the log is next opened for writing)\n",
			    util_progname, (unsigned long long)v.prev_size, (unsigned long long)b.n - 1);

		for (int attempt = 0;; attempt++) {
			const char *problem = published_ok(&v, auditdir, verifier);

			if (problem == NULL)
				break;
			if (!busy || attempt >= 20) {
				fail(&v, -1, "%s", problem);
				goto out;
			}
			usleep(50000);
		}
	}
	rc = 0;
out:
	audit_rr_free(&er);
	audit_rr_free(&v.hr);
	audit_rr_free(&v.orr);
	if (v.fd_entries >= 0)
		(void)close(v.fd_entries);
	if (v.fd_hashes >= 0)
		(void)close(v.fd_hashes);
	if (v.fd_offsets >= 0)
		(void)close(v.fd_offsets);
	if (v.fd_cps >= 0)
		(void)close(v.fd_cps);
	free(rec);
	free(vdefault);
	free(pub);
	return rc;
}
