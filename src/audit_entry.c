/*
 * audit_entry.c - the canonical byte encoding of one audit entry (version
 * 1, docs/audit.md "Entry encoding"), its strict decoder, the leaf hash and
 * the JSON form printed by `audit show`.  Integers are big-endian; strings
 * are u16 length + UTF-8 bytes in a fixed order; there is exactly one
 * encoding of each entry, so the decoder rejects anything it would not
 * have produced (unknown version or kind, over-long fields, bad UTF-8,
 * a response hash without its flag, unknown item bits, trailing bytes).
 * The audit file is untrusted input: nothing here asserts or aborts.
 */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nettle/sha2.h>

#include "util.h"

#define HDR_LEN 62 /* fixed part, see docs/audit.md */

/* The ordinary string fields, in encoding order. */
enum { S_ORIGIN, S_ORI, S_USER, S_CATEGORY, S_CHANNEL, S_QUERY_TYPE, S_BY, S_PURPOSE,
	S_REASON, S_LEGAL_PROCESS, S_CLIENT_ADDR, S_DETAIL, S_COUNT };

static const char *const kind_names[AUDIT_KIND_MAX + 1] = {
	NULL, "query", "auth_failure", "registry", "alert", "checkpoint", "void"
};
static const char *const decision_names[3] = { "none", "permit", "deny" };

const char *
audit_kind_name(enum audit_kind k)
{
	if ((int)k < 1 || (int)k > AUDIT_KIND_MAX)
		return "unknown";
	return kind_names[k];
}

int
audit_kind_parse(const char *s)
{
	for (int i = 1; i <= AUDIT_KIND_MAX; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return -1;
}

const char *
audit_decision_name(enum audit_decision d)
{
	if ((int)d < 0 || (int)d > 2)
		return "unknown";
	return decision_names[d];
}

int
audit_decision_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, decision_names[i]) == 0)
			return i;
	return -1;
}

void
audit_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_SIZE])
{
	struct sha256_ctx c;
	static const uint8_t zero = 0;

	sha256_init(&c);
	sha256_update(&c, 1, &zero);
	sha256_update(&c, len, entry);
	sha256_digest(&c, AUDIT_HASH_SIZE, out);
}

static void
put_u16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static field_mask
items_all(void)
{
	return FIELD_COUNT >= 64 ? ~(field_mask)0 : ((field_mask)1 << FIELD_COUNT) - 1;
}

/*
 * Appends one string at *pos.  Returns 0, -1 when the string itself is
 * invalid (too long for its field, bad UTF-8), -2 when the entry is full.
 */
static int
put_str(uint8_t *out, size_t outsz, size_t *pos, const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > max || (n > 0 && util_utf8_valid(s, n) != 0))
		return -1;
	if (*pos + 2 + n > outsz || *pos + 2 + n > AUDIT_ENTRY_MAX)
		return -2;
	put_u16(out + *pos, (unsigned)n);
	if (n > 0)
		memcpy(out + *pos + 2, s, n);
	*pos += 2 + n;
	return 0;
}

static const char *const str_field_names[S_COUNT] = {
	"origin", "ori", "user", "category", "channel", "query_type", "by", "purpose",
	"reason", "legal_process", "client_addr", "detail"
};

int
audit_entry_index(const uint8_t *buf, size_t len, uint64_t *index)
{
	if (buf == NULL || len < HDR_LEN || buf[0] != AUDIT_ENTRY_VERSION)
		return -1;
	*index = get_u64(buf + 2);
	return 0;
}

