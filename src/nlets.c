/*
 * nlets.c - the Nlets-style legacy text codec (see nlets.h and
 * docs/nlets.md for the keys, tags, purpose codes and reject texts).
 *
 * Parsing runs in three passes over at most NLETS_MAX_MESSAGE bytes: the
 * control characters are dropped into a stack copy (noting where lines
 * began, to spot a second message), the header is read token by token up
 * to the fixed "TXT" prefix, and the data fields are read against a table
 * of tags.  The result is a struct query built exactly as query_parse
 * builds one from JSON.
 *
 * Encoding writes into the caller's buffer through struct nlets_writer.
 * Record values are folded to upper-case ASCII with the name folding of
 * norm.c, so a value can never carry a period, a slash or a line break
 * into the tagged layout.
 */
#include "nlets.h"

#include <stdio.h>
#include <string.h>

#include "norm.h"
#include "util.h"

/* ------------------------------------------------------------ error texts */

struct err_info {
	const char *name, *text;
};

static const struct err_info errs[NLETS_ERR_COUNT] = {
	[NLETS_OK] = { "ok", "OK" },
	[NLETS_ERR_EMPTY] = { "empty", "REJECT - EMPTY MESSAGE" },
	[NLETS_ERR_TOO_LONG] = { "too_long", "REJECT - MESSAGE TOO LONG" },
	[NLETS_ERR_CHARACTER] = { "character", "REJECT - INVALID CHARACTER" },
	[NLETS_ERR_MULTIPLE] = { "multiple", "REJECT - MORE THAN ONE MESSAGE" },
	[NLETS_ERR_KEY] = { "key", "REJECT - INVALID MESSAGE KEY" },
	[NLETS_ERR_KEY_UNSUPPORTED] = { "key_unsupported", "REJECT - MESSAGE KEY NOT SUPPORTED" },
	[NLETS_ERR_KEY_NAME_ONLY] = { "key_name_only", "REJECT - NAME-ONLY QUERY NOT SUPPORTED" },
	[NLETS_ERR_KEY_PARTIAL] = { "key_partial", "REJECT - PARTIAL PLATE QUERY NOT SUPPORTED" },
	[NLETS_ERR_KEY_REGION] = { "key_region", "REJECT - REGIONAL QUERY NOT SUPPORTED" },
	[NLETS_ERR_HEADER_LENGTH] = { "header_length", "REJECT - HEADER LENGTH" },
	[NLETS_ERR_MISSING_TXT] = { "missing_txt", "REJECT - MISSING TXT" },
	[NLETS_ERR_ORI] = { "ori", "REJECT - INVALID ORI" },
	[NLETS_ERR_DEST] = { "dest", "REJECT - INVALID DESTINATION" },
	[NLETS_ERR_DEST_MISSING] = { "dest_missing", "REJECT - MISSING DESTINATION" },
	[NLETS_ERR_DEST_COUNT] = { "dest_count", "REJECT - TOO MANY DESTINATIONS" },
	[NLETS_ERR_DEST_NOT_SERVED] = { "dest_not_served", "REJECT - DESTINATION NOT SERVED" },
	[NLETS_ERR_CONTROL] = { "control", "REJECT - INVALID CONTROL FIELD" },
	[NLETS_ERR_NO_DATA] = { "no_data", "REJECT - MISSING DATA FIELDS" },
	[NLETS_ERR_TRAILING_PERIOD] = { "trailing_period", "REJECT - TRAILING PERIOD" },
	[NLETS_ERR_FIELD_FORMAT] = { "field_format", "REJECT - INVALID FIELD FORMAT" },
	[NLETS_ERR_TAG_UNKNOWN] = { "tag_unknown", "REJECT - UNKNOWN TAG" },
	[NLETS_ERR_TAG_NOT_ALLOWED] = { "tag_not_allowed", "REJECT - TAG NOT VALID FOR MESSAGE KEY" },
	[NLETS_ERR_TAG_DUPLICATE] = { "tag_duplicate", "REJECT - DUPLICATE TAG" },
	[NLETS_ERR_FIELD_EMPTY] = { "field_empty", "REJECT - EMPTY FIELD" },
	[NLETS_ERR_FIELD_LENGTH] = { "field_length", "REJECT - FIELD TOO LONG" },
	[NLETS_ERR_OLN] = { "oln", "REJECT - INVALID OLN" },
	[NLETS_ERR_NAM] = { "nam", "REJECT - INVALID NAM" },
	[NLETS_ERR_DOB] = { "dob", "REJECT - INVALID DOB" },
	[NLETS_ERR_SEX] = { "sex", "REJECT - INVALID SEX" },
	[NLETS_ERR_RSN] = { "rsn", "REJECT - INVALID RSN" },
	[NLETS_ERR_PUR] = { "pur", "REJECT - INVALID PUR" },
	[NLETS_ERR_PUR_UNSUPPORTED] = { "pur_unsupported", "REJECT - PUR CODE NOT ACCEPTED" },
	[NLETS_ERR_ATN] = { "atn", "REJECT - INVALID ATN" },
	[NLETS_ERR_IMQ] = { "imq", "REJECT - INVALID IMQ" },
	[NLETS_ERR_LPR] = { "lpr", "REJECT - INVALID LPR" },
	[NLETS_ERR_LIC] = { "lic", "REJECT - INVALID LIC" },
	[NLETS_ERR_LIY] = { "liy", "REJECT - INVALID LIY" },
	[NLETS_ERR_LIT] = { "lit", "REJECT - INVALID LIT" },
	[NLETS_ERR_VIN] = { "vin", "REJECT - INVALID VIN" },
	[NLETS_ERR_VMA] = { "vma", "REJECT - INVALID VMA" },
	[NLETS_ERR_VYR] = { "vyr", "REJECT - INVALID VYR" },
	[NLETS_ERR_DQ_MISSING] = { "dq_missing", "REJECT - MISSING OLN OR NAM/DOB/SEX" },
	[NLETS_ERR_DQ_BOTH] = { "dq_both", "REJECT - OLN WITH NAM/DOB/SEX" },
	[NLETS_ERR_RQ_MISSING] = { "rq_missing", "REJECT - MISSING LIC/LIY/LIT OR VIN" },
	[NLETS_ERR_RQ_BOTH] = { "rq_both", "REJECT - LIC WITH VIN" },
	[NLETS_ERR_VMA_WITHOUT_VIN] = { "vma_without_vin", "REJECT - VMA/VYR ONLY WITH VIN" },
	[NLETS_ERR_PUR_MISSING] = { "pur_missing", "REJECT - MISSING PUR" },
	[NLETS_ERR_ATN_MISSING] = { "atn_missing", "REJECT - MISSING ATN" },
	[NLETS_ERR_ORI_MISMATCH] = { "ori_mismatch",
		"REJECT - ORI NOT AUTHORIZED FOR THIS CONNECTION" },
};

