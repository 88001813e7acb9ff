-- What a container holds on the host, and its record: the first record
-- (new_record), what a record may name, the teardown verbs (undo,
-- release, ended_record: also for records that a killed process left,
-- found by the sweep), and whether the container's root user is the
-- host's.
local nsl = require "nsl"
local rootfs = require "nsl.rootfs"
local netmode = require "nsl.netmode"
local state = require "nsl.state"
local util = require "nsl.util"
local registry = require "nsl.container.registry"

local M = {}

-- ---- host resources, and their record --------------------------------------
--
-- What a container holds on the host: its root's state (rootfs), its
-- network (a netmode Network), its cgroup, and its state directory. The first
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
  return util.is_name(id) or (type(id) == "string" and id:match("^_anon%-%d+%-%d+$") ~= nil)
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

local ifname = util.is_ifname

-- The network of a record when it is one nsl makes: a veth or bridge
-- network with interface names, a namespace inode and an address
-- lease that name nothing but themselves. nil, why otherwise.
local function own_network(rec)
  local p = rec.network
  if p == nil then return nil end
  if type(p) ~= "table" or (p.mode ~= "veth" and p.mode ~= "bridge") then
    return nil, "its network is not one nsl makes"
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
      return nil, "its bridge network has no subnet"
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

-- ---- teardown: undo, release, ended ------------------------------------------
--
-- Three verbs, each with one meaning (docs/lifecycle.md, "Teardown"):
--   undo      a start failed: what it made so far is taken down again
--   release   what a container holds on the host is given back
--   ended     its PID 1 ended: the end is recorded, then release
-- release and ended for a handle (here; ended in container/wait.lua),
-- and for a container known from its record alone (release_record,
-- ended_record). One body, give_back, does the releasing for all.

