#!/bin/sh
# bench/bench-nlets.sh - cost of the Nlets text codec per message (parse a
# DQ/RQ into a struct query; encode the DR/RR of what it finds), median of
# passes, on N synthetic drivers (default 100,000).  When the server offers
# POST /v1/nlets this script is where its requests/s go, next to /v1/query's.
#   BENCH_DRIVERS=N BENCH_SAMPLES=S bench/bench-nlets.sh
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_DRIVERS:-100000}
S=${BENCH_SAMPLES:-10000}
T=$(mktemp -d /tmp/dmvgate-bench-nlets.XXXXXX)
trap 'rm -rf "$T"' EXIT
BIN=build/rel/dmvgate

make -s build/rel/dmvgate build/rel/nlets_bench
echo "== codec cost per message: $N drivers, $S sampled keys per form (scratch in $T)"
$BIN init --data "$T/data" >/dev/null
$BIN gen --drivers "$N" --seed 7 --out "$T/csv" >/dev/null
$BIN import --data "$T/data" "$T/csv" >/dev/null
build/rel/nlets_bench "$T/data/records.db" "$T/csv" "$S"
