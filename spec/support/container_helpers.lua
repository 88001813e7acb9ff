-- Helpers for the container specs: throwaway root file systems built from
-- the host's busybox-static, and checks that nothing stayed behind.
local nsl = require "nsl"
local T = require "nsltest"

local C = {}

C.busybox = "/bin/busybox"

local APPLETS = {
  "sh", "cat", "echo", "ls", "sleep", "hostname", "id", "grep", "ps",
  "mount", "true", "false", "test", "ln", "mkdir", "touch", "rm", "kill",
  "wc", "head", "tr", "ip", "ifconfig", "stat", "readlink", "env", "pwd",
  "umount", "mknod", "sed", "printf", "uname", "chroot", "tty", "awk",
}

-- A minimal root in a new temporary directory: /bin/busybox and its
-- applets, and empty /proc, /sys, /dev, /tmp, /etc, /root. It lies in a
-- directory only root can enter (DIR/root, DIR 0700), as nsl asks of a
-- writable root whose container is the host's root; {shared = true}
-- gives one that everyone can reach, for rootless runs.
function C.busybox_root(opts)
  local dir = assert(nsl.mkdtemp("/tmp/nsl-spec-root-"))
  if opts and opts.shared then
    assert(nsl.chmod(dir, 493))
  else
    dir = dir .. "/root"
    assert(nsl.mkdir(dir, 493))
    assert(nsl.chmod(dir, 493))
  end
  for _, d in ipairs({ "bin", "proc", "sys", "dev", "tmp", "etc", "root" }) do
    assert(nsl.mkdir(dir .. "/" .. d, 493))
  end
  local src = assert(io.open(C.busybox, "rb"))
  local dst = assert(io.open(dir .. "/bin/busybox", "wb"))
  dst:write(src:read("a"))
  src:close()
  dst:close()
  assert(nsl.chmod(dir .. "/bin/busybox", 493))
  for _, a in ipairs(APPLETS) do
    assert(nsl.symlink("busybox", dir .. "/bin/" .. a))
  end
  return dir
end

