-- expect: read-only table 'plan'
function validate_plan(plan)
    plan.nodes[1].hourly_usd = 0
end
