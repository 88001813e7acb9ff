-- PID namespace: the first process is PID 1; once /proc is mounted
-- inside (in its own mount namespace), ps sees only the container.
--   nsl run examples/pid.lua        (as root, or as any user)
local nsl = require "nsl"

local function count_ps()
  local p = assert(io.popen("ps -e -o pid= | wc -l"))
  local n = tonumber(p:read("a"))
  p:close()
  return n
end

local function proc_mount()
  for line in io.lines("/proc/self/mountinfo") do
    local fields = { line:match("^(%S+) %S+ (%S+) %S+ (%S+)") }
    if fields[3] == "/proc" then return fields[1] .. " (device " .. fields[2] .. ")" end
  end
end

local namespaces, opts = { "pid", "mnt" }, nil
if nsl.getuid() ~= 0 then
  namespaces[#namespaces + 1] = "user"
  opts = { uid_map = { { 0, nsl.getuid(), 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }
end

local host_proc = proc_mount()
print(("host:    ps sees %d processes; /proc is mount %s"):format(count_ps(), host_proc))
local pid = assert(nsl.clone(namespaces, function()
  print(("inside:  my pid is %d, my parent's %d"):format(nsl.getpid(), nsl.getppid()))
  print(("inside:  before mounting /proc, ps still sees the host's %d processes"):format(count_ps()))
  -- private first, so that the new /proc does not propagate to the host
  assert(nsl.mount(nil, "/", nil, "rec,private"))
  assert(nsl.mount("proc", "/proc", "proc", "nosuid,nodev,noexec"))
  print(("inside:  after mounting /proc, ps sees %d processes:"):format(count_ps()))
  io.stdout:flush()
  os.execute("ps -e -o pid,comm | sed 's/^/inside:  | /'")
end, opts))
assert(nsl.wait(pid))
print("host:    the container's PID 1 was pid " .. pid .. " here")
print(("host:    ps sees %d processes; /proc is mount %s (%s)"):format(count_ps(), proc_mount(),
  proc_mount() == host_proc and "untouched" or "CHANGED"))
