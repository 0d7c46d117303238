/*
 * policy.c - the policy language: lexer, parser, checker and compiler
 * into the immutable struct policy, plus the small accessors and the
 * reload handle, and the decision itself (at the end: "Decision").
 *
 * The whole file is lexed into a token array first (bounded by the 1 MiB
 * file limit), then parsed by recursive descent.  Recursion happens only in
 * conditions and is bounded by POLICY_MAX_DEPTH, so hostile nesting gives
 * an error, never a stack overflow.  Every error is recorded as
 * "file:line:col: message" and parsing resumes at the next statement
 * keyword, so one run reports all of them.  Names must be declared before
 * they are used.  The grammar is documented in docs/policy.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "policy.h"
#include "util.h"

/* ---------------------------------------------------------------------- */
/* The compiled form                                                       */

#define POLICY_NONE UINT32_MAX
/* The bit of "no legal process cited" in the process-kind attribute. */
#define POLICY_PROCESS_NONE_BIT 63

/* Request attributes, each a 64-bit fact computed once per decision. */
enum {
	POLICY_A_CATEGORY,   /* 1 << category */
	POLICY_A_PURPOSE,    /* 1 << purpose */
	POLICY_A_PROCESS,    /* 1 << kind, or bit 63 when none */
	POLICY_A_TYPE,       /* 1 << type */
	POLICY_A_BY,         /* 1 << by */
	POLICY_A_EXTRAS,     /* extras bits */
	POLICY_A_CERTIFIED,  /* 0 / 1 */
	POLICY_A_PVALID,
	POLICY_A_PISSUED,
	POLICY_A_PCOVERS,
	POLICY_A_ITEMS,      /* process items (0 when no process) */
	POLICY_A_ORI,        /* packed ORI, -1 when none */
	POLICY_A_COUNT
};

/* Condition node operations. */
enum {
	POLICY_OP_TEST,      /* (fact[attr] & mask) != 0 */
	POLICY_OP_HAS,       /* (items & mask) == mask */
	POLICY_OP_SUBSET,    /* (items & ~mask) == 0 */
	POLICY_OP_ORI,       /* packed ORI in oris[first .. first+count) */
	POLICY_OP_CONST,     /* mask (0 / 1) */
	POLICY_OP_AND,       /* children first, next, ... */
	POLICY_OP_OR
};

/* One condition node; every result is XORed with neg (`not`, `!=`). */
struct policy_node {
	uint64_t mask;
	uint32_t first, next;      /* first child (or first ORI); next sibling */
	uint32_t count;            /* children (or ORIs) */
	uint8_t op, attr, neg;
	uint32_t src_off, src_end; /* source text, for explain */
	uint32_t line, col;
};

struct policy_rule {
	char *id, *cite;
	int forbid;
	int line;
	uint32_t when, unless;     /* condition roots or POLICY_NONE */
	field_mask release;        /* listed items */
	int release_process;       /* release also names process.items */
	int notify_days, notify_unit;
};

struct policy_vocab {
	int n;
	char names[POLICY_MAX_NAMES][POLICY_MAX_NAME + 1];
};

struct policy_group {
	char name[POLICY_MAX_NAME + 1];
	field_mask mask;
};

struct policy_limit_int {
	struct policy_limit pub;
	char *id, *cite;
};

struct policy {
	atomic_int refs;           /* policy_handle readers + the handle */
	char *name;                /* file name */
	char *src;                 /* the text, NUL-terminated (for explain) */
	size_t srclen;
	char digest[65];
	struct policy_vocab categories, purposes, processes;
	struct policy_group groups[POLICY_MAX_GROUPS];
	int ngroups;
	field_mask never;
	struct policy_rule *rules;
	int nrules, caprules;
	uint16_t forbids[POLICY_MAX_RULES], permits[POLICY_MAX_RULES];
	int nforbids, npermits;
	struct policy_node *nodes;
	size_t nnodes, capnodes;
	int64_t *oris;
	size_t noris, caporis;
	struct policy_limit_int *limits;
	int nlimits, caplimits;
};

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

void
policy_errors_init(struct policy_errors *e)
{
	memset(e, 0, sizeof *e);
}

void
policy_errors_free(struct policy_errors *e)
{
	if (e == NULL)
		return;
	free(e->text);
	memset(e, 0, sizeof *e);
}

static void policy_errors_add(struct policy_errors *e, const char *fmt, ...)
    UTIL_PRINTF(2, 3);

/* Appends one formatted line; counts it even when it is not kept. */
static void
policy_errors_add(struct policy_errors *e, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	e->count++;
	if (e->count > POLICY_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)(sizeof line - 2);
	line[n++] = '\n';
	line[n] = '\0';
	if (e->len + (size_t)n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 1024;
		while (cap < e->len + (size_t)n + 1)
			cap *= 2;
		char *t = realloc(e->text, cap);
		if (t == NULL)
			return;
		e->text = t;
		e->cap = cap;
	}
	memcpy(e->text + e->len, line, (size_t)n + 1);
	e->len += (size_t)n;
}

/* ---------------------------------------------------------------------- */
/* Lexer                                                                   */

enum tok_kind {
	T_EOF, T_WORD, T_STRING, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN,
	T_COMMA, T_ASSIGN, T_EQ, T_NE
};

struct token {
	enum tok_kind kind;
	uint32_t off, len;          /* in the source (strings: without quotes) */
	uint32_t line, col;
};

struct parser {
	const char *name;           /* file name for messages */
	const char *src;
	size_t srclen;
	struct token *toks;
	size_t ntoks, pos;
	struct policy_errors *errs;
	int nerr;                   /* errors found in this load */
	int depth;
	struct policy *p;
	/* release references, checked against `never` after parsing */
	struct relref { field_mask mask; uint32_t line, col; int field; int group; } *rel;
	size_t nrel, caprel;
};

static void perr(struct parser *ps, uint32_t line, uint32_t col, const char *fmt, ...)
    UTIL_PRINTF(4, 5);

static void
perr(struct parser *ps, uint32_t line, uint32_t col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ps->nerr++;
	policy_errors_add(ps->errs, "%s:%u:%u: %s", ps->name, line, col, msg);
}

static int
is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Lexes the whole source into ps->toks.  Returns 0, or -1 on allocation
 * failure; lexical errors are reported and the bad bytes skipped. */
