-- Images read from where other tools write them, into the store:
--
--   an OCI image layout directory (oci-layout, index.json, blobs/sha256/),
--   nested indexes, the manifest for this host's platform;
--   an oci-archive (that layout in a tar);
--   a docker-archive, as `docker save` and `podman save` write it: the
--   legacy form (manifest.json, <id>/layer.tar, <id>.json) and the newer
--   one (an OCI layout plus manifest.json).
--
-- Every blob is verified against its descriptor before it is kept; the
-- layers are unpacked once each, by diff id (nsl.image.store).

local nsl = require "nsl.core"
local store = require "nsl.image.store"

local M = {}

local function archive() return require "nsl.archive" end
local function cjson() return require "cjson.safe" end

local function ierr(fmt, ...) error(("image: " .. fmt):format(...), 0) end

local MANIFEST = {
  ["application/vnd.oci.image.manifest.v1+json"] = true,
  ["application/vnd.docker.distribution.manifest.v2+json"] = true,
}
local INDEX = {
  ["application/vnd.oci.image.index.v1+json"] = true,
  ["application/vnd.docker.distribution.manifest.list.v2+json"] = true,
}
local ARCH = { x86_64 = "amd64", aarch64 = "arm64", armv7l = "arm", i686 = "386", ppc64le = "ppc64le",
  s390x = "s390x", riscv64 = "riscv64" }

--- This host's platform, as image indexes name it (asked once).
local platform
function M.platform()
  if not platform then
    local u = io.popen("uname -m")
    local m = u and u:read("l") or "x86_64"
    if u then u:close() end
    platform = { os = "linux", architecture = ARCH[m] or m }
  end
  return { os = platform.os, architecture = platform.architecture }
end

local function read_file(path, limit)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read(limit or (16 << 20))
  f:close()
  return data or ""
end

local function decode(text, what)
  local v, err = cjson().decode(text)
  if type(v) ~= "table" then ierr("%s is not valid JSON: %s", what, tostring(err or "not an object")) end
  return v
end

