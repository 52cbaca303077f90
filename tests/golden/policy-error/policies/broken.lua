-- a policy with a bug: nodes have no `labels` field (the workload does)
local function env_of(node)
  return node.labels.env
end

function validate_plan(plan)
  for _, node in ipairs(plan.nodes) do
    if env_of(node) == "prod" then return {} end
  end
  return {}
end
