-- nsl.archive: layer tarballs unpacked as hostile input, digests.
-- The archives are made here (spec/support/tarwriter.lua), so that the
-- members tar itself would refuse to make can be tried; every hostile
-- case checks that the error names the member and that nothing was
-- written outside the target directory (a canary next to it).
local nsl = require "nsl"
local T = require "nsltest"
local read, exists = T.read, T.exists
local tar = require "tarwriter"

local archive = require "nsl.archive"
local defer = T.deferrer(function(f) finally(f) end)

local function tmpdir()
  local dir = T.sh("mktemp -d /tmp/nsl-archive.XXXXXX")
  assert(dir:match("^/tmp/nsl%-archive%."), "mktemp failed")
  defer(function() os.execute("chmod -R u+rwx " .. dir .. " 2>/dev/null; rm -rf " .. dir) end)
  return dir
end

local function esc(s) return (s:gsub("%p", "%%%0")) end

local function xattr(path, name)
  local out, ok = T.sh(("getfattr --absolute-names --only-values -h -n %s %s 2>/dev/null")
    :format(name, T.quote(path)))
  return ok and out or nil
end

-- An archive of entries unpacked into a fresh dir/out beside the canary
-- dir/outside/victim; returns what unpack returned and the paths.
local function try(entries, opts, tar_opts)
  local dir = tmpdir()
  assert(nsl.mkdir(dir .. "/outside"))
  local f = assert(io.open(dir .. "/outside/victim", "w"))
  f:write("original")
  f:close()
  assert(nsl.mkdir(dir .. "/out"))
  tar.write(dir .. "/layer.tar", entries, tar_opts)
  local r, err = archive.unpack(dir .. "/layer.tar", dir .. "/out", opts)
  return r, err, dir
end

-- The outside is as it was: only the victim, unchanged.
local function untouched(dir)
  assert.equal("original", read(dir .. "/outside/victim"))
  assert.same({ "victim" }, nsl.readdir(dir .. "/outside"))
  assert.same({ "layer.tar", "out", "outside" }, (function()
    local t = nsl.readdir(dir)
    table.sort(t)
    return t
  end)())
  assert.is_false(exists("/etc/x"))
  assert.is_false(exists("/x"))
end

