/*
 * test_policy.c - unit tests of the policy language and engine: every
 * parser error path with its file:line:col message, the decision semantics
 * (default deny, forbid overrides, fail closed, never items, item sets,
 * process.items, legal-process conditions, notices), limits, explain, and
 * the reload handle keeping the old policy when the new file is broken.
 */
#include "testutil.h"

#include <pthread.h>

#include "field.h"
#include "policy.h"

/* Declarations most tests start with (lines 1-3). */
#define DECL "categories police ice dmv\npurposes crim civil admin\nprocesses warrant order subpoena\n"

static struct policy *
load(const char *src, struct policy_errors *e)
{
	return policy_load_mem("t.policy", src, strlen(src), e);
}

/* ------------------------------------------------------------------ */
/* Parser errors                                                       */

static const struct { const char *src, *msg; } error_cases[] = {
	/* lexer */
	{ "categories a\nforbid \"x", "t.policy:2:8: unterminated string" },
	{ "forbid \"a\tb\x01\" cite \"c\"", "t.policy:1:8: control character in string" },
	{ "forbid \"\xff\" cite \"c\"", "t.policy:1:8: string is not valid UTF-8" },
	{ "categories a @", "t.policy:1:14: unexpected character '@'" },
	{ "categories a \xc3\xa9", "t.policy:1:14: unexpected byte 0xc3" },
	{ "categories a ! b", "t.policy:1:14: unexpected character '!'" },
	{ "categories aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "t.policy:1:12: name longer than 64 characters" },
	/* statements */
	{ "hello world", "t.policy:1:1: expected a statement (categories, purposes, processes, items, never, forbid, permit, limit), found 'hello'" },
	{ "{", "t.policy:1:1: expected a statement" },
	/* vocabularies */
	{ "categories 9a", "t.policy:1:12: invalid category name '9a'" },
	{ "purposes x.y", "t.policy:1:10: invalid purpose name 'x.y'" },
	{ "categories a and", "t.policy:1:14: 'and' is a reserved word" },
	{ "categories a b a", "t.policy:1:16: duplicate category 'a'" },
	{ "processes none", "t.policy:1:11: 'none' is a reserved word" },
	{ "categories\npurposes p", "t.policy:1:1: 'categories' needs at least one name" },
	{ "categories a { b", "t.policy:1:14: expected a name or the next statement, found '{'" },
	/* items and never */
	{ "items = street", "t.policy:1:7: expected an item group name, found '='" },
	{ "items when = street", "t.policy:1:7: 'when' is a reserved word" },
	{ "items street = city", "t.policy:1:7: item group 'street' has the name of a field" },
	{ "items a = city\nitems a = zip", "t.policy:2:7: duplicate item group 'a'" },
	{ "items a city", "t.policy:1:9: expected '=', found 'city'" },
	{ "items a = city colour", "t.policy:1:16: unknown field or item group 'colour'" },
	{ "items a =", "t.policy:1:10: expected a field or item group, found end of file" },
	{ "items a = city (", "t.policy:1:16: expected a field or the next statement, found '('" },
	{ "never\n", "t.policy:1:1: 'never' needs at least one field" },
	{ "never ssn {", "t.policy:1:11: expected a field or the next statement, found '{'" },
	/* rules */
	{ "forbid x", "t.policy:1:8: expected the rule id in quotes, found 'x'" },
	{ "forbid \"\" cite \"c\"", "t.policy:1:8: a rule id is 1 to 64 characters" },
	{ "forbid \"a\" cite \"c\"\npermit \"a\" cite \"d\"", "t.policy:2:8: duplicate rule id \"a\" (first at line 1)" },
	{ "forbid \"a\" when true", "t.policy:1:12: expected 'cite' and the legal citation after the rule id, found 'when'" },
	{ "forbid \"a\" cite c", "t.policy:1:17: expected the citation in quotes, found 'c'" },
	{ "forbid \"a\" cite \"c\" when true when false", "t.policy:1:31: duplicate 'when' clause" },
	{ "forbid \"a\" cite \"c\" unless true unless false", "t.policy:1:33: duplicate 'unless' clause" },
	{ "forbid \"a\" cite \"c\" release street", "t.policy:1:21: a forbid rule cannot release items" },
	{ "permit \"a\" cite \"c\" release street release city", "t.policy:1:36: duplicate 'release' clause" },
	{ "permit \"a\" cite \"c\" release", "t.policy:1:28: expected items to release, found end of file" },
	{ "permit \"a\" cite \"c\" release nosuch", "t.policy:1:29: unknown field or item group 'nosuch'" },
	{ "permit \"a\" cite \"c\" (", "t.policy:1:21: expected 'when', 'unless', 'release', 'notify' or the next statement, found '('" },
	{ "permit \"a\" cite \"c\" notify you", "t.policy:1:28: expected 'subject' after 'notify', found 'you'" },
	{ "permit \"a\" cite \"c\" notify subject in 3 days", "t.policy:1:36: expected 'within', found 'in'" },
	{ "permit \"a\" cite \"c\" notify subject within three days", "t.policy:1:43: expected a number, found 'three'" },
	{ "permit \"a\" cite \"c\" notify subject within 0 days", "t.policy:1:43: number out of range 1..365" },
	{ "permit \"a\" cite \"c\" notify subject within 400 days", "t.policy:1:43: number out of range 1..365" },
	{ "permit \"a\" cite \"c\" notify subject within 3 weeks", "t.policy:1:45: expected 'days' or 'business days', found 'weeks'" },
	{ "permit \"a\" cite \"c\" notify subject within 3 business hours", "t.policy:1:54: expected 'days' after 'business', found 'hours'" },
	{ "permit \"a\" cite \"c\" notify subject within 3 days notify subject within 2 days",
	  "t.policy:1:50: duplicate 'notify' clause" },
	/* never items */
	{ "never ssn\npermit \"a\" cite \"c\" release street ssn", "t.policy:2:36: 'ssn' is a never item and cannot be released" },
	{ "items g = city documents\nnever documents\npermit \"a\" cite \"c\" release g",
	  "t.policy:3:29: item group 'g' contains never item 'documents', which no rule may release" },
	/* conditions */
	{ DECL "forbid \"a\" cite \"c\" when category == cops", "t.policy:4:38: unknown category 'cops'" },
	{ DECL "forbid \"a\" cite \"c\" when purpose in {crim, fun}", "t.policy:4:44: unknown purpose 'fun'" },
	{ DECL "forbid \"a\" cite \"c\" when process == letter", "t.policy:4:37: unknown process kind 'letter'" },
	{ DECL "forbid \"a\" cite \"c\" when type == boat", "t.policy:4:34: unknown query type 'boat' (driver, vehicle)" },
	{ DECL "forbid \"a\" cite \"c\" when by == ssn", "t.policy:4:32: unknown query kind 'ssn' (license, name_dob, plate, vin, address, license_kind, face)" },
	{ DECL "forbid \"a\" cite \"c\" when include has video", "t.policy:4:38: unknown extra 'video' (photo)" },
	{ DECL "forbid \"a\" cite \"c\" when include photo", "t.policy:4:34: expected 'has' after 'include', found 'photo'" },
	{ DECL "forbid \"a\" cite \"c\" when include has {", "t.policy:4:38: expected 'photo', found '{'" },
	{ DECL "forbid \"a\" cite \"c\" when category police", "t.policy:4:35: expected '==', '!=', 'in' or 'not in' after 'category', found 'police'" },
	{ DECL "forbid \"a\" cite \"c\" when category in police", "t.policy:4:38: expected '{', found 'police'" },
	{ DECL "forbid \"a\" cite \"c\" when category in {}", "t.policy:4:39: empty set" },
	{ DECL "forbid \"a\" cite \"c\" when category in {police dmv}", "t.policy:4:46: expected ',' or '}', found 'dmv'" },
	{ DECL "forbid \"a\" cite \"c\" when (certified", "t.policy:4:36: expected ')', found end of file" },
	{ DECL "forbid \"a\" cite \"c\" when", "t.policy:4:25: expected a condition, found end of file" },
	{ DECL "forbid \"a\" cite \"c\" when certified and", "t.policy:4:39: expected a condition, found end of file" },
	{ DECL "forbid \"a\" cite \"c\" when colour == red", "t.policy:4:26: unknown condition 'colour'" },
	{ DECL "forbid \"a\" cite \"c\" when ori == CA1", "t.policy:4:33: expected an ORI in quotes, found 'CA1'" },
	{ DECL "forbid \"a\" cite \"c\" when ori == \"CA-1\"", "t.policy:4:33: an ORI is 1 to 9 letters or digits" },
	{ DECL "forbid \"a\" cite \"c\" when ori == \"CA12345678\"", "t.policy:4:33: an ORI is 1 to 9 letters or digits" },
	{ DECL "forbid \"a\" cite \"c\" when process.items == street", "t.policy:4:40: expected 'has' or 'in' after 'process.items', found '=='" },
	{ DECL "forbid \"a\" cite \"c\" when process.items in street", "t.policy:4:43: expected '{', found 'street'" },
	{ DECL "forbid \"a\" cite \"c\" when process.items has {street zip}", "t.policy:4:52: expected ',' or '}', found 'zip'" },
	{ DECL "forbid \"a\" cite \"c\" when process.items has nope", "t.policy:4:44: unknown field or item group 'nope'" },
	{ DECL "forbid \"a\" cite \"c\" when release", "t.policy:4:26: expected a condition, found 'release'" },
	{ DECL "forbid \"a\" cite \"c\" when category == \"police\"", "t.policy:4:38: expected a name, found '\"police\"'" },
	{ DECL "forbid \"a\" cite \"c\" when {", "t.policy:4:26: expected a condition, found '{'" },
	{ DECL "forbid \"a\" cite \"c\" when not", "t.policy:4:29: expected a condition, found end of file" },
	{ "permit \"a\" cite \"c\" notify subject within 12345678901 days", "t.policy:1:43: expected a number, found '12345678901'" },
	{ "forbid \"a\" cite \"c\" cite \"d\"", "t.policy:1:21: expected 'when', 'unless', 'release', 'notify' or the next statement, found 'cite'" },
	/* limits */
	{ "limit sweep", "t.policy:1:7: expected the limit id in quotes, found 'sweep'" },
	{ "limit \"\"", "t.policy:1:7: a limit id is 1 to 64 characters" },
	{ "limit \"a\" per user 1 queries per 1h\nlimit \"a\" per user 1 queries per 1h", "t.policy:2:7: duplicate limit id \"a\" (first at line 1)" },
	{ "limit \"a\" cite x", "t.policy:1:16: expected the citation in quotes, found 'x'" },
	{ "limit \"a\" each user", "t.policy:1:11: expected 'per user' or 'per agency', found 'each'" },
	{ "limit \"a\" per team 3 queries per 1h", "t.policy:1:15: expected 'user' or 'agency', found 'team'" },
	{ "limit \"a\" per user many queries per 1h", "t.policy:1:20: expected a number, found 'many'" },
	{ "limit \"a\" per user 0 queries per 1h", "t.policy:1:20: number out of range 1..1000000000" },
	{ "limit \"a\" per user 3 lookups per 1h", "t.policy:1:22: expected 'queries', 'subjects', 'people at one address' or 'misses', found 'lookups'" },
	{ "limit \"a\" per user 3 people at an address per 1h", "t.policy:1:32: expected 'people at one address', found 'an'" },
	{ "limit \"a\" per user 3 queries in 1h", "t.policy:1:30: expected 'per' and a window, found 'in'" },
	{ "limit \"a\" per user 3 queries per hour", "t.policy:1:34: expected a window such as 30s, 15m, 1h or 7d, found 'hour'" },
	{ "limit \"a\" per user 3 queries per 1y", "t.policy:1:34: expected a window such as 30s, 15m, 1h or 7d, found '1y'" },
	{ "limit \"a\" per user 3 queries per 400d", "t.policy:1:34: window out of range 1s..366d" },
	{ "limit \"a\" per user 3 queries per 0s", "t.policy:1:34: window out of range 1s..366d" },
	{ "limit \"a\" per user 3 queries per 1h then block", "t.policy:1:42: expected 'deny' or 'suspend', found 'block'" },
	{ "limit \"a\" per user 3 queries per 1h or", "t.policy:1:37: expected 'then deny', 'then suspend' or the next statement, found 'or'" },
};

static void
test_parse_errors(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		struct policy_errors e;
		struct policy *p;

		policy_errors_init(&e);
		p = load(error_cases[i].src, &e);
		if (p != NULL || e.text == NULL || strstr(e.text, error_cases[i].msg) == NULL) {
			fprintf(stderr, "case %zu: source:\n%s\nwant: %s\ngot: %s\n", i,
			    error_cases[i].src, error_cases[i].msg, e.text ? e.text : "(loaded, no error)");
			bad++;
		}
		policy_errors_free(&e);
		policy_free(p);
	}
	assert_int_equal(bad, 0);
}

