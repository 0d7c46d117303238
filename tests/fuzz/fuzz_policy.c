/*
 * fuzz_policy.c - libFuzzer target for the policy parser and engine: any
 * bytes go to policy_load_mem (errors collected, never a crash or a leak);
 * a policy that loads is then asked a few requests derived from the input,
 * every rule explained, and decisions checked for the engine's invariants
 * (a deny releases nothing; a permit releases only fields of the record
 * type asked for, and the photo only when requested).
 * Build: make build/fuzz/fuzz_policy; seeds: tests/fuzz/corpus/policy/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "field.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count_names(const struct policy *p, const char *(*name)(const struct policy *, int))
{
	int n = 0;

	while (n < 64 && name(p, n) != NULL)
		n++;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_errors e;
	struct policy *p;
	uint32_t h = 2166136261u;

	policy_errors_init(&e);
	p = policy_load_mem("fuzz", (const char *)data, size, &e);
	if ((p == NULL) != (e.count > 0))
		__builtin_trap();
	policy_errors_free(&e);
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	int nc = count_names(p, policy_category_name);
	int np = count_names(p, policy_purpose_name);
	int nk = count_names(p, policy_process_kind_name);
	for (int k = 0; k < 8; k++) {
		struct policy_request r;
		struct policy_decision d;
		char out[256];

		h = h * 1103515245u + 12345u;
		memset(&r, 0, sizeof r);
		r.category = nc ? (int)(h % (uint32_t)nc) : 0;
		r.purpose = np ? (int)((h >> 6) % (uint32_t)np) : 0;
		r.process_kind = nk ? (int)((h >> 12) % (uint32_t)(nk + 1)) - 1 : -1;
		r.type = (h >> 16) & 1;
		r.by = (int)((h >> 17) % POLICY_BY_COUNT);
		r.extras = (h >> 20) & 1;
		r.certified = (h >> 21) & 1;
		r.process_valid = (h >> 22) & 1;
		r.process_issued_to_agency = (h >> 23) & 1;
		r.process_covers_subject = (h >> 24) & 1;
		r.process_items = ((field_mask)h << 32) | h;
		memcpy(r.ori, (h >> 25) & 1 ? "CA0340000" : "", (h >> 25) & 1 ? 10 : 1);
		int rc = policy_decide(p, &r, &d);
		if (rc != 0 && (d.permit || !d.error))
			__builtin_trap();
		if (!d.permit && d.released != 0)
			__builtin_trap();
		if (d.permit) {
			field_mask ok = r.type == POLICY_TYPE_VEHICLE ? FIELD_MASK_VEHICLE :
			    FIELD_MASK_DRIVER | FIELD_BIT(FIELD_HISTORY) | FIELD_BIT(FIELD_PHOTO);
			if (d.released & ~ok)
				__builtin_trap();
			if (!(r.extras & POLICY_EXTRA_PHOTO) && (d.released & FIELD_BIT(FIELD_PHOTO)))
				__builtin_trap();
		}
		for (int i = 0; i < d.nrules; i++)
			if (policy_rule_id(p, d.rules[i]) == NULL)
				__builtin_trap();
		for (int i = 0; i < policy_nrules(p); i++)
			policy_explain_rule(p, i, &r, out, sizeof out);
	}
	for (int i = 0; i < policy_nlimits(p); i++)
		if (policy_limit(p, i) == NULL)
			__builtin_trap();
	policy_free(p);
	return 0;
}
