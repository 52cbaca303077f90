#!/usr/bin/env bash
# The AWS provider against cloudsim (issue 4's acceptance): create, list and delete through
# prov_aws while cloudsim injects capacity errors, 5xx, throttling, timeouts and malformed
# replies; then cloudsim's own view (its admin page, read by the program) must hold exactly
# one instance per address, none alive.
#   aws-provider.sh GPUFORM_BINARY E2E_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
e2e="$2"
src="$3"
tmp="$(mktemp -d)"
export AWS_ACCESS_KEY_ID=AKIDPROVIDERE2E
export AWS_SECRET_ACCESS_KEY='provider/e2e+secret'
unset AWS_SESSION_TOKEN AWS_PROFILE
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/world.yaml" <<'YAML'
seed: 11
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle:
  run_instances: { burst: 5, refill_per_second: 2 }
faults:
  internal: 0.05
  throttle: 0.05
  malformed: 0.05
  timeout: 0.02
  timeout_hold_ms: 3000
clouds:
  aws:
    regions: [us-east-1, us-west-2, eu-west-1]
YAML

"$gpuform" cloudsim --listen 127.0.0.1:0 --config "$tmp/world.yaml" >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=""
for _ in $(seq 1 200); do
    url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/out")"
    [ -n "$url" ] && break
    sleep 0.05
done
if [ -z "$url" ]; then
    echo "not ok - cloudsim did not start: $(cat "$tmp/err")"
    exit 1
fi
# and a burst of capacity errors at the start
curl -s --data '{"kind": "capacity", "count": 3}' "$url/_cloudsim/fault" >/dev/null

GPUFORM_AWS_ENDPOINT="$url" GPUFORM_E2E_STORM_REGIONS=us-west-2,eu-west-1 "$e2e" 24 e2e-stack
rc=$?

kill "$pid" && wait "$pid"
pid=""
exit $rc
