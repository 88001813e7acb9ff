-- nsl.owned_dir (src/owned.c): a directory is trusted only when it is
-- the caller's own, and work beneath it follows no link. Each attack is
-- set up as another local user would (uid 3001 through setpriv) or as a
-- container's code would (links planted inside).
local nsl = require "nsl"
local T = require "nsltest"
local read = T.read
local H = require "hostcheck"

local OTHER = 3001

-- Runs a shell command as the other user.
local function as_other(cmd)
  return T.sh(("setpriv --reuid=%d --regid=%d --clear-groups sh -c %s 2>&1")
    :format(OTHER, OTHER, T.quote(cmd)))
end

local base
before_each(function() base = H.tmpdir() end) -- 0700, root's
after_each(function() H.rmtree(base) end)

describe("nsl.owned_dir", function()
  it("opens the caller's own directory, and makes a missing one with the mode asked for", function()
    local d = assert(nsl.owned_dir(base))
    assert.are.equal(base, d:path())
    d:close()
    local old = nsl.umask(18)
    local made = assert(nsl.owned_dir(base .. "/a/b", { create = 448 }))
    nsl.umask(old)
    made:close()
    assert.are.equal(448, nsl.lstat(base .. "/a/b").mode)
    assert.are.equal(493, nsl.lstat(base .. "/a").mode)
    -- sticky bits too, whatever the umask
    made = assert(nsl.owned_dir(base .. "/t", { create = 1005 }))
    made:close()
    assert.are.equal(1005, nsl.lstat(base .. "/t").mode)
  end)

  it("refuses a directory another user made first, naming it, its owner and the way out", function()
    local planted = "/tmp/nsl-spec-planted-" .. nsl.getpid()
    finally(function() os.execute("rm -rf " .. T.quote(planted)) end)
    local _, ok = as_other("mkdir -m 755 " .. planted)
    assert.is_true(ok)
    local d, err = nsl.owned_dir(planted, { create = 493 })
    assert.is_nil(d)
    assert.are.equal(planted .. " is owned by uid " .. OTHER .. ", not by you (uid 0): someone else "
      .. "may have made it first; remove it or use a directory of your own", err)
  end)

  it("refuses a path through another user's directory", function()
    local theirs = "/tmp/nsl-spec-theirs-" .. nsl.getpid()
    finally(function() os.execute("rm -rf " .. T.quote(theirs)) end)
    assert.is_true(select(2, as_other("mkdir -m 777 " .. theirs)))
    local d, err = nsl.owned_dir(theirs .. "/mine", { create = 493 })
    assert.is_nil(d)
    assert.matches(theirs:gsub("%p", "%%%0") .. " is owned by another user %(owner uid 3001, mode 0777%)", err)
    assert.is_nil(nsl.lstat(theirs .. "/mine")) -- nothing made in it
  end)

  it("refuses a path through a world-writable directory without the sticky bit", function()
    assert(nsl.mkdir(base .. "/open"))
    assert(nsl.chmod(base .. "/open", 511))
    local d, err = nsl.owned_dir(base .. "/open/x", { create = 493 })
    assert.is_nil(d)
    assert.matches("/open is writable by other users", err)
    -- /tmp itself is sticky: fine
    local ok = nsl.owned_dir(base)
    assert.is_truthy(ok)
    ok:close()
  end)

  it("refuses a symlink anywhere on the path, and writes nothing through it", function()
    local target = base .. "/real"
    assert(nsl.mkdir(target, 448))
    assert(nsl.symlink(target, base .. "/link"))
    for _, path in ipairs { base .. "/link", base .. "/link/sub" } do
      local d, err = nsl.owned_dir(path, { create = 448 })
      assert.is_nil(d)
      assert.matches("/link is a symbolic link; nsl follows none", err)
    end
    assert.are.same({}, nsl.readdir(target))
  end)

  it("refuses a directory writable by others (or, private, open to them)", function()
    assert(nsl.mkdir(base .. "/gw", 509)) -- 0775
    assert(nsl.chmod(base .. "/gw", 509))
    local d, err = nsl.owned_dir(base .. "/gw")
    assert.is_nil(d)
    assert.matches("has mode 0775: it must be writable by you only", err)
    assert(nsl.mkdir(base .. "/rx", 493))
    d = assert(nsl.owned_dir(base .. "/rx"))
    d:close()
    d, err = nsl.owned_dir(base .. "/rx", { private = true })
    assert.is_nil(d)
    assert.matches("has mode 0755: it must be closed to other users", err)
  end)

  it("checks its arguments", function()
    assert.has_error(function() nsl.owned_dir("") end)
    assert.has_error(function() nsl.owned_dir(base, { mode = 1 }) end,
      "owned_dir options: unknown field 'mode' (expected create, private)")
    local d = assert(nsl.owned_dir(base))
    assert.has_error(function() d:mkdir("../x") end)
    assert.has_error(function() d:read("/etc/passwd") end)
    assert.has_error(function() d:write("a//b", "x") end)
    d:close()
    assert.has_error(function() d:read("x") end)
  end)
end)

