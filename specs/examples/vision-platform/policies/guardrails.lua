-- guardrails.lua: the policy hook of the vision-platform stack (listed under `hooks:`).
--
-- `gpuform plan` runs it in the policy sandbox after placing every node: validate_plan
-- receives the plan (docs/plan-json.md, plus `workloads`) as read-only tables and returns
-- findings: advisory (a warning), soft (fails unless --override-policy guardrails) or
-- hard (fails). docs/policies.md explains the rest.

-- Say so when the plan spends more than 80% of a budget's monthly cap: the next change
-- may not fit.
function validate_plan(plan)
  local findings = {}
  for _, b in ipairs(plan.budgets) do
    local cap = b.monthly_cap_usd
    if cap and b.monthly_usd > 0.8 * cap then
      findings[#findings + 1] = {
        level = "advisory",
        message = ("budget '%s' is at %.0f%% of its monthly cap ($%.0f of $%.0f)"):format(
          b.name, 100 * b.monthly_usd / cap, b.monthly_usd, cap),
      }
    end
  end
  return findings
end
