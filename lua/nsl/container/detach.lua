-- Detached containers (detach = true): a supervisor process of its own
-- session launches the container, records it with itself as the owner,
-- and becomes nsl-monitor, which logs the output, records the end and
-- runs `nsl __reap`; the script's start() returns once it is running.
local nsl = require "nsl"
local state = require "nsl.state"
local spec = require "nsl.container.spec"
local host = require "nsl.container.host"
local launch_mod = require "nsl.container.launch"

local M = {}

local DEFAULT_PATH = spec.DEFAULT_PATH
local fields = host.fields
local launch, helper_paths = launch_mod.launch, launch_mod.helper_paths

-- The supervisor's part of a detached start: in a process of its own
-- session, it launches the container with its output going to a pipe,
-- records it as running with itself as the owner, and becomes the
-- monitor (nsl-monitor), which logs the output, records the end and then
-- runs `nsl __reap` to clean up (host.ended_record).
local function supervisor_main(self, cfg, rec, res_w, cmd_r, bin, monitor)
  nsl.stop_forwarding()
  nsl.setsid()
  -- This copy of the handle holds only what this process makes, the
  -- network and the process, for a failed launch to undo: the root, the
  -- cgroup and the record are the script's, which undoes them then.
  self._root, self._cg, self._id, self._forwarding = nil, nil, nil, nil
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
  rec.network, rec.address = fields(cfg.network.setup and cfg.network or nil), cfg.network.address
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
  host.ended_record(rec.id, { how = "exit", code = 127 })
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
  self._root, self._network = nil, nil -- the supervisor's now
  return true
end

M.start = start_detached

return M
