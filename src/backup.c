/*
 * backup.c - backup and restore of a data directory (see backup.h).
 *
 * Databases are copied with SQLite's online backup API, each in one read
 * transaction (a consistent snapshot; writers in WAL mode are not
 * blocked).  The audit log is cut at its latest whole checkpoint record:
 * `checkpoints` up to that record, `entries` up to the end of entry N-1,
 * `offsets` N*8 bytes and `hashes` (2N - popcount(N))*32 bytes, N being the
 * checkpoint's size; the writer made all of these durable before it wrote
 * the checkpoint.  Every file is hashed (SHA-256) as it is written and
 * listed in MANIFEST, which is written last: a backup without a manifest is
 * incomplete.  Restore trusts nothing in the backup until the manifest,
 * audit_verify and SQLite's integrity check agree.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <sqlite3.h>

#include "audit.h"
#include "datadir.h"
#include "key.h"
#include "migrate.h"
#include "util.h"

#define MAN_FILES_MAX 100000     /* files in one manifest */
#define REL_MAX 256              /* longest relative path in a backup */
#define BACKUP_WAIT_SECONDS 60   /* longest wait for a covering checkpoint */

struct mfile {
	char path[REL_MAX];
	char hex[65];
	uint64_t size;
	int mode;
};

struct manifest {
	struct mfile *f;
	size_t n, cap;
};

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static int
pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int
man_add(struct manifest *m, const char *rel, const uint8_t digest[32], uint64_t size, int mode)
{
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 32;
		struct mfile *nf;
		if (ncap > MAN_FILES_MAX || (nf = realloc(m->f, ncap * sizeof *nf)) == NULL) {
			util_errx("backup: too many files");
			return -1;
		}
		m->f = nf;
		m->cap = ncap;
	}
	if (util_strlcpy(m->f[m->n].path, rel, REL_MAX) < 0) {
		util_errx("backup: %s: path too long", rel);
		return -1;
	}
	util_hex(digest, 32, m->f[m->n].hex);
	m->f[m->n].size = size;
	m->f[m->n].mode = mode;
	m->n++;
	return 0;
}

static int
all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/*
 * Copies the first limit bytes of src (UINT64_MAX: all of it) into a new
 * file dst with mode, hashing what it writes (blocks of zeros become
 * holes); fsyncs dst.  Fails when src
 * is shorter than limit.  *size and digest get what was written.  label
 * names the file in the progress bar (on a terminal).
 */
static int
copy_prefix(const char *src, const char *dst, uint64_t limit, int mode, uint8_t digest[32],
    uint64_t *size, const char *label)
{
	struct util_progress pg;
	struct stat st;
	struct sha256_ctx c;
	static const size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	uint64_t done = 0;
	int in = -1, out = -1, rc = -1;

	memset(&pg, 0, sizeof pg);   /* disabled until init */
	sha256_init(&c);
	if (buf == NULL) {
		util_errx("out of memory");
		goto out;
	}
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		util_warn("%s", src);
		goto out;
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		util_warn("%s", dst);
		goto out;
	}
	util_progress_init(&pg, label, limit != UINT64_MAX ? limit :
	    fstat(in, &st) == 0 ? (uint64_t)st.st_size : 0);
	while (done < limit) {
		size_t want = limit - done < bufsz ? (size_t)(limit - done) : bufsz;
		ssize_t r = read(in, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			util_warn("%s", src);
			goto out;
		}
		if (r == 0) {
			if (limit == UINT64_MAX)
				break;
			util_errx("%s: shorter (%llu bytes) than its checkpoint says (%llu)", src,
			    (unsigned long long)done, (unsigned long long)limit);
			goto out;
		}
		/* Blocks of zeros (the pruned part of `entries`) stay holes. */
		if (all_zero(buf, (size_t)r) ? lseek(out, (off_t)r, SEEK_CUR) < 0 :
		    write_full(out, buf, (size_t)r) < 0) {
			util_warn("%s", dst);
			goto out;
		}
		sha256_update(&c, (size_t)r, (const uint8_t *)buf);
		done += (uint64_t)r;
		util_progress_update(&pg, done);
	}
	if (ftruncate(out, (off_t)done) < 0 || fchmod(out, (mode_t)mode) < 0 || fsync(out) < 0) {
		util_warn("%s", dst);
		goto out;
	}
	sha256_digest(&c, 32, digest);
	*size = done;
	rc = 0;
