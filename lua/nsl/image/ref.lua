-- Image references as users write them, parsed the way docker and podman
-- read them (the distribution project's grammar):
--
--   alpine                       docker.io/library/alpine:latest
--   alpine:3.19                  docker.io/library/alpine:3.19
--   team/app                     docker.io/team/app:latest
--   registry.local:5000/team/app@sha256:<64 hex>
--   localhost/app:dev            localhost/app:dev
--
-- The first component is a registry when it has a '.' or a ':' or is
-- "localhost"; otherwise the default registry (nsl.image.default_registry,
-- "docker.io") is meant, where one-component names live under library/.

local M = {}

M.default_registry = "docker.io"

local TAG = "^[%w_][%w_.-]*$"

local function rerr(ref, fmt, ...)
  error(("image reference %q: " .. fmt):format(ref, ...), 0)
end

-- A path component: lowercase letters and digits, separated by one '.',
-- one or two '_', or any number of '-'.
local function valid_component(c)
  if c == "" then return false end
  -- Lua patterns have no alternation: check the separators by hand
  if not c:match("^[a-z0-9]") or not c:match("[a-z0-9]$") then return false end
  if c:find("[^a-z0-9._-]") then return false end
  if c:find("%.%.") or c:find("[._-]%.") or c:find("%.[_-]") or c:find("___") then return false end
  return true
end

--- parse(ref) -> {registry =, repository =, tag =, digest =, name = the
--- full name without tag or digest, text = the normalised reference};
--- raises naming what is wrong.
function M.parse(ref)
  if type(ref) ~= "string" or ref == "" then
    error(("image reference must be a non-empty string (got %s)"):format(type(ref)), 0)
  end
  if #ref > 255 + 128 + 72 then rerr(ref, "too long") end
  local rest, digest = ref:match("^(.-)@(.*)$")
  rest = rest or ref
  if digest then
    if not digest:match("^sha256:%x+$") or #digest ~= 71 or digest:find("[A-F]") then
      rerr(ref, "digest must be sha256: and 64 lowercase hex digits")
    end
  end
  -- the tag follows the last ':' with no '/' after it ("host:5000/app"
  -- has none: that ':' is the registry's port)
  local name, tag = rest:match("^(.*):([^/:]*)$")
  if not name then name = rest end
  if tag and not tag:match(TAG) then rerr(ref, "bad tag %q", tag) end
  if tag and #tag > 128 then rerr(ref, "tag longer than 128 characters") end
  local parts = {}
  for p in (name .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = p end
  local registry
  if #parts > 1 and (parts[1]:find("[.:]") or parts[1] == "localhost") then
    registry = table.remove(parts, 1)
    if not registry:match("^[%w.-]+$") and not registry:match("^[%w.-]+:%d+$") then
      rerr(ref, "bad registry %q", registry)
    end
  end
  if #parts == 0 then rerr(ref, "no repository") end
  for _, p in ipairs(parts) do
    if not valid_component(p) then
      rerr(ref, "bad name component %q (lowercase letters, digits and . _ - between them)", p)
    end
  end
  registry = registry or M.default_registry
  if registry == "docker.io" and #parts == 1 then table.insert(parts, 1, "library") end
  local repository = table.concat(parts, "/")
  if not tag and not digest then tag = "latest" end
  local r = { registry = registry, repository = repository, tag = tag, digest = digest,
    name = registry .. "/" .. repository }
  r.text = r.name .. (tag and (":" .. tag) or "") .. (digest and ("@" .. digest) or "")
  return r
end

--- The short form a user would type back (docker.io/library/ left out).
function M.short(r)
  local name = r.name:gsub("^docker%.io/library/", ""):gsub("^docker%.io/", "")
  return name .. (r.tag and (":" .. r.tag) or "") .. (r.digest and ("@" .. r.digest) or "")
end

return M
