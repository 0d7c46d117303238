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