out:
	util_progress_done(&pg);
	if (in >= 0)
		(void)close(in);
	if (out >= 0 && close(out) < 0 && rc == 0) {
		util_warn("%s", dst);
		rc = -1;
	}
	free(buf);
	return rc;
}

/* SHA-256 and size of a whole file.  0 or -1. */
static int
hash_file(const char *path, uint8_t digest[32], uint64_t *size)
{
	struct sha256_ctx c;
	static const size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = -1, rc = -1;

	sha256_init(&c);
	*size = 0;
	if (buf == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		util_warn("%s", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, bufsz);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			util_warn("%s", path);
			goto out;
		}
		if (r == 0)
			break;
		sha256_update(&c, (size_t)r, (const uint8_t *)buf);
		*size += (uint64_t)r;
	}
	sha256_digest(&c, 32, digest);
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	free(buf);
	return rc;
}

/* Copies the SQLite database src into a new file dst (0600) with the
 * online backup API.  0 or -1. */
static int
db_backup(const char *src, const char *dst)
{
	sqlite3 *s = NULL, *d = NULL;
	sqlite3_backup *b = NULL;
	struct util_progress pg;
	int rc = -1, r;

	memset(&pg, 0, sizeof pg);   /* disabled until init */
	if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		util_errx("%s: %s", src, s ? sqlite3_errmsg(s) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(s, 10000);
	if (sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		util_errx("%s: %s", dst, d ? sqlite3_errmsg(d) : "cannot create");
		goto out;
	}
	if (chmod(dst, 0600) < 0) {
		util_warn("%s", dst);
		goto out;
	}
	if ((b = sqlite3_backup_init(d, "main", s, "main")) == NULL) {
		util_errx("%s: backup: %s", src, sqlite3_errmsg(d));
		goto out;
	}
	/* One step copies every page within one read transaction: a snapshot
	 * (so the bar only names the file). */
	util_progress_init(&pg, strrchr(src, '/') != NULL ? strrchr(src, '/') + 1 : src, 0);
	util_progress_update(&pg, 0);
	for (int tries = 0; tries < 100; tries++) {
		r = sqlite3_backup_step(b, -1);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_BUSY && r != SQLITE_LOCKED) {
			util_errx("%s: backup: %s", src, sqlite3_errstr(r));
			goto out;
		}
		sqlite3_sleep(100);
	}
	if (r != SQLITE_DONE) {
		util_errx("%s: backup: the database stayed busy", src);
		goto out;
	}
	r = sqlite3_backup_finish(b);
	b = NULL;
	if (r != SQLITE_OK) {
		util_errx("%s: backup: %s", src, sqlite3_errstr(r));
		goto out;
	}
	/* A self-contained file: no -wal beside it. */
	if (sqlite3_exec(d, "PRAGMA journal_mode = DELETE;", NULL, NULL, NULL) != SQLITE_OK) {
		util_errx("%s: %s", dst, sqlite3_errmsg(d));
		goto out;
	}
	rc = 0;
out:
	util_progress_done(&pg);
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close(d);
	sqlite3_close(s);
	return rc;
}

/* Where the log is cut: the latest whole checkpoint record. */
struct cut {
	uint64_t size;           /* N, entries covered */
	uint64_t cps_end;        /* bytes of `checkpoints` up to and with it */
	uint64_t entries_end;    /* bytes of `entries` holding entries 0..N-1 */
	uint64_t offsets_len, hashes_len;
	char note[AUDIT_NOTE_MAX];
	size_t notelen;
};

