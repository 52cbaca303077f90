-- expect: time limit
-- limits: wall=0.5
-- few instructions, much work in C: the clock stops it
function validate_plan(plan)
    while true do local s = string.rep("x", 4000000) end
end
