-- IPC namespace: a System V message queue made on the host is not
-- visible inside a new IPC namespace.
--   nsl run examples/ipc.lua        (as root, or as any user)
local nsl = require "nsl"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- The queue ids /proc/sysvipc/msg lists (what ipcs -q reads).
local function queues()
  local ids = {}
  for line in io.lines("/proc/sysvipc/msg") do
    local id = line:match("^%s*%-?%d+%s+(%d+)")
    if id then ids[#ids + 1] = id end
  end
  return ids
end

local namespaces, opts = { "ipc" }, nil
if nsl.getuid() ~= 0 then
  namespaces[#namespaces + 1] = "user"
  opts = { uid_map = { { 0, nsl.getuid(), 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }
end

local id = assert(sh("ipcmk -Q"):match("Message queue id: (%d+)"), "ipcmk -Q failed")
print("host:    made message queue " .. id .. " with ipcmk -Q")

local ok, err = pcall(function()
  local listed = false
  for _, q in ipairs(queues()) do listed = listed or q == id end
  print(("host:    ipcs -q lists queue %s: %s"):format(id, listed and "yes" or "no"))
  local pid = assert(nsl.clone(namespaces, function()
    local seen = queues()
    local has = false
    for _, q in ipairs(seen) do has = has or q == id end
    print(("inside:  ipcs -q lists queue %s: %s (%d queues in all)"):format(id, has and "yes" or "no", #seen))
    io.stdout:flush()
    os.execute("ipcs -q | sed 's/^/inside:  | /'")
  end, opts))
  assert(nsl.wait(pid))
end)

-- Whatever happened, the host's queue goes away.
os.execute("ipcrm -q " .. id)
local left = false
for _, q in ipairs(queues()) do left = left or q == id end
print(("host:    removed queue %s with ipcrm: %s"):format(id, left and "still there!" or "gone"))
if not ok then error(err, 0) end