long
audit_entry_encode(const struct audit_entry *e, uint64_t index, const char *default_origin,
    uint8_t *out, size_t outsz, const char **why)
{
	const char *strs[S_COUNT];
	size_t pos;
	const char *dummy;
	int rc;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if ((int)e->kind < 1 || (int)e->kind > AUDIT_KIND_MAX) {
		*why = "kind";
		goto inval;
	}
	if ((int)e->decision < 0 || (int)e->decision > 2) {
		*why = "decision";
		goto inval;
	}
	if (e->status < 0 || e->status > 999) {
		*why = "status";
		goto inval;
	}
	if (e->time_us < 0) {
		*why = "time";
		goto inval;
	}
	if ((e->items & ~items_all()) != 0) {
		*why = "items";
		goto inval;
	}
	if (e->nsubjects < 0 || e->nsubjects > AUDIT_MAX_SUBJECTS) {
		*why = "subjects";
		goto inval;
	}
	if (e->nrules < 0 || e->nrules > AUDIT_MAX_RULES) {
		*why = "rules";
		goto inval;
	}
	if (outsz < HDR_LEN) {
		*why = "buffer";
		errno = EMSGSIZE;
		return -1;
	}
	strs[S_ORIGIN] = e->origin != NULL ? e->origin : default_origin;
	strs[S_ORI] = e->ori;
	strs[S_USER] = e->user;
	strs[S_CATEGORY] = e->category;
	strs[S_CHANNEL] = e->channel;
	strs[S_QUERY_TYPE] = e->query_type;
	strs[S_BY] = e->by;
	strs[S_PURPOSE] = e->purpose;
	strs[S_REASON] = e->reason;
	strs[S_LEGAL_PROCESS] = e->legal_process;
	strs[S_CLIENT_ADDR] = e->client_addr;
	strs[S_DETAIL] = e->detail;

	out[0] = AUDIT_ENTRY_VERSION;
	out[1] = (uint8_t)e->kind;
	put_u64(out + 2, index);
	put_u64(out + 10, (uint64_t)(e->time_us != 0 ? e->time_us : util_now_us()));
	out[18] = (uint8_t)e->decision;
	put_u16(out + 19, (unsigned)e->status);
	put_u64(out + 21, e->items);
	out[29] = e->has_response ? 1 : 0;
	if (e->has_response)
		memcpy(out + 30, e->response_sha256, AUDIT_HASH_SIZE);
	else
		memset(out + 30, 0, AUDIT_HASH_SIZE);
	pos = HDR_LEN;
	for (int i = 0; i < S_COUNT; i++) {
		rc = put_str(out, outsz, &pos, strs[i], i == S_DETAIL ? AUDIT_DETAIL_MAX : AUDIT_STR_MAX);
		if (rc != 0) {
			*why = str_field_names[i];
			goto fail;
		}
	}
	rc = -2;
	if (pos + 1 > outsz || pos + 1 > AUDIT_ENTRY_MAX)
		goto fail;
	out[pos++] = (uint8_t)e->nsubjects;
	for (int i = 0; i < e->nsubjects; i++) {
		if (e->subjects[i] == NULL || e->subjects[i][0] == '\0') {
			*why = "subject (empty)";
			goto inval;
		}
		if ((rc = put_str(out, outsz, &pos, e->subjects[i], AUDIT_KEY_MAX)) != 0) {
			*why = "subject";
			goto fail;
		}
	}
	rc = -2;
	if (pos + 1 > outsz || pos + 1 > AUDIT_ENTRY_MAX)
		goto fail;
	out[pos++] = (uint8_t)e->nrules;
	for (int i = 0; i < e->nrules; i++) {
		if (e->rules[i] == NULL || e->rules[i][0] == '\0') {
			*why = "rule (empty)";
			goto inval;
		}
		if ((rc = put_str(out, outsz, &pos, e->rules[i], AUDIT_KEY_MAX)) != 0) {
			*why = "rule";
			goto fail;
		}
	}
	return (long)pos;
fail:
	if (rc == -2) {
		*why = "entry too large";
		errno = EMSGSIZE;
		return -1;
	}
	errno = EINVAL;
	return -1;
inval:
	errno = EINVAL;
	return -1;
}

/*
 * UTF-8 without NUL, with a fast path for ASCII (8 bytes at a time): almost
 * every field is ASCII, and verify decodes millions of entries.
 */
