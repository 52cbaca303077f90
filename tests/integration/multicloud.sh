#!/usr/bin/env bash
# Three clouds end to end (issue 6): specs/examples/quickstart through the real binary against
# one separate `gpuform cloudsim` holding AWS, GCP and Azure, each provider pointed at it the
# way it would be at the real cloud (EC2 endpoint and SigV4 keys, a GCE endpoint and a
# service-account key, an ARM endpoint and an Entra ID authority).
#  a. apply: every node is created, on all three clouds; per cloud, cloudsim's live
#     instances are exactly the state's; a second apply has nothing to do.
#  b. Azure's capacity exhausted (cloudsim restarted on its saved world with capacity 0 for
#     every Azure type): a grown service fails over to another cloud within its placement
#     rules and the budgets (checked on the state's prices), the blocked offer is in the
#     state's blocklist, and the next plan keeps away from it (it is the cheaper one).
#  c. capacity back: a spot node reclaimed in each dialect (EC2, GCE, ARM) is drift that
#     `plan --refresh-only --detailed-exitcode` names (exit 2); the next apply replaces all
#     three, and the one after has nothing to do. Destroy leaves nothing alive.
#   multicloud.sh GPUFORM_BINARY SOURCE_DIR
set -u
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2 GPUFORM_AWS_ENDPOINT
unset GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CORE_PROJECT CLOUDSDK_CONFIG GCE_METADATA_HOST \
    GPUFORM_GCP_TOKEN_URI GPUFORM_GCP_ENDPOINT
unset AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP GPUFORM_AZURE_ENDPOINT GPUFORM_AZURE_SCOPE \
    AZURE_POD_IDENTITY_AUTHORITY_HOST AZURE_AUTHORITY_HOST
# one environment drives both sides: cloudsim accepts these keys and principal, and makes up
# a GCP service account for the stack's project
export AWS_ACCESS_KEY_ID=AKIDMULTICLOUD AWS_SECRET_ACCESS_KEY='multi/cloud+secret'
export AZURE_TENANT_ID=multi-tenant AZURE_CLIENT_ID=multi-client AZURE_CLIENT_SECRET='multi/secret+1'
export GPUFORM_AZURE_SSH_PUBLIC_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImulti multi"
export GOOGLE_CLOUD_PROJECT=quickstart-demo NO_COLOR=1

world() { # world AZURE_CAPACITY: the seeded world of the stack's regions
    cat <<YAML
seed: 29
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle: off
clouds:
  aws: { regions: [us-east-1, us-west-2] }
  gcp: { regions: [us-central1, us-east4] }
  azure:
    regions: [eastus, westus2]
    capacity: { default: $1 }
YAML
}
# cloudsim on its world file, so that a restart (another world config) keeps the instances
sim() { # sim AZURE_CAPACITY
    world "$1" >"$tmp/world.yaml"
    start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" --state "$tmp/world.json" --gcp-key "$tmp/key.json" ||
        fail "cloudsim did not start: $(cat "$tmp/sim.err")"
    # the key's token_uri names the first cloudsim's port; a restarted one has another
    export GPUFORM_AWS_ENDPOINT="$url" GPUFORM_GCP_ENDPOINT="$url" GPUFORM_GCP_TOKEN_URI="$url/token" \
        GPUFORM_AZURE_ENDPOINT="$url" AZURE_AUTHORITY_HOST="$url"
}
sim_stop() {
    kill "$pid" && wait "$pid"
    pid=""
}
sim unlimited
# the key cloudsim made up; a restarted cloudsim takes it from its own environment
export GOOGLE_APPLICATION_CREDENTIALS="$tmp/key.json"

stack="$tmp/qs"
cp -r "$src/specs/examples/quickstart" "$stack"
rm -rf "$stack/.gpuform"
state="$stack/.gpuform/state.json"

# cloudsim's live instances per cloud, as the state names them: "CLOUD ID" lines, sorted
live_world() {
    curl -sf "$url/_cloudsim/instances" |
        jq -r '.[] | select(.state == "pending" or .state == "running") |
               "\(.cloud) \(if .cloud == "aws" then .instance_id elif .cloud == "gcp" then "\(.zone)/\(.name)"
                            else .name end)"' | sort
}
live_state() { jq -r '.nodes[] | "\(.placement.cloud) \(.cloud_id)"' "$state" | sort; }
agree() { # agree N: N nodes; cloudsim's live instances exactly the state's, on every cloud
    local n
    n="$(jq '.nodes | length' "$state")"
    [ "$n" = "$1" ] || fail "the state holds $n nodes, not $1"
    [ "$(live_world)" = "$(live_state)" ] || fail "cloudsim and the state differ:
$(diff <(live_world) <(live_state))"
}
clouds_of() { # clouds_of WORKLOAD: the distinct clouds of its nodes, one line
    jq -r --arg w "$1" '[.nodes[] | select(.address | startswith($w + "[")) | .placement.cloud] | unique | join(" ")' "$state"
}
apply() { # apply [ARGS...]: one run that must succeed; its output in $tmp/out and $tmp/err
    "$gpuform" apply --auto-approve "$@" "$stack" </dev/null >"$tmp/out" 2>"$tmp/err" ||
        fail "apply $*: $(cat "$tmp/out" "$tmp/err")"
}

