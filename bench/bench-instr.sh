#!/bin/sh
# bench-instr.sh - user-space instructions per audited query (callgrind),
# the figure to compare builds by on a machine whose throughput varies by
# 10% from run to run: N POST /v1/query by license (default policy minus
# its limit lines, durable audit) after a warm-up, counted over every
# thread of `dmvgate serve` under valgrind --tool=callgrind.  Prints the
# total per request and the heaviest functions (inclusive).
#
# What it does not count: the kernel (syscalls, TCP, fdatasync), and
# SHA-256 is the generic code (valgrind hides the SHA extensions), so
# nettle weighs more here than on the CPU.  Bounded: about a minute.
# DRIVERS (default 200000), N (default 2000).
set -eu
cd "$(dirname "$0")/.."
DRIVERS=${DRIVERS:-200000}
N=${N:-2000}
BIN=$(pwd)/dmvgate
. bench/lib.sh
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-instr-bench.XXXXXX")
VPID=""
cleanup() {
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	[ -n "${KEEP_CG:-}" ] && cp "$TOP"/cg.*.1 "$KEEP_CG" 2>/dev/null; rm -rf "$TOP"
}
trap cleanup EXIT INT TERM
command -v valgrind >/dev/null || { echo "bench-instr: valgrind is not installed (scripts/deps.sh)"; exit 1; }

D="$TOP/data"
$BIN init --data "$D" >/dev/null
$BIN gen --drivers "$DRIVERS" --seed 5 --out "$TOP/csv" >/dev/null
$BIN import --data "$D" "$TOP/csv" >/dev/null
cut -d, -f1 "$TOP/csv/drivers.csv" | sed 1d | shuf -n 5000 --random-source="$TOP/csv/drivers.csv" >"$TOP/licenses"
rm -rf "$TOP/csv"
bench_agency "$D"
TOKEN=$(bench_user "$D" bench)
grep -v '^limit ' policy/default.policy >"$TOP/bench.policy"
PORT=$(free_port)

valgrind --tool=callgrind --callgrind-out-file="$TOP/cg.%p" --dump-instr=no \
    $BIN serve --data "$D" --policy "$TOP/bench.policy" --listen "127.0.0.1:$PORT" 2>"$TOP/serve.err" &
VPID=$!
wait_up "$PORT" 300          # valgrind starts slowly
# warm-up on four connections (each worker opens its store and builds its
# history map after 256 lookups), then count N requests only
for _ in 1 2 3 4; do python3 bench/query_client.py "$PORT" 400 "$TOKEN" "$TOP/licenses" >/dev/null; done
callgrind_control -z "$VPID" >/dev/null 2>&1
bad=$(python3 bench/query_client.py "$PORT" "$N" "$TOKEN" "$TOP/licenses")
callgrind_control -d "$VPID" >/dev/null 2>&1
sleep 1
kill "$VPID"; wait "$VPID" 2>/dev/null || true; VPID=""
f=$(ls "$TOP"/cg.*.1 | head -1)
total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
echo "== instructions per audited query (callgrind, $N requests after warm-up, $DRIVERS drivers, $bad non-200)"
echo "  total: $((total / N)) instructions per request (user space, all threads)"
echo "  heaviest (inclusive, per request):"
callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
    awk -v n="$N" '/ src\/[a-z_]+\.c:|:(json_loadb|sqlite3_step|nettle_sha256_update|MHD_queue_response) / {
	c = $1; gsub(",", "", c)
	if (!match($0, /:[A-Za-z_][A-Za-z_0-9.]* \[/)) next
	fn = substr($0, RSTART + 1, RLENGTH - 3)
	if (fn !~ /^(on_request|clone|start_thread)$/ && !seen[fn]++ && shown++ < 16)
		printf "    %8d  %s\n", c / n, fn }'
