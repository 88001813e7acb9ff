-- Containers: nsl.container(spec) composes the primitives of the C core
-- into a whole, hardened container. Reference: docs/containers.md.
--
-- The life of a container, in two processes:
--
--   caller                                   child (PID 1 of the container)
--   check the spec (raise on error)
--   root:prepare()
--   clone into the namespaces  ------------>  setsid, make mounts private,
--   network plan:setup(pid)                   mount the root, /proc, /sys,
--        (both sides work at once)            /dev, the spec's mounts,
--                                             hostname, pivot_root, setup
--                                             hook, masked and read-only
--                                             paths, rlimits, cwd,
--                                             capabilities, no_new_privs
--   read "R" (or "E<step>: <reason>") <-----  "R": ready
--   on_start(c)
--   "G" ------------------------------------> exec the command
--   read EOF (exec done: the status pipe is
--   close-on-exec) or "E<step>: <reason>"
--
-- A failure on either side undoes everything: the child is killed, the
-- network and the root are cleaned up, and start() returns nil, message.
local nsl = require "nsl"

local M = {}

-- ---- collaborators: root file systems (nsl.rootfs), network modes (nsl.netmode)

local rootfs = require "nsl.rootfs"
local netmode = require "nsl.netmode"

-- Errors of the collaborators, prefixed with the spec field they concern.
local function resolve_root(value)
  local ok, root = pcall(rootfs.resolve, value)
  if not ok then
    root = tostring(root)
    error(root:find("^rootfs") and root or "rootfs: " .. root, 0)
  end
  return root
end

local function net_plan(value)
  local ok, plan = pcall(netmode.check, value)
  if not ok then
    plan = tostring(plan)
    error(plan:find("^net") and plan or "net: " .. plan, 0)
  end
  return plan
end

-- ---- the spec -------------------------------------------------------------

local DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

-- The usual container default (as in OCI runtimes and docker).
M.default_capabilities = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
  "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

M.default_masked_paths = {
  "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore",
  "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
  "/proc/timer_list", "/proc/timer_stats", "/sys/firmware",
  "/sys/devices/virtual/powercap",
}

M.default_readonly_paths = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

-- hardening = {...}: every item on by default; false turns one off.
local HARDENING = {
  pivot_root = true,      -- pivot_root into the root (false: chroot)
  private_mounts = true,  -- make every mount private first (false: slave)
  proc = true,            -- a fresh /proc, nosuid,noexec,nodev
  sys = true,             -- /sys read-only
  dev = true,             -- a minimal /dev on tmpfs
  masked_paths = true,    -- or a list replacing M.default_masked_paths
  readonly_paths = true,  -- or a list replacing M.default_readonly_paths
  capabilities = true,    -- limit capabilities to spec.capabilities
  no_new_privs = true,
  close_fds = true,       -- no descriptor above 2 reaches the command
  new_session = true,     -- setsid: no controlling terminal
  resolve_cwd = true,     -- cwd resolved inside the root
  refuse_symlinks = true, -- refuse a root whose /proc, /sys or /dev is a symlink
}

local FIELDS = {
  "name", "rootfs", "hostname", "namespaces", "user", "mounts", "net", "env",
  "cwd", "capabilities", "limits", "rlimits", "command", "init", "setup",
  "on_start", "hardening", "detach",
}
local FIELD_SET = {}
for _, f in ipairs(FIELDS) do FIELD_SET[f] = true end

local NAMESPACES = {
  mnt = "mnt", mount = "mnt", uts = "uts", ipc = "ipc", pid = "pid",
  net = "net", user = "user", cgroup = "cgroup", time = "time",
}

local MOUNT_FIELDS = {
  type = true, source = true, target = true, data = true, flags = true,
  bind = true, rec = true, ro = true, nosuid = true, nodev = true,
  noexec = true,
}
local MOUNT_FLAGS = {}
for f in ("ro rw nosuid nodev noexec bind rec relatime noatime strictatime nodiratime lazytime sync dirsync silent nosymfollow private slave shared unbindable")
    :gmatch("%S+") do MOUNT_FLAGS[f] = true end

local RLIMITS = {}
for r in ("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack")
    :gmatch("%S+") do RLIMITS[r] = true end

local function spec_error(fmt, ...)
  error("container: " .. fmt:format(...), 0)
end

local function check_type(field, value, ...)
  local t = type(value)
  for i = 1, select("#", ...) do
    if t == select(i, ...) then return end
  end
  spec_error("%s must be %s (got %s)", field, table.concat({ ... }, " or "), t)
end

