/*
 * cmd_keys.c - `dmvgate keys list` and `dmvgate keys rotate`: the audit
 * log's checkpoint signing key and its history (key.h).
 *
 * Rotation, with no server running (it needs the audit log's lock; a
 * running server holds it, and the command then refuses and says so):
 *
 *  1. a new key with the same name (the log's origin) is written to
 *     DIR/checkpoint.key.new (0600);
 *  2. a `checkpoint` entry "key.rotate old=… new=…" is appended to the log,
 *     which closes with a checkpoint signed by the old key;
 *  3. under the log's lock, the old verifier is appended to
 *     DIR/keys/retired, and a hand-over checkpoint (that same note with a
 *     second signature, by the new key) is appended to audit/checkpoints
 *     and published;
 *  4. the new key is renamed over DIR/checkpoint.key (and .pub), and the
 *     old private key's bytes are overwritten.
 * A crash before 4 leaves the old key in place and a last checkpoint that
 * it signed (among others): the log opens as before and rotation can be
 * run again.  The private keys are never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/base64.h>

#include "audit.h"
#include "cli.h"
#include "datadir.h"
#include "key.h"
#include "util.h"

static const char usage[] =
    "usage: dmvgate keys list [--data DIR]\n"
    "       dmvgate keys rotate [--data DIR]\n"
    "\n"
    "list prints the audit log's current checkpoint verifier key and every\n"
    "earlier one (\"current KEY\", \"past KEY\"), as GET /v1/checkpoint/keys\n"
    "publishes them.  rotate starts a new checkpoint signing key: it records\n"
    "the rotation in the log, signs a hand-over checkpoint with both the old\n"
    "and the new key, keeps the old public key in DIR/keys/retired (audit\n"
    "verify accepts checkpoints signed by any key of the history) and wipes the\n"
    "old private key.  rotate needs the audit log to itself: stop the server\n"
    "first (systemctl stop dmvgate), then start it again.\n"
    "\n"
    "  --data DIR  data directory (default $DMVGATE_DATA, else ./var)\n";

static const char *
operator_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "unknown";
}

static int
keys_list(const char *datadir)
{
	char *list = key_history(datadir), *line, *save = NULL;
	int first = 1;

	if (list == NULL)
		return CLI_FAIL;
	for (line = strtok_r(list, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		printf("%s %s\n", first ? "current" : "past", line);
		first = 0;
	}
	free(list);
	return CLI_OK;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Reads the last record of a checkpoints file open as fd into note (NUL-
 * terminated) and its end offset.  0 or -1. */
static int
last_note(int fd, char *note, size_t *len, uint64_t *end)
{
	struct stat st;
	uint8_t b4[4];
	uint32_t l;
	uint64_t sz;

	if (fstat(fd, &st) < 0)
		return -1;
	sz = (uint64_t)st.st_size;
	if (sz < 8 || pread(fd, b4, 4, (off_t)(sz - 4)) != 4)
		return -1;
	l = get_u32(b4);
	if (l == 0 || l >= AUDIT_NOTE_MAX || sz < (uint64_t)l + 8 ||
	    pread(fd, b4, 4, (off_t)(sz - 8 - l)) != 4 || get_u32(b4) != l ||
	    pread(fd, note, l, (off_t)(sz - 4 - l)) != (ssize_t)l)
		return -1;
	note[l] = '\0';
	*len = l;
	*end = sz;
	return 0;
}

/* Appends a signature line by k over the signed text of note (the part
 * before the blank line) to note.  0 or -1. */
