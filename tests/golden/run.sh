#!/bin/sh
# Runs one golden case (see README.md in this directory):
#
#   sh tests/golden/run.sh BIN CASE_DIR
#
# In CASE_DIR, runs `BIN $(cat args)` (default: `validate spec.yaml`) with the variables of
# the `env` file, NO_COLOR=1 and stdin from /dev/null, and compares stdout and stderr
# together, followed by a line `[exit N]`, byte for byte with the file `expected`.
# With GOLDEN_UPDATE=1 it rewrites `expected` instead of comparing.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: sh tests/golden/run.sh BIN CASE_DIR  (GOLDEN_UPDATE=1 rewrites 'expected')" >&2
    exit 2
fi
bin=$1
case_dir=$2

# The binary is run from inside the case directory: make a relative path absolute.
case $bin in
/*) ;;
*/*) bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin") ;;
*) ;; # a bare name is looked up in PATH
esac
if ! cd "$case_dir" 2>/dev/null; then
    echo "golden: no case directory '$case_dir'" >&2
    exit 2
fi

# Nothing from the caller's environment may change what gpuform prints.
for name in $(env | sed -n 's/^\(GPUFORM_VAR_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$name"
done
unset GPUFORM_SHARED_DATA GPUFORM_SOURCE_DIR
NO_COLOR=1
LC_ALL=C
export NO_COLOR LC_ALL

# The case's own environment: NAME=VALUE lines; blank lines and # comments are skipped.
if [ -f env ]; then
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
        '' | '#'*) continue ;;
        esac
        name=${line%%=*}
        case $name in
        '' | [0-9]* | *[!A-Za-z0-9_]*)
            echo "golden: $case_dir/env: '$line' is not NAME=VALUE" >&2
            exit 2
            ;;
        esac
        if [ "$name" = "$line" ]; then
            echo "golden: $case_dir/env: '$line' is not NAME=VALUE" >&2
            exit 2
        fi
        # shellcheck disable=SC2163 # exports NAME=VALUE, as written
        export "$line"
    done <./env
fi

if [ -f args ]; then
    args=$(cat args)
else
    args="validate spec.yaml"
fi

actual=$(mktemp "${TMPDIR:-/tmp}/golden.XXXXXX")
trap 'rm -f "$actual"' EXIT
trap 'exit 130' INT TERM

# Word-split the arguments, without expanding globs.
set -f
# shellcheck disable=SC2086
set -- $args
set +f
rc=0
"$bin" "$@" >"$actual" 2>&1 </dev/null || rc=$?
printf '[exit %d]\n' "$rc" >>"$actual"

if [ "${GOLDEN_UPDATE:-}" = 1 ]; then
    if [ -f expected ] && cmp -s expected "$actual"; then
        exit 0
    fi
    cp "$actual" expected
    echo "golden: updated $case_dir/expected" >&2
    exit 0
fi

if [ ! -f expected ]; then
    echo "golden: $case_dir has no 'expected' file; this is what gpuform printed:" >&2
    cat "$actual"
    echo "golden: accept it with GOLDEN_UPDATE=1 sh tests/golden/run.sh BIN $case_dir" >&2
    exit 1
fi
if ! cmp -s expected "$actual"; then
    echo "golden: $case_dir: output differs from 'expected' (- expected, + actual):"
    diff -u expected "$actual" | sed -e "1s|^--- expected.*|--- expected|" \
        -e "2s|^+++ .*|+++ actual ($bin ${args})|" || true
    echo "golden: if the new output is right: GOLDEN_UPDATE=1 sh tests/golden/run.sh BIN $case_dir"
    exit 1
fi
exit 0
