#!/bin/sh
# Rewrites the 'expected' file of every golden case from what BIN prints now:
#
#   sh tests/golden/update-all.sh build/gpuform
#
# Then read `git diff tests/golden` before committing: every change must be one you meant.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh tests/golden/update-all.sh BIN" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
status=0
for dir in "$here"/*/; do
    [ -d "$dir" ] || continue
    GOLDEN_UPDATE=1 sh "$here/run.sh" "$1" "${dir%/}" || status=1
done
exit $status