static int
text_valid(const uint8_t *p, size_t n)
{
	const uint64_t hi = 0x8080808080808080ULL, lo = 0x0101010101010101ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if ((w & hi) != 0 || ((w - lo) & ~w & hi) != 0)
			return util_utf8_valid((const char *)p, n) == 0;
	}
	for (; i < n; i++)
		if (p[i] == 0 || p[i] >= 0x80)
			return util_utf8_valid((const char *)p, n) == 0;
	return 1;
}

/* Reads one string into the record's buffer; returns 0 or -1. */
static int
get_str(const uint8_t *buf, size_t len, size_t *pos, char *store, size_t *spos, size_t storesz,
    size_t max, int nonempty, const char **out)
{
	size_t n;

	if (len - *pos < 2)
		return -1;
	n = (size_t)buf[*pos] << 8 | buf[*pos + 1];
	*pos += 2;
	if (n > max || len - *pos < n || (nonempty && n == 0))
		return -1;
	if (*spos + n + 1 > storesz)
		return -1;
	if (n > 0 && !text_valid(buf + *pos, n))
		return -1;
	memcpy(store + *spos, buf + *pos, n);
	store[*spos + n] = '\0';
	*out = store + *spos;
	*spos += n + 1;
	*pos += n;
	return 0;
}

int
audit_entry_decode(const uint8_t *buf, size_t len, struct audit_record *r, const char **why)
{
	struct audit_entry *e = &r->e;
	const char **strs[S_COUNT];
	size_t pos, spos = 0;
	const char *dummy;
	uint64_t t;
	unsigned n;

	if (why == NULL)
		why = &dummy;
	memset(e, 0, sizeof *e);
	if (len < HDR_LEN || len > AUDIT_ENTRY_MAX) {
		*why = "bad length";
		return -1;
	}
	if (buf[0] != AUDIT_ENTRY_VERSION) {
		*why = "unknown version";
		return -1;
	}
	if (buf[1] < 1 || buf[1] > AUDIT_KIND_MAX) {
		*why = "unknown kind";
		return -1;
	}
	e->kind = (enum audit_kind)buf[1];
	e->index = get_u64(buf + 2);
	t = get_u64(buf + 10);
	if (t == 0 || t > (uint64_t)INT64_MAX) { /* the encoder never writes 0 ("now") */
		*why = "bad time";
		return -1;
	}
	e->time_us = (int64_t)t;
	if (buf[18] > 2) {
		*why = "unknown decision";
		return -1;
	}
	e->decision = (enum audit_decision)buf[18];
	e->status = buf[19] << 8 | buf[20];
	if (e->status > 999) {
		*why = "bad status";
		return -1;
	}
	e->items = get_u64(buf + 21);
	if ((e->items & ~items_all()) != 0) {
		*why = "unknown items";
		return -1;
	}
	if (buf[29] > 1) {
		*why = "bad response flag";
		return -1;
	}
	e->has_response = buf[29];
	memcpy(e->response_sha256, buf + 30, AUDIT_HASH_SIZE);
	if (!e->has_response) {
		for (int i = 0; i < AUDIT_HASH_SIZE; i++)
			if (buf[30 + i] != 0) {
				*why = "response hash without flag";
				return -1;
			}
	}
	strs[S_ORIGIN] = &e->origin;
	strs[S_ORI] = &e->ori;
	strs[S_USER] = &e->user;
	strs[S_CATEGORY] = &e->category;
	strs[S_CHANNEL] = &e->channel;
	strs[S_QUERY_TYPE] = &e->query_type;
	strs[S_BY] = &e->by;
	strs[S_PURPOSE] = &e->purpose;
	strs[S_REASON] = &e->reason;
	strs[S_LEGAL_PROCESS] = &e->legal_process;
	strs[S_CLIENT_ADDR] = &e->client_addr;
	strs[S_DETAIL] = &e->detail;
	pos = HDR_LEN;
	for (int i = 0; i < S_COUNT; i++) {
		if (get_str(buf, len, &pos, r->buf, &spos, sizeof r->buf,
		    i == S_DETAIL ? AUDIT_DETAIL_MAX : AUDIT_STR_MAX, 0, strs[i]) < 0) {
			*why = "bad string field";
			return -1;
		}
	}
	if (pos >= len) {
		*why = "truncated";
		return -1;
	}
	n = buf[pos++];
	if (n > AUDIT_MAX_SUBJECTS) {
		*why = "too many subjects";
		return -1;
	}
	e->nsubjects = (int)n;
	for (unsigned i = 0; i < n; i++) {
		if (get_str(buf, len, &pos, r->buf, &spos, sizeof r->buf, AUDIT_KEY_MAX, 1,
		    &e->subjects[i]) < 0) {
			*why = "bad subject";
			return -1;
		}
	}
	if (pos >= len) {
		*why = "truncated";
		return -1;
	}
	n = buf[pos++];
	if (n > AUDIT_MAX_RULES) {
		*why = "too many rules";
		return -1;
	}
	e->nrules = (int)n;
	for (unsigned i = 0; i < n; i++) {
		if (get_str(buf, len, &pos, r->buf, &spos, sizeof r->buf, AUDIT_KEY_MAX, 1,
		    &e->rules[i]) < 0) {
			*why = "bad rule";
			return -1;
		}
	}
	if (pos != len) {
		*why = "trailing bytes";
		return -1;
	}
	audit_leaf_hash(buf, len, r->leaf_hash);
	*why = NULL;
	return 0;
}

