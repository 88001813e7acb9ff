-- nsl.rootfs: the root file systems a container can have, each mounted
-- in a child with its own mount namespace and pivoted into, as the
-- container layer does; checked from inside (what the command sees) and
-- from the host (what is left behind).
local nsl = require "nsl"
local T = require "nsltest"
local read, write, exists = T.read, T.write, T.exists
local H = require "hostcheck"
local rootfs = nsl.rootfs

local BUSYBOX_ENV = { PATH = "/bin:/sbin:/usr/bin:/usr/sbin" }

-- Mounts root in a child (new mount and pid namespaces, / made private,
-- pivot_root into root:mount()) and runs a shell command there. Returns
-- the command's output (stdout and stderr) and its exit triple.
local function run_in(root, cmd, namespaces)
  local r, w = assert(nsl.pipe())
  local pid = assert(nsl.clone(namespaces or { "mnt", "pid" }, function()
    nsl.close(r)
    assert(nsl.mount(nil, "/", nil, "rec,private"))
    local top = root:mount()
    assert(nsl.pivot_root(top))
    assert(nsl.mount("proc", "/proc", "proc", "nosuid,nodev,noexec"))
    nsl.dup2(w, 1)
    nsl.dup2(w, 2)
    nsl.exec({ "/bin/sh", "-c", cmd }, { env = BUSYBOX_ENV })
    return 127
  end))
  nsl.close(w)
  local out = {}
  while true do
    local chunk = assert(nsl.read(r, 65536))
    if chunk == "" then break end
    out[#out + 1] = chunk
  end
  nsl.close(r)
  local ok, how, code = nsl.wait(pid)
  return (table.concat(out):gsub("\n$", "")), ok, how, code
end

local function ls(dir)
  local out = T.sh("ls -A " .. T.quote(dir) .. " 2>/dev/null")
  return out
end

-- Where prepare() makes its directories when run as root.
local STATE = "/run/nsl/rootfs"

-- One busybox root for the whole file, built once.
local shared_dir, shared
setup(function()
  shared_dir = H.tmpdir()
  os.execute("chmod 755 " .. T.quote(shared_dir))
  shared = rootfs.busybox(shared_dir .. "/bb")
end)
teardown(function()
  if shared_dir then H.rmtree(shared_dir) end
end)

describe("rootfs.resolve", function()
  it("rejects what is not a root, naming the field", function()
    assert.has_error(function() rootfs.resolve(42) end,
      "rootfs must be a directory path, a table from nsl.rootfs.busybox/host/unpack or {image = dir, writable = true} (got number)")
    assert.has_error(function() rootfs.resolve { image = "/x", writeable = true } end,
      "rootfs: unknown field 'writeable' (expected image, writable, upper, keep, size)")
    assert.has_error(function() rootfs.resolve { writable = true } end,
      "rootfs.image: missing (a directory, or a table from nsl.rootfs.busybox/unpack)")
    assert.has_error(function() rootfs.resolve { image = "/x", writable = "yes" } end,
      'rootfs.writable must be a boolean, got "yes"')
    assert.has_error(function() rootfs.resolve { image = "/x", keep = true } end,
      "rootfs: upper, keep and size need writable = true")
    assert.has_error(function() rootfs.resolve { image = "/x", writable = true, size = "lots" } end,
      'rootfs.size must be a tmpfs size such as "64m" or "50%", got "lots"')
    assert.has_error(function() rootfs.resolve { image = rootfs.host(), writable = true } end,
      "rootfs.image: nsl.rootfs.host() cannot be an image")
    assert.has_error(function() rootfs.resolve("") end,
      "rootfs must be a non-empty path without NUL bytes, shorter than 4096 bytes")
  end)

  it("knows a builder's root made by another copy of the module (busted reloads modules)", function()
    local saved = {}
    finally(function()
      for name, m in pairs(saved) do package.loaded[name] = m end
    end)
    for _, name in ipairs { "nsl.rootfs", "nsl.rootfs.build" } do
      saved[name] = package.loaded[name]
      package.loaded[name] = nil
    end
    local fresh = require "nsl.rootfs"
    assert.are_not.equal(rootfs, fresh)
    local r = fresh.resolve(shared)
    assert.are.equal("dir", r.kind)
    assert.are.equal(shared.path, r.path)
  end)

  it("prepare() refuses a missing directory, a file and the host's /, naming the path", function()
    local dir = H.tmpdir()
    finally(function() H.rmtree(dir) end)
    write(dir .. "/file", "x")
    local ok, err = pcall(function() rootfs.resolve(dir .. "/missing"):prepare() end)
    assert.is_false(ok)
    assert.matches("rootfs " .. dir:gsub("%p", "%%%0") .. "/missing: .*No such file or directory", err)
    ok, err = pcall(function() rootfs.resolve(dir .. "/file"):prepare() end)
    assert.is_false(ok)
    assert.matches("rootfs " .. dir:gsub("%p", "%%%0") .. "/file: not a directory", err)
    ok, err = pcall(function() rootfs.resolve { image = dir .. "/missing", writable = true }:prepare() end)
    assert.is_false(ok)
    assert.matches("rootfs.image .*/missing: .*No such file", err)
    ok, err = pcall(function() rootfs.resolve("/"):prepare() end)
    assert.is_false(ok)
    assert.matches("use nsl.rootfs.host%(%)", err)
  end)

  it("prepare() refuses an image path that overlayfs options cannot carry, leaving nothing", function()
    local before = ls(STATE)
    local ok, err = pcall(function()
      rootfs.resolve { image = shared_dir .. "/a,b", writable = true }:prepare()
    end)
    assert.is_false(ok)
    assert.matches("rootfs.image", err)
    assert.equal(before, ls(STATE))
  end)
end)

describe("a directory as root", function()
  it("is bind-mounted and pivoted into; the host's files are out of sight", function()
    write(shared.path .. "/marker", "from-the-image\n")
    finally(function() os.remove(shared.path .. "/marker") end)
    local root = rootfs.resolve(shared.path)
    root:prepare()
    assert.equal(shared.path, root:inspect_dir())
    local out, ok = run_in(root, "cat /marker; ls /tmp | wc -l; echo written > /tmp/new")
    assert.is_true(ok, out)
    assert.equal("from-the-image\n0", out)
    -- writable: the command's file is in the directory itself
    assert.equal("written\n", read(shared.path .. "/tmp/new"))
    os.remove(shared.path .. "/tmp/new")
    assert.is_true(root:cleanup())
    assert.is_true(root:cleanup()) -- idempotent
    assert.is_true(exists(shared.path .. "/bin/busybox")) -- the user's directory stays
  end)

  it("{image = dir} without writable is mounted read-only", function()
    local root = rootfs.resolve { image = shared }
    root:prepare()
    local out, ok = run_in(root, "echo x > /etc/new")
    assert.is_nil(ok)
    assert.matches("Read%-only file system", out)
    assert.is_false(exists(shared.path .. "/etc/new"))
    assert.is_true(root:cleanup())
  end)
end)

describe("rootfs.busybox", function()
  it("builds a minimal root: applets as relative links, /etc, empty /dev /proc /sys, /tmp 1777", function()
    local dir = shared.path
    assert.equal("busybox", shared.kind)
    local sh = assert(nsl.lstat(dir .. "/bin/sh"))
    assert.equal("symlink", sh.type)
    assert.equal("busybox", nsl.readlink(dir .. "/bin/sh"))
    assert.equal("../../bin/busybox", nsl.readlink(dir .. "/usr/bin/wget"))
    assert.equal("file", nsl.lstat(dir .. "/bin/busybox").type)
    assert.matches("^root:x:0:0:", read(dir .. "/etc/passwd"))
    assert.matches("^root:x:0:", read(dir .. "/etc/group"))
    for _, d in ipairs { "dev", "proc", "sys" } do
      assert.equal("", ls(dir .. "/" .. d))
    end
    assert.equal(tonumber("1777", 8), nsl.lstat(dir .. "/tmp").mode & tonumber("7777", 8))
  end)

  it("runs busybox's applets inside", function()
    local root = rootfs.resolve(shared)
    root:prepare()
    local out, ok = run_in(root, "id -u; ps -o pid,comm | tail -n +2; wget --help 2>&1 | head -1")
    assert.is_true(ok, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal("0", lines[1])
    assert.matches("^%s*1 sh$", lines[2]) -- the shell is PID 1 of its namespace
    assert.matches("BusyBox", lines[#lines])
    assert.is_true(root:cleanup())
  end)

  it("is idempotent and returns at once when already built", function()
    local dir = shared.path
    os.remove(dir .. "/bin/ls") -- a rebuild would bring it back
    finally(function() nsl.symlink("busybox", dir .. "/bin/ls") end)
    local again = rootfs.busybox(dir)
    assert.equal(dir, again.path)
    assert.is_nil(nsl.lstat(dir .. "/bin/ls"))
  end)

  it("refuses a dynamically linked busybox and a file that is no program", function()
    local dir = H.tmpdir()
    finally(function() H.rmtree(dir) end)
    assert.has_error(function() rootfs.busybox(dir .. "/r", { busybox = "/bin/ls" }) end,
      "rootfs.busybox: /bin/ls is dynamically linked; it needs the statically linked one (Debian's busybox-static)")
    assert.has_error(function() rootfs.busybox(dir .. "/r", { busybox = "/etc/passwd" }) end,
      "rootfs.busybox: /etc/passwd is not an ELF program")
    assert.has_error(function() rootfs.busybox(dir .. "/r", { busybox = dir .. "/none" }) end,
      ("rootfs.busybox: %s/none not found (install Debian's busybox-static)"):format(dir))
    assert.has_error(function() rootfs.busybox(dir .. "/r", { bb = "/bin/busybox" }) end,
      "rootfs.busybox: unknown option 'bb' (expected busybox)")
    assert.is_false(exists(dir .. "/r"))
  end)
end)

describe("rootless", function()
  local skip = not T.bin_reachable()

  it("builds a busybox root and runs it in a user namespace", function()
    if skip then return pending("the unprivileged uid cannot reach " .. T.bin) end
    local dir = H.tmpdir()
    finally(function() H.rmtree(dir) end)
    os.execute(("chown %d:%d %s"):format(T.uid, T.gid, T.quote(dir)))
    local out, err, ok = T.rootless([[
      local nsl = require "nsl"
      local root = nsl.rootfs.resolve(nsl.rootfs.busybox(arg[1] .. "/bb"))
      root:prepare()
      local pid = nsl.clone({"user", "mnt", "pid"}, function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        assert(nsl.pivot_root(root:mount()))
        nsl.exec({"/bin/sh", "-c", "id -u; ls /etc"}, {env = {PATH = "/bin"}})
      end, {uid_map = {{0, nsl.getuid(), 1}}, gid_map = {{0, nsl.getgid(), 1}}})
      print(nsl.wait(pid))
      print(root:cleanup())
    ]], dir)
    assert.is_true(ok, err)
    assert.equal("0\ngroup\nhosts\nnsswitch.conf\npasswd\ntrue\texit\t0\ntrue", out)
    assert.equal(tostring(T.uid), T.sh("stat -c %u " .. T.quote(dir .. "/bb/bin/busybox")))
  end)
end)

describe("rootfs.host", function()
  it("shows the host's programs read-only, with a private /etc, /tmp and /run", function()
    local before = ls(STATE)
    local root = rootfs.resolve(rootfs.host())
    root:prepare()
    assert.equal("/", root:inspect_dir())
    write("/tmp/nsl-spec-host-marker", "x")
    finally(function() os.remove("/tmp/nsl-spec-host-marker") end)
    local out, ok = run_in(root, table.concat({
      "awk 'BEGIN { print \"awk-runs\" }'",      -- dynamic libraries and /etc/alternatives
      "touch /usr/nsl-spec 2>&1 | grep -c 'Read-only'",
      "test -e /etc/shadow && echo shadow-visible || echo no-shadow",
      "grep -c '^root:' /etc/passwd",
      "ls -A /tmp | wc -l",
      "echo hi > /tmp/x && cat /tmp/x",
      "ls -A /run | wc -l",
    }, "; "))
    assert.is_true(ok, out)
    assert.equal("awk-runs\n1\nno-shadow\n1\n0\nhi\n0", out)
    assert.is_false(exists("/usr/nsl-spec"))
    assert.is_true(root:cleanup())
    assert.equal(before, ls(STATE))
  end)

  it("works rootless", function()
    if not T.bin_reachable() then return pending("the unprivileged uid cannot reach " .. T.bin) end
    local out, err, ok = T.rootless([[
      local nsl = require "nsl"
      local root = nsl.rootfs.resolve(nsl.rootfs.host())
      root:prepare()
      local state = root.state
      local pid = nsl.clone({"user", "mnt", "pid"}, function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        assert(nsl.pivot_root(root:mount()))
        nsl.exec({"/bin/sh", "-c", "id -u; ls /; touch /usr/x 2>/dev/null || echo ro"})
      end, {uid_map = {{0, nsl.getuid(), 1}}, gid_map = {{0, nsl.getgid(), 1}}})
      print(nsl.wait(pid))
      print(root:cleanup())
      print(nsl.lstat(state) == nil)
    ]])
    assert.is_true(ok, err)
    -- the host's own lib32, lib64 and libx32, those it has
    local libs = ""
    for _, d in ipairs({ "lib32", "lib64", "libx32" }) do
      if exists("/" .. d) then libs = libs .. d .. "\n" end
    end
    assert.equal("0\nbin\ndev\netc\nhome\nlib\n" .. libs .. "proc\nroot\nrun\nsbin\nsys\ntmp\nusr\nro\n"
      .. "true\texit\t0\ntrue\ntrue", out)
  end)
end)

describe("a copy-on-write root {image = dir, writable = true}", function()
  it("writes go to a temporary upper layer; the image is untouched; nothing is left", function()
    local before = ls(STATE)
    local root = rootfs.resolve { image = shared, writable = true }
    root:prepare()
    assert.equal(shared.path, root:inspect_dir())
    local out, ok = run_in(root, "echo new > /etc/new; rm /etc/passwd; ls /etc")
    assert.is_true(ok, out)
    assert.equal("group\nhosts\nnew\nnsswitch.conf", out)
    assert.is_false(exists(shared.path .. "/etc/new"))
    assert.matches("^root:", read(shared.path .. "/etc/passwd"))
    assert.is_true(root:cleanup())
    assert.is_true(root:cleanup())
    assert.equal(before, ls(STATE))
  end)

  it("two containers share one image, each with its own upper layer", function()
    local a = rootfs.resolve { image = shared, writable = true }
    local b = rootfs.resolve { image = shared, writable = true }
    a:prepare()
    b:prepare()
    finally(function() a:cleanup(); b:cleanup() end)
    local seen_a, seen_b, in_image = T.inside({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      local ma, mb = a:mount(), b:mount()
      write(ma .. "/who", "a")
      write(mb .. "/who", "b")
      return read(ma .. "/who"), read(mb .. "/who"), exists(shared.path .. "/who")
    end)
    assert.equal("a", seen_a)
    assert.equal("b", seen_b)
    assert.is_false(in_image)
  end)

  it("size limits the temporary upper layer", function()
    local root = rootfs.resolve { image = shared, writable = true, size = "1m" }
    root:prepare()
    finally(function() root:cleanup() end)
    local out, ok = run_in(root, "yes 0123456789abcdef | head -c 2097152 > /big 2>/dev/null; echo $?; wc -c < /big")
    assert.is_true(ok, out)
    local status, size = out:match("^(%d+)\n%s*(%d+)$")
    assert.is_not.equal("0", status)
    assert.is_true(tonumber(size) <= 1048576, out)
  end)

  it("keep = true leaves the upper layer, at root.upper", function()
    local root = rootfs.resolve { image = shared, writable = true, keep = true }
    root:prepare()
    finally(function()
      if root.state and root.state:match("^/run/nsl/rootfs/root%-[%w_.%-]+$") then
        os.execute("rm -rf " .. T.quote(root.state))
      end
    end)
    local out, ok = run_in(root, "echo kept > /kept")
    assert.is_true(ok, out)
    assert.is_true(root:cleanup())
    assert.equal("kept\n", read(root.upper .. "/kept"))
    assert.equal("upper", ls(root.state))
  end)

  it("upper = dir keeps the changes in the user's directory, across runs", function()
    local dir = H.tmpdir()
    finally(function() H.rmtree(dir) end)
    local before = ls(dir)
    for i = 1, 2 do
      local root = rootfs.resolve { image = shared, writable = true, upper = dir .. "/upper" }
      root:prepare()
      local out, ok = run_in(root, "echo run" .. i .. " >> /log; cat /log")
      assert.is_true(ok, out)
      assert.equal(i == 1 and "run1" or "run1\nrun2", out)
      assert.is_true(root:cleanup())
      assert.equal("upper", ls(dir)) -- its work directory is gone, upper stays
    end
    assert.equal("", before)
    assert.is_false(exists(shared.path .. "/log"))
  end)

  it("works rootless, with a temporary and with a kept upper layer", function()
    if not T.bin_reachable() then return pending("the unprivileged uid cannot reach " .. T.bin) end
    -- The image belongs to the user: root inside may change what it owns.
    local dir = H.tmpdir()
    finally(function() H.rmtree(dir) end)
    os.execute(("chown %d:%d %s"):format(T.uid, T.gid, T.quote(dir)))
    local out, err, ok = T.rootless([[
      local nsl = require "nsl"
      local image = nsl.rootfs.busybox(arg[1] .. "/image")
      for _, keep in ipairs {false, true} do
        local root = nsl.rootfs.resolve {image = image, writable = true, keep = keep}
        root:prepare()
        local pid = nsl.clone({"user", "mnt", "pid"}, function()
          assert(nsl.mount(nil, "/", nil, "rec,private"))
          assert(nsl.pivot_root(root:mount()))
          nsl.exec({"/bin/sh", "-c", "echo w > /etc/w && rm /bin/ls && echo wrote"}, {env = {PATH = "/bin"}})
        end, {uid_map = {{0, nsl.getuid(), 1}}, gid_map = {{0, nsl.getgid(), 1}}})
        print(nsl.wait(pid))
        local state = root.state
        print(root:cleanup())
        if keep then
          print(io.open(root.upper .. "/etc/w"):read("l"))
          os.execute("rm -rf '" .. state .. "'")
        else
          print(nsl.lstat(state) == nil)
        end
      end
    ]], dir)
    assert.is_true(ok, err)
    assert.equal("wrote\ntrue\texit\t0\ntrue\ntrue\nwrote\ntrue\texit\t0\ntrue\nw", out)
    assert.is_false(exists(dir .. "/image/etc/w"))
    assert.is_true(exists(dir .. "/image/bin/ls"))
  end)
end)

-- A minimal ustar writer, so the specs can make archives tar itself would
-- refuse to make: entries {name=, type="0" file|"1" hard link|"2" symlink, link=, data=}.
local function ustar(path, entries)
  local function oct(n, w) return ("%0" .. (w - 1) .. "o\0"):format(n) end
  local function pad(s, w) return s .. ("\0"):rep(w - #s) end
  local out = {}
  for _, e in ipairs(entries) do
    local data, kind = e.data or "", e.type or "0"
    local h = pad(e.name, 100) .. oct(420, 8) .. oct(0, 8) .. oct(0, 8)
      .. oct(kind == "0" and #data or 0, 12) .. oct(0, 12) .. "        " .. kind
      .. pad(e.link or "", 100) .. "ustar\0" .. "00" .. pad("root", 32) .. pad("root", 32)
      .. oct(0, 8) .. oct(0, 8)
    h = pad(h, 512)
    local sum = 0
    for i = 1, 512 do sum = sum + h:byte(i) end
    out[#out + 1] = h:sub(1, 148) .. ("%06o\0 "):format(sum) .. h:sub(157)
    if kind == "0" then out[#out + 1] = data .. ("\0"):rep((512 - #data % 512) % 512) end
  end
  out[#out + 1] = ("\0"):rep(1024)
  write(path, table.concat(out))
end

describe("rootfs.unpack", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("unpacks a packed root (plain and gzip) that then runs", function()
    assert(os.execute(("tar -C %s -cf %s/root.tar . && gzip -c %s/root.tar > %s/root.tgz")
      :format(T.quote(shared.path), dir, dir, dir)))
    for _, name in ipairs { "root.tar", "root.tgz" } do
      local r = rootfs.unpack(dir .. "/" .. name, dir .. "/u-" .. name)
      assert.equal("unpack", r.kind)
      assert.equal("symlink", nsl.lstat(r.path .. "/bin/sh").type)
      local root = rootfs.resolve(r)
      root:prepare()
      local out, ok = run_in(root, "echo unpacked; cat /etc/group | head -1")
      assert.is_true(ok, out)
      assert.equal("unpacked\nroot:x:0:", out)
      assert.is_true(root:cleanup())
    end
    -- again: the same tarball is not unpacked a second time
    os.remove(dir .. "/u-root.tar/etc/hosts")
    rootfs.unpack(dir .. "/root.tar", dir .. "/u-root.tar")
    assert.is_false(exists(dir .. "/u-root.tar/etc/hosts"))
  end)

  it("refuses a directory that is not empty and a tarball that is missing", function()
    write(dir .. "/junk", "x")
    assert(os.execute(("tar -C %s -cf %s/r.tar etc"):format(T.quote(shared.path), dir)))
    assert.has_error(function() rootfs.unpack(dir .. "/r.tar", dir) end,
      ("rootfs.unpack: %s is not empty"):format(dir))
    local ok, err = pcall(rootfs.unpack, dir .. "/none.tar", dir .. "/u")
    assert.is_false(ok)
    assert.matches("rootfs.unpack: tarball .*/none.tar: .*No such file", err)
  end)

  it("refuses absolute and '..' members before writing anything", function()
    local outside = dir .. "/outside"
    local cases = {
      { { name = outside .. "/abs", data = "x" } },
      { { name = "ok", data = "x" }, { name = "../outside/dotdot", data = "x" } },
      { { name = "a/../../outside/mid", data = "x" } },
    }
    for i, entries in ipairs(cases) do
      ustar(dir .. "/evil.tar", entries)
      local ok, err = pcall(rootfs.unpack, dir .. "/evil.tar", dir .. "/u" .. i)
      assert.is_false(ok)
      assert.matches("rootfs.unpack: refusing .*evil.tar: member .* has ", err)
      assert.is_false(exists(dir .. "/u" .. i))
    end
    assert.is_false(exists(outside))
  end)

  it("writes nothing outside through symlinks or hard links the archive makes", function()
    local outside = dir .. "/outside"
    assert(nsl.mkdir(outside))
    write(outside .. "/victim", "original")
    local cases = {
      { { name = "esc", type = "2", link = outside }, { name = "esc/pwned", data = "x" } },
      { { name = "esc", type = "2", link = "../outside" }, { name = "esc/pwned", data = "x" } },
      { { name = "h", type = "1", link = "../outside/victim" }, { name = "h", data = "changed" } },
      { { name = "h", type = "1", link = outside .. "/victim" }, { name = "h", data = "changed" } },
    }
    for i, entries in ipairs(cases) do
      ustar(dir .. "/evil.tar", entries)
      local ok, err = pcall(rootfs.unpack, dir .. "/evil.tar", dir .. "/u" .. i)
      assert.is_false(ok)
      assert.matches("rootfs.unpack: unpacking .* failed", err)
      assert.equal("original", read(outside .. "/victim"))
      assert.equal("victim", ls(outside))
      assert.is_false(exists(dir .. "/u" .. i)) -- the partial unpack is removed
    end
  end)
end)

-- What another local user (uid 3001) or a container's own code can do to
-- the roots root builds and runs, and what nsl refuses.
describe("roots in shared places", function()
  local OTHER = 3001
  local function as_other(cmd)
    return T.sh(("setpriv --reuid=%d --regid=%d --clear-groups sh -c %s 2>&1")
      :format(OTHER, OTHER, T.quote(cmd)))
  end
  local dir, planted
  before_each(function()
    dir = H.tmpdir() -- 0700: only root gets in
    planted = "/tmp/nsl-spec-planted-" .. nsl.getpid()
  end)
  after_each(function()
    H.rmtree(dir)
    os.execute("rm -rf " .. T.quote(planted))
  end)

  it("rootfs.busybox refuses a directory another user prepared, and never runs its /bin/sh", function()
    -- the attack: a stamp and a size that match, and a /bin/sh of theirs
    local size = nsl.lstat("/bin/busybox").size
    local _, ok = as_other(([[
      set -e; umask 022; mkdir -p %s/bin %s/etc; cp /bin/busybox %s/bin/busybox
      printf 'busybox /bin/busybox %d\n' > %s/.nsl-busybox
      printf '#!/bin/busybox sh\n/bin/busybox touch /pwned\nexec /bin/busybox sh "$@"\n' > %s/bin/sh
      chmod 755 %s/bin/sh]]):gsub("%%s", planted):format(size))
    assert.is_true(ok)
    local bok, err = pcall(rootfs.busybox, planted)
    assert.is_false(bok)
    assert.matches("rootfs.busybox: " .. planted:gsub("%p", "%%%0") .. " is owned by uid 3001, not by you", err)
    -- the same directory given as a root: other users reach it
    local c = nsl.container { rootfs = planted, command = { "/bin/sh", "-c", "true" } }
    local sok, serr = c:start()
    assert.is_nil(sok)
    assert.matches("other users can reach this directory", serr)
    assert.is_nil(nsl.lstat(planted .. "/pwned"))
  end)

  it("rootfs.busybox writes through no link a container left in its root", function()
    local bb = rootfs.busybox(dir .. "/bb").path
    local victim = dir .. "/victim"
    assert(nsl.mkdir(victim, 448))
    write(victim .. "/file", "host\n")
    -- a container's code may replace anything in its root
    os.remove(bb .. "/.nsl-busybox")
    os.remove(bb .. "/bin/busybox")
    assert(nsl.symlink(victim .. "/file", bb .. "/bin/busybox"))
    os.execute("rm -rf " .. T.quote(bb .. "/etc"))
    assert(nsl.symlink(victim, bb .. "/etc"))
    local ok, err = pcall(rootfs.busybox, bb)
    assert.is_false(ok)
    assert.matches("/etc is a symlink, not a directory: remove it and build again", err)
    assert.are.same({ "file" }, nsl.readdir(victim))
    assert.are.equal("host\n", read(victim .. "/file"))
    -- once the link in place of a directory is gone, the build replaces
    -- the link in place of bin/busybox, and writes nothing through it
    os.remove(bb .. "/etc")
    rootfs.busybox(bb)
    assert.are.equal("file", nsl.lstat(bb .. "/bin/busybox").type)
    assert.are.equal("host\n", read(victim .. "/file"))
    assert.are.same({ "file" }, nsl.readdir(victim))
  end)

  it("a root-run container's setuid leftovers serve no other user", function()
    local bb = rootfs.busybox(dir .. "/bb").path
    local c = nsl.container { rootfs = bb,
      command = { "/bin/sh", "-c", "cp /bin/busybox /.x && chmod 4755 /.x" } }
    assert.are.same({ true, "exit", 0 }, { c:run() })
    assert.are.equal(2541, nsl.lstat(bb .. "/.x").mode) -- it is there, setuid root
    local out, ok = as_other("ls -l " .. bb .. "/.x")
    assert.is_falsy(ok)
    assert.matches("Permission denied", out)
    -- a root in reach of others is refused before anything runs
    os.execute("chmod 755 " .. T.quote(dir))
    c = nsl.container { rootfs = bb, command = { "/bin/sh", "-c", "touch /.y" } }
    local sok, err = c:start()
    assert.is_nil(sok)
    assert.matches("^rootfs: " .. bb:gsub("%p", "%%%0") .. ": other users can reach this directory", err)
    assert.is_nil(nsl.lstat(bb .. "/.y"))
    -- read-only and copy-on-write roots of the same directory still run
    for _, r in ipairs { { image = bb }, { image = bb, writable = true } } do
      assert.are.same({ true, "exit", 0 }, { nsl.container { rootfs = r, command = { "true" } }:run() })
    end
    -- and a container whose root is not the host's (a user namespace) too
    assert.are.same({ true, "exit", 0 }, { nsl.container { rootfs = bb, command = { "true" },
      user = { uid_map = { { 0, 100000, 1 } }, gid_map = { { 0, 100000, 1 } } } }:run() })
  end)

  it("rootfs.unpack refuses device nodes unless asked, another user's directory, and one others reach", function()
    ustar(dir .. "/dev.tar", { { name = "etc/", type = "5" }, { name = "etc/loop", type = "4" } })
    local ok, err = pcall(rootfs.unpack, dir .. "/dev.tar", dir .. "/u")
    assert.is_false(ok)
    assert.matches("refusing .*dev.tar: member \"etc/loop\" is a device node %(1 in all%); pass {devices = true}", err)
    assert.is_false(exists(dir .. "/u"))
    local r = rootfs.unpack(dir .. "/dev.tar", dir .. "/u", { devices = true })
    assert.are.equal("block", nsl.lstat(r.path .. "/etc/loop").type)
    -- another user's directory
    assert.is_true(select(2, as_other("mkdir -m 700 " .. planted)))
    ok, err = pcall(rootfs.unpack, dir .. "/dev.tar", planted)
    assert.is_false(ok)
    assert.matches("is owned by uid 3001, not by you", err)
    -- a directory any user reaches: the archive's setuid files would serve them
    local open = "/tmp/nsl-spec-open-" .. nsl.getpid()
    finally(function() os.execute("rm -rf " .. T.quote(open)) end)
    ok, err = pcall(rootfs.unpack, dir .. "/dev.tar", open)
    assert.is_false(ok)
    assert.matches("is within other users' reach", err)
    assert.is_false(exists(open)) -- made by this call, and removed again
  end)
end)

-- Without a directory, the builders build in nsl's store: root's under
-- /var/lib/nsl (made 0700), a user's under $XDG_DATA_HOME/nsl.
describe("the builders' store", function()
  it("is /var/lib/nsl/rootfs for root, closed to others, and a container runs from it", function()
    -- in a mount namespace of its own, over a private tmpfs on /var/lib
    if not nsl.lstat("/var/lib") then return pending("this machine has no /var/lib to mount over") end
    local ok, how, code = T.child({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      assert(nsl.mount("tmpfs", "/var/lib", "tmpfs", "", "mode=0755"))
      local r = rootfs.busybox()
      assert(r.path == "/var/lib/nsl/rootfs/busybox", r.path)
      assert(rootfs.store() == "/var/lib/nsl/rootfs")
      local st = nsl.lstat("/var/lib/nsl")
      assert(st.uid == 0 and st.mode == 448, ("mode %o"):format(st.mode))
      local c = nsl.container { rootfs = r, command = { "/bin/true" } }
      local cok, chow, n = c:run()
      assert(cok == true, tostring(chow) .. " " .. tostring(n))
      return 0
    end)
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
  end)

  it("is $XDG_DATA_HOME/nsl/rootfs for another user", function()
    if not T.bin_reachable() then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local data = H.tmpdir()
    local script = T.script([[
      local r = nsl.rootfs.busybox()
      print(r.path)
      print(nsl.container { rootfs = r, command = { "/bin/true" } }:run())
    ]])
    finally(function() -- one finally per test (busted keeps the last)
      os.remove(script)
      H.rmtree(data)
    end)
    assert(os.execute(("chown %d:%d %s"):format(T.uid, T.gid, T.quote(data))))
    local out = T.sh(("setpriv --reuid=%d --regid=%d --clear-groups env XDG_DATA_HOME=%s %s run %s 2>&1")
      :format(T.uid, T.gid, T.quote(data), T.quote(T.user_bin()), T.quote(script)))
    assert.are.equal(data .. "/nsl/rootfs/busybox\ntrue\texit\t0", out)
    assert.are.equal(T.uid, nsl.lstat(data .. "/nsl/rootfs/busybox/bin/busybox").uid)
  end)
end)
