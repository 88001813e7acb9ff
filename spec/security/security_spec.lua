-- Attacks from inside a default container, each of which must fail. Where
-- a defence is a switch of spec.hardening, the same attack is also run
-- with the switch off, to show that the test can tell the difference;
-- where no switch exists, a control shows that the attack's tool works.
-- docs/security.md names each defence after its test here.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"
local container = require "nsl.container"

local root, shared, tools

-- A setuid-root program that prints its effective uid (busybox drops
-- setuid privileges by itself, so it cannot serve).
local EUID = [[
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("%d\n", (int)geteuid()); return 0; }
]]

-- The attacks that need system calls busybox does not make. Each prints
-- what the kernel answered ("ok" or the errno's name).
local PROBE = [[
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *result(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

/* tiocsti: pushes a command into the input of the terminal on fd 0, fd 1
 * and /dev/tty, then tries to take fd 0's terminal as its own. Reports
 * on stderr. */
static const char *inject(int fd)
{
	const char *text = "echo injected\n";
	for (const char *p = text; *p; p++)
		if (ioctl(fd, TIOCSTI, p) < 0)
			return strerrorname_np(errno);
	return "ok";
}

static int tiocsti(void)
{
	dprintf(2, "0:%s 1:%s", inject(0), inject(1));
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
	dprintf(2, " tty:%s", tty < 0 ? strerrorname_np(errno) : inject(tty));
	long r = ioctl(0, TIOCSCTTY, 1); /* stealing needs CAP_SYS_ADMIN */
	dprintf(2, " steal:%s\n", r < 0 ? strerrorname_np(errno) : inject(0));
	return 0;
}

/* caps: tries to gain CAP_SYS_ADMIN (outside the default set) and
 * CAP_KILL (inside it) in every set, and to load a module. */
static long capadd(int cap, const char *sets)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	unsigned bit = 1u << (cap % 32);
	if (strchr(sets, 'p'))
		d[cap / 32].permitted |= bit, d[cap / 32].effective |= bit;
	if (strchr(sets, 'i'))
		d[cap / 32].inheritable |= bit;
	return syscall(SYS_capset, &h, d);
}

static void raise_cap(const char *name, int cap)
{
	printf("%s pe:%s", name, result(capadd(cap, "p")));
	printf(" i:%s", result(capadd(cap, "i")));
	printf(" a:%s\n", result(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)));
}

static int caps(void)
{
	raise_cap("sys_admin", CAP_SYS_ADMIN);
	raise_cap("kill", CAP_KILL);
	static char image[64]; /* no module: the kernel would refuse it after the capability check */
	printf("init_module:%s\n", result(syscall(SYS_init_module, image, sizeof image, "")));
	return 0;
}

/* keyring SECRET PROGRAM ARGS...: runs PROGRAM in a new session keyring
 * holding the user key "nsl-secret". keyread: prints that key's payload
 * as this process's session keyring shows it. */
static int keyring(char **argv)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 ||
	    syscall(SYS_add_key, "user", "nsl-secret", argv[0], strlen(argv[0]),
		    KEY_SPEC_SESSION_KEYRING) < 0) {
		perror("probe keyring");
		return 1;
	}
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}

static int keyread(void)
{
	long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "nsl-secret", 0);
	if (id < 0) {
		printf("search:%s\n", strerrorname_np(errno));
		return 0;
	}
	char buf[256] = {0};
	long n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf - 1);
	printf("read:%s\n", n < 0 ? strerrorname_np(errno) : buf);
	return 0;
}

/* grab REPORT STOP: watches for new processes in its pid namespace (the
 * next pid) and opens /proc/PID/exe of each, as runc's CVE-2019-5736
 * did, until the file STOP exists (or 60 s). A refused process is tried
 * again and again until it can be opened (after its exec, or in a
 * moment it was not protected) or is gone. Appends to REPORT:
 * "refused PID ERRNO" when the process exists but its exe cannot be
 * opened, "caught PID TARGET" when it can, then "write PID ok|ERRNO" for
 * an attempt to open that file for writing (nothing is written). */
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long last_pid(void)
{
	char buf[32] = {0};
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 ? atol(buf) : -1;
}

