#!/bin/sh
# Checks that specs/catalog/gpuform-catalog.csv is exactly what scripts/build-catalog.sh
# makes from the shared data, so the bundled catalog can always be rebuilt from its sources.
#
#   sh tests/bundled-catalog.sh BIN SHARED_DATA
#
# Exits 77 (skipped) when the shared data is not there.
set -eu
bin=$1
data=$2
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$data/catalog" ]; then
    echo "bundled-catalog: no shared data at $data; skipped"
    exit 77
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/gpuform-bundled.XXXXXX")
trap 'rm -f "$tmp"' EXIT
GPUFORM=$bin GPUFORM_SHARED_DATA=$data sh "$root/scripts/build-catalog.sh" -o "$tmp" >/dev/null
if ! cmp -s "$root/specs/catalog/gpuform-catalog.csv" "$tmp"; then
    echo "bundled-catalog: specs/catalog/gpuform-catalog.csv differs from what" \
        "scripts/build-catalog.sh makes (- checked in, + rebuilt):"
    diff -u "$root/specs/catalog/gpuform-catalog.csv" "$tmp" | head -40 || true
    echo "bundled-catalog: run scripts/build-catalog.sh and rebuild, if the change is meant"
    exit 1
fi
echo "bundled-catalog: up to date ($(($(wc -l <"$tmp") - 1)) offers)"