static int
popcount64(uint64_t x)
{
	int n = 0;

	for (; x != 0; x &= x - 1)
		n++;
	return n;
}

/* Finds the cut of the log in auditdir; verifier checks the note. */
static int
find_cut(const char *auditdir, const char *verifier, struct cut *c, char *origin, size_t originsz)
{
	char path[PATH_MAX];
	struct audit_checkpoint *cp = NULL;
	struct stat st;
	uint64_t off = 0, last = UINT64_MAX, sz;
	uint8_t b8[8];
	uint32_t l = 0;
	const char *why;
	int fd = -1, rc = -1;

	memset(c, 0, sizeof *c);
	if (datadir_path(auditdir, "checkpoints", path, sizeof path) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		util_warn("%s (no checkpoint yet: start the server or run a command that "
		    "writes the audit log first)", path);
		goto out;
	}
	sz = (uint64_t)st.st_size;
	/* Records are u32 len, note, u32 len.  Usually the file ends with a
	 * whole one; while the writer is appending, retry a little; else walk
	 * every record from the start (a torn tail is skipped). */
	for (int tries = 0; tries < 20 && last == UINT64_MAX; tries++) {
		if (tries > 0) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			if (fstat(fd, &st) < 0)
				goto io;
			sz = (uint64_t)st.st_size;
		}
		if (sz < 8 || pread_full(fd, b8, 4, sz - 4) < 0)
			continue;
		l = get_u32(b8);
		if (l == 0 || l >= AUDIT_NOTE_MAX || sz < (uint64_t)l + 8 ||
		    pread_full(fd, b8 + 4, 4, sz - 8 - l) < 0 || get_u32(b8 + 4) != l)
			continue;
		last = sz - 8 - l;
		off = sz;
	}
	if (last == UINT64_MAX) {
		uint64_t wlast = UINT64_MAX, wend = 0;

		off = 0;
		while (off + 8 <= sz) {
			if (pread_full(fd, b8, 4, off) < 0)
				goto io;
			l = get_u32(b8);
			if (l == 0 || l >= AUDIT_NOTE_MAX || off + 8 + l > sz)
				break;
			if (pread_full(fd, b8 + 4, 4, off + 4 + l) < 0)
				goto io;
			if (get_u32(b8 + 4) != l)
				break;
			wlast = off;
			off += 8 + (uint64_t)l;
			wend = off;
		}
		last = wlast;
		off = wend;
	}
	if (last == UINT64_MAX) {
		util_errx("%s: no whole checkpoint record", path);
		goto out;
	}
	l = (uint32_t)(off - last - 8);
	if (pread_full(fd, c->note, l, last + 4) < 0)
		goto io;
	c->note[l] = '\0';
	c->notelen = l;
	c->cps_end = off;
	if ((cp = util_calloc(1, sizeof *cp)) == NULL)
		goto out;
	if (audit_checkpoint_parse(c->note, l, verifier, cp, &why) < 0) {
		util_errx("%s: latest checkpoint: %s", path, why);
		goto out;
	}
	if (util_strlcpy(origin, cp->origin, originsz) < 0)
		goto out;
	c->size = cp->size;
	c->offsets_len = c->size * 8;
	c->hashes_len = (2 * c->size - (uint64_t)popcount64(c->size)) * AUDIT_HASH_SIZE;
	(void)close(fd);
	fd = -1;
	if (c->size > 0) {
		uint64_t eoff;
		uint8_t b4[4];

		if (datadir_path(auditdir, "offsets", path, sizeof path) < 0)
			goto out;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
		    pread_full(fd, b8, 8, (c->size - 1) * 8) < 0)
			goto io;
		eoff = get_u64(b8);
		(void)close(fd);
		if (datadir_path(auditdir, "entries", path, sizeof path) < 0)
			goto out;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || pread_full(fd, b4, 4, eoff) < 0)
			goto io;
		c->entries_end = eoff + 4 + get_u32(b4) + 4;
	}
	rc = 0;
	goto out;
