-- nsl.cgroup and container limits on a real cgroup v2 tree: what the
-- kernel enforces, and a rootless container with limits in a subtree
-- delegated to its user the way systemd delegates user@.service.
--
-- This machine's controllers are on cgroup v1 (spec/cgroup/cgroup_spec.lua
-- tests them, and the v2 code on a fake tree), so here every test is pending;
-- `make check-vm` boots Debian 12's own kernel with a pure cgroup v2 tree
-- and runs them there as root (tools/vm/, docs/kernels.md). It sets
-- NSL_CHECK_VM, under which a test that cannot run fails instead.
--
-- Groups are named "v2spec-<pid>-<n>" under nsl's own parent "nsl"; the
-- delegated subtree is /sys/fs/cgroup/nsl-v2spec-<pid>. Each test kills
-- and reaps what it started and removes its groups, then checks that none
-- is left.
local nsl = require "nsl"
local T = require "nsltest"
local cgroup = require "nsl.cgroup"

local ROOT = "/sys/fs/cgroup"

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return (s:gsub("%s+$", ""))
end

local function writefile(path, text)
  local f = assert(io.open(path, "w"))
  f:setvbuf("no")
  assert(f:write(text))
  assert(f:close())
end

local function exists(path) return nsl.lstat(path) ~= nil end

local function words(s)
  local t = {}
  for w in (s or ""):gmatch("%S+") do t[w] = true end
  return t
end

local seq = 0
local function unique_name()
  seq = seq + 1
  return ("v2spec-%d-%d"):format(nsl.getpid(), seq)
end

local defer = T.deferrer(function(f) finally(f) end)

-- Where the tests can run: root, a cgroup2 mount at /sys/fs/cgroup with
-- the four controllers nsl's limits use. Why not, otherwise.
local function runnable()
  if nsl.geteuid() ~= 0 then return nil, "needs root" end
  local layout = cgroup.detect()
  if not layout or layout.version ~= 2 then
    return nil, "needs a cgroup v2 tree at /sys/fs/cgroup (this machine's is v1; make check-vm has one)"
  end
  for _, c in ipairs({ "memory", "pids", "cpu", "cpuset" }) do
    if not layout.controllers[c] then return nil, "needs the " .. c .. " controller in " .. ROOT end
  end
  return true
end

local usable, why_not = runnable()

-- describe, or a block that is pending here and fails in the VM lane
local function describe_v2(title, body)
  if usable then return describe(title, body) end
  describe(title, function()
    if os.getenv("NSL_CHECK_VM") then
      it("runs", function() error("make check-vm must run these: " .. why_not) end)
    else
      pending(why_not)
    end
  end)
end

local function uptime()
  return tonumber(read("/proc/uptime"):match("^%S+"))
end

-- Blocks until killed: reading a pipe whose write end stays open.
local function block()
  local r, _w = nsl.pipe()
  nsl.read(r)
end

-- A child released only once it is in cg: fn(out) runs there and may send
-- one line through out. Returns its pid, a reader of that line, and
-- stop() (kill and reap, idempotent) and wait() (reap), both giving its
-- end as nsl.wait does.
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
  local result
  local function wait()
    if not result then result = table.pack(nsl.wait(pid)) end
    if out_r then nsl.close(out_r); out_r = nil end
    return table.unpack(result, 1, result.n)
  end
  local function stop()
    if not result then nsl.kill(pid, "KILL") end
    return wait()
  end
  defer(stop)
  local added, err = cg:add(pid)
  nsl.write(gate_w, added and "g" or "x")
  nsl.close(gate_w)
  assert(added, err)
  local function line()
    local buf = ""
    while out_r and not buf:find("\n") do
      local s = nsl.read(out_r)
      if not s or s == "" then break end
      buf = buf .. s
    end
    return (buf:gsub("\n.*", ""))
  end
  return pid, line, stop, wait
end

