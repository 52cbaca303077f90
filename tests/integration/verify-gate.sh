#!/usr/bin/env bash
# Verification-gated apply (issue 8 §5) with the real binary on `apply --sim`: cloudsim's
# verify agent runs the verify module on this host for each node whose boot script carries
# gpuform's agent and signs the report with the node's key; apply reads it from the console.
#  a. every node shows its verification, and the state records it (passed, with a detail);
#  b. an injected memory fault in one zone/type: those nodes are replaced in another place
#     and the offer is blocklisted ("verify failed: memory");
#  c. a report signed with another key is rejected as not authenticated, and replaced;
#  d. an on_verify policy returning "taint" keeps the node tainted; "accept" keeps it accepted;
#  e. a policy returning anything else fails cleanly, naming its file and line;
#  f. a node that fails on every placement is left tainted and failed, and apply fails.
# Verifications left pending by an interrupted run:
#  g. a run interrupted (SIGINT) while it waits for a node's report leaves the node in the
#     state as verify "pending" (the create-done record says so, before the wait), and the
#     node counts as a change: plan shows it and --detailed-exitcode exits 2;
#  h. the next apply finishes it: the report that never came fails it, on_verify is asked
#     (seeing it failed), the offer is blocklisted and the node replaced elsewhere, where it
#     passes;
#  i. a node whose report is on its console (a run killed after the agent reported) is
#     verified by the next apply without a new instance, --target leaves the others, and a
#     saved plan carries the verification;
#  j. a workload that no longer asks for verification leaves a pending node as it is.
#   verify-gate.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2

# A stack of NODES A10G nodes on aws (us-east-1, us-west-2) with verify: quick, and HOOK
# (a policy file's text) when given. stack DIR NODES [HOOK]
stack() {
    mkdir -p "$1"
    cat >"$1/stack.yaml" <<EOF
version: 1
stack: gate
clouds:
  aws: { regions: [us-east-1, us-west-2] }
workloads:
  chat: { kind: training, gpu: A10G:1, nodes: $2, hours: 4, verify: quick }
EOF
    if [ -n "${3:-}" ]; then
        mkdir -p "$1/policies"
        printf '%s\n' "$3" >"$1/policies/verify.lua"
        echo "hooks: [policies/verify.lua]" >>"$1/stack.yaml"
    fi
}

# The world: fast lifecycle, and FAULTS ("KEY: FAULT" lines) for the verify agent. world FILE [FAULTS]
world() {
    cat >"$1" <<EOF
seed: 7
time_scale: 0.001
clouds:
  aws:
    regions: [us-east-1, us-west-2]
EOF
    if [ -n "${2:-}" ]; then
        printf 'verify:\n  faults:\n' >>"$1"
        printf '    %s\n' "$2" >>"$1"
    fi
}

apply() { # apply DIR WORLD [ARGS...]: output in $tmp/out and $tmp/err, status in $rc
    local dir="$1" w="$2"
    shift 2
    "$gpuform" apply --sim="$w" --auto-approve "$@" "$dir" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

node() { jq -r --arg a "$2" ".nodes[] | select(.address == \$a) | $3" "$1/.gpuform/state.json"; }

# replaced_west DIR CASE: chat[0] failed at us-east-1 and was replaced by one in us-west-2
# that passed (the apply's output in $tmp/err).
replaced_west() {
    grep -q "^chat\[0\]: replacing the node that failed verification at aws us-east-1 g5.xlarge" \
        "$tmp/err" || fail "$2: no replacement: $(cat "$tmp/err")"
    [ "$(node "$1" "chat[0]" .placement.region)" = us-west-2 ] || fail "$2: not moved to us-west-2"
    [ "$(node "$1" "chat[0]" .verify.result)" = passed ] || fail "$2: the replacement is not passed"
}

# ---- a. every node verified, and the state says so ----
a="$tmp/a"
stack "$a" 2
world "$tmp/w-clean.yaml"
apply "$a" "$tmp/w-clean.yaml"
[ "$rc" = 0 ] || fail "a: apply failed: $(cat "$tmp/err")"
for i in 0 1; do
    grep -q "^chat\[$i\]: verified quick: passed ([0-9]* checks, [0-9.]* s)" "$tmp/err" ||
        fail "a: chat[$i]'s verification is not shown: $(cat "$tmp/err")"
    [ "$(node "$a" "chat[$i]" .verify.result)" = passed ] || fail "a: chat[$i] not recorded passed"
    node "$a" "chat[$i]" .verify.detail | grep -q "^quick: passed (" ||
        fail "a: chat[$i]'s detail: $(node "$a" "chat[$i]" .verify.detail)"
done
grep -q "2 verified" "$tmp/out" || fail "a: the summary does not count them: $(cat "$tmp/out")"
jq -e '[.instances[] | select(.metadata_tags == true)] | length == 2' "$a/.gpuform/cloudsim.json" \
    >/dev/null || fail "a: the verified nodes were not launched with their tags in metadata"
jq -e '.verify_secret | test("^[0-9a-f]{64}$")' "$a/.gpuform/state.json" >/dev/null ||
    fail "a: the state has no verify secret"
"$gpuform" show --json "$a" | jq -e 'has("verify_secret") | not' >/dev/null ||
    fail "a: show --json prints the verify secret"
if grep -q "$(jq -r .verify_secret "$a/.gpuform/state.json")" "$tmp/out" "$tmp/err"; then
    fail "a: the secret was printed"
fi
echo "ok - a: each node's verification is shown and recorded"

# ---- b. a memory fault in us-east-1: replaced in us-west-2, the offer blocklisted ----
b="$tmp/b"
stack "$b" 1
world "$tmp/w-mem.yaml" "us-east-1a/g5.xlarge: mem_bitflip"
apply "$b" "$tmp/w-mem.yaml"
[ "$rc" = 0 ] || fail "b: apply failed: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verification failed: verify failed: memory (gpu0 memory: " "$tmp/err" ||
    fail "b: the failure is not shown: $(cat "$tmp/err")"
replaced_west "$b" b
jq -e '[.blocklist[] | select(.region == "us-east-1" and .instance_type == "g5.xlarge" and
        .error_class == "verify" and .message == "verify failed: memory")] | length == 2' \
    "$b/.gpuform/state.json" >/dev/null || fail "b: the offer is not blocklisted: $(jq .blocklist "$b/.gpuform/state.json")"