io:
	util_warn("%s", path);
out:
	if (fd >= 0)
		(void)close(fd);
	free(cp);
	return rc;
}

/* Copies datadir/rel to outdir/rel (limit bytes) and lists it.  A missing
 * optional file is skipped. */
static int
copy_rel(const char *datadir, const char *outdir, const char *rel, uint64_t limit, int mode,
    int optional, struct manifest *m)
{
	char src[PATH_MAX], dst[PATH_MAX];
	uint8_t d[32];
	uint64_t size;

	if (datadir_path(datadir, rel, src, sizeof src) < 0 ||
	    datadir_path(outdir, rel, dst, sizeof dst) < 0)
		return -1;
	if (optional && access(src, F_OK) != 0)
		return 0;
	if (copy_prefix(src, dst, limit, mode, d, &size, rel) < 0)
		return -1;
	return man_add(m, rel, d, size, mode);
}

/* Writes buf as outdir/rel (mode) and lists it. */
static int
write_rel(const char *outdir, const char *rel, const char *buf, size_t len, int mode,
    struct manifest *m)
{
	char dst[PATH_MAX];
	uint8_t d[32];
	struct sha256_ctx c;

	if (datadir_path(outdir, rel, dst, sizeof dst) < 0)
		return -1;
	if (util_write_file_atomic(dst, buf, len, mode) < 0) {
		util_warn("%s", dst);
		return -1;
	}
	sha256_init(&c);
	sha256_update(&c, len, (const uint8_t *)buf);
	sha256_digest(&c, 32, d);
	return man_add(m, rel, d, len, mode);
}

static int
dir_empty_or_absent(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return errno == ENOENT;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int
mkdir_in(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	if (datadir_path(dir, rel, p, sizeof p) < 0)
		return -1;
	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		util_warn("%s", p);
		return -1;
	}
	return 0;
}

/* Copies every regular file of datadir/documents. */
static int
copy_documents(const char *datadir, const char *outdir, struct manifest *m)
{
	char p[PATH_MAX], rel[REL_MAX];
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (datadir_path(datadir, DATADIR_DOCUMENTS, p, sizeof p) < 0)
		return -1;
	if ((d = opendir(p)) == NULL)
		return errno == ENOENT ? 0 : (util_warn("%s", p), -1);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat st;
		char src[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(rel, sizeof rel, "%s/%s", DATADIR_DOCUMENTS, e->d_name) >= sizeof rel ||
		    datadir_path(datadir, rel, src, sizeof src) < 0 || lstat(src, &st) < 0) {
			rc = -1;
			break;
		}
		if (S_ISREG(st.st_mode))
			rc = copy_rel(datadir, outdir, rel, UINT64_MAX, 0600, 0, m);
	}
	closedir(d);
	return rc;
}

