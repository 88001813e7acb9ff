-- nsl.landlock: file-system and network access rules (Landlock) in the
-- terms a sandbox is described in.
--
--   landlock = { read = { "/" }, write = { "/tmp" }, exec = { "/bin", "/lib" },
--                connect = { 443 }, bind = { 8080 }, best_effort = false }
--
-- read: files may be read and directories listed beneath each path;
-- write: also created, written, truncated, renamed, removed; exec: also
-- executed. Everything else beneath /, of every right the kernel's
-- Landlock ABI knows, is refused. connect and bind: the TCP ports that may
-- be connected to and bound (Landlock ABI 4, Linux 6.7); each, when
-- given, refuses its kind (connecting, binding) on every other port. The
-- rules are taken at the container's paths, after its root is in place.
--
-- The kernel's ABI is looked at when a container starts. What it lacks
-- refuses the start, unless best_effort = true: then what it lacks is
-- left out and said (on stderr and in c:info().landlock.dropped).

local nsl = require "nsl.core"

local M = {}

-- The kernel's access rights (include/uapi/linux/landlock.h).
local FS = {
  execute = 1 << 0, write_file = 1 << 1, read_file = 1 << 2, read_dir = 1 << 3,
  remove_dir = 1 << 4, remove_file = 1 << 5, make_char = 1 << 6, make_dir = 1 << 7,
  make_reg = 1 << 8, make_sock = 1 << 9, make_fifo = 1 << 10, make_block = 1 << 11,
  make_sym = 1 << 12, refer = 1 << 13, truncate = 1 << 14, ioctl_dev = 1 << 15,
}
local NET_BIND, NET_CONNECT = 1 << 0, 1 << 1

-- The file-system rights each ABI handles.
local function fs_handled(abi)
  local m = (1 << 13) - 1 -- ABI 1: execute .. make_sym
  if abi >= 2 then m = m | FS.refer end
  if abi >= 3 then m = m | FS.truncate end
  if abi >= 5 then m = m | FS.ioctl_dev end
  return m
end

local READ = FS.read_file | FS.read_dir
local WRITE = READ | FS.write_file | FS.remove_dir | FS.remove_file | FS.make_char
  | FS.make_dir | FS.make_reg | FS.make_sock | FS.make_fifo | FS.make_block | FS.make_sym
  | FS.refer | FS.truncate | FS.ioctl_dev
local EXEC = READ | FS.execute

local FIELDS = { read = READ, write = WRITE, exec = EXEC }
local KNOWN = { read = true, write = true, exec = true, bind = true, connect = true,
  best_effort = true }

local function lerr(fmt, ...) error(("landlock: " .. fmt):format(...), 0) end

-- The spec's table checked: {paths = {[path] = mask}, order = {...},
-- bind = {...}, connect = {...}, best_effort = bool}.
function M.check(t)
  if type(t) ~= "table" then lerr("must be a table (read, write, exec, bind, connect, best_effort)") end
  for k in pairs(t) do
    if not KNOWN[k] then lerr("unknown field '%s' (read, write, exec, bind, connect, best_effort)", tostring(k)) end
  end
  local r = { paths = {}, order = {}, best_effort = t.best_effort == true }
  if t.best_effort ~= nil and type(t.best_effort) ~= "boolean" then lerr("best_effort must be a boolean") end
  for _, f in ipairs({ "read", "write", "exec" }) do
    local list = t[f]
    if list ~= nil then
      if type(list) ~= "table" then lerr("%s must be a list of absolute paths", f) end
      for i, p in ipairs(list) do
        if type(p) ~= "string" or p:sub(1, 1) ~= "/" then
          lerr("%s[%d] must be an absolute path (got %s)", f, i, tostring(p))
        end
        if not r.paths[p] then r.order[#r.order + 1] = p end
        r.paths[p] = (r.paths[p] or 0) | FIELDS[f]
      end
    end
  end
  for _, f in ipairs({ "bind", "connect" }) do
    local list = t[f]
    if list ~= nil then
      if type(list) ~= "table" then lerr("%s must be a list of TCP ports", f) end
      r[f] = {}
      for i, p in ipairs(list) do
        if math.type(p) ~= "integer" or p < 0 or p > 65535 then
          lerr("%s[%d] must be a port number (got %s)", f, i, tostring(p))
        end
        r[f][#r[f] + 1] = p
      end
    end
  end
  return r
end

-- What this kernel can do of r: {abi, fs, net, paths = {{mask, path}},
-- ports = {{mask, port}}, dropped = {what was left out}}, or raises
-- (naming what is missing) when r is not best effort.
function M.resolve(r)
  local abi = nsl.landlock_abi()
  local out = { abi = abi, paths = {}, ports = {}, dropped = {} }
  local function lack(what)
    if not r.best_effort then
      lerr("%s (this kernel's Landlock ABI is %d); best_effort = true starts without it", what, abi)
    end
    out.dropped[#out.dropped + 1] = what
  end
  if abi == 0 then
    lack("Landlock is not available (not built, or not enabled at boot: lsm=...,landlock)")
    return out
  end
  out.fs = fs_handled(abi)
  for _, p in ipairs(r.order) do out.paths[#out.paths + 1] = { r.paths[p] & out.fs, p } end
  if r.bind or r.connect then
    if abi < 4 then
      lack("TCP port rules need Landlock ABI 4 (Linux 6.7)")
    else
      out.net = (r.bind and NET_BIND or 0) | (r.connect and NET_CONNECT or 0)
      for _, p in ipairs(r.bind or {}) do out.ports[#out.ports + 1] = { NET_BIND, p } end
      for _, p in ipairs(r.connect or {}) do out.ports[#out.ports + 1] = { NET_CONNECT, p } end
    end
  end
  return out
end

-- The plan steps that apply a resolved ruleset in the child.
function M.steps(ll)
  if not ll.fs then return {} end
  local s = { { "landlock", "landlock", ll.fs, ll.net or 0 } }
  for _, p in ipairs(ll.paths) do s[#s + 1] = { "landlock_path", "landlock " .. p[2], p[1], p[2] } end
  for _, p in ipairs(ll.ports) do s[#s + 1] = { "landlock_port", "landlock port " .. p[2], p[1], p[2] } end
  s[#s + 1] = { "landlock_restrict", "landlock" }
  return s
end

-- Applies a resolved ruleset to the calling process (c:exec).
function M.apply(ll)
  if not ll.fs then return true end
  return nsl.landlock_restrict { fs = ll.fs, net = ll.net or 0, paths = ll.paths, ports = ll.ports }
end

return M
