#!/bin/sh
# bench-server.sh - the gateway's figures (make bench-server): audited driver
# lookups by license number through POST /v1/query over HTTP keep-alive with
# wrk, 16 and 64 connections, 1M drivers, the default policy (without its
# anti-bulk `limit` lines, which would stop the one bench user), durable audit
# (fdatasync per batch); in the same run the PostgreSQL peer (variant C:
# plpgsql lookup + policy table + audit INSERT, synchronous commit) at the
# same client counts, and three bare libmicrohttpd servers with a fixed body
# (bench/mhd_bare.c): "bare" answers at once (the HTTP ceiling), "suspend"
# adds MHD's suspend/resume through a second thread, "commit" adds a
# 300-byte record per request made durable by one fdatasync per batch
# before the resume: the ceiling of "durable before the reply" on this
# machine with no work per request.  Prints req/s, p50/p99, the server's
# CPU per request, the machine's idle share, the ratios and the RSS.
#
# Several rounds (ROUNDS, default 3): all four servers run side by side and
# each round measures them one after the other at 16 and then at 64
# connections, so each ratio compares runs a few seconds apart; the
# PostgreSQL peer then runs ROUNDS times per client count.  The figures are
# medians over the rounds (with the range); ratios to the bare servers are
# medians of the per-round ratios.  Each server gets a short unmeasured
# warm-up run first.  The wrk client shares the 2 CPUs with the server, as
# the peer's pgbench does.
#
# Bounded: about 8 minutes.  SECS (default 10) per wrk or pgbench run;
# DRIVERS (default 1000000); PEER=0 skips PostgreSQL (it needs root: it
# installs and starts a throwaway cluster on 127.0.0.1:55432, then removes
# it).
set -eu
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
DRIVERS=${DRIVERS:-1000000}
PEER=${PEER:-1}
BIN=$(pwd)/dmvgate
BARE=$(pwd)/build/rel/mhd_bare
TOP=$(mktemp -d "${BENCH_DIR:-/tmp}/dmvgate-server-bench.XXXXXX")
SPID=""
BPIDS=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	for p in $BPIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TOP"
}
trap cleanup EXIT INT TERM

. bench/lib.sh
# cpu_ticks PID: user+system CPU of the process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# idle_ticks: idle+iowait ticks of the whole machine, then all ticks.
idle_ticks() { awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit}' /proc/stat; }
# wrk_run NAME PORT PID CONNS [wrk args...]: appends "name conns rps p50
# p99 non200 server-cpu-us-per-request machine-idle-%" to $TOP/results.
# The server's CPU per request (from /proc/PID/stat) and the machine's
# idle share during the run tell a CPU-bound run from a latency-bound one.
wrk_run() {
	name=$1; port=$2; pid=$3; c=$4; shift 4
	out="$TOP/wrk-$name-$c-$round.txt"
	t0=$(cpu_ticks "$pid"); i0=$(idle_ticks)
	wrk -t2 -c"$c" -d"${SECS}s" --latency "$@" "http://127.0.0.1:$port/v1/query" >"$out" 2>&1
	t1=$(cpu_ticks "$pid"); i1=$(idle_ticks)
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	n=$(awk '/requests in/{print $1}' "$out")
	p50=$(awk '$1=="50%"{print $2}' "$out")
	p99=$(awk '$1=="99%"{print $2}' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
	errs=$(awk '/Socket errors/{print}' "$out" | tr '\n' ' ')
	cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN{printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0)}')
	idle=$(printf '%s %s\n' "$i0" "$i1" | awk '{d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0)}')
	echo "$name $c $rps $p50 $p99 ${bad:-0} $cpu $idle $errs" >>"$TOP/results"
	printf '  round %s %-8s %3s conns: %9s req/s  p50 %-8s p99 %-8s non-200 %s  server CPU %5s us/req  idle %3s%% %s\n' \
	    "$round" "$name" "$c" "$rps" "$p50" "$p99" "${bad:-0}" "$cpu" "$idle" "$errs"
}

echo "== data: $DRIVERS drivers (gen + import) in $TOP"
D="$TOP/data"
$BIN init --data "$D" >/dev/null
$BIN gen --drivers "$DRIVERS" --seed 5 --out "$TOP/csv" >/dev/null
$BIN import --data "$D" "$TOP/csv" | tail -1
cut -d, -f1 "$TOP/csv/drivers.csv" | sed 1d | shuf -n 20000 --random-source="$TOP/csv/drivers.csv" >"$TOP/licenses"
rm -rf "$TOP/csv"
bench_agency "$D"
TOKEN=$(bench_user "$D" bench)

