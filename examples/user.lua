-- User namespace: root inside is an unprivileged uid outside. Run it as
-- root (root inside maps to uid 100000) or as any user (root inside maps
-- to that user):
--   nsl run examples/user.lua
--   setpriv --reuid=1002 --regid=1002 --clear-groups build/bin/nsl run examples/user.lua
local nsl = require "nsl"

local uid, gid = nsl.getuid(), nsl.getgid()
local outside_uid = uid == 0 and 100000 or uid
local outside_gid = uid == 0 and 100000 or gid

local p = assert(io.popen("mktemp -d /tmp/nsl-user-example.XXXXXX"))
local dir = p:read("l")
p:close()
os.execute("chmod 777 " .. dir)

print(("host:    I am uid %d, with %d capabilities"):format(uid, #nsl.caps.get()))
local ok, err = pcall(function()
  local pid = assert(nsl.clone({ "user" }, function()
    print(("inside:  I am uid %d gid %d, with %d capabilities"):format(nsl.getuid(), nsl.getgid(),
      #nsl.caps.get()))
    for line in io.lines("/proc/self/uid_map") do
      local a, b, c = line:match("(%d+)%s+(%d+)%s+(%d+)")
      print(("inside:  uid_map: %s inside is %s outside (%s id)"):format(a, b, c))
    end
    local f = assert(io.open(dir .. "/made-by-root-inside", "w"))
    f:close()
    local _, msg = nsl.sethostname("nope")
    print("inside:  but the host's hostname is not mine to change: " .. msg)
  end, { uid_map = { { 0, outside_uid, 1 } }, gid_map = { { 0, outside_gid, 1 } } }))
  assert(nsl.wait(pid))
  local ls = assert(io.popen("stat -c '%u:%g' " .. dir .. "/made-by-root-inside"))
  print("host:    the file root made inside belongs to " .. ls:read("l"))
  ls:close()
end)
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
