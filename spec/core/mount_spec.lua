-- Mounts: made only in children with their own mount namespace, whose /
-- is made private first so that nothing propagates to the host.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

-- Runs fn in a new mount namespace with / private; returns fn's results.
local function in_mntns(fn, namespaces)
  return T.inside(namespaces or { "mnt" }, function()
    assert(nsl.mount(nil, "/", nil, "rec,private"))
    return fn()
  end)
end

local function write(path, text)
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  f:write(text)
  f:close()
  return true
end

local function has(opts, name)
  return ("," .. opts .. ","):find("," .. name .. ",", 1, true) ~= nil
end

describe("nsl.mount", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("mounts a tmpfs that is seen inside and not on the host", function()
    local ok, mounted, fstype, wrote = in_mntns(function()
      local r = nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m,mode=0755")
      local line = H.read("/proc/self/mountinfo"):match("[^\n]* " .. dir:gsub("%p", "%%%0") .. " [^\n]*")
      return r, H.mounts()[dir] or false, line and line:match(" %- (%S+)"), write(dir .. "/inside", "x")
    end)
    assert.is_true(ok)
    assert.is_true(mounted)
    assert.are.equal("tmpfs", fstype)
    assert.is_true(wrote)
    assert.is_nil(H.mounts()[dir])
    assert.is_nil(H.read(dir .. "/inside"))
  end)

  it("makes a read-only bind mount with 'bind,ro'; the source stays writable", function()
    local src, dst = dir .. "/src", dir .. "/dst"
    os.execute(("mkdir %s %s && echo content > %s/file"):format(src, dst, src))
    local opts, content, werr, srcw = in_mntns(function()
      assert(nsl.mount(src, dst, nil, "bind,ro"))
      local _, err = write(dst .. "/new", "x")
      return H.mount_options(dst), H.read(dst .. "/file"), err, write(src .. "/other", "y")
    end)
    assert.is_true(has(opts, "ro"))
    assert.are.equal("content\n", content)
    assert.matches("Read%-only file system", werr)
    assert.is_true(srcw)
    assert.are.equal("y", H.read(src .. "/other"))
    assert.is_nil(H.read(src .. "/new"))
    assert.is_nil(H.mounts()[dst])
  end)

  it("keeps the flags of the mount it binds when it remounts for 'bind,ro'", function()
    local a, b = dir .. "/a", dir .. "/b"
    os.execute(("mkdir %s %s"):format(a, b))
    local first, bound = in_mntns(function()
      assert(nsl.mount("tmpfs", a, "tmpfs", "nosuid,nodev,noexec", "size=1m"))
      assert(nsl.mount(a, b, nil, "bind,ro"))
      return H.mount_options(a), H.mount_options(b)
    end)
    assert.is_false(has(first, "ro"))
    for _, f in ipairs({ "ro", "nosuid", "nodev", "noexec" }) do
      assert.is_true(has(bound, f), f .. " missing from " .. bound)
    end
  end)

  it("makes every mount of the tree read-only with 'bind,rec,ro'", function()
    local a, b = dir .. "/a", dir .. "/b"
    os.execute(("mkdir %s %s"):format(a, b))
    local top, sub, plain_sub = in_mntns(function()
      assert(nsl.mount("tmpfs", a, "tmpfs", nil, "size=1m"))
      assert(os.execute("mkdir " .. a .. "/sub"))
      assert(nsl.mount("tmpfs", a .. "/sub", "tmpfs", nil, "size=1m"))
      assert(nsl.mount(a, b, nil, "bind,rec,ro"))
      return H.mount_options(b), H.mount_options(b .. "/sub"), H.mount_options(a .. "/sub")
    end)
    assert.is_true(has(top, "ro"))
    assert.is_true(has(sub, "ro"))
    assert.is_false(has(plain_sub, "ro"))
  end)

  it("remounts a mount read-only and back with 'remount'", function()
    local ro, err, rw = in_mntns(function()
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      assert(nsl.mount(nil, dir, nil, "remount,ro"))
      local o = H.mount_options(dir)
      local _, e = write(dir .. "/f", "x")
      assert(nsl.mount(nil, dir, nil, "remount"))
      return o, e, H.mount_options(dir)
    end)
    assert.is_true(has(ro, "ro"))
    assert.matches("Read%-only file system", err)
    assert.is_true(has(rw, "rw"))
  end)

  it("changes propagation with 'shared' and 'private'", function()
    local shared, private = in_mntns(function()
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      local function line()
        return H.read("/proc/self/mountinfo"):match("[^\n]* " .. dir:gsub("%p", "%%%0") .. " [^\n]*")
      end
      assert(nsl.mount(nil, dir, nil, "shared"))
      local s = line()
      assert(nsl.mount(nil, dir, nil, "private"))
      return s, line()
    end)
    assert.matches(" shared:%d+ ", shared)
    assert.not_matches("shared:", private)
  end)

  it("moves a mount with 'move'", function()
    local a, b = dir .. "/a", dir .. "/b"
    os.execute(("mkdir %s %s"):format(a, b))
    local at_a, at_b = in_mntns(function()
      assert(nsl.mount("tmpfs", a, "tmpfs", nil, "size=1m"))
      assert(nsl.mount(a, b, nil, "move"))
      local m = H.mounts()
      return m[a] or false, m[b] or false
    end)
    assert.is_false(at_a)
    assert.is_true(at_b)
  end)

  it("returns nil, a message naming the target, and errno on failure", function()
    local r, msg, errno = in_mntns(function()
      return nsl.mount("tmpfs", dir .. "/missing", "tmpfs")
    end)
    assert.is_nil(r)
    assert.are.equal("mount " .. dir .. "/missing: No such file or directory", msg)
    assert.are.equal(2, errno)
    r, msg, errno = in_mntns(function()
      return nsl.mount(dir .. "/nosrc", dir, nil, "bind")
    end)
    assert.is_nil(r)
    assert.are.equal(("mount %s/nosrc on %s: No such file or directory"):format(dir, dir), msg)
    assert.are.equal(2, errno)
  end)
end)

