-- Concentration risk: at most 60% of the plan's GPUs on any one cloud (when the plan has
-- more than 16 GPUs; small stacks are exempt). soft: override with `cloud-share`.

local max_share, min_gpus = 0.60, 16

function validate_plan(plan)
    local per_cloud, total = {}, 0
    for _, node in ipairs(plan.nodes) do
        per_cloud[node.cloud] = (per_cloud[node.cloud] or 0) + node.gpus
        total = total + node.gpus
    end
    if total <= min_gpus then return {} end
    local findings = {}
    for cloud, gpus in pairs(per_cloud) do
        if gpus / total > max_share then
            findings[#findings + 1] = {
                level = "soft",
                message = ("%d of %d GPUs (%.0f%%) are on %s, more than %.0f%%"):format(
                    gpus, total, 100 * gpus / total, cloud, 100 * max_share),
            }
        end
    end
    table.sort(findings, function(a, b) return a.message < b.message end)
    return findings
end
