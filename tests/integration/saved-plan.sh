#!/usr/bin/env bash
# Saved plans, targets, refresh-only plans and the lock, end to end against a separate
# `gpuform cloudsim`:
#   1. plan --out, show FILE, apply FILE: exactly the saved changes, without asking;
#      applying the same file again is refused (the state moved on)
#   2. stale plans refused, nothing changed, the reason named: an edited spec, another
#      --var, another catalog, a state another run wrote, an instance gone out of band
#   3. --target: only the named node or workload changes
#   4. plan --refresh-only: drift shown, nothing written, exit 2 with --detailed-exitcode
#   5. two applies at once: the second fails at once naming the holder; --lock-timeout waits
#   6. labels: set as instance tags; a changed label is an update in place (~)
#   test: saved-plan.sh GPUFORM_BINARY SOURCE_DIR
set -u
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2
export AWS_ACCESS_KEY_ID=AKIDSAVEDPLAN AWS_SECRET_ACCESS_KEY='saved/plan+secret' NO_COLOR=1
cat >"$tmp/world.yaml" <<'YAML'
seed: 3
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
latency_ms: { min: 5, max: 20 }
throttle:
  run_instances: { burst: 1000, refill_per_second: 100 }
  terminate_instances: { burst: 1000, refill_per_second: 100 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" || fail "cloudsim did not start: $(cat "$tmp/sim.err")"
live() { # the stack's live instance ids in cloudsim
    curl -sf "$url/_cloudsim/instances" |
        jq -r --arg s "$1" '.. | objects | select(has("instance_id")) | select(.tags["gpuform:stack"] == $s) |
               select(.state == "pending" or .state == "running") | .instance_id' | sort
}
cd "$tmp" || exit 1
mkdir stack
cat >stack/stack.yaml <<'YAML'
version: 1
stack: saved
variables:
  trainers: { type: number, default: 2 }
clouds:
  aws: { regions: [us-east-1] }
workloads:
  train:
    kind: training
    gpu: A10G:1
    nodes: ${var.trainers}
    hours: 4
  eval:
    kind: batch
    gpu: A10G:1
    nodes: 1
    hours: 2
YAML
state=stack/.gpuform/state.json

# ---- 1. plan --out, show, apply FILE ----
"$gpuform" plan --out plan.json stack >p.out 2>p.err || fail "plan --out: $(cat p.err)"
[ "$(stat -c %a plan.json)" = 600 ] || fail "the saved plan is not mode 0600"
jq -e '.format == "gpuform-plan" and .summary.create == 3 and .state == null' plan.json >/dev/null ||
    fail "saved plan document: $(jq -c '{format, summary, state}' plan.json)"
"$gpuform" show plan.json >s.out 2>s.err || fail "show FILE: $(cat s.err)"
[ "$(grep -c '^  +' s.out)" = 3 ] || fail "show does not list 3 creates: $(cat s.out)"
"$gpuform" show --json plan.json | jq -e '.plan.resource_changes | length == 3' >/dev/null ||
    fail "show --json FILE is not the saved document"
head -c 300 plan.json >cut.json
jq '.format_version = 9' plan.json >future.json
for bad in cut future; do
    if "$gpuform" apply "$bad.json" </dev/null >a.out 2>a.err; then fail "$bad.json was applied"; fi
    grep -q "'$bad.json' is not a usable saved plan: .*gpuform plan --out" a.err ||
        fail "$bad.json: $(cat a.err)"
done
[ ! -e "$state" ] || fail "a refused saved plan made a state"
"$gpuform" apply plan.json </dev/null >a.out 2>a.err || fail "apply FILE (no terminal, no --auto-approve): $(cat a.err)"
grep -q "Apply complete: 3 created" a.out || fail "apply FILE: $(cat a.out)"
[ "$(live saved)" = "$(jq -r '.nodes[].cloud_id' "$state" | sort)" ] || fail "cloudsim and the state differ"
"$gpuform" show stack >s.out || fail "show STACK"
grep -q "3 nodes" s.out && grep -q "train\[1\]" s.out || fail "show STACK: $(cat s.out)"
"$gpuform" show --json stack | jq -e '.nodes | length == 3' >/dev/null || fail "show --json STACK"
if "$gpuform" apply plan.json </dev/null >a.out 2>a.err; then
    fail "the same saved plan applied twice"
fi
grep -q "stale: it was made when the stack had no state" a.err || fail "wrong refusal: $(cat a.err)"
echo "ok - plan --out, show, apply FILE makes exactly the saved changes; a second apply of it, a truncated one and one from a newer gpuform are refused"

# ---- 2. stale plans ----
serial="$(jq .serial "$state")"
refused() { # refused NAME PATTERN: apply of NAME.json fails naming PATTERN, nothing changes
    if "$gpuform" apply "$1.json" </dev/null >r.out 2>r.err; then
        fail "$1: a stale plan was applied"
    fi
    grep -q "$2" r.err || fail "$1: the refusal does not say '$2': $(cat r.err)"
    grep -q "Nothing was changed" r.err || fail "$1: no 'Nothing was changed'"
    [ "$(jq .serial "$state")" = "$serial" ] || fail "$1: the refused apply wrote the state"
}
"$gpuform" plan --out spec.json --var trainers=3 stack >/dev/null 2>&1 || fail "plan --var"
sed -i 's/hours: 2/hours: 3/' stack/stack.yaml
refused spec "the stack 'stack' changed since the plan was made"
sed -i 's/hours: 3/hours: 2/' stack/stack.yaml
"$gpuform" plan --out var.json --var trainers=3 stack >/dev/null 2>&1 || fail "plan --var"
GPUFORM_VAR_trainers=4 "$gpuform" plan --out env.json stack >/dev/null 2>&1 || fail "plan with GPUFORM_VAR"
refused env "changed since the plan was made (a spec or hook file, a variable or an environment value"
cp "$src/specs/catalog/gpuform-catalog.csv" cat.csv
"$gpuform" plan --out cat.json --catalog cat.csv stack >/dev/null 2>&1 || fail "plan --catalog"
sed -i '2s/,[^,]*$/,edited by hand/' cat.csv # another source: the same offers, other bytes
refused cat "the catalog cat.csv changed since the plan was made"
echo "ok - a plan is refused after an edit of the spec, an environment variable, the catalog"

# var.json is still good; a state written by another run makes it stale
"$gpuform" apply --auto-approve --var trainers=3 --target 'train[2]' stack </dev/null >a.out 2>a.err ||
    fail "apply --target: $(cat a.err)"
grep -q "Apply complete: 1 created" a.out || fail "apply --target train[2]: $(cat a.out)"
serial="$(jq .serial "$state")"
refused var "the state changed since the plan was made (serial"
"$gpuform" plan --out var.json --var trainers=3 stack >/dev/null 2>&1 || fail "plan --var"
victim="$(jq -r '.nodes[] | select(.address == "eval[0]") | .cloud_id' "$state")"
curl -sf --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    --data "Action=TerminateInstances&InstanceId.1=$victim&Version=2016-11-15" "$url/" >/dev/null ||
    fail "could not terminate $victim out of band"
sleep 0.1

# ---- 4. plan --refresh-only (before the drift is recorded) ----
"$gpuform" plan --refresh-only --detailed-exitcode stack </dev/null >f.out 2>f.err
[ $? = 2 ] || fail "plan --refresh-only --detailed-exitcode did not exit 2: $(cat f.out f.err)"
grep -q "eval\[0\]: gone" f.out || fail "refresh-only does not show the gone node: $(cat f.out)"
[ "$(jq .serial "$state")" = "$serial" ] || fail "plan --refresh-only wrote the state"
"$gpuform" plan --refresh-only --json stack | jq -e '.drift[0].kind == "gone" and .drift[0].address == "eval[0]"' >/dev/null ||
    fail "plan --refresh-only --json"
echo "ok - plan --refresh-only shows the drift, writes nothing, exits 2"

if "$gpuform" apply var.json </dev/null >r.out 2>r.err; then
    fail "a plan made before an out-of-band termination was applied"
fi
grep -q "went away out of band" r.err || fail "the drift refusal: $(cat r.err)"
echo "ok - a plan is refused after a state written by another run, and after drift"

# ---- 3. --target ----
"$gpuform" plan --out t.json --var trainers=3 --target eval stack >/dev/null 2>t.err || fail "plan --target: $(cat t.err)"
jq -e '[.plan.resource_changes[].address] == ["eval[0]"] and .targets == ["eval"]' t.json >/dev/null ||
    fail "plan --target kept other changes: $(jq -c '[.plan.resource_changes[] | [.address, .action]]' t.json)"
"$gpuform" apply t.json </dev/null >a.out 2>a.err || fail "apply of a targeted plan: $(cat a.err)"
grep -q "Apply complete: 1 created" a.out || fail "targeted apply: $(cat a.out)"
[ "$(jq '.nodes | length' "$state")" = 4 ] || fail "the targeted apply made more than eval[0]"
if "$gpuform" plan --target 'nosuch[1]' stack >/dev/null 2>t.err; then fail "an unknown target was accepted"; fi
grep -q "names no node" t.err || fail "unknown target: $(cat t.err)"
"$gpuform" apply --auto-approve stack </dev/null >a.out 2>a.err || fail "apply: $(cat a.err)"
[ "$(live saved)" = "$(jq -r '.nodes[].cloud_id' "$state" | sort)" ] || fail "cloudsim and the state differ"
echo "ok - --target plans and applies only the named workload"

# ---- 6. labels: set as instance tags; a changed label is an update in place (~) ----
tags() { # tags ID: the instance's tags as k=v lines, gpuform's own left out
    curl -sf "$url/_cloudsim/instances" |
        jq -r --arg id "$1" '.. | objects | select(.instance_id? == $id) | .tags | to_entries[] |
               select(.key | startswith("gpuform:") | not) | "\(.key)=\(.value)"' | sort
}
sed -i 's/^  eval:/  eval:\n    labels: { team: evals, tier: gold }/' stack/stack.yaml
"$gpuform" plan --detailed-exitcode stack >u.out 2>u.err
[ $? = 2 ] || fail "a new label is no change: $(cat u.out u.err)"
grep -q "~   eval\[0\] .*labels: +team=evals, +tier=gold" u.out || fail "plan does not show the update: $(cat u.out)"
"$gpuform" plan --json stack | jq -e '.resource_changes[] | select(.address == "eval[0]") |
    .actions == ["update"] and .after.labels == {"team": "evals", "tier": "gold"}' >/dev/null ||
    fail "plan --json: the update"
eval_id="$(jq -r '.nodes[] | select(.address == "eval[0]") | .cloud_id' "$state")"
"$gpuform" apply --auto-approve stack </dev/null >u.out 2>u.err || fail "apply of a label change: $(cat u.err)"
grep -q "Apply complete: 0 created, 0 replaced, 1 updated, 0 destroyed" u.out || fail "update: $(cat u.out)"
[ "$(jq -r '.nodes[] | select(.address == "eval[0]") | .cloud_id' "$state")" = "$eval_id" ] ||
    fail "the update replaced the instance"
[ "$(tags "$eval_id" | tr '\n' ' ')" = "team=evals tier=gold " ] || fail "cloudsim's tags: $(tags "$eval_id")"
sed -i -e 's/team: evals, tier: gold/team: research/' stack/stack.yaml
"$gpuform" plan stack | grep -q "labels: team=research (was evals) -tier" || fail "the second label change"
"$gpuform" apply --auto-approve stack </dev/null >u.out 2>u.err || fail "apply: $(cat u.err)"
[ "$(tags "$eval_id")" = "team=research" ] || fail "tags after the second update: $(tags "$eval_id")"
jq -e '.nodes[] | select(.address == "eval[0]") | .labels == {"team": "research"}' "$state" >/dev/null ||
    fail "the state's labels"
"$gpuform" plan --detailed-exitcode stack >/dev/null 2>&1 || fail "a plan after the update shows changes"
echo "ok - labels are instance tags: a change is an update in place (~), applied without a new instance"

# ---- 5. two applies at once ----
# a slow cloud: every call 300-400 ms, so the first apply holds the lock a while
kill "$pid" && wait "$pid" 2>/dev/null
sed -i 's/latency_ms: .*/latency_ms: { min: 300, max: 400 }/' "$tmp/world.yaml"
start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" || fail "cloudsim did not restart"
mkdir two
sed 's/stack: saved/stack: two/' stack/stack.yaml >two/stack.yaml
"$gpuform" apply --auto-approve two </dev/null >1.out 2>1.err &
first=$!
for _ in $(seq 1 100); do
    [ -s two/.gpuform/state.json.lock ] && break
    sleep 0.05
done
start=$(date +%s%N)
if "$gpuform" apply --auto-approve two </dev/null >2.out 2>2.err; then
    fail "a second apply ran while the first held the lock"
fi
elapsed=$((($(date +%s%N) - start) / 1000000))
grep -q "locked by .*pid $first.*apply" 2.err || fail "the refusal does not name the holder: $(cat 2.err)"
wait "$first" || fail "the first apply failed: $(cat 1.err)"
# fast: well under the first apply's run; generous for a loaded machine
[ "$elapsed" -lt 3000 ] || fail "the second apply took ${elapsed} ms to give up"
"$gpuform" apply --auto-approve two </dev/null >3.out 2>3.err || fail "apply after the first finished: $(cat 3.err)"
grep -q "No changes" 3.out || fail "the third apply: $(cat 3.out)"
echo "ok - a second apply fails at once naming the holder; the first is unharmed"

mkdir three
sed 's/stack: saved/stack: three/' stack/stack.yaml >three/stack.yaml
"$gpuform" apply --auto-approve three </dev/null >1.out 2>1.err &
first=$!
for _ in $(seq 1 100); do
    [ -s three/.gpuform/state.json.lock ] && break
    sleep 0.05
done
"$gpuform" apply --auto-approve --lock-timeout 2m three </dev/null >2.out 2>2.err ||
    fail "apply --lock-timeout did not wait for the lock: $(cat 2.err)"
wait "$first" || fail "the first apply failed: $(cat 1.err)"
grep -q "Apply complete: 3 created" 1.out || fail "the first apply: $(cat 1.out)"
grep -q "No changes" 2.out || fail "the waiting apply did not see the first one's work: $(cat 2.out)"
echo "ok - --lock-timeout waits for the holder, then plans against what it made"
exit 0
