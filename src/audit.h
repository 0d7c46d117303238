/*
 * audit.h - the tamper-evident, durable audit log (design.md "Audit log",
 * docs/audit.md).  Every decision is an entry: a canonical, versioned,
 * bounded byte string hashed as an RFC 9162 leaf.  Entries are appended by
 * one writer thread per data directory in batches (group commit: one
 * fdatasync per batch); a caller learns its entry's index at once and is
 * told, by callback, when the entry is durable.  The tree's hashes are kept
 * in the C2SP tlog-tiles / Go tlog storage order so proofs never re-read
 * the log; signed C2SP tlog-checkpoint notes are written every N entries or
 * T milliseconds and at close.  Readers (the CLI while a server runs) open
 * read-only and take no lock.
 *
 * Files in DIR/audit/ (docs/audit.md has the byte layouts):
 *   lock         flock(2) target held by the one writer
 *   entries      append-only records: u32 length, entry, 4-byte check
 *   checkpoints  append-only history of every signed checkpoint (fdatasync'd)
 *   checkpoint   the latest signed checkpoint, as served
 *   hashes       every tree hash in tlog storage order (derived, rebuildable)
 *   offsets      u64 byte offset of every entry (derived, rebuildable)
 *   pruned       "first N": bodies below index N were dropped (prune)
 *   index.db     SQLite search index (derived; `audit reindex`)
 *
 * Conventions: 0 / -1 (errno set where stated) or NULL; strings in
 * entries are NUL-terminated UTF-8 and are copied by the call that takes
 * them; decoded records own their strings.
 */
#ifndef DMVGATE_AUDIT_H
#define DMVGATE_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "field.h"

/* Limits of one entry (checked on append and on decode). */
#define AUDIT_ENTRY_MAX 16384     /* encoded entry, bytes */
#define AUDIT_MAX_SUBJECTS 64     /* subject keys per entry */
#define AUDIT_MAX_RULES 32        /* deciding rules per entry */
#define AUDIT_STR_MAX 1024        /* one ordinary string field, bytes */
#define AUDIT_KEY_MAX 128         /* one subject key or rule name, bytes */
#define AUDIT_DETAIL_MAX 8192     /* the detail field, bytes */
#define AUDIT_HASH_SIZE 32
#define AUDIT_PROOF_MAX_HASHES 64
#define AUDIT_NOTE_MAX 4096       /* a signed checkpoint note, bytes */
#define AUDIT_ENTRY_VERSION 1

/* Entry kinds.  The numbers are part of the encoding: never renumber. */
enum audit_kind {
	AUDIT_QUERY = 1,        /* a query and its decision (permit or deny) */
	AUDIT_AUTH_FAILURE = 2, /* a request that failed authentication */
	AUDIT_REGISTRY = 3,     /* agency/user/process/policy change */
	AUDIT_ALERT = 4,        /* limits, sweep detection, overdue notices */
	AUDIT_CHECKPOINT = 5,   /* a record about checkpoints or keys (rotation, witness) */
	AUDIT_VOID = 6          /* a reserved index whose entry never came (written by the log) */
};
#define AUDIT_KIND_MAX 6

enum audit_decision {
	AUDIT_DECISION_NONE = 0,
	AUDIT_PERMIT = 1,
	AUDIT_DENY = 2
};

/*
 * One entry.  On append, NULL strings mean empty; index is ignored (the log
 * assigns it); time_us 0 means "now"; origin NULL means the log's origin.
 * Subject keys are "license:D1234567", "plate:CA:7ABC123", "vin:…" (asked
 * for and returned, including owners of returned vehicles); rules are the
 * deciding rule names; items the released fields.  has_response says
 * whether response_sha256 (SHA-256 of the response body as sent) is set.
 */
