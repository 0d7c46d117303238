/*
 * datadir.c - creates and checks the data directory (see datadir.h).
 */
#include "datadir.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "registry.h"
#include "store.h"
#include "util.h"

int
datadir_path(const char *dir, const char *name, char *out, size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "%s/%s", dir, name) >= outsz) {
		util_errx("%s/%s: path too long", dir, name);
		return -1;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Removes DIR/name recursively if it exists. */
static int
remove_tree(const char *dir, const char *name)
{
	char p[PATH_MAX];

	if (datadir_path(dir, name, p, sizeof p) < 0)
		return -1;
	if (access(p, F_OK) != 0)
		return 0;
	if (nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		util_warn("remove %s", p);
		return -1;
	}
	return 0;
}

static int
dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return errno == ENOENT;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

int
datadir_init(const char *dir, const char *origin, int force)
{
	static const char *const created[] = { DATADIR_RECORDS, DATADIR_REGISTRY, DATADIR_AUDIT,
		DATADIR_KEY, DATADIR_KEY ".pub", DATADIR_DOCUMENTS, DATADIR_RECORDS ".new",
		DATADIR_RECORDS ".import-lock" };
	char p[PATH_MAX];
	struct store *s;
	struct registry *r;

	if (!dir_is_empty(dir)) {
		if (!force) {
			util_errx("%s already exists and is not empty; use --force to replace it "
				  "(this destroys its records, registry and audit log)", dir);
			return -1;
		}
		for (size_t i = 0; i < UTIL_NELEM(created); i++)
			if (remove_tree(dir, created[i]) < 0)
				return -1;
	}
	if (util_mkdirs(dir, 0700) < 0 || chmod(dir, 0700) < 0) {
		util_warn("%s", dir);
		return -1;
	}
	if (datadir_path(dir, DATADIR_AUDIT, p, sizeof p) < 0)
		return -1;
	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		util_warn("%s", p);
		return -1;
	}
	if (datadir_path(dir, DATADIR_DOCUMENTS, p, sizeof p) < 0)
		return -1;
	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		util_warn("%s", p);
		return -1;
	}
	if (datadir_path(dir, DATADIR_RECORDS, p, sizeof p) < 0 || (s = store_open(p, 0)) == NULL)
		return -1;
	store_close(s);
	if (chmod(p, 0600) < 0) {
		util_warn("%s", p);
		return -1;
	}
	if (datadir_path(dir, DATADIR_REGISTRY, p, sizeof p) < 0 || (r = registry_open(p)) == NULL)
		return -1;
	registry_close(r);
	if (chmod(p, 0600) < 0) {
		util_warn("%s", p);
		return -1;
	}
	if (datadir_path(dir, DATADIR_KEY, p, sizeof p) < 0 || key_generate(p, origin, 1) < 0)
		return -1;
	return util_fsync_dir(dir) < 0 ? (util_warn("%s", dir), -1) : 0;
}

int
datadir_check(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if (datadir_path(dir, DATADIR_KEY, p, sizeof p) < 0)
		return -1;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || stat(p, &st) < 0) {
		util_errx("%s is not an initialized data directory (run: dmvgate init --data %s)",
		    dir, dir);
		return -1;
	}
	return 0;
}
