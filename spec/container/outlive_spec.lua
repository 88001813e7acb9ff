-- A container never outlives its caller, whatever its PID 1 does to its
-- credentials. The kernel clears a process's parent-death signal at any
-- change of its uid or gid, which is what `su-exec user app` and gosu
-- do; nsl's init (the default with a pid namespace) keeps its own signal,
-- and the pid namespace dies with it. Each test runs `nsl run SCRIPT` in
-- the background, SIGKILLs it, and looks for what is left by a marker in
-- the command lines (/proc/*/cmdline): a `sleep` whose argument no other
-- test uses. As root.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"
local state = require "nsl.state"

local root

-- The pids whose command line has s as one argument, or inside one
-- (a script's path is inside the init's "nsl run PATH").
local function processes_with(s, whole)
  local out = {}
  local p = io.popen("ls /proc")
  for pid in p:lines() do
    if pid:match("^%d+$") and tonumber(pid) ~= nsl.getpid() then
      local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      local found
      if whole then found = ("\0" .. cmd):find("\0" .. s .. "\0", 1, true)
      else found = cmd:find(s, 1, true) end
      if found then out[#out + 1] = tonumber(pid) end
    end
  end
  p:close()
  return out
end

local wait_until = T.wait_until

-- Waits up to a few seconds for no process of the marker (and of the
-- script, whose command line a process forked from it has) to be left.
local function none_left(marker, script, seconds)
  return wait_until(function()
    return #processes_with(marker, true) == 0 and (not script or #processes_with(script) == 0)
  end, seconds)
end

-- Kills by pid whatever a test left with the marker or the script in its
-- command line.
local function kill_left(marker, script)
  for _, pid in ipairs(processes_with(marker, true)) do nsl.kill(pid, "KILL") end
  if script then
    for _, pid in ipairs(processes_with(script)) do nsl.kill(pid, "KILL") end
  end
end

local function status_field(pid, field)
  local f = io.open(("/proc/%d/status"):format(pid))
  local s = f and f:read("a") or ""
  if f then f:close() end
  return s:match(field .. ":\t(%d+)")
end

-- `nsl run` of a script (with args and variables added to its
-- environment), in the background: its pid, its first line of output,
-- and a finish(sig) that kills it (when sig) and reaps it.
local function run_in_background(path, args, env)
  local r, w = assert(nsl.pipe())
  local argv = { T.bin, "run", path, table.unpack(args or {}) }
  local e = { PATH = os.getenv("PATH"), NSL_BIN = T.bin }
  for k, v in pairs(env or {}) do e[k] = v end
  local pid = assert(nsl.clone({}, function()
    nsl.dup2(w, 1)
    nsl.exec(argv, { env = e })
    return 127
  end, { pdeathsig = "KILL" }))
  nsl.close(w)
  local h = { pid = pid }
  function h.line()
    local buf = ""
    local deadline = nsl.time() + 10
    while not buf:find("\n") and nsl.time() < deadline do
      if #nsl.poll({ r }, deadline - nsl.time()) == 0 then break end
      local s = nsl.read(r)
      if not s or s == "" then break end
      buf = buf .. s
    end
    return buf:match("^([^\n]*)")
  end
  function h.finish(sig)
    if h.done then return end
    h.done = true
    if sig then nsl.kill(pid, sig) end
    nsl.wait(pid)
    nsl.close(r)
  end
  return h
end

-- The script: starts a container of spec_fields, says "started PID" (PID
-- 1's host pid), then waits for it and says how it ended.
local function container_script(spec_fields)
  return T.script(([[
    local c = nsl.container { rootfs = %q, %s }
    local ok, err = c:start()
    if not ok then print("failed " .. err) os.exit(1) end
    print("started " .. c.pid)
    io.stdout:flush()
    print("ended", c:wait())
    io.stdout:flush()
    nsl.sleep(3600)
  ]]):format(root, spec_fields))
end

-- The host pid of the process of the marker, once it runs.
local function marked(marker)
  local pid
  wait_until(function()
    pid = processes_with(marker, true)[1]
    return pid ~= nil
  end)
  return pid
end

setup(function()
  root = C.busybox_root()
  assert(nsl.symlink("busybox", root .. "/bin/su"))
  local f = assert(io.open(root .. "/etc/passwd", "w"))
  f:write("root:x:0:0:root:/root:/bin/sh\n",
    "nobody:x:65534:65534:nobody:/:/bin/sh\n",
    "gidonly:x:0:65534:gid only:/:/bin/sh\n")
  f:close()
end)

teardown(function()
  if root then C.remove(root) end
end)

-- `su USER -c "exec sleep MARKER"` as the command: su changes its ids,
-- then execs the marker.
local function su_sleep(user, marker)
  return ([[command = { "su", "-s", "/bin/sh", %q, "-c", "exec sleep %s" }]]):format(user, marker)
end

describe("a container whose caller is SIGKILLed", function()
  -- The attack: PID 1's command changes its ids, then the script that
  -- started the container is killed.
  local function killed_caller(fields, marker, check, seconds)
    local path = container_script(fields)
    local h = run_in_background(path)
    finally(function()
      h.finish("KILL")
      kill_left(marker, path)
      os.remove(path)
    end)
    assert.matches("^started %d+$", h.line())
    local pid = marked(marker)
    assert.is_number(pid, "the command did not start")
    if check then check(pid) end
    h.finish("KILL")
    return none_left(marker, path, seconds), pid
  end

  it("leaves nothing when its command changed uid (su to nobody)", function()
    local gone = killed_caller(su_sleep("nobody", "7301.1"), "7301.1", function(pid)
      assert.are.equal("65534", status_field(pid, "Uid"))
      assert.are.equal("65534", status_field(pid, "Gid"))
    end)
    assert.is_true(gone)
  end)

  it("leaves nothing when its command changed gid only", function()
    local gone = killed_caller(su_sleep("gidonly", "7301.2"), "7301.2", function(pid)
      assert.are.equal("0", status_field(pid, "Uid"))
      assert.are.equal("65534", status_field(pid, "Gid"))
    end)
    assert.is_true(gone)
  end)

  it("leaves nothing when its setup hook changed gid before the init", function()
    -- The init's own parent-death signal was cleared too: it arms it again.
    local gone = killed_caller([[
      setup = function() assert(nsl.setids(0, 65534)) end,
      command = { "sleep", "7301.3" } ]], "7301.3", function(pid)
      assert.are.equal("65534", status_field(pid, "Gid"))
    end)
    assert.is_true(gone)
  end)

  it("with init = false, outlives it when its PID 1 changed uid (the risk init = false takes)", function()
    -- (a second is ample: the parent-death signal acts at once)
    local gone, pid = killed_caller("init = false, " .. su_sleep("nobody", "7301.4"), "7301.4", nil, 1)
    assert.is_false(gone)
    -- the host's init (or a subreaper) has it now
    assert.are.equal("65534", status_field(pid, "Uid"))
  end)
end)

describe("the default init", function()
  it("ends when its command forks and exits, and the forked child with it", function()
    local marker = "7301.5"
    -- sh exits once the child runs as nobody
    local path = container_script([[command = { "sh", "-c",
      "su -s /bin/sh nobody -c 'exec sleep 7301.5' & until grep -qs 'Uid:.65534' /proc/[0-9]*/status; do :; done; exit 4" } ]])
    local h = run_in_background(path)
    finally(function()
      h.finish("KILL")
      kill_left(marker, path)
      os.remove(path)
    end)
    assert.matches("^started %d+$", h.line())
    assert.are.equal("ended\tnil\texit\t4", h.line())
    assert.is_true(none_left(marker))
    h.finish("KILL")
    assert.is_true(none_left(marker, path))
  end)

  it("is PID 1 and the command PID 2; init = false makes the command PID 1", function()
    local out = C.capture { rootfs = root, command = { "sh", "-c", "echo $$ $PPID" } }
    assert.are.equal("2 1", out)
    out = C.capture { rootfs = root, init = false, command = { "sh", "-c", "echo $$ $PPID" } }
    assert.are.equal("1 0", out)
  end)

  it("is not there without a pid namespace, unless asked for", function()
    local c = nsl.container { rootfs = root, namespaces = "mnt,uts,ipc,net",
      command = { "sh", "-c", "exit 5" } }
    assert(c:start())
    local pid = c.pid
    assert.are.equal("sh", (T.sh(("cat /proc/%d/comm"):format(pid))))
    assert.are.same({ nil, "exit", 5 }, { c:wait() })
    c = nsl.container { rootfs = root, namespaces = "mnt,uts,ipc,net", init = true,
      command = { "sh", "-c", "exit 5" } }
    assert(c:start())
    assert.are.equal("nsl-init", (T.sh(("cat /proc/%d/comm"):format(c.pid))))
    assert.are.same({ nil, "exit", 5 }, { c:wait() })
  end)

  it("reports a command killed by signal N as exit 128 + N", function()
    local c = nsl.container { rootfs = root, command = { "sh", "-c", "kill -USR1 $$" } }
    assert.are.same({ nil, "exit", 138 }, { c:run() })
  end)

  it("checks its caller is still there: one gone before the init step leaves nothing", function()
    -- The script clones a child that runs a plan with an init step only
    -- once the script is dead (EOF on a pipe only the script writes to):
    -- no parent-death signal can come any more, the status pipe tells.
    local marker = "7301.6"
    local path = T.script(([[
      local status_r, status_w = assert(nsl.pipe())
      local gate_r, gate_w = assert(nsl.pipe())
      local plan = nsl.plan({ { "init", "init" },
        { "exec", "exec", { "sleep", %q } } }, { status = status_w })
      assert(nsl.clone({}, function()
        nsl.close(status_r)
        nsl.close(gate_w)
        nsl.read(gate_r) -- EOF: the script is gone
        local ok, err = plan:run()
        return ok and 0 or 1
      end))
      nsl.close(gate_r)
      print("ready")
      io.stdout:flush()
      nsl.sleep(3600)
    ]]):format(marker))
    local h = run_in_background(path)
    finally(function()
      h.finish("KILL")
      kill_left(marker, path)
      os.remove(path)
    end)
    assert.are.equal("ready", h.line())
    h.finish("KILL")
    assert.is_true(none_left(marker, path))
  end)
