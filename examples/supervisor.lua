-- Supervision: a small fleet of named containers under cgroup limits,
-- watched with nsl.wait_any; whichever crashes (a non-zero exit, a signal,
-- the memory limit) is restarted, up to three times, like a restart
-- policy of "on-failure:3".
--
--   build/bin/nsl run examples/supervisor.lua      (as root: limits need cgroups)
--
-- While it runs, `nsl ps` in another terminal lists the fleet.
local nsl = require "nsl"

local dir = assert(nsl.mkdtemp("/tmp/nsl-supervisor-"))
local root = nsl.rootfs.busybox(dir)
local tag = nsl.getpid()

local fleet = {
  -- does its work and ends well: never restarted
  { name = "steady", command = { "sh", "-c", "sleep 1; echo steady: done" } },
  -- fails at its first two starts, then works (its attempts are counted
  -- in a file of the host, bound into the container)
  { name = "flaky", command = { "sh", "-c",
    "n=$(cat /state/n 2>/dev/null || echo 0); echo $((n+1)) > /state/n; " ..
    "test $n -ge 2 && echo flaky: up at last || exit 3" } },
  -- wants more memory than it may have: the kernel kills it each time
  { name = "hungry", limits = { memory = "16M" },
    command = { "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a)" } },
}

local MAX_RESTARTS = 3

local function start(spec, attempt)
  local c = nsl.container {
    name = ("%s-%d"):format(spec.name, tag), rootfs = root, command = spec.command,
    limits = spec.limits or { pids = 32 },
    mounts = { { source = dir .. "/state", target = "/state", bind = true } },
  }
  assert(c:start())
  print(("%-7s started (attempt %d, pid %d)"):format(spec.name, attempt, c.pid))
  return c
end

local function why(ok, how, n, oom)
  if oom then return "killed by its memory limit" end
  if ok then return "ended well" end
  if how == "signal" then return "killed by signal " .. n end
  return "exited " .. tostring(n)
end

local ok, err = pcall(function()
  assert(nsl.mkdir(dir .. "/state", 0755))
  local live, spec_of, attempts = {}, {}, {}
  for _, spec in ipairs(fleet) do
    attempts[spec] = 1
    local c = start(spec, 1)
    live[#live + 1], spec_of[c] = c, spec
  end
  while #live > 0 do
    local c, cok, how, n, oom = nsl.wait_any(live)
    local spec = spec_of[c]
    for i, x in ipairs(live) do
      if x == c then table.remove(live, i) break end
    end
    io.write(("%-7s %s"):format(spec.name, why(cok, how, n, oom)))
    if cok then
      print()
    elseif attempts[spec] > MAX_RESTARTS then
      print(", given up")
    else
      attempts[spec] = attempts[spec] + 1
      print((", restart %d of %d"):format(attempts[spec] - 1, MAX_RESTARTS))
      local again = start(spec, attempts[spec])
      live[#live + 1], spec_of[again] = again, spec
    end
  end
end)
os.execute("rm -rf " .. dir)
assert(ok, err)