static void
test_errors_all_collected(void **state)
{
	struct policy_errors e;
	const char *src =
	    DECL
	    "forbid \"a\" cite \"c\" when category == nope\n"
	    "permit \"b\" cite \"c\" when purpose == nope release street\n"
	    "limit \"l\" per team 3 queries per 1h\n"
	    "permit \"d\" cite \"c\" when certified release city\n";

	(void)state;
	policy_errors_init(&e);
	assert_null(load(src, &e));
	assert_int_equal(e.count, 3);
	assert_non_null(strstr(e.text, "t.policy:4:38: unknown category 'nope'"));
	assert_non_null(strstr(e.text, "t.policy:5:37: unknown purpose 'nope'"));
	assert_non_null(strstr(e.text, "t.policy:6:15: expected 'user' or 'agency'"));
	policy_errors_free(&e);
}

static void
test_errors_capped(void **state)
{
	char *src = malloc(200 * 20 + 1);
	struct policy_errors e;
	size_t n = 0;

	(void)state;
	assert_non_null(src);
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(src + n, "categories 9x%d\n", i);
	policy_errors_init(&e);
	assert_null(load(src, &e));
	assert_int_equal(e.count, 200);
	/* only POLICY_MAX_ERRORS lines kept */
	int lines = 0;
	for (const char *s = e.text; *s; s++)
		lines += *s == '\n';
	assert_int_equal(lines, POLICY_MAX_ERRORS);
	policy_errors_free(&e);
	free(src);
}

