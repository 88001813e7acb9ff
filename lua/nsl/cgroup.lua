-- Resource limits through cgroups: nsl.cgroup.
--
--   check(limits) -> limits'      validates a spec's `limits` table before
--                                 anything is made; raises naming the field;
--                                 returns it normalised (memory in bytes)
--   detect([opts]) -> layout | nil, why
--                                 {version = 2, root =} or {version = 1,
--                                 root =, mounts = {memory = dir, ...}}
--   available(limits [, opts]) -> true | false, why
--                                 whether the caller can make a group with
--                                 these limits here, and if not, why and how
--                                 to get there (rootless, delegation)
--   create(name, limits [, opts]) -> cg | nil, message
--                                 makes the group(s) under the parent group
--                                 (default "nsl") and writes the limits; on
--                                 failure removes what it made
--   open(name [, opts]) -> cg | nil, message
--                                 a handle on an existing group (nsl ps,
--                                 stale-state cleanup)
--   cg:add(pid)                   moves a process into the group, in every
--                                 hierarchy
--   cg:procs() -> {pid, ...}
--   cg:stats() -> {memory =, memory_peak =, cpu =, cpu_throttled =, pids =}
--   cg:oom_killed() -> boolean, count
--   cg:kill()                     SIGKILL to every process in the group
--   cg:destroy()                  waits briefly for the group to empty,
--                                 removes its directories; idempotent
--   cg.name, cg.version, cg.path, cg.paths
--
-- Opts (all optional): root (where the hierarchies are mounted, default
-- "/sys/fs/cgroup"; a fake tree in tests), parent (the group that holds
-- nsl's groups, relative to each hierarchy's root, default "nsl"), and,
-- for a fake tree only, mkdir/rmdir (functions standing in for the
-- kernel's, which populates a new group with its interface files).
--
-- Environmental failures return nil, "<file>: <reason>"; bad arguments
-- raise. Everything is plain reads and writes of cgroupfs files
-- (nsl.cgroup.files). The limits (check, parse_size, parse_cpulist and
-- the files that carry them) are nsl.cgroup.limits, the host's layout
-- (detect, available) nsl.cgroup.layout; this file has the options, the
-- group handle, and making and opening groups.
local nsl = require "nsl"
local util = require "nsl.util"
local files = require "nsl.cgroup.files"
local cglimits = require "nsl.cgroup.limits"
local cglayout = require "nsl.cgroup.layout"

local M = {}

M.root = "/sys/fs/cgroup"
M.parent = "nsl"
M.cpu_period = 100000        -- microseconds; quota = cpu * period
M.settle = 2.0               -- seconds destroy() and kill() wait at most

M.parse_size = cglimits.parse_size
M.parse_cpulist = cglimits.parse_cpulist
M.check = cglimits.check

local EEXIST, ENOENT, EBUSY, ENOTEMPTY = 17, 2, 16, 39

-- v1 hierarchies a group joins even without a limit in them: accounting
-- for stats() and the freezer for kill().
local V1_ALWAYS = { "memory", "pids", "cpuacct", "freezer" }
local V1_ORDER = cglayout.V1_ORDER

local fail = util.fail
local function describe(v) return util.describe(v, true) end
local exists, read, read_trim, read_number = files.exists, files.read, files.read_trim, files.read_number
local read_keyed, write, words, wait_until = files.read_keyed, files.write, files.words, files.wait_until
local needed, split_parent = cglimits.needed, cglayout.split_parent

-- ---- options and names -----------------------------------------------------------

local OPT_FIELDS = { root = "string", parent = "string", mkdir = "function", rmdir = "function" }

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail("cgroup options must be a table (got %s)", type(opts)) end
  for k, v in pairs(opts) do
    local want = OPT_FIELDS[k]
    if not want then
      fail("cgroup options: unknown field %s (accepted: root, parent, mkdir, rmdir)", describe(k))
    end
    if type(v) ~= want then fail("cgroup options: %s must be a %s (got %s)", k, want, type(v)) end
  end
  if opts.parent then
    for part in opts.parent:gmatch("[^/]+") do
      if part == "." or part == ".." then fail("cgroup options: parent must not contain . or ..") end
    end
  end
  return opts
end

local function check_name(name)
  if type(name) ~= "string" or name == "" or #name > 200 or name == "." or name == ".."
      or not name:match("^[%w_.@:-]+$") then
    fail("cgroup name must be 1 to 200 letters, digits or _.@:- (got %s)", describe(name))
  end
end

-- ---- the host's layout --------------------------------------------------------

function M.detect(opts)
  opts = check_opts(opts)
  return cglayout.detect(opts.root or M.root)
end

function M.available(limits, opts)
  limits = M.check(limits)
  opts = check_opts(opts)
  local layout, why = M.detect(opts)
  if not layout then return false, why end
  return cglayout.available(limits, layout, opts.parent or M.parent)
end

-- ---- the group handle ------------------------------------------------------------

local Cgroup = {}
Cgroup.__index = Cgroup

-- Distinct directories of the group (one on v2, one per hierarchy on v1).
function Cgroup:dirs()
  local list, seen = {}, {}
  for _, c in ipairs(self.order) do
    local d = self.paths[c]
    if not seen[d] then seen[d] = true; list[#list + 1] = d end
  end
  return list
end

local function check_pid(pid)
  if math.type(pid) ~= "integer" or pid < 1 then fail("pid must be a positive integer (got %s)", describe(pid)) end
end

function Cgroup:add(pid)
  check_pid(pid)
  for _, d in ipairs(self:dirs()) do
    local ok, err = write(d .. "/cgroup.procs", tostring(pid))
    if not ok then return nil, "cgroup add " .. pid .. ": " .. err end
  end
  return true
end

local function read_procs(dir)
  local s = read(dir .. "/cgroup.procs")
  if not s then return nil end
  local t = {}
  for p in s:gmatch("%d+") do t[#t + 1] = math.tointeger(tonumber(p)) end
  return t
end

-- Every process in the group (the union over the hierarchies on v1: a
-- process is normally in all of them).
function Cgroup:procs()
  local all, seen = {}, {}
  for _, d in ipairs(self:dirs()) do
    for _, p in ipairs(read_procs(d) or {}) do
      if not seen[p] then seen[p] = true; all[#all + 1] = p end
    end
  end
  table.sort(all)
  return all
end

function Cgroup:stats()
  local s = {}
  if self.version == 2 then
    local d = self.path
    s.memory = read_number(d .. "/memory.current")
    s.memory_peak = read_number(d .. "/memory.peak")
    local cpu = read_keyed(d .. "/cpu.stat")
    if cpu then
      s.cpu = cpu.usage_usec and cpu.usage_usec / 1e6
      s.cpu_throttled = cpu.nr_throttled
    end
    s.pids = read_number(d .. "/pids.current")
  else
    local p = self.paths
    if p.memory then
      s.memory = read_number(p.memory .. "/memory.usage_in_bytes")
      s.memory_peak = read_number(p.memory .. "/memory.max_usage_in_bytes")
    end
    if p.cpuacct then
      local ns = read_number(p.cpuacct .. "/cpuacct.usage")
      s.cpu = ns and ns / 1e9
    end
    if p.cpu then
      local cpu = read_keyed(p.cpu .. "/cpu.stat")
      s.cpu_throttled = cpu and cpu.nr_throttled
    end
    s.pids = p.pids and read_number(p.pids .. "/pids.current")
  end
  if s.pids == nil then
    -- no pids controller: count the processes
    local procs = self:procs()
    s.pids = #procs
  end
  if s.memory == nil and s.cpu == nil and not exists(self.path) then
    return nil, ("cgroup stats: %s: No such file or directory (destroyed?)"):format(self.path)
  end
  return s
end

-- Whether the kernel's OOM killer killed something in the group, and how
-- many. v2: memory.events oom_kill. v1: memory.oom_control's oom_kill
-- (Linux 4.13+); older kernels lack it, and then a hit of the limit that
-- could not be reclaimed (memory.memsw.failcnt, else memory.failcnt) is
-- taken as the sign, which is right for a process that ended by SIGKILL.
function Cgroup:oom_killed()
  if self.version == 2 then
    local ev = read_keyed(self.path .. "/memory.events")
    local n = ev and ev.oom_kill or 0
    return n > 0, n
  end
  local d = self.paths.memory
  if not d then return false, 0 end
  local ctl = read_keyed(d .. "/memory.oom_control")
  if ctl and ctl.oom_kill then return ctl.oom_kill > 0, ctl.oom_kill end
  local fc = read_number(d .. "/memory.memsw.failcnt") or read_number(d .. "/memory.failcnt") or 0
  return fc > 0, fc > 0 and 1 or 0
end

local function kill_all(pids)
  for _, p in ipairs(pids) do nsl.kill(p, "KILL") end
end

-- SIGKILL to every process in the group, including those forked while it
-- runs: v2 cgroup.kill (Linux 5.14+); otherwise the group is frozen first
-- (v2 cgroup.freeze, v1 freezer.state) so nothing forks behind the loop,
-- and thawed afterwards so the killed processes can exit; without a
-- freezer, the loop is repeated until the group is empty.
function Cgroup:kill()
  if self.version == 2 then
    local d = self.path
    if exists(d .. "/cgroup.kill") then
      local ok, err = write(d .. "/cgroup.kill", "1")
      if not ok then return nil, "cgroup kill: " .. err end
      return true
    end
    if exists(d .. "/cgroup.freeze") then
      write(d .. "/cgroup.freeze", "1")
      wait_until(function()
        local ev = read_keyed(d .. "/cgroup.events")
        return not ev or ev.frozen == 1
      end, M.settle)
      kill_all(read_procs(d) or {})
      write(d .. "/cgroup.freeze", "0")
      return true
    end
  elseif self.paths.freezer then
    local d = self.paths.freezer
    local ok, err = write(d .. "/freezer.state", "FROZEN")
    if ok then
      wait_until(function()
        local st = read_trim(d .. "/freezer.state")
        return st == nil or st == "FROZEN"
      end, M.settle)
      kill_all(read_procs(d) or {})
      ok, err = write(d .. "/freezer.state", "THAWED")
      if not ok then return nil, "cgroup kill: " .. err end
      return true
    end
  end
  local empty = wait_until(function()
    local procs = self:procs()
    kill_all(procs)
    return #procs == 0
  end, M.settle)
  if not empty then
    return nil, ("cgroup kill: %s still has processes after %gs"):format(self.path, M.settle)
  end
  return true
end

local function remove_dir(self, dir)
  local ok, err, code = (self.rmdir or nsl.rmdir)(dir)
  if ok or code == ENOENT then return true end
  return nil, err, code
end

-- Removes the group's directories, waiting up to M.settle seconds for
-- processes that are still exiting; then the parent group when it is
-- nsl's own (the default) or this handle made it, and it is empty.
function Cgroup:destroy()
  if self.destroyed then return true end
  for _, d in ipairs(self:dirs()) do
    local ok, err, code
    wait_until(function()
      ok, err, code = remove_dir(self, d)
      return ok or (code ~= EBUSY and code ~= ENOTEMPTY)  -- nothing else changes by waiting
    end, M.settle)
    if not ok then
      local procs = read_procs(d)
      local who = procs and #procs > 0 and (" (processes " .. table.concat(procs, " ") .. " still in it)") or ""
      return nil, ("cgroup destroy: %s%s"):format(err, who), code
    end
  end
  if self.remove_parent then
    for _, pdir in ipairs(self.parent_dirs) do remove_dir(self, pdir) end
  end
  self.destroyed = true
  return true
end

Cgroup.__close = function(self) self:destroy() end

-- ---- making a group --------------------------------------------------------------

-- v1 cpuset groups start with empty cpus and mems, and a process cannot
-- join a group whose set is empty: copy the parent's.
local function cpuset_inherit(dir, parent_dir)
  for _, f in ipairs { "cpuset.cpus", "cpuset.mems" } do
    local v = read_trim(dir .. "/" .. f)
    if v == "" then
      local pv = read_trim(parent_dir .. "/" .. f)
      local ok, err = write(dir .. "/" .. f, pv or "")
      if not ok then return nil, err end
    end
  end
  return true
end

-- Makes base/parent/... and base/parent/name; returns the group's
-- directory. made collects what was created, for the undo.
local function make_dirs(ctx, base, enable, cpuset)
  local parts = split_parent(ctx.parent)
  for _attempt = 1, 5 do
    local dir, lost = base, false
    for _, part in ipairs(parts) do
      if enable then
        local ok, err = enable(dir)
        if not ok then return nil, err end
      end
      local sub = dir .. "/" .. part
      local ok, err, code = ctx.mkdir(sub)
      if ok then
        ctx.made_parent = true
      elseif code ~= EEXIST then
        if code == ENOENT then lost = true; break end
        return nil, err
      end
      if cpuset then
        local cok, cerr = cpuset_inherit(sub, dir)
        if not cok then return nil, cerr end
      end
      dir = sub
    end
    if not lost then
      if enable then
        local ok, err = enable(dir)
        if not ok then return nil, err end
      end
      local path = dir .. "/" .. ctx.name
      local ok, err, code = ctx.mkdir(path)
      if ok then
        ctx.made[#ctx.made + 1] = path
        return path, dir
      elseif code == EEXIST then
        return nil, err, code
      elseif code ~= ENOENT then
        return nil, err
      end
      -- ENOENT: another nsl removed the empty parent meanwhile; again
    end
  end
  return nil, ("mkdir %s/%s/%s: the parent group keeps disappearing"):format(base, ctx.parent, ctx.name)
end

local function new_handle(name, layout, opts)
  return setmetatable({
    name = name, version = layout.version, paths = {}, order = {}, parent_dirs = {},
    rmdir = opts.rmdir,
  }, Cgroup)
end

local function undo(ctx, cg)
  for i = #ctx.made, 1, -1 do remove_dir(cg, ctx.made[i]) end
  if ctx.made_parent or cg.remove_parent then
    for _, pdir in ipairs(cg.parent_dirs) do remove_dir(cg, pdir) end
  end
end

-- A group that is already there: a stale one (its container died without
-- cleanup) is empty and is removed to start afresh; one with processes
-- belongs to a live container.
local function clear_stale(dir, rmdir)
  local procs = read_procs(dir)
  if procs and #procs > 0 then
    return nil, ("cgroup %s already exists and holds processes %s (a container of that name is running)")
      :format(dir, table.concat(procs, " "))
  end
  local ok, err = (rmdir or nsl.rmdir)(dir)
  if not ok then return nil, "cgroup: removing the stale group: " .. err end
  return true
end

-- v2: one group, the controllers handed down from the root to it.
local function create_v2(ctx, cg, limits, layout)
  local want = {}
  for _, c in ipairs { "memory", "pids" } do
    if layout.controllers[c] then want[#want + 1] = c end
  end
  for _, c in ipairs(needed(limits)) do
    if c ~= "memory" and c ~= "pids" then want[#want + 1] = c end
  end
  -- Each level must hand the controllers down to the next.
  -- One write for all of them: the kernel takes "+a +b" at once.
  local function enable(dir)
    local on = words(read(dir .. "/cgroup.subtree_control"))
    local avail = words(read(dir .. "/cgroup.controllers"))
    local add = {}
    for _, c in ipairs(want) do
      if not on[c] then
        if not avail[c] then
          return nil, ("cgroup v2: the %s controller is not available in %s (cgroup.controllers)"):format(c, dir)
        end
        add[#add + 1] = "+" .. c
      end
    end
    if #add == 0 then return true end
    return write(dir .. "/cgroup.subtree_control", table.concat(add, " "))
  end
  local path, pdir_or_err, code = make_dirs(ctx, layout.root, enable, false)
  if not path then return nil, pdir_or_err, code end
  cg.paths.unified = path
  cg.order = { "unified" }
  cg.parent_dirs = { pdir_or_err }
  cg.path = path
  return cglimits.write_v2(path, limits, M.cpu_period)
end

-- v1: one group per hierarchy it joins.
local function create_v1(ctx, cg, limits, layout)
  local join = {}
  for _, c in ipairs(needed(limits)) do
    if not layout.mounts[c] then
      return nil, ("cgroup v1: the %s controller is not mounted at %s/%s"):format(c, layout.root, c)
    end
    join[c] = true
  end
  for _, c in ipairs(V1_ALWAYS) do
    if layout.mounts[c] then join[c] = true end
  end
  local made_in = {}   -- hierarchy directory -> the group's directory there
  for _, c in ipairs(V1_ORDER) do
    local base = layout.mounts[c]
    if join[c] and not made_in[base] then
      -- the cpuset controller may share a hierarchy with others
      local cpuset = exists(base .. "/cpuset.cpus")
      local path, pdir_or_err, code = make_dirs(ctx, base, nil, cpuset)
      if not path then return nil, pdir_or_err, code end
      if cpuset then
        local ok, err = cpuset_inherit(path, pdir_or_err)
        if not ok then return nil, err end
      end
      made_in[base] = path
      cg.parent_dirs[#cg.parent_dirs + 1] = pdir_or_err
    end
    if join[c] then
      cg.paths[c] = made_in[base]
      cg.order[#cg.order + 1] = c
    end
  end
  cg.path = cg.paths.memory or cg.paths[cg.order[1]]
  return cglimits.write_v1(cg.paths, limits, M.cpu_period)
end

-- The group made once; on failure, what was made is removed again.
local function create_once(name, limits, opts, layout)
  local ctx = { name = name, parent = opts.parent or M.parent, made = {},
    mkdir = opts.mkdir or nsl.mkdir }
  local cg = new_handle(name, layout, opts)
  cg.remove_parent = opts.parent == nil
  local make = layout.version == 2 and create_v2 or create_v1
  local ok, err, code = make(ctx, cg, limits, layout)
  if not ok then
    undo(ctx, cg)
    return nil, err, code
  end
  return cg
end

function M.create(name, limits, opts)
  check_name(name)
  limits = M.check(limits)
  opts = check_opts(opts)
  local layout, why = M.detect(opts)
  if not layout then return nil, why end
  local cg, err, code = create_once(name, limits, opts, layout)
  if not cg and code == EEXIST then
    -- a group of this name is there already: clear it if stale, once
    local parent = opts.parent or M.parent
    local bases = layout.version == 2 and { layout.root } or {}
    if layout.version == 1 then for _, d in pairs(layout.mounts) do bases[#bases + 1] = d end end
    for _, b in ipairs(bases) do
      local dir = b .. "/" .. parent .. "/" .. name
      if exists(dir) then
        local ok, serr = clear_stale(dir, opts.rmdir)
        if not ok then return nil, serr end
      end
    end
    cg, err = create_once(name, limits, opts, layout)
  end
  if not cg then return nil, "cgroup create " .. name .. ": " .. err end
  return cg
end

function M.open(name, opts)
  check_name(name)
  opts = check_opts(opts)
  local layout, why = M.detect(opts)
  if not layout then return nil, why end
  local parent = opts.parent or M.parent
  local cg = new_handle(name, layout, opts)
  cg.remove_parent = opts.parent == nil
  local seen = {}
  local function add(c, base)
    local dir = base .. "/" .. parent .. "/" .. name
    if exists(dir) then
      cg.paths[c] = dir
      cg.order[#cg.order + 1] = c
      if not seen[base] then
        seen[base] = true
        cg.parent_dirs[#cg.parent_dirs + 1] = base .. "/" .. parent
      end
    end
  end
  if layout.version == 2 then
    add("unified", layout.root)
  else
    for _, c in ipairs(V1_ORDER) do
      if layout.mounts[c] then add(c, layout.mounts[c]) end
    end
  end
  if #cg.order == 0 then
    return nil, ("cgroup open %s: no group %s/%s under %s"):format(name, parent, name, layout.root)
  end
  cg.path = cg.paths.memory or cg.paths[cg.order[1]]
  return cg
end

return M
