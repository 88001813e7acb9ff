-- Containers: nsl.container(spec) composes the primitives of the C core
-- into a whole, hardened container. Reference: docs/containers.md.
--
-- The life of a container, in two processes:
--
--   caller                                   child (PID 1 of the container)
--   check the spec (raise on error)
--   root:prepare()
--   veth/bridge: the network, in a new
--   network namespace (nsl.newns)
--   build the child's plan (nsl.plan)
--   clone into the namespaces  ------------>  runs the plan in C: join that
--   (with a user namespace: network             network namespace, setsid,
--    plan:setup(pid) now, both sides            make mounts private, mount the
--    working at once)                           root, /proc, /sys, /dev, the
--                                             spec's mounts, hostname,
--                                             pivot_root, setup hook (Lua),
--                                             masked and read-only paths,
--                                             rlimits, cwd, capabilities,
--                                             no_new_privs
--   read "R" (or "E<step>: <reason>") <-----  "R": ready
--   on_start(c), then "G" ------------------> (waits for "G" only when
--                                             there is something to wait for)
--                                             init (the default): stays PID 1,
--                                             the rest goes on in its child
--                                             exec the command
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
local state = require "nsl.state"

-- fn(value) of a collaborator; its error prefixed with the spec field it
-- concerns.
local function checked(field, fn, value)
  local ok, result = pcall(fn, value)
  if not ok then
    result = tostring(result)
    error(result:find("^" .. field) and result or field .. ": " .. result, 0)
  end
  return result
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
  "on_start", "hardening", "detach", "stop_timeout",
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

-- The kernel's limit on a path (PATH_MAX, with its NUL).
local PATH_MAX = 4096

