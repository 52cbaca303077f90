#!/usr/bin/env bash
# Gated apply and `gpuform verify ADDRESS` with gpuform's real agent and watcher playing the
# node, end to end, on Compute Engine (issue 8 §4 and §5): a separate `gpuform cloudsim` with
# its own agent off, `gpuform apply` and `gpuform verify` against it through the GCP provider
# (only the endpoint differs from real GCP), and a "node" made of this script: it reads the
# boot script apply put in the instance's startup-script metadata, takes the key, address and
# level from it as the script would, runs `gpuform verify --agent`, then
# `gpuform verify --agent --watch --cloud gcp` against cloudsim's metadata server, and copies
# what they print to the instance's serial console (POST /_cloudsim/console). Nothing in
# between is cloudsim's own: the boot script's shape, the agent's signed block, the watcher's
# metadata read and nonce, the provider's setMetadata and the engine's reading all have to
# agree.
#   verify-node.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
. "$2/tests/integration/lib.sh"
integration_setup
command -v openssl >/dev/null || { echo "skip - openssl is not installed"; exit 77; }
unset GPUFORM_IMDS_ENDPOINT GOOGLE_APPLICATION_CREDENTIALS GOOGLE_CLOUD_PROJECT CLOUDSDK_CORE_PROJECT
unset CLOUDSDK_CONFIG GCE_METADATA_HOST GPUFORM_GCP_TOKEN_URI
export NO_COLOR=1
set -m # each background job its own process group, so that stopping it stops its pipeline
node_pids=()
stop_node() {
    local p
    for p in "${node_pids[@]}"; do
        kill -- "-$p" 2>/dev/null
    done
    for p in "${node_pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    node_pids=()
}
trap 'stop_node; integration_cleanup' EXIT

cat >"$tmp/world.yaml" <<'YAML'
seed: 11
time_scale: 0.001
verify: { agent: false }
clouds:
  gcp:
    regions: [us-central1]
YAML
start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" --gcp-key "$tmp/key.json" ||
    fail "cloudsim did not start: $(cat "$tmp/sim.err")"
export GPUFORM_GCP_ENDPOINT="$url" GOOGLE_APPLICATION_CREDENTIALS="$tmp/key.json"

stack="$tmp/stack"
mkdir -p "$stack"
cat >"$stack/stack.yaml" <<'YAML'
version: 1
stack: node-e2e
clouds:
  gcp: { project: cloudsim, regions: [us-central1] }
workloads:
  chat: { kind: training, gpu: L4:1, nodes: 1, hours: 4, verify: quick }
YAML
state="$stack/.gpuform/state.json"

# post ID FILE: FILE's text appended to instance ID's console
post() {
    jq -Rsc --arg id "$1" '{instance_id: $id, text: .}' "$2" |
        curl -sf -o /dev/null --data @- "$url/_cloudsim/console"
}

# forward ID: the watcher's output (stdin) onto instance ID's console, one block at a time
forward() {
    : >"$tmp/block"
    while IFS= read -r line; do
        printf '%s\n' "$line" >>"$tmp/block"
        case "$line" in
        "gpuform-verify end"*)
            post "$1" "$tmp/block"
            : >"$tmp/block"
            ;;
        esac
    done
}

# the node: waits for the stack's instance to run, boots as its startup-script would, then
# runs the watcher with its blocks forwarded to the console; $1: extra watcher options
node() {
    local id="" script="" i
    for i in $(seq 1 400); do
        read -r id < <(curl -sf "$url/_cloudsim/instances" | jq -r '.[] | select(.cloud == "gcp" and
            .state == "running" and .metadata["gpuform-stack"] == "node-e2e") | .instance_id')
        [ -n "$id" ] && break
        sleep 0.05
    done
    [ -n "$id" ] || { echo "node: no running instance" >"$tmp/node.err"; return 1; }
    echo "$id" >"$tmp/node.id"
    curl -sf "$url/_cloudsim/instances" |
        jq -r --arg id "$id" '.[] | select(.instance_id == $id) | "\(.zone)/\(.name)"' >"$tmp/node.name"
    script="$(curl -sf "$url/_cloudsim/instances" |
        jq -r --arg id "$id" '.[] | select(.instance_id == $id) | .metadata["startup-script"]')"
    printf '%s\n' "$script" >"$tmp/node.script"
    # what the script writes to /etc/gpuform/verify.key, and the agent's arguments
    sed -n "/<<'GPUFORM_KEY'/{n;p;q}" "$tmp/node.script" >"$tmp/node.key"
    chmod 600 "$tmp/node.key"
    local addr level
    addr="$(sed -n "s/^gpuform verify --agent --level [a-z]* --address '\([^']*\)'.*/\1/p" "$tmp/node.script")"
    level="$(sed -n 's/^# gpuform-verify-agent v1 level=\([a-z]*\)$/\1/p' "$tmp/node.script")"
    echo "$addr $level" >"$tmp/node.args"
    "$gpuform" verify --agent --backend cpu --mem-mib 8 --level "$level" --address "$addr" \
        --key-file "$tmp/node.key" >"$tmp/boot.out" 2>"$tmp/boot.err"
    post "$id" "$tmp/boot.out"
    # the watcher, one block at a time onto the console
    # shellcheck disable=SC2086
    GPUFORM_IMDS_ENDPOINT="$url/imds/$id" "$gpuform" verify --agent --watch --cloud gcp \
        --interval 1 --backend cpu --mem-mib 8 $1 --address "$addr" --key-file "$tmp/node.key" \
        2>"$tmp/watch.err" | forward "$id"
}

