#!/usr/bin/env bash
# `gpuform verify` calibration and parallel devices through the real binary, on the CPU
# reference: calibrate writes a baseline, verifying against it passes, a damaged or
# mismatched baseline is refused with exit 1 and a message naming the file, and a fault on
# one of four simulated devices fails that device alone.
set -u
GPUFORM=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
V=("$GPUFORM" verify --backend cpu --mem-mib 2 --devices 2)

"${V[@]}" --calibrate --runs 2 --out "$DIR/b.json" >"$DIR/out" 2>"$DIR/err" ||
    fail "calibrate exited $?: $(cat "$DIR/err")"
grep -q "wrote baseline '$DIR/b.json'" "$DIR/out" || fail "no summary: $(cat "$DIR/out")"
[ "$(jq -r .format "$DIR/b.json")" = gpuform-verify-baseline ] || fail "not a baseline"
[ "$(jq -r '.models["cpu-reference"].gpus' "$DIR/b.json")" = 2 ] || fail "gpus"

"${V[@]}" --baseline "$DIR/b.json" --json >"$DIR/r.json" || fail "verify against it failed"
jq -e --arg s "baseline $DIR/b.json" \
    '[.gpus[].checks[] | select(.check == "memory_bandwidth") | .expected_source] == [$s, $s]' \
    "$DIR/r.json" >/dev/null || fail "expected_source: $(jq -c '.gpus[].checks' "$DIR/r.json")"

# an inflated median fails memory bandwidth, exit 1
jq '.models["cpu-reference"].checks.memory_bandwidth.median *= 1000' "$DIR/b.json" >"$DIR/big.json"
"${V[@]}" --baseline "$DIR/big.json" >"$DIR/out" && fail "inflated baseline passed"
grep -q "memory_bandwidth  fail" "$DIR/out" || fail "no bandwidth failure: $(cat "$DIR/out")"

# truncated, future, another level: exit 1, the file named
head -c 60 "$DIR/b.json" >"$DIR/cut.json"
"${V[@]}" --baseline "$DIR/cut.json" 2>"$DIR/err" && fail "truncated baseline accepted"
grep -q "baseline '$DIR/cut.json' is not valid JSON" "$DIR/err" || fail "$(cat "$DIR/err")"
jq '.version = 9' "$DIR/b.json" >"$DIR/new.json"
"${V[@]}" --baseline "$DIR/new.json" 2>"$DIR/err" && fail "future baseline accepted"
grep -q "has format version 9, from a newer gpuform" "$DIR/err" || fail "$(cat "$DIR/err")"
"${V[@]}" --level full --baseline "$DIR/b.json" 2>"$DIR/err" && fail "level mismatch accepted"
grep -q "recorded at level quick and this run is full" "$DIR/err" || fail "$(cat "$DIR/err")"

# four devices in parallel, a bit flip on gpu2 only
"$GPUFORM" verify --backend cpu --mem-mib 2 --devices 4 --inject mem_bitflip --inject-gpu 2 \
    --json >"$DIR/p.json" && fail "a bit flip passed"
[ "$(jq -c '[.gpus[] | .status]' "$DIR/p.json")" = '["pass","pass","fail","pass"]' ] ||
    fail "per-device status: $(jq -c '[.gpus[] | .status]' "$DIR/p.json")"
[ "$(jq -c '[.gpus[].index]' "$DIR/p.json")" = '[0,1,2,3]' ] || fail "device order"
jq -e '.parallel == true and ([.gpus[].seconds | select(. > 0)] | length) == 4' "$DIR/p.json" \
    >/dev/null || fail "parallel/seconds"
echo "verify-calibrate: ok"
