#!/bin/sh
# bench/bench-nlets.sh - the Nlets channel's figures.
#  1. Codec cost per message, in process (build/rel/nlets_bench): parse a
#     DQ/RQ into a struct query, encode the DR/RR of what it finds; median
#     of passes over sampled keys.
#  2. Through the server, in the same run: audited driver lookups by licence
#     number as POST /v1/nlets (DQ by OLN) next to the same lookups as
#     POST /v1/query (JSON), wrk over keep-alive, 16 and 64 connections,
#     alternating, one `dmvgate serve` (default policy minus its `limit`
#     lines, which would stop the one bench user; durable audit).
#
#   BENCH_DRIVERS=N (100000) BENCH_SAMPLES=S (10000) SECS=s (10) SERVER=0|1 (1)
#   bench/bench-nlets.sh
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_DRIVERS:-100000}
S=${BENCH_SAMPLES:-10000}
SECS=${SECS:-10}
SERVER=${SERVER:-1}
T=$(mktemp -d /tmp/dmvgate-bench-nlets.XXXXXX)
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
BIN=$(pwd)/build/rel/dmvgate

make -s build/rel/dmvgate build/rel/nlets_bench
echo "== 1. codec cost per message: $N drivers, $S sampled keys per form (scratch in $T)"
$BIN init --data "$T/data" >/dev/null
$BIN gen --drivers "$N" --seed 7 --out "$T/csv" >/dev/null
$BIN import --data "$T/data" "$T/csv" >/dev/null
build/rel/nlets_bench "$T/data/records.db" "$T/csv" "$S"

[ "$SERVER" = 1 ] || exit 0
command -v wrk >/dev/null || { echo "== 2. skipped: no wrk"; exit 0; }

. bench/lib.sh
cut -d, -f1 "$T/csv/drivers.csv" | sed 1d | shuf -n 20000 --random-source="$T/csv/drivers.csv" >"$T/licenses"
bench_agency "$T/data"
TOKEN=$(bench_user "$T/data" bench)
grep -v '^limit ' policy/default.policy >"$T/bench.policy"

# One wrk script for both channels: the same licence numbers, purpose and
# reason; BENCH_CHANNEL picks the body.  Counts non-200 answers.
cat >"$T/query.lua" <<'LUA'
local token = os.getenv("BENCH_TOKEN")
local channel = os.getenv("BENCH_CHANNEL")
local lics = {}
for line in io.lines(os.getenv("BENCH_LICENSES")) do lics[#lics + 1] = line end
local i = 0
local ctype = channel == "nlets" and "text/plain" or "application/json"
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = ctype }
non200 = 0
function init(args) i = math.random(#lics) end
function request()
  i = i % #lics + 1
  if channel == "nlets" then
    return wrk.format("POST", "/v1/nlets", headers,
      "DQ.CA0010000.CA.*B" .. (i % 100000) .. ".TXT\r\nOLN/" .. lics[i] .. ".PUR/C.ATN/BENCH")
  end
  return wrk.format("POST", "/v1/query", headers,
    '{"type":"driver","by":"license","license_number":"' .. lics[i] ..
    '","purpose":"criminal_investigation","reason":"BENCH"}')
end
function response(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("non200") or 0) end
  io.write(string.format("non-200: %d\n", n))
end
LUA

PORT=$(free_port)
$BIN serve --data "$T/data" --policy "$T/bench.policy" --listen "127.0.0.1:$PORT" 2>"$T/serve.err" &
SPID=$!
wait_up "$PORT"
export BENCH_TOKEN="$TOKEN" BENCH_LICENSES="$T/licenses"
run() {   # run CHANNEL CONNS
	out="$T/wrk-$1-$2.txt"
	BENCH_CHANNEL=$1 wrk -t2 -c"$2" -d"${SECS}s" --latency -s "$T/query.lua" \
	    "http://127.0.0.1:$PORT/" >"$out" 2>&1
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	p50=$(awk '$1=="50%"{print $2}' "$out")
	p99=$(awk '$1=="99%"{print $2}' "$out")
	bad=$(awk '/^non-200:/{print $2}' "$out")
	echo "$1 $2 $rps" >>"$T/results"
	printf '  %-6s %3s conns: %10s req/s  p50 %-8s p99 %-8s non-200 %s\n' "$1" "$2" "$rps" "$p50" "$p99" "${bad:-n/a}"
}
echo "== 2. through dmvgate serve: DQ by OLN (POST /v1/nlets) next to the same lookup as JSON (POST /v1/query), ${SECS}s per run, $N drivers"
BENCH_CHANNEL=json wrk -t2 -c16 -d2s -s "$T/query.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
BENCH_CHANNEL=nlets wrk -t2 -c16 -d2s -s "$T/query.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
for c in 16 64; do
	run json "$c"
	run nlets "$c"
done
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^dmvgate_requests_total' | grep -v ' 0$' | sed 's/^/  /'
kill -TERM "$SPID"; wait "$SPID" || true; SPID=""
$BIN audit verify --data "$T/data" >/dev/null && echo "  audit verify: ok"
awk '$1=="json"{j[$2]=$3} $1=="nlets"{n[$2]=$3}
	END{for (c in j) if (j[c] > 0) printf "  %s conns: nlets/json = %.2f\n", c, n[c]/j[c]}' "$T/results" | sort -n
