-- Refuses plans over $500 an hour.
local M = {}

function M.check(plan)
  if plan.hourly_cost > 500
    return false, "over $500/h"
  end
  return true
end

return M
