-- Three network namespaces on one bridge, reaching each other.
--
-- A bridge br0 lives in a scratch namespace this script moves into (so the
-- host's own network is never touched). Three named namespaces - the kind
-- `ip netns` makes and lists - each get a veth pair: eth0 inside, the other
-- end attached to br0. Every namespace then pings the other two, through
-- `ip netns exec`, which finds the namespaces nsl.net made. Everything is
-- removed at the end, also when something fails on the way.
--
-- Run as root: build/bin/nsl run examples/bridge.lua
local nsl = require "nsl"
local net = nsl.net

assert(nsl.unshare("net"))                 -- the bridge's scratch namespace

local names, made = {}, {}
for i = 1, 3 do names[i] = ("nslbr%d-%d"):format(nsl.getpid(), i) end

local function setup()
  assert(net.bridge("br0"))
  assert(net.up("br0"))
  for i, ns in ipairs(names) do
    assert(net.netns_add(ns))
    made[#made + 1] = ns
    local port = "port" .. i
    assert(net.veth(port, "eth0", {peer_netns = ns}))  -- eth0 goes straight into ns
    assert(net.set(port, {master = "br0", up = true}))
    assert(net.addr_add("eth0", "10.2.0." .. i .. "/24", {netns = ns}))
    assert(net.up("eth0", {netns = ns}))
    assert(net.up("lo", {netns = ns}))
    print(("%s: eth0 10.2.0.%d/24, its peer %s on br0"):format(ns, i, port))
  end
  local ports = {}
  for _, l in ipairs(assert(net.links())) do
    if l.master == "br0" then ports[#ports + 1] = l.name end
  end
  print("br0 ports: " .. table.concat(ports, ", "))

  local failures = 0
  for i, ns in ipairs(names) do
    for j = 1, 3 do
      if j ~= i then
        local ok = os.execute(("ip netns exec %s ping -c1 -W2 10.2.0.%d >/dev/null 2>&1"):format(ns, j))
        print(("%s -> 10.2.0.%d: %s"):format(ns, j, ok and "reached" or "NOT reached"))
        if not ok then failures = failures + 1 end
      end
    end
  end
  return failures == 0
end

local ok, result = pcall(setup)
for _, ns in ipairs(made) do net.netns_del(ns) end   -- the veth pairs go with them
if not ok then error(result, 0) end
print(result and "all three namespaces reach each other" or "some pings failed")
return result
