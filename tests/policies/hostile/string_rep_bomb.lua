-- expect: out of memory
function validate_plan(plan)
    return { { level = "hard", message = string.rep("x", 1 << 29) } }
end