static void
test_limits_of_input(void **state)
{
	struct policy_errors e;
	size_t big = POLICY_MAX_FILE + 1, n;
	char *src;

	(void)state;
	/* too large */
	src = malloc(big);
	assert_non_null(src);
	memset(src, ' ', big);
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, big, &e));
	assert_non_null(strstr(e.text, "t.policy:1:1: policy larger than 1048576 bytes"));
	policy_errors_free(&e);
	/* NUL byte */
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", "categories a\0b", 14, &e));
	assert_non_null(strstr(e.text, "policy contains a NUL byte"));
	policy_errors_free(&e);
	/* string too long */
	n = (size_t)sprintf(src, "forbid \"");
	memset(src + n, 'x', 300);
	n += 300;
	n += (size_t)sprintf(src + n, "\" cite \"c\"");
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "t.policy:1:8: string longer than 256 bytes"));
	policy_errors_free(&e);
	/* deep nesting: parentheses, then `not` chains; an error, no crash */
	n = (size_t)sprintf(src, DECL "forbid \"a\" cite \"c\" when ");
	for (int i = 0; i < 100000; i++)
		src[n++] = '(';
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "t.policy:4:58: conditions nested deeper than 32"));
	policy_errors_free(&e);
	n = (size_t)sprintf(src, DECL "forbid \"a\" cite \"c\" when ");
	for (int i = 0; i < 50000; i++)
		n += (size_t)sprintf(src + n, "not ");
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "conditions nested deeper than 32"));
	policy_errors_free(&e);
	/* depth 32 exactly is fine */
	n = (size_t)sprintf(src, DECL "forbid \"a\" cite \"c\" when ");
	for (int i = 0; i < 31; i++)
		src[n++] = '(';
	n += (size_t)sprintf(src + n, "certified");
	for (int i = 0; i < 31; i++)
		src[n++] = ')';
	policy_errors_init(&e);
	struct policy *p = policy_load_mem("t.policy", src, n, &e);
	assert_non_null(p);
	policy_free(p);
	policy_errors_free(&e);
	/* too many rules */
	n = 0;
	for (int i = 0; i <= POLICY_MAX_RULES; i++)
		n += (size_t)sprintf(src + n, "forbid \"r%d\" cite \"c\"\n", i);
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "t.policy:1025:1: too many rules (at most 1024)"));
	policy_errors_free(&e);
	/* too many categories */
	n = (size_t)sprintf(src, "categories");
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(src + n, " c%d", i);
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "too many categories (at most 63)"));
	policy_errors_free(&e);
	/* too many item groups */
	n = 0;
	for (int i = 0; i <= POLICY_MAX_GROUPS; i++)
		n += (size_t)sprintf(src + n, "items g%d = street\n", i);
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "t.policy:257:7: too many item groups (at most 256)"));
	policy_errors_free(&e);
	/* too many limits */
	n = 0;
	for (int i = 0; i <= POLICY_MAX_LIMITS; i++)
		n += (size_t)sprintf(src + n, "limit \"l%d\" per user 1 queries per 1h\n", i);
	policy_errors_init(&e);
	assert_null(policy_load_mem("t.policy", src, n, &e));
	assert_non_null(strstr(e.text, "t.policy:257:1: too many limits (at most 256)"));
	policy_errors_free(&e);
	free(src);
}

