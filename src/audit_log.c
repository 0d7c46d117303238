/*
 * audit_log.c - the audit log on disk: opening (lock, key, recovery of a
 * torn tail, rebuilding the derived hash and offset files past the last
 * checkpoint), the group-commit writer thread, checkpoints, and reading
 * (entries by index, scans, roots, proofs, tiles, pruning).
 *
 * Durability order per batch: the batch's records are written to
 * `entries` with one pwrite and made durable with one fdatasync; only then
 * are the waiters called back.  The writer keeps `entries` padded with
 * zeros up to PREALLOC_CHUNK past its end, so that a batch overwrites
 * blocks that are already allocated and its fdatasync has no inode (size)
 * to write: on ext4 that takes a second synchronous write out of each
 * batch (~150 -> ~90 us per fdatasync here).  Readers stop at the padding
 * (audit_rr_next: zeros up to the end of the file are the end); a clean
 * close cuts it off, and a writer's open cuts what a crash left.
 *
 * The tree hashes (`hashes`, tlog storage order) and entry offsets
 * (`offsets`) are derived: written after each batch without a sync,
 * fdatasync'd before each checkpoint is signed, and rebuilt from `entries`
 * past the last checkpoint when the log is opened for writing.  A checkpoint is appended to `checkpoints` (fdatasync'd)
 * and then published as `checkpoint` (rename).  Any write or sync failure
 * fails the batch's waiters and every later append: the log fails closed
 * until it is reopened.
 */
#include "audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "key.h"
#include "util.h"

#define DEFAULT_CP_ENTRIES 10000
#define DEFAULT_CP_MS 1000
#define DEFAULT_RESERVE_MS 2000
#define DEFAULT_PENDING 16384
#define BATCH_MAX_ENTRIES 8192
#define BATCH_MAX_BYTES (8u << 20)
#define PREALLOC_CHUNK ((uint64_t)1 << 20)

enum slot_state { SLOT_FREE, SLOT_RESERVED, SLOT_READY };

struct slot {
	uint64_t index;
	enum slot_state state;
	uint64_t deadline_ns;
	uint8_t *rec;          /* framed record, malloc'd */
	uint32_t reclen;
	uint8_t leaf[AUDIT_HASH_SIZE];
	audit_done_fn done;
	void *arg;
};

struct callback {
	audit_done_fn done;
	void *arg;
	uint64_t index;
};

struct audit_log {
	char *dir;
	int writable;
	int fd_lock, fd_entries, fd_hashes, fd_offsets, fd_cps;
	struct key *key;
	char origin[256];
	char verifier[KEY_VERIFIER_MAX];
	int have_verifier;
	struct audit_config cfg;

	/* Log state.  size/end_off/hashes_n change only in the writer thread
	 * (or at open) and are read under mu by other threads. */
	uint64_t size;         /* entries durable / found */
	uint64_t first;        /* first entry with a body */
	uint64_t first_off;    /* its byte offset (from the pruned marker) */
	uint64_t end_off;      /* end of the last whole entry */
	uint64_t alloc_end;    /* writer: entries' size, zero padding included */
	uint64_t hashes_n;     /* entries whose hashes and offsets are written */
	uint64_t cps_end;      /* end of the checkpoints file */
	uint64_t *tail_offs;   /* read-only: offsets of [tail_base, size) */
	uint64_t tail_base;
	size_t tailcap;
	struct audit_checkpoint latest;
	int have_latest;

	/* Writer. */
	pthread_mutex_t mu;
	pthread_cond_t cv_writer, cv_space;
	pthread_t thread;
	int thread_started;
	struct slot *slots;
	uint64_t cap;
	uint64_t next_index;   /* next index to reserve */
	uint64_t head;         /* next index to write */
	int stopping, failed;
	struct audit_builder builder;
	uint64_t cp_size;
	uint64_t cp_time_ns;
	struct audit_stats st;
	uint8_t *batchbuf;
	size_t batchcap;
	uint8_t (*hashbuf)[AUDIT_HASH_SIZE];
	size_t hashcap;
	uint8_t *offbuf;
	size_t offcap;
	struct callback *cbs;
	size_t cbcap;
};

static char *
path_in(const struct audit_log *log, const char *name)
{
	return util_aprintf("%s/%s", log->dir, name);
}

