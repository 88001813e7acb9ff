-- Root file systems for containers: nsl.rootfs.
--
-- Builders (busybox, host, unpack) return a root description; the
-- container layer turns any accepted `rootfs` value into a root object
-- with resolve(value), and drives it through four steps:
--
--   root:prepare()      parent, before clone: checks, temporary directories
--   root:inspect_dir()  a host directory showing the root's content
--   root:mount()        child, in its own mount namespace (/ already private):
--                       builds the root, returns the mount point to pivot into
--   root:cleanup()      parent, after the container ended: removes what
--                       prepare made (never a user's own directory)
--
-- Nothing on the start path (prepare, mount) runs a shell. The builders
-- live in nsl.rootfs.build (lua/nsl/rootfs/build.lua) and are re-exported
-- here; the root objects, the host root and the clean-up of what a dead
-- container left are this file.
local nsl = require "nsl"
local util = require "nsl.util"
local build = require "nsl.rootfs.build"

local M = {}

M.busybox = build.busybox
M.unpack = build.unpack
M.store = build.store
M.reachable = build.reachable
M._unsafe_member = build.unsafe_member

local kind = build.kind
local check_path = build.check_path
M._kind = kind

-- ---- small file system helpers --------------------------------------------

local function is_dir(path)
  return kind(path) == "dir"
end

local function mkdir(path, mode)
  return nsl.mkdir(path, mode or 493)
end

-- Where nsl keeps per-container root state: its runtime directory
-- (nsl.state), else /tmp; the second value says whether it is nsl's own.
local function state_base()
  local base = require("nsl.state").runtime_dir()
  if base then return base .. "/rootfs", true end
  return "/tmp", false
end

-- A new private (0700) directory for one container; nil, message on failure.
-- owner (a container's record id, or nil) is part of the name, so that
-- what a killed process left can be found from its record (M.sweep).
local function make_state_dir(owner)
  local base, own = state_base()
  local tag = owner and (owner .. "-") or ""
  if own then
    local d, err = nsl.owned_dir(base, { create = 448 })
    if not d then return nil, err end
    d:close()
    return nsl.mkdtemp(base .. "/root-" .. tag)
  end
  return nsl.mkdtemp(base .. "/nsl-root-" .. tag)
end

-- Removes an empty directory nsl made; true when it is gone.
local function rmdir(path)
  local ok, err, code = nsl.rmdir(path)
  if ok or code == 2 then return true end
  return nil, err
end

local describe_value = util.describe

-- host() -> root description
-- The host's own programs and libraries (/usr, /bin, /sbin, /lib*) read-only,
-- with a private /etc holding copies of a few files, and private /tmp, /run.
function M.host()
  return build.root_table { kind = "host" }
end

local HOST_DIRS = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" }
local HOST_ETC = { "passwd", "group", "hosts", "resolv.conf", "nsswitch.conf",
  "ld.so.cache", "localtime", "host.conf" }

-- ---- root objects -------------------------------------------------------------

local Root = {}
Root.__index = Root
Root.__tostring = function(r)
  return ("rootfs(%s%s)"):format(r.kind, r.path and (" " .. r.path) or "")
end

local function new_root(t)
  return setmetatable(t, Root)
end

local IMAGE_FIELDS = { image = true, writable = true, upper = true, keep = true, size = true }

-- Where a container's temporary overlay (no upper directory to keep) is
-- built: a tmpfs mounted over this directory of the caller's runtime
-- directory (/run/nsl/rootfs) in the container's own mount namespace.
-- The host then holds nothing of the root, so the start needs no record
-- for it and a killed script leaves nothing behind. nil when the caller
-- has no runtime directory of its own (each root then gets a state
-- directory, as a kept one does).
local function ephemeral_base()
  local base, own = state_base()
  if not own then return nil end
  return base
end

--- For a root that will be mounted only in a mount namespace of its own
--- (a container's): a temporary overlay is then built over the shared
--- base directory (above) rather than in a state directory of its own.
--- Two such roots must not be mounted in one mount namespace.
function Root:own_namespace()
  if self.kind == "overlay" and not self.upper_dir and not self.keep and not self.prepared then
    self.ephemeral = ephemeral_base() ~= nil
  end
  return self
end

-- Characters that the overlay mount options cannot carry in a path.
local function check_overlay_path(path, what)
  if path:find("[,:\\]") or path:find("%s") then
    error(("%s %q: overlayfs cannot take a path with ',', ':', '\\' or blanks"):format(what, path), 3)
  end
end

-- resolve(value) -> root object
-- value: a directory path; a table from busybox(), host() or unpack(); or
-- {image = dir|table, writable = bool, upper = dir, keep = bool, size = "64m"}.
function M.resolve(value)
  if type(value) == "string" then
    local path = check_path(value, "rootfs")
    return new_root { kind = "dir", path = path, source = value }
  end
  if type(value) ~= "table" then
    error(("rootfs must be a directory path, a table from nsl.rootfs.busybox/host/unpack or {image = dir, writable = true} (got %s)")
      :format(describe_value(value)), 2)
  end
  if build.is_root(value) then
    if value.kind == "host" then return new_root { kind = "host" } end
    return new_root { kind = "dir", path = value.path, built = value.kind }
  end
  for k in pairs(value) do
    if not IMAGE_FIELDS[k] then
      error(("rootfs: unknown field '%s' (expected image, writable, upper, keep, size)"):format(tostring(k)), 2)
    end
  end
  local image = value.image
  if image == nil then error("rootfs.image: missing (a directory, or a table from nsl.rootfs.busybox/unpack)", 2) end
  local lowers
  if type(image) == "table" and build.is_root(image) then
    if not image.path then error("rootfs.image: nsl.rootfs.host() cannot be an image", 2) end
    image = image.path
  elseif type(image) == "table" then
    -- layers, the top one first (an image's, nsl.image)
    if #image == 0 then error("rootfs.image: an empty list of layers", 2) end
    lowers = {}
    for i, l in ipairs(image) do lowers[i] = check_path(l, ("rootfs.image[%d]"):format(i)) end
    image = lowers[1]
    if #lowers == 1 then lowers = nil end
  end
  image = check_path(image, "rootfs.image")
  for _, f in ipairs { "writable", "keep" } do
    if value[f] ~= nil and type(value[f]) ~= "boolean" then
      error(("rootfs.%s must be a boolean, got %s"):format(f, describe_value(value[f])), 2)
    end
  end
  local upper = value.upper
  if upper ~= nil then upper = check_path(upper, "rootfs.upper") end
  if value.size ~= nil and (type(value.size) ~= "string" or not value.size:match("^%d+[kmgKMG%%]?$")) then
    error(("rootfs.size must be a tmpfs size such as \"64m\" or \"50%%\", got %s"):format(describe_value(value.size)), 2)
  end
  if not value.writable then
    if upper or value.keep or value.size then
      error("rootfs: upper, keep and size need writable = true", 2)
    end
    if lowers then return new_root { kind = "overlay", image = image, lowers = lowers, readonly = true } end
    return new_root { kind = "dir", path = image, readonly = true }
  end
  if upper and value.keep ~= nil then
    error("rootfs.keep: an explicit upper directory is always kept; leave keep out", 2)
  end
  if upper and value.size then
    error("rootfs.size: applies to the temporary upper layer only, not to an explicit upper", 2)
  end
  return new_root { kind = "overlay", image = image, lowers = lowers, upper_dir = upper,
    keep = value.keep or false, size = value.size }
end

-- A directory that must exist, named in errors by what.
local function require_dir(path, what)
  local k, err = kind(path)
  if k == "dir" then return end
  if not k then error(("%s %s: %s"):format(what, path, err), 3) end
  error(("%s %s: not a directory"):format(what, path), 3)
end

-- A container whose root user is the host's root (no user namespace, or
-- one that maps uid 0 to 0) can make setuid-root files and device nodes
-- in a writable root: the directory must be out of other users' reach.
local function check_private(path, what)
  local open, real = build.reachable(path)
  if not open then return end
  error(("%s%s: other users can reach this directory, and the container's root is the host's "
    .. "root: a setuid file or device node it made there would serve them. Keep it under a "
    .. "directory only root can enter (nsl.rootfs.busybox() and unpack() build under "
    .. "/var/lib/nsl/rootfs, 0700), or give it read-only ({image = dir}) or copy-on-write "
    .. "({image = dir, writable = true})"):format(what, real), 3)
end

-- prepare(owner, host_root): host_root says the container's root user is
-- the host's (see check_private).
function Root:prepare(owner, host_root)
  if self.prepared then return self end
  if self.kind == "dir" then
    require_dir(self.path, self.readonly and "rootfs.image" or "rootfs")
    if self.path == "/" then
      error("rootfs: the host's / cannot be a container's root; use nsl.rootfs.host() for its programs read-only", 2)
    end
    if host_root and not self.readonly then check_private(self.path, "") end
  elseif self.kind == "overlay" and self.ephemeral then
    for i, l in ipairs(self.lowers or { self.image }) do
      local what = self.lowers and ("rootfs.image[%d]"):format(i) or "rootfs.image"
      require_dir(l, what)
      check_overlay_path(l, what)
    end
    local base = ephemeral_base()
    local d, err = base and nsl.owned_dir(base, { create = 448, private = true })
    if not d then error(("rootfs: state directory: %s"):format(err or "none"), 2) end
    d:close()
    check_overlay_path(base, "rootfs state directory")
    self.tmp_base = base
  elseif self.kind == "overlay" then
    for i, l in ipairs(self.lowers or { self.image }) do
      local what = self.lowers and ("rootfs.image[%d]"):format(i) or "rootfs.image"
      require_dir(l, what)
      check_overlay_path(l, what)
    end
    if self.upper_dir then
      check_overlay_path(self.upper_dir, "rootfs.upper")
      if not kind(self.upper_dir) then
        local ok, err = mkdir(self.upper_dir, 493)
        if not ok then error(("rootfs.upper: %s"):format(err), 2) end
      end
      require_dir(self.upper_dir, "rootfs.upper")
      if host_root then check_private(self.upper_dir, "upper ") end
      -- The work directory must be on the upper's file system: its sibling.
      local work = self.upper_dir .. ".nsl-work"
      local ok, err = mkdir(work, 448)
      if not ok then error(("rootfs.upper: work directory %s"):format(err), 2) end
      self.work_dir = work
    end
    local state, err = make_state_dir(owner)
    if not state then
      if self.work_dir then rmdir(self.work_dir); self.work_dir = nil end
      error(("rootfs: state directory: %s"):format(err), 2)
    end
    self.state = state
    check_overlay_path(state, "rootfs state directory")
    if self.keep then
      for _, sub in ipairs { "upper", "work", "merged" } do
        local ok, merr = mkdir(state .. "/" .. sub, 493)
        if not ok then
          self:discard()
          error(("rootfs: %s"):format(merr), 2)
        end
      end
      self.upper = state .. "/upper"
    elseif self.upper_dir then
      local ok, merr = mkdir(state .. "/merged", 493)
      if not ok then self:discard(); error(("rootfs: %s"):format(merr), 2) end
      self.upper = self.upper_dir
    end
  elseif self.kind == "host" then
    local state, err = make_state_dir(owner)
    if not state then error(("rootfs: state directory: %s"):format(err), 2) end
    self.state = state
  end
  self.prepared = true
  return self
end

function Root:inspect_dir()
  if self.kind == "dir" then return self.path end
  -- layers: no one directory holds the whole root
  if self.kind == "overlay" then return not self.lowers and self.image or nil end
  return "/"
end

local function must(ok, err)
  if not ok then error("rootfs: " .. tostring(err), 0) end
  return ok
end

local function mount_host(state)
  must(nsl.mount("tmpfs", state, "tmpfs", "nosuid,nodev", "mode=0755"))
  for _, name in ipairs(HOST_DIRS) do
    local st = nsl.lstat("/" .. name)
    local target = state .. "/" .. name
    local link = st and st.type == "symlink" and nsl.readlink("/" .. name)
    if link and link:sub(1, 1) ~= "/" and not link:find("..", 1, true) then
      -- A merged-/usr host: /bin -> usr/bin stays a link into the same tree.
      must(nsl.symlink(link, target))
    elseif is_dir("/" .. name) then
      must(mkdir(target, 493))
      must(nsl.mount("/" .. name, target, nil, "bind,rec,ro,nodev"))
    end
  end
  must(mkdir(state .. "/etc", 493))
  for _, name in ipairs(HOST_ETC) do
    if kind("/etc/" .. name) == "file" then
      must(util.copy_file("/etc/" .. name, state .. "/etc/" .. name))
      must(nsl.chmod(state .. "/etc/" .. name, 420)) -- whatever the umask
    end
  end
  -- Debian's alternatives are symlinks through /etc/alternatives.
  if is_dir("/etc/alternatives") then
    must(mkdir(state .. "/etc/alternatives", 493))
    must(nsl.mount("/etc/alternatives", state .. "/etc/alternatives", nil, "bind,ro,nodev,nosuid"))
  end
  for _, name in ipairs { "tmp", "run" } do
    must(mkdir(state .. "/" .. name, 493))
    must(nsl.mount("tmpfs", state .. "/" .. name, "tmpfs", "nosuid,nodev",
      name == "tmp" and "mode=1777" or "mode=0755"))
  end
  for _, name in ipairs { "proc", "sys", "dev", "home" } do
    must(mkdir(state .. "/" .. name, 493))
  end
  must(mkdir(state .. "/root", 448))
  return state
end

-- The steps of an nsl.plan (src/plan.c) that build the root in the
-- child, and the path to pivot into. Without steps (a host root, which
-- looks at the host's directories as it goes), root:mount() builds it.
function Root:plan_steps()
  if self.kind == "dir" then
    return { { "mount", "rootfs", self.path, self.path, false,
               self.readonly and "bind,rec,ro,nodev" or "bind,rec,nodev" } }, self.path
  end
  assert(self.prepared, "rootfs: mount() before prepare()")
  if self.kind == "host" then return nil, self.state end
  -- overlay
  local steps = {}
  local upper, work, merged
  local lowerdir = table.concat(self.lowers or { self.image }, ":")
  -- rootless, overlayfs keeps its marks (opaque directories, as an
  -- image's layers have them) in user.overlay.* xattrs
  if nsl.geteuid() ~= 0 then lowerdir = lowerdir .. ",userxattr" end
  local tmp = self.tmp_base or self.state
  if self.readonly then
    -- layers without an upper: a read-only overlay
    steps[1] = { "mount", "rootfs", "tmpfs", tmp, "tmpfs", "nodev", "mode=0755" }
    steps[2] = { "mkdir", "rootfs", tmp .. "/merged", 493 }
    steps[3] = { "mount", "rootfs", "overlay", tmp .. "/merged", "overlay", "nodev,ro",
      "lowerdir=" .. lowerdir }
    return steps, tmp .. "/merged"
  end
  if self.keep then
    upper, work, merged = self.state .. "/upper", self.state .. "/work", self.state .. "/merged"
  elseif self.upper_dir then
    upper, work, merged = self.upper_dir, self.work_dir, self.state .. "/merged"
  else
    -- A temporary upper layer lives on a tmpfs of the container's own
    -- mount namespace: it vanishes with the container, however it ends.
    steps[1] = { "mount", "rootfs", "tmpfs", tmp, "tmpfs", "nodev",
                 "mode=0755" .. (self.size and (",size=" .. self.size) or "") }
    upper, work, merged = tmp .. "/upper", tmp .. "/work", tmp .. "/merged"
    for _, d in ipairs { upper, work, merged } do steps[#steps + 1] = { "mkdir", "rootfs", d, 493 } end
  end
  steps[#steps + 1] = { "mount", "rootfs", "overlay", merged, "overlay", "nodev",
    ("lowerdir=%s,upperdir=%s,workdir=%s"):format(lowerdir, upper, work) }
  return steps, merged
end

--- In the child, in its own mount namespace: builds the root and
--- returns the path to pivot into.
function Root:mount()
  local steps, top = self:plan_steps()
  if not steps then return mount_host(top) end
  local ok, err = nsl.plan(steps):run()
  if not ok then error(err, 0) end
  return top
end

-- Removes a work directory nsl made for overlayfs (the kernel leaves its
-- work/work at mode 0, and may keep a shared whiteout in it), in process:
-- the directory must be the caller's own, and what is in it is removed
-- through its handle, following no link and entering no other file
-- system. Its parent may be a shared one (an upper directory in /tmp).
local function remove_work(work)
  if not nsl.lstat(work) then return true end
  local d, err = nsl.owned_dir(work)
  if not d then return nil, err end
  for _, name in ipairs(d:list() or {}) do
    local ok, rerr = d:remove(name)
    if not ok then d:close(); return nil, rerr end
  end
  d:close()
  return rmdir(work)
end

-- Undoes a prepare() that failed half-way, kept upper layer included.
function Root:discard()
  if self.state and self.keep then
    rmdir(self.state .. "/upper")
    self.keep = false
  end
  return self:cleanup()
end

-- Returns true, or nil and a message naming what could not be removed.
function Root:cleanup()
  local failed
  local function gone(ok, err)
    if not ok and not failed then failed = err end
  end
  if self.work_dir then
    gone(remove_work(self.work_dir))
    if not failed then self.work_dir = nil end
  end
  if self.state then
    if self.keep then
      gone(rmdir(self.state .. "/merged"))
      gone(remove_work(self.state .. "/work"))
      -- state/upper stays, and with it state.
    else
      gone(rmdir(self.state .. "/merged"))
      gone(rmdir(self.state))
      if not failed then self.state = nil end
    end
  end
  self.prepared = nil
  if failed then return nil, "rootfs cleanup: " .. tostring(failed) end
  return true
end

-- A root rebuilt from its fields as a container's state file recorded
-- them (plain data), so that a later process can clean up after it.
function M.restore(t)
  return setmetatable(t, Root)
end

-- Removes the state directories prepare(owner) made for owner whose
-- process died before it recorded them: the empty merged mount point and
-- work directory, then the directory when nothing else (a kept upper
-- layer) is in it.
function M.sweep(owner)
  local base, own = state_base()
  local prefix = (own and "root-" or "nsl-root-") .. owner .. "-"
  for _, name in ipairs(nsl.readdir(base) or {}) do
    if name:sub(1, #prefix) == prefix and #name == #prefix + 6 then
      -- only a directory of the caller's own (another user may have put
      -- one with this name in /tmp)
      local d = nsl.owned_dir(base .. "/" .. name)
      if d then
        nsl.rmdir(base .. "/" .. name .. "/merged")
        if d:lstat("work") then d:remove("work") end
        d:close()
        rmdir(base .. "/" .. name)
      end
    end
  end
end

return M
