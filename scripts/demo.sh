#!/bin/sh
# scripts/demo.sh - `make demo`: a data directory with 100,000 synthetic
# drivers, a few example lookups, then (once the server lands) the gateway
# on 127.0.0.1:8080.  Everything lives under ./demo; run again to start over.
set -eu
cd "$(dirname "$0")/.."
BIN=./dmvgate
DEMO=${DEMO_DIR:-./demo}
DATA=$DEMO/data
CSV=$DEMO/csv
N=${DEMO_DRIVERS:-100000}

step() { printf '\n== %s\n' "$*"; }

step "init $DATA"
$BIN init --data "$DATA" --force --origin dmvgate.demo/audit

step "gen --drivers $N --out $CSV"
$BIN gen --drivers "$N" --seed 2026 --out "$CSV"

step "import $CSV"
$BIN import --data "$DATA" "$CSV"

# Pick real keys from the generated files for the example lookups.
lic=$(sed -n 2p "$CSV/drivers.csv" | cut -d, -f1)
plate=$(sed -n 2p "$CSV/vehicles.csv" | cut -d, -f1)
pstate=$(sed -n 2p "$CSV/vehicles.csv" | cut -d, -f2)

step "lookup --license $lic"
$BIN lookup --data "$DATA" --license "$lic"

step "lookup --plate $plate --state $pstate"
$BIN lookup --data "$DATA" --plate "$plate" --state "$pstate"

# ---------------------------------------------------------------- the gateway
# One demo agency per category of the default policy, one user each; every
# token is printed once, here.  Then the gateway serves in the foreground.
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
step "agencies and users (tokens are shown once)"
tokfile=$DEMO/tokens
: >"$tokfile"
chmod 600 "$tokfile"
for a in CA0010000:local_police:"Fresno Police Department" \
	 CA0020000:state_police:"California Highway Patrol" \
	 DC0030000:federal_criminal:"FBI Sacramento Field Office" \
	 DC0040000:federal_immigration:"ICE Enforcement and Removal Operations" \
	 CA0050000:court:"Superior Court of Fresno County" \
	 CA0060000:insurer:"Golden State Mutual Insurance" \
	 CA0070000:employer_cdl:"Valley Freight Lines" \
	 CA0080000:tow_operator:"Central Valley Towing" \
	 CA0090000:dmv:"DMV Investigations Division" \
	 CA0100000:researcher:"UC Traffic Safety Research Center"; do
	ori=${a%%:*}; rest=${a#*:}; cat=${rest%%:*}; name=${rest#*:}
	$BIN agency add "$ori" --name "$name" --category "$cat" --certified-until 2027-12-31 \
	    --data "$DATA" >/dev/null
	tok=$($BIN user add --agency "$ori" "demo-$cat" --data "$DATA" | tail -n 1)
	printf '%-20s %s  %s\n' "$cat" "$ori" "$tok"
	printf '%s %s\n' "$cat" "$tok" >>"$tokfile"
done
tok() { awk -v c="$1" '$1==c{print $2}' "$tokfile"; }
POLICE=$(tok local_police)
ICE=$(tok federal_immigration)
rm -f "$tokfile"
street=$(sed -n 2p "$CSV/drivers.csv" | cut -d, -f12)
city=$(sed -n 2p "$CSV/drivers.csv" | cut -d, -f13)
zip=$(sed -n 2p "$CSV/drivers.csv" | cut -d, -f15)
URL=http://$LISTEN

step "try it (paste into another terminal while the gateway runs)"
cat <<EOT
# a permitted query: local police, criminal investigation, by license number
curl -s $URL/v1/query -H 'Authorization: Bearer $POLICE' \\
  -d '{"type":"driver","by":"license","license_number":"$lic","purpose":"criminal_investigation","reason":"case 26-01234"}'

# denied as bulk: a search by address (rule no-bulk)
curl -s $URL/v1/query -H 'Authorization: Bearer $POLICE' \\
  -d '{"type":"driver","by":"address","street":"$street","city":"$city","zip":"$zip","purpose":"criminal_investigation","reason":"canvass"}'

# denied: an immigration agency without a judicial warrant or court order
curl -s $URL/v1/query -H 'Authorization: Bearer $ICE' \\
  -d '{"type":"driver","by":"license","license_number":"$lic","purpose":"civil_immigration_enforcement","reason":"ERO lead 42"}'

# the audit entries of those requests, a person's access history, and the signed checkpoint
$BIN audit show --data $DATA --kind query
$BIN audit subject --data $DATA --license $lic
curl -s $URL/v1/checkpoint
$BIN audit verify --data $DATA

# metrics, health
curl -s $URL/metrics | grep dmvgate_requests_total
EOT

step "dmvgate serve --listen $LISTEN (Ctrl-C stops it cleanly)"
exec $BIN serve --data "$DATA" --listen "$LISTEN"
