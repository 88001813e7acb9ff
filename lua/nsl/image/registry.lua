-- Pulling from a registry over the Distribution (v2) API (docs/images.md):
-- manifests and indexes (OCI and Docker media types), blobs, bearer
-- tokens from the WWW-Authenticate challenge, basic credentials from the
-- usual auth files, plain HTTP only when asked for. Everything fetched is
-- verified against its digest before the store keeps it.

local nsl = require "nsl.core"
local store = require "nsl.image.store"

local M = {}

local function http() return require "nsl.http" end
local function archive() return require "nsl.archive" end
local function cjson() return require "cjson.safe" end

local function rerr(fmt, ...) error(("pull: " .. fmt):format(...), 0) end

local ACCEPT = "Accept: " .. table.concat({
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")
local INDEX = {
  ["application/vnd.oci.image.index.v1+json"] = true,
  ["application/vnd.docker.distribution.manifest.list.v2+json"] = true,
}

-- ---- credentials -------------------------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64_decode(s)
  s = s:gsub("[^%w+/=]", "")
  local out = {}
  for i = 1, #s, 4 do
    local n, pad = 0, 0
    for k = 0, 3 do
      local c = s:sub(i + k, i + k)
      local v = B64:find(c, 1, true)
      if c == "=" or c == "" then pad = pad + 1; v = 1 end
      n = n * 64 + (v - 1)
    end
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end

local function base64_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = {}
    for k = 3, 0, -1 do q[#q + 1] = B64:sub(((n >> (6 * k)) & 63) + 1, ((n >> (6 * k)) & 63) + 1) end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

-- The auth files docker, podman and skopeo read, first found first.
local function auth_files()
  local home, files = os.getenv("HOME"), {}
  local function add(p) if p then files[#files + 1] = p end end
  add(os.getenv("REGISTRY_AUTH_FILE"))
  local run = os.getenv("XDG_RUNTIME_DIR")
  add(run and (run .. "/containers/auth.json"))
  add(home and (home .. "/.config/containers/auth.json"))
  local docker = os.getenv("DOCKER_CONFIG") or (home and (home .. "/.docker"))
  add(docker and (docker .. "/config.json"))
  return files
end

--- The "user:password" an auth file holds for registry, or nil.
function M.credentials(registry)
  local keys = { registry, "https://" .. registry, "http://" .. registry }
  if registry == "docker.io" then
    keys[#keys + 1] = "https://index.docker.io/v1/"
    keys[#keys + 1] = "index.docker.io"
  end
  for _, path in ipairs(auth_files()) do
    local f = io.open(path, "rb")
    if f then
      local conf = cjson().decode(f:read("a") or "")
      f:close()
      local auths = type(conf) == "table" and conf.auths
      for _, k in ipairs(keys) do
        local a = type(auths) == "table" and auths[k]
        if type(a) == "table" and type(a.auth) == "string" then
          local plain = base64_decode(a.auth)
          if plain:find(":") then return plain end
        end
      end
    end
  end
  return nil
end

-- ---- a session with one repository -------------------------------------

-- Parses `Bearer realm="...",service="...",scope="..."` (or Basic).
local function challenge(header)
  if type(header) ~= "string" then return nil end
  local scheme, rest = header:match("^%s*(%a+)%s*(.*)$")
  if not scheme then return nil end
  local params = {}
  for k, v in rest:gmatch('(%w+)%s*=%s*"([^"]*)"') do params[k:lower()] = v end
  return scheme:lower(), params
end

local function urlencode(s)
  return (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local Session = {}
Session.__index = Session

local function host_of(registry)
  if registry == "docker.io" then return "registry-1.docker.io" end
  return registry
end

--- A session with r.repository on r.registry. opts.insecure: plain HTTP.
function M.session(r, opts)
  opts = opts or {}
  local scheme = opts.insecure and "http" or "https"
  return setmetatable({ r = r, base = ("%s://%s/v2/%s"):format(scheme, host_of(r.registry), r.repository),
    insecure = opts.insecure or false, progress = opts.progress, auth = nil,
    credentials = opts.credentials or M.credentials(r.registry) }, Session)
end

function Session:token(params)
  if not params.realm then rerr("%s asks for a token without a realm", self.r.registry) end
  local url = params.realm .. "?service=" .. urlencode(params.service or "") ..
    "&scope=" .. urlencode(params.scope or ("repository:" .. self.r.repository .. ":pull"))
  local resp, err = http().request { url = url, insecure = self.insecure, user = self.credentials }
  if not resp then rerr("token: %s", err) end
  if resp.status ~= 200 then rerr("token from %s: HTTP %d", params.realm, resp.status) end
  local j = cjson().decode(resp.body or "")
  local tok = type(j) == "table" and (j.token or j.access_token)
  if type(tok) ~= "string" then rerr("token from %s: no token in the answer", params.realm) end
  return tok
end

-- GET path (under the repository's base) with the session's credentials;
-- answers one 401 by authenticating as its challenge says.
function Session:get(path, req)
  local function once()
    local headers = { req.accept }
    if self.auth then headers[#headers + 1] = "Authorization: " .. self.auth end
    local resp, err = http().request { url = self.base .. path, headers = headers, output = req.output,
      insecure = self.insecure, progress = req.progress }
    if not resp then rerr("%s", err) end
    return resp
  end
  local resp = once()
  if resp.status == 401 and not self.auth then
    local scheme, params = challenge(resp.headers["www-authenticate"])
    if scheme == "bearer" then
      self.auth = "Bearer " .. self:token(params)
    elseif scheme == "basic" and self.credentials then
      self.auth = "Basic " .. base64_encode(self.credentials)
    else
      rerr("%s%s: authentication required (HTTP 401)%s", self.r.registry, path,
        self.credentials and "" or "; no credentials for it in the auth files")
    end
    if req.output then os.remove(req.output) end
    resp = once()
  end
  return resp
end



-- The manifest (or index) at reference, verified: its text, digest, JSON.
function Session:manifest(reference, want_digest)
  local resp = self:get("/manifests/" .. reference, { accept = ACCEPT })
  if resp.status == 404 then
    rerr("%s: no manifest %s (an unknown tag or digest)", self.r.name, reference)
  elseif resp.status ~= 200 then
    rerr("%s: manifest %s: HTTP %d", self.r.name, reference, resp.status)
  end
  local body = resp.body or ""
  local digest = "sha256:" .. archive().sha256_string(body)
  local said = resp.headers["docker-content-digest"]
  if want_digest and digest ~= want_digest then
    rerr("%s: manifest %s has digest %s", self.r.name, want_digest, digest)
  end
  if said and said:match("^sha256:") and said ~= digest then
    rerr("%s: manifest %s: the registry says %s, its content is %s", self.r.name, reference, said, digest)
  end
  local j, err = cjson().decode(body)
  if type(j) ~= "table" then rerr("%s: manifest %s is not valid JSON: %s", self.r.name, reference, tostring(err)) end
  return body, digest, j
end

-- A blob into the store (verified), unless it is there.
function Session:blob(root, desc, progress)
  if type(desc) ~= "table" or type(desc.digest) ~= "string" then rerr("a descriptor without a digest") end
  if store.has_blob(root, desc.digest, desc.size) then return store.blob_path(root, desc.digest) end
  local tmp = store.tmp_name(root, "pull")
  local resp = self:get("/blobs/" .. desc.digest, { accept = "Accept: */*", output = tmp, progress = progress })
  if resp.status ~= 200 then
    os.remove(tmp)
    rerr("%s: blob %s: HTTP %d", self.r.name, desc.digest, resp.status)
  end
  return store.adopt_blob(root, tmp, desc.digest, desc.size)
end

--- Pulls r (a parsed reference) into the store at root; returns the
--- image {manifest, config, layers, blobs}.
function M.pull(root, r, opts)
  opts = opts or {}
  local s = M.session(r, opts)
  local platform = opts.platform or require("nsl.image.source").platform()
  local body, digest, m = s:manifest(r.digest or r.tag, r.digest)
  if INDEX[m.mediaType] or (m.manifests and not m.layers) then
    local pick
    for _, d in ipairs(m.manifests or {}) do
      local p = d.platform
      if p and p.os == platform.os and p.architecture == platform.architecture then pick = d; break end
    end
    if not pick then
      rerr("%s has no image for %s/%s", r.text, platform.os, platform.architecture)
    end
    store.add_blob_string(root, body, digest)
    body, digest, m = s:manifest(pick.digest, pick.digest)
  end
  if type(m.config) ~= "table" or type(m.layers) ~= "table" then
    rerr("%s: manifest %s is not an image manifest", r.text, digest)
  end
  store.add_blob_string(root, body, digest)
  local cpath = s:blob(root, m.config)
  local f = assert(io.open(cpath, "rb"))
  local config = cjson().decode(f:read("a"))
  f:close()
  local diff_ids = type(config) == "table" and config.rootfs and config.rootfs.diff_ids
  if type(diff_ids) ~= "table" or #diff_ids ~= #m.layers then
    rerr("%s: %d layers, its config names %d diff ids", r.text, #m.layers,
      type(diff_ids) == "table" and #diff_ids or 0)
  end
  local layers, blobs = {}, {}
  for i, l in ipairs(m.layers) do
    local blob = s:blob(root, l, opts.progress)
    store.add_layer(root, blob, diff_ids[i], opts.progress)
    layers[i], blobs[i] = diff_ids[i], l.digest
  end
  return { manifest = digest, config = m.config.digest, layers = layers, blobs = blobs }
end

return M
