-- Rootless containers: what a container of the unprivileged uid T.uid
-- (a script run by `nsl run` through setpriv) cannot have on this host,
-- and that a refused start leaves nothing behind. The primitives run
-- rootless are spec/core/rootless_spec.lua's.
local nsl = require "nsl"
local T = require "nsltest"

local function lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

describe("as an unprivileged user", function()
  setup(function()
    assert(T.bin_reachable(), "uid " .. T.uid .. " cannot run " .. T.bin)
  end)

  it("is told why limits cannot be had on this host, and nothing is left", function()
    local out, err = T.rootless([[
      -- the root's state directories before and after (nothing is left)
      local base = (require("nsl.state").runtime_dir() or "/tmp") .. "/rootfs"
      local function count() return #(nsl.readdir(base) or {}) end
      local before = count()
      local c = nsl.container { rootfs = nsl.rootfs.host(), limits = { memory = "64M" },
        namespaces = { "user", "mnt", "pid" }, command = { "true" } }
      print(c:start())
      print(c.state)
      print("state directories left: " .. (count() - before))
    ]])
    assert.are.equal("", err)
    local l = lines(out)
    assert.are.equal("state directories left: 0", l[3])
    if nsl.lstat("/sys/fs/cgroup/cgroup.controllers") then
      -- cgroup v2 (the VM lane, make check-vm): no subtree delegated to the user
      assert.matches("^nil\tlimits: cgroup v2: /sys/fs/cgroup is not writable by uid " .. T.uid
        .. ": no delegated subtree", l[1])
      assert.matches("Delegate=yes", l[1], 1, true)
    else
      -- this machine: cgroup v1, whose hierarchies belong to root
      assert.matches("^nil\tlimits: cgroup v1: /sys/fs/cgroup/%w+ is not writable by uid " .. T.uid, l[1])
      assert.matches("rootless containers get no limits on this host", l[1])
    end
    assert.are.equal("created", l[2])
  end)
end)
