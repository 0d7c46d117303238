#!/bin/sh
# bench-server.sh - the gateway's figures (make bench-server): audited driver
# lookups by license number through POST /v1/query over HTTP keep-alive with
# wrk, 16 and 64 connections, 1M drivers, the default policy (without its
# anti-bulk `limit` lines, which would stop the one bench user), durable audit
# (fdatasync per batch); in the same run a bare libmicrohttpd server with a
# fixed body (the HTTP ceiling) and the PostgreSQL peer (variant C: plpgsql
# lookup + policy table + audit INSERT, synchronous commit) at the same
# client counts.  Prints req/s, p50/p99, the ratios and the server's RSS.
#
# Each server gets a short unmeasured warm-up run first.  The wrk client
# shares the 2 CPUs with the server, as the peer's pgbench does.
#
# Bounded: about 3-4 minutes.  SECS (default 10) per wrk run; DRIVERS
# (default 1000000); PEER=0 skips PostgreSQL (it needs root: it installs and
# starts a throwaway cluster on 127.0.0.1:55432, then removes it).
set -eu
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
DRIVERS=${DRIVERS:-1000000}
PEER=${PEER:-1}
BIN=$(pwd)/dmvgate
BARE=$(pwd)/build/rel/mhd_bare
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-server-bench.XXXXXX")
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TOP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "server on port $1 did not come up" >&2
	return 1
}
# wrk_run NAME PORT CONNS [wrk args...]: appends "name conns rps p50 p99 non200" to $TOP/results
wrk_run() {
	name=$1; port=$2; c=$3; shift 3
	out="$TOP/wrk-$name-$c.txt"
	wrk -t2 -c"$c" -d"${SECS}s" --latency "$@" "http://127.0.0.1:$port/v1/query" >"$out" 2>&1
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	p50=$(awk '$1=="50%"{print $2}' "$out")
	p99=$(awk '$1=="99%"{print $2}' "$out")
	bad=$(awk '/^non-200:/{print $2}' "$out")
	errs=$(awk '/Socket errors|Non-2xx/{print}' "$out" | tr '\n' ' ')
	echo "$name $c $rps $p50 $p99 ${bad:-0} $errs" >>"$TOP/results"
	printf '  %-10s %3s conns: %10s req/s  p50 %-8s p99 %-8s non-200 %s %s\n' "$name" "$c" "$rps" "$p50" "$p99" "${bad:-n/a}" "$errs"
}

echo "== data: $DRIVERS drivers (gen + import) in $TOP"
D="$TOP/data"
$BIN init --data "$D" >/dev/null
$BIN gen --drivers "$DRIVERS" --seed 5 --out "$TOP/csv" >/dev/null
$BIN import --data "$D" "$TOP/csv" | tail -1
cut -d, -f1 "$TOP/csv/drivers.csv" | sed 1d | shuf -n 20000 --random-source="$TOP/csv/drivers.csv" >"$TOP/licenses"
rm -rf "$TOP/csv"
$BIN agency add CA0010000 --name "Bench PD" --category local_police --certified-until 2099-12-31 --data "$D" >/dev/null
TOKEN=$($BIN user add --agency CA0010000 bench --data "$D" | tail -1)

# The default policy without its `limit` statements: one bench user asking
# for thousands of people is exactly the sweep those limits stop (429).
grep -v '^limit ' policy/default.policy >"$TOP/bench.policy"
echo "== dmvgate serve: POST /v1/query by license (default policy minus its limit lines, durable audit), ${SECS}s per run"
PORT=$(free_port)
$BIN serve --data "$D" --policy "$TOP/bench.policy" --listen "127.0.0.1:$PORT" 2>"$TOP/serve.err" &
SPID=$!
wait_up "$PORT"
export BENCH_TOKEN="$TOKEN" BENCH_LICENSES="$TOP/licenses"
# warm-up (not measured): page cache, each worker's SQLite cache
wrk -t2 -c16 -d2s -s bench/server-query.lua "http://127.0.0.1:$PORT/v1/query" >/dev/null 2>&1
for c in 16 64; do
	wrk_run dmvgate "$PORT" "$c" -s bench/server-query.lua