static int
add_signature(char *note, size_t *len, size_t cap, const struct key *k)
{
	const char *blank = strstr(note, "\n\n");
	uint8_t sig[4 + 64];
	char b64[BASE64_ENCODE_RAW_LENGTH(68) + 1];
	int n;

	if (blank == NULL)
		return -1;
	put_u32(sig, key_id(k));
	key_sign(k, (const uint8_t *)note, (size_t)(blank - note) + 1, sig + 4);
	key_b64_encode(sig, sizeof sig, b64);
	n = snprintf(note + *len, cap - *len, "\xe2\x80\x94 %s %s\n", key_name(k), b64);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

static int
append_line(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	int rc = -1;

	if (fd < 0)
		goto out;
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		util_warn("%s", path);
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

/*
 * Run as root on a data directory another user owns (the service's user),
 * the files this command creates must belong to that user, or the server
 * could not read its own key.  0 or -1.
 */
static int
give_to_owner(const char *dir, const char *path)
{
	struct stat d;

	if (geteuid() != 0 || stat(dir, &d) < 0 || d.st_uid == 0)
		return 0;
	if (lchown(path, d.st_uid, d.st_gid) < 0 && errno != ENOENT) {
		util_warn("%s: chown", path);
		return -1;
	}
	return 0;
}

static int
keys_rotate(const char *dir)
{
	char keypath[PATH_MAX], newpath[PATH_MAX + 8], newpub[PATH_MAX + 16], pubpath[PATH_MAX + 8];
	char auditdir[PATH_MAX], keysdir[PATH_MAX], retired[PATH_MAX], cppath[PATH_MAX + 16];
	char note[AUDIT_NOTE_MAX], when[32];
	struct key *old = NULL, *nk = NULL;
	struct audit_checkpoint *cp = NULL;
	struct audit_entry e;
	char *detail = NULL, *line = NULL;
	const char *why;
	uint64_t index = 0, end = 0;
	uint8_t b4[4];
	size_t len = 0;
	int lockfd = -1, cpsfd = -1, oldfd = -1, rc = CLI_FAIL, made_new = 0;
	struct stat st;

	if (datadir_check(dir) < 0)
		return CLI_FAIL;
	if (datadir_path(dir, DATADIR_KEY, keypath, sizeof keypath) < 0 ||
	    datadir_path(dir, DATADIR_AUDIT, auditdir, sizeof auditdir) < 0 ||
	    datadir_path(dir, KEY_DIR, keysdir, sizeof keysdir) < 0 ||
	    datadir_path(dir, KEY_RETIRED, retired, sizeof retired) < 0)
		return CLI_FAIL;
	snprintf(newpath, sizeof newpath, "%s.new", keypath);
	snprintf(newpub, sizeof newpub, "%s.new.pub", keypath);
	snprintf(pubpath, sizeof pubpath, "%s.pub", keypath);
	snprintf(cppath, sizeof cppath, "%s/checkpoint", auditdir);
	if ((cp = util_calloc(1, sizeof *cp)) == NULL || (old = key_load(keypath)) == NULL)
		goto out;

	/* 1. The new key, beside the old one. */
	if (key_generate(newpath, key_name(old), 1) < 0 || (nk = key_load(newpath)) == NULL)
		goto out;
	made_new = 1;
	if (give_to_owner(dir, newpath) < 0 || give_to_owner(dir, newpub) < 0)
		goto out;

	/* 2. The rotation, in the log (closes with a checkpoint by the old key). */
	if ((detail = util_aprintf("key.rotate old=%s new=%s", key_verifier(old),
	    key_verifier(nk))) == NULL)
		goto out;
	memset(&e, 0, sizeof e);
	e.kind = AUDIT_CHECKPOINT;
	e.channel = "cli";
	e.query_type = "key";
	e.by = "rotate";
	e.user = operator_name();
	e.detail = detail;
	if (audit_append_once(dir, &e, &index) < 0) {
		if (errno == EWOULDBLOCK)
			util_errx("keys rotate: a running server holds the audit log in %s; stop it "
			    "(systemctl stop dmvgate), rotate, and start it again", auditdir);
		else
			util_errx("keys rotate: cannot record the rotation in the audit log");
		goto out;
	}

	/* 3. Under the log's lock: retire the old key, hand over. */
	if ((size_t)snprintf(note, sizeof note, "%s/lock", auditdir) >= sizeof note ||
	    (lockfd = open(note, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		util_errx("keys rotate: the audit log was taken by another process after entry %llu "
		    "recorded the rotation; no key was changed: stop it and run this again",
		    (unsigned long long)index);
		goto out;
	}
	if ((size_t)snprintf(note, sizeof note, "%s/checkpoints", auditdir) >= sizeof note ||
	    (cpsfd = open(note, O_RDWR | O_CLOEXEC)) < 0 || last_note(cpsfd, note, &len, &end) < 0) {
		util_errx("keys rotate: %s/checkpoints: cannot read the last checkpoint", auditdir);
		goto out;
	}
	if (audit_checkpoint_parse(note, len, key_verifier(old), cp, &why) < 0 ||
	    cp->size != index + 1) {
		util_errx("keys rotate: the last checkpoint is not the old key's of size %llu: %s",
		    (unsigned long long)(index + 1), cp->size != index + 1 ? "size" : why);
		goto out;
	}
	if (add_signature(note, &len, sizeof note, nk) < 0 ||
	    audit_checkpoint_parse(note, len, key_verifier(old), cp, &why) < 0 ||
	    audit_checkpoint_parse(note, len, key_verifier(nk), cp, &why) < 0) {
		util_errx("keys rotate: cannot build the hand-over checkpoint");
		goto out;
	}
	util_time_format(util_now_us(), when);
	when[19] = 'Z';
	when[20] = '\0';
	if ((mkdir(keysdir, 0700) < 0 && errno != EEXIST) ||
	    (line = util_aprintf("%s retired %s size %llu\n", key_verifier(old), when,
	    (unsigned long long)cp->size)) == NULL || append_line(retired, line) < 0 ||
	    give_to_owner(dir, keysdir) < 0 || give_to_owner(dir, retired) < 0 ||
	    util_fsync_dir(keysdir) < 0)
		goto out;
	put_u32(b4, (uint32_t)len);
	if (pwrite(cpsfd, b4, 4, (off_t)end) != 4 || pwrite(cpsfd, note, len, (off_t)end + 4) !=
	    (ssize_t)len || pwrite(cpsfd, b4, 4, (off_t)(end + 4 + len)) != 4 || fdatasync(cpsfd) < 0) {
		util_warn("%s/checkpoints", auditdir);
		goto out;
	}
	if (util_write_file_atomic(cppath, note, len, 0644) < 0 || give_to_owner(dir, cppath) < 0) {
		util_warn("%s", cppath);
		goto out;
	}

	/* 4. The new key in place; the old private key overwritten. */
	if ((oldfd = open(keypath, O_WRONLY | O_CLOEXEC)) < 0 || fstat(oldfd, &st) < 0) {
		util_warn("%s", keypath);
		goto out;
	}
	if (rename(newpath, keypath) < 0 || rename(newpub, pubpath) < 0 || util_fsync_dir(dir) < 0) {
		util_warn("keys rotate: installing the new key");
		goto out;
	}
	made_new = 0;
	{
		char zero[1024] = { 0 };
		off_t left = st.st_size;

		while (left > 0) {
			size_t n = left < (off_t)sizeof zero ? (size_t)left : sizeof zero;
			if (write(oldfd, zero, n) != (ssize_t)n)
				break;
			left -= (off_t)n;
		}
		if (left != 0 || fsync(oldfd) < 0)
			util_warn("keys rotate: overwriting the old private key");
	}
	printf("rotated the checkpoint key of %s (rotation recorded at index %llu)\n"
	       "hand-over checkpoint of size %llu signed by both keys\n"
	       "old %s (kept in %s)\nnew %s\n",
	    key_name(nk), (unsigned long long)index, (unsigned long long)cp->size,
	    key_verifier(old), retired, key_verifier(nk));
	rc = CLI_OK;
out:
	if (made_new) {
		(void)unlink(newpath);
		(void)unlink(newpub);
	}
	if (oldfd >= 0)
		(void)close(oldfd);
	if (cpsfd >= 0)
		(void)close(cpsfd);
	if (lockfd >= 0)
		(void)close(lockfd);
	free(detail);
	free(line);
	free(cp);
	key_free(old);
	key_free(nk);
	return rc;
}

int
cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *sub;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return cli_usage_error(usage, "keys: give list or rotate");
		cli_help(usage);
		return CLI_OK;
	}
	sub = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "keys: bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(usage, "keys: unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(sub, "list") == 0)
		return keys_list(cli_datadir(data));
	if (strcmp(sub, "rotate") == 0)
		return keys_rotate(cli_datadir(data));
	return cli_usage_error(usage, "keys: unknown subcommand '%s'", sub);
}
