#!/usr/bin/env bash
# Verifying nodes that already run (`gpuform verify --sim ADDRESS`, docs/verify.md,
# "Verifying running nodes"), with the real binary: after `apply --sim`, gpuform sets the
# node's gpuform-verify-request tag (EC2, Azure) or metadata item (GCE); cloudsim plays the
# node's watcher and prints a signed block answering the nonce; gpuform reads it back.
#  a. a healthy node passes, in text and --json (the report answers the request's nonce);
#     on GCE the startup-script item is kept byte for byte;
#  b. a verify fault added to the world afterwards for the node's zone/type: it fails, the
#     state records it failed and tainted, and the next apply replaces it;
#  c. a report signed with another key fails as not authenticated;
#  d. a node that says nothing is unverified when --timeout runs out, and the state is left;
#  e. an unknown address, a node without the agent (verify: none) and bad options are refused;
#  f. the policies' on_verify is asked about a failed node, and "accept" keeps it untainted.
# a and b on aws, gcp and azure; c to f on aws.
#   verify-running.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2 GOOGLE_APPLICATION_CREDENTIALS GPUFORM_GCP_ENDPOINT
unset GPUFORM_GCP_TOKEN_URI AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET
unset AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP GPUFORM_AZURE_ENDPOINT AZURE_AUTHORITY_HOST
export NO_COLOR=1

# stack DIR CLOUD: chat (1 node, verify: quick) and plain (1 node, verify: none) on CLOUD
stack() {
    local clouds gpu
    case "$2" in
    aws) clouds="aws: { regions: [us-east-1] }" gpu=A10G:1 ;;
    gcp) clouds="gcp: { project: proj-rv, regions: [us-central1] }" gpu=L4:1 ;;
    azure)
        clouds="azure: { subscription: 00000000-0000-4000-8000-00000000005b, resource_group: gpuform-sim, regions: [eastus] }"
        gpu=A100-80GB:1
        ;;
    esac
    mkdir -p "$1"
    cat >"$1/stack.yaml" <<EOF
version: 1
stack: running-$2
clouds:
  $clouds
workloads:
  chat: { kind: training, gpu: $gpu, nodes: 1, hours: 4, verify: quick }
  plain: { kind: training, gpu: $gpu, nodes: 1, hours: 4, verify: none }
EOF
}

# world FILE [FAULT]: a fast world, with a verify fault line ("KEY: FAULT") when given
world() {
    printf 'seed: 7\ntime_scale: 0.001\n' >"$1"
    [ -z "${2:-}" ] || printf 'verify:\n  faults:\n    %s\n' "$2" >>"$1"
}

