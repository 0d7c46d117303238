/*
 * cmd_lookup.c - `dmvgate lookup`: the administrator's local view of a
 * stored record, every field included, as JSON lines.  It reads the
 * database file directly and is not a disclosure path for agencies: it
 * says so on stderr every time.
 *
 * It is still a disclosure, so it is audited like any other: the records
 * are collected first, an audit entry (channel cli, the operating-system
 * user, the keys asked for and returned) is made durable, and only then
 * is anything printed.  When the audit entry cannot be written -- for
 * example because a running server holds the log -- nothing is shown.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "datadir.h"
#include "store.h"
#include "util.h"

static const char usage[] =
    "usage: dmvgate lookup [--data DIR] [--max N] KEY\n"
    "  KEY is one of:\n"
    "    --license NUMBER\n"
    "    --plate PLATE --state XX\n"
    "    --vin VIN\n"
    "    --name LAST,FIRST --dob YYYY-MM-DD\n"
    "\n"
    "Prints every stored field of the matching record(s), with history,\n"
    "as one JSON object per line.  For DMV administrators on the server\n"
    "itself; agencies query through `dmvgate serve`.\n";

static int
add_event(void *arg, const struct store_event *ev)
{
	json_t *a = arg, *o = json_pack("{s:s?, s:s?, s:s?, s:s?}", "date", ev->date, "kind",
	    ev->kind, "code", ev->code, "description", ev->description);

	if (o != NULL)
		json_array_append_new(a, o);
	return 0;
}

#define LOOKUP_MAX_SUBJECTS (AUDIT_MAX_SUBJECTS - 1)

/* What a lookup collected before it may print. */
struct found {
	json_t *rows;                                   /* array of records */
	char subjects[LOOKUP_MAX_SUBJECTS][AUDIT_KEY_MAX];
	int nsubjects;
};

static void
add_subject(struct found *fd, const char *prefix, const char *v, size_t len)
{
	if (fd->nsubjects < LOOKUP_MAX_SUBJECTS && v != NULL)
		snprintf(fd->subjects[fd->nsubjects++], AUDIT_KEY_MAX, "%s%.*s", prefix,
		    (int)len, v);
}

static int
collect_row(void *arg, const struct store_row *r)
{
	struct found *fd = arg;
	json_t *o = json_object(), *hist;
	size_t len, slen;
	const char *v, *st;

	if (o == NULL)
		return 1;
	for (int f = 0; f < FIELD_COUNT; f++) {
		if ((v = store_row_get(r, (enum field)f, &len)) == NULL)
			continue;
		json_object_set_new(o, field_info[f].name, json_stringn(v, len));
	}
	if ((hist = json_array()) != NULL) {
		store_row_history(r, add_event, hist);
		if (json_array_size(hist) > 0)
			json_object_set_new(o, "history", hist);
		else
			json_decref(hist);
	}
	json_array_append_new(fd->rows, o);
	if ((v = store_row_get(r, FIELD_LICENSE_NUMBER, &len)) != NULL)
		add_subject(fd, "license:", v, len);
	if ((v = store_row_get(r, FIELD_PLATE, &len)) != NULL &&
	    (st = store_row_get(r, FIELD_PLATE_STATE, &slen)) != NULL &&
	    fd->nsubjects < LOOKUP_MAX_SUBJECTS)
		snprintf(fd->subjects[fd->nsubjects++], AUDIT_KEY_MAX, "plate:%.*s:%.*s",
		    (int)slen, st, (int)len, v);
	if ((v = store_row_get(r, FIELD_VIN, &len)) != NULL)
		add_subject(fd, "vin:", v, len);
	return 0;
}

/* Makes the administrator's lookup durable in the audit log. */
static int
audit_lookup(const char *data, const struct store_query *q, const char *asked,
    const struct found *fd)
{
	struct audit_entry e;
	struct passwd *pw = getpwuid(getuid());
	char user[96];
	uint64_t index;

	memset(&e, 0, sizeof e);
	snprintf(user, sizeof user, "os:%s", pw != NULL ? pw->pw_name : "unknown");
	e.kind = AUDIT_QUERY;
	e.user = user;
	e.category = "dmv";
	e.channel = "cli";
	e.query_type = q->type == STORE_DRIVER ? "driver" : "vehicle";
	e.by = q->by == STORE_BY_LICENSE ? "license" : q->by == STORE_BY_PLATE ? "plate"
	    : q->by == STORE_BY_VIN ? "vin" : "name_dob";
	e.purpose = "dmv_administration";
	e.reason = "dmvgate lookup (administrator, local)";
	e.decision = AUDIT_PERMIT;
	e.detail = "administrator's local lookup: every stored field";
	e.subjects[e.nsubjects++] = asked;
	for (int i = 0; i < fd->nsubjects; i++)
		e.subjects[e.nsubjects++] = fd->subjects[i];
	e.items = fd->nsubjects > 0 ? FIELD_BIT(FIELD_COUNT) - 1 : 0;
	if (audit_append_once(data, &e, &index) < 0) {
		if (errno == EWOULDBLOCK)
			util_errx("a running server holds the audit log; this lookup cannot be "
				  "audited, so nothing is shown (query through the server's API)");
		else
			util_errx("cannot write the audit entry; nothing is shown");
		return -1;
	}
	fprintf(stderr, "dmvgate: audited as entry %llu\n", (unsigned long long)index);
	return 0;
}

