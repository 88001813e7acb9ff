-- Terminals: openpty, setctty, isatty and pty_relay, against the kernel's
-- own pseudo-terminals. Commands run in children that lead their own
-- session on the slave; the relay runs in this process (or in a child,
-- where a mistake could end the process that runs it) with pipes, or a
-- pseudo-terminal made here, as its stdin and stdout.
local nsl = require "nsl"
local T = require "nsltest"

local O_NONBLOCK = 0x800

local function fdinfo_flags(fd)
  local f = assert(io.open("/proc/self/fdinfo/" .. fd))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("flags:%s*(%d+)"), 8)
end

-- The tty_nr field of /proc/self/stat: the controlling terminal, 0 for none.
local function ctty()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("a")
  f:close()
  -- after "(comm)": state ppid pgrp session tty_nr
  return math.tointeger(tonumber(stat:match("%) %S+ %d+ %d+ %d+ (%-?%d+)")))
end

local function path_of(fd)
  return assert(nsl.readlink("/proc/self/fd/" .. fd))
end

-- "rows cols" of the terminal at path, as stty reports it.
local function size_of(path)
  return (T.sh("stty -F " .. T.quote(path) .. " size"))
end

local function settings_of(path)
  return (T.sh("stty -g -F " .. T.quote(path)))
end

