-- expect: stack overflow|out of memory
local function f(n) return 1 + f(n + 1) end
function validate_plan(plan) return f(1) end
