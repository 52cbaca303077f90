-- expect: table expected
function validate_plan(plan)
    setmetatable(plan, { __index = function() return "forged" end })
end