# The default policy without its `limit` statements: one bench user asking
# for thousands of people is exactly the sweep those limits stop (429).
grep -v '^limit ' policy/default.policy >"$TOP/bench.policy"
echo "== dmvgate serve (POST /v1/query by license, default policy minus its limit lines, durable audit) and bare libmicrohttpd (fixed body) answering at once, with suspend/resume, and with a group-commit fdatasync; side by side, ${ROUNDS} rounds of ${SECS}s runs"
PORT=$(free_port)
$BIN serve --data "$D" --policy "$TOP/bench.policy" --listen "127.0.0.1:$PORT" 2>"$TOP/serve.err" &
SPID=$!
wait_up "$PORT"
# bare_start NAME [mode args]: starts mhd_bare, sets NAME_PORT and NAME_PID
bare_start() {
	name=$1; shift
	port=$(free_port)
	"$BARE" "$port" 2 "$@" 2>"$TOP/$name.err" &
	BPIDS="$BPIDS $!"
	eval "${name}_PORT=$port ${name}_PID=$!"
	wait_up "$port"
}
bare_start bare
bare_start suspend suspend
bare_start commit commit "$TOP/commit.dat"
export BENCH_TOKEN="$TOKEN" BENCH_LICENSES="$TOP/licenses"
# warm-up (not measured): page cache, each worker's SQLite cache
round=0
wrk -t2 -c16 -d2s -s bench/server-query.lua "http://127.0.0.1:$PORT/v1/query" >/dev/null 2>&1
for name in bare suspend commit; do
	eval "port=\$${name}_PORT"
	wrk -t2 -c16 -d1s -s bench/server-query.lua "http://127.0.0.1:$port/v1/query" >/dev/null 2>&1
done
for round in $(seq 1 "$ROUNDS"); do
	for c in 16 64; do
		wrk_run dmvgate "$PORT" "$SPID" "$c" -s bench/server-query.lua
		for name in bare suspend commit; do
			eval "port=\$${name}_PORT pid=\$${name}_PID"
			wrk_run "$name" "$port" "$pid" "$c" -s bench/server-query.lua
		done
	done
done
for p in $BPIDS; do kill -TERM "$p"; wait "$p" || true; done
BPIDS=""
sed 's/^/  (commit server) /' "$TOP/commit.err"
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

if [ "$PEER" = 1 ] && [ "$(id -u)" = 0 ]; then
	echo "== PostgreSQL peer, variant C (pgbench, ${SECS}s per client count)"
	cp -r /work/shared/peers/postgres "$TOP/peer"
	# the peer's cluster allows 50 connections; 64 clients need more (the
	# only change to the copy, printed so that nobody misses it)
	sed -i 's/^max_connections = 50$/max_connections = 100/' "$TOP/peer/run.sh"
	grep -q '^max_connections = 100$' "$TOP/peer/run.sh" &&
	    echo "  (copy of peers/postgres with max_connections 50 -> 100 for 64 clients)"
	clients=""
	for round in $(seq 1 "$ROUNDS"); do clients="$clients 16 64"; done
	PEER_OUT="$TOP/peer-out" DURATION="$SECS" CLIENTS="$clients" VARIANTS="C" \
	    BASE="/tmp/pgdmv_bench_server_$$" timeout 900 bash "$TOP/peer/run.sh" >"$TOP/peer.log" 2>&1 || {
		echo "  peer run failed; last lines:"; tail -5 "$TOP/peer.log"; }
	sum=$(find "$TOP/peer-out" -name summary.csv | head -1)
	if [ -n "$sum" ]; then
		awk -F, 'NR>1{printf "  %-10s %3s conns: %10s tx/s   avg %s ms (pgbench reports the mean, not percentiles)\n", "postgres", $2, $3, $4; print "postgres", $2, $3 >> "'"$TOP/results"'"}' "$sum"
	fi
else
	echo "== PostgreSQL peer skipped (PEER=0 or not root)"
fi

echo "== medians over the rounds (min-max), and ratios"
python3 - "$TOP/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 3:
        runs.setdefault((f[0], int(f[1])), []).append(float(f[2]))
def med(name, c):
    v = runs.get((name, c), [])
    return statistics.median(v) if v else None
cpu = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 8 and f[0] != "postgres":
        cpu.setdefault((f[0], int(f[1])), []).append((float(f[6]), float(f[7])))
for c in (16, 64):
    for name in ("dmvgate", "bare", "suspend", "commit", "postgres"):
        v = runs.get((name, c))
        if v:
            extra = ""
            if cpu.get((name, c)):
                u = statistics.median(x[0] for x in cpu[(name, c)])
                i = statistics.median(x[1] for x in cpu[(name, c)])
                extra = f"  server CPU {u:.1f} us/req, machine idle {i:.0f}%"
            print(f"  {c:3d} conns {name:9s} median {statistics.median(v):9.0f}/s  ({min(v):.0f}-{max(v):.0f}, {len(v)} runs){extra}")
    d, b, g, p = (runs.get((n, c), []) for n in ("dmvgate", "bare", "commit", "postgres"))
    line = f"  {c:3d} conns: dmvgate"
    if d and p:
        line += f" = {statistics.median(d) / statistics.median(p):.1f}x PostgreSQL C (median over median)"
    for ceil, what in ((b, "the bare MHD ceiling"), (g, "the group-commit ceiling (commit)")):
        if d and ceil:
            per = [x / y for x, y in zip(d, ceil)]
            line += (f"; {100 * statistics.median(per):.0f}% of {what}"
                     f" (per-round {100 * min(per):.0f}-{100 * max(per):.0f}%)")
    print(line)
    if g and p:
        print(f"  {c:3d} conns: the group-commit ceiling alone = "
              f"{statistics.median(g) / statistics.median(p):.1f}x PostgreSQL C")
PY
