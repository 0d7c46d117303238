#!/bin/sh
# bench/bench-gen.sh - `dmvgate gen --drivers N` (default 1,000,000; 1.05 N
# vehicles), median of 3 wall-clock runs into a scratch directory, with
# the output size and rows per second.  The target is N = 1M in <= 10 s.
#   BENCH_DRIVERS=N BENCH_RUNS=R bench/bench-gen.sh
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_DRIVERS:-1000000}
RUNS=${BENCH_RUNS:-3}
BIN=./dmvgate
T=$(mktemp -d /tmp/dmvgate-bench-gen.XXXXXX)
trap 'rm -rf "$T"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== gen: $N drivers, median of $RUNS (scratch in $T)"
: > "$T/t"
for i in $(seq "$RUNS"); do
	rm -rf "$T/out"
	t0=$(now)
	$BIN gen --drivers "$N" --seed 7 --out "$T/out" > "$T/summary"
	t1=$(now)
	echo "$t1 $t0" | awk '{printf "%.3f\n", $1 - $2}' >> "$T/t"
done
med=$(median < "$T/t")
bytes=$(cat "$T/out/drivers.csv" "$T/out/history.csv" "$T/out/vehicles.csv" | wc -c)
rows=$(cat "$T/out/drivers.csv" "$T/out/history.csv" "$T/out/vehicles.csv" | wc -l)
echo "runs (s): $(tr '\n' ' ' < "$T/t")"
cat "$T/summary"
echo "$med $bytes $rows $N" | awk '{
	printf "gen %d drivers: median %.2f s, %.0f MB, %.2f M rows/s, %.0f MB/s (target <= 10 s: %s)\n",
	    $4, $1, $2 / 1e6, ($3 - 3) / $1 / 1e6, $2 / 1e6 / $1, ($1 <= 10 ? "met" : "MISSED") }'
