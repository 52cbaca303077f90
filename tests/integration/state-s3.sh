#!/usr/bin/env bash
# The S3 state backend against an S3-compatible server on loopback (s3rver with S3's
# conditional writes, tests/s3/server.mjs), with `gpuform apply` against a separate
# `gpuform cloudsim`:
#  1. moving a local state to S3: apply refuses while the move is pending, `init
#     --migrate-state` moves it, the next apply has nothing to do;
#  2. 16 concurrent applies on one stack with --lock-timeout: all apply, one after the
#     other; cloudsim's live instances equal the state's; without a timeout each applies
#     or names the holder;
#  3. 8 stacks (keys) applying at once in one bucket: all succeed;
#  4. a holder killed with -9 blocks others only until its lock object expires (3 s); the
#     next run takes the stale lock over and names it;
#  5. force-unlock removes a dead run's unexpired lock by its id, refusing a wrong id.
#   state-s3.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "skip - node and npm are needed for the S3 test server (apt-get install nodejs npm)"
    exit 77
fi
command -v jq >/dev/null || { echo "skip - jq is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip - curl is not installed"; exit 77; }
if [ ! -d "$src/tests/s3/node_modules/s3rver" ]; then
    (cd "$src/tests/s3" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        { echo "skip - npm ci in tests/s3 failed (no registry?)"; exit 77; }
fi
tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "not ok - $*"
    exit 1
}
unset AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT AWS_REGION AWS_DEFAULT_REGION
# s3rver's account, which cloudsim below accepts too
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

mkdir -p "$tmp/s3"
node "$src/tests/s3/server.mjs" "$tmp/s3" tfstate >"$tmp/s3.out" 2>"$tmp/s3.err" &
pids+=($!)
s3=""
for _ in $(seq 1 200); do
    s3="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/s3.out")"
    [ -n "$s3" ] && break
    sleep 0.05
done
[ -n "$s3" ] || fail "the S3 test server did not start: $(cat "$tmp/s3.err")"

