#!/usr/bin/env bash
# Verifications left pending by an interrupted run (docs/verify.md, "Gated apply"), with the
# real binary on `apply --sim`:
#  a. a run interrupted (SIGINT) while it waits for a node's report leaves the node in the
#     state as verify "pending" (the create-done record says so, before the wait), and the
#     node counts as a change: plan shows it and --detailed-exitcode exits 2;
#  b. the next apply finishes it: the report that never came fails it, on_verify is asked
#     (seeing it failed), the offer is blocklisted and the node replaced elsewhere, where it
#     passes;
#  c. a node whose report is on its console (a run killed after the agent reported) is
#     verified by the next apply without a new instance, --target leaves the others, and a
#     saved plan carries the verification;
#  d. a workload that no longer asks for verification leaves a pending node as it is.
#   verify-pending.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2

# A stack of NODES A10G nodes on aws (us-east-1, us-west-2), verified at LEVEL, with HOOK (a
# policy file's text) when given. stack DIR NODES LEVEL [HOOK]
stack() {
    mkdir -p "$1"
    cat >"$1/stack.yaml" <<EOF
version: 1
stack: pending
clouds:
  aws: { regions: [us-east-1, us-west-2] }
workloads:
  chat: { kind: training, gpu: A10G:1, nodes: $2, hours: 4, verify: $3 }
EOF
    if [ -n "${4:-}" ]; then
        mkdir -p "$1/policies"
        printf '%s\n' "$4" >"$1/policies/verify.lua"
        echo "hooks: [policies/verify.lua]" >>"$1/stack.yaml"
    fi
}

# The world: fast lifecycle, and a FAULT line ("KEY: FAULT") for the verify agent. world FILE [FAULT]
world() {
    printf 'seed: 7\ntime_scale: 0.001\nclouds:\n  aws:\n    regions: [us-east-1, us-west-2]\n' >"$1"
    [ -z "${2:-}" ] || printf 'verify:\n  faults:\n    %s\n' "$2" >>"$1"
}

