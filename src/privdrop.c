/*
 * privdrop.c - refusing root, dropping to an unprivileged user, and the
 * modes of the data directory (see privdrop.h, docs/security.md).
 *
 * The order follows OpenSMTPD's control.c: look the user up while
 * /etc/passwd is readable, open everything that needs root (the port, the
 * files), then setgroups, setresgid, setresuid, and finally make sure the
 * process cannot become root again.  glibc applies the set*id calls to
 * every thread of the process, so libmicrohttpd's workers, already
 * running, drop with the main thread.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "util.h"

#define PRIVDROP_NAME_MAX 64

static int
name_valid(const char *name)
{
	size_t n = strnlen(name, PRIVDROP_NAME_MAX + 1);

	if (n == 0 || n > PRIVDROP_NAME_MAX || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
privdrop_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e;

	if (!name_valid(name)) {
		util_errx("serve: invalid user name");
		return -1;
	}
	e = getpwnam_r(name, &pw, buf, sizeof buf, &res);
	if (e != 0 || res == NULL) {
		util_errx("serve: no such user \"%s\"", name);
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

int
privdrop_precheck(const char *user, const char *datadir)
{
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (user == NULL || user[0] == '\0') {
		const char *allow = getenv("DMVGATE_ALLOW_ROOT");
		if (geteuid() == 0 && allow != NULL && strcmp(allow, "1") == 0) {
			/* the test and benchmark harness only (Makefile) */
			util_errx("warning: running as root (DMVGATE_ALLOW_ROOT=1: for tests only)");
			return 0;
		}
		if (geteuid() == 0) {
			util_errx("serve: refusing to run as root; give --user NAME (the server "
			    "drops to that user after opening its port and files)");
			return -1;
		}
		return 0;
	}
	if (privdrop_lookup(user, &uid, &gid) < 0)
		return -1;
	if (uid == 0 || gid == 0) {
		util_errx("serve: --user %s is root (or in group root); give an unprivileged user", user);
		return -1;
	}
	if (geteuid() != 0 && geteuid() != uid) {
		util_errx("serve: --user %s needs to start as root (or as %s)", user, user);
		return -1;
	}
	if (stat(datadir, &st) < 0) {
		util_warn("serve: %s", datadir);
		return -1;
	}
	if (st.st_uid != uid) {
		util_errx("serve: the data directory %s must belong to %s (chown -R %s %s)",
		    datadir, user, user, datadir);
		return -1;
	}
	return 0;
}

/* Narrows path to at most mode `want`; a missing file is fine. */
static int
narrow(const char *path, mode_t want, int isdir)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (util_warn("serve: %s", path), -1);
	if (S_ISLNK(st.st_mode)) {
		util_errx("serve: %s is a symbolic link; refusing", path);
		return -1;
	}
	if (isdir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		util_errx("serve: %s is not a %s", path, isdir ? "directory" : "regular file");
		return -1;
	}
	if ((st.st_mode & 07777 & ~want) == 0)
		return 0;
	if (chmod(path, st.st_mode & want) < 0) {
		util_warn("serve: %s has mode %04o and cannot be narrowed to %04o", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)want);
		return -1;
	}
	util_errx("warning: %s had mode %04o; narrowed to %04o", path,
	    (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & want));
	return 0;
}

int
privdrop_check_files(const char *datadir)
{
	static const char *const files[] = {
		DATADIR_KEY, DATADIR_REGISTRY, DATADIR_REGISTRY "-wal", DATADIR_REGISTRY "-shm",
		DATADIR_RECORDS, DATADIR_RECORDS "-wal", DATADIR_RECORDS "-shm",
	};
	char p[PATH_MAX];

	if (narrow(datadir, 0700, 1) < 0)
		return -1;
	for (size_t i = 0; i < UTIL_NELEM(files); i++) {
		if ((size_t)snprintf(p, sizeof p, "%s/%s", datadir, files[i]) >= sizeof p) {
			util_errx("serve: data directory path too long");
			return -1;
		}
		if (narrow(p, 0600, 0) < 0)
			return -1;
	}
	return 0;
}

int
privdrop_to(const char *user)
{
	uid_t uid;
	gid_t gid;

	if (user == NULL || user[0] == '\0')
		return 0;
	if (privdrop_lookup(user, &uid, &gid) < 0)
		return -1;
	if (geteuid() == uid && getuid() == uid && getegid() == gid)
		return 0;   /* already that user: nothing to drop */
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		util_warn("serve: cannot drop privileges to %s", user);
		return -1;
	}
	/* it must not be possible to come back */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		util_errx("serve: could regain root after dropping to %s; stopping", user);
		return -1;
	}
	if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
		util_errx("serve: could regain group root after dropping to %s; stopping", user);
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
		util_errx("serve: privileges not dropped to %s", user);
		return -1;
	}
	util_errx("serve: running as %s (uid %u, gid %u)", user, (unsigned)uid, (unsigned)gid);
	return 0;
}
