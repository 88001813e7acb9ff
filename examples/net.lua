-- Network namespace: a new one has only a loopback interface, and it is
-- down. (veth pairs connecting it to the host come with nsl.net.)
--   nsl run examples/net.lua        (as root, or as any user)
local nsl = require "nsl"

local function links()
  local names = {}
  local p = assert(io.popen("ip -o link show"))
  for line in p:lines() do
    local name, flags = line:match("^%d+: ([^:@]+)[^<]*<([^>]*)>")
    if name then
      local up = ("," .. flags .. ","):find(",UP,", 1, true) ~= nil
      names[#names + 1] = name .. (up and " (up)" or " (down)")
    end
  end
  p:close()
  return names
end

local namespaces, opts = { "net" }, nil
if nsl.getuid() ~= 0 then
  namespaces[#namespaces + 1] = "user"
  opts = { uid_map = { { 0, nsl.getuid(), 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }
end

print("host:    interfaces " .. table.concat(links(), ", "))
local pid = assert(nsl.clone(namespaces, function()
  print("inside:  interfaces " .. table.concat(links(), ", "))
  local ping = io.popen("ping -c 1 -W 1 127.0.0.1 2>&1")
  local out = ping:read("a")
  local reached = ping:close()
  print("inside:  ping 127.0.0.1: " .. (reached and "answered" or
    (out:match("connect: ([^\n]+)") or out:match("[^\n]*unreachable[^\n]*") or "no answer")))
end, opts))
assert(nsl.wait(pid))
print("host:    interfaces " .. table.concat(links(), ", ") .. " (unchanged)")