-- Everything a pipe holds until its last writer is gone.
local function drain(fd)
  local parts = {}
  while true do
    local data = assert(nsl.read(fd, 65536))
    if data == "" then break end
    parts[#parts + 1] = data
  end
  return table.concat(parts)
end

-- Runs sh -c script in a child that leads a new session on the slave as its
-- controlling terminal; closes this process's copy of the slave.
local function spawn(master, slave, script, env)
  local pid = assert(nsl.clone(nil, function()
    nsl.close(master)
    assert(nsl.setsid())
    assert(nsl.setctty(slave))
    local _, err = nsl.exec({ "/bin/sh", "-c", script }, { env = env })
    io.stderr:write(tostring(err), "\n")
    return 127
  end))
  nsl.close(slave)
  return pid
end

-- Runs script on a new terminal (openpty options pty_opts) and relays with
-- a pipe as stdin, holding input and then closed, and a pipe as stdout.
-- Returns the output and the relay's results.
local function run(script, input, pty_opts, env)
  local master, slave = assert(nsl.openpty(pty_opts))
  local pid = spawn(master, slave, script, env)
  local in_r, in_w = assert(nsl.pipe())
  local out_r, out_w = assert(nsl.pipe())
  if input then assert(nsl.write(in_w, input) == #input) end
  nsl.close(in_w)
  local ok, how, n = nsl.pty_relay(master, pid, { stdin = in_r, stdout = out_w })
  nsl.close(out_w)
  nsl.close(in_r)
  nsl.close(master)
  local out = drain(out_r)
  nsl.close(out_r)
  return out, ok, how, n
end

-- An error message with the function named as the caller wrote it:
-- Lua may name it after the module table where it found it.
local function plain(err)
  return (tostring(err):gsub("'nsl%.core%.", "'"):gsub("'nsl%.", "'"))
end

local ENV = { PATH = "/usr/sbin:/usr/bin:/sbin:/bin" }

describe("nsl.openpty", function()
  it("gives a master and a slave, both close-on-exec, that do not become the caller's terminal", function()
    -- in a session without a terminal, where opening one without
    -- O_NOCTTY would make it the controlling terminal
    local tty_before, tty_after, slave_path, m_tty, s_tty = T.inside(nil, function()
      assert(nsl.setsid())
      local before = ctty()
      local m, s = assert(nsl.openpty())
      return before, ctty(), path_of(s), nsl.isatty(m), nsl.isatty(s)
    end)
    assert.are.equal(0, tty_before)
    assert.are.equal(0, tty_after)
    assert.matches("^/dev/pts/%d+$", slave_path)
    assert.is_true(m_tty)
    assert.is_true(s_tty)
    -- a program run after openpty has neither descriptor
    local pid = assert(nsl.clone(nil, function()
      local m, s = assert(nsl.openpty())
      nsl.exec({ "/bin/sh", "-c", 'for fd; do test -e /proc/self/fd/$fd && exit 1; done; exit 0', "sh", m, s })
      return 127
    end))
    assert.are.same({ true, "exit", 0 }, { nsl.wait(pid) })
  end)

  it("takes its size from the options, else from the caller's stdin, else 24 x 80", function()
    local given, rows_only, default, from_stdin, cols_given = T.inside(nil, function()
      local null = assert(nsl.open("/dev/null", "rdwr"))
      assert(nsl.dup2(null, 0))
      local _, a = assert(nsl.openpty({ rows = 7, cols = 33 }))
      local _, b = assert(nsl.openpty({ rows = 7 }))
      local _, c = assert(nsl.openpty())
      -- stdin a terminal of 11 x 55
      local _, outer = assert(nsl.openpty({ rows = 11, cols = 55 }))
      assert(nsl.dup2(outer, 0))
      local _, d = assert(nsl.openpty())
      local _, e = assert(nsl.openpty({ cols = 99 }))
      return size_of(path_of(a)), size_of(path_of(b)), size_of(path_of(c)),
        size_of(path_of(d)), size_of(path_of(e))
    end)
    assert.are.equal("7 33", given)
    assert.are.equal("7 80", rows_only)
    assert.are.equal("24 80", default)
    assert.are.equal("11 55", from_stdin)
    assert.are.equal("11 99", cols_given)
  end)

  it("takes the pair from another root's dev/ptmx, resolved inside that root", function()
    -- in a mount namespace of its own: roots with their own devpts
    -- instance (as a container's /dev/pts), and roots whose dev/ptmx
    -- tries to lead elsewhere
    local slave_path, listed, host_slave, loop, dotdot, plain, missing = T.inside({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      local base = assert(nsl.mkdtemp("/tmp/nsl-tty-spec-" .. nsl.getpid() .. "-"))
      -- the devpts mount goes with this namespace; the directory is removed
      -- whatever happens
      local _ <close> = setmetatable({}, { __close = function()
        nsl.umount(base .. "/own/dev/pts", "detach")
        os.execute("rm -rf " .. T.quote(base))
      end })
      local function root(name)
        local d = base .. "/" .. name
        assert(nsl.mkdir(d))
        assert(nsl.mkdir(d .. "/dev"))
        return d
      end
      local own = root("own")
      assert(nsl.mkdir(own .. "/dev/pts"))
      assert(nsl.mount("devpts", own .. "/dev/pts", "devpts", nil, "newinstance,ptmxmode=0666"))
      assert(nsl.symlink("pts/ptmx", own .. "/dev/ptmx"))
      local _, s = assert(nsl.openpty({ root = own }))
      local _, hs = assert(nsl.openpty())
      local abs = root("abs")
      assert(nsl.symlink("/dev/ptmx", abs .. "/dev/ptmx"))
      local up = root("up")
      assert(nsl.symlink("../../../../../dev/ptmx", up .. "/dev/ptmx"))
      local file = root("file")
      assert(io.open(file .. "/dev/ptmx", "w")):close()
      local results = { path_of(s), (T.sh("ls " .. own .. "/dev/pts")), path_of(hs),
        select(2, nsl.openpty({ root = abs })), select(2, nsl.openpty({ root = up })),
        select(2, nsl.openpty({ root = file })), select(2, nsl.openpty({ root = base .. "/none" })) }
      local base_pattern = base:gsub("%p", "%%%0")
      for i = 4, 7 do results[i] = results[i]:gsub(base_pattern, "BASE") end
      return table.unpack(results, 1, 7)
    end)
    assert.matches("^/tmp/nsl%-tty%-spec%-%d+%-%w+/own/dev/pts/0$", slave_path)
    assert.are.equal("0\nptmx", listed)
    assert.matches("^/dev/pts/%d+$", host_slave)
    assert.are.equal("openpty BASE/abs/dev/ptmx: Too many levels of symbolic links", loop)
    assert.are.equal("openpty BASE/up/dev/ptmx: Too many levels of symbolic links", dotdot)
    assert.are.equal("openpty BASE/file/dev/ptmx: not the pseudo-terminal multiplexer: Inappropriate ioctl for device", plain)
    assert.are.equal("openpty: open root BASE/none: No such file or directory", missing)
  end)

  it("raises on bad options", function()
    local cases = {
      { function() return nsl.openpty("24x80") end, "bad argument #1 to 'openpty' (table expected, got string)" },
      { function() return nsl.openpty({ rows = 0 }) end, "openpty options: rows must be an integer from 1 to 65535 (got 0)" },
      { function() return nsl.openpty({ cols = 65536 }) end, "openpty options: cols must be an integer from 1 to 65535 (got 65536)" },
      { function() return nsl.openpty({ rows = 2.5 }) end, "openpty options: rows must be an integer from 1 to 65535 (got 2.5)" },
      { function() return nsl.openpty({ cols = "80" }) end, "openpty options: cols must be an integer from 1 to 65535 (got string)" },
      { function() return nsl.openpty({ size = { 24, 80 } }) end, "openpty options: unknown field 'size' (expected rows, cols, root)" },
      { function() return nsl.openpty({ root = 5 }) end, "openpty options: field 'root' must be a string (got number)" },
      { function() return nsl.openpty({ root = "/a\0b" }) end, "openpty options: field 'root' contains a NUL byte" },
      { function() return nsl.openpty({}, 1) end, "bad argument #2 to 'openpty' (too many arguments (expected at most 1, got 2))" },
    }
    local before = #nsl.fds()
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.matches(case[2], plain(err), 1, true)
    end
    assert.are.equal(before, #nsl.fds())
  end)
end)

describe("nsl.setctty", function()
  it("makes the slave the controlling terminal and stdin, stdout and stderr of a session leader", function()
    local ok, tty_nr, pts, paths, slave_open = T.inside(nil, function()
      local _, s = assert(nsl.openpty())
      local path = path_of(s)
      assert(nsl.setsid())
      local r = nsl.setctty(s)
      local still = false
      for _, fd in ipairs(nsl.fds()) do still = still or fd == s end
      return r, ctty(), tonumber(path:match("%d+$")),
        table.concat({ path_of(0), path_of(1), path_of(2) }, " ") == (path .. " "):rep(3):sub(1, -2),
        still
    end)
    assert.is_true(ok)
    -- tty_nr encodes major 136 (the first block of pts minors) and the minor
    assert.are.equal(136, (tty_nr >> 8) & 0xfff)
    assert.are.equal(pts, (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00))
    assert.is_true(paths)
    assert.is_false(slave_open)
  end)

  it("keeps descriptors 0-2 open on exec, also when the slave is one of them", function()
    local master, slave = assert(nsl.openpty())
    local pid = assert(nsl.clone(nil, function()
      nsl.close(master)
      -- the slave as descriptor 1, close-on-exec as openpty makes it
      assert(nsl.dup2(slave, 1))
      assert(nsl.cloexec(1, true))
      nsl.close(slave)
      assert(nsl.setsid())
      assert(nsl.setctty(1))
      nsl.exec({ "/bin/sh", "-c", "if test -t 0 && test -t 1 && test -t 2; then echo all >&2; else echo missing >&2; fi" })
      return 127
    end))
    nsl.close(slave)
    local out_r, out_w = assert(nsl.pipe())
    local in_r, in_w = assert(nsl.pipe())
    nsl.close(in_w)
    local ok, how, n = nsl.pty_relay(master, pid, { stdin = in_r, stdout = out_w })
    nsl.close(out_w)
    nsl.close(in_r)
    nsl.close(master)
    local out = drain(out_r)
    nsl.close(out_r)
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.are.equal("all\r\n", out)
  end)

  it("fails for a caller that does not lead a session, and for a descriptor that is no terminal", function()
    local r1, msg1, e1, stdin1, r2, msg2, e2, stdin2, tty = T.inside(nil, function()
      local _, s = assert(nsl.openpty())
      local before = path_of(0)
      local a, am, ae = nsl.setctty(s)
      local after1 = path_of(0)
      assert(nsl.setsid())
      local pr = assert(nsl.pipe())
      local b, bm, be = nsl.setctty(pr)
      return a, am, ae, after1 == before, b, bm:gsub("%d+", "N"), be, path_of(0) == before, ctty()
    end)
    assert.is_nil(r1)
    assert.matches("^setctty %d+: the caller does not lead a session %(nsl.setsid first%): Operation not permitted$", msg1)
    assert.are.equal(1, e1)
    assert.is_true(stdin1)
    assert.is_nil(r2)
    assert.are.equal("setctty N: Inappropriate ioctl for device", msg2)
    assert.are.equal(25, e2)
    assert.is_true(stdin2)
    assert.are.equal(0, tty)
  end)

  it("raises on a bad descriptor argument", function()
    local ok, err = pcall(nsl.setctty, -1)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'setctty' (descriptor out of range (0 to 2147483647))", plain(err), 1, true)
    ok, err = pcall(nsl.setctty, 0, 1)
    assert.is_false(ok)
    assert.matches("too many arguments", err, 1, true)
  end)
end)

describe("nsl.isatty", function()
  it("tells terminals from pipes, files and closed descriptors", function()
    local m, s = assert(nsl.openpty())
    local r, w = assert(nsl.pipe())
    local null = assert(nsl.open("/dev/null"))
    assert.is_true(nsl.isatty(m))
    assert.is_true(nsl.isatty(s))
    assert.is_false(nsl.isatty(r))
    assert.is_false(nsl.isatty(null))
    for _, fd in ipairs({ m, s, r, w, null }) do nsl.close(fd) end
    assert.is_false(nsl.isatty(s))
    local ok, err = pcall(nsl.isatty)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'isatty' (integer expected, got no value)", plain(err), 1, true)
  end)
end)

describe("nsl.pty_relay", function()
  it("gives the command a terminal: a /dev/pts name, test -t, the size given to openpty", function()
    local before = #nsl.fds()
    local out, ok, how, n = run("tty; test -t 0 && test -t 1 && echo term; stty size",
      nil, { rows = 7, cols = 33 })
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.matches("^/dev/pts/%d+\r\nterm\r\n7 33\r\n$", out)
    assert.are.equal(before, #nsl.fds())
  end)

  it("passes input to the command, and the end of a piped stdin as end of file", function()
    local t0 = nsl.time()
    -- a command that never saw the end would be cut off by timeout (124)
    local out, ok, how, n = run("read x; echo got:$x; timeout --foreground 10 cat; echo cat:$?",
      "hello\nno newline")
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.matches("got:hello\r\n", out, 1, true)
    assert.matches("no newline", out, 1, true)
    assert.matches("cat:0\r\n$", out)
    assert.is_true(nsl.time() - t0 < 5)
  end)

  it("returns the command's exit status, and its death by a signal", function()
    assert.are.same({ nil, "exit", 3 }, { select(2, run("exit 3")) })
    assert.are.same({ nil, "signal", 9 }, { select(2, run("kill -KILL $$")) })
  end)

  it("ends with the command, though stdin stays open and a background process holds the terminal", function()
    local before = #nsl.fds()
    local master, slave = assert(nsl.openpty())
    -- the background process ignores the hangup that ends the session
    -- (ignored before it starts: the leader may exit first)
    local pid = spawn(master, slave, "trap '' HUP; sleep 30 & echo bg:$!; echo done")
    local in_r, in_w = assert(nsl.pipe())
    local out_r, out_w = assert(nsl.pipe())
    local t0 = nsl.time()
    local ok, how, n = nsl.pty_relay(master, pid, { stdin = in_r, stdout = out_w })
    local took = nsl.time() - t0
    for _, fd in ipairs({ in_r, in_w, out_w, master }) do nsl.close(fd) end
    local out = drain(out_r)
    nsl.close(out_r)
    local bg = math.tointeger(tonumber(out:match("bg:(%d+)")))
    local bg_alive = bg and nsl.kill(bg, "KILL")
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.matches("done\r\n", out, 1, true)
    assert.is_true(bg_alive) -- it held the terminal all along
    assert.is_true(took < 2, ("the relay took %.2f s"):format(took))
    assert.are.equal(before, #nsl.fds())
  end)

  it("does not deadlock on a command that writes much and reads nothing while much input waits", function()
    -- The relay runs in a child watched for 20 s: a relay that blocked on
    -- writing input while the command blocked on writing output would
    -- hang for good.
    local out_r, out_w = assert(nsl.pipe())
    local relay = assert(nsl.clone(nil, function()
      nsl.close(out_r)
      local master, slave = assert(nsl.openpty())
      local pid = spawn(master, slave, "stty -echo; seq 1 100000; wc -c", ENV)
      local in_r, in_w = assert(nsl.pipe())
      local feeder = assert(nsl.clone(nil, function()
        nsl.close(in_r)
        local line = ("y"):rep(99) .. "\n"
        for _ = 1, 1000 do assert(nsl.write(in_w, line)) end
        return 0
      end))
      nsl.close(in_w)
      local ok, how, n = nsl.pty_relay(master, pid, { stdin = in_r, stdout = out_w })
      nsl.wait(feeder)
      return ok and how == "exit" and n == 0
    end))
    nsl.close(out_w)
    local watch = assert(nsl.pidfd(relay))
    local out, deadline = {}, nsl.time() + 20
    repeat
      local ready = nsl.poll({ out_r }, math.max(deadline - nsl.time(), 0))
      local data = #ready > 0 and assert(nsl.read(out_r, 65536)) or ""
      out[#out + 1] = data
    until data == "" or nsl.time() > deadline
    local hung = #nsl.poll({ watch }, math.max(deadline - nsl.time(), 1)) == 0
    if hung then nsl.kill(relay, "KILL") end
    local res = { nsl.wait(relay) }
    nsl.close(watch)
    nsl.close(out_r)
    assert.is_false(hung, "the relay hung")
    assert.are.same({ true, "exit", 0 }, res)
    -- all of seq's output, then wc's count of all the input
    assert.matches("\r\n100000\r\n100000\r\n$", table.concat(out))
  end)

  it("puts a terminal stdin in raw mode, restores it, and passes its window size changes on", function()
    local before = #nsl.fds()
    -- the caller's terminal: a pseudo-terminal made here, 10 x 40
    local outer_m, outer_s = assert(nsl.openpty({ rows = 10, cols = 40 }))
    local outer = path_of(outer_s)
    local settings = settings_of(outer)
    -- the command's terminal starts smaller; it takes the caller's size
    -- when the relay starts
    local master, slave = assert(nsl.openpty({ rows = 5, cols = 20 }))
    -- Typed ahead on the caller's terminal: the command reads it once
    -- the relay runs. Then it looks at the caller's terminal (raw?),
    -- resizes it and signals the relay, and waits up to 3 s for its own
    -- terminal to follow.
    assert(nsl.write(outer_m, "go\r"))
    local script = [[
      read go
      stty size
      stty -a -F "$OUTER" | grep -o -- '-icanon'
      stty -F "$OUTER" rows 30 cols 100
      kill -WINCH "$RELAY"
      i=0
      while [ "$(stty size)" != "30 100" ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done
      stty size
    ]]
    local env = { PATH = ENV.PATH, OUTER = outer, RELAY = tostring(nsl.getpid()) }
    local pid = spawn(master, slave, script, env)
    local out_r, out_w = assert(nsl.pipe())
    local flags = fdinfo_flags(master)
    local ok, how, n = nsl.pty_relay(master, pid, { stdin = outer_s, stdout = out_w })
    nsl.close(out_w)
    local out = drain(out_r)
    local flags_after = fdinfo_flags(master)
    local settings_after = settings_of(outer)
    for _, fd in ipairs({ out_r, master, outer_m, outer_s }) do nsl.close(fd) end
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.matches("\r\n10 40\r\n%-icanon\r\n30 100\r\n$", out)
    assert.are.equal(settings, settings_after)
    assert.are.equal(flags, flags_after)
    assert.are.equal(0, flags & O_NONBLOCK)
    assert.are.equal(before, #nsl.fds())
  end)

  it("sends a TERM that would end the caller to the command, and still restores the terminal", function()
    local ok, how, n, restored, took = T.inside(nil, function()
      local outer_m, outer_s = assert(nsl.openpty())
      local outer = path_of(outer_s)
      local settings = settings_of(outer)
      local master, slave = assert(nsl.openpty())
      local pid = spawn(master, slave, 'kill -TERM "$RELAY"; exec sleep 10',
        { PATH = ENV.PATH, RELAY = tostring(nsl.getpid()) })
      local out_r, out_w = assert(nsl.pipe())
      local t0 = nsl.time()
      local a, b, c = nsl.pty_relay(master, pid, { stdin = outer_s, stdout = out_w })
      local t = nsl.time() - t0
      local same = settings_of(outer) == settings
      for _, fd in ipairs({ out_r, out_w, master, outer_m, outer_s }) do nsl.close(fd) end
      return a, b, c, same, t
    end)
    assert.are.same({ nil, "signal", 15 }, { ok, how, n })
    assert.is_true(restored)
    assert.is_true(took < 5)
  end)

  it("lets a TERM that comes after the command ended end the caller, once the terminal is restored", function()
    local outer_m, outer_s = assert(nsl.openpty())
    local outer = path_of(outer_s)
    local settings = settings_of(outer)
    local out_r, out_w = assert(nsl.pipe())
    -- the command ends at once; a background process that ignores the
    -- hangup keeps the relay draining its output (at most 1 s)
    local relay = assert(nsl.clone(nil, function()
      nsl.close(out_r)
      local master, slave = assert(nsl.openpty())
      local pid = spawn(master, slave,
        [[trap '' HUP; (i=0; while [ $i -lt 150 ]; do echo x; sleep 0.02; i=$((i+1)); done) & echo bg:$!]], ENV)
      nsl.pty_relay(master, pid, { stdin = outer_s, stdout = out_w })
      return 0
    end))
    nsl.close(out_w)
    local seen = ""
    while not seen:match("bg:%d+") do
      local data = assert(nsl.read(out_r))
      if data == "" then break end
      seen = seen .. data
    end
    nsl.sleep(0.2)
    nsl.kill(relay, "TERM")
    local res = { nsl.wait(relay) }
    local bg = math.tointeger(tonumber(seen:match("bg:(%d+)")))
    local bg_alive = bg and nsl.kill(bg, "KILL")
    local settings_after = settings_of(outer)
    for _, fd in ipairs({ out_r, outer_m, outer_s }) do nsl.close(fd) end
    assert.is_true(bg_alive)
    assert.are.same({ nil, "signal", 15 }, res)
    assert.are.equal(settings, settings_after)
  end)

  it("ends a command whose output nobody reads with SIGPIPE, and lives on", function()
    local ok, how, n = T.inside(nil, function()
      local master, slave = assert(nsl.openpty())
      local pid = spawn(master, slave, "exec yes")
      local out_r, out_w = assert(nsl.pipe())
      local in_r, in_w = assert(nsl.pipe())
      nsl.close(out_r)
      local a, b, c = nsl.pty_relay(master, pid, { stdin = in_r, stdout = out_w })
      for _, fd in ipairs({ out_w, in_r, in_w, master }) do nsl.close(fd) end
      return a, b, c
    end)
    assert.are.same({ nil, "signal", 13 }, { ok, how, n })
  end)

  it("works for an unprivileged user", function()
    local out, err, ok = T.rootless([[
      local m, s = assert(nsl.openpty({ rows = 9, cols = 21 }))
      local pid = assert(nsl.clone(nil, function()
        assert(nsl.setsid())
        assert(nsl.setctty(s))
        nsl.exec({ "/bin/sh", "-c", "tty; id -u; stty size" })
        return 127
      end))
      nsl.close(s)
      local in_r, in_w = assert(nsl.pipe())
      nsl.close(in_w)
      local out_r, out_w = assert(nsl.pipe())
      print(nsl.pty_relay(m, pid, { stdin = in_r, stdout = out_w }))
      nsl.close(out_w)
      io.write(assert(nsl.read(out_r, 65536)))
    ]])
    assert.is_true(ok, err)
    assert.matches("^true\texit\t0\n/dev/pts/%d+\r\n" .. T.uid .. "\r\n9 21\r$", out) -- (T.sh drops the last \n)
  end)

  it("fails before changing anything when master is no pseudo-terminal master or pid no child", function()
    local before = #nsl.fds()
    local outer_m, outer_s = assert(nsl.openpty())
    local settings = settings_of(path_of(outer_s))
    local master, slave = assert(nsl.openpty())
    local r, w = assert(nsl.pipe())
    local res = { nsl.pty_relay(master, 1, { stdin = outer_s, stdout = w }) }
    assert.are.same({ nil, "pty_relay: wait 1: No child processes", 10 }, res)
    res = { nsl.pty_relay(slave, 1, { stdin = outer_s, stdout = w }) }
    assert.are.same({ nil, ("pty_relay: %d is not a pseudo-terminal master: Inappropriate ioctl for device"):format(slave), 25 }, res)
    res = { nsl.pty_relay(r, 1) }
    assert.are.equal(("pty_relay: %d is not a pseudo-terminal master: Inappropriate ioctl for device"):format(r), res[2])
    nsl.close(r)
    res = { nsl.pty_relay(master, 1, { stdin = r, stdout = w }) }
    assert.are.same({ nil, ("pty_relay: stdin %d: Bad file descriptor"):format(r), 9 }, res)
    assert.are.equal(settings, settings_of(path_of(outer_s)))
    assert.are.equal(0, fdinfo_flags(master) & O_NONBLOCK)
    for _, fd in ipairs({ w, master, slave, outer_m, outer_s }) do nsl.close(fd) end
    assert.are.equal(before, #nsl.fds())
  end)

  it("raises on bad arguments", function()
    local cases = {
      { function() return nsl.pty_relay("m", 1) end, "bad argument #1 to 'pty_relay' (integer expected, got string)" },
      { function() return nsl.pty_relay(3) end, "bad argument #2 to 'pty_relay' (integer expected, got no value)" },
      { function() return nsl.pty_relay(3, 0) end, "bad argument #2 to 'pty_relay' (pid out of range (1 to 2147483647))" },
      { function() return nsl.pty_relay(3, 1, 0) end, "bad argument #3 to 'pty_relay' (table expected, got number)" },
      { function() return nsl.pty_relay(3, 1, { stdn = 0 }) end, "pty_relay options: unknown field 'stdn' (expected stdin, stdout)" },
      { function() return nsl.pty_relay(3, 1, { stdin = "0" }) end, "pty_relay options: stdin must be an integer from 0 to 2147483647 (got string)" },
      { function() return nsl.pty_relay(3, 1, { stdout = -1 }) end, "pty_relay options: stdout must be an integer from 0 to 2147483647 (got -1)" },
      { function() return nsl.pty_relay(3, 1, {}, 4) end, "bad argument #4 to 'pty_relay' (too many arguments (expected at most 3, got 4))" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.matches(case[2], plain(err), 1, true)
    end
  end)
end)
