/*
 * audit_reader.c - the sequential, buffered reader of the entries file
 * shared by recovery, scans and `audit verify`: it frames records
 * (u32 length, entry, 4 check bytes), decodes them strictly and tells a
 * clean end from an incomplete tail and from a whole but invalid record.
 */
#include "audit_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READBUF_SIZE (1u << 20)



int
audit_rr_init(struct audit_recreader *rr, int fd, uint64_t off)
{
	memset(rr, 0, sizeof *rr);
	rr->fd = fd;
	rr->base = off;
	if ((rr->buf = malloc(READBUF_SIZE)) == NULL)
		return -1;
	return 0;
}

void
audit_rr_free(struct audit_recreader *rr)
{
	free(rr->buf);
	rr->buf = NULL;
}

/* Makes at least need bytes available at the cursor; 1 ok, 0 short (EOF), -1 error. */
int
audit_rr_need(struct audit_recreader *rr, size_t need)
{
	while (rr->len - rr->pos < need) {
		ssize_t r;

		if (rr->eof)
			return 0;
		if (rr->pos > 0) {
			memmove(rr->buf, rr->buf + rr->pos, rr->len - rr->pos);
			rr->base += rr->pos;
			rr->len -= rr->pos;
			rr->pos = 0;
		}
		r = pread(rr->fd, rr->buf + rr->len, READBUF_SIZE - rr->len, (off_t)(rr->base + rr->len));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			rr->eof = 1;
		rr->len += (size_t)r;
	}
	return 1;
}

/*
 * Are the bytes from skip past the cursor to the end of the file all
 * zero (or none)?  1 yes, 0 no, -1 read error.  The cursor and buffer are
 * left as they are.
 */
int
audit_rr_zero_from(struct audit_recreader *rr, size_t skip)
{
	uint8_t tmp[16384];
	uint64_t off;

	for (size_t i = rr->pos + skip; i < rr->len; i++)
		if (rr->buf[i] != 0)
			return 0;
	if (rr->eof)
		return 1;
	off = rr->base + (rr->pos + skip > rr->len ? rr->pos + skip : rr->len);
	for (;;) {
		ssize_t r = pread(rr->fd, tmp, sizeof tmp, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		for (ssize_t i = 0; i < r; i++)
			if (tmp[i] != 0)
				return 0;
		off += (uint64_t)r;
	}
}

/*
 * Reads the next record: on AUDIT_REC_OK *entry and *len point into the buffer and
 * r is decoded (r may be NULL to skip decoding; then leaf must be
 * non-NULL and only the check bytes are verified).  *recoff gets the
 * record's file offset.  AUDIT_REC_END: clean end (end of file, or only
 * zeros to it: the writer's padding); AUDIT_REC_TORN: incomplete record
 * at the end; AUDIT_REC_BAD: a whole record that is invalid (*why).
 */
enum audit_rec_status
audit_rr_next(struct audit_recreader *rr, const uint8_t **entry, size_t *len, uint64_t *recoff,
    struct audit_record *r, uint8_t leaf[AUDIT_HASH_SIZE], const char **why)
{
	uint32_t l;
	int n;
	const uint8_t *p;

	*recoff = rr->base + rr->pos;
	if ((n = audit_rr_need(rr, 1)) < 0)
		return AUDIT_REC_IOERR;
	if (n == 0)
		return AUDIT_REC_END;
	if ((n = audit_rr_need(rr, AUDIT_REC_HDR)) < 0)
		return AUDIT_REC_IOERR;
	if (n == 0 || audit_get_u32(rr->buf + rr->pos) == 0) {
		/* zeros to the end of the file are the writer's padding */
		if ((n = audit_rr_zero_from(rr, 0)) < 0)
			return AUDIT_REC_IOERR;
		if (n == 1)
			return AUDIT_REC_END;
		*why = rr->len - rr->pos < AUDIT_REC_HDR ? "incomplete record header" :
		    "bad record length";
		return rr->len - rr->pos < AUDIT_REC_HDR ? AUDIT_REC_TORN : AUDIT_REC_BAD;
	}
	l = audit_get_u32(rr->buf + rr->pos);
	if (l > AUDIT_ENTRY_MAX) {
		*why = "bad record length";
		return AUDIT_REC_BAD;
	}
	if ((n = audit_rr_need(rr, AUDIT_REC_HDR + l + AUDIT_REC_TRAILER)) < 0)
		return AUDIT_REC_IOERR;
	if (n == 0) {
		*why = "incomplete record";
		return AUDIT_REC_TORN;
	}
	p = rr->buf + rr->pos + AUDIT_REC_HDR;
	if (r != NULL) {
		if (audit_entry_decode(p, l, r, why) < 0)
			return AUDIT_REC_BAD;
		leaf = r->leaf_hash;
	} else {
		audit_leaf_hash(p, l, leaf);
	}
	if (memcmp(p + l, leaf, AUDIT_REC_TRAILER) != 0) {
		*why = "record check bytes do not match the entry";
		return AUDIT_REC_BAD;
	}
	*entry = p;
	*len = l;
	rr->pos += AUDIT_REC_HDR + l + AUDIT_REC_TRAILER;
	return AUDIT_REC_OK;
}
