-- expect: global 'require'
local socket = require("socket")
