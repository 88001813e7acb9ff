-- The builders of nsl.rootfs: busybox, unpack, and where they put roots
-- (store, reachable). nsl.rootfs re-exports them; a root description
-- they return carries the mark that nsl.rootfs.resolve looks for
-- (is_root), and the helpers both halves use (kind, check_path,
-- root_table) are here, so that there is one of each.
--
-- The builders write only into a directory of the caller's own
-- (nsl.owned_dir), through its handle: no link in it is followed. unpack
-- runs tar, before any container.
local nsl = require "nsl"
local util = require "nsl.util"

local M = {}

-- Tables made by the builders have a metatable with this name. A name,
-- not a private key: a copy of this module loaded again (busted's
-- insulation unloads modules between spec files) still knows them.
local ROOT_NAME = "nsl.rootfs.root"

-- ---- small file system helpers --------------------------------------------

local quote = util.quote

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
M.kind = kind

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

-- A path argument, trailing slashes stripped; an error blames the
-- function level levels up (default 3: the caller of check_path's caller).
local function check_path(value, what, level)
  level = level or 3
  if type(value) ~= "string" then
    error(("%s must be a path (a string), got %s"):format(what, type(value)), level)
  end
  if value == "" or value:find("\0", 1, true) or #value >= 4096 then
    error(("%s must be a non-empty path without NUL bytes, shorter than 4096 bytes"):format(what), level)
  end
  return strip_slashes(value)
end
M.check_path = check_path

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
  return setmetatable(t, {
    __name = ROOT_NAME,
    __tostring = function(r)
      return ("rootfs(%s%s)"):format(r.kind, r.path and (" " .. r.path) or "")
    end,
  })
end
M.root_table = root_table

-- Whether value is a root description a builder (or nsl.rootfs.host) made.
function M.is_root(value)
  local mt = getmetatable(value)
  return type(mt) == "table" and rawget(mt, "__name") == ROOT_NAME
end

-- ---- where builders put roots, and who can reach them ------------------------

-- The caller's own place for the roots the builders make when given no
-- directory: /var/lib/nsl/rootfs for root (/var/lib/nsl is 0700, so a
-- setuid file or device node a container leaves in its root serves no
-- one else, as docker's 0710 data directory); rootless
-- $XDG_DATA_HOME/nsl/rootfs, else ~/.local/share/nsl/rootfs. Returns the
-- path, or nil and why.
function M.store()
  local top, err = util.own_dir("data")
  if not top then
    return nil, (err:gsub("^no place of your own:", "no place of your own for roots:")) .. (nsl.geteuid() ~= 0 and ", or give a directory" or "")
  end
  return top .. "/rootfs"
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


-- busybox's arguments checked (errors name the caller of busybox): the
-- directory or nil, the busybox program, and its size.
local function busybox_args(dir, opts)
  if type(dir) == "table" and opts == nil then dir, opts = nil, dir end
  if dir ~= nil then dir = check_path(dir, "rootfs.busybox: dir", 4) end
  if opts ~= nil and type(opts) ~= "table" then
    error("rootfs.busybox: options must be a table, got " .. type(opts), 3)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "busybox" then
      error(("rootfs.busybox: unknown option '%s' (expected busybox)"):format(tostring(k)), 3)
    end
  end
  if dir == "/" then error("rootfs.busybox: refusing to build into /", 3) end
  if opts.busybox ~= nil then check_path(opts.busybox, "rootfs.busybox: busybox", 4) end
  local bb = opts.busybox or BUSYBOX
  local size = file_size(bb)
  if not size or kind(bb) ~= "file" then
    error(("rootfs.busybox: %s not found (install Debian's busybox-static)"):format(bb), 3)
  end
  local static = elf_is_static(bb)
  if static == nil then error(("rootfs.busybox: %s is not an ELF program"):format(bb), 3) end
  if not static then
    error(("rootfs.busybox: %s is dynamically linked; it needs the statically linked one (Debian's busybox-static)"):format(bb), 3)
  end
  return dir, bb, size
end

-- The applets and where they live ("usr/bin/wget").
local function busybox_applets(bb)
  local list = io.popen(quote(bb) .. " --list-full")
  local applets = {}
  for line in list:lines() do
    if line:match("^[%w%._%[%]%-/]+$") and not line:find("..", 1, true) and not line:find("//", 1, true) then
      applets[#applets + 1] = line
    end
  end
  list:close()
  if #applets == 0 then error(("rootfs.busybox: %s --list-full gave no applets"):format(bb), 3) end
  return applets
end

-- busybox([dir] [, {busybox = "/bin/busybox"}]) -> root description
-- Builds a minimal root in dir (by default M.store()/busybox) from a
-- statically linked busybox: bin/busybox with a symlink per applet,
-- /etc/passwd, group, hosts, nsswitch.conf, and empty dev, proc, sys, tmp,
-- run, root, home. dir must be the caller's own (nsl.owned_dir); nothing
-- in it is followed if it is a link. Idempotent: a root already built
-- from the same busybox is returned at once.
function M.busybox(dir, opts)
  local bb, size
  dir, bb, size = busybox_args(dir, opts)
  local d <close>, _, path = builder_dir(dir, "busybox", "rootfs.busybox")
  local stamp = ("busybox %s %d\n"):format(bb, size)
  local built = d:lstat("bin/busybox")
  if d:read(STAMP) == stamp and built and built.type == "file" and built.size == size then
    return root_table { kind = "busybox", path = path }
  end
  -- Each applet's link is relative, so it resolves the same inside and
  -- when seen from the host.
  local applets = busybox_applets(bb)

  local function must(ok, err)
    if not ok then error("rootfs.busybox: " .. tostring(err), 3) end
  end
  -- A directory, made or found: a link or a file in its place is refused.
  -- Each is looked at once (every applet names its directory again).
  local ready = {}
  local function dir_at(rel, mode)
    if ready[rel] then return end
    ready[rel] = true
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

-- A tar member name that would land outside the target directory.
local function unsafe_member(name)
  if name:sub(1, 1) == "/" then return "an absolute path" end
  for part in name:gmatch("[^/]+") do
    if part == ".." then return "a '..' component" end
  end
end
M.unsafe_member = unsafe_member

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

return M