apply() { # apply DIR WORLD [ARGS...]: output in $tmp/out and $tmp/err, status in $rc
    local dir="$1" w="$2"
    shift 2
    "$gpuform" apply --sim="$w" --auto-approve "$@" "$dir" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

node() { jq -r --arg a "$2" ".nodes[] | select(.address == \$a) | $3" "$1/.gpuform/state.json"; }
live() { jq '[.instances[] | select(.state < 32)] | length' "$1/.gpuform/cloudsim.json"; }

# ---- a. interrupted while waiting for the report: the state says pending ----
a="$tmp/a"
# on_verify sees the pending node as failed, as it will be recorded
stack "$a" 1 quick 'function on_verify(node, report)
  assert(node.verify.result == "failed", "verify.result is " .. tostring(node.verify.result))
  assert(node.verify.detail:find("^no verify report within 2s of its create"), node.verify.detail)
  assert(report.status == "missing")
  return "replace"
end'
world "$tmp/w-silent.yaml" "us-east-1a/g5.xlarge: silent"
"$gpuform" apply --sim="$tmp/w-silent.yaml" --auto-approve --verify-timeout 60s "$a" \
    </dev/null >"$tmp/out" 2>"$tmp/err" &
apid=$!
for _ in $(seq 1 200); do # the node is in the state while apply waits for its report
    [ -f "$a/.gpuform/state.json" ] && [ -n "$(node "$a" "chat[0]" .cloud_id 2>/dev/null)" ] && break
    sleep 0.05
done
[ "$(node "$a" "chat[0]" .verify.result)" = pending ] ||
    fail "a: the created node is not recorded pending: $(cat "$a/.gpuform/state.json" 2>&1)"
for _ in $(seq 1 100); do grep -q "^chat\[0\]: verifying quick" "$tmp/err" && break; sleep 0.05; done
kill -INT "$apid"
wait "$apid"
arc=$?
[ "$arc" != 0 ] || fail "a: an interrupted apply exited 0"
grep -q "^chat\[0\]: verification interrupted; the node is kept, its verification pending" \
    "$tmp/err" || fail "a: the interrupt is not shown: $(cat "$tmp/err")"
[ "$(node "$a" "chat[0]" .verify.result)" = pending ] || fail "a: not left pending"
[ "$(node "$a" "chat[0]" .status)" = running ] || fail "a: the node is not running"
old_id="$(node "$a" "chat[0]" .cloud_id)"
"$gpuform" show "$a" | grep -q "pending" || fail "a: show does not say pending: $("$gpuform" show "$a")"
"$gpuform" plan --detailed-exitcode "$a" >"$tmp/plan" 2>"$tmp/plan.err"
prc=$?
[ "$prc" = 2 ] || fail "a: plan --detailed-exitcode exited $prc: $(cat "$tmp/plan" "$tmp/plan.err")"
grep -q "0 to update, 1 to verify, 0 to delete" "$tmp/plan" || fail "a: plan's summary: $(cat "$tmp/plan")"
grep -q "^  ~   chat\[0\] .*(verify quick: left pending by an interrupted run)" "$tmp/plan" ||
    fail "a: plan does not show the pending verification: $(cat "$tmp/plan")"
"$gpuform" plan --json "$a" 2>/dev/null | jq -e --arg id "$old_id" '.resource_changes[0] |
    .action == "verify" and .actions == ["read"] and .before.id == $id' >/dev/null ||
    fail "a: plan --json: $("$gpuform" plan --json "$a" 2>&1 | jq -c .resource_changes)"
echo "ok - a: an interrupted verification leaves the node pending, and plan shows it"

# ---- b. the next apply finishes it: no report, so replaced elsewhere ----
apply "$a" "$tmp/w-silent.yaml" --verify-timeout 2s
[ "$rc" = 0 ] || fail "b: apply failed: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verifying quick, left pending by an interrupted run" "$tmp/err" ||
    fail "b: the pending verification is not shown: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verification failed: no verify report within 2s of its create" "$tmp/err" ||
    fail "b: no failure: $(cat "$tmp/err")"
grep -q "^chat\[0\]: replacing the node that failed verification at aws us-east-1 g5.xlarge" \
    "$tmp/err" || fail "b: not replaced: $(cat "$tmp/err")"
[ "$(node "$a" "chat[0]" .placement.region)" = us-west-2 ] || fail "b: not moved to us-west-2"
[ "$(node "$a" "chat[0]" .verify.result)" = passed ] || fail "b: the replacement is not passed"
[ "$(node "$a" "chat[0]" .cloud_id)" != "$old_id" ] || fail "b: the same instance"
[ "$(live "$a")" = 1 ] || fail "b: the unverified instance was not destroyed"
grep -q "1 verified, 1 replaced after failing verification" "$tmp/out" ||
    fail "b: the summary: $(cat "$tmp/out")"
echo "ok - b: the next apply fails a pending node that never reported, and replaces it"

# ---- c. a report on the console: verified without a new instance; --target ----
c="$tmp/c"
stack "$c" 2 quick
world "$tmp/w-clean.yaml"
apply "$c" "$tmp/w-clean.yaml"
[ "$rc" = 0 ] || fail "c: apply failed: $(cat "$tmp/err")"
# as a run killed after both agents reported but before it read them would leave it
jq '(.nodes[] | .verify) |= {result: "pending", detail: ""}' "$c/.gpuform/state.json" >"$tmp/s" &&
    cp "$tmp/s" "$c/.gpuform/state.json"
ids="$(jq -c '[.nodes[].cloud_id]' "$c/.gpuform/state.json")"
apply "$c" "$tmp/w-clean.yaml" --target "chat[1]"
[ "$rc" = 0 ] || fail "c: apply --target failed: $(cat "$tmp/err")"
grep -q "^chat\[1\]: verified quick: passed" "$tmp/err" || fail "c: chat[1] not verified: $(cat "$tmp/err")"
[ "$(node "$c" "chat[1]" .verify.result)" = passed ] || fail "c: chat[1] not recorded passed"
[ "$(node "$c" "chat[0]" .verify.result)" = pending ] || fail "c: --target verified chat[0] too"
"$gpuform" plan --out "$tmp/p.json" "$c" >/dev/null 2>&1 || fail "c: plan --out failed"
"$gpuform" show "$tmp/p.json" | grep -q "^  ~   chat\[0\]  aws/.*# verify quick: left pending" ||
    fail "c: the saved plan: $("$gpuform" show "$tmp/p.json")"
"$gpuform" apply --sim="$tmp/w-clean.yaml" "$tmp/p.json" </dev/null >"$tmp/out" 2>"$tmp/err"
[ "$?" = 0 ] || fail "c: apply of the saved plan failed: $(cat "$tmp/err")"
grep -q "0 to update, 1 to verify, 0 to delete, 1 unchanged" "$tmp/out" ||
    fail "c: the change set: $(cat "$tmp/out")"
grep -q "^chat\[0\]: verified quick: passed" "$tmp/err" || fail "c: chat[0] not verified: $(cat "$tmp/err")"
! grep -q "creating" "$tmp/err" || fail "c: a node was created: $(cat "$tmp/err")"
[ "$(jq -c '[.nodes[].cloud_id]' "$c/.gpuform/state.json")" = "$ids" ] || fail "c: instances changed"
[ "$(node "$c" "chat[0]" .verify.result)" = passed ] || fail "c: chat[0] not recorded passed"
grep -q "0 created, 0 replaced, 0 updated, 0 destroyed, 0 failed; 1 verified" "$tmp/out" ||
    fail "c: the summary: $(cat "$tmp/out")"
apply "$c" "$tmp/w-clean.yaml"
grep -q "^No changes" "$tmp/out" || fail "c: verified nodes are still a change: $(cat "$tmp/out")"
echo "ok - c: a pending node whose report is on its console is verified in place; --target holds"

# ---- d. the workload no longer asks for verification: left pending, no change ----
d="$tmp/d"
cp -r "$c" "$d"
jq '(.nodes[] | .verify) |= {result: "pending", detail: ""}' "$d/.gpuform/state.json" >"$tmp/s" &&
    cp "$tmp/s" "$d/.gpuform/state.json"
stack "$d" 2 none
"$gpuform" plan --detailed-exitcode "$d" >"$tmp/plan" 2>&1
prc=$?
[ "$prc" = 0 ] || fail "d: plan says there are changes ($prc): $(cat "$tmp/plan")"
apply "$d" "$tmp/w-clean.yaml"
grep -q "^No changes" "$tmp/out" || fail "d: apply: $(cat "$tmp/out" "$tmp/err")"
[ "$(node "$d" "chat[0]" .verify.result)" = pending ] || fail "d: the pending node was changed"
echo "ok - d: a workload without verification leaves a pending node as it is"
