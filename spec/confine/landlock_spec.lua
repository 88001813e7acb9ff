-- The landlock field of nsl.container: each rule shown to refuse what it
-- should, against the same script run without it; the kernel's ABI
-- decides what can be asked (this machine's 6.18 has port rules, the VM
-- lane's 6.1 has not: each lane runs the half that applies).
local nsl = require "nsl"
local C = require "container_helpers"
local T = require "nsltest"
-- every clean-up step through defer: busted keeps one finally per test
local defer = T.deferrer(function(f) finally(f) end)

local root
local ABI = nsl.landlock_abi()

local function sh(script, extra)
  local spec = { rootfs = root, command = { "sh", "-c", script } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return C.capture(spec)
end

setup(function()
  root = C.busybox_root()
end)

teardown(function()
  local left = C.children()
  C.remove(root)
  assert.are.same({}, left)
end)

local SANDBOX = { read = { "/" }, write = { "/tmp", "/root", "/dev/null" }, exec = { "/bin" } }

-- Writes in and out of /tmp, and a copy of busybox run from /root
-- (writable, not executable; the container's /tmp is mounted noexec).
local SCRIPT = [[
rm -f /tmp/a /etc/nsl-b /root/true
echo x > /tmp/a && echo write-tmp ok || echo write-tmp refused
echo y > /etc/nsl-b && echo write-etc ok || echo write-etc refused
cp /bin/busybox /root/true && /root/true && echo exec-root ok || echo exec-root refused
cat /etc/passwd > /dev/null 2>&1; ls / > /dev/null && echo read ok
rm -f /tmp/a /root/true /etc/nsl-b
]]

describe("landlock", function()
  if ABI == 0 then
    it("is refused where the kernel has none, unless best_effort", function()
      local ok, err = pcall(nsl.container, { rootfs = root, command = { "true" }, landlock = SANDBOX })
      assert.is_false(ok)
      assert.matches("landlock: Landlock is not available", err)
    end)
    return
  end

  it("refuses writes outside write and execs outside exec", function()
    local out = sh(SCRIPT, { landlock = SANDBOX })
    assert.matches("write%-tmp ok", out)
    assert.matches("write%-etc refused", out)
    assert.matches("exec%-root refused", out)
    assert.matches("read ok", out)
  end)

  it("confines an unprivileged user's container the same way", function()
    local shared = C.busybox_root { shared = true }
    defer(function() C.remove(shared) end)
    -- writable for the user's container (its root is the user outside)
    for _, d in ipairs({ "/tmp", "/root", "/etc" }) do assert(nsl.chmod(shared .. d, 511)) end
    local out, err = T.rootless([[
      local nsl = require "nsl"
      local c = nsl.container { rootfs = arg[1], command = { "sh", "-c", arg[2] },
        landlock = { read = { "/" }, write = { "/tmp", "/root", "/dev/null" }, exec = { "/bin" } } }
      print(c:run())
    ]], shared, SCRIPT)
    assert.is_nil(err:find("nsl:", 1, true), err)
    assert.matches("true\texit\t0", out)
    assert.matches("write%-tmp ok", out)
    assert.matches("write%-etc refused", out)
    assert.matches("exec%-root refused", out)
  end)

  it("lets the same script do all of it without rules", function()
    local out = sh(SCRIPT)
    assert.matches("write%-etc ok", out)
    assert.matches("exec%-root ok", out)
  end)

  it("binds c:exec as it binds the command", function()
    local c = assert(nsl.container { rootfs = root, command = { "sleep", "30" }, landlock = SANDBOX })
    defer(function() c:destroy() end)
    assert(c:start())
    local ok, how, n = c:exec({ "sh", "-c", "echo y > /etc/nsl-b" })
    local ok2 = c:exec({ "sh", "-c", "echo y > /tmp/nsl-c && rm /tmp/nsl-c" })
    assert.is_nil(ok)
    assert.are.same({ "exit", 1 }, { how, n })
    assert.is_true(ok2)
    assert.is_nil(nsl.lstat(root .. "/etc/nsl-b"))
  end)

  it("refuses a start whose rule names a path the root lacks, and says which", function()
    local c = assert(nsl.container { rootfs = root, command = { "true" },
      landlock = { read = { "/", "/no/such/dir" } } })
    local ok, err = c:start()
    assert.is_nil(ok)
    assert.matches("landlock: open /no/such/dir: No such file or directory", err)
  end)

  it("refuses bad rules with an error naming them", function()
    local cases = {
      [{ read = "/" }] = "landlock: read must be a list of absolute paths",
      [{ write = { "tmp" } }] = "landlock: write%[1%] must be an absolute path %(got tmp%)",
      [{ connect = { 70000 } }] = "landlock: connect%[1%] must be a port number",
      [{ readonly = {} }] = "landlock: unknown field 'readonly'",
      [{ best_effort = "yes" }] = "landlock: best_effort must be a boolean",
    }
    for rules, msg in pairs(cases) do
      local ok, err = pcall(nsl.container, { rootfs = root, command = { "true" }, landlock = rules })
      assert.is_false(ok)
      assert.matches("^container: " .. msg, err)
    end
  end)

  local ports = { read = { "/" }, write = { "/dev/null" }, exec = { "/bin" }, connect = { 9 } }
  -- a listener on 8080 (binding stays free), then connections to 8080
  -- (not in connect) and to 9 (in connect: nothing listens there)
  local NET = [[
nc -l -p 8080 127.0.0.1 > /dev/null 2>&1 &
sleep 0.2
echo | nc 127.0.0.1 8080 2>&1; echo | nc 127.0.0.1 9 2>&1; kill %1 2>/dev/null; true
]]
  if ABI >= 4 then
    it("refuses TCP connections to ports outside connect", function()
      local out = sh(NET, { landlock = ports })
      assert.matches("Permission denied", out)
      assert.matches("Connection refused", out) -- port 9 is let through
      out = sh(NET)
      assert.not_matches("Permission denied", out)
    end)
  else
    it("refuses port rules on a kernel without them, and drops them with best_effort", function()
      local ok, err = pcall(nsl.container, { rootfs = root, command = { "true" }, landlock = ports })
      assert.is_false(ok)
      assert.matches("TCP port rules need Landlock ABI 4", err)
      local be = {}
      for k, v in pairs(ports) do be[k] = v end
      be.best_effort = true
      local out = sh("echo y > /etc/nsl-b || echo refused", { landlock = be })
      assert.matches("refused", out)
    end)
  end
end)