describe("an owned directory's methods", function()
  local d, victim
  before_each(function()
    d = assert(nsl.owned_dir(base))
    -- what a container's code would point links at: the host's files
    victim = H.tmpdir()
    local f = assert(io.open(victim .. "/file", "w"))
    f:write("host\n")
    f:close()
  end)
  after_each(function()
    d:close()
    H.rmtree(victim)
  end)

  it("write replaces a link with a file and never writes through it", function()
    assert(d:symlink(victim .. "/file", "f"))
    assert(d:write("f", "new\n", 420))
    assert.are.equal("file", nsl.lstat(base .. "/f").type)
    assert.are.equal(420, nsl.lstat(base .. "/f").mode)
    assert.are.equal("new\n", read(base .. "/f"))
    assert.are.equal("host\n", read(victim .. "/file"))
  end)

  it("follows no link on the way: read, write, mkdir, symlink, chmod and lstat fail", function()
    local mode = nsl.lstat(victim .. "/file").mode
    assert(d:symlink(victim, "etc"))
    local _, err, code = d:read("etc/file")
    assert.are.equal(20, code) -- ENOTDIR: the link is not a directory here
    assert.matches("read " .. base:gsub("%p", "%%%0") .. "/etc/file", err)
    assert.is_nil((d:write("etc/passwd", "x")))
    assert.is_nil((d:mkdir("etc/sub")))
    assert.is_nil((d:symlink("/", "etc/l")))
    assert.is_nil((d:chmod("etc/file", 511)))
    assert.is_nil((d:lstat("etc/file")))
    assert.are.same({ "file" }, nsl.readdir(victim))
    assert.are.equal(mode, nsl.lstat(victim .. "/file").mode)
    -- a link as the last component: read and chmod refuse it
    assert(d:symlink(victim .. "/file", "l"))
    local _, _, lcode = d:read("l")
    assert.are.equal(40, lcode) -- ELOOP
    assert.is_nil((d:chmod("l", 511)))
    assert.are.equal(mode, nsl.lstat(victim .. "/file").mode)
  end)

  it("mkdir gives the mode asked for and fails on what is there", function()
    assert(d:mkdir("tmp", 1023))
    assert.are.equal(1023, d:lstat("tmp").mode)
    local ok, _, code = d:mkdir("tmp")
    assert.is_nil(ok)
    assert.are.equal(17, code)
  end)

  it("remove takes a whole tree, its links but not what they point at", function()
    assert(d:mkdir("top"))
    assert(d:mkdir("top/w", 0))         -- overlayfs leaves a mode-0 work/work
    assert(d:write("top/a", "x"))
    assert(d:symlink(victim, "top/to-host"))
    assert(d:symlink(victim .. "/file", "top/to-file"))
    assert(d:remove("top"))
    assert.is_nil(nsl.lstat(base .. "/top"))
    assert.are.equal("host\n", read(victim .. "/file"))
    assert(d:remove("top")) -- gone already: fine
  end)

  it("remove does not enter another file system mounted beneath", function()
    assert(d:mkdir("m"))
    local ok, how, code = T.child({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      assert(nsl.mount("tmpfs", base .. "/m", "tmpfs", "", "mode=0755"))
      local f = assert(io.open(base .. "/m/keep", "w"))
      f:close()
      local inner = assert(nsl.owned_dir(base))
      local rok, err, ecode = inner:remove("m")
      assert(rok == nil and ecode == 18, tostring(err)) -- EXDEV
      assert(nsl.lstat(base .. "/m/keep"), "removed a file of the mounted file system")
      return 0
    end)
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
  end)

  it("list names the entries", function()
    assert(d:write("b", ""))
    assert(d:mkdir("a"))
    local names = d:list()
    table.sort(names)
    assert.are.same({ "a", "b" }, names)
    assert.are.same({}, d:list("a"))
  end)
end)
