-- expect: global 'io'
local f = io.open("/etc/passwd")
