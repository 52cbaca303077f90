#!/usr/bin/env bash
# The Azure provider with the real binary against cloudsim's ARM dialect (issue 6):
#  1. `gpuform apply --sim` on a stack placed on azure: the state and cloudsim's world hold
#     the same VMs (with their NICs); a second apply changes nothing; a changed label is an
#     update in place (the VM's tags); destroy leaves no VM and no NIC.
#  2. Against a separate `gpuform cloudsim` that injects 5xx, 429, dropped connections and
#     garbled replies at a few percent each plus a burst of allocation failures: apply a
#     12-node stack through the provider (the executor retries with the same token and fails
#     over), then cloudsim's live VMs of the stack must be exactly the state's, one per
#     address; destroy leaves none.
#   azure.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
command -v jq >/dev/null || { echo "skip - jq is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip - curl is not installed"; exit 77; }
tmp="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "not ok - $*"
    exit 1
}
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_AUTHORITY_HOST
unset AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP GPUFORM_AZURE_ENDPOINT GPUFORM_AZURE_SCOPE
unset GPUFORM_AZURE_SSH_PUBLIC_KEY AZURE_POD_IDENTITY_AUTHORITY_HOST

stack_yaml() { # NAME NODES TEAM
    cat <<YAML
version: 1
stack: $1
clouds:
  azure:
    regions: [eastus]
    subscription: 00000000-0000-4000-8000-0000000000e6
    resource_group: \${env.TEST_RG}
workloads:
  train:
    kind: training
    gpu: T4:1
    nodes: $2
    hours: 2
    labels: { team: $3, acme.io/tier: gold }
YAML
}
export TEST_RG=gpuform-e2e

# ---- 1. --sim ----
st="$tmp/sim"
mkdir -p "$st"
stack_yaml az-sim 3 research >"$st/stack.yaml"
"$gpuform" apply --sim --auto-approve "$st" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "apply --sim: $(cat "$tmp/out" "$tmp/err")"
grep -q "Apply complete: 3 created" "$tmp/out" || fail "apply summary: $(cat "$tmp/out")"
state="$st/.gpuform/state.json"
world="$st/.gpuform/cloudsim.json"
ids_state() { jq -r '.nodes[].cloud_id' "$1" | sort; }
# ARM's VMs are named; the world's id is the vmId
names_world() {
    jq -r '.instances[] | select(.cloud == "azure" and .state < 32) | .name' "$1" | sort
}
[ "$(ids_state "$state" | wc -l)" = 3 ] || fail "the state holds $(ids_state "$state" | wc -l) nodes"
[ "$(ids_state "$state")" = "$(names_world "$world")" ] || fail "state and cloudsim differ"
[ "$(jq '[.resources[] | select(.kind == "networkInterfaces")] | length' "$world")" = 3 ] ||
    fail "cloudsim holds $(jq '.resources | length' "$world") NICs, not 3"
jq -e '.instances[] | select(.cloud == "azure") |
       select(.account == "00000000-0000-4000-8000-0000000000e6/gpuform-e2e")' "$world" \
    >/dev/null || fail "the VMs are not in the stack's subscription and resource group"
jq -e '[.instances[] | select(.cloud == "azure") | .tags[] |
        select(.key == "acme.io:tier" and .value == "gold")] | length == 3' "$world" \
    >/dev/null || fail "the labels are not on the VMs as tags"
echo "ok - apply --sim on azure made 3 VMs and their NICs; the state and cloudsim agree"

"$gpuform" apply --sim --auto-approve "$st" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "second apply: $(cat "$tmp/err")"
grep -q "No changes" "$tmp/out" || fail "second apply changed something: $(cat "$tmp/out")"
stack_yaml az-sim 3 infra >"$st/stack.yaml"
"$gpuform" apply --sim --auto-approve "$st" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "label apply: $(cat "$tmp/out" "$tmp/err")"
grep -q "3 updated" "$tmp/out" || fail "a changed label was not an update: $(cat "$tmp/out")"
[ "$(ids_state "$state")" = "$(names_world "$world")" ] || fail "the update replaced VMs"
jq -e '[.instances[] | select(.cloud == "azure") | .tags[] |
        select(.key == "team" and .value == "infra")] | length == 3' "$world" >/dev/null ||
    fail "the changed label did not reach the VMs' tags"