describe_v2("nsl.cgroup on a real cgroup v2 tree", function()
  before_each(function() deferred = nil end)

  -- A group with limits; finally kills what is in it, destroys it and
  -- checks that it is gone.
  local function setup(limits)
    local name = unique_name()
    local cg = assert(cgroup.create(name, limits))
    defer(function() assert.is_false(exists(ROOT .. "/nsl/" .. name)) end)
    defer(function()
      cg:kill()
      assert(cg:destroy())
    end)
    return cg, name
  end

  it("makes one group under nsl, hands the controllers down and writes each limit", function()
    local cg, name = setup { memory = "48M", pids = 20, cpu = 0.5, cpuset = "0" }
    local d = ROOT .. "/nsl/" .. name
    assert.are.equal(2, cg.version)
    assert.are.equal(d, cg.path)
    assert.are.same({ d }, cg:dirs())
    for _, parent in ipairs({ ROOT, ROOT .. "/nsl" }) do
      local on = words(read(parent .. "/cgroup.subtree_control"))
      for _, c in ipairs({ "memory", "pids", "cpu", "cpuset" }) do
        assert.is_true(on[c], c .. " not enabled in " .. parent)
      end
    end
    assert.are.equal(tostring(48 * 1024 * 1024), read(d .. "/memory.max"))
    if exists(d .. "/memory.swap.max") then assert.are.equal("0", read(d .. "/memory.swap.max")) end
    assert.are.equal("1", read(d .. "/memory.oom.group"))
    assert.are.equal("20", read(d .. "/pids.max"))
    assert.are.equal("50000 100000", read(d .. "/cpu.max"))
    assert.are.equal("0", read(d .. "/cpuset.cpus"))
    assert.are.equal("0", read(d .. "/cpuset.cpus.effective"))
  end)

  it("kills a child that allocates more than memory = 32M; oom_killed and memory.events say so", function()
    local cg, name = setup { memory = "32M" }
    local _, _, _, wait1 = start_in(cg, function()
      local t = {}
      for i = 1, 4 do t[i] = ("x"):rep(1024 * 1024 - 64) .. i end
      return #t == 4 and 0 or 1
    end)
    assert.are.same({ true, "exit", 0 }, { wait1() })
    assert.is_false((cg:oom_killed()))
    local _, _, _, wait2 = start_in(cg, function()
      local t = {}
      for i = 1, 256 do t[i] = ("y"):rep(1024 * 1024 - 64) .. i end
      return 0
    end)
    assert.are.same({ nil, "signal", 9 }, { wait2() })
    local killed, count = cg:oom_killed()
    assert.is_true(killed)
    assert.is_true(count >= 1)
    local events = read(ROOT .. "/nsl/" .. name .. "/memory.events")
    assert.is_true(tonumber(events:match("oom_kill (%d+)")) >= 1, events)
    local s = assert(cg:stats())
    assert.is_true(s.memory_peak > 24 * 1024 * 1024, "peak " .. tostring(s.memory_peak))
    assert.is_true(s.memory_peak <= 32 * 1024 * 1024, "peak " .. tostring(s.memory_peak))
  end)

  it("pids = 16 stops a fork bomb, and kill() ends all of it through cgroup.kill", function()
    local cg, name = setup { pids = 16 }
    assert.is_true(exists(cg.path .. "/cgroup.kill"))
    local pid, line, _, wait = start_in(cg, function(out)
      local made, refused = 0, 0
      for _ = 1, 64 do
        if nsl.clone({}, block, { collect = false }) then made = made + 1 else refused = refused + 1 end
      end
      nsl.write(out, ("%d %d\n"):format(made, refused))
      block()
    end)
    assert.are.equal("15 49", line())   -- 16 with the bomb itself
    assert.are.equal(16, cg:stats().pids)
    local events = read(ROOT .. "/nsl/" .. name .. "/pids.events")
    assert.is_true(tonumber(events:match("max (%d+)")) >= 49, events)
    assert.are.equal(pid, cg:procs()[1])
    assert(cg:kill())
    assert.are.same({ nil, "signal", 9 }, { wait() })
    local deadline = uptime() + 5
    while #cg:procs() > 0 and uptime() < deadline do nsl.sleep(0.01) end
    assert.are.same({}, cg:procs())
  end)

  it("cpu = 0.2 throttles a busy child to about a fifth of a CPU", function()
    local cg = setup { cpu = 0.2 }
    local _, _, _, wait = start_in(cg, function()
      local t0 = uptime()
      while uptime() - t0 < 1.0 do
        for _ = 1, 10000 do end
      end
      return 0
    end)
    assert.are.same({ true, "exit", 0 }, { wait() })
    local s = assert(cg:stats())
    assert.is_true(s.cpu > 0.05 and s.cpu < 0.45, ("cpu %.3f s in 1 s"):format(s.cpu))
    assert.is_true(s.cpu_throttled > 0, "nr_throttled " .. tostring(s.cpu_throttled))
  end)

  it("cpuset = \"0\" pins the child to CPU 0", function()
    local mine = read("/proc/self/status"):match("Cpus_allowed_list:%s*(%S+)")
    if mine == "0" then return pending("this process is confined to CPU 0 already") end
    local cg = setup { cpuset = "0" }
    local _, line = start_in(cg, function(out)
      nsl.write(out, read("/proc/self/status"):match("Cpus_allowed_list:%s*(%S+)") .. "\n")
      return 0
    end)
    assert.are.equal("0", line())
  end)

  it("destroy() refuses while a process is in the group and names it; after kill() it goes", function()
    local cg, name = setup {}
    local pid, _, _, wait = start_in(cg, function() block() end)
    local settle = cgroup.settle
    cgroup.settle = 0.2
    local ok, err = cg:destroy()
    cgroup.settle = settle
    assert.is_nil(ok)
    assert.truthy(err:find("processes " .. pid, 1, true), err)
    assert(cg:kill())
    assert.are.same({ nil, "signal", 9 }, { wait() })
    assert.is_true(cg:destroy())
    assert.is_false(exists(ROOT .. "/nsl/" .. name))
  end)
end)

