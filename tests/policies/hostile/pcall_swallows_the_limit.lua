-- expect: instruction budget
-- pcall may catch the first error; every further instruction fails too
function validate_plan(plan)
    while true do
        pcall(function() while true do end end)
    end
end
