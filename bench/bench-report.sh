#!/bin/sh
# bench-report.sh - transparency report generation time over a log of
# REPORT_BENCH_ENTRIES (default 1M) varied entries in one quarter: the
# computation (one streaming pass), each renderer, an incremental update,
# peak RSS; then the whole `dmvgate report` command for each format, a
# quarter with no entries (binary search only), and `dmvgate audit verify`
# over the same log for scale.  BENCH_DIR (default /tmp) holds the data.
set -eu
cd "$(dirname "$0")/.."
make -s build/rel/dmvgate build/rel/report_bench
B=build/rel/report_bench
DMVGATE=${DMVGATE_BIN:-build/rel/dmvgate}
N=${REPORT_BENCH_ENTRIES:-1000000}
POLICY=policy/default.policy
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-report-bench.XXXXXX")
trap 'rm -rf "$TOP"' EXIT INT TERM
d="$TOP/data"

echo "== filling a log of $N entries (2026Q3)"
$B fill "$d" "$N"

echo "== report computation and rendering (report_bench)"
$B run "$d" 2026Q3 "$POLICY"
$B run "$d" 2026Q1 "$POLICY"

ms() { awk -v s="$1" -v e="$2" 'BEGIN{printf "%.3f", e-s}'; }
echo "== the whole command: dmvgate report --quarter 2026Q3"
for f in json csv html; do
	s=$(date +%s.%N)
	"$DMVGATE" report --data "$d" --policy "$POLICY" --quarter 2026Q3 --format $f --out "$TOP/r.$f"
	e=$(date +%s.%N)
	echo "dmvgate report --format $f: $(ms "$s" "$e") s, $(wc -c <"$TOP/r.$f") bytes"
done
s=$(date +%s.%N)
"$DMVGATE" audit verify --data "$d" >/dev/null
e=$(date +%s.%N)
echo "for scale: dmvgate audit verify over the same log: $(ms "$s" "$e") s"
