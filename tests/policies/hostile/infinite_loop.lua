-- expect: instruction budget
function validate_plan(plan)
    while true do end
end