-- What a container holds on the host given back, as a handle holds it
-- (or as release_record rebuilt it from a record): signal forwarding
-- stopped, its cgroup removed, its network cleaned up (veth, lease, a
-- bridge nsl made), its root's state removed, and its record deleted,
-- unless a detached container's (kept until `nsl rm`) or one this
-- process did not start. Each goes even when another fails. Returns
-- true, or nil and the failures; reporting them is the caller's.
local function give_back(self)
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
  -- both, either may be missing (a plain list would end at a missing
  -- network, and leave the root's state directory behind)
  for _, obj in ipairs({ self._network or false, self._root or false }) do
    if obj then
      local ok, done, err = pcall(obj.cleanup, obj)
      if not ok then errs[#errs + 1] = tostring(done)
      elseif done == nil and err then errs[#errs + 1] = tostring(err) end
    end
  end
  self._network, self._root = nil, nil
  if self._id and self._cfg and not self.detached then
    state.remove(self._id)
    self._id = nil
  end
  if #errs > 0 then return nil, table.concat(errs, "; ") end
  return true
end

-- Releases what a handle holds (give_back), its failures told on
-- stderr: the container is gone all the same.
local function release(self)
  local ok, err = give_back(self)
  if not ok then io.stderr:write("nsl: container cleanup: ", err, "\n") end
end

-- release for a container known from its record alone (its owner died,
-- found by a sweep; or a detached one's end, in `nsl __reap`): a PID 1
-- still alive is killed, the cgroup emptied, then what the record names,
-- where nsl's own for the container (above), is released. The record
-- itself is the caller's. Returns whether its memory limit killed
-- something (checked before the group goes); raises the failures.
local function release_record(rec)
  local function refused(what, why)
    if why then
      state.warn(("not releasing %s of container %s: %s"):format(what, tostring(rec.id), why))
    end
  end
  if rec.pid and state.alive(rec.pid, rec.pid_start) then
    local _, why = state.signal(rec, "KILL")
    refused("its process", why)
  end
  local held, oom = {}, false
  local cg, cwhy = own_cgroup(rec)
  refused("the cgroup", cwhy)
  if cg then
    oom = (cg:oom_killed())
    cg:kill()
    held._cg = cg
  end
  local network, nwhy = own_network(rec)
  refused("the network", nwhy)
  if network then held._network = netmode.restore(network) end
  local root, rwhy = own_root(rec)
  refused("the root", rwhy)
  if root then held._root = rootfs.restore(root) end
  local ok, err = give_back(held)
  if not root and rec.root == nil and rec.root_owner ~= nil then
    if rec.root_owner == rec.id and valid_id(rec.id) then
      rootfs.sweep(rec.root_owner)
    else
      refused("the root", ("it names the root owner %s, not itself"):format(tostring(rec.root_owner)))
    end
  end
  if not ok then error(err, 0) end
  return oom
end

-- A start that failed half way (Container:start, launch): the pipes
-- given closed, its PID 1 killed and reaped, its cgroup emptied, then
-- released, its record too, even a detached one's; the handle is
-- "created" again. Returns nil, msg. What is already undone is not there
-- any more, so a second undo of the same start does nothing more.
local function undo(self, msg, fds)
  for _, fd in ipairs(fds or {}) do nsl.close(fd) end
  if self.pid then
    nsl.kill(self.pid, "KILL")
    nsl.wait(self.pid)
    registry.drop(self.pid)
  end
  self.pid = nil
  if self._cg then self._cg:kill() end
  self.detached = nil -- so that its record goes too
  release(self)
  self.state = "created"
  return nil, msg
end

-- ended for a container known from its record (a detached one, run by
-- its supervisor as `nsl __reap ID`, or by the supervisor itself when
-- it cannot become nsl-monitor): what it held released, and its end
-- written into the record, which stays for `nsl ps`, `logs`, `wait` and
-- `rm`. exit: {how=, code=} when known, else read from the supervisor's
-- exit file.
local function ended_record(id, exit)
  local rec = state.read(id)
  if not rec then return nil, "reap: no record for " .. tostring(id) end
  if not exit then
    local text = state.read_file(state.dir(id) .. "/exit") or ""
    local how, code = text:match("^(%a+) (%d+)")
    exit = { how = how or "exit", code = tonumber(code) or 255 }
    rec.finished = tonumber(text:match("finished (%d+)"))
  end
  local ok, oom = pcall(release_record, rec)
  if not ok then
    local f = io.open(state.dir(id) .. "/log", "a")
    if f then f:write("nsl: cleanup: ", tostring(oom), "\n"); f:close() end
    oom = false
  end
  rec.status, rec.how, rec.code = "exited", exit.how, exit.code
  rec.oom = (oom and not (exit.how == "exit" and exit.code == 0)) or nil
  rec.finished = rec.finished or math.floor(nsl.time("real"))
  rec.owner, rec.owner_start = nil, nil
  rec.network, rec.root, rec.root_owner, rec.cgroup, rec.cgroup_paths = nil, nil, nil, nil, nil
  state.write(id, rec)
  return true
end

local swept = false

-- Once per process, before its first container: what processes killed
-- before they could clean up left behind is released.
local function sweep_once()
  if swept then return end
  swept = true
  local ok, n, err = pcall(state.sweep, release_record)
  if ok and not n and err then state.warn("not cleaning up after killed containers: " .. err) end
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

-- The seccomp filter and Landlock rules in force, as plain data.
local function confinement(cfg)
  local ll = cfg.landlock
  return {
    seccomp = cfg.seccomp and cfg.seccomp.name or false,
    landlock = ll and { abi = ll.abi, paths = ll.paths, ports = ll.ports, dropped = ll.dropped } or false,
  }
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
    stop_timeout = cfg.stop_timeout, stop_signal = cfg.stop_signal,
    net = type(cfg.net) == "string" and cfg.net or cfg.network.mode,
    confinement = confinement(cfg),
    image = cfg.image and cfg.image.ref, image_layers = cfg.image and cfg.image.layers,
    exec = {
      env = cfg.env, cwd = cfg.cwd, capmask = cfg.capmask, user = cfg.ns.user or nil,
      pivot_root = h.pivot_root, new_session = h.new_session,
      resolve_cwd = h.resolve_cwd, capabilities = h.capabilities,
      no_new_privs = h.no_new_privs,
      seccomp = cfg.seccomp and { policy = cfg.seccomp.policy, capmask = cfg.seccomp.capmask },
      ids = cfg.image and cfg.image.uid and { cfg.image.uid, cfg.image.gid } or nil,
      landlock = cfg.landlock,
    },
  }
end

M.sweep_once = sweep_once
M.undo = undo
M.release = release
M.release_record = release_record
M.ended_record = ended_record
M.host_root = host_root
M.new_record = new_record
M.confinement = confinement
M.fields = fields
M.cgroup_module = cgroup_module
M.own_cgroup = own_cgroup

return M
