#!/bin/sh
# scripts/deps.sh - the one place that names the Debian packages dmvgate needs.
#
# Checks each package with dpkg-query; when some are missing and we run as
# root, installs them with apt-get (non-interactive).  Otherwise prints the
# apt-get line to run and exits non-zero.  Libraries are then checked with
# pkg-config so a broken install is caught before the compiler sees it.
#
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --pkgconfig   print the pkg-config module list (for make)
set -eu

# Libraries linked into the binary (package : pkg-config module).
LIBS="libsqlite3-dev:sqlite3 libmicrohttpd-dev:libmicrohttpd nettle-dev:nettle nettle-dev:hogweed
libjansson-dev:jansson libgnutls28-dev:gnutls"
# Tools for building, testing, fuzzing and benchmarking.
TOOLS="make gcc pkg-config clang libclang-rt-14-dev libcmocka-dev python3
python3-pytest sqlite3 wrk chromium mandoc bc
python3-yaml python3-jsonschema man-db valgrind"

modules=""
pkgs=""
for pair in $LIBS; do
	pkgs="$pkgs ${pair%%:*}"
	modules="$modules ${pair#*:}"
done
pkgs="$pkgs $TOOLS"

if [ "${1:-}" = "--pkgconfig" ]; then
	echo $modules cmocka
	exit 0
fi

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "deps: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		# An old or empty package list finds nothing: refresh it first.
		apt-get update -qq >&2 || true
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing >&2
	else
		echo "deps: missing packages; run as root:" >&2
		echo "  apt-get install$missing" >&2
		exit 1
	fi
fi

for m in $modules cmocka; do
	if ! pkg-config --exists "$m"; then
		echo "deps: pkg-config cannot find '$m'" >&2
		exit 1
	fi
done
