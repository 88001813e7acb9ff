-- A container's set-up in its child: the steps of its nsl.plan (src/plan.c)
-- from the checked config, the command's steps (nsl-init or the plan's
-- init, the exec or a Lua function), and the child's life when the plan
-- has Lua entries. The only part of the container layer that speaks plan
-- ops.
local nsl = require "nsl"
local rootfs = require "nsl.rootfs"

local M = {}

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

-- Landlock's rules, then the seccomp filter: the last steps before the
-- command (and its init) runs, so that nsl's own set-up is not bound by
-- them. at_exec: the filter is installed by the exec step itself, as
-- its last act before execve (a policy need not allow close_range or
-- the signal calls of the exec's preparation).
local function confine_steps(cfg, add, at_exec, filter_fd)
  if cfg.landlock then
    for _, st in ipairs(require("nsl.landlock").steps(cfg.landlock)) do add(st) end
  end
  if cfg.seccomp and not filter_fd then
    for i, p in ipairs(cfg.seccomp.programs) do
      add { "seccomp", "seccomp filter " .. i, p, at_exec or false }
    end
  end
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
  if cfg.network.inside then add { "lo_up", "network: lo up" } end
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
  -- without no_new_privs, installing a filter or a ruleset needs
  -- CAP_SYS_ADMIN: then they come before the capabilities are limited
  if not h.no_new_privs then confine_steps(cfg, add) end
  if h.capabilities then add { "caps", "capabilities", cfg.capmask } end
  -- an image's User: the ids change last, once the capabilities are set
  -- (setgroups needs CAP_SETGID; a non-zero uid then keeps none)
  local img = cfg.image
  if img and img.uid then add { "ids", ("user %d:%d"):format(img.uid, img.gid), img.uid, img.gid } end
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
-- filter_fd: the seccomp filter for nsl-init to install in the command's
-- process (launch's pipe); without it, the plan's steps install it.
local function command_steps(cfg, s, status_w, init_fd, filter_fd)
  if cfg.hardening.no_new_privs then
    confine_steps(cfg, function(st) s[#s + 1] = st end,
      type(cfg.command) == "table" and not cfg.init, filter_fd)
  end
  if type(cfg.command) == "function" then
    if cfg.init then s[#s + 1] = { "init", "init" } end
    s[#s + 1] = { lua = function() return run_function(cfg, status_w) end }
  elseif cfg.init and init_fd then
    local argv = { "nsl-init", "-s", tostring(status_w) }
    if nsl.geteuid() == 0 then argv[#argv + 1] = "-d" end -- as dumpable_off: see launch
    -- the filter, for nsl-init to install in the command's process
    if filter_fd then argv[#argv + 1] = "-f"; argv[#argv + 1] = tostring(filter_fd) end
    argv[#argv + 1] = "--"
    for _, a in ipairs(cfg.command) do argv[#argv + 1] = a end
    s[#s + 1] = { "exec", "exec", argv, cfg.env, cfg.hardening.close_fds, init_fd, filter_fd }
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

M.child_steps = child_steps
M.command_steps = command_steps
M.make_plan = make_plan
M.child_main = child_main

return M
