-- One container of /bin/true per `nsl run`: nsl run one.lua ROOT off|default|landlock
-- (a process of its own, so the default filter is compiled in each one).
local nsl = require "nsl"
local root, mode = arg[1], arg[2]
local s = { rootfs = root, command = { "/bin/true" } }
if mode == "off" then s.seccomp = false end
if mode == "landlock" then s.landlock = { read = { "/" }, exec = { "/bin" } } end
local ok, how, code = nsl.container(s):run()
if not ok then error(("one: %s %s"):format(how, code)) end
