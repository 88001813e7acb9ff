-- Processes: exec, wait, kill and the ids of the caller. exec only ever
-- runs in children.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

describe("nsl.exec", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  -- Runs exec(argv, opts) in a child; returns the wait triple and, when
  -- exec failed, what it returned (written to a file by the child).
  local function exec_child(argv, opts, before)
    local report = dir .. "/exec-failed"
    local pid = assert(nsl.clone(nil, function()
      if before then before() end
      local r, msg, errno = nsl.exec(argv, opts)
      local f = assert(io.open(report, "w"))
      f:write(tostring(r), "\0", msg, "\0", errno)
      f:close()
      return 99
    end))
    local ok, how, code = nsl.wait(pid)
    local failed = H.read(report)
    if failed then
      local r, msg, errno = failed:match("^(.-)%z(.-)%z(.*)$")
      return ok, how, code, r, msg, math.tointeger(tonumber(errno))
    end
    return ok, how, code
  end

  it("replaces the child with a program found in PATH, with its arguments", function()
    local out = dir .. "/out"
    local ok, how, code = exec_child({ "sh", "-c", 'echo "$0 $1 $2" > "$3"', "zero", "one", 2, out })
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
    assert.are.equal("zero one 2\n", H.read(out))
  end)

  it("passes the program's exit status to wait", function()
    assert.are.same({ nil, "exit", 3 }, { exec_child({ "/bin/sh", "-c", "exit 3" }) })
  end)

  it("searches the PATH of opts.env, and no other", function()
    local bin = dir .. "/bin"
    os.execute(("mkdir %s && printf '#!/bin/sh\\necho found > %s/found\\n' > %s/nsl-spec-tool && chmod 755 %s/nsl-spec-tool")
      :format(bin, dir, bin, bin))
    assert.are.same({ true, "exit", 0 },
      { exec_child({ "nsl-spec-tool" }, { env = { PATH = "/nonexistent:" .. bin } }) })
    assert.are.equal("found\n", H.read(dir .. "/found"))
    local _, _, code, r, msg, errno = exec_child({ "nsl-spec-tool" })
    assert.are.equal(99, code)
    assert.are.equal("nil", r)
    assert.are.equal("exec nsl-spec-tool: No such file or directory", msg)
    assert.are.equal(2, errno)
  end)

  it("reports a file that is not executable as EACCES", function()
    os.execute(("echo 'echo no' > %s/plain"):format(dir))
    local _, _, code, _, msg, errno = exec_child({ "plain" }, { env = { PATH = dir } })
    assert.are.equal(99, code)
    assert.are.equal("exec plain: Permission denied", msg)
    assert.are.equal(13, errno)
  end)

  it("replaces the environment with opts.env, and keeps it without", function()
    local out = dir .. "/env"
    exec_child({ "/bin/sh", "-c", 'echo "FOO=$FOO HOME=$HOME" > ' .. out }, { env = { FOO = "bar" } })
    assert.are.equal("FOO=bar HOME=\n", H.read(out))
    exec_child({ "/bin/sh", "-c", 'echo "HOME=$HOME" > ' .. out })
    assert.are.equal("HOME=" .. (os.getenv("HOME") or "") .. "\n", H.read(out))
  end)

  -- The descriptors the exec'd program has, as "fd -> target" lines.
  local function fds_after_exec()
    local out, file = dir .. "/fds", dir .. "/opened"
    local opened
    exec_child({ "/bin/sh", "-c", "exec ls -l /proc/self/fd/ > " .. out }, nil, function()
      -- an fd > 2 opened without O_CLOEXEC, as io.open does
      opened = assert(io.open(file, "w"))
      assert(T.sh("ls -l /proc/" .. nsl.getpid() .. "/fd/"):find(file, 1, true))
    end)
    return H.read(out), file
  end

  it("does not pass descriptors above 2 to the program", function()
    local listing, file = fds_after_exec()
    assert.is_nil(listing:find(file, 1, true))
    assert.matches(" 0 %-> ", listing)
    assert.matches(" 1 %-> ", listing)
    assert.matches(" 2 %-> ", listing)
  end)

  it("passes the descriptors of opts.keep_fds", function()
    local out, file = dir .. "/fds", dir .. "/opened"
    exec_child({ "/bin/sh", "-c", "exec ls -l /proc/self/fd/ > " .. out }, nil, function()
      local f = assert(io.open(file, "w"))
      local listing = T.sh("ls -l /proc/" .. nsl.getpid() .. "/fd/")
      local fd = math.tointeger(tonumber(listing:match("(%d+) %-> " .. file:gsub("%p", "%%%0"))))
      nsl.exec({ "/bin/sh", "-c", "exec ls -l /proc/self/fd/ > " .. out }, { keep_fds = { fd } })
      f:close()
    end)
    local listing = H.read(out)
    assert.is_truthy(listing:find(file, 1, true))
  end)
end)

