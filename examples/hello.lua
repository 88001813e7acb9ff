-- The first container: its own hostname, PID 1 and a loopback-only network.
-- (Built here from the primitives; `nsl.container` composes the same.)
local nsl = require "nsl"

local pid = assert(nsl.clone({"uts", "pid", "net", "ipc"}, function()
  assert(nsl.sethostname("hello"))
  print(("inside:  hostname %s, pid %d"):format(nsl.gethostname(), nsl.getpid()))
  local links = io.open("/proc/net/dev"):read("a")
  print("inside:  interfaces " .. table.concat((function()
    local names = {}
    for name in links:gmatch("\n%s*([%w%-_.]+):") do names[#names + 1] = name end
    return names
  end)(), ", "))
end))
print(("outside: hostname %s, the container was pid %d"):format(nsl.gethostname(), pid))
return nsl.wait(pid)
