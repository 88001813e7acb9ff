-- The benchmark's container through nsl.container.
--
--   nsl run cont.lua ROOT N CMD [tick|defaults]...
--
-- starts N containers running CMD (/bin/true) one after another from this one
-- script; "tick" writes one byte to stdout before the first and after each
-- (for bench/start/drive.c); "defaults" keeps nsl.container's default
-- hardening (sysfs, masked and read-only paths, the OCI default
-- capabilities) instead of the benchmark's container, which every tool gets
-- the same: /proc, a /dev tmpfs, three capabilities, no_new_privs.
--
-- Run as `nsl run cont.lua ROOT 1 CMD spec`, it returns the spec instead, for
-- `nsl run` to start (one process per container).
local nsl = require "nsl"

local root, n, cmd = arg[1], tonumber(arg[2]), arg[3]
local opt = {}
for i = 4, #arg do opt[arg[i]] = true end

local function spec()
  local s = {
    rootfs = root,
    namespaces = { "mnt", "uts", "ipc", "pid", "net" },
    net = "none",
    capabilities = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" },
    env = { PATH = "/bin" },
    command = { cmd },
  }
  if opt.defaults then
    s.capabilities = nil
  else
    s.hardening = { sys = false, masked_paths = false, readonly_paths = false }
  end
  return s
end

if opt.spec then return spec() end

if opt.tick then io.write("r"); io.flush() end
for _ = 1, n do
  local c = nsl.container(spec())
  local ok, how, code = c:run()
  if not ok then error(("container: %s %s"):format(how, code)) end
  if opt.tick then io.write("x"); io.flush() end
end