/* JSON string with escapes; the input is valid UTF-8 without NUL. */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void
json_field(FILE *f, const char *name, const char *val)
{
	fprintf(f, ",\"%s\":", name);
	json_str(f, val);
}

int
audit_record_json(FILE *f, const struct audit_record *r)
{
	const struct audit_entry *e = &r->e;
	char tbuf[32], hex[2 * AUDIT_HASH_SIZE + 1];
	int first = 1;

	util_time_format(e->time_us, tbuf);
	fprintf(f, "{\"index\":%llu,\"time\":\"%s\",\"kind\":\"%s\"", (unsigned long long)e->index,
	    tbuf, audit_kind_name(e->kind));
	json_field(f, "origin", e->origin);
	json_field(f, "ori", e->ori);
	json_field(f, "user", e->user);
	json_field(f, "category", e->category);
	json_field(f, "channel", e->channel);
	json_field(f, "query_type", e->query_type);
	json_field(f, "by", e->by);
	fputs(",\"subjects\":[", f);
	for (int i = 0; i < e->nsubjects; i++) {
		if (i > 0)
			fputc(',', f);
		json_str(f, e->subjects[i]);
	}
	fputc(']', f);
	json_field(f, "purpose", e->purpose);
	json_field(f, "reason", e->reason);
	json_field(f, "legal_process", e->legal_process);
	fprintf(f, ",\"decision\":\"%s\",\"status\":%d,\"rules\":[", audit_decision_name(e->decision),
	    e->status);
	for (int i = 0; i < e->nrules; i++) {
		if (i > 0)
			fputc(',', f);
		json_str(f, e->rules[i]);
	}
	fputs("],\"items\":[", f);
	for (int i = 0; i < FIELD_COUNT; i++) {
		if (e->items & FIELD_BIT(i)) {
			if (!first)
				fputc(',', f);
			first = 0;
			json_str(f, field_info[i].name);
		}
	}
	fputc(']', f);
	if (e->has_response) {
		util_hex(e->response_sha256, AUDIT_HASH_SIZE, hex);
		fprintf(f, ",\"response_sha256\":\"%s\"", hex);
	} else {
		fputs(",\"response_sha256\":null", f);
	}
	json_field(f, "client_addr", e->client_addr);
	json_field(f, "detail", e->detail);
	util_hex(r->leaf_hash, AUDIT_HASH_SIZE, hex);
	fprintf(f, ",\"leaf_hash\":\"%s\"}", hex);
	return ferror(f) ? -1 : 0;
}