-- ---- rootless, in a delegated subtree -------------------------------------------
--
-- systemd gives each user a subtree of their own (user@UID.service): the
-- directory and its cgroup.procs, cgroup.subtree_control and
-- cgroup.threads belong to the user, and the user's processes run in a
-- leaf below it. The test makes the same as root, moves the script into
-- the leaf, and the script (as T.uid) points nsl's groups below the
-- subtree with nsl.cgroup's parent.

describe_v2("a rootless container with limits in a delegated cgroup v2 subtree", function()
  before_each(function() deferred = nil end)

  it("runs in its group there, under its memory and pids limits, and removes the group", function()
    if not T.bin_reachable() then
      if os.getenv("NSL_CHECK_VM") then error("uid " .. T.uid .. " cannot run " .. T.bin) end
      return pending("uid " .. T.uid .. " cannot run " .. T.bin)
    end
    local sub = "nsl-v2spec-" .. nsl.getpid()
    local dir = ROOT .. "/" .. sub
    -- the subtree gets what the root hands down (nsl as root does the same)
    local on = words(read(ROOT .. "/cgroup.subtree_control"))
    local add = {}
    for _, c in ipairs({ "memory", "pids" }) do
      if not on[c] then add[#add + 1] = "+" .. c end
    end
    if #add > 0 then writefile(ROOT .. "/cgroup.subtree_control", table.concat(add, " ")) end
    assert(nsl.mkdir(dir))
    defer(function()
      for _, d in ipairs({ dir .. "/nsl", dir .. "/session", dir }) do
        if exists(d) then
          local ok, err = nsl.rmdir(d)
          assert(ok, err)
        end
      end
    end)
    assert(nsl.mkdir(dir .. "/session"))
    local owned = {}
    for _, d in ipairs({ dir, dir .. "/session" }) do
      for _, f in ipairs({ "", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads" }) do
        owned[#owned + 1] = T.quote(d .. f)
      end
    end
    assert(os.execute(("chown %d:%d %s"):format(T.uid, T.gid, table.concat(owned, " "))))
    local name = "v2deleg-" .. nsl.getpid()
    local script = T.script(([[
      local cgroup = require "nsl.cgroup"
      cgroup.parent = %q
      print(cgroup.available { memory = "32M", pids = 16 })
      local root = nsl.rootfs.host()
      local ns = { "user", "mnt", "pid" }
      -- where it runs, and the limits written into its group
      local c = nsl.container { name = %q, rootfs = root, namespaces = ns,
        limits = { memory = "32M", pids = 16 }, command = { "sleep", "30" } }
      assert(c:start())
      local group = %q .. "/nsl/" .. c.name
      local f = assert(io.open("/proc/" .. c.pid .. "/cgroup")); print(f:read("l")); f:close()
      f = assert(io.open(group .. "/memory.max")); print("memory.max", f:read("l")); f:close()
      f = assert(io.open(group .. "/pids.max")); print("pids.max", f:read("l")); f:close()
      print("stats pids", c:stats().pids)
      c:kill("KILL")
      print(c:wait())
      print("group left", nsl.lstat(group) ~= nil)
      -- pids: a shell forking without end stops at 16 (init, sh, the
      -- subshell and 13 sleeps)
      c = nsl.container { rootfs = root, namespaces = ns, limits = { pids = 16 },
        command = { "sh", "-c", "(i=0; while :; do sleep 30 & i=$((i+1)); echo $i > /tmp/n; done) 2>/dev/null; echo forks $(cat /tmp/n)" } }
      print(c:run())
      -- memory: over 32M, the container is killed, and wait says "oom"
      c = nsl.container { rootfs = root, namespaces = ns, limits = { memory = "32M" },
        command = { "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a)" } }
      local r = table.pack(c:run())
      print("oom", r[2], r[3], r[4])
    ]]):format(sub .. "/nsl", name, dir))
    defer(function() os.remove(script) end)
    local err = os.tmpname()
    defer(function() os.remove(err) end)
    local out, ok = T.sh(("sh -c 'echo $$ > %s/session/cgroup.procs && exec setpriv --reuid=%d --regid=%d "
      .. "--clear-groups %s run %s' 2>%s"):format(dir, T.uid, T.gid, T.quote(T.user_bin()), T.quote(script),
      T.quote(err)))
    local f = io.open(err)
    local errtext = f:read("a")
    f:close()
    assert.is_true(ok, errtext)
    local want = {
      "true",
      ("0::/%s/nsl/%s"):format(sub, name),
      "memory.max\t33554432",
      "pids.max\t16",
      "stats pids\t2",
      "nil\tsignal\t9",
      "group left\tfalse",
      "forks 13",
      "true\texit\t0",
    }
    local lines = {}
    for l in (out .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
    local last = table.remove(lines)
    assert.are.same(want, lines)
    -- init's 137 for its killed command, or the kernel took init (signal 9)
    assert.is_true(last == "oom\texit\t137\toom" or last == "oom\tsignal\t9\toom", last)
    assert.are.equal("", errtext)
    assert.is_false(exists(dir .. "/nsl"))
  end)
end)
