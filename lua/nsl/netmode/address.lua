-- Addresses and interface names of the network modes (nsl.netmode):
-- parsing an address or a subnet ("10.1.1.1/24"), comparing networks,
-- and the checks of the spec's fields that name them, which raise an
-- error naming the field.
local util = require "nsl.util"

local M = {}

local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local n = 0
  for _, part in ipairs { a, b, c, d } do
    local v = tonumber(part)
    if v > 255 or (#part > 1 and part:sub(1, 1) == "0") then return nil end
    n = n * 256 + v
  end
  return n
end

local function ipv4_string(n)
  return ("%d.%d.%d.%d"):format(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
end

local function is_ipv6(s)
  return s:find(":", 1, true) and s:match("^[%x:%.]+$") ~= nil and #s <= 45
end

-- "10.1.1.1/24" -> {ip = n, len = 24, family = "inet", text = ...}
local function cidr(s)
  if type(s) ~= "string" then return nil end
  local addr, len = s:match("^([^/]+)/(%d+)$")
  if not addr then return nil end
  len = tonumber(len)
  local n = ipv4(addr)
  if n and len <= 32 then return { ip = n, len = len, family = "inet", text = s } end
  if is_ipv6(addr) and len <= 128 then return { addr = addr, len = len, family = "inet6", text = s } end
end

local function mask(len)
  return len == 0 and 0 or (0xffffffff << (32 - len)) & 0xffffffff
end

local function same_net(a, b_ip, len)
  return (a & mask(len)) == (b_ip & mask(len))
end

local fail, describe = util.fail, util.describe

-- An interface name the kernel accepts: 1 to 15 bytes, no '/', ':' or blank.
local function check_ifname(v, field)
  if type(v) ~= "string" then fail("%s must be an interface name (a string), got %s", field, describe(v)) end
  if not util.is_ifname(v) then
    fail("%s %q is not a valid interface name (1 to 15 characters, no '/', ':' or blanks)", field, v)
  end
  return v
end

local function check_cidr(v, field)
  local c = cidr(v)
  if not c then
    fail("%s must be an address with a prefix length such as \"10.1.1.1/24\", got %s", field, describe(v))
  end
  return c
end

local function check_ip(v, field)
  if type(v) ~= "string" or not (ipv4(v) or is_ipv6(v)) then
    fail("%s must be an address without a prefix such as \"10.1.1.2\", got %s", field, describe(v))
  end
  return v
end

M.ipv4, M.ipv4_string, M.is_ipv6, M.cidr = ipv4, ipv4_string, is_ipv6, cidr
M.mask, M.same_net = mask, same_net
M.check_ifname, M.check_cidr, M.check_ip = check_ifname, check_cidr, check_ip

return M
