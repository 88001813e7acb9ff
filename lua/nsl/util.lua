-- Small helpers the Lua layer shares: reading a file whole, describing a
-- value in an error message, raising one, and the rules for names nsl
-- gives to things (containers, interfaces).
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
