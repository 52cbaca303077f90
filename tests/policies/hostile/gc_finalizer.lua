-- expect: may not set __gc
-- finalizers run where no limit can stop them (during collection, and when gpuform
-- closes the sandbox), so a policy may not set one
setmetatable({}, { __gc = function() while true do end end })
function validate_plan(plan) return {} end
