/*
 * test_server_tls.c - the certificate-binding pieces of issue 10 that need
 * no network: fingerprint parsing (server_tls.c), bind/unbind in the
 * registry and the cache's binding check (registry.c), and the modes check
 * of privdrop.c.  The TLS handshake itself is tested end to end
 * (tests/e2e/test_tls.py).
 */
#include "testutil.h"

#include <sys/stat.h>

#include "privdrop.h"
#include "registry.h"
#include "server_tls.h"

static void
test_fingerprint_forms(void **state)
{
	uint8_t a[32], b[32];
	char colon[96];
	(void)state;

	assert_int_equal(server_tls_fingerprint_parse(
	    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", a), 0);
	assert_int_equal(a[0], 0x00);
	assert_int_equal(a[31], 0xff);
	for (int i = 0; i < 32; i++)
		snprintf(colon + 3 * i, 4, "%02X%s", a[i], i < 31 ? ":" : "");
	assert_int_equal(server_tls_fingerprint_parse(colon, b), 0);
	assert_memory_equal(a, b, 32);
	char pre[128];
	snprintf(pre, sizeof pre, "sha256 Fingerprint=%s\n", colon);
	assert_int_equal(server_tls_fingerprint_parse(pre, b), 0);
	assert_memory_equal(a, b, 32);
	snprintf(pre, sizeof pre, "sha256:%s", colon);
	assert_int_equal(server_tls_fingerprint_parse(pre, b), 0);
}

static void
test_fingerprint_rejects(void **state)
{
	static const char *const bad[] = {
		"", "0", "00", "0011", "zz" "00112233445566778899aabbccddeeff00112233445566778899aabbccddee",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
		"00:112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff:",
		"sha1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	};
	uint8_t fp[32];
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(server_tls_fingerprint_parse(bad[i], fp), -1);
}

static void
test_bind_and_cache(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct registry *r;
	struct registry_cache *c;
	struct registry_agency a;
	uint8_t fp1[32], fp2[32], other[32], got[4][32];
	(void)state;

	memset(fp1, 1, 32);
	memset(fp2, 2, 32);
	memset(other, 3, 32);
	snprintf(path, sizeof path, "%s/registry.db", dir);
	assert_non_null(r = registry_open(path));
	memset(&a, 0, sizeof a);
	strcpy(a.ori, "CA0010000");
	strcpy(a.name, "Police");
	strcpy(a.category, "local_police");
	a.certified_until = 40000;
	assert_int_equal(registry_agency_add(r, &a), 0);
	strcpy(a.ori, "CA0020000");
	assert_int_equal(registry_agency_add(r, &a), 0);

	assert_int_equal(registry_agency_bind_cert(r, "CA9990000", fp1, 0), REGISTRY_NOTFOUND);
	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", fp1, 0), 0);
	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", fp1, 0), REGISTRY_EXISTS);
	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", fp2, 0), 0);
	assert_int_equal(registry_agency_certs(r, "CA0010000", got, 4), 2);
	assert_int_equal(registry_agency_certs(r, "CA0020000", got, 4), 0);

	assert_non_null(c = registry_cache_new(r));
	/* bound agency: only its certificates */
	assert_int_equal(registry_cache_cert_ok(c, "CA0010000", NULL), 0);
	assert_int_equal(registry_cache_cert_ok(c, "CA0010000", other), 0);
	assert_int_equal(registry_cache_cert_ok(c, "CA0010000", fp1), 1);
	assert_int_equal(registry_cache_cert_ok(c, "CA0010000", fp2), 1);
	/* unbound agency: anything */
	assert_int_equal(registry_cache_cert_ok(c, "CA0020000", NULL), 1);
	assert_int_equal(registry_cache_cert_ok(c, "CA0020000", other), 1);

	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", other, 1), REGISTRY_NOTFOUND);
	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", fp1, 1), 0);
	assert_int_equal(registry_agency_bind_cert(r, "CA0010000", fp2, 1), 0);
	assert_int_equal(registry_cache_reload(c, r), 0);
	assert_int_equal(registry_cache_cert_ok(c, "CA0010000", NULL), 1);

	registry_cache_free(c);
	registry_close(r);
	test_rmtree(dir);
}

static void
test_modes_narrowed(void **state)
{
	char *dir = test_tmpdir(), p[512];
	struct stat st;
	FILE *f;
	(void)state;

	snprintf(p, sizeof p, "%s/checkpoint.key", dir);
	assert_non_null(f = fopen(p, "w"));
	fclose(f);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(privdrop_check_files(dir), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* a symbolic link in place of the key is refused */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(privdrop_check_files(dir), -1);
	test_rmtree(dir);
}

static void
test_privdrop_names(void **state)
{
	uid_t u;
	gid_t g;
	(void)state;

	assert_int_equal(privdrop_lookup("", &u, &g), -1);
	assert_int_equal(privdrop_lookup("-x", &u, &g), -1);
	assert_int_equal(privdrop_lookup("../etc", &u, &g), -1);
	assert_int_equal(privdrop_lookup("no-such-user-dmvgate", &u, &g), -1);
	assert_int_equal(privdrop_lookup("root", &u, &g), 0);
	assert_int_equal(u, 0);
	assert_int_equal(privdrop_to(NULL), 0);
	assert_int_equal(privdrop_to(""), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_forms),
		cmocka_unit_test(test_fingerprint_rejects),
		cmocka_unit_test(test_bind_and_cache),
		cmocka_unit_test(test_modes_narrowed),
		cmocka_unit_test(test_privdrop_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
