-- Failure injection: a container start that fails half way returns nil
-- and a message naming the step, and undoes everything it had set up on
-- the host. Each start holds all it can: a name (its state record), a
-- copy-on-write root (an overlay state directory), a bridge network (the
-- bridge, a veth, an address lease) and limits (cgroups). Afterwards
-- C.leftovers looks for each of them, for the processes the start made
-- (by pid, in their pid namespace, and among this process's children),
-- for new mounts and for descriptors of the caller.
--
-- Bridges and veths exist only in network namespaces the tests make:
-- each start runs in a child with its own network and mount namespace.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"

local TAG = "sec" .. nsl.getpid()
local image, tools

local seq = 0
-- A name unique to this run, usable as a container, cgroup and bridge
-- name (at most 15 characters).
local function unique()
  seq = seq + 1
  return ("%s%s"):format(TAG, string.char(96 + seq))
end

-- A start fails by a seccomp filter that makes one system call fail with
-- the errno given: `inject SYSCALL ERRNO PROGRAM ARGS...`.
local INJECT = [[
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "inject: unknown architecture"
#endif

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: inject sethostname|pivot_root ERRNO PROGRAM ARGS...\n");
		return 2;
	}
	long nr = strcmp(argv[1], "sethostname") == 0 ? SYS_sethostname
		: strcmp(argv[1], "pivot_root") == 0 ? SYS_pivot_root : -1;
	if (nr < 0) {
		fprintf(stderr, "inject: unknown system call %s\n", argv[1]);
		return 2;
	}
	unsigned err = (unsigned)atoi(argv[2]);
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof code / sizeof code[0], code};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("inject: seccomp");
		return 1;
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
]]

setup(function()
  image = C.busybox_root { shared = true } -- an image the unprivileged user can read
  -- a program whose interpreter does not exist: it passes the spec's
  -- check (an executable file) and fails at exec
  local f = assert(io.open(image .. "/bin/ghost", "w"))
  f:write("#!/no/such/interpreter\n")
  f:close()
  assert(nsl.chmod(image .. "/bin/ghost", 493))
  tools = assert(nsl.mkdtemp("/tmp/nsl-spec-tools-"))
  assert(nsl.chmod(tools, 493))
  C.compile(INJECT, tools .. "/inject")
end)

teardown(function()
  local left = C.children()
  C.remove(image)
  C.remove(tools)
  assert.are.same({}, left)
end)

-- A spec holding everything a start can hold on the host, with extra
-- fields merged over it (false removes one).
local function full_spec(name, extra)
  local spec = {
    name = name,
    rootfs = { image = image, writable = true },
    net = { bridge = name, subnet = "10.77.0.0/24" },
    limits = { memory = "32M", pids = 32 },
    command = { "sleep", "30" },
  }
  for k, v in pairs(extra or {}) do spec[k] = v or nil end
  return spec
end