static void
test_load_file_errors(void **state)
{
	struct policy_errors e;

	(void)state;
	policy_errors_init(&e);
	assert_null(policy_load("/nonexistent/x.policy", &e));
	assert_non_null(strstr(e.text, "/nonexistent/x.policy:1:1: cannot read"));
	policy_errors_free(&e);
	/* errs may be NULL */
	assert_null(policy_load_mem("t", "bogus", 5, NULL));
}

/* ------------------------------------------------------------------ */
/* Semantics                                                           */

static const char sem_src[] =
    "categories police ice dmv insurer\n"
    "purposes crim civil admin claim\n"
    "processes warrant order subpoena\n"
    "items identity = license_number last_name first_name dob\n"
    "items address = street city state zip\n"
    "never ssn documents\n"
    "forbid \"no-bulk\" cite \"B\" when by in {address, license_kind} and category != dmv\n"
    "forbid \"expired\" cite \"E\" when not certified\n"
    "forbid \"imm\" cite \"I\"\n"
    "  when category == ice or purpose == civil\n"
    "  unless process in {warrant, order} and process.valid and process.issued_to_agency\n"
    "         and process.covers_subject\n"
    "  notify subject within 3 business days\n"
    "permit \"police\" cite \"P\" when category == police and purpose == crim\n"
    "  release identity address history photo\n"
    "permit \"police-vehicle\" cite \"PV\" when category == police and type == vehicle\n"
    "  release plate make owner_name\n"
    "permit \"dmv\" cite \"D\" when category == dmv release identity license_class\n"
    "permit \"ice\" cite \"IC\" when category == ice and process in {warrant, order}\n"
    "  release process.items\n"
    "  notify subject within 3 days\n"
    "permit \"ice-narrow\" cite \"IN\" when category == ice and purpose == crim\n"
    "  release identity process.items\n"
    "permit \"ori\" cite \"O\" when ori in {\"CA0340000\", \"NY1\"} and purpose == claim release city\n"
    "permit \"items\" cite \"T\" when category == insurer and process.items has {street, zip}\n"
    "  and process.items in {address} release zip\n"
    "limit \"sweep\" per user 200 subjects per 1h then suspend\n"
    "limit \"household\" cite \"NILC\" per agency 3 people at one address per 24h\n"
    "limit \"rate\" per user 10 queries per 30s\n"
    "limit \"miss\" per agency 5 misses per 7d then deny\n";

