-- Container state on the host: one directory per container under the
-- state root, so that other processes (nsl ps, nsl exec, a later script)
-- can find a container, and so that what a dead process left behind can
-- be found and cleaned up.
--
--   <root>/<id>/state     the record: a Lua table literal, replaced
--                         atomically (written to state.tmp, renamed)
--   <root>/<id>/log       output of a detached container (and log.1)
--   <root>/<id>/exit      written by the supervisor when it ended
--
-- <root> is /run/nsl/containers for root; for other users their runtime
-- directory ($XDG_RUNTIME_DIR/nsl/containers when it is theirs), else
-- /tmp/nsl-<uid>/containers; NSL_STATE_DIR overrides it. <id> is the
-- container's name, or for an unnamed one a generated "_anon-<pid>-<n>" id that
-- no name can take (names start with a letter or digit).
--
-- A name is claimed by renaming a directory holding the first record into
-- place, which only one process can win. A record
-- names its owner (the process responsible for cleaning up: the script
-- that started it, or a detached container's supervisor) with its start
-- time, so that a pid reused by another process does not count as alive.
local nsl = require "nsl"

local M = {}

-- ---- small file helpers ---------------------------------------------------

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.read_file = read_file

-- Writes text to path through a temporary file and a rename: readers see
-- the old or the new content, never a part.
local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp); return nil, werr end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); return nil, rerr end
  return true
end
M.write_atomic = write_atomic

local function mkdirs(path, mode)
  local sofar = ""
  for part in path:gmatch("[^/]+") do
    sofar = sofar .. "/" .. part
    local ok, err, code = nsl.mkdir(sofar, mode)
    if not ok and code ~= 17 then return nil, err end
  end
  return true
end

-- ---- processes --------------------------------------------------------------

-- The start time of a process (field 22 of /proc/<pid>/stat, in clock
-- ticks since boot), which tells it from a later process with its pid.
function M.start_time(pid)
  local stat = read_file("/proc/" .. tostring(pid) .. "/stat")
  local rest = stat and stat:match("%) (.*)$")
  if not rest then return nil end
  local i = 2
  for field in rest:gmatch("%S+") do
    i = i + 1
    if i == 22 then return tonumber(field) end
  end
end

-- Is the process pid, started at start, still there (and not a zombie)?
function M.alive(pid, start)
  if math.type(pid) ~= "integer" then return false end
  local stat = read_file("/proc/" .. pid .. "/stat")
  local rest = stat and stat:match("%) (.*)$")
  if not rest then return false end
  local st = rest:sub(1, 1)
  if st == "Z" or st == "X" then return false end
  return start == nil or M.start_time(pid) == start
end

-- ---- records ------------------------------------------------------------------