describe("nsl.wait", function()
  it("returns the os.execute triple for an exit", function()
    assert.are.same({ true, "exit", 0 }, { T.child(nil, function() return 0 end) })
    assert.are.same({ nil, "exit", 42 }, { T.child(nil, function() return 42 end) })
  end)

  it("returns the os.execute triple for a signal", function()
    local pid = H.sleeper(nil)
    assert.is_true(nsl.kill(pid, "KILL"))
    assert.are.same({ nil, "signal", 9 }, { nsl.wait(pid) })
  end)

  it("agrees with os.execute on the same outcomes", function()
    assert.are.same({ os.execute("exit 5") }, { T.child(nil, function() nsl.exec({ "sh", "-c", "exit 5" }) end) })
    assert.are.same({ os.execute("true") }, { T.child(nil, function() nsl.exec({ "true" }) end) })
  end)

  it("returns nil, message, errno for a pid that is not a child", function()
    local r, msg, errno = nsl.wait(99999999)
    assert.is_nil(r)
    assert.are.equal("wait 99999999: No child processes", msg)
    assert.are.equal(10, errno)
  end)
end)

describe("nsl.kill", function()
  local cases = {
    { "TERM", 15 }, { "SIGTERM", 15 }, { "term", 15 }, { "KILL", 9 }, { "SIGKILL", 9 },
    { "INT", 2 }, { "USR1", 10 }, { 9, 9 }, { 15, 15 }, { "HUP", 1 },
  }
  for _, c in ipairs(cases) do
    it(("sends %s as signal %d"):format(tostring(c[1]), c[2]), function()
      local pid = H.sleeper(nil)
      assert.is_true(nsl.kill(pid, c[1]))
      assert.are.same({ nil, "signal", c[2] }, { nsl.wait(pid) })
    end)
  end

  it("sends TERM without a signal, and nothing but a check with 0", function()
    local pid = H.sleeper(nil)
    assert.is_true(nsl.kill(pid, 0))
    assert.is_true(H.alive(pid))
    assert.is_true(nsl.kill(pid))
    assert.are.same({ nil, "signal", 15 }, { nsl.wait(pid) })
  end)

  it("returns nil, message, errno for a pid that does not exist", function()
    local r, msg, errno = nsl.kill(99999999, "TERM")
    assert.is_nil(r)
    assert.are.equal("kill 99999999: No such process", msg)
    assert.are.equal(3, errno)
  end)
end)

describe("ids of the caller", function()
  it("getpid, getppid, getuid, getgid match /proc/self/status", function()
    local status = H.read("/proc/self/status")
    assert.are.equal(tonumber(status:match("\nPid:%s+(%d+)")), nsl.getpid())
    assert.are.equal(tonumber(status:match("\nPPid:%s+(%d+)")), nsl.getppid())
    assert.are.equal(tonumber(status:match("\nUid:%s+(%d+)")), nsl.getuid())
    assert.are.equal(tonumber(status:match("\nUid:%s+%d+%s+(%d+)")), nsl.geteuid())
    assert.are.equal(tonumber(status:match("\nGid:%s+(%d+)")), nsl.getgid())
  end)

  it("getpid in a child is the pid clone returned, its getppid the caller", function()
    local path = os.tmpname()
    local pid = assert(nsl.clone(nil, function()
      local f = assert(io.open(path, "w")); f:write(nsl.getpid(), " ", nsl.getppid()); f:close()
    end))
    nsl.wait(pid)
    local seen = H.read(path)
    os.remove(path)
    assert.are.equal(pid .. " " .. nsl.getpid(), seen)
  end)
end)

