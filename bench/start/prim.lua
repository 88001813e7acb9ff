-- The benchmark's container built from nsl's C primitives alone, no
-- nsl.container: the same steps as the floor (floor.c), written in Lua.
--
--   nsl run prim.lua ROOT N CMD [tick]
--
-- starts N containers running CMD (/bin/true) one after another; with "tick" it
-- writes one byte to stdout before the first and after each (for the timing
-- driver, bench/start/drive.c).
local nsl = require "nsl"

local root, n, cmd, tick = arg[1], tonumber(arg[2]), arg[3], arg[4] == "tick"
local keep = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" }
local devices = { "null", "zero", "full", "random", "urandom", "tty" }

-- In the child: there is no mknod in nsl, so /dev gets bind mounts of the
-- host's nodes, made before the pivot while the host's /dev is in reach
-- (as bwrap does).
local function container()
  assert(nsl.mount(nil, "/", nil, "rec,private"))
  assert(nsl.mount(root, root, nil, "bind,rec"))
  assert(nsl.mount("proc", root .. "/proc", "proc", "nosuid,nodev,noexec"))
  assert(nsl.mount("dev", root .. "/dev", "tmpfs", "nosuid", "mode=755"))
  for _, d in ipairs(devices) do
    local path = root .. "/dev/" .. d
    assert(io.open(path, "w")):close()
    assert(nsl.mount("/dev/" .. d, path, nil, "bind"))
  end
  assert(nsl.pivot_root(root))
  assert(nsl.caps.keep(keep))
  assert(nsl.no_new_privs())
  assert(nsl.exec({ cmd }, { env = { PATH = "/bin" } }))
end

if tick then io.write("r"); io.flush() end
for _ = 1, n do
  local pid = assert(nsl.clone({ "mnt", "uts", "ipc", "pid", "net" }, container))
  local ok, how, code = nsl.wait(pid)
  if not ok then error(("container: %s %s"):format(how, code)) end
  if tick then io.write("x"); io.flush() end
end
