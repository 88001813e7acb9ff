-- The default hardening of nsl.container, each item checked from inside a
-- container, and each switch of spec.hardening turning its item off.
local nsl = require "nsl"
local C = require "container_helpers"

local root

setup(function() root = C.busybox_root() end)
teardown(function()
  assert.are.same({}, C.children())
  C.remove(root)
end)

local function sh(script, hardening, extra)
  local spec = { rootfs = root, command = { "sh", "-c", script }, hardening = hardening }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return C.capture(spec)
end

-- The capability mask of the default set (CHOWN ... AUDIT_WRITE).
local DEFAULT_CAPS = "00000000a80425fb"

describe("default hardening", function()
  it("limits bounding, permitted and effective to the default set, inheritable and ambient empty", function()
    local out = sh("grep -E '^Cap' /proc/self/status")
    assert.are.equal(("CapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t0000000000000000")
      :format(DEFAULT_CAPS, DEFAULT_CAPS, DEFAULT_CAPS), out)
  end)

  it("sets no_new_privs", function()
    assert.are.equal("NoNewPrivs:\t1", (sh("grep NoNewPrivs /proc/self/status")))
  end)

  it("mounts /proc nosuid,nodev,noexec and /sys read-only", function()
    local out = sh("grep -E ' /(proc|sys) ' /proc/mounts")
    assert.matches("^proc /proc proc rw,nosuid,nodev,noexec", out)
    assert.matches("\nsysfs /sys sysfs ro,nosuid,nodev,noexec", out)
    assert.matches("Read%-only file system", (sh("mkdir /sys/x 2>&1")))
  end)

  it("masks the masked paths", function()
    -- (this kernel may lack some of them, /proc/kcore for one: those are skipped)
    local out = sh("wc -c < /proc/timer_list; wc -c < /proc/keys; ls -A /sys/firmware | wc -l; " ..
      "grep -c ' /proc/timer_list ' /proc/mounts; grep -c ' /sys/firmware tmpfs ro' /proc/mounts")
    assert.are.equal("0\n0\n0\n1\n1", out)
    -- unmasked, the same file has content
    assert.are.equal("1", (sh("head -c 1 /proc/timer_list | wc -c", { masked_paths = false })))
  end)

  it("makes the read-only paths read-only", function()
    local out = sh("echo x 2>&1 > /proc/sys/kernel/hostname; " ..
      "grep -E ' /proc/(sys|bus|fs|irq|sysrq-trigger) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1")
    assert.matches("Read%-only file system", out)
    for _, p in ipairs({ "sys", "bus", "fs", "irq" }) do
      assert.matches("/proc/" .. p:gsub("%-", "%%-") .. " ro", out)
    end
  end)

  it("gives a minimal /dev on tmpfs with working nodes, devpts, shm, mqueue and links", function()
    local out = sh("ls /dev | tr '\\n' ' '; grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/mounts | cut -d' ' -f1-3; " ..
      "head -c 4 /dev/zero | wc -c; echo hi > /dev/null && echo null-ok; " ..
      "readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx; " ..
      "head -c 8 /dev/urandom | wc -c")
    assert.are.equal("fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " ..
      "tmpfs /dev tmpfs\ndevpts /dev/pts devpts\nshm /dev/shm tmpfs\nmqueue /dev/mqueue mqueue\n" ..
      "4\nnull-ok\n/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n8", out)
  end)

  it("closes every descriptor above 2 before exec", function()
    -- a descriptor of the caller without close-on-exec
    assert(nsl.dup2(2, 57))
    local out = sh("ls /proc/self/fd | tr '\\n' ' '")
    nsl.close(57)
    assert.are.equal("0 1 2 3 ", out) -- 3: ls's own directory
  end)

  it("replaces the caller's descriptors with /dev/null for a Lua command", function()
    assert(nsl.dup2(2, 57))
    local out = C.capture { rootfs = root, command = function()
      print(nsl.readlink("/proc/self/fd/57"))
    end }
    nsl.close(57)
    assert.are.equal("/dev/null", out)
  end)

  it("starts a new session", function()
    -- PID 1 leads its own session, with no controlling terminal
    assert.are.equal("1", (sh("cut -d' ' -f6 /proc/self/stat")))
    assert.matches("not a tty", (sh("tty")))
  end)

  it("resolves cwd inside the root and refuses magic links", function()
    assert(nsl.symlink("../../../../../etc", root .. "/up"))
    assert.are.equal("/etc", (sh("pwd", nil, { cwd = "/up" })))
    local ok, err = nsl.container { rootfs = root, cwd = "/proc/self/cwd" }:start()
    assert.is_nil(ok)
    assert.matches("^cwd /proc/self/cwd: ", err)
    os.remove(root .. "/up")
  end)

  it("pivots into the root: nothing of the host's tree is left mounted", function()
    -- field 5 of mountinfo: the mount point as the process sees it
    local out = sh("cut -d' ' -f5 /proc/self/mountinfo | head -1; cut -d' ' -f5 /proc/self/mountinfo | grep -c " .. root)
    assert.are.equal("/\n0", out)
  end)

  it("refuses a root whose /proc, /sys or /dev is a symlink", function()
    for _, d in ipairs({ "proc", "sys", "dev" }) do
      local bad = C.busybox_root()
      assert(nsl.rmdir(bad .. "/" .. d))
      assert(nsl.symlink("/tmp", bad .. "/" .. d))
      local ok, err = nsl.container { rootfs = bad, command = { "true" } }:start()
      assert.is_nil(ok)
      assert.are.equal("rootfs: /" .. d .. " is a symlink (refused: it could point outside the root)", err)
      assert.are.same({}, C.mounts_under(bad))
      C.remove(bad)
    end
  end)
end)

