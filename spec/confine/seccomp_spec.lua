-- nsl.seccomp and the seccomp field of nsl.container: each attack of the
-- default profile's list is run with the filter off (the kernel's own
-- answer: the call went through, or failed for another reason) and on
-- (the filter's answer), from the same container with every capability,
-- so that only the filter stands between the call and the kernel.
local nsl = require "nsl"
local C = require "container_helpers"
local seccomp = require "nsl.seccomp"

local T = require "nsltest"
-- every clean-up step through defer: busted keeps one finally per test
local defer = T.deferrer(function(f) finally(f) end)

local root, SYSPROBE

-- The probe's "NAME RESULT" lines as a table.
local function results(out)
  local t = {}
  for name, r in tostring(out):gmatch("(%S+) (%S+)") do t[name] = r end
  return t
end

local function probe(spec)
  spec.rootfs = root
  spec.command = spec.command or { "/bin/sysprobe" }
  local out, ok, how, n = C.capture(spec)
  assert(out, ok)
  assert.are.same({ true, "exit", 0 }, { ok, how, n }, out)
  return results(out)
end

setup(function()
  root = C.busybox_root()
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/confine"
  local f = assert(io.open(dir .. "/sysprobe.c"))
  SYSPROBE = f:read("a")
  f:close()
  C.compile(SYSPROBE, root .. "/bin/sysprobe")
end)

teardown(function()
  local left = C.children()
  C.remove(root)
  assert.are.same({}, left)
end)

describe("the default seccomp profile", function()
  local off, on, plain

  setup(function()
    -- every capability kept (hardening.capabilities = false), no user
    -- namespace: nothing but the filter refuses these calls
    off = probe { seccomp = false, hardening = { capabilities = false } }
    on = probe { seccomp = seccomp.compile("default"), hardening = { capabilities = false } }
    plain = probe {} -- what every container gets
  end)

  local refused = { "keyctl", "bpf", "perf_event_open", "userfaultfd", "userns_mount",
    "clone_newns", "open_by_handle_at", "tiocsti", "tiocsti_high", "ptrace",
    "kexec_load", "init_module", "syslog", "swapoff", "settimeofday", "personality" }

  for _, name in ipairs(refused) do
    it("refuses " .. name .. " with EPERM, which the kernel alone lets through", function()
      assert.are.equal("EPERM", on[name])
      assert.are_not.equal("EPERM", off[name], name .. " is refused even without the filter")
      assert.are.equal("EPERM", plain[name])
    end)
  end

  it("lets most of these through without it: the probe reaches the kernel", function()
    for _, name in ipairs({ "keyctl", "bpf", "perf_event_open", "userfaultfd", "userns_mount",
      "open_by_handle_at", "tiocsti", "ptrace", "syslog" }) do
      assert.are.equal("ok", off[name], name)
    end
  end)

  it("answers clone3 with ENOSYS, and the program goes on through clone", function()
    assert.are.equal("ok", off.clone3)
    assert.are.equal("ENOSYS", on.clone3)
    assert.are.equal("ok", on.fork)
  end)

  it("refuses the i386 ABI (int 0x80) with ENOSYS", function()
    assert.are.equal("ok", off.int80)
    assert.are.equal("ENOSYS", on.int80)
  end)

  it("answers calls newer than it knows with ENOSYS, not EPERM", function()
    assert.are_not.equal("ENOSYS", off.listmount) -- Linux 6.8 has it
    assert.are.equal("ENOSYS", on.listmount)
    assert.are.equal("ENOSYS", on.nr1000)
  end)

  it("lets a shell, its pipes and its children run", function()
    local out, ok = C.capture { rootfs = root, command = { "sh", "-c",
      "echo a | tr a b; ls /bin | grep -c busybox; (sleep 0; echo sub) & wait" } }
    assert.is_true(ok, out)
    assert.are.equal("b\n1\nsub", out)
  end)

  it("allows what a capability the container keeps stands for", function()
    local r = probe { capabilities = { "CAP_SYS_PTRACE", "CAP_SYSLOG" } }
    assert.are.equal("ok", r.ptrace)
    assert.are.equal("ok", r.syslog)
    assert.are.equal("EPERM", r.bpf)
  end)

  it("reports the filter in force in the process's status", function()
    local out = C.capture { rootfs = root, command = { "grep", "^Seccomp:", "/proc/self/status" } }
    assert.are.equal("Seccomp:\t2", out)
    out = C.capture { rootfs = root, seccomp = false, command = { "grep", "^Seccomp:", "/proc/self/status" } }
    assert.are.equal("Seccomp:\t0", out)
  end)

  it("filters c:exec as it filters the command", function()
    local c = assert(nsl.container { rootfs = root, command = { "sleep", "30" } })
    defer(function() c:destroy() end)
    assert(c:start())
    local r, w = assert(nsl.pipe())
    io.stdout:flush()
    local saved = assert(nsl.dup2(1, 199))
    assert(nsl.dup2(w, 1))
    nsl.close(w)
    local ok = c:exec({ "/bin/sysprobe" })
    assert(nsl.dup2(saved, 1))
    nsl.close(saved)
    local out = assert(nsl.read(r, 65536))
    nsl.close(r)
    assert.is_true(ok)
    assert.are.equal("EPERM", results(out).keyctl)
  end)
end)

describe("the default seccomp profile, rootless", function()
  it("refuses the same calls in an unprivileged user's container", function()
    local shared = C.busybox_root { shared = true }
    defer(function() C.remove(shared) end)
    C.compile(SYSPROBE, shared .. "/bin/sysprobe")
    local out, err = T.rootless([[
      local nsl = require "nsl"
      local c = nsl.container { rootfs = arg[1], command = { "/bin/sysprobe" } }
      print(c:run())
    ]], shared)
    assert.are.equal("", err)
    local r = results(out)
    for _, name in ipairs({ "keyctl", "userns_mount", "clone_newns", "ptrace", "open_by_handle_at" }) do
      assert.are.equal("EPERM", r[name], name)
    end
    assert.are.equal("ENOSYS", r.clone3)
    assert.are.equal("ok", r.fork)
    assert.matches("true\texit\t0", out)
  end)
end)

describe("seccomp policies as Lua tables", function()
  it("adds to the default with extends and allow", function()
    local r = probe { seccomp = { extends = "default", allow = { "keyctl", "add_key" } } }
    assert.are.equal("ok", r.keyctl)
    assert.are.equal("EPERM", r.bpf)
  end)

  it("takes away with deny and @groups", function()
    local out = C.capture { rootfs = root,
      seccomp = { extends = "default", deny = { "@network" } },
      command = { "sh", "-c", "nc -l -p 1 127.0.0.1 2>&1; echo rc=$?" } }
    assert.matches("rc=1", out)
    assert.matches("not permitted", out)
  end)

  it("gives per-call actions: an errno by name, kill", function()
    local r = probe { seccomp = { extends = "default",
      rules = { { "add_key", action = "EACCES" }, { "syslog", action = "ENOENT" } } } }
    assert.are.equal("EACCES", r.keyctl)
    assert.are.equal("ENOENT", r.syslog)
    local out, ok, how, n = C.capture { rootfs = root, command = { "/bin/sysprobe" },
      seccomp = { extends = "default", rules = { { "add_key", action = "kill" } } } }
    -- killed by SIGSYS: under nsl-init, which exits with 128 + 31
    assert.is_nil(ok)
    assert.are.same({ "exit", 159 }, { how, n })
    assert.are.equal("", out)
  end)

  it("compares arguments: an allow only for one value, an exception to an allowed call", function()
    local r = probe { seccomp = { extends = "default", rules = {
      -- syslog allowed for SYSLOG_ACTION_SIZE_BUFFER (10) only
      { "syslog", action = "allow", args = { { 0, "==", 10 } } },
      -- pipes allowed, but not with O_DIRECT (0x4000) in pipe2's flags
      { "pipe2", action = "EINVAL", args = { { 1, "&==", 0x4000, 0x4000 } } },
    } }, hardening = { capabilities = false } }
    assert.are.equal("ok", r.syslog)
    local out = C.capture { rootfs = root, command = { "sh", "-c", "echo x | cat" },
      seccomp = { extends = "default", rules = { { "pipe2", action = "EINVAL", args = { { 1, "&==", 0x4000, 0x4000 } } } } } }
    assert.are.equal("x", out)
  end)

  it("writes a whole allow-list policy", function()
    local policy = { default = "EPERM", allow = { "@process", "read", "write", "exit_group",
      "brk", "mmap", "munmap", "arch_prctl", "set_tid_address", "rt_sigprocmask",
      "rt_sigaction", "rt_sigreturn", "getpid", "getppid", "getuid", "geteuid", "getgid",
      "getegid", "uname", "newfstatat", "fstat", "ioctl", "openat", "close", "fcntl",
      "getcwd", "prlimit64", "set_robust_list", "rseq", "mprotect", "getrandom", "exit" } }
    local out, ok = C.capture { rootfs = root, seccomp = policy, command = { "echo", "hi" } }
    assert.is_true(ok)
    assert.are.equal("hi", out)
    local _, how, n
    out, ok, how, n = C.capture { rootfs = root, seccomp = policy, command = { "mkdir", "/tmp/nsl-probe-dir" } }
    assert.are.same({ "exit", 1 }, { how, n })
    assert.is_nil(nsl.lstat(root .. "/tmp/nsl-probe-dir"))
  end)

  it("refuses bad policies with an error naming the entry", function()
    local cases = {
      [{ allow = { "nosuchcall" } }] = "seccomp: allow: unknown system call 'nosuchcall'",
      [{ deny = { "@nosuch" } }] = "seccomp: deny: unknown group '@nosuch'",
      [{ rules = { { "ioctl", action = "EWHAT" } } }] = "seccomp: rules%[1%] %(ioctl%): unknown action 'EWHAT'",
      [{ rules = { { "ioctl", action = "allow", args = { { 9, "==", 1 } } } } }] =
        "seccomp: rules%[1%] %(ioctl%), condition 1: the argument index must be 0 to 5",
      [{ rules = { { "ioctl", action = "allow", args = { { 1, "~", 1 } } } } }] =
        "seccomp: rules%[1%] %(ioctl%), condition 1: unknown comparison '~'",
      [{ rules = { { "ioctl", action = "allow", args = { { 1, "&==", 1 } } } } }] =
        "seccomp: rules%[1%] %(ioctl%), condition 1: '&==' needs a mask",
      [{ extends = "strict" }] = "seccomp: extends: unknown profile 'strict'",
      [{ allowed = {} }] = "seccomp: policy: unknown field 'allowed'",
      [{ default = "maybe" }] = "seccomp: default: unknown action 'maybe'",
    }
    for policy, msg in pairs(cases) do
      local ok, err = pcall(nsl.container, { rootfs = root, command = { "true" }, seccomp = policy })
      assert.is_false(ok)
      assert.matches("^container: " .. msg, err)
    end
    local ok, err = pcall(nsl.container, { rootfs = root, command = { "true" }, seccomp = 3 })
    assert.is_false(ok)
    assert.matches("seccomp must be a profile name", err)
  end)

  it("names the filter in force in c:info() and in the record nsl ps --json shows", function()
    local function seccomp_of(spec)
      spec.rootfs, spec.command = root, { "true" }
      return nsl.container(spec):info().confinement.seccomp
    end
    assert.are.equal("default", seccomp_of {})
    assert.is_false(seccomp_of { seccomp = false })
    assert.are.equal("default+custom", seccomp_of { seccomp = { extends = "default", allow = { "keyctl" } } })
    assert.are.equal("custom", seccomp_of { seccomp = { allow = { "@process" } } })
    local name = "nsl-spec-seccomp-" .. nsl.getpid()
    local c = assert(nsl.container { name = name, rootfs = root, command = { "sleep", "30" } })
    defer(function() c:destroy() end)
    assert(c:start())
    local rec = assert(require("nsl.container").info(name))
    assert.are.same({ seccomp = "default", landlock = false }, rec.confinement)
  end)

  it("reads an OCI runtime spec's linux.seccomp object (the OCI runtime uses it)", function()
    local oci = {
      defaultAction = "SCMP_ACT_ERRNO", defaultErrnoRet = 1,
      architectures = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86" },
      syscalls = {
        { names = { "add_key" }, action = "SCMP_ACT_ERRNO", errnoRet = 13 },
        { names = { "syslog" }, action = "SCMP_ACT_ALLOW",
          args = { { index = 0, value = 10, op = "SCMP_CMP_EQ" } } },
        { names = { "personality" }, action = "SCMP_ACT_ALLOW",
          args = { { index = 0, value = 0xFFFFFFFF, valueTwo = 0x0040000, op = "SCMP_CMP_MASKED_EQ" } } },
        { names = { "no_such_call_yet" }, action = "SCMP_ACT_ALLOW" },
      },
    }
    local policy = seccomp.from_oci(oci)
    -- the rest of what a program needs, from the default profile
    policy.extends = "default"
    local r = probe { seccomp = policy, hardening = { capabilities = false } }
    assert.are.equal("EACCES", r.keyctl)
    assert.are.equal("ok", r.syslog)
    assert.are.equal("ok", r.personality) -- value is the mask, valueTwo the datum
    assert.are.equal("ok", r.int80) -- SCMP_ARCH_X86 accepted
    local ok, err = pcall(seccomp.from_oci, { defaultAction = "SCMP_ACT_NOTIFY" })
    assert.is_false(ok)
    assert.matches("seccomp: defaultAction: action SCMP_ACT_NOTIFY is not supported", err)
  end)

  it("keeps compiled profiles in the caller's own cache directory, and only there", function()
    if not T.bin_reachable() then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local dir = assert(nsl.mkdtemp("/tmp/nsl-spec-cache-"))
    defer(function() os.execute("rm -rf " .. T.quote(dir)) end)
    local script = T.script([[
      local f = require("nsl.seccomp").compile("default", 0)
      print(#f.programs, package.loaded["nsl.seccomp_compile"] ~= nil)
    ]])
    defer(function() os.remove(script) end)
    local function run()
      return T.sh(("setpriv --reuid=%d --regid=%d --clear-groups env XDG_CACHE_HOME=%s %s run %s 2>&1")
        :format(T.uid, T.gid, T.quote(dir), T.quote(T.user_bin()), T.quote(script)))
    end
    -- root's directory: not the user's own, so not used (and no error)
    assert.are.equal("2\ttrue", run())
    assert.is_nil(nsl.lstat(dir .. "/nsl"))
    -- the user's own: the first run compiles and keeps, the next reads
    assert(os.execute(("chown %d:%d %s && chmod 700 %s"):format(T.uid, T.gid, T.quote(dir), T.quote(dir))))
    assert.are.equal("2\ttrue", run())
    local st = assert(nsl.lstat(dir .. "/nsl/seccomp-default-0"))
    assert.are.equal(384, st.mode & 511) -- 0600
    assert.are.equal("2\tfalse", run()) -- libseccomp not even loaded
    -- a file of another build (another stamp) is compiled again
    local f = assert(io.open(dir .. "/nsl/seccomp-default-0", "wb"))
    f:write("nsl-seccomp 1 0.0.0 /elsewhere 1 2 3\n")
    f:close()
    assert.are.equal("2\ttrue", run())
  end)

  it("compiles a policy once per capability set", function()
    local p = { extends = "default", allow = { "keyctl" } }
    assert.are.equal(seccomp.compile(p), seccomp.compile(p))
    assert.are.equal(seccomp.compile("default", 0), seccomp.compile("default", 0))
    assert.are_not.equal(seccomp.compile("default", 0), seccomp.compile("default", nsl.cap_bits({ "CAP_SYS_ADMIN" })))
  end)
end)
