#!/usr/bin/env bash
# Policy overrides recorded in the state (docs/policies.md, "Overrides"), end to end with
# apply --sim on a stack that breaks a soft policy (tests/policies/overrides/):
#   1. apply without --override-policy fails, nothing made
#   2. --override-policy without --override-reason is a usage error, nothing made
#   3. both: the apply goes ahead; show --json has the record (who from GPUFORM_ACTOR,
#      when, why, the findings, the serial written); show lists it
#   4. a second override appends a second record
#   5. plan --json shows the override; a saved plan carries the reason, and applying it
#      records that reason; a saved plan without a reason is refused at plan time
#   test: policy-override.sh GPUFORM_BINARY SOURCE_DIR
set -u
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY GPUFORM_AWS_ENDPOINT
unset GITHUB_ACTOR GITLAB_USER_LOGIN BUILDKITE_BUILD_CREATOR GITHUB_SERVER_URL CI_JOB_URL BUILDKITE_BUILD_URL
export NO_COLOR=1 GPUFORM_ACTOR=override-tester
stack="$tmp/stack"
mkdir "$stack"
cp "$src/tests/policies/overrides/stack.yaml" "$src/specs/policies/no-spot-in-prod.lua" "$stack/"
state="$stack/.gpuform/state.json"
cd "$tmp" || exit 1

# ---- 1. the soft finding fails the apply ----
if "$gpuform" apply --sim --auto-approve "$stack" </dev/null >a.out 2>a.err; then
    fail "apply without --override-policy went ahead"
fi
grep -q "policy 'no-spot-in-prod.lua' on 'web\[0\]': spot capacity" a.err || fail "no finding: $(cat a.err)"
[ "$(jq '.nodes | length' "$state" 2>/dev/null || echo 0)" = 0 ] || fail "a refused apply made nodes"
echo "ok - a soft finding fails the apply"

# ---- 2. an override without a reason is a usage error ----
if "$gpuform" apply --sim --auto-approve --override-policy no-spot-in-prod "$stack" </dev/null >a.out 2>a.err; then
    fail "apply with --override-policy and no reason went ahead"
fi
grep -q "say why with --override-reason TEXT" a.err || fail "no usage error naming --override-reason: $(cat a.err)"
grep -q "^usage: gpuform apply" a.err || fail "the usage error does not show the usage: $(cat a.err)"
[ "$(jq '.nodes | length' "$state" 2>/dev/null || echo 0)" = 0 ] || fail "an apply without a reason made nodes"
if "$gpuform" apply --sim --auto-approve --override-policy no-spot-in-prod --override-reason ' ' "$stack" </dev/null >a.out 2>a.err; then
    fail "a blank reason was taken"
fi
grep -q -- "--override-reason: it is empty" a.err || fail "blank reason: $(cat a.err)"
echo "ok - --override-policy without a reason is a usage error; nothing is made"

# ---- 3. with both: applied and recorded ----
"$gpuform" apply --sim --auto-approve --override-policy no-spot-in-prod \
    --override-reason "spot is fine for the load test (CHG-1)" "$stack" </dev/null >a.out 2>a.err ||
    fail "apply with an override and a reason: $(cat a.err)"