# ---- a. gated apply: the boot report from the real agent is read and passes ----
node "" &
node_pids+=($!)
"$gpuform" apply --auto-approve --verify-timeout 60s "$stack" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "a: apply failed: $(cat "$tmp/out" "$tmp/err" "$tmp/node.err" 2>/dev/null)"
grep -q "chat\[0\]: verified quick: passed" "$tmp/out" "$tmp/err" ||
    fail "a: apply did not verify the node: $(cat "$tmp/out" "$tmp/err")"
[ "$(jq -r '.nodes[0].verify.result' "$state")" = passed ] || fail "a: the state: $(jq -c '.nodes[0].verify' "$state")"
[ "$(cat "$tmp/node.args")" = "chat[0] quick" ] || fail "a: the boot script's agent: $(cat "$tmp/node.args")"
id="$(cat "$tmp/node.id")"
[ "$(jq -r '.nodes[0].cloud_id' "$state")" = "$(cat "$tmp/node.name")" ] ||
    fail "a: the state's instance $(jq -r '.nodes[0].cloud_id' "$state") is not the node's, $(cat "$tmp/node.name")"
echo "ok - a: gated apply reads the real agent's boot report from the console, and passes"

# ---- b. gpuform verify ADDRESS: the watcher answers the request read from metadata ----
"$gpuform" verify --stack "$stack" --timeout 60s --json 'chat[0]' </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "b: verify failed: $(cat "$tmp/out" "$tmp/err" "$tmp/watch.err")"
nonce="$(jq -r '.[0].request' "$tmp/out")"
jq -e 'length == 1 and .[0].status == "passed" and .[0].recorded and .[0].report.request == .[0].request
       and .[0].report.backend == "cpu"' "$tmp/out" >/dev/null || fail "b: the result: $(cat "$tmp/out")"
curl -sf "$url/_cloudsim/instances" | jq -e --arg id "$id" --arg v "quick:$nonce" '.[] |
    select(.instance_id == $id) | .metadata["gpuform-verify-request"] == $v and
    (.metadata["startup-script"] | contains("gpuform-verify-agent v1"))' >/dev/null ||
    fail "b: the request item, or the startup-script kept beside it"
echo "ok - b: verify ADDRESS sets the request, the real watcher answers it, the answer passes"

# ---- c. the watcher gone: no answer within --timeout; unverified, the state unchanged ----
stop_node
before="$(jq -c '.nodes[0].verify' "$state")"
"$gpuform" verify --stack "$stack" --timeout 3s 'chat[0]' </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "c: verify with no watcher exited $rc: $(cat "$tmp/out" "$tmp/err")"
grep -q "no verify report answering the request" "$tmp/out" "$tmp/err" ||
    fail "c: the message: $(cat "$tmp/out" "$tmp/err")"
[ "$(jq -c '.nodes[0].verify' "$state")" = "$before" ] || fail "c: the state changed"
echo "ok - c: without the watcher, verify ADDRESS times out and records nothing"

# ---- d. a watcher whose checks find a bad bit: failed, tainted ----
{
    GPUFORM_IMDS_ENDPOINT="$url/imds/$id" "$gpuform" verify --agent --watch --cloud gcp \
        --interval 1 --backend cpu --mem-mib 8 --inject mem_bitflip --address 'chat[0]' \
        --key-file "$tmp/node.key" 2>"$tmp/watch.err" | forward "$id"
} &
node_pids+=($!)
"$gpuform" verify --stack "$stack" --timeout 60s 'chat[0]' </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "d: a failing answer exited $rc: $(cat "$tmp/out" "$tmp/err")"
grep -q "^chat\[0\]: failed: verify failed: memory" "$tmp/out" || fail "d: the failure: $(cat "$tmp/out")"
jq -e '.nodes[0].verify.result == "failed" and .nodes[0].tainted' "$state" >/dev/null ||
    fail "d: the state: $(jq -c '.nodes[0]' "$state")"
echo "ok - d: the watcher's failing answer fails the node and taints it"
stop_node
