-- Training nodes are verified in full (memory test, bandwidth, compute, interconnect)
-- before they are trusted: a training workload with `verify` below full is refused.

function validate_plan(plan)
    local findings, names = {}, {}
    for name in pairs(plan.workloads) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
        local w = plan.workloads[name]
        if w.kind == "training" and w.verify ~= "full" then
            findings[#findings + 1] = {
                level = "hard",
                message = ("training workload '%s' has verify: %s; set verify: full"):format(
                    name, w.verify),
            }
        end
    end
    return findings
end