run() { # run ARGS...: output in $tmp/out and $tmp/err, status in $rc
    "$gpuform" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

node() { jq -r --arg a "$2" ".nodes[] | select(.address == \$a) | $3" "$1/.gpuform/state.json"; }

# The node's (zone, type) as a world fault key: "ZONE/TYPE"
where() { echo "$(node "$1" "chat[0]" .placement.zone)/$(node "$1" "chat[0]" .placement.instance_type)"; }

world "$tmp/clean.yaml"

for cloud in aws gcp azure; do
    s="$tmp/$cloud"
    stack "$s" "$cloud"
    run apply --sim="$tmp/clean.yaml" --auto-approve "$s"
    [ "$rc" = 0 ] || fail "$cloud: apply failed: $(cat "$tmp/err")"

    # ---- a. a healthy node passes ----
    script_before="$(jq -c '[.instances[] | .meta[]? | select(.key == "startup-script")]' "$s/.gpuform/cloudsim.json")"
    run verify --sim="$tmp/clean.yaml" --stack "$s" --timeout 20s "chat[0]"
    [ "$rc" = 0 ] || fail "a ($cloud): verify failed: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^chat\[0\]: passed: quick: passed ([0-9]* checks, [0-9.]* s, [a-z]*)$" "$tmp/out" ||
        fail "a ($cloud): the result: $(cat "$tmp/out")"
    grep -q "^chat\[0\]: asked to verify quick (request [0-9a-f]\{8\}\.\.\.)" "$tmp/err" ||
        fail "a ($cloud): the request is not shown: $(cat "$tmp/err")"
    [ "$(node "$s" "chat[0]" .verify.result)" = passed ] || fail "a ($cloud): not recorded passed"
    [ "$cloud" != gcp ] ||
        [ "$(jq -c '[.instances[] | .meta[]? | select(.key == "startup-script")]' "$s/.gpuform/cloudsim.json")" = "$script_before" ] ||
        fail "a (gcp): setMetadata changed the startup-script"
    [ "$cloud" != gcp ] || [ "$script_before" != "[]" ] || fail "a (gcp): no startup-script to keep"
    run verify --sim="$tmp/clean.yaml" --stack "$s" --timeout 20s --json chat
    [ "$rc" = 0 ] || fail "a ($cloud): verify --json failed: $(cat "$tmp/err")"
    jq -e 'length == 1 and .[0].address == "chat[0]" and .[0].status == "passed" and
           .[0].recorded and (.[0].request | test("^[0-9a-f]{32}$")) and
           .[0].report.request == .[0].request and .[0].report.level == "quick"' "$tmp/out" >/dev/null ||
        fail "a ($cloud): the JSON: $(cat "$tmp/out")"
    echo "ok - a ($cloud): a running node verifies again on request, and passes"

    # ---- b. a fault for its zone and type, added afterwards: failed, tainted, replaced ----
    world "$tmp/fault-$cloud.yaml" "$(where "$s"): mem_bitflip"
    run verify --sim="$tmp/fault-$cloud.yaml" --stack "$s" --timeout 20s chat
    [ "$rc" = 1 ] || fail "b ($cloud): verify did not fail (rc $rc): $(cat "$tmp/out" "$tmp/err")"
    grep -q "^chat\[0\]: failed: verify failed: memory (gpu0 memory: " "$tmp/out" ||
        fail "b ($cloud): the failure: $(cat "$tmp/out")"
    grep -q "^chat\[0\]: tainted: the next apply replaces it" "$tmp/err" ||
        fail "b ($cloud): the taint is not said: $(cat "$tmp/err")"
    [ "$(node "$s" "chat[0]" .verify.result)" = failed ] || fail "b ($cloud): not recorded failed"
    [ "$(node "$s" "chat[0]" .tainted)" = true ] || fail "b ($cloud): not tainted"
    old="$(node "$s" "chat[0]" .cloud_id)"
    run apply --sim="$tmp/clean.yaml" --auto-approve "$s"
    [ "$rc" = 0 ] || fail "b ($cloud): the next apply failed: $(cat "$tmp/err")"
    [ "$(node "$s" "chat[0]" .cloud_id)" != "$old" ] || fail "b ($cloud): the node was not replaced"
    [ "$(node "$s" "chat[0]" .tainted)" = false ] || fail "b ($cloud): the new node is tainted"
    echo "ok - b ($cloud): a node failing on request is recorded failed, tainted, and replaced"
done

s="$tmp/aws"
# ---- c. a forged answer ----
world "$tmp/forge.yaml" "$(where "$s"): forge"
run verify --sim="$tmp/forge.yaml" --stack "$s" --timeout 20s "chat[0]"
[ "$rc" = 1 ] || fail "c: verify did not fail (rc $rc): $(cat "$tmp/out" "$tmp/err")"
grep -q "^chat\[0\]: failed: verify report not authenticated: MAC mismatch (a report signed with another key)$" \
    "$tmp/out" || fail "c: the forged answer was not rejected: $(cat "$tmp/out")"
[ "$(node "$s" "chat[0]" .tainted)" = true ] || fail "c: not tainted"
echo "ok - c: an answer signed with another key fails as not authenticated"

# ---- d. no answer: unverified when --timeout runs out, the state left as it was ----
world "$tmp/silent.yaml" "$(where "$s"): silent"
before="$(node "$s" "chat[0]" .verify.detail)"
start=$SECONDS
run verify --sim="$tmp/silent.yaml" --stack "$s" --timeout 2s "chat[0]"
[ "$rc" = 1 ] || fail "d: verify did not fail (rc $rc): $(cat "$tmp/out" "$tmp/err")"
grep -q "^chat\[0\]: unverified: no verify report answering the request within 2s (.*); is 'gpuform verify --agent --watch' running on it?$" \
    "$tmp/out" || fail "d: the timeout is not said: $(cat "$tmp/out")"
[ $((SECONDS - start)) -lt 10 ] || fail "d: --timeout 2s took $((SECONDS - start)) s"
[ "$(node "$s" "chat[0]" .verify.detail)" = "$before" ] || fail "d: the state was changed"
echo "ok - d: a node that does not answer is unverified when the timeout runs out"

# ---- e. refusals ----
run verify --sim="$tmp/clean.yaml" --stack "$s" "nope[3]"
[ "$rc" = 1 ] && grep -q "'nope\[3\]' names no node of the state" "$tmp/err" ||
    fail "e: an unknown address: $rc $(cat "$tmp/err")"
run verify --sim="$tmp/clean.yaml" --stack "$s" chat plain
[ "$rc" = 1 ] && grep -q "'plain\[0\]' has no verify agent (its verify is 'none' in the state" "$tmp/err" ||
    fail "e: a node without the agent: $rc $(cat "$tmp/err")"
grep -q "asked to verify" "$tmp/err" && fail "e: a node was asked although the command was refused"
run verify --stack "$s" --backend cpu "chat[0]"
[ "$rc" != 0 ] && grep -q "the other options verify this host" "$tmp/err" ||
    fail "e: --backend with an address: $rc $(cat "$tmp/err")"
run verify --stack "$s"
[ "$rc" != 0 ] && grep -q "go with the ADDRESS" "$tmp/err" || fail "e: --stack alone: $rc $(cat "$tmp/err")"
run verify --stack "$s" --timeout soon chat
[ "$rc" != 0 ] && grep -q "\-\-timeout takes a duration" "$tmp/err" ||
    fail "e: a bad --timeout: $rc $(cat "$tmp/err")"
echo "ok - e: unknown addresses, nodes without the agent and host-only options are refused"

# ---- f. on_verify accepts the failure ----
run apply --sim="$tmp/clean.yaml" --auto-approve "$s" # the tainted node replaced first
[ "$rc" = 0 ] || fail "f: apply failed: $(cat "$tmp/err")"
mkdir -p "$s/policies"
cat >"$s/policies/verify.lua" <<'EOF'
function on_verify(node, report)
  assert(node.address == "chat[0]" and node.verify.result == "failed")
  assert(report.status == "fail" and report.reason == "verify failed: memory")
  return "accept"
end
EOF
echo "hooks: [policies/verify.lua]" >>"$s/stack.yaml"
world "$tmp/fault-f.yaml" "$(where "$s"): mem_bitflip"
run verify --sim="$tmp/fault-f.yaml" --stack "$s" --timeout 20s "chat[0]"
[ "$rc" = 1 ] || fail "f: verify did not report the failure (rc $rc): $(cat "$tmp/out" "$tmp/err")"
grep -q "^chat\[0\]: kept: policy 'policies/verify.lua' accepted it" "$tmp/err" ||
    fail "f: the policy was not asked: $(cat "$tmp/err")"
[ "$(node "$s" "chat[0]" .verify.result)" = accepted ] || fail "f: not recorded accepted"
[ "$(node "$s" "chat[0]" .tainted)" = false ] || fail "f: an accepted node is tainted"
echo "ok - f: on_verify's accept keeps a node that failed on request"
