-- Helpers for checking an effect from the host's side: files under /proc,
-- mount tables, throwaway directories and long-lived children to look at.
local nsl = require "nsl"
local T = require "nsltest"

local H = {}

function H.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

-- The mount points of a process ("self" or a pid), as a set of paths.
function H.mounts(pid)
  local set = {}
  local data = assert(H.read(("/proc/%s/mountinfo"):format(pid or "self")))
  for line in data:gmatch("[^\n]+") do
    local target = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    set[target:gsub("\\040", " ")] = true
  end
  return set
end

-- The options of the mount at target ("rw,nosuid,..."), or nil.
function H.mount_options(target, pid)
  local data = assert(H.read(("/proc/%s/mountinfo"):format(pid or "self")))
  local opts
  for line in data:gmatch("[^\n]+") do
    local t, o = line:match("^%S+ %S+ %S+ %S+ (%S+) (%S+)")
    if t == target then opts = o end -- the last one is on top
  end
  return opts
end

-- A fresh directory under /tmp; H.rmtree removes it.
function H.tmpdir()
  local out, ok = T.sh("mktemp -d /tmp/nsl-spec.XXXXXX")
  assert(ok, "mktemp failed")
  return out
end

function H.rmtree(dir)
  assert(dir:match("^/tmp/nsl%-spec%.%w+$"), "refusing to remove " .. dir)
  os.execute("rm -rf " .. T.quote(dir))
end

-- A child in new namespaces that stays alive (it execs sleep) so the host
-- can look at it; stop it with H.stop. fn, if given, runs first inside.
function H.sleeper(namespaces, opts, fn)
  local pid = assert(nsl.clone(namespaces, function()
    if fn then fn() end
    nsl.exec({ "sleep", "60" })
    return 127
  end, opts))
  -- wait until it is sleep and not still the Lua copy
  for _ = 1, 200 do
    local comm = H.read("/proc/" .. pid .. "/comm")
    if comm == "sleep\n" then break end
    os.execute("sleep 0.01")
  end
  return pid
end

function H.stop(pid)
  nsl.kill(pid, "KILL")
  return nsl.wait(pid)
end

-- Polls pred() for up to about seconds; returns its last result.
function H.eventually(pred, seconds)
  local r
  for _ = 1, math.floor((seconds or 5) * 50) do
    r = pred()
    if r then return r end
    os.execute("sleep 0.02")
  end
  return r
end

-- Whether a process exists and is not a zombie.
function H.alive(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  if not stat then return false end
  return stat:match("%) (%a)") ~= "Z"
end

return H
