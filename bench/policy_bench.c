/*
 * policy_bench.c - decides the Cedar peer's 10,000 requests
 * (peers/cedar/requests.json) with our engine under
 * bench/cedar-equivalent.policy, compares every decision with Cedar's and
 * times many passes over them.  Run by bench/bench-policy.sh
 * (`make bench-policy`), which also runs the Cedar peer and prints the
 * ratio.
 *
 *   policy_bench POLICY REQUESTS.json [EXHAUSTIVE.json] [ROUNDS [PASSES]]
 *
 * Prints any mismatch ("mismatch LINE: ... ours=X cedar=Y"), then
 *   decisions=N mismatches=M
 *   exhaustive=N exhaustive_mismatches=M        (when given)
 *   ours_with_interning_us=X  (one round, names interned from strings too)
 *   rounds_us=U1,U2,...   (us per decision of each timed round)
 *   ours_us=X             (median round)
 * The request mapping is documented in bench/cedar-equivalent.policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy.h"
#include "util.h"

struct breq {
	struct policy_request r;
	int cedar_allow;
	const char *cat, *pur, *lp;   /* names, for the interning variant */
};

/* Maps one Cedar request object; 0 or -1. */
static int
map_request(const struct policy *p, json_t *o, struct breq *b)
{
	const char *cat = json_string_value(json_object_get(o, "agency_category"));
	const char *act = json_string_value(json_object_get(o, "action"));
	const char *pur = json_string_value(json_object_get(o, "purpose"));
	const char *lp = json_string_value(json_object_get(o, "legal_process"));
	const char *dec = json_string_value(json_object_get(o, "decision"));
	json_t *agr = json_object_get(o, "agreement_signed");
	json_t *val = json_object_get(o, "legal_process_valid");
	json_t *scope = json_object_get(o, "subject_in_scope");
	static const struct { const char *action; int type, by; unsigned extras; } acts[] = {
		{ "QueryDriverByLicense", POLICY_TYPE_DRIVER, POLICY_BY_LICENSE, 0 },
		{ "QueryDriverByNameDob", POLICY_TYPE_DRIVER, POLICY_BY_NAME_DOB, 0 },
		{ "QueryVehicleByPlate", POLICY_TYPE_VEHICLE, POLICY_BY_PLATE, 0 },
		{ "QueryVehicleByVin", POLICY_TYPE_VEHICLE, POLICY_BY_VIN, 0 },
		{ "QueryByAddress", POLICY_TYPE_DRIVER, POLICY_BY_ADDRESS, 0 },
		{ "RequestPhoto", POLICY_TYPE_DRIVER, POLICY_BY_LICENSE, POLICY_EXTRA_PHOTO },
		{ "FaceSearch", POLICY_TYPE_DRIVER, POLICY_BY_FACE, 0 },
	};
	size_t i;

	if (!cat || !act || !pur || !lp || !dec || !json_is_boolean(agr) ||
	    !json_is_boolean(val) || !json_is_boolean(scope))
		return -1;
	memset(b, 0, sizeof *b);
	b->r.category = policy_category_id(p, cat);
	b->r.purpose = policy_purpose_id(p, pur);
	if (b->r.category < 0 || b->r.purpose < 0)
		return -1;
	for (i = 0; i < UTIL_NELEM(acts); i++)
		if (strcmp(act, acts[i].action) == 0)
			break;
	if (i == UTIL_NELEM(acts))
		return -1;
	b->r.type = acts[i].type;
	b->r.by = acts[i].by;
	b->r.extras = acts[i].extras;
	b->r.certified = json_is_true(agr);
	if (strcmp(lp, "none") == 0)
		b->r.process_kind = -1;
	else if ((b->r.process_kind = policy_process_kind_id(p, lp)) < 0)
		return -1;
	b->r.process_valid = json_is_true(val);
	b->r.process_covers_subject = json_is_true(scope);
	b->r.process_issued_to_agency = 1;
	b->cedar_allow = strcmp(dec, "allow") == 0;
	b->cat = policy_category_name(p, b->r.category);
	b->pur = policy_purpose_name(p, b->r.purpose);
	b->lp = b->r.process_kind < 0 ? "none" : policy_process_kind_name(p, b->r.process_kind);
	return 0;
}

/* Loads a Cedar request file; returns a malloc'd array (caller frees). */
static struct breq *
load(const struct policy *p, const char *path, size_t *n)
{
	json_error_t err;
	json_t *a = json_load_file(path, 0, &err);
	struct breq *v = NULL;

	if (a == NULL || !json_is_array(a)) {
		fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
		goto out;
	}
	*n = json_array_size(a);
	v = calloc(*n ? *n : 1, sizeof *v);
	if (v == NULL)
		goto out;
	for (size_t i = 0; i < *n; i++) {
		if (map_request(p, json_array_get(a, i), &v[i]) != 0) {
			fprintf(stderr, "%s: request %zu cannot be mapped\n", path, i + 1);
			free(v);
			v = NULL;
			goto out;
		}
	}
out:
	json_decref(a);
	return v;
}