struct audit_entry {
	enum audit_kind kind;
	uint64_t index;
	int64_t time_us;
	const char *origin;
	const char *ori;            /* agency ORI */
	const char *user;
	const char *category;       /* agency category at decision time */
	const char *channel;        /* json | nlets | cli */
	const char *query_type;     /* driver | vehicle | agency | user | process | policy | … */
	const char *by;             /* license | name_dob | plate | vin | address | license_kind | … */
	const char *subjects[AUDIT_MAX_SUBJECTS];
	int nsubjects;
	const char *purpose;
	const char *reason;
	const char *legal_process;
	enum audit_decision decision;
	int status;                 /* HTTP-like status of the outcome, 0..999 (0 = none) */
	const char *rules[AUDIT_MAX_RULES];
	int nrules;
	field_mask items;
	int has_response;
	uint8_t response_sha256[AUDIT_HASH_SIZE];
	const char *client_addr;
	const char *detail;         /* registry change / alert text */
};

/* A decoded entry: e's strings point into buf (never NULL, "" when empty). */
struct audit_record {
	struct audit_entry e;
	uint8_t leaf_hash[AUDIT_HASH_SIZE];
	char buf[AUDIT_ENTRY_MAX + 128];
};

/* ---- entries (audit_entry.c) ---- */

/*
 * Encodes e with the given index (and default origin for a NULL origin)
 * into out (outsz bytes; AUDIT_ENTRY_MAX suffices).  Returns the length,
 * or -1 with errno EINVAL (bad field: *why, if non-NULL, names it) or
 * EMSGSIZE (over AUDIT_ENTRY_MAX).
 */
long audit_entry_encode(const struct audit_entry *e, uint64_t index, const char *default_origin,
    uint8_t *out, size_t outsz, const char **why);
/* The index field of an encoded entry (version 1): 0, or -1 when buf is
 * too short or of another version.  Does not validate the rest. */
int audit_entry_index(const uint8_t *buf, size_t len, uint64_t *index);
/*
 * Decodes an untrusted encoded entry strictly (version, kinds, limits,
 * UTF-8, no trailing bytes) into r and computes its leaf hash.  Returns 0,
 * or -1 with *why (static string) naming the problem.
 */
int audit_entry_decode(const uint8_t *buf, size_t len, struct audit_record *r, const char **why);
/* Leaf hash SHA-256(0x00 || entry). */
void audit_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_SIZE]);
/* Names: "query", "auth_failure", … and "permit"/"deny"/"none" (static
 * strings).  Parse returns the value or -1. */
const char *audit_kind_name(enum audit_kind k);
int audit_kind_parse(const char *s);
const char *audit_decision_name(enum audit_decision d);
int audit_decision_parse(const char *s);
/*
 * Writes r as one JSON object (no newline) to f: every field, the index
 * and the hex leaf hash.  Returns 0 or -1 (write error).
 */
int audit_record_json(FILE *f, const struct audit_record *r);

/* ---- Merkle tree, proofs, notes (audit_merkle.c) ---- */

/* Node hash SHA-256(0x01 || l || r). */
void audit_node_hash(const uint8_t l[AUDIT_HASH_SIZE], const uint8_t r[AUDIT_HASH_SIZE],
    uint8_t out[AUDIT_HASH_SIZE]);
/* Root of the tree over n leaf hashes (the empty tree hashes ""). */
void audit_tree_root(const uint8_t (*leaves)[AUDIT_HASH_SIZE], uint64_t n, uint8_t out[AUDIT_HASH_SIZE]);
/*
 * RFC 9162 §2.1.3.2: returns 1 when proof (n hashes) shows leaf at index in
 * a tree of size with root, else 0.
 */
int audit_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[AUDIT_HASH_SIZE],
    const uint8_t (*proof)[AUDIT_HASH_SIZE], size_t n, const uint8_t root[AUDIT_HASH_SIZE]);
/* RFC 9162 §2.1.4.2: returns 1 when proof shows tree (size1, root1) is a
 * prefix of (size2, root2), else 0. */
int audit_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[AUDIT_HASH_SIZE],
    const uint8_t root2[AUDIT_HASH_SIZE], const uint8_t (*proof)[AUDIT_HASH_SIZE], size_t n);

