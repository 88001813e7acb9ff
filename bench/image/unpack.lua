-- One layer unpacked by nsl: nsl run unpack.lua LAYER.tgz EMPTY_DIR
-- (the unpacker nsl.image.load and pull use); prints its ms.
local nsl = require "nsl"
local t = nsl.time("monotonic")
local ok, err = require("nsl.archive").unpack(arg[1], arg[2])
if not ok then error("unpack: " .. tostring(err)) end
print(("%.1f"):format((nsl.time("monotonic") - t) * 1000))
