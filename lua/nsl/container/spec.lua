-- The container spec: nsl.container(spec) checked into the config the
-- rest of the container layer works from (check_spec), with the defaults
-- (capabilities, hardening) and the namespaces a container gets.
local nsl = require "nsl"
local rootfs = require "nsl.rootfs"
local netmode = require "nsl.netmode"
local util = require "nsl.util"

local M = {}

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

local DEFAULT_PATH = util.DEFAULT_PATH

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
  "on_start", "hardening", "detach", "stop_timeout", "seccomp", "landlock",
  "image", "entrypoint", "stop_signal",
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

-- name, limits, detach and hostname.
local function check_identity(spec, cfg)
  if spec.name ~= nil then
    check_type("name", spec.name, "string")
    if not util.is_name(spec.name) then
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
end

-- hardening: the defaults, with the spec's items over them.
local function check_hardening(spec, cfg)
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
end

-- network mode, namespaces, user namespace and id maps.
local function check_namespaces(spec, cfg, root)
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
  cfg.network = checked("net", netmode.check, cfg.net)

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
end

-- env and cwd.
local function check_env(spec, cfg)
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
end

-- capabilities and rlimits.
local function check_limits(spec, cfg)
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
end

-- mounts[i]: a mount of the spec, checked into what the set-up mounts.
local function check_mount(i, m)
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
  return mm
end

-- mounts: each checked (check_mount), in order.
local function check_mounts(spec, cfg)
  cfg.mounts = {}
  if spec.mounts ~= nil then
    check_type("mounts", spec.mounts, "table")
    for i, m in ipairs(spec.mounts) do cfg.mounts[i] = check_mount(i, m) end
  end
end

local STOP_SIGNALS = { TERM = true, INT = true, HUP = true, QUIT = true, USR1 = true, USR2 = true,
  WINCH = true }

-- the process: stop_timeout, stop_signal, init, hooks, command.
local function check_process(spec, cfg)
  local ns = cfg.ns
  if spec.stop_timeout ~= nil then
    local t = spec.stop_timeout
    if math.type(t) ~= "integer" or t < 0 or t > 86400 then
      spec_error("stop_timeout must be a whole number of seconds from 0 to 86400 (got %s)", tostring(t))
    end
  end
  cfg.stop_timeout = spec.stop_timeout or 10
  -- the signal c:stop() and `nsl kill NAME` send first: one nsl-init
  -- passes on (the command's own PID 1 would get any)
  if spec.stop_signal ~= nil then
    local sig = tostring(spec.stop_signal):upper():gsub("^SIG", "")
    if not STOP_SIGNALS[sig] then
      spec_error("stop_signal must be TERM, INT, HUP, QUIT, USR1, USR2 or WINCH (got %s)", tostring(spec.stop_signal))
    end
    cfg.stop_signal = sig
  end
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
end

-- seccomp and landlock (after the capabilities, which the default
-- seccomp profile looks at). The filter is compiled here, once per policy
-- and capability set in a process; the Landlock rules are checked here
-- and matched with the kernel's ABI at start.
local function check_confine(spec, cfg)
  local policy = spec.seccomp
  if policy == nil then policy = "default" end
  if policy ~= false then
    local t = type(policy)
    if t ~= "string" and t ~= "table" then
      spec_error("seccomp must be a profile name (\"default\"), a policy table, a filter or false (got %s)", t)
    end
    local seccomp = require "nsl.seccomp"
    local mask = cfg.hardening.capabilities and cfg.capmask or -1
    local ok, f = pcall(seccomp.compile, policy, mask)
    if not ok then error("container: " .. tostring(f), 0) end
    cfg.seccomp = f
  end
  if spec.landlock ~= nil then
    local landlock = require "nsl.landlock"
    local ok, r = pcall(function() return landlock.resolve(landlock.check(spec.landlock)) end)
    if not ok then error("container: " .. tostring(r), 0) end
    for _, d in ipairs(r.dropped) do io.stderr:write("nsl: landlock: left out: ", d, "\n") end
    cfg.landlock = r
  end
end

-- the root, last: it may look at the command.
local function check_root(spec, cfg)
  local command = cfg.command
  if spec.rootfs == nil then spec_error("rootfs is missing (a directory, or nsl.rootfs.busybox(dir), ...)") end
  local ok2, r = pcall(checked, "rootfs", rootfs.resolve, spec.rootfs)
  if not ok2 then error("container: " .. tostring(r), 0) end
  cfg.root = r:own_namespace()
  local dir = r:inspect_dir()
  if dir then
    local st, err = nsl.lstat(dir)
    if not st then spec_error("rootfs: %s", (err:gsub("^lstat ", ""))) end
    if type(command) == "table" then check_command(cfg, dir) end
  end
end

-- The spec checked into the config the rest of the layer works from;
-- raises an error naming the field on the first thing wrong.
local function check_spec(spec)
  if type(spec) ~= "table" then
    error(("container: spec must be a table (got %s)"):format(type(spec)), 0)
  end
  for k in pairs(spec) do
    if not FIELD_SET[k] then
      spec_error("unknown field '%s' (expected %s)", tostring(k), table.concat(FIELDS, ", "))
    end
  end
  -- an image stands for a root, a command and defaults (nsl.image)
  local image
  if spec.image ~= nil then
    spec, image = require("nsl.image").container_spec(spec)
  elseif spec.entrypoint ~= nil then
    spec_error("entrypoint needs an image (the command is the whole argv otherwise)")
  end
  local cfg = { image = image }
  check_identity(spec, cfg)
  check_hardening(spec, cfg)
  check_namespaces(spec, cfg, nsl.geteuid() == 0)
  check_env(spec, cfg)
  check_limits(spec, cfg)
  check_confine(spec, cfg)
  check_mounts(spec, cfg)
  check_process(spec, cfg)
  check_root(spec, cfg)
  return cfg
end

M.check_spec = check_spec
M.namespace_list = namespace_list
M.DEFAULT_PATH = DEFAULT_PATH
M.is_absolute = is_absolute

return M
