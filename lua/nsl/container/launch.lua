-- Launching a container's PID 1: the network made first (veth, bridge),
-- the clone with its plan, the handshake on the status and go pipes;
-- a step that fails undoes the start (host.undo). Also where nsl's
-- helper programs (nsl-init, nsl-monitor) are found.
local nsl = require "nsl"
local state = require "nsl.state"
local spec = require "nsl.container.spec"
local setup = require "nsl.container.setup"
local registry = require "nsl.container.registry"
local host = require "nsl.container.host"

local M = {}

local read_file = state.read_file
local namespace_list = spec.namespace_list
local child_steps, command_steps = setup.child_steps, setup.command_steps
local make_plan, child_main = setup.make_plan, setup.child_main
local undo = host.undo

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
local init_path, init_copy
local function init_binary()
  if init_path == nil then init_path = helper("nsl-init", "NSL_INIT") or false end
  return init_path or nil
end

-- A descriptor to execute nsl-init from: a sealed copy in memory, made
-- when this module loads and kept for the process's life (the
-- container's /proc/1/exe then leads to nothing of the host's: nothing
-- can write it), or, where memfds cannot be made, the file (opened per
-- start: owned says so).
local function init_exec_fd()
  local path = init_binary()
  if not path then return nil end
  if init_copy == nil then init_copy = nsl.sealed_copy(path, "nsl-init") or false end
  if init_copy then return init_copy, false end
  return nsl.open(path, "rdonly"), true
end
init_exec_fd()