/* A parsed checkpoint (C2SP tlog-checkpoint). */
struct audit_checkpoint {
	char origin[256];
	uint64_t size;
	uint8_t root[AUDIT_HASH_SIZE];
	char text[AUDIT_NOTE_MAX];  /* the whole signed note, NUL-terminated */
	size_t textlen;
};
/*
 * Parses a signed note of len bytes and checks its signature by the
 * verifier (signed-note verifier string, or a '\n'-separated list of them,
 * a key history (key.h): a signature by any one suffices; NULL skips the
 * signature check, for display only).  Returns 0, or -1 with *why set.
 */
int audit_checkpoint_parse(const char *text, size_t len, const char *verifier,
    struct audit_checkpoint *cp, const char **why);

/* A parsed tlog-proof (c2sp.org/tlog-proof@v1) whose extra data is the entry. */
struct audit_proof {
	uint64_t index;
	uint8_t entry[AUDIT_ENTRY_MAX];
	size_t entrylen;
	uint8_t hashes[AUDIT_PROOF_MAX_HASHES][AUDIT_HASH_SIZE];
	size_t nhashes;
	struct audit_checkpoint cp;
};
#define AUDIT_PROOF_TEXT_MAX (64 * 1024)
/*
 * Parses untrusted proof text (at most AUDIT_PROOF_TEXT_MAX bytes).  Does
 * not verify anything.  Returns 0, or -1 with *why set.
 */
int audit_proof_parse(const char *text, size_t len, struct audit_proof *p, const char **why);
/*
 * Verifies a parsed proof offline: checkpoint signature by verifier,
 * entry decodes with the proof's index, inclusion in the checkpoint's
 * tree.  On success fills rec (if non-NULL) and returns 0; else -1, *why.
 */
int audit_proof_check(struct audit_proof *p, const char *verifier, struct audit_record *rec,
    const char **why);

/* ---- the log (audit_log.c) ---- */

struct audit_log;

struct audit_config {
	int checkpoint_every_entries; /* 0: 10000 */
	int checkpoint_every_ms;      /* 0: 1000 */
	const char *key_path;         /* NULL: <auditdir>/../checkpoint.key */
	const char *origin;           /* NULL: the key's name */
	int reserve_timeout_ms;       /* 0: 2000; a reserved slot never committed becomes VOID */
	int max_pending;              /* 0: 16384 reserved-but-unwritten entries */
};

#define AUDIT_RDONLY 0
#define AUDIT_WRITE 1

/*
 * Opens the log in auditdir.  AUDIT_WRITE creates missing files, takes an
 * exclusive flock on auditdir/lock (fails with errno EWOULDBLOCK when
 * another process holds it), recovers (cuts a torn tail, rebuilds derived
 * files, checks the last checkpoint), loads the key and starts the writer
 * thread.  AUDIT_RDONLY takes no lock and changes nothing.  cfg may be
 * NULL.  Returns NULL on error (message on stderr, errno set).  The caller
 * owns the result and must audit_close it.
 */
struct audit_log *audit_open(const char *auditdir, const struct audit_config *cfg, int flags);
/* Drains pending entries, writes a final checkpoint, joins the writer,
 * closes everything and frees log.  Accepts NULL. */
void audit_close(struct audit_log *log);

/* Called from the writer thread: status 0 when the entry is durable, -1
 * when it failed (the caller must deny and not disclose).  It runs without
 * the log's lock but holds up the next batch: keep it short, and never
 * call audit_append_wait or a blocking audit_reserve from it. */
typedef void (*audit_done_fn)(void *arg, uint64_t index, int status);

/*
 * Two-phase append.  audit_reserve assigns the next index (in order) and
 * stores it in *index; the caller must then audit_commit that index
 * promptly (within cfg.reserve_timeout_ms, else the slot is written as a
 * VOID entry and the commit fails with ETIMEDOUT).  The writer writes
 * strictly in index order.  audit_commit copies e; when it returns 0, done
 * will be called exactly once (from the writer thread); when it returns
 * -1 (EINVAL bad entry, ETIMEDOUT, EIO log failed) done is never called.
 * A failed log refuses everything (errno EIO) until it is reopened.
 * audit_reserve may block while max_pending entries are in flight.
 */
