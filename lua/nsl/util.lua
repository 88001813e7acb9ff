-- Small helpers the Lua layer shares: reading and copying files, quoting
-- for sh, nsl's directory of the caller's own, describing a value in an
-- error message, raising one, and the rules for names nsl gives to things
-- (containers, interfaces).
local M = {}

-- The search path a container's command gets when its spec sets none.
M.DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

-- The whole content of a file, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- s quoted for sh(1).
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Copies the file from to the new file to, 64 KiB at a time; true, or
-- nil and why (to is left for the caller to remove).
function M.copy_file(from, to)
  local src, err = io.open(from, "rb")
  if not src then return nil, err end
  local dst, derr = io.open(to, "wb")
  if not dst then src:close(); return nil, derr end
  while true do
    local chunk = src:read(65536)
    if not chunk then break end
    local ok, werr = dst:write(chunk)
    if not ok then src:close(); dst:close(); return nil, werr end
  end
  src:close()
  return dst:close()
end

-- nsl's directory of the caller's own for kind "data" (roots, images) or
-- "cache" (compiled filters): /var/lib/nsl for root (0700: what a
-- container leaves there serves no one else) whatever the kind;
-- rootless $XDG_DATA_HOME/nsl (~/.local/share/nsl) or $XDG_CACHE_HOME/nsl
-- (~/.cache/nsl). Made when missing and checked to be the caller's own
-- (nsl.owned_dir); the path, or nil and why.
function M.own_dir(kind)
  local nsl = require "nsl.core"
  if nsl.geteuid() == 0 then
    local top, err = nsl.owned_dir("/var/lib/nsl", { create = 448, private = true })
    if not top then return nil, err end
    top:close()
    return "/var/lib/nsl"
  end
  local var, sub = "XDG_DATA_HOME", "/.local/share"
  if kind == "cache" then var, sub = "XDG_CACHE_HOME", "/.cache" end
  local base = os.getenv(var)
  if not (base and base:sub(1, 1) == "/") then
    local home = os.getenv("HOME")
    if not (home and home:sub(1, 1) == "/") then
      return nil, ("no place of your own: set %s or HOME"):format(var)
    end
    base = home .. sub
  end
  local top, err = nsl.owned_dir(base .. "/nsl", { create = 448 })
  if not top then return nil, err end
  top:close()
  return base .. "/nsl"
end

-- A value as an error message shows it: a string quoted, a number as it
-- is when numbers is true, anything else by its type.
function M.describe(v, numbers)
  if type(v) == "string" then return ("%q"):format(v) end
  if numbers and type(v) == "number" then return tostring(v) end
  return type(v)
end

-- Raises fmt:format(...) without a position: the message is the user's.
function M.fail(fmt, ...)
  error(fmt:format(...), 0)
end

-- A container name: 1 to 64 letters, digits, '_', '.' or '-', the first
-- a letter or digit (so that no name is taken for an option, or for the
-- "_anon-" ids of unnamed containers).
function M.is_name(v)
  return type(v) == "string" and #v <= 64 and v:match("^[%w][%w_.-]*$") ~= nil
end

-- An interface name the kernel accepts: 1 to 15 bytes, no '/', ':',
-- blank or NUL, and not "." or "..".
function M.is_ifname(v)
  return type(v) == "string" and #v >= 1 and #v <= 15 and not v:find("[/:%s%z]")
    and v ~= "." and v ~= ".."
end

return M
