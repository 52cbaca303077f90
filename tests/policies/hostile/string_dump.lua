-- expect: field 'dump'
local bytes = string.dump(function() end)
