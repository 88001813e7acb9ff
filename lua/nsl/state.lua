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
-- <root> is <runtime>/containers, <runtime> being nsl's runtime directory
-- (M.runtime_dir): /run/nsl for root; for other users
-- $XDG_RUNTIME_DIR/nsl when that directory is really theirs, else
-- /tmp/nsl-<uid>, made 0700. NSL_STATE_DIR overrides <root>. <id> is the
-- container's name, or for an unnamed one a generated "_anon-<pid>-<n>" id that
-- no name can take (names start with a letter or digit).
--
-- Nothing here is trusted for being where nsl would have put it: the
-- root must be the caller's own (nsl.owned_dir) every time it is used,
-- reads included, and a record directory or file another uid owns is
-- ignored with a warning. A record is data about nsl's own objects:
-- what it names is checked again before anything is done to it (the
-- container layer's release, M.signal for its PID 1).
--
-- A name is claimed by renaming a directory holding the first record into
-- place, which only one process can win. A record
-- names its owner (the process responsible for cleaning up: the script
-- that started it, or a detached container's supervisor) with its start
-- time, so that a pid reused by another process does not count as alive.
local nsl = require "nsl"
local util = require "nsl.util"

local M = {}

-- ---- small file helpers ---------------------------------------------------

local read_file = util.read_file
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

-- This boot's id: a pid and a start time mean something only within
-- the boot that recorded them.
local boot
function M.boot_id()
  if not boot then
    boot = (read_file("/proc/sys/kernel/random/boot_id") or ""):match("^(%S+)")
  end
  return boot
end

-- What tells the container's PID 1 pid from any other process, to keep
-- in its record when it starts: its start time, its pid and mount
-- namespaces, and the boot. Fields the kernel no longer shows (the
-- process ended already) are left out.
function M.identify(pid)
  return {
    pid_start = M.start_time(pid), pid_ns = nsl.nsid(pid, "pid") or nil,
    mnt_ns = nsl.nsid(pid, "mnt") or nil, boot = M.boot_id(),
  }
end

-- Whether rec.pid is provably the container's PID 1 that rec names: the
-- record is of this boot, and the process alive with the start time and
-- the pid and mount namespaces recorded when it started; and, as a
-- container always has a mount namespace of its own, not in the
-- caller's. true; or nil and why (nil and no message when it has just
-- ended).
function M.verify(rec)
  local pid = rec.pid
  if math.type(pid) ~= "integer" or pid < 2 then
    return nil, ("the record names no container process (pid %s)"):format(tostring(pid))
  end
  if not (rec.boot and math.type(rec.pid_start) == "integer" and math.type(rec.pid_ns) == "integer"
      and math.type(rec.mnt_ns) == "integer") then
    return nil, ("pid %d: the record does not say how to know its PID 1 (start time, namespaces, boot)"):format(pid)
  end
  if rec.boot ~= M.boot_id() then
    return nil, ("pid %d: the record is of another boot"):format(pid)
  end
  if not M.alive(pid, rec.pid_start) then return nil end
  local pid_ns, mnt_ns = nsl.nsid(pid, "pid"), nsl.nsid(pid, "mnt")
  if pid_ns ~= rec.pid_ns or mnt_ns ~= rec.mnt_ns then
    if not M.alive(pid, rec.pid_start) then return nil end
    return nil, ("pid %d is not in the namespaces of the container's PID 1"):format(pid)
  end
  if mnt_ns == nsl.nsid("self", "mnt") then
    return nil, ("pid %d shares the caller's mount namespace: it is no container's PID 1"):format(pid)
  end
  return true
end

-- Sends sig to the PID 1 rec names, only when it provably is the
-- container's (M.verify): a pidfd is opened first, so that what was
-- verified is the process signalled, whatever happens to its pid
-- meanwhile. true; or nil and why (nil and no message when it has just
-- ended).
function M.signal(rec, sig)
  if math.type(rec.pid) ~= "integer" or rec.pid < 2 then return M.verify(rec) end
  local fd = nsl.pidfd(rec.pid)
  if not fd then return nil end
  local ok, why = M.verify(rec)
  if ok then
    local pok, kok, kerr, code = pcall(nsl.pidfd_kill, fd, sig)
    if not pok then
      nsl.close(fd)
      error(kok, 0) -- a bad signal name
    end
    if not kok and code ~= 3 then why = kerr end -- 3: ESRCH, it ended
    ok = kok
  end
  nsl.close(fd)
  return ok, why
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

-- ---- trust ---------------------------------------------------------------------

local warned = {}

-- Says on stderr, once per process and message, what nsl left alone.
function M.warn(msg)
  if warned[msg] then return end
  warned[msg] = true
  io.stderr:write("nsl: ", msg, "\n")
end

-- true when path is a directory of the caller's own (nsl.owned_dir:
-- reached from / without a symbolic link, through directories that only
-- root or the caller can change, owned by the caller and writable by no
-- one else; opts.private: closed to others too; opts.create: made when
-- missing); else nil, why, errno (2: it, or a directory on its way, is
-- missing). why does not repeat path first.
-- A path found to be the caller's own is not walked again by this
-- process: another user cannot undo what made it so (no directory on its
-- way is theirs to change), and a container start asks several times.
-- One to be made is looked at again if it is gone.
local owned_paths = {}
function M.owned(path, opts)
  local key = (opts and opts.private) and path .. "\0private" or path
  if owned_paths[key] and not (opts and opts.create and not nsl.lstat(path)) then return true end
  local d, err, code = nsl.owned_dir(path, opts)
  if not d then
    err = tostring(err)
    if err:sub(1, #path + 2) == path .. ": " then err = err:sub(#path + 3) end
    return nil, err, code
  end
  d:close()
  owned_paths[key] = true
  return true
end

-- What is wrong with an entry nsl would use as its own (st: its lstat),
-- or nil: a directory (kind) of the caller's that no one else can write,
-- or a file of the caller's (in such a directory, which nsl makes 0700:
-- its own mode then does not matter).
local function foreign(st, kind)
  local me = nsl.geteuid()
  if st.type ~= kind then return ("a %s, not a %s"):format(st.type, kind) end
  if st.uid ~= me then return ("owned by uid %d, not by you (uid %d)"):format(st.uid, me) end
  if kind == "directory" and st.mode & 18 ~= 0 then
    return ("writable by other users (mode %04o)"):format(st.mode)
  end
  return nil