const char *
nlets_err_text(enum nlets_err e)
{
	if ((unsigned)e < NLETS_ERR_COUNT && errs[e].text != NULL)
		return errs[e].text;
	return "REJECT - ERROR";
}

const char *
nlets_err_name(enum nlets_err e)
{
	if ((unsigned)e < NLETS_ERR_COUNT && errs[e].name != NULL)
		return errs[e].name;
	return "error";
}

/* ------------------------------------------------------------ purposes */

/*
 * PUR/ codes.  C, I and U are California's CLETS codes (AB 1747); U
 * (8 USC 1325, improper entry) is immigration enforcement whatever its
 * criminal label (C.R.S. 24-74-105 names 1325 as such), so it maps to the
 * purpose the policy guards with judicial process.  T is dmvgate's own.
 * F, J, E, D and S are Nlets KQ codes with no purpose in the policy:
 * rejected with NLETS_ERR_PUR_UNSUPPORTED rather than guessed.
 */
struct purpose_code {
	char code;
	const char *purpose;      /* NULL: known but not accepted */
};

static const struct purpose_code purposes[] = {
	{ 'C', "criminal_investigation" },
	{ 'I', "civil_immigration_enforcement" },
	{ 'U', "civil_immigration_enforcement" },
	{ 'T', "traffic_enforcement" },
	{ 'F', NULL }, { 'J', NULL }, { 'E', NULL }, { 'D', NULL }, { 'S', NULL },
};

const char *
nlets_purpose(char code)
{
	for (size_t i = 0; i < UTIL_NELEM(purposes); i++)
		if (purposes[i].code == code)
			return purposes[i].purpose;
	return NULL;
}

static int
purpose_known(char code)
{
	for (size_t i = 0; i < UTIL_NELEM(purposes); i++)
		if (purposes[i].code == code)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ message keys */

struct key_info {
	const char *mke;
	enum nlets_err err;       /* NLETS_OK for DQ and RQ */
};

static const struct key_info keys[] = {
	{ "DQ", NLETS_OK }, { "RQ", NLETS_OK },
	{ "DQG", NLETS_ERR_KEY_REGION }, { "RQG", NLETS_ERR_KEY_REGION },
	{ "DNQ", NLETS_ERR_KEY_NAME_ONLY }, { "RNQ", NLETS_ERR_KEY_NAME_ONLY },
	{ "RPQ", NLETS_ERR_KEY_PARTIAL },
	{ "KQ", NLETS_ERR_KEY_UNSUPPORTED }, { "UQ", NLETS_ERR_KEY_UNSUPPORTED },
	{ "XQ", NLETS_ERR_KEY_UNSUPPORTED }, { "ACQ", NLETS_ERR_KEY_UNSUPPORTED },
	{ "AVQ", NLETS_ERR_KEY_UNSUPPORTED }, { "BQ", NLETS_ERR_KEY_UNSUPPORTED },
	{ "SQ", NLETS_ERR_KEY_UNSUPPORTED }, { "IQ", NLETS_ERR_KEY_UNSUPPORTED },
	{ "AM", NLETS_ERR_KEY_UNSUPPORTED }, { "SM", NLETS_ERR_KEY_UNSUPPORTED },
	{ "ER", NLETS_ERR_KEY_UNSUPPORTED }, { "DR", NLETS_ERR_KEY_UNSUPPORTED },
	{ "RR", NLETS_ERR_KEY_UNSUPPORTED }, { "KR", NLETS_ERR_KEY_UNSUPPORTED },
	{ "QV", NLETS_ERR_KEY_UNSUPPORTED }, { "QW", NLETS_ERR_KEY_UNSUPPORTED },
	{ "QH", NLETS_ERR_KEY_UNSUPPORTED }, { "QR", NLETS_ERR_KEY_UNSUPPORTED },
};

/* ------------------------------------------------------------ data tags */

enum tag_id { T_OLN, T_NAM, T_DOB, T_SEX, T_RSN, T_PUR, T_ATN, T_IMQ, T_LPR,
	T_LIC, T_LIY, T_LIT, T_VIN, T_VMA, T_VYR, T_COUNT };

#define KDQ 1u
#define KRQ 2u

struct tag_info {
	char name[4];
	unsigned keys;            /* KDQ | KRQ: where the tag is allowed */
	size_t max;               /* longest value, bytes */
	enum nlets_err err;       /* the value's own reject */
};

static const struct tag_info tags[T_COUNT] = {
	[T_OLN] = { "OLN", KDQ, 20, NLETS_ERR_OLN },
	[T_NAM] = { "NAM", KDQ, 30, NLETS_ERR_NAM },
	[T_DOB] = { "DOB", KDQ, 8, NLETS_ERR_DOB },
	[T_SEX] = { "SEX", KDQ, 1, NLETS_ERR_SEX },
	[T_RSN] = { "RSN", KDQ, 1, NLETS_ERR_RSN },
	[T_PUR] = { "PUR", KDQ | KRQ, 1, NLETS_ERR_PUR },
	[T_ATN] = { "ATN", KDQ | KRQ, 30, NLETS_ERR_ATN },
	[T_IMQ] = { "IMQ", KDQ, 1, NLETS_ERR_IMQ },
	[T_LPR] = { "LPR", KDQ | KRQ, 32, NLETS_ERR_LPR },
	[T_LIC] = { "LIC", KRQ, 10, NLETS_ERR_LIC },
	[T_LIY] = { "LIY", KRQ, 4, NLETS_ERR_LIY },
	[T_LIT] = { "LIT", KRQ, 2, NLETS_ERR_LIT },
	[T_VIN] = { "VIN", KRQ, 20, NLETS_ERR_VIN },
	[T_VMA] = { "VMA", KRQ, 4, NLETS_ERR_VMA },
	[T_VYR] = { "VYR", KRQ, 4, NLETS_ERR_VYR },
};

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char upper(char c) { return is_lower(c) ? (char)(c - 'a' + 'A') : c; }

/* Copies v (n bytes) upper-cased into dst; every byte must satisfy ok. */
static int
copy_upper(char *dst, size_t dstsz, const char *v, size_t n, int (*ok)(char))
{
	if (n == 0 || n >= dstsz)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = upper(v[i]);
		if (!ok(c))
			return -1;
		dst[i] = c;
	}
	dst[n] = '\0';
	return 0;
}