# ---- a. the quickstart on three clouds ----
apply
grep -q "^Apply complete: 8 created, 0 replaced, 0 updated, 0 destroyed, 0 failed" "$tmp/out" ||
    fail "first apply: $(cat "$tmp/out")"
agree 8
[ "$(jq -r '[.nodes[].placement.cloud] | unique | join(" ")' "$state")" = "aws azure gcp" ] ||
    fail "the nodes are not on all three clouds: $(live_state)"
[ "$(clouds_of chat)" = "aws azure gcp" ] || fail "chat does not span three clouds: $(clouds_of chat)"
[ "$(clouds_of nightly)" = "aws azure gcp" ] || fail "nightly does not span three clouds"
for c in aws gcp azure; do
    [ "$(live_world | grep -c "^$c ")" = "$(live_state | grep -c "^$c ")" ] || fail "$c differs"
done
spot="$(curl -sf "$url/_cloudsim/instances" | jq -r '[.[] | select(.spot) | .cloud] | sort | join(" ")')"
[ "$spot" = "aws azure gcp" ] || fail "the spot instances are on '$spot', not one per cloud"
apply
grep -q "^No changes" "$tmp/out" || fail "a second apply wants changes: $(cat "$tmp/out")"
echo "ok - apply made 8 nodes over EC2, GCE and ARM; per cloud, cloudsim's live instances are the state's; a second apply has nothing to do"

# ---- b. Azure's capacity exhausted: a new replica fails over to another cloud ----
sim_stop
sim 0
sed -i 's/^    replicas: 3$/    replicas: 4/' "$stack/stack.yaml"
"$gpuform" plan "$stack" >"$tmp/plan" 2>&1 || fail "plan: $(cat "$tmp/plan")"
grep -q '^  +   chat\[3\]  azure/westus2 Standard_NC4as_T4_v3' "$tmp/plan" ||
    fail "the plan does not put chat[3] on azure westus2 (the test's premise): $(cat "$tmp/plan")"
apply
grep -q "^Apply complete: 1 created, 0 replaced, 0 updated, 0 destroyed, 0 failed" "$tmp/out" ||
    fail "the grown apply: $(cat "$tmp/out")"
grep -q "chat\[3\]: failed over from azure westus2 Standard_NC4as_T4_v3 to .*AllocationFailed" "$tmp/err" ||
    fail "no failover reported: $(cat "$tmp/err")"
agree 9
moved="$(jq -r '.nodes[] | select(.address == "chat[3]") | .placement | "\(.cloud) \(.region)"' "$state")"
case "$moved" in azure\ *) fail "chat[3] stayed on azure: $moved" ;; esac
jq -e '.blocklist | any(.cloud == "azure" and .region == "westus2" and
       .instance_type == "Standard_NC4as_T4_v3" and .spot == false and .error_class == "capacity")' \
    "$state" >/dev/null || fail "the blocklist lacks the exhausted offer: $(jq -c .blocklist "$state")"
# within the stack's rules: three clouds, one replica per region, and both budgets
[ "$(clouds_of chat)" = "aws azure gcp" ] || fail "chat no longer spans three clouds"
dup="$(jq -r '.nodes[] | select(.address | startswith("chat[")) | "\(.placement.cloud)/\(.placement.region)"' "$state" |
    sort | uniq -d)"
[ -z "$dup" ] || fail "two chat replicas in $dup (max_per_region: 1)"
jq -e '([.nodes[].hourly_usd] | add) <= 12 and
       ([.nodes[] | select(.labels.team == "serving") | .hourly_usd] | add) <= 4' "$state" >/dev/null ||
    fail "the state's prices break a budget: $(jq -c '[.nodes[] | [.address, .hourly_usd]]' "$state")"
"$gpuform" plan --detailed-exitcode "$stack" >"$tmp/plan" 2>&1
[ $? = 0 ] || fail "the next plan does not keep away from the blocked offer: $(cat "$tmp/plan")"
# ... and only the blocklist does: without it the plan moves chat[3] back to the cheaper Azure
cp -r "$stack" "$tmp/unblocked"
jq '.blocklist = []' "$state" >"$tmp/unblocked/.gpuform/state.json"
"$gpuform" plan "$tmp/unblocked" >"$tmp/plan" 2>&1 || fail "plan without the blocklist: $(cat "$tmp/plan")"
grep -q 'chat\[3\].*azure/westus2' "$tmp/plan" ||
    fail "without the blocklist chat[3] stays put; the check above proves nothing: $(cat "$tmp/plan")"