static int
write_manifest(const char *outdir, const struct manifest *m, const struct cut *c,
    const char *origin)
{
	char path[PATH_MAX], when[32];
	char *text = NULL, *t;
	int rc = -1;

	util_time_format(util_now_us(), when);
	if ((text = util_aprintf(BACKUP_MAGIC "\ncreated %s\norigin %s\naudit_size %llu\n", when,
	    origin, (unsigned long long)c->size)) == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		t = util_aprintf("%sfile %s %llu %04o %s\n", text, m->f[i].hex,
		    (unsigned long long)m->f[i].size, (unsigned)m->f[i].mode, m->f[i].path);
		if (t == NULL)
			goto out;
		free(text);
		text = t;
	}
	if (datadir_path(outdir, BACKUP_MANIFEST, path, sizeof path) < 0)
		goto out;
	if (util_write_file_atomic(path, text, strlen(text), 0600) < 0) {
		util_warn("%s", path);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* 1 when a process (the server) holds the log's lock, else 0. */
static int
log_is_held(const char *auditdir)
{
	char p[PATH_MAX];
	int fd, held = 0;

	if (datadir_path(auditdir, "lock", p, sizeof p) < 0 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		held = errno == EWOULDBLOCK;
	(void)close(fd);   /* releases a lock we took */
	return held;
}

/*
 * Waits (up to BACKUP_WAIT_SECONDS) until a published checkpoint covers
 * every entry the log held just after the databases were copied, so that
 * a registry change already drained from registry.db's queue into the log
 * is in the backup's log too.  Only while a server holds the log: without
 * one, nothing would sign a new checkpoint.  A timeout is a warning.
 */
static int
wait_for_checkpoint(const char *auditdir, const char *verifiers)
{
	struct audit_checkpoint *cp = util_calloc(1, sizeof *cp);
	struct audit_log *log;
	char p[PATH_MAX];
	char *text = NULL;
	uint64_t want, deadline;
	size_t len;
	const char *why;

	if (cp == NULL)
		return -1;
	if (!log_is_held(auditdir) || (log = audit_open(auditdir, NULL, AUDIT_RDONLY)) == NULL) {
		free(cp);
		return 0;
	}
	want = audit_size(log);
	audit_close(log);
	deadline = util_mono_ns() + (uint64_t)BACKUP_WAIT_SECONDS * 1000000000u;
	if (datadir_path(auditdir, "checkpoint", p, sizeof p) < 0) {
		free(cp);
		return -1;
	}
	for (;;) {
		if (util_read_file(p, AUDIT_NOTE_MAX, &text, &len) == 0 &&
		    audit_checkpoint_parse(text, len, verifiers, cp, &why) == 0 && cp->size >= want)
			break;
		free(text);
		text = NULL;
		if (util_mono_ns() > deadline) {
			util_errx("backup: warning: no checkpoint covered entry %llu within %d s; "
			    "audit records of registry changes made just before the backup may be "
			    "missing from it (checkpoint_interval is longer?)",
			    (unsigned long long)want, BACKUP_WAIT_SECONDS);
			break;
		}
		{
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	free(text);
	free(cp);
	return 0;
}

int
backup_create(const char *datadir, const char *outdir, struct backup_info *info)
{
	struct manifest m = { 0 };
	struct cut *c = NULL;
	char auditdir[PATH_MAX], origin[256];
	char *verifiers = NULL;
	char src[PATH_MAX], dst[PATH_MAX];
	int rc = -1;

	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (datadir_check(datadir) < 0)
		return -1;
	if (!dir_empty_or_absent(outdir)) {
		util_errx("%s exists and is not empty; give a new directory", outdir);
		return -1;
	}
	if (util_mkdirs(outdir, 0700) < 0 || chmod(outdir, 0700) < 0) {
		util_warn("%s", outdir);
		return -1;
	}
	if ((c = util_calloc(1, sizeof *c)) == NULL)
		goto out;
	if (mkdir_in(outdir, DATADIR_AUDIT) < 0 || mkdir_in(outdir, KEY_DIR) < 0 ||
	    mkdir_in(outdir, DATADIR_DOCUMENTS) < 0)
		goto out;
	if ((verifiers = key_history(datadir)) == NULL)
		goto out;

	/* 1. The databases, each one snapshot. */
	for (int i = 0; i < MIGRATE_NDB; i++) {
		const char *f = migrate_file((enum migrate_db)i);
		uint8_t d[32];
		uint64_t size;

		if (datadir_path(datadir, f, src, sizeof src) < 0 ||
		    datadir_path(outdir, f, dst, sizeof dst) < 0 || db_backup(src, dst) < 0 ||
		    hash_file(dst, d, &size) < 0 || man_add(&m, f, d, size, 0600) < 0)
			goto out;
	}

	/* 2. The audit log, cut at its latest checkpoint (once that covers
	 * what the log held after the databases were copied). */
	if (datadir_path(datadir, DATADIR_AUDIT, auditdir, sizeof auditdir) < 0 ||
	    wait_for_checkpoint(auditdir, verifiers) < 0 ||
	    find_cut(auditdir, verifiers, c, origin, sizeof origin) < 0)
		goto out;
	if (copy_rel(datadir, outdir, DATADIR_AUDIT "/checkpoints", c->cps_end, 0644, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, DATADIR_AUDIT "/entries", c->entries_end, 0644, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, DATADIR_AUDIT "/offsets", c->offsets_len, 0644, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, DATADIR_AUDIT "/hashes", c->hashes_len, 0644, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, DATADIR_AUDIT "/pruned", UINT64_MAX, 0644, 1, &m) < 0 ||
	    write_rel(outdir, DATADIR_AUDIT "/checkpoint", c->note, c->notelen, 0644, &m) < 0)
		goto out;

	/* 3. Keys (the signer stays 0600), documents, holidays. */
	if (copy_rel(datadir, outdir, DATADIR_KEY, UINT64_MAX, 0600, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, DATADIR_KEY ".pub", UINT64_MAX, 0644, 0, &m) < 0 ||
	    copy_rel(datadir, outdir, KEY_RETIRED, UINT64_MAX, 0644, 1, &m) < 0 ||
	    copy_rel(datadir, outdir, "holidays", UINT64_MAX, 0644, 1, &m) < 0 ||
	    copy_documents(datadir, outdir, &m) < 0)
		goto out;

	/* 4. The manifest, last. */
	if (write_manifest(outdir, &m, c, origin) < 0 || util_fsync_dir(outdir) < 0)
		goto out;
	if (info != NULL) {
		info->audit_size = c->size;
		info->files = m.n;
		for (size_t i = 0; i < m.n; i++)
			info->bytes += m.f[i].size;
		if (util_strlcpy(info->origin, origin, sizeof info->origin) < 0)
			info->origin[0] = '\0';
	}
	rc = 0;
out:
	free(verifiers);
	free(c);
	free(m.f);
	return rc;
}

/* ---- check and restore ---- */

/* A manifest path is relative, without "." or ".." components. */
static int
safe_rel(const char *p)
{
	const char *s = p;

	if (*p == '\0' || *p == '/' || strlen(p) >= REL_MAX)
		return 0;
	while (*s != '\0') {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return 0;
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

/* Parses dir/MANIFEST into m and info.  0 or -1. */
static int
read_manifest(const char *dir, struct manifest *m, struct backup_info *info)
{
	char path[PATH_MAX];
	char *text = NULL, *line, *save = NULL;
	size_t len;
	int rc = -1, lineno = 0, have_size = 0;

	if (datadir_path(dir, BACKUP_MANIFEST, path, sizeof path) < 0)
		return -1;
	if (util_read_file(path, BACKUP_MANIFEST_MAX, &text, &len) < 0) {
		util_warn("%s (not a complete backup)", path);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, BACKUP_MAGIC) != 0)
				goto bad;
			continue;
		}
		if (strncmp(line, "origin ", 7) == 0) {
			if (util_strlcpy(info->origin, line + 7, sizeof info->origin) < 0)
				goto bad;
		} else if (strncmp(line, "audit_size ", 11) == 0) {
			int64_t v;
			if (util_parse_i64(line + 11, 0, INT64_MAX, &v) < 0)
				goto bad;
			info->audit_size = (uint64_t)v;
			have_size = 1;
		} else if (strncmp(line, "file ", 5) == 0) {
			char hex[65], rel[REL_MAX];
			unsigned long long size;
			unsigned mode;
			uint8_t d[32];
			int n = 0;

			if (sscanf(line + 5, "%64s %llu %o %255s%n", hex, &size, &mode, rel, &n) != 4 ||
			    line[5 + n] != '\0' || strlen(hex) != 64 || util_unhex(hex, 64, d, 32) < 0 ||
			    (mode & ~0777u) != 0 || !safe_rel(rel) || man_add(m, rel, d, size, (int)mode) < 0)
				goto bad;
			info->files++;
			info->bytes += size;
		} else if (strncmp(line, "created ", 8) != 0)
			goto bad;
	}
	if (lineno == 0 || !have_size)
		goto bad;
	rc = 0;
	goto out;
bad:
	util_errx("%s:%d: malformed manifest", path, lineno);
out:
	free(text);
	return rc;
}

static const struct mfile *
man_find(const struct manifest *m, const char *rel)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].path, rel) == 0)
			return &m->f[i];
	return NULL;
}