local function is_absolute(p)
  return type(p) == "string" and p:sub(1, 1) == "/" and not p:find("%z") and #p < PATH_MAX
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
  if #base + #rest >= PATH_MAX then return false end
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
-- The namespaces of the set ns as nsl.clone takes them ("mnt,pid,..."),
-- but those of the set skip.
local function namespace_list(ns, skip)
  local list = {}
  for _, n in ipairs({ "user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time" }) do
    if ns[n] and not (skip and skip[n]) then list[#list + 1] = n end
  end
  return table.concat(list, ",")
end

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
    local ok, lim = pcall(require("nsl.cgroup").check, spec.limits)
    if not ok then
      lim = tostring(lim)
      error("container: " .. (lim:find("^limits") and lim or "limits: " .. lim), 0)
    end
    cfg.limits = lim
  end
  if spec.detach ~= nil and spec.detach ~= false then
    check_type("detach", spec.detach, "boolean", "table")
    local d = { log_max = 1048576 }
    if type(spec.detach) == "table" then
      for k, v in pairs(spec.detach) do
        if k ~= "log_max" then
          spec_error("detach: unknown field '%s' (expected log_max)", tostring(k))
        end
        local n = math.type(v) == "integer" and v
        if type(v) == "string" then
          local num, unit = v:match("^(%d+)([kKmM]?)$")
          n = num and tonumber(num) * ((unit == "" and 1) or (unit:lower() == "k" and 1024) or 1048576)
        end
        if not n or n < 4096 or n > 1 << 40 then
          spec_error("detach.log_max must be a size in bytes of at least 4096, like 1048576 or \"8M\" (got %s)", tostring(v))
        end
        d.log_max = n
      end
    end
    cfg.detach = d
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
  cfg.plan = checked("net", netmode.check, cfg.net)

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
  if spec.hostname ~= nil and not ns.uts then
    spec_error("hostname needs the 'uts' namespace (add it to namespaces)")
  end
  cfg.ns = ns
  cfg.ns_list = namespace_list(ns)

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
        mm.node = st.type == "char" or st.type == "block"
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
      -- nodev, so that a node made there opens nothing; a device node
      -- given as the source of a bind mount is meant to be used
      if not (m.bind and (mm.node)) then flags[#flags + 1] = "nodev" end
      mm.flags = table.concat(flags, ",")
      cfg.mounts[i] = mm
    end
  end

  -- the process
  if spec.stop_timeout ~= nil then
    local t = spec.stop_timeout
    if math.type(t) ~= "integer" or t < 0 or t > 86400 then
      spec_error("stop_timeout must be a whole number of seconds from 0 to 86400 (got %s)", tostring(t))
    end
  end
  cfg.stop_timeout = spec.stop_timeout or 10
  -- An init of nsl's is PID 1 by default: the command's parent-death
  -- signal goes at its first change of uid or gid (su-exec, gosu), the
  -- init's does not, and the pid namespace dies with the init. init =
  -- false makes the command PID 1, which then may outlive the caller.
  if spec.init ~= nil then check_type("init", spec.init, "boolean") end
  if spec.init == nil then cfg.init = ns.pid == true else cfg.init = spec.init end
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
      if type(a) == "string" and a:find("\0", 1, true) then
        spec_error("command[%d] contains a NUL byte", i)
      end
    end
    local c1 = command[1]
    if type(c1) ~= "string" or c1 == "" or #c1 >= PATH_MAX then
      spec_error("command[1] must be the program: a non-empty string shorter than %d bytes", PATH_MAX)
    end
  end
  cfg.command = command

  -- the root, last: it may look at the command
  if spec.rootfs == nil then spec_error("rootfs is missing (a directory, or nsl.rootfs.busybox(dir), ...)") end
  local ok2, r = pcall(checked, "rootfs", rootfs.resolve, spec.rootfs)
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
--
-- The child's set-up is a plan (nsl.plan, src/plan.c): a list of steps the
-- caller builds here and the child runs in C, so that a start whose spec
-- has no Lua function in it never enters the interpreter in the child.
-- Each step is {op, name, args...}; name is the step an error names
-- ("mount /proc: ..."). Where the spec has Lua to run (setup, a function
-- as command) or the root builds itself in Lua (a host root), the list
-- holds {lua = fn} entries: the child then runs the plan piece by piece
-- around them.

local StepError = {}

local function must(step, ok, err)
  if not ok then error(setmetatable({ msg = step .. ": " .. tostring(err) }, StepError), 0) end
  return ok
end

local DEVICES = { "null", "zero", "full", "random", "urandom", "tty" }

-- /dev: a tmpfs (nodev: a node the container makes there with CAP_MKNOD
-- opens nothing) with the few host nodes a container may use bound in
-- one by one; paths are relative to the resolved /dev.
local function dev_steps(add, in_userns, ns)
  add { "mount", "mount /dev", "tmpfs", "", "tmpfs", "nosuid,nodev,strictatime", "mode=755,size=65536k" }
  for _, d in ipairs(DEVICES) do
    add { "touch", "create /dev/" .. d, d, 438 }
    add { "mount", "bind /dev/" .. d, "/dev/" .. d, d, false, "bind" }
  end
  add { "mkdir", "mkdir /dev/pts", "pts", 493 }
  add { "mount", "mount /dev/pts", "devpts", "pts", "devpts", "nosuid,noexec",
        "newinstance,ptmxmode=0666,mode=0620" .. (in_userns and "" or ",gid=5") }
  add { "symlink", "link /dev/ptmx", "pts/ptmx", "ptmx" }
  add { "mkdir", "mkdir /dev/shm", "shm", 1023 }
  add { "mount", "mount /dev/shm", "shm", "shm", "tmpfs", "nosuid,nodev,noexec", "mode=1777,size=65536k" }
  if ns.ipc then
    add { "mkdir", "mkdir /dev/mqueue", "mqueue", 493 }
    add { "mount", "mount /dev/mqueue", "mqueue", "mqueue", "mqueue", "nosuid,nodev,noexec" }
  end
  add { "symlink", "link /dev/fd", "/proc/self/fd", "fd" }
  for i, name in ipairs({ "stdin", "stdout", "stderr" }) do
    add { "symlink", "link /dev/" .. name, "/proc/self/fd/" .. (i - 1), name }
  end
end

-- The root's /proc, /sys or /dev, refused when it is a symlink; the
-- steps after it take their relative paths in it.
local function system_dir(add, newroot, name, h)
  if h.refuse_symlinks then
    add { "refuse_symlink", "rootfs", newroot .. "/" .. name,
          ("/%s is a symlink (refused: it could point outside the root)"):format(name) }
  end
  add { "resolve", "mkdir /" .. name, newroot, "/" .. name, "dir" }
end

-- The whole set-up of the child, from its first instruction to its
-- command. pre holds the launch's own steps (descriptors, dumpable).
local function child_steps(cfg, pre)
  local h, ns = cfg.hardening, cfg.ns
  local s = pre
  local function add(step) s[#s + 1] = step end
  add { "no_forward", "signals" } -- the caller's forwarding is not ours
  add { "umask", "umask", 0 }
  if h.new_session then add { "setsid", "setsid" } end
  add { "keyring", "session keyring" }
  -- the root
  add { "mount", "make mounts private", false, "/", false, h.private_mounts and "rec,private" or "rec,slave" }
  local root_steps, newroot = cfg.root:plan_steps()
  if root_steps then
    for _, st in ipairs(root_steps) do add(st) end
  else
    add { lua = function()
      local ok, err = pcall(cfg.root.mount, cfg.root)
      if not ok then
        err = tostring(err)
        must(err:find("^rootfs") and err:match("^(.-): ") or "rootfs", nil,
          err:find("^rootfs") and err:gsub("^.-: ", "", 1) or err)
      end
    end }
  end
  if h.proc then
    system_dir(add, newroot, "proc", h)
    if ns.pid then
      add { "mount", "mount /proc", "proc", "", "proc", "nosuid,noexec,nodev" }
    else
      add { "mount", "mount /proc", "/proc", "", false, "bind,rec,nosuid,noexec,nodev" }
    end
  end
  if h.sys then
    system_dir(add, newroot, "sys", h)
    -- sysfs cannot be mounted without a network namespace of one's own
    -- (or rootless, at times): then the host's, read-only.
    if ns.net then
      add { "mount", "mount /sys", "sysfs", "", "sysfs", "ro,nosuid,noexec,nodev", try = true }
    end
    add { "mount", "mount /sys", "/sys", "", false, "bind,rec,ro,nosuid,noexec,nodev", otherwise = ns.net }
  end
  if h.dev then
    system_dir(add, newroot, "dev", h)
    dev_steps(add, ns.user, ns)
  end
  for _, m in ipairs(cfg.mounts) do
    local step = "mount " .. m.target
    add { "resolve", step, newroot, m.target, m.kind or false }
    add { "mount", step, m.source or false, "", m.type or false, m.flags or false, m.data or false }
  end
  if cfg.hostname and ns.uts then add { "hostname", "hostname", cfg.hostname } end
  if cfg.plan.inside then add { "lo_up", "network: lo up" } end
  if h.pivot_root then
    add { "pivot_root", "pivot_root", newroot }
  else
    add { "chroot", "chroot", newroot }
  end
  if cfg.setup then
    add { lua = function()
      local sok, serr = pcall(cfg.setup)
      must("setup", sok, serr)
    end }
  end
  for _, p in ipairs(h.masked_paths or {}) do add { "mask", "mask " .. p, p } end
  for _, p in ipairs(h.readonly_paths or {}) do add { "readonly", "read-only " .. p, p } end
  for _, r in ipairs(cfg.rlimits) do add { "rlimit", "rlimit " .. r[1], r[1], r[2], r[3] } end
  add { "chdir", "cwd " .. cfg.cwd, cfg.cwd, h.resolve_cwd }
  add { "umask", "umask", 18 }
  if h.capabilities then add { "caps", "capabilities", cfg.capmask } end
  if h.no_new_privs then add { "nnp", "no_new_privs" } end
  add { "ready", "ready" }
  return s
end

-- A function as command, once everything is in place (a command to exec
-- is the plan's exec step).
local function run_function(cfg, status_w)
  collectgarbage("restart")
  nsl.close(status_w)
  if cfg.hardening.close_fds then nsl.close_fds(3, { null = true }) end
  return cfg.command()
end

-- The command's steps: an init as PID 1 (cfg.init, the default with a
-- pid namespace: the command runs in its child; init forwards signals,
-- reaps orphans, exits with its status and ends with the caller), then
-- the exec, or a function as command, run in Lua. The init of an
-- exec'd command is nsl-init (src/init.c), executed from init_fd, a
-- descriptor on the host's binary: then the container's PID 1 holds no
-- copy of the caller's memory. Without it (not installed), and for a
-- Lua function, the init is a copy of this process (the plan's init).
local function command_steps(cfg, s, status_w, init_fd)
  if type(cfg.command) == "function" then
    if cfg.init then s[#s + 1] = { "init", "init" } end
    s[#s + 1] = { lua = function() return run_function(cfg, status_w) end }
  elseif cfg.init and init_fd then
    local argv = { "nsl-init", "-s", tostring(status_w) }
    if nsl.geteuid() == 0 then argv[#argv + 1] = "-d" end -- as dumpable_off: see launch
    argv[#argv + 1] = "--"
    for _, a in ipairs(cfg.command) do argv[#argv + 1] = a end
    s[#s + 1] = { "exec", "exec", argv, cfg.env, cfg.hardening.close_fds, init_fd }
  else
    if cfg.init then s[#s + 1] = { "init", "init" } end
    s[#s + 1] = { "exec", "exec", cfg.command, cfg.env, cfg.hardening.close_fds }
  end
  return s
end

-- Splits steps into the plan (C steps only) and the Lua entries, each
-- with the number of C steps before it. No Lua entries: the child can
-- run the whole plan in C.
local function make_plan(steps, status_w, go_r)
  local c, lua = {}, {}
  for _, st in ipairs(steps) do
    if st.lua then
      lua[#lua + 1] = { after = #c, fn = st.lua }
    else
      c[#c + 1] = st
    end
  end
  return nsl.plan(c, { status = status_w, go = go_r }), lua
end

-- The child's life when its plan has Lua entries: the C steps between
-- them run through plan:run; returns the exit status.
local function child_main(plan, lua, status_w)
  collectgarbage("stop") -- the caller's garbage is not the child's to finalize
  local from = 1
  for _, entry in ipairs(lua) do
    local ok, _, code = plan:run(from, entry.after)
    if not ok then return code end
    from = entry.after + 1
    local eok, r = xpcall(entry.fn, function(e)
      if getmetatable(e) == StepError then return e end
      return debug.traceback("internal error: " .. tostring(e), 2)
    end)
    if not eok then
      nsl.write(status_w, "E" .. (getmetatable(r) == StepError and r.msg or r))
      return 1
    end
    if r ~= nil then return r end
  end
  local ok, _, code = plan:run(from)
  if not ok then return code end
  return 0
end

-- ---- the caller's side ----------------------------------------------------

local Container = { __name = "nsl.container" }
Container.__index = Container

-- Containers of this process that are running, by pid (weak: a container
-- nobody holds is finalized, which destroys it).
local running = setmetatable({}, { __mode = "v" })

local read_file = state.read_file

-- Why an unprivileged user namespace was refused, and how to allow it
-- (proc is the root of the sysctl files, "/proc" but for tests).
function M.userns_hint(proc)
  proc = proc or "/proc"
  local function sysctl(name)
    local s = read_file(proc .. "/sys/" .. name)
    return s and s:match("^(%S*)")
  end
  if sysctl("kernel/unprivileged_userns_clone") == "0" then
    return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); allow them with: sysctl -w kernel.unprivileged_userns_clone=1"
  end
  if sysctl("user/max_user_namespaces") == "0" then
    return "user namespaces are disabled (user.max_user_namespaces = 0); allow them with: sysctl -w user.max_user_namespaces=15000"
  end
  if sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" then
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); allow them with: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for nsl with the 'userns' rule"
  end
  return nil
end

-- ---- host resources, and their record --------------------------------------
--
-- What a container holds on the host: its root's state (rootfs), its
-- network (netmode plan), its cgroup, and its state directory. The first
-- three are recorded in the state file as plain data, so that whoever
-- cleans up (the script, a detached container's supervisor, or a later
-- process that found the owner dead) rebuilds them with restore().

local function cgroup_module()
  return require "nsl.cgroup"
end

-- Plain data of an object (its fields that are not functions).
local function fields(obj)
  if obj == nil then return nil end
  return state.decode("return " .. state.encode(obj))
end

-- ---- what a record may name ------------------------------------------------
--
-- A record is data about nsl's own objects, not orders: whoever releases
-- what it names checks first that each thing is nsl's own for that
-- container, and leaves the rest alone with a warning. Its PID 1 is
-- signalled only when provably the container's (state.signal).

-- A container id as nsl makes them: a name, or "_anon-PID-N".
local function valid_id(id)
  return type(id) == "string" and ((#id <= 64 and id:match("^[%w][%w_.-]*$") ~= nil)
    or id:match("^_anon%-%d+%-%d+$") ~= nil)
end

-- The cgroup of a record, opened, when it is the container's own: named
-- after its id (cgroup.open takes a name under nsl's parent group, never
-- a path), each of its directories the caller's. nil when there is none;
-- nil and why when it is not the container's.
local function own_cgroup(rec)
  if rec.cgroup == nil then return nil end
  if rec.cgroup ~= rec.id or not valid_id(rec.id) then
    return nil, ("it names the cgroup %s, not its own (%s)"):format(tostring(rec.cgroup), tostring(rec.id))
  end
  local cg = cgroup_module().open(rec.cgroup)
  if not cg then return nil end
  for _, dir in ipairs(cg:dirs()) do
    local st = nsl.lstat(dir)
    local why = st and state.foreign(st, "directory")
    if why then return nil, ("its cgroup %s is %s"):format(dir, why) end
  end
  return cg
end

local function ifname(v)
  return type(v) == "string" and #v >= 1 and #v <= 15 and not v:find("[/:%s%z]") and v ~= "." and v ~= ".."
end

-- The network plan of a record when it is one nsl makes: a veth or
-- bridge plan with interface names, a namespace inode and an address
-- lease that name nothing but themselves. nil, why otherwise.
local function own_plan(rec)
  local p = rec.plan
  if p == nil then return nil end
  if type(p) ~= "table" or (p.mode ~= "veth" and p.mode ~= "bridge") then
    return nil, "its network plan is not one nsl makes"
  end
  if p.created_veth ~= nil and not ifname(p.created_veth) then
    return nil, ("%q is not an interface name"):format(tostring(p.created_veth))
  end
  if p.netns ~= nil and not (type(p.netns) == "string" and p.netns:match("^%d+$")) then
    return nil, ("%q is not a namespace inode"):format(tostring(p.netns))
  end
  if p.mode == "bridge" then
    if not ifname(p.bridge) then return nil, ("%q is not a bridge name"):format(tostring(p.bridge)) end
    if p.leased ~= nil and not (type(p.leased) == "string" and p.leased:match("^%d+%.%d+%.%d+%.%d+$")) then
      return nil, ("its lease %q is not an address"):format(tostring(p.leased))
    end
    local sub = p.subnet
    if type(sub) ~= "table" or math.type(sub.ip) ~= "integer" or math.type(sub.len) ~= "integer" then
      return nil, "its bridge plan has no subnet"
    end
  end
  return p
end

-- Whether path is the state directory rootfs makes for the container id
-- (<runtime dir>/rootfs/root-ID-XXXXXX, or /tmp/nsl-root-ID-XXXXXX when
-- there was no runtime directory) and the caller's own. true; nil when
-- it is gone; nil, why when it is not nsl's.
local function own_root_state(path, id)
  if type(path) ~= "string" then return nil, "it is not a path" end
  local parent, name = path:match("^(.*)/([^/]+)$")
  local base = state.runtime_dir()
  local function made(prefix)
    return name:sub(1, #prefix) == prefix and #name == #prefix + 6 and name:sub(-6):match("^%w+$") ~= nil
  end
  if not (name and ((base and parent == base .. "/rootfs" and made("root-" .. id .. "-"))
      or (parent == "/tmp" and made("nsl-root-" .. id .. "-")))) then
    return nil, "it is not a state directory nsl makes for this container"
  end
  local ok, why, code = state.owned(path)
  if not ok and code == 2 then return nil end
  return ok, why
end

-- The part of a record's root that cleanup uses (kind, state, work_dir,
-- keep), each path checked to be nsl's own for this container: the state
-- directory (own_root_state) and the overlay work directory, which is
-- its upper directory's sibling "<upper>.nsl-work" and the caller's own.
-- nil when there is nothing to clean up; nil, why otherwise.
local function own_root(rec)
  local r = rec.root
  if r == nil then return nil end
  if type(r) ~= "table" or (r.kind ~= "overlay" and r.kind ~= "host" and r.kind ~= "dir") then
    return nil, "it is not a root nsl makes"
  end
  if not valid_id(rec.id) then return nil, ("%s is not a container id"):format(tostring(rec.id)) end
  local out = { kind = r.kind, keep = r.keep == true }
  if r.state ~= nil then
    local ok, why = own_root_state(r.state, rec.id)
    if why then return nil, ("state directory %s: %s"):format(tostring(r.state), why) end
    out.state = ok and r.state or nil
  end
  if r.work_dir ~= nil then
    if type(r.upper_dir) ~= "string" or r.work_dir ~= r.upper_dir .. ".nsl-work" then
      return nil, ("work directory %s: it is not the one nsl makes beside the upper directory"):format(tostring(r.work_dir))
    end
    local ok, why, code = state.owned(r.work_dir)
    if not ok and code ~= 2 then return nil, ("work directory %s: %s"):format(r.work_dir, why) end
    out.work_dir = ok and r.work_dir or nil
  end
  return out
end

-- Releases everything a record says the container holds, what of it is
-- nsl's own for the container (above); kills its processes first if any
-- are left. Returns whether its memory limit killed something (checked
-- before the group goes).
function M.release(rec)
  local oom = false
  local errs = {}
  local function refused(what, why)
    if why then
      state.warn(("not releasing %s of container %s: %s"):format(what, tostring(rec.id), why))
    end
  end
  if rec.pid and state.alive(rec.pid, rec.pid_start) then
    local _, why = state.signal(rec, "KILL")
    refused("its process", why)
  end
  local cg, cwhy = own_cgroup(rec)
  refused("the cgroup", cwhy)
  if cg then
    oom = (cg:oom_killed())
    cg:kill()
    local ok, err = cg:destroy()
    if not ok then errs[#errs + 1] = err end
  end
  local plan, pwhy = own_plan(rec)
  refused("the network", pwhy)
  if plan then
    local ok, err = netmode.restore(plan):cleanup()
    if not ok then errs[#errs + 1] = err end
  end
  local root, rwhy = own_root(rec)
  refused("the root", rwhy)
  if root then
    local ok, err = rootfs.restore(root):cleanup()
    if not ok then errs[#errs + 1] = err end
  elseif rec.root == nil and rec.root_owner ~= nil then
    if rec.root_owner == rec.id and valid_id(rec.id) then
      rootfs.sweep(rec.root_owner)
    else
      refused("the root", ("it names the root owner %s, not itself"):format(tostring(rec.root_owner)))
    end
  end
  if #errs > 0 then error(table.concat(errs, "; "), 0) end
  return oom
end

local swept = false

-- Once per process, before its first container: what processes killed
-- before they could clean up left behind is released.
local function sweep_once()
  if swept then return end
  swept = true
  local ok, n, err = pcall(state.sweep, M.release)
  if ok and not n and err then state.warn("not cleaning up after killed containers: " .. err) end
end

local function cleanup_host(self)
  local errs = {}
  if self._forwarding then
    nsl.stop_forwarding(self._forwarding)
    self._forwarding = nil
  end
  if self._cg then
    local ok, err = self._cg:destroy()
    if not ok then errs[#errs + 1] = tostring(err) end
    self._cg = nil
  end
  for _, obj in ipairs({ self._plan, self._root }) do
    if obj then
      local ok, done, err = pcall(obj.cleanup, obj)
      if not ok then errs[#errs + 1] = tostring(done)
      elseif done == nil and err then errs[#errs + 1] = tostring(err) end
    end
  end
  self._plan, self._root = nil, nil
  if self._id and self._cfg and not self.detached then
    state.remove(self._id)
    self._id = nil
  end
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
  if self._cg then self._cg:kill() end
  self.detached = nil -- so that its state goes too
  cleanup_host(self)
  self.state = "created"
  return nil, msg
end

-- Whether the container's root user is the host's: no user namespace,
-- or one whose uid map takes some uid to 0, run by root.
local function host_root(cfg)
  if nsl.geteuid() ~= 0 then return false end
  if not cfg.ns.user then return true end
  for _, e in ipairs(cfg.uid_map or {}) do
    if e[2] <= 0 and 0 < e[2] + e[3] then return true end
  end
  return false
end

-- The record a container starts with (see nsl.state).
local anon_seq = 0
local function new_record(cfg)
  local id = cfg.name
  if not id then
    anon_seq = anon_seq + 1
    id = ("_anon-%d-%d"):format(nsl.getpid(), anon_seq)
  end
  local h = cfg.hardening
  local command = cfg.command
  if type(command) ~= "table" then command = { "(a Lua function)" } end
  return {
    id = id, name = cfg.name, status = "starting",
    owner = nsl.getpid(), boot = state.boot_id(),
    detached = cfg.detach and true or nil, started = nsl.time("real"),
    command = command, hostname = cfg.hostname, namespaces = cfg.ns_list,
    stop_timeout = cfg.stop_timeout,
    net = type(cfg.net) == "string" and cfg.net or cfg.plan.mode,
    exec = {
      env = cfg.env, cwd = cfg.cwd, capmask = cfg.capmask, user = cfg.ns.user or nil,
      pivot_root = h.pivot_root, new_session = h.new_session,
      resolve_cwd = h.resolve_cwd, capabilities = h.capabilities,
      no_new_privs = h.no_new_privs,
    },
  }
end

-- The nsl binary: NSL_BIN, this process's own, or the first in PATH.
local function nsl_binary()
  local bin = os.getenv("NSL_BIN")
  if bin and bin ~= "" then return bin end
  local exe = nsl.readlink("/proc/self/exe")
  if exe and exe:match("[^/]+$"):find("^nsl") then return exe end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    if nsl.lstat(dir .. "/nsl") then return nsl.realpath(dir .. "/nsl") end
  end
end

-- A helper program of nsl's: $VAR when set, else next to the nsl binary
-- or in its ../libexec/nsl; nil and why when there is none.
local function helper(name, var)
  local bin = nsl_binary()
  local dir = bin and (bin:match("^(.*)/[^/]*$") or ".")
  local candidates = { os.getenv(var) }
  if dir then
    candidates[#candidates + 1] = dir .. "/" .. name
    candidates[#candidates + 1] = dir .. "/../libexec/nsl/" .. name
  end
  for _, m in pairs(candidates) do
    if m ~= "" then
      local st = nsl.lstat(m)
      if st and st.type == "file" and st.mode & 73 ~= 0 then return m end
    end
  end
  if not bin then return nil, ("%s was not found: set NSL_BIN or put nsl in PATH"):format(name) end
  return nil, ("%s was not found next to %s or in its ../libexec/nsl (set %s)"):format(name, bin, var)
end

-- nsl-init's path, looked up once per process (false: there is none,
-- and containers fall back to an init that is a copy of the caller).
local init_path
local function init_binary()
  if init_path == nil then init_path = helper("nsl-init", "NSL_INIT") or false end
  return init_path or nil
end

-- Clones the container's PID 1, sets up its network, runs on_start
-- (through ready(pid) when given) and lets it exec its command. Returns
-- the pid, or nil and "<step>: <reason>" after undoing its own part (the
-- process and the network).
local function launch(self, cfg, opts)
  -- A veth or bridge network is made before the container's process, in
  -- a network namespace of its own (nsl.newns) that the child joins as
  -- its first step: then nothing has to happen between the clone and the
  -- exec, and the start takes the short path (a plan run through, with
  -- the caller's memory shared, src/ns.c). With a user namespace, the
  -- network namespace must be made by the clone to be the container's
  -- own (owned by its user namespace): then the child waits for the
  -- caller to set the network up from outside.
  local netfd
  if cfg.plan.outside and not cfg.ns.user then
    local fd, err = nsl.newns("net")
    if not fd then return nil, "network: " .. tostring(err) end
    local ok, serr = pcall(cfg.plan.setup, cfg.plan, "/proc/self/fd/" .. fd, nsl.getpid())
    if not ok then
      nsl.close(fd)
      return nil, "network: " .. tostring(serr)
    end
    netfd = fd
  end
  local status_r, status_w = assert(nsl.pipe())
  -- The child waits for a go once it is ready only when the caller has
  -- something to do first: its network, on_start.
  local outside = cfg.plan.outside and not netfd
  local waits = outside or opts.ready
  local go_r, go_w
  if waits then go_r, go_w = assert(nsl.pipe()) end
  local pre = {}
  -- Limits: without a user namespace, the child moves itself into its
  -- groups as its first step (then makes its cgroup namespace, rooted
  -- there), so nothing waits for the caller to move it; with one, the
  -- caller writes it into them with its id maps (nsl.clone's cgroups).
  local cgroups, joins = opts.cgroups, opts.cgroups and not cfg.ns.user
  if joins then
    for _, dir in ipairs(cgroups) do pre[#pre + 1] = { "cgroup", "limits: cgroup", dir } end
    if cfg.ns.cgroup then pre[#pre + 1] = { "unshare", "cgroup namespace", "cgroup" } end
    cgroups = nil
  end
  if netfd then pre[#pre + 1] = { "setns", "network namespace", netfd } end
  -- Until its exec, this process is the host's nsl binary: when root
  -- runs it, not dumpable, so the container cannot open the binary
  -- through /proc/<pid>/exe (runc's CVE-2019-5736). The exec of the
  -- command makes it dumpable again; an init (cfg.init) stays so.
  -- Rootless, the binary is out of the container's reach anyway (it
  -- cannot write a file its user could not), and a non-dumpable init
  -- would keep that user from joining the container (c:exec).
  if nsl.geteuid() == 0 then pre[#pre + 1] = { "dumpable_off", "dumpable" } end
  pre[#pre + 1] = { "close", "close", status_r }
  if go_w then pre[#pre + 1] = { "close", "close", go_w } end
  if opts.stdio then
    for i = 0, 2 do pre[#pre + 1] = { "dup2", "stdio", opts.stdio[i], i } end
  end
  local init_fd = cfg.init and type(cfg.command) == "table" and init_binary()
  if init_fd then init_fd = nsl.open(init_fd, "rdonly") end
  local steps = command_steps(cfg, child_steps(cfg, pre), status_w, init_fd)
  local ok, plan, lua = pcall(make_plan, steps, status_w, go_r)
  if not ok then
    if init_fd then nsl.close(init_fd) end
    nsl.close(status_r); nsl.close(status_w)
    if go_r then nsl.close(go_r); nsl.close(go_w) end
    if netfd then nsl.close(netfd); pcall(cfg.plan.cleanup, cfg.plan) end
    return nil, "plan: " .. tostring(plan)
  end
  local body = plan
  if #lua > 0 then body = function() return child_main(plan, lua, status_w) end end
  -- the namespaces the child does not get another way (a network made
  -- before it, a cgroup namespace made once it is in its groups)
  local pid, cerr, errno = nsl.clone(namespace_list(cfg.ns, { net = netfd, cgroup = joins }), body,
    { uid_map = cfg.uid_map, gid_map = cfg.gid_map, pdeathsig = "KILL",
      collect = false, cgroups = cgroups })
  nsl.close(status_w)
  if go_r then nsl.close(go_r) end
  if netfd then nsl.close(netfd) end
  if init_fd then nsl.close(init_fd) end
  local fds = { status_r, go_w }
  local function undo(msg)
    for _, fd in ipairs(fds) do nsl.close(fd) end
    if pid then
      nsl.kill(pid, "KILL")
      nsl.wait(pid)
      running[pid] = nil
    end
    if cfg.plan.setup then pcall(cfg.plan.cleanup, cfg.plan) end
    return nil, msg
  end
  if not pid then
    local hint = cfg.ns.user and nsl.geteuid() ~= 0 and (errno == 1 or errno == 28 or errno == 13)
      and M.userns_hint()
    -- clone fails at the namespaces or at writing the id maps
    local e = tostring(cerr)
    local step = (e:find("_map", 1, true) or e:find("setgroups", 1, true)) and "id maps: " or "namespaces: "
    return undo(step .. e .. (hint and (": " .. hint) or ""))
  end
  if opts.track then
    running[pid] = self
    nsl.forward_signals(pid, cfg.stop_timeout)
    self._forwarding = pid
  end
  if outside then
    local nok, nerr = pcall(cfg.plan.setup, cfg.plan, pid)
    if not nok then
      -- The child may have failed first, its network namespace going
      -- with it under the setup: then its own report names the step.
      local early = #nsl.poll({ status_r }, 0) > 0 and nsl.read(status_r) or ""
      if early:sub(1, 1) == "E" then return undo(early:sub(2)) end
      return undo("network: " .. tostring(nerr))
    end
  end
  local msg = nsl.read(status_r) or ""
  if msg:sub(1, 1) ~= "R" then
    if msg == "" then
      nsl.kill(pid, "KILL")
      local _, how, n = nsl.wait(pid)
      running[pid] = nil
      pid = nil
      return undo(("setup: the container ended during setup (%s %s)"):format(how, n))
    end
    return undo(msg:sub(2))
  end
  if opts.ready then
    local rok, rerr = opts.ready(pid)
    if not rok then return undo(rerr) end
  end
  if go_w then
    nsl.write(go_w, "G")
    nsl.close(go_w)
  end
  -- A child that did not wait for a go may have written its exec's
  -- failure in the same read as its "R".
  msg = msg:sub(2)
  if msg == "" then msg = nsl.read(status_r) or "" end
  nsl.close(status_r)
  fds = {}
  if msg ~= "" then return undo(msg:sub(2)) end
  return pid
end

-- The nsl binary and the supervisor of detached containers.
local function helper_paths()
  local bin = nsl_binary()
  if not bin then
    return nil, "the nsl binary (which cleans up after a detached container) was not found: set NSL_BIN or put nsl in PATH"
  end
  local monitor, err = helper("nsl-monitor", "NSL_MONITOR")
  if not monitor then return nil, "the supervisor " .. err end
  return bin, monitor
end

-- The supervisor's part of a detached start: in a process of its own
-- session, it launches the container with its output going to a pipe,
-- records it as running with itself as the owner, and becomes the
-- monitor (nsl-monitor), which logs the output, records the end and then
-- runs `nsl __reap` to clean up.
local function supervisor_main(self, cfg, rec, res_w, cmd_r, bin, monitor)
  nsl.stop_forwarding()
  nsl.setsid()
  local null = assert(nsl.open("/dev/null", "rdwr"))
  for i = 0, 2 do nsl.dup2(null, i) end
  local log_r, log_w = assert(nsl.pipe())
  local function ready(pid)
    nsl.write(res_w, "P" .. pid)
    local answer = nsl.read(cmd_r) or ""
    if answer == "G" then return true end
    if answer == "" then return nil, "on_start: the script ended" end
    return nil, answer:sub(2)
  end
  local pid, err = launch(self, cfg, {
    stdio = { [0] = null, log_w, log_w },
    cgroups = rec.cgroup_paths,
    ready = cfg.on_start and ready or nil,
  })
  nsl.close(log_w)
  if not pid then
    nsl.write(res_w, "E" .. err)
    return 1
  end
  rec.pid = pid
  for k, v in pairs(state.identify(pid)) do rec[k] = v end
  rec.owner, rec.owner_start = nsl.getpid(), state.start_time(nsl.getpid())
  rec.plan, rec.address = fields(cfg.plan.setup and cfg.plan or nil), cfg.plan.address
  rec.status = "running"
  rec.log = state.dir(rec.id) .. "/log"
  state.write(rec.id, rec)
  nsl.write(res_w, "R")
  nsl.close(res_w)
  nsl.close(cmd_r)
  nsl.dup2(log_r, 3)
  local dir = state.dir(rec.id)
  local _, eerr = nsl.exec({ monitor, "--pid", tostring(pid), "--log", dir .. "/log",
    "--log-max", tostring(cfg.detach.log_max), "--exit-file", dir .. "/exit",
    "--", bin, "__reap", rec.id },
    -- the same state root and runtime directory for `nsl __reap` (whose
    -- checks of the record's paths depend on the latter)
    { env = { PATH = DEFAULT_PATH, NSL_STATE_DIR = state.root_path(),
              XDG_RUNTIME_DIR = os.getenv("XDG_RUNTIME_DIR") }, keep_fds = { 3 } })
  -- No monitor: nothing would record the end; end it now.
  local f = io.open(dir .. "/log", "a")
  if f then f:write("nsl: ", tostring(eerr), "\n"); f:close() end
  nsl.kill(pid, "KILL")
  nsl.wait(pid)
  M.reap(rec.id, { how = "exit", code = 127 })
  return 1
end

local function start_detached(self, cfg, rec)
  local bin, monitor = helper_paths()
  if not bin then return nil, "detach: " .. monitor end
  local res_r, res_w = assert(nsl.pipe())
  local cmd_r, cmd_w = assert(nsl.pipe())
  -- Two forks: the supervisor is not the script's child (it is the
  -- init's), so that the script's own waits never reap it.
  local t, err = nsl.clone({}, function()
    nsl.close(res_r)
    nsl.close(cmd_w)
    collectgarbage("stop")
    local sv = nsl.clone({}, function()
      return supervisor_main(self, cfg, rec, res_w, cmd_r, bin, monitor)
    end, { collect = false })
    return sv and 0 or 1
  end, { collect = false })
  nsl.close(res_w)
  nsl.close(cmd_r)
  if not t then
    nsl.close(res_r); nsl.close(cmd_w)
    return nil, "detach: " .. err
  end
  nsl.wait(t)
  local result
  while true do
    local msg = nsl.read(res_r) or ""
    if msg:sub(1, 1) == "P" then
      self.pid = tonumber(msg:sub(2))
      local ok, serr = pcall(cfg.on_start, self)
      nsl.write(cmd_w, ok and "G" or ("Eon_start: " .. tostring(serr)))
    else
      result = msg
      break
    end
  end
  nsl.close(res_r)
  nsl.close(cmd_w)
  if result ~= "R" then
    self.pid = nil
    return nil, result == "" and "detach: the supervisor ended before the container started"
      or result:sub(2)
  end
  local now = state.read(rec.id) or rec
  self._rec = now
  self.pid, self.address = now.pid, now.address
  self._root, self._plan = nil, nil -- the supervisor's now
  return true
end

--- Starts the container; returns the container, or nil and "<step>: <reason>".
function Container:start()
  if self.state == "running" then return nil, "start: the container is already running" end
  if self.state == "destroyed" then return nil, "start: the container was destroyed" end
  local cfg = self._cfg
  if not cfg then return nil, "start: a container found by name cannot be started again from here" end
  self.status = nil
  sweep_once()
  local rec = new_record(cfg)
  -- Recorded: a named or detached container, and one holding something
  -- on the host that would outlive this process if it were killed (a
  -- cgroup, a bridge lease, a root's state directory). A plain unnamed
  -- container holds nothing of the kind (its veth goes with its network
  -- namespace, its processes with pdeathsig) and starts without the
  -- cost of a record.
  local persist = cfg.name or cfg.detach or cfg.limits or cfg.plan.mode == "bridge"
    or cfg.root.kind ~= "dir"
  if persist then
    rec.owner_start = state.start_time(rec.owner)
    -- What the start is about to make on the host is named in the first
    -- record already: if this process is killed half way, whoever finds
    -- the record stale releases it (a group, a bridge and its leases, a
    -- root's state directory).
    if cfg.limits then rec.cgroup = rec.id end
    if cfg.plan.mode == "bridge" then rec.plan = fields(cfg.plan) end
    if cfg.root.kind ~= "dir" then rec.root_owner = rec.id end
    local cok, cerr = state.claim(rec.id, rec, M.release)
    if not cok then return nil, "name: " .. cerr end
    self._id = rec.id
  end
  self.detached = cfg.detach and true or nil
  local ok, err = pcall(cfg.root.prepare, cfg.root, rec.root_owner, host_root(cfg))
  self._root = cfg.root
  if not ok then return abort(self, "rootfs: " .. tostring(err), {}) end
  if persist then
    rec.root = fields(cfg.root)
    rec.rootfs = cfg.root:inspect_dir()
  end
  if cfg.limits then
    local cg, gerr = cgroup_module().create(rec.id, cfg.limits)
    if not cg then
      -- available() says why this host cannot give these limits to this
      -- user (rootless on v1, an undelegated v2 subtree), where create
      -- only has the failed step.
      local usable, why = cgroup_module().available(cfg.limits)
      if not usable and why then gerr = why end
      return abort(self, "limits: " .. tostring(gerr), {})
    end
    self._cg = cg
    rec.cgroup_paths = cg:dirs()
  end
  if persist and (rec.root or rec.cgroup) then state.write(rec.id, rec) end
  self._plan = cfg.plan

  if cfg.detach then
    local dok, derr = start_detached(self, cfg, rec)
    if not dok then return abort(self, derr, {}) end
    self._cg = nil -- the supervisor's now
    self.state = "running"
    return self
  end

  local pid, lerr = launch(self, cfg, {
    track = true, cgroups = rec.cgroup_paths,
    ready = cfg.on_start and function(p)
      self.pid = p
      local sok, serr = pcall(cfg.on_start, self)
      if not sok then return nil, "on_start: " .. tostring(serr) end
      return true
    end,
  })
  if not pid then
    self.pid = nil
    return abort(self, lerr, {})
  end
  self.pid = pid
  self.address = cfg.plan.address
  rec.pid, rec.address, rec.status = pid, cfg.plan.address, "running"
  if persist then
    -- how to know its PID 1 later (state.verify): start time, namespaces
    for k, v in pairs(state.identify(pid)) do rec[k] = v end
    rec.plan = fields(cfg.plan.setup and cfg.plan or nil)
    state.write(rec.id, rec)
  end
  self._rec = rec
  self.state = "running"
  return self
end

-- Records how the container ended and releases what it held on the host.
local function ended(self, ok, how, n, oom)
  if self.pid then running[self.pid] = nil end
  self.status = { ok, how, n, oom }
  self.pid = nil
  self.state = "exited"
  cleanup_host(self)
end

-- Did the memory limit kill the container? Only asked when it ended
-- badly: under an init, a killed command shows as init's exit 137.
local function oom_of(self, ok)
  if ok or not self._cg then return nil end
  local hit = self._cg:oom_killed()
  return hit and "oom" or nil
end

-- The wait() answer a record of an ended container gives.
local function status_of(rec)
  return { rec.how == "exit" and rec.code == 0 or nil, rec.how, rec.code, rec.oom and "oom" or nil }
end

-- The end of a container this process did not start (or a detached
-- one): from its record once the owner is done with it. Its PID 1 may be
-- gone a moment before the owner, which reaped it, writes the record:
-- that is waited for while the owner lives, up to patience seconds.
local function recorded_end(self, patience)
  local rec = self._id and state.read(self._id)
  local deadline = nsl.time() + (patience or 0)
  while rec and rec.status ~= "exited" and nsl.time() < deadline
    and state.alive(rec.owner, rec.owner_start) do
    nsl.sleep(0.01)
    rec = state.read(self._id)
  end
  if rec and rec.status == "exited" then
    self.status = status_of(rec)
    self._rec = rec
  else
    self.status = { nil, "unknown", nil }
  end
  self.pid = nil
  self.state = "exited"
  return table.unpack(self.status, 1, self.status[4] and 4 or 3)
end

-- The process whose end tells that the container's end is known: its
-- PID 1 for a container of this process, else the owner of its record.
local function watch_pid(self)
  if running[self.pid or 0] == self then return self.pid end
  local rec = self._rec
  -- nil when that process is gone already (its pid may be another's now)
  if rec and rec.detached then
    return state.alive(rec.owner, rec.owner_start) and rec.owner or nil
  end
  if rec then return state.alive(rec.pid, rec.pid_start) and rec.pid or nil end
  return self.pid
end

-- How a container of another script ended: the exit status of its PID 1,
-- which the kernel gives a pidfd once the script reaped it (at once, as
-- it waits on it); nil when that takes longer than patience seconds or
-- the kernel cannot say (before Linux 6.15).
local function reaped_status(fd, patience)
  local deadline = nsl.time() + patience
  while true do
    local ok, how, n = nsl.pidfd_status(fd)
    if how == "exit" or how == "signal" then return { ok, how, n } end
    if n ~= 11 or nsl.time() >= deadline then return nil end -- 11: EAGAIN, not reaped yet
    nsl.sleep(0.01)
  end
end

-- wait() for a container this process did not start.
local function wait_other(self, patience)
  local target = watch_pid(self)
  local fd = target and nsl.pidfd(target)
  local status
  if fd then
    while #nsl.poll({ fd }) == 0 do end
    if target == self.pid then status = reaped_status(fd, patience) end
    nsl.close(fd)
  end
  if not status then return recorded_end(self, patience) end
  self.status, self.pid, self.state = status, nil, "exited"
  return table.unpack(status, 1, 3)
end

--- Waits for the container to end: ok, "exit"|"signal", n (as
--- os.execute), and "oom" as a fourth value when its memory limit killed
--- it. For a container started by another process (found by name), the
--- wait lasts until its supervisor recorded the end.
function Container:wait()
  if self.state ~= "running" then
    if self.status then return table.unpack(self.status, 1, self.status[4] and 4 or 3) end
    return nil, "wait: the container is not running"
  end
  if running[self.pid] ~= self then return wait_other(self, 2) end
  local ok, how, n = nsl.wait(self.pid)
  if how ~= "exit" and how ~= "signal" then
    -- Someone else reaped it (nsl.wait on its pid): it is gone all the same.
    ok, how, n = nil, "exit", 255
  end
  local oom = oom_of(self, ok)
  ended(self, ok, how, n, oom)
  if oom then return ok, how, n, oom end
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
  local rec = self._rec
  if running[self.pid] ~= self and rec then
    -- known from its record: its PID 1 only when provably the container's
    local ok, why = state.signal(rec, sig or "TERM")
    if ok then return true end
    return nil, "kill: " .. (why or "the container is not running")
  end
  return nsl.kill(self.pid, sig or "TERM")
end

--- Stops the container: TERM, then KILL when it has not ended after
--- grace seconds (default: the spec's stop_timeout, 10). Returns what
--- wait returns.
function Container:stop(grace)
  if self.state ~= "running" then return self:wait() end
  grace = grace or (self._cfg and self._cfg.stop_timeout) or (self._rec and self._rec.stop_timeout) or 10
  if type(grace) ~= "number" or grace < 0 then error("stop: grace must be a number of seconds", 2) end
  local target = watch_pid(self)
  local fd = target and nsl.pidfd(target)
  self:kill("TERM")
  if fd then
    local deadline = nsl.time() + grace
    while nsl.time() < deadline and #nsl.poll({ fd }, deadline - nsl.time()) == 0 do end
    if #nsl.poll({ fd }, 0) == 0 then self:kill("KILL") end
    nsl.close(fd)
  end
  if running[self.pid] ~= self then return wait_other(self, 0.2) end
  return self:wait()
end

--- Kills the container if it runs and releases everything it holds; a
--- detached container's state goes too.
function Container:destroy()
  if self.state == "running" and self.pid then
    if running[self.pid] == self then
      nsl.kill(self.pid, "KILL")
      local ok, how, n = nsl.wait(self.pid)
      ended(self, ok, how, n, oom_of(self, ok))
    else
      self:kill("KILL")
      wait_other(self, 0)
    end
  end
  if self._id and self._rec and (self._rec.detached or not self._cfg) then
    -- a detached one, or one found by name: its record, once ended
    local rec = state.read(self._id)
    if rec and rec.detached and rec.owner and state.alive(rec.owner, rec.owner_start) then
      -- Its supervisor is still recording the end and cleaning up (it
      -- writes into the directory): that is over in a moment.
      local fd = nsl.pidfd(rec.owner)
      if fd then
        nsl.poll({ fd }, 10)
        nsl.close(fd)
      end
      rec = state.read(self._id)
    end
    if rec and state.status(rec) ~= "running" and state.status(rec) ~= "starting" then
      state.remove(self._id)
    end
  end
  cleanup_host(self)
  self.state = "destroyed"
  return true
end

--- Removes the state of an ended container (as `nsl rm`); a running one
--- is refused unless force, which kills it first.
function Container:remove(force)
  if self.state == "running" and not force then
    local rec = self._id and state.read(self._id)
    if not rec or state.status(rec) == "running" then
      return nil, ("remove: %s is running (stop it first, or force)"):format(self.name or ("the container (pid " .. self.pid .. ")"))
    end
  end
  return self:destroy()
end

--- The inode number of one of the container's namespaces.
function Container:nsid(ns)
  if self.state ~= "running" then return nil, "nsid: the container is not running" end
  return nsl.nsid(self.pid, ns)
end

--- Memory, cpu time and process count from the container's cgroup:
--- {memory = bytes, memory_peak =, cpu = seconds, cpu_throttled =,
--- pids =}; nil, message for a container without limits.
function Container:stats()
  if self.state ~= "running" then return nil, "stats: the container is not running" end
  local cg = self._cg
  if not cg then
    local name = self._rec and self._rec.cgroup
    if not name then return nil, "stats: the container has no cgroup (give it limits, or limits = {})" end
    local err
    cg, err = cgroup_module().open(name)
    if not cg then return nil, "stats: " .. tostring(err) end
  end
  return cg:stats()
end

-- What exec needs of the container: its settings, from the spec or from
-- the record of one found by name.
local function exec_settings(self)
  local cfg = self._cfg
  if cfg then
    local h = cfg.hardening
    return { env = cfg.env, cwd = cfg.cwd, capmask = cfg.capmask, user = cfg.ns.user,
      pivot_root = h.pivot_root, new_session = h.new_session, resolve_cwd = h.resolve_cwd,
      capabilities = h.capabilities, no_new_privs = h.no_new_privs }
  end
  return self._rec.exec
end

--- Runs argv inside the running container (its namespaces, root,
--- environment, capabilities, no_new_privs and cgroup); waits and returns
--- the os.execute triple. opts: env (added to the container's), cwd, tty
--- (true: a new pseudo-terminal relayed to the caller's stdio).
function Container:exec(argv, opts)
  if type(argv) ~= "table" or #argv < 1 then
    error("exec: argv must be a table with at least one string", 2)
  end
  for i, a in ipairs(argv) do
    if type(a) ~= "string" and type(a) ~= "number" then
      error(("exec: argv[%d] must be a string (got %s)"):format(i, type(a)), 2)
    end
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("exec: opts must be a table", 2) end
  for k in pairs(opts) do
    if k ~= "env" and k ~= "cwd" and k ~= "tty" then
      error(("exec: unknown option '%s' (expected env, cwd, tty)"):format(tostring(k)), 2)
    end
  end
  if opts.cwd ~= nil and not is_absolute(opts.cwd) then
    error("exec: cwd must be an absolute path", 2)
  end
  if opts.env ~= nil and type(opts.env) ~= "table" then error("exec: env must be a table", 2) end
  if self.state ~= "running" then return nil, "exec: the container is not running" end
  local rec = self._rec
  if rec and not state.alive(rec.pid, rec.pid_start) then
    return nil, "exec: the container is not running"
  end
  if rec and running[self.pid] ~= self then
    -- known from its record: its namespaces are joined only when its
    -- PID 1 provably is the container's
    local ok, why = state.verify(rec)
    if not ok then return nil, "exec: " .. (why or "the container is not running") end
  end
  local x = exec_settings(self)
  local env = {}
  for k, v in pairs(x.env) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local cwd = opts.cwd or x.cwd
  local target = self.pid
  local master, slave
  if opts.tty then
    if not nsl.openpty then return nil, "exec: terminals are not supported by this build" end
    -- The container's own /dev/pts first, so `tty` inside names the
    -- slave; the caller's when the container has no ptmx of its own.
    local perr
    master, slave = nsl.openpty({ root = ("/proc/%d/root"):format(target) })
    if not master then master, slave, perr = nsl.openpty() end
    if not master then return nil, "exec: " .. tostring(perr) end
  end
  local pid, err = nsl.clone({}, function()
    nsl.stop_forwarding()
    if nsl.geteuid() == 0 then nsl.dumpable(false) end -- see start()
    if master then nsl.close(master) end
    assert(nsl.setns(target))
    if x.user then assert(nsl.setids(0, 0)) end
    -- Joining the mount namespace set the root to the namespace's; a
    -- chroot container's root is a directory in it.
    if not x.pivot_root then
      assert(nsl.chroot(("/proc/%d/root"):format(target)))
    end
    -- A new pid namespace takes effect for children only.
    -- (pdeathsig set inside: nsl.clone's own check of the parent cannot
    -- see it from inside the joined pid namespace, where getppid() is 0)
    local inner = assert(nsl.clone({}, function()
      nsl.pdeathsig("KILL")
      if x.new_session or slave then nsl.setsid() end
      assert(nsl.session_keyring())
      if slave then assert(nsl.setctty(slave)) end
      assert(nsl.chdir(cwd, x.resolve_cwd and "/" or nil))
      if x.capabilities then assert(nsl.caps_limit(x.capmask)) end
      if x.no_new_privs then assert(nsl.no_new_privs()) end
      local _, e = nsl.exec(argv, { env = env })
      io.stderr:write("nsl: ", e, "\n")
      return 127
    end, { collect = false }))
    if slave then nsl.close(slave) end
    -- A signal sent to this process (the pid the caller knows) goes on
    -- to the command.
    nsl.forward_signals(inner, false)
    local _, how, n = nsl.wait(inner)
    if how == "signal" then
      nsl.kill(nsl.getpid(), n)
      return 128 + n
    end
    return n
  end, { pdeathsig = "KILL", collect = false, cgroups = rec and rec.cgroup_paths })
  if slave then nsl.close(slave) end
  if not pid then
    if master then nsl.close(master) end
    return nil, err
  end
  if master then
    local ok, how, n = nsl.pty_relay(master, pid)
    nsl.close(master)
    return ok, how, n
  end
  return nsl.wait(pid)
end

local function finalize(self)
  -- Only the process that made the container tears it down: a cloned
  -- child holds a copy of this object and must leave it alone. A
  -- detached container outlives its handle.
  if self.creator == nsl.getpid() and self.state ~= "destroyed" and not self.detached then
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
-- By the metatable's name, not its identity: a second copy of this module
-- (package.loaded reset by a test runner, a sandbox) makes handles that
-- this one must still accept.
function M.is_container(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") == "nsl.container"
end

-- A handle on a container known from its record. The paths it would
-- use are nsl's own: its log in its state directory, the cgroups of its
-- own group (own_cgroup), whatever the record says.
local function from_record(rec)
  if rec.log then rec.log = state.dir(rec.id) .. "/log" end
  if rec.cgroup_paths then
    local cg = own_cgroup(rec)
    rec.cgroup_paths = cg and cg:dirs() or nil
  end
  local st = state.status(rec)
  -- PID 1 gone, its end not recorded yet by its owner, which lives: a
  -- wait() waits for that record (recorded_end), as for a running one
  local ending = st == "exited" and rec.status ~= "exited"
  local c = setmetatable({
    name = rec.name, _id = rec.id, _rec = rec, detached = rec.detached,
    state = (st == "running" or st == "starting" or ending) and "running" or "exited",
    pid = rec.pid, address = rec.address,
  }, Container)
  if c.state == "exited" and rec.status == "exited" then
    c.status = status_of(rec)
    c.pid = nil
  end
  return c
end

local function check_name(name, what)
  if type(name) ~= "string" or not name:match("^[%w][%w_.-]*$") or #name > 64 then
    error(("%s: a container name is 1 to 64 letters, digits, '_', '.' or '-' (got %s)")
      :format(what, type(name) == "string" and ("%q"):format(name) or type(name)), 3)
  end
end

--- The record of a named container as plain data (nsl ps), with its
--- status checked against its processes; nil when there is none (and
--- why, when the state directory is not to be trusted).
function M.info(name)
  check_name(name, "info")
  local rec, err = state.read(name)
  if not rec then return nil, err end
  local st = state.status(rec)
  if st == "stale" then
    state.sweep_one(name, M.release)
    return nil
  end
  rec.state = st
  return rec
end

--- The named containers on this host (of this user), as handles, by name;
--- stale ones are cleaned up on the way. Raises an error when the state
--- directory is not to be trusted (another user's, a link, writable by
--- others).
function M.list()
  local root, err = state.root()
  if not root then error("list: " .. err, 2) end
  if not nsl.lstat(root) then return {} end
  state.sweep(M.release)
  local out = {}
  for _, id in ipairs(state.ids() or {}) do
    local own
    for _, c in pairs(running) do
      if c._id == id then own = c end
    end
    if own then
      if own.name then out[#out + 1] = own end
    else
      local rec = state.read(id)
      if rec and rec.name then out[#out + 1] = from_record(rec) end
    end
  end
  return out
end

--- A named container by name: a handle to wait for it, kill it, exec in
--- it, read its stats, remove it.
function M.lookup(name)
  check_name(name, "lookup")
  for _, c in pairs(running) do
    if c.name == name then return c end
  end
  local rec, err = M.info(name)
  if err then return nil, "lookup: " .. err end
  if not rec then return nil, ("lookup: no container named %s"):format(name) end
  return from_record(rec)
end

--- Releases what a detached container held, once it ended, and records
--- its end (run by its supervisor as `nsl __reap ID`). exit: {how=, code=}
--- when known, else read from the supervisor's exit file.
function M.reap(id, exit)
  local rec = state.read(id)
  if not rec then return nil, "reap: no record for " .. tostring(id) end
  if not exit then
    local text = read_file(state.dir(id) .. "/exit") or ""
    local how, code = text:match("^(%a+) (%d+)")
    exit = { how = how or "exit", code = tonumber(code) or 255 }
    rec.finished = tonumber(text:match("finished (%d+)"))
  end
  local ok, oom = pcall(M.release, rec)
  if not ok then
    local f = io.open(state.dir(id) .. "/log", "a")
    if f then f:write("nsl: cleanup: ", tostring(oom), "\n"); f:close() end
    oom = false
  end
  rec.status, rec.how, rec.code = "exited", exit.how, exit.code
  rec.oom = (oom and not (exit.how == "exit" and exit.code == 0)) or nil
  rec.finished = rec.finished or math.floor(nsl.time("real"))
  rec.owner, rec.owner_start = nil, nil
  rec.plan, rec.root, rec.root_owner, rec.cgroup, rec.cgroup_paths = nil, nil, nil, nil, nil
  state.write(id, rec)
  return true
end

--- Waits until one of the containers ends: c, ok, how, n[, "oom"]. A
--- container that already ended is returned at once. Other children of
--- the caller are left alone.
function M.wait_any(list)
  if type(list) ~= "table" or #list == 0 then
    error("wait_any: expected a non-empty list of containers", 2)
  end
  for i, c in ipairs(list) do
    if not M.is_container(c) then
      error(("wait_any: list[%d] is not a container"):format(i), 2)
    end
    if c.state ~= "running" then return c, c:wait() end
  end
  local fds, by_fd = {}, {}
  for _, c in ipairs(list) do
    local target = watch_pid(c)
    local fd = target and nsl.pidfd(target)
    if not fd then
      for _, f in ipairs(fds) do nsl.close(f) end
      return c, c:wait()
    end
    fds[#fds + 1] = fd
    by_fd[fd] = c
  end
  local ready
  repeat ready = nsl.poll(fds) until #ready > 0
  for _, f in ipairs(fds) do nsl.close(f) end
  local c = by_fd[ready[1]]
  return c, c:wait()
end

return M
