-- The host's cgroup layout for nsl.cgroup: which version, where each v1
-- hierarchy is, and whether the caller may make groups there (available,
-- with why not and how to get there).
local nsl = require "nsl"
local files = require "nsl.cgroup.files"
local needed = require("nsl.cgroup.limits").needed

local M = {}

-- The v1 hierarchies nsl knows, in the order it makes and reports them.
M.V1_ORDER = { "memory", "pids", "cpu", "cpuacct", "cpuset", "freezer" }
local V1_ORDER = M.V1_ORDER

local exists, read, words = files.exists, files.read, files.words

-- v2 when the root itself is a cgroup2 mount (it has cgroup.controllers,
-- which no v1 hierarchy and no tmpfs has); v1 otherwise, one directory per
-- controller. Controllers mounted together ("cpu,cpuacct", reached through
-- the symlinks cpu and cpuacct) share one hierarchy, so a symlink is
-- resolved: both then map to the same directory, and a group is made once
-- in it. A hybrid host's /sys/fs/cgroup/unified is not used: the
-- controllers nsl needs are on the v1 side there. root is where the
-- hierarchies are mounted; nil, why when there is none.
function M.detect(root)
  local ctl = read(root .. "/cgroup.controllers")
  if ctl then
    return { version = 2, root = root, controllers = words(ctl) }
  end
  local mounts = {}
  for _, c in ipairs(V1_ORDER) do
    local dir = root .. "/" .. c
    if exists(dir .. "/cgroup.procs") then
      local st = nsl.lstat(dir)
      if st and st.type == "symlink" then dir = nsl.realpath(dir) or dir end
      mounts[c] = dir
    end
  end
  if next(mounts) == nil then
    return nil, ("no cgroup hierarchy found under %s (neither cgroup2 with cgroup.controllers nor v1 controller directories)")
      :format(root)
  end
  return { version = 1, root = root, mounts = mounts }
end

-- The parent group's path, "a/b", as its parts.
function M.split_parent(parent)
  local parts = {}
  for p in parent:gmatch("[^/]+") do parts[#parts + 1] = p end
  return parts
end
local split_parent = M.split_parent

-- Whether uid can create entries in dir (nearest existing ancestor).
local function writable(dir, stop)
  local euid = nsl.geteuid()
  if euid == 0 then return true end
  while not exists(dir) and #dir > #stop do dir = dir:match("^(.*)/[^/]*$") end
  local st = nsl.lstat(dir)
  if not st then return false, dir end
  local ok = (st.uid == euid and st.mode & 0xC0 == 0xC0)     -- u+wx
      or (st.gid == nsl.getgid() and st.mode & 0x18 == 0x18) -- g+wx
      or (st.mode & 0x3 == 0x3)                              -- o+wx
  return ok, dir
end

-- Whether the caller can make a group with these (checked) limits under
-- parent in layout; if not, false and why, with how to get there.
function M.available(limits, layout, parent)
  local uid = nsl.geteuid()
  if layout.version == 1 then
    for _, c in ipairs(needed(limits)) do
      if not layout.mounts[c] then
        return false, ("cgroup v1: the %s controller is not mounted at %s/%s"):format(c, layout.root, c)
      end
    end
    for _, c in ipairs(V1_ORDER) do
      local dir, ok, at = layout.mounts[c], true, nil
      if dir then ok, at = writable(dir .. "/" .. parent, dir) end
      if not ok then
        return false, ("cgroup v1: %s is not writable by uid %d. v1 hierarchies belong to root and cannot be "
          .. "delegated safely, so rootless containers get no limits on this host: run as root, or have root "
          .. "create %s/<controller>/%s owned by uid %d in every hierarchy, or boot the host with the "
          .. "unified hierarchy (systemd.unified_cgroup_hierarchy=1) and use a delegated v2 subtree")
          :format(at, uid, layout.root, parent, uid)
      end
    end
    return true
  end
  -- v2: the controllers must reach the parent, and the parent must be ours.
  local dir, avail = layout.root, layout.controllers
  for _, part in ipairs(split_parent(parent)) do
    local sub = dir .. "/" .. part
    if not exists(sub) then break end
    dir = sub
    avail = words(read(dir .. "/cgroup.controllers"))
  end
  for _, c in ipairs(needed(limits)) do
    if not avail[c] then
      return false, ("cgroup v2: the %s controller is not available in %s (cgroup.controllers); %s")
        :format(c, dir, uid == 0 and "enable it in the parent's cgroup.subtree_control"
          or "ask for it to be delegated (e.g. Delegate=" .. c .. " for user@.service)")
    end
  end
  local ok, at = writable(layout.root .. "/" .. parent, layout.root)
  if not ok then
    return false, ("cgroup v2: %s is not writable by uid %d: no delegated subtree. Run under one, e.g. "
      .. "`systemd-run --user --scope -p Delegate=yes nsl run ...`, and pass parent = the delegated "
      .. "group's path below %s (a group with no processes of its own)"):format(at, uid, layout.root)
  end
  return true
end

return M
