-- How a container's end becomes known: for one of this process's, from
-- its PID 1's exit; for one found by name (another script's, or a
-- detached one), from a pidfd and the record its owner writes.
local nsl = require "nsl"
local state = require "nsl.state"
local host = require "nsl.container.host"
local registry = require "nsl.container.registry"

local M = {}

local release = host.release

-- ended: the container's PID 1 ended, and this process reaped it: how
-- is recorded on the handle, then what it held on the host released
-- (host.release). A detached container's end goes into its record
-- instead (host.ended_record).
local function ended(self, ok, how, n, oom)
  if self.pid then registry.drop(self.pid) end
  self.status = { ok, how, n, oom }
  self.pid = nil
  self.state = "exited"
  release(self)
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
  if registry.owns(self) then return self.pid end
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

M.ended = ended
M.oom_of = oom_of
M.status_of = status_of
M.wait_other = wait_other
M.watch_pid = watch_pid

return M
