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
-- Nothing on the start path (prepare, mount) runs a shell: unpack runs
-- tar, before any container. The builders write only into a directory of
-- the caller's own (nsl.owned_dir), through its handle: no link in it is
-- followed.
local nsl = require "nsl"
local util = require "nsl.util"

local M = {}

local ROOT_MARK = {} -- tables made by the builders carry it as [ROOT_MARK]

-- ---- small file system helpers --------------------------------------------

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- "dir", "file" (or another lstat type) or nil, message, errno; a
-- symlink is followed, as a user giving such a path means its target.
local function kind(path)
  local st, err, code = nsl.lstat(path)
  if st and st.type == "symlink" then
    local real = nsl.realpath(path)
    if not real then return nil, ("%s: dangling symbolic link"):format(path), 2 end
    st, err, code = nsl.lstat(real)
  end
  if not st then return nil, err, code end
  return st.type == "directory" and "dir" or st.type
end
M._kind = kind

local function is_dir(path)
  return kind(path) == "dir"
end

local function mkdir(path, mode)
  return nsl.mkdir(path, mode or 493)
end

local function copy_file(from, to)
  local src, err = io.open(from, "rb")
  if not src then return nil, err end
  local dst, err2 = io.open(to, "wb")
  if not dst then src:close(); return nil, err2 end
  while true do
    local chunk = src:read(65536)
    if not chunk then break end
    dst:write(chunk)
  end
  src:close()
  return dst:close()
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

local function strip_slashes(path)
  if #path > 1 then path = path:gsub("/+$", "") end
  return path
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

-- ---- the builders -----------------------------------------------------------

local describe_value = util.describe

local function check_path(value, what)
  if type(value) ~= "string" then
    error(("%s must be a path (a string), got %s"):format(what, type(value)), 3)
  end
  if value == "" or value:find("\0", 1, true) or #value >= 4096 then
    error(("%s must be a non-empty path without NUL bytes, shorter than 4096 bytes"):format(what), 3)
  end
  return strip_slashes(value)
end

