-- Loaded by busted before the specs (.busted's helper): the suite leaves
-- the machine as it found it. The rootless specs run nsl as T.uid, which
-- makes that user's runtime directory, /tmp/nsl-UID (nsl's state for a
-- user without XDG_RUNTIME_DIR). When it was not there before the suite,
-- it goes at the end, with the empty directories nsl made in it; rmdir
-- only, so that anything a spec left in it stays there to be seen.
local busted = require "busted"
local nsl = require "nsl"
local T = require "nsltest"

local dir = ("/tmp/nsl-%d"):format(T.uid)
local existed = nsl.lstat(dir) ~= nil

busted.subscribe({ "suite", "end" }, function()
  if not existed then
    for _, sub in ipairs { "containers", "rootfs", "net" } do nsl.rmdir(dir .. "/" .. sub) end
    nsl.rmdir(dir)
  end
  return nil, true
end)