static int
pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ENODATA;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static uint64_t
file_size(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

static int
hash_read(void *arg, uint64_t idx, uint8_t out[AUDIT_HASH_SIZE])
{
	struct audit_log *log = arg;

	if (pread_all(log->fd_hashes, out, AUDIT_HASH_SIZE, idx * AUDIT_HASH_SIZE) < 0) {
		if (errno == ENODATA)
			errno = ERANGE;
		return -1;
	}
	return 0;
}

/* Largest n with audit_stored_count(n) <= h. */
static uint64_t
entries_for_hashes(uint64_t h)
{
	uint64_t lo = 0, hi = h; /* stored_count(n) >= n */

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		if (audit_stored_count(mid) <= h)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Is there a whole valid record with the given index at the cursor? */
static int
rr_valid_next(struct audit_recreader *rr, uint64_t index)
{
	struct audit_record *r = malloc(sizeof *r);
	const uint8_t *e;
	size_t l;
	uint64_t off;
	const char *why;
	int ok;

	if (r == NULL)
		return 0;
	ok = audit_rr_next(rr, &e, &l, &off, r, NULL, &why) == AUDIT_REC_OK && r->e.index == index;
	free(r);
	return ok;
}

/* ---- checkpoints file: records of u32 len, note, u32 len ---- */

static int
cp_read_at_end(struct audit_log *log, uint64_t end, struct audit_checkpoint *cp, uint64_t *start)
{
	uint8_t b4[4];
	char *note = NULL;
	uint32_t l;
	const char *why;
	int rc = -1;

	if (end < 8 || pread_all(log->fd_cps, b4, 4, end - 4) < 0)
		return -1;
	l = audit_get_u32(b4);
	if (l == 0 || l >= AUDIT_NOTE_MAX || end < (uint64_t)l + 8)
		return -1;
	if (pread_all(log->fd_cps, b4, 4, end - 8 - l) < 0 || audit_get_u32(b4) != l)
		return -1;
	if ((note = malloc(l)) == NULL || pread_all(log->fd_cps, note, l, end - 4 - l) < 0)
		goto out;
	if (audit_checkpoint_parse(note, l, log->have_verifier ? log->verifier : NULL, cp, &why) < 0)
		goto out;
	*start = end - 8 - l;
	rc = 0;
out:
	free(note);
	return rc;
}

/* Finds the last valid checkpoint; *valid_end gets the end of the valid
 * prefix of the file (for cutting a torn tail). */
static int
cp_load_latest(struct audit_log *log, uint64_t *valid_end)
{
	uint64_t sz = file_size(log->fd_cps), start, off = 0;
	uint8_t b4[4];

	log->have_latest = 0;
	*valid_end = 0;
	if (sz == 0)
		return 0;
	if (cp_read_at_end(log, sz, &log->latest, &start) == 0) {
		log->have_latest = 1;
		*valid_end = sz;
		return 0;
	}
	/* Torn or bad tail: walk forward over whole records. */
	while (off + 8 <= sz) {
		uint32_t l;
		struct audit_checkpoint cp;

		if (pread_all(log->fd_cps, b4, 4, off) < 0)
			break;
		l = audit_get_u32(b4);
		if (l == 0 || l >= AUDIT_NOTE_MAX || off + 8 + l > sz)
			break;
		if (cp_read_at_end(log, off + 8 + l, &cp, &start) < 0 || start != off)
			break;
		log->latest = cp;
		log->have_latest = 1;
		off += 8 + l;
	}
	*valid_end = off;
	return 0;
}

static int
read_pruned(struct audit_log *log)
{
	char *p = path_in(log, "pruned"), *text = NULL, *sp;
	size_t len;
	int64_t v, o;
	int rc = -1;

	log->first = 0;
	log->first_off = 0;
	if (p == NULL)
		return -1;
	if (util_read_file(p, 64, &text, &len) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			util_warn("%s", p);
		goto out;
	}
	/* "first N OFFSET\n" */
	if (len < 9 || strncmp(text, "first ", 6) != 0 || text[len - 1] != '\n' ||
	    (sp = strchr(text + 6, ' ')) == NULL) {
		util_errx("%s: malformed", p);
		goto out;
	}
	text[len - 1] = '\0';
	*sp++ = '\0';
	if (util_parse_i64(text + 6, 0, INT64_MAX, &v) < 0 || util_parse_i64(sp, 0, INT64_MAX, &o) < 0) {
		util_errx("%s: malformed", p);
		goto out;
	}
	log->first = (uint64_t)v;
	log->first_off = (uint64_t)o;
	rc = 0;
out:
	free(text);
	free(p);
	return rc;
}

/*
 * Was index pruned after this log was opened (`audit prune` runs beside a
 * server)?  Re-reads the marker; pruned bodies read as zeros.
 */
static int
pruned_since_open(struct audit_log *log, uint64_t index)
{
	struct audit_log tmp;

	memset(&tmp, 0, sizeof tmp);
	tmp.dir = log->dir;
	if (read_pruned(&tmp) < 0 || index >= tmp.first)
		return 0;
	return 1;
}

static int
load_verifier(struct audit_log *log, const char *keypath)
{
	char *p = util_aprintf("%s.pub", keypath), *text = NULL;
	char name[KEY_NAME_MAX];
	uint8_t pub[32];
	uint32_t id;
	size_t len;
	int rc = -1;

	if (p == NULL)
		return -1;
	if (util_read_file(p, KEY_VERIFIER_MAX, &text, &len) < 0)
		goto out;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (key_parse_verifier(text, name, &id, pub) < 0)
		goto out;
	memcpy(log->verifier, text, len + 1);
	log->have_verifier = 1;
	if (log->origin[0] == '\0')
		if (util_strlcpy(log->origin, name, sizeof log->origin) < 0)
			log->origin[0] = '\0';
	rc = 0;
out:
	free(text);
	free(p);
	return rc;
}

/* Offset of entry i (i < size).  0 or -1. */
static int
entry_offset(struct audit_log *log, uint64_t i, uint64_t *off)
{
	uint8_t b8[8];

	if (log->tail_offs != NULL && i >= log->tail_base && i < log->size) {
		*off = log->tail_offs[i - log->tail_base];
		return 0;
	}
	if (pread_all(log->fd_offsets, b8, 8, i * 8) < 0)
		return -1;
	*off = audit_get_u64(b8);
	return 0;
}

/* Offset just after entry i-1 (the start of entry i), for i <= entries with offsets. */
static int
offset_after(struct audit_log *log, uint64_t i, uint64_t *off)
{
	uint8_t b4[4];
	uint64_t o;

	if (i == 0) {
		*off = 0;
		return 0;
	}
	if (entry_offset(log, i - 1, &o) < 0 || pread_all(log->fd_entries, b4, 4, o) < 0)
		return -1;
	*off = o + AUDIT_REC_HDR + audit_get_u32(b4) + AUDIT_REC_TRAILER;
	return 0;
}

/*
 * Is entry i where the offsets file says, whole, with the index i and the
 * leaf hash the hashes file holds?  Anchors recovery: if not, the derived
 * files or the entries were changed and everything is rebuilt (and checked
 * against the checkpoint) from the start.
 */
static int
entry_matches_derived(struct audit_log *log, uint64_t i)
{
	struct audit_record *r = malloc(sizeof *r);
	uint8_t *buf = malloc(AUDIT_ENTRY_MAX + AUDIT_REC_TRAILER);
	uint8_t b4[4], stored[AUDIT_HASH_SIZE];
	uint64_t off;
	uint32_t l;
	const char *why;
	int ok = 0;

	if (r == NULL || buf == NULL)
		goto out;
	if (entry_offset(log, i, &off) < 0 || pread_all(log->fd_entries, b4, 4, off) < 0)
		goto out;
	l = audit_get_u32(b4);
	if (l == 0 || l > AUDIT_ENTRY_MAX || pread_all(log->fd_entries, buf, l + AUDIT_REC_TRAILER,
	    off + AUDIT_REC_HDR) < 0)
		goto out;
	if (audit_entry_decode(buf, l, r, &why) < 0 || r->e.index != i ||
	    memcmp(buf + l, r->leaf_hash, AUDIT_REC_TRAILER) != 0)
		goto out;
	if (hash_read(log, audit_stored_index(0, i), stored) < 0 ||
	    memcmp(stored, r->leaf_hash, AUDIT_HASH_SIZE) != 0)
		goto out;
	ok = 1;
out:
	free(r);
	free(buf);
	return ok;
}

/* Flushes the writer's derived buffers (hashes, offsets) to their files. */
static int
derived_write(struct audit_log *log, uint64_t from_n, size_t nhash, size_t noff)
{
	if (nhash > 0 && pwrite_all(log->fd_hashes, log->hashbuf, nhash * AUDIT_HASH_SIZE,
	    audit_stored_count(from_n) * AUDIT_HASH_SIZE) < 0)
		return -1;
	if (noff > 0 && pwrite_all(log->fd_offsets, log->offbuf, noff * 8, from_n * 8) < 0)
		return -1;
	return 0;
}

static int
grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if ((p = realloc(*buf, n * elem)) == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/*
 * Recovery for writing, and size discovery for reading.  Trusts derived
 * files up to the last checkpoint (they were synced before it was signed),
 * then scans entries from there, cutting a torn tail (writable) and
 * rebuilding hashes and offsets.
 */
static int
recover(struct audit_log *log)
{
	struct audit_recreader rr = { 0 };
	struct audit_record *recp = NULL;
	uint64_t n_off = file_size(log->fd_offsets) / 8;
	uint64_t n_hash = entries_for_hashes(file_size(log->fd_hashes) / AUDIT_HASH_SIZE);
	uint64_t cp_size = log->have_latest ? log->latest.size : 0;
	uint64_t k, off = 0, i, recoff, fsz = file_size(log->fd_entries);
	uint8_t root[AUDIT_HASH_SIZE], emit[65][AUDIT_HASH_SIZE];
	size_t nh = 0, no = 0;
	uint64_t flush_n;
	const uint8_t *e;
	size_t elen;
	const char *why = "";
	int have_cp_root = 0, cut = 0, rc = -1;
	enum audit_rec_status st;

	k = n_off < n_hash ? n_off : n_hash;
	if (k > cp_size)
		k = cp_size; /* synced before the checkpoint was signed; stable under a running writer */
	if (k < log->first) {
		util_errx("%s: derived files are damaged below the pruned mark %llu; cannot rebuild",
		    log->dir, (unsigned long long)log->first);
		return -1;
	}
	/* Starting point: validate the derived state at k. */
	for (int attempt = 0; attempt < 2; attempt++) {
		struct audit_hashreader rd = { hash_read, log };

		if (k == 0) {
			audit_builder_init(&log->builder);
			off = 0;
			break;
		}
		if (k == log->first) {
			/* entry k-1's body was pruned: start at the marker's offset */
			off = log->first_off;
			if (audit_builder_load(&log->builder, k, &rd) < 0 || off > fsz) {
				k = 0;
				continue;
			}
			if (k == cp_size && log->writable) {
				audit_builder_root(&log->builder, root);
				if (memcmp(root, log->latest.root, AUDIT_HASH_SIZE) != 0) {
					k = 0;
					continue;
				}
				have_cp_root = 1;
			}
			break;
		}
		if (audit_builder_load(&log->builder, k, &rd) == 0 && offset_after(log, k, &off) == 0 &&
		    off <= fsz && entry_matches_derived(log, k - 1)) {
			if (k == cp_size && log->writable) {
				audit_builder_root(&log->builder, root);
				if (memcmp(root, log->latest.root, AUDIT_HASH_SIZE) == 0) {
					have_cp_root = 1;
					break;
				}
			} else {
				break;
			}
		}
		k = 0; /* rebuild from the start */
	}
	if (k == 0 && log->first > 0) {
		util_errx("%s: derived files do not match the checkpoint and entries below %llu are pruned",
		    log->dir, (unsigned long long)log->first);
		return -1;
	}
	if (log->writable) {
		if (ftruncate(log->fd_hashes, (off_t)(audit_stored_count(k) * AUDIT_HASH_SIZE)) < 0 ||
		    ftruncate(log->fd_offsets, (off_t)(k * 8)) < 0) {
			util_warn("%s: truncating derived files", log->dir);
			return -1;
		}
	} else {
		log->tail_base = k;
	}
	if ((recp = malloc(sizeof *recp)) == NULL || audit_rr_init(&rr, log->fd_entries, off) < 0) {
		free(recp);
		return -1;
	}
	i = k;
	flush_n = k;
	for (;;) {
		uint8_t leaf[AUDIT_HASH_SIZE];

		st = audit_rr_next(&rr, &e, &elen, &recoff, recp, leaf, &why);
		if (st == AUDIT_REC_OK && recp->e.index != i) {
			st = AUDIT_REC_BAD;
			why = "index field does not match the entry's position";
		}
		if (st == AUDIT_REC_END)
			break;
		if (st == AUDIT_REC_IOERR) {
			util_warn("%s/entries", log->dir);
			goto out;
		}
		if (st != AUDIT_REC_OK) {
			int later_valid = 0;
			uint32_t l;

			if (st == AUDIT_REC_BAD && rr.len - rr.pos >= AUDIT_REC_HDR) {
				l = audit_get_u32(rr.buf + rr.pos);
				if (l > 0 && l <= AUDIT_ENTRY_MAX &&
				    audit_rr_need(&rr, AUDIT_REC_HDR + l + AUDIT_REC_TRAILER) == 1) {
					rr.pos += AUDIT_REC_HDR + l + AUDIT_REC_TRAILER;
					later_valid = rr_valid_next(&rr, i + 1);
				}
			}
			if (i < cp_size || later_valid) {
				util_errx("%s/entries: entry %llu is corrupt (%s)", log->dir,
				    (unsigned long long)i, why);
				errno = EBADMSG;
				goto out;
			}
			if (!log->writable)
				break; /* a reader stops at an incomplete tail */
			if (fsz - recoff > (uint64_t)BATCH_MAX_BYTES + AUDIT_REC_MAX + 2 * PREALLOC_CHUNK) {
				/* A torn write is at most one batch: this is damage. */
				util_errx("%s/entries: entry %llu is corrupt (%s) and %llu bytes follow it; "
				    "refusing to cut them (run dmvgate audit verify)", log->dir,
				    (unsigned long long)i, why, (unsigned long long)(fsz - recoff));
				errno = EBADMSG;
				goto out;
			}
			util_errx("%s/entries: cutting a torn tail of %llu bytes at entry %llu (%s)", log->dir,
			    (unsigned long long)(fsz - recoff), (unsigned long long)i, why);
			if (ftruncate(log->fd_entries, (off_t)recoff) < 0 || fdatasync(log->fd_entries) < 0) {
				util_warn("%s/entries: truncate", log->dir);
				goto out;
			}
			cut = 1;
			break;
		}
		if (log->writable) {
			int m = audit_builder_add(&log->builder, recp->leaf_hash, emit);

			if (grow((void **)&log->hashbuf, &log->hashcap, nh + (size_t)m, AUDIT_HASH_SIZE) < 0 ||
			    grow((void **)&log->offbuf, &log->offcap, (no + 1) * 8, 1) < 0)
				goto out;
			memcpy(log->hashbuf[nh], emit, (size_t)m * AUDIT_HASH_SIZE);
			nh += (size_t)m;
			audit_put_u64(log->offbuf + no * 8, recoff);
			no++;
			if (log->builder.n == cp_size && !have_cp_root) {
				audit_builder_root(&log->builder, root);
				if (memcmp(root, log->latest.root, AUDIT_HASH_SIZE) != 0) {
					util_errx("%s: the entries do not match the checkpoint at size %llu",
					    log->dir, (unsigned long long)cp_size);
					errno = EBADMSG;
					goto out;
				}
				have_cp_root = 1;
			}
			if (no >= 65536) {
				if (derived_write(log, flush_n, nh, no) < 0)
					goto ioerr;
				flush_n += no;
				nh = no = 0;
			}
		} else {
			if (grow((void **)&log->tail_offs, &log->tailcap, i - log->tail_base + 1, 8) < 0)
				goto out;
			log->tail_offs[i - log->tail_base] = recoff;
		}
		i++;
	}
	if (log->writable && derived_write(log, flush_n, nh, no) < 0)
		goto ioerr;
	log->size = i;
	log->end_off = rr.base + rr.pos;
	if (cut || (!log->writable && st != AUDIT_REC_END))
		log->end_off = recoff;   /* (the cursor may be past the cut record) */
	log->hashes_n = log->writable ? i : (n_off < n_hash ? n_off : n_hash);
	if (i < cp_size) {
		util_errx("%s: the log has %llu entries but a checkpoint covers %llu: entries were removed",
		    log->dir, (unsigned long long)i, (unsigned long long)cp_size);
		errno = EBADMSG;
		goto out;
	}
	rc = 0;
	goto out;
ioerr:
	util_warn("%s: writing derived files", log->dir);
out:
	audit_rr_free(&rr);
	free(recp);
	return rc;
}

static void *writer_main(void *arg);

struct audit_log *
audit_open(const char *auditdir, const struct audit_config *cfg, int flags)
{
	struct audit_log *log;
	char *p = NULL, *keypath = NULL, *dirc = NULL;
	int oflags = (flags & AUDIT_WRITE) ? O_RDWR | O_CREAT : O_RDONLY;
	uint64_t cps_valid;
	int saved;
	static const char *const names[] = { "entries", "hashes", "offsets", "checkpoints" };
	int *fds[4];

	if ((log = util_calloc(1, sizeof *log)) == NULL)
		return NULL;
	log->fd_lock = log->fd_entries = log->fd_hashes = log->fd_offsets = log->fd_cps = -1;
	pthread_mutex_init(&log->mu, NULL);
	{
		pthread_condattr_t ca;

		/* timed waits use the monotonic clock (see abs_from_mono) */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&log->cv_writer, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&log->cv_space, NULL);
	if (cfg != NULL)
		log->cfg = *cfg;
	if (log->cfg.checkpoint_every_entries <= 0)
		log->cfg.checkpoint_every_entries = DEFAULT_CP_ENTRIES;
	if (log->cfg.checkpoint_every_ms <= 0)
		log->cfg.checkpoint_every_ms = DEFAULT_CP_MS;
	if (log->cfg.reserve_timeout_ms <= 0)
		log->cfg.reserve_timeout_ms = DEFAULT_RESERVE_MS;
	if (log->cfg.max_pending <= 0)
		log->cfg.max_pending = DEFAULT_PENDING;
	log->writable = (flags & AUDIT_WRITE) != 0;
	if ((log->dir = util_strdup(auditdir)) == NULL)
		goto fail;
	if (log->writable) {
		if (util_mkdirs(auditdir, 0700) < 0) {
			util_warn("%s", auditdir);
			goto fail;
		}
		if ((p = path_in(log, "lock")) == NULL)
			goto fail;
		if ((log->fd_lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			util_warn("%s", p);
			goto fail;
		}
		if (flock(log->fd_lock, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK)
				util_warn("%s", p);
			goto fail;
		}
		free(p);
		p = NULL;
	} else {
		struct stat st;

		if (stat(auditdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			if (errno == 0)
				errno = ENOTDIR;
			util_warn("%s", auditdir);
			goto fail;
		}
	}
	/* Key and origin. */
	if (log->cfg.key_path != NULL) {
		keypath = util_strdup(log->cfg.key_path);
	} else {
		if ((dirc = util_strdup(auditdir)) == NULL)
			goto fail;
		{
			char *slash;
			size_t l = strlen(dirc);

			while (l > 1 && dirc[l - 1] == '/')
				dirc[--l] = '\0';
			slash = strrchr(dirc, '/');
			if (slash == NULL)
				keypath = util_strdup("checkpoint.key");
			else if (slash == dirc)
				keypath = util_strdup("/checkpoint.key");
			else {
				*slash = '\0';
				keypath = util_aprintf("%s/checkpoint.key", dirc);
			}
		}
	}
	if (keypath == NULL)
		goto fail;
	if (log->cfg.origin != NULL && util_strlcpy(log->origin, log->cfg.origin, sizeof log->origin) < 0) {
		util_errx("origin too long");
		errno = EINVAL;
		goto fail;
	}
	if (log->writable) {
		if ((log->key = key_load(keypath)) == NULL) {
			errno = ENOKEY;
			goto fail;
		}
		if (log->origin[0] == '\0')
			if (util_strlcpy(log->origin, key_name(log->key), sizeof log->origin) < 0)
				goto fail;
		memcpy(log->verifier, key_verifier(log->key), strlen(key_verifier(log->key)) + 1);
		log->have_verifier = 1;
	} else {
		(void)load_verifier(log, keypath); /* optional for readers */
	}
	/* Files. */
	fds[0] = &log->fd_entries;
	fds[1] = &log->fd_hashes;
	fds[2] = &log->fd_offsets;
	fds[3] = &log->fd_cps;
	for (int i = 0; i < 4; i++) {
		if ((p = path_in(log, names[i])) == NULL)
			goto fail;
		*fds[i] = open(p, oflags | O_CLOEXEC, 0600);
		if (*fds[i] < 0 && !(errno == ENOENT && !log->writable)) {
			util_warn("%s", p);
			goto fail;
		}
		free(p);
		p = NULL;
	}
	if (log->writable && util_fsync_dir(auditdir) < 0) {
		util_warn("%s", auditdir);
		goto fail;
	}
	if (read_pruned(log) < 0)
		goto fail;
	if (log->fd_cps >= 0 && cp_load_latest(log, &cps_valid) < 0)
		goto fail;
	if (log->have_latest && log->writable && strcmp(log->latest.origin, log->origin) != 0) {
		util_errx("%s: the log's origin is '%s' but the key/config says '%s'", log->dir,
		    log->latest.origin, log->origin);
		errno = EINVAL;
		goto fail;
	}
	if (log->writable) {
		if (cps_valid < file_size(log->fd_cps)) {
			util_errx("%s/checkpoints: cutting a torn tail of %llu bytes", log->dir,
			    (unsigned long long)(file_size(log->fd_cps) - cps_valid));
			if (ftruncate(log->fd_cps, (off_t)cps_valid) < 0 || fdatasync(log->fd_cps) < 0) {
				util_warn("%s/checkpoints", log->dir);
				goto fail;
			}
		}
		log->cps_end = cps_valid;
	}
	if (log->fd_entries >= 0 && recover(log) < 0)
		goto fail;
	if (log->writable) {
		/* padding a crash left (recover found only zeros past end_off) */
		if (file_size(log->fd_entries) > log->end_off &&
		    ftruncate(log->fd_entries, (off_t)log->end_off) < 0) {
			util_warn("%s/entries: cutting the padding", log->dir);
			goto fail;
		}
		log->alloc_end = log->end_off;
		log->cp_size = log->have_latest ? log->latest.size : 0;
		log->cp_time_ns = util_mono_ns();
		log->head = log->next_index = log->size;
		log->cap = (uint64_t)log->cfg.max_pending;
		if ((log->slots = util_calloc((size_t)log->cap, sizeof *log->slots)) == NULL)
			goto fail;
		/* Republish the latest checkpoint in case a crash came between
		 * appending it to the history and renaming it into place. */
		if (log->have_latest) {
			char *cpath = path_in(log, "checkpoint"), *old = NULL;
			size_t oldlen = 0;

			if (cpath != NULL && util_read_file(cpath, AUDIT_NOTE_MAX, &old, &oldlen) == 0 &&
			    (oldlen != log->latest.textlen || memcmp(old, log->latest.text, oldlen) != 0))
				util_errx("%s: the published checkpoint differed from the last one in "
				    "checkpoints; republishing it", log->dir);
			free(old);

			if (cpath == NULL || util_write_file_atomic(cpath, log->latest.text,
			    log->latest.textlen, 0644) < 0) {
				util_warn("%s", cpath ? cpath : "checkpoint");
				free(cpath);
				goto fail;
			}
			free(cpath);
		}
		if (pthread_create(&log->thread, NULL, writer_main, log) != 0) {
			util_errx("cannot start the audit writer thread");
			goto fail;
		}
		log->thread_started = 1;
	}
	free(keypath);
	free(dirc);
	return log;
fail:
	saved = errno;
	free(p);
	free(keypath);
	free(dirc);
	audit_close(log);
	errno = saved;
	return NULL;
}

/* ---- writer ---- */

static uint64_t
deadline_from_now(int ms)
{
	return util_mono_ns() + (uint64_t)ms * 1000000u;
}

static void
abs_from_mono(uint64_t mono_deadline, struct timespec *ts)
{
	uint64_t now = util_mono_ns(), wait = mono_deadline > now ? mono_deadline - now : 0;

	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(wait / 1000000000u);
	ts->tv_nsec += (long)(wait % 1000000000u);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Frames an encoded entry (n bytes, its leaf hash) into a malloc'd record. */
static uint8_t *
frame_record(const uint8_t *enc, size_t n, const uint8_t leaf[AUDIT_HASH_SIZE], uint32_t *reclen)
{
	uint8_t *rec;

	if ((rec = malloc(n + AUDIT_REC_HDR + AUDIT_REC_TRAILER)) == NULL)
		return NULL;
	audit_put_u32(rec, (uint32_t)n);
	memcpy(rec + AUDIT_REC_HDR, enc, n);
	memcpy(rec + AUDIT_REC_HDR + n, leaf, AUDIT_REC_TRAILER);
	*reclen = (uint32_t)n + AUDIT_REC_HDR + AUDIT_REC_TRAILER;
	return rec;
}

/* Encodes and frames entry e as index into a malloc'd record. */
static uint8_t *
make_record(const struct audit_log *log, const struct audit_entry *e, uint64_t index,
    uint32_t *reclen, uint8_t leaf[AUDIT_HASH_SIZE])
{
	static _Thread_local uint8_t buf[AUDIT_ENTRY_MAX];
	const char *why = NULL;
	long n = audit_entry_encode(e, index, log->origin, buf, sizeof buf, &why);

	if (n < 0)
		return NULL;
	audit_leaf_hash(buf, (size_t)n, leaf);
	return frame_record(buf, (size_t)n, leaf, reclen);
}

static struct slot *
slot_of(struct audit_log *log, uint64_t index)
{
	return &log->slots[index % log->cap];
}

/* Turns a reserved slot into a VOID entry (mu held). */
static void
void_slot_locked(struct audit_log *log, struct slot *s)
{
	struct audit_entry e;

	memset(&e, 0, sizeof e);
	e.kind = AUDIT_VOID;
	e.channel = "log";
	e.detail = "index reserved but its entry was not committed in time";
	s->rec = make_record(log, &e, s->index, &s->reclen, s->leaf);
	s->done = NULL;
	s->arg = NULL;
	s->state = SLOT_READY;
	log->st.voided++;
	if (s->rec == NULL)
		log->failed = 1; /* out of memory: fail closed */
}

static int
checkpoint_now(struct audit_log *log)
{
	char note[AUDIT_NOTE_MAX];
	uint8_t root[AUDIT_HASH_SIZE], b4[4];
	struct audit_checkpoint cp;
	const char *why;
	char *cpath = NULL;
	long len;
	int rc = -1;

	if (log->builder.n == log->cp_size && log->have_latest)
		return 0;
	if (fdatasync(log->fd_hashes) < 0 || fdatasync(log->fd_offsets) < 0) {
		util_warn("%s: syncing derived files", log->dir);
		return -1;
	}
	audit_builder_root(&log->builder, root);
	if ((len = audit_checkpoint_sign(log->key, log->origin, log->builder.n, root, note,
	    sizeof note)) < 0) {
		util_errx("%s: checkpoint too long", log->dir);
		return -1;
	}
	if (audit_checkpoint_parse(note, (size_t)len, log->verifier, &cp, &why) < 0) {
		util_errx("%s: own checkpoint does not parse: %s", log->dir, why);
		return -1;
	}
	audit_put_u32(b4, (uint32_t)len);
	if (pwrite_all(log->fd_cps, b4, 4, log->cps_end) < 0 ||
	    pwrite_all(log->fd_cps, note, (size_t)len, log->cps_end + 4) < 0 ||
	    pwrite_all(log->fd_cps, b4, 4, log->cps_end + 4 + (uint64_t)len) < 0 ||
	    fdatasync(log->fd_cps) < 0) {
		util_warn("%s/checkpoints", log->dir);
		return -1;
	}
	log->cps_end += 8 + (uint64_t)len;
	/* Publish: write a temporary file and rename it (the history above is
	 * the durable copy; open republishes it after a crash). */
	if ((cpath = path_in(log, "checkpoint.tmp")) == NULL)
		return -1;
	{
		int fd = open(cpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		char *final = path_in(log, "checkpoint");

		if (fd < 0 || final == NULL || pwrite_all(fd, note, (size_t)len, 0) < 0 ||
		    close(fd) < 0 || rename(cpath, final) < 0) {
			util_warn("%s/checkpoint", log->dir);
			if (fd >= 0)
				(void)close(fd);
			free(final);
			goto out;
		}
		free(final);
	}
	pthread_mutex_lock(&log->mu);
	log->latest = cp;
	log->have_latest = 1;
	log->cp_size = log->builder.n;
	log->cp_time_ns = util_mono_ns();
	log->st.checkpoints++;
	pthread_mutex_unlock(&log->mu);
	rc = 0;
out:
	free(cpath);
	return rc;
}

/*
 * Extends entries with zeros to PREALLOC_CHUNK past need (the batch's
 * fdatasync that follows makes them and the new size durable).  Failing
 * (e.g. a full disk) is not an error: the batch is then appended as it
 * is, and its own write reports what it must.
 */
static void
pad_ahead(struct audit_log *log, uint64_t need)
{
	static const uint8_t zeros[65536];
	uint64_t to = (need + 2 * PREALLOC_CHUNK - 1) / PREALLOC_CHUNK * PREALLOC_CHUNK, at;

	at = log->alloc_end > log->end_off ? log->alloc_end : log->end_off;
	while (at < to) {
		size_t n = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;

		if (pwrite_all(log->fd_entries, zeros, n, at) < 0)
			break;
		at += n;
	}
	log->alloc_end = at;
}

/* Writes entries [first, first+k) (their slots are READY).  0 or -1
 * (entries not durable).  *derived_failed is set when the entries are
 * durable but the derived files could not be written; *sync_ns is the
 * fdatasync's duration when it succeeded. */
static int
write_batch(struct audit_log *log, uint64_t first, uint64_t k, int *derived_failed,
    uint64_t *sync_ns)
{
	size_t total = 0, nh = 0;
	uint64_t off = log->end_off, n0 = log->builder.n, t0;
	uint8_t emit[65][AUDIT_HASH_SIZE];

	*derived_failed = 0;
	for (uint64_t i = 0; i < k; i++)
		total += slot_of(log, first + i)->reclen;
	if (grow((void **)&log->batchbuf, &log->batchcap, total, 1) < 0 ||
	    grow((void **)&log->offbuf, &log->offcap, (size_t)k * 8, 1) < 0)
		return -1;
	total = 0;
	for (uint64_t i = 0; i < k; i++) {
		struct slot *s = slot_of(log, first + i);

		memcpy(log->batchbuf + total, s->rec, s->reclen);
		audit_put_u64(log->offbuf + i * 8, off + total);
		total += s->reclen;
	}
	if (off + total > log->alloc_end)
		pad_ahead(log, off + total);
	if (pwrite_all(log->fd_entries, log->batchbuf, total, off) < 0) {
		util_warn("%s/entries: write", log->dir);
		if (ftruncate(log->fd_entries, (off_t)off) < 0)
			util_warn("%s/entries: truncate", log->dir);
		log->alloc_end = off;
		return -1;
	}
	t0 = util_mono_ns();
	if (fdatasync(log->fd_entries) < 0) {
		util_warn("%s/entries: fdatasync", log->dir);
		return -1;
	}
	*sync_ns = util_mono_ns() - t0;
	log->end_off = off + total;
	/* Derived data. */
	for (uint64_t i = 0; i < k; i++) {
		int m = audit_builder_add(&log->builder, slot_of(log, first + i)->leaf, emit);

		if (grow((void **)&log->hashbuf, &log->hashcap, nh + (size_t)m, AUDIT_HASH_SIZE) < 0) {
			*derived_failed = 1;
			return 0;
		}
		memcpy(log->hashbuf[nh], emit, (size_t)m * AUDIT_HASH_SIZE);
		nh += (size_t)m;
	}
	if (derived_write(log, n0, nh, (size_t)k) < 0) {
		util_warn("%s: writing hashes/offsets", log->dir);
		*derived_failed = 1;
	}
	return 0;
}

const double audit_sync_bounds[AUDIT_SYNC_NB] = {
	50e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 1e-3, 2e-3, 5e-3, 20e-3, 100e-3
};
const double audit_batch_bounds[AUDIT_BATCH_NB] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 };

/* Fails every READY slot (mu held); collects their callbacks. */
static size_t
fail_pending_locked(struct audit_log *log, size_t ncb)
{
	for (uint64_t i = log->head; i < log->next_index; i++) {
		struct slot *s = slot_of(log, i);

		if (s->state == SLOT_READY) {
			if (s->done != NULL && grow((void **)&log->cbs, &log->cbcap, ncb + 1,
			    sizeof *log->cbs) == 0)
				log->cbs[ncb++] = (struct callback){ s->done, s->arg, s->index };
			log->st.failed++;
		}
		free(s->rec);
		s->rec = NULL;
		s->state = SLOT_FREE;
	}
	log->head = log->next_index;
	pthread_cond_broadcast(&log->cv_space);
	return ncb;
}

static void *
writer_main(void *arg)
{
	struct audit_log *log = arg;

	pthread_mutex_lock(&log->mu);
	for (;;) {
		uint64_t k = 0, bytes = 0, first, sync_ns = 0;
		size_t ncb = 0;
		int ok, derived_failed = 0, want_cp = 0;

		if (log->failed) {
			ncb = fail_pending_locked(log, 0);
			if (ncb > 0) {
				pthread_mutex_unlock(&log->mu);
				for (size_t i = 0; i < ncb; i++)
					log->cbs[i].done(log->cbs[i].arg, log->cbs[i].index, -1);
				pthread_mutex_lock(&log->mu);
				continue;
			}
			if (log->stopping)
				break;
			pthread_cond_wait(&log->cv_writer, &log->mu);
			continue;
		}
		if (log->head == log->next_index) {
			uint64_t due = log->cp_time_ns + (uint64_t)log->cfg.checkpoint_every_ms * 1000000u;

			if (log->size > log->cp_size && (log->stopping || util_mono_ns() >= due)) {
				pthread_mutex_unlock(&log->mu);
				if (checkpoint_now(log) < 0) {
					pthread_mutex_lock(&log->mu);
					log->failed = 1;
					continue;
				}
				pthread_mutex_lock(&log->mu);
				continue;
			}
			if (log->stopping)
				break;
			if (log->size > log->cp_size) {
				struct timespec ts;

				abs_from_mono(due, &ts);
				pthread_cond_timedwait(&log->cv_writer, &log->mu, &ts);
			} else {
				pthread_cond_wait(&log->cv_writer, &log->mu);
			}
			continue;
		}
		{
			struct slot *s = slot_of(log, log->head);

			if (s->state == SLOT_RESERVED) {
				if (util_mono_ns() >= s->deadline_ns) {
					void_slot_locked(log, s);
				} else {
					struct timespec ts;

					abs_from_mono(s->deadline_ns, &ts);
					pthread_cond_timedwait(&log->cv_writer, &log->mu, &ts);
					continue;
				}
			}
		}
		if (log->failed)
			continue;
		/* Take every ready entry in order: the batch adapts to load. */
		first = log->head;
		while (first + k < log->next_index && k < BATCH_MAX_ENTRIES) {
			struct slot *s = slot_of(log, first + k);

			if (s->state != SLOT_READY || (k > 0 && bytes + s->reclen > BATCH_MAX_BYTES))
				break;
			bytes += s->reclen;
			k++;
		}
		pthread_mutex_unlock(&log->mu);
		ok = write_batch(log, first, k, &derived_failed, &sync_ns) == 0;
		pthread_mutex_lock(&log->mu);
		for (uint64_t i = 0; i < k; i++) {
			struct slot *s = slot_of(log, first + i);

			if (s->done != NULL && grow((void **)&log->cbs, &log->cbcap, ncb + 1,
			    sizeof *log->cbs) == 0)
				log->cbs[ncb++] = (struct callback){ s->done, s->arg, s->index };
			free(s->rec);
			s->rec = NULL;
			s->state = SLOT_FREE;
		}
		log->head = first + k;
		if (ok) {
			log->size = log->head;
			log->st.appended += k;
			log->st.batches++;
			log->st.syncs++;
			log->st.sync_ns += sync_ns;
			log->st.sync_bucket[util_bucket(audit_sync_bounds, AUDIT_SYNC_NB, (double)sync_ns / 1e9)]++;
			log->st.batch_bucket[util_bucket(audit_batch_bounds, AUDIT_BATCH_NB, (double)k)]++;
			if (k > log->st.max_batch)
				log->st.max_batch = k;
			if (!derived_failed)
				log->hashes_n = log->size;
		} else {
			log->st.failed += k;
		}
		if (!ok || derived_failed)
			log->failed = 1;
		/* every N entries, or every T ms even when the writer is never idle */
		want_cp = ok && !derived_failed &&
		    (log->size - log->cp_size >= (uint64_t)log->cfg.checkpoint_every_entries ||
		    util_mono_ns() >= log->cp_time_ns + (uint64_t)log->cfg.checkpoint_every_ms * 1000000u);
		pthread_cond_broadcast(&log->cv_space);
		pthread_mutex_unlock(&log->mu);
		for (size_t i = 0; i < ncb; i++)
			log->cbs[i].done(log->cbs[i].arg, log->cbs[i].index, ok ? 0 : -1);
		if (want_cp && checkpoint_now(log) < 0) {
			pthread_mutex_lock(&log->mu);
			log->failed = 1;
			continue;
		}
		pthread_mutex_lock(&log->mu);
	}
	pthread_mutex_unlock(&log->mu);
	return NULL;
}

int
audit_reserve(struct audit_log *log, uint64_t *index)
{
	struct slot *s;

	if (log == NULL || !log->writable) {
		errno = EBADF;
		return -1;
	}
	pthread_mutex_lock(&log->mu);
	while (!log->failed && !log->stopping && log->next_index - log->head >= log->cap)
		pthread_cond_wait(&log->cv_space, &log->mu);
	if (log->failed || log->stopping) {
		pthread_mutex_unlock(&log->mu);
		errno = EIO;
		return -1;
	}
	*index = log->next_index++;
	s = slot_of(log, *index);
	s->index = *index;
	s->state = SLOT_RESERVED;
	s->deadline_ns = deadline_from_now(log->cfg.reserve_timeout_ms);
	s->rec = NULL;
	s->done = NULL;
	if (*index == log->head)
		pthread_cond_signal(&log->cv_writer); /* start its deadline */
	pthread_mutex_unlock(&log->mu);
	return 0;
}

/* Hands a framed record (taken) for a reserved index to the writer. */
static int
commit_record(struct audit_log *log, uint64_t index, uint8_t *rec, uint32_t reclen,
    const uint8_t leaf[AUDIT_HASH_SIZE], audit_done_fn done, void *arg)
{
	struct slot *s;
	int err = 0;

	pthread_mutex_lock(&log->mu);
	s = slot_of(log, index);
	if (log->failed)
		err = EIO;
	else if (index < log->head || index >= log->next_index || s->index != index ||
	    s->state != SLOT_RESERVED)
		err = ETIMEDOUT;
	if (err != 0) {
		pthread_mutex_unlock(&log->mu);
		free(rec);
		errno = err;
		return -1;
	}
	s->rec = rec;
	s->reclen = reclen;
	memcpy(s->leaf, leaf, AUDIT_HASH_SIZE);
	s->done = done;
	s->arg = arg;
	s->state = SLOT_READY;
	if (index == log->head)
		pthread_cond_signal(&log->cv_writer);
	pthread_mutex_unlock(&log->mu);
	return 0;
}

int
audit_commit(struct audit_log *log, uint64_t index, const struct audit_entry *e, audit_done_fn done,
    void *arg)
{
	uint8_t leaf[AUDIT_HASH_SIZE], *rec;
	uint32_t reclen;
	int err;

	if (log == NULL || !log->writable) {
		errno = EBADF;
		return -1;
	}
	if ((rec = make_record(log, e, index, &reclen, leaf)) == NULL) {
		err = errno;
		audit_cancel(log, index);
		errno = err;
		return -1;
	}
	return commit_record(log, index, rec, reclen, leaf, done, arg);
}

int
audit_commit_encoded(struct audit_log *log, uint64_t index, const uint8_t *enc, size_t n,
    const uint8_t leaf[AUDIT_HASH_SIZE], audit_done_fn done, void *arg)
{
	uint8_t *rec;
	uint32_t reclen;
	uint64_t got;
	int err;

	if (log == NULL || !log->writable) {
		errno = EBADF;
		return -1;
	}
	/* the one field that must match the slot: the entry's own index */
	if (n == 0 || n > AUDIT_ENTRY_MAX || audit_entry_index(enc, n, &got) < 0 || got != index) {
		audit_cancel(log, index);
		errno = EINVAL;
		return -1;
	}
	if ((rec = frame_record(enc, n, leaf, &reclen)) == NULL) {
		err = errno;
		audit_cancel(log, index);
		errno = err;
		return -1;
	}
	return commit_record(log, index, rec, reclen, leaf, done, arg);
}

void
audit_cancel(struct audit_log *log, uint64_t index)
{
	struct slot *s;

	if (log == NULL || !log->writable)
		return;
	pthread_mutex_lock(&log->mu);
	s = slot_of(log, index);
	if (!log->failed && index >= log->head && index < log->next_index && s->index == index &&
	    s->state == SLOT_RESERVED) {
		void_slot_locked(log, s);
		pthread_cond_signal(&log->cv_writer);
	}
	pthread_mutex_unlock(&log->mu);
}

int
audit_append(struct audit_log *log, const struct audit_entry *e, audit_done_fn done, void *arg,
    uint64_t *index)
{
	uint64_t i;

	if (audit_reserve(log, &i) < 0)
		return -1;
	if (index != NULL)
		*index = i;
	return audit_commit(log, i, e, done, arg);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, status;
};

static void
waiter_done(void *arg, uint64_t index, int status)
{
	struct waiter *w = arg;

	(void)index;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->status = status;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int
audit_append_wait(struct audit_log *log, const struct audit_entry *e, uint64_t *index)
{
	struct waiter w;
	int rc;

	memset(&w, 0, sizeof w);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (audit_append(log, e, waiter_done, &w, index) < 0) {
		rc = -1;
		goto out;
	}
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	rc = w.status == 0 ? 0 : -1;
	if (rc < 0)
		errno = EIO;
out:
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

int
audit_append_once(const char *datadir, const struct audit_entry *e, uint64_t *index)
{
	char *dir = util_aprintf("%s/audit", datadir);
	struct audit_log *log;
	int rc, saved;

	if (dir == NULL)
		return -1;
	log = audit_open(dir, NULL, AUDIT_WRITE);
	free(dir);
	if (log == NULL)
		return -1;
	rc = audit_append_wait(log, e, index);
	saved = errno;
	audit_close(log);
	errno = saved;
	return rc;
}

void
audit_close(struct audit_log *log)
{
	if (log == NULL)
		return;
	if (log->thread_started) {
		pthread_mutex_lock(&log->mu);
		log->stopping = 1;
		pthread_cond_broadcast(&log->cv_writer);
		pthread_cond_broadcast(&log->cv_space);
		pthread_mutex_unlock(&log->mu);
		pthread_join(log->thread, NULL);
	}
	/* cut the padding: a closed log ends with its last entry */
	if (log->writable && log->fd_entries >= 0 && !log->failed && log->alloc_end > log->end_off &&
	    ftruncate(log->fd_entries, (off_t)log->end_off) < 0)
		util_warn("%s/entries: cutting the padding", log->dir);
	if (log->slots != NULL) {
		for (uint64_t i = 0; i < log->cap; i++)
			free(log->slots[i].rec);
		free(log->slots);
	}
	if (log->fd_entries >= 0)
		(void)close(log->fd_entries);
	if (log->fd_hashes >= 0)
		(void)close(log->fd_hashes);
	if (log->fd_offsets >= 0)
		(void)close(log->fd_offsets);
	if (log->fd_cps >= 0)
		(void)close(log->fd_cps);
	if (log->fd_lock >= 0)
		(void)close(log->fd_lock); /* releases the flock */
	key_free(log->key);
	pthread_mutex_destroy(&log->mu);
	pthread_cond_destroy(&log->cv_writer);
	pthread_cond_destroy(&log->cv_space);
	free(log->batchbuf);
	free(log->hashbuf);
	free(log->offbuf);
	free(log->tail_offs);
	free(log->cbs);
	free(log->dir);
	free(log);
}

/* ---- reading ---- */

uint64_t
audit_size(struct audit_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->size;
	pthread_mutex_unlock(&log->mu);
	return n;
}

uint64_t
audit_first(struct audit_log *log)
{
	return log->first;
}

const char *
audit_dir(struct audit_log *log)
{
	return log->dir;
}

const char *
audit_origin(struct audit_log *log)
{
	return log->origin;
}

void
audit_get_stats(struct audit_log *log, struct audit_stats *st)
{
	pthread_mutex_lock(&log->mu);
	*st = log->st;
	pthread_mutex_unlock(&log->mu);
}

int
audit_get(struct audit_log *log, uint64_t index, struct audit_record *r)
{
	uint8_t b4[4];
	uint8_t *buf = NULL;
	uint64_t off;
	uint32_t l;
	const char *why = "";
	int rc = -1;

	if (index >= audit_size(log) || index < log->first || log->fd_entries < 0) {
		errno = ENOENT;
		return -1;
	}
	if (entry_offset(log, index, &off) < 0 || pread_all(log->fd_entries, b4, 4, off) < 0) {
		why = "cannot read its offset or header";
		goto bad;
	}
	l = audit_get_u32(b4);
	if (l == 0 && pruned_since_open(log, index)) {
		errno = ENOENT;
		return -1;
	}
	if (l == 0 || l > AUDIT_ENTRY_MAX) {
		why = "bad record length";
		goto bad;
	}
	if ((buf = malloc(l + AUDIT_REC_TRAILER)) == NULL)
		return -1;
	if (pread_all(log->fd_entries, buf, l + AUDIT_REC_TRAILER, off + AUDIT_REC_HDR) < 0) {
		why = "short read";
		goto bad;
	}
	if (audit_entry_decode(buf, l, r, &why) < 0)
		goto bad;
	if (r->e.index != index) {
		why = "index field does not match";
		goto bad;
	}
	if (memcmp(buf + l, r->leaf_hash, AUDIT_REC_TRAILER) != 0) {
		why = "check bytes do not match";
		goto bad;
	}
	rc = 0;
	goto out;
bad:
	util_errx("%s/entries: entry %llu is corrupt (%s)", log->dir, (unsigned long long)index, why);
	errno = EBADMSG;
out:
	free(buf);
	return rc;
}

int
audit_scan(struct audit_log *log, uint64_t from, uint64_t to,
    int (*fn)(void *arg, const struct audit_record *r), void *arg)
{
	struct audit_recreader rr;
	struct audit_record *rec = NULL;
	uint64_t off, i, recoff, limit = audit_size(log);
	const uint8_t *e;
	size_t elen;
	const char *why = "";
	enum audit_rec_status st;
	int rc = -1, r;

	if (log->fd_entries < 0)
		return 0;
	if (from < log->first)
		from = log->first;
	if (to > limit)
		to = limit; /* a reader sees the log as it was when opened */
	if (from >= to)
		return 0;
	if (from == log->first && log->first > 0) {
		off = log->first_off;
	} else if (from < limit) {
		if (entry_offset(log, from, &off) < 0) {
			util_warn("%s/offsets", log->dir);
			return -1;
		}
	} else if (from == limit) {
		off = log->end_off;
	} else {
		return 0;
	}
	if ((rec = malloc(sizeof *rec)) == NULL)
		return -1;
	if (audit_rr_init(&rr, log->fd_entries, off) < 0) {
		free(rec);
		return -1;
	}
	for (i = from; i < to; i++) {
		st = audit_rr_next(&rr, &e, &elen, &recoff, rec, NULL, &why);
		if (st == AUDIT_REC_OK && rec->e.index != i) {
			st = AUDIT_REC_BAD;
			why = "index field does not match the entry's position";
		}
		if (st == AUDIT_REC_END)
			break;
		if (st == AUDIT_REC_IOERR) {
			util_warn("%s/entries", log->dir);
			goto out;
		}
		if (st != AUDIT_REC_OK) {
			/* Past the known end, an invalid tail is a write in progress. */
			if (i >= limit)
				break;
			util_errx("%s/entries: entry %llu is corrupt (%s)", log->dir, (unsigned long long)i,
			    why);
			errno = EBADMSG;
			goto out;
		}
		if ((r = fn(arg, rec)) != 0) {
			rc = r > 0 ? 0 : -1;
			goto out;
		}
	}
	rc = 0;
out:
	audit_rr_free(&rr);
	free(rec);
	return rc;
}

int
audit_latest_checkpoint(struct audit_log *log, struct audit_checkpoint *cp)
{
	int rc = 0;

	pthread_mutex_lock(&log->mu);
	if (log->have_latest)
		*cp = log->latest;
	else
		rc = -1;
	pthread_mutex_unlock(&log->mu);
	if (rc < 0)
		errno = ENOENT;
	return rc;
}

static uint64_t
hashes_avail(struct audit_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->hashes_n;
	pthread_mutex_unlock(&log->mu);
	return n;
}

int
audit_root(struct audit_log *log, uint64_t size, uint8_t root[AUDIT_HASH_SIZE])
{
	struct audit_hashreader rd = { hash_read, log };

	if (size > hashes_avail(log)) {
		errno = ERANGE;
		return -1;
	}
	if (size == 0) {
		audit_tree_root(NULL, 0, root);
		return 0;
	}
	return audit_subtree_hash(&rd, 0, size, root);
}

int
audit_inclusion_proof(struct audit_log *log, uint64_t index, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	struct audit_hashreader rd = { hash_read, log };

	if (size > hashes_avail(log)) {
		errno = ERANGE;
		return -1;
	}
	return audit_gen_inclusion(&rd, index, size, proof, n);
}

int
audit_consistency_proof(struct audit_log *log, uint64_t old, uint64_t new_size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	struct audit_hashreader rd = { hash_read, log };

	if (new_size > hashes_avail(log)) {
		errno = ERANGE;
		return -1;
	}
	return audit_gen_consistency(&rd, old, new_size, proof, n);
}

char *
audit_prove(struct audit_log *log, uint64_t index)
{
	struct audit_checkpoint cp;
	uint8_t proof[AUDIT_PROOF_MAX_HASHES][AUDIT_HASH_SIZE];
	uint8_t b4[4], *entry = NULL;
	char *out = NULL, *p, *b64 = NULL;
	uint64_t off;
	uint32_t l;
	size_t n, cap;

	if (audit_latest_checkpoint(log, &cp) < 0)
		return NULL;
	if (index >= cp.size) {
		errno = ERANGE;
		return NULL;
	}
	if (index < log->first) {
		errno = ENOENT;
		return NULL;
	}
	if (audit_inclusion_proof(log, index, cp.size, proof, &n) < 0)
		return NULL;
	if (entry_offset(log, index, &off) < 0 || pread_all(log->fd_entries, b4, 4, off) < 0)
		return NULL;
	l = audit_get_u32(b4);
	if (l == 0 && pruned_since_open(log, index)) {
		errno = ENOENT;
		return NULL;
	}
	if (l == 0 || l > AUDIT_ENTRY_MAX) {
		errno = EBADMSG;
		return NULL;
	}
	if ((entry = malloc(l)) == NULL || (b64 = malloc(4 * ((l + 2) / 3) + 1)) == NULL ||
	    pread_all(log->fd_entries, entry, l, off + AUDIT_REC_HDR) < 0)
		goto out;
	audit_b64_encode(entry, l, b64);
	cap = 64 + strlen(b64) + n * 46 + cp.textlen + 64;
	if ((out = malloc(cap)) == NULL)
		goto out;
	p = out;
	p += sprintf(p, "c2sp.org/tlog-proof@v1\nextra %s\nindex %llu\n", b64, (unsigned long long)index);
	for (size_t i = 0; i < n; i++) {
		char h[48];

		audit_b64_encode(proof[i], AUDIT_HASH_SIZE, h);
		p += sprintf(p, "%s\n", h);
	}
	*p++ = '\n';
	memcpy(p, cp.text, cp.textlen);
	p[cp.textlen] = '\0';
out:
	free(entry);
	free(b64);
	return out;
}

int
audit_tile(struct audit_log *log, int level, uint64_t n, int w, uint8_t *out)
{
	struct audit_checkpoint cp;
	int h = level * 8;

	if (level < 0 || level > 7 || w < 1 || w > 256 || audit_latest_checkpoint(log, &cp) < 0) {
		errno = EINVAL;
		return -1;
	}
	/* Hashes at height 8L, indices 256n .. 256n+w-1, must be complete. */
	if (((n * 256 + (uint64_t)w) << h) > cp.size) {
		errno = ERANGE;
		return -1;
	}
	for (int i = 0; i < w; i++)
		if (hash_read(log, audit_stored_index(h, n * 256 + (uint64_t)i), out + i * AUDIT_HASH_SIZE) < 0)
			return -1;
	return 0;
}

/* ---- prune ---- */

struct prune_ctx {
	int64_t before;
	uint64_t limit, cut;
};

static int
prune_cb(void *arg, const struct audit_record *r)
{
	struct prune_ctx *c = arg;

	if (r->e.index >= c->limit || r->e.time_us >= c->before)
		return 1;
	c->cut = r->e.index + 1;
	return 0;
}

int
audit_prune(const char *auditdir, int64_t before_us, uint64_t *first)
{
	struct audit_log *log = audit_open(auditdir, NULL, AUDIT_RDONLY);
	struct prune_ctx c;
	char *marker = NULL, *text = NULL;
	uint64_t off;
	int fd = -1, rc = -1;

	if (log == NULL)
		return -1;
	*first = log->first;
	c.before = before_us;
	c.limit = log->have_latest ? log->latest.size : 0; /* only checkpointed entries */
	c.cut = log->first;
	if (audit_scan(log, log->first, c.limit, prune_cb, &c) < 0)
		goto out;
	if (c.cut <= log->first) {
		rc = 0;
		goto out;
	}
	if (c.cut >= log->size) {
		off = log->end_off;
	} else if (entry_offset(log, c.cut, &off) < 0) {
		util_warn("%s/offsets", auditdir);
		goto out;
	}
	/* Mark first (readers skip the range), then drop the bytes. */
	if ((marker = path_in(log, "pruned")) == NULL ||
	    (text = util_aprintf("first %llu %llu\n", (unsigned long long)c.cut,
	    (unsigned long long)off)) == NULL)
		goto out;
	if (util_write_file_atomic(marker, text, strlen(text), 0600) < 0) {
		util_warn("%s", marker);
		goto out;
	}
	{
		char *ep = path_in(log, "entries");

		if (ep == NULL)
			goto out;
		fd = open(ep, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			util_warn("%s", ep);
			free(ep);
			goto out;
		}
		free(ep);
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)off) < 0) {
		/* No hole punching here: overwrite with zeros instead. */
		static const uint8_t zeros[65536];

		for (uint64_t o = 0; o < off; o += sizeof zeros) {
			size_t n = off - o < sizeof zeros ? (size_t)(off - o) : sizeof zeros;
			if (pwrite_all(fd, zeros, n, o) < 0) {
				util_warn("%s/entries: clearing pruned bodies", auditdir);
				goto out;
			}
		}
	}
	if (fdatasync(fd) < 0) {
		util_warn("%s/entries", auditdir);
		goto out;
	}
	*first = c.cut;
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	free(marker);
	free(text);
	audit_close(log);
	return rc;
}
