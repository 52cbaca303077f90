-- Production runs on demand: a workload labelled `env: prod` gets no spot nodes.
-- soft: `gpuform plan --override-policy no-spot-in-prod` lets a plan through.

function validate_plan(plan)
    local findings = {}
    for _, node in ipairs(plan.nodes) do
        if node.spot and plan.workloads[node.workload].labels.env == "prod" then
            findings[#findings + 1] = {
                level = "soft",
                address = node.address,
                message = "spot capacity for a production workload",
            }
        end
    end
    return findings
end
