/*
 * backup.h - consistent backups of a data directory while the server runs,
 * and their verified restore (`dmvgate backup`, `dmvgate restore`).
 *
 * A backup is a directory laid out like a data directory:
 *
 *   MANIFEST             "dmvgate-backup 1", then "key value" lines
 *                        (created, origin, audit_size), then one line per
 *                        file: "file SHA256HEX SIZE MODE PATH"
 *   registry.db, records.db   SQLite online-backup copies (one snapshot each)
 *   audit/entries, hashes, offsets, checkpoints, checkpoint, pruned
 *                        the log cut at its latest signed checkpoint
 *   checkpoint.key (0600), checkpoint.key.pub, keys/retired
 *   documents/FILES, holidays
 *
 * The audit files are append-only up to a checkpoint (docs/audit.md): the
 * writer fdatasyncs entries, hashes and offsets before it appends a
 * checkpoint to `checkpoints`, so the prefixes of those files up to the
 * last whole checkpoint record are stable and consistent while the server
 * keeps appending.  The log is copied after the databases, once a
 * checkpoint covers every entry the log held when they had been copied (so
 * a registry change already written from registry.db's audit queue to the
 * log is in the backup's log; one still queued is written by the restored
 * server).  Entries after that checkpoint are not in the backup.
 */
#ifndef DMVGATE_BACKUP_H
#define DMVGATE_BACKUP_H

#include <stdint.h>

#define BACKUP_MANIFEST "MANIFEST"
#define BACKUP_MAGIC "dmvgate-backup 1"
#define BACKUP_MANIFEST_MAX (4 * 1024 * 1024)  /* bytes */

struct backup_info {
	uint64_t audit_size;     /* entries in the copied log */
	uint64_t files;          /* files in the manifest */
	uint64_t bytes;          /* their total size */
	char origin[256];        /* the log's origin */
};

/*
 * Backs up datadir into outdir, which must not exist or be empty (it is
 * created with mode 0700).  Safe while a server runs.  Fills info (may be
 * NULL).  Returns 0, or -1 (message on stderr; outdir is left incomplete
 * and has no MANIFEST).
 */
int backup_create(const char *datadir, const char *outdir, struct backup_info *info);

/*
 * Checks the backup in dir without changing it: every manifest file's size
 * and SHA-256, the audit log with audit_verify against verifier (a
 * verifier or verifier list, key.h; NULL: the backup's own key history),
 * SQLite integrity of both databases and their schema versions.  Fills
 * info (may be NULL).  Returns 0, or -1 (message on stderr).
 */
int backup_check(const char *dir, const char *verifier, struct backup_info *info);

/*
 * backup_check, then copies the backup into datadir, which must not exist
 * or be empty: into a temporary sibling first, renamed into place when
 * complete, with the modes of the manifest.  Returns 0, or -1 (message on
 * stderr; datadir is then not created).
 */
int backup_restore(const char *dir, const char *datadir, const char *verifier,
    struct backup_info *info);

#endif /* DMVGATE_BACKUP_H */