[ "$(jq '[.instances[] | select(.state < 32)] | length' "$b/.gpuform/cloudsim.json")" = 1 ] ||
    fail "b: the failed instance was not destroyed"
echo "ok - b: a node failing its memory check is replaced elsewhere and its offer blocklisted"

# ---- c. a forged report ----
c="$tmp/c"
stack "$c" 1
world "$tmp/w-forge.yaml" "us-east-1a: forge"
apply "$c" "$tmp/w-forge.yaml"
[ "$rc" = 0 ] || fail "c: apply failed: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verification failed: verify report not authenticated: MAC mismatch (a report signed with another key)" \
    "$tmp/err" || fail "c: the forged report was not rejected: $(cat "$tmp/err")"
[ "$(node "$c" "chat[0]" .placement.region)" = us-west-2 ] || fail "c: not replaced"
echo "ok - c: a report signed with another key is rejected and the node replaced"

# ---- d. on_verify: taint, then accept ----
world "$tmp/w-all.yaml" "g5.xlarge: gemm_corrupt"
d="$tmp/d"
stack "$d" 1 'function on_verify(node, report)
  assert(node.address == "chat[0]" and report.status == "fail")
  assert(report.reason == "verify failed: gemm")
  return "taint"
end'
apply "$d" "$tmp/w-all.yaml"
[ "$rc" = 0 ] || fail "d: apply with taint failed: $(cat "$tmp/err")"
grep -q "^chat\[0\]: kept, tainted: policy 'policies/verify.lua' said taint" "$tmp/err" ||
    fail "d: no taint: $(cat "$tmp/err")"
[ "$(node "$d" "chat[0]" .tainted)" = true ] || fail "d: the node is not tainted"
[ "$(node "$d" "chat[0]" .verify.result)" = failed ] || fail "d: not recorded failed"
[ "$(node "$d" "chat[0]" .status)" = running ] || fail "d: a tainted node should still run"
d2="$tmp/d2"
stack "$d2" 1 'on_verify = function(node, report) return "accept" end'
apply "$d2" "$tmp/w-all.yaml"
[ "$rc" = 0 ] || fail "d: apply with accept failed: $(cat "$tmp/err")"
[ "$(node "$d2" "chat[0]" .verify.result)" = accepted ] || fail "d: not recorded accepted"
node "$d2" "chat[0]" .verify.detail | grep -q "^accepted by policy 'policies/verify.lua': verify failed: gemm" ||
    fail "d: accepted detail: $(node "$d2" "chat[0]" .verify.detail)"
[ "$(node "$d2" "chat[0]" .tainted)" = false ] || fail "d: an accepted node is tainted"
echo "ok - d: on_verify's taint and accept keep the node as they say"

# ---- e. a policy returning garbage ----
e="$tmp/e"
stack "$e" 1 '-- decides nothing useful

function on_verify(node, report)
  return 42