-- Removes a directory tree made by the specs (never a mount point: it
-- refuses when something is still mounted under it).
function C.remove(dir)
  assert(dir:match("^/tmp/nsl%-"), "refusing to remove " .. dir)
  dir = dir:match("^(/tmp/nsl%-spec%-root%-[^/]+)/root$") or dir
  local mounted = C.mounts_under(dir)
  assert(#mounted == 0, "still mounted: " .. table.concat(mounted, ", "))
  os.execute("rm -rf " .. T.quote(dir))
end

-- Mount points of the host at or below prefix.
function C.mounts_under(prefix)
  local out = {}
  local f = assert(io.open("/proc/self/mountinfo"))
  for line in f:lines() do
    local target = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    if target == prefix or target:sub(1, #prefix + 1) == prefix .. "/" then
      out[#out + 1] = target
    end
  end
  f:close()
  return out
end

-- The children of this process that still exist.
function C.children()
  local f = io.open(("/proc/%d/task/%d/children"):format(nsl.getpid(), nsl.getpid()))
  local s = f and f:read("a") or ""
  if f then f:close() end
  local out = {}
  for pid in s:gmatch("%d+") do out[#out + 1] = tonumber(pid) end
  return out
end

-- Runs a container (a spec or a container) and captures its standard
-- output through a pipe (outputs up to the pipe's 64 KiB). Returns out,
-- ok, how, n, or nil and the message when it could not start.
function C.capture(spec)
  local c = require("nsl.container").is_container(spec) and spec
  if not c then c = nsl.container(spec) end
  local r, w = assert(nsl.pipe())
  io.stdout:flush()
  local saved = assert(nsl.dup2(1, 199))
  assert(nsl.dup2(w, 1))
  nsl.close(w)
  local ok, how, n = c:run()
  assert(nsl.dup2(saved, 1))
  nsl.close(saved)
  local chunks = {}
  repeat
    local s = assert(nsl.read(r, 65536))
    chunks[#chunks + 1] = s
  until s == ""
  nsl.close(r)
  if ok == nil and how ~= "exit" and how ~= "signal" then return nil, how end
  return (table.concat(chunks):gsub("\n$", "")), ok, how, n
end

-- ---- added for the security and failure specs ------------------------------

-- Compiles a C program (its source text) into a static binary at out,
-- mode 0755; raises with the compiler's words when that fails.
function C.compile(source, out)
  local dir = assert(nsl.mkdtemp("/tmp/nsl-spec-cc-"))
  local src = dir .. "/prog.c"
  local f = assert(io.open(src, "w"))
  f:write(source)
  f:close()
  local msg, ok = T.sh(("gcc -static -O2 -Wall -o %s %s 2>&1 && chmod 755 %s")
    :format(T.quote(out), T.quote(src), T.quote(out)))
  os.execute("rm -rf " .. T.quote(dir))
  assert(ok, "cannot build " .. out .. " (gcc, libc6-dev): " .. msg)
  return out
end

-- The start time of a process (field 22 of /proc/<pid>/stat), or nil
-- when there is no such process.
function C.start_time(pid)
  local f = io.open(("/proc/%d/stat"):format(pid))
  local s = f and f:read("a")
  if f then f:close() end
  local rest = s and s:match("%) (.*)$")
  if not rest then return nil end
  local i = 2
  for field in rest:gmatch("%S+") do
    i = i + 1
    if i == 22 then return field end
  end
end

-- Is the process pid that started at start still there (a zombie counts)?
function C.alive(pid, start)
  return start ~= nil and C.start_time(pid) == start
end

-- Pids of every process on the machine in the pid namespace whose inode
-- is ino.
function C.procs_in_pidns(ino)
  local out = {}
  for _, name in ipairs(nsl.readdir("/proc") or {}) do
    if name:match("^%d+$") then
      local link = nsl.readlink("/proc/" .. name .. "/ns/pid")
      if link == ("pid:[%d]"):format(ino) then out[#out + 1] = tonumber(name) end
    end
  end
  return out
end

-- Runs fn() while watching what the Lua layer asks of the core: every
-- process nsl.clone makes ({pid =, start =, pidns =}) and every directory
-- nsl.mkdtemp makes. Returns the record and fn's results. (The watch
-- replaces the two functions in the table require "nsl" returns, which
-- the Lua layer calls through.)
function C.watch(fn)
  local seen = { procs = {}, dirs = {} }
  local clone, mkdtemp = nsl.clone, nsl.mkdtemp
  nsl.clone = function(...)
    local r = table.pack(clone(...))
    if r[1] then
      -- its pid namespace, when it has one of its own
      local ns = nsl.nsid(r[1], "pid")
      if ns == nsl.nsid("self", "pid") then ns = nil end
      seen.procs[#seen.procs + 1] = { pid = r[1], start = C.start_time(r[1]), pidns = ns }
    end
    return table.unpack(r, 1, r.n)
  end
  nsl.mkdtemp = function(...)
    local r = table.pack(mkdtemp(...))
    if r[1] then seen.dirs[#seen.dirs + 1] = r[1] end
    return table.unpack(r, 1, r.n)
  end
  local res = table.pack(pcall(fn))
  nsl.clone, nsl.mkdtemp = clone, mkdtemp
  if not res[1] then error(res[2], 0) end
  return seen, table.unpack(res, 2, res.n)
end

-- Names of the network interfaces of the caller's network namespace.
function C.links()
  local out = {}
  for _, l in ipairs(assert(nsl.net.links())) do out[#out + 1] = l.name end
  table.sort(out)
  return out
end

-- The cgroup directories of a container (name: its name) that exist, in
-- every hierarchy nsl uses.
function C.cgroup_dirs(name)
  local out = {}
  for _, base in ipairs({ "/sys/fs/cgroup", "/sys/fs/cgroup/unified" }) do
    for _, ctrl in ipairs(nsl.readdir(base) or {}) do
      local dir = ("%s/%s/nsl/%s"):format(base, ctrl, name)
      if nsl.lstat(dir) then out[#out + 1] = dir end
    end
    if nsl.lstat(base .. "/nsl/" .. name) then out[#out + 1] = base .. "/nsl/" .. name end
  end
  return out
end

-- What the caller's side looks like before a start, for C.leftovers:
-- descriptors, mounts (by id), interfaces, children.
function C.snapshot()
  -- the container module keeps one descriptor for the process's life
  -- (nsl-init's sealed copy, made when it loads): not a start's
  require "nsl.container"
  local mounts = {}
  local f = assert(io.open("/proc/self/mountinfo"))
  for line in f:lines() do
    local id, target = line:match("^(%d+) %S+ %S+ %S+ (%S+)")
    mounts[id] = target
  end
  f:close()
  local links = {}
  for _, l in ipairs(C.links()) do links[l] = true end
  return { fds = #nsl.fds(), mounts = mounts, links = links, children = C.children() }
end

local function under(path, dirs)
  for _, d in ipairs(dirs) do
    if path == d or path:sub(1, #d + 1) == d .. "/" then return true end
  end
  return false
end

-- What a container start left behind: a sorted list of descriptions,
-- empty when nothing. before: C.snapshot() taken before the start; watch:
-- C.watch's record of it. opts: name (the container's: its cgroups and
-- state record), bridge (its lease directory must be gone), root (a
-- directory under which no new mount may stay), keep_pids and keep_links
-- (another container's, which may live on).
function C.leftovers(before, watch, opts)
  opts = opts or {}
  local out = {}
  local keep = {}
  for _, p in ipairs(opts.keep_pids or {}) do keep[p] = true end
  for _, p in ipairs(before.children) do keep[p] = true end
  -- processes: those nsl.clone made, anything in their pid namespaces,
  -- any child of this process
  for _, p in ipairs(watch.procs) do
    if not keep[p.pid] then
      if C.alive(p.pid, p.start) then out[#out + 1] = "process " .. p.pid end
      for _, q in ipairs(p.pidns and C.procs_in_pidns(p.pidns) or {}) do
        out[#out + 1] = ("process %d in the pid namespace of %d"):format(q, p.pid)
      end
    end
  end
  for _, p in ipairs(C.children()) do
    if not keep[p] then out[#out + 1] = "child process " .. p end
  end
  -- interfaces, the bridge among them
  local keep_links = {}
  for _, l in ipairs(opts.keep_links or {}) do keep_links[l] = true end
  for _, l in ipairs(C.links()) do
    if not before.links[l] and not keep_links[l] then out[#out + 1] = "link " .. l end
  end
  -- new mounts on the caller's side, where nsl keeps things
  local places = { "/run/nsl" }
  if opts.root then places[#places + 1] = opts.root end
  for _, d in ipairs(watch.dirs) do places[#places + 1] = d end
  local after = C.snapshot()
  for id, target in pairs(after.mounts) do
    if not before.mounts[id] and under(target, places) then out[#out + 1] = "mount " .. target end
  end
  -- directories nsl made: the overlay's state, address claims, records
  for _, d in ipairs(watch.dirs) do
    if nsl.lstat(d) then out[#out + 1] = "directory " .. d end
  end
  local leases = opts.bridge and require("nsl.netmode").lease_dir(opts.bridge)
  if leases and nsl.lstat(leases) then out[#out + 1] = "lease directory " .. leases end
  if opts.name then
    for _, d in ipairs(C.cgroup_dirs(opts.name)) do out[#out + 1] = "cgroup " .. d end
    local rec = require("nsl.state").root() .. "/" .. opts.name
    if nsl.lstat(rec) then out[#out + 1] = "state record " .. rec end
  end
  if after.fds ~= before.fds then
    out[#out + 1] = ("descriptors: %d before the start, %d after"):format(before.fds, after.fds)
  end
  table.sort(out)
  return out
end

-- Starts the container c, expecting the start to fail: returns what
-- start returned (nil and the message, or the container) and the list of
-- what the start left behind (C.leftovers with opts; opts.name defaults
-- to the container's name).
function C.failed_start(c, opts)
  opts = opts or {}
  if opts.name == nil then opts.name = c.name end
  local before = C.snapshot()
  local watch, ok, err = C.watch(function() return c:start() end)
  return ok, err, C.leftovers(before, watch, opts), watch
end

return C
