-- nsl.rootfs: the root file systems a container can have, each mounted
-- in a child with its own mount namespace and pivoted into, as the
-- container layer does; checked from inside (what the command sees) and
-- from the host (what is left behind).
local nsl = require "nsl"
local T = require "nsltest"
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

local function exists(path)
  return nsl.lstat(path) ~= nil
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
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
      "rootfs must be a non-empty path without NUL bytes")
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