-- Whether an ELF file asks for a program interpreter (is dynamically
-- linked): such a busybox would not run in a root without its libraries.
local function elf_is_static(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local hdr = f:read(64)
  if not hdr or #hdr < 64 or hdr:sub(1, 4) ~= "\127ELF" then f:close(); return nil end
  local class, endian = hdr:byte(5), hdr:byte(6)
  local e = endian == 2 and ">" or "<"
  local phoff, phentsize, phnum
  if class == 2 then
    phoff = string.unpack(e .. "I8", hdr, 33)
    phentsize, phnum = string.unpack(e .. "I2I2", hdr, 55)
  else
    phoff = string.unpack(e .. "I4", hdr, 29)
    phentsize, phnum = string.unpack(e .. "I2I2", hdr, 43)
  end
  for i = 0, phnum - 1 do
    f:seek("set", phoff + i * phentsize)
    local ph = f:read(4)
    if not ph or #ph < 4 then break end
    if string.unpack(e .. "I4", ph) == 3 then f:close(); return false end -- PT_INTERP
  end
  f:close()
  return true
end

local BUSYBOX = "/bin/busybox"
local STAMP = ".nsl-busybox"

local ETC = {
  passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  group = "root:x:0:\nnogroup:x:65534:\n",
  hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
  ["nsswitch.conf"] = "passwd: files\ngroup: files\nhosts: files dns\n",
}

local function root_table(t)
  t[ROOT_MARK] = true
  return setmetatable(t, {
    __tostring = function(r)
      return ("rootfs(%s%s)"):format(r.kind, r.path and (" " .. r.path) or "")
    end,
  })
end

-- ---- where builders put roots, and who can reach them ------------------------

-- The caller's own place for the roots the builders make when given no
-- directory: /var/lib/nsl/rootfs for root (/var/lib/nsl is 0700, so a
-- setuid file or device node a container leaves in its root serves no
-- one else, as docker's 0710 data directory); rootless
-- $XDG_DATA_HOME/nsl/rootfs, else ~/.local/share/nsl/rootfs. Returns the
-- path, or nil and why.
function M.store()
  if nsl.geteuid() == 0 then
    local top, err = nsl.owned_dir("/var/lib/nsl", { create = 448, private = true })
    if not top then return nil, err end
    top:close()
    return "/var/lib/nsl/rootfs"
  end
  local data = os.getenv("XDG_DATA_HOME")
  if not (data and data:sub(1, 1) == "/") then
    local home = os.getenv("HOME")
    if not (home and home:sub(1, 1) == "/") then
      return nil, "no place of your own for roots: set XDG_DATA_HOME or HOME, or give a directory"
    end
    data = home .. "/.local/share"
  end
  local top, err = nsl.owned_dir(data .. "/nsl", { create = 448 })
  if not top then return nil, err end
  top:close()
  return data .. "/nsl/rootfs"
end

-- The directory a builder works in, the caller's own (made when missing):
-- a handle on it, and whether this call made it.
local function builder_dir(dir, default_name, who)
  if dir == nil then
    local store, err = M.store()
    if not store then error(("%s: %s"):format(who, err), 3) end
    dir = store .. "/" .. default_name
  end
  if dir == "/" then error(("%s: refusing to build into /"):format(who), 3) end
  local k = kind(dir)
  if k and k ~= "dir" then error(("%s: %s exists and is not a directory"):format(who, dir), 3) end
  local d, err = nsl.owned_dir(dir, { create = 493 })
  if not d then error(("%s: %s"):format(who, err), 3) end
  return d, not k, dir
end

-- Whether users other than root can reach path (and so run a setuid file
-- or open a device node in it): nil when a directory on its way, itself
-- included, is root's and closed to others (no search bit for others, nor
-- for its group unless that is root's group); else true and the path.
function M.reachable(path)
  local real = nsl.realpath(path)
  if not real then return true, path end
  local sofar = ""
  for part in ("/" .. real):gmatch("[^/]*") do
    if part ~= "" or sofar == "" then
      sofar = part == "" and "/" or (sofar == "/" and "/" .. part or sofar .. "/" .. part)
      local st = nsl.lstat(sofar)
      if st and st.uid == 0 and st.mode & 1 == 0 and (st.mode & 8 == 0 or st.gid == 0) then
        return nil
      end
    end
  end
  return true, real
end

-- busybox([dir] [, {busybox = "/bin/busybox"}]) -> root description
-- Builds a minimal root in dir (by default M.store()/busybox) from a
-- statically linked busybox: bin/busybox with a symlink per applet,
-- /etc/passwd, group, hosts, nsswitch.conf, and empty dev, proc, sys, tmp,
-- run, root, home. dir must be the caller's own (nsl.owned_dir); nothing
-- in it is followed if it is a link. Idempotent: a root already built
-- from the same busybox is returned at once.
function M.busybox(dir, opts)
  if type(dir) == "table" and opts == nil then dir, opts = nil, dir end
  if dir ~= nil then dir = check_path(dir, "rootfs.busybox: dir") end
  if opts ~= nil and type(opts) ~= "table" then
    error("rootfs.busybox: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "busybox" then
      error(("rootfs.busybox: unknown option '%s' (expected busybox)"):format(tostring(k)), 2)
    end
  end
  if dir == "/" then error("rootfs.busybox: refusing to build into /", 2) end
  if opts.busybox ~= nil then check_path(opts.busybox, "rootfs.busybox: busybox") end
  local bb = opts.busybox or BUSYBOX
  local size = file_size(bb)
  if not size or kind(bb) ~= "file" then
    error(("rootfs.busybox: %s not found (install Debian's busybox-static)"):format(bb), 2)
  end
  local static = elf_is_static(bb)
  if static == nil then error(("rootfs.busybox: %s is not an ELF program"):format(bb), 2) end
  if not static then
    error(("rootfs.busybox: %s is dynamically linked; it needs the statically linked one (Debian's busybox-static)"):format(bb), 2)
  end
  local d <close>, _, path = builder_dir(dir, "busybox", "rootfs.busybox")
  local stamp = ("busybox %s %d\n"):format(bb, size)
  local built = d:lstat("bin/busybox")
  if d:read(STAMP) == stamp and built and built.type == "file" and built.size == size then
    return root_table { kind = "busybox", path = path }
  end

  -- The applets and where they live ("usr/bin/wget"); each link is
  -- relative, so it resolves the same inside and when seen from the host.
  local list = io.popen(quote(bb) .. " --list-full")
  local applets = {}
  for line in list:lines() do
    if line:match("^[%w%._%[%]%-/]+$") and not line:find("..", 1, true) and not line:find("//", 1, true) then
      applets[#applets + 1] = line
    end
  end
  list:close()
  if #applets == 0 then error(("rootfs.busybox: %s --list-full gave no applets"):format(bb), 2) end

  local function must(ok, err)
    if not ok then error("rootfs.busybox: " .. tostring(err), 3) end
  end
  -- A directory, made or found: a link or a file in its place is refused.
  local function dir_at(rel, mode)
    local st = d:lstat(rel)
    if not st then
      local parent = rel:match("^(.*)/[^/]+$")
      if parent then dir_at(parent, 493) end
      return must(d:mkdir(rel, mode))
    end
    if st.type ~= "directory" then
      must(nil, ("%s/%s is a %s, not a directory: remove it and build again"):format(path, rel, st.type))
    end
    if st.mode ~= mode then must(d:chmod(rel, mode)) end
  end
  for _, sub in ipairs { "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys",
                         "run", "home", "var" } do
    dir_at(sub, 493)
  end
  dir_at("tmp", 1023); dir_at("var/tmp", 1023); dir_at("root", 448)
  local src = assert(io.open(bb, "rb"))
  local binary = src:read("a")
  src:close()
  must(d:write("bin/busybox", binary, 493))
  for _, a in ipairs(applets) do
    local target = a:match("^bin/[^/]+$") and "busybox"
      or (a:gsub("[^/]+/", "../"):gsub("[^/]*$", "") .. "bin/busybox")
    local parent = a:match("^(.*)/[^/]+$")
    if parent then dir_at(parent, 493) end
    if not d:lstat(a) then must(d:symlink(target, a)) end
  end
  for name, text in pairs(ETC) do
    if not d:lstat("etc/" .. name) then must(d:write("etc/" .. name, text, 420)) end
  end
  must(d:write(STAMP, stamp, 420))
  return root_table { kind = "busybox", path = path }
end

-- host() -> root description
-- The host's own programs and libraries (/usr, /bin, /sbin, /lib*) read-only,
-- with a private /etc holding copies of a few files, and private /tmp, /run.
function M.host()
  return root_table { kind = "host" }
end

local HOST_DIRS = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" }
local HOST_ETC = { "passwd", "group", "hosts", "resolv.conf", "nsswitch.conf",
  "ld.so.cache", "localtime", "host.conf" }

-- A tar member name that would land outside the target directory.
local function unsafe_member(name)
  if name:sub(1, 1) == "/" then return "an absolute path" end
  for part in name:gmatch("[^/]+") do
    if part == ".." then return "a '..' component" end
  end
end
M._unsafe_member = unsafe_member

-- The members of a tarball that are device nodes (GNU tar's long
-- listing starts with b or c), those under dev/ left out: tar skips them.
local function device_members(tarball)
  local p = io.popen(("tar -tvf %s --quoting-style=escape 2>/dev/null"):format(quote(tarball)))
  local found = {}
  for line in p:lines() do
    local t = line:sub(1, 1)
    if t == "b" or t == "c" then
      local name = line:match("%d%d:%d%d%S* (.*)$") or line
      if not name:match("^%.?/?dev/") then found[#found + 1] = name end
    end
  end
  p:close()
  return found
end

-- unpack(tarball [, dir] [, {devices = true}]) -> root description
-- Unpacks a tarball of a root file system (docker export, a packed
-- debootstrap tree; compressed or not) into dir (by default
-- M.store()/<the tarball's name>), which must be the caller's own and
-- absent or empty. Members with absolute paths or '..' are refused before
-- anything is written; GNU tar defers symlinks that point outside until
-- the end, so no member is written through one. Device nodes under dev/
-- are left out (a container gets its own /dev); elsewhere they refuse the
-- tarball unless devices = true. Run by root, which keeps the archive's
-- owners and setuid bits, dir must be out of other users' reach
-- (M.reachable). Running it again on a directory unpacked from the same
-- tarball returns at once.
function M.unpack(tarball, dir, opts)
  tarball = check_path(tarball, "rootfs.unpack: tarball")
  if type(dir) == "table" and opts == nil then dir, opts = nil, dir end
  if dir ~= nil then dir = check_path(dir, "rootfs.unpack: dir") end
  if opts ~= nil and type(opts) ~= "table" then
    error("rootfs.unpack: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    if k ~= "devices" then
      error(("rootfs.unpack: unknown option '%s' (expected devices)"):format(tostring(k)), 2)
    end
    if type(v) ~= "boolean" then error("rootfs.unpack: devices must be a boolean, got " .. type(v), 2) end
  end
  if dir == "/" then error("rootfs.unpack: refusing to unpack into /", 2) end
  if kind(tarball) ~= "file" then
    local _, err = io.open(tarball, "r")
    error(("rootfs.unpack: tarball %s: %s"):format(tarball, err or "not a regular file"), 2)
  end
  local stem = tarball:match("([^/]+)$"):gsub("%.t[gx]z$", ""):gsub("%.tar[%.%w]*$", "")
  local d <close>, created, path = builder_dir(dir, "unpack-" .. stem, "rootfs.unpack")
  local stamp = ("unpacked %s %d\n"):format(tarball, file_size(tarball))
  if d:read(".nsl-unpacked") == stamp then
    return root_table { kind = "unpack", path = path }
  end
  local function give_up(msg)
    if created then d:close(); nsl.rmdir(path) end
    error("rootfs.unpack: " .. msg, 3)
  end
  local root = nsl.geteuid() == 0
  if root then
    local open, real = M.reachable(path)
    if open then
      give_up(("%s is within other users' reach (every directory on its way lets them through), "
        .. "and the archive's setuid files and owners are kept: unpack under a directory only root "
        .. "can enter, such as the default (nsl.rootfs.unpack(tarball))"):format(real))
    end
  end
  if #d:list() > 0 then give_up(("%s is not empty"):format(path)) end

  -- First pass: every member's name, one per line, escapes for odd bytes.
  local p = io.popen(("tar -tf %s --quoting-style=escape 2>&1"):format(quote(tarball)))
  local names = p:read("a")
  local ok = p:close()
  if not ok then
    give_up(("%s is not a readable tarball: %s"):format(tarball, (names:gsub("\n$", ""))))
  end
  for name in names:gmatch("[^\n]+") do
    local why = unsafe_member(name)
    if why then
      give_up(("refusing %s: member %q has %s"):format(tarball, name, why))
    end
  end
  if not opts.devices then
    local devices = device_members(tarball)
    if #devices > 0 then
      give_up(("refusing %s: member %q is a device node (%d in all); pass {devices = true} to unpack them")
        :format(tarball, devices[1], #devices))
    end
  end

  local cmd = ("tar -xf %s -C %s --numeric-owner %s --exclude='./dev/*' --exclude='dev/*' --delay-directory-restore 2>&1")
    :format(quote(tarball), quote(path),
      root and "--same-owner --same-permissions --xattrs --xattrs-include='*'" or "--no-same-owner")
  p = io.popen(cmd)
  local out = p:read("a")
  ok = p:close()
  if not ok then
    -- Leave dir as it was: absent, or empty; nothing the tarball made is
    -- followed (nsl.owned_dir's remove).
    for _, name in ipairs(d:list() or {}) do d:remove(name) end
    give_up(("unpacking %s into %s failed: %s"):format(tarball, path, (out:gsub("\n$", ""))))
  end
  local wok, werr = d:write(".nsl-unpacked", stamp, 420)
  if not wok then error("rootfs.unpack: " .. tostring(werr), 2) end
  return root_table { kind = "unpack", path = path }
end

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
  if rawget(value, ROOT_MARK) then
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
  if type(image) == "table" and rawget(image, ROOT_MARK) then
    if not image.path then error("rootfs.image: nsl.rootfs.host() cannot be an image", 2) end
    image = image.path
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
    return new_root { kind = "dir", path = image, readonly = true }
  end
  if upper and value.keep ~= nil then
    error("rootfs.keep: an explicit upper directory is always kept; leave keep out", 2)
  end
  if upper and value.size then
    error("rootfs.size: applies to the temporary upper layer only, not to an explicit upper", 2)
  end
  return new_root { kind = "overlay", image = image, upper_dir = upper, keep = value.keep or false,
    size = value.size }
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
  local open, real = M.reachable(path)
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
  elseif self.kind == "overlay" then
    require_dir(self.image, "rootfs.image")
    check_overlay_path(self.image, "rootfs.image")
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
  if self.kind == "overlay" then return self.image end
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
      must(copy_file("/etc/" .. name, state .. "/etc/" .. name))
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
  if self.keep then
    upper, work, merged = self.state .. "/upper", self.state .. "/work", self.state .. "/merged"
  elseif self.upper_dir then
    upper, work, merged = self.upper_dir, self.work_dir, self.state .. "/merged"
  else
    -- A temporary upper layer lives on a tmpfs of the container's own
    -- mount namespace: it vanishes with the container, however it ends.
    steps[1] = { "mount", "rootfs", "tmpfs", self.state, "tmpfs", "nodev",
                 "mode=0755" .. (self.size and (",size=" .. self.size) or "") }
    upper, work, merged = self.state .. "/upper", self.state .. "/work", self.state .. "/merged"
    for _, d in ipairs { upper, work, merged } do steps[#steps + 1] = { "mkdir", "rootfs", d, 493 } end
  end
  steps[#steps + 1] = { "mount", "rootfs", "overlay", merged, "overlay", "nodev",
    ("lowerdir=%s,upperdir=%s,workdir=%s"):format(self.image, upper, work) }
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
