#!/bin/sh
# soak.sh - the crash suite (issue 10; `make soak`): runs tests/soak/soak.py,
# which loads a loopback gateway, SIGKILLs it at random moments, restarts
# it and checks that every response received has its audit entry.
# Options go to soak.py (--kills N, --clients N, --max-load S, --seed S,
# --keep).  DMVGATE_BIN picks the binary (default ./dmvgate).
set -eu
cd "$(dirname "$0")/.."
: "${DMVGATE_BIN:=$(pwd)/dmvgate}"
export DMVGATE_BIN
exec /usr/bin/python3 tests/soak/soak.py "$@"
