#!/bin/sh
# bench-policy.sh - `make bench-policy`: our policy engine against the Cedar
# peer (cedar-wasm 4.13 in Node) on the peer's 10,000 requests, in one run.
#
#   bench/bench-policy.sh BENCH_BINARY
#
# 1. copies peers/cedar to a temporary directory and runs `npm install`
#    there (the shared folder is read-only);
# 2. `node exhaustive.mjs`: Cedar's decision for all 11,760 possible
#    tuples, which our engine must match too;
# 3. our engine: every decision compared with Cedar's, then timed rounds of
#    many passes over the 10,000 (before and after the peer, so that both
#    see the same machine); ours_us is the median round;
# 4. the peer: BENCH_QUICK=1 node bench.mjs (about a minute), cedar_us is
#    the median round of its main variant (statefulIsAuthorized, preparsed).
# Prints any mismatch, then exactly one summary line:
#   decisions=10000 mismatches=M ours_us=X cedar_us=Y ratio=R
# Environment: PEER (default ../shared/peers/cedar next to the repository,
# else /work/shared/peers/cedar), ROUNDS (9 per side), PASSES (100),
# CEDAR_ENV (default BENCH_QUICK=1), KEEP=1 keeps the temporary directory.
set -eu

BIN=${1:-build/rel/policy_bench}      # (make bench-policy passes it)
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POLICY=$ROOT/bench/cedar-equivalent.policy
PEER=${PEER:-}
if [ -z "$PEER" ]; then
	if [ -d "$ROOT/../shared/peers/cedar" ]; then PEER=$ROOT/../shared/peers/cedar
	else PEER=/work/shared/peers/cedar; fi
fi
ROUNDS=${ROUNDS:-9}
PASSES=${PASSES:-100}
CEDAR_ENV=${CEDAR_ENV:-BENCH_QUICK=1}

TMP=$(mktemp -d /tmp/dmvgate-bench-policy.XXXXXX)
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

echo "bench-policy: peer $PEER, work dir $TMP" >&2
cp -r "$PEER" "$TMP/cedar"
chmod -R u+w "$TMP/cedar"
cd "$TMP/cedar"
if [ ! -d node_modules/@cedar-policy/cedar-wasm ]; then
	echo "bench-policy: npm install (cedar-wasm)" >&2
	npm install --no-audit --no-fund >"$TMP/npm.log" 2>&1 || {
		cat "$TMP/npm.log" >&2; echo "bench-policy: npm install failed" >&2; exit 1; }
fi

echo "bench-policy: node exhaustive.mjs" >&2
node exhaustive.mjs >&2

echo "bench-policy: ours, first half" >&2
"$BIN" "$POLICY" "$PEER/requests.json" "$TMP/cedar/exhaustive.json" "$ROUNDS" "$PASSES" >"$TMP/ours1.txt"

echo "bench-policy: cedar peer ($CEDAR_ENV node bench.mjs)" >&2
env $CEDAR_ENV node bench.mjs >"$TMP/cedar.log" 2>&1 || {
	tail -20 "$TMP/cedar.log" >&2; echo "bench-policy: the Cedar peer failed" >&2; exit 1; }

echo "bench-policy: ours, second half" >&2
"$BIN" "$POLICY" "$PEER/requests.json" - "$ROUNDS" "$PASSES" >"$TMP/ours2.txt"

grep '^mismatch' "$TMP/ours1.txt" || true
grep '^exhaustive=' "$TMP/ours1.txt" >&2 || true
grep '^ours_with_interning_us=' "$TMP/ours1.txt" >&2 || true
grep 'preparsed (statefulIsAuthorized)' "$TMP/cedar.log" | sed 's/^ */cedar: /' >&2 || true

/usr/bin/python3 - "$TMP/ours1.txt" "$TMP/ours2.txt" "$TMP/cedar.log" <<'EOF'
import re, statistics, sys
ours1, ours2, cedar = (open(f).read() for f in sys.argv[1:4])
m = re.search(r'^decisions=(\d+) mismatches=(\d+)', ours1, re.M)
ex = re.search(r'^exhaustive=(\d+) exhaustive_mismatches=(\d+)', ours1, re.M)
rounds = []
for t in (ours1, ours2):
    r = re.search(r'^rounds_us=(.*)$', t, re.M)
    rounds += [float(x) for x in r.group(1).split(',')]
c = re.search(r'preparsed \(statefulIsAuthorized\).*?median round ([0-9.]+) us', cedar)
ours = statistics.median(rounds)
cedar_us = float(c.group(1)) if c else float('nan')
mism = int(m.group(2))
exbad = int(ex.group(2)) if ex else 0
print(f"ours: {len(rounds)} rounds, {ours:.4f} us median, range {min(rounds):.4f}-{max(rounds):.4f}",
      file=sys.stderr)
print(f"decisions={m.group(1)} mismatches={mism} ours_us={ours:.4f} cedar_us={cedar_us:.2f} "
      f"ratio={cedar_us / ours:.0f}")
sys.exit(0 if mism == 0 and exbad == 0 and c else 1)
EOF
