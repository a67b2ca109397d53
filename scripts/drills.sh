#!/usr/bin/env bash
# The reliability drills (issue 15): `bash scripts/drills.sh` runs the short form (what CI runs as part of the
# tests), `bash scripts/drills.sh --full` the full form; both then print the Reliability table from the records
# in build/drills (bench/drill_report.py). Extra arguments go to pytest (e.g. -k crash).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--full" ]; then
    shift
    export VINOPS_DRILL=full
fi
export VINOPS_DRILL_OUT="${VINOPS_DRILL_OUT:-$PWD/build/drills}"
rm -rf "$VINOPS_DRILL_OUT"
status=0
.venv/bin/python -m pytest tests/db/drills -p no:cacheprovider "$@" || status=$?
.venv/bin/python bench/drill_report.py "$VINOPS_DRILL_OUT"
exit $status
