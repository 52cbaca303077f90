#!/usr/bin/env bash
# The GCP provider against a separate `gpuform cloudsim` under injected faults, through the
# real binary: `gpuform apply` creates a stack placed on gcp (spot and on-demand, an N1 with
# a guest accelerator) while cloudsim answers 5xx, throttles, garbles replies and holds
# connections; apply is repeated until it completes (each run settles what the last one
# left), then cloudsim's own view must hold exactly one live instance per address, each the
# one the state records, and a second apply has nothing to do. Then the stack grows while
# the cheapest zone is full and capacity errors come in a burst: the new nodes fail over and
# the same invariants hold. Destroy leaves nothing alive. The provider authenticates with the service-account key
# cloudsim made (its token_uri is cloudsim's) and only the endpoint differs from real GCP.
#   gcp-provider.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
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
command -v jq >/dev/null 2>&1 || {
    echo "SKIP: jq is needed (apt-get install jq)"
    exit 77
}

unset GOOGLE_APPLICATION_CREDENTIALS GOOGLE_CLOUD_PROJECT CLOUDSDK_CORE_PROJECT CLOUDSDK_CONFIG \
    GCE_METADATA_HOST GPUFORM_GCP_TOKEN_URI
cat >"$tmp/world.yaml" <<'YAML'
seed: 23
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
latency_ms: { min: 1, max: 20 }
faults:
  internal: 0.05
  unavailable: 0.03
  throttle: 0.05
  malformed: 0.04
  timeout: 0.02
  timeout_hold_ms: 500
clouds:
  gcp:
    regions: [us-central1, us-east1]
YAML
"$gpuform" cloudsim --listen 127.0.0.1:0 --config "$tmp/world.yaml" --gcp-key "$tmp/key.json" \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
pid=$!
url=""
for _ in $(seq 1 200); do
    url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/sim.out")"
    [ -n "$url" ] && [ -s "$tmp/key.json" ] && break
    sleep 0.05
done
[ -n "$url" ] && [ -s "$tmp/key.json" ] || fail "cloudsim did not start: $(cat "$tmp/sim.err")"
[ "$(stat -c %a "$tmp/key.json")" = 600 ] || fail "the key file is not private"

export GPUFORM_GCP_ENDPOINT="$url" GOOGLE_APPLICATION_CREDENTIALS="$tmp/key.json"
stack="$tmp/stack"
mkdir -p "$stack"
cat >"$stack/stack.yaml" <<'YAML'
version: 1
stack: gcp-e2e
clouds:
  gcp: { project: cloudsim, regions: [us-central1, us-east1] }
workloads:
  serve:
    kind: training
    gpu: L4:1
    nodes: 6
    hours: 2
  batch:
    kind: training
    gpu: L4:1
    nodes: 4
    hours: 2
    spot: always
  legacy:
    kind: training
    gpu: T4:1
    nodes: 2
    hours: 2
YAML
state="$stack/.gpuform/state.json"

# cloudsim's live GCP instances of the stack: "ZONE/NAME ADDRESS" lines, sorted
live_world() {
    curl -sf "$url/_cloudsim/instances" |
        jq -r '.[] | select(.cloud == "gcp") |
               select(.state == "pending" or .state == "running") |
               select(.metadata["gpuform-stack"] == "gcp-e2e") |
               "\(.zone)/\(.name) \(.metadata["gpuform-address"])"' | sort
}
live_state() {
    jq -r '.nodes[] | "\(.cloud_id) \(.address)"' "$state" | sort
}

"$gpuform" validate --quiet "$stack" >"$tmp/out" 2>&1 || fail "the stack is not valid: $(cat "$tmp/out")"

# apply until it completes: a run that faults leave incomplete is settled by the next
converge() {
    local runs=0
    until "$gpuform" apply --auto-approve --parallelism 4 "$stack" </dev/null >"$tmp/out" 2>"$tmp/err"; do
        runs=$((runs + 1))
        [ "$runs" -lt 8 ] || fail "apply did not complete in 8 runs: $(tail -5 "$tmp/err")"
    done
    grep -q "^Apply complete" "$tmp/out" || fail "apply said: $(cat "$tmp/out")"
    echo $((runs + 1)) >"$tmp/runs"
}
# the invariants: N nodes, cloudsim's live instances exactly the state's, one per address
agree() {
    local nodes w dups
    nodes="$(jq '.nodes | length' "$state")"
    [ "$nodes" = "$1" ] || fail "the state holds $nodes nodes, not $1"
    w="$(live_world)"
    [ "$w" = "$(live_state)" ] || fail "cloudsim and the state differ:
cloudsim: $w
state:    $(live_state)"
    dups="$(printf '%s\n' "$w" | awk '{print $2}' | sort | uniq -d)"
    [ -z "$dups" ] || fail "addresses with two live instances: $dups"
}

converge
agree 12
spot="$(curl -sf "$url/_cloudsim/instances" |
    jq '[.[] | select(.metadata["gpuform-stack"] == "gcp-e2e" and .spot and
         (.state == "running" or .state == "pending"))] | length')"
[ "$spot" = 4 ] || fail "$spot live spot instances, not 4"
echo "ok - apply under faults converged in $(cat "$tmp/runs") run(s): 12 nodes, one live instance per address, cloudsim equal to the state"

"$gpuform" apply --auto-approve "$stack" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    "$gpuform" apply --auto-approve "$stack" </dev/null >"$tmp/out" 2>"$tmp/err" ||
    fail "the second apply failed: $(tail -3 "$tmp/err")"
grep -q "^No changes" "$tmp/out" || fail "a second apply wants changes: $(cat "$tmp/out")"
echo "ok - a second apply lists the stack by its label and has nothing to do"

# grow by 6 while capacity errors come in a burst: the new nodes fail over
curl -sf --data '{"kind": "capacity", "count": 3}' "$url/_cloudsim/fault" >/dev/null ||
    fail "cannot arm the capacity fault"
sed -i 's/    nodes: 6$/    nodes: 12/' "$stack/stack.yaml"
converge
agree 18
grep -q "given up for capacity or quota" "$tmp/out" "$tmp/err" ||
    [ "$(cat "$tmp/runs")" -gt 1 ] || fail "no capacity failover was reported: $(cat "$tmp/out")"
echo "ok - growing under a burst of ZONE_RESOURCE_POOL_EXHAUSTED failed over and converged in $(cat "$tmp/runs") run(s): 18 nodes, cloudsim equal to the state"

runs=0
until "$gpuform" destroy --auto-approve --parallelism 4 "$stack" </dev/null >"$tmp/out" 2>"$tmp/err"; do
    runs=$((runs + 1))
    [ "$runs" -lt 8 ] || fail "destroy did not complete in 8 runs: $(tail -5 "$tmp/err")"
done
[ "$(jq '.nodes | length' "$state")" = 0 ] || fail "destroy left nodes in the state"
[ -z "$(live_world)" ] || fail "destroy left instances alive in cloudsim: $(live_world)"
echo "ok - destroy under faults left nothing alive"

kill "$pid" && wait "$pid"
pid=""
