-- The image store: content-addressed, the caller's own (docs/images.md).
--
--   ROOT/blobs/sha256/HEX     manifests, configs, layer tarballs, each
--                             verified against its digest and size
--   ROOT/layers/HEX/          a layer unpacked, by its diff id (the digest
--                             of its uncompressed tar): once per layer,
--                             shared by every image and container using it
--   ROOT/refs/HEX             one image name (HEX: the digest of the name):
--                             a Lua literal {ref, manifest, config, layers}
--   ROOT/tmp/                 work in progress, renamed into place when
--                             whole: a kill half way leaves only tmp/
--
-- ROOT is /var/lib/nsl/images for root (/var/lib/nsl is 0700),
-- $XDG_DATA_HOME/nsl/images (~/.local/share/nsl/images) rootless, or
-- NSL_IMAGE_STORE, or what nsl.image.store(path) set; it must be the caller's own (nsl.owned_dir), and all
-- beneath it is then the caller's too. Blobs and layers are written under
-- tmp/ and renamed: two loads of the same image at once both end with the
-- same whole files, never a half-visible one.

local nsl = require "nsl.core"
local state = require "nsl.state"
local util = require "nsl.util"

local M = {}

local function archive() return require "nsl.archive" end

local function serr(fmt, ...) error(("image store: " .. fmt):format(...), 0) end

local override

--- Makes path this process's store (nil: back to the default).
function M.use(path)
  if path ~= nil and (type(path) ~= "string" or path:sub(1, 1) ~= "/") then
    error("image store: must be an absolute path", 0)
  end
  override = path
end

--- The store's directory, made when missing; raises when it is not the
--- caller's own.
function M.root()
  local root = override or os.getenv("NSL_IMAGE_STORE")
  if not (root and root:sub(1, 1) == "/") then
    local top, err = util.own_dir("data")
    if not top then serr("%s (or NSL_IMAGE_STORE)", err) end
    root = top .. "/images"
  end
  local d, err = nsl.owned_dir(root, { create = 448, private = true })
  if not d then serr("%s", err) end
  for _, sub in ipairs({ "blobs", "blobs/sha256", "layers", "refs", "tmp" }) do
    if not d:lstat(sub) then
      local ok, merr = d:mkdir(sub, 448)
      if not ok and not d:lstat(sub) then d:close(); serr("%s", merr) end
    end
  end
  d:close()
  return root
end

local function hex_of(digest)
  local hex = type(digest) == "string" and digest:match("^sha256:(%x+)$")
  if not hex or #hex ~= 64 then serr("unsupported digest %s (sha256 only)", tostring(digest)) end
  return hex
end
M.hex_of = hex_of

function M.blob_path(root, digest) return root .. "/blobs/sha256/" .. hex_of(digest) end
function M.layer_path(root, diff_id) return root .. "/layers/" .. hex_of(diff_id) end

local tmp_seq = 0
--- A new name under ROOT/tmp.
function M.tmp_name(root, what)
  tmp_seq = tmp_seq + 1
  return ("%s/tmp/%s-%d-%d"):format(root, what, nsl.getpid(), tmp_seq)
end

--- Adds the file at tmp (a name under ROOT/tmp, written by the caller)
--- as the blob digest of size bytes: verified where it is, renamed into
--- blobs/; removed on a mismatch, which raises.
function M.adopt_blob(root, tmp, digest, size)
  local dest = M.blob_path(root, digest)
  local hex, got = archive().sha256(tmp)
  if not hex or "sha256:" .. hex ~= digest or (size and got ~= size) then
    os.remove(tmp)
    if not hex then serr("%s", got) end
    serr("blob %s does not match its descriptor: its content is sha256:%s, %d bytes (expected %s bytes)",
      digest, hex, got, size and ("%d"):format(size) or "any")
  end
  local ok, err = os.rename(tmp, dest)
  if not ok then os.remove(tmp); serr("%s", err) end
  return dest
end

--- Adds the file at path as the blob digest of size bytes (size may be
--- nil): copied under tmp/, verified there (so that what is kept is what
--- was checked), renamed into blobs/. A mismatch raises and keeps nothing.
function M.add_blob(root, path, digest, size)
  if M.has_blob(root, digest, size) then return M.blob_path(root, digest) end
  local tmp = M.tmp_name(root, "blob")
  local ok, err = util.copy_file(path, tmp)
  if not ok then os.remove(tmp); serr("copy %s: %s", path, err) end
  return M.adopt_blob(root, tmp, digest, size)
