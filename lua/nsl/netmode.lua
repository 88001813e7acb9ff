-- Network modes of a container: nsl.netmode. A container's network is
-- a Network object (not to be confused with nsl.plan, the child's set-up
-- steps).
--
--   check(net) -> network  validates the spec's `net` field before
--                          anything is set up; raises an error naming
--                          the field
--   network.needs_netns    false for "host"
--   network.inside         the child brings lo up itself (works rootless)
--   network.outside        setup(pid) has work to do (veth, bridge): the
--                          child waits for it before its command
--   network:setup(target [, owner])
--                          interfaces, addresses, routes in the network
--                          namespace target (a pid, or a path such as
--                          "/proc/self/fd/N" of an nsl.newns("net") made
--                          before the container's process), all through
--                          nsl.net {netns = target}; owner (default: the
--                          pid target, else the caller) holds the address
--                          lease; undoes its own partial work and raises
--                          "<step>: <reason>" on failure
--   network:cleanup()      removes the host veth end, the address lease
--                          and a bridge nsl created that nothing uses any
--                          more, in the bridge's network namespace
--                          wherever it runs from; idempotent
--   network.address        the container's address (after setup when it
--                          is given out from the bridge's subnet)
--   restore(fields)        a network rebuilt from a state file's record
--   lease_dir(bridge [, netns])
--                          where the leases of a bridge are kept (by name
--                          and network namespace; default: the caller's)
--   current_netns()        the inode number (text) of the caller's network
--                          namespace, as a network records it
--                          (network.netns)
--
-- Modes: "none" (default: loopback only, up), "host" (the caller's network
-- namespace), {veth = {host =, peer =}, address =, host_address =,
-- gateway =}, {bridge = "nsl0", address =, subnet =, gateway =}.
local nsl = require "nsl"
local util = require "nsl.util"
local address = require "nsl.netmode.address"
local lease = require "nsl.netmode.lease"
local state = require "nsl.state"

local ipv4, ipv4_string, is_ipv6, cidr = address.ipv4, address.ipv4_string, address.is_ipv6, address.cidr
local mask, same_net = address.mask, address.same_net
local check_ifname, check_cidr, check_ip = address.check_ifname, address.check_cidr, address.check_ip
local fail, describe = util.fail, util.describe
local read_file = state.read_file
local mkdirs, claim, release, any_leased = lease.mkdirs, lease.claim, lease.release, lease.any_leased
local netns_of = lease.netns_of

local M = {}

M.default_subnet = "10.200.0.0/24"
M.state_dir = lease.state_dir -- where the leases are kept

-- ---- checking the spec ----------------------------------------------------------

local TABLE_FIELDS = {
  veth = true, bridge = true, address = true, host_address = true,
  gateway = true, subnet = true, mtu = true, link_local = true,
}
local VETH_FIELDS = { host = true, peer = true }

local Network = {}
Network.__index = Network

local function new_network(t)
  return setmetatable(t, Network)
end

-- A host end name for a container's veth, unique while it runs.
local function auto_host_name()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(4) or tostring(os.time())
  if f then f:close() end
  return "nsl" .. bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

-- The fields veth and bridge mode share: the names of the veth ends,
-- mtu, address, gateway. Returns net.veth and the address parsed (or
-- nil).
local function check_links(net, network)
  -- veth = {host=, peer=}: names of the two ends (both optional in bridge mode).
  local veth = net.veth
  if veth ~= nil and veth ~= true then
    if type(veth) ~= "table" then
      fail("net.veth must be a table {host = \"veth0\", peer = \"eth0\"}, got %s", describe(veth))
    end
    for k in pairs(veth) do
      if not VETH_FIELDS[k] then fail("net.veth: unknown field '%s' (expected host, peer)", tostring(k)) end
    end
    if veth.host ~= nil then network.host_if = check_ifname(veth.host, "net.veth.host") end
    if veth.peer ~= nil then network.peer_if = check_ifname(veth.peer, "net.veth.peer") end
  end
  network.peer_if = network.peer_if or "eth0"
  if net.mtu ~= nil then
    if math.type(net.mtu) ~= "integer" or net.mtu < 68 or net.mtu > 65535 then
      fail("net.mtu must be an integer from 68 to 65535, got %s", tostring(net.mtu))
    end
    network.mtu = net.mtu
  end
  local addr = net.address ~= nil and check_cidr(net.address, "net.address") or nil
  network.address = addr and addr.text
  if net.gateway ~= nil then network.gateway = check_ip(net.gateway, "net.gateway") end
  return veth, addr
end

-- Bridge mode: the subnet addresses are given out from, the gateway
-- (the bridge's own address).
local function check_bridge(net, network, addr)
  if net.host_address ~= nil then
    fail("net.host_address: in bridge mode the host's address is the bridge's (the gateway); leave it out")
  end
  network.mode = "bridge"
  network.bridge = check_ifname(net.bridge, "net.bridge")
  network.netns = M.current_netns()
  local subnet
  if net.subnet ~= nil then
    subnet = check_cidr(net.subnet, "net.subnet")
  elseif addr then
    subnet = addr
  else
    subnet = cidr(M.default_subnet)
  end
  if subnet.family ~= "inet" then fail("net.subnet: bridge mode gives out IPv4 addresses only, got %q", subnet.text) end
  if subnet.len > 30 then fail("net.subnet %q is too small to give out addresses (/30 at most)", subnet.text) end
  local base = subnet.ip & mask(subnet.len)
  network.subnet = { ip = base, len = subnet.len, text = ipv4_string(base) .. "/" .. subnet.len }
  if addr then
    if addr.family ~= "inet" or not same_net(addr.ip, base, subnet.len) or addr.len ~= subnet.len then
      fail("net.address %q is not an address of the bridge's subnet %s", addr.text, network.subnet.text)
    end
  end
  local gw = network.gateway and ipv4(network.gateway)
  if network.gateway and not gw then fail("net.gateway must be an IPv4 address in bridge mode, got %q", network.gateway) end
  if gw and not same_net(gw, base, subnet.len) then
    fail("net.gateway %s is not in the bridge's subnet %s", network.gateway, network.subnet.text)
  end
  gw = gw or base + 1
  network.gateway = ipv4_string(gw)
  if addr and addr.ip == gw then fail("net.address %q is the gateway's (the bridge's) address", addr.text) end
  network.gateway_ip = gw
  network.host_if = network.host_if -- nil: chosen at setup
end

-- Veth mode: the host end's name and address, a gateway reachable from
-- the container's address.
local function check_veth(net, network, addr, veth)
  network.mode = "veth"
  if veth == true or network.host_if == nil then
    fail("net.veth.host is missing: the name of the host's end (for instance \"veth0\")")
  end
  if net.subnet ~= nil then fail("net.subnet: only bridge mode gives out addresses; give net.address") end
  if net.host_address ~= nil then
    network.host_address = check_cidr(net.host_address, "net.host_address").text
  end
  if network.gateway then
    if not addr then fail("net.gateway needs net.address (the gateway must be reachable from it)") end
    local gw4 = ipv4(network.gateway)
    if addr.family == "inet" and (not gw4 or not same_net(gw4, addr.ip, addr.len)) then
      fail("net.gateway %s is not in the network of net.address %s", network.gateway, addr.text)
    end
  end
end

function M.check(net)
  if net == nil or net == "none" then
    return new_network { mode = "none", needs_netns = true, inside = true }
  end
  if net == "host" then
    return new_network { mode = "host", needs_netns = false }
  end
  if type(net) == "string" then
    fail("net: unknown mode %q (expected \"none\", \"host\", {veth = ...} or {bridge = ...})", net)
  end
  if type(net) ~= "table" then
    fail("net must be \"none\", \"host\" or a table ({veth = ...} or {bridge = ...}), got %s", type(net))
  end
  for k in pairs(net) do
    if not TABLE_FIELDS[k] then
      fail("net: unknown field '%s' (expected veth, bridge, address, host_address, gateway, subnet, mtu, link_local)", tostring(k))
    end
  end
  if net.bridge == nil and net.veth == nil then
    fail("net: a table needs veth = {host = ..., peer = ...} or bridge = \"name\"")
  end
  local network = { needs_netns = true, inside = true, outside = true }
  local veth, addr = check_links(net, network)
  if net.bridge ~= nil then
    check_bridge(net, network, addr)
  else
    check_veth(net, network, addr, veth)
  end
  -- IPv6 link-local addresses on the veth ends: each comes with duplicate
  -- address detection, MLD reports and router solicitations, which a
  -- bridge floods to every port (each container's stack then handles
  -- them: that grows with the number of containers). Made only when the
  -- network is IPv6 or link_local asks for them.
  if net.link_local ~= nil and type(net.link_local) ~= "boolean" then
    fail("net.link_local must be a boolean, got %s", describe(net.link_local))
  end
  local v6 = (addr and addr.family == "inet6")
    or (network.host_address and is_ipv6(network.host_address:match("^[^/]+")))
  if net.link_local == nil then network.link_local = v6 and true or false
  else network.link_local = net.link_local end
  if nsl.geteuid() ~= 0 then
    fail("net: %s mode needs root (creating interfaces in the host's network namespace needs CAP_NET_ADMIN there); rootless containers can use \"none\"", network.mode)
  end
  return new_network(network)
end

-- ---- leases (lua/nsl/netmode/lease.lua) ------------------------------------------

-- where the leases of a bridge are kept, and the caller's network namespace
M.lease_dir, M.current_netns = lease.lease_dir, lease.current_netns

local function lease_root(network)
  return M.lease_dir(network.bridge, network.netns)
end

-- ---- setup and cleanup -----------------------------------------------------------

local net = nsl.net

-- The link of that name in the caller's namespace (or the one of opts,
-- {netns = path}), or nil: one targeted request, whatever the number of
-- links.
local function find_link(name, opts)
  return (net.link(name, opts))
end

-- Whether any link is a port of bridge: its brif directory in sysfs, or,
-- when this process's /sys shows another namespace (or the bridge is in
-- another, opts), a dump of the links.
local function has_ports(bridge, opts)
  local sys = "/sys/class/net/" .. bridge
  local ports = not opts and nsl.readdir(sys .. "/brif")
  local l = ports and net.link(bridge)
  if l and tonumber(read_file(sys .. "/ifindex") or "") == l.index then
    return #ports > 0
  end
  for _, x in ipairs(net.links(opts) or {}) do
    if x.master == bridge then return true end
  end
  return false
end

-- How this process reaches the network namespace a network was set up in:
-- nil when it is in it; {netns = path} through a name (/run/netns) or a
-- process in it; false when nothing holds it any more (it is gone, and
-- its links with it).
local function reach(network)
  if not network.netns or network.netns == M.current_netns() then return nil end
  for _, name in ipairs(nsl.readdir("/run/netns") or {}) do
    local path = "/run/netns/" .. name
    if netns_of(path) == network.netns then return { netns = path } end
  end
  for _, pid in ipairs(nsl.readdir("/proc") or {}) do
    pid = math.tointeger(tonumber(pid))
    if pid and netns_of(pid) == network.netns then return { netns = "/proc/" .. pid .. "/ns/net" } end
  end
  return false
end

-- Runs one step of setup; on failure raises "<step>: <reason>".
local function step(name, ok, err)
  if not ok then error(("%s: %s"):format(name, tostring(err)), 0) end
  return ok
end

function Network:_setup_none(pid)
  -- Root can reach into the child's namespace; a rootless caller cannot,
  -- and relies on the child bringing lo up itself (network.inside).
  if nsl.geteuid() == 0 then
    step("lo up", net.up("lo", { netns = pid }))
  end
end

-- Configures the container's end (already in its namespace) and lo.
-- How the IPv6 link-local address of a veth end is made (see check).
function Network:_addrgenmode()
  return (not self.link_local) and "none" or nil
end

-- Configures the container's end (already in its namespace); the child
-- brings its lo up itself (network.inside).
function Network:_setup_inside(pid)
  local inside = { netns = pid }
  -- the MTU before the address: the kernel refuses an IPv6 address on a
  -- link whose MTU is below IPv6's minimum
  if self.mtu then step("mtu of " .. self.peer_if, net.set(self.peer_if, { mtu = self.mtu }, inside)) end
  if self.address then
    step("address " .. self.address, net.addr_add(self.peer_if, self.address, inside))
  end
  step("link " .. self.peer_if .. " up",
    net.set(self.peer_if, { up = true, addrgenmode = self:_addrgenmode() }, inside))
  if self.gateway then
    step("default route via " .. self.gateway,
      net.route_add("default", { gw = self.gateway, dev = self.peer_if }, inside))
  end
end

function Network:_setup_veth(pid)
  if find_link(self.host_if) then
    error(("veth %s: an interface of that name exists on the host"):format(self.host_if), 0)
  end
  step("veth " .. self.host_if .. "/" .. self.peer_if,
    net.veth(self.host_if, self.peer_if, { peer_netns = pid }))
  self.created_veth = self.host_if
  if self.host_address then
    step("host address " .. self.host_address, net.addr_add(self.host_if, self.host_address))
  end
  step("link " .. self.host_if .. " up",
    net.set(self.host_if, { up = true, mtu = self.mtu, addrgenmode = self:_addrgenmode() }))
  self:_setup_inside(pid)
end

-- The mark of a gateway address nsl added to a bridge it found (one per
-- gateway: a bridge may carry several subnets).
local function gateway_mark(root, network)
  return root .. "/.gateway-" .. network.gateway
end

-- A bridge nsl did not make now (someone's, or nsl's with another
-- subnet): the gateway's address must be on it, or the containers' default
-- route leads nowhere. Added when the bridge has no address in the
-- subnet, and marked, so that the last container of that subnet removes
-- it; another address of the bridge in the subnet is refused, naming it.
function Network:_ensure_gateway(l)
  local want = self.gateway .. "/" .. self.subnet.len
  for _, a in ipairs(l.addrs or {}) do
    if a == want then return end
  end
  for _, a in ipairs(l.addrs or {}) do
    local ip = a:match("^([%d.]+)/")
    if ip and same_net(ipv4(ip), self.subnet.ip, self.subnet.len) then
      error(("bridge %s: its address in %s is %s, not the gateway %s (give net.gateway = %q)")
        :format(self.bridge, self.subnet.text, a, self.gateway, ip), 0)
    end
  end
  local mark = gateway_mark(lease_root(self), self)
  local f = io.open(mark, "w")
  if f then f:write(want, "\n"); f:close() end
  local ok, err, code = net.addr_add(self.bridge, want)
  if not ok and code ~= 17 then
    os.remove(mark)
    step("bridge " .. self.bridge .. " gateway address " .. want, nil, err)
  end
end

-- The bridge, created with the gateway's address when it is not there.
function Network:_ensure_bridge()
  local l = find_link(self.bridge)
  if l then
    if l.kind ~= "bridge" then
      error(("bridge %s: an interface of that name exists and is a %s, not a bridge"):format(self.bridge, l.kind or "device"), 0)
    end
    self:_ensure_gateway(l)
    return
  end
  -- Whoever ends last removes a bridge nsl made: the mark says nsl made
  -- it. It is written first, so that a script killed right after making
  -- the bridge leaves a mark for whoever cleans up after it.
  local mark = lease_root(self) .. "/.created"
  local mine = tostring(nsl.getpid()) .. "\n"
  local f = io.open(mark, "w")
  if f then f:write(mine); f:close() end
  local ok, err, code = net.bridge(self.bridge)
  if not ok then
    -- EEXIST: another start made it meanwhile, after marking it too
    if code == 17 then return end
    if read_file(mark) == mine then os.remove(mark) end
    step("bridge " .. self.bridge, ok, err)
  end
  local gw = self.gateway .. "/" .. self.subnet.len
  local aok, aerr = net.addr_add(self.bridge, gw)
  if aok then aok, aerr = net.up(self.bridge) end
  if not aok then
    net.delete(self.bridge)
    os.remove(mark)
    step("bridge " .. self.bridge .. " address " .. gw, nil, aerr)
  end
end

function Network:_lease(owner)
  local root = lease_root(self)
  step("state directory " .. root, mkdirs(root))
  step("state directory " .. root, state.owned(root))
  if self.address then
    local ip = self.address:match("^[^/]+")
    step("address " .. self.address, claim(root, ip, owner))
    self.leased = ip
    return
  end
  -- The leases held now, read once: a claim costs file system writes, so
  -- only addresses nobody holds are tried first; held ones (perhaps
  -- stale) only when none is left.
  local held = {}
  for _, name in ipairs(nsl.readdir(root) or {}) do held[name] = true end
  local first, last = self.subnet.ip + 1, self.subnet.ip + (1 << (32 - self.subnet.len)) - 2
  for pass = 1, 2 do
    for n = first, last do
      local ip = ipv4_string(n)
      if n ~= self.gateway_ip and (held[ip] == nil) == (pass == 1) and claim(root, ip, owner) then
        self.leased = ip
        self.address = ip .. "/" .. self.subnet.len
        self.auto_address = true
        return
      end
    end
  end
  error(("address: every address of %s is in use"):format(self.subnet.text), 0)
end

function Network:_setup_bridge(pid, owner)
  -- the bridge is this namespace's, whatever it was when checked
  self.netns = M.current_netns()
  self:_lease(owner)
  local host_if = self.host_if or auto_host_name()
  -- A bridge removed by a container that ended meanwhile is made again.
  for attempt = 1, 2 do
    self:_ensure_bridge()
    if find_link(host_if) then
      error(("veth %s: an interface of that name exists on the host"):format(host_if), 0)
    end
    step("veth " .. host_if .. "/" .. self.peer_if, net.veth(host_if, self.peer_if, { peer_netns = pid }))
    self.created_veth = host_if
    self.host_if = host_if
    -- A bridge port does no IPv6 of its own, whatever the network: no
    -- link-local address and no routes (each port's would sit in one
    -- list of the host's routing table, which grows with the ports).
    local f = io.open("/proc/sys/net/ipv6/conf/" .. host_if .. "/disable_ipv6", "w")
    if f then f:write("1"); f:close() end
    local ok, err = net.set(host_if, { master = self.bridge, up = true, mtu = self.mtu, addrgenmode = "none" })
    if ok then break end
    net.delete(host_if)
    self.created_veth = nil
    if attempt == 2 or find_link(self.bridge) then
      step("veth " .. host_if .. " into bridge " .. self.bridge, nil, err)
    end
  end
  self:_setup_inside(pid)
end

function Network:setup(target, owner)
  if self.mode == "host" then return true end
  if not ((math.type(target) == "integer" and target > 0) or type(target) == "string") then
    error("netmode setup: the network namespace must be a pid or a path, got " .. tostring(target), 2)
  end
  owner = owner or (math.type(target) == "integer" and target) or nsl.getpid()
  self.pid = owner
  local ok, err = pcall(Network["_setup_" .. self.mode], self, target, owner)
  if not ok then
    self:cleanup()
    error(tostring(err), 0)
  end
  return true
end

-- Removes what setup made; returns true, or nil and the first error. It
-- acts in the namespace the network was set up in, from wherever it runs (a
-- later process cleaning up after a killed one may be in another).
function Network:cleanup()
  local first
  local where = reach(self)
  -- the namespace is gone: so are its links
  local function link(name) return where ~= false and find_link(name, where or nil) end
  if self.created_veth then
    if link(self.created_veth) then
      local ok, err = net.delete(self.created_veth, where or nil)
      if not ok and link(self.created_veth) then first = first or err end
    end
    self.created_veth = nil
  end
  local root = self.mode == "bridge" and lease_root(self)
  if root and nsl.lstat(root) then
    local ok, why = state.owned(root)
    if not ok then
      state.warn(("not releasing the lease of %s: %s"):format(tostring(self.leased), why))
      root = nil
    end
  end
  if self.leased and root then
    release(root, self.leased)
    self.leased = nil
    if self.auto_address then
      self.address, self.auto_address = nil, nil
    end
  end
  if root then
    -- a gateway address nsl added to a bridge it found, once no container
    -- of that subnet is left
    local gmark = self.gateway and gateway_mark(root, self)
    if gmark and not any_leased(root, self.subnet) and read_file(gmark) then
      local gw = read_file(gmark):match("%S+")
      if gw and link(self.bridge) then net.addr_del(self.bridge, gw, where or nil) end
      os.remove(gmark)
    end
    local mark = root .. "/.created"
    if not any_leased(root, self.subnet) and read_file(mark) then
      local l = link(self.bridge)
      -- No live container holds a lease: a port left is the veth of one
      -- that just died, which the kernel removes with its network
      -- namespace asynchronously; or an interface someone attached, which
      -- keeps the bridge. Wait a little for the former.
      local busy = l and has_ports(self.bridge, where or nil)
      for _ = 1, 100 do
        if not busy then break end
        nsl.sleep(0.02)
        busy = has_ports(self.bridge, where or nil)
      end
      if l and not busy then
        local ok, err = net.delete(self.bridge, where or nil)
        if not ok and link(self.bridge) then first = first or err end
      end
      if not link(self.bridge) then os.remove(mark) end
    end
    nsl.rmdir(root) -- when nothing is left in it
  end
  self.pid = nil
  if first then return nil, "net cleanup: " .. tostring(first) end
  return true
end

-- A network rebuilt from its fields as a container's state file recorded
-- them (plain data), so that a later process can clean up after it.
function M.restore(t)
  return setmetatable(t, Network)
end

return M
