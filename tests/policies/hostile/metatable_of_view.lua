-- expect: index a string value
function validate_plan(plan)
    local mt = getmetatable(plan)
    mt.__newindex = nil
end
