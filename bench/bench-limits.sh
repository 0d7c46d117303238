#!/bin/sh
# bench-limits.sh - the anti-bulk limiter's figures (issue 8).
#
# 1. build/rel/limits_bench: the limiter alone, cost per request (ns) with
#    100,000 active users (USERS) of 500 agencies under the default policy's
#    four limits, and without its household limit; state size in bytes.
# 2. End-to-end: audited driver lookups by license through POST /v1/query
#    with wrk (loopback, bounded: SECS per run, default 10) against one
#    `dmvgate serve` over DRIVERS (default 200000) synthetic drivers, with
#    NUSERS (default 200) users of one agency, each request from a random
#    user about a random one of 20,000 drivers; limits off (the default
#    policy minus its `limit` lines) then on (the same four limits with
#    counts no bench user reaches, so that both runs do the same work and
#    the difference is the limiter's), at 16 and 64 connections, in the same
#    run, alternating (MODES, default "off on off on": each server run starts
#    on the log the previous ones left; the means are compared).  Data set-up
#    as in bench-server.sh.
#
# Bounded: about 3 minutes with the defaults.
set -eu
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
DRIVERS=${DRIVERS:-200000}
NUSERS=${NUSERS:-200}
USERS=${USERS:-100000}
MODES=${MODES:-off on off on}
BIN=$(pwd)/dmvgate
LB=$(pwd)/build/rel/limits_bench
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-limits-bench.XXXXXX")
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TOP"
}
trap cleanup EXIT INT TERM

echo "== the limiter alone (build/rel/limits_bench, $USERS users)"
"$LB" policy/default.policy "$USERS" 1000000 | sed 's/^/  /'
grep -v '^limit "household"' policy/default.policy >"$TOP/nohousehold.policy"
echo "  -- without the household limit:"
"$LB" "$TOP/nohousehold.policy" "$USERS" 1000000 | sed 's/^/  /'

. bench/lib.sh

echo "== data: $DRIVERS drivers, $NUSERS users of one agency, in $TOP"
D="$TOP/data"
$BIN init --data "$D" >/dev/null
$BIN gen --drivers "$DRIVERS" --seed 5 --out "$TOP/csv" >/dev/null
$BIN import --data "$D" "$TOP/csv" | tail -1
cut -d, -f1 "$TOP/csv/drivers.csv" | sed 1d | shuf -n 20000 --random-source="$TOP/csv/drivers.csv" >"$TOP/licenses"
rm -rf "$TOP/csv"
bench_agency "$D"
i=0
while [ "$i" -lt "$NUSERS" ]; do
	bench_user "$D" "bench$i"
	i=$((i + 1))
done >"$TOP/tokens"

grep -v '^limit ' policy/default.policy >"$TOP/off.policy"
cp "$TOP/off.policy" "$TOP/on.policy"
cat >>"$TOP/on.policy" <<'EOF'
limit "sweep" per user 100000 subjects per 1h then suspend
limit "household" per agency 1000 people at one address per 24h
limit "rate" per user 1000000 queries per 1h
limit "fishing" per user 100000 misses per 1h then suspend
EOF

cat >"$TOP/query.lua" <<'EOF'
-- a random user's token and a random license per request
local tokens, lics = {}, {}
for l in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = l end
for l in io.lines(os.getenv("BENCH_LICENSES")) do lics[#lics + 1] = l end
non200 = 0
function init(args) math.randomseed(os.time() + math.random(1000000)) end
function request()
  local body = '{"type":"driver","by":"license","license_number":"' .. lics[math.random(#lics)] ..
    '","purpose":"criminal_investigation","reason":"bench"}'
  return wrk.format("POST", "/v1/query", { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json" }, body)
end
function response(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("non200") or 0) end
  io.write(string.format("non-200: %d\n", n))
end
EOF
export BENCH_TOKENS="$TOP/tokens" BENCH_LICENSES="$TOP/licenses"

for mode in $MODES; do
	echo "== limits $mode: dmvgate serve --policy $mode.policy, ${SECS}s per run"
	PORT=$(free_port)
	$BIN serve --data "$D" --policy "$TOP/$mode.policy" --listen "127.0.0.1:$PORT" 2>"$TOP/serve-$mode.err" &
	SPID=$!
	wait_up "$PORT"
	wrk -t2 -c16 -d2s -s "$TOP/query.lua" "http://127.0.0.1:$PORT/v1/query" >/dev/null 2>&1
	for c in 16 64; do
		out="$TOP/wrk-$mode-$c.txt"
		wrk -t2 -c"$c" -d"${SECS}s" --latency -s "$TOP/query.lua" "http://127.0.0.1:$PORT/v1/query" >"$out" 2>&1
		rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
		p50=$(awk '$1=="50%"{print $2}' "$out")
		p99=$(awk '$1=="99%"{print $2}' "$out")
		bad=$(awk '/^non-200:/{print $2}' "$out")
		echo "$mode $c $rps" >>"$TOP/results"
		printf '  limits %-3s %3s conns: %10s req/s  p50 %-8s p99 %-8s non-200 %s\n' "$mode" "$c" "$rps" "$p50" "$p99" "${bad:-n/a}"
	done
	curl -s "http://127.0.0.1:$PORT/metrics" >"$TOP/metrics-$mode"
	awk '/^dmvgate_limits_(tracked|bytes|hit_total) /{printf "  %s %s\n", $1, $2}' "$TOP/metrics-$mode"
	rss=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
	echo "  server RSS: $((rss / 1024)) MiB"
	kill -TERM "$SPID"; wait "$SPID" || true; SPID=""
done
grep -h "limits rebuilt" "$TOP"/serve-on.err | sed 's/^/  at start: /' || true

echo "== limits on / off"
awk '$1=="off"{o[$2]+=$3; no[$2]++} $1=="on"{n[$2]+=$3; nn[$2]++}
	END{for (c in o) if (c in n && o[c] > 0) printf "  %s conns: on %.0f req/s, off %.0f req/s (means of %d and %d runs): %.1f%%\n",
	    c, n[c]/nn[c], o[c]/no[c], nn[c], no[c], 100*(n[c]/nn[c])/(o[c]/no[c])}' \
	"$TOP/results" | sort -n
