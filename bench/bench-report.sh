#!/bin/sh
# bench-report.sh - transparency report generation time over a log of
# REPORT_BENCH_ENTRIES (default 1M) varied entries in one quarter: the
# computation (one streaming pass), each renderer, an incremental update,
# peak RSS; then the whole `dmvgate report` command for each format, a
# quarter with no entries (binary search only), `dmvgate audit verify` over
# the same log for scale, and over HTTP (`dmvgate serve` on the same data):
# first and cached GETs, wrk against the cached page.  BENCH_DIR (default
# /tmp) holds the data.
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

echo "== over HTTP: dmvgate serve on the same data (the log is 2026Q3; the server"
echo "   reports the current quarter, so this measures the search for an empty period,"
echo "   then the cache under load)"
PORT=$(awk 'BEGIN{srand(); print 20000 + int(rand()*20000)}')
"$DMVGATE" serve --data "$d" --policy "$POLICY" --listen 127.0.0.1:$PORT 2>"$TOP/serve.err" &
SPID=$!
i=0
until curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz; do
	i=$((i+1)); [ $i -gt 100 ] && { echo "serve did not start"; cat "$TOP/serve.err"; kill $SPID; exit 1; }
	sleep 0.1
done
for n in first second; do
	curl -s -o /dev/null -w "GET /transparency ($n): %{http_code} in %{time_total} s, %{size_download} bytes\n" \
		http://127.0.0.1:$PORT/transparency
done
y=$(date -u +%Y); q=$(( ($(date -u +%m | sed 's/^0//') - 1) / 3 ))
[ $q -eq 0 ] && { y=$((y - 1)); q=4; }
curl -s -o /dev/null -w "GET /transparency.json?quarter=${y}Q$q (previous, first): %{http_code} in %{time_total} s\n" \
	"http://127.0.0.1:$PORT/transparency.json?quarter=${y}Q$q"
curl -s -o /dev/null -w "GET /transparency.json?quarter=${y}Q$q (previous, cached): %{http_code} in %{time_total} s\n" \
	"http://127.0.0.1:$PORT/transparency.json?quarter=${y}Q$q"
if command -v wrk >/dev/null; then
	wrk -t2 -c16 -d3s http://127.0.0.1:$PORT/transparency | grep -E "Requests/sec|Latency"
fi
kill -TERM $SPID; wait $SPID || true