start_sim() { # CONFIG OUTFILE: sets $sim_url
    "$gpuform" cloudsim --listen 127.0.0.1:0 --config "$1" >"$2" 2>"$2.err" &
    pids+=($!)
    sim_url=""
    for _ in $(seq 1 200); do
        sim_url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$2")"
        [ -n "$sim_url" ] && break
        sleep 0.05
    done
}
cat >"$tmp/world.yaml" <<'YAML'
seed: 3
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle:
  run_instances: { burst: 5000, refill_per_second: 1000 }
  terminate_instances: { burst: 5000, refill_per_second: 1000 }
  describe: { burst: 5000, refill_per_second: 1000 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_sim "$tmp/world.yaml" "$tmp/sim.out"
[ -n "$sim_url" ] || fail "cloudsim did not start: $(cat "$tmp/sim.out.err")"
export GPUFORM_AWS_ENDPOINT="$sim_url"

live_world() {
    curl -sf "$GPUFORM_AWS_ENDPOINT/_cloudsim/instances" |
        jq -r --arg s "$1" '.. | objects | select(has("instance_id")) |
               select(.state == "pending" or .state == "running") |
               select(.tags["gpuform:stack"] == $s) | .instance_id' | sort
}
live_state() {
    "$gpuform" state pull --stack "$1" 2>/dev/null | jq -r '.nodes[].cloud_id' | sort
}
# stack DIR NAME [NODES] [STATE-BLOCK]
stack() {
    mkdir -p "$1"
    cat >"$1/stack.yaml" <<YAML
version: 1
stack: $2
${4:-state: { backend: s3, bucket: tfstate, key: gpu/$2.json, region: us-east-1, endpoint: "$s3", lock_ttl: 3s \}}
variables:
  n: { type: number, default: ${3:-2} }
clouds:
  aws: { regions: [us-east-1] }
workloads:
  train:
    kind: training
    gpu: A10G:1
    nodes: \${var.n}
    hours: 4
    verify: none # gating is verify-gate.sh's; here it would only slow the rounds
YAML
}

# ---- 1. a local state moved to S3 ----
s1="$tmp/moved"
stack "$s1" moved 3 "state: { backend: file }"
"$gpuform" apply --auto-approve "$s1" </dev/null >"$tmp/o" 2>"$tmp/e" || fail "local apply: $(cat "$tmp/e")"
local_ids="$(jq -r '.nodes[].cloud_id' "$s1/.gpuform/state.json" | sort)"
stack "$s1" moved 3
"$gpuform" apply --auto-approve "$s1" </dev/null >"$tmp/o" 2>"$tmp/e" &&
    fail "apply on S3 went ahead while the local state was not moved"
grep -q "init --migrate-state" "$tmp/e" || fail "the refusal does not say how to move: $(cat "$tmp/e")"
"$gpuform" init "$s1" >"$tmp/o" 2>"$tmp/e" && fail "init without --migrate-state went ahead"
"$gpuform" init --migrate-state "$s1" >"$tmp/o" 2>"$tmp/e" || fail "init --migrate-state: $(cat "$tmp/e")"
grep -q "moved the state" "$tmp/o" || fail "init did not say it moved the state: $(cat "$tmp/o")"
[ "$(live_state "$s1")" = "$local_ids" ] || fail "the moved state differs from the local one"
"$gpuform" apply --auto-approve "$s1" </dev/null >"$tmp/o" 2>"$tmp/e" || fail "apply after the move: $(cat "$tmp/e")"
grep -q "No changes" "$tmp/o" || fail "apply after the move changed something: $(cat "$tmp/o")"
echo "ok - a local state moves to S3 with init --migrate-state (apply refuses until then)"

# ---- 2. 16 concurrent applies on one stack ----
s2="$tmp/conc"
stack "$s2" conc 1 'state: { backend: s3, bucket: tfstate, key: gpu/conc.json, region: us-east-1, endpoint: "'"$s3"'", lock_ttl: 15s }'
cpids=()
for i in $(seq 1 16); do
    GPUFORM_VAR_n=$i "$gpuform" apply --auto-approve --lock-timeout 100s "$s2" </dev/null \
        >"$tmp/c$i.out" 2>"$tmp/c$i.err" &
    cpids+=($!)
done
for i in $(seq 1 16); do
    wait "${cpids[$((i - 1))]}" || fail "concurrent apply $i (n=$i) failed: $(cat "$tmp/c$i.err")"
    grep -q "Apply complete\|No changes" "$tmp/c$i.out" ||
        fail "concurrent apply $i did not apply: $(cat "$tmp/c$i.out" "$tmp/c$i.err")"
done
[ "$(live_state "$s2")" = "$(live_world conc)" ] ||
    fail "after 16 concurrent applies the state and cloudsim differ"
serial="$("$gpuform" state pull --stack "$s2" | jq .serial)"
[ "$serial" -ge 16 ] || fail "16 applies wrote the state only $serial times"
echo "ok - 16 concurrent applies on one S3 stack serialise: all applied (serial $serial)," \
    "cloudsim's live instances equal the state's"

cpids=()
for i in $(seq 1 16); do
    GPUFORM_VAR_n=$((i % 3 + 1)) "$gpuform" apply --auto-approve "$s2" </dev/null \
        >"$tmp/d$i.out" 2>"$tmp/d$i.err" &
    cpids+=($!)
done
applied=0
for i in $(seq 1 16); do
    if wait "${cpids[$((i - 1))]}"; then
        applied=$((applied + 1))
    else
        grep -q "the state is locked by .*@.*(pid [0-9]*, apply" "$tmp/d$i.err" ||
            fail "apply $i neither applied nor named the holder: $(cat "$tmp/d$i.err")"
    fi
done
[ "$applied" -ge 1 ] || fail "none of 16 applies without a timeout applied"
[ "$(live_state "$s2")" = "$(live_world conc)" ] || fail "after the second round the state and cloudsim differ"
echo "ok - 16 applies without --lock-timeout: $applied applied, the others named the holder"

# ---- 3. 8 stacks at once in one bucket ----
cpids=()
for i in $(seq 1 8); do
    stack "$tmp/many$i" "many$i" $((i % 4 + 1))
    "$gpuform" apply --auto-approve "$tmp/many$i" </dev/null >"$tmp/m$i.out" 2>"$tmp/m$i.err" &
    cpids+=($!)
done
for i in $(seq 1 8); do
    wait "${cpids[$((i - 1))]}" || fail "stack many$i failed: $(cat "$tmp/m$i.err")"
    [ "$(live_state "$tmp/many$i" | wc -l)" = $((i % 4 + 1)) ] || fail "stack many$i has the wrong nodes"
    [ "$(live_state "$tmp/many$i")" = "$(live_world "many$i")" ] || fail "stack many$i: state and cloudsim differ"
done
echo "ok - 8 stacks applying at once in one bucket all succeed"

# ---- 4. a holder killed with -9 blocks others only until its lock expires ----
cat >"$tmp/slow.yaml" <<'YAML'
seed: 4
time_scale: 0.001
latency_ms: { min: 400, max: 400 }
throttle:
  run_instances: { burst: 5000, refill_per_second: 1000 }
  describe: { burst: 5000, refill_per_second: 1000 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_sim "$tmp/slow.yaml" "$tmp/slow.out"
slow="$sim_url"
[ -n "$slow" ] || fail "the slow cloudsim did not start"
s4="$tmp/killed"
stack "$s4" killed 6
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --parallelism 1 "$s4" </dev/null \
    >"$tmp/k.out" 2>"$tmp/k.err" &
victim=$!
for _ in $(seq 1 200); do
    grep -q "creating" "$tmp/k.err" && break
    sleep 0.05
done
grep -q "creating" "$tmp/k.err" || fail "the apply to kill never started: $(cat "$tmp/k.err")"
kill -9 "$victim"
wait "$victim" 2>/dev/null
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve "$s4" </dev/null >"$tmp/k2.out" \
    2>"$tmp/k2.err" && fail "an apply went ahead while the killed run's lock was alive"
grep -q "pid $victim, apply" "$tmp/k2.err" || fail "the killed holder is not named: $(cat "$tmp/k2.err")"
start=$(date +%s)
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --lock-timeout 30s "$s4" </dev/null \
    >"$tmp/k3.out" 2>"$tmp/k3.err" || fail "apply after the lock expired: $(cat "$tmp/k3.err")"
waited=$(($(date +%s) - start))
[ "$waited" -le 15 ] || fail "the lock of a killed run blocked for ${waited}s with a 3s expiry"
grep -q "took over the lock left by .*pid $victim" "$tmp/k3.err" ||
    fail "the stale lock's holder is not reported: $(cat "$tmp/k3.err")"
[ "$(GPUFORM_AWS_ENDPOINT="$slow" live_world killed)" = "$(live_state "$s4")" ] ||
    fail "after the killed run, the state and cloudsim differ"
[ "$(live_state "$s4" | wc -l)" = 6 ] || fail "the re-run did not finish the stack"
echo "ok - a holder killed with -9 blocked others until its 3s lock expired (taken over in" \
    "${waited}s, journal settled, state equals cloudsim)"

# ---- 5. force-unlock: a lock whose run is gone, removed by its id ----
s5="$tmp/forced"
stack "$s5" forced 4 'state: { backend: s3, bucket: tfstate, key: gpu/forced.json, region: us-east-1, endpoint: "'"$s3"'", lock_ttl: 1h }'
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --parallelism 1 "$s5" </dev/null \
    >"$tmp/f.out" 2>"$tmp/f.err" &
victim=$!
for _ in $(seq 1 200); do
    grep -q "creating" "$tmp/f.err" && break
    sleep 0.05
done
kill -9 "$victim"
wait "$victim" 2>/dev/null
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve "$s5" </dev/null >"$tmp/f2.out" \
    2>"$tmp/f2.err" && fail "an apply went ahead under a live 1h lock"
id="$(sed -n 's/.*gpuform force-unlock \([0-9a-f-]\{36\}\).*/\1/p' "$tmp/f2.err" | head -1)"
[ -n "$id" ] || fail "the refusal names no lock id: $(cat "$tmp/f2.err")"
"$gpuform" force-unlock 00000000-0000-4000-8000-000000000000 --stack "$s5" >"$tmp/o" 2>"$tmp/e" &&
    fail "force-unlock with a wrong id went ahead"
grep -q "does not match" "$tmp/e" || fail "a wrong id is not explained: $(cat "$tmp/e")"
"$gpuform" force-unlock "$id" --stack "$s5" >"$tmp/o" 2>"$tmp/e" || fail "force-unlock: $(cat "$tmp/e")"
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve "$s5" </dev/null >"$tmp/f3.out" \
    2>"$tmp/f3.err" || fail "apply after force-unlock: $(cat "$tmp/f3.err")"
[ "$(GPUFORM_AWS_ENDPOINT="$slow" live_world forced)" = "$(live_state "$s5")" ] ||
    fail "after force-unlock, the state and cloudsim differ"
echo "ok - force-unlock removes a dead run's lock by its id (a wrong id is refused)"
