-- Rootless behaviour of the primitives: scripts run by `nsl run` as the
-- unprivileged uid T.uid (setpriv, no passwd entry needed). What they
-- print is checked. A rootless container's limits are
-- spec/container/rootless_spec.lua's.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

local function lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

describe("as an unprivileged user", function()
  setup(function()
    assert(T.bin_reachable(), "uid " .. T.uid .. " cannot run " .. T.bin)
  end)

  it("runs with its own ids and no capabilities", function()
    local out, err, ok = T.rootless([[
      print(nsl.getuid(), nsl.getgid(), nsl.geteuid(), #nsl.caps.get(), #nsl.caps.get("permitted"))
    ]])
    assert.are.equal("", err)
    assert.is_true(ok)
    assert.are.equal(("%d\t%d\t%d\t0\t0"):format(T.uid, T.gid, T.uid), out)
  end)

  it("becomes root in a user namespace that maps its own ids", function()
    local out, err, ok = T.rootless([[
      local pid = assert(nsl.clone({"user"}, function()
        print("inside", nsl.getuid(), nsl.getgid(), #nsl.caps.get() > 0,
              (io.open("/proc/self/uid_map"):read("l"):gsub("%s+", " ")))
      end, {uid_map = {{0, nsl.getuid(), 1}}, gid_map = {{0, nsl.getgid(), 1}}}))
      print("wait", nsl.wait(pid))
      print("outside", nsl.getuid(), #nsl.caps.get())
    ]])
    assert.are.equal("", err)
    assert.is_true(ok)
    assert.same({ "inside\t0\t0\ttrue\t 0 1002 1", "wait\ttrue\texit\t0", "outside\t1002\t0" }, lines(out))
  end)

  it("writes its own map after unshare('user')", function()
    local out, err = T.rootless([[
      assert(nsl.unshare("user"))
      local before = nsl.getuid()
      assert(nsl.idmap("self", "uid", {{0, 1002, 1}}))
      assert(nsl.setgroups("self", "deny"))
      assert(nsl.idmap("self", "gid", {{0, 1002, 1}}))
      print(before, nsl.getuid(), nsl.getgid())
    ]])
    assert.are.equal("", err)
    assert.are.equal("65534\t0\t0", out)
  end)

  it("sets a hostname in its own uts namespace; the host's is unchanged", function()
    local out, err = T.rootless([[
      local pid = assert(nsl.clone({"user", "uts"}, function()
        assert(nsl.sethostname("rootless-box"))
        print(nsl.gethostname())
      end, {uid_map = {{0, 1002, 1}}}))
      nsl.wait(pid)
      print(nsl.gethostname())
    ]])
    assert.are.equal("", err)
    assert.same({ "rootless-box", nsl.gethostname() }, lines(out))
    assert.are.equal(nsl.gethostname(), T.sh("hostname"))
  end)

  it("mounts a tmpfs in its own mount namespace, invisible outside", function()
    local dir = H.tmpdir()
    os.execute("chmod 777 " .. dir)
    local out, err = T.rootless(([[
      local dir = %q
      local function mounted()
        return io.open("/proc/self/mountinfo"):read("a"):find(" " .. dir .. " ", 1, true) ~= nil
      end
      local pid = assert(nsl.clone({"user", "mnt"}, function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
        local f = assert(io.open(dir .. "/inside", "w")); f:close()
        print("inside", mounted())
      end, {uid_map = {{0, 1002, 1}}, gid_map = {{0, 1002, 1}}}))
      nsl.wait(pid)
      print("outside", mounted(), io.open(dir .. "/inside") ~= nil)
    ]]):format(dir))
    local host_sees = H.mounts()[dir]
    H.rmtree(dir)
    assert.are.equal("", err)
    assert.same({ "inside\ttrue", "outside\tfalse\tfalse" }, lines(out))
    assert.is_nil(host_sees)
  end)

  it("is PID 1 of its own pid namespace", function()
    local out = T.rootless([[
      local pid = assert(nsl.clone({"user", "pid"}, function() print(nsl.getpid()) end,
        {uid_map = {{0, 1002, 1}}}))
      nsl.wait(pid)
    ]])
    assert.are.equal("1", out)
  end)

  it("gets nil, message, errno when mapping ids it does not own", function()
    local out, err = T.rootless([[
      print(nsl.clone({"user"}, function() end, {uid_map = {{0, 0, 1}}}))
      print(nsl.clone({"user"}, function() end, {uid_map = {{0, 1002, 2}}}))
    ]])
    assert.are.equal("", err)
    local l = lines(out)
    assert.matches("^nil\twrite /proc/%d+/uid_map: Operation not permitted\t1$", l[1])
    assert.matches("^nil\twrite /proc/%d+/uid_map: Operation not permitted\t1$", l[2])
  end)

  it("gets nil, message, errno for what needs privileges outside a user namespace", function()
    local out, err = T.rootless([[
      print(nsl.clone({"uts"}, function() end))
      print(nsl.clone("net,ipc", function() end))
      print(nsl.sethostname("rootless"))
      print(nsl.setdomainname("rootless"))
      print(nsl.unshare("net"))
      print(nsl.mount("tmpfs", "/tmp", "tmpfs"))
      print(nsl.umount("/proc"))
      print(nsl.pivot_root("/tmp", "/tmp"))
      print(nsl.caps.keep({}))
    ]])
    assert.are.equal("", err)
    assert.same({
      "nil\tclone (uts): Operation not permitted\t1",
      "nil\tclone (ipc,net): Operation not permitted\t1",
      "nil\tsethostname rootless: Operation not permitted\t1",
      "nil\tsetdomainname rootless: Operation not permitted\t1",
      "nil\tunshare: Operation not permitted\t1",
      "nil\tmount /tmp: Operation not permitted\t1",
      "nil\tumount /proc: Operation not permitted\t1",
      "nil\tpivot_root /tmp: Operation not permitted\t1",
      "nil\tcaps.keep: drop CAP_CHOWN from the bounding set: Operation not permitted\t1",
    }, lines(out))
    assert.are.equal(nsl.gethostname(), T.sh("hostname"))
  end)

  it("cannot signal or join a process of root", function()
    local pid = H.sleeper({ "net" })
    local out, err = T.rootless([[
      local pid = math.tointeger(tonumber(arg[1]))
      print(nsl.kill(pid, "KILL"))
      print(nsl.setns(pid, "net"))
    ]], tostring(pid))
    local alive = H.alive(pid)
    H.stop(pid)
    assert.are.equal("", err)
    assert.is_true(alive)
    assert.same({
      ("nil\tkill %d: Operation not permitted\t1"):format(pid),
      -- /proc/<pid>/ns of another user's process cannot even be looked at
      ("nil\tsetns %d: net namespace: Permission denied\t13"):format(pid),
    }, lines(out))
  end)

  it("makes 'bind,ro' work on a mount whose flags the kernel locked", function()
    -- Root prepares a nosuid,nodev,noexec tmpfs in a private mount
    -- namespace; the unprivileged script's user namespace inherits it
    -- with those flags locked, so the remount must keep them.
    local dir = H.tmpdir()
    os.execute(("chmod 777 %s && mkdir -m 777 %s/src %s/dst"):format(dir, dir, dir))
    local script = T.script(([[
      local dir = %q
      local pid = assert(nsl.clone({"user", "mnt"}, function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        print(nsl.mount(dir .. "/src", dir .. "/dst", nil, "bind,ro"))
        for line in io.lines("/proc/self/mountinfo") do
          local t, o = line:match("^%%S+ %%S+ %%S+ %%S+ (%%S+) (%%S+)")
          if t == dir .. "/dst" then print(o) end
        end
      end, {uid_map = {{0, 1002, 1}}}))
      nsl.wait(pid)
    ]]):format(dir))
    local ok = T.child({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      assert(nsl.mount("tmpfs", dir .. "/src", "tmpfs", "nosuid,nodev,noexec", "size=1m,mode=0777"))
      nsl.exec({ "sh", "-c", ("setpriv --reuid=%d --regid=%d --clear-groups %s run %s > %s/out 2>&1")
        :format(T.uid, T.gid, T.quote(T.user_bin()), script, dir) })
    end)
    local out = H.read(dir .. "/out") or ""
    os.remove(script)
    H.rmtree(dir)
    assert.is_true(ok)
    local l = lines(out)
    assert.are.equal("true", l[1], out)
    local opts = "," .. (l[2] or "") .. ","
    for _, f in ipairs({ "ro", "nosuid", "nodev", "noexec" }) do
      assert.is_truthy(opts:find("," .. f .. ",", 1, true), f .. " missing: " .. out)
    end
  end)
end)