/* SQLite's quick_check on a database copy.  0 or -1. */
static int
db_ok(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		util_errx("%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		util_errx("%s: integrity check: %s", path, (const char *)sqlite3_column_text(st, 0));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static int
check_dir(const char *dir, const char *verifier, struct manifest *m, struct backup_info *info)
{
	static const char *const required[] = { DATADIR_RECORDS, DATADIR_REGISTRY, DATADIR_KEY,
		DATADIR_KEY ".pub", DATADIR_AUDIT "/entries", DATADIR_AUDIT "/checkpoints",
		DATADIR_AUDIT "/checkpoint", DATADIR_AUDIT "/hashes", DATADIR_AUDIT "/offsets" };
	struct audit_verify_result *res = NULL;
	char path[PATH_MAX];
	char *hist = NULL;
	int rc = -1;

	memset(info, 0, sizeof *info);
	if (read_manifest(dir, m, info) < 0)
		return -1;
	for (size_t i = 0; i < UTIL_NELEM(required); i++)
		if (man_find(m, required[i]) == NULL) {
			util_errx("%s: the manifest lacks %s", dir, required[i]);
			goto out;
		}
	/* 1. Every file as listed. */
	for (size_t i = 0; i < m->n; i++) {
		uint8_t d[32];
		char hex[65];
		uint64_t size;

		if (datadir_path(dir, m->f[i].path, path, sizeof path) < 0 ||
		    hash_file(path, d, &size) < 0)
			goto out;
		util_hex(d, 32, hex);
		if (size != m->f[i].size || strcmp(hex, m->f[i].hex) != 0) {
			util_errx("%s: does not match the manifest (size or SHA-256)", path);
			goto out;
		}
	}
	/* 2. The audit log, against the given keys or the backup's own. */
	if (verifier == NULL && (verifier = hist = key_history(dir)) == NULL)
		goto out;
	if ((res = util_calloc(1, sizeof *res)) == NULL ||
	    datadir_path(dir, DATADIR_AUDIT, path, sizeof path) < 0)
		goto out;
	if (audit_verify(path, verifier, 1, res) < 0) {
		util_errx("%s: the audit log does not verify: %s", dir, res->error);
		if (res->bad_index_set)
			util_errx("first bad index: %llu", (unsigned long long)res->bad_index);
		goto out;
	}
	if (res->entries + res->pruned != info->audit_size || res->checkpoints == 0) {
		util_errx("%s: the audit log holds %llu entries, the manifest says %llu", dir,
		    (unsigned long long)(res->entries + res->pruned),
		    (unsigned long long)info->audit_size);
		goto out;
	}
	/* 3. The databases: integrity and schema versions. */
	for (int i = 0; i < MIGRATE_NDB; i++) {
		struct migrate_status ms;

		if (datadir_path(dir, migrate_file((enum migrate_db)i), path, sizeof path) < 0 ||
		    db_ok(path) < 0 || migrate_db_status(path, (enum migrate_db)i, &ms) < 0)
			goto out;
		if (ms.state == MIGRATE_NEWER || ms.state == MIGRATE_BROKEN) {
			util_errx("%s: schema version %d: %s", path, ms.version,
			    migrate_state_name(ms.state));
			goto out;
		}
	}
	rc = 0;
out:
	free(res);
	free(hist);
	return rc;
}

int
backup_check(const char *dir, const char *verifier, struct backup_info *info)
{
	struct manifest m = { 0 };
	struct backup_info tmp;
	int rc;

	rc = check_dir(dir, verifier, &m, info != NULL ? info : &tmp);
	free(m.f);
	return rc;
}

/* Creates the parent directories of rel under dir (0700). */
static int
mkparents(const char *dir, const char *rel)
{
	char sub[REL_MAX];
	const char *slash = strrchr(rel, '/');
	char p[PATH_MAX];

	if (slash == NULL)
		return 0;
	memcpy(sub, rel, (size_t)(slash - rel));
	sub[slash - rel] = '\0';
	if (datadir_path(dir, sub, p, sizeof p) < 0 || util_mkdirs(p, 0700) < 0) {
		util_warn("%s", p);
		return -1;
	}
	return 0;
}

static int
rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (datadir_path(dir, e->d_name, p, sizeof p) < 0 || lstat(p, &st) < 0) {
			rc = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode) ? rm_tree(p) < 0 : unlink(p) < 0)
			rc = -1;
	}
	closedir(d);
	if (rmdir(dir) < 0)
		rc = -1;
	return rc;
}