echo "ok - a second apply changes nothing; a changed label updates the tags in place"

"$gpuform" destroy --sim --auto-approve "$st" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "destroy: $(cat "$tmp/err")"
[ -z "$(names_world "$world")" ] || fail "destroy left VMs alive"
[ "$(jq '.resources | length' "$world")" = 0 ] || fail "destroy left NICs"
echo "ok - destroy leaves no VM and no NIC"

# ---- 2. faults, against a separate cloudsim ----
export AZURE_TENANT_ID=e2e-tenant AZURE_CLIENT_ID=e2e-client AZURE_CLIENT_SECRET='e2e/secret+1'
export GPUFORM_AZURE_SSH_PUBLIC_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIe2e e2e"
export AWS_ACCESS_KEY_ID=AKIDAZUREE2E AWS_SECRET_ACCESS_KEY=unused-here
cat >"$tmp/world.yaml" <<'YAML'
seed: 17
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle:
  run_instances: { burst: 5, refill_per_second: 20 }
faults:
  internal: 0.03
  throttle: 0.03
  malformed: 0.03
  timeout: 0.01
  timeout_hold_ms: 500
clouds:
  azure:
    regions: [eastus, westus2]
YAML
"$gpuform" cloudsim --listen 127.0.0.1:0 --config "$tmp/world.yaml" >"$tmp/sim.out" 2>"$tmp/sim.err" &
pid=$!
url=""
for _ in $(seq 1 200); do
    url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/sim.out")"
    [ -n "$url" ] && break
    sleep 0.05
done
[ -n "$url" ] || fail "cloudsim did not start: $(cat "$tmp/sim.err")"
export GPUFORM_AZURE_ENDPOINT="$url" AZURE_AUTHORITY_HOST="$url"
curl -s --data '{"kind": "capacity", "count": 3}' "$url/_cloudsim/fault" >/dev/null
fs="$tmp/faulty"
mkdir -p "$fs"
stack_yaml az-faulty 12 research >"$fs/stack.yaml"
fstate="$fs/.gpuform/state.json"
live_world() {
    curl -sf "$url/_cloudsim/instances" |
        jq -r '.[] | select(.cloud == "azure" and (.state == "pending" or .state == "running")) |
               select(.tags["gpuform-stack"] == "az-faulty") |
               "\(.name) \(.tags["gpuform-address"])"' | sort
}
live_state() { jq -r '.nodes[] | "\(.cloud_id) \(.address)"' "$fstate" | sort; }
ok=""
for round in 1 2 3; do # a call that stayed transient to the end is settled by the next apply
    if "$gpuform" apply --auto-approve "$fs" </dev/null >"$tmp/out" 2>"$tmp/err"; then
        ok=1
        break
    fi
done
[ -n "$ok" ] || fail "apply under faults did not complete: $(tail -5 "$tmp/out" "$tmp/err")"
left="$(curl -s --data '{"kind": "capacity", "rate": 0}' "$url/_cloudsim/fault" | jq .count)"
[ "$left" = 0 ] || fail "the allocation failures were not all met ($left left)"
grep -q "AllocationFailed" "$tmp/out" "$tmp/err" || fail "no allocation failure was reported"
[ "$(live_state | wc -l)" = 12 ] || fail "the state holds $(live_state | wc -l) nodes, not 12"
[ "$(live_world)" = "$(live_state)" ] || fail "cloudsim and the state differ:
$(diff <(live_world) <(live_state))"
dups="$(live_world | awk '{print $2}' | sort | uniq -d)"
[ -z "$dups" ] || fail "more than one VM for $dups"
echo "ok - 12 VMs under faults: cloudsim's live VMs are the state's, one per address"

ok=""
for round in 1 2 3; do
    if "$gpuform" destroy --auto-approve "$fs" </dev/null >"$tmp/out" 2>"$tmp/err"; then
        ok=1
        break
    fi
done
[ -n "$ok" ] || fail "destroy under faults did not complete: $(tail -5 "$tmp/out" "$tmp/err")"
[ -z "$(live_world)" ] || fail "destroy left VMs alive: $(live_world)"
echo "ok - destroy under faults leaves none alive"