end

--- Whether the store holds the blob digest (of size bytes, when given).
function M.has_blob(root, digest, size)
  local st = nsl.lstat(M.blob_path(root, digest))
  return st ~= nil and st.type == "file" and (not size or st.size == size)
end

--- Adds a blob from a string (manifests and configs) after checking it.
function M.add_blob_string(root, data, digest)
  local hex = archive().sha256_string(data)
  if "sha256:" .. hex ~= digest then
    serr("content does not match its digest %s (it is sha256:%s)", digest, hex)
  end
  local dest = M.blob_path(root, digest)
  if nsl.lstat(dest) then return dest end
  local tmp = M.tmp_name(root, "blob")
  local f = assert(io.open(tmp, "wb"))
  f:write(data)
  f:close()
  local ok, err = os.rename(tmp, dest)
  if not ok then os.remove(tmp); serr("%s", err) end
  return dest
end

--- The layer with diff id diff_id, unpacked from the blob at blob_path
--- when it is not there yet; its directory.
function M.add_layer(root, blob_path, diff_id, progress)
  local dest = M.layer_path(root, diff_id)
  if nsl.lstat(dest) then return dest end
  local tmp = M.tmp_name(root, "layer")
  assert(nsl.mkdir(tmp, 493))
  local ok, r, uerr = pcall(archive().unpack, blob_path, tmp, { progress = progress })
  if not ok or not r then
    M.remove_tree(root, tmp)
    serr("layer %s: %s", diff_id, tostring(ok and uerr or r))
  end
  local rok = os.rename(tmp, dest)
  if not rok then
    -- another load made it first: the same content
    M.remove_tree(root, tmp)
    if not nsl.lstat(dest) then serr("cannot rename the layer %s into place", diff_id) end
  end
  return dest
end

--- A short path to the layer diff_id for overlay's options, whose whole
--- text one mount takes at most a page of: ROOT/l/<12 hex digits>, a link
--- to layers/<hex> made on first use (as podman's l/ directory). The
--- full path when the short name is another layer's.
function M.short_layer_path(root, diff_id)
  local hex = hex_of(diff_id)
  local short = root .. "/l/" .. hex:sub(1, 12)
  local target = "../layers/" .. hex
  if not nsl.lstat(root .. "/l") then nsl.mkdir(root .. "/l", 448) end
  local have = nsl.readlink(short)
  if have == target then return short end
  if have == nil and nsl.symlink(target, short) then return short end
  if nsl.readlink(short) == target then return short end -- made by another process meanwhile
  return M.layer_path(root, diff_id)
end

--- Removes path (beneath root) and all in it, following no link.
function M.remove_tree(root, path)
  local rel = path:sub(#root + 2)
  local d = nsl.owned_dir(root)
  if not d then return end
  pcall(d.remove, d, rel)
  d:close()
end

local function ref_file(root, text)
  return root .. "/refs/" .. archive().sha256_string(text)
end

--- Records the image name text as rec ({ref, manifest, config, layers}).
function M.put_ref(root, rec)
  local tmp = M.tmp_name(root, "ref")
  local f = assert(io.open(tmp, "wb"))
  f:write("return ", state.encode(rec), "\n")
  f:close()
  local ok, err = os.rename(tmp, ref_file(root, rec.ref))
  if not ok then os.remove(tmp); serr("%s", err) end
end

local function read_ref(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  -- data only: no globals, and no code beyond the literal
  local chunk = load(text, "=" .. path, "t", {})
  local ok, rec = pcall(chunk or error)
  if ok and type(rec) == "table" and type(rec.ref) == "string" then return rec end
  return nil
end

function M.get_ref(root, text) return read_ref(ref_file(root, text)) end

function M.remove_ref(root, text)
  local ok = os.remove(ref_file(root, text))
  return ok ~= nil
end

--- Every recorded image, sorted by name.
function M.refs(root)
  local out = {}
  for _, name in ipairs(nsl.readdir(root .. "/refs") or {}) do
    local rec = read_ref(root .. "/refs/" .. name)
    if rec then out[#out + 1] = rec end
  end
  table.sort(out, function(a, b) return a.ref < b.ref end)
  return out
end

return M
