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

-- Field name -> module that provides it, loaded on first access.
local lazy = {}

return setmetatable(nsl, {
  __index = function(t, key)
    local module = lazy[key]
    if module == nil then return nil end
    local value = require(module)
    rawset(t, key, value)
    return value
  end,
})