static int ok_alnum(char c) { return is_upper(c) || is_digit(c); }
static int ok_oln(char c) { return ok_alnum(c) || c == '-'; }
static int ok_lpr(char c) { return ok_alnum(c) || is_lower(c) || c == '-' || c == '_'; }
static int
ok_atn(char c)
{
	return ok_alnum(c) || c == ' ' || c == ',' || c == '-' || c == '\'' || c == '#' ||
	    c == '/' || c == '&' || c == '(' || c == ')';
}

static int
has_alnum(const char *s)
{
	for (; *s; s++)
		if (ok_alnum(*s))
			return 1;
	return 0;
}

/* NAM/LAST,FIRST[ MIDDLE[ SUFFIX]] with an optional space after the comma. */
static int
parse_nam(struct nlets_msg *m, const char *v, size_t n)
{
	char s[32];
	size_t comma = 0, ncomma = 0, i, f, fe;

	if (n >= sizeof s)
		return -1;
	for (i = 0; i < n; i++) {
		char c = upper(v[i]);
		if (!(is_upper(c) || c == ' ' || c == '-' || c == '\'' || c == ','))
			return -1;
		if (c == ',') {
			comma = i;
			ncomma++;
		}
		s[i] = c;
	}
	s[n] = '\0';
	if (ncomma != 1 || comma == 0 || s[0] == ' ' || s[comma - 1] == ' ')
		return -1;
	f = comma + 1;
	if (f < n && s[f] == ' ')
		f++;
	if (f >= n || !is_upper(s[f]))
		return -1;
	for (fe = f; fe < n && s[fe] != ' '; fe++)
		;
	if (s[n - 1] == ' ')
		return -1;
	for (i = fe; i + 1 < n; i++)
		if (s[i] == ' ' && s[i + 1] == ' ')
			return -1;
	if (!is_upper(s[0]))
		return -1;
	memcpy(m->q.last_name, s, comma);
	m->q.last_name[comma] = '\0';
	memcpy(m->q.first_name, s + f, fe - f);
	m->q.first_name[fe - f] = '\0';
	return 0;
}

/* DOB/ccyymmdd or mmddyy (a two-digit year is the latest not in the future). */
static int
parse_dob(struct nlets_msg *m, const char *v, size_t n)
{
	int y, mo, d, cy;
	unsigned cm, cd;
	int32_t days;
	char iso[16];

	if (n != 6 && n != 8)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(v[i]))
			return -1;
#define NUM2(p) ((p)[0] - '0') * 10 + ((p)[1] - '0')
	if (n == 8) {
		y = (NUM2(v)) * 100 + NUM2(v + 2);
		mo = NUM2(v + 4);
		d = NUM2(v + 6);
	} else {
		mo = NUM2(v);
		d = NUM2(v + 2);
		y = NUM2(v + 4);
		util_civil_from_days(util_today(), &cy, &cm, &cd);
		y += (cy / 100) * 100;
		if (y > cy)
			y -= 100;
	}
#undef NUM2
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	snprintf(iso, sizeof iso, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)mo, (unsigned)d);
	if (util_date_parse(iso, 10, &days) < 0 || days > util_today())
		return -1;
	memcpy(m->q.dob, iso, 11);
	return 0;
}