-- The seccomp programs nsl-init installs in the command's process (its
-- -f), in a pipe: each a 32-bit length and the program.
local function filter_pipe(filter)
  local data = {}
  for _, p in ipairs(filter.programs) do data[#data + 1] = string.pack("=I4", #p) .. p end
  data = table.concat(data)
  if #data > 65536 then return nil, "seccomp: the filter is larger than a pipe holds (64 KiB)" end
  local r, w = assert(nsl.pipe())
  local ok, err = nsl.write(w, data)
  nsl.close(w)
  if not ok then nsl.close(r); return nil, "seccomp: " .. tostring(err) end
  return r
end

-- A veth or bridge network is made before the container's process, in
-- a network namespace of its own (nsl.newns) that the child joins as
-- its first step: then nothing has to happen between the clone and the
-- exec, and the start takes the short path (a plan run through, with
-- the caller's memory shared, src/ns.c). With a user namespace, the
-- network namespace must be made by the clone to be the container's
-- own (owned by its user namespace): then the child waits for the
-- caller to set the network up from outside. Returns the namespace's
-- fd, nothing when it is not made first, or nil and why.
local function network_first(cfg)
  if not (cfg.network.outside and not cfg.ns.user) then return nil end
  local fd, err = nsl.newns("net")
  if not fd then return nil, "network: " .. tostring(err) end
  local ok, serr = pcall(cfg.network.setup, cfg.network, "/proc/self/fd/" .. fd, nsl.getpid())
  if not ok then
    nsl.close(fd)
    return nil, "network: " .. tostring(serr)
  end
  return fd
end

-- The child's first steps, before its root: its cgroups, the network
-- namespace made first, dumpable, the pipes' other ends, its stdio.
-- Returns them, the cgroups the caller writes it into (nsl.clone's
-- cgroups) and whether it joins them itself.
local function pre_steps(cfg, opts, l)
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
  if l.netfd then pre[#pre + 1] = { "setns", "network namespace", l.netfd } end
  -- Until its exec, this process is the host's nsl binary: when root
  -- runs it, not dumpable, so the container cannot open the binary
  -- through /proc/<pid>/exe (runc's CVE-2019-5736). The exec of the
  -- command makes it dumpable again; an init (cfg.init) stays so.
  -- Rootless, the binary is out of the container's reach anyway (it
  -- cannot write a file its user could not), and a non-dumpable init
  -- would keep that user from joining the container (c:exec).
  if nsl.geteuid() == 0 then pre[#pre + 1] = { "dumpable_off", "dumpable" } end
  pre[#pre + 1] = { "close", "close", l.status_r }
  if l.go_w then pre[#pre + 1] = { "close", "close", l.go_w } end
  if opts.stdio then
    for i = 0, 2 do pre[#pre + 1] = { "dup2", "stdio", opts.stdio[i], i } end
  end
  return pre, cgroups, joins
end

-- The child's plan (l.body) and the pipes of the handshake, in l (which
-- holds netfd, the network namespace made first). Returns l, or nil and
-- "plan: <reason>" after closing what it opened.
local function build_plan(cfg, opts, l)
  l.status_r, l.status_w = assert(nsl.pipe())
  -- The child waits for a go once it is ready only when the caller has
  -- something to do first: its network, on_start.
  l.outside = cfg.network.outside and not l.netfd
  if l.outside or opts.ready then l.go_r, l.go_w = assert(nsl.pipe()) end
  local pre
  pre, l.cgroups, l.joins = pre_steps(cfg, opts, l)
  local init_fd, owned
  if cfg.init and type(cfg.command) == "table" then init_fd, owned = init_exec_fd() end
  l.init_fd = owned and init_fd or nil
  local ok, plan, lua = true, nil, nil
  if init_fd and cfg.seccomp and cfg.hardening.no_new_privs then
    l.filter_fd, plan = filter_pipe(cfg.seccomp)
    ok = l.filter_fd ~= nil
  end
  local status_w = l.status_w
  if ok then
    local steps = command_steps(cfg, child_steps(cfg, pre), status_w, init_fd, l.filter_fd)
    ok, plan, lua = pcall(make_plan, steps, status_w, l.go_r)
  end
  if not ok then
    if l.init_fd then nsl.close(l.init_fd) end
    if l.filter_fd then nsl.close(l.filter_fd) end
    nsl.close(l.status_r); nsl.close(status_w)
    if l.go_r then nsl.close(l.go_r); nsl.close(l.go_w) end
    return nil, "plan: " .. tostring(plan)
  end
  l.body = plan
  if #lua > 0 then l.body = function() return child_main(plan, lua, status_w) end end
  return l
end

-- Clones PID 1 with its plan and closes what the child took with it.
-- Returns the pid, or nil and "<step>: <reason>".
local function clone(cfg, l)
  -- the namespaces the child does not get another way (a network made
  -- before it, a cgroup namespace made once it is in its groups)
  local pid, cerr, errno = nsl.clone(namespace_list(cfg.ns, { net = l.netfd, cgroup = l.joins }), l.body,
    { uid_map = cfg.uid_map, gid_map = cfg.gid_map, pdeathsig = "KILL",
      collect = false, cgroups = l.cgroups })
  nsl.close(l.status_w)
  if l.go_r then nsl.close(l.go_r) end
  if l.netfd then nsl.close(l.netfd) end
  if l.init_fd then nsl.close(l.init_fd) end
  if l.filter_fd then nsl.close(l.filter_fd) end
  if pid then return pid end
  local hint = cfg.ns.user and nsl.geteuid() ~= 0 and (errno == 1 or errno == 28 or errno == 13)
    and M.userns_hint()
  -- clone fails at the namespaces or at writing the id maps
  local e = tostring(cerr)
  local step = (e:find("_map", 1, true) or e:find("setgroups", 1, true)) and "id maps: " or "namespaces: "
  return nil, step .. e .. (hint and (": " .. hint) or "")
end

-- The handshake with the cloned child: its network set up from outside
-- (with a user namespace), its "R", on_start (opts.ready), the go, and
-- the report of its exec. Returns pid, or nil and "<step>: <reason>"
-- after undoing the start (host.undo: the caller's ends of the pipes
-- still open, l.fds, and the process self.pid with the rest).
local function handshake(self, cfg, opts, l, pid)
  local status_r = l.status_r
  if l.outside then
    local nok, nerr = pcall(cfg.network.setup, cfg.network, pid)
    if not nok then
      -- The child may have failed first, its network namespace going
      -- with it under the setup: then its own report names the step.
      local early = #nsl.poll({ status_r }, 0) > 0 and nsl.read(status_r) or ""
      if early:sub(1, 1) == "E" then return undo(self, early:sub(2), l.fds) end
      return undo(self, "network: " .. tostring(nerr), l.fds)
    end
  end
  local msg = nsl.read(status_r) or ""
  if msg:sub(1, 1) ~= "R" then
    if msg == "" then
      nsl.kill(pid, "KILL")
      local _, how, n = nsl.wait(pid)
      registry.drop(pid)
      self.pid = nil
      return undo(self, ("setup: the container ended during setup (%s %s)"):format(how, n), l.fds)
    end
    return undo(self, msg:sub(2), l.fds)
  end
  if opts.ready then
    local rok, rerr = opts.ready(pid)
    if not rok then return undo(self, rerr, l.fds) end
  end
  if l.go_w then
    nsl.write(l.go_w, "G")
    nsl.close(l.go_w)
  end
  -- A child that did not wait for a go may have written its exec's
  -- failure in the same read as its "R".
  msg = msg:sub(2)
  if msg == "" then msg = nsl.read(status_r) or "" end
  nsl.close(status_r)
  l.fds = {}
  if msg ~= "" then return undo(self, msg:sub(2)) end
  return pid
end

-- Clones the container's PID 1 (self.pid), sets up its network, runs
-- on_start (through ready(pid) when given) and lets it exec its command.
-- Returns the pid, or nil and "<step>: <reason>" after undoing the
-- start (host.undo) as far as self holds it: in the script, all of it;
-- in a detached container's supervisor, its own part (the process and
-- the network), the script undoing the rest.
local function launch(self, cfg, opts)
  local netfd, nerr = network_first(cfg)
  if nerr then return undo(self, nerr) end
  local l, perr = build_plan(cfg, opts, { netfd = netfd })
  if not l then return undo(self, perr, { netfd }) end
  local pid, cerr = clone(cfg, l)
  l.fds = { l.status_r, l.go_w }
  if not pid then return undo(self, cerr, l.fds) end
  self.pid = pid
  if opts.track then
    registry.add(pid, self)
    nsl.forward_signals(pid, cfg.stop_timeout)
    self._forwarding = pid
  end
  return handshake(self, cfg, opts, l, pid)
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

M.launch = launch
M.helper_paths = helper_paths

return M