describe("hardening switches", function()
  -- Whether the host's tree is still there in the container's mount
  -- namespace (a child of the caller joins it and looks for the root).
  local function host_tree_in_namespace(hardening)
    local c = nsl.container { rootfs = root, command = { "sleep", "30" }, hardening = hardening }
    assert(c:start())
    local pid = assert(nsl.clone({}, function()
      assert(nsl.setns(c.pid, "mnt"))
      return nsl.lstat(root .. "/bin/busybox") and 0 or 1
    end))
    local ok = nsl.wait(pid)
    c:destroy()
    return ok == true
  end

  it("pivot_root = false uses chroot: the host's tree stays in the namespace", function()
    assert.is_false(host_tree_in_namespace())
    assert.is_true(host_tree_in_namespace({ pivot_root = false }))
    -- exec still runs inside the container's root
    local c <close> = nsl.container { rootfs = root, command = { "sleep", "30" }, hardening = { pivot_root = false } }
    assert(c:start())
    assert.are.same({ true, "exit", 0 }, { c:exec({ "test", "-x", "/bin/busybox" }) })
  end)

  it("private_mounts = false makes mounts slaves of the host's", function()
    local f = assert(io.open("/proc/self/mountinfo"))
    local shared = f:read("a"):match("%S+ %S+ %S+ %S+ (%S+) [^\n]*shared:")
    f:close()
    if not shared then return pending("no shared mount on this host to be a slave of") end
    local extra = { mounts = { { bind = true, source = shared, target = "/shared" } } }
    local grep = "grep ' /shared ' /proc/self/mountinfo | grep -c master:"
    assert.are.equal("1", (sh(grep, { private_mounts = false }, extra)))
    assert.are.equal("0", (sh(grep, nil, extra)))
  end)

  it("proc, sys and dev = false leave those directories alone", function()
    local out = sh("ls -A /proc | wc -l; ls -A /sys | wc -l; ls -A /dev | wc -l",
      { proc = false, sys = false, dev = false, masked_paths = false, readonly_paths = false })
    assert.are.equal("0\n0\n0", out)
  end)

  it("masked_paths = false and readonly_paths = false leave /proc as the kernel shows it", function()
    local out = sh("grep -c ' /proc/' /proc/mounts; head -c 1 /proc/timer_list | wc -c",
      { masked_paths = false, readonly_paths = false })
    assert.are.equal("0\n1", out)
  end)

  it("masked_paths and readonly_paths take lists", function()
    local out = sh("wc -c < /proc/version; grep -E ' /proc/(sys|kcore|cmdline) ' /proc/mounts | cut -d' ' -f2 | tr '\\n' ' '",
      { masked_paths = { "/proc/version" }, readonly_paths = { "/proc/cmdline" } })
    assert.are.equal("0\n/proc/cmdline ", out)
  end)

  it("capabilities = false keeps every capability, no_new_privs = false leaves it off", function()
    local out = sh("grep -E 'CapBnd|NoNewPrivs' /proc/self/status", { capabilities = false, no_new_privs = false })
    local bnd = out:match("CapBnd:\t(%x+)")
    assert.are_not.equal(DEFAULT_CAPS, bnd)
    assert.is_true(tonumber(bnd, 16) & 0x200000 ~= 0) -- CAP_SYS_ADMIN
    assert.matches("NoNewPrivs:\t0", out)
  end)

  it("close_fds = false lets the caller's descriptors through", function()
    assert(nsl.dup2(2, 57))
    local out = sh("test -e /proc/self/fd/57 && echo kept", { close_fds = false })
    nsl.close(57)
    assert.are.equal("kept", out)
  end)

  it("new_session = false stays in the caller's session", function()
    assert.are_not.equal("1", (sh("cut -d' ' -f6 /proc/self/stat", { new_session = false })))
  end)

  it("resolve_cwd = false follows magic links", function()
    local c = nsl.container { rootfs = root, cwd = "/proc/self/cwd", command = { "true" },
      hardening = { resolve_cwd = false } }
    assert.is_true((c:run()))
  end)

  it("refuse_symlinks = false mounts through the symlink, inside the root", function()
    local bad = C.busybox_root()
    assert(nsl.rmdir(bad .. "/proc"))
    assert(nsl.mkdir(bad .. "/realproc"))
    assert(nsl.symlink("/realproc", bad .. "/proc"))
    local out = C.capture { rootfs = bad, command = { "sh", "-c", "grep -c ' /realproc proc' /proc/mounts" },
      hardening = { refuse_symlinks = false } }
    assert.are.equal("1", out)
    assert.are.same({}, C.mounts_under(bad))
    C.remove(bad)
  end)
end)
