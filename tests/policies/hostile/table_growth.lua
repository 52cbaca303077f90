-- expect: out of memory
function validate_plan(plan)
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("y", 4096) .. i end
end