/* Validates one field's value and stores it.  Returns the value's error. */
static enum nlets_err
field_value(struct nlets_msg *m, enum tag_id t, const char *v, size_t n)
{
	const struct tag_info *ti = &tags[t];
	char c = n > 0 ? upper(v[0]) : 0;

	switch (t) {
	case T_OLN:
		if (copy_upper(m->q.license_number, sizeof m->q.license_number, v, n, ok_oln) < 0 ||
		    !has_alnum(m->q.license_number))
			return ti->err;
		return NLETS_OK;
	case T_NAM:
		return parse_nam(m, v, n) < 0 ? ti->err : NLETS_OK;
	case T_DOB:
		return parse_dob(m, v, n) < 0 ? ti->err : NLETS_OK;
	case T_SEX:
		if (c != 'M' && c != 'F' && c != 'X' && c != 'U')
			return ti->err;
		m->sex = c;
		return NLETS_OK;
	case T_RSN:
		if (c == 0 || strchr("NFVTSHI", c) == NULL)
			return ti->err;
		m->rsn = c;
		return NLETS_OK;
	case T_PUR:
		if (!is_upper(c) || !purpose_known(c))
			return ti->err;
		if (nlets_purpose(c) == NULL)
			return NLETS_ERR_PUR_UNSUPPORTED;
		m->pur = c;
		if (util_strlcpy(m->q.purpose, nlets_purpose(c), sizeof m->q.purpose) < 0)
			return ti->err;
		return NLETS_OK;
	case T_ATN:
		if (n >= sizeof m->atn || v[0] == ' ')
			return ti->err;
		for (size_t i = 0; i < n; i++) {
			if (!ok_atn(upper(v[i])))
				return ti->err;
			m->atn[i] = v[i];
		}
		m->atn[n] = '\0';
		return NLETS_OK;
	case T_IMQ:
		if (c != 'Y' && c != 'N')
			return ti->err;
		m->q.photo = c == 'Y';
		return NLETS_OK;
	case T_LPR:
		if (n >= sizeof m->q.legal_process)
			return ti->err;
		for (size_t i = 0; i < n; i++)
			if (!ok_lpr(v[i]))
				return ti->err;
		memcpy(m->q.legal_process, v, n);
		m->q.legal_process[n] = '\0';
		return NLETS_OK;
	case T_LIC:
		return copy_upper(m->q.plate, sizeof m->q.plate, v, n, ok_alnum) < 0 ? ti->err : NLETS_OK;
	case T_LIY:
		if (n == 2 && upper(v[0]) == 'N' && upper(v[1]) == 'X') {
			memcpy(m->liy, "NX", 3);
			return NLETS_OK;
		}
		if (n != 4 || !is_digit(v[0]) || !is_digit(v[1]) || !is_digit(v[2]) || !is_digit(v[3]))
			return ti->err;
		memcpy(m->liy, v, 4);
		m->liy[4] = '\0';
		return NLETS_OK;
	case T_LIT:
		if (copy_upper(m->lit, sizeof m->lit, v, n, ok_alnum) < 0 || n != 2 ||
		    !is_upper(m->lit[0]) || !is_upper(m->lit[1]))
			return ti->err;
		return NLETS_OK;
	case T_VIN:
		return copy_upper(m->q.vin, sizeof m->q.vin, v, n, ok_alnum) < 0 ? ti->err : NLETS_OK;
	case T_VMA:
		return copy_upper(m->vma, sizeof m->vma, v, n, ok_alnum) < 0 ? ti->err : NLETS_OK;
	case T_VYR:
		if (n != 4 || !is_digit(v[0]) || !is_digit(v[1]) || !is_digit(v[2]) || !is_digit(v[3]))
			return ti->err;
		memcpy(m->vyr, v, 4);
		m->vyr[4] = '\0';
		return NLETS_OK;
	case T_COUNT:
		break;
	}
	return NLETS_ERR_TAG_UNKNOWN;
}

/* ------------------------------------------------------------ parsing */

/* Does t[p..n) start like a message header ("XX." ... ".TXT")? */
static int
looks_like_header(const char *t, size_t n, size_t p)
{
	size_t i = p, end;

	while (i < n && i - p < 4 && is_upper(t[i]))
		i++;
	if (i - p < 2 || i >= n || t[i] != '.')
		return 0;
	end = p + NLETS_HEADER_MAX + 1 < n ? p + NLETS_HEADER_MAX + 1 : n;
	for (; i + 4 <= end; i++)
		if (memcmp(t + i, ".TXT", 4) == 0)
			return 1;
	return 0;
}

/*
 * Reads a header token from t[*p] up to '.'.  Returns 0, or -1 when there
 * is none within the header limit, with *p where the scan stopped.
 */
static int
token(const char *t, size_t n, size_t *p, size_t *start, size_t *len)
{
	size_t i = *p;

	while (i < n && i <= NLETS_HEADER_MAX && t[i] != '.')
		i++;
	if (i >= n || t[i] != '.' || i > NLETS_HEADER_MAX) {
		*p = i;
		return -1;
	}
	*start = *p;
	*len = i - *p;
	*p = i + 1;
	return 0;
}

/*
 * The header did not end: MISSING TXT when the message has no ".TXT" at
 * all, else HEADER LENGTH when the scan (stopped at p) ran past the limit.
 */
static enum nlets_err
header_end_error(const char *t, size_t n, size_t p)
{
	if (memmem(t, n, ".TXT", 4) == NULL)
		return NLETS_ERR_MISSING_TXT;
	return p > NLETS_HEADER_MAX ? NLETS_ERR_HEADER_LENGTH : NLETS_ERR_MISSING_TXT;
}

