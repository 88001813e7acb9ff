-- nsl.image: images in the caller's store, and containers made from them
-- (docs/images.md).
--
--   nsl.image.load("app.tar")                 -- docker/podman save, oci-archive
--   nsl.image.load("layout/", {tag = "app"})  -- an OCI image layout
--   for _, i in ipairs(nsl.image.list()) do print(i.ref) end
--   nsl.container { image = "app", command = {"sh"} }
--
-- Loaded on first use: a plain container pays nothing for it.

local nsl = require "nsl.core"
local ref_mod = require "nsl.image.ref"
local store = require "nsl.image.store"

local M = {}

M.parse_ref = ref_mod.parse

--- nsl.image.store([path]) -> path: the store this process uses (made
--- when missing; it must be the caller's own); with path, use that one.
function M.store(path)
  if path ~= nil then store.use(path) end
  return store.root()
end

local function config_of(root, rec)
  local f = io.open(store.blob_path(root, rec.config), "rb")
  if not f then error(("image %s: its config %s is missing from the store"):format(rec.ref, rec.config), 0) end
  local text = f:read("a")
  f:close()
  local cfg = require("cjson.safe").decode(text)
  if type(cfg) ~= "table" then error(("image %s: its config is not valid JSON"):format(rec.ref), 0) end
  return cfg
end

local function null_to_nil(v)
  if v == require("cjson.safe").null then return nil end
  return v
end

-- The parts of an image config a container takes its defaults from.
local function defaults_of(cfg)
  local c = null_to_nil(cfg.config) or {}
  local env = {}
  for _, e in ipairs(null_to_nil(c.Env) or {}) do
    local k, v = tostring(e):match("^([^=]+)=(.*)$")
    if k then env[k] = v end
  end
  local ports = {}
  for p in pairs(null_to_nil(c.ExposedPorts) or {}) do ports[#ports + 1] = p end
  table.sort(ports)
  return {
    entrypoint = null_to_nil(c.Entrypoint), cmd = null_to_nil(c.Cmd), env = env,
    cwd = null_to_nil(c.WorkingDir), user = null_to_nil(c.User), stop_signal = null_to_nil(c.StopSignal),
    exposed_ports = ports, labels = null_to_nil(c.Labels) or {},
    architecture = cfg.architecture, os = cfg.os, created = cfg.created,
  }
end

--- nsl.image.load(path [, opts]) -> {image, ...}
--- Loads the images of a docker-archive, an oci-archive or an OCI image
--- layout directory into the store. opts.tag names the image (when the
--- source names none, or to add a name); opts.progress(bytes) is called
--- while layers unpack; opts.platform = {os =, architecture =} picks
--- another platform than this host's. Each image is recorded under every
--- name it has; returns their records (ref, manifest, config, layers).
function M.load(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("image.load: path must be a string", 2) end
  local tag = opts.tag and ref_mod.parse(opts.tag).text
  local root = store.root()
  local images = require("nsl.image.source").load(root, path, opts)
  local out = {}
  for _, img in ipairs(images) do
    local names = {}
    for _, n in ipairs(img.names or {}) do
      local ok, r = pcall(ref_mod.parse, n)
      if ok then names[#names + 1] = r.text end
    end
    if tag then names[#names + 1] = tag end
    if #names == 0 then
      error(("image.load: %s names no image; give opts.tag"):format(path), 0)
    end
    for _, n in ipairs(names) do
      local rec = { ref = n, manifest = img.manifest, config = img.config, layers = img.layers,
        blobs = img.blobs, loaded = math.floor(nsl.time("real")) }
      store.put_ref(root, rec)
      out[#out + 1] = rec
    end
  end
  return out
end

--- nsl.image.pull(ref [, opts]) -> image
--- Pulls ref from its registry (the Distribution API) into the store:
--- the manifest for this host's platform (opts.platform = {os =,
--- architecture =} for another), its config and layers, each verified
--- against its digest before it is kept. opts.insecure = true: plain
--- HTTP (never otherwise); opts.credentials = "user:password" (default:
--- the auth files docker, podman and skopeo use); opts.progress(bytes).
--- Raises naming what failed; what was not verified is not kept.
function M.pull(ref, opts)
  opts = opts or {}
  local r = ref_mod.parse(ref)
  local root = store.root()
  local img = require("nsl.image.registry").pull(root, r, opts)
  local rec = { ref = r.text, manifest = img.manifest, config = img.config, layers = img.layers,
    blobs = img.blobs, loaded = math.floor(nsl.time("real")) }
  store.put_ref(root, rec)
  return rec
end

local function find(ref)
  local root = store.root()
  local r = ref_mod.parse(ref)
  local rec = store.get_ref(root, r.text)
  if not rec and r.digest then
    -- by manifest or config digest alone
    for _, x in ipairs(store.refs(root)) do
      if x.manifest == r.digest or x.config == r.digest then rec = x; break end
    end
  end
  return rec, root, r
end

local function tar_of(path, out)
  local st = nsl.lstat(path)
  if not st then error(("image.import: %s: no such file or directory"):format(path), 0) end
  local q = require("nsl.util").quote
  local cmd
  if st.type == "directory" then
    cmd = ("tar --numeric-owner --xattrs -C %s -cf %s . 2>&1"):format(q(path), q(out))
  else
    -- a tarball, compressed or not: its uncompressed form is the layer
    cmd = ("(gzip -dc %s 2>/dev/null || zstd -dc %s 2>/dev/null || cat %s) > %s"):format(q(path), q(path), q(path), q(out))
  end
  local p = io.popen(cmd)
  local msg = p:read("a")
  local ok = p:close()
  if not ok then error(("image.import: %s: %s"):format(path, msg), 0) end
end

--- nsl.image.import(path, ref [, opts]) -> image
--- A one-layer image named ref from a root directory or a tarball of one
--- (as `podman import` makes it); opts.config: the image config's
--- "config" object (Cmd, Env, WorkingDir, ...).
function M.import(path, ref, opts)
  opts = opts or {}
  local r = ref_mod.parse(ref)
  local root = store.root()
  local archive = require "nsl.archive"
  local cjson = require "cjson"
  local tmp = store.tmp_name(root, "import")
  local ok, err = pcall(tar_of, path, tmp)
  if not ok then os.remove(tmp); error(err, 0) end
  local hex, size = archive.sha256(tmp)
  local diff = "sha256:" .. hex
  local blob = store.adopt_blob(root, tmp, diff, size)
  store.add_layer(root, blob, diff)
  local platform = require("nsl.image.source").platform()
  local config = cjson.encode { architecture = platform.architecture, os = platform.os,
    created = os.date("!%Y-%m-%dT%H:%M:%SZ"), config = opts.config or {},
    rootfs = { type = "layers", diff_ids = { diff } } }
  local cdigest = "sha256:" .. archive.sha256_string(config)
  store.add_blob_string(root, config, cdigest)
  local manifest = cjson.encode { schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
    config = { mediaType = "application/vnd.oci.image.config.v1+json", digest = cdigest, size = #config },
    layers = { { mediaType = "application/vnd.oci.image.layer.v1.tar", digest = diff, size = size } } }
  local mdigest = "sha256:" .. archive.sha256_string(manifest)
  store.add_blob_string(root, manifest, mdigest)
  local rec = { ref = r.text, manifest = mdigest, config = cdigest, layers = { diff }, blobs = { diff },
    loaded = math.floor(nsl.time("real")) }
  store.put_ref(root, rec)
  return rec
end

--- nsl.image.save(ref, dir) -> true
--- Writes the image as an OCI image layout at dir (made; it must not
--- exist), named ref there: for skopeo, umoci, podman and registries.
function M.save(ref, dir)
  local rec, root, r = find(ref)
  if not rec then error(("image.save: image %s is not in the store"):format(r.text), 0) end
  if not rec.manifest then error(("image.save: %s has no manifest (a legacy docker archive's image)"):format(rec.ref), 0) end
  if nsl.lstat(dir) then error(("image.save: %s exists"):format(dir), 0) end
  assert(nsl.mkdir(dir, 493))
  assert(nsl.mkdir(dir .. "/blobs", 493))
  assert(nsl.mkdir(dir .. "/blobs/sha256", 493))
  local function put(digest)
    local from = store.blob_path(root, digest)
    local ok = os.execute(("cp %s %s/blobs/sha256/"):format(from, dir))
    if not ok then error(("image.save: cannot copy %s"):format(digest), 0) end
  end
  put(rec.manifest)
  put(rec.config)
  for _, b in ipairs(rec.blobs or rec.layers) do put(b) end
  local size = nsl.lstat(store.blob_path(root, rec.manifest)).size
  local cjson = require "cjson"
  local f = assert(io.open(dir .. "/index.json", "w"))
  f:write(cjson.encode { schemaVersion = 2, manifests = { { mediaType = "application/vnd.oci.image.manifest.v1+json",
    digest = rec.manifest, size = size, annotations = { ["org.opencontainers.image.ref.name"] = rec.ref } } } })
  f:close()
  f = assert(io.open(dir .. "/oci-layout", "w"))
  f:write('{"imageLayoutVersion":"1.0.0"}')
  f:close()
  return true
end

--- nsl.image.list() -> {image, ...}: every recorded image, by name.
function M.list()
  return store.refs(store.root())
end

--- nsl.image.inspect(ref) -> image | nil, message
--- The image's record with its config's defaults (entrypoint, cmd, env,
--- cwd, user, stop_signal, exposed_ports, labels) and its layers'
--- directories, bottom first.
function M.inspect(ref)
  local rec, root, r = find(ref)
  if not rec then return nil, ("image %s is not in the store (nsl load, nsl.image.load)"):format(r.text) end
  local out = {}
  for k, v in pairs(rec) do out[k] = v end
  out.config_data = defaults_of(config_of(root, rec))
  out.layer_dirs = {}
  for i, l in ipairs(rec.layers) do out.layer_dirs[i] = store.layer_path(root, l) end
  return out
end

--- nsl.image.remove(ref) -> true | nil, message: forgets the name; the
--- layers stay until nsl.image.gc().
function M.remove(ref)
  local rec, root, r = find(ref)
  if not rec then return nil, ("image %s is not in the store"):format(r.text) end
  store.remove_ref(root, rec.ref)
  return true
end

--- nsl.image.gc() -> {blobs = n, layers = n}: removes the blobs and
--- layers no recorded image and no container of the caller's uses.
function M.gc()
  local root = store.root()
  local keep = {}
  for _, rec in ipairs(store.refs(root)) do
    keep[rec.config] = true
    if rec.manifest then keep[rec.manifest] = true end
    for _, b in ipairs(rec.blobs or {}) do keep[b] = true end
    for _, l in ipairs(rec.layers) do keep[l] = true end
  end
  -- layers of the containers still recorded (running, or detached and kept)
  local state = require "nsl.state"
  for _, id in ipairs(state.ids() or {}) do
    local rec = state.read(id)
    for _, l in ipairs(rec and rec.image_layers or {}) do keep[l] = true end
  end
  local n = { blobs = 0, layers = 0 }
  for sub, count in pairs({ ["blobs/sha256"] = "blobs", layers = "layers" }) do
    for _, hex in ipairs(nsl.readdir(root .. "/" .. sub) or {}) do
      if hex:match("^%x+$") and #hex == 64 and not keep["sha256:" .. hex] then
        store.remove_tree(root, root .. "/" .. sub .. "/" .. hex)
        n[count] = n[count] + 1
      end
    end
  end
  -- the short links of layers that are gone
  for _, short in ipairs(nsl.readdir(root .. "/l") or {}) do
    local target = nsl.readlink(root .. "/l/" .. short)
    if target and not nsl.lstat(root .. "/l/" .. target) then os.remove(root .. "/l/" .. short) end
  end
  return n
end

--- The container spec a spec with image = REF (or {REF, pull =
--- "missing" | "always" | "never", insecure = bool}: pulled first when
--- asked to) stands for, and the
--- image's {ref, layers} for the container's record: the image's
--- layers as a copy-on-write root, its Entrypoint and Cmd (the spec's
--- command replaces Cmd, its entrypoint Entrypoint), its Env under the
--- spec's, its WorkingDir unless the spec has a cwd, its User (uid and
--- gid for the command's process, resolved in the image).
-- The file at rel (such as "etc/passwd") of the root the layers make
-- (top first): the topmost layer's, unless a layer above deleted it.
local function layer_file(tops, rel)
  for _, dir in ipairs(tops) do
    local st = nsl.lstat(dir .. "/" .. rel)
    if st then
      if st.type ~= "file" then return nil end -- a whiteout, or not a file
      local f = io.open(dir .. "/" .. rel)
      if not f then return nil end
      local text = f:read("a")
      f:close()
      return text
    end
  end
  return nil
end

-- The number of name in a passwd or group text (field 3), or nil.
local function id_in(text, name)
  for line in (text or ""):gmatch("[^\n]+") do
    local n, id = line:match("^([^:]*):[^:]*:(%d+):")
    if n == name then return tonumber(id), line end
  end
  return nil
end

--- The uid and gid an image's User ("name", "uid", "name:group",
--- "uid:gid", ...) stands for, resolved in the image's /etc/passwd and
--- /etc/group; raises naming what is not there.
function M.resolve_user(user, tops, ref)
  if user == nil or user == "" then return nil end
  local u, g = tostring(user):match("^([^:]+):?(.*)$")
  if not u then error(("image %s: User %q is not name[:group] or uid[:gid]"):format(ref, user), 0) end
  local uid, gid = tonumber(u:match("^%d+$")), nil
  local passwd = layer_file(tops, "etc/passwd")
  if not uid then
    local line
    uid, line = id_in(passwd, u)
    if not uid then error(("image %s: user %q is not in its /etc/passwd"):format(ref, u), 0) end
    gid = tonumber(line:match("^[^:]*:[^:]*:%d+:(%d+):"))
  elseif g == "" then
    -- a uid alone: its passwd line's group, if it has one
    for line in (passwd or ""):gmatch("[^\n]+") do
      local id, pg = line:match("^[^:]*:[^:]*:(%d+):(%d+):")
      if tonumber(id) == uid then gid = tonumber(pg); break end
    end
  end
  if g ~= "" then
    gid = tonumber(g:match("^%d+$")) or id_in(layer_file(tops, "etc/group"), g)
    if not gid then error(("image %s: group %q is not in its /etc/group"):format(ref, g), 0) end
  end
  return uid, gid or 0
end

local PULL = { never = true, missing = true, always = true }

function M.container_spec(spec)
  local want = spec.image
  local pull, insecure = "never", false
  if type(want) == "table" then
    for k in pairs(want) do
      if k ~= 1 and k ~= "pull" and k ~= "insecure" then
        error(("container: image: unknown field '%s' (expected the reference, pull, insecure)"):format(tostring(k)), 0)
      end
    end
    pull, insecure = want.pull or "never", want.insecure == true
    if not PULL[pull] then error("container: image.pull must be \"never\", \"missing\" or \"always\"", 0) end
    want = want[1]
  end
  if type(want) ~= "string" then
    error(("container: image must be a reference or {reference, pull = ...} (got %s)"):format(type(want)), 0)
  end
  local img, err = M.inspect(want)
  if pull == "always" or (pull == "missing" and not img) then
    M.pull(want, { insecure = insecure })
    img, err = M.inspect(want)
  end
  if not img then error("container: image: " .. err, 0) end
  local d = img.config_data
  local out = {}
  for k, v in pairs(spec) do out[k] = v end
  out.image, out.entrypoint = nil, nil
  if spec.rootfs ~= nil then error("container: give image or rootfs, not both", 0) end
  local lowers = {}
  for i = #img.layer_dirs, 1, -1 do lowers[#lowers + 1] = img.layer_dirs[i] end
  -- overlay takes its options in one page: many layers go by short links
  if #table.concat(lowers, ":") > 3000 then
    local root = store.root()
    for i = #img.layers, 1, -1 do lowers[#img.layers - i + 1] = store.short_layer_path(root, img.layers[i]) end
  end
  out.rootfs = { image = lowers, writable = true }
  local uid, gid = M.resolve_user(d.user, lowers, img.ref)
  local entry = spec.entrypoint
  if entry == nil then entry = d.entrypoint end
  if type(entry) == "string" then entry = { entry } end
  if entry ~= nil and type(entry) ~= "table" then error("container: entrypoint must be a list of strings", 0) end
  local cmd = spec.command
  if cmd == nil then cmd = d.cmd end
  if type(cmd) == "function" then
    out.command = cmd
  else
    local argv = {}
    for _, a in ipairs(entry or {}) do argv[#argv + 1] = a end
    for _, a in ipairs(cmd or {}) do argv[#argv + 1] = a end
    if #argv == 0 then error(("container: image %s has no Entrypoint or Cmd: give a command"):format(img.ref), 0) end
    out.command = argv
  end
  if next(d.env) then
    local env = {}
    for k, v in pairs(d.env) do env[k] = v end
    for k, v in pairs(spec.env or {}) do env[k] = v end
    out.env = env
  end
  if spec.cwd == nil and d.cwd and d.cwd ~= "" then out.cwd = d.cwd end
  if spec.stop_signal == nil and d.stop_signal then out.stop_signal = d.stop_signal end
  return out, { ref = img.ref, layers = img.layers, uid = uid, gid = gid }
end

return M
