#!/bin/sh
# bench-tls.sh - end-to-end throughput of audited /v1/query lookups over
# plain HTTP and over HTTPS, side by side in one run (issue 10 figures;
# docs/security.md).  wrk on loopback, keep-alive connections, a policy
# without `limit` statements (one user asks thousands of times a second).
# Order: plain, TLS, plain, TLS, each SECONDS long, at CONNS connections.
# Not a timed test: it prints figures.
#   usage: tests/soak/bench-tls.sh [SECONDS] [CONNS]   (DMVGATE_BIN, default ./dmvgate)
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-8}
CONNS=${2:-64}
BIN=${DMVGATE_BIN:-$(pwd)/dmvgate}
T=$(mktemp -d /tmp/dmvgate-bench-tls.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM
export DMVGATE_ALLOW_ROOT=1 DMVGATE_POLICY="$T/p.policy"
grep -v '^limit ' policy/default.policy > "$T/p.policy"
D=$T/data
"$BIN" init --data "$D" >/dev/null
"$BIN" gen --drivers 20000 --seed 9 --out "$T/csv" >/dev/null
"$BIN" import --data "$D" "$T/csv" >/dev/null
"$BIN" agency add CA0010000 --name Police --category local_police --certified-until 2099-12-31 --data "$D" >/dev/null
TOK=$("$BIN" user add --agency CA0010000 bench --data "$D" | tail -n 1)
# a throwaway CA and a server certificate (ECDSA P-256)
( cd "$T" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
	-out ca.pem -days 1 -subj /CN=bench-ca 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key \
	-out srv.csr -subj /CN=127.0.0.1 2>/dev/null &&
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 2>/dev/null )
# the first 2000 license numbers, for the wrk script
cut -d, -f1 "$T/csv/drivers.csv" | sed -n '2,2001p' > "$T/lic"
cat > "$T/q.lua" <<EOF
local lic = {}
for l in io.lines("$T/lic") do lic[#lic + 1] = l end
local n = 0
request = function()
  n = n + 1
  local body = '{"type":"driver","by":"license","license_number":"' .. lic[(n % #lic) + 1] ..
    '","purpose":"criminal_investigation","reason":"bench"}'
  return wrk.format("POST", "/v1/query", {["Authorization"] = "Bearer $TOK",
    ["Content-Type"] = "application/json"}, body)
end
EOF
run() {   # $1 = http|https
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	if [ "$1" = https ]; then
		EXTRA="--tls-cert $T/srv.pem --tls-key $T/srv.key --tls-client-ca $T/ca.pem"
	else
		EXTRA=
	fi
	# shellcheck disable=SC2086
	"$BIN" serve --data "$D" --listen 127.0.0.1:$PORT $EXTRA 2>"$T/serve.err" &
	PID=$!
	i=0
	until curl -sk "$1://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/serve.err"; exit 1; }; sleep 0.1
	done
	R=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$T/q.lua" "$1://127.0.0.1:$PORT/v1/query" 2>&1)
	RPS=$(echo "$R" | awk '/Requests\/sec/ {print $2}')
	NON2=$(echo "$R" | awk '/Non-2xx/ {print $4}')
	LAT=$(echo "$R" | awk '/Latency/ {print $2}')
	echo "$1 $CONNS conns: $RPS req/s, mean latency $LAT, non-2xx ${NON2:-0}"
	kill "$PID"; wait "$PID" || true; PID=
}
echo "bench-tls: $BIN, ${SECS}s per run, $CONNS connections, loopback"
run http; run https; run http; run https
