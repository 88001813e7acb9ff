-- nsl.container(spec): every field, its default and its failure paths, as
-- root and rootless; and `nsl run` with a script that returns a container.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"
local container = require "nsl.container"

local root

setup(function() root = C.busybox_root() end)
teardown(function() C.remove(root) end)

local function sh(script, extra)
  local spec = { rootfs = root, command = { "sh", "-c", script } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return C.capture(spec)
end

-- Nothing of a container is left: no child process, no mount on the root.
local function assert_clean()
  assert.are.same({}, C.children())
  assert.are.same({}, C.mounts_under(root))
end

describe("nsl.container spec errors", function()
  local function rejects(spec, pattern)
    local ok, err = pcall(nsl.container, spec)
    assert.is_false(ok)
    assert.matches(pattern, err)
    assert_clean()
  end

  it("names an unknown field", function()
    rejects({ rootfs = "/tmp", comand = { "sh" } }, "unknown field 'comand'")
  end)

  it("names a field of the wrong type", function()
    rejects({ rootfs = root, hostname = 42 }, "hostname must be string %(got number%)")
    rejects({ rootfs = root, init = "yes" }, "init must be boolean")
    rejects({ rootfs = root, env = { A = {} } }, "env%.A must be a string")
    rejects({ rootfs = root, cwd = "relative" }, "cwd must be an absolute path")
    rejects({ rootfs = root, command = {} }, "command must have at least one string")
  end)

  it("requires rootfs and names a missing one", function()
    rejects({ command = { "sh" } }, "rootfs is missing")
    rejects({ rootfs = "/nonexistent-nsl-root" }, "rootfs: /nonexistent%-nsl%-root: No such file")
  end)

  it("names a command that is not in the root", function()
    rejects({ rootfs = root, command = { "nosuchprogram" } }, "command: nosuchprogram not found in the root")
    rejects({ rootfs = root, command = { "/bin/nosuch" } }, "command: /bin/nosuch not found")
  end)

  it("finds a command a bind mount brings in", function()
    local c = nsl.container { rootfs = root, command = { "/host/bin/busybox", "true" },
      mounts = { { bind = true, source = "/bin", target = "/host/bin", ro = true } } }
    assert.is_true((c:run()))
  end)

  it("checks namespaces, capabilities, rlimits, mounts, user and hardening", function()
    rejects({ rootfs = root, namespaces = { "uts" } }, "must include 'mnt'")
    rejects({ rootfs = root, namespaces = "mnt,bogus" }, "unknown namespace 'bogus'")
    rejects({ rootfs = root, capabilities = { "CAP_NOPE" } }, "capabilities: .*CAP_NOPE")
    rejects({ rootfs = root, rlimits = { files = 10 } }, "rlimits: unknown limit 'files'")
    rejects({ rootfs = root, rlimits = { nofile = -1 } }, "rlimits%.nofile must be")
    rejects({ rootfs = root, mounts = { { type = "tmpfs", target = "x" } } }, "mounts%[1%]%.target must be an absolute path")
    rejects({ rootfs = root, mounts = { { target = "/x" } } }, "mounts%[1%] needs a type")
    rejects({ rootfs = root, mounts = { { bind = true, source = "/nonexistent-src", target = "/x" } } },
      "mounts%[1%]%.source: .*No such file")
    rejects({ rootfs = root, mounts = { { type = "tmpfs", target = "/x", flags = "ro,bogus" } } },
      "unknown mount flag 'bogus'")
    rejects({ rootfs = root, user = { uid_map = { { 0, 1000 } } } }, "user%.uid_map%[1%] must be")
    rejects({ rootfs = root, hostname = "h", namespaces = { "mnt", "pid" } }, "hostname needs the 'uts' namespace")
    rejects({ rootfs = root, hardening = { seccomp = true } }, "hardening: unknown item 'seccomp'")
    rejects({ rootfs = root, hardening = { proc = "no" } }, "hardening%.proc must be boolean")
    rejects({ rootfs = root, net = "host", namespaces = "mnt,net" }, "net: \"host\"")
  end)

  it("rejects bad limits and detach settings, naming the field", function()
    rejects({ rootfs = root, limits = { memory = "lots" } }, "limits%.memory must be")
    rejects({ rootfs = root, limits = { pids = 0 } }, "limits%.pids must be")
    rejects({ rootfs = root, limits = { disk = 1 } }, "limits: unknown field")
    rejects({ rootfs = root, detach = "yes" }, "detach must be boolean or table")
    rejects({ rootfs = root, detach = { log_max = 10 } }, "detach%.log_max must be")
    rejects({ rootfs = root, detach = { size = 10 } }, "detach: unknown field 'size'")
  end)
end)

describe("nsl.container run", function()
  it("runs the command as PID 2 under its init, with its own hostname and only lo, up", function()
    local out, ok, how, n = sh("echo $$; cat /proc/1/comm; hostname; ip -o link | cut -d' ' -f2,3",
      { hostname = "box1" })
    assert.are.same({ true, "exit", 0 }, { ok, how, n })
    assert.are.equal("2\nnsl-init\nbox1\nlo: <LOOPBACK,UP,LOWER_UP>", out)
    assert.are_not.equal("box1", nsl.gethostname())
    assert_clean()
  end)

  it("uses the name as the default hostname", function()
    assert.are.equal("named-1", (sh("hostname", { name = "named-1" })))
  end)

  it("returns exit statuses and signals as os.execute does", function()
    assert.are.same({ "", nil, "exit", 3 }, { sh("exit 3") })
    local c = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    assert.is_true(c:kill("KILL"))
    assert.are.same({ nil, "signal", 9 }, { c:wait() })
    -- wait again: the same answer
    assert.are.same({ nil, "signal", 9 }, { c:wait() })
    assert_clean()
  end)

  it("sets a default environment, merges env and removes with false", function()
    local out = sh("echo $PATH; echo $HOME; echo ${HOSTNAME:-none}; echo $FOO; echo ${TERM:-unset}",
      { env = { FOO = "bar", HOME = false, TERM = "dumb" }, hostname = "h" })
    assert.are.equal("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\nh\nbar\ndumb", out)
  end)

  it("starts in cwd", function()
    assert.are.equal("/tmp", (sh("pwd", { cwd = "/tmp" })))
    assert.are.equal("/", (sh("pwd")))
  end)

  it("mounts a tmpfs and a read-only bind mount, creating their targets", function()
    local src = assert(nsl.mkdtemp("/tmp/nsl-spec-src-"))
    local f = assert(io.open(src .. "/hello", "w"))
    f:write("from the host\n")
    f:close()
    local out = sh("cat /data/hello; touch /data/x 2>/dev/null && echo writable; " ..
      "grep -c ' /scratch/deep tmpfs' /proc/mounts; touch /scratch/deep/y && echo tmpfs-writable", {
      mounts = {
        { type = "tmpfs", target = "/scratch/deep", data = "size=1m" },
        { bind = true, source = src, target = "/data", ro = true },
      } })
    assert.are.equal("from the host\n1\ntmpfs-writable", out)
    assert.is_nil(io.open(src .. "/x"))
    C.remove(src)
    assert_clean()
  end)

  it("sets rlimits", function()
    assert.are.equal("77", (sh("ulimit -n", { rlimits = { nofile = 77 } })))
    assert.are.equal("50", (sh("ulimit -n", { rlimits = { nofile = { 50, 60 } } })))
  end)

  it("keeps exactly the capabilities given", function()
    local out = sh("grep -E '^Cap(Eff|Bnd)' /proc/self/status", { capabilities = { "CAP_NET_BIND_SERVICE", "kill" } })
    assert.are.equal("CapEff:\t0000000000000420\nCapBnd:\t0000000000000420", out)
  end)

  it("runs a Lua function as the command, inside the finished container", function()
    local out, ok, how, n = C.capture { rootfs = root, hostname = "lua-inside", command = function()
      print(nsl.getpid(), nsl.gethostname(), io.open("/bin/busybox") ~= nil, nsl.caps.get()[1])
      return 5
    end }
    assert.are.same({ nil, "exit", 5 }, { ok, how, n })
    assert.are.equal("2\tlua-inside\ttrue\tCAP_CHOWN", out) -- under the init
  end)

  it("runs setup inside before hardening ends, on_start outside with the pid", function()
    local seen
    local out = sh("cat /setup-done; cat /proc/sys/kernel/domainname", {
      setup = function()
        local f = assert(io.open("/tmp/../setup-done", "w")) -- the container's /
        f:write(nsl.getpid(), "\n")
        f:close()
        -- /proc/sys is still writable here (read-only once hardening ends)
        local d = assert(io.open("/proc/sys/kernel/domainname", "w"))
        d:write("set-in-setup")
        d:close()
      end,
      on_start = function(c) seen = { c.pid, nsl.getpid() } end,
    })
    assert.are.equal("1\nset-in-setup", out)
    assert.is_number(seen[1])
    assert.are_not.equal(seen[1], seen[2])
    os.remove(root .. "/setup-done")
  end)

  it("makes the init PID 1 that reaps orphans and forwards signals", function()
    local out = sh("echo $$; (sleep 0 &) ; sleep 0.2; ps -o pid,stat,comm | grep -c ' Z ' ; true",
      { init = true })
    assert.are.equal("2\n0", out)
    local c = nsl.container { rootfs = root, init = true,
      command = { "sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done" } }
    assert(c:start())
    T.sh("sleep 0.2")
    assert(c:kill("TERM"))
    assert.are.same({ nil, "exit", 42 }, { c:wait() })
    assert_clean()
  end)

  it("runs a function as command under the init too, as PID 2", function()
    local r, w = assert(nsl.pipe())
    local c = nsl.container { rootfs = root, init = true, hardening = { close_fds = false },
      command = function()
        nsl.write(w, ("%d %d"):format(nsl.getpid(), nsl.getppid()))
        return 6
      end }
    assert(c:start())
    nsl.close(w)
    assert.are.same({ nil, "exit", 6 }, { c:wait() })
    assert.are.equal("2 1", nsl.read(r))
    nsl.close(r)
    assert_clean()
  end)

  it("forwards TERM sent to the nsl process to the container", function()
    local c = nsl.container { rootfs = root, init = true,
      command = { "sh", "-c", "trap 'exit 43' TERM; while true; do sleep 0.05; done" } }
    assert(c:start())
    T.sh("sleep 0.2; kill -TERM " .. nsl.getpid())
    assert.are.same({ nil, "exit", 43 }, { c:wait() })
  end)

  it("exec runs a command inside the running container", function()
    local c <close> = nsl.container { rootfs = root, hostname = "ex", command = { "sleep", "30" } }
    assert(c:start())
    local r, w = assert(nsl.pipe())
    io.stdout:flush()
    local saved = assert(nsl.dup2(1, 198))
    assert(nsl.dup2(w, 1))
    local ok, how, n = c:exec({ "sh", "-c", "hostname; cat /proc/1/cmdline /proc/2/cmdline | tr '\\0' ' '; exit 6" })
    assert(nsl.dup2(saved, 1))
    nsl.close(saved)
    nsl.close(w)
    local out = assert(nsl.read(r, 4096))
    nsl.close(r)
    assert.are.same({ nil, "exit", 6 }, { ok, how, n })
    assert.matches("^ex\nnsl%-init %-s %d+ %-d %-f %d+ %-%- sleep 30 sleep 30 $", out)
    assert.are.equal(nsl.nsid(c.pid, "uts"), c:nsid("uts"))
    assert.are_not.equal(nsl.nsid("self", "uts"), c:nsid("uts"))
  end)

  it("refuses to start twice and reports a stopped container", function()
    local c = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    local ok, err = c:start()
    assert.is_nil(ok)
    assert.matches("already running", err)
    c:destroy()
    assert.matches("not running", select(2, c:kill()))
    assert.matches("destroyed", select(2, c:start()))
    assert_clean()
  end)

  it("tears down at the end of a to-be-closed scope, error or not", function()
    local pid
    pcall(function()
      local c <close> = nsl.container { rootfs = root, command = { "sleep", "30" } }
      assert(c:start())
      pid = c.pid
      error("boom")
    end)
    assert.is_nil(io.open("/proc/" .. pid .. "/stat"))
    assert_clean()
  end)

  it("is not torn down by the finalizers of a cloned child", function()
    local c = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    local pid = assert(nsl.clone({}, function()
      c = nil
      collectgarbage()
      collectgarbage()
      return 0
    end))
    nsl.wait(pid)
    assert.is_not_nil(io.open("/proc/" .. c.pid .. "/stat"))
    c:destroy()
  end)

  it("remove refuses a running container without force, naming it by pid", function()
    local c = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    local pid = c.pid
    local ok, err = c:remove()
    assert.is_nil(ok)
    assert.are.equal(("remove: the container (pid %d) is running (stop it first, or force)"):format(pid), err)
    assert.is_not_nil(io.open("/proc/" .. pid .. "/stat"))
    assert(c:remove(true))
    assert.are.equal("destroyed", c.state)
    assert_clean()
  end)

  it("wait_any returns the container that ends first", function()
    local name = "cs-slow-" .. nsl.getpid()
    local slow = nsl.container { name = name, rootfs = root, command = { "sleep", "30" } }
    local fast = nsl.container { rootfs = root, command = { "sh", "-c", "exit 9" } }
    assert(slow:start())
    assert(fast:start())
    local c, ok, how, n = nsl.wait_any({ slow, fast })
    assert.are.equal(fast, c)
    assert.are.same({ nil, "exit", 9 }, { ok, how, n })
    local names = {}
    for _, x in ipairs(nsl.list()) do
      if x.name:find("^cs%-") then names[#names + 1] = x.name end
    end
    assert.are.same({ name }, names)
    assert.are.equal(slow, nsl.lookup(name))
    slow:destroy()
    assert.is_nil(nsl.lookup(name))
    assert_clean()
  end)
end)

describe("nsl.container failures during start", function()
  it("names a failing mount, undoes everything and can start again", function()
    local c = nsl.container { rootfs = root, command = { "true" },
      mounts = { { type = "nosuchfs", target = "/x" } } }
    local ok, err = c:start()
    assert.is_nil(ok)
    assert.matches("^mount /x: .*No such device", err)
    assert_clean()
  end)

  it("names a failing setup hook", function()
    local ok, err = nsl.container { rootfs = root, setup = function() error("no way", 0) end }:start()
    assert.is_nil(ok)
    assert.are.equal("setup: no way", err)
    assert_clean()
  end)

  it("names a failing on_start and kills the container", function()
    local ok, err = nsl.container { rootfs = root, command = { "sleep", "30" },
      on_start = function() error("refused", 0) end }:start()
    assert.is_nil(ok)
    assert.are.equal("on_start: refused", err)
    assert_clean()
  end)

  it("reports an exec failure from inside", function()
    local dir = C.busybox_root()
    local c = nsl.container { rootfs = dir, command = { "/bin/true" } }
    os.remove(dir .. "/bin/true") -- gone after the spec was checked
    local ok, err = c:start()
    assert.is_nil(ok)
    assert.matches("^exec /bin/true: No such file", err)
    C.remove(dir)
  end)

  it("names the rlimit the kernel refuses", function()
    local ok, err = nsl.container { rootfs = root, rlimits = { nofile = { 10, 1 << 40 } } }:start()
    assert.is_nil(ok)
    assert.matches("^rlimit nofile: ", err)
  end)

  it("explains how to allow unprivileged user namespaces", function()
    local fake = assert(nsl.mkdtemp("/tmp/nsl-spec-proc-"))
    os.execute("mkdir -p " .. fake .. "/sys/kernel " .. fake .. "/sys/user")
    local function put(p, v)
      local f = assert(io.open(fake .. p, "w"))
      f:write(v, "\n")
      f:close()
    end
    put("/sys/kernel/unprivileged_userns_clone", "0")
    assert.matches("sysctl %-w kernel%.unprivileged_userns_clone=1", container.userns_hint(fake))
    put("/sys/kernel/unprivileged_userns_clone", "1")
    put("/sys/kernel/apparmor_restrict_unprivileged_userns", "1")
    assert.matches("AppArmor", container.userns_hint(fake))
    put("/sys/kernel/apparmor_restrict_unprivileged_userns", "0")
    assert.is_nil(container.userns_hint(fake))
    C.remove(fake)
  end)
end)

describe("nsl.container and the script's life", function()
  it("dies with the script, even when the script is killed with SIGKILL", function()
    local pidfile = os.tmpname()
    local script = T.script(([[
      local c = nsl.container { rootfs = %q, command = {"sleep", "60"} }
      assert(c:start())
      local f = io.open(%q, "w") f:write(c.pid) f:close()
      nsl.kill(nsl.getpid(), "KILL")
    ]]):format(root, pidfile))
    T.sh("{ " .. T.quote(T.bin) .. " run " .. script .. "; } 2>/dev/null")
    local f = io.open(pidfile)
    local pid = f:read("a")
    f:close()
    os.remove(pidfile)
    os.remove(script)
    assert.matches("^%d+$", pid)
    T.sh("sleep 0.1")
    local stat = io.open("/proc/" .. pid .. "/stat")
    local state = stat and stat:read("a"):match("^%d+ %b() (%a)")
    if stat then stat:close() end
    assert.is_true(state == nil or state == "Z")
    assert.are.same({}, C.mounts_under(root))
  end)

  it("nsl run runs a returned spec and exits with its status", function()
    local script = T.script(("return { rootfs = %q, command = {'sh', '-c', 'echo out; exit 12'} }"):format(root))
    local out, _, how, n = T.sh(T.quote(T.bin) .. " run " .. script)
    assert.are.same({ "out", "exit", 12 }, { out, how, n })
    os.remove(script)
  end)

  it("nsl run exits with 128 + signal for a killed container", function()
    local script = T.script(([[
      local c = nsl.container { rootfs = %q, command = {"sleep", "30"} }
      assert(c:start())
      os.execute("(sleep 0.2; kill -KILL " .. c.pid .. ") &")
      return c
    ]]):format(root))
    local _, _, how, n = T.sh(T.quote(T.bin) .. " run " .. script)
    assert.are.same({ "exit", 137 }, { how, n })
    os.remove(script)
  end)

  it("nsl run reports a container that cannot start with status 1", function()
    local script = T.script(("return { rootfs = %q, mounts = {{type = 'nosuchfs', target = '/x'}} }"):format(root))
    local _, _, how, n = T.sh(T.quote(T.bin) .. " run " .. script .. " 2>/dev/null")
    assert.are.same({ "exit", 1 }, { how, n })
    os.remove(script)
  end)
end)

describe("nsl.container rootless", function()
  local reachable = T.bin_reachable()
  -- a root the unprivileged user can reach (root's own is closed to it)
  local root
  setup(function()
    root = C.busybox_root { shared = true }
    assert(nsl.mkdir(root .. "/scratch", 493)) -- a mount target its user could not make
  end)
  teardown(function() C.remove(root) end)

  it("maps the caller to root inside, with hostname, mounts and loopback", function()
    if not reachable then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local out, err, ok = T.rootless(([[
      local c = nsl.container { rootfs = %q, hostname = "rl",
        mounts = {{type = "tmpfs", target = "/scratch"}},
        command = {"sh", "-c", "id -u; echo $$; hostname; touch /scratch/x && echo ok; ip -o link | cut -d' ' -f2,3; grep CapBnd /proc/self/status; ls /dev | tr '\n' ' '"} }
      return c
    ]]):format(root))
    assert.are.equal("", err)
    assert.is_true(ok)
    assert.are.equal("0\n2\nrl\nok\nlo: <LOOPBACK,UP,LOWER_UP>\nCapBnd:\t00000000a80425fb\n" ..
      "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ", out)
  end)

  it("runs exec, init and a Lua function command", function()
    if not reachable then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local out, err = T.rootless(([[
      local c = nsl.container { rootfs = %q, init = true, command = {"sleep", "30"} }
      assert(c:start())
      print(c:exec({"sh", "-c", "exit 3"}))
      c:destroy()
      print(nsl.container { rootfs = %q, command = function() return nsl.getuid() + 7 end }:run())
    ]]):format(root, root))
    assert.are.equal("", err)
    assert.are.equal("nil\texit\t3\nnil\texit\t7", out)
  end)
end)
