-- The address leases of bridge mode (nsl.netmode): where a bridge's
-- leases are kept, claiming and releasing an address, and whether any
-- running container still holds one (taking back what dead owners left).
--
-- A bridge is a link of one network namespace, the one its first
-- container was set up from; a bridge of the same name in another is
-- another bridge. So leases are kept by bridge and namespace: under
-- <state_dir>/<bridge>@<namespace inode> (M.lease_dir).
--
-- A lease is the directory <lease_dir>/<address>, holding the file
-- "owner": "<pid> <start time>". It is made whole under a private name, then
-- renamed into place: rename(2) fails when a lease is already there (the
-- directory is not empty), so two containers cannot claim one address. A
-- lease whose owner is gone (no such process, or another one with its pid)
-- is taken back by renaming it away first: only one claimer can win that.
--
-- The lease directories are used only while they are the caller's own
-- (state.owned: no link on the way, owned by the caller, writable by no
-- one else), and a lease or claim another uid owns is neither counted nor
-- taken back nor removed: it is ignored, with a warning.

local nsl = require "nsl"
local state = require "nsl.state"
local util = require "nsl.util"
local addr = require "nsl.netmode.address"

local M = {}

-- Where the leases are kept: one directory per bridge and namespace.
M.state_dir = "/run/nsl/net"

local read_file, start_time = state.read_file, state.start_time
local fail, describe = util.fail, util.describe
local ipv4, is_ipv6, same_net = addr.ipv4, addr.is_ipv6, addr.same_net
local check_ifname = addr.check_ifname

-- Whether the lease (or claim) directory at dir is the caller's own, as
-- its owner file; another's is ignored, with a warning.
local function own_lease(dir)
  local st = nsl.lstat(dir)
  if not st then return false end
  local why = state.foreign(st, "directory")
  local ost = not why and nsl.lstat(dir .. "/owner")
  if ost then why = state.foreign(ost, "file") and ("its owner file is " .. state.foreign(ost, "file")) end
  if why then
    state.warn(("ignoring the lease %s: %s"):format(dir, why))
    return false
  end
  return true
end

-- An address as a lease is named: its text, nothing that leads out of
-- the lease directory.
local function lease_name(address)
  return type(address) == "string" and (ipv4(address) ~= nil or is_ipv6(address)) and not address:find("/", 1, true)
end

local function owner_alive(dir)
  local owner = read_file(dir .. "/owner")
  if not owner then return false end
  local pid, start = owner:match("^(%d+) (%d+)")
  -- a zombie (a container killed with its script, not reaped yet) is dead
  return pid ~= nil and state.alive(math.tointeger(tonumber(pid)), tonumber(start))
end

local function mkdirs(path)
  local sofar = ""
  for part in path:gmatch("[^/]+") do
    sofar = sofar .. "/" .. part
    local ok, err, code = nsl.mkdir(sofar, 493)
    if not ok and code ~= 17 then return nil, err end
  end
  return true
end

local function remove_lease_dir(dir)
  os.remove(dir .. "/owner")
  nsl.rmdir(dir)
end

-- The inode number (text) of the network namespace of target (as
-- nsl.nsid takes it: a pid, "self" or a namespace file), or nil.
local function netns_of(target)
  local id = nsl.nsid(target, "net")
  return id and tostring(id)
end

-- The inode number of the caller's network namespace (text).
function M.current_netns()
  return netns_of("self")
end

-- Where the leases of bridge in network namespace netns (an inode
-- number; default: the caller's) are kept.
function M.lease_dir(bridge, netns)
  check_ifname(bridge, "lease_dir: bridge")
  if netns ~= nil and not (type(netns) == "string" and netns:find("^%d+$")) then
    fail("lease_dir: netns must be a namespace's inode number as a string, got %s", describe(netns))
  end
  return ("%s/%s@%s"):format(M.state_dir, bridge, netns or M.current_netns() or "0")
end

-- Claims address (text, no prefix) in the lease directory root for pid;
-- true or nil, why.
local function claim(root, address, pid)
  -- named by the claimer: a sweeper tells a dead claimer's claim from one
  -- in the making before it has its owner file
  local prefix = ("%s/.claim-%d-"):format(root, nsl.getpid())
  local tmp, err, code = nsl.mkdtemp(prefix)
  if not tmp and code == 2 then -- the last container of the bridge just removed it
    mkdirs(root)
    tmp, err = nsl.mkdtemp(prefix)
  end
  if not tmp then return nil, err end
  local start = start_time(pid) or 0
  local f = io.open(tmp .. "/owner", "w")
  f:write(("%d %s\n"):format(pid, start))
  f:close()
  local lease = root .. "/" .. address
  for _ = 1, 2 do
    if os.rename(tmp, lease) then return true end
    -- another's lease is not taken back
    if not own_lease(lease) or owner_alive(lease) then break end
    -- Stale: move it out of the way (one claimer wins), then try again.
    local stale = root .. "/.stale-" .. tmp:match("[^-]+$")
    if os.rename(lease, stale) then remove_lease_dir(stale) end
  end
  remove_lease_dir(tmp)
  return nil, address .. " is in use by a running container"
end

local function release(root, address)
  if not lease_name(address) then return end
  local lease = root .. "/" .. address
  if not own_lease(lease) then return end
  local gone = lease .. ".free-" .. nsl.getpid()
  if os.rename(lease, gone) then remove_lease_dir(gone) end
end

-- Whether a running container holds an address of subnet on bridge: the
-- leases are the directory's entries named by an address; a claim still
-- being made counts too. When none does, what dead owners left (a script
-- killed in the middle of a start: leases, half-made claims) is removed,
-- so that the directory and the bridge can go with the last container.
local function any_leased(root, subnet)
  local names = nsl.readdir(root) or {}
  local function ours(name)
    local n = ipv4(name)
    if n then return same_net(n, subnet.ip, subnet.len) end
    -- claims being made, and leases being released or taken back
    -- (renamed first, removed after: a process killed in between)
    return name:find("^%.claim%-") ~= nil or name:find("^%.stale%-") ~= nil
      or name:find("%.free%-%d+$") ~= nil
  end
  local own = {}
  for _, name in ipairs(names) do
    own[name] = ours(name) and own_lease(root .. "/" .. name)
    if own[name] and owner_alive(root .. "/" .. name) then return true end
  end
  for _, name in ipairs(names) do
    local path = root .. "/" .. name
    if own[name] then
      -- a claim without its owner file yet may be in the making: it is
      -- left over when its claimer is gone, or old (a pid used again);
      -- a lease is renamed into place complete
      local claimer = math.tointeger(tonumber(name:match("^%.claim%-(%d+)%-")))
      local st = claimer and not read_file(path .. "/owner") and state.alive(claimer) and nsl.lstat(path)
      if not st or nsl.time("real") - st.mtime > 10 then
        local gone = path .. ".free-" .. nsl.getpid()
        if os.rename(path, gone) then remove_lease_dir(gone) end
      end
    end
  end
  return false
end

M.netns_of, M.mkdirs = netns_of, mkdirs
M.claim, M.release, M.any_leased = claim, release, any_leased

return M