-- A blob of the layout at dir, read, checked against its descriptor and
-- kept in the store; its text and path in the store.
local function json_blob(root, dir, desc, what)
  if type(desc) ~= "table" or type(desc.digest) ~= "string" then ierr("%s: a descriptor without a digest", what) end
  local path = dir .. "/blobs/sha256/" .. store.hex_of(desc.digest)
  local text, err = read_file(path)
  if not text then ierr("%s %s: %s", what, desc.digest, err) end
  if desc.size and #text ~= desc.size then
    ierr("%s %s: %d bytes, the descriptor says %d", what, desc.digest, #text, desc.size)
  end
  store.add_blob_string(root, text, desc.digest)
  return decode(text, what .. " " .. desc.digest)
end

-- The manifest descriptors an index leads to for platform (nested
-- indexes followed), with the names the index gives them.
local function manifests_of(root, dir, index, platform, depth, out)
  if depth > 4 then ierr("indexes nested deeper than 4") end
  for _, d in ipairs(index.manifests or {}) do
    local p = d.platform
    local fits = not p or (p.os == platform.os and p.architecture == platform.architecture)
    if INDEX[d.mediaType] then
      if fits then manifests_of(root, dir, json_blob(root, dir, d, "index"), platform, depth + 1, out) end
    elseif MANIFEST[d.mediaType] or d.mediaType == nil then
      if fits then out[#out + 1] = d end
    end
  end
  return out
end

-- Keeps the image whose manifest descriptor is desc: its config and
-- layers (verified, unpacked); returns {manifest, config, layers =
-- {diff ids, bottom first}, layer_paths = {...}}.
local function keep_image(root, dir, desc, progress)
  local manifest = json_blob(root, dir, desc, "manifest")
  local config = json_blob(root, dir, manifest.config, "config")
  local diff_ids = config.rootfs and config.rootfs.diff_ids
  if type(diff_ids) ~= "table" or #diff_ids ~= #(manifest.layers or {}) then
    ierr("manifest %s: %d layers, its config names %d diff ids", desc.digest,
      #(manifest.layers or {}), type(diff_ids) == "table" and #diff_ids or 0)
  end
  local layers, blobs = {}, {}
  for i, l in ipairs(manifest.layers) do
    local blob = store.add_blob(root, dir .. "/blobs/sha256/" .. store.hex_of(l.digest), l.digest, l.size)
    store.add_layer(root, blob, diff_ids[i], progress)
    layers[i], blobs[i] = diff_ids[i], l.digest
  end
  return { manifest = desc.digest, config = manifest.config.digest, layers = layers, blobs = blobs }
end

-- The names docker's manifest.json gives each config.
local function docker_names(dir)
  local text = read_file(dir .. "/manifest.json")
  if not text then return nil end
  return decode(text, "manifest.json")
end

local function load_layout(root, dir, opts, names)
  local index = decode(assert(read_file(dir .. "/index.json")), "index.json")
  local platform = opts.platform or M.platform()
  local descs = manifests_of(root, dir, index, platform, 0, {})
  if #descs == 0 then
    ierr("%s has no image for %s/%s", dir, platform.os, platform.architecture)
  end
  local out = {}
  for _, d in ipairs(descs) do
    local img = keep_image(root, dir, d, opts.progress)
    local a = d.annotations or {}
    img.names = {}
    -- containerd's annotation is a whole name; the OCI one may be a tag
    -- only ("1", as umoci and skopeo write it for oci:DIR:TAG), which
    -- names nothing when the caller gives the name (opts.tag)
    local n = a["io.containerd.image.name"] or a["org.opencontainers.image.ref.name"]
    if n and (not opts.tag or n:find("[/:]")) then img.names[1] = n end
    for _, m in ipairs(names or {}) do
      if m.Config == "blobs/sha256/" .. store.hex_of(img.config) then
        for _, t in ipairs(m.RepoTags or {}) do img.names[#img.names + 1] = t end
      end
    end
    out[#out + 1] = img
  end
  return out
end

-- docker save's legacy form: layers are uncompressed tars named in
-- manifest.json; their digests are their diff ids.
local function load_docker(root, dir, opts, entries)
  local out = {}
  for i, m in ipairs(entries) do
    if type(m.Config) ~= "string" or type(m.Layers) ~= "table" then
      ierr("manifest.json entry %d has no Config or Layers", i)
    end
    local ctext = read_file(dir .. "/" .. m.Config)
    if not ctext or m.Config:find("%.%.") then ierr("manifest.json entry %d: no config %s", i, m.Config) end
    local cdigest = "sha256:" .. archive().sha256_string(ctext)
    -- the config is named by its digest: the name must be the content's
    local named = m.Config:match("(%x+)%.json$") or m.Config:match("^blobs/sha256/(%x+)$")
    if named and #named == 64 and "sha256:" .. named ~= cdigest then
      ierr("%s does not match its name: its content is %s", m.Config, cdigest)
    end
    store.add_blob_string(root, ctext, cdigest)
    local config = decode(ctext, m.Config)
    local diff_ids = config.rootfs and config.rootfs.diff_ids or {}
    if #diff_ids ~= #m.Layers then ierr("%s: %d layers, its config names %d diff ids", m.Config, #m.Layers, #diff_ids) end
    local layers = {}
    for k, lpath in ipairs(m.Layers) do
      if type(lpath) ~= "string" or lpath:find("%.%.") or lpath:sub(1, 1) == "/" then
        ierr("manifest.json entry %d: bad layer path %s", i, tostring(lpath))
      end
      -- an uncompressed layer's digest is its diff id
      local blob = store.add_blob(root, dir .. "/" .. lpath, diff_ids[k])
      store.add_layer(root, blob, diff_ids[k], opts.progress)
      layers[k] = diff_ids[k]
    end
    out[#out + 1] = { config = cdigest, layers = layers, blobs = layers, names = m.RepoTags or {} }
  end
  return out
end

--- Loads the images at path (a layout directory or an archive) into the
--- store at root; returns their records {config, manifest, layers, names}.
function M.load(root, path, opts)
  opts = opts or {}
  local st = nsl.lstat(path)
  if not st then ierr("%s: no such file or directory", path) end
  local dir, tmp = path, nil
  if st.type ~= "directory" then
    tmp = store.tmp_name(root, "archive")
    assert(nsl.mkdir(tmp, 448))
    local ok, r, err = pcall(archive().unpack, path, tmp, { whiteouts = "keep" })
    if not ok or not r then
      store.remove_tree(root, tmp)
      ierr("%s: not an image archive: %s", path, tostring(ok and err or r))
    end
    dir = tmp
  end
  local ok, result = pcall(function()
    local names = docker_names(dir)
    if nsl.lstat(dir .. "/index.json") then return load_layout(root, dir, opts, names) end
    if names then return load_docker(root, dir, opts, names) end
    ierr("%s is neither an OCI image layout (index.json) nor a docker archive (manifest.json)", path)
  end)
  if tmp then store.remove_tree(root, tmp) end
  if not ok then error(result, 0) end
  return result
end

return M
