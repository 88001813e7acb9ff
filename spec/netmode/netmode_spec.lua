-- nsl.netmode: the container's `net` field checked, then each mode set up
-- against a real child in a new network namespace, looked at from both
-- sides, and cleaned up. Interfaces made in the machine's own namespace
-- have names unique to this run and are removed in `finally`; subnets are
-- drawn at random from 10.240.0.0/12 so concurrent runs do not meet.
local nsl = require "nsl"
local T = require "nsltest"
local exists = T.exists
local netmode = require "nsl.netmode"
local net = nsl.net

local function rand_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local s = f:read(n)
  f:close()
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- "nslsp" + 6 hex digits: at most 11 characters, unique to this run.
local function ifname()
  return "nslsp" .. rand_hex(3)
end

-- A random /24 in 10.240.0.0/12: "10.24x.y." (append the host part).
local function subnet24()
  local b = assert(io.open("/dev/urandom", "rb")):read(2)
  return ("10.%d.%d."):format(240 + b:byte(1) % 16, b:byte(2))
end

-- A child in a new network namespace that waits until released.
local function waiting_child()
  local r, w = assert(nsl.pipe())
  local pid = assert(nsl.clone({ "net" }, function()
    -- Only r: the write ends of other waiting children must not stay
    -- open here, or releasing them would not reach them.
    nsl.close_fds(3, { keep = { r } })
    nsl.read(r)
    return 0
  end))
  nsl.close(r)
  return pid, function()
    if w then nsl.close(w); w = nil; nsl.wait(pid) end
  end
end

local function link(name, opts)
  for _, l in ipairs(assert(net.links(opts))) do
    if l.name == name then return l end
  end
end

