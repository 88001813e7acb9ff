-- A veth pair between a parent and a child in its own network namespace.
--
-- The child starts with only `lo`, down: even 127.0.0.1 is unreachable
-- until `lo` is up. The parent then creates a veth pair whose far end
-- appears directly in the child, addresses both ends (the child's without
-- entering its namespace), and each side pings the other. The child's
-- routing table holds one route: 10.1.1.0/24 through its end of the pair.
--
-- The script first moves itself into a scratch network namespace, so the
-- host's own interfaces and routes are never touched; everything made
-- here goes away with the two namespaces when the script ends.
--
-- Run as root: build/bin/nsl run examples/veth.lua
local nsl = require "nsl"
local net = nsl.net

local function quiet_ping(addr)
  return os.execute("ping -c1 -W1 " .. addr .. " >/dev/null 2>&1") == true
end

local function describe_links(who, links)
  for _, l in ipairs(links) do
    print(("%s %-6s %s %s"):format(who, l.name, l.up and "up  " or "down",
      #l.addrs > 0 and table.concat(l.addrs, " ") or "(no address)"))
  end
end

assert(nsl.unshare("net"))            -- the parent's scratch namespace
assert(net.up("lo"))

local to_child_r, to_child_w = assert(nsl.pipe())
local to_parent_r, to_parent_w = assert(nsl.pipe())

local pid = assert(nsl.clone({"net"}, function()
  nsl.close(to_child_w)
  nsl.close(to_parent_r)
  local links = assert(net.links())
  print(("child:  %d interface(s) in my new network namespace:"):format(#links))
  describe_links("child: ", links)
  print("child:  ping 127.0.0.1 with lo down: " .. (quiet_ping("127.0.0.1") and "answers" or "no answer"))
  assert(net.up("lo"))
  print("child:  ping 127.0.0.1 with lo up:   " .. (quiet_ping("127.0.0.1") and "answers" or "no answer"))
  assert(nsl.write(to_parent_w, "ready"))
  assert(nsl.read(to_child_r) == "go", "the parent gave up")  -- veth1 is set up

  describe_links("child: ", assert(net.links()))
  local reached = quiet_ping("10.1.1.1")
  print("child:  ping 10.1.1.1 (the parent): " .. (reached and "answers" or "no answer"))
  print("child:  my IPv4 routing table:")
  for _, r in ipairs(assert(net.routes({family = "inet"}))) do
    print(("child:    %s dev %s%s"):format(r.dst, r.dev, r.gw and (" via " .. r.gw) or ""))
  end
  return reached
end))
nsl.close(to_child_r)
nsl.close(to_parent_w)

assert(nsl.read(to_parent_r) == "ready", "the child failed")
-- veth0 stays here; veth1 is created directly in the child's namespace.
assert(net.veth("veth0", "veth1", {peer_netns = pid}))
assert(net.addr_add("veth0", "10.1.1.1/24"))
assert(net.up("veth0"))
assert(net.addr_add("veth1", "10.1.1.2/24", {netns = pid}))  -- acting in the child's namespace
assert(net.up("veth1", {netns = pid}))
print("parent: veth0 10.1.1.1/24 here, veth1 10.1.1.2/24 in the child")
local reached = quiet_ping("10.1.1.2")
print("parent: ping 10.1.1.2 (the child): " .. (reached and "answers" or "no answer"))
assert(nsl.write(to_child_w, "go"))

local ok = nsl.wait(pid)
print(ok and reached and "both sides reached each other" or "something did not work")
return ok and reached