end
M.foreign = foreign

-- The owner of the first symbolic link on path, for a refusal that names
-- who made it.
local function link_owner(path)
  local sofar = ""
  for part in path:gmatch("[^/]+") do
    sofar = sofar .. "/" .. part
    local st = nsl.lstat(sofar)
    if not st then return nil end
    if st.type == "symlink" then return sofar, st.uid end
  end
end

-- ---- the state root -----------------------------------------------------------

-- Where nsl's runtime directory is, unchecked, and whether it lies in a
-- shared place (then it must be closed to others too).
local function runtime_path()
  local me = nsl.geteuid()
  if me == 0 then return "/run/nsl", false end
  -- $XDG_RUNTIME_DIR only when it is really the caller's: a sudo or
  -- setpriv may have left root's (or another user's) in the environment
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if xdg and xdg:sub(1, 1) == "/" and M.owned(xdg) then return xdg .. "/nsl", false end
  return ("/tmp/nsl-%d"):format(me), true
end

-- nsl's directory for runtime state of this user, made when missing:
-- /run/nsl for root, else $XDG_RUNTIME_DIR/nsl when that directory is
-- really theirs, else /tmp/nsl-<uid> (0700). It is returned only when it
-- is the caller's own (M.owned), checked on every call; else nil and why.
function M.runtime_dir()
  local dir, shared = runtime_path()
  local ok, err = M.owned(dir, { create = 448, private = shared })
  if not ok then return nil, err end
  return dir
end

-- Where the state root is, unchecked: $NSL_STATE_DIR, else the runtime
-- directory's containers; and whether NSL_STATE_DIR named it.
function M.root_path()
  local env = os.getenv("NSL_STATE_DIR")
  if env and env ~= "" then return env, true end
  return runtime_path() .. "/containers", false
end

-- The refusal of an untrusted state root: the path, what is wrong (err
-- names the owner), and the ways out.
local function refusal(root, explicit, err)
  local path, uid = link_owner(root)
  if path then err = ("%s (the link %s is uid %d's)"):format(err, path, uid) end
  local out
  if explicit then
    out = "set NSL_STATE_DIR to a directory of your own"
  else
    out = ("set XDG_RUNTIME_DIR or NSL_STATE_DIR to a directory of your own, or have %s removed by its owner or root")
      :format(runtime_path())
  end
  return ("state directory %s is not to be trusted: %s (way out: %s)"):format(root, err, out)
end

-- The state root: its path when it is the caller's own (M.owned,
-- private), checked on every call, reads included, or when it does not
-- exist yet; made first when create is true. nil and a refusal that
-- names the path, its owner and the way out when it is not to be
-- trusted.
function M.root(create)
  local root, explicit = M.root_path()
  if create and not explicit then
    local _, err = M.runtime_dir()
    if err then return nil, refusal(root, false, err) end
  end
  local ok, err, code = M.owned(root, { create = create and 448 or nil, private = true })
  if ok then return root end
  if code == 2 and not create then return root end
  return nil, refusal(root, explicit, err)
end

-- The directory of id (unchecked: the callers check the root first).
function M.dir(id)
  return M.root_path() .. "/" .. id
end