echo "ok - with Azure exhausted, chat[3] failed over to $moved within spread, max_per_region and budgets; the offer is blocklisted and the next plan keeps away from it"

# ---- c. a spot node reclaimed in each dialect ----
sim_stop
sim unlimited
world_id() { # world_id ADDRESS: cloudsim's id of the node's instance (a GCE id, a vmId)
    local c id
    c="$(jq -r --arg a "$1" '.nodes[] | select(.address == $a) | .placement.cloud' "$state")"
    id="$(jq -r --arg a "$1" '.nodes[] | select(.address == $a) | .cloud_id' "$state")"
    curl -sf "$url/_cloudsim/instances" |
        jq -r --arg c "$c" --arg id "$id" '.[] | select(.cloud == $c) |
            select(.instance_id == $id or .name == $id or "\(.zone)/\(.name)" == $id) | .instance_id'
}
ids=""
for n in 0 1 2; do
    id="$(world_id "nightly[$n]")"
    [ -n "$id" ] || fail "nightly[$n] is not in cloudsim"
    curl -sf --data "{\"instance_id\": \"$id\"}" "$url/_cloudsim/reclaim" >/dev/null ||
        fail "cannot reclaim nightly[$n] ($id)"
    ids="$ids $id"
done
# wait (at most 10 s) until each has stopped: shutting-down, STOPPING, Deleting are not gone yet
gone=""
for _ in $(seq 1 200); do
    gone="$(curl -sf "$url/_cloudsim/instances" | jq -r --arg ids "$ids" '
        ($ids | split(" ") | map(select(. != ""))) as $want |
        [.[] | select(.instance_id as $i | $want | index($i)) | select(.state == "terminated")] | length')"
    [ "$gone" = 3 ] && break
    sleep 0.05
done
# an Azure VM evicted with policy Delete leaves the list instead of showing terminated
if [ "$gone" != 3 ]; then
    left="$(curl -sf "$url/_cloudsim/instances" | jq -r --arg ids "$ids" '
        ($ids | split(" ") | map(select(. != ""))) as $want |
        [.[] | select(.instance_id as $i | $want | index($i)) | select(.state != "terminated")] | length')"
    [ "$left" = 0 ] || fail "the reclaimed instances did not stop in 10 s"
fi
"$gpuform" plan --refresh-only --detailed-exitcode "$stack" </dev/null >"$tmp/drift" 2>"$tmp/err"
rc=$?
[ "$rc" = 2 ] || fail "plan --refresh-only --detailed-exitcode exited $rc, not 2: $(cat "$tmp/drift" "$tmp/err")"
for n in 0 1 2; do
    grep -q "^nightly\[$n\]: gone" "$tmp/drift" || fail "the drift does not name nightly[$n]: $(cat "$tmp/drift")"
done
[ "$(grep -c ': gone' "$tmp/drift")" = 3 ] || fail "other drift: $(cat "$tmp/drift")"
[ "$(jq '.nodes | length' "$state")" = 9 ] || fail "plan --refresh-only wrote the state"
echo "ok - a spot node reclaimed in EC2, GCE and ARM each: plan --refresh-only names all three and exits 2"

apply
grep -q "^Apply complete: 3 created, 0 replaced, 0 updated, 0 destroyed, 0 failed" "$tmp/out" ||
    fail "the apply after the reclaims: $(cat "$tmp/out")"
agree 9
[ "$(clouds_of nightly)" = "aws azure gcp" ] || fail "the replaced nightly nodes do not span three clouds"
for id in $ids; do
    jq -e --arg id "$id" '[.nodes[] | select(.cloud_id == $id)] | length == 0' "$state" >/dev/null ||
        fail "the state still names the reclaimed $id"
done
apply
grep -q "^No changes" "$tmp/out" || fail "the apply after the replacement wants changes: $(cat "$tmp/out")"
echo "ok - the next apply replaced the three reclaimed nodes, on their three clouds; the one after has nothing to do"

"$gpuform" destroy --auto-approve "$stack" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "destroy: $(cat "$tmp/out" "$tmp/err")"
grep -q "9 destroyed, 0 failed" "$tmp/out" || fail "destroy: $(cat "$tmp/out")"
[ -z "$(live_world)" ] || fail "destroy left instances alive: $(live_world)"
echo "ok - destroy leaves nothing alive on any cloud"
sim_stop
exit 0
