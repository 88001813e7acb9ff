-- Mount namespace: a tmpfs mounted inside is not seen outside.
--   nsl run examples/mount.lua      (as root, or as any user)
local nsl = require "nsl"

local function mounted(dir)
  for line in io.lines("/proc/self/mountinfo") do
    local target, fstype = line:match("^%S+ %S+ %S+ %S+ (%S+) .* %- (%S+)")
    if target == dir then return fstype end
  end
end

local namespaces, opts = { "mnt" }, nil
if nsl.getuid() ~= 0 then
  namespaces[#namespaces + 1] = "user"
  opts = { uid_map = { { 0, nsl.getuid(), 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }
end

local p = assert(io.popen("mktemp -d /tmp/nsl-mount-example.XXXXXX"))
local dir = p:read("l")
p:close()

local ok, err = pcall(function()
  print(("host:    %s is %s"):format(dir, mounted(dir) and "a mount point" or "a plain directory"))
  local pid = assert(nsl.clone(namespaces, function()
    assert(nsl.mount(nil, "/", nil, "rec,private")) -- nothing propagates back
    assert(nsl.mount("tmpfs", dir, "tmpfs", "nosuid,nodev", "size=1m"))
    local f = assert(io.open(dir .. "/hello", "w"))
    f:write("written inside\n")
    f:close()
    print(("inside:  %s is a %s mount; it holds hello: %s"):format(dir, mounted(dir),
      io.open(dir .. "/hello"):read("l")))
  end, opts))
  assert(nsl.wait(pid))
  print(("host:    %s is %s; hello is %s"):format(dir,
    mounted(dir) and "a mount point" or "still a plain directory",
    io.open(dir .. "/hello") and "there" or "not there"))
end)
os.remove(dir)
if not ok then error(err, 0) end
