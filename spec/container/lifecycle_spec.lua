-- The life of named containers as a user follows it: names and their state
-- under /run/nsl/containers, nsl.lookup / nsl.list and a handle's exec,
-- stats and kill from another process, cgroup limits, the cleanup of what
-- a SIGKILLed script left behind, stop_timeout and c:stop, nsl.wait_any,
-- and the commands nsl ps / exec / kill / wait / rm. As root, on the real
-- kernel. Detached containers are detach_spec.lua's.
--
-- Everything global is named after this process: containers "ls<pid>-...",
-- bridges "nslls<pid><letter>" on subnets 10.17x.<pid % 250>.0/24, files in
-- /tmp/nsl-spec.*; each test removes what it made in `finally`.
local nsl = require "nsl"
local T = require "nsltest"
local exists = T.exists
local C = require "container_helpers"
local H = require "hostcheck"
local container = require "nsl.container"
local state = require "nsl.state"

local tag = nsl.getpid()
local root -- a busybox root the tests share
local STATE_ROOT = "/run/nsl/containers"
local CGROUP = "/sys/fs/cgroup"
local V2 = nsl.lstat(CGROUP .. "/cgroup.controllers") ~= nil

local seq = 0
local function name_for(what)
  seq = seq + 1
  return ("ls%d-%s%d"):format(tag, what, seq)
end

-- A bridge name (at most 15 bytes) and the first three bytes of its subnet.
local function bridge_for(letter, n)
  return ("nslls%d%s"):format(tag, letter), ("10.%d.%d"):format(170 + n, tag % 250)
end

local function esc(s)
  return (s:gsub("%p", "%%%0"))
end

local read = state.read_file

local wait_until = T.wait_until

-- Whether process pid ended (or is a zombie) within seconds; never blocks
-- longer, so a test that goes wrong fails instead of hanging.
local function ends_within(pid, seconds)
  local fd = nsl.pidfd(pid)
  if not fd then return true end
  local deadline = nsl.time() + seconds
  local done = false
  repeat
    done = #nsl.poll({ fd }, math.max(0, deadline - nsl.time())) > 0
  until done or nsl.time() >= deadline
  nsl.close(fd)
  return done
end

-- c:wait() for a container of this process, after at most `seconds` for
-- it to end by itself (then it is killed and the test fails).
local function wait_for(c, seconds)
  seconds = seconds or 10
  if c.pid and not ends_within(c.pid, seconds) then
    nsl.kill(c.pid, "KILL")
    c:wait()
    error(("%s did not end within %g s"):format(tostring(c), seconds), 2)
  end
  return c:wait()
end

local defer = T.deferrer(function(f) finally(f) end)

-- A container of this process, started; destroyed at the end of the test.
local function start(spec)
  spec.rootfs = spec.rootfs or root
  local c = nsl.container(spec)
  defer(function() c:destroy() end)
  assert(c:start())
  return c
end

-- `nsl ARGS` (a shell fragment; prefix: "VAR=value " assignments before
-- it); returns stdout, stderr and the exit status as a shell gives it.
local function nslcmd(args, prefix)
  local errfile = os.tmpname()
  local out, _, how, code = T.sh(("%s%s %s 2>%s"):format(prefix or "", T.quote(T.bin), args,
    T.quote(errfile)))
  local err = read(errfile) or ""
  os.remove(errfile)
  return out, err, how == "signal" and 128 + code or code
end

-- `nsl run` of a script in another process, to its end.
local function script(text, prefix)
  local path = T.script(text)
  local out, err, code = nslcmd("run " .. T.quote(path), prefix)
  os.remove(path)
  return out, err, code
end

-- `nsl ARGV...` in a child of this process that runs on while the test
-- goes on: h.pid, h:line() (the next line of its stdout), h:finish()
-- (its exit status and stderr, after at most `seconds`), h:kill(sig).
-- env: variables added to this process's PATH and NSL_BIN.
local Spawned = {}
Spawned.__index = Spawned

local function spawn(argv, env)
  local r, w = assert(nsl.pipe())
  local errfile = os.tmpname()
  local e = { PATH = os.getenv("PATH"), NSL_BIN = T.bin }
  for k, v in pairs(env or {}) do e[k] = v end
  local pid = assert(nsl.clone({}, function()
    local fd = assert(nsl.open(errfile, "wronly,creat,trunc"))
    nsl.dup2(w, 1)
    nsl.dup2(fd, 2)
    nsl.exec(argv, { env = e })
    return 127
  end, { pdeathsig = "KILL" }))
  nsl.close(w)
  local h = setmetatable({ pid = pid, r = r, buf = "", errfile = errfile }, Spawned)
  defer(function() h:kill("KILL"); h:finish(5) end)
  return h
end

local function spawn_script(text, env)
  local path = T.script(text)
  defer(function() os.remove(path) end)
  return spawn({ T.bin, "run", path }, env)
end

function Spawned:line(seconds)
  local deadline = nsl.time() + (seconds or 10)
  while not self.buf:find("\n") and self.r do
    local left = deadline - nsl.time()
    if left <= 0 or #nsl.poll({ self.r }, left) == 0 then break end
    local s = nsl.read(self.r)
    if not s or s == "" then break end
    self.buf = self.buf .. s
  end
  local l, rest = self.buf:match("^([^\n]*)\n(.*)$")
  if not l then
    error(("no line from pid %d within %g s; stderr: %s"):format(self.pid, seconds or 10,
      read(self.errfile) or ""), 2)
  end
  self.buf = rest
  return l
end

function Spawned:kill(sig)
  if not self.status then nsl.kill(self.pid, sig) end
end

