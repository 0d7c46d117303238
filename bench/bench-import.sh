#!/bin/sh
# bench/bench-import.sh - gen and import of N drivers (default 1,000,000),
# median of 3, next to `sqlite3 .import` of the same CSVs in the same run:
# (a) bare: tables with the same columns, no validation, no indexes;
# (b) comparable: (a) plus indexes for the same lookups dmvgate serves
#     (license, name + dob, address, plate + state, VIN, owner, history).
# Then in-process lookup cost by each key.
#   BENCH_DRIVERS=N bench/bench-import.sh
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_DRIVERS:-1000000}
RUNS=${BENCH_RUNS:-3}
T=$(mktemp -d /tmp/dmvgate-bench-import.XXXXXX)
trap 'rm -rf "$T"' EXIT
BIN=./dmvgate

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== gen + import: $N drivers, median of $RUNS (scratch in $T)"
$BIN init --data "$T/data" >/dev/null
: > "$T/gen.t"; : > "$T/imp.t"; : > "$T/sq.t"; : > "$T/sqi.t"
for i in $(seq "$RUNS"); do
	t0=$(now); $BIN gen --drivers "$N" --seed 7 --out "$T/csv" >/dev/null; t1=$(now)
	echo "$t1 - $t0" | bc >> "$T/gen.t"
	t0=$(now); $BIN import --data "$T/data" "$T/csv" >/dev/null; t1=$(now)
	echo "$t1 - $t0" | bc >> "$T/imp.t"
	rm -f "$T/sq.db"
	# The peer: sqlite3's own CSV import into tables with the same columns.
	t0=$(now)
	sqlite3 "$T/sq.db" <<SQL >/dev/null
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
.mode csv
.import $T/csv/drivers.csv drivers
.import $T/csv/history.csv history
.import $T/csv/vehicles.csv vehicles
SQL
	t1=$(now)
	echo "$t1 - $t0" | bc >> "$T/sq.t"
	sqlite3 "$T/sq.db" <<SQL >/dev/null
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
CREATE INDEX d1 ON drivers(license_number);
CREATE INDEX d2 ON drivers(last_name, first_name, dob);
CREATE INDEX d3 ON drivers(street, city, zip);
CREATE INDEX h1 ON history(license_number);
CREATE INDEX v1 ON vehicles(plate_state, plate);
CREATE INDEX v2 ON vehicles(vin);
CREATE INDEX v3 ON vehicles(owner_license_number);
CREATE INDEX v4 ON vehicles(owner_street, owner_city, owner_zip);
SQL
	t2=$(now)
	echo "$t2 - $t0" | bc >> "$T/sqi.t"
done
g=$(median < "$T/gen.t"); im=$(median < "$T/imp.t"); sq=$(median < "$T/sq.t"); sqi=$(median < "$T/sqi.t")
printf 'gen      %s drivers: %.2f s (median)\n' "$N" "$g"
printf 'import   %s drivers + history + vehicles: %.2f s (median; validated, indexed)\n' "$N" "$im"
printf 'sqlite3 .import, bare:       %.2f s (median; no validation, no indexes)\n' "$sq"
printf 'sqlite3 .import + indexes:   %.2f s (median; the same lookups, no validation)\n' "$sqi"
printf 'ratio bare .import / dmvgate import:       %.2fx\n' "$(echo "$sq / $im" | bc -l)"
printf 'ratio indexed .import / dmvgate import:    %.2fx\n' "$(echo "$sqi / $im" | bc -l)"
echo "== lookups in process"
build/rel/store_bench "$T/data/records.db" 10000
