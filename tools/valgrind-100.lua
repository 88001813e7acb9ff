-- `make check-valgrind`: 100 containers started and ended by one script
-- run under valgrind (memcheck), so that a leak or a memory error in the
-- C core shows. Half of them get a veth pair (the netlink paths of
-- nsl.net), a tenth limits, the rest a plain network namespace.
local nsl = require "nsl"

local root = assert(nsl.mkdtemp("/tmp/nsl-valgrind-"))
nsl.rootfs.busybox(root)
for i = 1, 100 do
  local spec = { rootfs = root, command = { "true" } }
  if i % 2 == 0 then
    spec.net = { veth = { host = "nvg" .. nsl.getpid() % 10000 .. "-" .. i % 100, peer = "eth0" },
      address = "10.216.0.2/30", host_address = "10.216.0.1/30" }
  end
  if i % 10 == 0 then spec.limits = { pids = 16 } end
  local c = nsl.container(spec)
  assert(c:start())
  local ok, how, n = c:wait()
  assert(ok and how == "exit" and n == 0, ("container %d: %s %s %s"):format(i, tostring(ok), how, n))
  c:destroy()
end
-- a few primitives besides, each with its failure path
assert(nsl.net.links())
assert(nsl.net.link("lo"))
assert(not nsl.net.link("nosuch0"))
assert(nsl.readdir("/proc/self/fd"))
assert(not nsl.mount("none", "/nonexistent/x", "tmpfs"))
os.execute("rm -rf " .. root)
print("valgrind-100: 100 containers started and ended")
