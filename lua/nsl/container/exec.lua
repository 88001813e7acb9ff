-- c:exec: a command run inside a running container, in its namespaces,
-- root, environment, capabilities and cgroup, with the settings of its
-- spec or of the record of one found by name.
local nsl = require "nsl"
local state = require "nsl.state"
local spec = require "nsl.container.spec"
local host = require "nsl.container.host"
local registry = require "nsl.container.registry"

local M = {}

local is_absolute, DEFAULT_PATH = spec.is_absolute, spec.DEFAULT_PATH
local cgroup_module = host.cgroup_module

-- What exec needs of the container: its settings, from the spec or from
-- the record of one found by name.
local function exec_settings(self)
  local cfg = self._cfg
  if cfg then
    local h = cfg.hardening
    return { env = cfg.env, cwd = cfg.cwd, capmask = cfg.capmask, user = cfg.ns.user,
      pivot_root = h.pivot_root, new_session = h.new_session, resolve_cwd = h.resolve_cwd,
      capabilities = h.capabilities, no_new_privs = h.no_new_privs,
      filter = cfg.seccomp, landlock = cfg.landlock,
      ids = cfg.image and cfg.image.uid and { cfg.image.uid, cfg.image.gid } or nil }
  end
  local x = self._rec.exec
  -- a record keeps the policy, not the program: compiled again (once)
  if x.seccomp then x.filter = require("nsl.seccomp").compile(x.seccomp.policy, x.seccomp.capmask) end
  return x
end

-- Raises on a bad argv or opts, at the caller of c:exec (level 3).
local function check_args(argv, opts)
  if type(argv) ~= "table" or #argv < 1 then
    error("exec: argv must be a table with at least one string", 3)
  end
  for i, a in ipairs(argv) do
    if type(a) ~= "string" and type(a) ~= "number" then
      error(("exec: argv[%d] must be a string (got %s)"):format(i, type(a)), 3)
    end
  end
  if type(opts) ~= "table" then error("exec: opts must be a table", 3) end
  for k in pairs(opts) do
    if k ~= "env" and k ~= "cwd" and k ~= "tty" then
      error(("exec: unknown option '%s' (expected env, cwd, tty)"):format(tostring(k)), 3)
    end
  end
  if opts.cwd ~= nil and not is_absolute(opts.cwd) then
    error("exec: cwd must be an absolute path", 3)
  end
  if opts.env ~= nil and type(opts.env) ~= "table" then error("exec: env must be a table", 3) end
end

-- Whether the container may be joined now: true, or nil and why.
local function joinable(self)
  if self.state ~= "running" then return nil, "exec: the container is not running" end
  local rec = self._rec
  if rec and not state.alive(rec.pid, rec.pid_start) then
    return nil, "exec: the container is not running"
  end
  if rec and not registry.owns(self) then
    -- known from its record: its namespaces are joined only when its
    -- PID 1 provably is the container's
    local ok, why = state.verify(rec)
    if not ok then return nil, "exec: " .. (why or "the container is not running") end
  end
  return true
end

local function confine(x)
  if x.landlock then assert(require("nsl.landlock").apply(x.landlock)) end
  if x.filter then assert(x.filter:load()) end
end

-- The body of the process that joins the container (r: target, the
-- settings x, argv, env, cwd, the terminal's master and slave): it
-- starts the command in the container's pid namespace and ends as it
-- does.
local function enter(r)
  local x = r.x
  nsl.stop_forwarding()
  if nsl.geteuid() == 0 then nsl.dumpable(false) end -- see start()
  if r.master then nsl.close(r.master) end
  assert(nsl.setns(r.target))
  if x.user then assert(nsl.setids(0, 0)) end
  -- Joining the mount namespace set the root to the namespace's; a
  -- chroot container's root is a directory in it.
  if not x.pivot_root then
    assert(nsl.chroot(("/proc/%d/root"):format(r.target)))
  end
  -- A new pid namespace takes effect for children only.
  -- (pdeathsig set inside: nsl.clone's own check of the parent cannot
  -- see it from inside the joined pid namespace, where getppid() is 0)
  local inner = assert(nsl.clone({}, function()
    nsl.pdeathsig("KILL")
    if x.new_session or r.slave then nsl.setsid() end
    assert(nsl.session_keyring())
    if r.slave then assert(nsl.setctty(r.slave)) end
    assert(nsl.chdir(r.cwd, x.resolve_cwd and "/" or nil))
    -- as the container's own steps: Landlock and the filter last, or
    -- before the capabilities go when there is no no_new_privs
    if not x.no_new_privs then confine(x) end
    if x.capabilities then assert(nsl.caps_limit(x.capmask)) end
    if x.ids then assert(nsl.setids(x.ids[1], x.ids[2])) end
    if x.no_new_privs then
      assert(nsl.no_new_privs())
      confine(x)
    end
    local _, e = nsl.exec(r.argv, { env = r.env })
    io.stderr:write("nsl: ", e, "\n")
    return 127
  end, { collect = false }))
  if r.slave then nsl.close(r.slave) end
  -- A signal sent to this process (the pid the caller knows) goes on
  -- to the command.
  nsl.forward_signals(inner, false)
  local _, how, n = nsl.wait(inner)
  if how == "signal" then
    nsl.kill(nsl.getpid(), n)
    return 128 + n
  end
  return n
end

--- Runs argv inside the running container (its namespaces, root,
--- environment, capabilities, no_new_privs and cgroup); waits and returns
--- the os.execute triple. opts: env (added to the container's), cwd, tty
--- (true: a new pseudo-terminal relayed to the caller's stdio).
function M.exec(self, argv, opts)
  opts = opts or {}
  check_args(argv, opts)
  local ok, why = joinable(self)
  if not ok then return nil, why end
  local x = exec_settings(self)
  local env = {}
  for k, v in pairs(x.env) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local r = { target = self.pid, x = x, argv = argv, env = env, cwd = opts.cwd or x.cwd }
  if opts.tty then
    if not nsl.openpty then return nil, "exec: terminals are not supported by this build" end
    -- The container's own /dev/pts first, so `tty` inside names the
    -- slave; the caller's when the container has no ptmx of its own.
    local perr
    r.master, r.slave = nsl.openpty({ root = ("/proc/%d/root"):format(r.target) })
    if not r.master then r.master, r.slave, perr = nsl.openpty() end
    if not r.master then return nil, "exec: " .. tostring(perr) end
  end
  local rec = self._rec
  local pid, err = nsl.clone({}, function() return enter(r) end,
    { pdeathsig = "KILL", collect = false, cgroups = rec and rec.cgroup_paths })
  if r.slave then nsl.close(r.slave) end
  if not pid then
    if r.master then nsl.close(r.master) end
    return nil, err
  end
  if r.master then
    local rok, how, n = nsl.pty_relay(r.master, pid)
    nsl.close(r.master)
    return rok, how, n
  end
  return nsl.wait(pid)
end

return M