end)

describe("the default init", function()
  it("shows the container nothing of the caller's command line or environment", function()
    local marker, secret = "7301.9", "hush-7301"
    local seen = root .. "/tmp/seen-" .. nsl.getpid()
    local path = container_script(([[command = { "sh", "-c",
      "{ tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/comm; } > /tmp/seen-%d; exec sleep %s" } ]])
      :format(nsl.getpid(), marker))
    local h = run_in_background(path, { "--token=" .. secret }, { NSL_TEST_SECRET = secret })
    finally(function()
      h.finish("KILL")
      kill_left(marker, path)
      os.remove(path)
      os.remove(seen)
    end)
    local init = tonumber(h.line():match("^started (%d+)$"))
    assert.is_number(init)
    local function read(file)
      local f = io.open(file, "rb")
      local s = f and f:read("a")
      if f then f:close() end
      return s
    end
    assert.is_true(wait_until(function() return (read(seen) or ""):find("\n.*\n") ~= nil end))
    -- what the container sees: nsl-init (an exec'd program, no copy of
    -- the caller) and the command it runs
    local cmdline, comm = read(seen):match("^(.-)\n(.-)\n$")
    assert.matches("^nsl%-init %-s %d+ %-d %-f %d+ %-%- sh %-c ", cmdline)
    assert.are.equal("nsl-init", comm)
    assert.is_nil(cmdline:find(secret, 1, true))
    assert.is_nil(read(("/proc/%d/environ"):format(init)):find(secret, 1, true))
    assert.is_nil(read(("/proc/%d/cmdline"):format(init)):find(secret, 1, true))
    -- the command itself has its own environment, not the caller's
    local cmd = assert(processes_with(marker, true)[1])
    assert.is_nil(read(("/proc/%d/environ"):format(cmd)):find(secret, 1, true))
  end)
end)

