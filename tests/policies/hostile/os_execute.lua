-- expect: global 'os'
function validate_plan(plan)
    os.execute("touch /tmp/gpuform-pwned")
end
