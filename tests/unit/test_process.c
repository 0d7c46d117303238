/*
 * test_process.c - the legal-process registry: registration validation
 * (agency, subjects, items, dates, document), the document copy, and the
 * scope check the server runs (wrong agency, other subject, expired, not
 * yet valid, revoked, used up, items), atomic use counting, and that
 * changes queue their audit record.
 */
#include "testutil.h"

#include <sys/stat.h>

#include "process.h"
#include "registry.h"
#include "util.h"

struct fx {
	char *dir;
	char regpath[512], docdir[512], doc[512];
	struct process_db *db;
	int32_t today;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct registry *r;
	struct registry_agency a;
	FILE *fp;

	f->dir = test_tmpdir();
	snprintf(f->regpath, sizeof f->regpath, "%s/registry.db", f->dir);
	snprintf(f->docdir, sizeof f->docdir, "%s/documents", f->dir);
	snprintf(f->doc, sizeof f->doc, "%s/order.pdf", f->dir);
	r = registry_open(f->regpath);
	assert_non_null(r);
	memset(&a, 0, sizeof a);
	strcpy(a.ori, "NY0000001");
	strcpy(a.name, "Immigration and Customs Enforcement");
	strcpy(a.category, "federal_immigration");
	a.certified_until = util_today() + 365;
	assert_int_equal(registry_agency_add(r, &a), 0);
	strcpy(a.ori, "NY0000002");
	strcpy(a.name, "Police Department");
	strcpy(a.category, "local_police");
	assert_int_equal(registry_agency_add(r, &a), 0);
	registry_close(r);
	fp = fopen(f->doc, "w");
	assert_non_null(fp);
	fputs("IN THE UNITED STATES DISTRICT COURT ... ORDER ...\n", fp);
	fclose(fp);
	f->db = process_open(f->regpath);
	assert_non_null(f->db);
	assert_int_equal(util_date_parse("2026-11-26", 10, &f->today), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	process_close(f->db);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* A valid registration: judicial warrant for NY0000001, two subjects,
 * name and address items, valid 2026-11-01..2026-12-31. */
static void
valid_info(struct fx *f, struct process_info *p)
{
	memset(p, 0, sizeof *p);
	p->kind = PROCESS_JUDICIAL_WARRANT;
	strcpy(p->ori, "NY0000001");
	strcpy(p->court, "U.S. District Court, S.D.N.Y.");
	strcpy(p->case_number, "1:26-mj-0042");
	strcpy(p->judge, "Hon. A. Smith");
	assert_int_equal(util_date_parse("2026-11-01", 10, &p->issued), 0);
	assert_int_equal(util_date_parse("2026-12-31", 10, &p->expires), 0);
	p->nsubjects = 2;
	strcpy(p->subjects[0], "D1234567");
	strcpy(p->subjects[1], "D7654321");
	assert_int_equal(process_items_parse("last_name, first_name street city,state zip",
	    &p->items), 0);
	assert_int_equal(process_store_document(f->docdir, f->doc, p->document_sha256,
	    &p->document_size), 0);
	strcpy(p->document_name, "order.pdf");
}

static int64_t
add(struct fx *f, struct process_info *p)
{
	int64_t id = 0;

	assert_int_equal(process_add(f->db, p, "counsel", &id), 0);
	assert_true(id > 0);
	return id;
}

static void
ids_and_kinds(void **state)
{
	char out[PROCESS_ID_MAX];

	(void)state;
	assert_int_equal(process_id_parse("LP-7"), 7);
	assert_int_equal(process_id_parse("lp-12"), 12);
	assert_int_equal(process_id_parse("7"), 7);
	assert_int_equal(process_id_parse("LP-0"), -1);
	assert_int_equal(process_id_parse("LP-07"), -1);
	assert_int_equal(process_id_parse("LP--7"), -1);
	assert_int_equal(process_id_parse("LP-7x"), -1);
	assert_int_equal(process_id_parse(""), -1);
	assert_int_equal(process_id_parse(" 7"), -1);
	assert_int_equal(process_id_parse(NULL), -1);
	process_id_format(42, out);
	assert_string_equal(out, "LP-42");
	assert_int_equal(process_kind_parse("court_order"), PROCESS_COURT_ORDER);
	assert_int_equal(process_kind_parse("administrative_warrant"),
	    PROCESS_ADMINISTRATIVE_WARRANT);
	assert_int_equal(process_kind_parse("warrant"), -1);
	assert_string_equal(process_kind_name(PROCESS_GRAND_JURY_SUBPOENA), "grand_jury_subpoena");
	assert_null(process_kind_name(PROCESS_KIND_COUNT));
}

static void
items_parse(void **state)
{
	field_mask m = 0;

	(void)state;
	assert_int_equal(process_items_parse("history photo,street", &m), 0);
	assert_true(m == (FIELD_BIT(FIELD_HISTORY) | FIELD_BIT(FIELD_PHOTO) |
	    FIELD_BIT(FIELD_STREET)));
	m = 0;
	assert_int_equal(process_items_parse("street,identity", &m), -1);   /* groups are not items */
	assert_int_equal(process_items_parse("ssn_number", &m), -1);
}

static void
registration_validation(void **state)
{
	struct fx *f = *state;
	struct process_info *p = calloc(1, sizeof *p);
	int64_t id;

	valid_info(f, p);
	strcpy(p->ori, "NY0000009");                   /* not registered */
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	strcpy(p->ori, "XX0000001");                   /* not an ORI */
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->expires = p->issued - 1;
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->nsubjects = 0;
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	strcpy(p->subjects[1], "d-765");               /* lower case and a hyphen */
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->items = 0;
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->court[0] = '\0';
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	strcpy(p->judge, "Hon.\nInjected");           /* control characters */
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->kind = PROCESS_KIND_COUNT;
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);
	valid_info(f, p);
	p->document_sha256[0] = '\0';
	assert_int_equal(process_add(f->db, p, "counsel", &id), PROCESS_INVALID);

	/* nothing was stored by the refused registrations */
	assert_int_equal(process_get(f->db, 1, p), PROCESS_NOTFOUND);
	valid_info(f, p);
	assert_int_equal(add(f, p), 1);
	free(p);
}

static void
document_copy(void **state)
{
	struct fx *f = *state;
	char sha[65], path[600], big[600];
	struct stat st;
	int64_t size = 0;
	FILE *fp;

	assert_int_equal(process_store_document(f->docdir, f->doc, sha, &size), 0);
	assert_int_equal(strlen(sha), 64);
	assert_int_equal(size, 50);
	snprintf(path, sizeof path, "%s/%s", f->docdir, sha);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* not regular files */
	assert_int_equal(process_store_document(f->docdir, f->dir, sha, &size), PROCESS_INVALID);
	assert_int_equal(process_store_document(f->docdir, "/dev/null", sha, &size),
	    PROCESS_INVALID);
	assert_int_equal(process_store_document(f->docdir, "/nonexistent/x", sha, &size),
	    PROCESS_INVALID);
	/* empty, and over the limit (sparse) */
	snprintf(big, sizeof big, "%s/big", f->dir);
	fp = fopen(big, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(process_store_document(f->docdir, big, sha, &size), PROCESS_INVALID);
	assert_int_equal(truncate(big, PROCESS_DOC_MAX + 1), 0);
	assert_int_equal(process_store_document(f->docdir, big, sha, &size), PROCESS_INVALID);
}

static void
stored_fields(void **state)
{
	struct fx *f = *state;
	struct process_info *p = calloc(1, sizeof *p), *g = calloc(1, sizeof *g);
	int64_t id;

	valid_info(f, p);
	p->max_uses = 3;
	id = add(f, p);
	assert_int_equal(process_get(f->db, id, g), 0);
	assert_int_equal(g->kind, PROCESS_JUDICIAL_WARRANT);
	assert_string_equal(g->ori, "NY0000001");
	assert_string_equal(g->case_number, "1:26-mj-0042");
	assert_int_equal(g->nsubjects, 2);
	assert_string_equal(g->subjects[0], "D1234567");
	assert_true(g->items == p->items);
	assert_int_equal(g->max_uses, 3);
	assert_int_equal(g->uses, 0);
	assert_string_equal(g->document_sha256, p->document_sha256);
	assert_string_equal(g->created_by, "counsel");
	assert_int_equal(g->revoked_us, 0);
	assert_int_equal(process_get(f->db, id + 1, g), PROCESS_NOTFOUND);
	free(p);
	free(g);
}

static void
check(struct fx *f, const char *id, const char *ori, const char *subject, int32_t day,
    struct process_facts *out)
{
	const char *subj[1] = { subject };

	assert_int_equal(process_check(f->db, id, ori, subj, subject ? 1 : 0, day, out), 0);
}

static void
scope(void **state)
{
	struct fx *f = *state;
	struct process_info *p = calloc(1, sizeof *p);
	struct process_facts x;
	const char *both[2] = { "D1234567", "D7654321" }, *mixed[2] = { "D1234567", "D0000000" };
	char id[PROCESS_ID_MAX];

	valid_info(f, p);
	process_id_format(add(f, p), id);

	/* in scope */
	check(f, id, "NY0000001", "D1234567", f->today, &x);
	assert_true(x.exists && x.valid && x.issued_to_agency && x.covers_subject);
	assert_string_equal(x.kind, "judicial_warrant");
	assert_true(x.items == p->items);
	assert_string_equal(x.why, "");
	assert_int_equal(process_check(f->db, id, "NY0000001", both, 2, f->today, &x), 0);
	assert_true(x.valid && x.covers_subject);

	/* wrong agency */
	check(f, id, "NY0000002", "D1234567", f->today, &x);
	assert_true(x.exists && !x.valid && !x.issued_to_agency && x.covers_subject);
	assert_string_equal(x.why, "issued to another agency");

	/* another person, or a name query that also matched someone else */
	check(f, id, "NY0000001", "D0000000", f->today, &x);
	assert_true(x.valid && !x.covers_subject);
	assert_int_equal(process_check(f->db, id, "NY0000001", mixed, 2, f->today, &x), 0);
	assert_false(x.covers_subject);
	check(f, id, "NY0000001", NULL, f->today, &x);            /* matched nobody */
	assert_false(x.covers_subject);

	/* dates: first and last day are inside */
	check(f, id, "NY0000001", "D1234567", p->issued, &x);
	assert_true(x.valid);
	check(f, id, "NY0000001", "D1234567", p->expires, &x);
	assert_true(x.valid);
	check(f, id, "NY0000001", "D1234567", p->issued - 1, &x);
	assert_false(x.valid);
	assert_string_equal(x.why, "not yet valid");
	check(f, id, "NY0000001", "D1234567", p->expires + 1, &x);
	assert_false(x.valid);
	assert_string_equal(x.why, "expired");

	/* unknown or malformed ids */
	check(f, "LP-999", "NY0000001", "D1234567", f->today, &x);
	assert_true(!x.exists && !x.valid && x.kind[0] == '\0');
	check(f, "LP-1; DROP TABLE legal_process", "NY0000001", "D1234567", f->today, &x);
	assert_true(!x.exists && !x.valid && x.id == 0);

	/* revoked */
	assert_int_equal(process_revoke(f->db, process_id_parse(id), "quashed on appeal",
	    "counsel"), 0);
	assert_int_equal(process_revoke(f->db, process_id_parse(id), "again", "counsel"),
	    PROCESS_REVOKED);
	assert_int_equal(process_revoke(f->db, 999, "no such", "counsel"), PROCESS_NOTFOUND);
	assert_int_equal(process_revoke(f->db, process_id_parse(id), "", "counsel"),
	    PROCESS_INVALID);
	check(f, id, "NY0000001", "D1234567", f->today, &x);
	assert_true(x.exists && !x.valid);
	assert_string_equal(x.why, "revoked");
	assert_int_equal(process_record_use(f->db, process_id_parse(id), "NY0000001", "u1",
	    "license:D1234567", util_now_us(), 5), PROCESS_USED_UP);
	free(p);
}

static void
uses(void **state)
{
	struct fx *f = *state;
	struct process_info *p = calloc(1, sizeof *p);
	struct process_facts x;
	char id[PROCESS_ID_MAX];
	int64_t n;

	valid_info(f, p);
	p->max_uses = 2;
	n = add(f, p);
	process_id_format(n, id);
	for (int i = 0; i < 2; i++) {
		check(f, id, "NY0000001", "D1234567", f->today, &x);
		assert_true(x.valid);
		assert_int_equal(process_record_use(f->db, n, "NY0000001", "u1",
		    "license:D1234567", util_now_us(), i), 0);
	}
	check(f, id, "NY0000001", "D1234567", f->today, &x);
	assert_false(x.valid);
	assert_string_equal(x.why, "no uses left");
	assert_int_equal(process_record_use(f->db, n, "NY0000001", "u1", "license:D1234567",
	    util_now_us(), 3), PROCESS_USED_UP);
	assert_int_equal(process_get(f->db, n, p), 0);
	assert_int_equal(p->uses, 2);
	assert_int_equal(process_record_use(f->db, 999, "NY0000001", "u1", "", 0, -1),
	    PROCESS_NOTFOUND);

	/* without max-uses: unlimited */
	valid_info(f, p);
	n = add(f, p);
	for (int i = 0; i < 50; i++)
		assert_int_equal(process_record_use(f->db, n, "NY0000001", "u1", "", 0, -1), 0);
	process_id_format(n, id);
	check(f, id, "NY0000001", "D1234567", f->today, &x);
	assert_true(x.valid);
	free(p);
}

struct count {
	int n;
	int64_t last;
};

static int
count_cb(void *arg, const struct process_info *p)
{
	struct count *c = arg;

	assert_true(p->id > c->last);
	c->last = p->id;
	c->n++;
	return 0;
}

/* Collects the actions of queued registry changes, agency ones skipped. */
static int
audit_cb(void *arg, const struct registry_change *c)
{
	char *acts = arg;

	if (strncmp(c->action, "agency.", 7) == 0)
		return 0;
	assert_string_equal(c->ori, "NY0000001");
	assert_non_null(strstr(c->detail, "id=LP-"));
	strcat(acts, c->action);
	strcat(acts, " ");
	return 0;
}

static void
list_and_audit_queue(void **state)
{
	struct fx *f = *state;
	struct process_info *p = calloc(1, sizeof *p);
	struct registry *r;
	struct count c = { 0, 0 };
	char acts[256] = "";

	valid_info(f, p);
	add(f, p);
	add(f, p);
	assert_int_equal(process_revoke(f->db, 1, "superseded", "counsel"), 0);
	assert_int_equal(process_list(f->db, count_cb, &c), 0);
	assert_int_equal(c.n, 2);
	/* each change queued its audit record for the registry's drain */
	r = registry_open(f->regpath);
	assert_non_null(r);
	assert_int_equal(registry_drain(r, audit_cb, acts), 5);
	assert_string_equal(acts, "process.add process.add process.revoke ");
	registry_close(r);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_and_kinds),
		cmocka_unit_test(items_parse),
		cmocka_unit_test_setup_teardown(registration_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(document_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(stored_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(scope, setup, teardown),
		cmocka_unit_test_setup_teardown(uses, setup, teardown),
		cmocka_unit_test_setup_teardown(list_and_audit_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