-- In a child with its own network namespace (bridges and veths are this
-- test's alone) and a private mount namespace (the mounts compared are
-- this test's alone), builds the container with make(name) and starts
-- it. Returns what start returned (as a string), its message, what it
-- left behind (one item a line) and the name it used.
local function failed_start(make)
  local name = unique()
  local ok, err, left = T.inside({ "net", "mnt" }, function()
    assert(nsl.mount(nil, "/", nil, "rec,private"))
    local c = make(name)
    local ok, err, left = C.failed_start(c, { bridge = name, root = image })
    return tostring(ok), err, table.concat(left, "\n")
  end)
  return ok, err, left, name
end

describe("the leftover check", function()
  it("sees everything a started container holds, and nothing once it is destroyed", function()
    -- (so that an empty list in the tests below means something)
    local name = unique()
    local held, left = T.inside({ "net", "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      local before = C.snapshot()
      local c = nsl.container(full_spec(name, { setup = function() assert(os.execute("sleep 60 &")) end }))
      local watch, ok, err = C.watch(function() return c:start() end)
      assert(ok, err)
      -- a mount and a descriptor on the caller's side, which no start
      -- makes (a container's temporary overlay leaves nothing on the host:
      -- its tmpfs is over /run/nsl/rootfs in the container's namespace)
      local dir = assert(nsl.mkdtemp("/run/nsl/rootfs/spec-"))
      assert(nsl.mount("tmpfs", dir, "tmpfs"))
      local fd = assert(nsl.open("/dev/null"))
      local opts = { name = name, bridge = name, root = image }
      local held = C.leftovers(before, watch, opts)
      nsl.close(fd)
      assert(nsl.umount(dir))
      assert(nsl.rmdir(dir))
      c:destroy()
      return table.concat(held, "\n"), table.concat(C.leftovers(before, watch, opts), "\n")
    end)
    for _, pattern in ipairs({
      "^process %d+$",                            -- PID 1, by its pid
      "^process %d+ in the pid namespace of %d+$", -- the sleeper started by setup
      "^child process %d+$",
      "^link " .. name .. "$",                     -- the bridge
      "^link nsl%x+$",                             -- the host's end of the veth
      "^mount /run/nsl/rootfs/spec%-[%w_.%-]+$",
      "^lease directory /run/nsl/net/" .. name .. "@%d+$",
      "^cgroup /sys/fs/cgroup/%w*/?nsl/" .. name .. "$",  -- v2, or a v1 hierarchy
      "^state record /run/nsl/containers/" .. name .. "$",
      "^descriptors: %d+ before the start, %d+ after$",
    }) do
      local found = false
      for line in held:gmatch("[^\n]+") do found = found or line:find(pattern) ~= nil end
      assert(found, ("no line matches %s in:\n%s"):format(pattern, held))
    end
    assert.are.equal("", left)
  end)
end)

describe("a start that fails", function()
  it("at a bind mount whose source is gone names the mount and leaves nothing", function()
    local src = assert(nsl.mkdtemp("/tmp/nsl-spec-src-"))
    local ok, err, left = failed_start(function(name)
      local c = nsl.container(full_spec(name, {
        mounts = { { bind = true, source = src, target = "/data" } } }))
      assert(nsl.rmdir(src)) -- gone after the spec was checked
      return c
    end)
    nsl.rmdir(src) -- (the child removed it)
    assert.are.equal("nil", ok)
    assert.matches("^mount /data: .*No such file or directory$", err)
    assert.are.equal("", left)
  end)

  it("at a mount of an unknown file system type names the mount and leaves nothing", function()
    local ok, err, left = failed_start(function(name)
      return nsl.container(full_spec(name, { mounts = { { type = "nsl-no-such-fs", target = "/x" } } }))
    end)
    assert.are.equal("nil", ok)
    assert.matches("^mount /x: .*No such device$", err)
    assert.are.equal("", left)
  end)

  it("at mount options the file system refuses names the mount and leaves nothing", function()
    local ok, err, left = failed_start(function(name)
      return nsl.container(full_spec(name, {
        mounts = { { type = "tmpfs", target = "/x" }, { type = "tmpfs", target = "/y", data = "size=nonsense" } } }))
    end)
    assert.are.equal("nil", ok)
    assert.matches("^mount /y: .*Invalid argument$", err)
    assert.are.equal("", left)
  end)

  it("at exec of a command whose interpreter is missing names exec and leaves nothing, its pid gone", function()
    local ok, err, left, name = failed_start(function(name)
      return nsl.container(full_spec(name, {
        command = { "ghost" },
        on_start = function(c)
          -- the container's PID 1 as on_start sees it, for the check below
          local f = assert(io.open(image .. "/tmp/" .. name .. ".pid", "w"))
          f:write(c.pid, " ", C.start_time(c.pid))
          f:close()
        end,
      }))
    end)
    assert.are.equal("nil", ok)
    assert.matches("^exec ghost: No such file or directory$", err)
    assert.are.equal("", left)
    local f = assert(io.open(image .. "/tmp/" .. name .. ".pid"))
    local pid, start = f:read("a"):match("^(%d+) (%d+)$")
    f:close()
    os.remove(image .. "/tmp/" .. name .. ".pid")
    assert.is_false(C.alive(tonumber(pid), start))
  end)

  it("while the network is still being set up names the child's step, not the network's", function()
    -- Many interfaces make the caller's network setup slow (it lists
    -- them), so that the child's failing mount comes first: its network
    -- namespace is gone under the setup, which fails too.
    local ok, err, left = failed_start(function(name)
      for i = 1, 60 do assert(nsl.net.veth(("sq%da"):format(i), ("sq%db"):format(i))) end
      return nsl.container(full_spec(name, { mounts = { { type = "nsl-no-such-fs", target = "/x" } } }))
    end)
    assert.are.equal("nil", ok)
    assert.matches("^mount /x: .*No such device$", err)
    assert.are.equal("", left)
  end)

  it("at an id map the kernel refuses (overlapping ranges) names uid_map and leaves nothing", function()
    local ok, err, left = failed_start(function(name)
      return nsl.container(full_spec(name, { user = {
        uid_map = { { 0, 100000, 10 }, { 5, 200000, 10 } }, gid_map = { { 0, 100000, 10 } } } }))
    end)
    assert.are.equal("nil", ok)
    assert.matches("uid_map: Invalid argument$", err)
    assert.are.equal("", left)
  end)

  it("in a setup hook that started a process inside names setup and leaves nothing", function()
    local ok, err, left = failed_start(function(name)
      return nsl.container(full_spec(name, { setup = function()
        -- a process of the container that outlives the hook
        assert(os.execute("sleep 60 &"))
        error("the hook gave up", 0)
      end }))
    end)
    assert.are.equal("nil", ok)
    assert.are.equal("setup: the hook gave up", err)
    assert.are.equal("", left)
  end)

  it("in on_start names on_start, kills the container and leaves nothing", function()
    local ok, err, left = failed_start(function(name)
      return nsl.container(full_spec(name, { on_start = function(c)
        assert(c.pid and C.alive(c.pid, C.start_time(c.pid)))
        error("refused", 0)
      end }))
    end)
    assert.are.equal("nil", ok)
    assert.are.equal("on_start: refused", err)
    assert.are.equal("", left)
  end)

  it("when the bridge's /30 pool is exhausted names the address and leaves the other container alone", function()
    local br = unique()
    local out = { T.inside({ "net", "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      local before = C.snapshot()
      local net = { bridge = br, subnet = "10.77.0.0/30" } -- the gateway .1 and one address, .2
      local first = nsl.container(full_spec(br .. "1", { net = net }))
      local watch1, ok1, err1 = C.watch(function() return first:start() end)
      assert(ok1, err1)
      local second = nsl.container(full_spec(br .. "2", { net = net }))
      local ok, err, left = C.failed_start(second, { root = image, keep_pids = { first.pid } })
      -- the first one keeps its address and the bridge
      local leases = {}
      for _, e in ipairs(nsl.readdir(require("nsl.netmode").lease_dir(br)) or {}) do
        if not e:find("^%.") then leases[#leases + 1] = e end
      end
      local links_now = #C.links()
      local first_runs = first.state == "running" and C.alive(first.pid, C.start_time(first.pid))
      first:destroy()
      local left_first = C.leftovers(before, watch1, { name = br .. "1", bridge = br, root = image })
      return tostring(ok), err, table.concat(left, "\n"), table.concat(leases, " "),
        links_now - #C.links(), tostring(first_runs), table.concat(left_first, "\n")
    end) }
    assert.are.equal("nil", out[1])
    assert.are.equal("network: address: every address of 10.77.0.0/30 is in use", out[2])
    assert.are.equal("", out[3])
    assert.are.equal("10.77.0.2", out[4]) -- the first container's lease
    assert.are.equal(2, out[5])           -- its veth and the bridge, gone with it
    assert.are.equal("true", out[6])
    assert.are.equal("", out[7])
  end)
end)

describe("a start that fails where the kernel refuses a step", function()
  -- The script runs in a new network and mount namespace, under a seccomp
  -- filter that makes one system call fail.
  local SCRIPT = [[
    package.path = arg[1] .. "/?.lua;" .. package.path
    local nsl = require "nsl"
    local C = require "container_helpers"
    local name, image = arg[2], arg[3]
    local c = nsl.container { name = name, rootfs = { image = image, writable = true },
      hostname = "box", net = { bridge = name, subnet = "10.77.0.0/24" },
      limits = { memory = "32M" }, command = { "true" } }
    local ok, err, left = C.failed_start(c, { bridge = name, root = image })
    print(tostring(ok))
    print(err)
    print(table.concat(left, "\n"))
  ]]

  -- Returns what start returned, its message and what it left behind.
  local function run(syscall)
    local script = T.script(SCRIPT)
    local out, ok = T.sh(("unshare -n -m --propagation private %s %s 1 %s run %s %s %s %s 2>&1")
      :format(T.quote(tools .. "/inject"), syscall, T.quote(T.bin), T.quote(script),
        T.quote(T.sh("pwd") .. "/spec/support"), unique(), T.quote(image)))
    os.remove(script)
    assert.is_true(ok, out)
    return out:match("^(.-)\n(.-)\n(.*)$")
  end

  it("sethostname (EPERM by seccomp) names the hostname and leaves nothing", function()
    local ok, err, left = run("sethostname")
    assert.are.equal("nil", ok)
    assert.matches("^hostname: .*Operation not permitted$", err)
    assert.are.equal("", left)
  end)

  it("pivot_root (EPERM by seccomp) names pivot_root and leaves nothing", function()
    local ok, err, left = run("pivot_root")
    assert.are.equal("nil", ok)
    assert.matches("^pivot_root: .*Operation not permitted$", err)
    assert.are.equal("", left)
  end)
end)

describe("a rootless start that fails", function()
  it("at an id map of a foreign id names uid_map and leaves nothing", function()
    if not T.bin_reachable() then
      error("the unprivileged uid cannot run " .. T.bin .. ": this test cannot run here")
    end
    local out, errtext = T.rootless([[
      package.path = arg[1] .. "/?.lua;" .. package.path
      local nsl = require "nsl"
      local C = require "container_helpers"
      for _, map in ipairs({ { { 0, 0, 1 } }, { { 0, nsl.getuid(), 2 } } }) do
        local c = nsl.container { name = arg[3] .. #map[1], rootfs = { image = arg[2], writable = true },
          command = { "true" }, user = { uid_map = map } }
        local ok, err, left = C.failed_start(c, { root = arg[2] })
        print(tostring(ok), err, table.concat(left, ", "))
      end
      -- its own id maps: the same start works
      local c = nsl.container { rootfs = { image = arg[2], writable = true }, command = { "true" },
        user = { uid_map = { { 0, nsl.getuid(), 1 } } } }
      print(c:run())
    ]], T.sh("pwd") .. "/spec/support", image, unique())
    assert.are.equal("", errtext)
    local lines = {}
    for l in (out .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
    assert.matches("^nil\tid maps: write /proc/%d+/uid_map: Operation not permitted\t$", lines[1])
    assert.matches("^nil\tid maps: write /proc/%d+/uid_map: Operation not permitted\t$", lines[2])
    assert.are.equal("true\texit\t0", lines[3])
  end)
end)