function Spawned:finish(seconds)
  if not self.status then
    if not ends_within(self.pid, seconds or 10) then
      nsl.kill(self.pid, "KILL")
      nsl.wait(self.pid)
      self.status = { nil, "timeout" }
    else
      self.status = table.pack(nsl.wait(self.pid))
    end
    if self.r then nsl.close(self.r); self.r = nil end
    self.err = read(self.errfile) or ""
    os.remove(self.errfile)
  end
  local _, how, n = table.unpack(self.status)
  return how == "signal" and 128 + n or n or how, self.err
end

-- The directories of cgroup `id` in every hierarchy (v1: one per
-- controller under /sys/fs/cgroup/CONTROLLER/nsl/ID; v2: one).
local function cgroup_dirs(id)
  local out = {}
  if exists(CGROUP .. "/nsl/" .. id) then out[#out + 1] = CGROUP .. "/nsl/" .. id end
  for _, h in ipairs(nsl.readdir(CGROUP) or {}) do
    local d = ("%s/%s/nsl/%s"):format(CGROUP, h, id)
    if exists(d) then out[#out + 1] = d end
  end
  table.sort(out)
  return out
end

-- The entries of this process's unnamed containers in the state root.
local function my_anon_records()
  local out = {}
  for _, n in ipairs(nsl.readdir(STATE_ROOT) or {}) do
    if n:find("^_anon%-" .. tag .. "%-") then out[#out + 1] = n end
  end
  return out
end

local function link_exists(name)
  for _, l in ipairs(nsl.net.links()) do
    if l.name == name then return true end
  end
  return false
end

local function cap_eff(pid)
  return read(("/proc/%s/status"):format(pid)):match("CapEff:%s*(%x+)")
end

setup(function()
  root = C.busybox_root()
end)

teardown(function()
  C.remove(root)
end)

describe("container names", function()
  it("are taken while the container runs: a second start names the name and the pid", function()
    local name = name_for("dup")
    local dir = STATE_ROOT .. "/" .. name
    local first = start { name = name, command = { "sleep", "30" } }
    local rec = state.decode(read(dir .. "/state"))
    assert.are.same({ name, first.pid, "running" }, { rec.name, rec.pid, rec.status })

    local second = nsl.container { name = name, rootfs = root, command = { "true" } }
    defer(function() second:destroy() end)
    local ok, err = second:start()
    assert.is_nil(ok)
    assert.are.equal(("name: the name %s is in use by a running container (pid %d)")
      :format(name, first.pid), err)
    assert.are.equal("created", second.state)
    -- the refused start left the first one's record and process alone
    assert.are.equal(first.pid, state.decode(read(dir .. "/state")).pid)
    assert.is_true(state.alive(first.pid))

    assert(first:kill("KILL"))
    assert.are.same({ nil, "signal", 9 }, { wait_for(first) })
    assert.is_nil(nsl.lstat(dir))
    -- free again: the second one starts now, and leaves nothing either
    assert.are.same({ true, "exit", 0 }, { second:run() })
    assert.is_nil(nsl.lstat(dir))
  end)

  it("are free again after destroy()", function()
    local name = name_for("destroy")
    local c = start { name = name, command = { "sleep", "30" } }
    local pid = c.pid
    assert.is_truthy(nsl.lstat(STATE_ROOT .. "/" .. name .. "/state"))
    assert.is_true(c:destroy())
    assert.is_false(state.alive(pid))
    assert.is_nil(nsl.lstat(STATE_ROOT .. "/" .. name))
    local again = start { name = name, command = { "true" } }
    assert.are.same({ true, "exit", 0 }, { wait_for(again) })
  end)

  it("must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", function()
    for _, bad in ipairs({ "", "bad name", "-lead", ".hidden", "_anon-1-1", "a/b", "../x",
      "tab\there", ("x"):rep(65) }) do
      local ok, err = pcall(nsl.container, { name = bad, rootfs = root })
      assert.is_false(ok, bad)
      assert.are.equal(("container: name '%s' must be 1 to 64 letters, digits, '_', '.' or '-'")
        :format(bad), err)
    end
    local ok, err = pcall(nsl.container, { name = 42, rootfs = root })
    assert.is_false(ok)
    assert.matches("name must be string %(got number%)", err)
    ok, err = pcall(nsl.lookup, "../x")
    assert.is_false(ok)
    assert.matches("lookup: a container name is 1 to 64 letters", err, 1, true)
    -- 64 is allowed
    local long = ("ls%d-"):format(tag)
    long = long .. ("n"):rep(64 - #long)
    local c = start { name = long, command = { "true" } }
    assert.are.same({ true, "exit", 0 }, { wait_for(c) })
  end)

  it("unnamed containers leave nothing under " .. STATE_ROOT, function()
    assert.are.same({}, my_anon_records())
    -- a plain one is not recorded at all
    local plain = start { command = { "sleep", "30" } }
    assert.are.same({}, my_anon_records())
    plain:kill("KILL")
    wait_for(plain)
    -- one with limits is recorded while it runs (nsl ps -a shows it)
    local limited = start { limits = { pids = 32 }, command = { "sleep", "30" } }
    local ids = my_anon_records()
    assert.are.equal(1, #ids)
    assert.matches("\n" .. esc(ids[1]) .. "%s+" .. limited.pid .. "%s+running%s", (nslcmd("ps -a")))
    assert.is_nil((nslcmd("ps")):find(ids[1], 1, true))
    limited:kill("KILL")
    wait_for(limited)
    assert.are.same({}, my_anon_records())
    assert.are.same({}, cgroup_dirs(ids[1]))
  end)
end)

describe("a named container seen from another process", function()
  it("is found by nsl.lookup and nsl.list, with its pid and address", function()
    local name = name_for("look")
    local bridge, net = bridge_for("a", 1)
    local c = start { name = name, command = { "sleep", "30" },
      net = { bridge = bridge, address = net .. ".2/24" } }
    assert.are.equal(c, nsl.lookup(name)) -- in this process: the same handle
    local out, err, code = script(([[
      local c = assert(nsl.lookup(%q))
      print(c.name, c.pid, c.address, c.state)
      for _, x in ipairs(nsl.list()) do
        if x.name == %q then print("listed", x.pid, x.state) end
      end
      print(nsl.lookup(%q))
    ]]):format(name, name, name .. "-nosuch"))
    assert.are.equal(0, code, err)
    assert.are.equal(table.concat({
      ("%s\t%d\t%s.2/24\trunning"):format(name, c.pid, net),
      ("listed\t%d\trunning"):format(c.pid),
      ("nil\tlookup: no container named %s-nosuch"):format(name),
    }, "\n"), out)
    -- once it is gone, so are its name, lease and bridge
    c:destroy()
    out = script(("print(nsl.lookup(%q))"):format(name))
    assert.are.equal(("nil\tlookup: no container named %s"):format(name), out)
    assert.is_nil(nsl.lstat(require("nsl.netmode").lease_dir(bridge)))
    assert.is_true(wait_until(function() return not link_exists(bridge) end))
  end)

  it("runs c:exec in its namespaces, root, environment, capabilities, no_new_privs and cgroup", function()
    local name = name_for("exec")
    local c = start { name = name, hostname = "inner", env = { GREETING = "hi" },
      limits = { pids = 32, memory = "64M" }, command = { "sleep", "30" } }
    local out, err, code = script(([[
      local c = assert(nsl.lookup(%q))
      io.stdout:flush()
      print(c:exec({ "sh", "-c", %q }))
    ]]):format(name, table.concat({
      "echo $GREETING $(hostname)",
      "tr '\\0' ' ' < /proc/1/cmdline; tr '\\0' ' ' < /proc/2/cmdline; echo",
      "for ns in mnt uts ipc pid net; do readlink /proc/self/ns/$ns; done",
      "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status",
      V2 and "grep '^0::' /proc/self/cgroup" or "grep -E '^[0-9]+:(pids|memory):' /proc/self/cgroup",
      "exit 3",
    }, "; ")))
    assert.are.equal(0, code, err)
    local init_line = out:match("^[^\n]*\n([^\n]*)") or ""
    assert.matches("^nsl%-init %-s %d+ %-d %-f %d+ %-%- sleep 30 sleep 30 $", init_line)
    local want = { "hi inner", init_line }
    for _, ns in ipairs({ "mnt", "uts", "ipc", "pid", "net" }) do
      want[#want + 1] = nsl.readlink(("/proc/%d/ns/%s"):format(c.pid, ns))
      assert.are_not.equal(nsl.readlink("/proc/self/ns/" .. ns), want[#want])
    end
    local caps = ("%016x"):format(nsl.cap_bits(container.default_capabilities))
    assert.are.equal(caps, cap_eff(c.pid)) -- what its PID 1 has
    want[#want + 1] = "CapEff:\t" .. caps
    want[#want + 1] = "NoNewPrivs:\t1"
    local lines = {}
    for l in (out .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
    local groups = {}
    for i = #want + 1, #lines - 1 do groups[#groups + 1] = lines[i]:gsub("^%d+:", "") end
    table.sort(groups)
    assert.are.same(want, { table.unpack(lines, 1, #want) })
    if V2 then
      assert.are.same({ ":/nsl/" .. name }, groups)
    else
      assert.are.same({ "memory:/nsl/" .. name, "pids:/nsl/" .. name }, groups)
    end
    assert.are.equal("nil\texit\t3", lines[#lines])
  end)

  it("reads c:stats and stops the container with c:kill", function()
    local name = name_for("kill")
    local c = start { name = name, limits = { pids = 32 }, command = { "sleep", "30" } }
    local out, err, code = script(([[
      local c = assert(nsl.lookup(%q))
      local s = assert(c:stats())
      print(s.memory, s.pids, s.cpu)
      print(c:kill("KILL"))
    ]]):format(name))
    assert.are.equal(0, code, err)
    local memory, pids, cpu, killed = out:match("^(%d+)\t(%d+)\t(%S+)\n(%S+)$")
    assert.is_true(tonumber(memory) > 0, out)
    assert.are.equal("2", pids) -- the init and sleep
    assert.is_truthy(tonumber(cpu), out)
    assert.are.equal("true", killed)
    assert.are.same({ nil, "signal", 9 }, { wait_for(c, 5) })
    out = script(("print(nsl.lookup(%q))"):format(name))
    assert.are.equal(("nil\tlookup: no container named %s"):format(name), out)
  end)
end)

describe("limits", function()
  -- How a container under the init ends when its command runs out of
  -- memory: on v1 the kernel kills the command, and the init exits with
  -- its 137; on v2, memory.oom.group (docs/cgroups.md) kills the whole
  -- group, the init too.
  local f = io.open("/sys/fs/cgroup/cgroup.controllers")
  local v2 = f and (f:read("a") or ""):find("memory") ~= nil
  if f then f:close() end
  local oom_end = v2 and { "signal", 9 } or { "exit", 137 }
  local BALLOON = { "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a)" }

  it("memory: a container over its limit is killed, and wait says \"oom\"", function()
    local name = name_for("oom")
    -- init = false: the killed command is PID 1 (under the init, the next test)
    local c = nsl.container { name = name, rootfs = root, limits = { memory = "16M" },
      init = false, command = BALLOON }
    defer(function() c:destroy() end)
    assert.are.same({ nil, "signal", 9, "oom" }, { c:run() })
    assert.are.same({}, cgroup_dirs(name))
    assert.is_nil(nsl.lstat(STATE_ROOT .. "/" .. name))
  end)

  it("memory: under the init (the default), with a 150 MB script heap, the command is killed (137; v2: the group) and \"oom\"", function()
    -- the init is nsl-init, executed: it holds nothing of this heap, and
    -- the kernel's OOM killer picks the command, not the init
    local heap = ("x"):rep(150 * 1024 * 1024)
    local c = nsl.container { name = name_for("oominit"), rootfs = root,
      limits = { memory = "16M" }, command = BALLOON }
    defer(function() c:destroy() end)
    local r = table.pack(c:run())
    assert.are.equal(150 * 1024 * 1024, #heap)
    assert.are.same({ nil, oom_end[1], oom_end[2], "oom", n = 4 }, r)
  end)

  it("a container that ends by itself is not reported as oom", function()
    local c = nsl.container { name = name_for("nooom"), rootfs = root,
      limits = { memory = "16M" }, command = { "sh", "-c", "exit 3" } }
    defer(function() c:destroy() end)
    local r = table.pack(c:run())
    assert.are.same({ nil, "exit", 3, n = 3 }, r)
  end)

  it("work on a container without a name", function()
    local c = nsl.container { rootfs = root, limits = { memory = "16M" },
      command = { "sh", "-c", "sleep 0.3; " .. BALLOON[3] } }
    defer(function() c:destroy() end)
    assert(c:start())
    local ids = my_anon_records()
    assert.are.equal(1, #ids)
    assert.is_true(#cgroup_dirs(ids[1]) > 0)
    -- the init's 137 for its killed command (v1), or the whole group (v2)
    local r = table.pack(wait_for(c))
    assert.are.same({ nil, oom_end[1], oom_end[2], "oom" }, { r[1], r[2], r[3], r[4] })
    assert.are.same({}, cgroup_dirs(ids[1]))
    assert.are.same({}, my_anon_records())
  end)

  it("pids: a shell that forks without end is stopped at the limit; the host goes on", function()
    local name = name_for("pids")
    local errfile, countfile, donefile = "/tmp/err-" .. name, "/tmp/count-" .. name, "/tmp/done-" .. name
    defer(function()
      for _, f in ipairs({ errfile, countfile, donefile }) do os.remove(root .. f) end
    end)
    -- A subshell starts sleeps until a fork fails (the shell then gives
    -- up with status 2); PID 1 records that without forking and stays.
    local c = start { name = name, limits = { pids = 16 }, command = { "sh", "-c", ([[
      (i=0; while :; do sleep 30 & i=$((i+1)); echo $i > %s; done) 2>%s
      echo $? > %s; exec sleep 30]]):format(countfile, errfile, donefile) } }
    assert.is_truthy(wait_until(function() return read(root .. donefile) end, 10))
    assert.are.equal("2\n", read(root .. donefile))
    assert.matches("can't fork", read(root .. errfile), 1, true)
    -- 16 = the init, the shell, the subshell and 13 sleeps
    assert.are.equal("13\n", read(root .. countfile))
    assert.are.equal(15, assert(c:stats()).pids)
    assert.are.equal("host ok", (T.sh("echo host ok")))
    c:kill("KILL")
    wait_for(c)
    assert.are.same({}, cgroup_dirs(name))
  end)

  it("stats: memory and pids, and cpu time that grows with work", function()
    local c = start { name = name_for("stats"), limits = {}, command = { "sleep", "30" } }
    local before = assert(c:stats())
    assert.is_true(before.memory > 0)
    assert.are.equal(2, before.pids) -- the init and sleep
    assert.is_true(before.cpu > 0)
    assert.are.same({ true, "exit", 0 },
      { c:exec({ "sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done" }) })
    local after = assert(c:stats())
    assert.is_true(after.cpu > before.cpu + 0.01, ("cpu %g -> %g"):format(before.cpu, after.cpu))
    assert.are.equal(2, after.pids)
    c:kill("KILL")
    wait_for(c)
    local s, err = c:stats()
    assert.is_nil(s)
    assert.matches("not running", err)
  end)

  it("live in /sys/fs/cgroup/*/nsl/NAME while the container runs, and go with it", function()
    local name = name_for("groups")
    local c = start { name = name, command = { "sleep", "30" },
      limits = { memory = "64M", pids = 64, cpu = 0.5, cpuset = "0" } }
    local dirs = cgroup_dirs(name)
    local inside = read("/proc/" .. c.pid .. "/cgroup")
    if V2 then
      assert.are.same({ CGROUP .. "/nsl/" .. name }, dirs)
      local d = dirs[1]
      assert.are.equal("67108864\n", read(d .. "/memory.max"))
      assert.are.equal("64\n", read(d .. "/pids.max"))
      assert.are.equal("50000 100000\n", read(d .. "/cpu.max"))
      assert.matches("0::/nsl/" .. esc(name) .. "\n", inside)
    else
      local want = {}
      for _, h in ipairs({ "memory", "pids", "cpu", "cpuacct", "cpuset", "freezer" }) do
        want[#want + 1] = ("%s/%s/nsl/%s"):format(CGROUP, h, name)
        assert.matches(":" .. h .. ":/nsl/" .. esc(name) .. "\n", inside)
      end
      table.sort(want)
      assert.are.same(want, dirs)
      local function file(h, f) return read(("%s/%s/nsl/%s/%s"):format(CGROUP, h, name, f)) end
      assert.are.equal("67108864\n", file("memory", "memory.limit_in_bytes"))
      assert.are.equal("64\n", file("pids", "pids.max"))
      assert.are.equal("50000\n", file("cpu", "cpu.cfs_quota_us"))
      assert.are.equal("0\n", file("cpuset", "cpuset.cpus"))
    end
    c:kill("KILL")
    wait_for(c)
    assert.are.same({}, cgroup_dirs(name))
  end)

  it("with the cgroup namespace, the container sees its group as the root", function()
    local name = name_for("cgns")
    local own = "\n" .. C.capture { name = name, rootfs = root, limits = {},
      namespaces = "mnt,uts,ipc,pid,net,cgroup", command = { "cat", "/proc/self/cgroup" } } .. "\n"
    local shared = "\n" .. C.capture { name = name, rootfs = root, limits = {},
      command = { "cat", "/proc/self/cgroup" } } .. "\n"
    if V2 then
      assert.are.equal("\n0::/\n", own)
      assert.are.equal("\n0::/nsl/" .. name .. "\n", shared)
    else
      assert.matches("\n%d+:memory:/\n", own)
      assert.matches("\n%d+:pids:/\n", own)
      assert.matches("\n%d+:memory:/nsl/" .. esc(name) .. "\n", shared)
    end
    assert.are.same({}, cgroup_dirs(name))
  end)
end)

-- A script started in the background, holding a named container with
-- limits and a bridge network, then SIGKILLed: what it leaves behind, in a
-- state root of the test's own (NSL_STATE_DIR), so that no other process
-- on the machine cleans it up before the test looks.
-- before_kill(s), when given, runs while the script still lives.
local function killed_script(letter, n, before_kill)
  local dir = H.tmpdir()
  local env = { NSL_STATE_DIR = dir .. "/containers" }
  local prefix = "NSL_STATE_DIR=" .. T.quote(env.NSL_STATE_DIR) .. " "
  local name = name_for("stale")
  local bridge, net = bridge_for(letter, n)
  defer(function()
    nslcmd("ps", prefix) -- whatever a failed test left
    if link_exists(bridge) then nsl.net.delete(bridge) end
    H.rmtree(dir)
  end)
  local h = spawn_script(([[
    local c = nsl.container { name = %q, rootfs = %q, command = { "sleep", "60" },
      limits = { memory = "32M", pids = 20 }, net = { bridge = %q, address = "%s.2/24" } }
    assert(c:start())
    print(c.pid)
    io.stdout:flush()
    nsl.sleep(60)
  ]]):format(name, root, bridge, net), env)
  local pid = tonumber(h:line())
  local s = { name = name, bridge = bridge, pid = pid, prefix = prefix, env = env,
    record = env.NSL_STATE_DIR .. "/" .. name, lease = ("%s/%s.2"):format(require("nsl.netmode").lease_dir(bridge), net) }
  local ps = nslcmd("ps", prefix)
  assert.matches("\n" .. esc(name) .. "%s+" .. pid .. "%s+running%s+%S+%s+" .. esc(net) .. "%.2%s", ps)
  if before_kill then before_kill(s) end
  h:kill("KILL")
  assert.are.equal(137, (h:finish(5)))
  -- its processes went with it (PDEATHSIG)
  assert.is_true(wait_until(function() return not state.alive(pid) end))
  assert.is_true(wait_until(function()
    for _, d in ipairs(cgroup_dirs(name)) do
      if (read(d .. "/cgroup.procs") or "") ~= "" then return false end
    end
    return true
  end))
  -- what it held on the host stayed behind
  assert.is_truthy(nsl.lstat(s.record .. "/state"))
  assert.is_true(#cgroup_dirs(name) > 0)
  assert.is_truthy(nsl.lstat(s.lease))
  assert.is_true(link_exists(bridge))
  return s
end

local function assert_released(s)
  assert.is_nil(nsl.lstat(s.record))
  assert.are.same({}, nsl.readdir(s.env.NSL_STATE_DIR) or {})
  assert.are.same({}, cgroup_dirs(s.name))
  assert.is_nil(nsl.lstat(s.lease))
  assert.is_nil(nsl.lstat(require("nsl.netmode").lease_dir(s.bridge)))
  assert.is_true(wait_until(function() return not link_exists(s.bridge) end))
end

describe("what a SIGKILLed script left behind", function()
  it("is released by the next nsl ps, which never shows it running", function()
    local s = killed_script("b", 2)
    local ps = nslcmd("ps", s.prefix)
    assert.are.equal("NAME  PID  STATUS  UPTIME  ADDRESS  COMMAND", ps)
    assert_released(s)
    local json = nslcmd("ps -a --json", s.prefix)
    assert.are.equal("[]", json)
  end)

  it("is released by nsl.lookup in another process, which does not find it", function()
    local s = killed_script("c", 3)
    local out, err, code = script(([[
      print(nsl.lookup(%q))
      print(#nsl.list())
    ]]):format(s.name), s.prefix)
    assert.are.equal(0, code, err)
    assert.are.equal(("nil\tlookup: no container named %s\n0"):format(s.name), out)
    assert_released(s)
  end)

  it("is released when another process starts its first container", function()
    local s = killed_script("d", 4)
    local out, err, code = script(([[
      local c = nsl.container { rootfs = %q, command = { "true" } }
      print(c:run())
    ]]):format(root), s.prefix)
    assert.are.equal(0, code, err)
    assert.are.equal("true\texit\t0", out)
    assert_released(s)
  end)

  it("does not keep its name: a process that swept before takes it over when it starts", function()
    local later, go
    local s = killed_script("e", 5, function(s)
      -- a process that made its one sweep while the script still lived
      go = s.env.NSL_STATE_DIR .. "-go"
      later = spawn_script(([[
        assert(nsl.container { rootfs = %q, command = { "true" } }:run())
        print("swept")
        io.stdout:flush()
        while not io.open(%q) do nsl.sleep(0.02) end
        print(nsl.container { name = %q, rootfs = %q, command = { "true" } }:run())
      ]]):format(root, go, s.name, root), s.env)
      assert.are.equal("swept", later:line())
    end)
    assert(io.open(go, "w")):close()
    defer(function() os.remove(go) end)
    assert.are.equal("true\texit\t0", later:line())
    local status, err = later:finish(5)
    assert.are.equal(0, status, err)
    assert_released(s)
  end)
end)

describe("stop_timeout", function()
  it("ends `nsl run` with 137 about stop_timeout seconds after a TERM its PID 1 ignores", function()
    local name = name_for("stopto")
    local h = spawn_script(([[
      return { name = %q, rootfs = %q, command = { "sleep", "60" }, stop_timeout = 1,
        init = false } -- sleep as PID 1 ignores TERM (under an init it would die of it)
    ]]):format(name, root))
    -- running: recorded with its pid (signals are forwarded from then on)
    assert.is_true(wait_until(function()
      local rec = state.read(name)
      return rec and rec.status == "running" and state.alive(rec.pid)
    end, 10))
    local pid = state.read(name).pid
    local t0 = nsl.time()
    nsl.kill(h.pid, "TERM")
    local status, err = h:finish(6)
    local took = nsl.time() - t0
    assert.are.equal(137, status, err)
    assert.is_true(took > 0.8 and took < 3, ("took %.2f s"):format(took))
    assert.is_false(state.alive(pid))
    assert.is_nil(nsl.lstat(STATE_ROOT .. "/" .. name))
  end)

  it("must be a whole number of seconds from 0 to 86400", function()
    for _, bad in ipairs({ -1, 1.5, 86401, "10" }) do
      local ok, err = pcall(nsl.container, { rootfs = root, stop_timeout = bad })
      assert.is_false(ok)
      assert.matches("stop_timeout must be a whole number of seconds from 0 to 86400", err, 1, true)
    end
  end)
end)

describe("c:stop", function()
  it("sends TERM, then KILL after grace seconds", function()
    -- init = false: sleep as PID 1 ignores TERM
    local c = start { name = name_for("stop"), init = false, command = { "sleep", "30" } }
    local t0 = nsl.time()
    assert.are.same({ nil, "signal", 9 }, { c:stop(1) })
    local took = nsl.time() - t0
    assert.is_true(took > 0.9 and took < 2.5, ("took %.2f s"):format(took))
  end)

  it("lets a container that handles TERM end by itself", function()
    local c = start { name = name_for("stopterm"), command = { "sh", "-c",
      "trap 'exit 3' TERM; echo > /dev/null; while :; do sleep 0.05; done" } }
    nsl.sleep(0.2) -- the trap is set
    local t0 = nsl.time()
    assert.are.same({ nil, "exit", 3 }, { c:stop(10) })
    assert.is_true(nsl.time() - t0 < 1.5)
  end)

  it("waits the spec's stop_timeout when no grace is given", function()
    local c = start { name = name_for("stopdef"), stop_timeout = 1, init = false,
      command = { "sleep", "30" } }
    local t0 = nsl.time()
    assert.are.same({ nil, "signal", 9 }, { c:stop() })
    local took = nsl.time() - t0
    assert.is_true(took > 0.9 and took < 2.5, ("took %.2f s"):format(took))
  end)
end)

describe("nsl.wait_any", function()
  it("returns the container that ends first, and leaves the caller's other children alone", function()
    local slow = start { name = name_for("slow"), command = { "sleep", "30" } }
    local fast = start { name = name_for("fast"), command = { "sh", "-c", "sleep 0.3; exit 7" } }
    -- a child that ended before the wait
    local early = assert(nsl.clone({}, function() return 5 end))
    assert.is_true(wait_until(function()
      return (read("/proc/" .. early .. "/stat") or ""):match("^%d+ %b() Z") ~= nil
    end))
    local c, ok, how, n = nsl.wait_any({ slow, fast })
    assert.are.equal(fast, c)
    assert.are.same({ nil, "exit", 7 }, { ok, how, n })
    assert.is_nil(nsl.lstat(STATE_ROOT .. "/" .. fast.name))
    assert.are.same({ nil, "exit", 5 }, { nsl.wait(early) })

    -- a child that ends during the wait, and one that ends the container
    local during = assert(nsl.clone({}, function() nsl.sleep(0.1); return 6 end))
    local target = slow.pid
    local killer = assert(nsl.clone({}, function() nsl.sleep(0.4); nsl.kill(target, "KILL"); return 0 end))
    c, ok, how, n = nsl.wait_any({ slow })
    assert.are.equal(slow, c)
    assert.are.same({ nil, "signal", 9 }, { ok, how, n })
    assert.are.same({ nil, "exit", 6 }, { nsl.wait(during) })
    assert.are.same({ true, "exit", 0 }, { nsl.wait(killer) })

    -- a container that already ended is returned at once, with its status
    local other = start { name = name_for("other"), command = { "sleep", "30" } }
    local t0 = nsl.time()
    c, ok, how, n = nsl.wait_any({ other, fast })
    assert.are.equal(fast, c)
    assert.are.same({ nil, "exit", 7 }, { ok, how, n })
    assert.is_true(nsl.time() - t0 < 0.5)
  end)
end)

describe("the nsl commands", function()
  it("ps shows a table with a row for a running named container", function()
    local name = name_for("ps")
    local bridge, net = bridge_for("f", 6)
    local c = start { name = name, command = { "sleep", "60" },
      net = { bridge = bridge, address = net .. ".2/24" } }
    local out, err, code = nslcmd("ps")
    assert.are.equal(0, code, err)
    local header = out:match("^[^\n]*")
    assert.matches("^NAME +PID +STATUS +UPTIME +ADDRESS +COMMAND$", header)
    local row = out:match("\n(" .. esc(name) .. " [^\n]*)")
    assert.is_truthy(row, out)
    local n, pid, st, up, addr, cmd = row:match("^(%S+) +(%S+) +(%S+) +(%S+) +(%S+) +(.-)$")
    assert.are.same({ name, tostring(c.pid), "running", net .. ".2", "sleep 60" },
      { n, pid, st, addr, cmd })
    assert.matches("^%d+s$", up)
    -- the columns line up under their headings
    for _, col in ipairs({ { "PID", pid }, { "STATUS", st }, { "UPTIME", up },
      { "ADDRESS", addr }, { "COMMAND", cmd } }) do
      assert.are.equal(header:find(col[1], 1, true), row:find(col[2], #name + 1, true), col[1])
    end
    c:kill("KILL")
    wait_for(c)
    assert.is_nil((nslcmd("ps")):find(name, 1, true))
  end)

  it("ps --json gives JSON with the fields", function()
    local name = name_for("json")
    local c = start { name = name, hostname = "jh", command = { "sleep", "60" } }
    local out, err, code = nslcmd("ps --json")
    assert.are.equal(0, code, err)
    local path = os.tmpname()
    defer(function() os.remove(path) end)
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
    local fields, _, how, rc = T.sh(("/usr/bin/python3 -c %s %s %s"):format(T.quote([=[
import json, sys
rows = json.load(open(sys.argv[1]))
row = [r for r in rows if r.get("name") == sys.argv[2]][0]
print(row["name"], row["id"], row["pid"], row["status"], type(row["uptime"]).__name__,
      type(row["started"]).__name__, " ".join(row["command"]), row["hostname"],
      row["detached"], row["net"], row["namespaces"])
]=]), path, name))
    assert.are.same({ "exit", 0 }, { how, rc })
    assert.are.equal(("%s %s %d running int int sleep 60 jh False none mnt,uts,ipc,pid,net")
      :format(name, name, c.pid), fields)
  end)

  it("exec returns the command's status, takes -e and -w, and names an unknown container", function()
    local name = name_for("cliexec")
    start { name = name, env = { GREETING = "hi" }, command = { "sleep", "60" } }
    local _, err, code = nslcmd("exec " .. name .. " sh -c 'exit 4'")
    assert.are.equal(4, code, err)
    local out
    out, err, code = nslcmd("exec -e A=b -w /tmp " .. name .. " sh -c 'echo $A $GREETING; pwd'")
    assert.are.equal(0, code, err)
    assert.are.equal("b hi\n/tmp", out)
    out = nslcmd("exec -e GREETING=yo -e B=c " .. name .. " sh -c 'echo $GREETING $B; pwd'")
    assert.are.equal("yo c\n/", out)
    out, err, code = nslcmd("exec " .. name .. "-nosuch true")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal(("nsl: exec: no container named %s-nosuch\n"):format(name), err)
    out, err, code = nslcmd("exec " .. name .. " nosuchcommand")
    assert.are.equal(127, code)
    assert.matches("nosuchcommand: No such file or directory", err, 1, true)
  end)

  it("exec on a detached container that ended says so, once", function()
    local name = name_for("cliexecend")
    local c = start { name = name, detach = true, command = { "true" } }
    defer(function() nslcmd("rm -f " .. name) end)
    assert.are.same({ true, "exit", 0 }, { wait_for(c, 5) })
    local out, err, code = nslcmd("exec " .. name .. " true")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("nsl: exec: the container is not running\n", err)
  end)

  it("kill sends a signal; without one, TERM and then KILL after -t seconds", function()
    local name = name_for("clikill")
    local c = start { name = name, command = { "sleep", "60" } }
    local _, err, code = nslcmd("kill " .. name .. " KILL")
    assert.are.equal(0, code, err)
    assert.are.same({ nil, "signal", 9 }, { wait_for(c, 5) })
    _, err, code = nslcmd("kill " .. name)
    assert.are.equal(1, code)
    assert.are.equal(("nsl: kill: no container named %s\n"):format(name), err)

    -- sleep as PID 1 (init = false) ignores TERM
    c = start { name = name_for("clikillt"), init = false, command = { "sleep", "60" } }
    local t0 = nsl.time()
    _, err, code = nslcmd("kill -t 1 " .. c.name)
    local took = nsl.time() - t0
    assert.are.equal(0, code, err)
    assert.is_true(took > 0.9 and took < 3, ("took %.2f s"):format(took))
    assert.are.same({ nil, "signal", 9 }, { wait_for(c, 5) })

    -- a container that handles TERM ends by itself
    c = start { name = name_for("clikillterm"), command = { "sh", "-c",
      "trap 'exit 3' TERM; echo > /dev/null; while :; do sleep 0.05; done" } }
    nsl.sleep(0.2)
    t0 = nsl.time()
    _, err, code = nslcmd("kill " .. c.name)
    assert.are.equal(0, code, err)
    assert.is_true(nsl.time() - t0 < 2)
    assert.are.same({ nil, "exit", 3 }, { wait_for(c, 5) })
  end)

  it("kill names an unknown signal without a Lua error position", function()
    local name = name_for("clisig")
    local c = start { name = name, command = { "sleep", "60" } }
    local _, err, code = nslcmd("kill " .. name .. " NOSIG")
    assert.are.equal(2, code)
    assert.matches("^nsl: kill: unknown signal 'NOSIG'", err)
    assert.is_true(state.alive(c.pid))
  end)

  it("wait exits with the status of a container another script runs", function()
    local name = name_for("cliwait")
    local c = start { name = name, command = { "sh", "-c", "sleep 0.5; exit 7" } }
    local h = spawn({ T.bin, "wait", name })
    nsl.sleep(0.1) -- it waits
    assert.are.same({ nil, "exit", 7 }, { wait_for(c) })
    local status, err = h:finish(5)
    local fd = assert(nsl.pidfd(nsl.getpid()))
    local _, _, code = nsl.pidfd_status(fd)
    nsl.close(fd)
    if code ~= 11 then
      -- a kernel before 6.15 (EAGAIN there: this process has not ended)
      -- tells the status to the script that reaped the container only
      assert.are.equal(1, status, err)
      assert.are.equal(("nsl: wait: unknown: %s ran in another script's foreground, and this kernel tells "
        .. "its status to that script only (PIDFD_GET_INFO, which tells it to others, needs Linux 6.15)\n")
        :format(name), err)
      return
    end
    assert.are.equal(7, status, err)

    c = start { name = name, command = { "sleep", "60" } }
    h = spawn({ T.bin, "wait", name })
    nsl.sleep(0.1)
    c:kill("KILL")
    assert.are.same({ nil, "signal", 9 }, { wait_for(c) })
    status, err = h:finish(5)
    assert.are.equal(137, status, err)
  end)

  it("wait on a container whose PID 1 ended before its owner recorded the end waits for the record", function()
    -- the moment between the two, held open: a record whose PID 1 is gone
    -- and whose owner (the script) writes the end 0.3 s later
    local dir = H.tmpdir()
    defer(function() H.rmtree(dir) end)
    local out, err, code = script(([[
      local state, container = require "nsl.state", require "nsl.container"
      local gone = assert(nsl.clone({}, function() return 0 end))
      nsl.wait(gone)
      local rec = { id = "w", name = "w", status = "running", owner = nsl.getpid(),
        owner_start = state.start_time(nsl.getpid()), pid = gone, pid_start = 1, boot = state.boot_id() }
      assert(state.claim("w", rec))
      local writer = assert(nsl.clone({}, function()
        nsl.sleep(0.3)
        rec.status, rec.how, rec.code = "exited", "exit", 7
        assert(state.write("w", rec))
        return 0
      end))
      local c = assert(container.lookup("w"))
      print(c.state, c:wait())
      nsl.wait(writer)
      state.remove("w")
    ]]), "NSL_STATE_DIR=" .. T.quote(dir .. "/containers") .. " ")
    assert.are.equal(0, code, err)
    assert.are.equal("running\tnil\texit\t7", out)
  end)

  it("rm refuses a running container without -f; -f kills it", function()
    local name = name_for("clirm")
    local c = start { name = name, command = { "sleep", "60" } }
    local _, err, code = nslcmd("rm " .. name)
    assert.are.equal(1, code)
    assert.are.equal(("nsl: rm: %s is running (stop it first, or force)\n"):format(name), err)
    assert.is_true(state.alive(c.pid))
    assert.is_truthy(nsl.lstat(STATE_ROOT .. "/" .. name .. "/state"))
    _, err, code = nslcmd("logs " .. name)
    assert.are.equal(1, code)
    assert.matches("is not detached", err, 1, true)
    _, err, code = nslcmd("rm -f " .. name)
    assert.are.equal(0, code, err)
    assert.are.same({ nil, "signal", 9 }, { wait_for(c, 5) })
    assert.is_nil(nsl.lstat(STATE_ROOT .. "/" .. name))
    _, err, code = nslcmd("rm " .. name)
    assert.are.equal(1, code)
    assert.are.equal(("nsl: rm: no container named %s\n"):format(name), err)
  end)

  it("explain bad usage with status 2 and leave the container alone", function()
    local name = name_for("cliusage")
    local c = start { name = name, command = { "sleep", "60" } }
    local cases = {
      { "ps -x", "ps: unknown option -x" },
      { "ps extra", "ps: unexpected argument extra" },
      { "exec", "exec: no container name given" },
      { "exec " .. name, "exec: no command given" },
      { "exec --bogus " .. name .. " true", "exec: unknown option --bogus" },
      { "exec -e NOEQUALS " .. name .. " true", "exec: -e takes KEY=VALUE (got NOEQUALS)" },
      { "exec -w relative " .. name .. " true", "exec: -w takes an absolute path (got relative)" },
      { "exec -w", "exec: option -w needs a value" },
      { "kill -t soon " .. name, "kill: -t takes a number of seconds (got soon)" },
      { "kill -t -1 " .. name, "kill: -t takes a number of seconds (got -1)" },
      { "kill " .. name .. " TERM extra", "kill: unexpected argument extra" },
      { "kill", "kill: no container name given" },
      { "wait", "wait: no container name given" },
      { "wait ../x", "wait: a container name is 1 to 64 letters" },
      { "rm", "rm: no container name given" },
      { "rm -x " .. name, "rm: unknown option -x" },
      { "logs", "logs: no container name given" },
    }
    for _, case in ipairs(cases) do
      local out, err, code = nslcmd(case[1])
      assert.are.equal(2, code, case[1])
      assert.are.equal("", out, case[1])
      assert.are.equal("nsl: " .. case[2], err:sub(1, #case[2] + 5), case[1])
    end
    assert.is_true(state.alive(c.pid))
    assert.are.equal(c.pid, state.read(name).pid)
  end)
end)