local function names(opts)
  local out = {}
  for _, l in ipairs(assert(net.links(opts))) do out[#out + 1] = l.name end
  table.sort(out)
  return table.concat(out, ",")
end

local function has_addr(l, cidr)
  for _, a in ipairs(l and l.addrs or {}) do
    if a == cidr then return true end
  end
  return false
end

-- Whether a link has an IPv6 link-local address.
local function has_link_local(l)
  for _, a in ipairs(l and l.addrs or {}) do
    if a:find("^fe80:") then return true end
  end
  return false
end

-- How the kernel makes a link's IPv6 link-local address, as ip(8) shows
-- it ("none": it makes none). pid: in that process's network namespace.
local function addrgenmode(name, pid)
  local out = T.sh(("%sip -d -o link show dev %s"):format(pid and ("nsenter -t %d -n "):format(pid) or "", name))
  return out:match("addrgenmode (%S+)")
end

-- The link once it has a link-local address (it comes when the kernel
-- sees the carrier, asynchronously), or as it is after 3 s.
local function with_link_local(name, opts)
  local l
  for _ = 1, 150 do
    l = link(name, opts)
    if has_link_local(l) then break end
    nsl.sleep(0.02)
  end
  return l
end

local function ping(addr)
  local _, ok = T.sh("ping -c1 -W2 " .. addr .. " >/dev/null 2>&1")
  return ok == true
end

local function ping_from(pid, addr)
  local _, ok = T.sh(("nsenter -t %d -n ping -c1 -W2 %s >/dev/null 2>&1"):format(pid, addr))
  return ok == true
end

local function check_error(net_value, expected)
  local ok, err = pcall(netmode.check, net_value)
  assert.is_false(ok)
  assert.equal(expected, err)
end

describe("netmode.check", function()
  it("takes none (the default) and host", function()
    local none = netmode.check(nil)
    assert.equal("none", none.mode)
    assert.is_true(none.needs_netns)
    assert.is_true(none.inside)
    assert.equal("none", netmode.check("none").mode)
    local host = netmode.check("host")
    assert.is_false(host.needs_netns)
    assert.is_true(host:setup(nsl.getpid()))
    assert.is_true(host:cleanup())
  end)

  it("rejects a bad net field with a message naming it", function()
    check_error("bridge", 'net: unknown mode "bridge" (expected "none", "host", {veth = ...} or {bridge = ...})')
    check_error(3, 'net must be "none", "host" or a table ({veth = ...} or {bridge = ...}), got number')
    check_error({ vet = {} }, "net: unknown field 'vet' (expected veth, bridge, address, host_address, gateway, subnet, mtu, link_local)")
    check_error({ address = "10.1.1.1/24" }, "net: a table needs veth = {host = ..., peer = ...} or bridge = \"name\"")
    check_error({ veth = "veth0" }, 'net.veth must be a table {host = "veth0", peer = "eth0"}, got "veth0"')
    check_error({ veth = { hots = "v" } }, "net.veth: unknown field 'hots' (expected host, peer)")
    check_error({ veth = { peer = "eth0" } }, 'net.veth.host is missing: the name of the host\'s end (for instance "veth0")')
    check_error({ veth = { host = "a-name-much-too-long" } },
      "net.veth.host \"a-name-much-too-long\" is not a valid interface name (1 to 15 characters, no '/', ':' or blanks)")
    check_error({ veth = { host = "v0", peer = "a/b" } },
      "net.veth.peer \"a/b\" is not a valid interface name (1 to 15 characters, no '/', ':' or blanks)")
    check_error({ veth = { host = "v0" }, address = "10.1.1.1" },
      'net.address must be an address with a prefix length such as "10.1.1.1/24", got "10.1.1.1"')
    check_error({ veth = { host = "v0" }, address = "10.1.1.300/24" },
      'net.address must be an address with a prefix length such as "10.1.1.1/24", got "10.1.1.300/24"')
    check_error({ veth = { host = "v0" }, address = "10.1.1.1/24", gateway = "10.1.2.1" },
      "net.gateway 10.1.2.1 is not in the network of net.address 10.1.1.1/24")
    check_error({ veth = { host = "v0" }, gateway = "10.1.2.1" },
      "net.gateway needs net.address (the gateway must be reachable from it)")
    check_error({ veth = { host = "v0" }, address = "10.1.1.1/24", gateway = "10.1.1.2/24" },
      'net.gateway must be an address without a prefix such as "10.1.1.2", got "10.1.1.2/24"')
    check_error({ veth = { host = "v0" }, mtu = 20 }, "net.mtu must be an integer from 68 to 65535, got 20")
    check_error({ bridge = "br0", host_address = "10.1.1.2/24" },
      "net.host_address: in bridge mode the host's address is the bridge's (the gateway); leave it out")
    check_error({ bridge = "br0", subnet = "10.5.0.0/24", address = "10.6.0.2/24" },
      'net.address "10.6.0.2/24" is not an address of the bridge\'s subnet 10.5.0.0/24')
    check_error({ bridge = "br0", subnet = "10.5.0.0/24", gateway = "10.6.0.1" },
      "net.gateway 10.6.0.1 is not in the bridge's subnet 10.5.0.0/24")
    check_error({ bridge = "br0", address = "10.5.0.1/24" },
      'net.address "10.5.0.1/24" is the gateway\'s (the bridge\'s) address')
    check_error({ bridge = "br0", subnet = "10.5.0.0/31" },
      'net.subnet "10.5.0.0/31" is too small to give out addresses (/30 at most)')
  end)

  it("works out the bridge's subnet and gateway", function()
    local p = netmode.check { bridge = "br0" }
    assert.equal(netmode.default_subnet, p.subnet.text)
    assert.equal("10.200.0.1", p.gateway)
    assert.is_nil(p.address) -- given out at setup
    p = netmode.check { bridge = "br0", address = "10.7.3.9/16" }
    assert.equal("10.7.0.0/16", p.subnet.text)
    assert.equal("10.7.0.1", p.gateway)
    assert.equal("10.7.3.9/16", p.address)
  end)

  it("refuses veth and bridge modes rootless, and sets up none", function()
    if not T.bin_reachable() then return pending("the unprivileged uid cannot reach " .. T.bin) end
    local out, err, ok = T.rootless([[
      local nsl = require "nsl"
      local netmode = require "nsl.netmode"
      print(select(2, pcall(netmode.check, {veth = {host = "v0"}})))
      print(select(2, pcall(netmode.check, {bridge = "br0"})))
      local plan = netmode.check("none")
      local r, w = nsl.pipe()
      local pid = nsl.clone({"user", "net"}, function() nsl.close(w); nsl.read(r) end,
        {uid_map = {{0, nsl.getuid(), 1}}, gid_map = {{0, nsl.getgid(), 1}}})
      print(plan:setup(pid), plan.inside, plan:cleanup())
      nsl.close(w)
      print(nsl.wait(pid))
    ]])
    assert.is_true(ok, err)
    assert.equal('net: veth mode needs root (creating interfaces in the host\'s network namespace needs CAP_NET_ADMIN there); rootless containers can use "none"\n'
      .. 'net: bridge mode needs root (creating interfaces in the host\'s network namespace needs CAP_NET_ADMIN there); rootless containers can use "none"\n'
      .. "true\ttrue\ttrue\ntrue\texit\t0", out)
  end)
end)

describe("net = \"none\"", function()
  it("leaves the child with lo alone, up", function()
    local pid, release = waiting_child()
    finally(release)
    local plan = netmode.check("none")
    assert.is_false(link("lo", { netns = pid }).up)
    assert.is_true(plan:setup(pid))
    assert.equal("lo", names { netns = pid })
    assert.is_true(link("lo", { netns = pid }).up)
    assert.is_true(ping_from(pid, "127.0.0.1"))
    assert.is_true(plan:cleanup())
  end)
end)

describe("net = {veth = ...}", function()
  it("connects the child to the host with addresses and a default route", function()
    local host_if = ifname()
    local sub = subnet24()
    local pid, release = waiting_child()
    local plan = netmode.check {
      veth = { host = host_if, peer = "eth0" }, address = sub .. "1/24",
      host_address = sub .. "2/24", gateway = sub .. "2",
    }
    finally(function()
      release()
      if link(host_if) then net.delete(host_if) end
    end)
    assert.is_true(plan:setup(pid))
    local inside = { netns = pid }
    local eth0 = link("eth0", inside)
    assert.equal("veth", eth0.kind)
    assert.is_true(eth0.up)
    assert.is_true(has_addr(eth0, sub .. "1/24"))
    assert.is_true(plan.inside) -- lo: the child brings it up itself
    -- an IPv4 network: no IPv6 link-local address on either end, so no
    -- neighbour discovery or MLD traffic from them
    assert.equal("none", addrgenmode("eth0", pid))
    assert.equal("none", addrgenmode(host_if))
    assert.is_false(has_link_local(link("eth0", inside)))
    local default
    for _, r in ipairs(net.routes { netns = pid, family = "inet" }) do
      if r.dst == "default" then default = r end
    end
    assert.same({ sub .. "2", "eth0" }, { default.gw, default.dev })
    assert.is_true(has_addr(link(host_if), sub .. "2/24"))
    assert.is_true(ping(sub .. "1"))
    assert.is_true(ping_from(pid, sub .. "2"))
    assert.equal(sub .. "1/24", plan.address)

    assert.is_true(plan:cleanup())
    assert.is_nil(link(host_if))
    assert.is_nil(link("eth0", inside))
    assert.is_true(plan:cleanup()) -- idempotent
  end)

  it("refuses a host name that is taken, touching nothing", function()
    local taken, other = ifname(), ifname()
    assert(net.veth(taken, other))
    local pid, release = waiting_child()
    finally(function()
      release()
      net.delete(taken)
    end)
    local plan = netmode.check { veth = { host = taken } }
    local ok, err = pcall(plan.setup, plan, pid)
    assert.is_false(ok)
    assert.equal(("veth %s: an interface of that name exists on the host"):format(taken), err)
    assert.equal("lo", names { netns = pid })
    assert.is_not_nil(link(taken)) -- not the plan's to remove
    assert.is_true(plan:cleanup())
    assert.is_not_nil(link(taken))
  end)

  it("gives both ends IPv6 link-local addresses for an IPv6 network or link_local = true", function()
    for _, net_spec in ipairs {
      { address = "fd00:6::1/64" },
      { address = "10.1.77.1/24", link_local = true },
    } do
      local host_if = ifname()
      local pid, release = waiting_child()
      net_spec.veth = { host = host_if }
      local plan = netmode.check(net_spec)
      local ok, err = pcall(plan.setup, plan, pid)
      local inside, outside = with_link_local("eth0", { netns = pid }), with_link_local(host_if)
      local mode = addrgenmode("eth0", pid)
      plan:cleanup()
      release()
      assert.is_true(ok, err)
      assert.equal("eui64", mode)
      assert.is_true(has_link_local(inside))
      assert.is_true(has_link_local(outside))
    end
    local ok, err = pcall(netmode.check, { veth = { host = "v0" }, link_local = "yes" })
    assert.is_false(ok)
    assert.equal('net.link_local must be a boolean, got "yes"', err)
  end)

  it("undoes its own work when a later step fails, naming the step", function()
    local host_if = ifname()
    local pid, release = waiting_child()
    finally(function()
      release()
      if link(host_if) then net.delete(host_if) end
    end)
    -- IPv6 wants an MTU of at least 1280: the address step fails.
    local plan = netmode.check { veth = { host = host_if }, mtu = 1000, address = "fd00:5::1/64" }
    local ok, err = pcall(plan.setup, plan, pid)
    assert.is_false(ok)
    assert.equal("address fd00:5::1/64: addr_add eth0 fd00:5::1/64: Invalid argument", err)
    assert.is_nil(link(host_if))
    assert.equal("lo", names { netns = pid })
  end)
end)

describe("net = {bridge = ...}", function()
  it("puts the gateway on a bridge it did not make, and takes it off after the last container", function()
    -- issue 15's defect: a bridge made by someone else got no gateway
    -- address, and the containers' default route led nowhere
    local had, pinged, after, still, err = T.inside({ "net" }, function()
      local br, sub = "nslgw0", "10.209.3."
      assert(os.execute("ip link add " .. br .. " type bridge && ip link set " .. br .. " up"))
      local p, release = waiting_child()
      local a = netmode.check { bridge = br, subnet = sub .. "0/24" }
      assert(a:setup(p))
      local had_gw = has_addr(link(br), sub .. "1/24")
      local reached = ping_from(p, sub .. "1")
      release()
      assert(a:cleanup())
      local after_gw = has_addr(link(br), sub .. "1/24")
      local kept = link(br) ~= nil
      -- the bridge has another address in that subnet: refused, naming it
      assert(os.execute("ip addr add " .. sub .. "254/24 dev " .. br))
      local p2, release2 = waiting_child()
      local b = netmode.check { bridge = br, subnet = sub .. "0/24" }
      local ok, why = pcall(b.setup, b, p2)
      release2()
      b:cleanup()
      return had_gw, reached, after_gw, kept, not ok and why or "set up"
    end)
    assert.is_true(had)
    assert.is_true(pinged)
    assert.is_false(after)
    assert.is_true(still)
    assert.matches("bridge nslgw0: its address in 10.209.3.0/24 is 10.209.3.254/24, not the gateway 10.209.3.1 "
      .. '%(give net.gateway = "10.209.3.254"%)', err)
  end)

  it("creates the bridge, gives each container its own address, and removes all of it", function()
    local br = ifname()
    local sub = subnet24()
    local leases = netmode.lease_dir(br)
    local p1, release1 = waiting_child()
    local p2, release2 = waiting_child()
    local a = netmode.check { bridge = br, subnet = sub .. "0/24" }
    local b = netmode.check { bridge = br, subnet = sub .. "0/24" }
    finally(function()
      release1(); release2()
      a:cleanup(); b:cleanup()
      if link(br) then net.delete(br) end
      os.execute("rm -rf " .. T.quote(leases))
    end)
    assert.is_nil(link(br))
    assert.is_true(a:setup(p1))
    assert.is_true(b:setup(p2))
    local bridge = link(br)
    assert.equal("bridge", bridge.kind)
    assert.is_true(has_addr(bridge, sub .. "1/24"))
    assert.equal(sub .. "2/24", a.address)
    assert.equal(sub .. "3/24", b.address)
    assert.equal(br, link(a.host_if).master)
    assert.equal(br, link(b.host_if).master)
    assert.is_true(has_addr(link("eth0", { netns = p2 }), sub .. "3/24"))
    -- bridge ports and IPv4 containers make no IPv6 link-local traffic
    -- for the bridge to flood to every port
    assert.equal("none", addrgenmode(a.host_if))
    assert.equal("none", addrgenmode("eth0", p2))
    assert.is_true(ping(sub .. "2"))
    assert.is_true(ping(sub .. "3"))
    assert.is_true(ping_from(p1, sub .. "3")) -- container to container, through the bridge
    assert.is_true(exists(leases .. "/" .. sub .. "2"))

    -- The first to end leaves the bridge to the other.
    local a_if = a.host_if
    assert.is_true(a:cleanup())
    assert.is_nil(link(a_if))
    assert.is_false(exists(leases .. "/" .. sub .. "2"))
    assert.is_not_nil(link(br))
    assert.is_true(ping(sub .. "3"))
    -- The last one removes the bridge nsl made, and the lease directory.
    local b_if = b.host_if
    assert.is_true(b:cleanup())
    assert.is_nil(link(b_if))
    assert.is_nil(link(br))
    assert.is_false(exists(leases))
  end)

  it("never gives out an address a running container holds, and takes back a dead one's", function()
    -- a /30: one address besides the gateway, so the dead one's must be
    -- taken back (free addresses go first, as a claim costs writes)
    local br = ifname()
    local sub = subnet24()
    local leases = netmode.lease_dir(br)
    local p1, release1 = waiting_child()
    local p2, release2 = waiting_child()
    local a = netmode.check { bridge = br, subnet = sub .. "0/30" }
    local clash = netmode.check { bridge = br, subnet = sub .. "0/30", address = sub .. "2/30" }
    local c = netmode.check { bridge = br, subnet = sub .. "0/30" }
    finally(function()
      release1(); release2()
      a:cleanup(); clash:cleanup(); c:cleanup()
      if link(br) then net.delete(br) end
      os.execute("rm -rf " .. T.quote(leases))
    end)
    assert.is_true(a:setup(p1))
    assert.equal(sub .. "2/30", a.address)
    local ok, err = pcall(clash.setup, clash, p2)
    assert.is_false(ok)
    assert.equal(("address %s2/30: %s2 is in use by a running container"):format(sub, sub), err)
    assert.is_nil(link("eth0", { netns = p2 }))

    -- The first container dies without its cleanup: its lease is stale.
    local a_if = a.host_if
    release1()
    a.created_veth, a.leased = nil, nil -- as if its script had been killed
    -- The kernel takes the dead container's veth away with its network
    -- namespace, asynchronously: until then it is still a port of the bridge.
    for _ = 1, 100 do
      if not link(a_if) then break end
      T.sh("sleep 0.02")
    end
    assert.is_nil(link(a_if))
    assert.is_true(exists(leases .. "/" .. sub .. "2"))
    assert.is_true(c:setup(p2))
    assert.equal(sub .. "2/30", c.address)
    assert.is_true(c:cleanup())
    assert.is_nil(link(br))
  end)

  it("clears a claim its claimer died making, and keeps one still being made", function()
    -- a script killed between making its claim and writing the claim's
    -- owner leaves a claim with no owner: it must not keep the lease
    -- directory once the last container ends; a live claimer's must stay
    local br = ifname()
    local sub = subnet24()
    local leases = netmode.lease_dir(br)
    local pid, release = waiting_child()
    local dead = assert(nsl.clone(nil, function() return 0 end))
    nsl.wait(dead)
    local plan = netmode.check { bridge = br, subnet = sub .. "0/24" }
    finally(function()
      release()
      plan:cleanup()
      if link(br) then net.delete(br) end
      os.execute("rm -rf " .. T.quote(leases))
    end)
    assert.is_true(plan:setup(pid))
    local orphan = ("%s/.claim-%d-aaaaaa"):format(leases, dead)
    assert(nsl.mkdir(orphan, 448))
    assert.is_true(plan:cleanup())
    assert.is_false(exists(orphan))
    assert.is_nil(link(br))
    assert.is_false(exists(leases))

    assert.is_true(plan:setup(pid))
    local making = ("%s/.claim-%d-bbbbbb"):format(leases, nsl.getpid())
    assert(nsl.mkdir(making, 448))
    assert.is_true(plan:cleanup())
    assert.is_true(exists(making))
    assert.is_true(exists(leases))
  end)

  it("keeps a bridge's leases by network namespace, and cleans up in the bridge's own", function()
    -- Two scripts in two network namespaces (those of pa and pb), each
    -- with a bridge of the same name and the same address: two bridges,
    -- neither address in use by the other. Each script ends without its
    -- cleanup (as if killed); a later process in the test's namespace
    -- cleans up after each, in that script's namespace.
    local state = require "nsl.state"
    local br, sub = ifname(), subnet24()
    local pa, release_a = waiting_child()
    local pb, release_b = waiting_child()
    local ca, release_ca = waiting_child()
    local cb, release_cb = waiting_child()
    local plans = {}
    finally(function()
      release_ca(); release_cb(); release_a(); release_b()
      os.execute("rm -rf " .. T.quote(netmode.state_dir) .. "/" .. br .. "@*") -- whichever namespace
    end)
    local function set_up_in(pid, container)
      local r, w = assert(nsl.pipe())
      local child = assert(nsl.clone(nil, function()
        nsl.close(r)
        assert(nsl.setns("/proc/" .. pid .. "/ns/net", "net"))
        local plan = netmode.check { bridge = br, subnet = sub .. "0/24", address = sub .. "2/24" }
        local ok, err = pcall(plan.setup, plan, container)
        nsl.write(w, ok and state.encode(plan) or "error " .. tostring(err))
        return 0
      end, { collect = false }))
      nsl.close(w)
      local text = nsl.read(r, 65536)
      nsl.close(r)
      nsl.wait(child)
      assert.is_nil(text:match("^error (.*)"))
      return netmode.restore(state.decode("return " .. text))
    end
    plans.a = set_up_in(pa, ca)
    plans.b = set_up_in(pb, cb)
    local in_a, in_b = { netns = "/proc/" .. pa .. "/ns/net" }, { netns = "/proc/" .. pb .. "/ns/net" }
    assert.equal("bridge", link(br, in_a).kind)
    assert.equal("bridge", link(br, in_b).kind)
    assert.is_nil(link(br))
    assert.are_not.equal(plans.a.netns, plans.b.netns)
    local leases_a, leases_b = netmode.lease_dir(br, plans.a.netns), netmode.lease_dir(br, plans.b.netns)
    assert.is_true(exists(leases_a .. "/" .. sub .. "2"))
    assert.is_true(exists(leases_b .. "/" .. sub .. "2"))

    -- a's container ends; the cleanup reaches a's namespace through its
    -- process, and leaves b's bridge alone
    release_ca()
    assert.is_true(plans.a:cleanup())
    assert.is_nil(link(br, in_a))
    assert.is_false(exists(leases_a))
    assert.equal("bridge", link(br, in_b).kind)
    assert.is_true(exists(leases_b .. "/" .. sub .. "2"))

    -- b's namespace is gone, its bridge with it: what is left on the
    -- host of it goes
    release_cb(); release_b()
    assert.is_true(plans.b:cleanup())
    assert.is_false(exists(leases_b))
  end)

  it("leaves a bridge it did not create", function()
    local br = ifname()
    local sub = subnet24()
    assert(net.bridge(br))
    local pid, release = waiting_child()
    finally(function()
      release()
      if link(br) then net.delete(br) end
      os.execute("rm -rf " .. T.quote(netmode.lease_dir(br)))
    end)
    assert(net.addr_add(br, sub .. "1/24"))
    assert(net.up(br))
    local plan = netmode.check { bridge = br, address = sub .. "7/24" }
    assert.is_true(plan:setup(pid))
    assert.is_true(ping(sub .. "7"))
    assert.is_true(plan:cleanup())
    assert.is_not_nil(link(br))
    assert.is_true(has_addr(link(br), sub .. "1/24"))
    assert.is_false(exists(netmode.lease_dir(br)))
  end)
end)