int
cmd_lookup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "license", required_argument, NULL, 'l' },
		{ "plate", required_argument, NULL, 'p' },
		{ "state", required_argument, NULL, 's' },
		{ "vin", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, 'n' },
		{ "dob", required_argument, NULL, 'b' },
		{ "max", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *name = NULL;
	char path[PATH_MAX], last[256], *comma;
	struct store_query q;
	struct store *s;
	int c, n = 0, keys = 0, rc, status = CLI_FAIL;
	struct found fd;
	char asked[AUDIT_KEY_MAX];
	int64_t max = 50;

	memset(&q, 0, sizeof q);
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:l:p:s:v:n:b:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': q.license_number = optarg; q.by = STORE_BY_LICENSE; keys++; break;
		case 'p': q.plate = optarg; q.by = STORE_BY_PLATE; q.type = STORE_VEHICLE; keys++; break;
		case 's': q.plate_state = optarg; break;
		case 'v': q.vin = optarg; q.by = STORE_BY_VIN; q.type = STORE_VEHICLE; keys++; break;
		case 'n': name = optarg; q.by = STORE_BY_NAME_DOB; keys++; break;
		case 'b': q.dob = optarg; break;
		case 'm':
			if (util_parse_i64(optarg, 1, 10000, &max) < 0)
				return cli_usage_error(usage, "lookup: --max must be 1-10000");
			break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "lookup: bad option");
		}
	}
	if (optind != argc || keys != 1)
		return cli_usage_error(usage, "lookup: give exactly one key");
	if (q.by == STORE_BY_PLATE && q.plate_state == NULL)
		return cli_usage_error(usage, "lookup: --plate needs --state");
	if (q.by == STORE_BY_NAME_DOB) {
		if (q.dob == NULL || (comma = strchr(name, ',')) == NULL ||
		    (size_t)(comma - name) >= sizeof last)
			return cli_usage_error(usage, "lookup: --name LAST,FIRST needs --dob");
		memcpy(last, name, (size_t)(comma - name));
		last[comma - name] = '\0';
		q.last_name = last;
		q.first_name = comma + 1;
	}
	data = cli_datadir(data);
	if (datadir_check(data) < 0 || datadir_path(data, DATADIR_RECORDS, path, sizeof path) < 0)
		return CLI_FAIL;
	fprintf(stderr, "dmvgate: administrator's local lookup: full stored record, not a "
			"disclosure path for agencies\n");
	if ((s = store_open(path, 1)) == NULL)
		return CLI_FAIL;
	memset(&fd, 0, sizeof fd);
	if ((fd.rows = json_array()) == NULL) {
		store_close(s);
		return CLI_FAIL;
	}
	rc = store_find(s, &q, ~(field_mask)0, (unsigned)max, collect_row, &fd);
	store_close(s);
	if (rc < 0) {
		util_errx("lookup failed");
		goto out;
	}
	/* Asked-for key, for the audit entry. */
	if (q.by == STORE_BY_LICENSE)
		snprintf(asked, sizeof asked, "license:%s", q.license_number);
	else if (q.by == STORE_BY_PLATE)
		snprintf(asked, sizeof asked, "plate:%s:%s", q.plate_state, q.plate);
	else if (q.by == STORE_BY_VIN)
		snprintf(asked, sizeof asked, "vin:%s", q.vin);
	else
		snprintf(asked, sizeof asked, "name_dob:%s/%s/%s", q.last_name, q.first_name, q.dob);
	/* Durable before anything is shown, found or not. */
	if (audit_lookup(data, &q, asked, &fd) < 0)
		goto out;
	if (json_array_size(fd.rows) == 0) {
		fprintf(stderr, "dmvgate: no matching record\n");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(fd.rows); i++) {
		char *text = json_dumps(json_array_get(fd.rows, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text != NULL) {
			puts(text);
			free(text);
		}
		n++;
	}
	status = CLI_OK;
out:
	json_decref(fd.rows);
	return status;
}
