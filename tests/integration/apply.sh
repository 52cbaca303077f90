#!/usr/bin/env bash
# apply and destroy with the real binary (issue 5):
#  1. `gpuform apply --sim --auto-approve` on a copy of specs/examples/hello-world: the state
#     and cloudsim's world (cloudsim.json beside the state) hold the same instance; plan then
#     shows no changes; apply again changes nothing; destroy without --auto-approve and
#     without a terminal refuses; destroy leaves nothing alive.
#  2. Chaos (then 3. SIGTERM, 4. drift: an instance terminated out of band is made again): against a separate `gpuform cloudsim` (so the cloud outlives the killed run),
#     apply and destroy a 6-node stack in turn, kill -9 each at 100 seeded random moments
#     (GPUFORM_CHAOS_ROUNDS), re-run it to
#     the end, and check each time that cloudsim's live instances of the stack are exactly
#     the state's: no orphan, no duplicate.
#   apply.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2

# ---- 1. --sim on hello-world ----
hw="$tmp/hello-world"
cp -r "$src/specs/examples/hello-world" "$hw"
"$gpuform" apply --sim --auto-approve "$hw" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "apply --sim: $(cat "$tmp/err")"
grep -q "Apply complete: 1 created" "$tmp/out" || fail "apply summary: $(cat "$tmp/out")"
state="$hw/.gpuform/state.json"
world="$hw/.gpuform/cloudsim.json"
ids_state() { jq -r '.nodes[].cloud_id' "$1" | sort; }
ids_world() { jq -r '.instances[] | select(.state < 32) | .id' "$1" | sort; }
[ "$(ids_state "$state" | wc -l)" = 1 ] || fail "the state holds $(ids_state "$state" | wc -l) nodes"
[ "$(ids_state "$state")" = "$(ids_world "$world")" ] || fail "state and cloudsim differ"
[ ! -s "$state.journal" ] || fail "the journal was left after a complete apply"
echo "ok - apply --sim created the node; the state and cloudsim agree"

"$gpuform" plan --detailed-exitcode "$hw" >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] || fail "plan after apply shows changes: $(cat "$tmp/out" "$tmp/err")"
"$gpuform" apply --sim --auto-approve "$hw" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "second apply: $(cat "$tmp/err")"
grep -q "No changes" "$tmp/out" || fail "second apply changed something: $(cat "$tmp/out")"
echo "ok - plan and a second apply show no changes"

if "$gpuform" destroy --sim "$hw" </dev/null >"$tmp/out" 2>"$tmp/err"; then
    fail "destroy without --auto-approve and without a terminal went ahead"
fi
grep -q "auto-approve" "$tmp/err" || fail "the refusal does not name --auto-approve"
[ "$(ids_world "$world" | wc -l)" = 1 ] || fail "the refused destroy changed cloudsim"
"$gpuform" destroy --sim --auto-approve "$hw" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "destroy: $(cat "$tmp/err")"
[ "$(jq '.nodes | length' "$state")" = 0 ] || fail "destroy left nodes in the state"
[ -z "$(ids_world "$world")" ] || fail "destroy left instances alive in cloudsim"
echo "ok - destroy needs --auto-approve without a terminal, then leaves nothing"

cp "$state" "$tmp/good.json"
printf '{"format_version": 1, "lineage": ' >"$state" # truncated
if "$gpuform" apply --sim --auto-approve "$hw" </dev/null >"$tmp/out" 2>"$tmp/err"; then
    fail "apply went ahead over a truncated state"
fi
grep -q "state.json.backup" "$tmp/err" || fail "the refusal does not name the backup: $(cat "$tmp/err")"
[ "$(cat "$state")" = '{"format_version": 1, "lineage": ' ] || fail "the truncated state was written over"
echo "ok - a truncated state is refused, naming the backup, and left as it is"

