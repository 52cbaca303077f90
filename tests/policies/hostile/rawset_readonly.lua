-- expect: table expected
function validate_plan(plan)
    rawset(plan, "totals", {})
end
