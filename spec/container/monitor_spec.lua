-- nsl-monitor, the supervisor of a detached container, on its own: started
-- the way the container code starts it (a process that cloned the
-- container, with the read end of its output pipe on descriptor 3, execs
-- it), then judged by its log, its exit file and what runs after it. As root.
local nsl = require "nsl"
local T = require "nsltest"
local write, exists = T.write, T.exists
local H = require "hostcheck"

local monitor = os.getenv("NSL_MONITOR")
if not monitor or monitor == "" then
  monitor = (T.bin:match("^(.*)/[^/]*$") or ".") .. "/nsl-monitor"
end

-- Whether a process is gone, or only a zombie nobody reaped.
local function state_of(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)") or "gone"
end

-- Starts the monitor in a child of this process, as the container code
-- does. o.script: the container's shell script, its stdout and stderr on
-- the pipe; o.args: options before "--" (--pid, --log and --exit-file are
-- given: o.log or dir/log, dir/exit); o.then_argv: the command after it; o.others:
-- delays (seconds) of extra children that just end; o.shell: shell
-- commands the monitor's process runs before it execs; o.namespaces and
-- o.setup: for the process that becomes the monitor. Its stdout and
-- stderr go to dir/stdout. Returns the monitor's pid and the container's.
local function start(dir, o)
  local runner = assert(nsl.clone(o.namespaces, function()
    nsl.setsid()
    if o.setup then o.setup() end
    local null = assert(nsl.open("/dev/null", "rdwr"))
    local out = assert(nsl.open(dir .. "/stdout", "wronly,creat,append"))
    nsl.dup2(null, 0)
    nsl.dup2(out, 1)
    nsl.dup2(out, 2)
    local others = {}
    for _, delay in ipairs(o.others or {}) do
      local other = assert(nsl.clone(nil, function()
        if delay > 0 then nsl.sleep(delay) end
        return 0
      end, { collect = false }))
      others[#others + 1] = other
      if delay == 0 then -- a zombie already when the monitor starts
        while state_of(other) ~= "Z" do nsl.sleep(0.01) end
      end
    end
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone(nil, function()
      nsl.dup2(w, 1)
      nsl.dup2(w, 2)
      nsl.exec({ "/bin/sh", "-c", o.script })
      return 127
    end, { collect = false }))
    nsl.close(w)
    local f = assert(io.open(dir .. "/pids", "w"))
    f:write(pid, " ", table.concat(others, " "), "\n")
    f:close()
    nsl.dup2(r, 3)
    local argv = { monitor, "--pid", tostring(pid), "--log", o.log or dir .. "/log",
      "--exit-file", dir .. "/exit" }
    for _, a in ipairs(o.args or {}) do argv[#argv + 1] = a end
    if o.then_argv then
      argv[#argv + 1] = "--"
      for _, a in ipairs(o.then_argv) do argv[#argv + 1] = a end
    end
    if o.shell then -- a shell prepares the exec (same process)
      table.insert(argv, 1, "/bin/bash") -- dash will not ignore SIGCHLD
      table.insert(argv, 2, "-c")
      table.insert(argv, 3, o.shell .. '; exec "$0" "$@"')
    end
    nsl.exec(argv, { keep_fds = { 3 } })
    return 126
  end))
  local pids
  assert(H.eventually(function()
    local text = H.read(dir .. "/pids") or ""
    if not text:find("\n") then return false end
    pids = {}
    for p in text:gmatch("%d+") do pids[#pids + 1] = tonumber(p) end
    return true
  end), "the monitor's parent never started the container")
  local container = table.remove(pids, 1)
  return runner, container, pids
end

-- Waits up to seconds for the monitor to end; returns the wait triple.
local function finish(runner, seconds)
  local deadline = nsl.time() + (seconds or 10)
  while nsl.time() < deadline do
    local pid, ok, how, code = nsl.reap(runner, "nohang")
    if pid ~= 0 then return ok, how, code end
    nsl.sleep(0.02)
  end
  nsl.kill(runner, "KILL")
  nsl.reap(runner)
  error("the monitor did not end within " .. (seconds or 10) .. " s")
end

-- The exit file's two lines, checked for their form.
local function exit_record(dir)
  local text = H.read(dir .. "/exit")
  assert.is_truthy(text, "no exit file")
  local how, n, t = text:match("^(%a+) (%d+)\nfinished (%d+)\n$")
  assert.is_truthy(how, "malformed exit file: " .. text)
  return how, tonumber(n), tonumber(t)
end

-- "exit N" or "signal N", from the exit file.
local function ended(dir)
  local how, n = exit_record(dir)
  return how .. " " .. n
end

-- n lines "line 1\n" ... as a shell loop and as the text it prints.
local function lines(n)
  local t = {}
  for i = 1, n do t[i] = ("line %d\n"):format(i) end
  return ("i=1; while [ $i -le %d ]; do echo \"line $i\"; i=$((i+1)); done"):format(n),
    table.concat(t)
end

-- Bytes that show where they came from: a different letter every 100.
local function data(n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = string.char(65 + (i // 100) % 26) end
  return table.concat(t)
end

describe("nsl-monitor", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("is built as a static program", function()
    local out, ok = T.sh("readelf -lW " .. T.quote(monitor))
    assert.is_true(ok, out)
    assert.is_truthy(out:find("LOAD"), out)
    assert.is_nil(out:find("INTERP"), "it asks for a dynamic loader")
    assert.is_truthy(out:find("GNU_RELRO"), "linked without -z relro")
  end)

  it("logs all the container wrote, up to its last line, and records its exit status", function()
    local script, text = lines(20000) -- 190 kB: more than a pipe holds
    local before = os.time()
    local runner = start(dir, { script = script .. "; echo last-words; exit 3", args = { "--log-max", "1m" } })
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    assert.are.equal(text .. "last-words\n", H.read(dir .. "/log"))
    local how, n, t = exit_record(dir)
    assert.are.same({ "exit", 3 }, { how, n })
    assert.is_true(t >= before and t <= os.time() + 1, "finished " .. t)
    assert.are.equal("", H.read(dir .. "/stdout"))
    assert.is_false(exists(dir .. "/exit.tmp"))
    assert.is_false(exists(dir .. "/log.1"))
    local st = nsl.lstat(dir .. "/log")
    assert.are.equal(416, st.mode & 511) -- 0640
  end)

  it("records the signal that killed the container", function()
    local runner = start(dir, { script = "echo before; kill -9 $$" })
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    assert.are.equal("before\n", H.read(dir .. "/log"))
    assert.are.equal("signal 9", ended(dir))
  end)

  it("renames a full log to FILE.1, replacing the older one, and never lets FILE pass the maximum", function()
    local text = data(10000)
    write(dir .. "/input", text)
    write(dir .. "/log.1", "an older rotation\n")
    local runner = start(dir, { script = "cat " .. dir .. "/input; exit 0", args = { "--log-max", "4096" } })
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    -- 10000 bytes through a 4096-byte log: two rotations
    assert.are.equal(text:sub(4097, 8192), H.read(dir .. "/log.1"))
    assert.are.equal(text:sub(8193), H.read(dir .. "/log"))
    assert.are.equal("exit 0", ended(dir))
  end)

  it("appends to an existing log and counts it towards the maximum (4k)", function()
    local old, text = data(3000):lower(), data(2000)
    write(dir .. "/log", old)
    write(dir .. "/input", text)
    local runner = start(dir, { script = "cat " .. dir .. "/input", args = { "--log-max", "4k" } })
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    assert.are.equal(old .. text:sub(1, 1096), H.read(dir .. "/log.1"))
    assert.are.equal(text:sub(1097), H.read(dir .. "/log"))
  end)

  it("keeps draining the container's output when the log's disk is full", function()
    -- a 64 kB file system in a mount namespace of the monitor's own
    local full = dir .. "/full"
    assert(nsl.mkdir(full))
    local script, text = lines(30000) -- 290 kB
    local runner = start(dir, {
      namespaces = "mnt",
      setup = function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        assert(nsl.mount("tmpfs", full, "tmpfs", nil, "size=64k"))
      end,
      log = full .. "/log",
      script = script .. "; exit 5",
      args = { "--log-max", "1m" },
      then_argv = { "/bin/sh", "-c", ("cp %s/log %s/log.seen"):format(full, dir) },
    })
    -- the log is in full/, the exit file and the copy in dir
    assert.are.same({ true, "exit", 0 }, { finish(runner, 20) }, H.read(dir .. "/stdout"))
    assert.are.equal("exit 5", ended(dir))
    local seen = H.read(dir .. "/log.seen")
    assert.is_truthy(seen)
    assert.is_true(#seen > 0 and #seen <= 65536, #seen .. " bytes")
    assert.are.equal(text:sub(1, #seen), seen) -- what fitted, in order
  end)

  it("runs the command after it once the exit file exists, with default signals and its stdio", function()
    local runner = start(dir, {
      script = "exit 0",
      then_argv = { "/bin/sh", "-c", ([[
        cat %s/exit > %s/then-saw
        grep -E '^Sig(Blk|Ign)' /proc/self/status > %s/then-sigs
        [ -e /proc/$$/fd/3 ] && echo fd3-open
        echo then-stdout; exit 4]]):format(dir, dir, dir) },
    })
    assert.are.same({ nil, "exit", 4 }, { finish(runner) })
    assert.are.equal(H.read(dir .. "/exit"), H.read(dir .. "/then-saw"))
    assert.are.equal("exit 0", ended(dir))
    -- 32 and 33 are glibc's own (nptl): no glibc program can change them,
    -- and make(1), for one, passes them on ignored
    local sigs = H.read(dir .. "/then-sigs")
    local blocked, ignored = sigs:match("^SigBlk:\t(%x+)\nSigIgn:\t(%x+)\n$")
    assert.are.equal(0, tonumber(blocked, 16), sigs)
    assert.are.equal(0, tonumber(ignored, 16) & ~0x180000000, sigs)
    assert.are.equal("then-stdout\n", H.read(dir .. "/stdout"))
  end)

  it("logs a command after it that cannot run, and exits 1", function()
    local runner = start(dir, { script = "echo out", then_argv = { dir .. "/missing" } })
    assert.are.same({ nil, "exit", 1 }, { finish(runner) })
    assert.are.equal(("out\nnsl-monitor: exec %s/missing: No such file or directory\n"):format(dir),
      H.read(dir .. "/log"))
    assert.are.equal("exit 0", ended(dir))
  end)

  it("passes a TERM on to the container and ignores INT, HUP, QUIT and PIPE", function()
    local runner, pid = start(dir, {
      script = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
    })
    assert.is_truthy(H.eventually(function() return H.read(dir .. "/log") == "ready\n" end))
    for _, sig in ipairs({ "INT", "HUP", "QUIT", "PIPE" }) do nsl.kill(runner, sig) end
    nsl.sleep(0.2)
    assert.are.equal(0, (nsl.reap(runner, "nohang")))
    assert.are_not.equal("gone", state_of(pid))
    nsl.kill(runner, "TERM")
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    assert.are.equal("ready\ngot-term\n", H.read(dir .. "/log"))
    assert.are.equal("exit 7", ended(dir))
    assert.are.equal("gone", state_of(pid))
  end)

  it("drains output from the container's leftovers until the end, and a TERM meanwhile does not stop it", function()
    -- a background process keeps the pipe open and writes for a second
    -- after the container's first process has ended
    local runner, pid = start(dir, {
      script = "(for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; echo tick $i; done) & echo $! > "
        .. dir .. "/bg; echo main-done",
      then_argv = { "/bin/sh", "-c", "cat " .. dir .. "/exit > " .. dir .. "/then-saw" },
    })
    assert.is_truthy(H.eventually(function() return state_of(pid) == "gone" end))
    nsl.kill(runner, "TERM")
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    local log = H.read(dir .. "/log")
    assert.is_truthy(log:find("^main%-done\n"), log)
    assert.is_truthy(log:find("tick 10\n$"), log)
    assert.are.equal(H.read(dir .. "/exit"), H.read(dir .. "/then-saw"))
    local bg = tonumber(H.read(dir .. "/bg"))
    assert.is_truthy(H.eventually(function() return state_of(bg) == "gone" end))
  end)

  it("stops waiting for output 250 ms after the last, when something silent keeps the pipe open", function()
    local t0 = nsl.time()
    local runner = start(dir, {
      script = "sleep 5 & echo $! > " .. dir .. "/bg; echo last; exit 2",
    })
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    local took = nsl.time() - t0
    local bg = tonumber(H.read(dir .. "/bg"))
    if H.read("/proc/" .. bg .. "/comm") == "sleep\n" then nsl.kill(bg, "KILL") end
    assert.is_true(took < 2, ("took %.2f s"):format(took))
    assert.are.equal("last\n", H.read(dir .. "/log"))
    assert.are.equal("exit 2", ended(dir))
  end)

  -- one child ends before the exec (its SIGCHLD is gone by then), the
  -- other during supervision
  for _, delay in ipairs({ 0, 0.3 }) do
    it(("reaps other children of its own while it supervises (one that ends after %g s)"):format(delay), function()
      local go = dir .. "/go"
      local runner, pid, others = start(dir, {
        script = ("while [ ! -e %s ]; do sleep 0.05; done; exit 0"):format(go),
        others = { delay },
      })
      assert.are.equal(1, #others)
      local reaped = H.eventually(function() return state_of(others[1]) == "gone" end, 3)
      write(go, "")
      assert.are.same({ true, "exit", 0 }, { finish(runner) })
      assert.is_true(reaped, "left as " .. state_of(others[1]))
      assert.are.equal("gone", state_of(pid))
    end)
  end

  it("waits for the container when it was started with SIGCHLD ignored", function()
    -- an ignored SIGCHLD survives exec, and would have the kernel reap the
    -- container before the monitor could read its status
    local go = dir .. "/go"
    local runner = start(dir, {
      shell = "trap '' CHLD",
      script = ("while [ ! -e %s ]; do sleep 0.05; done; exit 6"):format(go),
    })
    assert.is_truthy(H.eventually(function()
      return H.read("/proc/" .. runner .. "/comm") == "nsl-monitor\n"
    end))
    write(go, "")
    assert.are.same({ true, "exit", 0 }, { finish(runner) })
    assert.are.equal("exit 6", ended(dir))
  end)

  describe("refuses", function()
    local function run(args)
      local out, _, _, code = T.sh(("%s %s 2>&1"):format(T.quote(monitor), args))
      return out, code
    end

    it("bad arguments with a message and status 2, creating nothing", function()
      local log, ex = T.quote(dir .. "/log"), T.quote(dir .. "/exit")
      local cases = {
        { "", "%-%-pid, %-%-log and %-%-exit%-file are required" },
        { "--pid 1 --log " .. log, "%-%-pid, %-%-log and %-%-exit%-file are required" },
        { "--pid abc --log " .. log .. " --exit-file " .. ex, "%-%-pid needs a process id %(got 'abc'%)" },
        { "--pid 0 --log " .. log .. " --exit-file " .. ex, "%-%-pid needs a process id" },
        { "--pid 99999999999 --log " .. log .. " --exit-file " .. ex, "%-%-pid needs a process id" },
        { "--pid 1 --log " .. log .. " --exit-file " .. ex .. " --log-max 100",
          "%-%-log%-max needs a size of at least 4096 bytes.*got '100'" },
        { "--pid 1 --log " .. log .. " --exit-file " .. ex .. " --log-max 5x", "%-%-log%-max needs a size.*got '5x'" },
        { "--pid 1 --log " .. log .. " --exit-file " .. ex .. " --log-max 99999999999999999M",
          "%-%-log%-max needs a size.*got '99999999999999999M'" },
        { "--pid 1 --log '' --exit-file " .. ex, "%-%-log and %-%-exit%-file need a file name" },
        { "--pid 1 --colour --log " .. log, "unknown option %-%-colour" },
        { "--pid 1 --log " .. log .. " --exit-file", "option %-%-exit%-file needs a value" },
        { "--pid 1 --log " .. log .. " --exit-file " .. ex .. " -- sh -c true",
          "the command to run afterwards must be an absolute path %(got 'sh'%)" },
      }
      for _, c in ipairs(cases) do
        local out, code = run(c[1])
        assert.are.equal(2, code, c[1])
        assert.is_truthy(out:find("^nsl%-monitor: " .. c[2]), c[1] .. " -> " .. out)
        assert.is_truthy(out:find("\nusage: nsl%-monitor %-%-pid PID"), out)
      end
      assert.are.same({}, nsl.readdir(dir))
    end)

    it("a process that is not its child", function()
      local sleeper = H.sleeper(nil)
      local out, code = run(("--pid %d --log %s/log --exit-file %s/exit 3</dev/null")
        :format(sleeper, dir, dir))
      H.stop(sleeper)
      assert.are.equal(2, code)
      assert.are.equal(("nsl-monitor: process %d is not a child of this process "
        .. "(nsl-monitor must be exec'd by the parent of the process it watches)"):format(sleeper), out)
      assert.are.same({}, nsl.readdir(dir))
    end)

    it("to start without the container's output on descriptor 3", function()
      local out, _, _, code = T.sh(("sh -c 'sleep 0.1 & exec %s --pid $! --log %s/log --exit-file %s/exit' 3<&- 2>&1")
        :format(monitor, dir, dir))
      assert.are.equal(2, code)
      assert.are.equal("nsl-monitor: descriptor 3 (the container's output) is not open", out)
      assert.are.same({}, nsl.readdir(dir))
    end)
  end)
end)
