-- The scale benchmark's nsl side: N containers alive at once, each with a
-- veth on the bridge BRIDGE (made by the harness, in its own network
-- namespace) and its own address, all from this one script.
--
--   nsl run scale.lua ROOT N bridge|on_start BRIDGE
--
-- Prints "up MODE" once all N run (MODE: how the network was made), then
-- waits for a line on stdin, tears everything down, prints "down" and
-- exits. The network comes from nsl.container's bridge mode ("bridge", the
-- default, when nsl.container accepts it), or from nsl.net calls in
-- on_start (the container exists, its command has not started yet).
local nsl = require "nsl"
local net = nsl.net

local root, n, want, bridge = arg[1], tonumber(arg[2]), arg[3], arg[4]

local function address(i)
  local k = i + 10
  return ("10.88.%d.%d"):format(k // 256, k % 256)
end

local function spec(i, mode)
  local s = {
    rootfs = root,
    namespaces = { "mnt", "uts", "ipc", "pid", "net" },
    capabilities = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" },
    hardening = { sys = false, masked_paths = false, readonly_paths = false },
    env = { PATH = "/bin" },
    command = { "/bin/sleep", "1000000" },
  }
  if mode == "bridge" then
    s.net = { bridge = bridge, address = address(i) .. "/16" }
  else
    s.net = "none"
    local host = "h" .. i
    s.on_start = function(c)
      -- as the bridge mode does: no IPv6 on the bridge port, no IPv6
      -- link-local address in the container (their traffic, flooded to
      -- every port, and the port's routes grow with N)
      assert(net.veth(host, "eth0", { peer_netns = c.pid }))
      local f = assert(io.open("/proc/sys/net/ipv6/conf/" .. host .. "/disable_ipv6", "w"))
      f:write("1"); f:close()
      assert(net.set(host, { master = bridge, up = true, addrgenmode = "none" }))
      assert(net.addr_add("eth0", address(i) .. "/16", { netns = c.pid }))
      assert(net.set("eth0", { up = true, addrgenmode = "none" }, { netns = c.pid }))
    end
  end
  return s
end

-- Bridge mode when nsl.container accepts it.
local mode = want == "bridge" and pcall(nsl.container, spec(1, "bridge")) and "bridge"
  or "nsl.net in on_start"

local containers = {}
for i = 1, n do
  local c = nsl.container(spec(i, mode == "bridge" and "bridge" or "on_start"))
  assert(c:start())
  containers[i] = c
end
io.write("up ", mode, "\n")
io.flush()

io.read("l")
for _, c in ipairs(containers) do c:kill("KILL") end
for _, c in ipairs(containers) do c:destroy() end
io.write("down\n")
io.flush()
