-- Namespaces: clone, unshare, setns, nsid, idmap, setgroups. Every
-- namespace is made in a child; the host's own are only looked at.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

local ALL = { "mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time" }

-- The inode of /proc/<pid>/ns/<ns> as stat(1) on the host shows it.
local function stat_ino(pid, ns)
  local out, ok = T.sh(("stat -L -c %%i /proc/%s/ns/%s"):format(pid, ns))
  assert(ok, "stat failed")
  return math.tointeger(tonumber(out))
end

describe("nsl.clone", function()
  for _, ns in ipairs(ALL) do
    it("puts the child in a new " .. ns .. " namespace, seen inside and from the host", function()
      local host = nsl.nsid("self", ns)
      local inside = T.inside({ ns }, function() return nsl.nsid("self", ns) end)
      assert.is_number(inside)
      assert.are_not.equal(host, inside)

      local pid = H.sleeper({ ns })
      local theirs = nsl.nsid(pid, ns)
      local other = ns == "uts" and "ipc" or "uts"
      local other_theirs = nsl.nsid(pid, other)
      H.stop(pid)
      assert.are_not.equal(host, theirs)
      -- only the namespace asked for is new
      assert.are.equal(nsl.nsid("self", other), other_theirs)
      -- the host's own is still the one it had
      assert.are.equal(host, nsl.nsid("self", ns))
    end)
  end

  it("reports the same namespace id as stat on /proc/<pid>/ns", function()
    local pid = H.sleeper({ "net", "uts" })
    local mine_net, mine_uts = nsl.nsid(pid, "net"), nsl.nsid(pid, "uts")
    local stat_net, stat_uts = stat_ino(pid, "net"), stat_ino(pid, "uts")
    H.stop(pid)
    assert.are.equal(stat_net, mine_net)
    assert.are.equal(stat_uts, mine_uts)
  end)

  it("accepts 'mount' for 'mnt' and a string of names for a list", function()
    local a, b = T.inside("mount", function()
      return nsl.nsid("self", "mnt"), nsl.nsid("self", "mount")
    end)
    assert.are.equal(a, b)
    assert.are_not.equal(nsl.nsid("self", "mnt"), a)
    local uts, ipc, net = T.inside("uts, ipc", function()
      return nsl.nsid("self", "uts"), nsl.nsid("self", "ipc"), nsl.nsid("self", "net")
    end)
    assert.are_not.equal(nsl.nsid("self", "uts"), uts)
    assert.are_not.equal(nsl.nsid("self", "ipc"), ipc)
    assert.are.equal(nsl.nsid("self", "net"), net)
  end)

  it("without namespaces forks a child that shares all of the caller's", function()
    local ids = { T.inside(nil, function()
      local r = {}
      for i, ns in ipairs(ALL) do r[i] = nsl.nsid("self", ns) end
      return table.unpack(r)
    end) }
    for i, ns in ipairs(ALL) do
      assert.are.equal(nsl.nsid("self", ns), ids[i], ns)
    end
  end)

  it("returns the child's pid, which is 1 inside a new pid namespace", function()
    local path = os.tmpname()
    local pid = assert(nsl.clone(nil, function()
      local f = assert(io.open(path, "w")); f:write(nsl.getpid()); f:close()
    end))
    assert.is_true((nsl.wait(pid)))
    assert.are.equal(tostring(pid), H.read(path))
    os.remove(path)
    local inside, parent = T.inside({ "pid" }, function() return nsl.getpid(), nsl.getppid() end)
    assert.are.equal(1, inside)
    assert.are.equal(0, parent)
  end)

  it("passes opts.args to the function, nils included when args.n is set", function()
    local a, b, c, d = T.inside(nil, function(...)
      return select("#", ...), ...
    end, { args = table.pack(1, nil, "three") })
    assert.are.equal(3, a)
    assert.are.equal(1, b)
    assert.is_nil(c)
    assert.are.equal("three", d)
    local n, x, y = T.inside(nil, function(...) return select("#", ...), ... end,
      { args = { "a", true } })
    assert.are.same({ 2, "a", true }, { n, x, y })
  end)

  it("turns the function's result into the child's exit status", function()
    assert.are.same({ true, "exit", 0 }, { T.child(nil, function() end) })
    assert.are.same({ true, "exit", 0 }, { T.child(nil, function() return true end) })
    assert.are.same({ nil, "exit", 1 }, { T.child(nil, function() return false end) })
    assert.are.same({ nil, "exit", 7 }, { T.child(nil, function() return 7 end) })
    assert.are.same({ nil, "exit", 1 }, { T.child(nil, function() return "text" end) })
  end)

  it("exits with status 1 and the message and traceback on stderr when the function raises", function()
    local script = T.script([[
      local pid = assert(nsl.clone(nil, function() error("raised in the child") end))
      print(nsl.wait(pid))
    ]])
    local out, ok = T.sh(T.quote(T.bin) .. " run " .. script .. " 2>&1")
    os.remove(script)
    assert.is_true(ok)
    assert.matches("raised in the child", out, 1, true)
    assert.matches("stack traceback:", out, 1, true)
    assert.matches("nil\texit\t1", out, 1, true)
  end)

  describe("with a user namespace", function()
    it("writes uid_map, setgroups deny and gid_map before the function runs", function()
      local uid, gid, umap, gmap, sg = T.inside({ "user" }, function()
        return nsl.getuid(), nsl.getgid(), H.read("/proc/self/uid_map"),
          H.read("/proc/self/gid_map"), H.read("/proc/self/setgroups")
      end, { uid_map = { { 0, 1002, 1 } }, gid_map = { { 0, 1003, 1 } } })
      assert.are.equal(0, uid)
      assert.are.equal(0, gid)
      assert.same({ "0", "1002", "1" }, { umap:match("(%d+)%s+(%d+)%s+(%d+)") })
      assert.same({ "0", "1003", "1" }, { gmap:match("(%d+)%s+(%d+)%s+(%d+)") })
      assert.are.equal("deny\n", sg)
    end)

    it("maps root inside to the unprivileged ids outside, as the host sees it", function()
      local pid = H.sleeper({ "user" }, { uid_map = { { 0, 1002, 1 } }, gid_map = { { 0, 1003, 1 } } })
      local status = H.read("/proc/" .. pid .. "/status")
      local umap = H.read("/proc/" .. pid .. "/uid_map")
      H.stop(pid)
      assert.matches("\nUid:%s+1002%s+1002%s+1002%s+1002\n", status)
      assert.matches("\nGid:%s+1003%s+1003%s+1003%s+1003\n", status)
      assert.same({ "0", "1002", "1" }, { umap:match("(%d+)%s+(%d+)%s+(%d+)") })
    end)

    it("writes maps of several entries and honours setgroups = 'allow'", function()
      local umap, sg = T.inside({ "user" }, function()
        return H.read("/proc/self/uid_map"), H.read("/proc/self/setgroups")
      end, { uid_map = { { 0, 100000, 1000 }, { 1000, 1002, 1 } },
             gid_map = { { 0, 100000, 1001 } }, setgroups = "allow" })
      local lines = {}
      for a, b, c in umap:gmatch("(%d+)%s+(%d+)%s+(%d+)") do lines[#lines + 1] = a .. " " .. b .. " " .. c end
      assert.same({ "0 100000 1000", "1000 1002 1" }, lines)
      assert.are.equal("allow\n", sg)
    end)

    it("runs as the caller's own id when the map covers it", function()
      local uid = T.inside({ "user" }, function() return nsl.getuid() end,
        { uid_map = { { 500, 0, 1 } } })
      assert.are.equal(500, uid)
    end)

    it("returns nil, message, errno and leaves no child when the kernel refuses a map", function()
      -- overlapping ranges inside: the kernel rejects the map
      local pid, msg, errno = nsl.clone({ "user" }, function() end,
        { uid_map = { { 0, 1002, 10 }, { 5, 2000, 1 } } })
      assert.is_nil(pid)
      assert.matches("^write /proc/%d+/uid_map: Invalid argument$", msg)
      assert.are.equal(22, errno)
      local child = msg:match("/proc/(%d+)/")
      assert.is_nil(H.read("/proc/" .. child .. "/stat"))
    end)
  end)

  describe("opts.pdeathsig", function()
    -- All in a new pid namespace whose init (the outer child) adopts the
    -- orphan and can wait for it, so nothing is left to the host's init.
    -- A middle process clones a sleeper, writes its pid and exits; the
    -- init then tells whether the sleeper was still alive and how it ended.
    local function orphan(opts)
      return T.inside({ "pid" }, function()
        local path = os.tmpname()
        local middle = assert(nsl.clone(nil, function()
          local pid = assert(nsl.clone(nil, function()
            nsl.exec({ "sleep", "60" })
          end, opts))
          local f = assert(io.open(path, "w")); f:write(pid); f:close()
          return 0
        end))
        assert(nsl.wait(middle))
        local f = assert(io.open(path)); local pid = math.tointeger(tonumber(f:read("a"))); f:close()
        os.remove(path)
        os.execute("sleep 0.3")
        local alive = nsl.kill(pid, 0) == true
        if alive then
          -- a zombie also answers kill 0: only wait tells
          nsl.kill(pid, "KILL")
        end
        local ok, how, n = nsl.wait(pid)
        return alive, how, n
      end)
    end

    it("kills the child when its parent dies", function()
      -- TERM, so that its end is told apart from the KILL the test sends
      -- to a survivor
      local _, how, n = orphan({ pdeathsig = "TERM" })
      assert.are.same({ "signal", 15 }, { how, n })
    end)

    it("is what kills it: without it the orphan lives on", function()
      local alive, how, n = orphan(nil)
      assert.is_true(alive)
      assert.are.same({ "signal", 9 }, { how, n }) -- killed by the test itself
    end)

    it("takes the signal as a number too", function()
      local _, how, n = orphan({ pdeathsig = 10 })
      assert.are.same({ "signal", 10 }, { how, n })
    end)

    it("lets the child run when its live parent is outside its pid namespace", function()
      -- After setns into another pid namespace, the parent's children are
      -- born there and see no parent pid (0): that is not a dead parent.
      local ok, how, n = T.child(nil, function()
        local r, w = assert(nsl.pipe())
        local holder = assert(nsl.clone({ "pid" }, function() nsl.close(w); nsl.read(r, 1) end))
        nsl.close(r)
        assert(nsl.setns(holder, "pid"))
        local pid = assert(nsl.clone(nil, function() return 7 end, { pdeathsig = "KILL" }))
        local _, chow, cn = nsl.wait(pid)
        nsl.close(w)
        nsl.wait(holder)
        return chow == "exit" and cn == 7
      end)
      assert.are.same({ true, "exit", 0 }, { ok, how, n })
    end)
  end)
end)

describe("nsl.unshare", function()
  it("moves the calling child into new namespaces; the host keeps its own", function()
    local before_uts, after_uts, after_ipc, after_net, ok = T.inside(nil, function()
      local b = nsl.nsid("self", "uts")
      local r = nsl.unshare({ "uts", "ipc" })
      return b, nsl.nsid("self", "uts"), nsl.nsid("self", "ipc"), nsl.nsid("self", "net"), r
    end)
    assert.is_true(ok)
    assert.are.equal(nsl.nsid("self", "uts"), before_uts)
    assert.are_not.equal(before_uts, after_uts)
    assert.are_not.equal(nsl.nsid("self", "ipc"), after_ipc)
    assert.are.equal(nsl.nsid("self", "net"), after_net)
  end)

  it("enters a user namespace whose own map the process writes itself", function()
    local before, uid, after, user = T.inside(nil, function()
      assert(nsl.unshare("user"))
      local b = nsl.getuid()
      assert(nsl.idmap("self", "uid", { { 0, 0, 1 } }))
      assert(nsl.setgroups("self", "deny"))
      assert(nsl.idmap("self", "gid", { { 0, 0, 1 } }))
      return b, nsl.getuid(), nsl.getgid(), nsl.nsid("self", "user")
    end)
    assert.are.equal(65534, before)
    assert.are.equal(0, uid)
    assert.are.equal(0, after)
    assert.are_not.equal(nsl.nsid("self", "user"), user)
  end)
end)

describe("nsl.newns", function()
  it("makes a namespace as a descriptor; the caller stays in its own", function()
    for _, ns in ipairs({ "net", "uts", "ipc" }) do
      local mine = nsl.nsid("self", ns)
      local fd = assert(nsl.newns(ns))
      local made = nsl.nsid("/proc/self/fd/" .. fd, ns)
      assert.are.equal(mine, nsl.nsid("self", ns), ns)
      assert.are_not.equal(mine, made, ns)
      nsl.close(fd)
    end
  end)

  it("holds a network that nsl.net builds in it and a child joins", function()
    local fd = assert(nsl.newns("net"))
    local at = { netns = "/proc/self/fd/" .. fd }
    assert(nsl.net.veth("a0", "b0", at))
    assert(nsl.net.addr_add("a0", "10.9.8.7/24", at))
    assert(nsl.net.up("a0", at))
    assert.is_nil(nsl.net.link("a0")) -- not here
    local links, joined = T.inside(nil, function()
      assert(nsl.setns("/proc/self/fd/" .. fd))
      local names = {}
      for _, l in ipairs(nsl.net.links()) do names[#names + 1] = l.name end
      table.sort(names)
      return table.concat(names, " "), nsl.nsid("self", "net")
    end)
    assert.are.equal("a0 b0 lo", links)
    assert.are.equal(nsl.nsid("/proc/self/fd/" .. fd, "net"), joined)
    nsl.close(fd) -- the namespace, and the veth pair in it, go with the last holder
  end)

  it("refuses other types and extra arguments", function()
    assert.has_error(function() nsl.newns("pid") end)
    assert.has_error(function() nsl.newns("net", 1) end)
  end)
end)

describe("nsl.setns", function()
  local target
  before_each(function() target = H.sleeper({ "uts", "ipc", "net" }) end)
  after_each(function() H.stop(target) end)

  it("joins every namespace of a pid", function()
    local ok, uts, ipc, net = T.inside(nil, function()
      local r = nsl.setns(target)
      return r, nsl.nsid("self", "uts"), nsl.nsid("self", "ipc"), nsl.nsid("self", "net")
    end)
    assert.is_true(ok)
    assert.are.equal(nsl.nsid(target, "uts"), uts)
    assert.are.equal(nsl.nsid(target, "ipc"), ipc)
    assert.are.equal(nsl.nsid(target, "net"), net)
    assert.are_not.equal(nsl.nsid("self", "uts"), uts)
  end)

  it("joins only the listed namespaces of a pid", function()
    local uts, ipc, net = T.inside(nil, function()
      assert(nsl.setns(target, { "uts", "net" }))
      return nsl.nsid("self", "uts"), nsl.nsid("self", "ipc"), nsl.nsid("self", "net")
    end)
    assert.are.equal(nsl.nsid(target, "uts"), uts)
    assert.are.equal(nsl.nsid(target, "net"), net)
    assert.are.equal(nsl.nsid("self", "ipc"), ipc)
  end)

  it("joins the namespace behind a path, with or without its type", function()
    local path = ("/proc/%d/ns/net"):format(target)
    local a, b = T.inside(nil, function()
      assert(nsl.setns(path))
      return nsl.nsid("self", "net"), nsl.nsid("self", "uts")
    end)
    assert.are.equal(nsl.nsid(target, "net"), a)
    assert.are.equal(nsl.nsid("self", "uts"), b)
    local c = T.inside(nil, function()
      assert(nsl.setns(path, "net"))
      return nsl.nsid("self", "net")
    end)
    assert.are.equal(nsl.nsid(target, "net"), c)
  end)

  it("refuses a path of another type than the one named", function()
    local r, msg, errno = T.inside(nil, function()
      return nsl.setns(("/proc/%d/ns/net"):format(target), "uts")
    end)
    assert.is_nil(r)
    assert.are.equal(("setns /proc/%d/ns/net: Invalid argument"):format(target), msg)
    assert.are.equal(22, errno)
  end)

  it("joins a user namespace first, then the others of the same pid", function()
    local owner = H.sleeper({ "user", "uts" }, { uid_map = { { 0, 0, 1 } }, gid_map = { { 0, 0, 1 } } })
    local user, uts, uid = T.inside(nil, function()
      assert(nsl.setns(owner))
      return nsl.nsid("self", "user"), nsl.nsid("self", "uts"), nsl.getuid()
    end)
    local want_user, want_uts = nsl.nsid(owner, "user"), nsl.nsid(owner, "uts")
    H.stop(owner)
    assert.are.equal(want_user, user)
    assert.are.equal(want_uts, uts)
    assert.are.equal(0, uid)
  end)

  it("returns nil, message, errno for a pid or a netns that does not exist", function()
    local r, msg, errno = nsl.setns(99999999)
    assert.is_nil(r)
    assert.are.equal("setns 99999999: No such process", msg)
    assert.are.equal(3, errno)
    r, msg, errno = nsl.setns("nsl-spec-no-such-netns")
    assert.is_nil(r)
    assert.are.equal("setns /run/netns/nsl-spec-no-such-netns: No such file or directory", msg)
    assert.are.equal(2, errno)
  end)
end)

describe("nsl.nsid", function()
  it("is the inode number of /proc/<pid>/ns/<ns>, for self, a pid and a path", function()
    local me = nsl.getpid()
    for _, ns in ipairs(ALL) do
      local ino = stat_ino(me, ns)
      assert.are.equal(ino, nsl.nsid("self", ns), ns)
      assert.are.equal(ino, nsl.nsid(me, ns), ns)
      assert.are.equal(ino, nsl.nsid("/proc/self/ns/" .. ns), ns)
    end
  end)

  it("differs for a child in a new namespace", function()
    local pid = H.sleeper({ "net" })
    local theirs = nsl.nsid(pid, "net")
    H.stop(pid)
    assert.are_not.equal(nsl.nsid("self", "net"), theirs)
  end)

  it("returns nil, message, errno for a pid that does not exist", function()
    local r, msg, errno = nsl.nsid(99999999, "net")
    assert.is_nil(r)
    assert.are.equal("nsid /proc/99999999/ns/net: No such file or directory", msg)
    assert.are.equal(2, errno)
  end)
end)

describe("nsl.idmap and nsl.setgroups", function()
  -- A child in a new user namespace that waits for the parent to write
  -- its maps, then reports what it runs as.
  local function waiting_child(path)
    return assert(nsl.clone({ "user" }, function()
      for _ = 1, 500 do
        if H.read("/proc/self/gid_map") ~= "" then break end
        os.execute("sleep 0.01")
      end
      local f = assert(io.open(path, "w"))
      f:write(nsl.getuid(), " ", nsl.getgid(), " ", H.read("/proc/self/setgroups"))
      f:close()
    end))
  end

  it("writes the maps and setgroups of another process", function()
    local path = os.tmpname()
    local pid = waiting_child(path)
    assert.is_true(nsl.idmap(pid, "uid", { { 0, 0, 1 } }))
    assert.is_true(nsl.setgroups(pid, "deny"))
    assert.is_true(nsl.idmap(pid, "gid", { { 0, 0, 1 } }))
    local host_view = H.read("/proc/" .. pid .. "/uid_map")
    assert.is_true((nsl.wait(pid)))
    local seen = H.read(path)
    os.remove(path)
    assert.are.equal("0 0 deny\n", seen)
    assert.same({ "0", "0", "1" }, { host_view:match("(%d+)%s+(%d+)%s+(%d+)") })
  end)

  it("returns nil, message, errno when a map is written twice or setgroups comes too late", function()
    local path = os.tmpname()
    local pid = waiting_child(path)
    assert.is_true(nsl.idmap(pid, "uid", { { 0, 0, 1 } }))
    local r, msg, errno = nsl.idmap(pid, "uid", { { 0, 0, 1 } })
    assert.is_true(nsl.idmap(pid, "gid", { { 0, 0, 1 } }))
    local r2, msg2, errno2 = nsl.setgroups(pid, "deny")
    nsl.wait(pid)
    os.remove(path)
    assert.is_nil(r)
    assert.are.equal(("write /proc/%d/uid_map: Operation not permitted"):format(pid), msg)
    assert.are.equal(1, errno)
    assert.is_nil(r2)
    assert.are.equal(("write /proc/%d/setgroups: Operation not permitted"):format(pid), msg2)
    assert.are.equal(1, errno2)
  end)

  it("returns nil, message, errno for a pid that does not exist", function()
    local r, msg, errno = nsl.idmap(99999999, "gid", { { 0, 0, 1 } })
    assert.is_nil(r)
    assert.are.equal("open /proc/99999999/gid_map: No such file or directory", msg)
    assert.are.equal(2, errno)
    r, msg, errno = nsl.setgroups(99999999, "deny")
    assert.is_nil(r)
    assert.are.equal("open /proc/99999999/setgroups: No such file or directory", msg)
    assert.are.equal(2, errno)
  end)
end)