-- What makes the record directory path not the caller's to use: the
-- directory or its state file is another's, or writable by others; or
-- nil.
local function foreign_record(path)
  local st = nsl.lstat(path)
  local why = st and foreign(st, "directory")
  local fst = st and not why and nsl.lstat(path .. "/state")
  if fst and foreign(fst, "file") then why = "its state is " .. foreign(fst, "file") end
  return why
end

-- The record in the directory path, or nil: a directory and a state file
-- of the caller's own, whose record is for id (when given). Another's is
-- ignored, with a warning: nil, true.
local function read_record(path, id)
  local why = foreign_record(path)
  if why then
    M.warn(("ignoring the record %s: %s"):format(path, why))
    return nil, true
  end
  local rec = M.decode(read_file(path .. "/state"))
  -- A container's network was its "plan" in the records an older nsl
  -- wrote: read under its new name, so that containers it started are
  -- still released (the one place that knows the old name).
  if type(rec) == "table" and rec.network == nil then rec.network, rec.plan = rec.plan, nil end
  if rec and id and rec.id ~= id then
    M.warn(("ignoring the record %s: it is for %s"):format(path, tostring(rec.id)))
    return nil, true
  end
  return rec
end

-- The record of id, or nil (and why, when the state root is not to be
-- trusted).
function M.read(id)
  local root, err = M.root()
  if not root then return nil, err end
  return (read_record(root .. "/" .. id, id))
end

function M.write(id, record)
  local root, err = M.root()
  if not root then return nil, err end
  return write_atomic(root .. "/" .. id .. "/state", "return " .. M.encode(record) .. "\n")
end

-- The ids of every container with a state directory (unnamed ones too);
-- nil and why when the state root is not to be trusted.
function M.ids()
  local root, err = M.root()
  if not root then return nil, err end
  local out = {}
  for _, n in ipairs(nsl.readdir(root) or {}) do
    if not n:find("^%.stale%-") and not n:find("^%.claim%-") then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

-- Removes a container's directory and what is in it (files only: the
-- state, the logs, the exit file), when it is the caller's own.
function M.remove(id, dir)
  if not dir then
    local root, err = M.root()
    if not root then return nil, err end
    dir = root .. "/" .. id
  end
  local st = nsl.lstat(dir)
  if not st then return true end
  local why = foreign(st, "directory")
  if why then
    M.warn(("not removing %s: %s"):format(dir, why))
    return nil, ("%s is %s"):format(dir, why)
  end
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
-- dead owner is handed to release(record) (which must release its host
-- resources) and the claim retried.
function M.claim(id, record, release)
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
    local why = foreign_record(dir)
    local msg
    if why then
      msg = ("the name %s is taken by %s, which is %s"):format(id, dir, why)
    elseif status == "running" or status == "starting" then
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
    M.sweep_one(id, release)
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
-- record to release (if any) to release what it held on the host,
-- removes the directory. Returns true if this call did it. A directory
-- that is not the caller's own is left alone.
function M.sweep_one(id, release)
  local root = M.root()
  if not root then return false end
  local dir = root .. "/" .. id
  if not nsl.lstat(dir) or foreign_record(dir) then return false end
  local aside = ("%s/.stale-%s-%d"):format(root, id, nsl.getpid())
  if not os.rename(dir, aside) then return false end
  local rec, ignored = read_record(aside, id)
  if ignored then
    os.rename(aside, dir)
    return false
  end
  -- Between reading and renaming, the owner may have come back to life
  -- only if it was never dead: a record whose owner is alive is put back.
  if rec and M.status(rec) ~= "stale" then
    os.rename(aside, dir)
    return false
  end
  if rec and release then
    local ok, err = pcall(release, rec)
    if not ok then
      io.stderr:write("nsl: cleaning up after container ", id, ": ", tostring(err), "\n")
    end
  end
  M.remove(id, aside)
  return true
end

-- Cleans up every stale record (release: as for sweep_one); returns how
-- many, or nil and why when the state root is not to be trusted.
function M.sweep(release)
  local root, err = M.root()
  if not root then return nil, err end
  local n = 0
  for _, name in ipairs(nsl.readdir(root) or {}) do
    local path = root .. "/" .. name
    if name:find("^%.stale%-") or name:find("^%.claim%-") then
      -- left by a sweeper or a claimer that died half way
      local rec, ignored = read_record(path)
      if nsl.lstat(path) and not ignored then
        local pid = tonumber(name:match("^%.stale%-.*%-(%d+)$")) or (rec and rec.owner)
          or math.tointeger(tonumber(name:match("^%.claim%-(%d+)%-")))
        local start = not name:find("^%.stale") and rec and rec.owner_start or nil
        if not (pid and M.alive(pid, start)) then
          if rec and release then pcall(release, rec) end
          M.remove(name, path)
        end
      end
    else
      local rec, ignored = read_record(path, name)
      if not ignored and M.status(rec) == "stale" and M.sweep_one(name, release) then n = n + 1 end
    end
  end
  return n
end

return M