static struct policy *sem;

static int
sem_setup(void **state)
{
	struct policy_errors e;

	(void)state;
	policy_errors_init(&e);
	sem = load(sem_src, &e);
	if (sem == NULL)
		fprintf(stderr, "%s", e.text ? e.text : "?");
	policy_errors_free(&e);
	return sem ? 0 : -1;
}

static int
sem_teardown(void **state)
{
	(void)state;
	policy_free(sem);
	return 0;
}

static struct policy_request
req(const char *cat, const char *purpose)
{
	struct policy_request r;

	memset(&r, 0, sizeof r);
	r.category = policy_category_id(sem, cat);
	r.purpose = policy_purpose_id(sem, purpose);
	r.certified = 1;
	r.type = POLICY_TYPE_DRIVER;
	r.by = POLICY_BY_LICENSE;
	r.process_kind = -1;
	return r;
}

static int
rule_named(const struct policy_decision *d, int i, const char *id)
{
	return i < d->nrules && strcmp(policy_rule_id(sem, d->rules[i]), id) == 0;
}

static field_mask
mask(const char *list)
{
	field_mask m = 0;

	assert_int_equal(policy_items_mask(sem, list, &m), 0);
	return m;
}

static void
test_default_deny(void **state)
{
	struct policy_request r = req("insurer", "claim");
	struct policy_decision d;

	(void)state;
	assert_int_equal(policy_decide(sem, &r, &d), 0);
	assert_int_equal(d.permit, 0);
	assert_int_equal(d.error, 0);
	assert_int_equal(d.nrules, 0);
	assert_int_equal(d.released, 0);
	assert_int_equal(d.notify_days, 0);
	assert_int_equal(d.notify_rule, -1);
}

static void
test_permit_and_items(void **state)
{
	struct policy_request r = req("police", "crim");
	struct policy_decision d;

	(void)state;
	assert_int_equal(policy_decide(sem, &r, &d), 0);
	assert_int_equal(d.permit, 1);
	assert_int_equal(d.nrules, 1);
	assert_true(rule_named(&d, 0, "police"));
	assert_string_equal(policy_rule_cite(sem, d.rules[0]), "P");
	/* photo not requested: not released */
	assert_int_equal(d.released, mask("identity,address,history"));
	r.extras = POLICY_EXTRA_PHOTO;
	policy_decide(sem, &r, &d);
	assert_int_equal(d.released, mask("identity,address,history,photo"));
	/* vehicle query: only vehicle fields, union of both permits */
	r = req("police", "crim");
	r.type = POLICY_TYPE_VEHICLE;
	r.by = POLICY_BY_PLATE;
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	assert_int_equal(d.nrules, 2);
	assert_true(rule_named(&d, 0, "police"));
	assert_true(rule_named(&d, 1, "police-vehicle"));
	assert_int_equal(d.released, mask("plate,make,owner_name"));
	/* a driver query gets no vehicle field */
	r = req("police", "admin");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
}

static void
test_forbid_overrides(void **state)
{
	struct policy_request r = req("police", "crim");
	struct policy_decision d;

	(void)state;
	r.by = POLICY_BY_ADDRESS;
	r.certified = 0;
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	assert_int_equal(d.error, 0);
	/* every matching forbid is named, no permit */
	assert_int_equal(d.nrules, 2);
	assert_true(rule_named(&d, 0, "no-bulk"));
	assert_true(rule_named(&d, 1, "expired"));
	assert_int_equal(d.released, 0);
	/* the DMV itself may query by address */
	r = req("dmv", "admin");
	r.by = POLICY_BY_ADDRESS;
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	assert_true(rule_named(&d, 0, "dmv"));
	assert_int_equal(d.released, mask("identity,license_class"));
}

static void
test_legal_process(void **state)
{
	struct policy_request r = req("ice", "civil");
	struct policy_decision d;

	(void)state;
	/* no process: denied, notice due from the forbid */
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	assert_true(rule_named(&d, 0, "imm"));
	assert_int_equal(d.notify_days, 3);
	assert_int_equal(d.notify_unit, POLICY_NOTIFY_BUSINESS_DAYS);
	/* each condition of the process is needed */
	r.process_kind = policy_process_kind_id(sem, "warrant");
	r.process_items = mask("identity,ssn,zip");
	for (int bit = 0; bit < 8; bit++) {
		r.process_valid = bit & 1;
		r.process_issued_to_agency = (bit >> 1) & 1;
		r.process_covers_subject = (bit >> 2) & 1;
		policy_decide(sem, &r, &d);
		assert_int_equal(d.permit, bit == 7);
	}
	/* permitted: only the order's items, never ssn; the shorter notice
	 * (3 calendar days, from the permit) wins */
	assert_int_equal(d.nrules, 1);
	assert_true(rule_named(&d, 0, "ice"));
	assert_int_equal(d.released, mask("identity,zip"));
	assert_int_equal(d.notify_days, 3);
	assert_int_equal(d.notify_unit, POLICY_NOTIFY_DAYS);
	assert_string_equal(policy_rule_id(sem, d.notify_rule), "ice");
	/* a subpoena is not enough */
	r.process_kind = policy_process_kind_id(sem, "subpoena");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	assert_true(rule_named(&d, 0, "imm"));
	/* process.items intersected per rule: ice-narrow gives identity ∩ items */
	r = req("ice", "crim");
	r.process_kind = policy_process_kind_id(sem, "order");
	r.process_valid = r.process_issued_to_agency = r.process_covers_subject = 1;
	r.process_items = mask("last_name,street");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	assert_int_equal(d.nrules, 2);
	assert_int_equal(d.released, mask("last_name,street"));
	r.process_items = mask("first_name");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.released, mask("first_name"));
}