static void watch(int out, long pid)
{
	char path[64], fdpath[64], target[4096];
	int refused = 0;
	snprintf(path, sizeof path, "/proc/%ld/exe", pid);
	for (;;) {
		int fd = open(path, O_RDONLY);
		if (fd < 0 && errno == ENOENT)
			return; /* gone (or not there yet: the caller retries) */
		if (fd < 0) {
			if (!refused++)
				dprintf(out, "refused %ld %s\n", pid, strerrorname_np(errno));
			continue;
		}
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(fdpath, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		int w = open(fdpath, O_WRONLY);
		dprintf(out, "caught %ld %s\nwrite %ld %s\n", pid, target, pid,
			w < 0 ? strerrorname_np(errno) : "ok");
		if (w >= 0)
			close(w);
		close(fd);
		return;
	}
}

static int grab(const char *report, const char *stop)
{
	int out = open(report, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (out < 0)
		return 1;
	double end = now() + 60;
	long seen = last_pid();
	char path[64];
	dprintf(out, "ready %ld\n", seen);
	while (now() < end && access(stop, F_OK) != 0) {
		long last = last_pid();
		if (last <= seen) {
			/* a short sleep, not a busy loop: the scheduler then
			 * runs the watcher soon after a new process appears */
			usleep(20);
			continue;
		}
		for (long pid = seen + 1; pid <= last; pid++) {
			snprintf(path, sizeof path, "/proc/%ld", pid);
			if (access(path, F_OK) == 0)
				watch(out, pid);
		}
		seen = last;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "tiocsti") == 0)
		return tiocsti();
	if (argc == 2 && strcmp(argv[1], "caps") == 0)
		return caps();
	if (argc >= 4 && strcmp(argv[1], "keyring") == 0)
		return keyring(argv + 2);
	if (argc == 2 && strcmp(argv[1], "keyread") == 0)
		return keyread();
	if (argc == 4 && strcmp(argv[1], "grab") == 0)
		return grab(argv[2], argv[3]);
	fprintf(stderr, "usage: probe tiocsti|caps|keyread|keyring SECRET PROGRAM...|grab REPORT STOP\n");
	return 2;
}
]]

setup(function()
  root = C.busybox_root()
  shared = C.busybox_root { shared = true } -- one the unprivileged user can reach
  tools = assert(nsl.mkdtemp("/tmp/nsl-spec-tools-"))
  assert(nsl.chmod(tools, 493))
  assert(nsl.mkdir(root .. "/suid", 493))
  C.compile(EUID, root .. "/suid/euid")
  assert(nsl.chmod(root .. "/suid/euid", 2541)) -- 04755: setuid root
  C.compile(PROBE, root .. "/bin/probe")
end)

teardown(function()
  local left = C.children()
  C.remove(root)
  C.remove(shared)
  C.remove(tools)
  assert.are.same({}, left)
end)