describe("nsl.forward_signals", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  -- In a child that forwards to targets which ignore TERM (as a PID 1
  -- without a handler does): each line of the result file is
  -- "name how n seconds", seconds from the TERM to the target's end.
  local function forwarding(body)
    local out = dir .. "/result"
    local pid = assert(nsl.clone(nil, function()
      local function target()
        return assert(nsl.clone(nil, function()
          nsl.exec({ "sh", "-c", "trap '' TERM; exec sleep 30" })
          return 127
        end))
      end
      local f = assert(io.open(out, "w"))
      local function ended(name, p, t0)
        local _, how, n = nsl.wait(p)
        f:write(("%s %s %d %.2f\n"):format(name, how, n, nsl.time() - t0))
      end
      body(target, ended)
      f:close()
      return 0
    end))
    assert.are.same({ true, "exit", 0 }, { nsl.wait(pid) })
    local r = {}
    for name, how, n, secs in H.read(out):gmatch("(%S+) (%S+) (%d+) (%S+)\n") do
      r[name] = { how = how, n = tonumber(n), secs = tonumber(secs) }
    end
    return r
  end

  it("gives each target its own grace before KILL; false never kills", function()
    local r = forwarding(function(target, ended)
      local a, b, c = target(), target(), target()
      nsl.sleep(0.1)
      assert(nsl.forward_signals(a, 0))
      assert(nsl.forward_signals(b, 1))
      assert(nsl.forward_signals(c, false))
      local t0 = nsl.time()
      assert(nsl.kill(nsl.getpid(), "TERM"))
      ended("a", a, t0)
      ended("b", b, t0)
      nsl.sleep(0.5)
      local alive = nsl.kill(c, 0)
      io.open(dir .. "/c-alive", "w"):write(tostring(alive)):close()
      nsl.kill(c, "KILL")
      ended("c", c, t0)
    end)
    assert.are.same({ "signal", 9 }, { r.a.how, r.a.n })
    assert.is_true(r.a.secs < 0.5, "grace 0 kills at once: " .. r.a.secs)
    assert.are.same({ "signal", 9 }, { r.b.how, r.b.n })
    assert.is_true(r.b.secs >= 0.9 and r.b.secs < 2, "grace 1: " .. r.b.secs)
    assert.are.equal("true", H.read(dir .. "/c-alive"))
  end)

  it("starts a new grace period for a TERM after a KILL", function()
    local r = forwarding(function(target, ended)
      local a = target()
      nsl.sleep(0.1)
      assert(nsl.forward_signals(a, 1))
      local t0 = nsl.time()
      assert(nsl.kill(nsl.getpid(), "TERM"))
      ended("first", a, t0)
      assert(nsl.stop_forwarding(a))
      local b = target()
      nsl.sleep(0.1)
      assert(nsl.forward_signals(b, 1))
      t0 = nsl.time()
      assert(nsl.kill(nsl.getpid(), "TERM"))
      ended("second", b, t0)
    end)
    assert.are.same({ "signal", 9 }, { r.first.how, r.first.n })
    assert.are.same({ "signal", 9 }, { r.second.how, r.second.n })
    assert.is_true(r.second.secs >= 0.9 and r.second.secs < 2, "second grace: " .. r.second.secs)
  end)

  it("refuses a grace out of range, naming it", function()
    assert.has_error(function() nsl.forward_signals(nsl.getpid(), -1) end)
    local ok, err = pcall(nsl.forward_signals, nsl.getpid(), 86401)
    assert.is_false(ok)
    assert.matches("grace", err)
  end)
end)