describe("nsl.umount", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("unmounts, with no flags and with 'detach' while in use", function()
    local gone, busy, detached, gone2 = in_mntns(function()
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      assert(nsl.umount(dir))
      local g = not H.mounts()[dir]
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      local f = assert(io.open(dir .. "/open", "w"))
      local _, msg = nsl.umount(dir)
      local d = nsl.umount(dir, "detach")
      f:close()
      return g, msg, d, not H.mounts()[dir]
    end)
    assert.is_true(gone)
    assert.are.equal("umount " .. dir .. ": Device or resource busy", busy)
    assert.is_true(detached)
    assert.is_true(gone2)
  end)

  it("with 'expire' needs two calls; with 'force' unmounts", function()
    local first, errno, second, forced = in_mntns(function()
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      local _, _, e = nsl.umount(dir, "expire")
      local r = nsl.umount(dir, { "expire" })
      assert(nsl.mount("tmpfs", dir, "tmpfs", nil, "size=1m"))
      return H.mounts()[dir] or false, e, r, nsl.umount(dir, "force")
    end)
    assert.is_true(first)
    assert.are.equal(11, errno) -- EAGAIN: marked for expiry
    assert.is_true(second)
    assert.is_true(forced)
  end)

  it("with 'nofollow' does not follow a symbolic link to the mount", function()
    local link = dir .. "/link"
    local target = dir .. "/t"
    os.execute(("mkdir %s && ln -s %s %s"):format(target, target, link))
    local r, msg, errno, followed = in_mntns(function()
      assert(nsl.mount("tmpfs", target, "tmpfs", nil, "size=1m"))
      local a, b, c = nsl.umount(link, "nofollow")
      return a, b, c, nsl.umount(link)
    end)
    assert.is_nil(r)
    assert.are.equal("umount " .. link .. ": Invalid argument", msg)
    assert.are.equal(22, errno)
    assert.is_true(followed)
  end)

  it("returns nil, message, errno for something not mounted", function()
    local r, msg, errno = in_mntns(function() return nsl.umount(dir) end)
    assert.is_nil(r)
    assert.are.equal("umount " .. dir .. ": Invalid argument", msg)
    assert.are.equal(22, errno)
  end)
end)

describe("nsl.pivot_root", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    os.execute(("mkdir %s/root %s/root/old %s/root/proc && echo new > %s/root/marker"):format(dir, dir, dir, dir))
  end)
  after_each(function() H.rmtree(dir) end)

  -- After the pivot the old /tmp is out of reach: the child reports
  -- through a file in the new root, which the host reads in place.
  local function pivoted(fn, namespaces)
    local root = dir .. "/root"
    local ok, how, code = T.child(namespaces or { "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      assert(nsl.mount(root, root, nil, "bind"))
      local results = { fn(root) }
      local f = assert(io.open("/result", "w"))
      for i = 1, #results do f:write(tostring(results[i]), "\0") end
      f:close()
    end)
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
    local out = {}
    for v in (H.read(root .. "/result") or ""):gmatch("(.-)%z") do out[#out + 1] = v end
    return table.unpack(out)
  end

  it("with put_old makes new_root / and keeps the old root under put_old", function()
    local root = dir .. "/root"
    local ok, marker, old_hostname, cwd_marker, after = pivoted(function()
      local r = nsl.pivot_root(root, root .. "/old")
      local m = H.read("/marker")
      local o = H.read("/old/proc/sys/kernel/hostname")
      -- the working directory was not the old root: it stays where it
      -- was, now under /old
      local c = H.read("spec/core/mount_spec.lua") and "kept" or "lost"
      assert(nsl.umount("/old", "detach"))
      return r, m, o, c, H.read("/old/proc/sys/kernel/hostname") or "gone"
    end)
    assert.are.equal("true", ok)
    assert.are.equal("new\n", marker)
    assert.are.equal(nsl.gethostname() .. "\n", old_hostname)
    assert.are.equal("kept", cwd_marker)
    assert.are.equal("gone", after)
    -- the host's root is its own
    assert.is_nil(H.read("/marker"))
    assert.is_nil(H.mounts()[root])
  end)

  it("without put_old leaves only the new root mounted", function()
    local root = dir .. "/root"
    local ok, marker, hostfile, mountinfo = pivoted(function()
      local r = nsl.pivot_root(root)
      local m = H.read("marker")
      local h = H.read("/etc/hostname") or "none"
      assert(nsl.mount("proc", "/proc", "proc"))
      return r, m, h, H.read("/proc/self/mountinfo")
    end, { "mnt", "pid" })
    assert.are.equal("true", ok)
    assert.are.equal("new\n", marker)
    assert.are.equal("none", hostfile)
    local targets = {}
    for line in mountinfo:gmatch("[^\n]+") do targets[#targets + 1] = line:match("^%S+ %S+ %S+ %S+ (%S+)") end
    assert.same({ "/", "/proc" }, targets)
    assert.is_nil(H.mounts()[root])
  end)

  it("returns nil, message, errno when new_root is not a mount point of its own", function()
    local root = dir .. "/root"
    local r, msg, errno = in_mntns(function() return nsl.pivot_root(root, root .. "/old") end)
    assert.is_nil(r)
    -- on the same mount as the current root: the kernel says EBUSY
    assert.are.equal("pivot_root " .. root .. ": Device or resource busy", msg)
    assert.are.equal(16, errno)
  end)
end)
