/*
 * fuzz_nlets.c - libFuzzer target for the Nlets text codec: any bytes must
 * parse into a message or a clean error class, and then:
 *  - a parsed message's struct query is exactly what query_parse builds
 *    from the equivalent JSON (so the two interfaces cannot drift);
 *  - every response (header, reject, denial with the input as its reason)
 *    fits its buffer, is NUL-terminated, and holds only printable ASCII
 *    and line feeds, whatever the input held.
 * A violated invariant traps, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nlets.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *buf, int n, size_t size)
{
	if (n < 0)
		return;
	if ((size_t)n >= size || strlen(buf) != (size_t)n)
		__builtin_trap();
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c != '\n' && (c < 0x20 || c > 0x7e))
			__builtin_trap();
	}
}

static int
json_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static void
check_query(const struct query *q)
{
	char json[1200];
	struct query j;
	struct query_error err;
	int n;

	if (!json_safe(q->reason) || !json_safe(q->last_name) || !json_safe(q->first_name) ||
	    !json_safe(q->license_number) || !json_safe(q->plate) || !json_safe(q->vin) ||
	    !json_safe(q->legal_process) || !json_safe(q->purpose))
		__builtin_trap();
	n = snprintf(json, sizeof json, "{\"type\":\"%s\",\"by\":\"%s\",\"purpose\":\"%s\","
	    "\"reason\":\"%s\"", q->type_name, q->by_name, q->purpose, q->reason);
#define ADD(f) if (q->f[0]) n += snprintf(json + n, sizeof json - (size_t)n, ",\"" #f "\":\"%s\"", q->f)
	ADD(license_number);
	ADD(last_name);
	ADD(first_name);
	ADD(dob);
	ADD(plate);
	ADD(plate_state);
	ADD(vin);
	ADD(legal_process);
#undef ADD
	if (q->photo)
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"include\":[\"photo\"]");
	snprintf(json + n, sizeof json - (size_t)n, "}");
	if (query_parse(json, strlen(json), &j, &err) != 0)
		__builtin_trap();
	if (memcmp(&j, q, sizeof j) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[NLETS_RESPONSE_MAX];
	char reason[600];
	const char *rules[1];
	struct nlets_msg m;
	struct nlets_writer w;
	enum nlets_err e;
	size_t small = size % 64 + 1;
	int n;

	e = nlets_parse((const char *)data, size, "CA", &m);
	if ((unsigned)e >= NLETS_ERR_COUNT)
		__builtin_trap();
	n = nlets_reject(out, sizeof out, &m, e == NLETS_OK ? NLETS_ERR_ORI_MISMATCH : e, (int64_t)size);
	if (n < 0)
		__builtin_trap();
	check_text(out, n, sizeof out);
	n = nlets_reject(out, small, &m, e, -1);
	check_text(out, n, small);
	if (e != NLETS_OK)
		return 0;
	check_query(&m.q);
	if (m.header_len < NLETS_HEADER_MIN || m.header_len > NLETS_HEADER_MAX || m.ori[0] == '\0')
		__builtin_trap();

	/* a response with the input as a denial's reason and rule id */
	n = (int)(size < sizeof reason - 1 ? size : sizeof reason - 1);
	memcpy(reason, data, (size_t)n);
	reason[n] = '\0';
	rules[0] = reason;
	nlets_writer_init(&w, out, sizeof out);
	nlets_begin(&w, &m);
	nlets_encode_denial(&w, reason, rules, 1);
	nlets_encode_not_on_file(&w);
	n = nlets_finish(&w, 1);
	if (n < 0)
		__builtin_trap();
	check_text(out, n, sizeof out);
	return 0;
}