end'
apply "$e" "$tmp/w-all.yaml"
[ "$rc" != 0 ] || fail "e: apply succeeded with a broken policy"
grep -q "^chat\[0\]: on_verify failed (.*policies/verify.lua:3:.*on_verify must return \"accept\", \"replace\" or \"taint\", not a number" \
    "$tmp/err" || fail "e: the policy error is not located: $(cat "$tmp/err")"
[ "$(node "$e" "chat[0]" .tainted)" = true ] || fail "e: the node is not left tainted"
echo "ok - e: a policy returning garbage fails cleanly, with its file and line"

# ---- f. failing everywhere: bounded, then left tainted and failed ----
f="$tmp/f"
stack "$f" 1
apply "$f" "$tmp/w-all.yaml" --verify-retries 1
[ "$rc" != 0 ] || fail "f: apply succeeded though every node failed"
grep -q "^chat\[0\]: failed verification on 2 placements; left tainted and failed" "$tmp/err" ||
    fail "f: not bounded: $(cat "$tmp/err")"
[ "$(node "$f" "chat[0]" .status)" = failed ] || fail "f: the node is not failed"
[ "$(grep -c "^chat\[0\]: creating" "$tmp/err")" = 2 ] || fail "f: not exactly 2 creates"
echo "ok - f: a node failing on every placement is left tainted and failed, and apply fails"

# Verifications left pending (docs/verify.md, "A run that stops before the report").
pend() { # pend DIR: every node "pending", as a run killed before it read their reports leaves them
    jq '(.nodes[] | .verify) |= {result: "pending", detail: ""}' "$1/.gpuform/state.json" >"$tmp/s" &&
        cp "$tmp/s" "$1/.gpuform/state.json"
}

# ---- g. interrupted while waiting for the report: the state says pending ----
g="$tmp/g"
# on_verify sees the pending node as failed, as it will be recorded
stack "$g" 1 'function on_verify(node, report)
  assert(node.verify.result == "failed", "verify.result is " .. tostring(node.verify.result))
  assert(node.verify.detail:find("^no verify report within 2s of its create"), node.verify.detail)
  assert(report.status == "missing")
  return "replace"
end'
world "$tmp/w-silent.yaml" "us-east-1a/g5.xlarge: silent"
"$gpuform" apply --sim="$tmp/w-silent.yaml" --auto-approve --verify-timeout 60s "$g" \
    </dev/null >"$tmp/out" 2>"$tmp/err" &
apid=$!
for _ in $(seq 1 400); do # the node is in the state while apply waits for its report
    [ -f "$g/.gpuform/state.json" ] && [ -n "$(node "$g" "chat[0]" .cloud_id 2>/dev/null)" ] && break
    sleep 0.05
done
[ "$(node "$g" "chat[0]" .verify.result)" = pending ] ||
    fail "g: the created node is not recorded pending: $(cat "$g/.gpuform/state.json" 2>&1)"
for _ in $(seq 1 100); do grep -q "^chat\[0\]: verifying quick" "$tmp/err" && break; sleep 0.05; done
kill -INT "$apid"
wait "$apid"
arc=$?
[ "$arc" != 0 ] || fail "g: an interrupted apply exited 0"
grep -q "^chat\[0\]: verification interrupted; the node is kept, its verification pending" \
    "$tmp/err" || fail "g: the interrupt is not shown: $(cat "$tmp/err")"
[ "$(node "$g" "chat[0]" .verify.result)" = pending ] || fail "g: not left pending"
[ "$(node "$g" "chat[0]" .status)" = running ] || fail "g: the node is not running"
old_id="$(node "$g" "chat[0]" .cloud_id)"
"$gpuform" show "$g" | grep -q "pending" || fail "g: show does not say pending: $("$gpuform" show "$g")"
"$gpuform" plan --detailed-exitcode "$g" >"$tmp/plan" 2>"$tmp/plan.err"
prc=$?
[ "$prc" = 2 ] || fail "g: plan --detailed-exitcode exited $prc: $(cat "$tmp/plan" "$tmp/plan.err")"
grep -q "0 to update, 1 to verify, 0 to delete" "$tmp/plan" || fail "g: plan's summary: $(cat "$tmp/plan")"
grep -q "^  ~   chat\[0\] .*(verify quick: left pending by an interrupted run)" "$tmp/plan" ||
    fail "g: plan does not show the pending verification: $(cat "$tmp/plan")"
"$gpuform" plan --json "$g" 2>/dev/null | jq -e --arg id "$old_id" '.resource_changes[0] |
    .action == "verify" and .actions == ["read"] and .before.id == $id' >/dev/null ||
    fail "g: plan --json: $("$gpuform" plan --json "$g" 2>&1 | jq -c .resource_changes)"
