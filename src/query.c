/*
 * query.c - strict mapping of a /v1/query JSON body to struct query (see
 * query.h).
 *
 * Before Jansson sees the text a linear scan checks the nesting depth, so
 * a hostile body of many brackets costs one pass and no recursion.  Then
 * Jansson parses with duplicate keys rejected and NUL forbidden (it also
 * rejects invalid UTF-8), and a table of members drives the checks.
 *
 * The common body, a flat object of printable-ASCII strings without
 * escapes (and at most "include": ["photo"]), first goes through a
 * one-pass scanner that applies the same member checks without building
 * a Jansson tree (a fifth of a request's instructions went into
 * json_loadb).  It only ever accepts: anything else, including every
 * error, is left to the Jansson path, which therefore decides every
 * error message.  fuzz_query checks that both paths agree on every input.
 */
#include "query.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

static const char *const err_names[] = {
	[QUERY_OK] = "ok",
	[QUERY_ERR_JSON] = "invalid_json",
	[QUERY_ERR_DEPTH] = "too_deep",
	[QUERY_ERR_NOT_OBJECT] = "not_an_object",
	[QUERY_ERR_UNKNOWN_FIELD] = "unknown_field",
	[QUERY_ERR_MISSING_FIELD] = "missing_field",
	[QUERY_ERR_TYPE] = "wrong_type",
	[QUERY_ERR_VALUE] = "invalid_value",
	[QUERY_ERR_LENGTH] = "invalid_length",
	[QUERY_ERR_FIELD_NOT_ALLOWED] = "field_not_allowed",
};

const char *
query_err_name(enum query_err e)
{
	if ((size_t)e < UTIL_NELEM(err_names) && err_names[e] != NULL)
		return err_names[e];
	return "error";
}

static int UTIL_PRINTF(3, 4)
fail(struct query_error *err, enum query_err code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Max nesting of [] and {} outside strings; stops early past limit. */
static int
depth_ok(const char *s, size_t len, int limit)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

/* Lookup keys: bit per key, and which `by` needs which. */
enum { K_LICENSE = 1, K_LAST = 2, K_FIRST = 4, K_DOB = 8, K_PLATE = 16,
	K_PLATE_STATE = 32, K_VIN = 64, K_STREET = 128, K_CITY = 256, K_ZIP = 512,
	K_KIND = 1024 };

struct by_info {
	const char *name;
	enum store_by by;
	unsigned keys;            /* required (and only allowed) keys */
	unsigned types;           /* 1 driver, 2 vehicle */
};

static const struct by_info bys[] = {
	{ "license", STORE_BY_LICENSE, K_LICENSE, 3 },
	{ "name_dob", STORE_BY_NAME_DOB, K_LAST | K_FIRST | K_DOB, 1 },
	{ "plate", STORE_BY_PLATE, K_PLATE | K_PLATE_STATE, 2 },
	{ "vin", STORE_BY_VIN, K_VIN, 2 },
	{ "address", STORE_BY_ADDRESS, K_STREET | K_CITY | K_ZIP, 3 },
	{ "license_kind", STORE_BY_LICENSE_KIND, K_KIND, 1 },
};

enum check { C_NONE, C_WORD, C_KEY, C_TEXT, C_DATE, C_STATE, C_ZIP };

struct member {
	const char *name;
	unsigned key;             /* K_* for lookup keys, 0 otherwise */
	size_t off, size;         /* where in struct query */
	enum check check;
};

#define M(n, k, f, c) { n, k, offsetof(struct query, f), sizeof(((struct query *)0)->f), c }
static const struct member members[] = {
	M("type", 0, type_name, C_WORD),
	M("by", 0, by_name, C_WORD),
	M("purpose", 0, purpose, C_WORD),
	M("reason", 0, reason, C_TEXT),
	M("legal_process", 0, legal_process, C_KEY),
	M("license_number", K_LICENSE, license_number, C_KEY),
	M("last_name", K_LAST, last_name, C_TEXT),
	M("first_name", K_FIRST, first_name, C_TEXT),
	M("dob", K_DOB, dob, C_DATE),
	M("plate", K_PLATE, plate, C_KEY),
	M("plate_state", K_PLATE_STATE, plate_state, C_STATE),
	M("vin", K_VIN, vin, C_KEY),
	M("street", K_STREET, street, C_TEXT),
	M("city", K_CITY, city, C_TEXT),
	M("zip", K_ZIP, zip, C_ZIP),
	M("license_kind", K_KIND, license_kind, C_KEY),
};

static int
check_value(const struct member *m, const char *s, size_t n)
{
	int32_t d;

	switch (m->check) {
	case C_NONE:
	case C_TEXT:
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return -1;
		return 0;
	case C_WORD:
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
				return -1;
		return 0;
	case C_KEY:
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
				return -1;
		return 0;
	case C_DATE:
		return util_date_parse(s, n, &d);
	case C_STATE:
		if (n != 2)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
				return -1;
		return 0;
	case C_ZIP:
		if (n != 5 && n != 10)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!(s[i] >= '0' && s[i] <= '9') && !(i == 5 && s[i] == '-'))
				return -1;
		return 0;
	}
	return -1;
}