local function names_of(value, field)
  local list = {}
  if type(value) == "string" then
    for n in value:gmatch("[^,%s]+") do list[#list + 1] = n end
  elseif type(value) == "table" then
    for i, n in ipairs(value) do
      if type(n) ~= "string" then
        spec_error("%s[%d] must be a string (got %s)", field, i, type(n))
      end
      list[i] = n
    end
  else
    spec_error("%s must be a list of names (got %s)", field, type(value))
  end
  return list
end

local function check_idmap(map, field)
  check_type(field, map, "table")
  if #map < 1 then spec_error("%s must have at least one {inside, outside, count} entry", field) end
  for i, e in ipairs(map) do
    if type(e) ~= "table" or #e ~= 3 then
      spec_error("%s[%d] must be {inside, outside, count}", field, i)
    end
    for j = 1, 3 do
      if math.type(e[j]) ~= "integer" or e[j] < 0 or e[j] > 4294967294 then
        spec_error("%s[%d][%d] must be an integer from 0 to 4294967294", field, i, j)
      end
    end
    if e[3] < 1 then spec_error("%s[%d]: count must be at least 1", field, i) end
  end
end

local function is_absolute(p)
  return type(p) == "string" and p:sub(1, 1) == "/" and not p:find("%z")
end

-- Does the executable p (a path inside the container) exist, in the root
-- or in the source of a bind mount whose target covers it?
local function executable_in(root_dir, mounts, p)
  local base, rest = root_dir, p
  for i = #mounts, 1, -1 do
    local m = mounts[i]
    if m.bind and (p == m.target or p:sub(1, #m.target + 1) == m.target .. "/") then
      base, rest = m.source, p:sub(#m.target + 1)
      if rest == "" then
        local st = nsl.lstat(m.source)
        return st and st.type == "file" and st.mode & 73 ~= 0
      end
      break
    end
  end
  local host = nsl.resolve(base, rest)
  local st = host and nsl.lstat(host)
  return st and st.type == "file" and st.mode & 73 ~= 0
end

local function check_command(cfg, root_dir)
  local cmd = cfg.command[1]
  local tried = {}
  if cmd:find("/", 1, true) then
    local p = cmd:sub(1, 1) == "/" and cmd or (cfg.cwd:gsub("/$", "") .. "/" .. cmd)
    tried[1] = p
  else
    for dir in (cfg.env.PATH or DEFAULT_PATH):gmatch("[^:]+") do
      tried[#tried + 1] = dir:gsub("/$", "") .. "/" .. cmd
    end
  end
  for _, p in ipairs(tried) do
    if executable_in(root_dir, cfg.mounts, p) then return end
  end
  if cmd:find("/", 1, true) then
    spec_error("command: %s not found (or not executable) in the root %s", cmd, root_dir)
  end
  spec_error("command: %s not found in the root %s (searched PATH=%s)", cmd, root_dir,
    cfg.env.PATH or DEFAULT_PATH)
end

-- The spec, checked and completed with the defaults: raises a message
-- naming the field on any error, before anything is set up.
local function check_spec(spec)
  if type(spec) ~= "table" then
    error(("container: spec must be a table (got %s)"):format(type(spec)), 0)
  end
  for k in pairs(spec) do
    if not FIELD_SET[k] then
      spec_error("unknown field '%s' (expected %s)", tostring(k), table.concat(FIELDS, ", "))
    end
  end
  local cfg = {}
  local root = (nsl.geteuid() == 0)

  if spec.name ~= nil then
    check_type("name", spec.name, "string")
    if not spec.name:match("^[%w][%w_.-]*$") or #spec.name > 64 then
      spec_error("name '%s' must be 1 to 64 letters, digits, '_', '.' or '-'", spec.name)
    end
  end
  cfg.name = spec.name
  if spec.limits ~= nil then
    spec_error("limits: cgroup limits are not supported yet (they come with named and detached containers)")
  end
  if spec.detach ~= nil then
    spec_error("detach: detached containers are not supported yet")
  end

  if spec.hostname ~= nil then
    check_type("hostname", spec.hostname, "string")
    if #spec.hostname < 1 or #spec.hostname > 64 or spec.hostname:find("%z") then
      spec_error("hostname must be 1 to 64 bytes")
    end
  end
  cfg.hostname = spec.hostname or spec.name

  -- hardening
  local h = {}
  for k, v in pairs(HARDENING) do h[k] = v end
  if spec.hardening ~= nil then
    check_type("hardening", spec.hardening, "table")
    for k, v in pairs(spec.hardening) do
      if HARDENING[k] == nil then
        local names = {}
        for n in pairs(HARDENING) do names[#names + 1] = n end
        table.sort(names)
        spec_error("hardening: unknown item '%s' (expected %s)", tostring(k), table.concat(names, ", "))
      end
      if (k == "masked_paths" or k == "readonly_paths") and type(v) == "table" then
        for i, p in ipairs(v) do
          if not is_absolute(p) then
            spec_error("hardening.%s[%d] must be an absolute path", k, i)
          end
        end
      else
        check_type("hardening." .. k, v, "boolean")
      end
      h[k] = v
    end
  end
  if h.masked_paths == true then h.masked_paths = M.default_masked_paths end
  if h.readonly_paths == true then h.readonly_paths = M.default_readonly_paths end
  cfg.hardening = h

  -- network mode, then namespaces
  if spec.net ~= nil then check_type("net", spec.net, "string", "table") end
  local ns = {}
  if spec.namespaces ~= nil then
    for _, n in ipairs(names_of(spec.namespaces, "namespaces")) do
      if not NAMESPACES[n] then
        spec_error("namespaces: unknown namespace '%s' (expected mnt, uts, ipc, pid, net, user, cgroup, time)", n)
      end
      ns[NAMESPACES[n]] = true
    end
    if not ns.mnt then
      spec_error("namespaces must include 'mnt': a container needs its own mount namespace")
    end
    if ns.net and spec.net == "host" then
      spec_error("net: \"host\" shares the caller's network, which conflicts with the 'net' namespace")
    end
    if not ns.net and spec.net ~= nil and spec.net ~= "host" then
      spec_error("net: this network mode needs the 'net' namespace")
    end
  else
    ns = { mnt = true, uts = true, ipc = true, pid = true, net = spec.net ~= "host" }
  end
  if not ns.net and spec.net == nil then
    cfg.net = "host"
  else
    cfg.net = spec.net
  end
  cfg.plan = net_plan(cfg.net)

  -- user namespace and id maps
  if spec.user ~= nil then
    check_type("user", spec.user, "table")
    for k in pairs(spec.user) do
      if k ~= "uid_map" and k ~= "gid_map" then
        spec_error("user: unknown field '%s' (expected uid_map, gid_map)", tostring(k))
      end
    end
    if spec.user.uid_map ~= nil then check_idmap(spec.user.uid_map, "user.uid_map") end
    if spec.user.gid_map ~= nil then check_idmap(spec.user.gid_map, "user.gid_map") end
    ns.user = true
  end
  if not root then ns.user = true end
  if ns.user then
    local u = spec.user or {}
    cfg.uid_map = u.uid_map or { { 0, nsl.getuid(), 1 } }
    cfg.gid_map = u.gid_map or { { 0, nsl.getgid(), 1 } }
  end
  cfg.ns = ns
  local list = {}
  for _, n in ipairs({ "user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time" }) do
    if ns[n] then list[#list + 1] = n end
  end
  cfg.ns_list = table.concat(list, ",")

  -- env and cwd
  local env = { PATH = DEFAULT_PATH, HOME = "/root", HOSTNAME = cfg.hostname }
  if spec.env ~= nil then
    check_type("env", spec.env, "table")
    for k, v in pairs(spec.env) do
      if type(k) ~= "string" or k == "" or k:find("[=%z]") then
        spec_error("env: key %s is not a valid variable name", tostring(k))
      end
      if v == false then
        env[k] = nil
      elseif type(v) == "string" or type(v) == "number" then
        if tostring(v):find("%z") then spec_error("env.%s contains a NUL byte", k) end
        env[k] = tostring(v)
      else
        spec_error("env.%s must be a string, a number or false (got %s)", k, type(v))
      end
    end
  end
  cfg.env = env
  if spec.cwd ~= nil and not is_absolute(spec.cwd) then
    spec_error("cwd must be an absolute path inside the container (got %s)", tostring(spec.cwd))
  end
  cfg.cwd = spec.cwd or "/"

  -- capabilities
  local caps = spec.capabilities
  if caps == nil then caps = M.default_capabilities end
  local ok, bits = pcall(nsl.cap_bits, caps)
  if not ok then
    spec_error("capabilities: %s", (tostring(bits):gsub("^.-%((.*)%)$", "%1")))
  end
  cfg.capmask = bits

  -- rlimits
  cfg.rlimits = {}
  if spec.rlimits ~= nil then
    check_type("rlimits", spec.rlimits, "table")
    for k, v in pairs(spec.rlimits) do
      if not RLIMITS[k] then
        spec_error("rlimits: unknown limit '%s' (expected as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)", tostring(k))
      end
      local soft, hard = v, v
      if type(v) == "table" then soft, hard = v[1], v[2] end
      for _, x in ipairs({ soft, hard }) do
        if not (x == "unlimited" or x == math.huge or (math.type(x) == "integer" and x >= 0)) then
          spec_error("rlimits.%s must be a limit or {soft, hard} (a non-negative integer, math.huge or \"unlimited\")", k)
        end
      end
      cfg.rlimits[#cfg.rlimits + 1] = { k, soft, hard }
    end
  end

  -- mounts
  cfg.mounts = {}
  if spec.mounts ~= nil then
    check_type("mounts", spec.mounts, "table")
    for i, m in ipairs(spec.mounts) do
      local f = ("mounts[%d]"):format(i)
      check_type(f, m, "table")
      for k in pairs(m) do
        if not MOUNT_FIELDS[k] then
          spec_error("%s: unknown field '%s' (expected type, source, target, data, flags, bind, rec, ro, nosuid, nodev, noexec)", f, tostring(k))
        end
      end
      if not is_absolute(m.target) then spec_error("%s.target must be an absolute path", f) end
      local flags = {}
      local mm = { target = m.target, data = m.data, type = m.type, bind = m.bind }
      if m.data ~= nil then check_type(f .. ".data", m.data, "string") end
      if m.type ~= nil then check_type(f .. ".type", m.type, "string") end
      if m.bind then
        if not is_absolute(m.source) then spec_error("%s.source must be an absolute host path for a bind mount", f) end
        local st, err = nsl.lstat(m.source)
        if not st then spec_error("%s.source: %s", f, err) end
        mm.source = m.source
        mm.kind = (st.type == "directory") and "dir" or "file"
        if st.type == "symlink" then
          local real = nsl.realpath(m.source)
          local rst = real and nsl.lstat(real)
          mm.kind = (rst and rst.type == "directory") and "dir" or "file"
        end
        flags[#flags + 1] = "bind"
        if m.rec ~= false then flags[#flags + 1] = "rec" end
      else
        if not m.type then spec_error("%s needs a type (\"tmpfs\", ...) or bind = true", f) end
        if m.source ~= nil then check_type(f .. ".source", m.source, "string") end
        mm.source = m.source or m.type
        mm.kind = "dir"
      end
      for _, b in ipairs({ "ro", "nosuid", "nodev", "noexec" }) do
        if m[b] ~= nil then check_type(f .. "." .. b, m[b], "boolean") end
        if m[b] then flags[#flags + 1] = b end
      end
      if m.flags ~= nil then
        for _, n in ipairs(names_of(m.flags, f .. ".flags")) do
          if not MOUNT_FLAGS[n] then spec_error("%s.flags: unknown mount flag '%s'", f, n) end
          flags[#flags + 1] = n
        end
      end
      mm.flags = table.concat(flags, ",")
      cfg.mounts[i] = mm
    end
  end

  -- the process
  if spec.init ~= nil then check_type("init", spec.init, "boolean") end
  cfg.init = spec.init == true
  if spec.setup ~= nil then check_type("setup", spec.setup, "function") end
  if spec.on_start ~= nil then check_type("on_start", spec.on_start, "function") end
  cfg.setup, cfg.on_start = spec.setup, spec.on_start
  local command = spec.command
  if command == nil then command = { "/bin/sh" } end
  check_type("command", command, "table", "function")
  if type(command) == "table" then
    if #command < 1 then spec_error("command must have at least one string") end
    for i, a in ipairs(command) do
      if type(a) ~= "string" and type(a) ~= "number" then
        spec_error("command[%d] must be a string (got %s)", i, type(a))
      end
    end
  end
  cfg.command = command

  -- the root, last: it may look at the command
  if spec.rootfs == nil then spec_error("rootfs is missing (a directory, or nsl.rootfs.busybox(dir), ...)") end
  local ok2, r = pcall(resolve_root, spec.rootfs)
  if not ok2 then error("container: " .. tostring(r), 0) end
  cfg.root = r
  local dir = r:inspect_dir()
  if dir then
    local st, err = nsl.lstat(dir)
    if not st then spec_error("rootfs: %s", (err:gsub("^lstat ", ""))) end
    if type(command) == "table" then check_command(cfg, dir) end
  end
  return cfg
end

-- ---- inside: the child ----------------------------------------------------

local StepError = {}

local function must(step, ok, err)
  if not ok then error(setmetatable({ msg = step .. ": " .. tostring(err) }, StepError), 0) end
  return ok
end

local DEVICES = {
  { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 },
  { "urandom", 1, 9 }, { "tty", 5, 0 },
}

local function setup_dev(dev, in_userns, ns)
  must("mount /dev", nsl.mount("tmpfs", dev, "tmpfs", "nosuid,strictatime", "mode=755,size=65536k"))
  for _, d in ipairs(DEVICES) do
    local path = dev .. "/" .. d[1]
    if in_userns then
      -- mknod is not allowed in a user namespace: bind the host's node.
      must("create /dev/" .. d[1], nsl.touch(path, 0666))
      must("bind /dev/" .. d[1], nsl.mount("/dev/" .. d[1], path, nil, "bind"))
    else
      must("mknod /dev/" .. d[1], nsl.mknod(path, "char", 0666, d[2], d[3]))
    end
  end
  must("mkdir /dev/pts", nsl.mkdir(dev .. "/pts", 0755))
  must("mount /dev/pts", nsl.mount("devpts", dev .. "/pts", "devpts", "nosuid,noexec",
    "newinstance,ptmxmode=0666,mode=0620" .. (in_userns and "" or ",gid=5")))
  must("link /dev/ptmx", nsl.symlink("pts/ptmx", dev .. "/ptmx"))
  must("mkdir /dev/shm", nsl.mkdir(dev .. "/shm", 01777))
  must("mount /dev/shm", nsl.mount("shm", dev .. "/shm", "tmpfs", "nosuid,nodev,noexec", "mode=1777,size=65536k"))
  if ns.ipc then
    must("mkdir /dev/mqueue", nsl.mkdir(dev .. "/mqueue", 0755))
    must("mount /dev/mqueue", nsl.mount("mqueue", dev .. "/mqueue", "mqueue", "nosuid,nodev,noexec"))
  end
  must("link /dev/fd", nsl.symlink("/proc/self/fd", dev .. "/fd"))
  for i, name in ipairs({ "stdin", "stdout", "stderr" }) do
    must("link /dev/" .. name, nsl.symlink("/proc/self/fd/" .. (i - 1), dev .. "/" .. name))
  end
end

-- The root's /proc, /sys or /dev, refused when it is a symlink.
local function system_dir(newroot, name, h)
  local st = nsl.lstat(newroot .. "/" .. name)
  if st and st.type == "symlink" and h.refuse_symlinks then
    must("rootfs", nil, ("/%s is a symlink (refused: it could point outside the root)"):format(name))
  end
  return must("mkdir /" .. name, nsl.resolve(newroot, "/" .. name, "dir"))
end

local function build_root(cfg)
  local h, ns = cfg.hardening, cfg.ns
  must("make mounts private", nsl.mount(nil, "/", nil, h.private_mounts and "rec,private" or "rec,slave"))
  local ok, newroot = pcall(cfg.root.mount, cfg.root)
  if not ok then
    newroot = tostring(newroot)
    must(newroot:find("^rootfs") and newroot:match("^(.-): ") or "rootfs", nil,
      newroot:find("^rootfs") and newroot:gsub("^.-: ", "", 1) or newroot)
  end
  if h.proc then
    local proc = system_dir(newroot, "proc", h)
    if ns.pid then
      must("mount /proc", nsl.mount("proc", proc, "proc", "nosuid,noexec,nodev"))
    else
      must("mount /proc", nsl.mount("/proc", proc, nil, "bind,rec,nosuid,noexec,nodev"))
    end
  end
  if h.sys then
    local sys = system_dir(newroot, "sys", h)
    local done = ns.net and nsl.mount("sysfs", sys, "sysfs", "ro,nosuid,noexec,nodev")
    if not done then
      -- sysfs cannot be mounted without a network namespace of one's own
      -- (or rootless, at times): the host's, read-only.
      must("mount /sys", nsl.mount("/sys", sys, nil, "bind,rec,ro,nosuid,noexec,nodev"))
    end
  end
  if h.dev then
    setup_dev(system_dir(newroot, "dev", h), ns.user, ns)
  end
  for _, m in ipairs(cfg.mounts) do
    local step = "mount " .. m.target
    local target = must(step, nsl.resolve(newroot, m.target, m.kind))
    must(step, nsl.mount(m.source, target, m.type, m.flags, m.data))
  end
  return newroot
end

local function harden(cfg)
  local h = cfg.hardening
  if h.masked_paths then
    for _, p in ipairs(h.masked_paths) do
      local st = nsl.lstat(p)
      if st and st.type == "directory" then
        must("mask " .. p, nsl.mount("tmpfs", p, "tmpfs", "ro,nosuid,nodev,noexec", "size=4k,mode=0555"))
      elseif st and st.type ~= "symlink" then
        must("mask " .. p, nsl.mount("/dev/null", p, nil, "bind"))
      end
    end
  end
  if h.readonly_paths then
    for _, p in ipairs(h.readonly_paths) do
      if nsl.lstat(p) then
        must("read-only " .. p, nsl.mount(p, p, nil, "bind,rec,ro,nosuid,nodev,noexec"))
      end
    end
  end
end

-- The command, once everything is in place: exec, or call the function.
local function run_command(cfg, status_w)
  if type(cfg.command) == "function" then
    collectgarbage("restart")
    nsl.close(status_w)
    if cfg.hardening.close_fds then nsl.close_fds(3, { null = true }) end
    return cfg.command()
  end
  local opts = { env = cfg.env }
  if not cfg.hardening.close_fds then
    local keep = {}
    for _, fd in ipairs(nsl.fds()) do
      if fd > 2 and fd ~= status_w and #keep < 64 then keep[#keep + 1] = fd end
    end
    opts.keep_fds = keep
  end
  local _, err, errno = nsl.exec(cfg.command, opts)
  nsl.write(status_w, "E" .. err)
  return errno == 2 and 127 or 126
end

-- The child's whole life; returns its exit status.
local function child_main(cfg, status_w, go_r)
  local h, ns = cfg.hardening, cfg.ns
  nsl.stop_forwarding() -- inherited from the caller: not ours
  local ok, err = xpcall(function()
    nsl.umask(0)
    if h.new_session then must("setsid", nsl.setsid()) end
    local newroot = build_root(cfg)
    if cfg.hostname and ns.uts then
      must("hostname", nsl.sethostname(cfg.hostname))
    end
    if cfg.plan.inside then must("network: lo up", nsl.loopback_up()) end
    if h.pivot_root then
      must("pivot_root", nsl.pivot_root(newroot))
    else
      must("chroot", nsl.chroot(newroot))
    end
    if cfg.setup then
      local sok, serr = pcall(cfg.setup)
      must("setup", sok, serr)
    end
    harden(cfg)
    for _, r in ipairs(cfg.rlimits) do
      must("rlimit " .. r[1], nsl.setrlimit(r[1], r[2], r[3]))
    end
    if h.resolve_cwd then
      must("cwd " .. cfg.cwd, nsl.chdir(cfg.cwd, "/"))
    else
      must("cwd " .. cfg.cwd, nsl.chdir(cfg.cwd))
    end
    nsl.umask(022)
    if h.capabilities then must("capabilities", nsl.caps_limit(cfg.capmask)) end
    if h.no_new_privs then must("no_new_privs", nsl.no_new_privs()) end
  end, function(e)
    if getmetatable(e) == StepError then return e.msg end
    return debug.traceback("internal error: " .. tostring(e), 2)
  end)
  if not ok then
    nsl.write(status_w, "E" .. err)
    return 1
  end
  nsl.write(status_w, "R")
  if nsl.read(go_r, 1) ~= "G" then return 1 end -- the caller gave up
  nsl.close(go_r)
  if not cfg.init then
    return run_command(cfg, status_w)
  end
  -- A small init as PID 1: the command runs in its child; init forwards
  -- signals to it, reaps orphans and exits with its status.
  local pid, cerr = nsl.clone({}, function() return run_command(cfg, status_w) end,
    { pdeathsig = "KILL", collect = false })
  if not pid then
    nsl.write(status_w, "Einit: " .. cerr)
    return 1
  end
  nsl.close(status_w)
  nsl.close_fds(3)
  local _, how, n = nsl.supervise(pid)
  if how == "signal" then return 128 + n end
  return n or 1
end

-- ---- the caller's side ----------------------------------------------------

local Container = {}
Container.__index = Container

-- Containers of this process that are running, by pid (weak: a container
-- nobody holds is finalized, which destroys it).
local running = setmetatable({}, { __mode = "v" })

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("l")
  f:close()
  return s
end

-- Why an unprivileged user namespace was refused, and how to allow it
-- (proc is the root of the sysctl files, "/proc" but for tests).
function M.userns_hint(proc)
  proc = proc or "/proc"
  if read_file(proc .. "/sys/kernel/unprivileged_userns_clone") == "0" then
    return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); allow them with: sysctl -w kernel.unprivileged_userns_clone=1"
  end
  if read_file(proc .. "/sys/user/max_user_namespaces") == "0" then
    return "user namespaces are disabled (user.max_user_namespaces = 0); allow them with: sysctl -w user.max_user_namespaces=15000"
  end
  if read_file(proc .. "/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" then
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); allow them with: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for nsl with the 'userns' rule"
  end
  return nil
end

local function cleanup_host(self)
  local errs = {}
  if self._forwarding then
    nsl.stop_forwarding(self._forwarding)
    self._forwarding = nil
  end
  for _, obj in ipairs({ self._plan, self._root }) do
    if obj then
      local ok, done, err = pcall(obj.cleanup, obj)
      if not ok then errs[#errs + 1] = tostring(done)
      elseif done == nil and err then errs[#errs + 1] = tostring(err) end
    end
  end
  self._plan, self._root = nil, nil
  if #errs > 0 then
    io.stderr:write("nsl: container cleanup: ", table.concat(errs, "; "), "\n")
  end
end

-- A start that failed half way: undo everything, return nil, msg.
local function abort(self, msg, fds)
  for _, fd in ipairs(fds) do nsl.close(fd) end
  if self.pid then
    nsl.kill(self.pid, "KILL")
    nsl.wait(self.pid)
    running[self.pid] = nil
  end
  self.pid = nil
  cleanup_host(self)
  self.state = "created"
  return nil, msg
end

--- Starts the container; returns the container, or nil and "<step>: <reason>".
function Container:start()
  if self.state == "running" then return nil, "start: the container is already running" end
  if self.state == "destroyed" then return nil, "start: the container was destroyed" end
  local cfg = self._cfg
  self.status = nil
  local ok, err = pcall(cfg.root.prepare, cfg.root)
  self._root = cfg.root
  if not ok then return abort(self, "rootfs: " .. tostring(err), {}) end
  self._plan = cfg.plan

  local status_r, status_w = assert(nsl.pipe())
  local go_r, go_w = assert(nsl.pipe())
  local hide_binary = nsl.geteuid() == 0
  local pid, cerr, errno = nsl.clone(cfg.ns_list, function()
    -- No collection in the child until its command: the caller's garbage
    -- (collect = false above keeps the start fast) must not be finalized
    -- here. A command given as a function turns it back on.
    collectgarbage("stop")
    -- Until its exec, this process is the host's nsl binary: when root
    -- runs it, not dumpable, so the container cannot open the binary
    -- through /proc/<pid>/exe (runc's CVE-2019-5736). The exec of the
    -- command makes it dumpable again; an init (init = true) stays so.
    -- Rootless, the binary is out of the container's reach anyway (it
    -- cannot write a file its user could not), and a non-dumpable init
    -- would keep that user from joining the container (c:exec).
    if hide_binary then nsl.dumpable(false) end
    nsl.close(status_r)
    nsl.close(go_w)
    return child_main(cfg, status_w, go_r)
  end, { uid_map = cfg.uid_map, gid_map = cfg.gid_map, pdeathsig = "KILL", collect = false })
  nsl.close(status_w)
  nsl.close(go_r)
  local fds = { status_r, go_w }
  if not pid then
    local hint = cfg.ns.user and nsl.geteuid() ~= 0 and (errno == 1 or errno == 28 or errno == 13)
      and M.userns_hint()
    return abort(self, cerr .. (hint and (": " .. hint) or ""), fds)
  end
  self.pid = pid
  running[pid] = self
  nsl.forward_signals(pid)
  self._forwarding = pid

  if cfg.plan.setup then
    local nok, nerr = pcall(cfg.plan.setup, cfg.plan, pid)
    if not nok then return abort(self, "network: " .. tostring(nerr), fds) end
  end
  local msg = nsl.read(status_r) or ""
  if msg ~= "R" then
    if msg == "" then
      nsl.kill(pid, "KILL")
      local _, how, n = nsl.wait(pid)
      self.pid = nil
      running[pid] = nil
      return abort(self, ("setup: the container ended during setup (%s %s)"):format(how, n), fds)
    end
    return abort(self, msg:sub(2), fds)
  end
  if cfg.on_start then
    local sok, serr = pcall(cfg.on_start, self)
    if not sok then return abort(self, "on_start: " .. tostring(serr), fds) end
  end
  nsl.write(go_w, "G")
  nsl.close(go_w)
  msg = nsl.read(status_r) or ""
  nsl.close(status_r)
  if msg ~= "" then return abort(self, msg:sub(2), {}) end
  self.state = "running"
  return self
end

-- Records how the container ended and releases what it held on the host.
local function ended(self, ok, how, n)
  if self.pid then running[self.pid] = nil end
  self.status = { ok, how, n }
  self.pid = nil
  self.state = "exited"
  cleanup_host(self)
end

--- Waits for the container to end: ok, "exit"|"signal", n (as os.execute).
function Container:wait()
  if self.state ~= "running" then
    if self.status then return table.unpack(self.status, 1, 3) end
    return nil, "wait: the container is not running"
  end
  local ok, how, n = nsl.wait(self.pid)
  if how ~= "exit" and how ~= "signal" then
    -- Someone else reaped it (nsl.wait on its pid): it is gone all the same.
    ok, how, n = nil, "exit", 255
  end
  ended(self, ok, how, n)
  return ok, how, n
end

--- start + wait; nil, message when it could not start.
function Container:run()
  local ok, err = self:start()
  if not ok then return nil, err end
  return self:wait()
end

--- Sends a signal (TERM by default) to the container's PID 1.
function Container:kill(sig)
  if self.state ~= "running" then return nil, "kill: the container is not running" end
  return nsl.kill(self.pid, sig or "TERM")
end

--- Kills the container if it runs and releases everything it holds.
function Container:destroy()
  if self.state == "running" and self.pid then
    nsl.kill(self.pid, "KILL")
    local ok, how, n = nsl.wait(self.pid)
    ended(self, ok, how, n)
  end
  cleanup_host(self)
  self.state = "destroyed"
  return true
end

--- The inode number of one of the container's namespaces.
function Container:nsid(ns)
  if self.state ~= "running" then return nil, "nsid: the container is not running" end
  return nsl.nsid(self.pid, ns)
end

--- Runs argv inside the running container (its namespaces, root,
--- environment, capabilities and no_new_privs); waits and returns the
--- os.execute triple. opts: env (added to the container's), cwd.
function Container:exec(argv, opts)
  if type(argv) ~= "table" or #argv < 1 then
    error("exec: argv must be a table with at least one string", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("exec: opts must be a table", 2) end
  for k in pairs(opts) do
    if k ~= "env" and k ~= "cwd" then
      error(("exec: unknown option '%s' (expected env, cwd)"):format(tostring(k)), 2)
    end
  end
  if opts.cwd ~= nil and not is_absolute(opts.cwd) then
    error("exec: cwd must be an absolute path", 2)
  end
  if self.state ~= "running" then return nil, "exec: the container is not running" end
  local cfg = self._cfg
  local env = {}
  for k, v in pairs(cfg.env) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local cwd = opts.cwd or cfg.cwd
  local target = self.pid
  local pid, err = nsl.clone({}, function()
    nsl.stop_forwarding()
    if nsl.geteuid() == 0 then nsl.dumpable(false) end -- see start()
    assert(nsl.setns(target))
    if cfg.ns.user then assert(nsl.setids(0, 0)) end
    -- Joining the mount namespace set the root to the namespace's; a
    -- chroot container's root is a directory in it.
    if not cfg.hardening.pivot_root then
      assert(nsl.chroot(("/proc/%d/root"):format(target)))
    end
    -- A new pid namespace takes effect for children only.
    -- (pdeathsig set inside: nsl.clone's own check of the parent cannot
    -- see it from inside the joined pid namespace, where getppid() is 0)
    local inner = assert(nsl.clone({}, function()
      nsl.pdeathsig("KILL")
      local h = cfg.hardening
      if h.new_session then nsl.setsid() end
      assert(nsl.chdir(cwd, h.resolve_cwd and "/" or nil))
      if h.capabilities then assert(nsl.caps_limit(cfg.capmask)) end
      if h.no_new_privs then assert(nsl.no_new_privs()) end
      local _, e = nsl.exec(argv, { env = env })
      io.stderr:write("nsl: ", e, "\n")
      return 127
    end, { collect = false }))
    local _, how, n = nsl.wait(inner)
    if how == "signal" then
      nsl.kill(nsl.getpid(), n)
      return 128 + n
    end
    return n
  end, { pdeathsig = "KILL", collect = false })
  if not pid then return nil, err end
  return nsl.wait(pid)
end

local function finalize(self)
  -- Only the process that made the container tears it down: a cloned
  -- child holds a copy of this object and must leave it alone.
  if self.creator == nsl.getpid() and self.state ~= "destroyed" then
    self:destroy()
  end
end
Container.__close = finalize
Container.__gc = finalize
Container.__tostring = function(self)
  return ("nsl.container(%s, %s%s)"):format(self.name or "unnamed", self.state,
    self.pid and (", pid " .. self.pid) or "")
end

--- nsl.container(spec) -> container (created, not started).
function M.new(spec)
  local cfg = check_spec(spec)
  return setmetatable({
    name = cfg.name, state = "created", creator = nsl.getpid(), _cfg = cfg,
  }, Container)
end

--- Is v a container?
function M.is_container(v)
  return getmetatable(v) == Container
end

--- The running containers of this process (named state across processes
--- comes with detached containers).
function M.list()
  local out = {}
  for _, c in pairs(running) do out[#out + 1] = c end
  table.sort(out, function(a, b) return a.pid < b.pid end)
  return out
end

--- A running container of this process by name.
function M.lookup(name)
  for _, c in pairs(running) do
    if c.name == name then return c end
  end
  return nil, ("lookup: no running container named %s"):format(tostring(name))
end

--- Waits until one of the containers ends: c, ok, how, n. A container
--- that already ended is returned at once. Children that are not
--- containers and end meanwhile are reaped (their status is lost).
function M.wait_any(list)
  if type(list) ~= "table" or #list == 0 then
    error("wait_any: expected a non-empty list of containers", 2)
  end
  for _, c in ipairs(list) do
    if c.state ~= "running" then return c, c:wait() end
  end
  while true do
    local pid, ok, how, n = nsl.reap()
    if not pid then return nil, ok end
    local c = running[pid]
    if c then
      ended(c, ok, how, n)
      for _, x in ipairs(list) do
        if x == c then return c, ok, how, n end
      end
    end
  end
end

return M
