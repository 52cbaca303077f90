-- A ceiling on what one GPU-hour may cost; above it, say so (advisory), and refuse far
-- above it (hard). Change the two numbers to your own.

local warn_at, refuse_at = 6.00, 15.00 -- USD per GPU-hour

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
