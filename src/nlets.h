/*
 * nlets.h - the Nlets-style text interface (docs/nlets.md): parses one
 * legacy-text DQ (driver) or RQ (registration) message into the same
 * struct query the JSON API builds, so one policy and one audit path serve
 * both, and writes the answer in kind: DR / RR in tagged text, NOT ON
 * FILE, a denial, or a reject with one exact text per error class.
 *
 * Everything is bounded and allocation-free: a message is at most
 * NLETS_MAX_MESSAGE bytes, parsed into a fixed struct nlets_msg, and every
 * response is written into the caller's buffer (a response that does not
 * fit is reported, never truncated silently).  No function keeps a pointer
 * to its input after it returns.
 */
#ifndef DMVGATE_NLETS_H
#define DMVGATE_NLETS_H

#include <stddef.h>
#include <stdint.h>

#include "field.h"
#include "query.h"
#include "store.h"

#define NLETS_MAX_MESSAGE 4096     /* bytes of one request, control chars included */
#define NLETS_HEADER_MIN 13        /* MKE.ORI.DEST...TXT, control chars not counted */
#define NLETS_HEADER_MAX 36
#define NLETS_MAX_DEST 5
#define NLETS_ORI_LEN 9
#define NLETS_CONTROL_MAX 10       /* *CONTROL: 1..10 of [A-Z0-9] */
#define NLETS_DEFAULT_STATE "CA"   /* the state this gateway answers for */
#define NLETS_RESPONSE_MAX 16384   /* a buffer that holds any one-record answer */

enum nlets_key { NLETS_DQ, NLETS_RQ };

/*
 * Error classes.  Each has one exact reject text (nlets_err_text) and a
 * stable lower-case name (nlets_err_name) for logs and metrics.
 */
enum nlets_err {
	NLETS_OK = 0,
	NLETS_ERR_EMPTY,             /* REJECT - EMPTY MESSAGE */
	NLETS_ERR_TOO_LONG,          /* REJECT - MESSAGE TOO LONG */
	NLETS_ERR_CHARACTER,         /* REJECT - INVALID CHARACTER */
	NLETS_ERR_MULTIPLE,          /* REJECT - MORE THAN ONE MESSAGE */
	NLETS_ERR_KEY,               /* REJECT - INVALID MESSAGE KEY */
	NLETS_ERR_KEY_UNSUPPORTED,   /* REJECT - MESSAGE KEY NOT SUPPORTED */
	NLETS_ERR_KEY_NAME_ONLY,     /* REJECT - NAME-ONLY QUERY NOT SUPPORTED */
	NLETS_ERR_KEY_PARTIAL,       /* REJECT - PARTIAL PLATE QUERY NOT SUPPORTED */
	NLETS_ERR_KEY_REGION,        /* REJECT - REGIONAL QUERY NOT SUPPORTED */
	NLETS_ERR_HEADER_LENGTH,     /* REJECT - HEADER LENGTH */
	NLETS_ERR_MISSING_TXT,       /* REJECT - MISSING TXT */
	NLETS_ERR_ORI,               /* REJECT - INVALID ORI */
	NLETS_ERR_DEST,              /* REJECT - INVALID DESTINATION */
	NLETS_ERR_DEST_MISSING,      /* REJECT - MISSING DESTINATION */
	NLETS_ERR_DEST_COUNT,        /* REJECT - TOO MANY DESTINATIONS */
	NLETS_ERR_DEST_NOT_SERVED,   /* REJECT - DESTINATION NOT SERVED */
	NLETS_ERR_CONTROL,           /* REJECT - INVALID CONTROL FIELD */
	NLETS_ERR_NO_DATA,           /* REJECT - MISSING DATA FIELDS */
	NLETS_ERR_TRAILING_PERIOD,   /* REJECT - TRAILING PERIOD */
	NLETS_ERR_FIELD_FORMAT,      /* REJECT - INVALID FIELD FORMAT */
	NLETS_ERR_TAG_UNKNOWN,       /* REJECT - UNKNOWN TAG */
	NLETS_ERR_TAG_NOT_ALLOWED,   /* REJECT - TAG NOT VALID FOR MESSAGE KEY */
	NLETS_ERR_TAG_DUPLICATE,     /* REJECT - DUPLICATE TAG */
	NLETS_ERR_FIELD_EMPTY,       /* REJECT - EMPTY FIELD */
	NLETS_ERR_FIELD_LENGTH,      /* REJECT - FIELD TOO LONG */
	NLETS_ERR_OLN,               /* REJECT - INVALID OLN */
	NLETS_ERR_NAM,               /* REJECT - INVALID NAM */
	NLETS_ERR_DOB,               /* REJECT - INVALID DOB */
	NLETS_ERR_SEX,               /* REJECT - INVALID SEX */
	NLETS_ERR_RSN,               /* REJECT - INVALID RSN */
	NLETS_ERR_PUR,               /* REJECT - INVALID PUR */
	NLETS_ERR_PUR_UNSUPPORTED,   /* REJECT - PUR CODE NOT ACCEPTED */
	NLETS_ERR_ATN,               /* REJECT - INVALID ATN */
	NLETS_ERR_IMQ,               /* REJECT - INVALID IMQ */
	NLETS_ERR_LPR,               /* REJECT - INVALID LPR */
	NLETS_ERR_LIC,               /* REJECT - INVALID LIC */
	NLETS_ERR_LIY,               /* REJECT - INVALID LIY */
	NLETS_ERR_LIT,               /* REJECT - INVALID LIT */
	NLETS_ERR_VIN,               /* REJECT - INVALID VIN */
	NLETS_ERR_VMA,               /* REJECT - INVALID VMA */
	NLETS_ERR_VYR,               /* REJECT - INVALID VYR */
	NLETS_ERR_DQ_MISSING,        /* REJECT - MISSING OLN OR NAM/DOB/SEX */
	NLETS_ERR_DQ_BOTH,           /* REJECT - OLN WITH NAM/DOB/SEX */
	NLETS_ERR_RQ_MISSING,        /* REJECT - MISSING LIC/LIY/LIT OR VIN */
	NLETS_ERR_RQ_BOTH,           /* REJECT - LIC WITH VIN */
	NLETS_ERR_VMA_WITHOUT_VIN,   /* REJECT - VMA/VYR ONLY WITH VIN */
	NLETS_ERR_PUR_MISSING,       /* REJECT - MISSING PUR */
	NLETS_ERR_ATN_MISSING,       /* REJECT - MISSING ATN */
	NLETS_ERR_ORI_MISMATCH,      /* REJECT - ORI NOT AUTHORIZED FOR THIS CONNECTION */
	NLETS_ERR_COUNT
};

