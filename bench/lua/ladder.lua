-- Where the time of nsl.container goes (issue 6, part 4): the benchmark's
-- container built from the C primitives, one feature of nsl.container
-- added at a time, and nsl.container itself with its hardening items
-- turned off one at a time. Each step is one line of the table.
--
--   nsl run ladder.lua ROOT N STEP [tick]
--
-- STEP is a "+"-separated list:
--   prim     the primitives container of bench/start/prim.lua (bind-mounted
--            device nodes), started with nsl.clone's default full GC
--   nogc     nsl.clone{collect = false}, as nsl.container does
--   lo       the child brings lo up (nsl.container's net = "none")
--   dev      nsl.container's /dev: mknod'ed nodes, devpts, ptmx, shm,
--            mqueue, fd/stdin/stdout/stderr links
--   sync     nsl.container's handshake: two pipes, "ready" from the
--            child, "go" from the parent, the parent waits for the exec
--   session  setsid and umask in the child
--   container            nsl.container (the benchmark's spec)
--   nosession, noresolve, noclose: that spec with hardening.new_session,
--            resolve_cwd + refuse_symlinks, close_fds turned off
--   limits   that spec with cgroup limits (pids, memory)
local nsl = require "nsl"

local root, n, step, tick = arg[1], tonumber(arg[2]), arg[3], arg[4] == "tick"
local has = {}
for f in step:gmatch("[^+]+") do has[f] = true end

local keep = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" }
local nodes = { { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
  { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } }

local function full_dev(dev)
  assert(nsl.mount("tmpfs", dev, "tmpfs", "nosuid,strictatime", "mode=755,size=65536k"))
  for _, d in ipairs(nodes) do
    assert(nsl.mknod(dev .. "/" .. d[1], "char", 438, d[2], d[3]))
  end
  assert(nsl.mkdir(dev .. "/pts", 493))
  assert(nsl.mount("devpts", dev .. "/pts", "devpts", "nosuid,noexec",
    "newinstance,ptmxmode=0666,mode=0620,gid=5"))
  assert(nsl.symlink("pts/ptmx", dev .. "/ptmx"))
  assert(nsl.mkdir(dev .. "/shm", 1023))
  assert(nsl.mount("shm", dev .. "/shm", "tmpfs", "nosuid,nodev,noexec", "mode=1777,size=65536k"))
  assert(nsl.mkdir(dev .. "/mqueue", 493))
  assert(nsl.mount("mqueue", dev .. "/mqueue", "mqueue", "nosuid,nodev,noexec"))
  assert(nsl.symlink("/proc/self/fd", dev .. "/fd"))
  for i, name in ipairs({ "stdin", "stdout", "stderr" }) do
    assert(nsl.symlink("/proc/self/fd/" .. (i - 1), dev .. "/" .. name))
  end
end

local function child(status_w, go_r)
  if has.session then nsl.umask(0); assert(nsl.setsid()) end
  assert(nsl.mount(nil, "/", nil, "rec,private"))
  assert(nsl.mount(root, root, nil, "bind,rec"))
  assert(nsl.mount("proc", root .. "/proc", "proc", "nosuid,nodev,noexec"))
  if has.dev then
    full_dev(root .. "/dev")
  else
    assert(nsl.mount("dev", root .. "/dev", "tmpfs", "nosuid", "mode=755"))
    for _, d in ipairs(nodes) do
      local path = root .. "/dev/" .. d[1]
      assert(io.open(path, "w")):close()
      assert(nsl.mount("/dev/" .. d[1], path, nil, "bind"))
    end
  end
  if has.lo then assert(nsl.loopback_up()) end
  assert(nsl.pivot_root(root))
  if has.session then nsl.umask(18) end
  assert(nsl.caps.keep(keep))
  assert(nsl.no_new_privs())
  if has.sync then
    nsl.write(status_w, "R")
    if nsl.read(go_r, 1) ~= "G" then return 1 end
  end
  assert(nsl.exec({ "/bin/true" }, { env = { PATH = "/bin" } }))
end

local function prim_one()
  local status_r, status_w, go_r, go_w
  if has.sync then
    status_r, status_w = assert(nsl.pipe())
    go_r, go_w = assert(nsl.pipe())
  end
  local pid = assert(nsl.clone({ "mnt", "uts", "ipc", "pid", "net" }, function()
    if has.sync then nsl.close(status_r); nsl.close(go_w) end
    return child(status_w, go_r)
  end, { collect = not has.nogc }))
  if has.sync then
    nsl.close(status_w); nsl.close(go_r)
    assert(nsl.read(status_r) == "R")
    nsl.write(go_w, "G"); nsl.close(go_w)
    assert((nsl.read(status_r) or "") == "") -- EOF: the exec happened
    nsl.close(status_r)
  end
  local ok, how, code = nsl.wait(pid)
  if not ok then error(("container: %s %s"):format(how, code)) end
end

local function container_one()
  local h = { sys = false, masked_paths = false, readonly_paths = false }
  if has.nosession then h.new_session = false end
  if has.noresolve then h.resolve_cwd = false; h.refuse_symlinks = false end
  if has.noclose then h.close_fds = false end
  local c = nsl.container {
    rootfs = root, namespaces = { "mnt", "uts", "ipc", "pid", "net" }, net = "none",
    capabilities = keep, env = { PATH = "/bin" }, command = { "/bin/true" }, hardening = h,
    limits = has.limits and { pids = 64, memory = "64M" } or nil,
  }
  local ok, how, code = c:run()
  if not ok then error(("container: %s %s"):format(how, code)) end
end

local one = has.container and container_one or prim_one
if tick then io.write("r"); io.flush() end
for _ = 1, n do
  one()
  if tick then io.write("x"); io.flush() end
end