-- A Lua literal for plain data (tables, strings, numbers, booleans);
-- keys sorted, so that the text is stable.
local function encode(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = ("%q"):format(v)
  elseif t == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = ("%d"):format(v)
    elseif v ~= v then
      out[#out + 1] = "0/0"
    elseif v == math.huge or v == -math.huge then
      out[#out + 1] = v > 0 and "math.huge" or "-math.huge"
    else
      out[#out + 1] = ("%.17g"):format(v)
    end
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    local n = #v
    local keys = {}
    for k, x in pairs(v) do
      local kt, xt = type(k), type(x)
      local plain = xt ~= "function" and xt ~= "userdata" and xt ~= "thread"
      local in_array = math.type(k) == "integer" and k >= 1 and k <= n
      if plain and not in_array and (kt == "string" or kt == "number") then
        keys[#keys + 1] = k
      end
    end
    table.sort(keys, function(x, y)
      if type(x) == type(y) then return x < y end
      return type(x) == "number"
    end)
    out[#out + 1] = "{"
    for i = 1, n do
      encode(v[i], out)
      out[#out + 1] = ","
    end
    for _, k in ipairs(keys) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") then
        out[#out + 1] = k .. "="
      else
        out[#out + 1] = "["
        encode(k, out)
        out[#out + 1] = "]="
      end
      encode(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = "nil"
  end
  return out
end

function M.encode(v)
  return table.concat(encode(v, {}))
end

-- Only nsl (as the directory's owner) writes records, so they are read as
-- data: a chunk with no access to anything, limited to a table literal.
function M.decode(text)
  if type(text) ~= "string" or not text:match("^return {") then return nil end
  local chunk = load(text, "=state", "t", { math = { huge = math.huge } })
  if not chunk then return nil end
  local ok, v = pcall(chunk)
  if ok and type(v) == "table" then return v end
  return nil
end

-- ---- the state root -----------------------------------------------------------

local cached_root

-- nsl's directory for runtime state of this user: /run/nsl for root, else
-- $XDG_RUNTIME_DIR/nsl when that directory is really theirs (a sudo or
-- setpriv may have left root's in the environment); nil when there is
-- none.
function M.runtime_dir()
  if nsl.geteuid() == 0 then return "/run/nsl" end
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  local st = xdg and xdg:sub(1, 1) == "/" and nsl.lstat(xdg)
  if st and st.type == "directory" and st.uid == nsl.geteuid() then
    return xdg .. "/nsl"
  end
  return nil
end

-- The state root for this user; created (0700, checked to be ours) on
-- demand when create is true. Returns the path, or nil and why.
function M.root(create)
  local env = os.getenv("NSL_STATE_DIR")
  local root
  if env and env ~= "" then
    root = env
  else
    local base = M.runtime_dir()
    root = base and base .. "/containers" or ("/tmp/nsl-%d/containers"):format(nsl.geteuid())
  end
  if not create or cached_root == root then return root end
  local ok, err = mkdirs(root, 448)
  if not ok then return nil, "state directory: " .. tostring(err) end
  -- Outside root's /run, a directory someone else made first could be a
  -- trap: it must be ours and closed to others.
  local parent = root:match("^(.*)/[^/]+$")
  for _, d in ipairs({ root, parent }) do
    local st = nsl.lstat(d)
    if not st or st.type ~= "directory" or st.uid ~= nsl.geteuid() then
      return nil, ("state directory %s is not a directory owned by uid %d"):format(d, nsl.geteuid())
    end
  end
  cached_root = root
  return root
end

function M.dir(id)
  return M.root() .. "/" .. id
end

-- The record of id, or nil.
function M.read(id)
  return M.decode(read_file(M.dir(id) .. "/state"))
end

function M.write(id, record)
  return write_atomic(M.dir(id) .. "/state", "return " .. M.encode(record) .. "\n")
end

-- The ids of every container with a state directory (unnamed ones too).
function M.ids()
  local names = nsl.readdir(M.root()) or {}
  local out = {}
  for _, n in ipairs(names) do
    if not n:find("^%.stale%-") and not n:find("^%.claim%-") then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

-- Removes a container's directory and what is in it (files only: the
-- state, the logs, the exit file).
function M.remove(id, dir)
  dir = dir or M.dir(id)
  for _, n in ipairs(nsl.readdir(dir) or {}) do
    os.remove(dir .. "/" .. n)
  end
  local ok, err, code = nsl.rmdir(dir)
  if ok or code == 2 then return true end
  return nil, err
end

-- Claims id for a new container, with its first record: true, or nil and
-- a message when a live container has it. The directory is made under a
-- temporary name with the record in it, then renamed into place: a
-- directory with its id never exists without a record. A record left by a
-- dead owner is handed to reap(record) (which must release its host
-- resources) and the claim retried.
function M.claim(id, record, reap)
  local root, err = M.root(true)
  if not root then return nil, err end
  local dir = root .. "/" .. id
  -- the claimer's pid in the name: a sweeper can tell a claim in the
  -- making from one whose process died before it wrote the record
  local tmp, terr = nsl.mkdtemp(root .. "/.claim-" .. nsl.getpid() .. "-")
  if not tmp then return nil, "state directory: " .. tostring(terr) end
  local ok, werr = write_atomic(tmp .. "/state", "return " .. M.encode(record) .. "\n")
  if not ok then M.remove(nil, tmp); return nil, "state: " .. tostring(werr) end
  for _ = 1, 3 do
    if os.rename(tmp, dir) then return true end
    local rec = M.read(id)
    local status = M.status(rec)
    local msg
    if status == "running" or status == "starting" then
      msg = ("the name %s is in use by a running container (pid %s)"):format(id,
        tostring(rec.pid or rec.owner))
    elseif status == "exited" then
      msg = ("the name %s is taken by an exited container; remove it first (nsl rm %s)"):format(id, id)
    end
    if msg then
      M.remove(nil, tmp)
      return nil, msg
    end
    -- Stale: move it aside (one process wins that), clean up, try again.
    M.sweep_one(id, reap)
  end
  M.remove(nil, tmp)
  return nil, ("the name %s is in use"):format(id)
end

-- What a record says, checked against the processes it names:
--   "starting"  its owner is alive and the container not started yet
--   "running"   its owner and the container's PID 1 are alive
--   "exited"    the container ended and its end was recorded
--   "stale"     its owner died without recording an end: its state and
--               host resources are for sweep_one to clean up
function M.status(rec)
  if type(rec) ~= "table" then return "stale" end
  if rec.status == "exited" and not rec.owner then return "exited" end
  local owner_alive = rec.owner and M.alive(rec.owner, rec.owner_start)
  if not owner_alive then
    -- A detached container's supervisor may have just died (it records
    -- the end, then runs the cleanup, then clears itself): an exit
    -- recorded counts.
    return "stale"
  end
  if rec.status == "exited" then return "exited" end
  if not rec.pid then return "starting" end
  if M.alive(rec.pid, rec.pid_start) then return "running" end
  return "exited"
end

-- Cleans up after a stale record: moves its directory aside, gives the
-- record to reap (if any) to release what it held on the host, removes
-- the directory. Returns true if this call did it.
function M.sweep_one(id, reap)
  local dir = M.dir(id)
  local aside = ("%s/.stale-%s-%d"):format(M.root(), id, nsl.getpid())
  if not os.rename(dir, aside) then return false end
  local rec = M.decode(read_file(aside .. "/state"))
  -- Between reading and renaming, the owner may have come back to life
  -- only if it was never dead: a record whose owner is alive is put back.
  if rec and M.status(rec) ~= "stale" then
    os.rename(aside, dir)
    return false
  end
  if rec and reap then
    local ok, err = pcall(reap, rec)
    if not ok then
      io.stderr:write("nsl: cleaning up after container ", id, ": ", tostring(err), "\n")
    end
  end
  M.remove(id, aside)
  return true
end

-- Cleans up every stale record; returns how many.
function M.sweep(reap)
  if not nsl.lstat(M.root()) then return 0 end
  local n = 0
  for _, name in ipairs(nsl.readdir(M.root()) or {}) do
    if name:find("^%.stale%-") or name:find("^%.claim%-") then
      -- left by a sweeper or a claimer that died half way
      local path = M.root() .. "/" .. name
      local rec = M.decode(read_file(path .. "/state"))
      local pid = tonumber(name:match("^%.stale%-.*%-(%d+)$")) or (rec and rec.owner)
        or math.tointeger(tonumber(name:match("^%.claim%-(%d+)%-")))
      local start = not name:find("^%.stale") and rec and rec.owner_start or nil
      if not (pid and M.alive(pid, start)) then
        if rec and reap then pcall(reap, rec) end
        M.remove(name, path)
      end
    elseif M.status(M.read(name)) == "stale" then
      if M.sweep_one(name, reap) then n = n + 1 end
    end
  end
  return n
end

return M
