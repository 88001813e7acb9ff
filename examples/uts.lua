-- UTS namespace: a hostname changed inside is not the host's.
--   nsl run examples/uts.lua [NAME]
-- As root, or as any user (a user namespace is added for you).
local nsl = require "nsl"

local name = arg and arg[1] or "container"
local namespaces, opts = { "uts" }, nil
if nsl.getuid() ~= 0 then
  namespaces[#namespaces + 1] = "user"
  opts = { uid_map = { { 0, nsl.getuid(), 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }
end

print("host:    hostname is " .. nsl.gethostname())
local pid = assert(nsl.clone(namespaces, function()
  print("inside:  hostname starts as " .. nsl.gethostname() .. " (a copy of the host's)")
  assert(nsl.sethostname(name))
  print("inside:  hostname set to " .. nsl.gethostname())
  io.stdout:flush()
  os.execute([[echo "inside:  uname -n says $(uname -n)"]])
end, opts))
assert(nsl.wait(pid))
print("host:    hostname is still " .. nsl.gethostname())
