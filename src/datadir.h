/*
 * datadir.h - the data directory's layout and its creation.
 *
 *   DIR/                 0700
 *   DIR/records.db       drivers, history, vehicles, photos (store_)
 *   DIR/registry.db      agencies, users, legal process, notices (registry_)
 *   DIR/audit/           the audit log (audit_), 0700
 *   DIR/checkpoint.key   Ed25519 checkpoint signing key, 0600 (key_)
 *   DIR/checkpoint.key.pub  its public verifier key
 *   DIR/documents/       copies of legal-process documents, 0700
 */
#ifndef DMVGATE_DATADIR_H
#define DMVGATE_DATADIR_H

#include <stddef.h>

#define DATADIR_RECORDS "records.db"
#define DATADIR_REGISTRY "registry.db"
#define DATADIR_AUDIT "audit"
#define DATADIR_KEY "checkpoint.key"
#define DATADIR_DOCUMENTS "documents"
#define DATADIR_DEFAULT_ORIGIN "dmvgate.local/audit"

/*
 * Writes DIR/name into out (outsz bytes).  Returns 0, or -1 when it does
 * not fit (message on stderr).
 */
int datadir_path(const char *dir, const char *name, char *out, size_t outsz);

/*
 * Creates a data directory with empty databases, the audit folder and a
 * new signing key whose name is origin.  An existing, non-empty directory
 * is refused unless force, which first removes what init creates.
 * Returns 0 or -1 (message on stderr).
 */
int datadir_init(const char *dir, const char *origin, int force);

/* Returns 0 when dir looks initialized, else -1 with a message. */
int datadir_check(const char *dir);

#endif
