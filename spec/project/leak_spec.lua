-- Resource leaks: hundreds of containers started and ended in one script
-- (networking, overlay roots, cgroup limits, SIGKILLed containers, failing
-- commands), and scripts SIGKILLed in the middle of a start. Afterwards
-- nothing of theirs may remain on the host: no process, mount, interface,
-- cgroup, named network namespace, overlay directory, lease or state
-- record, and the long-running script holds as many descriptors as before.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"

local CYCLES = tonumber(os.getenv("NSL_LEAK_CYCLES")) or 500

local root

setup(function() root = C.busybox_root() end)
teardown(function() C.remove(root) end)

-- Entries of a directory, as a set (none when it does not exist).
local function entries(dir)
  local set = {}
  for _, name in ipairs(nsl.readdir(dir) or {}) do set[dir .. "/" .. name] = true end
  return set
end

-- Everything on the host where a container could leave something.
local function host_state()
  local s = { mounts = {}, links = {}, cgroups = {}, netns = {}, files = {} }
  local f = assert(io.open("/proc/self/mountinfo"))
  for line in f:lines() do
    local id, target = line:match("^(%d+) %S+ %S+ %S+ (%S+)")
    s.mounts[id] = target
  end
  f:close()
  for _, l in ipairs(C.links()) do s.links[l] = true end
  for _, base in ipairs({ "/sys/fs/cgroup", "/sys/fs/cgroup/unified" }) do
    for _, ctrl in ipairs(nsl.readdir(base) or {}) do
      for k in pairs(entries(("%s/%s/nsl"):format(base, ctrl))) do s.cgroups[k] = true end
    end
    for k in pairs(entries(base .. "/nsl")) do s.cgroups[k] = true end
  end
  for _, n in ipairs(assert(nsl.net.netns_list())) do s.netns[n] = true end
  for _, d in ipairs({ "/run/nsl/containers", "/run/nsl/net", "/run/nsl/rootfs" }) do
    for k in pairs(entries(d)) do s.files[k] = true end
  end
  return s
end

-- What is in after and not in before, as sorted descriptions.
local function added(before, after)
  local out = {}
  for kind, set in pairs(after) do
    for k, v in pairs(set) do
      if before[kind][k] == nil then out[#out + 1] = kind .. " " .. tostring(k) .. " " .. tostring(v) end
    end
  end
  table.sort(out)
  return out
end

-- Processes among started (pid -> start time) that still exist.
local function survivors(started)
  local out = {}
  for pid, start in pairs(started) do
    if C.alive(pid, start) then out[#out + 1] = pid end
  end
  table.sort(out)
  return out
end

-- The kernel takes a veth and its network namespace away asynchronously:
-- the host's view settles within a second or two.
local function settled(before)
  local left
  for _ = 1, 100 do
    left = added(before, host_state())
    if #left == 0 then break end
    nsl.sleep(0.05)
  end
  return left
end

describe("leaks", function()
  it(("none after %d start/end cycles in one script (veth, bridge, overlay, limits, KILL, failures)"):format(CYCLES), function()
    local tag = "lk" .. nsl.getpid()
    local bridge = "nlk" .. (nsl.getpid() % 100000)
    local before = host_state()
    local fds_before = #nsl.fds()
    local started = {}
    local kinds = {
      -- a container on its own veth pair
      function(i)
        return { net = { veth = { host = "vlk" .. i % 1000 .. "x" .. nsl.getpid() % 10000, peer = "eth0" },
          address = "10.213.0.2/30", host_address = "10.213.0.1/30" } }
      end,
      -- on a bridge, with an address given out
      function() return { net = { bridge = bridge, subnet = "10.214.0.0/24" } } end,
      -- an overlay root
      function() return { rootfs = { image = root, writable = true } } end,
      -- cgroup limits
      function() return { limits = { memory = "32M", pids = 16 } } end,
      -- everything at once, named
      function(i)
        return { name = tag .. "-" .. i, rootfs = { image = root, writable = true },
          limits = { pids = 16 }, net = { bridge = bridge, subnet = "10.214.0.0/24" } }
      end,
    }
    for i = 1, CYCLES do
      local spec = kinds[i % #kinds + 1](i)
      spec.rootfs = spec.rootfs or root
      local fate = i % 3 -- 0: ends by itself, 1: fails (exit 3), 2: killed
      spec.command = fate == 0 and { "true" } or fate == 1 and { "sh", "-c", "exit 3" } or { "sleep", "30" }
      local c = nsl.container(spec)
      assert(c:start())
      started[c.pid] = C.start_time(c.pid)
      if fate == 2 then assert(c:kill("KILL")) end
      local ok, how, n = c:wait()
      local want = ({ [0] = "exit 0", [1] = "exit 3", [2] = "signal 9" })[fate]
      assert.are.equal(want, how .. " " .. n, ("cycle %d: %s %s %s"):format(i, tostring(ok), how, n))
      c:destroy()
    end
    assert.are.same({}, survivors(started))
    assert.are.same({}, C.children())
    assert.are.same({}, settled(before))
    assert.are.equal(fds_before, #nsl.fds())
  end)

  it("none after scripts are SIGKILLed in the middle of a start, once the next nsl ps has run", function()
    local tag = "lks" .. nsl.getpid()
    local bridge = "nlks" .. (nsl.getpid() % 10000)
    local dir = assert(nsl.mkdtemp("/tmp/nsl-leak-"))
    local script = dir .. "/start.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local nsl = require "nsl"
      local i = ...
      local c = nsl.container { name = %q .. i, rootfs = { image = %q, writable = true },
        limits = { memory = "32M", pids = 16 }, net = { bridge = %q, subnet = "10.215.0.0/24" },
        command = { "sleep", "30" } }
      assert(c:start())
      -- written whole, then renamed: a script killed while writing leaves none
      local path = %q .. "/pid-" .. i
      local f = io.open(path .. ".tmp", "w")
      f:write(c.pid, " ", io.open("/proc/" .. c.pid .. "/stat"):read("a"):match("%%) %%S+ " .. ("%%S+ "):rep(18) .. "(%%d+)"))
      f:close()
      os.rename(path .. ".tmp", path)
      nsl.sleep(30)
    ]]):format(tag, root, bridge, dir))
    f:close()
    local before = host_state()
    local fds_before = #nsl.fds()
    local started = {}
    local delays = { 0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2 }
    for round = 1, 2 do
      for k, delay in ipairs(delays) do
        local i = round * 100 + k
        local pid = assert(nsl.clone(nil, function()
          nsl.exec({ T.bin, "run", script, tostring(i) })
          return 127
        end))
        nsl.sleep(delay)
        assert(nsl.kill(pid, "KILL"))
        nsl.wait(pid)
        local rec = io.open(dir .. "/pid-" .. i)
        if rec then
          local cpid, start = rec:read("a"):match("(%d+) (%d+)")
          rec:close()
          started[tonumber(cpid)] = tonumber(start)
        end
      end
    end
    -- the script's death kills its containers (pdeathsig); their records,
    -- cgroups, leases, bridge and overlay state go at the next look
    local _, ok = T.sh(T.quote(T.bin) .. " ps -a >/dev/null")
    assert.is_true(ok)
    assert.are.same({}, survivors(started))
    assert.are.same({}, C.children())
    local left = settled(before)
    assert.are.same({}, left, table.concat(left, "\n"))
    assert.are.equal(fds_before, #nsl.fds())
    os.execute("rm -rf " .. T.quote(dir))
  end)
end)