describe("nsl.archive", function()
  it("is not in the binary, and a plain script does not map libarchive", function()
    local out, ok = T.sh(T.quote(T.bin) .. [[ run /dev/stdin <<'X'
local nsl = require "nsl"
local f = io.open("/proc/self/maps")
local maps = f:read("a") f:close()
print(maps:find("libarchive", 1, true) ~= nil, package.loaded["nsl.archive"] ~= nil)
local a = require "nsl.archive"
f = io.open("/proc/self/maps")
maps = f:read("a") f:close()
print(maps:find("libarchive", 1, true) ~= nil, type(a.unpack))
X]])
    assert.is_true(ok, out)
    assert.equal("false\tfalse\ntrue\tfunction", out)
  end)

  describe("sha256", function()
    it("of a string and of a file, as sha256sum", function()
      assert.equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        archive.sha256_string("hello"))
      assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        archive.sha256_string(""))
      local dir = tmpdir()
      local f = assert(io.open(dir .. "/blob", "wb"))
      local data = ("0123456789abcdef"):rep(20000) .. "tail" -- several read blocks
      f:write(data)
      f:close()
      local hex, size = archive.sha256(dir .. "/blob")
      assert.equal(T.sh("sha256sum " .. dir .. "/blob"):match("^(%x+)"), hex)
      assert.equal(#data, size)
      assert.equal(archive.sha256_string(data), hex)
    end)

    it("returns nil and a message for a file it cannot read", function()
      local hex, err = archive.sha256("/nonexistent/blob")
      assert.is_nil(hex)
      assert.matches("sha256 /nonexistent/blob: No such file", err)
      assert.has_error(function() archive.sha256("a\0b") end)
    end)
  end)

  describe("unpack", function()
    it("unpacks files, directories, links and fifos, plain, gzip and zstd", function()
      local entries = {
        { name = "./", type = "dir", mode = 493 },
        { name = "etc/", type = "dir", mode = 365, mtime = 1000000 }, -- 0555, filled after
        { name = "etc/hostname", data = "layer\n", mode = 420, mtime = 1234567 },
        { name = "etc/alias", type = "symlink", link = "hostname" },
        { name = "etc/abs", type = "symlink", link = "/etc/passwd" }, -- stored, never followed
        { name = "etc/hard", type = "hardlink", link = "etc/hostname" },
        { name = "run/fifo", type = "fifo", mode = 384 },
        { name = ("d"):rep(120) .. "/long", data = "long name" },
        { name = "x/f", data = "x", xattrs = { ["user.nsl"] = "yes", ["trusted.no"] = "no" } },
      }
      for _, how in ipairs { {}, { gzip = true }, { zstd = true } } do
        local r, err, dir = try(entries, nil, how)
        assert.is_nil(err)
        assert.same({ entries = 9, bytes = 6 + 9 + 1 }, r)
        local out = dir .. "/out"
        assert.equal("layer\n", read(out .. "/etc/hostname"))
        assert.equal("layer\n", read(out .. "/etc/alias"))
        assert.equal("/etc/passwd", nsl.readlink(out .. "/etc/abs"))
        local st, hard = nsl.lstat(out .. "/etc/hostname"), nsl.lstat(out .. "/etc/hard")
        assert.equal(st.ino, hard.ino)
        assert.equal(1234567, st.mtime)
        assert.equal(420, st.mode)
        local etc = nsl.lstat(out .. "/etc")
        assert.equal(365, etc.mode)
        assert.equal(1000000, etc.mtime)
        assert.equal("fifo", nsl.lstat(out .. "/run/fifo").type)
        assert.equal("long name", read(out .. "/" .. ("d"):rep(120) .. "/long"))
        assert.equal("yes", xattr(out .. "/x/f", "user.nsl"))
        assert.is_nil(xattr(out .. "/x/f", "trusted.no"))
        untouched(dir)
      end
    end)

    it("takes a root entry '/' (umoci writes one) as the directory itself", function()
      local r, err, dir = try {
        { name = "/", type = "dir", mode = 448 }, { name = "etc/", type = "dir" },
        { name = "etc/f", data = "x" },
      }
      assert.is_nil(err)
      assert.equal(3, r.entries)
      assert.equal("x", read(dir .. "/out/etc/f"))
      untouched(dir)
    end)

    it("replaces a directory with a file and a file with a directory", function()
      local r, err, dir = try {
        { name = "a/", type = "dir" }, { name = "a/deep/f", data = "x" },
        { name = "a/l", type = "symlink", link = "/" },
        { name = "a", data = "now a file" },
        { name = "b", data = "a file" },
        { name = "b/", type = "dir", mode = 448 },
        { name = "b/c", data = "inside" },
        { name = "c/", type = "dir", mode = 493 }, { name = "c/kept", data = "k" },
        { name = "c/", type = "dir", mode = 457 }, -- kept, its last mode wins
      }
      assert.is_nil(err)
      assert.equal(10, r.entries)
      assert.equal("now a file", read(dir .. "/out/a"))
      assert.equal("directory", nsl.lstat(dir .. "/out/b").type)
      assert.equal("inside", read(dir .. "/out/b/c"))
      assert.equal("k", read(dir .. "/out/c/kept"))
      assert.equal(457, nsl.lstat(dir .. "/out/c").mode)
      untouched(dir)
    end)

    -- Each hostile archive: the member the error must name, and the members.
    local hostile = {
      { "a member climbing out with ..", "../x",
        { { name = "ok", data = "x" }, { name = "../x", data = "pwned" } } },
      { "an absolute member", "/etc/x", { { name = "/etc/x", data = "pwned" } } },
      { "a member climbing out in the middle", "a/../../x",
        { { name = "a/", type = "dir" }, { name = "a/../../x", data = "pwned" } } },
      { "a member through a symlink to /", "l/x",
        { { name = "l", type = "symlink", link = "/" }, { name = "l/x", data = "pwned" } } },
      { "a member through a symlink to the outside", "l/victim",
        { { name = "l", type = "symlink", link = "../outside" },
          { name = "l/victim", data = "pwned" } } },
      { "a member through a symlink deeper down", "a/l/b/x",
        { { name = "a/l", type = "symlink", link = "../../outside" },
          { name = "a/l/b/x", data = "pwned" } } },
      { "a hard link through a symlink", "h",
        { { name = "l", type = "symlink", link = "../outside" },
          { name = "h", type = "hardlink", link = "l/victim" }, { name = "h", data = "pwned" } } },
      { "a hard link to ../../etc/passwd", "h",
        { { name = "h", type = "hardlink", link = "../../etc/passwd" } } },
      { "a hard link to an absolute path", "h",
        { { name = "h", type = "hardlink", link = "/etc/passwd" } } },
      { "a symlink named .", ".", { { name = ".", type = "symlink", link = "/" },
        { name = "x", data = "pwned" } } },
      { "a symlink named a/..", "a/..", { { name = "a/", type = "dir" },
        { name = "a/..", type = "symlink", link = "/" } } },
      { "a hard link named .", ".", { { name = ".", type = "hardlink", link = "x" } } },
      { "a device node", "dev/sda", { { name = "dev/sda", type = "block", major = 8, minor = 0 } } },
      { "a component longer than 255 bytes", ("n"):rep(300),
        { { name = ("n"):rep(300), data = "x" } } },
    }
    for _, case in ipairs(hostile) do
      local what, member, entries = case[1], case[2], case[3]
      it("refuses " .. what .. ", naming it, writing nothing outside", function()
        local r, err, dir = try(entries)
        assert.is_nil(r)
        assert.is_string(err)
        assert.truthy(err:find("unpack " .. dir .. "/layer.tar: " .. member .. ": ", 1, true), err)
        if os.getenv("NSL_ARCHIVE_SHOW") then print(err) end
        untouched(dir)
      end)
    end

    it("makes device nodes as root with devices = true", function()
      if nsl.geteuid() ~= 0 then return pending("needs root") end
      local r, err, dir = try({ { name = "dev/null", type = "char", major = 1, minor = 3, mode = 438 } },
        { devices = true })
      assert.is_nil(err)
      assert.equal(1, r.entries)
      local st = nsl.lstat(dir .. "/out/dev/null")
      assert.equal("char", st.type)
      assert.same({ 1, 3 }, { st.major, st.minor })
    end)

    it("keeps owners, setuid bits and security.capability as root", function()
      if nsl.geteuid() ~= 0 then return pending("needs root") end
      local r, err, dir = try {
        { name = "bin/su", data = "su", mode = 2541, uid = 1234, gid = 99 }, -- 04755
        { name = "bin/ping", data = "ping", mode = 493,
          xattrs = { ["security.capability"] = "\1\0\0\2\0\32\0\0\0\0\0\0\0\0\0\0\0\0\0\0" } },
        { name = "home/", type = "dir", uid = 1000, gid = 1000, mode = 448 },
        { name = "link", type = "symlink", link = "x", uid = 7, gid = 8 },
      }
      assert.is_nil(err)
      assert.equal(4, r.entries)
      local su = nsl.lstat(dir .. "/out/bin/su")
      assert.same({ 2541, 1234, 99 }, { su.mode, su.uid, su.gid })
      local home = nsl.lstat(dir .. "/out/home")
      assert.same({ 448, 1000, 1000 }, { home.mode, home.uid, home.gid })
      local link = nsl.lstat(dir .. "/out/link")
      assert.same({ 7, 8 }, { link.uid, link.gid })
      local caps = T.sh("getcap " .. dir .. "/out/bin/ping 2>/dev/null")
      if caps ~= "" then assert.matches("cap_net_raw", caps) end
      assert.is_not_nil(xattr(dir .. "/out/bin/ping", "security.capability"))
    end)

    it("turns .wh. members into overlay whiteouts and opaque directories", function()
      local entries = {
        { name = "etc/", type = "dir" }, { name = "etc/.wh.passwd", data = "" },
        { name = "var/", type = "dir" }, { name = "var/.wh..wh..opq", data = "" },
        { name = "var/kept", data = "k" },
        { name = "usr/", type = "dir" }, { name = "usr/lib/x", data = "x" },
        { name = ".wh.usr", data = "" }, -- a directory made a whiteout
      }
      local r, err, dir = try(entries)
      assert.is_nil(err)
      assert.equal(8, r.entries)
      for _, p in ipairs { "etc/passwd", "usr" } do
        local st = nsl.lstat(dir .. "/out/" .. p)
        assert.same({ "char", 0, 0 }, { st.type, st.major, st.minor }, p)
      end
      assert.is_false(exists(dir .. "/out/etc/.wh.passwd"))
      assert.equal("y", xattr(dir .. "/out/var", "trusted.overlay.opaque"))
      assert.is_false(exists(dir .. "/out/var/.wh..wh..opq"))
      assert.equal("k", read(dir .. "/out/var/kept"))
      untouched(dir)
      -- whiteouts = "keep": unpacked as they are; another opaque xattr
      r, err, dir = try(entries, { whiteouts = "keep" })
      assert.is_nil(err)
      assert.equal("file", nsl.lstat(dir .. "/out/etc/.wh.passwd").type)
      assert.equal("file", nsl.lstat(dir .. "/out/var/.wh..wh..opq").type)
      r, err, dir = try({ { name = "v/.wh..wh..opq" } }, { opaque_xattr = "user.overlay.opaque" })
      assert.is_nil(err)
      assert.equal("y", xattr(dir .. "/out/v", "user.overlay.opaque"))
      -- a whiteout's name cannot climb out either
      r, err, dir = try { { name = "a/../../.wh.victim" } }
      assert.is_nil(r)
      assert.truthy(err:find("a/../../.wh.victim: ", 1, true), err)
      untouched(dir)
    end)

    it("reports progress and stops when the progress function raises", function()
      local big = ("z"):rep(3 << 20)
      local seen = {}
      local r, err = try({ { name = "a", data = big }, { name = "b", data = big } },
        { progress = function(n) seen[#seen + 1] = n end })
      assert.is_nil(err)
      assert.equal(2, r.entries)
      assert.is_true(#seen >= 1 and #seen <= 7)
      for i = 2, #seen do assert.is_true(seen[i] - seen[i - 1] >= 1 << 20) end
      r, err = try({ { name = "a", data = big }, { name = "b", data = big } },
        { progress = function() error("enough") end })
      assert.is_nil(r)
      assert.matches("progress: .*enough", err)
    end)

    it("refuses a directory that is not empty, a missing file and bad options", function()
      local dir = tmpdir()
      tar.write(dir .. "/l.tar", { { name = "x", data = "x" } })
      local r, err = archive.unpack(dir .. "/l.tar", dir)
      assert.is_nil(r)
      assert.matches("is not empty", err)
      assert.is_true(nsl.mkdir(dir .. "/o"))
      r, err = archive.unpack(dir .. "/none.tar", dir .. "/o")
      assert.is_nil(r)
      assert.matches("unpack " .. esc(dir) .. "/none.tar: open: No such file", err)
      local f = assert(io.open(dir .. "/junk", "w"))
      f:write(("junk"):rep(300))
      f:close()
      r, err = archive.unpack(dir .. "/junk", dir .. "/o")
      assert.is_nil(r)
      assert.matches("unpack " .. esc(dir) .. "/junk: ", err)
      assert.has_error(function() archive.unpack(dir .. "/l.tar", dir .. "/o", { device = true }) end)
      assert.has_error(function() archive.unpack(dir .. "/l.tar", dir .. "/o", { whiteouts = "x" }) end)
      assert.has_error(function() archive.unpack(dir .. "/l.tar", dir .. "/o", { progress = 1 }) end)
    end)

    it("works rootless: no setuid bits, no devices, whiteouts and user.overlay.opaque", function()
      if not T.bin_reachable() then return pending("uid 1002 cannot run the binary") end
      local dir = tmpdir()
      os.execute("chmod 755 " .. dir)
      assert(os.execute(("mkdir %s/out %s/dev && chown %d:%d %s/out %s/dev")
        :format(dir, dir, T.uid, T.gid, dir, dir)))
      tar.write(dir .. "/layer.tar", {
        { name = "bin/su", data = "su", mode = 2541, uid = 0, gid = 0 },
        { name = "etc/.wh.passwd" }, { name = "var/.wh..wh..opq" },
      })
      tar.write(dir .. "/dev.tar", { { name = "null", type = "char", major = 1, minor = 3 } })
      os.execute("chmod 644 " .. dir .. "/*.tar")
      local out, errtext, ok = T.rootless([[
        package.cpath = arg[1] .. "/?.so;" .. package.cpath
        local archive = require "nsl.archive"
        local nsl = require "nsl"
        local dir = arg[2]
        local r, err = archive.unpack(dir .. "/layer.tar", dir .. "/out")
        assert(r, err)
        local su, wh = nsl.lstat(dir .. "/out/bin/su"), nsl.lstat(dir .. "/out/etc/passwd")
        print(("%o %d %s %d:%d"):format(su.mode, su.uid, wh.type, wh.major, wh.minor))
        print(archive.unpack(dir .. "/dev.tar", dir .. "/dev", { devices = true }))
      ]], T.sh("pwd") .. "/build/lib", dir)
      assert.is_true(ok, errtext)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.equal(("755 %d char 0:0"):format(T.uid), lines[1])
      assert.matches("^nil\tunpack " .. esc(dir) .. "/dev.tar: null: refused: a device node", lines[2])
      assert.equal("y", xattr(dir .. "/out/var", "user.overlay.opaque"))
      assert.is_false(exists(dir .. "/dev/null"))
    end)
  end)
end)