static const struct member *
find_member(const char *name, size_t n)
{
	for (size_t i = 0; i < UTIL_NELEM(members); i++)
		if (strncmp(members[i].name, name, n) == 0 && members[i].name[n] == '\0')
			return &members[i];
	return NULL;
}

/* Checks and stores one string member (n bytes at s); 0 or -1 with *err. */
static int
set_member(struct query *q, const struct member *m, const char *s, size_t n, unsigned *keys,
    struct query_error *err)
{
	if (n == 0 || n >= m->size)
		return fail(err, QUERY_ERR_LENGTH, "\"%s\" must be 1 to %zu bytes", m->name, m->size - 1);
	if (check_value(m, s, n) < 0)
		return fail(err, QUERY_ERR_VALUE, "\"%s\" is malformed", m->name);
	memcpy((char *)q + m->off, s, n);
	((char *)q + m->off)[n] = '\0';
	*keys |= m->key;
	return 0;
}

static int finish(struct query *q, unsigned keys, struct query_error *err);

static int
parse_include(json_t *v, struct query *q, struct query_error *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail(err, QUERY_ERR_TYPE, "\"include\" must be an array of strings");
	if (json_array_size(v) > 4)
		return fail(err, QUERY_ERR_LENGTH, "\"include\" has too many items");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return fail(err, QUERY_ERR_TYPE, "\"include\" must be an array of strings");
		if (strcmp(json_string_value(e), "photo") != 0)
			return fail(err, QUERY_ERR_VALUE, "\"include\" item %zu: only \"photo\" is offered", i);
		if (q->photo)
			return fail(err, QUERY_ERR_VALUE, "\"include\" lists \"photo\" twice");
		q->photo = 1;
	}
	return 0;
}