# ---- 2. chaos: kill -9 at seeded random moments ----
export AWS_ACCESS_KEY_ID=AKIDAPPLYCHAOS AWS_SECRET_ACCESS_KEY='apply/chaos+secret'
cat >"$tmp/world.yaml" <<'YAML'
seed: 5
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
latency_ms: { min: 5, max: 60 }
throttle:
  run_instances: { burst: 1000, refill_per_second: 100 }
  terminate_instances: { burst: 1000, refill_per_second: 100 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" || fail "cloudsim did not start: $(cat "$tmp/sim.err")"
stack="$tmp/chaos"
mkdir -p "$stack"
cat >"$stack/stack.yaml" <<'YAML'
version: 1
stack: chaos
clouds:
  aws: { regions: [us-east-1] }
workloads:
  train:
    kind: training
    gpu: A10G:1
    nodes: 6
    hours: 4
    verify: none # gating is verify-gate.sh's; here it would only slow the rounds
YAML
cstate="$stack/.gpuform/state.json"

# cloudsim's live instances of the stack: "ID ADDRESS" lines, sorted
live_world() {
    curl -sf "$url/_cloudsim/instances" |
        jq -r '.. | objects | select(has("instance_id")) |
               select(.state == "pending" or .state == "running") |
               select(.tags["gpuform:stack"] == "chaos") |
               "\(.instance_id) \(.tags["gpuform:address"])"' | sort
}
live_state() {
    [ -f "$cstate" ] || return 0
    jq -r '.nodes[] | "\(.cloud_id) \(.address)"' "$cstate" | sort
}

RANDOM=20261121 # seeded: the same kill moments every run
settled=0
rounds="${GPUFORM_CHAOS_ROUNDS:-100}"
for i in $(seq 1 "$rounds"); do
    cmd=apply
    [ $((i % 2)) = 0 ] && cmd=destroy # every round has work to interrupt
    delay_ms=$((50 + RANDOM % 450))
    "$gpuform" "$cmd" --auto-approve --parallelism 3 "$stack" </dev/null >"$tmp/c.out" 2>"$tmp/c.err" &
    victim=$!
    sleep "$(printf '0.%03d' "$delay_ms")"
    kill -9 "$victim" 2>/dev/null
    wait "$victim" 2>/dev/null
    "$gpuform" "$cmd" --auto-approve --parallelism 3 "$stack" </dev/null >"$tmp/c.out" 2>"$tmp/c.err" ||
        fail "round $i: $cmd after kill -9 at ${delay_ms} ms failed: $(cat "$tmp/c.out" "$tmp/c.err")"
    grep -q "left by a run that did not finish" "$tmp/c.err" && settled=$((settled + 1))
    w="$(live_world)"
    s="$(live_state)"
    [ "$w" = "$s" ] || fail "round $i ($cmd, killed at ${delay_ms} ms): cloudsim has
$w
but the state has
$s"
    want=6
    [ "$cmd" = destroy ] && want=0
    [ "$(printf '%s' "$w" | grep -c .)" = "$want" ] ||
        fail "round $i: $want live instances expected, cloudsim has $(printf '%s' "$w" | grep -c .)"
    dups="$(printf '%s\n' "$w" | awk 'NF {print $2}' | sort | uniq -d)"
    [ -z "$dups" ] || fail "round $i: duplicate instances for $dups"
done
echo "ok - $rounds kill -9 rounds ($settled killed mid-change, settled from the journal): cloudsim's" \
    "live instances equal the state's, no orphan, no duplicate"

# ---- 3. SIGTERM while creating: the calls in flight finish, the state is saved ----
sstack="$tmp/sigs"
mkdir -p "$sstack"
sed -e 's/stack: chaos/stack: sigs/' -e 's/nodes: 6/nodes: 12/' "$stack/stack.yaml" >"$sstack/stack.yaml"
"$gpuform" apply --auto-approve --parallelism 1 "$sstack" </dev/null >"$tmp/s.out" 2>"$tmp/s.err" &
victim=$!
for _ in $(seq 1 400); do
    grep -q "creating" "$tmp/s.err" && break
    sleep 0.05
done
grep -q "creating" "$tmp/s.err" || fail "the apply to interrupt never started creating: $(cat "$tmp/s.err")"
kill -TERM "$victim"
wait "$victim"
src_rc=$?
[ "$src_rc" = 1 ] || fail "apply after SIGTERM exited $src_rc, not 1: $(cat "$tmp/s.out" "$tmp/s.err")"
grep -q "starting nothing new" "$tmp/s.err" || fail "no message for SIGTERM: $(cat "$tmp/s.err")"
grep -q "Apply interrupted" "$tmp/s.out" || fail "no interrupted summary: $(cat "$tmp/s.out")"
[ ! -s "$sstack/.gpuform/state.json.journal" ] || fail "the journal was left after a clean stop"
sstate="$sstack/.gpuform/state.json"
sw="$(curl -sf "$url/_cloudsim/instances" |
    jq -r '.. | objects | select(has("instance_id")) | select(.tags["gpuform:stack"] == "sigs") |
           select(.state == "pending" or .state == "running") | .instance_id' | sort)"
[ "$sw" = "$(jq -r '.nodes[].cloud_id' "$sstate" | sort)" ] ||
    fail "after SIGTERM cloudsim and the state differ"
"$gpuform" apply --auto-approve "$sstack" </dev/null >"$tmp/s.out" 2>"$tmp/s.err" ||
    fail "apply after SIGTERM: $(cat "$tmp/s.err")"
[ "$(jq '.nodes | length' "$sstate")" = 12 ] || fail "the re-run did not finish the stack"
echo "ok - SIGTERM: calls in flight finished and recorded, exit 1; the re-run completes"

# ---- 4. drift: an instance terminated out of band is found by refresh and made again ----
victim_id="$(jq -r '.nodes[0].cloud_id' "$sstate")"
curl -sf --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    --data "Action=TerminateInstances&InstanceId.1=$victim_id&Version=2016-11-15" "$url/" >/dev/null ||
    fail "could not terminate $victim_id out of band"
"$gpuform" apply --auto-approve "$sstack" </dev/null >"$tmp/d.out" 2>"$tmp/d.err" ||
    fail "apply after out-of-band termination: $(cat "$tmp/d.err")"
grep -q ": gone: " "$tmp/d.err" || fail "refresh did not report the terminated instance: $(cat "$tmp/d.err")"
grep -q "Apply complete: 1 created" "$tmp/d.out" || fail "the node was not made again: $(cat "$tmp/d.out")"
sw="$(curl -sf "$url/_cloudsim/instances" |
    jq -r '.. | objects | select(has("instance_id")) | select(.tags["gpuform:stack"] == "sigs") |
           select(.state == "pending" or .state == "running") | .instance_id' | sort)"
[ "$sw" = "$(jq -r '.nodes[].cloud_id' "$sstate" | sort)" ] || fail "after the drift apply cloudsim and the state differ"
! printf '%s\n' "$sw" | grep -qx "$victim_id" || fail "the terminated instance is still counted"
echo "ok - drift: refresh reports the instance terminated out of band, apply makes it again"

# `gpuform refresh` alone: records the loss, creates nothing
victim_id="$(jq -r '.nodes[1].cloud_id' "$sstate")"
curl -sf --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    --data "Action=TerminateInstances&InstanceId.1=$victim_id&Version=2016-11-15" "$url/" >/dev/null ||
    fail "could not terminate $victim_id out of band"
"$gpuform" refresh "$sstack" </dev/null >"$tmp/r.out" 2>"$tmp/r.err" || fail "refresh: $(cat "$tmp/r.err")"
grep -q ": gone: " "$tmp/r.err" || fail "refresh did not report the loss: $(cat "$tmp/r.err")"
[ "$(jq '.nodes | length' "$sstate")" = 11 ] || fail "refresh did not take the lost node out of the state"
"$gpuform" plan --detailed-exitcode "$sstack" >/dev/null 2>&1
[ $? = 2 ] || fail "plan after refresh does not show the node to make again"
echo "ok - gpuform refresh records an instance lost out of band; plan then shows it to create"

# ---- 5. lifecycle policies: after_apply hears of each node, before_apply vetoes a delete ----
pstack="$tmp/policy"
mkdir -p "$pstack"
cp "$src/specs/policies/change-freeze.lua" "$pstack/"
sed -e 's/stack: chaos/stack: frozen/' -e 's/nodes: 6/nodes: 2/' "$stack/stack.yaml" >"$pstack/stack.yaml"
echo "hooks: [change-freeze.lua]" >>"$pstack/stack.yaml"
"$gpuform" apply --auto-approve "$pstack" </dev/null >"$tmp/p.out" 2>"$tmp/p.err" ||
    fail "apply with policies: $(cat "$tmp/p.err")"
[ "$(grep -c "^policy: made train\[" "$tmp/p.err")" = 2 ] || fail "after_apply was not called per node: $(cat "$tmp/p.err")"
sed -i 's/nodes: 2/nodes: 1/' "$pstack/stack.yaml"
if "$gpuform" apply --auto-approve "$pstack" </dev/null >"$tmp/p.out" 2>"$tmp/p.err"; then
    fail "the change freeze did not stop a delete"
fi
grep -q "delete train\[1\]: policy 'change-freeze.lua' vetoed it: change freeze" "$tmp/p.err" ||
    fail "no veto message: $(cat "$tmp/p.err")"
[ "$(jq '.nodes | length' "$pstack/.gpuform/state.json")" = 2 ] || fail "the vetoed apply changed the state"
echo "ok - policies: after_apply hears of each node made, before_apply's veto stops a delete"

# ---- 6. import: an instance made behind gpuform's back is reported, then adopted ----
body="Action=RunInstances&Version=2016-11-15&ImageId=ami-1&InstanceType=g5.xlarge&MinCount=1&MaxCount=1"
body="$body&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=gpuform%3Astack"
body="$body&TagSpecification.1.Tag.1.Value=chaos"
stray="$(curl -sf --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    --data "$body" "$url/" | sed -n 's:.*<instanceId>\(i-[0-9a-f]*\)</instanceId>.*:\1:p' | head -1)"
[ -n "$stray" ] || fail "could not make an instance behind gpuform's back"
"$gpuform" refresh "$stack" </dev/null >"$tmp/i.out" 2>"$tmp/i.err" || fail "refresh: $(cat "$tmp/i.err")"
grep -q "not in the state: .*$stray.*gpuform import" "$tmp/i.err" ||
    fail "refresh did not report the unknown instance: $(cat "$tmp/i.err")"
if "$gpuform" import 'nosuch[9]' "$stray" "$stack" </dev/null >/dev/null 2>"$tmp/i.err"; then
    fail "import took an address the stack doesn't have"
fi
grep -q "is not a node of the stack" "$tmp/i.err" || fail "wrong refusal: $(cat "$tmp/i.err")"
"$gpuform" import 'train[0]' "$stray" "$stack" </dev/null >"$tmp/i.out" 2>"$tmp/i.err" ||
    fail "import: $(cat "$tmp/i.err")"
[ "$(jq -r '.nodes[] | select(.address == "train[0]") | .cloud_id' "$cstate")" = "$stray" ] ||
    fail "the state does not hold the imported instance"
if "$gpuform" import 'train[1]' "$stray" "$stack" </dev/null >/dev/null 2>"$tmp/i.err"; then
    fail "the same instance was imported twice"
fi
"$gpuform" plan --json "$stack" 2>/dev/null | jq -e '.resource_changes[] | select(.address == "train[0]") | .action == "no-op"' >/dev/null ||
    fail "plan does not keep the imported node"
echo "ok - import: refresh reports the stray instance, import adopts it once, plan keeps it"
exit 0
