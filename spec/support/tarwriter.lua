-- A small tar writer for the specs: archives tar itself would refuse to
-- make (absolute names, "..", links through links, device nodes,
-- whiteouts), as ustar headers in 512-byte blocks, with a pax header
-- when a name or link is longer than 100 bytes or the entry has xattrs.
--
--   local tar = require "tarwriter"
--   tar.write(path, {
--     {name = "etc/", type = "dir", mode = 493},
--     {name = "etc/x", data = "hello", mode = 420, uid = 0, gid = 0, mtime = 0},
--     {name = "l", type = "symlink", link = "/"},
--     {name = "h", type = "hardlink", link = "etc/x"},
--     {name = "dev/null", type = "char", major = 1, minor = 3},
--     {name = "f", data = "x", xattrs = {["user.a"] = "b"}},
--   }, {gzip = true})
local M = {}

local TYPES = { file = "0", hardlink = "1", symlink = "2", char = "3", block = "4",
  dir = "5", fifo = "6" }

local function oct(n, w) return ("%0" .. (w - 1) .. "o\0"):format(n) end
local function pad(s, w)
  assert(#s <= w, "field too long: " .. s)
  return s .. ("\0"):rep(w - #s)
end
local function blocks(data) return data .. ("\0"):rep((512 - #data % 512) % 512) end

local function header(name, flag, e, size)
  local h = pad(name, 100) .. oct(e.mode or 420, 8) .. oct(e.uid or 0, 8) .. oct(e.gid or 0, 8)
    .. oct(size, 12) .. oct(e.mtime or 0, 12) .. "        " .. flag
    .. pad(#(e.link or "") <= 100 and e.link or "", 100) .. "ustar\0" .. "00"
    .. pad("root", 32) .. pad("root", 32) .. oct(e.major or 0, 8) .. oct(e.minor or 0, 8)
  h = pad(h, 512)
  local sum = 0
  for i = 1, 512 do sum = sum + h:byte(i) end
  return h:sub(1, 148) .. ("%06o\0 "):format(sum) .. h:sub(157)
end

-- One pax record: "LEN key=value\n", LEN counting itself.
local function record(key, value)
  local body = " " .. key .. "=" .. value .. "\n"
  local len = #body + 1
  while #tostring(len) + #body ~= len do len = #tostring(len) + #body end
  return len .. body
end

-- The bytes of a tar archive of entries (see the file's comment).
function M.tar(entries)
  local out = {}
  for _, e in ipairs(entries) do
    local flag = TYPES[e.type or "file"] or e.type
    local data = e.data or ""
    local pax = {}
    if #e.name > 100 then pax[#pax + 1] = record("path", e.name) end
    if e.link and #e.link > 100 then pax[#pax + 1] = record("linkpath", e.link) end
    local keys = {}
    for k in pairs(e.xattrs or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do pax[#pax + 1] = record("SCHILY.xattr." .. k, e.xattrs[k]) end
    if #pax > 0 then
      local body = table.concat(pax)
      out[#out + 1] = header("PaxHeader", "x", {}, #body)
      out[#out + 1] = blocks(body)
    end
    local size = flag == "0" and #data or 0
    out[#out + 1] = header(e.name:sub(1, 100), flag, e, size)
    if size > 0 then out[#out + 1] = blocks(data) end
  end
  out[#out + 1] = ("\0"):rep(1024)
  return table.concat(out)
end

-- Writes the archive to path; opts.gzip or opts.zstd compresses it with
-- the command of that name.
function M.write(path, entries, opts)
  opts = opts or {}
  local f = assert(io.open(path, "wb"))
  f:write(M.tar(entries))
  f:close()
  for _, tool in ipairs { "gzip", "zstd" } do
    if opts[tool] then
      assert(os.execute(("%s -q -c '%s' > '%s.z' && mv '%s.z' '%s'"):format(tool, path, path, path, path)))
    end
  end
  return path
end

return M
