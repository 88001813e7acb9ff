-- nsl ps with N detached containers running, and the resident memory of
-- their supervisors (issue 5's goals: under 50 ms; under 1 MiB each).
--
--   build/bin/nsl run bench/lifecycle/ps.lua [N]     (as root; N = 100)
local nsl = require "nsl"
local state = require "nsl.state"

local N = tonumber(arg[1]) or 100
local bin = os.getenv("NSL_BIN") or nsl.readlink("/proc/self/exe")
local dir = assert(nsl.mkdtemp("/tmp/nsl-bench-ps-"))
local root = nsl.rootfs.busybox(dir)
local tag = "bps" .. nsl.getpid()
local names = {}

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local ok, err = pcall(function()
  local t0 = nsl.time()
  for i = 1, N do
    local name = ("%s-%d"):format(tag, i)
    local c = nsl.container { name = name, rootfs = root, detach = true, command = { "sleep", "600" } }
    assert(c:start())
    names[#names + 1] = name
  end
  print(("started %d detached containers in %.2f s"):format(N, nsl.time() - t0))
  local times = {}
  for _ = 1, 21 do
    local t = nsl.time()
    local p = io.popen(bin .. " ps")
    local out = p:read("a")
    p:close()
    times[#times + 1] = (nsl.time() - t) * 1000
    local _, rows = out:gsub("\n" .. tag, "")
    assert(rows == N, "ps listed " .. rows .. " of " .. N)
  end
  table.sort(times)
  print(("nsl ps with %d running: median %.1f ms (min %.1f, max %.1f, 21 runs)"):format(
    N, median(times), times[1], times[#times]))
  local rss = {}
  for _, name in ipairs(names) do
    local rec = state.read(name)
    local s = state.read_file("/proc/" .. rec.owner .. "/status")
    rss[#rss + 1] = tonumber(s:match("VmRSS:%s*(%d+)"))
  end
  table.sort(rss)
  print(("supervisor VmRSS: median %d kB, max %d kB"):format(median(rss), rss[#rss]))
end)
for _, name in ipairs(names) do
  local c = nsl.lookup(name)
  if c then c:remove(true) end
end
os.execute("rm -rf " .. dir)
assert(ok, err)