/* A parsed message.  Fixed buffers; no pointers into the input. */
struct nlets_msg {
	enum nlets_key key;
	char mke[5];                         /* "DQ" / "RQ" (or the rejected key) */
	char ori[NLETS_ORI_LEN + 1];         /* "" until a valid ORI was read */
	char dest[NLETS_MAX_DEST][3];
	unsigned ndest;
	char control[NLETS_CONTROL_MAX + 1]; /* "" when none (or invalid) */
	char state[3];                       /* the state answering (home) */
	char rsn;                            /* RSN/ code, 0 when absent */
	char pur;                            /* PUR/ code, 0 when absent */
	char sex;                            /* SEX/ code (DQ by name) */
	char liy[5], lit[3];                 /* RQ by plate: year (or NX), type */
	char vma[5], vyr[5];                 /* RQ by VIN: optional make, year */
	char atn[31];                        /* ATN/ text */
	struct query q;                      /* what the JSON API would build */
	size_t header_len;                   /* header length, control chars not counted */
};

/*
 * Parses one message (msg, len bytes, untrusted) addressed to state home
 * (two upper-case letters; NULL means NLETS_DEFAULT_STATE) into m.
 * Returns NLETS_OK, or the error class; on error m still holds whatever
 * of the header was valid (ORI, control field) so that the reject can
 * echo it.  Nothing is allocated; msg is not kept.
 */
enum nlets_err nlets_parse(const char *msg, size_t len, const char *home, struct nlets_msg *m);

/* The exact reject text of an error class ("REJECT - ..."). */
const char *nlets_err_text(enum nlets_err e);
/* A stable name for an error class ("trailing_period"). */
const char *nlets_err_name(enum nlets_err e);

/*
 * The spoofing check: 0 when the message's sending ORI equals auth_ori
 * (the authenticated agency's), else NLETS_ERR_ORI_MISMATCH.
 */
enum nlets_err nlets_check_ori(const struct nlets_msg *m, const char *auth_ori);

/*
 * The purpose name a PUR/ code maps to ("criminal_investigation"), or
 * NULL for a code that is not accepted.  The table is documented in
 * docs/nlets.md.
 */
const char *nlets_purpose(char code);

/*
 * A response being written into a caller's buffer.  Functions append to
 * it; once something did not fit, overflow is set and later calls do
 * nothing.  The buffer is always NUL-terminated (size >= 1).
 */
struct nlets_writer {
	char *buf;
	size_t size, len;
	int overflow;
	unsigned records;
	char state[3];
};

/* Starts an empty response in buf (size bytes, owned by the caller). */
void nlets_writer_init(struct nlets_writer *w, char *buf, size_t size);

/*
 * Writes the response header for m: "DR" / "RR", the answering state's
 * generic ORI (xxOLN0000 / xxLIC0000), the requester's ORI and the
 * echoed control field.  Call first.  Returns 0 or -1 on overflow.
 */
int nlets_begin(struct nlets_writer *w, const struct nlets_msg *m);

/*
 * Appends one record: only the fields in released (the policy's release)
 * are written, values read through store_row_get; sensitive fields
 * (license_kind, ssn, place_of_birth, documents) are never written
 * whatever the mask says.  The tags written depend on released only, not
 * on the record's values (an empty released field is an empty tag), so
 * two records released under the same mask have the same form.  row is
 * only read during the call.  Returns 0 or -1 on overflow.
 */
int nlets_encode_driver(struct nlets_writer *w, const struct store_row *row, field_mask released);
int nlets_encode_vehicle(struct nlets_writer *w, const struct store_row *row, field_mask released);

/* Appends "NOT ON FILE" (no record matched).  0 or -1. */
int nlets_encode_not_on_file(struct nlets_writer *w);

/*
 * Appends a policy denial: "REJECT - DENIED BY POLICY", the deciding
 * rule ids (nrules strings) and the reason.  Strings are copied,
 * characters outside the text alphabet replaced.  0 or -1.
 */
int nlets_encode_denial(struct nlets_writer *w, const char *reason,
    const char *const *rules, size_t nrules);

/*
 * Ends the response: "AUD/<index>" when audit_index >= 0 (the audit log
 * entry of this request).  Returns the response length, or -1 when the
 * buffer was too small at any point.
 */
int nlets_finish(struct nlets_writer *w, int64_t audit_index);

/*
 * A complete reject for error e: header "ER.<state>OLN0000.[ORI.][*CONTROL.]TXT"
 * echoing whatever of m was valid (m may be NULL), then the reject text,
 * then AUD/ when audit_index >= 0.  Returns the length or -1 on overflow.
 */
int nlets_reject(char *buf, size_t size, const struct nlets_msg *m, enum nlets_err e,
    int64_t audit_index);

#endif /* DMVGATE_NLETS_H */