int
backup_restore(const char *dir, const char *datadir, const char *verifier,
    struct backup_info *info)
{
	struct manifest m = { 0 };
	struct backup_info tmpinfo, *bi = info != NULL ? info : &tmpinfo;
	char *tmp = NULL;
	char src[PATH_MAX], dst[PATH_MAX];
	int rc = -1, made = 0;

	if (check_dir(dir, verifier, &m, bi) < 0)
		goto out;
	if (!dir_empty_or_absent(datadir)) {
		util_errx("%s exists and is not empty; restore into a new directory", datadir);
		goto out;
	}
	{
		/* the temporary sibling of "DIR/" is "DIR.restore-PID", not inside it */
		size_t n = strlen(datadir);

		while (n > 1 && datadir[n - 1] == '/')
			n--;
		if ((tmp = util_aprintf("%.*s.restore-%ld", (int)n, datadir, (long)getpid())) == NULL)
			goto out;
	}
	if (util_mkdirs(tmp, 0700) < 0 || chmod(tmp, 0700) < 0) {
		util_warn("%s", tmp);
		goto out;
	}
	made = 1;
	if (mkdir_in(tmp, DATADIR_AUDIT) < 0 || mkdir_in(tmp, DATADIR_DOCUMENTS) < 0)
		goto out;
	for (size_t i = 0; i < m.n; i++) {
		uint8_t d[32];
		char hex[65];
		uint64_t size;

		/* no execute or group/other write bits; the signer 0600 whatever
		 * the manifest says */
		int fmode = strcmp(m.f[i].path, DATADIR_KEY) == 0 ? 0600 : (m.f[i].mode & 0644);

		if (datadir_path(dir, m.f[i].path, src, sizeof src) < 0 ||
		    datadir_path(tmp, m.f[i].path, dst, sizeof dst) < 0 || mkparents(tmp, m.f[i].path) < 0 ||
		    copy_prefix(src, dst, UINT64_MAX, fmode, d, &size, m.f[i].path) < 0)
			goto out;
		util_hex(d, 32, hex);
		if (size != m.f[i].size || strcmp(hex, m.f[i].hex) != 0) {
			util_errx("%s: changed while it was restored", src);
			goto out;
		}
	}
	if (util_fsync_dir(tmp) < 0)
		goto out;
	/* Into place: datadir is absent or an empty directory. */
	if (rmdir(datadir) < 0 && errno != ENOENT) {
		util_warn("%s", datadir);
		goto out;
	}
	if (rename(tmp, datadir) < 0) {
		util_warn("rename %s to %s", tmp, datadir);
		goto out;
	}
	made = 0;
	rc = 0;
out:
	if (made && rm_tree(tmp) < 0)
		util_warn("cannot remove %s", tmp);
	free(tmp);
	free(m.f);
	return rc;
}