echo "ok - g: an interrupted verification leaves the node pending, and plan shows it"

# ---- h. the next apply finishes it: no report, so replaced elsewhere ----
apply "$g" "$tmp/w-silent.yaml" --verify-timeout 2s
[ "$rc" = 0 ] || fail "h: apply failed: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verifying quick, left pending by an interrupted run" "$tmp/err" ||
    fail "h: the pending verification is not shown: $(cat "$tmp/err")"
grep -q "^chat\[0\]: verification failed: no verify report within 2s of its create" "$tmp/err" ||
    fail "h: no failure: $(cat "$tmp/err")"
replaced_west "$g" h
[ "$(node "$g" "chat[0]" .cloud_id)" != "$old_id" ] || fail "h: the same instance"
[ "$(jq '[.instances[] | select(.state < 32)] | length' "$g/.gpuform/cloudsim.json")" = 1 ] ||
    fail "h: the unverified instance was not destroyed"
grep -q "1 verified, 1 replaced after failing verification" "$tmp/out" ||
    fail "h: the summary: $(cat "$tmp/out")"
echo "ok - h: the next apply fails a pending node that never reported, and replaces it"

# ---- i. a report on the console: verified without a new instance; --target ----
i="$tmp/i"
stack "$i" 2
apply "$i" "$tmp/w-clean.yaml"
[ "$rc" = 0 ] || fail "i: apply failed: $(cat "$tmp/err")"
# as a run killed after both agents reported but before it read them would leave it
pend "$i"
ids="$(jq -c '[.nodes[].cloud_id]' "$i/.gpuform/state.json")"
apply "$i" "$tmp/w-clean.yaml" --target "chat[1]"
[ "$rc" = 0 ] || fail "i: apply --target failed: $(cat "$tmp/err")"
grep -q "^chat\[1\]: verified quick: passed" "$tmp/err" || fail "i: chat[1] not verified: $(cat "$tmp/err")"
[ "$(node "$i" "chat[1]" .verify.result)" = passed ] || fail "i: chat[1] not recorded passed"
[ "$(node "$i" "chat[0]" .verify.result)" = pending ] || fail "i: --target verified chat[0] too"
"$gpuform" plan --out "$tmp/p.json" "$i" >/dev/null 2>&1 || fail "i: plan --out failed"
"$gpuform" show "$tmp/p.json" | grep -q "^  ~   chat\[0\]  aws/.*# verify quick: left pending" ||
    fail "i: the saved plan: $("$gpuform" show "$tmp/p.json")"
"$gpuform" apply --sim="$tmp/w-clean.yaml" "$tmp/p.json" </dev/null >"$tmp/out" 2>"$tmp/err"
[ "$?" = 0 ] || fail "i: apply of the saved plan failed: $(cat "$tmp/err")"
grep -q "0 to update, 1 to verify, 0 to delete, 1 unchanged" "$tmp/out" ||
    fail "i: the change set: $(cat "$tmp/out")"
grep -q "^chat\[0\]: verified quick: passed" "$tmp/err" || fail "i: chat[0] not verified: $(cat "$tmp/err")"
! grep -q "creating" "$tmp/err" || fail "i: a node was created: $(cat "$tmp/err")"
[ "$(jq -c '[.nodes[].cloud_id]' "$i/.gpuform/state.json")" = "$ids" ] || fail "i: instances changed"
[ "$(node "$i" "chat[0]" .verify.result)" = passed ] || fail "i: chat[0] not recorded passed"
grep -q "0 created, 0 replaced, 0 updated, 0 destroyed, 0 failed; 1 verified" "$tmp/out" ||
    fail "i: the summary: $(cat "$tmp/out")"
apply "$i" "$tmp/w-clean.yaml"
grep -q "^No changes" "$tmp/out" || fail "i: verified nodes are still a change: $(cat "$tmp/out")"
echo "ok - i: a pending node whose report is on its console is verified in place; --target holds"

# ---- j. the workload no longer asks for verification: left pending, no change ----
j="$tmp/j"
cp -r "$i" "$j"
pend "$j"
sed -i 's/verify: quick/verify: none/' "$j/stack.yaml"
"$gpuform" plan --detailed-exitcode "$j" >"$tmp/plan" 2>&1
prc=$?
[ "$prc" = 0 ] || fail "j: plan says there are changes ($prc): $(cat "$tmp/plan")"
apply "$j" "$tmp/w-clean.yaml"
grep -q "^No changes" "$tmp/out" || fail "j: apply: $(cat "$tmp/out" "$tmp/err")"
[ "$(node "$j" "chat[0]" .verify.result)" = pending ] || fail "j: the pending node was changed"
echo "ok - j: a workload without verification leaves a pending node as it is"