static void
test_notify_on_overridden_permit(void **state)
{
	struct policy_request r = req("ice", "civil");
	struct policy_decision d;

	(void)state;
	/* valid order, but expired certification: deny by "expired"; the
	 * permit "ice" still imposes its notice (the request triggers it) */
	r.certified = 0;
	r.process_kind = policy_process_kind_id(sem, "order");
	r.process_valid = r.process_issued_to_agency = r.process_covers_subject = 1;
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	assert_int_equal(d.nrules, 1);
	assert_true(rule_named(&d, 0, "expired"));
	assert_int_equal(d.notify_days, 3);
	assert_string_equal(policy_rule_id(sem, d.notify_rule), "ice");
}

static void
test_items_conditions_and_ori(void **state)
{
	struct policy_request r = req("insurer", "crim");
	struct policy_decision d;

	(void)state;
	r.process_kind = policy_process_kind_id(sem, "subpoena");
	r.process_items = mask("street,zip,city");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	assert_true(rule_named(&d, 0, "items"));
	assert_int_equal(d.released, mask("zip"));
	r.process_items = mask("street,zip,dob");   /* not a subset of address */
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	r.process_items = mask("street");           /* lacks zip */
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	/* no process cited: its items count as empty */
	r.process_kind = -1;
	r.process_items = mask("street,zip");
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
	/* ORI, case-insensitive */
	r = req("insurer", "claim");
	memcpy(r.ori, "ca0340000", 10);
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	assert_true(rule_named(&d, 0, "ori"));
	memcpy(r.ori, "NY1", 4);
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 1);
	memcpy(r.ori, "NY2", 4);
	policy_decide(sem, &r, &d);
	assert_int_equal(d.permit, 0);
}

static void
test_fail_closed(void **state)
{
	struct policy_request r = req("police", "crim");
	struct policy_decision d;

	(void)state;
	assert_int_equal(policy_category_id(sem, "polize"), -1);
	assert_int_equal(policy_purpose_id(sem, "nope"), -1);
	assert_int_equal(policy_process_kind_id(sem, "none"), -1);
	r.category = -1;   /* an unknown name the caller did not check */
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	assert_int_equal(d.permit, 0);
	assert_int_not_equal(d.error, 0);
	r = req("police", "crim");
	r.purpose = 99;
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	assert_int_equal(d.permit, 0);
	r = req("police", "crim");
	r.type = 7;
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	r = req("police", "crim");
	r.by = POLICY_BY_COUNT;
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	r = req("police", "crim");
	r.process_kind = 3;
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	r = req("police", "crim");
	memset(r.ori, 'A', sizeof r.ori);   /* not NUL-terminated */
	assert_int_equal(policy_decide(sem, &r, &d), -1);
	assert_int_equal(d.permit, 0);
	assert_int_equal(policy_decide(NULL, &r, &d), -1);
	assert_int_equal(d.permit, 0);
	assert_int_not_equal(d.error, 0);
	assert_int_equal(policy_decide(sem, NULL, &d), -1);
	assert_int_equal(policy_decide(sem, &r, NULL), -1);
}

static void
test_never_at_load(void **state)
{
	struct policy_errors e;
	struct policy *p;
	struct policy_request r;
	struct policy_decision d;

	(void)state;
	/* never declared after the rule still counts */
	policy_errors_init(&e);
	assert_null(load("categories a\npurposes p\npermit \"x\" cite \"c\" release ssn\nnever ssn", &e));
	assert_non_null(strstr(e.text, "t.policy:3:29: 'ssn' is a never item and cannot be released"));
	policy_errors_free(&e);
	/* a never item named by a court order is still not released */
	p = load("categories a\npurposes p\nprocesses o\nnever ssn place_of_birth\n"
		 "permit \"x\" cite \"c\" release process.items", NULL);
	assert_non_null(p);
	memset(&r, 0, sizeof r);
	r.certified = 1;
	r.process_kind = 0;
	r.process_items = FIELD_BIT(FIELD_SSN) | FIELD_BIT(FIELD_DOB) | FIELD_BIT(FIELD_PLACE_OF_BIRTH) |
	    FIELD_BIT(FIELD_PLATE);
	assert_int_equal(policy_decide(p, &r, &d), 0);
	assert_int_equal(d.permit, 1);
	assert_int_equal(d.released, FIELD_BIT(FIELD_DOB));
	policy_free(p);
}

