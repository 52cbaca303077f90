-- A ceiling on what one GPU-hour may cost; above it, say so (advisory), and refuse far
-- above it (hard). Change the two numbers to your own. filter_offer keeps the planner off
-- offers over the hard ceiling, so a plan only fails here when nothing cheaper exists.

local warn_at, refuse_at = 6.00, 15.00 -- USD per GPU-hour

function filter_offer(workload, offer)
    if offer.price_per_gpu > refuse_at then
        return false, ("over $%.2f per GPU-hour"):format(refuse_at)
    end
    return true
end

function validate_plan(plan)
    local findings = {}
    for _, node in ipairs(plan.nodes) do
        local per_gpu = node.hourly_usd / node.gpus
        if per_gpu > warn_at then
            findings[#findings + 1] = {
                level = per_gpu > refuse_at and "hard" or "advisory",
                address = node.address,
                message = ("$%.2f per GPU-hour on %s, over the $%.2f ceiling"):format(
                    per_gpu, node.instance_type, per_gpu > refuse_at and refuse_at or warn_at),
            }
        end
    end
    return findings
end
