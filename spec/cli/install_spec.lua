-- make install into a throwaway prefix, then the module from plain lua5.4.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

describe("make install", function()
  local prefix, made
  setup(function()
    prefix = H.tmpdir()
    made = { T.sh(("make -s install PREFIX=%s 2>&1"):format(prefix)) }
  end)
  teardown(function() H.rmtree(prefix) end)

  local function lua(code, dir)
    return T.sh(("cd %s && LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s 2>&1"):format(
      dir or "/", T.quote(prefix .. "/share/lua/5.4/?.lua;;"),
      T.quote(prefix .. "/lib/lua/5.4/?.so;;"), T.quote(code)))
  end

  it("succeeds and puts the binary, the C module and the Lua files under PREFIX", function()
    assert.is_true(made[2], made[1])
    for _, f in ipairs({ "/bin/nsl", "/lib/lua/5.4/nsl/core.so", "/share/lua/5.4/nsl.lua" }) do
      assert.is_truthy(H.read(prefix .. f), f .. " missing")
    end
    local _, ok = T.sh("test -x " .. prefix .. "/bin/nsl")
    assert.is_true(ok)
  end)

  it("installs nsl.archive where the installed binary finds it, from any directory", function()
    local out, ok = T.sh(("cd / && %s run /dev/stdin <<'X' 2>&1\n"
      .. "print(package.searchpath('nsl.archive', package.cpath), "
      .. "require('nsl.archive').sha256_string('') ~= nil)\nX"):format(T.quote(prefix .. "/bin/nsl")))
    assert.is_true(ok, out)
    assert.are.equal(prefix .. "/bin/../lib/lua/5.4/nsl/archive.so\ttrue", out)
  end)

  it("puts the supervisor of detached containers in libexec/nsl, where nsl finds it", function()
    local m = prefix .. "/libexec/nsl/nsl-monitor"
    local _, ok = T.sh("test -x " .. T.quote(m))
    assert.is_true(ok, m .. " missing or not executable")
    local out, _, _, code = T.sh(T.quote(m) .. " 2>&1")
    assert.are.equal(2, code)
    assert.matches("^nsl%-monitor: ", out)
  end)

  it("puts the containers' init in libexec/nsl", function()
    local m = prefix .. "/libexec/nsl/nsl-init"
    local out, _, _, code = T.sh(T.quote(m) .. " 2>&1")
    assert.are.equal(125, code)
    assert.matches("^usage: nsl%-init ", out)
  end)

  it("lets lua5.4 require \"nsl\" with the prefix's standard paths, from any directory", function()
    local out, ok = lua([[
      local nsl = require "nsl"
      print(nsl.version, package.searchpath("nsl.core", package.cpath))
      print(nsl.getpid() > 0, nsl.gethostname(), type(nsl.caps.get))
    ]])
    assert.is_true(ok, out)
    local l1, l2 = out:match("^([^\n]*)\n([^\n]*)$")
    assert.are.equal(nsl.version .. "\t" .. prefix .. "/lib/lua/5.4/nsl/core.so", l1)
    assert.are.equal("true\t" .. T.sh("hostname") .. "\tfunction", l2)
  end)

  it("installs a module whose primitives work: a child in a new uts namespace", function()
    local out, ok = lua([[
      local nsl = require "nsl"
      local pid = assert(nsl.clone("uts", function()
        assert(nsl.sethostname("installed")); print(nsl.gethostname())
      end))
      print(nsl.wait(pid))
    ]], "/tmp")
    assert.is_true(ok, out)
    assert.are.equal("installed\ntrue\texit\t0", out)
    assert.are_not.equal("installed", T.sh("hostname"))
  end)

  it("installs a binary that runs scripts on its own", function()
    local out, ok = T.sh(("cd / && %s/bin/nsl --version"):format(prefix))
    assert.is_true(ok)
    assert.are.equal(("nsl %s (Lua 5.4)"):format(nsl.version), out)
  end)

  it("uninstalls what it installed, the supervisor included", function()
    local dest = H.tmpdir()
    local out, ok = T.sh(("make -s install DESTDIR=%s PREFIX=/opt/nsl-spec 2>&1 && make -s uninstall DESTDIR=%s PREFIX=/opt/nsl-spec 2>&1")
      :format(dest, dest))
    local left = T.sh(("cd %s && find . -type f"):format(dest))
    H.rmtree(dest)
    assert.is_true(ok, out)
    assert.are.equal("", left)
  end)

  it("honours DESTDIR", function()
    local dest = H.tmpdir()
    local out, ok = T.sh(("make -s install DESTDIR=%s PREFIX=/opt/nsl-spec 2>&1"):format(dest))
    local core = H.read(dest .. "/opt/nsl-spec/lib/lua/5.4/nsl/core.so")
    local bin = H.read(dest .. "/opt/nsl-spec/bin/nsl")
    H.rmtree(dest)
    assert.is_true(ok, out)
    assert.is_truthy(core)
    assert.is_truthy(bin)
    assert.is_nil(H.read("/opt/nsl-spec/bin/nsl"))
  end)
end)