static void
test_limits_parsed(void **state)
{
	const struct policy_limit *l;

	(void)state;
	assert_int_equal(policy_nlimits(sem), 4);
	l = policy_limit(sem, 0);
	assert_string_equal(l->id, "sweep");
	assert_string_equal(l->cite, "");
	assert_int_equal(l->scope, POLICY_LIMIT_USER);
	assert_int_equal(l->what, POLICY_LIMIT_SUBJECTS);
	assert_int_equal(l->count, 200);
	assert_int_equal(l->window, 3600);
	assert_int_equal(l->action, POLICY_LIMIT_SUSPEND);
	l = policy_limit(sem, 1);
	assert_string_equal(l->id, "household");
	assert_string_equal(l->cite, "NILC");
	assert_int_equal(l->scope, POLICY_LIMIT_AGENCY);
	assert_int_equal(l->what, POLICY_LIMIT_PEOPLE_AT_ADDRESS);
	assert_int_equal(l->count, 3);
	assert_int_equal(l->window, 86400);
	assert_int_equal(l->action, POLICY_LIMIT_DENY);
	l = policy_limit(sem, 2);
	assert_int_equal(l->what, POLICY_LIMIT_QUERIES);
	assert_int_equal(l->window, 30);
	l = policy_limit(sem, 3);
	assert_int_equal(l->what, POLICY_LIMIT_MISSES);
	assert_int_equal(l->window, 7 * 86400);
	assert_int_equal(l->line, 30);
	assert_null(policy_limit(sem, 4));
	assert_null(policy_limit(sem, -1));
}

static void
test_accessors_and_explain(void **state)
{
	struct policy_request r = req("police", "crim");
	char out[512];

	(void)state;
	assert_int_equal(policy_nrules(sem), 10);
	assert_string_equal(policy_rule_id(sem, 0), "no-bulk");
	assert_int_equal(policy_rule_is_forbid(sem, 0), 1);
	assert_int_equal(policy_rule_is_forbid(sem, 3), 0);
	assert_int_equal(policy_rule_line(sem, 2), 9);
	assert_null(policy_rule_id(sem, 10));
	assert_null(policy_rule_cite(sem, -1));
	assert_string_equal(policy_category_name(sem, 1), "ice");
	assert_null(policy_category_name(sem, 4));
	assert_string_equal(policy_by_name(POLICY_BY_NAME_DOB), "name_dob");
	assert_int_equal(policy_by_id("vin"), POLICY_BY_VIN);
	assert_int_equal(policy_type_id("vehicle"), POLICY_TYPE_VEHICLE);
	assert_int_equal(strlen(policy_digest(sem)), 64);
	field_mask m;
	assert_int_equal(policy_items_mask(sem, "identity,bogus", &m), -1);

	assert_int_equal(policy_explain_rule(sem, 0, &r, out, sizeof out), 0);
	assert_string_equal(out, "not matched: when 7:32 `by in {address, license_kind}` is false");
	assert_int_equal(policy_explain_rule(sem, 3, &r, out, sizeof out), 1);
	assert_string_equal(out, "matched: when 14:31 `category == police and purpose == crim` is true");
	r = req("ice", "civil");
	r.process_kind = policy_process_kind_id(sem, "warrant");
	r.process_valid = 1;
	assert_int_equal(policy_explain_rule(sem, 2, &r, out, sizeof out), 1);
	assert_string_equal(out, "matched: when 10:8 `category == ice` is true; "
				 "unless 11:60 `process.issued_to_agency` is false");
	r.process_issued_to_agency = r.process_covers_subject = 1;
	assert_int_equal(policy_explain_rule(sem, 2, &r, out, sizeof out), 0);
	assert_string_equal(out, "not matched: unless 11:10 `process in {warrant, order} and process.valid "
				 "and process.issued_to_agency and process.covers_subject` is true");
	/* truncation is safe */
	assert_int_equal(policy_explain_rule(sem, 2, &r, out, 10), 0);
	assert_int_equal(strlen(out), 9);
	r.category = 77;
	assert_int_equal(policy_explain_rule(sem, 2, &r, out, sizeof out), -1);
}

/* ------------------------------------------------------------------ */
/* Reload                                                              */

