-- nsl.cgroup: limits checked, then enforced on this machine's real cgroup
-- v1 hierarchies (memory, pids, cpu, cpuset under /sys/fs/cgroup/<c>) by
-- children that try to break them; and the cgroup v2 side on a fake tree.
--
-- Every group is named "spec-<pid>-<n>", made under the module's own "nsl"
-- parent (the machine's existing groups are never written to), and removed
-- in `finally`, after every process the test started was killed and
-- reaped. Each real test ends by checking that no directory of its group
-- is left in any hierarchy.
local nsl = require "nsl"
local T = require "nsltest"
local cgroup = require "nsl.cgroup"

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return (s:gsub("%s+$", ""))
end

local function writefile(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function exists(path) return nsl.lstat(path) ~= nil end

local seq = 0
local function unique_name()
  seq = seq + 1
  return ("spec-%d-%d"):format(nsl.getpid(), seq)
end

local defer = T.deferrer(function(f) finally(f) end)

local V1 = { "memory", "pids", "cpu", "cpuacct", "cpuset", "freezer" }

-- The directories of group `name` that exist in any v1 hierarchy.
local function leftovers(name)
  local left = {}
  for _, c in ipairs(V1) do
    local d = ("/sys/fs/cgroup/%s/nsl/%s"):format(c, name)
    if exists(d) then left[#left + 1] = d end
  end
  return left
end

local function uptime()
  return tonumber(read("/proc/uptime"):match("^%S+"))
end

-- A child released only after it was added to cg (as the container layer
-- does it): fn(out) runs in the group and may send one result line through
-- out (a pipe descriptor). Returns the pid, a function reading that line,
-- and a function that kills and reaps the child (idempotent).
local function start_in(cg, fn)
  local gate_r, gate_w = assert(nsl.pipe())
  local out_r, out_w = assert(nsl.pipe())
  local pid = assert(nsl.clone({}, function()
    nsl.close_fds(3, { keep = { gate_r, out_w } })
    if nsl.read(gate_r, 1) ~= "g" then return 3 end
    return fn(out_w)
  end, { pdeathsig = "KILL" }))
  nsl.close(gate_r)
  nsl.close(out_w)
  local reaped = false
  local result
  local function stop()
    if not reaped then
      nsl.kill(pid, "KILL")
      result = table.pack(nsl.wait(pid))
      reaped = true
    end
    if out_r then nsl.close(out_r) end
    out_r = nil
    return table.unpack(result, 1, result.n)
  end
  local added, err = cg:add(pid)
  if not added then
    nsl.close(gate_w)
    stop()
    error(err)
  end
  nsl.write(gate_w, "g")
  nsl.close(gate_w)
  local function line()
    local buf = ""
    while out_r and not buf:find("\n") do
      local s = nsl.read(out_r)
      if not s or s == "" then break end
      buf = buf .. s
    end
    return (buf:gsub("\n.*", ""))
  end
  local function wait()
    if not reaped then
      result = table.pack(nsl.wait(pid))
      reaped = true
    end
    return table.unpack(result, 1, result.n)
  end
  return pid, line, stop, wait
end

-- Blocks forever (until killed): reading a pipe whose write end stays open.
local function block()
  local r, _w = nsl.pipe()
  nsl.read(r)
end

describe("nsl.cgroup.check", function()
  it("accepts the documented forms and normalises them", function()
    assert.are.same({ memory = 64 * 1024 * 1024, pids = 64, cpu = 0.5, cpuset = "0" },
      cgroup.check { memory = "64M", pids = 64, cpu = 0.5, cpuset = "0" })
    assert.are.equal(1024 ^ 3, cgroup.check { memory = "1G" }.memory)
    assert.are.equal(512 * 1024, cgroup.check { memory = "512k" }.memory)
    assert.are.equal(1048576, cgroup.check { memory = 1048576 }.memory)
    assert.are.equal(64 * 1024 * 1024, cgroup.check { memory = 64 * 2 ^ 20 }.memory)   -- a float
    assert.are.equal(64, math.tointeger(cgroup.check { pids = 64.0 }.pids))
    assert.are.equal("integer", math.type(cgroup.check { pids = 64.0 }.pids))
    assert.are.equal(64 * 1024 * 1024, cgroup.check { memory = "64MiB" }.memory)
    assert.are.equal("0-1,3", cgroup.check { cpuset = "0-1, 3" }.cpuset)
    assert.are.same({}, cgroup.check(nil))
    assert.are.same({}, cgroup.check {})
  end)

  it("raises an error naming the field for a bad value", function()
    local cases = {
      { { memory = "lots" }, "limits.memory" },
      { { memory = -5 }, "limits.memory" },
      { { memory = "64X" }, "limits.memory" },
      { { memory = 1.5 }, "limits.memory" },
      { { memory = 0 / 0 }, "limits.memory" },
      { { memory = math.huge }, "limits.memory" },
      { { memory = "1k" }, "at least 256k" },
      { { pids = 0 }, "limits.pids" },
      { { pids = 2.5 }, "limits.pids" },
      { { pids = "64" }, "limits.pids" },
      { { cpu = 0 }, "limits.cpu" },
      { { cpu = -1 }, "limits.cpu" },
      { { cpu = "half" }, "limits.cpu" },
      { { cpuset = "0-" }, "limits.cpuset" },
      { { cpuset = "3-1" }, "limits.cpuset" },
      { { cpuset = 0 }, "limits.cpuset" },
      { { memroy = "64M" }, 'unknown field "memroy"' },
      { "64M", "limits must be a table" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(cgroup.check, case[1])
      assert.is_false(ok, "accepted: " .. tostring(case[2]))
      assert.truthy(err:find(case[2], 1, true), ("%q does not mention %q"):format(err, case[2]))
    end
  end)

  it("create raises on bad limits, names and options before making anything", function()
    local name = unique_name()
    assert.has_error(function() cgroup.create(name, { pids = -1 }) end)
    assert.has_error(function() cgroup.create("../escape", {}) end)
    assert.has_error(function() cgroup.create("", {}) end)
    assert.has_error(function() cgroup.create(name, {}, { rooot = "/tmp" }) end)
    assert.are.same({}, leftovers(name))
  end)
end)

-- ---- the real hierarchies of this machine (cgroup v1) --------------------------

local layout = cgroup.detect()
local real_v1 = layout and layout.version == 1 and nsl.geteuid() == 0
  and layout.mounts.memory and layout.mounts.pids and layout.mounts.cpu
  and layout.mounts.cpuacct and layout.mounts.cpuset

local describe_v1 = real_v1 and describe or function(title)
  describe(title, function()
    pending("needs root and cgroup v1 hierarchies under /sys/fs/cgroup (this machine's layout)")
  end)
end

describe_v1("nsl.cgroup on this machine's cgroup v1 hierarchies", function()
  before_each(function() deferred = nil end)
  -- Each test gets a group and a list of stop functions; finally kills
  -- and reaps every child, then destroys the group, then checks.
  local function setup(limits)
    local name = unique_name()
    local cg = assert(cgroup.create(name, limits))
    local stops = {}
    defer(function()
      assert.are.same({}, leftovers(name))
    end)
    defer(function()
      for _, stop in ipairs(stops) do stop() end
      cg:kill()
      assert(cg:destroy())
    end)
    return cg, name, stops
  end

  it("detects v1 and finds the controllers' hierarchies", function()
    assert.are.equal(1, layout.version)
    assert.are.equal("/sys/fs/cgroup/memory", layout.mounts.memory)
    assert.are.equal("/sys/fs/cgroup/pids", layout.mounts.pids)
    assert.is_true((cgroup.available { memory = "64M", pids = 8, cpu = 1, cpuset = "0" }))
  end)

  it("writes the limits into each hierarchy, memory+swap equal to memory", function()
    local cg, name = setup { memory = "48M", pids = 20, cpu = 0.5, cpuset = "0" }
    local base = "/sys/fs/cgroup/%s/nsl/" .. name .. "/%s"
    assert.are.equal(tostring(48 * 1024 * 1024), read(base:format("memory", "memory.limit_in_bytes")))
    if exists(base:format("memory", "memory.memsw.limit_in_bytes")) then
      assert.are.equal(tostring(48 * 1024 * 1024), read(base:format("memory", "memory.memsw.limit_in_bytes")))
    end
    assert.are.equal("20", read(base:format("pids", "pids.max")))
    assert.are.equal("100000", read(base:format("cpu", "cpu.cfs_period_us")))
    assert.are.equal("50000", read(base:format("cpu", "cpu.cfs_quota_us")))
    assert.are.equal("0", read(base:format("cpuset", "cpuset.cpus")))
    -- cpuset.mems copied from the parent, or no process could join
    assert.are.equal(read("/sys/fs/cgroup/cpuset/cpuset.mems"), read(base:format("cpuset", "cpuset.mems")))
    assert.are.equal(("/sys/fs/cgroup/memory/nsl/%s"):format(name), cg.path)
    assert.are.equal(("/sys/fs/cgroup/freezer/nsl/%s"):format(name), cg.paths.freezer)
  end)

  it("kills a child that allocates more than memory = 32M, and oom_killed says so", function()
    local cg, _, stops = setup { memory = "32M" }
    assert.is_false((cg:oom_killed()))
    -- control: a child well under the limit runs to its end
    local _, _, stop1, wait1 = start_in(cg, function()
      local t = {}
      for i = 1, 4 do t[i] = ("x"):rep(1024 * 1024 - 64) .. i end
      return #t == 4 and 0 or 1
    end)
    stops[#stops + 1] = stop1
    local ok, how, n = wait1()
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.is_false((cg:oom_killed()))
    -- a child that keeps allocating: 256 MB if nothing stopped it
    local _, _, stop2, wait2 = start_in(cg, function()
      local t = {}
      for i = 1, 256 do t[i] = ("y"):rep(1024 * 1024 - 64) .. i end
      return 0
    end)
    stops[#stops + 1] = stop2
    ok, how, n = wait2()
    assert.are.same({ nil, "signal", 9 }, { ok, how, n })
    local killed, count = cg:oom_killed()
    assert.is_true(killed)
    assert.is_true(count >= 1)
    local s = assert(cg:stats())
    assert.is_true(s.memory_peak > 24 * 1024 * 1024, "peak " .. tostring(s.memory_peak))
    assert.is_true(s.memory_peak <= 32 * 1024 * 1024, "peak " .. tostring(s.memory_peak))
  end)

  it("pids = 16 stops a fork bomb, and kill() ends all of it", function()
    local cg, name, stops = setup { pids = 16 }
    local pid, line, stop, wait = start_in(cg, function(out)
      local made, refused = 0, 0
      for _ = 1, 64 do
        local p = nsl.clone({}, block, { collect = false })
        if p then made = made + 1 else refused = refused + 1 end
      end
      nsl.write(out, ("%d %d\n"):format(made, refused))
      block()
    end)
    stops[#stops + 1] = stop
    local made, refused = line():match("^(%d+) (%d+)$")
    made, refused = tonumber(made), tonumber(refused)
    assert.are.equal(15, made)            -- 16 with the bomb itself
    assert.are.equal(49, refused)
    assert.are.equal(16, cg:stats().pids)
    assert.are.equal("16", read(("/sys/fs/cgroup/pids/nsl/%s/pids.current"):format(name)))
    local events = read(("/sys/fs/cgroup/pids/nsl/%s/pids.events"):format(name))
    assert.truthy(tonumber(events:match("max (%d+)")) >= 49)
    assert.are.equal(16, #cg:procs())
    assert.are.equal(pid, cg:procs()[1])   -- the bomb has the lowest pid here
    assert(cg:kill())
    local ok, how, n = wait()
    assert.are.same({ nil, "signal", 9 }, { ok, how, n })
    -- the grandchildren go too (the host's init reaps them)
    local deadline = uptime() + 5
    while #cg:procs() > 0 and uptime() < deadline do end
    assert.are.same({}, cg:procs())
  end)

  it("cpu = 0.2 throttles a busy child to about a fifth of a CPU", function()
    local cg, _, stops = setup { cpu = 0.2 }
    local _, _, stop, wait = start_in(cg, function()
      local t0 = uptime()
      while uptime() - t0 < 1.0 do
        for _ = 1, 10000 do end
      end
      return 0
    end)
    stops[#stops + 1] = stop
    local t0 = uptime()
    assert.are.same({ true, "exit", 0 }, { wait() })
    local wall = uptime() - t0
    local s = assert(cg:stats())
    -- unthrottled it would use about 1 s of CPU in its 1 s
    assert.is_true(s.cpu > 0.05 and s.cpu < 0.45, ("cpu %.3f s in %.2f s"):format(s.cpu, wall))
    assert.is_true(s.cpu_throttled > 0, "nr_throttled " .. tostring(s.cpu_throttled))
  end)

  it("cpuset = \"0\" pins the child to CPU 0", function()
    local mine = read("/proc/self/status"):match("Cpus_allowed_list:%s*(%S+)")
    if mine == "0" then
      pending("this process is already confined to CPU 0; nothing to show")
      return
    end
    local cg, _, stops = setup { cpuset = "0" }
    local _, line, stop = start_in(cg, function(out)
      local status = read("/proc/self/status")
      nsl.write(out, status:match("Cpus_allowed_list:%s*(%S+)") .. "\n")
      return 0
    end)
    stops[#stops + 1] = stop
    assert.are.equal("0", line())
  end)

  it("stats() follows memory, cpu time and the number of processes", function()
    local cg, _, stops = setup {}
    local before = assert(cg:stats())
    assert.are.same({ 0, 0 }, { before.pids, before.memory })
    local _, line, stop = start_in(cg, function(out)
      local t = {}
      for i = 1, 16 do t[i] = ("z"):rep(1024 * 1024 - 64) .. i end
      local t0 = uptime()
      while uptime() - t0 < 0.3 do end
      nsl.write(out, "ready\n")
      block()
      return #t
    end)
    stops[#stops + 1] = stop
    assert.are.equal("ready", line())
    local s = assert(cg:stats())
    assert.are.equal(1, s.pids)
    assert.is_true(s.memory >= 16 * 1024 * 1024, "memory " .. s.memory)
    assert.is_true(s.cpu >= 0.1, "cpu " .. s.cpu)
    assert.is_true(s.memory_peak >= s.memory)
  end)

  it("destroy() removes every directory, is idempotent, and the parent goes when empty", function()
    local name = unique_name()
    local cg = assert(cgroup.create(name, { memory = "64M", pids = 8, cpu = 1, cpuset = "0" }))
    defer(function() cg:destroy() end)
    assert.are.equal(6, #leftovers(name))
    local pid, _, stop = start_in(cg, function() block() end)
    defer(stop)
    assert.are.same({ pid }, cg:procs())
    assert(cg:kill())
    assert.are.same({ nil, "signal", 9 }, { stop() })
    assert.is_true(cg:destroy())
    assert.are.same({}, leftovers(name))
    assert.is_true(cg:destroy())
    assert.is_nil((cgroup.open(name)))
    assert.is_nil((cg:stats()))
    -- the shared "nsl" parent stays only while another group is in it
    for _, c in ipairs(V1) do
      local parent = ("/sys/fs/cgroup/%s/nsl"):format(c)
      if exists(parent) then
        local _, ok = T.sh(("find %s -mindepth 1 -maxdepth 1 -type d | grep -q ."):format(parent))
        assert.is_true(ok, parent .. " left empty")
      end
    end
  end)

  it("destroy() refuses while a process is still in the group, and says which", function()
    local cg, _, stops = setup {}
    local pid, _, stop = start_in(cg, function() block() end)
    stops[#stops + 1] = stop
    local settle = cgroup.settle
    cgroup.settle = 0.2
    local ok, err = cg:destroy()
    cgroup.settle = settle
    assert.is_nil(ok)
    assert.truthy(err:find(tostring(pid), 1, true), err)
    assert.truthy(err:find("busy", 1, true), err)
  end)

  it("create() undoes its work and names the file when the kernel refuses a limit", function()
    local name = unique_name()
    local cg, err = cgroup.create(name, { memory = "64M", cpuset = "63" })
    if cg then cg:destroy() end
    assert.is_nil(cg)
    assert.truthy(err:find("cpuset.cpus", 1, true), err)
    assert.truthy(err:find("Invalid argument", 1, true) or err:find("Numerical result", 1, true), err)
    assert.are.same({}, leftovers(name))
  end)

  it("create() takes over an empty stale group of the same name, not a live one", function()
    local cg, name = setup { pids = 5 }
    -- stale: the handle is forgotten, the group stays
    local again = assert(cgroup.create(name, { pids = 7 }))
    assert.are.equal("7", read(("/sys/fs/cgroup/pids/nsl/%s/pids.max"):format(name)))
    local pid, _, stop = start_in(again, function() block() end)
    defer(stop)
    local third, err = cgroup.create(name, { pids = 9 })
    assert.is_nil(third)
    assert.truthy(err:find("holds processes " .. pid, 1, true), err)
    assert.are.equal("7", read(("/sys/fs/cgroup/pids/nsl/%s/pids.max"):format(name)))
    -- open() finds it for stats and cleanup
    local opened = assert(cgroup.open(name))
    assert.are.same({ pid }, opened:procs())
    assert.are.equal(cg.path, opened.path)
  end)

  it("available() tells an unprivileged user why there are no limits on v1", function()
    if not T.bin_reachable() then
      pending("uid " .. T.uid .. " cannot run " .. T.bin)
      return
    end
    local out, errtext, ok = T.rootless([[
      local cgroup = require "nsl.cgroup"
      local ok, why = cgroup.available { memory = "64M" }
      print(ok, why)
      local cg, err = cgroup.create("spec-rootless-]] .. nsl.getpid() .. [[", { memory = "64M" })
      print(cg, err)
    ]])
    assert.is_true(ok, errtext)
    local first, second = out:match("^([^\n]*)\n([^\n]*)$")
    assert.truthy(first and first:find("^false\tcgroup v1: "), out)
    assert.truthy(first:find("not writable by uid " .. T.uid, 1, true), first)
    assert.truthy(first:find("run as root", 1, true), first)
    assert.truthy(second:find("^nil\tcgroup create"), second)
    assert.truthy(second:find("Permission denied", 1, true), second)
    assert.are.same({}, leftovers("spec-rootless-" .. nsl.getpid()))
  end)
end)

-- ---- cgroup v1 with co-mounted controllers, on a fake tree ---------------------
--
-- Most v1 hosts mount cpu and cpuacct as one hierarchy, "cpu,cpuacct", with
-- the symlinks cpu and cpuacct pointing at it; this machine mounts each
-- controller on its own, so that layout is faked: a temporary directory
-- whose mkdir populates a group with the files of its hierarchy's
-- controllers, and whose rmdir refuses a group that lists processes.

local V1_FILES = {
  memory = { ["memory.limit_in_bytes"] = "9223372036854771712", ["memory.memsw.limit_in_bytes"] = "9223372036854771712",
    ["memory.swappiness"] = "60", ["memory.usage_in_bytes"] = "0", ["memory.max_usage_in_bytes"] = "0",
    ["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n" },
  pids = { ["pids.max"] = "max", ["pids.current"] = "0" },
  ["cpu,cpuacct"] = { ["cpu.cfs_period_us"] = "100000", ["cpu.cfs_quota_us"] = "-1",
    ["cpu.stat"] = "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n", ["cpuacct.usage"] = "0" },
  cpuset = { ["cpuset.cpus"] = "", ["cpuset.mems"] = "" },
  freezer = { ["freezer.state"] = "THAWED" },
}

local function fake_rmdir(path)
  if not exists(path) then return nil, "rmdir " .. path .. ": No such file or directory", 2 end
  local procs = read(path .. "/cgroup.procs")
  local _, subdirs = T.sh(("find %s -mindepth 1 -type d | grep -q ."):format(T.quote(path)))
  if (procs and procs ~= "") or subdirs then
    return nil, "rmdir " .. path .. ": Device or resource busy", 16
  end
  os.execute("rm -f " .. T.quote(path) .. "/*")
  return nsl.rmdir(path)
end

local function fake_v1_tree()
  local root = assert(nsl.mkdtemp("/tmp/nsl-cgfake1-"))
  defer(function() os.execute("rm -rf " .. T.quote(root)) end)
  local mkdirs = {}   -- every mkdir the module asked for
  local function mkdir(path)
    mkdirs[#mkdirs + 1] = path
    local ok, err, code = nsl.mkdir(path)
    if not ok then return ok, err, code end
    local hier = path:sub(#root + 2):match("^[^/]+")
    writefile(path .. "/cgroup.procs", "")
    for f, v in pairs(V1_FILES[hier]) do writefile(path .. "/" .. f, v) end
    return true
  end
  for hier in pairs(V1_FILES) do
    assert(nsl.mkdir(root .. "/" .. hier))
    writefile(root .. "/" .. hier .. "/cgroup.procs", "1\n")
  end
  writefile(root .. "/cpuset/cpuset.cpus", "0-1\n")
  writefile(root .. "/cpuset/cpuset.mems", "0\n")
  assert(nsl.symlink("cpu,cpuacct", root .. "/cpu"))
  assert(nsl.symlink("cpu,cpuacct", root .. "/cpuacct"))
  return { root = root, mkdirs = mkdirs, opts = { root = root, mkdir = mkdir, rmdir = fake_rmdir } }
end

describe("nsl.cgroup on cgroup v1 with cpu and cpuacct co-mounted (a fake tree)", function()
  before_each(function() deferred = nil end)

  it("makes one group in the shared hierarchy and uses it for both controllers", function()
    local fake = fake_v1_tree()
    local l = assert(cgroup.detect { root = fake.root })
    assert.are.equal(1, l.version)
    assert.are.equal(l.mounts.cpu, l.mounts.cpuacct)
    local cg, err = cgroup.create("co", { memory = "64M", cpu = 0.5, cpuset = "1" }, fake.opts)
    assert.truthy(cg, err)
    local shared = fake.root .. "/cpu,cpuacct/nsl/co"
    assert.are.equal(shared, cg.paths.cpu)
    assert.are.equal(shared, cg.paths.cpuacct)
    assert.are.equal(5, #cg:dirs())
    local count = 0
    for _, p in ipairs(fake.mkdirs) do if p == shared then count = count + 1 end end
    assert.are.equal(1, count)
    assert.are.equal("50000", read(shared .. "/cpu.cfs_quota_us"))
    assert.are.equal("67108864", read(fake.root .. "/memory/nsl/co/memory.memsw.limit_in_bytes"))
    assert.are.equal("1", read(fake.root .. "/cpuset/nsl/co/cpuset.cpus"))
    assert.are.equal("0", read(fake.root .. "/cpuset/nsl/co/cpuset.mems"))
    writefile(shared .. "/cpuacct.usage", "1500000000\n")
    writefile(shared .. "/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 5\n")
    local s = assert(cg:stats())
    assert.are.same({ 1.5, 4 }, { s.cpu, s.cpu_throttled })
    local opened = assert(cgroup.open("co", { root = fake.root, rmdir = fake_rmdir }))
    assert.are.same(cg:dirs(), opened:dirs())
    assert.is_true(cg:destroy())
    for hier in pairs(V1_FILES) do
      assert.is_false(exists(fake.root .. "/" .. hier .. "/nsl"), hier)
    end
  end)
end)

-- ---- cgroup v2 on a fake tree ----------------------------------------------------
--
-- This machine's /sys/fs/cgroup is v1 (its unified hierarchy carries only
-- hugetlb), and a real cgroup2 mount with the controllers cannot be made
-- here while they are bound to v1. So the v2 side runs against a fake
-- tree: a temporary directory laid out like /sys/fs/cgroup on a v2 host.
-- Its mkdir stands in for the kernel's (it populates a new group with the
-- interface files nsl reads and writes) and its rmdir refuses a group
-- that still lists processes, as the kernel does (EBUSY). The tests
-- assert what nsl wrote into those files and how it reads the kernel's
-- formats; they cannot show that a kernel enforces anything.

local function fake_tree()
  local root = assert(nsl.mkdtemp("/tmp/nsl-cgfake-"))
  local files = {
    ["cgroup.procs"] = "", ["cgroup.subtree_control"] = "", ["cgroup.events"] = "populated 0\nfrozen 0\n",
    ["cgroup.kill"] = "", ["cgroup.freeze"] = "0", ["memory.max"] = "max", ["memory.swap.max"] = "max",
    ["memory.oom.group"] = "0", ["memory.current"] = "0", ["memory.peak"] = "0",
    ["memory.events"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    ["pids.max"] = "max", ["pids.current"] = "0", ["cpu.max"] = "max 100000",
    ["cpu.stat"] = "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
    ["cpuset.cpus"] = "",
  }
  local fake = { root = root, without = {} }
  function fake.mkdir(path)
    local ok, err, code = nsl.mkdir(path)
    if not ok then return ok, err, code end
    local parent = path:match("^(.*)/[^/]+$")
    -- (the fake cannot merge "+c" writes into subtree_control as the
    -- kernel does, so a new group offers all that its parent has)
    writefile(path .. "/cgroup.controllers", read(parent .. "/cgroup.controllers"))
    for f, v in pairs(files) do
      if not fake.without[f] then writefile(path .. "/" .. f, v) end
    end
    return true
  end
  function fake.rmdir(path)
    if not exists(path) then return nil, "rmdir " .. path .. ": No such file or directory", 2 end
    local procs = read(path .. "/cgroup.procs")
    local _, subdirs = T.sh(("find %s -mindepth 1 -type d | grep -q ."):format(T.quote(path)))
    if (procs and procs ~= "") or subdirs then
      return nil, "rmdir " .. path .. ": Device or resource busy", 16
    end
    os.execute("rm -f " .. T.quote(path) .. "/*")
    return nsl.rmdir(path)
  end
  function fake.opts(extra)
    local o = { root = root, mkdir = fake.mkdir, rmdir = fake.rmdir }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  writefile(root .. "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
  writefile(root .. "/cgroup.subtree_control", "memory pids\n")
  writefile(root .. "/cgroup.procs", "1\n")
  defer(function() os.execute("rm -rf " .. T.quote(root)) end)
  return fake
end

describe("nsl.cgroup on cgroup v2 (a fake tree: this machine has v1)", function()
  local settle
  before_each(function() deferred = nil; settle = cgroup.settle; cgroup.settle = 0.2 end)
  after_each(function() cgroup.settle = settle end)

  it("detects v2 from cgroup.controllers at the root", function()
    local fake = fake_tree()
    local l = assert(cgroup.detect { root = fake.root })
    assert.are.equal(2, l.version)
    assert.is_true(l.controllers.memory and l.controllers.cpuset and true)
  end)

  it("enables the controllers down the tree and writes each limit", function()
    local fake = fake_tree()
    local cg = assert(cgroup.create("web1", { memory = "64M", pids = 64, cpu = 0.5, cpuset = "0-1" }, fake.opts()))
    local d = fake.root .. "/nsl/web1"
    assert.are.equal(d, cg.path)
    assert.are.equal(2, cg.version)
    -- the root had memory and pids on: only the missing ones were added
    assert.are.equal("+cpu +cpuset", read(fake.root .. "/cgroup.subtree_control"))
    assert.are.equal("+memory +pids +cpu +cpuset", read(fake.root .. "/nsl/cgroup.subtree_control"))
    assert.are.equal("67108864", read(d .. "/memory.max"))
    assert.are.equal("0", read(d .. "/memory.swap.max"))
    assert.are.equal("1", read(d .. "/memory.oom.group"))
    assert.are.equal("64", read(d .. "/pids.max"))
    assert.are.equal("50000 100000", read(d .. "/cpu.max"))
    assert.are.equal("0-1", read(d .. "/cpuset.cpus"))
    assert(cg:destroy())
  end)

  it("reads memory.current, cpu.stat, pids.current and memory.events", function()
    local fake = fake_tree()
    local cg = assert(cgroup.create("db", { memory = "1G" }, fake.opts()))
    local d = cg.path
    assert.are.same({ memory = 0, memory_peak = 0, cpu = 0, cpu_throttled = 0, pids = 0 }, cg:stats())
    writefile(d .. "/memory.current", "1048576\n")
    writefile(d .. "/memory.peak", "2097152\n")
    writefile(d .. "/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
      .. "nr_periods 40\nnr_throttled 7\nthrottled_usec 90000\n")
    writefile(d .. "/pids.current", "3\n")
    assert.are.same({ memory = 1048576, memory_peak = 2097152, cpu = 2.5, cpu_throttled = 7, pids = 3 }, cg:stats())
    assert.are.same({ false, 0 }, { cg:oom_killed() })
    writefile(d .. "/memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 1\n")
    assert.are.same({ true, 2 }, { cg:oom_killed() })
    assert(cg:destroy())
  end)

  it("add() writes the pid; kill() uses cgroup.kill; destroy() waits for the group to empty", function()
    local fake = fake_tree()
    local cg = assert(cgroup.create("app", {}, fake.opts()))
    defer(function()
      if exists(cg.path) then writefile(cg.path .. "/cgroup.procs", "") end
      assert(cg:destroy())
    end)
    -- a real process of ours: nothing else may appear in the fake cgroup.procs
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({}, function() nsl.read(r) end, { pdeathsig = "KILL" }))
    defer(function() nsl.close(w); nsl.kill(pid, "KILL"); nsl.wait(pid) end)
    assert(cg:add(pid))
    assert.are.equal(tostring(pid), read(cg.path .. "/cgroup.procs"))
    assert.are.same({ pid }, cg:procs())
    assert(cg:kill())
    assert.are.equal("1", read(cg.path .. "/cgroup.kill"))
    local ok, err = cg:destroy()
    assert.is_nil(ok)
    assert.truthy(err:find("processes " .. pid, 1, true), err)
    writefile(cg.path .. "/cgroup.procs", "")   -- the kernel's part: the process left
    assert.is_true(cg:destroy())
    assert.is_false(exists(fake.root .. "/nsl/app"))
    assert.is_false(exists(fake.root .. "/nsl"))
    assert.is_true(exists(fake.root .. "/cgroup.procs"))
  end)

  it("without cgroup.kill, freezes the group and kills what it lists", function()
    local fake = fake_tree()
    fake.without["cgroup.kill"] = true
    local cg = assert(cgroup.create("old", {}, fake.opts()))
    defer(function()
      if exists(cg.path) then writefile(cg.path .. "/cgroup.procs", "") end
      assert(cg:destroy())
    end)
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({}, function() nsl.read(r) end, { pdeathsig = "KILL" }))
    local reaped = false
    defer(function() nsl.close(w); if not reaped then nsl.kill(pid, "KILL"); nsl.wait(pid) end end)
    assert(cg:add(pid))
    assert(cg:kill())
    reaped = true
    assert.are.same({ nil, "signal", 9 }, { nsl.wait(pid) })
    assert.are.equal("0", read(cg.path .. "/cgroup.freeze"))   -- thawed again
  end)

  it("skips memory.swap.max on a kernel without swap accounting", function()
    local fake = fake_tree()
    fake.without["memory.swap.max"] = true
    local cg = assert(cgroup.create("noswap", { memory = "256M" }, fake.opts()))
    assert.are.equal("268435456", read(cg.path .. "/memory.max"))
    assert.is_false(exists(cg.path .. "/memory.swap.max"))
    assert(cg:destroy())
  end)

  it("reports a controller that is not available, and leaves nothing behind", function()
    local fake = fake_tree()
    writefile(fake.root .. "/cgroup.controllers", "cpu memory pids\n")
    local ok, why = cgroup.available({ cpuset = "0" }, { root = fake.root })
    assert.is_false(ok)
    assert.truthy(why:find("cpuset controller is not available in " .. fake.root, 1, true), why)
    local cg, err = cgroup.create("pinned", { cpuset = "0" }, fake.opts())
    assert.is_nil(cg)
    assert.truthy(err:find("cpuset", 1, true), err)
    assert.is_false(exists(fake.root .. "/nsl"))
  end)

  it("available() tells an unprivileged user to use a delegated subtree, and accepts one", function()
    if not T.bin_reachable() then
      pending("uid " .. T.uid .. " cannot run " .. T.bin)
      return
    end
    local fake = fake_tree()
    assert(fake.mkdir(fake.root .. "/delegated"))
    assert(os.execute(("chmod -R a+rX %s && chown %d %s/delegated"):format(T.quote(fake.root), T.uid, T.quote(fake.root))))
    local out, errtext, ok = T.rootless(([[
      local cgroup = require "nsl.cgroup"
      print(cgroup.available({ memory = "64M" }, { root = %q }))
      print(cgroup.available({ memory = "64M" }, { root = %q, parent = "delegated" }))
    ]]):format(fake.root, fake.root))
    assert.is_true(ok, errtext)
    local first, second = out:match("^([^\n]*)\n([^\n]*)$")
    assert.truthy(first and first:find("^false\tcgroup v2: " .. fake.root:gsub("%p", "%%%0")
      .. " is not writable by uid " .. T.uid), out)
    assert.truthy(first:find("Delegate=yes", 1, true), first)
    assert.are.equal("true", second)
  end)

  it("puts groups under the parent given, and leaves a parent it did not make", function()
    local fake = fake_tree()
    assert(fake.mkdir(fake.root .. "/delegated"))
    writefile(fake.root .. "/delegated/cgroup.controllers", "memory pids cpu\n")
    local cg = assert(cgroup.create("c1", { pids = 3 }, fake.opts { parent = "delegated" }))
    assert.are.equal(fake.root .. "/delegated/c1", cg.path)
    assert.are.equal("3", read(cg.path .. "/pids.max"))
    assert.are.equal("+memory +pids", read(fake.root .. "/delegated/cgroup.subtree_control"))
    assert(cg:destroy())
    assert.is_false(exists(fake.root .. "/delegated/c1"))
    assert.is_true(exists(fake.root .. "/delegated"))
  end)
end)
