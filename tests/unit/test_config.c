/*
 * test_config.c - the configuration parser: defaults, every key, and the
 * FILE:LINE:COL errors (unknown key, duplicate, bad values, long lines).
 */
#include "testutil.h"

#include "config.h"

static int
parse(struct config *c, const char *text, char *err, size_t errsz)
{
	config_defaults(c);
	return config_parse(c, "t.conf", text, strlen(text), err, errsz);
}

static void
defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.name_candidates, 10);
}

static void
full_file(void **state)
{
	struct config c;
	char err[1024];
	const char *text =
	    "# sample\n"
	    "listen 0.0.0.0:9090   # all interfaces\n"
	    "threads 4\n"
	    "data /var/lib/dmvgate\n"
	    "policy /etc/dmvgate/my policy.policy\n"
	    "max_body 32k\n"
	    "max_header 16K\n"
	    "max_connections 100\n"
	    "connection_timeout 15\n"
	    "checkpoint_interval 5\n"
	    "name_candidates 3\n"
	    "max_records 20\r\n"
	    "\n";

	(void)state;
	assert_int_equal(parse(&c, text, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 9090);
	assert_int_equal(c.threads, 4);
	assert_string_equal(c.data, "/var/lib/dmvgate");
	assert_string_equal(c.policy, "/etc/dmvgate/my policy.policy");
	assert_int_equal(c.max_body, 32768);
	assert_int_equal(c.max_header, 16384);
	assert_int_equal(c.max_connections, 100);
	assert_int_equal(c.connection_timeout, 15);
	assert_int_equal(c.checkpoint_interval, 5);
	assert_int_equal(c.name_candidates, 3);
	assert_int_equal(c.max_records, 20);
}

static void
errors_have_positions(void **state)
{
	struct config c;
	char err[1024];

	(void)state;
	assert_int_equal(parse(&c, "threads 2\n  bogus 1\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:2:3: unknown setting \"bogus\"\n");
	assert_int_equal(parse(&c, "threads 2\nthreads 3\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:2:1: \"threads\" is duplicate\n");
	assert_int_equal(parse(&c, "threads x\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1:9: invalid number for \"threads\"\n");
	assert_int_equal(parse(&c, "max_body 1\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1:10: \"max_body\" must be between 256 and 16777216\n");
	assert_int_equal(parse(&c, "listen nowhere:80\n", err, sizeof err), -1);
	assert_non_null(strstr(err, "t.conf:1:8: invalid listen address"));
	assert_int_equal(parse(&c, "threads\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1:8: \"threads\" needs a value\n");
	assert_int_equal(parse(&c, "threads 2 3\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1:10: unexpected text after the value\n");
	/* several errors are all reported */
	assert_int_equal(parse(&c, "a 1\nb 2\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1:1: unknown setting \"a\"\nt.conf:2:1: unknown setting \"b\"\n");
}

static void
hostile_input(void **state)
{
	struct config c;
	char err[64], big[3000];

	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(parse(&c, big, err, sizeof err), -1);    /* long line; small errbuf */
	assert_int_equal(strlen(err) < sizeof err, 1);
	assert_int_equal(config_parse(&c, "t", "threads 1\0x", 11, err, sizeof err), -1);
	assert_int_equal(parse(&c, "threads 99999999999999999999999\n", err, sizeof err), -1);
	assert_int_equal(parse(&c, "\xff\xfe\n", err, sizeof err), -1);
}

static void
listen_forms(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse_listen(&c, "[::1]:8443", 10), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 8443);
	assert_int_equal(config_parse_listen(&c, ":9000", 5), 0);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(config_parse_listen(&c, "9001", 4), 0);
	assert_int_equal(c.listen_port, 9001);
	assert_int_equal(config_parse_listen(&c, "127.0.0.1:0", 11), -1);
	assert_int_equal(config_parse_listen(&c, "127.0.0.1:65536", 15), -1);
	assert_int_equal(config_parse_listen(&c, "[::1]", 5), -1);
	assert_int_equal(config_parse_listen(&c, "", 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(full_file),
		cmocka_unit_test(errors_have_positions),
		cmocka_unit_test(hostile_input),
		cmocka_unit_test(listen_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
