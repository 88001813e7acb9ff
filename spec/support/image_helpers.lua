-- Images the specs build themselves, as other tools write them: layers
-- are directories tarred (and gzipped) by tar(1), digests by sha256sum,
-- JSON by cjson. I.layout(dir, layers, config [, opts]) writes an OCI
-- image layout; I.docker_archive(file, layers, config, tags) a legacy
-- `docker save` archive; I.oci_archive(file, layout) a tar of a layout.
local T = require "nsltest"
local write = T.write
local cjson = require "cjson"

local I = {}

local function sh(cmd)
  local out, ok = T.sh(cmd)
  assert(ok, cmd .. ": " .. tostring(out))
  return out
end

local function sha256(path) return (sh("sha256sum " .. T.quote(path)):match("^(%x+)")) end
local function size(path) return tonumber(sh("stat -c %s " .. T.quote(path))) end

-- A layer tarball of dir (its contents, numeric owners), gzipped unless
-- plain; returns its path, digest and diff id.
function I.layer(dir, out, plain)
  sh(("tar --numeric-owner -C %s -cf %s.tar ."):format(T.quote(dir), T.quote(out)))
  local diff = sha256(out .. ".tar")
  if plain then return out .. ".tar", diff, diff end
  sh(("gzip -n -c %s.tar > %s && rm %s.tar"):format(T.quote(out), T.quote(out), T.quote(out)))
  return out, sha256(out), diff
end

-- The config JSON of an image whose layers have these diff ids.
function I.config(diff_ids, config, arch)
  local ids = {}
  for i, d in ipairs(diff_ids) do ids[i] = "sha256:" .. d end
  return cjson.encode { architecture = arch or "amd64", os = "linux", config = config or {},
    rootfs = { type = "layers", diff_ids = ids } }
end

-- Writes an OCI image layout at out from layer directories (bottom
-- first); opts: name (the ref.name annotation), arch, corrupt (a layer
-- index whose blob is changed after its digest was taken), index (extra
-- fields merged into the index's descriptor, e.g. a platform).
function I.layout(out, layer_dirs, config, opts)
  opts = opts or {}
  sh("mkdir -p " .. T.quote(out .. "/blobs/sha256"))
  local descs, diffs = {}, {}
  for i, d in ipairs(layer_dirs) do
    local tmp = out .. "/layer" .. i
    local path, digest, diff = I.layer(d, tmp)
    descs[i] = { mediaType = "application/vnd.oci.image.layer.v1.tar+gzip",
      digest = "sha256:" .. digest, size = size(path) }
    diffs[i] = diff
    sh(("mv %s %s/blobs/sha256/%s"):format(T.quote(path), T.quote(out), digest))
    if opts.corrupt == i then
      sh(("printf x >> %s/blobs/sha256/%s"):format(T.quote(out), digest))
    end
  end
  local function blob(text)
    local tmp = out .. "/tmp.json"
    write(tmp, text)
    local digest = sha256(tmp)
    sh(("mv %s %s/blobs/sha256/%s"):format(T.quote(tmp), T.quote(out), digest))
    return { digest = "sha256:" .. digest, size = #text }
  end
  local c = blob(I.config(diffs, config, opts.arch))
  c.mediaType = "application/vnd.oci.image.config.v1+json"
  local m = blob(cjson.encode { schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
    config = c, layers = descs })
  m.mediaType = "application/vnd.oci.image.manifest.v1+json"
  if opts.name then m.annotations = { ["org.opencontainers.image.ref.name"] = opts.name } end
  for k, v in pairs(opts.index or {}) do m[k] = v end
  write(out .. "/index.json", cjson.encode { schemaVersion = 2, manifests = { m } })
  write(out .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  return { manifest = m.digest, config = c.digest, diff_ids = diffs }
end

-- One layout at out whose index lists the manifests of the layouts
-- given ({dir, architecture}, ...), each with its platform: a multi-
-- platform image.
function I.index(out, layouts)
  sh("mkdir -p " .. T.quote(out .. "/blobs/sha256"))
  local manifests = {}
  for _, l in ipairs(layouts) do
    sh(("cp -n %s/blobs/sha256/* %s/blobs/sha256/"):format(T.quote(l[1]), T.quote(out)))
    local f = assert(io.open(l[1] .. "/index.json"))
    local idx = cjson.decode(f:read("a"))
    f:close()
    local m = idx.manifests[1]
    m.annotations = nil
    m.platform = { os = "linux", architecture = l[2] }
    manifests[#manifests + 1] = m
  end
  -- the platforms' index is a blob that index.json points to, as skopeo
  -- and the image spec want an image with several platforms to be
  local text = cjson.encode { schemaVersion = 2, mediaType = "application/vnd.oci.image.index.v1+json",
    manifests = manifests }
  write(out .. "/tmp.json", text)
  local digest = sha256(out .. "/tmp.json")
  sh(("mv %s/tmp.json %s/blobs/sha256/%s"):format(T.quote(out), T.quote(out), digest))
  write(out .. "/index.json", cjson.encode { schemaVersion = 2, manifests = { {
    mediaType = "application/vnd.oci.image.index.v1+json", digest = "sha256:" .. digest, size = #text } } })
  write(out .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
end

-- A tar of the layout at dir.
function I.oci_archive(file, dir)
  sh(("tar -C %s -cf %s ."):format(T.quote(dir), T.quote(file)))
  return file
end

-- A legacy docker-archive: manifest.json, <id>.json, <n>/layer.tar.
function I.docker_archive(file, layer_dirs, config, tags)
  local dir = sh("mktemp -d /tmp/nsl-spec-docker-XXXXXX")
  local paths, diffs = {}, {}
  for i, d in ipairs(layer_dirs) do
    sh(("mkdir %s/%d"):format(T.quote(dir), i))
    local _, _, diff = I.layer(d, ("%s/%d/layer"):format(dir, i), true)
    paths[i], diffs[i] = ("%d/layer.tar"):format(i), diff
  end
  local ctext = I.config(diffs, config)
  write(dir .. "/tmp.json", ctext)
  local cid = sha256(dir .. "/tmp.json")
  sh(("mv %s/tmp.json %s/%s.json"):format(T.quote(dir), T.quote(dir), cid))
  write(dir .. "/manifest.json", cjson.encode { { Config = cid .. ".json", RepoTags = tags, Layers = paths } })
  sh(("tar -C %s -cf %s . && rm -rf %s"):format(T.quote(dir), T.quote(file), T.quote(dir)))
  return file
end

return I