int audit_reserve(struct audit_log *log, uint64_t *index);
int audit_commit(struct audit_log *log, uint64_t index, const struct audit_entry *e,
    audit_done_fn done, void *arg);
/*
 * audit_commit for an entry the caller already encoded for this index and
 * this log's origin (audit_entry_encode: enc, n bytes) and whose leaf hash
 * it computed (audit_leaf_hash): spares encoding and hashing it twice.
 * The log checks that enc decodes to an entry with this index; enc is
 * copied.  Same contract as audit_commit.
 */
int audit_commit_encoded(struct audit_log *log, uint64_t index, const uint8_t *enc, size_t n,
    const uint8_t leaf[AUDIT_HASH_SIZE], audit_done_fn done, void *arg);
/* Gives up a reservation (the slot is written as a VOID entry at once). */
void audit_cancel(struct audit_log *log, uint64_t index);
/* One-phase append: reserve + commit.  *index (if non-NULL) gets the index. */
int audit_append(struct audit_log *log, const struct audit_entry *e, audit_done_fn done,
    void *arg, uint64_t *index);
/* Synchronous: returns 0 once durable (with *index if non-NULL), or -1. */
int audit_append_wait(struct audit_log *log, const struct audit_entry *e, uint64_t *index);
/*
 * For CLI commands when no server runs: opens datadir/audit for writing,
 * appends e, waits, closes (with a checkpoint).  Returns 0 (and *index), or
 * -1 with errno EWOULDBLOCK when a server holds the log (the server must
 * then record the change), or another errno.
 */
int audit_append_once(const char *datadir, const struct audit_entry *e, uint64_t *index);

/* Entries durable (writer) or whole entries found (reader). */
uint64_t audit_size(struct audit_log *log);
/* First index whose body is kept (0 unless pruned). */
uint64_t audit_first(struct audit_log *log);
const char *audit_origin(struct audit_log *log);
/* The audit directory the log was opened with (owned by log). */
const char *audit_dir(struct audit_log *log);

/* Reads and decodes entry index into r.  Returns 0, or -1 (errno ENOENT
 * beyond the end or pruned, EBADMSG corrupt: message on stderr). */
int audit_get(struct audit_log *log, uint64_t index, struct audit_record *r);

/*
 * Calls fn for every entry in [from, to) in order (to = UINT64_MAX: to the
 * end).  fn returns 0 to continue, 1 to stop, -1 for an error.  Returns 0,
 * or -1 (corrupt entry: message names its index; or fn's error).
 */
int audit_scan(struct audit_log *log, uint64_t from, uint64_t to,
    int (*fn)(void *arg, const struct audit_record *r), void *arg);

/*
 * The latest signed checkpoint: copies it into cp (parsed; signature checked
 * against the log's own verifier).  Returns 0, or -1 (errno ENOENT: none yet).
 */
int audit_latest_checkpoint(struct audit_log *log, struct audit_checkpoint *cp);
/* Root of the tree of size (size <= hashes written).  0 or -1. */
int audit_root(struct audit_log *log, uint64_t size, uint8_t root[AUDIT_HASH_SIZE]);
/* Inclusion proof of index in the tree of size; *n hashes.  0 or -1. */
int audit_inclusion_proof(struct audit_log *log, uint64_t index, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n);
/* Consistency proof between sizes old and new.  0 or -1. */
int audit_consistency_proof(struct audit_log *log, uint64_t old, uint64_t new_size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n);
/*
 * A c2sp.org/tlog-proof@v1 text for index against the latest checkpoint
 * (extra = the entry bytes).  Returns a malloc'd string the caller frees,
 * or NULL (errno ERANGE: not yet covered by a checkpoint; ENOENT pruned).
 */
char *audit_prove(struct audit_log *log, uint64_t index);
/*
 * The tlog-tiles hash tile at level L, index N, width w (1..256): writes
 * w*32 bytes to out.  Tiles must lie within the tree of the latest
 * checkpoint.  Returns 0 or -1.
 */
