-- The limits of nsl.cgroup: a spec's `limits` table checked and
-- normalised (check, with parse_size and parse_cpulist, re-exported by
-- nsl.cgroup), the controllers it needs, and the interface files that
-- carry it on each cgroup version.
local util = require "nsl.util"
local files = require "nsl.cgroup.files"

local M = {}

-- The controller each limit needs (both versions).
local NEEDS = { memory = "memory", pids = "pids", cpu = "cpu", cpuset = "cpuset" }
local LIMIT_ORDER = { "memory", "pids", "cpu", "cpuset" }

local fail = util.fail
local function describe(v) return util.describe(v, true) end

-- ---- checking limits ------------------------------------------------------------

local UNITS = { [""] = 1, b = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3, t = 1024 ^ 4 }

-- 67108864, 64 * 2^20 (a float with an integral value), "64M", "64m",
-- "64MiB", "1G", "512k", "1.5G" -> bytes.
function M.parse_size(v)
  if type(v) == "number" then
    v = math.tointeger(v)
    return v and v > 0 and v or nil
  end
  if type(v) ~= "string" then return nil end
  local num, unit, suffix = v:lower():match("^%s*(%d+%.?%d*)%s*([bkmgt]?)(i?b?)%s*$")
  if not num or (suffix ~= "" and (unit == "" or unit == "b")) then return nil end
  local n = math.floor(tonumber(num) * UNITS[unit])
  if n <= 0 or n >= 2 ^ 62 then return nil end
  return math.tointeger(n)
end

-- "0", "0-1,3" -> the same string, normalised (no blanks); nil if malformed.
function M.parse_cpulist(s)
  if type(s) ~= "string" then return nil end
  s = s:gsub("%s", "")
  if s == "" then return nil end
  for item in (s .. ","):gmatch("([^,]*),") do
    local a, b = item:match("^(%d+)%-(%d+)$")
    if a then
      if tonumber(a) > tonumber(b) then return nil end
    elseif not item:match("^%d+$") then
      return nil
    end
  end
  return s
end

local LIMIT_HELP = 'memory (bytes or "64M"), pids (integer), cpu (CPUs, e.g. 0.5), cpuset ("0-1,3")'

function M.check(limits)
  if limits == nil then return {} end
  if type(limits) ~= "table" then
    fail("limits must be a table with %s (got %s)", LIMIT_HELP, type(limits))
  end
  local out = {}
  for k, v in pairs(limits) do
    if not NEEDS[k] then
      fail("limits: unknown field %s (accepted: %s)", describe(k), LIMIT_HELP)
    end
  end
  if limits.memory ~= nil then
    out.memory = M.parse_size(limits.memory)
    if not out.memory then
      fail('limits.memory must be a positive number of bytes or a size like "64M", "1G", "512k" (got %s)',
        describe(limits.memory))
    end
    if out.memory < 4096 * 64 then
      fail("limits.memory must be at least 256k: smaller limits kill any process at start (got %s)",
        describe(limits.memory))
    end
  end
  if limits.pids ~= nil then
    local p = type(limits.pids) == "number" and math.tointeger(limits.pids) or limits.pids
    if math.type(p) ~= "integer" or p < 1 then
      fail("limits.pids must be a positive integer (got %s)", describe(p))
    end
    out.pids = p
  end
  if limits.cpu ~= nil then
    local c = limits.cpu
    if type(c) ~= "number" or c ~= c or c < 0.01 or c > 4096 then
      fail("limits.cpu must be a number of CPUs between 0.01 and 4096, e.g. 0.5 for half a CPU (got %s)",
        describe(c))
    end
    out.cpu = c
  end
  if limits.cpuset ~= nil then
    out.cpuset = M.parse_cpulist(limits.cpuset)
    if not out.cpuset then
      fail('limits.cpuset must be a CPU list like "0", "0-1" or "0-1,3" (got %s)', describe(limits.cpuset))
    end
  end
  return out
end

-- The controllers a set of limits needs (a list, stable order).
function M.needed(limits)
  local list = {}
  for _, k in ipairs(LIMIT_ORDER) do
    if limits[k] ~= nil then list[#list + 1] = NEEDS[k] end
  end
  return list
end

-- ---- writing limits --------------------------------------------------------------

-- Writes {file, value [, optional = true]} in order; an optional file
-- the kernel does not have is skipped.
local function write_all(list)
  for _, w in ipairs(list) do
    if w.optional and not files.exists(w[1]) then goto continue end
    do
      local ok, err = files.write(w[1], w[2])
      if not ok then return nil, err end
    end
    ::continue::
  end
  return true
end

-- The CFS quota for cpu CPUs, in microseconds per period.
local function quota(cpu, period)
  return math.max(1000, math.floor(cpu * period + 0.5))
end

-- The limits written into a v1 group: paths maps each hierarchy it
-- joined to its directory there; period is the CFS period (microseconds).
function M.write_v1(paths, limits, period)
  local w = {}
  local m = paths.memory
  if limits.memory and m then
    w[#w + 1] = { m .. "/memory.limit_in_bytes", tostring(limits.memory) }
    -- memory+swap at the same value: no swap, so going over kills
    w[#w + 1] = { m .. "/memory.memsw.limit_in_bytes", tostring(limits.memory), optional = true }
    w[#w + 1] = { m .. "/memory.swappiness", "0", optional = true }
  end
  if limits.pids then w[#w + 1] = { paths.pids .. "/pids.max", tostring(limits.pids) } end
  if limits.cpu then
    w[#w + 1] = { paths.cpu .. "/cpu.cfs_period_us", tostring(period) }
    w[#w + 1] = { paths.cpu .. "/cpu.cfs_quota_us", tostring(quota(limits.cpu, period)) }
  end
  if limits.cpuset then
    w[#w + 1] = { paths.cpuset .. "/cpuset.cpus", limits.cpuset }
  end
  return write_all(w)
end

-- The limits written into a v2 group's directory.
function M.write_v2(dir, limits, period)
  local w = {}
  if limits.memory then
    w[#w + 1] = { dir .. "/memory.max", tostring(limits.memory) }
    w[#w + 1] = { dir .. "/memory.swap.max", "0", optional = true }
    -- the container goes as a whole, as on a machine out of memory
    w[#w + 1] = { dir .. "/memory.oom.group", "1", optional = true }
  end
  if limits.pids then w[#w + 1] = { dir .. "/pids.max", tostring(limits.pids) } end
  if limits.cpu then
    w[#w + 1] = { dir .. "/cpu.max", ("%d %d"):format(quota(limits.cpu, period), period) }
  end
  if limits.cpuset then w[#w + 1] = { dir .. "/cpuset.cpus", limits.cpuset } end
  return write_all(w)
end

return M
