#!/bin/sh
# bench/run.sh - `make bench`: every benchmark, each printing its figures
# and its ratio against the peer it is measured with in the same run.
set -u
cd "$(dirname "$0")/.."
status=0
for b in bench/bench-*.sh; do
	echo "#### $b"
	sh "$b" || { echo "$b failed"; status=1; }
done
exit $status