enum nlets_err
nlets_parse(const char *msg, size_t len, const char *home, struct nlets_msg *m)
{
	char t[NLETS_MAX_MESSAGE];
	uint16_t lines[NLETS_MAX_MESSAGE];
	size_t n = 0, nlines = 0, p = 0, s, l, dstart[8], dlen[8], nd = 0, cstart = 0, clen = 0;
	const struct key_info *key = NULL;
	unsigned seen = 0;
	int newline = 0, have_control = 0;
	enum nlets_err e;

	memset(m, 0, sizeof *m);
	if (home == NULL || strlen(home) != 2 || !is_upper(home[0]) || !is_upper(home[1]))
		home = NLETS_DEFAULT_STATE;
	memcpy(m->state, home, 3);
	if (len > NLETS_MAX_MESSAGE)
		return NLETS_ERR_TOO_LONG;

	/* Pass 1: drop control characters, note line starts. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c >= 0x80)
			return NLETS_ERR_CHARACTER;
		if (c == '\r' || c == '\n') {
			newline = 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		if (newline && n > 0)
			lines[nlines++] = (uint16_t)n;
		newline = 0;
		t[n++] = (char)c;
	}
	if (n == 0)
		return NLETS_ERR_EMPTY;

	/* Pass 2: the header. */
	if (token(t, n, &p, &s, &l) < 0 || l < 2 || l > 4)
		return NLETS_ERR_KEY;
	for (size_t i = 0; i < l; i++)
		if (!is_upper(t[s + i]))
			return NLETS_ERR_KEY;
	memcpy(m->mke, t + s, l);
	m->mke[l] = '\0';
	for (size_t i = 0; i < UTIL_NELEM(keys); i++)
		if (strcmp(keys[i].mke, m->mke) == 0)
			key = &keys[i];
	if (token(t, n, &p, &s, &l) < 0)
		return header_end_error(t, n, p);
	if (l == NLETS_ORI_LEN && is_upper(t[s]) && is_upper(t[s + 1])) {
		int ok = 1;
		for (size_t i = 0; i < l; i++)
			ok &= ok_alnum(t[s + i]);
		if (ok) {
			memcpy(m->ori, t + s, l);
			m->ori[l] = '\0';
		}
	}
	for (;;) {
		if (p + 3 <= n && memcmp(t + p, "TXT", 3) == 0) {
			p += 3;
			break;
		}
		if (have_control)
			return header_end_error(t, n, p + 3);
		if (p < n && t[p] == '*') {
			p++;
			if (token(t, n, &p, &cstart, &clen) < 0)
				return header_end_error(t, n, p);
			have_control = 1;
			continue;
		}
		if (token(t, n, &p, &s, &l) < 0)
			return header_end_error(t, n, p);
		if (nd < UTIL_NELEM(dstart)) {
			dstart[nd] = s;
			dlen[nd] = l;
		}
		nd++;
	}
	m->header_len = p;
	if (p < NLETS_HEADER_MIN || p > NLETS_HEADER_MAX)
		return NLETS_ERR_HEADER_LENGTH;
	if (have_control) {
		int ok = clen >= 1 && clen <= NLETS_CONTROL_MAX;
		for (size_t i = 0; ok && i < clen; i++)
			ok = ok_alnum(t[cstart + i]);
		if (ok) {
			memcpy(m->control, t + cstart, clen);
			m->control[clen] = '\0';
		}
	}
	for (size_t i = 0; i < nlines; i++)
		if (lines[i] >= p && looks_like_header(t, n, lines[i]))
			return NLETS_ERR_MULTIPLE;
	if (key == NULL)
		return NLETS_ERR_KEY;
	if (key->err != NLETS_OK)
		return key->err;
	m->key = strcmp(m->mke, "DQ") == 0 ? NLETS_DQ : NLETS_RQ;
	if (m->ori[0] == '\0')
		return NLETS_ERR_ORI;
	if (have_control && m->control[0] == '\0')
		return NLETS_ERR_CONTROL;
	if (nd == 0)
		return NLETS_ERR_DEST_MISSING;
	if (nd > NLETS_MAX_DEST)
		return NLETS_ERR_DEST_COUNT;
	for (size_t i = 0; i < nd; i++) {
		if (dlen[i] != 2 || !is_upper(t[dstart[i]]) || !is_upper(t[dstart[i] + 1]))
			return NLETS_ERR_DEST;
		memcpy(m->dest[i], t + dstart[i], 2);
		m->dest[i][2] = '\0';
	}
	m->ndest = (unsigned)nd;
	e = NLETS_ERR_DEST_NOT_SERVED;
	for (size_t i = 0; i < nd; i++)
		if (strcmp(m->dest[i], m->state) == 0 || strcmp(m->dest[i], "NL") == 0)
			e = NLETS_OK;
	if (e != NLETS_OK)
		return e;

	/* Pass 3: the data fields. */
	if (p == n)
		return NLETS_ERR_NO_DATA;
	if (t[n - 1] == '.')
		return NLETS_ERR_TRAILING_PERIOD;
	while (p < n) {
		size_t fe = p, slash;
		int ti = -1;
		const char *v;
		size_t vn;

		while (fe < n && t[fe] != '.')
			fe++;
		slash = p;
		while (slash < fe && t[slash] != '/')
			slash++;
		if (slash != p + 3 || slash == fe)
			return NLETS_ERR_FIELD_FORMAT;
		for (size_t i = 0; i < 3; i++)
			if (!is_upper(t[p + i]))
				return NLETS_ERR_FIELD_FORMAT;
		for (int i = 0; i < T_COUNT; i++)
			if (memcmp(tags[i].name, t + p, 3) == 0)
				ti = i;
		if (ti < 0)
			return NLETS_ERR_TAG_UNKNOWN;
		if (!(tags[ti].keys & (m->key == NLETS_DQ ? KDQ : KRQ)))
			return NLETS_ERR_TAG_NOT_ALLOWED;
		if (seen & (1u << ti))
			return NLETS_ERR_TAG_DUPLICATE;
		seen |= 1u << ti;
		v = t + slash + 1;
		vn = fe - slash - 1;
		if (vn == 0)
			return NLETS_ERR_FIELD_EMPTY;
		if (vn > tags[ti].max)
			return NLETS_ERR_FIELD_LENGTH;
		e = field_value(m, (enum tag_id)ti, v, vn);
		if (e != NLETS_OK)
			return e;
		p = fe + 1;
	}

	/* The search form, purpose and reason. */
#define HAS(x) ((seen & (1u << (x))) != 0)
	if (m->key == NLETS_DQ) {
		int name = HAS(T_NAM) || HAS(T_DOB) || HAS(T_SEX);
		if (HAS(T_OLN) && name)
			return NLETS_ERR_DQ_BOTH;
		m->q.type = STORE_DRIVER;
		memcpy(m->q.type_name, "driver", 7);
		if (HAS(T_OLN)) {
			m->q.by = STORE_BY_LICENSE;
			memcpy(m->q.by_name, "license", 8);
		} else if (HAS(T_NAM) && HAS(T_DOB) && HAS(T_SEX)) {
			m->q.by = STORE_BY_NAME_DOB;
			memcpy(m->q.by_name, "name_dob", 9);
		} else {
			return NLETS_ERR_DQ_MISSING;
		}
	} else {
		int plate = HAS(T_LIC) || HAS(T_LIY) || HAS(T_LIT);
		if (HAS(T_VIN) && plate)
			return NLETS_ERR_RQ_BOTH;
		if ((HAS(T_VMA) || HAS(T_VYR)) && !HAS(T_VIN))
			return NLETS_ERR_VMA_WITHOUT_VIN;
		m->q.type = STORE_VEHICLE;
		memcpy(m->q.type_name, "vehicle", 8);
		if (HAS(T_VIN)) {
			m->q.by = STORE_BY_VIN;
			memcpy(m->q.by_name, "vin", 4);
		} else if (HAS(T_LIC) && HAS(T_LIY) && HAS(T_LIT)) {
			m->q.by = STORE_BY_PLATE;
			memcpy(m->q.by_name, "plate", 6);
			memcpy(m->q.plate_state, m->state, 3);
		} else {
			return NLETS_ERR_RQ_MISSING;
		}
	}
	if (!HAS(T_PUR))
		return NLETS_ERR_PUR_MISSING;
	if (!HAS(T_ATN))
		return NLETS_ERR_ATN_MISSING;
#undef HAS
	if (m->rsn)
		snprintf(m->q.reason, sizeof m->q.reason, "%s (RSN/%c)", m->atn, m->rsn);
	else
		snprintf(m->q.reason, sizeof m->q.reason, "%s", m->atn);
	return NLETS_OK;
}

