-- guardrails.lua: the policy hook of the vision-platform stack (listed under `hooks:`).
--
-- Hooks are run by a later release of gpuform. Today `gpuform validate` only checks that
-- each hook file exists and compiles as Lua 5.4 source text (precompiled bytecode is
-- refused), and reports syntax errors at their line.
--
-- What a hook receives and must return is defined by the release that runs hooks; this
-- stub defines validate_plan(plan) and accepts every plan (it reports no problem).

function validate_plan(plan)
  return {}
end