int audit_tile(struct audit_log *log, int level, uint64_t n, int w, uint8_t *out);

/*
 * Histogram bounds of struct audit_stats (upper bounds, inclusive; the
 * last bucket of each histogram counts everything above the last bound).
 */
#define AUDIT_SYNC_NB 11
extern const double audit_sync_bounds[AUDIT_SYNC_NB];   /* seconds */
#define AUDIT_BATCH_NB 10
extern const double audit_batch_bounds[AUDIT_BATCH_NB]; /* entries */

/* Counters since open (for /metrics and the benchmark). */
struct audit_stats {
	uint64_t appended;      /* entries made durable */
	uint64_t batches;       /* write+fdatasync rounds */
	uint64_t syncs;         /* fdatasync calls on the entries file */
	uint64_t checkpoints;   /* checkpoints signed */
	uint64_t voided;        /* reservations turned into VOID entries */
	uint64_t failed;        /* entries whose commit failed */
	uint64_t max_batch;
	/* fdatasync of each batch on the entries file (non-cumulative buckets) */
	uint64_t sync_bucket[AUDIT_SYNC_NB + 1];
	uint64_t sync_ns;       /* their total duration */
	uint64_t batch_bucket[AUDIT_BATCH_NB + 1];  /* entries per durable batch */
};
void audit_get_stats(struct audit_log *log, struct audit_stats *st);

/* ---- offline tools (audit_verify.c, audit_log.c) ---- */

struct audit_verify_result {
	uint64_t entries;       /* entries checked */
	uint64_t pruned;        /* entries below the pruned mark (hashes only) */
	uint64_t checkpoints;   /* checkpoints checked */
	uint64_t bad_index;     /* first bad index, when bad_index_set */
	int bad_index_set;
	char error[512];        /* what was wrong (empty on success) */
};
/*
 * Recomputes every leaf and the tree from the entries file, checks every
 * stored hash and offset, every checkpoint's signature (by verifier, NULL:
 * <auditdir>/../checkpoint.key.pub) and root, the latest checkpoint file,
 * and that no checkpoint covers more than the log.  Needs no lock.
 * progress non-zero shows a bar on a terminal.  Returns 0 or -1 with
 * res->error (and bad_index when one entry is to blame).
 */
int audit_verify(const char *auditdir, const char *verifier, int progress,
    struct audit_verify_result *res);

/*
 * Drops the bodies of entries whose time is before before_us (and all
 * before them), keeping their hashes: the tree, checkpoints and proofs of
 * later entries still verify.  Safe while a server writes.  Returns 0 and
 * *first (the new first kept index), or -1.
 */
int audit_prune(const char *auditdir, int64_t before_us, uint64_t *first);

/* ---- search index (audit_index.c) ---- */

/* A search filter; audit_filter_init sets "match everything".  Strings
 * are borrowed (not copied) for the duration of the search. */
struct audit_filter {
	const char *ori;        /* NULL: any */
	const char *user;
	const char *subject;    /* a subject key, e.g. "license:D1234567" */
	int64_t from_us;        /* inclusive; 0: no bound */
	int64_t to_us;          /* exclusive; 0: no bound */
	int decision;           /* -1: any */
	int kind;               /* 0: any */
};
void audit_filter_init(struct audit_filter *f);
/* 1 when r matches f. */
int audit_filter_match(const struct audit_filter *f, const struct audit_record *r);
/*
 * Calls fn for every entry matching f, in index order, using the SQLite
 * index (brought up to date first) when f names an agency, user, subject or
 * time range, else a scan.  fn's record is only valid during the call.
 * Returns 0 or -1.
 */
int audit_search(struct audit_log *log, const struct audit_filter *f,
    int (*fn)(void *arg, const struct audit_record *r), void *arg);
/* Brings auditdir/index.db up to date with the log (rebuild when rebuild
 * is set or the index does not match).  Returns 0 and *indexed, or -1. */
int audit_index_sync(struct audit_log *log, int rebuild, uint64_t *indexed);

#endif /* DMVGATE_AUDIT_H */
