-- Attacks from inside a default container, each of which must fail. Where
-- a defence is a switch of spec.hardening, the same attack is also run
-- with the switch off, to show that the test can tell the difference.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"

local root, tools

setup(function()
  root = C.busybox_root()
  -- A setuid-root program that prints its effective uid (busybox drops
  -- setuid privileges by itself, so it cannot serve).
  tools = assert(nsl.mkdtemp("/tmp/nsl-spec-tools-"))
  local src = tools .. "/euid.c"
  local f = assert(io.open(src, "w"))
  f:write('#include <stdio.h>\n#include <unistd.h>\n',
          'int main(void) { printf("%d\\n", (int)geteuid()); return 0; }\n')
  f:close()
  assert(nsl.mkdir(root .. "/suid", 493))
  local _, ok = T.sh(("gcc -static -O2 -o %s/suid/euid %s && chmod 4755 %s/suid/euid")
    :format(root, src, root))
  assert(ok, "cannot build the setuid test program (gcc, libc6-dev)")
end)

teardown(function()
  local left = C.children()
  C.remove(root)
  C.remove(tools)
  assert.are.same({}, left)
end)

local function sh(script, extra)
  local spec = { rootfs = root, command = { "sh", "-c", script } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return C.capture(spec)
end

describe("a default container", function()
  it("cannot write /proc/sys or /proc/sysrq-trigger", function()
    local out = sh([[
      echo evil > /proc/sys/kernel/hostname 2>/dev/null; echo "sys $?"
      echo h > /proc/sysrq-trigger 2>/dev/null; echo "sysrq $?"
      cat /proc/sys/kernel/hostname]])
    assert.are.equal("sys 1\nsysrq 1\n" .. nsl.gethostname(), out)
  end)

  it("cannot unmask a masked path or make a read-only one writable", function()
    local out = sh([[
      umount /proc/keys 2>/dev/null; echo "keys $?"
      umount /proc/sys 2>/dev/null; echo "sys $?"
      mount -o remount,rw /proc/sys 2>/dev/null; echo "remount $?"
      wc -c < /proc/keys]])
    assert.are.equal("keys 1\nsys 1\nremount 1\n0", out)
  end)

  it("cannot mount, set the hostname or add interfaces without the capabilities", function()
    -- (this kernel has no module loading at all, so insmod proves nothing
    -- here; CAP_SYS_MODULE's absence is checked with the bounding set in
    -- hardening_spec.lua)
    local out = sh([[
      mount -t tmpfs none /tmp 2>/dev/null; echo "mount $?"
      hostname evil 2>/dev/null; echo "hostname $?"
      ip link add evil0 type dummy 2>/dev/null || echo "link refused"
      hostname; ip -o link | wc -l]], { hostname = "box" })
    assert.are.equal("mount 1\nhostname 1\nlink refused\nbox\n1", out)
  end)

  it("gains nothing from a setuid-root program (no_new_privs)", function()
    local function euid(hardening)
      return C.capture { rootfs = root, hardening = hardening, command = function()
        assert(nsl.setids(1000, 1000))
        nsl.exec({ "/suid/euid" })
      end }
    end
    assert.are.equal("1000", (euid(nil)))
    -- The same program does raise its privileges when no_new_privs is off.
    assert.are.equal("0", (euid({ no_new_privs = false })))
  end)

  it("cannot reach writable /proc/sys through a new user namespace and a fresh /proc", function()
    local out = sh([[
      unshare -U -r -m -p -f --mount-proc sh -c 'echo evil > /proc/sys/kernel/hostname' 2>/dev/null
      echo "fresh $?"
      unshare -U -r -m sh -c 'umount /proc/sys 2>/dev/null || echo x > /proc/sys/kernel/hostname' 2>/dev/null
      echo "userns $?"
      hostname]], { hostname = "box" })
    assert.are.equal("fresh 1\nuserns 1\nbox", out)
  end)

  it("cannot open the host's nsl binary through /proc/1/exe of its init", function()
    local out = sh([[
      cat /proc/1/exe > /dev/null 2>&1; echo "read $?"
      echo x 2>/dev/null >> /proc/1/exe; echo "write $?"]], { init = true })
    assert.are.equal("read 1\nwrite 1", out)
  end)

  it("cannot see the caller's descriptors, even those opened without O_CLOEXEC", function()
    -- io.open uses fopen, which does not ask for O_CLOEXEC
    local leaks = {}
    for i = 1, 3 do leaks[i] = assert(io.open("/etc/hostname")) end
    local out = sh("ls /proc/self/fd | sort -n | tr '\\n' ' '")
    for _, f in ipairs(leaks) do f:close() end
    -- 0, 1, 2 and the descriptor ls reads the directory with
    assert.are.equal("0 1 2 3 ", out)
  end)
end)

describe("a rootless caller", function()
  it("cannot map ids other than its own into a container", function()
    local out = T.rootless([[
      local C = nsl.container
      local ok, err = pcall(function()
        local c = nsl.container { rootfs = arg[1], command = { "true" },
          user = { uid_map = { { 0, 0, 1 } }, gid_map = { { 0, 0, 1 } } } }
        return assert(c:run())
      end)
      print(ok, (tostring(err):gsub("\n.*", "")))
    ]], root)
    assert.matches("^false\t.*uid_map.*Operation not permitted", out)
  end)
end)
