-- nsl.seccomp: system call filters written as Lua tables.
--
--   local f = nsl.seccomp.compile("default")                -- docker-like
--   local f = nsl.seccomp.compile({ extends = "default", deny = { "@network" } })
--   nsl.container{ ..., seccomp = { extends = "default", allow = { "ptrace" } } }
--
-- A policy (docs/security.md has the whole language):
--   extends  a profile name ("default") or another policy: start from it;
--   default  the action for every call the policy does not name ("EPERM";
--            a profile's own otherwise);
--   allow    calls and @groups allowed, whatever the base said of them;
--   deny     calls and @groups refused with EPERM;
--   rules    { name or @group, ..., action = A, args = {{i, op, v[, mask]}} }:
--            without args, the calls' action; with args, the action when
--            every condition holds (ops ==, !=, <, <=, >, >=, and &== with a
--            mask); an allow with conditions lets the call through only
--            then, another action with conditions is an exception to an
--            allowed call;
--   arches   other ABIs to accept ("x86", "x32"); by default only the
--            native one, and a call through another gets ENOSYS;
--   ignore_unknown  names this build's libseccomp does not know are left
--            out instead of refused (OCI profiles, see from_oci).
-- Actions: "allow", "kill" (the process), "kill_thread", "trap", "log",
-- or an errno name ("EPERM", "ENOSYS", "EACCES", ...). Calls newer than
-- this build knows get ENOSYS, so that libc falls back to older ones.
--
-- Compiling needs libseccomp (the submodule nsl.seccomp_compile, loaded
-- here on first use); a filter is compiled once per policy and capability
-- set in a process and kept.
local nsl = require "nsl.core"

local M = {}

-- The policy language and its compiler, loaded when a policy has to be
-- compiled: a profile found compiled on disk needs neither.
local function policy_mod() return require "nsl.seccomp.policy" end

setmetatable(M, { __index = function(_, k)
  if k == "groups" or k == "profiles" then return require("nsl.seccomp.profile")[k] end
end })

local Filter = {}
Filter.__index = Filter
Filter.__name = "nsl.seccomp filter"

function Filter:__tostring()
  return ("nsl.seccomp filter (%s, %d programs)"):format(self.name, #self.programs)
end

-- Installs the filter on the calling process (after no_new_privs).
function Filter:load()
  for _, p in ipairs(self.programs) do
    local ok, err = nsl.seccomp_load(p)
    if not ok then return nil, err end
  end
  return true
end

-- Capability names of a mask (bit n: capability n).
local by_name = {}
local by_table = setmetatable({}, { __mode = "k" })

-- Compiled profiles are also kept on disk, so that `nsl run` of one
-- container does not load libseccomp and compile (about 2 ms) every time:
-- in /var/lib/nsl/cache (root; /var/lib/nsl is 0700) or
-- $XDG_CACHE_HOME/nsl (~/.cache/nsl), a directory that must be the
-- caller's own (nsl.owned_dir), one file per profile and capability mask,
-- stamped with nsl's version. A cache that cannot be used is skipped.
local CACHE_MAGIC = "nsl-seccomp 1 " .. tostring(nsl.version)

-- Where the profile data comes from (its path, inode, size, mtime): the
-- nsl binary it is built into, or its file. A rebuilt binary or an
-- edited profile is another identity, and the programs compiled from the
-- old one are not used.
local function profile_identity()
  local path
  if package.preload["nsl.seccomp.profile"] then
    path = nsl.realpath("/proc/self/exe")
  else
    path = package.searchpath("nsl.seccomp.profile", package.path)
  end
  local st = path and nsl.lstat(path)
  if not st then return nil end
  return ("%s %s %s %s"):format(path, st.ino, st.size, st.mtime)
end

local function cache_dir()
  local top = require("nsl.util").own_dir("cache")
  if not top then return nil end
  local base = nsl.geteuid() == 0 and top .. "/cache" or top
  local ok, d = pcall(nsl.owned_dir, base, { create = 448, private = true })
  return ok and d or nil
end

local function cache_name(name, capmask) return ("seccomp-%s-%x"):format(name, capmask) end

local function cache_stamp()
  local id = profile_identity()
  return id and CACHE_MAGIC .. " " .. id .. "\n"
end

local function cache_read(name, capmask)
  local stamp = cache_stamp()
  local d = stamp and cache_dir()
  if not d then return nil end
  local data = d:read(cache_name(name, capmask))
  d:close()
  if type(data) ~= "string" or data:sub(1, #stamp) ~= stamp then return nil end
  local progs, pos = {}, #stamp + 1
  while pos <= #data do
    local ok, p, nextpos = pcall(string.unpack, "<s4", data, pos)
    if not ok or #p == 0 or #p % 8 ~= 0 then return nil end
    progs[#progs + 1], pos = p, nextpos
  end
  return #progs > 0 and progs or nil
end

local function cache_write(name, capmask, progs)
  local stamp = cache_stamp()
  local d = stamp and cache_dir()
  if not d then return end
  local out = { stamp }
  for _, p in ipairs(progs) do out[#out + 1] = string.pack("<s4", p) end
  pcall(d.write, d, cache_name(name, capmask), table.concat(out), 384)
  d:close()
end

--- nsl.seccomp.compile(policy [, capmask]) -> filter
--- policy: a profile name ("default") or a policy table; capmask: the
--- capabilities the container keeps (nsl.cap_bits; default: none), which
--- the default profile's capability entries look at. Raises an error
--- naming the entry on a bad policy. The same policy and mask give the
--- same filter object, compiled once.
function M.compile(policy, capmask)
  capmask = capmask or 0
  if math.type(capmask) ~= "integer" then error("seccomp: capmask must be an integer (nsl.cap_bits)", 2) end
  if getmetatable(policy) == Filter then return policy end
  local cache, key
  if type(policy) == "string" then
    if policy ~= "default" and not M.profiles[policy] then
      error(("seccomp: unknown profile '%s' (default)"):format(policy), 0)
    end
    cache, key = by_name, policy .. ":" .. capmask
  elseif type(policy) == "table" then
    by_table[policy] = by_table[policy] or {}
    cache, key = by_table[policy], capmask
  else
    error(("seccomp: a policy must be a profile name or a table (got %s)"):format(type(policy)), 0)
  end
  if cache[key] then return cache[key] end
  local progs = type(policy) == "string" and cache_read(policy, capmask)
  if not progs then
    progs = policy_mod().programs(policy, capmask)
    if type(policy) == "string" then cache_write(policy, capmask, progs) end
  end
  local f = setmetatable({
    name = type(policy) == "string" and policy
      or (type(policy.extends) == "string" and policy.extends .. "+custom" or "custom"),
    programs = progs,
    policy = policy, capmask = capmask,
  }, Filter)
  cache[key] = f
  return f
end

--- nsl.seccomp.from_oci(obj) -> policy: see nsl.seccomp.policy.
function M.from_oci(obj) return policy_mod().from_oci(obj) end


return M
