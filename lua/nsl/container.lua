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
--    network:setup(pid) now, both sides         make mounts private, mount the
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

-- The parts, one job each (lua/nsl/container/): spec (the spec checked
-- into a config), setup (the child's plan), launch (the clone and its
-- handshake), host (the record and what it names; undo, release,
-- ended_record: the teardown, docs/lifecycle.md),
-- detach (detached starts), wait (how an end becomes known), exec
-- (c:exec), registry (this process's running containers). This file is the public face: nsl.container(spec),
-- its methods, and finding containers by name.

local rootfs = require "nsl.rootfs"
local state = require "nsl.state"
local util = require "nsl.util"
local spec_mod = require "nsl.container.spec"
local host = require "nsl.container.host"
local registry = require "nsl.container.registry"
local launch_mod = require "nsl.container.launch"
local wait_mod = require "nsl.container.wait"
local exec_mod = require "nsl.container.exec"
local detach = require "nsl.container.detach"

local check_spec = spec_mod.check_spec
local fields, cgroup_module, own_cgroup = host.fields, host.cgroup_module, host.own_cgroup
local sweep_once, new_record, host_root = host.sweep_once, host.new_record, host.host_root
local undo, release = host.undo, host.release
local launch = launch_mod.launch
local ended, oom_of, status_of = wait_mod.ended, wait_mod.oom_of, wait_mod.status_of
local wait_other, watch_pid = wait_mod.wait_other, wait_mod.watch_pid

M.default_capabilities = spec_mod.default_capabilities
M.default_masked_paths = spec_mod.default_masked_paths
M.default_readonly_paths = spec_mod.default_readonly_paths
M.release_record = host.release_record
M.userns_hint = launch_mod.userns_hint

-- ---- the caller's side ----------------------------------------------------

local Container = { __name = "nsl.container" }
Container.__index = Container

-- Recorded: a named or detached container, and one holding something
-- on the host that would outlive this process if it were killed (a
-- cgroup, a bridge lease, a root's state directory). A plain unnamed
-- container holds nothing of the kind (its veth goes with its network
-- namespace, its processes with pdeathsig) and starts without the
-- cost of a record.
local function persists(cfg)
  return cfg.name or cfg.detach or cfg.limits or cfg.network.mode == "bridge"
    or (cfg.root.kind ~= "dir" and not cfg.root.ephemeral)
end

-- Claims the container's first record; true, or nil and why.
local function first_record(self, cfg, rec)
  rec.owner_start = state.start_time(rec.owner)
  -- What the start is about to make on the host is named in the first
  -- record already: if this process is killed half way, whoever finds
  -- the record stale releases it (a group, a bridge and its leases, a
  -- root's state directory).
  if cfg.limits then rec.cgroup = rec.id end
  if cfg.network.mode == "bridge" then rec.network = fields(cfg.network) end
  if cfg.root.kind ~= "dir" and not cfg.root.ephemeral then rec.root_owner = rec.id end
  local cok, cerr = state.claim(rec.id, rec, host.release_record)
  if not cok then return nil, "name: " .. cerr end
  self._id = rec.id
  return true
end

-- Prepares what the container holds on the host before its process: its
-- root, its cgroup; true, or nil and "<step>: <reason>" (not undone).
local function hold_host(self, cfg, rec, persist)
  local ok, err = pcall(cfg.root.prepare, cfg.root, rec.root_owner, host_root(cfg))
  self._root = cfg.root
  if not ok then return nil, "rootfs: " .. tostring(err) end
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
      return nil, "limits: " .. tostring(gerr)
    end
    self._cg = cg
    rec.cgroup_paths = cg:dirs()
  end
  -- Written now only when a sweeper would need more than the first
  -- record to release what was just made: a cgroup's paths, an overlay's
  -- work directory beside its upper, a kept upper. A temporary overlay
  -- (an image's) is found by its owner id alone (rootfs.sweep), and the
  -- record written once the process runs names it whole: one write less
  -- per start.
  local r = rec.root
  if persist and (rec.cgroup or (r and (r.work_dir or r.keep))) then state.write(rec.id, rec) end
  self._network = cfg.network
  return true
end

-- Launches the container's PID 1 from this process and records it;
-- true, or nil and "<step>: <reason>" (not undone).
local function start_attached(self, cfg, rec, persist)
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
    return nil, lerr
  end
  self.pid = pid
  self.address = cfg.network.address
  rec.pid, rec.address, rec.status = pid, cfg.network.address, "running"
  if persist then
    -- how to know its PID 1 later (state.verify): start time, namespaces
    for k, v in pairs(state.identify(pid)) do rec[k] = v end
    rec.network = fields(cfg.network.setup and cfg.network or nil)
    state.write(rec.id, rec)
  end
  self._rec = rec
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
  local persist = persists(cfg)
  if persist then
    local ok, err = first_record(self, cfg, rec)
    if not ok then return nil, err end
  end
  self.detached = cfg.detach and true or nil
  local ok, err = hold_host(self, cfg, rec, persist)
  if not ok then return undo(self, err) end
  if cfg.detach then
    ok, err = detach.start(self, cfg, rec)
    if not ok then return undo(self, err) end
    self._cg = nil -- the supervisor's now
  else
    ok, err = start_attached(self, cfg, rec, persist)
    if not ok then return undo(self, err) end
  end
  self.state = "running"
  return self
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
  if not registry.owns(self) then return wait_other(self, 2) end
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
  if not registry.owns(self) and rec then
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
  self:kill((self._cfg and self._cfg.stop_signal) or (self._rec and self._rec.stop_signal) or "TERM")
  if fd then
    local deadline = nsl.time() + grace
    while nsl.time() < deadline and #nsl.poll({ fd }, deadline - nsl.time()) == 0 do end
    if #nsl.poll({ fd }, 0) == 0 then self:kill("KILL") end
    nsl.close(fd)
  end
  if not registry.owns(self) then return wait_other(self, 0.2) end
  return self:wait()
end

--- Kills the container if it runs and releases everything it holds; a
--- detached container's state goes too.
function Container:destroy()
  if self.state == "running" and self.pid then
    if registry.owns(self) then
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
  release(self)
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

--- What the container is and has in force, as plain data: its record
--- (name, command, namespaces, ...) with its state, and confinement =
--- {seccomp = the filter's name or false, landlock = the rules applied,
--- with the kernel's abi and what best_effort dropped}.
function Container:info()
  local out = {}
  for k, v in pairs(self._rec or {}) do out[k] = v end
  out.state = self.state
  if self._cfg then out.confinement = host.confinement(self._cfg) end
  return out
end

--- Runs argv inside the running container (nsl.container.exec).
Container.exec = exec_mod.exec

-- The end of a <close> scope, and the collection of a handle, destroy
-- it. Only the process that made the container tears it down: a cloned
-- child holds a copy of this object and must leave it alone. A
-- detached container outlives its handle.
function Container:__close()
  if self.creator == nsl.getpid() and self.state ~= "destroyed" and not self.detached then
    self:destroy()
  end
end
Container.__gc = Container.__close
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
  if not util.is_name(name) then
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
    state.sweep_one(name, host.release_record)
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
  state.sweep(host.release_record)
  local out = {}
  for _, id in ipairs(state.ids() or {}) do
    local own
    for _, c in registry.each() do
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
  for _, c in registry.each() do
    if c.name == name then return c end
  end
  local rec, err = M.info(name)
  if err then return nil, "lookup: " .. err end
  if not rec then return nil, ("lookup: no container named %s"):format(name) end
  return from_record(rec)
end

--- A detached container ended: what it held released and its end
--- recorded (host.ended_record; run by its supervisor as `nsl __reap ID`).
M.ended_record = host.ended_record

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