enum nlets_err
nlets_check_ori(const struct nlets_msg *m, const char *auth_ori)
{
	if (m == NULL || auth_ori == NULL || m->ori[0] == '\0' ||
	    strlen(auth_ori) != NLETS_ORI_LEN ||
	    util_ct_memcmp(m->ori, auth_ori, NLETS_ORI_LEN) != 0)
		return NLETS_ERR_ORI_MISMATCH;
	return NLETS_OK;
}

/* ------------------------------------------------------------ writing */

void
nlets_writer_init(struct nlets_writer *w, char *buf, size_t size)
{
	memset(w, 0, sizeof *w);
	w->buf = buf;
	w->size = size;
	if (size > 0)
		buf[0] = '\0';
	else
		w->overflow = 1;
	memcpy(w->state, NLETS_DEFAULT_STATE, 3);
}

static void
put(struct nlets_writer *w, const char *s, size_t n)
{
	if (w->overflow)
		return;
	if (w->len + n + 1 > w->size) {
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void
puts_(struct nlets_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

/*
 * Appends a record value folded for the tagged layout: words folded by
 * norm_name (upper-case ASCII, accents removed, punctuation dropped),
 * joined by single spaces, hyphens and commas (';' lists become ','); a
 * letter of another script becomes '?'.
 */
static void
put_value(struct nlets_writer *w, const char *v, size_t n)
{
	char word[128];
	size_t i = 0;
	int started = 0, space = 0;

	while (i < n) {
		size_t j = i;
		int k;

		while (j < n && v[j] != ' ' && v[j] != '-' && v[j] != ',' && v[j] != ';')
			j++;
		k = 0;
		if (j > i)
			k = j - i < sizeof word ? norm_name(v + i, j - i, word, sizeof word) : -1;
		if (k != 0) {
			if (space && started)
				put(w, " ", 1);
			space = 0;
			started = 1;
			if (k < 0)
				put(w, "?", 1);
			for (int a = 0; a < k; a++) {
				unsigned char c = (unsigned char)word[a];
				if (c < 0x80)
					put(w, word + a, 1);
				else if (c >= 0xc0)
					put(w, "?", 1);   /* one per code point */
			}
		}
		if (j < n) {
			if (v[j] == ' ') {
				space = 1;
			} else {
				put(w, v[j] == '-' ? "-" : ",", 1);
				started = 1;
				space = 0;
			}
		}
		i = j + 1;
	}
}

/* A field value, NULL-safe. */
static const char *
get(const struct store_row *r, enum field f, size_t *n)
{
	const char *v = store_row_get(r, f, n);

	if (v == NULL)
		*n = 0;
	return v;
}

/* Starts "TAG/" on the current line (with the '.' before it if needed). */
static void
tag(struct nlets_writer *w, int *first, const char *name)
{
	if (!*first)
		put(w, ".", 1);
	*first = 0;
	puts_(w, name);
	put(w, "/", 1);
}

/* YYYY-MM-DD as ccyymmdd; anything else as a folded value. */
static void
put_date(struct nlets_writer *w, const char *v, size_t n)
{
	int ok = n == 10 && v[4] == '-' && v[7] == '-';

	for (size_t i = 0; ok && i < n; i++)
		ok = i == 4 || i == 7 || is_digit(v[i]);
	if (!ok) {
		put_value(w, v, n);
		return;
	}
	put(w, v, 4);
	put(w, v + 5, 2);
	put(w, v + 8, 2);
}

/* A released field as TAG/value; YYYY-MM-DD becomes ccyymmdd. */
static void
field(struct nlets_writer *w, int *first, field_mask rel, const struct store_row *r,
    enum field f, const char *name)
{
	size_t n;
	const char *v;

	if (!(rel & FIELD_BIT(f)))
		return;
	tag(w, first, name);
	v = get(r, f, &n);
	if (v == NULL)
		return;
	if (f == FIELD_DOB || f == FIELD_ISSUED || f == FIELD_EXPIRES || f == FIELD_PLATE_EXPIRES)
		put_date(w, v, n);
	else
		put_value(w, v, n);
}

static void
endline(struct nlets_writer *w, int first)
{
	if (!first)
		put(w, "\n", 1);
}

int
nlets_begin(struct nlets_writer *w, const struct nlets_msg *m)
{
	memcpy(w->state, m->state[0] ? m->state : NLETS_DEFAULT_STATE, 3);
	puts_(w, m->key == NLETS_DQ ? "DR." : "RR.");
	puts_(w, w->state);
	puts_(w, m->key == NLETS_DQ ? "OLN0000." : "LIC0000.");
	if (m->ori[0]) {
		puts_(w, m->ori);
		put(w, ".", 1);
	}
	if (m->control[0]) {
		put(w, "*", 1);
		puts_(w, m->control);
		put(w, ".", 1);
	}
	puts_(w, "TXT\n");
	return w->overflow ? -1 : 0;
}

static void
record_start(struct nlets_writer *w)
{
	if (w->records++ > 0)
		put(w, "\n", 1);
}

struct hist_ctx {
	struct nlets_writer *w;
	int n;
};

static int
put_event(void *arg, const struct store_event *ev)
{
	struct hist_ctx *h = arg;
	struct nlets_writer *w = h->w;
	int first = 1;

	h->n++;
	tag(w, &first, "HIS");
	if (ev->date)
		put_date(w, ev->date, strlen(ev->date));
	tag(w, &first, "KND");
	if (ev->kind)
		put_value(w, ev->kind, strlen(ev->kind));
	tag(w, &first, "COD");
	if (ev->code)
		put_value(w, ev->code, strlen(ev->code));
	tag(w, &first, "DES");
	if (ev->description)
		put_value(w, ev->description, strlen(ev->description));
	put(w, "\n", 1);
	return w->overflow;
}

int
nlets_encode_driver(struct nlets_writer *w, const struct store_row *r, field_mask rel)
{
	int first = 1;
	size_t n;
	const char *v;

	rel &= ~FIELD_MASK_SENSITIVE;
	record_start(w);

	/* Identity and description. */
	if (rel & (FIELD_BIT(FIELD_LAST_NAME) | FIELD_BIT(FIELD_FIRST_NAME) |
		FIELD_BIT(FIELD_MIDDLE_NAME) | FIELD_BIT(FIELD_SUFFIX))) {
		tag(w, &first, "NAM");
		if ((rel & FIELD_BIT(FIELD_LAST_NAME)) && (v = get(r, FIELD_LAST_NAME, &n)))
			put_value(w, v, n);
		put(w, ",", 1);
		if ((rel & FIELD_BIT(FIELD_FIRST_NAME)) && (v = get(r, FIELD_FIRST_NAME, &n)))
			put_value(w, v, n);
		if ((rel & FIELD_BIT(FIELD_MIDDLE_NAME)) && (v = get(r, FIELD_MIDDLE_NAME, &n))) {
			put(w, " ", 1);
			put_value(w, v, n);
		}
		if ((rel & FIELD_BIT(FIELD_SUFFIX)) && (v = get(r, FIELD_SUFFIX, &n))) {
			put(w, " ", 1);
			put_value(w, v, n);
		}
	}
	field(w, &first, rel, r, FIELD_DOB, "DOB");
	field(w, &first, rel, r, FIELD_SEX, "SEX");
	if (rel & FIELD_BIT(FIELD_HEIGHT_IN)) {
		int64_t in;
		char tmp[16];

		tag(w, &first, "HGT");
		v = get(r, FIELD_HEIGHT_IN, &n);
		if (v && n < sizeof tmp) {
			memcpy(tmp, v, n);
			tmp[n] = '\0';
			if (util_parse_i64(tmp, 0, 999, &in) == 0) {
				snprintf(tmp, sizeof tmp, "%d%02d", (int)(in / 12), (int)(in % 12));
				puts_(w, tmp);
			} else {
				put_value(w, v, n);
			}
		}
	}
	field(w, &first, rel, r, FIELD_WEIGHT_LB, "WGT");
	field(w, &first, rel, r, FIELD_EYE_COLOR, "EYE");
	field(w, &first, rel, r, FIELD_HAIR_COLOR, "HAI");
	endline(w, first);

	/* The licence. */
	first = 1;
	field(w, &first, rel, r, FIELD_LICENSE_NUMBER, "OLN");
	if (rel & FIELD_BIT(FIELD_LICENSE_NUMBER)) {
		tag(w, &first, "OLS");
		puts_(w, w->state);
	}
	field(w, &first, rel, r, FIELD_STATUS, "STATUS");
	field(w, &first, rel, r, FIELD_ISSUED, "ISS");
	field(w, &first, rel, r, FIELD_EXPIRES, "EXP");
	field(w, &first, rel, r, FIELD_LICENSE_CLASS, "CLS");
	field(w, &first, rel, r, FIELD_RESTRICTIONS, "RES");
	field(w, &first, rel, r, FIELD_ENDORSEMENTS, "ENS");
	endline(w, first);

	/* The address. */
	first = 1;
	field(w, &first, rel, r, FIELD_STREET, "ADR");
	field(w, &first, rel, r, FIELD_CITY, "CTY");
	field(w, &first, rel, r, FIELD_STATE, "STA");
	field(w, &first, rel, r, FIELD_ZIP, "ZIP");
	endline(w, first);

	/* The image is not sent as text: say whether one is released and on file. */
	if (rel & FIELD_BIT(FIELD_PHOTO)) {
		first = 1;
		tag(w, &first, "IMG");
		puts_(w, get(r, FIELD_PHOTO_ID, &n) != NULL ? "ON FILE" : "NONE");
		endline(w, first);
	}

	if (rel & FIELD_BIT(FIELD_HISTORY)) {
		struct hist_ctx h = { w, 0 };

		if (store_row_history(r, put_event, &h) < 0 && !w->overflow)
			return -1;
		if (h.n == 0)
			puts_(w, "HIS/NONE\n");
	}
	return w->overflow ? -1 : 0;
}

int
nlets_encode_vehicle(struct nlets_writer *w, const struct store_row *r, field_mask rel)
{
	int first = 1;

	rel &= ~FIELD_MASK_SENSITIVE;
	record_start(w);

	field(w, &first, rel, r, FIELD_PLATE, "LIC");
	field(w, &first, rel, r, FIELD_PLATE_STATE, "LIS");
	field(w, &first, rel, r, FIELD_PLATE_TYPE, "LIT");
	field(w, &first, rel, r, FIELD_PLATE_EXPIRES, "EXP");
	endline(w, first);

	first = 1;
	field(w, &first, rel, r, FIELD_VIN, "VIN");
	field(w, &first, rel, r, FIELD_MODEL_YEAR, "VYR");
	field(w, &first, rel, r, FIELD_MAKE, "VMA");
	field(w, &first, rel, r, FIELD_MODEL, "VMO");
	field(w, &first, rel, r, FIELD_BODY_STYLE, "VST");
	field(w, &first, rel, r, FIELD_COLOR, "VCO");
	field(w, &first, rel, r, FIELD_REGISTRATION_STATUS, "STATUS");
	endline(w, first);

	first = 1;
	field(w, &first, rel, r, FIELD_OWNER_NAME, "OWN");
	field(w, &first, rel, r, FIELD_OWNER_LICENSE_NUMBER, "OLN");
	endline(w, first);

	first = 1;
	field(w, &first, rel, r, FIELD_OWNER_STREET, "ADR");
	field(w, &first, rel, r, FIELD_OWNER_CITY, "CTY");
	field(w, &first, rel, r, FIELD_OWNER_STATE, "STA");
	field(w, &first, rel, r, FIELD_OWNER_ZIP, "ZIP");
	endline(w, first);
	return w->overflow ? -1 : 0;
}

int
nlets_encode_not_on_file(struct nlets_writer *w)
{
	puts_(w, "NOT ON FILE\n");
	return w->overflow ? -1 : 0;
}

/* A rule id as written: [a-z0-9_-] kept, anything else '?'. */
static void
put_id(struct nlets_writer *w, const char *s)
{
	for (size_t i = 0; s[i] && i < 64; i++) {
		char c = s[i];
		if (!(is_lower(c) || is_upper(c) || is_digit(c) || c == '-' || c == '_'))
			c = '?';
		put(w, &c, 1);
	}
}

/*
 * Free text on a line of its own (a denial's reason): printable ASCII
 * upper-cased, periods and control characters dropped, a non-ASCII code
 * point written as one '?'.
 */
static void
put_text(struct nlets_writer *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char o;

		if (c >= 0x80) {
			if (c >= 0xc0)
				put(w, "?", 1);
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == '.')
			continue;
		o = upper((char)c);
		put(w, &o, 1);
	}
}

int
nlets_encode_denial(struct nlets_writer *w, const char *reason, const char *const *rules,
    size_t nrules)
{
	puts_(w, "REJECT - DENIED BY POLICY\n");
	if (nrules > 0) {
		puts_(w, "RULES/");
		for (size_t i = 0; i < nrules; i++) {
			if (i > 0)
				put(w, ",", 1);
			if (rules[i] != NULL)
				put_id(w, rules[i]);
		}
		put(w, "\n", 1);
	}
	if (reason != NULL && reason[0] != '\0') {
		puts_(w, "REASON/");
		put_text(w, reason, strnlen(reason, 512));
		put(w, "\n", 1);
	}
	return w->overflow ? -1 : 0;
}

int
nlets_finish(struct nlets_writer *w, int64_t audit_index)
{
	if (audit_index >= 0) {
		char tmp[32];

		snprintf(tmp, sizeof tmp, "AUD/%lld\n", (long long)audit_index);
		puts_(w, tmp);
	}
	if (w->overflow || w->len > (size_t)INT32_MAX)
		return -1;
	return (int)w->len;
}

int
nlets_reject(char *buf, size_t size, const struct nlets_msg *m, enum nlets_err e,
    int64_t audit_index)
{
	struct nlets_writer w;

	nlets_writer_init(&w, buf, size);
	if (m != NULL && m->state[0])
		memcpy(w.state, m->state, 3);
	puts_(&w, "ER.");
	puts_(&w, w.state);
	puts_(&w, "OLN0000.");
	if (m != NULL && m->ori[0]) {
		puts_(&w, m->ori);
		put(&w, ".", 1);
	}
	if (m != NULL && m->control[0]) {
		put(&w, "*", 1);
		puts_(&w, m->control);
		put(&w, ".", 1);
	}
	puts_(&w, "TXT\n");
	puts_(&w, nlets_err_text(e));
	put(&w, "\n", 1);
	return nlets_finish(&w, audit_index);
}
