-- The cgroupfs files of nsl.cgroup: plain reads and writes, each value a
-- write(2) of its own, and polling for a state the kernel reaches soon.
local nsl = require "nsl"

local M = {}

local function exists(path)
  return nsl.lstat(path) ~= nil
end

local function read(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  if not s then return nil, path .. ": read failed" end
  return s
end

local function read_trim(path)
  local s, err = read(path)
  if not s then return nil, err end
  return (s:gsub("%s+$", ""))
end

local function read_number(path)
  local s = read_trim(path)
  return s and math.tointeger(tonumber(s)) or (s and tonumber(s)) or nil
end

-- "key value" lines (memory.events, cpu.stat, memory.oom_control).
local function read_keyed(path)
  local s = read(path)
  if not s then return nil end
  local t = {}
  for k, v in s:gmatch("(%S+)%s+(%d+)") do t[k] = math.tointeger(tonumber(v)) end
  return t
end

-- A cgroup file takes one value per write(2); the kernel's answer comes
-- back from that write, so nothing may be buffered.
local function write(path, value)
  if not exists(path) then
    return nil, ("write %s: No such file (kernel without this interface?)"):format(path)
  end
  local f, err = io.open(path, "w")
  if not f then return nil, "write " .. err end
  f:setvbuf("no")
  local ok, werr = f:write(value)
  local cok, cerr = f:close()
  if not ok or not cok then
    return nil, ("write %s (%s): %s"):format(path, value, (werr or cerr):gsub("^.-: ", "", 1))
  end
  return true
end

-- The words of a space-separated list (cgroup.controllers,
-- cgroup.subtree_control) as a set; nil reads as empty.
local function words(s)
  local t = {}
  for w in (s or ""):gmatch("%S+") do t[w] = true end
  return t
end

-- The callers poll for a state that normally arrives within milliseconds.
local now = nsl.time

local function pause()
  nsl.sleep(0.005)
end

-- Polls pred() until it is true or `limit` seconds passed.
local function wait_until(pred, limit)
  local deadline = now() + limit
  while true do
    if pred() then return true end
    if now() > deadline then return false end
    pause()
  end
end

M.exists, M.read, M.read_trim, M.read_number = exists, read, read_trim, read_number
M.read_keyed, M.write, M.words, M.wait_until = read_keyed, write, words, wait_until

return M