local function sh(script, extra)
  local spec = { rootfs = root, command = { "sh", "-c", script } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return C.capture(spec)
end

local function exists(p) return nsl.lstat(p) ~= nil end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The CapXxx and NoNewPrivs lines of /proc/self/status, as a table.
local function status_of(text)
  local t = {}
  for k, v in text:gmatch("(%a+):\t(%x+)") do t[k] = v end
  return t
end

local function mask_of(names)
  return ("%016x"):format(nsl.cap_bits(names))
end

describe("a default container", function()
  local has_sysrq = exists("/proc/sysrq-trigger")
  it("cannot write /proc/sys" .. (has_sysrq and " or /proc/sysrq-trigger"
      or " (this kernel has no /proc/sysrq-trigger: checked absent inside)"), function()
    local out = sh([[
      (echo evil > /proc/sys/kernel/hostname) 2>/dev/null; echo "sys $?"
      if [ -e /proc/sysrq-trigger ]; then
        (echo h > /proc/sysrq-trigger) 2>/dev/null; echo "sysrq $?"
      else echo "sysrq absent"; fi
      cat /proc/sys/kernel/hostname]], { hostname = "box" })
    assert.are.equal("sys 1\nsysrq " .. (has_sysrq and "1" or "absent") .. "\nbox", out)
    -- without read-only paths the same write goes through (to the
    -- container's own host name: harmless)
    assert.are.equal("sys 0\nevil", (sh([[
      (echo evil > /proc/sys/kernel/hostname) 2>/dev/null; echo "sys $?"; hostname]],
      { hostname = "box", hardening = { readonly_paths = false } })))
  end)

  it("cannot unmask a masked path or make a read-only one writable", function()
    local out = sh([[
      umount /proc/keys 2>/dev/null; echo "keys $?"
      umount /proc/sys 2>/dev/null; echo "sys $?"
      mount -o remount,rw /proc/sys 2>/dev/null; echo "remount $?"
      wc -c < /proc/keys]])
    assert.are.equal("keys 1\nsys 1\nremount 1\n0", out)
  end)

  -- The masked paths this kernel lacks are checked to be absent inside.
  local absent = {}
  for _, p in ipairs(container.default_masked_paths) do
    if not exists(p) then absent[#absent + 1] = p end
  end
  it(("reads nothing from the masked paths (absent in this kernel, checked absent inside: %s)")
      :format(#absent > 0 and table.concat(absent, ", ") or "none"), function()
    local script = {}
    for _, p in ipairs(container.default_masked_paths) do
      -- a file's size as read, a directory's number of entries; through
      -- /proc/self/root too
      script[#script + 1] = ("for q in %s /proc/self/root%s; do " ..
        "if [ -d $q ]; then echo $q $(ls -A $q | wc -l); elif [ -e $q ]; then echo $q $(cat $q 2>/dev/null | wc -c); " ..
        "else echo $q absent; fi; done"):format(p, p)
    end
    script = table.concat(script, "\n")
    local expected = {}
    for _, p in ipairs(container.default_masked_paths) do
      local v = exists(p) and "0" or "absent"
      expected[#expected + 1] = ("%s %s\n/proc/self/root%s %s"):format(p, v, p, v)
    end
    assert.are.equal(table.concat(expected, "\n"), (sh(script)))
    -- unmasked, those with content on the host show it inside too
    local open = sh(script, { hardening = { masked_paths = false } })
    local shown = 0
    for _, p in ipairs({ "/proc/interrupts", "/proc/keys", "/proc/timer_list", "/sys/firmware" }) do
      if exists(p) then
        assert.matches("\n?" .. p:gsub("%p", "%%%0") .. " [1-9]%d*\n", open .. "\n")
        shown = shown + 1
      end
    end
    assert.is_true(shown > 0, "no masked path has content on this host: nothing to compare")
  end)

  it("cannot mount, set the hostname or add interfaces without the capabilities", function()
    local out = sh([[
      mount -t tmpfs none /tmp 2>/dev/null; echo "mount $?"
      hostname evil 2>/dev/null; echo "hostname $?"
      ip link add evil0 type dummy 2>/dev/null || echo "link refused"
      hostname; ip -o link | wc -l]], { hostname = "box" })
    assert.are.equal("mount 1\nhostname 1\nlink refused\nbox\n1", out)
    -- with every capability, each of them works
    out = sh([[
      mount -t tmpfs none /tmp 2>/dev/null; echo "mount $?"; umount /tmp
      hostname evil 2>/dev/null; echo "hostname $?"]], { hostname = "box", hardening = { capabilities = false } })
    assert.are.equal("mount 0\nhostname 0", out)
  end)

  local has_modules = exists("/proc/modules")
  it(has_modules and "cannot load a kernel module: init_module refused for want of CAP_SYS_MODULE"
      or "cannot load a kernel module (this kernel has no module support, init_module is ENOSYS: "
        .. "checks CAP_SYS_MODULE is in no set instead)", function()
    -- the capabilities alone (seccomp refuses init_module too: spec/confine)
    local out = sh("/bin/probe caps; grep -E '^Cap' /proc/self/status", { seccomp = false })
    local st = status_of(out)
    local bit = nsl.cap_bits({ "CAP_SYS_MODULE" })
    for _, set in ipairs({ "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" }) do
      assert.are.equal(0, tonumber(st[set], 16) & bit, set)
    end
    assert.matches("init_module:" .. (has_modules and "EPERM" or "ENOSYS"), out)
    -- with every capability, CAP_SYS_MODULE is there
    st = status_of(sh("grep -E '^Cap' /proc/self/status", { hardening = { capabilities = false } }))
    assert.are_not.equal(0, tonumber(st.CapBnd, 16) & bit)
  end)

  it("has exactly the default capabilities in CapBnd, CapPrm and CapEff, none in CapInh and CapAmb", function()
    local want = mask_of(container.default_capabilities)
    local st = status_of(sh("grep -E '^Cap' /proc/self/status"))
    assert.are.same({ CapBnd = want, CapPrm = want, CapEff = want,
      CapInh = "0000000000000000", CapAmb = "0000000000000000" }, st)
    -- also in a process c:exec starts, and in one the command starts
    local c <close> = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    local f = assert(io.open(root .. "/tmp/caps-exec", "w")); f:close()
    assert.are.same({ true, "exit", 0 },
      { c:exec({ "sh", "-c", "sh -c 'grep -E ^Cap /proc/self/status' > /tmp/caps-exec" }) })
    assert.are.same(st, status_of(read_file(root .. "/tmp/caps-exec")))
    os.remove(root .. "/tmp/caps-exec")
  end)

  it("has exactly a custom capability list, and an empty one", function()
    local list = { "CAP_NET_BIND_SERVICE", "CAP_KILL" }
    for _, caps in ipairs({ list, {} }) do
      local want = mask_of(caps)
      local st = status_of(sh("grep -E '^Cap' /proc/self/status", { capabilities = caps }))
      assert.are.same({ CapBnd = want, CapPrm = want, CapEff = want,
        CapInh = "0000000000000000", CapAmb = "0000000000000000" }, st)
    end
  end)

  it("cannot raise a capability outside its set into any set", function()
    local out = sh("/bin/probe caps", { capabilities = { "CAP_KILL", "CAP_SETPCAP" } })
    assert.matches("sys_admin pe:EPERM i:EPERM a:EPERM\n", out)
    -- the same calls do raise one of its own (the probe works)
    assert.matches("kill pe:ok i:ok a:ok\n", out)
    -- and with every capability kept, CAP_SYS_ADMIN too
    assert.matches("sys_admin pe:ok i:ok a:ok\n",
      (sh("/bin/probe caps", { hardening = { capabilities = false } })))
  end)

  it("runs with NoNewPrivs 1, in the command's children and in c:exec's processes", function()
    assert.are.equal("1 1", (sh("grep NoNewPrivs /proc/self/status | cut -f2 | tr '\\n' ' '; " ..
      "sh -c 'grep NoNewPrivs /proc/self/status | cut -f2'")))
    local c <close> = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    assert.are.same({ true, "exit", 0 }, { c:exec({ "sh", "-c", "grep -q 'NoNewPrivs:.1' /proc/self/status" }) })
    assert.are.equal("0", (sh("grep NoNewPrivs /proc/self/status | cut -f2", { hardening = { no_new_privs = false } })))
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
    local attack = [[
      unshare -U -r -m -p -f --mount-proc sh -c 'echo evil > /proc/sys/kernel/hostname' 2>/dev/null
      echo "fresh $?"
      unshare -U -r -m sh -c 'umount /proc/sys 2>/dev/null || echo x > /proc/sys/kernel/hostname' 2>/dev/null
      echo "userns $?"
      hostname]]
    -- the masks alone (seccomp refuses the unshare too: spec/confine)
    assert.are.equal("fresh 1\nuserns 1\nbox", (sh(attack, { hostname = "box", seccomp = false })))
    -- Without masked and read-only paths over /proc the kernel lets the
    -- new user namespace mount a fresh /proc, and the write goes through.
    local open = sh(attack, { hostname = "box", seccomp = false,
      hardening = { masked_paths = false, readonly_paths = false } })
    assert.matches("^fresh 0\n", open)
    assert.is_nil(open:find("\nbox$"), open)
  end)

  it("cannot open the host's nsl binary through /proc/1/exe of its init or of a Lua command", function()
    local attack = [[
      cat /proc/1/exe > /dev/null 2>&1; echo "read $?"
      readlink /proc/1/exe > /dev/null 2>&1; echo "link $?"
      (echo x >> /proc/1/exe) 2>/dev/null; echo "write $?"]]
    local before = read_file(T.bin)
    assert.are.equal("read 1\nlink 1\nwrite 1", (sh(attack, { init = true })))
    assert.are.equal("read 1\nlink 1\nwrite 1", (C.capture { rootfs = root, command = function()
      os.execute(attack)
    end }))
    assert.is_true(before == read_file(T.bin), "the nsl binary changed")
  end)

  it("cannot open the host's nsl binary through /proc/<pid>/exe of a process c:exec starts", function()
    local out = assert(nsl.mkdtemp("/tmp/nsl-spec-grab-"))
    finally(function() os.execute("rm -rf " .. T.quote(out)) end)
    local report = out .. "/report"
    local function lines()
      local f = io.open(report)
      local t = {}
      for l in (f and f:read("a") or ""):gmatch("[^\n]+") do t[#t + 1] = l end
      if f then f:close() end
      return t
    end
    local c <close> = nsl.container { rootfs = root, command = { "/bin/probe", "grab", "/out/report", "/out/stop" },
      mounts = { { bind = true, source = out, target = "/out" } } }
    assert(c:start())
    for _ = 1, 200 do
      if #lines() > 0 then break end
      nsl.sleep(0.01)
    end
    -- Each exec makes a process of the nsl binary in the container's pid
    -- namespace until it runs the command; the probe watches for it.
    local refused = 0
    for _ = 1, 100 do
      assert.are.same({ true, "exit", 0 }, { c:exec({ "true" }) })
      refused = 0
      for _, l in ipairs(lines()) do
        if l:find("^refused") then refused = refused + 1 end
      end
      if refused >= 3 then break end
    end
    io.open(out .. "/stop", "w"):close()
    assert.are.same({ true, "exit", 0 }, { c:wait() })
    local report_lines = lines()
    -- what it caught was the command after its exec (busybox, its own),
    -- never the nsl binary
    for _, l in ipairs(report_lines) do
      local target = l:match("^caught %d+ (.*)$")
      if target then assert.are.equal("/bin/busybox", target) end
    end
    assert.is_true(refused >= 1, "the probe never saw c:exec's process: " .. table.concat(report_lines, "; "))
  end)

  it("(control, rootless) reads its own dumpable init's /proc/1/exe, but cannot write it", function()
    assert(T.bin_reachable(), "uid " .. T.uid .. " cannot run " .. T.bin)
    local out, err = T.rootless([[
      local c = nsl.container { rootfs = arg[1], init = true, command = { "sh", "-c",
        "head -c 4 /proc/1/exe | wc -c; (echo x >> /proc/1/exe) 2>/dev/null; echo write $?" } }
      print(c:run())
    ]], shared)
    assert.are.equal("", err)
    assert.are.equal("4\nwrite 1\ntrue\texit\t0", out)
  end)

  it("cannot see the caller's descriptors, even those opened without O_CLOEXEC", function()
    -- io.open uses fopen, which does not ask for O_CLOEXEC
    local leaks = {}
    for i = 1, 3 do leaks[i] = assert(io.open("/etc/hostname")) end
    local out = sh("ls /proc/self/fd | sort -n | tr '\\n' ' '")
    local open = sh("ls /proc/self/fd | wc -l", { hardening = { close_fds = false } })
    for _, f in ipairs(leaks) do f:close() end
    -- 0, 1, 2 and the descriptor ls reads the directory with
    assert.are.equal("0 1 2 3 ", out)
    assert.is_true(tonumber(open) >= 7, "close_fds = false: " .. open)
  end)

  it("does not start in a host directory through cwd = /proc/self/fd/N", function()
    -- a descriptor of the caller on a host directory, open while the
    -- container starts (runc's CVE-2024-21626)
    local host = assert(nsl.mkdtemp("/tmp/nsl-spec-host-"))
    io.open(host .. "/host-only", "w"):close()
    local fd = assert(nsl.open(host, "directory"))
    finally(function()
      nsl.close(fd)
      os.execute("rm -rf " .. T.quote(host))
    end)
    local cwd = "/proc/self/fd/" .. fd
    local ok, err = nsl.container { rootfs = root, cwd = cwd, command = { "ls" } }:start()
    local c <close> = nsl.container { rootfs = root, command = { "sleep", "30" } }
    assert(c:start())
    local eok, ehow, en = c:exec({ "ls" }, { cwd = cwd })
    -- with resolve_cwd off, the same cwd is the host's directory
    local escaped = C.capture { rootfs = root, cwd = cwd, command = { "ls" }, hardening = { resolve_cwd = false } }
    assert.is_nil(ok)
    assert.matches("^cwd /proc/self/fd/%d+: ", err)
    assert.are.same({ nil, "exit", 1 }, { eok, ehow, en })
    assert.are.equal("host-only", escaped)
  end)

  it("refuses a root whose /proc, /sys or /dev is a symlink to a host directory, writing nothing outside", function()
    local made = {}
    finally(function()
      for _, dir in ipairs(made) do C.remove(dir) end
    end)
    for _, d in ipairs({ "proc", "sys", "dev" }) do
      for _, form in ipairs({ "absolute", "relative" }) do
        local bad = C.busybox_root()
        local host = assert(nsl.mkdtemp("/tmp/nsl-spec-host-"))
        made[#made + 1], made[#made + 2] = bad, host
        local target = form == "absolute" and host or ("../../../../../.." .. host)
        assert(nsl.rmdir(bad .. "/" .. d))
        assert(nsl.symlink(target, bad .. "/" .. d))
        local ok, err = nsl.container { rootfs = bad, command = { "true" } }:start()
        assert.is_nil(ok)
        assert.are.equal("rootfs: /" .. d .. " is a symlink (refused: it could point outside the root)", err)
        assert.are.same({}, nsl.readdir(host))
        assert.are.same({}, C.mounts_under(host))
        assert.are.same({}, C.mounts_under(bad))
        -- With the refusal off, the symlink is followed inside the root:
        -- the container starts on the root's own copy of that path, and
        -- the host's directory still gets nothing.
        assert(nsl.resolve(bad, host, "dir"))
        local out = C.capture { rootfs = bad, command = { "sh", "-c", "ls /" .. d .. "/ | wc -l" },
          hardening = { refuse_symlinks = false } }
        assert.are_not.equal("0", out)
        assert.are.same({}, nsl.readdir(host))
        assert.are.same({}, C.mounts_under(host))
      end
    end
  end)

  -- A child of this process leads a session whose controlling terminal
  -- is a new pseudo-terminal, and runs the container (or c:exec) with
  -- that terminal as stdin and stdout. The probe pushes "echo injected"
  -- into it; afterwards the child reads what its terminal received as
  -- input. Returns the probe's report and that input.
  local function tiocsti(hardening, use_exec, filter)
    local master, slave = assert(nsl.openpty())
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({}, function()
      nsl.close(master)
      nsl.close(r)
      assert(nsl.setsid())
      assert(nsl.setctty(slave))
      assert(nsl.dup2(w, 2))
      local c = nsl.container { rootfs = root, hardening = hardening, seccomp = filter,
        command = use_exec and { "sleep", "30" } or { "/bin/probe", "tiocsti" } }
      if use_exec then
        assert(c:start())
        c:exec({ "/bin/probe", "tiocsti" })
        c:destroy()
      else
        c:run()
      end
      local got = ""
      if #nsl.poll({ 0 }, 0.2) > 0 then got = nsl.read(0, 4096) end
      nsl.write(2, "input:" .. got)
      return 0
    end))
    nsl.close(slave)
    nsl.close(w)
    local chunks = {}
    repeat
      local s = nsl.read(r, 4096)
      chunks[#chunks + 1] = s
    until not s or s == ""
    nsl.close(r)
    nsl.close(master)
    assert.are.same({ true, "exit", 0 }, { nsl.wait(pid) })
    return table.concat(chunks):match("^(.-)\ninput:(.*)$")
  end

  it("cannot push input into the caller's terminal (TIOCSTI), from its command or from c:exec", function()
    for _, use_exec in ipairs({ false, true }) do
      -- the new session alone (the seccomp filter, which refuses
      -- TIOCSTI too, is spec/confine's)
      local report, input = tiocsti(nil, use_exec, false)
      assert.are.equal("0:EPERM 1:EPERM tty:ENXIO steal:EPERM", report)
      assert.are.equal("", input)
      -- In the caller's session (new_session = false) the terminal is the
      -- container's too, and the injected command reaches the caller.
      report, input = tiocsti({ new_session = false }, use_exec, false)
      assert.matches("^0:ok 1:ok tty:ok", report)
      assert.are.equal("echo injected\n", input)
      -- and the filter alone refuses it
      report, input = tiocsti({ new_session = false }, use_exec)
      assert.matches("^0:EPERM 1:EPERM tty:EPERM", report)
      assert.are.equal("", input)
      report, input = tiocsti({ new_session = false }, use_exec, false)
      assert.matches("^0:ok 1:ok tty:ok", report)
      assert.are.equal("echo injected\n", input)
    end
  end)

  it("cannot read the caller's session keyring, from its command or from c:exec", function()
    -- The caller runs in a new session keyring holding a secret user key.
    local secret = "nsl-secret-" .. nsl.getpid()
    local script = T.script(([[
      package.path = %q .. "/?.lua;" .. package.path
      local nsl = require "nsl"
      local C = require "container_helpers"
      -- the session keyring alone (seccomp refuses keyctl too: spec/confine)
      print(C.capture { rootfs = %q, seccomp = false, command = { "/bin/probe", "keyread" } })
      local c = nsl.container { rootfs = %q, seccomp = false, command = { "sleep", "30" } }
      assert(c:start())
      io.stdout:flush()
      c:exec({ "/bin/probe", "keyread" })
      c:destroy()
    ]]):format(T.sh("pwd") .. "/spec/support", root, root))
    local probe = root .. "/bin/probe"
    local out = T.sh(("%s keyring %s %s run %s"):format(probe, secret, T.quote(T.bin), T.quote(script)))
    -- the caller itself reads it (the probe works)
    local own = T.sh(("%s keyring %s %s keyread"):format(probe, secret, probe))
    os.remove(script)
    assert.are.equal("read:" .. secret, own)
    assert.is_nil(out:find(secret, 1, true), out)
    assert.matches("^search:ENOKEY\ttrue\texit\t0\nsearch:ENOKEY$", out)
  end)

  it("cannot open a host device through a node it makes (mknod) anywhere it can write, or finds in its root", function()
    -- a loop device over a file holding a secret stands in for a disk
    local secret = ("nsl-secret-%d-"):format(nsl.getpid())
    local img = tools .. "/disk.img"
    local f = assert(io.open(img, "wb"))
    f:write(secret, ("x"):rep(4096 - #secret))
    f:close()
    local loop, ok = T.sh("losetup -f --show " .. T.quote(img))
    assert(ok and loop:match("^/dev/loop%d+$"), "losetup: " .. loop)
    finally(function()
      os.execute("losetup -d " .. loop)
      os.remove(root .. "/planted")
      os.remove(img)
    end)
    local minor = tonumber(loop:match("%d+$"))
    -- the host reads it (the device works)
    assert.are.equal(secret, T.sh(("head -c %d %s"):format(#secret, loop)))
    -- a node in the root, as an image could carry one
    assert(nsl.mknod(root .. "/planted", "block", 384, 7, minor))
    -- every writable place: the root, /dev, /dev/shm, a tmpfs of the spec
    local attack = ([[
      for d in /tmp /dev /dev/shm /scratch; do
        mknod $d/disk b 7 %d 2>/dev/null && echo "made in $d"
        head -c %d $d/disk 2>/dev/null && echo " read in $d"
        rm -f $d/disk
      done
      head -c %d /planted 2>/dev/null && echo " read planted"
      echo done]]):format(minor, #secret, #secret)
    local mounts = { { type = "tmpfs", target = "/scratch" } }
    for _, rootfs in ipairs({ root, { image = root, writable = true } }) do
      local out = C.capture { rootfs = rootfs, mounts = mounts, command = { "sh", "-c", attack } }
      assert.matches("done$", out)
      assert.is_nil(out:find(secret, 1, true), "the container read the device: " .. out)
    end
  end)
end)

describe("a rootless caller", function()
  it("cannot map ids other than its own into a container", function()
    assert(T.bin_reachable(), "uid " .. T.uid .. " cannot run " .. T.bin)
    local out = T.rootless([[
      local function try(user)
        local ok, err = pcall(function()
          local c = nsl.container { rootfs = arg[1], command = { "id", "-u" }, user = user }
          return assert(c:run())
        end)
        print(ok, (tostring(err):gsub("\n.*", "")))
      end
      local me = nsl.getuid()
      try({ uid_map = { { 0, 0, 1 } }, gid_map = { { 0, 0, 1 } } })   -- root's
      try({ uid_map = { { 0, me, 2 } } })                               -- its own and the next
      try({ uid_map = { { 0, me, 1 } }, gid_map = { { 0, 0, 1 } } })    -- root's group
      try({ uid_map = { { 0, me, 1 } }, gid_map = { { 0, nsl.getgid(), 1 } } }) -- its own
    ]], shared)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.matches("^false\t.*uid_map.*Operation not permitted", lines[1])
    assert.matches("^false\t.*uid_map.*Operation not permitted", lines[2])
    assert.matches("^false\t.*gid_map.*Operation not permitted", lines[3])
    assert.are.equal("0", lines[4]) -- the container's output: it runs as root inside
    assert.matches("^true\t", lines[5])
  end)
end)

describe("an id map", function()
  it("is written once: neither the container nor its caller can write it again", function()
    local c <close> = nsl.container { rootfs = shared, command = { "sleep", "30" },
      user = { uid_map = { { 0, 100000, 65536 } }, gid_map = { { 0, 100000, 65536 } } } }
    assert(c:start())
    local ok, msg, errno = nsl.idmap(c.pid, "uid", { { 0, 0, 1 } })
    assert.is_nil(ok)
    assert.are.equal(1, errno, msg) -- EPERM
    assert.are.same({ nil, "exit", 1 }, { c:exec({ "sh", "-c",
      "(echo '0 0 4294967295' > /proc/self/uid_map) 2>/dev/null" }) })
    assert.are.equal("0 100000 65536", (T.sh(("tr -s ' ' < /proc/%d/uid_map | sed 's/^ //'"):format(c.pid))))
    -- (control) the same call writes a map not yet written
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({ "user" }, function() nsl.close(w); nsl.read(r, 1); return 0 end))
    nsl.close(r)
    local first = { nsl.idmap(pid, "uid", { { 0, 0, 1 } }) }
    nsl.close(w)
    nsl.wait(pid)
    assert.are.same({ true }, first)
  end)
end)

describe("the nsl binary", function()
  it("refuses to run setuid or setgid (AT_SECURE): it would give its caller the owner's powers", function()
    -- setgid to nogroup (65534), which grants nothing worth having, in a
    -- directory only T.uid can enter; AT_SECURE is set all the same
    local dir = assert(nsl.mkdtemp("/tmp/nsl-spec-setid-"))
    local bin = dir .. "/nsl"
    local script = T.script("print(io.open('/proc/self/status'):read('a'):match('Gid:%s+(%d+)%s+(%d+)'))")
    finally(function()
      os.execute("rm -rf " .. T.quote(dir))
      os.remove(script)
    end)
    assert(os.execute(("cp %s %s && chgrp 65534 %s && chown %d %s && chmod 700 %s")
      :format(T.quote(T.bin), T.quote(bin), T.quote(bin), T.uid, T.quote(dir), T.quote(dir))))
    local function run()
      return T.sh(("setpriv --reuid=%d --regid=%d --clear-groups %s run %s 2>&1")
        :format(T.uid, T.gid, T.quote(bin), T.quote(script)))
    end
    -- (control) without the bit it runs, as the caller's group
    assert(nsl.chmod(bin, 493))
    local plain, plain_ok = run()
    assert.are.equal(("%d\t%d"):format(T.gid, T.gid), plain)
    assert.is_true(plain_ok)
    assert(nsl.chmod(bin, 1517)) -- 02755
    local out, ok = run()
    assert.is_nil(out:find("65534", 1, true), out)
    assert.is_not_true(ok)
    assert.matches("setuid", out)
  end)
end)
