#!/bin/sh
# bench-audit.sh - audit log figures (make bench-audit): durable appends/s
# with 1, 16 and 64 concurrent appenders (mean batch size, fdatasyncs/s),
# `audit verify` entries/s on 1M entries, inclusion-proof generation time.
# Bounded to about two minutes.  BENCH_DIR (default: a fresh directory under
# /tmp) must be on the disk whose fdatasync you want to measure.
set -eu
cd "$(dirname "$0")/.."
B=build/rel/audit_bench
DMVGATE=${DMVGATE_BIN:-build/rel/dmvgate}
SECS=${AUDIT_BENCH_SECS:-5}
N=${AUDIT_BENCH_ENTRIES:-1000000}
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-audit-bench.XXXXXX")
trap 'rm -rf "$TOP"' EXIT INT TERM

echo "== durable appends (closed loop, ${SECS}s each, fdatasync per batch) on $(df -P "$TOP" | awk 'NR==2{print $1}')"
for t in 1 16 64; do
	d="$TOP/append-$t"; mkdir -p "$d"; $B init "$d" >/dev/null
	$B append "$d" "$t" "$SECS"
done

echo "== audit verify on $N entries"
d="$TOP/big"; mkdir -p "$d"; $B init "$d" >/dev/null
$B fill "$d" "$N"
$B verify "$d"
start=$(date +%s.%N)
"$DMVGATE" audit verify --data "$d"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$N" 'BEGIN{printf "dmvgate audit verify (whole command): %.3f s = %.2fM entries/s\n", e-s, n/(e-s)/1e6}'

echo "== inclusion proofs"
$B prove "$d" 20000