grep -q "Apply complete: 2 created" a.out || fail "apply: $(cat a.out)"
grep -q "policy override is recorded in the state" a.err || fail "no note of the record: $(cat a.err)"
"$gpuform" show --json "$stack" >show.json || fail "show --json"
jq -e --arg serial "$(jq .serial "$state")" '
    (.policy_overrides | length) == 1 and
    (.policy_overrides[0] | .who == "override-tester" and .who_source == "GPUFORM_ACTOR" and
        .reason == "spot is fine for the load test (CHG-1)" and
        (.at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")) and
        .policies == ["no-spot-in-prod"] and .serial == ($serial | tonumber) and
        .run_url == null and
        ([.findings[] | .address] | sort) == ["web[0]", "web[1]"] and
        all(.findings[]; .level == "soft" and .policy == "no-spot-in-prod.lua" and
            (.message | contains("spot capacity"))))' show.json >/dev/null ||
    fail "the state's record: $(jq -c .policy_overrides show.json)"
"$gpuform" show "$stack" >show.txt || fail "show"
grep -q 'by override-tester (from GPUFORM_ACTOR): "spot is fine for the load test (CHG-1)"' show.txt ||
    fail "show does not list the override: $(cat show.txt)"
echo "ok - an override with a reason applies and is recorded: who, when, why, the findings, the serial"

# ---- 4. a second override appends ----
sed -i 's/nodes: 2/nodes: 3/' "$stack/stack.yaml"
GITHUB_ACTOR=ci-bot GPUFORM_ACTOR= GITHUB_SERVER_URL=https://github.example GITHUB_REPOSITORY=acme/infra \
    GITHUB_RUN_ID=77 "$gpuform" apply --sim --auto-approve --override-policy no-spot-in-prod.lua \
    --override-reason "one more for the test" "$stack" </dev/null >a.out 2>a.err ||
    fail "second apply: $(cat a.err)"
"$gpuform" show --json "$stack" | jq -e '
    (.policy_overrides | length) == 2 and
    .policy_overrides[0].reason == "spot is fine for the load test (CHG-1)" and
    (.policy_overrides[1] | .who == "ci-bot" and .who_source == "GITHUB_ACTOR" and
        .run_url == "https://github.example/acme/infra/actions/runs/77" and
        .policies == ["no-spot-in-prod.lua"] and (.findings | length) == 3)' >/dev/null ||
    fail "the second record: $("$gpuform" show --json "$stack" | jq -c .policy_overrides)"
echo "ok - a second override appends a record (GITHUB_ACTOR, the run's address)"

# ---- 5. plan --json and saved plans ----
sed -i 's/nodes: 3/nodes: 4/' "$stack/stack.yaml"
"$gpuform" plan --json --override-policy no-spot-in-prod --override-reason "plan only" "$stack" >plan.json 2>p.err ||
    fail "plan --json: $(cat p.err)"
jq -e '.policy_override | .who == "override-tester" and .reason == "plan only" and (.findings | length) == 4' plan.json >/dev/null ||
    fail "plan --json policy_override: $(jq -c .policy_override plan.json)"
serial="$(jq .serial "$state")"
[ "$(jq '.policy_overrides | length' "$state")" = 2 ] || fail "plan wrote an override into the state"
if "$gpuform" plan --out saved.json --override-policy no-spot-in-prod "$stack" >p.out 2>p.err; then
    fail "plan --out took an override without a reason"
fi
grep -q "add --override-reason TEXT to the plan" p.err || fail "plan --out without a reason: $(cat p.err)"
"$gpuform" plan --out saved.json --override-policy no-spot-in-prod --override-reason "reviewed in PR 9" "$stack" >p.out 2>p.err ||
    fail "plan --out: $(cat p.err)"
jq -e '.override_reason == "reviewed in PR 9" and .plan.policy_override.reason == "reviewed in PR 9"' saved.json >/dev/null ||
    fail "the saved plan does not carry the reason: $(jq -c '{override_reason, o: .plan.policy_override}' saved.json)"
"$gpuform" show saved.json | grep -q '("reviewed in PR 9")' || fail "show FILE: $("$gpuform" show saved.json)"
if "$gpuform" apply --override-reason x saved.json </dev/null >a.out 2>a.err; then
    fail "apply FILE took --override-reason"
fi
grep -q "carries its own .* override reason: pass none of them" a.err || fail "apply FILE --override-reason: $(cat a.err)"
jq '.override_reason = null' saved.json >noreason.json
chmod 600 noreason.json
if "$gpuform" apply --sim noreason.json </dev/null >a.out 2>a.err; then
    fail "a saved plan without a reason was applied"
fi
grep -q "says no reason; make it again with --override-reason TEXT" a.err || fail "no reason: $(cat a.err)"
[ "$(jq .serial "$state")" = "$serial" ] || fail "a refused saved plan wrote the state"
GPUFORM_ACTOR=applier "$gpuform" apply --sim saved.json </dev/null >a.out 2>a.err || fail "apply FILE: $(cat a.err)"
jq -e '(.policy_overrides | length) == 3 and
    (.policy_overrides[2] | .reason == "reviewed in PR 9" and .who == "applier" and (.findings | length) == 4)' "$state" >/dev/null ||
    fail "apply FILE's record: $(jq -c '.policy_overrides[2]' "$state")"
echo "ok - plan --json shows the override; a saved plan carries the reason and its apply records it"

"$gpuform" destroy --sim --auto-approve "$stack" </dev/null >/dev/null 2>&1 || fail "destroy"
[ "$(jq '.policy_overrides | length' "$state")" = 3 ] || fail "destroy dropped the overrides"
echo "ok - destroy keeps the record of overrides"