int
query_parse_reference(const char *body, size_t len, struct query *q, struct query_error *err)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *name;
	unsigned keys = 0;
	int rc = -1;

	memset(q, 0, sizeof *q);
	memset(err, 0, sizeof *err);
	if (!depth_ok(body, len, QUERY_MAX_DEPTH))
		return fail(err, QUERY_ERR_DEPTH, "the body nests deeper than %d levels", QUERY_MAX_DEPTH);
	/* JSON_DECODE_ANY: a bare scalar is JSON, just not an object, and gets
	 * not_an_object like an array does (docs/api.md). */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		/* jerr.text is Jansson's message about the syntax, never echoing
		 * more than a token of the input */
		fail(err, QUERY_ERR_JSON, "line %d column %d: %.100s", jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		fail(err, QUERY_ERR_NOT_OBJECT, "the body must be a JSON object");
		goto out;
	}
	if (json_object_size(root) > QUERY_MAX_MEMBERS) {
		fail(err, QUERY_ERR_LENGTH, "too many members");
		goto out;
	}
	json_object_foreach(root, name, v) {
		const struct member *m = NULL;
		const char *s;
		size_t n;

		if (strcmp(name, "include") == 0) {
			if (parse_include(v, q, err) < 0)
				goto out;
			continue;
		}
		m = find_member(name, strlen(name));
		if (m == NULL) {
			size_t nl = strlen(name);
			int printable = util_utf8_valid(name, nl) == 0 && nl <= 40;
			for (size_t i = 0; printable && i < nl; i++)
				if ((unsigned char)name[i] < 0x20 || name[i] == '"' || name[i] == '\\')
					printable = 0;
			fail(err, QUERY_ERR_UNKNOWN_FIELD, printable ? "unknown member \"%s\"" :
			    "unknown member%s", printable ? name : "");
			goto out;
		}
		if (!json_is_string(v)) {
			fail(err, QUERY_ERR_TYPE, "\"%s\" must be a string", m->name);
			goto out;
		}
		s = json_string_value(v);
		n = json_string_length(v);
		if (set_member(q, m, s, n, &keys, err) < 0)
			goto out;
	}
	rc = finish(q, keys, err);
out:
	json_decref(root);
	if (rc < 0)
		memset(q, 0, sizeof *q);
	return rc;
}

/*
 * The fast path: a flat object of printable-ASCII, escape-free strings
 * (and "include": ["photo"]).  Returns 0 with *q set, or -1 when the body
 * is anything else or fails a check: the caller then runs the reference
 * path (q is cleared first there).
 */
