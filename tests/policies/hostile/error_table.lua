-- expect: error that is a table value
function validate_plan(plan)
    error({ code = 42 })
end
