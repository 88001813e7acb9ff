-- nsl: Linux namespaces and containers for Lua 5.4.
--
-- The primitives come from the C core (nsl.core); the parts written in Lua
-- (containers, root file systems, ...) are loaded on first use, so that a
-- script using only the primitives pays nothing for them.

local core = require "nsl.core"

local nsl = {}
for name, value in pairs(core) do
  nsl[name] = value
end

-- Field -> {module, field of the module (nil: the module itself)}.
local lazy = {
  container = { "nsl.container", "new" },
  lookup = { "nsl.container", "lookup" },
  list = { "nsl.container", "list" },
  wait_any = { "nsl.container", "wait_any" },
  rootfs = { "nsl.rootfs" },
  cgroup = { "nsl.cgroup" },
  seccomp = { "nsl.seccomp" },
  image = { "nsl.image" },
}

return setmetatable(nsl, {
  __index = function(t, key)
    local where = lazy[key]
    if where == nil then return nil end
    -- Every field a module gives is taken from the same copy of it.
    local module = require(where[1])
    for k, w in pairs(lazy) do
      if w[1] == where[1] then rawset(t, k, w[2] and module[w[2]] or module) end
    end
    return rawget(t, key)
  end,
})