static int
parse_simple(const char *body, size_t len, struct query *q)
{
	const char *p = body, *end = body + len;
	const char *names[QUERY_MAX_MEMBERS];
	size_t nlens[QUERY_MAX_MEMBERS];
	struct query_error err;
	unsigned keys = 0;
	int nmembers = 0;

#define WS() while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++
	/* a string: '"', printable ASCII but '"' and '\\', '"' */
#define STR(s, n) do { \
		if (p >= end || *p != '"') return -1; \
		(s) = ++p; \
		while (p < end && *p != '"') { \
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\\') \
				return -1; \
			p++; \
		} \
		if (p >= end) return -1; \
		(n) = (size_t)(p - (s)); \
		p++; \
	} while (0)

	memset(q, 0, sizeof *q);
	WS();
	if (p >= end || *p++ != '{')
		return -1;
	WS();
	if (p < end && *p == '}')
		return -1;                /* {}: let the reference path say what is missing */
	for (;;) {
		const char *name, *val;
		size_t nlen, vlen;
		const struct member *m;

		STR(name, nlen);
		WS();
		if (p >= end || *p++ != ':')
			return -1;
		WS();
		if (nmembers >= QUERY_MAX_MEMBERS)
			return -1;
		for (int i = 0; i < nmembers; i++)
			if (nlens[i] == nlen && memcmp(names[i], name, nlen) == 0)
				return -1;        /* duplicate */
		names[nmembers] = name;
		nlens[nmembers++] = nlen;
		if (nlen == 7 && memcmp(name, "include", 7) == 0) {
			/* only the one form: ["photo"] */
			if (p >= end || *p++ != '[')
				return -1;
			WS();
			STR(val, vlen);
			WS();
			if (p >= end || *p++ != ']' || vlen != 5 || memcmp(val, "photo", 5) != 0)
				return -1;
			q->photo = 1;
		} else {
			STR(val, vlen);
			if ((m = find_member(name, nlen)) == NULL ||
			    set_member(q, m, val, vlen, &keys, &err) < 0)
				return -1;
		}
		WS();
		if (p < end && *p == ',') {
			p++;
			WS();
			continue;
		}
		if (p < end && *p == '}') {
			p++;
			break;
		}
		return -1;
	}
	WS();
	if (p != end)
		return -1;
#undef STR
#undef WS
	return finish(q, keys, &err);
}

int
query_parse(const char *body, size_t len, struct query *q, struct query_error *err)
{
	memset(err, 0, sizeof *err);
	if (parse_simple(body, len, q) == 0)
		return 0;
	return query_parse_reference(body, len, q, err);
}

/* The checks after every member is in: type, by and its keys, required members. */
static int
finish(struct query *q, unsigned keys, struct query_error *err)
{
	const struct by_info *by = NULL;

	if (q->type_name[0] == '\0')
		return fail(err, QUERY_ERR_MISSING_FIELD, "\"type\" is required");
	if (strcmp(q->type_name, "driver") == 0)
		q->type = STORE_DRIVER;
	else if (strcmp(q->type_name, "vehicle") == 0)
		q->type = STORE_VEHICLE;
	else
		return fail(err, QUERY_ERR_VALUE, "\"type\" must be \"driver\" or \"vehicle\"");
	if (q->by_name[0] == '\0')
		return fail(err, QUERY_ERR_MISSING_FIELD, "\"by\" is required");
	for (size_t i = 0; i < UTIL_NELEM(bys); i++)
		if (strcmp(bys[i].name, q->by_name) == 0)
			by = &bys[i];
	if (by == NULL)
		return fail(err, QUERY_ERR_VALUE,
		    "\"by\" must be one of license, name_dob, plate, vin, address, license_kind");
	if (!(by->types & (q->type == STORE_DRIVER ? 1u : 2u)))
		return fail(err, QUERY_ERR_VALUE, "a %s query cannot be by %s", q->type_name, by->name);
	q->by = by->by;
	for (size_t i = 0; i < UTIL_NELEM(members); i++) {
		const struct member *m = &members[i];
		if (m->key == 0)
			continue;
		if ((by->keys & m->key) && !(keys & m->key))
			return fail(err, QUERY_ERR_MISSING_FIELD, "\"%s\" is required with by %s",
			    m->name, by->name);
		if (!(by->keys & m->key) && (keys & m->key))
			return fail(err, QUERY_ERR_FIELD_NOT_ALLOWED, "\"%s\" is not used with by %s",
			    m->name, by->name);
	}
	if (q->purpose[0] == '\0')
		return fail(err, QUERY_ERR_MISSING_FIELD, "\"purpose\" is required");
	if (q->reason[0] == '\0')
		return fail(err, QUERY_ERR_MISSING_FIELD, "\"reason\" is required");
	if (q->photo && q->type != STORE_DRIVER)
		return fail(err, QUERY_ERR_VALUE, "\"include\": photo is only offered for driver queries");
	for (char *p = q->plate_state; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return 0;
}

void
query_to_store(const struct query *q, struct store_query *sq)
{
	memset(sq, 0, sizeof *sq);
	sq->type = q->type;
	sq->by = q->by;
#define S(f) sq->f = q->f[0] ? q->f : NULL
	S(license_number);
	S(last_name);
	S(first_name);
	S(dob);
	S(plate);
	S(plate_state);
	S(vin);
	S(street);
	S(city);
	S(zip);
	S(license_kind);
#undef S
}

void
query_subject(const struct query *q, char *out, size_t outsz)
{
	switch (q->by) {
	case STORE_BY_LICENSE:
		snprintf(out, outsz, "license:%s", q->license_number);
		break;
	case STORE_BY_NAME_DOB:
		snprintf(out, outsz, "name_dob:%s/%s/%s", q->last_name, q->first_name, q->dob);
		break;
	case STORE_BY_PLATE:
		snprintf(out, outsz, "plate:%s:%s", q->plate_state, q->plate);
		break;
	case STORE_BY_VIN:
		snprintf(out, outsz, "vin:%s", q->vin);
		break;
	case STORE_BY_ADDRESS:
		snprintf(out, outsz, "address:%s/%s/%s", q->street, q->city, q->zip);
		break;
	case STORE_BY_LICENSE_KIND:
		snprintf(out, outsz, "license_kind:%s", q->license_kind);
		break;
	}
}
