-- expect: global 'coroutine'
function validate_plan(plan)
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    co()
end