static int
lex(struct parser *ps)
{
	const char *s = ps->src;
	size_t n = ps->srclen, i = 0, cap = 256;
	uint32_t line = 1, col = 1;

	ps->toks = malloc(cap * sizeof *ps->toks);
	if (ps->toks == NULL)
		return -1;
	ps->ntoks = 0;
	while (i <= n) {
		struct token t = { T_EOF, (uint32_t)i, 0, line, col };
		if (ps->ntoks + 1 >= cap) {
			struct token *nt = realloc(ps->toks, cap * 2 * sizeof *nt);
			if (nt == NULL)
				return -1;
			ps->toks = nt;
			cap *= 2;
		}
		if (i == n) {
			ps->toks[ps->ntoks++] = t;
			break;
		}
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			i++, line++, col = 1;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			i++, col++;
			continue;
		}
		if (c == '#') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (is_word_char(c)) {
			size_t j = i;
			while (j < n && is_word_char((unsigned char)s[j]))
				j++;
			t.kind = T_WORD;
			t.len = (uint32_t)(j - i);
			col += (uint32_t)(j - i);
			i = j;
			if (t.len > POLICY_MAX_NAME) {
				perr(ps, t.line, t.col, "name longer than %d characters", POLICY_MAX_NAME);
				continue;
			}
			ps->toks[ps->ntoks++] = t;
			continue;
		}
		if (c == '"') {
			size_t j = i + 1;
			int bad = 0;
			while (j < n && s[j] != '"' && s[j] != '\n') {
				unsigned char d = (unsigned char)s[j];
				if (d < 0x20 && d != '\t')
					bad = 1;
				j++;
			}
			if (j >= n || s[j] != '"') {
				perr(ps, line, col, "unterminated string");
				col += (uint32_t)(j - i);
				i = j;
				continue;
			}
			t.kind = T_STRING;
			t.off = (uint32_t)(i + 1);
			t.len = (uint32_t)(j - i - 1);
			if (bad)
				perr(ps, line, col, "control character in string");
			else if (t.len > POLICY_MAX_STRING)
				perr(ps, line, col, "string longer than %d bytes", POLICY_MAX_STRING);
			else if (util_utf8_valid(s + t.off, t.len) != 0)
				perr(ps, line, col, "string is not valid UTF-8");
			else
				ps->toks[ps->ntoks++] = t;
			col += (uint32_t)(j + 1 - i);
			i = j + 1;
			continue;
		}
		t.len = 1;
		switch (c) {
		case '{': t.kind = T_LBRACE; break;
		case '}': t.kind = T_RBRACE; break;
		case '(': t.kind = T_LPAREN; break;
		case ')': t.kind = T_RPAREN; break;
		case ',': t.kind = T_COMMA; break;
		case '=':
			if (i + 1 < n && s[i + 1] == '=')
				t.kind = T_EQ, t.len = 2;
			else
				t.kind = T_ASSIGN;
			break;
		case '!':
			if (i + 1 < n && s[i + 1] == '=') {
				t.kind = T_NE, t.len = 2;
				break;
			}
			/* FALLTHROUGH */
		default:
			if (c >= 0x20 && c < 0x7f)
				perr(ps, line, col, "unexpected character '%c'", c);
			else
				perr(ps, line, col, "unexpected byte 0x%02x", c);
			/* skip a whole UTF-8 sequence as one column */
			i++;
			while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
				i++;
			col++;
			continue;
		}
		ps->toks[ps->ntoks++] = t;
		i += t.len;
		col += t.len;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Parser helpers                                                          */

static const char *const stmt_words[] = {
	"categories", "purposes", "processes", "items", "never",
	"forbid", "permit", "limit",
};
static const char *const reserved_words[] = {
	"categories", "purposes", "processes", "items", "never",
	"forbid", "permit", "limit", "cite", "when", "unless", "release",
	"notify", "and", "or", "not", "in", "true", "false", "none",
};

static const char *const policy_by_names[POLICY_BY_COUNT] = {
	"license", "name_dob", "plate", "vin", "address", "license_kind", "face",
};
static const char *const type_names[2] = { "driver", "vehicle" };

static struct token *
cur(struct parser *ps)
{
	return &ps->toks[ps->pos];
}

static int
tok_is(struct parser *ps, const struct token *t, const char *w)
{
	size_t l = strlen(w);
	return t->kind == T_WORD && t->len == l && memcmp(ps->src + t->off, w, l) == 0;
}

static int
is_stmt_word(struct parser *ps, const struct token *t)
{
	for (size_t i = 0; i < UTIL_NELEM(stmt_words); i++)
		if (tok_is(ps, t, stmt_words[i]))
			return 1;
	return 0;
}

static int
is_reserved(struct parser *ps, const struct token *t)
{
	for (size_t i = 0; i < UTIL_NELEM(reserved_words); i++)
		if (tok_is(ps, t, reserved_words[i]))
			return 1;
	return 0;
}

/* Copies a token's text into buf (at least POLICY_MAX_STRING + 1 bytes),
 * shortened for messages. */
static const char *
tok_text(struct parser *ps, const struct token *t, char *buf, size_t bufsz)
{
	size_t l;

	if (t->kind == T_EOF)
		return "end of file";
	if (t->kind == T_STRING) {
		l = t->len < bufsz - 3 ? t->len : bufsz - 3;
		buf[0] = '"';
		memcpy(buf + 1, ps->src + t->off, l);
		buf[l + 1] = '"';
		buf[l + 2] = '\0';
		return buf;
	}
	l = t->len < bufsz - 1 ? t->len : bufsz - 1;
	memcpy(buf, ps->src + t->off, l);
	buf[l] = '\0';
	return buf;
}

/* Reports "expected WHAT, found 'X'" at the current token. */
static void
expected(struct parser *ps, const char *what)
{
	struct token *t = cur(ps);
	char b[80];

	if (t->kind == T_EOF)
		perr(ps, t->line, t->col, "expected %s, found end of file", what);
	else
		perr(ps, t->line, t->col, "expected %s, found '%s'", what, tok_text(ps, t, b, sizeof b));
}

/* Skips to the next statement keyword (error recovery). */
static void
skip_stmt(struct parser *ps)
{
	while (cur(ps)->kind != T_EOF && !is_stmt_word(ps, cur(ps)))
		ps->pos++;
}

/* A valid identifier: [A-Za-z_][A-Za-z0-9_]*. */
static int
is_ident(struct parser *ps, const struct token *t)
{
	const char *s = ps->src + t->off;

	if (t->kind != T_WORD || t->len == 0)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (uint32_t i = 0; i < t->len; i++)
		if (s[i] == '.')
			return 0;
	return 1;
}

/* Parses a decimal word in [min,max]; 0 or -1 (reported). */
static int
tok_uint(struct parser *ps, const struct token *t, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (t->kind != T_WORD || t->len == 0 || t->len > 10)
		goto bad;
	for (uint32_t i = 0; i < t->len; i++) {
		char c = ps->src[t->off + i];
		if (c < '0' || c > '9')
			goto bad;
		v = v * 10 + (uint64_t)(c - '0');
	}
	if (v < min || v > max) {
		perr(ps, t->line, t->col, "number out of range %u..%u", min, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
bad:
	expected(ps, "a number");
	return -1;
}

static int
vocab_find(const struct policy_vocab *v, const char *s, size_t len)
{
	for (int i = 0; i < v->n; i++)
		if (strlen(v->names[i]) == len && memcmp(v->names[i], s, len) == 0)
			return i;
	return -1;
}

static int
group_find(const struct policy *p, const char *s, size_t len)
{
	for (int i = 0; i < p->ngroups; i++)
		if (strlen(p->groups[i].name) == len && memcmp(p->groups[i].name, s, len) == 0)
			return i;
	return -1;
}

static char *
tok_dup(struct parser *ps, const struct token *t)
{
	return util_strndup(ps->src + t->off, t->len);
}

/* ---------------------------------------------------------------------- */
/* Declarations                                                            */

/* categories|purposes|processes NAME... */
static int
parse_vocab(struct parser *ps, struct policy_vocab *v, const char *what, const char *plural)
{
	struct token *kw = cur(ps);
	int n = 0;
	char b[80];

	ps->pos++;
	while (cur(ps)->kind == T_WORD && !is_stmt_word(ps, cur(ps))) {
		struct token *t = cur(ps);
		if (!is_ident(ps, t)) {
			perr(ps, t->line, t->col, "invalid %s name '%s'", what, tok_text(ps, t, b, sizeof b));
			return -1;
		}
		if (is_reserved(ps, t)) {
			perr(ps, t->line, t->col, "'%s' is a reserved word", tok_text(ps, t, b, sizeof b));
			return -1;
		}
		if (vocab_find(v, ps->src + t->off, t->len) >= 0) {
			perr(ps, t->line, t->col, "duplicate %s '%s'", what, tok_text(ps, t, b, sizeof b));
			return -1;
		}
		if (v->n >= POLICY_MAX_NAMES) {
			perr(ps, t->line, t->col, "too many %s (at most %d)", plural, POLICY_MAX_NAMES);
			return -1;
		}
		memcpy(v->names[v->n], ps->src + t->off, t->len);
		v->names[v->n][t->len] = '\0';
		v->n++;
		n++;
		ps->pos++;
	}
	if (n == 0) {
		perr(ps, kw->line, kw->col, "'%s' needs at least one name", plural);
		return -1;
	}
	if (cur(ps)->kind != T_EOF && !is_stmt_word(ps, cur(ps))) {
		expected(ps, "a name or the next statement");
		return -1;
	}
	return 0;
}

/*
 * One item reference: a canonical field or a declared group; with
 * allow_process, also `process.items` (sets *is_process).  Returns 0 with
 * *mask set, or -1 (reported).
 */
static int
parse_itemref(struct parser *ps, field_mask *mask, int allow_process, int *is_process,
    int *field, int *group)
{
	struct token *t = cur(ps);
	char b[80];
	int f, g;

	*field = -1, *group = -1;
	if (t->kind != T_WORD) {
		expected(ps, "a field or item group");
		return -1;
	}
	if (allow_process && tok_is(ps, t, "process.items")) {
		*is_process = 1;
		*mask = 0;
		ps->pos++;
		return 0;
	}
	f = field_lookup(ps->src + t->off, t->len);
	if (f >= 0) {
		*mask = FIELD_BIT(f);
		*field = f;
		ps->pos++;
		return 0;
	}
	g = group_find(ps->p, ps->src + t->off, t->len);
	if (g >= 0) {
		*mask = ps->p->groups[g].mask;
		*group = g;
		ps->pos++;
		return 0;
	}
	perr(ps, t->line, t->col, "unknown field or item group '%s'", tok_text(ps, t, b, sizeof b));
	return -1;
}

/* items NAME = REF... */
static int
parse_items(struct parser *ps)
{
	struct token *t;
	struct policy_group *g;
	field_mask m = 0, one;
	int n = 0, dummy = 0, f, gi;
	char b[80];

	ps->pos++;
	t = cur(ps);
	if (t->kind != T_WORD || !is_ident(ps, t)) {
		expected(ps, "an item group name");
		return -1;
	}
	if (is_reserved(ps, t)) {
		perr(ps, t->line, t->col, "'%s' is a reserved word", tok_text(ps, t, b, sizeof b));
		return -1;
	}
	if (field_lookup(ps->src + t->off, t->len) >= 0) {
		perr(ps, t->line, t->col, "item group '%s' has the name of a field", tok_text(ps, t, b, sizeof b));
		return -1;
	}
	if (group_find(ps->p, ps->src + t->off, t->len) >= 0) {
		perr(ps, t->line, t->col, "duplicate item group '%s'", tok_text(ps, t, b, sizeof b));
		return -1;
	}
	if (ps->p->ngroups >= POLICY_MAX_GROUPS) {
		perr(ps, t->line, t->col, "too many item groups (at most %d)", POLICY_MAX_GROUPS);
		return -1;
	}
	ps->pos++;
	if (cur(ps)->kind != T_ASSIGN) {
		expected(ps, "'='");
		return -1;
	}
	ps->pos++;
	while (cur(ps)->kind == T_WORD && !is_stmt_word(ps, cur(ps))) {
		if (parse_itemref(ps, &one, 0, &dummy, &f, &gi) != 0)
			return -1;
		m |= one;
		n++;
	}
	if (n == 0) {
		expected(ps, "a field or item group");
		return -1;
	}
	if (cur(ps)->kind != T_EOF && !is_stmt_word(ps, cur(ps))) {
		expected(ps, "a field or the next statement");
		return -1;
	}
	g = &ps->p->groups[ps->p->ngroups++];
	memcpy(g->name, ps->src + t->off, t->len);
	g->name[t->len] = '\0';
	g->mask = m;
	return 0;
}

/* never REF... */
static int
parse_never(struct parser *ps)
{
	struct token *kw = cur(ps);
	field_mask one;
	int n = 0, dummy = 0, f, g;

	ps->pos++;
	while (cur(ps)->kind == T_WORD && !is_stmt_word(ps, cur(ps))) {
		if (parse_itemref(ps, &one, 0, &dummy, &f, &g) != 0)
			return -1;
		ps->p->never |= one;
		n++;
	}
	if (n == 0) {
		perr(ps, kw->line, kw->col, "'never' needs at least one field");
		return -1;
	}
	if (cur(ps)->kind != T_EOF && !is_stmt_word(ps, cur(ps))) {
		expected(ps, "a field or the next statement");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Conditions                                                              */

static int
new_node(struct parser *ps, int op, const struct token *at, uint32_t *out)
{
	struct policy *p = ps->p;
	struct policy_node *nd;

	if (p->nnodes == p->capnodes) {
		size_t cap = p->capnodes ? p->capnodes * 2 : 64;
		struct policy_node *n = realloc(p->nodes, cap * sizeof *n);
		if (n == NULL) {
			perr(ps, at->line, at->col, "out of memory");
			return -1;
		}
		p->nodes = n;
		p->capnodes = cap;
	}
	nd = &p->nodes[p->nnodes];
	memset(nd, 0, sizeof *nd);
	nd->op = (uint8_t)op;
	nd->first = nd->next = POLICY_NONE;
	nd->src_off = at->off;
	nd->src_end = at->off + at->len;
	nd->line = at->line;
	nd->col = at->col;
	*out = (uint32_t)p->nnodes++;
	return 0;
}

/* Marks the end of node n's source text at the token before pos. */
static void
node_end(struct parser *ps, uint32_t n)
{
	const struct token *last = &ps->toks[ps->pos - 1];
	uint32_t end = last->off + last->len + (last->kind == T_STRING ? 1 : 0);

	if (end > ps->p->nodes[n].src_end)
		ps->p->nodes[n].src_end = end;
}

/* Resolves one value word of an attribute to a bit number; -1 reported. */
static int
attr_value(struct parser *ps, int attr, const struct token *t)
{
	char b[80];
	int id = -1;

	if (t->kind != T_WORD) {
		expected(ps, "a name");
		return -1;
	}
	switch (attr) {
	case POLICY_A_CATEGORY:
		id = vocab_find(&ps->p->categories, ps->src + t->off, t->len);
		if (id < 0)
			perr(ps, t->line, t->col, "unknown category '%s'", tok_text(ps, t, b, sizeof b));
		break;
	case POLICY_A_PURPOSE:
		id = vocab_find(&ps->p->purposes, ps->src + t->off, t->len);
		if (id < 0)
			perr(ps, t->line, t->col, "unknown purpose '%s'", tok_text(ps, t, b, sizeof b));
		break;
	case POLICY_A_PROCESS:
		if (tok_is(ps, t, "none"))
			return POLICY_PROCESS_NONE_BIT;
		id = vocab_find(&ps->p->processes, ps->src + t->off, t->len);
		if (id < 0)
			perr(ps, t->line, t->col, "unknown process kind '%s'", tok_text(ps, t, b, sizeof b));
		break;
	case POLICY_A_TYPE:
		for (int i = 0; i < 2; i++)
			if (tok_is(ps, t, type_names[i]))
				id = i;
		if (id < 0)
			perr(ps, t->line, t->col, "unknown query type '%s' (driver, vehicle)", tok_text(ps, t, b, sizeof b));
		break;
	case POLICY_A_BY:
		for (int i = 0; i < POLICY_BY_COUNT; i++)
			if (tok_is(ps, t, policy_by_names[i]))
				id = i;
		if (id < 0)
			perr(ps, t->line, t->col, "unknown query kind '%s' (license, name_dob, plate, vin, address, license_kind, face)",
			    tok_text(ps, t, b, sizeof b));
		break;
	default:
		perr(ps, t->line, t->col, "internal error: attribute %d", attr);
		break;
	}
	return id;
}

/* Packs an ORI string (1-9 of [A-Za-z0-9]) into an integer; -1 if invalid. */
static int64_t
ori_pack(const char *s, size_t len)
{
	int64_t v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return -1;
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		v = (v << 7) | c;
	}
	return v;
}

static int
add_ori(struct parser *ps, const struct token *t)
{
	struct policy *p = ps->p;
	int64_t v;

	if (t->kind != T_STRING) {
		expected(ps, "an ORI in quotes");
		return -1;
	}
	v = ori_pack(ps->src + t->off, t->len);
	if (v < 0) {
		perr(ps, t->line, t->col, "an ORI is 1 to 9 letters or digits");
		return -1;
	}
	if (p->noris == p->caporis) {
		size_t cap = p->caporis ? p->caporis * 2 : 16;
		int64_t *n = realloc(p->oris, cap * sizeof *n);
		if (n == NULL) {
			perr(ps, t->line, t->col, "out of memory");
			return -1;
		}
		p->oris = n;
		p->caporis = cap;
	}
	p->oris[p->noris++] = v;
	return 0;
}

/* A set or single item reference for process.items has/in. */
static int
parse_itemset(struct parser *ps, field_mask *out)
{
	field_mask m = 0, one;
	int dummy = 0, f, g;

	if (cur(ps)->kind != T_LBRACE)
		return parse_itemref(ps, out, 0, &dummy, &f, &g);
	ps->pos++;
	for (;;) {
		if (parse_itemref(ps, &one, 0, &dummy, &f, &g) != 0)
			return -1;
		m |= one;
		if (cur(ps)->kind == T_COMMA) {
			ps->pos++;
			continue;
		}
		if (cur(ps)->kind == T_RBRACE) {
			ps->pos++;
			break;
		}
		expected(ps, "',' or '}'");
		return -1;
	}
	*out = m;
	return 0;
}

/* attr (== V | != V | in {V, ...} | not in {V, ...}) */
static int
parse_compare(struct parser *ps, int attr, const struct token *at, uint32_t *out)
{
	struct policy_node *nd;
	uint64_t mask = 0;
	uint32_t n, first_ori = (uint32_t)ps->p->noris;
	int neg = 0, set = 0;
	char b[80];

	if (cur(ps)->kind == T_EQ) {
		ps->pos++;
	} else if (cur(ps)->kind == T_NE) {
		ps->pos++;
		neg = 1;
	} else if (tok_is(ps, cur(ps), "in")) {
		ps->pos++;
		set = 1;
	} else if (tok_is(ps, cur(ps), "not") && tok_is(ps, &ps->toks[ps->pos + 1], "in")) {
		ps->pos += 2;
		set = 1;
		neg = 1;
	} else {
		char what[120];
		snprintf(what, sizeof what, "'==', '!=', 'in' or 'not in' after '%s'", tok_text(ps, at, b, sizeof b));
		expected(ps, what);
		return -1;
	}
	if (set) {
		if (cur(ps)->kind != T_LBRACE) {
			expected(ps, "'{'");
			return -1;
		}
		ps->pos++;
		if (cur(ps)->kind == T_RBRACE) {
			perr(ps, cur(ps)->line, cur(ps)->col, "empty set");
			return -1;
		}
	}
	for (;;) {
		struct token *t = cur(ps);
		if (attr == POLICY_A_ORI) {
			if (add_ori(ps, t) != 0)
				return -1;
		} else {
			int id = attr_value(ps, attr, t);
			if (id < 0)
				return -1;
			mask |= (uint64_t)1 << id;
		}
		ps->pos++;
		if (!set)
			break;
		if (cur(ps)->kind == T_COMMA) {
			ps->pos++;
			continue;
		}
		if (cur(ps)->kind == T_RBRACE) {
			ps->pos++;
			break;
		}
		expected(ps, "',' or '}'");
		return -1;
	}
	if (new_node(ps, attr == POLICY_A_ORI ? POLICY_OP_ORI : POLICY_OP_TEST, at, &n) != 0)
		return -1;
	nd = &ps->p->nodes[n];
	nd->attr = (uint8_t)attr;
	nd->neg = (uint8_t)neg;
	nd->mask = mask;
	if (attr == POLICY_A_ORI) {
		nd->first = first_ori;
		nd->count = (uint32_t)ps->p->noris - first_ori;
	}
	node_end(ps, n);
	*out = n;
	return 0;
}

static int parse_or(struct parser *ps, uint32_t *out);

static int
parse_primary(struct parser *ps, uint32_t *out)
{
	struct token *t = cur(ps);
	struct policy_node *nd;
	uint32_t n;
	char b[80];

	if (t->kind == T_LPAREN) {
		ps->pos++;
		if (parse_or(ps, &n) != 0)
			return -1;
		if (cur(ps)->kind != T_RPAREN) {
			expected(ps, "')'");
			return -1;
		}
		ps->pos++;
		/* the node's text now includes the parentheses */
		ps->p->nodes[n].src_off = t->off;
		ps->p->nodes[n].line = t->line;
		ps->p->nodes[n].col = t->col;
		node_end(ps, n);
		*out = n;
		return 0;
	}
	if (t->kind != T_WORD) {
		expected(ps, "a condition");
		return -1;
	}
	if (tok_is(ps, t, "true") || tok_is(ps, t, "false")) {
		if (new_node(ps, POLICY_OP_CONST, t, &n) != 0)
			return -1;
		ps->p->nodes[n].mask = tok_is(ps, t, "true");
		ps->pos++;
		*out = n;
		return 0;
	}
	static const struct { const char *w; int attr; } cmp[] = {
		{ "category", POLICY_A_CATEGORY }, { "purpose", POLICY_A_PURPOSE },
		{ "process", POLICY_A_PROCESS }, { "type", POLICY_A_TYPE },
		{ "by", POLICY_A_BY }, { "ori", POLICY_A_ORI },
	};
	for (size_t i = 0; i < UTIL_NELEM(cmp); i++) {
		if (tok_is(ps, t, cmp[i].w)) {
			ps->pos++;
			return parse_compare(ps, cmp[i].attr, t, out);
		}
	}
	static const struct { const char *w; int attr; } flags[] = {
		{ "certified", POLICY_A_CERTIFIED }, { "process.valid", POLICY_A_PVALID },
		{ "process.issued_to_agency", POLICY_A_PISSUED },
		{ "process.covers_subject", POLICY_A_PCOVERS },
	};
	for (size_t i = 0; i < UTIL_NELEM(flags); i++) {
		if (tok_is(ps, t, flags[i].w)) {
			if (new_node(ps, POLICY_OP_TEST, t, &n) != 0)
				return -1;
			nd = &ps->p->nodes[n];
			nd->attr = (uint8_t)flags[i].attr;
			nd->mask = 1;
			ps->pos++;
			*out = n;
			return 0;
		}
	}
	if (tok_is(ps, t, "include")) {
		ps->pos++;
		if (!tok_is(ps, cur(ps), "has")) {
			expected(ps, "'has' after 'include'");
			return -1;
		}
		ps->pos++;
		if (!tok_is(ps, cur(ps), "photo")) {
			if (cur(ps)->kind == T_WORD)
				perr(ps, cur(ps)->line, cur(ps)->col, "unknown extra '%s' (photo)",
				    tok_text(ps, cur(ps), b, sizeof b));
			else
				expected(ps, "'photo'");
			return -1;
		}
		ps->pos++;
		if (new_node(ps, POLICY_OP_TEST, t, &n) != 0)
			return -1;
		nd = &ps->p->nodes[n];
		nd->attr = POLICY_A_EXTRAS;
		nd->mask = POLICY_EXTRA_PHOTO;
		node_end(ps, n);
		*out = n;
		return 0;
	}
	if (tok_is(ps, t, "process.items")) {
		field_mask m;
		int op;
		ps->pos++;
		if (tok_is(ps, cur(ps), "has")) {
			op = POLICY_OP_HAS;
		} else if (tok_is(ps, cur(ps), "in")) {
			op = POLICY_OP_SUBSET;
			if (ps->toks[ps->pos + 1].kind != T_LBRACE) {
				ps->pos++;
				expected(ps, "'{'");
				return -1;
			}
		} else {
			expected(ps, "'has' or 'in' after 'process.items'");
			return -1;
		}
		ps->pos++;
		if (parse_itemset(ps, &m) != 0)
			return -1;
		if (new_node(ps, op, t, &n) != 0)
			return -1;
		nd = &ps->p->nodes[n];
		nd->attr = POLICY_A_ITEMS;
		nd->mask = m;
		node_end(ps, n);
		*out = n;
		return 0;
	}
	if (is_stmt_word(ps, t) || tok_is(ps, t, "release") || tok_is(ps, t, "notify") ||
	    tok_is(ps, t, "when") || tok_is(ps, t, "unless") || tok_is(ps, t, "cite"))
		expected(ps, "a condition");
	else
		perr(ps, t->line, t->col, "unknown condition '%s' (category, ori, certified, purpose, type, by, include, process, process.valid, process.issued_to_agency, process.covers_subject, process.items)",
		    tok_text(ps, t, b, sizeof b));
	return -1;
}

static int
parse_unary(struct parser *ps, uint32_t *out)
{
	struct token *t = cur(ps);
	int rc;

	if (++ps->depth > POLICY_MAX_DEPTH) {
		perr(ps, t->line, t->col, "conditions nested deeper than %d", POLICY_MAX_DEPTH);
		ps->depth--;
		return -1;
	}
	if (tok_is(ps, t, "not")) {
		ps->pos++;
		rc = parse_unary(ps, out);
		if (rc == 0) {
			struct policy_node *nd = &ps->p->nodes[*out];
			nd->neg ^= 1;
			nd->src_off = t->off;
			nd->line = t->line;
			nd->col = t->col;
		}
	} else {
		rc = parse_primary(ps, out);
	}
	ps->depth--;
	return rc;
}

/* and / or chains become one n-ary node. */
static int
parse_chain(struct parser *ps, uint32_t *out, int op)
{
	const char *word = op == POLICY_OP_AND ? "and" : "or";
	struct token *start = cur(ps);
	uint32_t first, n, last, kid;
	int rc;

	rc = op == POLICY_OP_AND ? parse_unary(ps, &first) : parse_chain(ps, &first, POLICY_OP_AND);
	if (rc != 0)
		return -1;
	if (!tok_is(ps, cur(ps), word)) {
		*out = first;
		return 0;
	}
	if (new_node(ps, op, start, &n) != 0)
		return -1;
	ps->p->nodes[n].first = first;
	ps->p->nodes[n].count = 1;
	last = first;
	while (tok_is(ps, cur(ps), word)) {
		ps->pos++;
		rc = op == POLICY_OP_AND ? parse_unary(ps, &kid) : parse_chain(ps, &kid, POLICY_OP_AND);
		if (rc != 0)
			return -1;
		ps->p->nodes[last].next = kid;
		ps->p->nodes[n].count++;
		last = kid;
	}
	ps->p->nodes[n].src_off = ps->p->nodes[first].src_off;
	node_end(ps, n);
	*out = n;
	return 0;
}

static int
parse_or(struct parser *ps, uint32_t *out)
{
	return parse_chain(ps, out, POLICY_OP_OR);
}

/* ---------------------------------------------------------------------- */
/* Rules and limits                                                        */

static int
add_relref(struct parser *ps, field_mask m, const struct token *t, int field, int group)
{
	if (ps->nrel == ps->caprel) {
		size_t cap = ps->caprel ? ps->caprel * 2 : 64;
		struct relref *n = realloc(ps->rel, cap * sizeof *n);
		if (n == NULL) {
			perr(ps, t->line, t->col, "out of memory");
			return -1;
		}
		ps->rel = n;
		ps->caprel = cap;
	}
	ps->rel[ps->nrel++] = (struct relref){ m, t->line, t->col, field, group };
	return 0;
}

/* notify subject within N days|business days */
static int
parse_notify(struct parser *ps, struct policy_rule *r)
{
	uint32_t n;

	ps->pos++;
	if (!tok_is(ps, cur(ps), "subject")) {
		expected(ps, "'subject' after 'notify'");
		return -1;
	}
	ps->pos++;
	if (!tok_is(ps, cur(ps), "within")) {
		expected(ps, "'within'");
		return -1;
	}
	ps->pos++;
	if (tok_uint(ps, cur(ps), 1, 365, &n) != 0)
		return -1;
	ps->pos++;
	if (tok_is(ps, cur(ps), "business")) {
		ps->pos++;
		if (!tok_is(ps, cur(ps), "days") && !tok_is(ps, cur(ps), "day")) {
			expected(ps, "'days' after 'business'");
			return -1;
		}
		r->notify_unit = POLICY_NOTIFY_BUSINESS_DAYS;
	} else if (tok_is(ps, cur(ps), "days") || tok_is(ps, cur(ps), "day")) {
		r->notify_unit = POLICY_NOTIFY_DAYS;
	} else {
		expected(ps, "'days' or 'business days'");
		return -1;
	}
	ps->pos++;
	r->notify_days = (int)n;
	return 0;
}

static int
parse_rule(struct parser *ps)
{
	struct policy *p = ps->p;
	struct token *kw = cur(ps), *t;
	struct policy_rule r;
	int forbid = tok_is(ps, kw, "forbid");
	int have_release = 0;
	char b[80];

	memset(&r, 0, sizeof r);
	r.when = r.unless = POLICY_NONE;
	r.forbid = forbid;
	r.line = (int)kw->line;
	ps->pos++;
	t = cur(ps);
	if (t->kind != T_STRING) {
		expected(ps, "the rule id in quotes");
		return -1;
	}
	if (t->len == 0 || t->len > POLICY_MAX_NAME) {
		perr(ps, t->line, t->col, "a rule id is 1 to %d characters", POLICY_MAX_NAME);
		return -1;
	}
	for (int i = 0; i < p->nrules; i++) {
		if (strlen(p->rules[i].id) == t->len && memcmp(p->rules[i].id, ps->src + t->off, t->len) == 0) {
			perr(ps, t->line, t->col, "duplicate rule id %s (first at line %d)",
			    tok_text(ps, t, b, sizeof b), p->rules[i].line);
			return -1;
		}
	}
	if (p->nrules >= POLICY_MAX_RULES) {
		perr(ps, kw->line, kw->col, "too many rules (at most %d)", POLICY_MAX_RULES);
		return -1;
	}
	ps->pos++;
	if (!tok_is(ps, cur(ps), "cite")) {
		expected(ps, "'cite' and the legal citation after the rule id");
		return -1;
	}
	ps->pos++;
	if (cur(ps)->kind != T_STRING) {
		expected(ps, "the citation in quotes");
		return -1;
	}
	struct token *cite = cur(ps);
	ps->pos++;
	for (;;) {
		struct token *c = cur(ps);
		if (c->kind == T_EOF || is_stmt_word(ps, c))
			break;
		if (tok_is(ps, c, "when") || tok_is(ps, c, "unless")) {
			uint32_t *slot = tok_is(ps, c, "when") ? &r.when : &r.unless;
			if (*slot != POLICY_NONE) {
				perr(ps, c->line, c->col, "duplicate '%s' clause", tok_text(ps, c, b, sizeof b));
				return -1;
			}
			ps->pos++;
			ps->depth = 0;
			if (parse_or(ps, slot) != 0)
				return -1;
			continue;
		}
		if (tok_is(ps, c, "release")) {
			int n = 0;
			if (forbid) {
				perr(ps, c->line, c->col, "a forbid rule cannot release items");
				return -1;
			}
			if (have_release) {
				perr(ps, c->line, c->col, "duplicate 'release' clause");
				return -1;
			}
			have_release = 1;
			ps->pos++;
			while (cur(ps)->kind == T_WORD && !is_reserved(ps, cur(ps))) {
				field_mask m;
				int f, g;
				struct token *rt = cur(ps);
				if (parse_itemref(ps, &m, 1, &r.release_process, &f, &g) != 0)
					return -1;
				r.release |= m;
				if (m != 0 && add_relref(ps, m, rt, f, g) != 0)
					return -1;
				n++;
			}
			if (n == 0) {
				expected(ps, "items to release");
				return -1;
			}
			continue;
		}
		if (tok_is(ps, c, "notify")) {
			if (r.notify_days) {
				perr(ps, c->line, c->col, "duplicate 'notify' clause");
				return -1;
			}
			if (parse_notify(ps, &r) != 0)
				return -1;
			continue;
		}
		expected(ps, "'when', 'unless', 'release', 'notify' or the next statement");
		return -1;
	}
	r.id = tok_dup(ps, t);
	r.cite = tok_dup(ps, cite);
	if (r.id == NULL || r.cite == NULL) {
		free(r.id);
		free(r.cite);
		perr(ps, kw->line, kw->col, "out of memory");
		return -1;
	}
	if (p->nrules == p->caprules) {
		int cap = p->caprules ? p->caprules * 2 : 16;
		struct policy_rule *n = realloc(p->rules, (size_t)cap * sizeof *n);
		if (n == NULL) {
			free(r.id);
			free(r.cite);
			perr(ps, kw->line, kw->col, "out of memory");
			return -1;
		}
		p->rules = n;
		p->caprules = cap;
	}
	p->rules[p->nrules++] = r;
	return 0;
}

/* A duration word: digits and one unit s m h d; seconds in *out. */
static int
parse_duration(struct parser *ps, uint32_t *out)
{
	struct token *t = cur(ps);
	uint64_t v = 0, mul;
	uint32_t i;

	if (t->kind != T_WORD || t->len < 2 || t->len > 8)
		goto bad;
	for (i = 0; i + 1 < t->len; i++) {
		char c = ps->src[t->off + i];
		if (c < '0' || c > '9')
			goto bad;
		v = v * 10 + (uint64_t)(c - '0');
	}
	switch (ps->src[t->off + t->len - 1]) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: goto bad;
	}
	v *= mul;
	if (v < 1 || v > 366u * 86400u) {
		perr(ps, t->line, t->col, "window out of range 1s..366d");
		return -1;
	}
	*out = (uint32_t)v;
	ps->pos++;
	return 0;
bad:
	expected(ps, "a window such as 30s, 15m, 1h or 7d");
	return -1;
}

/* limit "ID" [cite "..."] per user|agency N WHAT per DURATION [then deny|suspend] */
static int
parse_limit(struct parser *ps)
{
	struct policy *p = ps->p;
	struct token *kw = cur(ps), *t, *cite = NULL;
	struct policy_limit_int l;
	uint32_t n;
	char b[80];

	memset(&l, 0, sizeof l);
	l.pub.line = (int)kw->line;
	ps->pos++;
	t = cur(ps);
	if (t->kind != T_STRING || t->len == 0 || t->len > POLICY_MAX_NAME) {
		if (t->kind == T_STRING)
			perr(ps, t->line, t->col, "a limit id is 1 to %d characters", POLICY_MAX_NAME);
		else
			expected(ps, "the limit id in quotes");
		return -1;
	}
	for (int i = 0; i < p->nlimits; i++) {
		if (strlen(p->limits[i].pub.id) == t->len &&
		    memcmp(p->limits[i].pub.id, ps->src + t->off, t->len) == 0) {
			perr(ps, t->line, t->col, "duplicate limit id %s (first at line %d)",
			    tok_text(ps, t, b, sizeof b), p->limits[i].pub.line);
			return -1;
		}
	}
	if (p->nlimits >= POLICY_MAX_LIMITS) {
		perr(ps, kw->line, kw->col, "too many limits (at most %d)", POLICY_MAX_LIMITS);
		return -1;
	}
	ps->pos++;
	if (tok_is(ps, cur(ps), "cite")) {
		ps->pos++;
		if (cur(ps)->kind != T_STRING) {
			expected(ps, "the citation in quotes");
			return -1;
		}
		cite = cur(ps);
		ps->pos++;
	}
	if (!tok_is(ps, cur(ps), "per")) {
		expected(ps, "'per user' or 'per agency'");
		return -1;
	}
	ps->pos++;
	if (tok_is(ps, cur(ps), "user"))
		l.pub.scope = POLICY_LIMIT_USER;
	else if (tok_is(ps, cur(ps), "agency"))
		l.pub.scope = POLICY_LIMIT_AGENCY;
	else {
		expected(ps, "'user' or 'agency'");
		return -1;
	}
	ps->pos++;
	if (tok_uint(ps, cur(ps), 1, 1000000000u, &n) != 0)
		return -1;
	l.pub.count = n;
	ps->pos++;
	if (tok_is(ps, cur(ps), "queries")) {
		l.pub.what = POLICY_LIMIT_QUERIES;
		ps->pos++;
	} else if (tok_is(ps, cur(ps), "subjects")) {
		l.pub.what = POLICY_LIMIT_SUBJECTS;
		ps->pos++;
	} else if (tok_is(ps, cur(ps), "misses")) {
		l.pub.what = POLICY_LIMIT_MISSES;
		ps->pos++;
	} else if (tok_is(ps, cur(ps), "people")) {
		static const char *const rest[] = { "at", "one", "address" };
		ps->pos++;
		for (size_t i = 0; i < UTIL_NELEM(rest); i++) {
			if (!tok_is(ps, cur(ps), rest[i])) {
				expected(ps, "'people at one address'");
				return -1;
			}
			ps->pos++;
		}
		l.pub.what = POLICY_LIMIT_PEOPLE_AT_ADDRESS;
	} else {
		expected(ps, "'queries', 'subjects', 'people at one address' or 'misses'");
		return -1;
	}
	if (!tok_is(ps, cur(ps), "per")) {
		expected(ps, "'per' and a window");
		return -1;
	}
	ps->pos++;
	if (parse_duration(ps, &l.pub.window) != 0)
		return -1;
	l.pub.action = POLICY_LIMIT_DENY;
	if (tok_is(ps, cur(ps), "then")) {
		ps->pos++;
		if (tok_is(ps, cur(ps), "deny"))
			l.pub.action = POLICY_LIMIT_DENY;
		else if (tok_is(ps, cur(ps), "suspend"))
			l.pub.action = POLICY_LIMIT_SUSPEND;
		else {
			expected(ps, "'deny' or 'suspend'");
			return -1;
		}
		ps->pos++;
	}
	if (cur(ps)->kind != T_EOF && !is_stmt_word(ps, cur(ps))) {
		expected(ps, "'then deny', 'then suspend' or the next statement");
		return -1;
	}
	l.id = tok_dup(ps, t);
	l.cite = cite ? tok_dup(ps, cite) : util_strdup("");
	if (l.id == NULL || l.cite == NULL) {
		free(l.id);
		free(l.cite);
		perr(ps, kw->line, kw->col, "out of memory");
		return -1;
	}
	l.pub.id = l.id;
	l.pub.cite = l.cite;
	if (p->nlimits == p->caplimits) {
		int cap = p->caplimits ? p->caplimits * 2 : 8;
		struct policy_limit_int *nl = realloc(p->limits, (size_t)cap * sizeof *nl);
		if (nl == NULL) {
			free(l.id);
			free(l.cite);
			perr(ps, kw->line, kw->col, "out of memory");
			return -1;
		}
		p->limits = nl;
		p->caplimits = cap;
	}
	p->limits[p->nlimits++] = l;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Load                                                                    */

static void
parse_all(struct parser *ps)
{
	while (cur(ps)->kind != T_EOF) {
		struct token *t = cur(ps);
		int rc;

		if (tok_is(ps, t, "categories"))
			rc = parse_vocab(ps, &ps->p->categories, "category", "categories");
		else if (tok_is(ps, t, "purposes"))
			rc = parse_vocab(ps, &ps->p->purposes, "purpose", "purposes");
		else if (tok_is(ps, t, "processes"))
			rc = parse_vocab(ps, &ps->p->processes, "process kind", "processes");
		else if (tok_is(ps, t, "items"))
			rc = parse_items(ps);
		else if (tok_is(ps, t, "never"))
			rc = parse_never(ps);
		else if (tok_is(ps, t, "forbid") || tok_is(ps, t, "permit"))
			rc = parse_rule(ps);
		else if (tok_is(ps, t, "limit"))
			rc = parse_limit(ps);
		else {
			expected(ps, "a statement (categories, purposes, processes, items, never, forbid, permit, limit)");
			ps->pos++;
			rc = -1;
		}
		if (rc != 0)
			skip_stmt(ps);
	}
}

/* Every release reference must stay clear of the `never` items. */
static void
check_never(struct parser *ps)
{
	field_mask never = ps->p->never;

	for (size_t i = 0; i < ps->nrel; i++) {
		const struct relref *r = &ps->rel[i];
		field_mask bad = r->mask & never;
		if (bad == 0)
			continue;
		int f = __builtin_ctzll(bad);
		if (r->group >= 0)
			perr(ps, r->line, r->col, "item group '%s' contains never item '%s', which no rule may release",
			    ps->p->groups[r->group].name, field_info[f].name);
		else
			perr(ps, r->line, r->col, "'%s' is a never item and cannot be released", field_info[f].name);
	}
}

struct policy *
policy_load_mem(const char *name, const char *buf, size_t len, struct policy_errors *errs)
{
	struct parser ps;
	struct policy *p = NULL;
	struct sha256_ctx sha;
	uint8_t d[SHA256_DIGEST_SIZE];

	memset(&ps, 0, sizeof ps);
	ps.name = name ? name : "(policy)";
	ps.errs = errs;
	if (len > POLICY_MAX_FILE) {
		perr(&ps, 1, 1, "policy larger than %d bytes", POLICY_MAX_FILE);
		goto fail;
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		perr(&ps, 1, 1, "out of memory");
		goto fail;
	}
	atomic_init(&p->refs, 1);
	p->src = malloc(len + 1);
	p->name = util_strdup(ps.name);
	if (p->src == NULL || p->name == NULL) {
		perr(&ps, 1, 1, "out of memory");
		goto fail;
	}
	if (len > 0)
		memcpy(p->src, buf, len);
	p->src[len] = '\0';
	p->srclen = len;
	ps.src = p->src;
	ps.srclen = len;
	ps.p = p;
	if (memchr(p->src, '\0', len) != NULL) {
		perr(&ps, 1, 1, "policy contains a NUL byte");
		goto fail;
	}
	if (lex(&ps) != 0) {
		perr(&ps, 1, 1, "out of memory");
		goto fail;
	}
	parse_all(&ps);
	check_never(&ps);
	if (ps.nerr > 0)
		goto fail;
	for (int i = 0; i < p->nrules; i++) {
		if (p->rules[i].forbid)
			p->forbids[p->nforbids++] = (uint16_t)i;
		else
			p->permits[p->npermits++] = (uint16_t)i;
	}
	sha256_init(&sha);
	sha256_update(&sha, len, (const uint8_t *)p->src);
	sha256_digest(&sha, sizeof d, d);
	util_hex(d, sizeof d, p->digest);
	free(ps.toks);
	free(ps.rel);
	return p;
fail:
	free(ps.toks);
	free(ps.rel);
	policy_free(p);
	return NULL;
}

struct policy *
policy_load(const char *path, struct policy_errors *errs)
{
	char *buf = NULL;
	size_t len = 0;
	struct policy *p;

	if (util_read_file(path, POLICY_MAX_FILE, &buf, &len) != 0) {
		if (errno == EFBIG)
			policy_errors_add(errs, "%s:1:1: policy larger than %d bytes", path, POLICY_MAX_FILE);
		else
			policy_errors_add(errs, "%s:1:1: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	p = policy_load_mem(path, buf, len, errs);
	free(buf);
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nrules; i++) {
		free(p->rules[i].id);
		free(p->rules[i].cite);
	}
	for (int i = 0; i < p->nlimits; i++) {
		free(p->limits[i].id);
		free(p->limits[i].cite);
	}
	free(p->rules);
	free(p->limits);
	free(p->nodes);
	free(p->oris);
	free(p->src);
	free(p->name);
	free(p);
}

/* ---------------------------------------------------------------------- */
/* Accessors                                                               */

int
policy_nrules(const struct policy *p)
{
	return p ? p->nrules : 0;
}

int
policy_nlimits(const struct policy *p)
{
	return p ? p->nlimits : 0;
}

const char *
policy_digest(const struct policy *p)
{
	return p ? p->digest : "";
}

const struct policy_limit *
policy_limit(const struct policy *p, int i)
{
	if (p == NULL || i < 0 || i >= p->nlimits)
		return NULL;
	return &p->limits[i].pub;
}

const char *
policy_rule_id(const struct policy *p, int rule)
{
	if (p == NULL || rule < 0 || rule >= p->nrules)
		return NULL;
	return p->rules[rule].id;
}

const char *
policy_rule_cite(const struct policy *p, int rule)
{
	if (p == NULL || rule < 0 || rule >= p->nrules)
		return NULL;
	return p->rules[rule].cite;
}

int
policy_rule_is_forbid(const struct policy *p, int rule)
{
	if (p == NULL || rule < 0 || rule >= p->nrules)
		return -1;
	return p->rules[rule].forbid;
}

int
policy_rule_line(const struct policy *p, int rule)
{
	if (p == NULL || rule < 0 || rule >= p->nrules)
		return -1;
	return p->rules[rule].line;
}

int
policy_category_id(const struct policy *p, const char *name)
{
	return p && name ? vocab_find(&p->categories, name, strlen(name)) : -1;
}

int
policy_purpose_id(const struct policy *p, const char *name)
{
	return p && name ? vocab_find(&p->purposes, name, strlen(name)) : -1;
}

int
policy_process_kind_id(const struct policy *p, const char *name)
{
	return p && name ? vocab_find(&p->processes, name, strlen(name)) : -1;
}

static const char *
vocab_name(const struct policy_vocab *v, int id)
{
	return id >= 0 && id < v->n ? v->names[id] : NULL;
}

const char *
policy_category_name(const struct policy *p, int id)
{
	return p ? vocab_name(&p->categories, id) : NULL;
}

const char *
policy_purpose_name(const struct policy *p, int id)
{
	return p ? vocab_name(&p->purposes, id) : NULL;
}

const char *
policy_process_kind_name(const struct policy *p, int id)
{
	return p ? vocab_name(&p->processes, id) : NULL;
}

int
policy_by_id(const char *name)
{
	for (int i = 0; name && i < POLICY_BY_COUNT; i++)
		if (strcmp(name, policy_by_names[i]) == 0)
			return i;
	return -1;
}

const char *
policy_by_name(int by)
{
	return by >= 0 && by < POLICY_BY_COUNT ? policy_by_names[by] : NULL;
}

int
policy_type_id(const char *name)
{
	for (int i = 0; name && i < 2; i++)
		if (strcmp(name, type_names[i]) == 0)
			return i;
	return -1;
}

int
policy_items_mask(const struct policy *p, const char *list, field_mask *out)
{
	field_mask m = 0;
	const char *s = list;

	if (p == NULL || list == NULL || out == NULL)
		return -1;
	while (*s) {
		size_t l = strcspn(s, ", ");
		if (l > 0) {
			int f = field_lookup(s, l), g;
			if (f >= 0)
				m |= FIELD_BIT(f);
			else if ((g = group_find(p, s, l)) >= 0)
				m |= p->groups[g].mask;
			else
				return -1;
		}
		s += l;
		if (*s)
			s++;
	}
	*out = m;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Reload handle                                                           */

struct policy_handle {
	pthread_mutex_t lock;
	struct policy *cur;
};

struct policy_handle *
policy_handle_new(struct policy *p)
{
	struct policy_handle *h;

	if (p == NULL)
		return NULL;
	h = util_calloc(1, sizeof *h);
	if (h == NULL) {
		policy_free(p);
		return NULL;
	}
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		policy_free(p);
		return NULL;
	}
	h->cur = p;
	return h;
}

void
policy_release(const struct policy *cp)
{
	struct policy *p = (struct policy *)(uintptr_t)cp;

	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		policy_free(p);
}

void
policy_handle_free(struct policy_handle *h)
{
	if (h == NULL)
		return;
	policy_release(h->cur);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const struct policy *
policy_handle_acquire(struct policy_handle *h)
{
	struct policy *p;

	if (h == NULL)
		return NULL;
	pthread_mutex_lock(&h->lock);
	p = h->cur;
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&h->lock);
	return p;
}

int
policy_handle_reload(struct policy_handle *h, const char *path, struct policy_errors *errs)
{
	struct policy *n, *old;

	if (h == NULL || path == NULL)
		return -1;
	n = policy_load(path, errs);
	if (n == NULL)
		return -1;
	pthread_mutex_lock(&h->lock);
	old = h->cur;
	h->cur = n;
	pthread_mutex_unlock(&h->lock);
	policy_release(old);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Decision                                                                */

/*
 * Computes the request's facts; -1 when the request is malformed (an id
 * out of range), which the callers turn into a deny with the error flag.
 */
static int
facts(const struct policy *p, const struct policy_request *r, uint64_t f[POLICY_A_COUNT])
{
	size_t olen;

	if (r->category < 0 || r->category >= p->categories.n ||
	    r->purpose < 0 || r->purpose >= p->purposes.n ||
	    r->process_kind < -1 || r->process_kind >= p->processes.n ||
	    (r->type != POLICY_TYPE_DRIVER && r->type != POLICY_TYPE_VEHICLE) ||
	    r->by < 0 || r->by >= POLICY_BY_COUNT)
		return -1;
	f[POLICY_A_CATEGORY] = (uint64_t)1 << r->category;
	f[POLICY_A_PURPOSE] = (uint64_t)1 << r->purpose;
	f[POLICY_A_PROCESS] = (uint64_t)1 << (r->process_kind < 0 ? POLICY_PROCESS_NONE_BIT : r->process_kind);
	f[POLICY_A_TYPE] = (uint64_t)1 << r->type;
	f[POLICY_A_BY] = (uint64_t)1 << r->by;
	f[POLICY_A_EXTRAS] = r->extras;
	f[POLICY_A_CERTIFIED] = r->certified != 0;
	f[POLICY_A_PVALID] = r->process_valid != 0;
	f[POLICY_A_PISSUED] = r->process_issued_to_agency != 0;
	f[POLICY_A_PCOVERS] = r->process_covers_subject != 0;
	f[POLICY_A_ITEMS] = r->process_kind < 0 ? 0 : r->process_items;
	olen = strnlen(r->ori, sizeof r->ori);
	if (olen == sizeof r->ori)
		return -1;
	f[POLICY_A_ORI] = olen ? (uint64_t)ori_pack(r->ori, olen) : (uint64_t)-1;
	return 0;
}

/* Evaluates node n.  Recursion depth is bounded by POLICY_MAX_DEPTH. */
static int
eval(const struct policy *p, uint32_t n, const uint64_t *f)
{
	const struct policy_node *nd = &p->nodes[n];
	int v = 0;

	switch (nd->op) {
	case POLICY_OP_TEST:
		v = (f[nd->attr] & nd->mask) != 0;
		break;
	case POLICY_OP_HAS:
		v = (f[POLICY_A_ITEMS] & nd->mask) == nd->mask;
		break;
	case POLICY_OP_SUBSET:
		v = (f[POLICY_A_ITEMS] & ~nd->mask) == 0;
		break;
	case POLICY_OP_ORI:
		for (uint32_t i = 0; i < nd->count; i++)
			if ((uint64_t)p->oris[nd->first + i] == f[POLICY_A_ORI])
				v = 1;
		break;
	case POLICY_OP_CONST:
		v = nd->mask != 0;
		break;
	case POLICY_OP_AND:
		v = 1;
		for (uint32_t k = nd->first; k != POLICY_NONE; k = p->nodes[k].next)
			if (!eval(p, k, f)) {
				v = 0;
				break;
			}
		break;
	case POLICY_OP_OR:
		for (uint32_t k = nd->first; k != POLICY_NONE; k = p->nodes[k].next)
			if (eval(p, k, f)) {
				v = 1;
				break;
			}
		break;
	default:
		break;
	}
	return v ^ nd->neg;
}

static int
rule_matches(const struct policy *p, const struct policy_rule *r, const uint64_t *f)
{
	if (r->when != POLICY_NONE && !eval(p, r->when, f))
		return 0;
	if (r->unless != POLICY_NONE && eval(p, r->unless, f))
		return 0;
	return 1;
}

/* A notice deadline in calendar days at worst (weekends only). */
static int
notify_cost(int days, int unit)
{
	return unit == POLICY_NOTIFY_BUSINESS_DAYS ? days + 2 * ((days + 4) / 5) : days;
}

static void
take_notify(struct policy_decision *out, const struct policy_rule *r, int idx)
{
	if (r->notify_days == 0)
		return;
	if (out->notify_days == 0 ||
	    notify_cost(r->notify_days, r->notify_unit) < notify_cost(out->notify_days, out->notify_unit) ||
	    (notify_cost(r->notify_days, r->notify_unit) == notify_cost(out->notify_days, out->notify_unit) &&
	     r->notify_unit == POLICY_NOTIFY_DAYS && out->notify_unit != POLICY_NOTIFY_DAYS)) {
		out->notify_days = r->notify_days;
		out->notify_unit = r->notify_unit;
		out->notify_rule = idx;
	}
}

int
policy_decide(const struct policy *p, const struct policy_request *req, struct policy_decision *out)
{
	uint64_t f[POLICY_A_COUNT];
	field_mask rel = 0, typemask;

	if (out == NULL)
		return -1;
	out->permit = 0;
	out->error = 0;
	out->nrules = 0;
	out->released = 0;
	out->notify_days = 0;
	out->notify_unit = 0;
	out->notify_rule = -1;
	if (p == NULL || req == NULL || facts(p, req, f) != 0) {
		out->error = 1;
		return -1;
	}
	for (int i = 0; i < p->nforbids; i++) {
		const struct policy_rule *r = &p->rules[p->forbids[i]];
		if (!rule_matches(p, r, f))
			continue;
		if (out->nrules < POLICY_MAX_DECIDING)
			out->rules[out->nrules++] = p->forbids[i];
		take_notify(out, r, p->forbids[i]);
	}
	if (out->nrules > 0) {
		/* denied: permits still impose their notices (a request
		 * triggers them), but are not named */
		for (int i = 0; i < p->npermits; i++) {
			const struct policy_rule *r = &p->rules[p->permits[i]];
			if (r->notify_days && rule_matches(p, r, f))
				take_notify(out, r, p->permits[i]);
		}
		return 0;
	}
	for (int i = 0; i < p->npermits; i++) {
		const struct policy_rule *r = &p->rules[p->permits[i]];
		field_mask m;
		if (!rule_matches(p, r, f))
			continue;
		if (out->nrules < POLICY_MAX_DECIDING)
			out->rules[out->nrules++] = p->permits[i];
		m = r->release;
		if (r->release_process)
			m = (m ? m : ~(field_mask)0) & f[POLICY_A_ITEMS];
		rel |= m;
		take_notify(out, r, p->permits[i]);
	}
	if (out->nrules == 0)
		return 0;                      /* default deny */
	typemask = req->type == POLICY_TYPE_VEHICLE ? FIELD_MASK_VEHICLE :
	    FIELD_MASK_DRIVER | FIELD_BIT(FIELD_HISTORY) | FIELD_BIT(FIELD_PHOTO);
	rel &= typemask & ~p->never;
	if (!(req->extras & POLICY_EXTRA_PHOTO))
		rel &= ~FIELD_BIT(FIELD_PHOTO);
	out->permit = 1;
	out->released = rel;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Explain                                                                 */

/* Like eval(), and stores in *why the node that decided the result: the
 * first false conjunct, the first true disjunct, else the node itself. */
static int
eval_why(const struct policy *p, uint32_t n, const uint64_t *f, uint32_t *why)
{
	const struct policy_node *nd = &p->nodes[n];
	int v;

	*why = n;
	if (nd->op == POLICY_OP_AND || nd->op == POLICY_OP_OR) {
		int stop = nd->op == POLICY_OP_OR;    /* value that short-circuits */
		v = !stop;
		for (uint32_t k = nd->first; k != POLICY_NONE; k = p->nodes[k].next) {
			uint32_t w;
			if (eval_why(p, k, f, &w) == stop) {
				*why = w;
				v = stop;
				break;
			}
		}
		return v ^ nd->neg;
	}
	return eval(p, n, f);
}

/* Appends node n's source text, comments dropped and blanks squeezed. */
static void
append_src(const struct policy *p, uint32_t n, char *out, size_t outsz, size_t *len)
{
	const struct policy_node *nd = &p->nodes[n];
	int space = 0;

	for (uint32_t i = nd->src_off; i < nd->src_end && i < p->srclen; i++) {
		char c = p->src[i];
		if (c == '#') {
			while (i + 1 < nd->src_end && p->src[i + 1] != '\n')
				i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = 1;
			continue;
		}
		if (space && *len + 1 < outsz)
			out[(*len)++] = ' ';
		space = 0;
		if (*len + 1 < outsz)
			out[(*len)++] = c;
	}
	out[*len] = '\0';
}

static void
appendf(char *out, size_t outsz, size_t *len, const char *fmt, ...) UTIL_PRINTF(4, 5);

static void
appendf(char *out, size_t outsz, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len + 1 >= outsz)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + *len, outsz - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < outsz ? *len + (size_t)n : outsz - 1;
}

static void
explain_part(const struct policy *p, const char *clause, uint32_t why, int v,
    char *out, size_t outsz, size_t *len)
{
	appendf(out, outsz, len, "%s %u:%u `", clause, p->nodes[why].line, p->nodes[why].col);
	append_src(p, why, out, outsz, len);
	appendf(out, outsz, len, "` is %s", v ? "true" : "false");
}

int
policy_explain_rule(const struct policy *p, int rule, const struct policy_request *req,
    char *out, size_t outsz)
{
	uint64_t f[POLICY_A_COUNT];
	const struct policy_rule *r;
	uint32_t why;
	size_t len = 0;
	int v;

	if (out == NULL || outsz == 0)
		return -1;
	out[0] = '\0';
	if (p == NULL || req == NULL || rule < 0 || rule >= p->nrules || facts(p, req, f) != 0) {
		appendf(out, outsz, &len, "evaluation error: request out of range");
		return -1;
	}
	r = &p->rules[rule];
	if (r->when == POLICY_NONE && r->unless == POLICY_NONE) {
		appendf(out, outsz, &len, "matched: the rule has no condition");
		return 1;
	}
	if (r->when != POLICY_NONE) {
		v = eval_why(p, r->when, f, &why);
		if (!v) {
			appendf(out, outsz, &len, "not matched: ");
			explain_part(p, "when", why, v, out, outsz, &len);
			return 0;
		}
	}
	if (r->unless != POLICY_NONE) {
		v = eval_why(p, r->unless, f, &why);
		if (v) {
			appendf(out, outsz, &len, "not matched: ");
			explain_part(p, "unless", why, v, out, outsz, &len);
			return 0;
		}
	}
	appendf(out, outsz, &len, "matched: ");
	if (r->when != POLICY_NONE) {
		v = eval_why(p, r->when, f, &why);
		explain_part(p, "when", why, v, out, outsz, &len);
	}
	if (r->unless != POLICY_NONE) {
		v = eval_why(p, r->unless, f, &why);
		appendf(out, outsz, &len, r->when != POLICY_NONE ? "; " : "");
		explain_part(p, "unless", why, v, out, outsz, &len);
	}
	return 1;
}