static int
check(const struct policy *p, const struct breq *v, size_t n, const char *label)
{
	struct policy_decision d;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (policy_decide(p, &v[i].r, &d) != 0 || d.permit != v[i].cedar_allow) {
			if (bad < 50) {
				printf("mismatch %s request %zu: category=%s purpose=%s by=%s extras=%u process=%s "
				    "certified=%d valid=%d in_scope=%d ours=%s cedar=%s",
				    label, i + 1, policy_category_name(p, v[i].r.category),
				    policy_purpose_name(p, v[i].r.purpose), policy_by_name(v[i].r.by),
				    v[i].r.extras, v[i].r.process_kind < 0 ? "none" :
				    policy_process_kind_name(p, v[i].r.process_kind), v[i].r.certified,
				    v[i].r.process_valid, v[i].r.process_covers_subject,
				    d.permit ? "allow" : "deny", v[i].cedar_allow ? "allow" : "deny");
				for (int k = 0; k < d.nrules; k++)
					printf("%s%s", k ? "," : " rules=", policy_rule_id(p, d.rules[k]));
				printf("\n");
			}
			bad++;
		}
	}
	return bad;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct policy_errors errs;
	struct policy *p = NULL;
	struct breq *v = NULL, *ex = NULL;
	size_t n = 0, nex = 0;
	long rounds = 9, passes = 100;
	double *us = NULL;
	volatile long sink = 0;
	int rc = 1, bad;

	if (argc < 3) {
		fprintf(stderr, "usage: policy_bench POLICY REQUESTS.json [EXHAUSTIVE.json|-] [ROUNDS [PASSES]]\n");
		return 2;
	}
	if (argc > 4)
		rounds = strtol(argv[4], NULL, 10);
	if (argc > 5)
		passes = strtol(argv[5], NULL, 10);
	if (rounds < 1 || rounds > 1000 || passes < 1 || passes > 100000) {
		fprintf(stderr, "policy_bench: bad ROUNDS or PASSES\n");
		return 2;
	}
	policy_errors_init(&errs);
	p = policy_load(argv[1], &errs);
	if (p == NULL) {
		fputs(errs.text ? errs.text : "cannot load policy\n", stderr);
		goto out;
	}
	v = load(p, argv[2], &n);
	if (v == NULL)
		goto out;
	bad = check(p, v, n, "requests.json");
	printf("decisions=%zu mismatches=%d\n", n, bad);
	if (argc > 3 && strcmp(argv[3], "-") != 0) {
		ex = load(p, argv[3], &nex);
		if (ex == NULL)
			goto out;
		printf("exhaustive=%zu exhaustive_mismatches=%d\n", nex, check(p, ex, nex, "exhaustive.json"));
	}
	us = calloc((size_t)rounds, sizeof *us);
	if (us == NULL)
		goto out;
	for (long w = 0; w < passes; w++) {             /* warm-up */
		struct policy_decision d;
		for (size_t i = 0; i < n; i++) {
			policy_decide(p, &v[i].r, &d);
			sink += d.permit;
		}
	}
	for (long r = 0; r < rounds; r++) {
		uint64_t t0 = util_mono_ns();
		for (long k = 0; k < passes; k++) {
			struct policy_decision d;
			for (size_t i = 0; i < n; i++) {
				policy_decide(p, &v[i].r, &d);
				sink += d.permit + d.nrules;
			}
		}
		us[r] = (double)(util_mono_ns() - t0) / 1e3 / ((double)passes * (double)n);
	}
	/* the same with the caller's name interning (strings to ids) included */
	{
		uint64_t t0 = util_mono_ns();
		for (long k = 0; k < passes; k++) {
			struct policy_decision d;
			for (size_t i = 0; i < n; i++) {
				struct policy_request r = v[i].r;
				r.category = policy_category_id(p, v[i].cat);
				r.purpose = policy_purpose_id(p, v[i].pur);
				r.process_kind = policy_process_kind_id(p, v[i].lp);
				policy_decide(p, &r, &d);
				sink += d.permit + d.nrules;
			}
		}
		printf("ours_with_interning_us=%.4f\n",
		    (double)(util_mono_ns() - t0) / 1e3 / ((double)passes * (double)n));
	}
	printf("rounds_us=");
	for (long r = 0; r < rounds; r++)
		printf("%s%.4f", r ? "," : "", us[r]);
	printf("\n");
	qsort(us, (size_t)rounds, sizeof *us, cmp_double);
	printf("ours_us=%.4f\n", us[rounds / 2]);
	rc = 0;
out:
	free(us);
	free(v);
	free(ex);
	policy_free(p);
	policy_errors_free(&errs);
	return rc;
}