describe("nsl-init", function()
  it("runs from a sealed copy in memory: with every capability, /proc/1/exe cannot be written", function()
    -- CAP_SYS_PTRACE opens a non-dumpable init's /proc/1/exe; the copy's
    -- seals (and the exec's deny-write) still refuse every write
    local init = T.sh(("dirname %s"):format(T.quote(T.bin))) .. "/nsl-init"
    local f = assert(io.open(init, "rb"))
    local before = f:read("a")
    f:close()
    local out = C.capture { rootfs = root, hardening = { capabilities = false }, seccomp = false,
      command = { "sh", "-c", [[
        readlink /proc/1/exe
        cat /proc/1/exe > /dev/null && echo read ok
        (echo x >> /proc/1/exe) 2>/dev/null; echo "append $?"
        (echo x 1<> /proc/1/exe) 2>/dev/null; echo "overwrite $?"]] } }
    assert.are.equal("/memfd:nsl-init (deleted)\nread ok\nappend 1\noverwrite 1", out)
    f = assert(io.open(init, "rb"))
    assert.is_true(f:read("a") == before, "nsl-init changed")
    f:close()
  end)

  it("checks its caller is still there, when executed from a plan's exec step", function()
    -- as the checks of the plan's init step above, for the init that
    -- containers run: the script is gone before the exec
    local marker = "7301.5"
    local init = T.bin:match("^(.*)/[^/]*$") .. "/nsl-init"
    local path = T.script(([[
      local status_r, status_w = assert(nsl.pipe())
      local gate_r, gate_w = assert(nsl.pipe())
      local fd = assert(nsl.open(%q, "rdonly"))
      local plan = nsl.plan({ { "exec", "exec",
        { "nsl-init", "-s", tostring(status_w), "--", "sleep", %q }, nil, false, fd } },
        { status = status_w })
      assert(nsl.clone({}, function()
        nsl.close(status_r)
        nsl.close(gate_w)
        nsl.read(gate_r) -- EOF: the script is gone
        local ok = plan:run()
        return ok and 0 or 1
      end))
      nsl.close(gate_r)
      print("ready")
      io.stdout:flush()
      nsl.sleep(3600)
    ]]):format(init, marker))
    local h = run_in_background(path)
    finally(function()
      h.finish("KILL")
      kill_left(marker, path)
      os.remove(path)
    end)
    assert.are.equal("ready", h.line())
    h.finish("KILL")
    assert.is_true(none_left(marker, path))
  end)

  it("is a program of its own, rootless too: PID 1 holds no copy of the script", function()
    if not T.bin_reachable() then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local shared = C.busybox_root { shared = true }
    finally(function() C.remove(shared) end)
    local out, err = T.rootless([[
      local secret = "hush-" .. "7301"
      local c = nsl.container { rootfs = arg[1], command = { "sh", "-c",
        "readlink /proc/1/exe; tr '\\0' ' ' < /proc/1/cmdline" } }
      print(c:run())
    ]], shared)
    assert.are.equal("", err)
    local exe, cmdline = out:match("^(.-)\n(.*)$")
    assert.matches("^/memfd:nsl%-init %(deleted%)$", exe) -- a sealed copy
    assert.matches("^nsl%-init %-s %d+ %-f %d+ %-%- sh %-c ", cmdline) -- no -d: its own user's
  end)
end)

describe("a detached container", function()
  it("outlives its script but not its supervisor, whatever its command did to its ids", function()
    local name = "outlive-" .. nsl.getpid()
    local marker = "7301.7"
    local path = T.script(([[
      local c = nsl.container { name = %q, rootfs = %q, detach = true, %s }
      assert(c:start())
      print("started " .. c.pid)
    ]]):format(name, root, su_sleep("nobody", marker)))
    finally(function()
      T.sh(("%s rm -f %s 2>/dev/null"):format(T.quote(T.bin), name))
      kill_left(marker, path)
      os.remove(path)
    end)
    local out = (T.sh(("NSL_BIN=%s %s run %s"):format(T.quote(T.bin), T.quote(T.bin), T.quote(path))))
    assert.matches("^started %d+$", out)
    local pid = marked(marker)
    assert.is_number(pid)
    assert.are.equal("65534", status_field(pid, "Uid"))
    nsl.sleep(0.2)
    assert.are.same({ pid }, processes_with(marker, true)) -- the script's end left it running
    local rec = assert(state.read(name))
    assert.matches("nsl%-monitor", (T.sh(("cat /proc/%d/cmdline | tr '\\0' ' '"):format(rec.owner))))
    nsl.kill(rec.owner, "KILL")
    assert.is_true(none_left(marker))
  end)
end)
