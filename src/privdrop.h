/*
 * privdrop.h - privileges and file modes of `dmvgate serve`
 * (docs/security.md).
 *
 * The server refuses to run as root unless told which user to become
 * (`--user NAME` or `user` in the configuration); it then opens its port
 * and files as root and drops to that user for good (setgroups, setresgid,
 * setresuid, and a check that root cannot be regained).  At start the data
 * directory must be 0700 and the signing key and databases 0600: wider
 * modes are narrowed with a warning, and a file that cannot be fixed stops
 * the start.
 */
#ifndef DMVGATE_PRIVDROP_H
#define DMVGATE_PRIVDROP_H

#include <sys/types.h>

/*
 * Looks up user name (untrusted: at most 64 bytes of [A-Za-z0-9._-]) and
 * stores its uid and gid.  Returns 0, or -1 with a message on stderr.
 */
int privdrop_lookup(const char *name, uid_t *uid, gid_t *gid);

/*
 * Before anything is opened: refuses root without a user (returns -1 with
 * a message; DMVGATE_ALLOW_ROOT=1 in the environment lets the test and
 * benchmark harness run as root, with a warning), and when a user is given checks that it exists, is not root
 * and owns datadir.  user may be NULL or "".  Returns 0 or -1.
 */
int privdrop_precheck(const char *user, const char *datadir);

/*
 * Narrows the modes of datadir (0700) and of its key and databases
 * (checkpoint.key, registry.db, records.db and their -wal/-shm: 0600),
 * warning for each change; every file must belong to the running user
 * (or to root when running as root).  Returns 0, or -1 with a message
 * when a mode cannot be fixed.
 */
int privdrop_check_files(const char *datadir);

/*
 * Drops to user for good: supplementary groups to the user's group only,
 * real/effective/saved gid then uid, then checks that setuid(0) and
 * setgid(0) now fail.  Does nothing when user is NULL or "".  Returns 0, or
 * -1 with a message (the caller must then stop: it may be half-dropped).
 */
int privdrop_to(const char *user);

#endif /* DMVGATE_PRIVDROP_H */