static void
write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_reload_keeps_old(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct policy_errors e;
	struct policy_handle *h;
	const struct policy *p1, *p2, *p3;

	(void)state;
	snprintf(path, sizeof path, "%s/x.policy", dir);
	write_file(path, "categories a\npurposes p\npermit \"one\" cite \"c\" when category == a\n");
	policy_errors_init(&e);
	h = policy_handle_new(policy_load(path, &e));
	assert_non_null(h);
	p1 = policy_handle_acquire(h);
	assert_string_equal(policy_rule_id(p1, 0), "one");

	/* a broken file: reload fails, the old policy stays */
	write_file(path, "categories a\npurposes p\npermit \"two\" cite \"c\" when category == b\n");
	assert_int_equal(policy_handle_reload(h, path, &e), -1);
	assert_non_null(strstr(e.text, "x.policy:3:40: unknown category 'b'"));
	p2 = policy_handle_acquire(h);
	assert_ptr_equal(p1, p2);
	assert_string_equal(policy_rule_id(p2, 0), "one");
	policy_release(p2);

	/* a missing file also keeps it */
	char missing[600];
	snprintf(missing, sizeof missing, "%s/nope.policy", dir);
	assert_int_equal(policy_handle_reload(h, missing, &e), -1);
	p2 = policy_handle_acquire(h);
	assert_ptr_equal(p1, p2);
	policy_release(p2);

	/* a good file swaps; the old reader's reference stays valid */
	write_file(path, "categories a\npurposes p\npermit \"three\" cite \"c\" when category == a\n");
	assert_int_equal(policy_handle_reload(h, path, NULL), 0);
	p3 = policy_handle_acquire(h);
	assert_string_equal(policy_rule_id(p3, 0), "three");
	assert_string_equal(policy_rule_id(p1, 0), "one");
	policy_release(p1);
	policy_handle_free(h);
	/* p3 outlives the handle until released */
	assert_string_equal(policy_rule_id(p3, 0), "three");
	policy_release(p3);
	policy_errors_free(&e);
	assert_null(policy_handle_new(NULL));
	test_rmtree(dir);
}

struct reader_arg {
	struct policy_handle *h;
	int iterations;
	int bad;
};

/* Decides with whatever policy is current; both versions permit "a". */
static void *
reader(void *varg)
{
	struct reader_arg *a = varg;

	for (int i = 0; i < a->iterations; i++) {
		const struct policy *p = policy_handle_acquire(a->h);
		struct policy_request r;
		struct policy_decision d;

		memset(&r, 0, sizeof r);
		r.category = policy_category_id(p, "a");
		r.purpose = policy_purpose_id(p, "p");
		r.certified = 1;
		r.process_kind = -1;
		if (policy_decide(p, &r, &d) != 0 || d.permit != 1 || d.nrules != 1)
			a->bad++;
		else if (strcmp(policy_rule_id(p, d.rules[0]), "one") != 0 &&
		    strcmp(policy_rule_id(p, d.rules[0]), "two") != 0)
			a->bad++;
		policy_release(p);
	}
	return NULL;
}

static void
test_reload_concurrent(void **state)
{
	char *dir = test_tmpdir(), good1[512], good2[512], broken[512];
	struct policy_handle *h;
	struct reader_arg args[3];
	pthread_t th[3];

	(void)state;
	snprintf(good1, sizeof good1, "%s/1.policy", dir);
	snprintf(good2, sizeof good2, "%s/2.policy", dir);
	snprintf(broken, sizeof broken, "%s/3.policy", dir);
	write_file(good1, "categories a\npurposes p\npermit \"one\" cite \"c\" when category == a\n");
	write_file(good2, "categories b a\npurposes q p\npermit \"two\" cite \"c\" when purpose == p\n");
	write_file(broken, "categories a\npurposes p\npermit \"x\" cite \"c\" when category == zz\n");
	h = policy_handle_new(policy_load(good1, NULL));
	assert_non_null(h);
	for (int i = 0; i < 3; i++) {
		args[i] = (struct reader_arg){ h, 20000, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	}
	for (int i = 0; i < 300; i++) {
		assert_int_equal(policy_handle_reload(h, i % 2 ? good1 : good2, NULL), 0);
		assert_int_equal(policy_handle_reload(h, broken, NULL), -1);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].bad, 0);
	}
	policy_handle_free(h);
	test_rmtree(dir);
}

static void
test_default_policy_loads(void **state)
{
	char path[1024];
	struct policy_errors e;
	struct policy *p;

	(void)state;
	snprintf(path, sizeof path, "%s/policy/default.policy", test_srcdir());
	policy_errors_init(&e);
	p = policy_load(path, &e);
	if (p == NULL)
		fprintf(stderr, "%s", e.text ? e.text : "?");
	assert_non_null(p);
	assert_true(policy_nrules(p) >= 10);
	assert_true(policy_nlimits(p) >= 2);
	assert_true(policy_category_id(p, "federal_immigration") >= 0);
	policy_free(p);
	policy_errors_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_errors_all_collected),
		cmocka_unit_test(test_errors_capped),
		cmocka_unit_test(test_limits_of_input),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_default_deny),
		cmocka_unit_test(test_permit_and_items),
		cmocka_unit_test(test_forbid_overrides),
		cmocka_unit_test(test_legal_process),
		cmocka_unit_test(test_notify_on_overridden_permit),
		cmocka_unit_test(test_items_conditions_and_ori),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_never_at_load),
		cmocka_unit_test(test_limits_parsed),
		cmocka_unit_test(test_accessors_and_explain),
		cmocka_unit_test(test_reload_keeps_old),
		cmocka_unit_test(test_reload_concurrent),
		cmocka_unit_test(test_default_policy_loads),
	};

	return cmocka_run_group_tests(tests, sem_setup, sem_teardown);
}
