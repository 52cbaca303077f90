-- expect: index a boolean value
getmetatable("").__index.upper = function() return "pwned" end
