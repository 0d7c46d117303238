/*
 * cmd_lookup.c - `dmvgate lookup`: the administrator's local view of a
 * stored record, every field included, as JSON lines.  It reads the
 * database file directly and is not a disclosure path for agencies: it
 * says so on stderr every time.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

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

static int
print_row(void *arg, const struct store_row *r)
{
	json_t *o = json_object(), *hist;
	char *text;
	int *n = arg;

	if (o == NULL)
		return 1;
	for (int f = 0; f < FIELD_COUNT; f++) {
		size_t len;
		const char *v = store_row_get(r, (enum field)f, &len);
		if (v == NULL)
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
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL) {
		puts(text);
		free(text);
	}
	json_decref(o);
	(*n)++;
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
	int c, n = 0, keys = 0, rc;
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
	rc = store_find(s, &q, ~(field_mask)0, (unsigned)max, print_row, &n);
	store_close(s);
	if (rc < 0) {
		util_errx("lookup failed");
		return CLI_FAIL;
	}
	if (n == 0) {
		fprintf(stderr, "dmvgate: no matching record\n");
		return CLI_FAIL;
	}
	return CLI_OK;
}
