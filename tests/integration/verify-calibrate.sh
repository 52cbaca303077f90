#!/usr/bin/env bash
# `gpuform verify` calibration and parallel devices through the real binary, on the CPU
# reference: calibrate writes a baseline, verifying against it passes, a damaged or
# mismatched baseline is refused with exit 1 and a message naming the file, a fault on
# one of four simulated devices fails that device alone, and XIDs in a kernel log
# (GPUFORM_KMSG) or injected fail or warn the health of the device they name.
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
# XIDs: the kernel log (GPUFORM_KMSG) names device 0000:02:00 (gpu1), --inject xid gpu2
cat >"$DIR/kmsg" <<'EOF'
6,1001,5000000,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  570.86.15
4,1002,123456789,-;NVRM: Xid (PCI:0000:02:00): 79, pid=1234, name=python, GPU has fallen off the bus.
[  200.500000] NVRM: Xid (PCI:0000:01:00): 13, pid=99, name=a.out, Graphics Exception
EOF
GPUFORM_KMSG="$DIR/kmsg" "$GPUFORM" verify --backend cpu --mem-mib 1 --devices 4 --inject xid \
    --inject-gpu 2 --json >"$DIR/x.json" && fail "an XID 79 passed"
[ "$(jq -c '[.gpus[].checks[] | select(.check == "health") | .status]' "$DIR/x.json")" = \
    '["warn","fail","fail","pass"]' ] || fail "xid health: $(jq -c '.gpus[].checks[-1]' "$DIR/x.json")"
jq -e '.gpus[1].pci_bus_id == "0000:02:00.0" and (.gpus[1].checks[] | select(.check == "health") |
       .details.xids | length == 1 and .[0].xid == 79 and .[0].source == "kernel_log" and
       .[0].class == "fail" and .[0].message == "GPU has fallen off the bus" and
       .[0].boot_seconds > 123.4 and .[0].boot_seconds < 123.5)' \
    "$DIR/x.json" >/dev/null || fail "xid details: $(jq -c '.gpus[1]' "$DIR/x.json")"
jq -r '.gpus[2].checks[] | select(.check == "health") | .message' "$DIR/x.json" |
    grep -q "^XID 79 (GPU has fallen off the bus) in the kernel log" || fail "injected xid message"
"$GPUFORM" verify --backend cpu --inject lightning 2>"$DIR/err" && fail "unknown fault accepted"
grep -q "nvml_ecc, xid" "$DIR/err" || fail "fault list: $(cat "$DIR/err")"
echo "verify-calibrate: ok"