done
rss=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
anon=$(awk '/^RssAnon/{print $2}' "/proc/$SPID/status")
file=$(awk '/^RssFile/{print $2}' "/proc/$SPID/status")
curl -s "http://127.0.0.1:$PORT/metrics" >"$TOP/metrics"
entries=$(awk '/^dmvgate_audit_entries_total /{print $2}' "$TOP/metrics")
batches=$(awk '/^dmvgate_audit_batches_total /{print $2}' "$TOP/metrics")
kill -TERM "$SPID"; wait "$SPID" || true; SPID=""
echo "  server RSS after the runs: $((rss / 1024)) MiB = $((anon / 1024)) MiB private (RssAnon) + $((file / 1024)) MiB of mapped files (records.db is mmapped: page cache)"
echo "  audit: $entries entries in $batches fdatasync batches (mean $(awk -v e="$entries" -v b="$batches" 'BEGIN{printf "%.1f", b ? e/b : 0}'))"
$BIN audit verify --data "$D" >/dev/null && echo "  audit verify: ok"

echo "== bare libmicrohttpd, fixed body (the HTTP ceiling), ${SECS}s per run"
PORT=$(free_port)
"$BARE" "$PORT" 2 &
SPID=$!
wait_up "$PORT"
wrk -t2 -c16 -d1s -s bench/server-query.lua "http://127.0.0.1:$PORT/v1/query" >/dev/null 2>&1
for c in 16 64; do
	wrk_run bare "$PORT" "$c" -s bench/server-query.lua
done
kill -TERM "$SPID"; wait "$SPID" || true; SPID=""

if [ "$PEER" = 1 ] && [ "$(id -u)" = 0 ]; then
	echo "== PostgreSQL peer, variant C (pgbench, ${SECS}s per client count)"
	cp -r /work/shared/peers/postgres "$TOP/peer"
	# the peer's cluster allows 50 connections; 64 clients need more (the
	# only change to the copy, printed so that nobody misses it)
	sed -i 's/^max_connections = 50$/max_connections = 100/' "$TOP/peer/run.sh"
	grep -q '^max_connections = 100$' "$TOP/peer/run.sh" &&
	    echo "  (copy of peers/postgres with max_connections 50 -> 100 for 64 clients)"
	PEER_OUT="$TOP/peer-out" DURATION="$SECS" CLIENTS="16 64" VARIANTS="C" \
	    BASE="/tmp/pgdmv_bench_server_$$" timeout 900 bash "$TOP/peer/run.sh" >"$TOP/peer.log" 2>&1 || {
		echo "  peer run failed; last lines:"; tail -5 "$TOP/peer.log"; }
	sum=$(find "$TOP/peer-out" -name summary.csv | head -1)
	if [ -n "$sum" ]; then
		awk -F, 'NR>1{printf "  %-10s %3s conns: %10s tx/s   avg %s ms (pgbench reports the mean, not percentiles)\n", "postgres", $2, $3, $4; print "postgres", $2, $3 >> "'"$TOP/results"'"}' "$sum"
	fi
else
	echo "== PostgreSQL peer skipped (PEER=0 or not root)"
fi

echo "== ratios"
awk '
	$1=="dmvgate"{d[$2]=$3} $1=="bare"{b[$2]=$3} $1=="postgres"{p[$2]=$3}
	END{
		for (c in d) {
			line = sprintf("  %s conns: dmvgate %.0f req/s", c, d[c])
			if (c in p && p[c] > 0) line = line sprintf(" = %.1fx PostgreSQL C (%.0f tx/s)", d[c]/p[c], p[c])
			if (c in b && b[c] > 0) line = line sprintf("; %.0f%% of the bare MHD ceiling (%.0f req/s)", 100*d[c]/b[c], b[c])
			print line
		}
	}' "$TOP/results" | sort -n
