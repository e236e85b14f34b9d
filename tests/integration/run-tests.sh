#!/bin/sh
# run-tests.sh - run the integration suite; called by `make check` with
# SECTX_BUILDDIR (holds the built sectxd and sectxctl) and SECTX_SRCDIR (the
# source top).  Writes nothing into the source tree (distcheck makes it
# read-only): no pytest cache, no bytecode, temp files under $TMPDIR or /tmp.
# Extra arguments go to pytest; the exit code is pytest's.
set -eu

: "${SECTX_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
export SECTX_SRCDIR
export PYTHONDONTWRITEBYTECODE=1
unset PYTHONHOME PYTHONPATH

# Arguments that name test files (or file::test) replace the directory, so a
# developer can run one file; without any, the whole suite runs.
for arg in "$@"; do
	case "$arg" in
	*.py | *.py::*) exec /usr/bin/python3 -m pytest -q -ra -p no:cacheprovider "$@" ;;
	esac
done
exec /usr/bin/python3 -m pytest -q -ra -p no:cacheprovider "$SECTX_SRCDIR/tests/integration" "$@"
