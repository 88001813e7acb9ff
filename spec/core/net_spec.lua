-- nsl.net: links, addresses, routes and named namespaces over netlink.
-- Every test acts in network namespaces it made itself (named ones with a
-- unique name, removed in finally, or children cloned into a new netns);
-- the machine's own interfaces and routes are never touched, and traffic
-- only goes to addresses of those namespaces. Effects are checked from the
-- other side: iproute2's view (ip -n NAME ...), or inside a child.
local nsl = require "nsl"
local T = require "nsltest"
local net = nsl.net

local serial = 0
-- A netns name no one else uses.
local function unique(tag)
  serial = serial + 1
  return ("nslt%d-%s%d"):format(nsl.getpid(), tag or "n", serial)
end

-- Cleanup for one test, run in reverse order when it ends (busted keeps
-- only one finally per test, so they go through this list).
local pending
local function defer(fn)
  if not pending then
    local list = {}
    pending = list
    finally(function()
      pending = nil
      for i = #list, 1, -1 do pcall(list[i]) end
    end)
  end
  pending[#pending + 1] = fn
end

-- Makes named namespaces for one test; finally removes them (and with
-- them every link the test put there).
local function netns(count)
  local names = {}
  for i = 1, count do
    names[i] = unique()
    assert(net.netns_add(names[i]))
  end
  defer(function()
    for _, name in ipairs(names) do net.netns_del(name) end
  end)
  return table.unpack(names)
end

-- iproute2's view: its output, and whether it succeeded.
local function ip(fmt, ...)
  return (T.sh(("ip " .. fmt .. " 2>&1"):format(...)))
end
local function ip_ok(fmt, ...)
  local _, ok = T.sh(("ip " .. fmt .. " >/dev/null 2>&1"):format(...))
  return ok == true
end


local function find_link(links, name)
  for _, l in ipairs(links) do
    if l.name == name then return l end
  end
end

local function has(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- A child in a new network namespace that lives until release() is called;
-- for the pid and /proc path forms of opts.netns.
local function holder()
  local r, w = assert(nsl.pipe())
  local pid = assert(nsl.clone({"net"}, function()
    nsl.close(w)
    nsl.read(r, 1) -- end of file: released, or the caller is gone
    return 0
  end, {pdeathsig = "KILL"}))
  nsl.close(r)
  local released = false
  local function release()
    if released then return end
    released = true
    nsl.close(w)
    nsl.wait(pid)
  end
  defer(release)
  return pid, release
end

-- What a process in the namespace of pid sees, through nsenter.
local function ip_in(pid, args)
  local out, ok = T.sh(("nsenter -t %d -n ip %s 2>&1"):format(pid, args))
  return out, ok == true
end

describe("nsl.net named namespaces", function()
  it("netns_add makes a namespace ip netns lists and can enter; netns_del removes it", function()
    local name = unique()
    assert.is_true(net.netns_add(name))
    local removed = false
    defer(function() if not removed then net.netns_del(name) end end)

    assert.is_true(has(net.netns_list(), name))
    local list = ip("netns list")
    assert.matches(name, list, 1, true)
    -- a bind-mounted nsfs file, as iproute2 makes them
    local fstype = T.sh("stat -f -c %T /run/netns/" .. name)
    assert.are.equal("nsfs", fstype)
    -- inside: only lo, down
    assert.is_true(ip_ok("netns exec %s true", name))
    local links = ip("netns exec %s ip -br link", name)
    assert.matches("^lo%s+DOWN", links)
    assert.is_nil(links:find("\n"))
    -- a different namespace from the caller's
    local theirs = T.sh(("ip netns exec %s stat -L -c %%i /proc/self/ns/net"):format(name))
    assert.are_not.equal(tostring(nsl.nsid("self", "net")), theirs)

    assert.is_true(net.netns_del(name))
    removed = true
    assert.is_false(has(net.netns_list(), name))
    assert.is_nil(ip("netns list"):find(name, 1, true))
    assert.is_nil(io.open("/run/netns/" .. name))
  end)

  it("makes /run/netns a shared mount, as ip netns add does", function()
    netns(1)
    local prop = T.sh("findmnt -n -o PROPAGATION /run/netns")
    assert.matches("shared", prop)
  end)

  it("acts in a namespace made by ip netns add", function()
    local name = unique("ip")
    assert.is_true(ip_ok("netns add %s", name))
    defer(function() ip("netns del %s", name) end)

    assert.is_true(has(net.netns_list(), name))
    assert.is_true(net.up("lo", {netns = name}))
    assert.matches("<LOOPBACK,UP", ip("-n %s link show lo", name))
    assert.is_true(net.netns_del(name))
    assert.is_nil(ip("netns list"):find(name, 1, true))
  end)

  it("reports an existing or missing name as nil, message, errno", function()
    local name = netns(1)
    local ok, msg, code = net.netns_add(name)
    assert.is_nil(ok)
    assert.are.equal("netns_add " .. name .. ": File exists", msg)
    assert.are.equal(17, code)
    local missing = unique("missing")
    ok, msg, code = net.netns_del(missing)
    assert.is_nil(ok)
    assert.are.equal("netns_del " .. missing .. ": No such file or directory", msg)
    assert.are.equal(2, code)
  end)

  it("returns a sorted list of names", function()
    local list = net.netns_list()
    local sorted = {table.unpack(list)}
    table.sort(sorted)
    assert.are.same(sorted, list)
  end)

  it("leaves the caller in its own network namespace", function()
    local before = nsl.nsid("self", "net")
    local a = netns(1)
    assert(net.veth("v0", "v1", {netns = a}))
    assert(net.addr_add("v0", "10.7.0.1/24", {netns = a}))
    assert(net.links({netns = a}))
    assert.is_nil(net.up("nonexistent0", {netns = a}))
    assert.are.equal(before, nsl.nsid("self", "net"))
    assert.are.equal(tostring(before), T.sh("stat -L -c %i /proc/" .. nsl.getpid() .. "/task/*/ns/net"))
  end)
end)

describe("nsl.net in a new network namespace", function()
  it("sees only lo, down, and no routes", function()
    local ok = T.child({"net"}, function()
      local links = assert(net.links())
      assert(#links == 1 and links[1].name == "lo" and links[1].up == false,
             "expected only lo, down")
      assert(links[1].index == 1 and links[1].kind == nil and links[1].mtu == 65536)
      assert(#assert(net.routes()) == 0, "expected no routes")
    end)
    assert.is_true(ok)
  end)

  it("up('lo') makes ping 127.0.0.1 work", function()
    local ok, _, code = T.child({"net"}, function()
      if os.execute("ping -c1 -W1 127.0.0.1 >/dev/null 2>&1") then return 10 end
      assert(net.up("lo"))
      local out = io.popen("ip -br link show lo"):read("a")
      if not out:find("UNKNOWN") then return 11 end
      if not os.execute("ping -c1 -W1 127.0.0.1 >/dev/null 2>&1") then return 12 end
      local lo = assert(net.links())[1]
      if not (lo.up and has(lo.addrs, "127.0.0.1/8")) then return 13 end
      return 0
    end)
    assert.is_true(ok, "child status " .. tostring(code))
  end)
end)

describe("nsl.net.veth", function()
  it("creates a pair in a namespace, both ends of kind veth", function()
    local a = netns(1)
    assert.is_true(net.veth("va", "vb", {netns = a}))
    local out = ip("-n %s -br link", a)
    assert.matches("va@vb", out, 1, true)
    assert.matches("vb@va", out, 1, true)
    local links = net.links({netns = a})
    assert.are.equal("veth", find_link(links, "va").kind)
    assert.are.equal("veth", find_link(links, "vb").kind)
    assert.is_false(find_link(links, "va").up)
  end)

  it("creates the peer directly in peer_netns", function()
    local a, b = netns(2)
    assert.is_true(net.veth("va", "eth0", {netns = a, peer_netns = b}))
    assert.matches("^va@", ip("-n %s -br link show va", a))
    assert.matches("^eth0@", ip("-n %s -br link show eth0", b))
    local found = ip_ok("-n %s link show eth0", a)
    assert.is_false(found)
  end)

  it("reports an existing name as nil, 'veth a/b: File exists', EEXIST", function()
    local a = netns(1)
    assert(net.veth("va", "vb", {netns = a}))
    local ok, msg, code = net.veth("va", "vc", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("veth va/vc: File exists", msg)
    assert.are.equal(17, code)
  end)

  it("leaves nothing behind when the peer cannot go to peer_netns", function()
    local a, b = netns(2)
    assert(net.veth("vb", "other", {netns = b}))   -- "vb" is taken in b
    local ok, msg, code = net.veth("va", "vb", {netns = a, peer_netns = b})
    assert.is_nil(ok)
    assert.are.equal("veth va/vb: File exists", msg)
    assert.are.equal(17, code)
    local found = ip_ok("-n %s link show va", a)
    assert.is_false(found)
    local stray = ip_ok("-n %s link show vb", a)
    assert.is_false(stray)
    assert.is_nil(find_link(net.links({netns = a}), "va"))
  end)

  it("reports a missing namespace with its path", function()
    local missing = unique("missing")
    local ok, msg, code = net.veth("va", "vb", {peer_netns = missing})
    assert.is_nil(ok)
    assert.are.equal("veth va/vb: netns /run/netns/" .. missing .. ": No such file or directory", msg)
    assert.are.equal(2, code)
  end)

  it("accepts a pid, a /proc path and a /run/netns path as netns", function()
    local pid = holder()
    local a = netns(1)
    assert.is_true(net.veth("p0", "p1", {netns = pid}))
    assert.is_true(net.veth("q0", "q1", {netns = "/proc/" .. pid .. "/ns/net"}))
    assert.is_true(net.veth("r0", "r1", {netns = "/run/netns/" .. a, peer_netns = pid}))
    local seen = ip_in(pid, "-br link")
    for _, name in ipairs({"p0", "p1", "q0", "q1", "r1"}) do
      assert.matches("\n" .. name .. "@", "\n" .. seen)
    end
    assert.is_nil(seen:find("r0@", 1, true))
    assert.matches("^r0@", ip("-n %s -br link show r0", a))
  end)
end)

describe("nsl.net.set", function()
  it("changes mtu, mac, name and the up flag, seen by ip", function()
    local a = netns(1)
    assert(net.veth("va", "vb", {netns = a}))
    assert.is_true(net.set("va", {mtu = 1400, mac = "02:00:00:00:00:0a"}, {netns = a}))
    local out = ip("-n %s link show va", a)
    assert.matches("mtu 1400", out, 1, true)
    assert.matches("link/ether 02:00:00:00:00:0a", out, 1, true)
    assert.is_true(net.set("va", {name = "renamed"}, {netns = a}))
    local old = ip_ok("-n %s link show va", a)
    assert.is_false(old)
    assert.is_true(net.set("renamed", {up = true}, {netns = a}))
    assert.matches("<[^>]*,UP", ip("-n %s link show renamed", a))
    local l = find_link(net.links({netns = a}), "renamed")
    assert.is_true(l.up)
    assert.are.equal(1400, l.mtu)
    assert.are.equal("02:00:00:00:00:0a", l.mac)
    assert.is_true(net.down("renamed", {netns = a}))
    assert.is_false(find_link(net.links({netns = a}), "renamed").up)
  end)

  it("sets how IPv6 makes the link-local address (addrgenmode), as ip -d shows", function()
    local a = netns(1)
    assert(net.veth("va", "vb", {netns = a}))
    assert.matches("addrgenmode eui64", ip("-n %s -d link show va", a), 1, true)
    assert.is_true(net.set("va", {addrgenmode = "none", up = true}, {netns = a}))
    assert.is_true(net.set("vb", {addrgenmode = "random", up = true}, {netns = a}))
    assert.matches("addrgenmode none", ip("-n %s -d link show va", a), 1, true)
    assert.matches("addrgenmode random", ip("-n %s -d link show vb", a), 1, true)
    -- vb makes its fe80:: address once the kernel sees the carrier; va never
    local vb
    for _ = 1, 150 do
      vb = ip("-n %s -6 addr show dev vb", a)
      if vb:find("fe80:", 1, true) then break end
      nsl.sleep(0.02)
    end
    assert.matches("inet6 fe80:", vb, 1, true)
    assert.is_nil(ip("-n %s -6 addr show dev va", a):find("inet6", 1, true))
    assert.has_error(function() net.set("va", {addrgenmode = "eui48"}, {netns = a}) end,
      'set attributes: field \'addrgenmode\' must be "eui64", "none", "stable_secret" or "random"')
  end)

  it("brings a link up with addrgenmode none and no link-local address, also when its peer is up", function()
    -- the kernel applies the flags of a request before its addrgenmode:
    -- a link up in the same request would get its address by the old mode
    local a, b = netns(2)
    assert(net.veth("va", "vb", {netns = a}))
    assert(net.veth("wa", "wb", {netns = a}))
    assert.is_true(net.up("vb", {netns = a}))
    assert.is_true(net.set("va", {addrgenmode = "none", up = true}, {netns = a}))
    assert.is_true(net.up("wb", {netns = a}))
    assert.is_true(net.set("wa", {netns = b, name = "eth0", addrgenmode = "none", up = true}, {netns = a}))
    assert.matches("<[^>]*,UP", ip("-n %s link show eth0", b))
    -- the carrier is there once vb and wb, in eui64 mode, have theirs
    for _, dev in ipairs({ "vb", "wb" }) do
      for _ = 1, 150 do
        if ip("-n %s -6 addr show dev %s", a, dev):find("fe80:", 1, true) then break end
        nsl.sleep(0.02)
      end
      assert.matches("inet6 fe80:", ip("-n %s -6 addr show dev %s", a, dev), 1, true)
    end
    assert.is_nil(ip("-n %s -6 addr show dev va", a):find("inet6", 1, true))
    assert.is_nil(ip("-n %s -6 addr show dev eth0", b):find("inet6", 1, true))
  end)

  it("moves a link to another namespace, renamed and up in one call", function()
    local a, b = netns(2)
    assert(net.veth("va", "vb", {netns = a}))
    assert.is_true(net.set("vb", {netns = b, name = "eth0", up = true}, {netns = a}))
    local still = ip_ok("-n %s link show vb", a)
    assert.is_false(still)
    assert.matches("<[^>]*,UP", ip("-n %s link show eth0", b))
  end)

  it("attaches to a bridge with master and detaches with master = false", function()
    local a = netns(1)
    assert.is_true(net.bridge("br0", {netns = a}))
    assert(net.veth("va", "vb", {netns = a}))
    assert.is_true(net.set("va", {master = "br0"}, {netns = a}))
    assert.matches("master br0", ip("-n %s link show va", a), 1, true)
    local links = net.links({netns = a})
    assert.are.equal("br0", find_link(links, "va").master)
    assert.are.equal("bridge", find_link(links, "br0").kind)
    assert.is_true(net.set("va", {master = false}, {netns = a}))
    assert.is_nil(ip("-n %s link show va", a):find("master", 1, true))
  end)

  it("reports a missing link or master as nil, message, ENODEV", function()
    local a = netns(1)
    local ok, msg, code = net.up("nope0", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("up nope0: No such device", msg)
    assert.are.equal(19, code)
    ok, msg, code = net.set("lo", {master = "nobr"}, {netns = a})
    assert.is_nil(ok)
    assert.are.equal("set lo: master nobr: No such device", msg)
    assert.are.equal(19, code)
  end)
end)

describe("nsl.net.link", function()
  it("describes one link as links() does: kind, master, addresses, mtu, mac", function()
    local a = netns(1)
    assert(net.bridge("br0", {netns = a}))
    assert(net.veth("va", "vb", {netns = a}))
    assert(net.set("va", {master = "br0", mtu = 1400}, {netns = a}))
    assert(net.addr_add("br0", "10.77.0.1/24", {netns = a}))
    local links = assert(net.links({netns = a}))
    for _, name in ipairs({"lo", "br0", "va", "vb"}) do
      assert.are.same(find_link(links, name), assert(net.link(name, {netns = a})))
    end
    local va = net.link("va", {netns = a})
    assert.are.same({"veth", "br0", 1400}, {va.kind, va.master, va.mtu})
    assert.are.same({"10.77.0.1/24"}, net.link("br0", {netns = a}).addrs)
    assert.matches(va.mac, ip("-n %s link show va", a), 1, true)
  end)

  it("reports a missing link as nil, message, ENODEV, and a bad name as an error", function()
    local a = netns(1)
    local ok, msg, code = net.link("nope0", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("link nope0: No such device", msg)
    assert.are.equal(19, code)
    assert.has_error(function() net.link(("x"):rep(16)) end)
    assert.has_error(function() net.link("lo", {bogus = 1}) end)
  end)
end)

describe("nsl.net addresses", function()
  it("adds and removes IPv4 and IPv6 addresses", function()
    local a = netns(1)
    assert(net.veth("va", "vb", {netns = a}))
    assert.is_true(net.addr_add("va", "10.1.1.1/24", {netns = a}))
    assert.is_true(net.addr_add("va", "fd00:1::1/64", {netns = a}))
    assert.is_true(net.addr_add("va", "10.1.2.1", {netns = a}))
    local out = ip("-n %s addr show dev va", a)
    assert.matches("inet 10.1.1.1/24", out, 1, true)
    assert.matches("inet 10.1.2.1/32", out, 1, true)
    assert.matches("inet6 fd00:1::1/64", out, 1, true)
    local addrs = find_link(net.links({netns = a}), "va").addrs
    assert.is_true(has(addrs, "10.1.1.1/24"))
    assert.is_true(has(addrs, "fd00:1::1/64"))
    assert.is_true(has(addrs, "10.1.2.1/32"))

    assert.is_true(net.addr_del("va", "10.1.1.1/24", {netns = a}))
    assert.is_true(net.addr_del("va", "fd00:1::1/64", {netns = a}))
    out = ip("-n %s addr show dev va", a)
    assert.is_nil(out:find("10.1.1.1", 1, true))
    assert.is_nil(out:find("fd00:1::1", 1, true))
  end)

  it("reports duplicates and missing addresses as nil, message, errno", function()
    local a = netns(1)
    assert(net.addr_add("lo", "10.3.0.1/24", {netns = a}))
    local ok, msg, code = net.addr_add("lo", "10.3.0.1/24", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("addr_add lo 10.3.0.1/24: File exists", msg)
    assert.are.equal(17, code)
    ok, msg, code = net.addr_del("lo", "10.3.0.9/24", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("addr_del lo 10.3.0.9/24: Cannot assign requested address", msg)
    assert.are.equal(99, code)
    ok, msg, code = net.addr_add("nope0", "10.3.0.1/24", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("addr_add nope0 10.3.0.1/24: No such device", msg)
    assert.are.equal(19, code)
  end)
end)

describe("nsl.net routes", function()
  it("adds routes through a gateway, a device, and a default route", function()
    local a = netns(1)
    local opt = {netns = a}
    assert(net.veth("va", "vb", opt))
    assert(net.addr_add("va", "10.1.1.1/24", opt))
    assert(net.up("va", opt))
    assert.is_true(net.route_add("10.2.0.0/16", {gw = "10.1.1.2"}, opt))
    assert.is_true(net.route_add("10.3.0.0/16", {dev = "va", metric = 50}, opt))
    assert.is_true(net.route_add("default", {gw = "10.1.1.254", dev = "va"}, opt))
    local out = ip("-n %s route", a)
    assert.matches("default via 10.1.1.254 dev va", out, 1, true)
    assert.matches("10.2.0.0/16 via 10.1.1.2 dev va", out, 1, true)
    assert.matches("10.3.0.0/16 dev va [^\n]*metric 50", out)

    local routes = net.routes({netns = a, family = "inet"})
    local by_dst = {}
    for _, r in ipairs(routes) do by_dst[r.dst] = r end
    assert.are.same({dst = "default", gw = "10.1.1.254", dev = "va", family = "inet", metric = 0}, by_dst.default)
    assert.are.same({dst = "10.2.0.0/16", gw = "10.1.1.2", dev = "va", family = "inet", metric = 0}, by_dst["10.2.0.0/16"])
    assert.are.equal(50, by_dst["10.3.0.0/16"].metric)
    assert.are.equal("va", by_dst["10.1.1.0/24"].dev)
    assert.are.equal(4, #routes)

    assert.is_true(net.route_del("10.2.0.0/16", nil, opt))
    assert.is_true(net.route_del("default", {gw = "10.1.1.254"}, opt))
    out = ip("-n %s route", a)
    assert.is_nil(out:find("10.2.0.0", 1, true))
    assert.is_nil(out:find("default", 1, true))
    local ok, msg, code = net.route_del("10.2.0.0/16", nil, opt)
    assert.is_nil(ok)
    assert.are.equal("route_del 10.2.0.0/16: No such process", msg)
    assert.are.equal(3, code)
  end)

  it("handles IPv6 routes and filters by family", function()
    local a = netns(1)
    local opt = {netns = a}
    assert(net.veth("va", "vb", opt))
    assert(net.up("va", opt))
    assert.is_true(net.route_add("fd00:2::/64", {dev = "va"}, opt))
    assert.is_true(net.route_add("default", {gw = "fe80::1", dev = "va"}, opt))
    local out = ip("-n %s -6 route", a)
    assert.matches("fd00:2::/64 dev va", out, 1, true)
    assert.matches("default via fe80::1 dev va", out, 1, true)
    local v6 = net.routes({netns = a, family = "inet6"})
    local dsts = {}
    for _, r in ipairs(v6) do
      assert.are.equal("inet6", r.family)
      dsts[r.dst] = r.gw or true
    end
    assert.are.equal(true, dsts["fd00:2::/64"])
    assert.are.equal("fe80::1", dsts.default)
    assert.are.same({}, net.routes({netns = a, family = "inet"}))
    assert.is_true(net.route_del("fd00:2::/64", {dev = "va"}, opt))
    assert.is_nil(ip("-n %s -6 route", a):find("fd00:2::", 1, true))
  end)

  it("reports an unreachable gateway as nil, message, errno", function()
    local a = netns(1)
    local ok, msg, code = net.route_add("10.2.0.0/16", {gw = "10.9.9.9"}, {netns = a})
    assert.is_nil(ok)
    assert.are.equal("route_add 10.2.0.0/16: Network is unreachable", msg)
    assert.are.equal(101, code)
  end)
end)

describe("nsl.net.delete and bridge", function()
  it("deletes both ends of a veth pair, and reports a missing link", function()
    local a, b = netns(2)
    assert(net.veth("va", "vb", {netns = a, peer_netns = b}))
    assert.is_true(net.delete("va", {netns = a}))
    local found = ip_ok("-n %s link show vb", b)
    assert.is_false(found)
    local ok, msg, code = net.delete("va", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("delete va: No such device", msg)
    assert.are.equal(19, code)
  end)

  it("reports a bridge that exists as nil, message, EEXIST", function()
    local a = netns(1)
    assert(net.bridge("br0", {netns = a}))
    local ok, msg, code = net.bridge("br0", {netns = a})
    assert.is_nil(ok)
    assert.are.equal("bridge br0: File exists", msg)
    assert.are.equal(17, code)
    assert.is_true(net.delete("br0", {netns = a}))
    assert.is_nil(find_link(net.links({netns = a}), "br0"))
  end)
end)

describe("nsl.net traffic", function()
  it("two namespaces joined by a veth pair ping each other", function()
    local a, b = netns(2)
    assert(net.veth("va", "vb", {netns = a, peer_netns = b}))
    assert(net.addr_add("va", "10.77.0.1/24", {netns = a}))
    assert(net.addr_add("vb", "10.77.0.2/24", {netns = b}))
    assert(net.up("va", {netns = a}))
    assert(net.up("vb", {netns = b}))
    local ok = ip_ok("netns exec %s ping -c1 -W2 10.77.0.2", a)
    assert.is_true(ok)
    ok = ip_ok("netns exec %s ping -c1 -W2 10.77.0.1", b)
    assert.is_true(ok)
  end)

  it("namespaces on one bridge reach each other", function()
    local hub, a, b = netns(3)
    assert(net.bridge("br0", {netns = hub}))
    assert(net.up("br0", {netns = hub}))
    for i, ns in ipairs({a, b}) do
      assert(net.veth("p" .. i, "eth0", {netns = hub, peer_netns = ns}))
      assert(net.set("p" .. i, {master = "br0", up = true}, {netns = hub}))
      assert(net.addr_add("eth0", "10.78.0." .. i .. "/24", {netns = ns}))
      assert(net.up("eth0", {netns = ns}))
    end
    local ok = ip_ok("netns exec %s ping -c1 -W2 10.78.0.2", a)
    assert.is_true(ok)
  end)

  it("a child in a new netns pings its parent's end of a veth pair", function()
    local parent = netns(1)
    local go = os.tmpname()
    local pid = assert(nsl.clone({"net"}, function()
      while io.open(go) do os.execute("sleep 0.02") end
      -- seen from inside: the peer arrived, with its address
      local f = io.open("/proc/net/dev"):read("a")
      if not f:find("eth0:", 1, true) then return 10 end
      if not os.execute("ping -c1 -W2 10.79.0.1 >/dev/null 2>&1") then return 11 end
      return 0
    end, {pdeathsig = "KILL"}))
    defer(function() os.remove(go) end)
    local ok1 = net.veth("host0", "eth0", {netns = parent, peer_netns = pid})
    local ok2 = ok1 and net.addr_add("host0", "10.79.0.1/24", {netns = parent})
    local ok3 = ok2 and net.addr_add("eth0", "10.79.0.2/24", {netns = pid})
    local ok4 = ok3 and net.up("host0", {netns = parent}) and net.up("eth0", {netns = pid})
    os.remove(go)
    local ok, _, code = nsl.wait(pid)
    assert.is_true(ok1 and ok2 and ok3 and ok4)
    assert.is_true(ok, "child status " .. tostring(code))
  end)
end)

describe("nsl.net argument checking", function()
  local function raises(pattern, fn, ...)
    local args = table.pack(...)
    local ok, err = pcall(fn, table.unpack(args, 1, args.n))
    assert.is_false(ok, "expected an error matching " .. pattern)
    assert.matches(pattern, tostring(err))
  end

  it("rejects bad interface names", function()
    raises("interface name 'abcdefghijklmnop' is longer than 15 bytes", net.veth, "abcdefghijklmnop", "x")
    raises("bad argument #2 .*interface name 'b/c' must not contain '/'", net.veth, "a", "b/c")
    local ok, err = pcall(function() net.veth("a", "b/c") end)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'veth'", err)
    raises("NUL byte", net.up, "lo\0x")
    raises("interface name is empty", net.delete, "")
    raises("string expected, got number", net.up, 5)
    raises("field 'name': invalid interface name", net.set, "lo", {name = "x y"})
    raises("field 'dev': invalid interface name", net.route_add, "10.0.0.0/8", {dev = "abcdefghijklmnop"})
  end)

  it("rejects malformed addresses and routes", function()
    raises("malformed address '10.1.1/24'", net.addr_add, "lo", "10.1.1/24")
    raises("IPv4 prefix length must be 0 to 32", net.addr_add, "lo", "10.1.1.1/33")
    raises("malformed address '10.1.1.1/'", net.addr_add, "lo", "10.1.1.1/")
    raises("malformed address 'fd00::1/1x'", net.addr_del, "lo", "fd00::1/1x")
    raises("malformed address 'lo'", net.addr_add, "lo", "lo")
    raises("bits set after the prefix length", net.route_add, "10.1.1.1/24", {dev = "lo"})
    raises("needs 'gw', 'dev' or both", net.route_add, "10.0.0.0/8", {})
    raises("field 'gw' must be an IPv4 or IPv6 address", net.route_add, "10.0.0.0/8", {gw = "10.0.0.1/8"})
    raises("different families", net.route_add, "10.0.0.0/8", {gw = "fe80::1"})
    raises("table {gw=, dev=} expected", net.route_add, "10.0.0.0/8")
  end)

  it("rejects unknown keys and wrong types in attributes and options", function()
    raises("set attributes: unknown field 'mtuu'", net.set, "lo", {mtuu = 1400})
    raises("set attributes: field 'up' must be a boolean", net.set, "lo", {up = 1})
    raises("set attributes: field 'mtu' must be a positive integer", net.set, "lo", {mtu = "big"})
    raises("set attributes: field 'mac' must be a MAC address", net.set, "lo", {mac = "02:00:00:00:00"})
    raises("up options: unknown field 'ns'", net.up, "lo", {ns = "x"})
    raises("veth options: unknown field 'peer'", net.veth, "a", "b", {peer = "x"})
    raises("routes options: field 'family' must be", net.routes, {family = "ipx"})
    raises("too many arguments", net.links, {}, {})
    raises("too many arguments", net.netns_list, 1)
  end)

  it("rejects bad namespace names and targets", function()
    raises("netns name 'a/b' must not contain '/'", net.netns_add, "a/b")
    raises("netns name 'a/b' must not contain '/'", net.netns_del, "a/b")
    raises("invalid netns name '%.%.'", net.netns_add, "..")
    raises("NUL byte", net.netns_add, "a\0b")
    raises("invalid netns name 'a/b'", net.up, "lo", {netns = "a/b"})
    raises("field 'netns' must be a positive integer pid", net.links, {netns = -1})
    raises("field 'netns' must be a pid, a path or a netns name %(got table%)", net.links, {netns = {}})
    raises("field 'peer_netns' contains a NUL byte", net.veth, "a", "b", {peer_netns = "x\0"})
  end)
end)
