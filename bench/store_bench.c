/*
 * store_bench.c - in-process lookup cost of the record store: opens a
 * records.db, samples keys from it, and times store_find by license
 * number, name + DOB, plate and VIN (median of several passes).
 *
 *   build/rel/store_bench DIR/records.db [samples]
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "store.h"
#include "util.h"

#define MAXS 20000
#define PASSES 5

struct keys {
	char lic[MAXS][20], last[MAXS][72], first[MAXS][72], dob[MAXS][11];
	char plate[MAXS][12], pstate[MAXS][3], vin[MAXS][18];
	int n, nv;
};

static int
noop(void *arg, const struct store_row *r)
{
	size_t len;

	(void)arg;
	return store_row_get(r, FIELD_LAST_NAME, &len) == (const char *)1;
}

static int
count_event(void *arg, const struct store_event *ev)
{
	(void)ev;
	(*(long *)arg)++;
	return 0;
}

/* What the gateway's permit does: the row and its history events. */
static int
with_history(void *arg, const struct store_row *r)
{
	return store_row_history(r, count_event, arg) < 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Field i (0-based) of a stored record (fields joined by 0x1f). */
static void
part(const unsigned char *rec, int i, char *out, size_t outsz)
{
	const char *p = (const char *)rec, *e;

	for (; i > 0 && p != NULL; i--)
		if ((p = strchr(p, 0x1f)) != NULL)
			p++;
	if (p == NULL) {
		out[0] = '\0';
		return;
	}
	e = strchr(p, 0x1f);
	snprintf(out, outsz, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
}

static int
sample(const char *path, struct keys *k, int n)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	/* Public driver fields are stored in field order: 0 license_number,
	 * 1 last_name, 2 first_name, 5 dob; vehicles: 0 plate, 1 plate_state,
	 * 4 vin. */
	if (sqlite3_prepare_v2(db, "SELECT rec FROM driver ORDER BY random() LIMIT ?1", -1, &st,
		NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(st, 1, n);
	while (sqlite3_step(st) == SQLITE_ROW && k->n < n) {
		const unsigned char *rec = sqlite3_column_text(st, 0);
		part(rec, 0, k->lic[k->n], sizeof k->lic[0]);
		part(rec, 1, k->last[k->n], sizeof k->last[0]);
		part(rec, 2, k->first[k->n], sizeof k->first[0]);
		part(rec, 5, k->dob[k->n], sizeof k->dob[0]);
		k->n++;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT rec FROM vehicle ORDER BY random() LIMIT ?1", -1, &st,
		NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(st, 1, n);
	while (sqlite3_step(st) == SQLITE_ROW && k->nv < n) {
		const unsigned char *rec = sqlite3_column_text(st, 0);
		part(rec, 0, k->plate[k->nv], sizeof k->plate[0]);
		part(rec, 1, k->pstate[k->nv], sizeof k->pstate[0]);
		part(rec, 4, k->vin[k->nv], sizeof k->vin[0]);
		k->nv++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct keys k;
	const char *names[] = { "license", "name_dob", "plate", "vin", "license+history" };
	struct store *s;
	int n = argc > 2 ? atoi(argv[2]) : 10000;
	field_mask pub = FIELD_MASK_DRIVER & ~FIELD_MASK_SENSITIVE;

	if (argc < 2 || n < 1 || n > MAXS) {
		fprintf(stderr, "usage: store_bench RECORDS.DB [samples<=%d]\n", MAXS);
		return 2;
	}
	if (sample(argv[1], &k, n) < 0 || k.n == 0 || (s = store_open(argv[1], 1)) == NULL) {
		fprintf(stderr, "store_bench: cannot read %s\n", argv[1]);
		return 1;
	}
	for (int kind = 0; kind < 5; kind++) {
		double us[PASSES];
		int cnt = kind < 2 || kind == 4 ? k.n : k.nv;
		long found = 0, events = 0;

		for (int p = 0; p < PASSES; p++) {
			uint64_t t0 = util_mono_ns();
			for (int i = 0; i < cnt; i++) {
				struct store_query q;
				memset(&q, 0, sizeof q);
				switch (kind) {
				case 0:
					q.type = STORE_DRIVER; q.by = STORE_BY_LICENSE;
					q.license_number = k.lic[i];
					break;
				case 1:
					q.type = STORE_DRIVER; q.by = STORE_BY_NAME_DOB;
					q.last_name = k.last[i]; q.first_name = k.first[i]; q.dob = k.dob[i];
					break;
				case 4:
					q.type = STORE_DRIVER; q.by = STORE_BY_LICENSE;
					q.license_number = k.lic[i];
					break;
				case 2:
					q.type = STORE_VEHICLE; q.by = STORE_BY_PLATE;
					q.plate = k.plate[i]; q.plate_state = k.pstate[i];
					break;
				default:
					q.type = STORE_VEHICLE; q.by = STORE_BY_VIN; q.vin = k.vin[i];
					break;
				}
				int r = kind == 4 ? store_find(s, &q, pub | FIELD_BIT(FIELD_HISTORY), 10,
				    with_history, &events) :
				    store_find(s, &q, kind < 2 ? pub : FIELD_MASK_VEHICLE, 10, noop, NULL);
				if (p == 0 && r > 0)
					found++;
			}
			us[p] = (double)(util_mono_ns() - t0) / 1e3 / cnt;
		}
		qsort(us, PASSES, sizeof us[0], cmp_double);
		printf("lookup by %-15s %7.2f us (median of %d passes over %d keys, %ld found%s)\n",
		    names[kind], us[PASSES / 2], PASSES, cnt, found,
		    kind == 4 ? ", events read" : "");
	}
	store_close(s);
	return 0;
}
