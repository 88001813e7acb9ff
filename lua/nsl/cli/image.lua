-- The image subcommands of the nsl binary: load, images, rmi, and image
-- (inspect, ls, rm, load, gc). docs/images.md.
local M = {}

local function image() return require "nsl.image" end

-- Runs fn(...) and turns a raised error into "nsl: message", status 1.
local function guarded(h, fn, ...)
  local ok, status = pcall(fn, ...)
  if ok then return status end
  return h.fail(1, "%s", tostring(status))
end

-- A line per megabyte on a terminal (stderr), nothing otherwise.
local function progress_for(what)
  local core = require "nsl.core"
  if not (core.isatty and core.isatty(2)) then return nil end
  return function(bytes)
    io.stderr:write(("\r%s: %.1f MB"):format(what, bytes / 1e6))
  end
end

function M.load(argv, first, h)
  local opts, i = h.getopts(argv, first, { ["-i"] = "value", ["--input"] = "value", ["-t"] = "value",
    ["--tag"] = "value", ["-q"] = true, ["--quiet"] = true })
  if not opts then return h.fail(2, "load: %s", i) end
  local path = opts["-i"] or opts["--input"] or argv[i]
  if not path then return h.fail(2, "load: give an archive or an OCI layout directory (nsl load FILE)") end
  return guarded(h, function()
    local progress = not (opts["-q"] or opts["--quiet"]) and progress_for("unpacking") or nil
    local recs = image().load(path, { tag = opts["-t"] or opts["--tag"], progress = progress })
    if progress then io.stderr:write("\n") end
    for _, r in ipairs(recs) do io.stdout:write("Loaded image: ", r.ref, "\n") end
    return 0
  end)
end

function M.pull(argv, first, h)
  local opts, i = h.getopts(argv, first, { ["--insecure"] = true, ["-q"] = true, ["--quiet"] = true,
    ["--platform"] = "value" })
  if not opts then return h.fail(2, "pull: %s", i) end
  local ref = argv[i]
  if not ref then return h.fail(2, "pull: give an image (nsl pull REF)") end
  if argv[i + 1] then return h.fail(2, "pull: unexpected argument %s", argv[i + 1]) end
  local platform
  if opts["--platform"] then
    local os_, arch = opts["--platform"]:match("^([%w]+)/([%w]+)$")
    if not os_ then return h.fail(2, "pull: --platform must be OS/ARCH, such as linux/arm64") end
    platform = { os = os_, architecture = arch }
  end
  return guarded(h, function()
    local quiet = opts["-q"] or opts["--quiet"]
    local progress = not quiet and progress_for("pulling") or nil
    local rec = image().pull(ref, { insecure = opts["--insecure"], platform = platform, progress = progress })
    if progress then io.stderr:write("\n") end
    io.stdout:write(quiet and "" or "Pulled: ", rec.ref, "\n")
    return 0
  end)
end

function M.images(argv, first, h)
  local opts, i = h.getopts(argv, first, { ["--json"] = true, ["-q"] = true, ["--quiet"] = true })
  if not opts then return h.fail(2, "images: %s", i) end
  if argv[i] then return h.fail(2, "images: unexpected argument %s", argv[i]) end
  return guarded(h, function()
    local list = image().list()
    if opts["--json"] then
      local cjson = require "cjson"
      local out = {}
      for _, r in ipairs(list) do
        out[#out + 1] = { ref = r.ref, manifest = r.manifest, config = r.config, layers = r.layers,
          loaded = r.loaded }
      end
      io.stdout:write(#out == 0 and "[]" or cjson.encode(out), "\n")
      return 0
    end
    if opts["-q"] or opts["--quiet"] then
      for _, r in ipairs(list) do io.stdout:write(r.ref, "\n") end
      return 0
    end
    local rows = { { "IMAGE", "ID", "LAYERS", "LOADED" } }
    for _, r in ipairs(list) do
      rows[#rows + 1] = { require("nsl.image.ref").short(image().parse_ref(r.ref)),
        r.config:sub(8, 19), tostring(#r.layers), os.date("!%Y-%m-%d %H:%M", r.loaded or 0) }
    end
    local w = {}
    for _, row in ipairs(rows) do
      for k, c in ipairs(row) do w[k] = math.max(w[k] or 0, #c) end
    end
    for _, row in ipairs(rows) do
      local cells = {}
      for k, c in ipairs(row) do cells[k] = k < #row and c .. (" "):rep(w[k] - #c) or c end
      io.stdout:write(table.concat(cells, "  "), "\n")
    end
    return 0
  end)
end

function M.rmi(argv, first, h)
  if not argv[first] then return h.fail(2, "rmi: give an image (nsl rmi REF...)") end
  return guarded(h, function()
    local status = 0
    for k = first, #argv do
      local ok, err = image().remove(argv[k])
      if ok then io.stdout:write("Untagged: ", argv[k], "\n") else status = h.fail(1, "rmi: %s", err) end
    end
    return status
  end)
end

local function inspect(argv, first, h)
  if not argv[first] then return h.fail(2, "image inspect: give an image") end
  return guarded(h, function()
    local out = {}
    for k = first, #argv do
      local img, err = image().inspect(argv[k])
      if not img then return h.fail(1, "image inspect: %s", err) end
      out[#out + 1] = img
    end
    io.stdout:write(require("cjson").encode(out), "\n")
    return 0
  end)
end

local function gc(argv, first, h)
  if argv[first] then return h.fail(2, "image gc: unexpected argument %s", argv[first]) end
  return guarded(h, function()
    local n = image().gc()
    io.stdout:write(("removed %d blobs and %d layers\n"):format(n.blobs, n.layers))
    return 0
  end)
end

function M.image(argv, first, h)
  local sub = argv[first]
  local subs = { inspect = inspect, gc = gc, ls = M.images, list = M.images, rm = M.rmi, load = M.load,
    pull = M.pull }
  if not subs[sub] then
    return h.fail(2, "image: unknown subcommand '%s' (inspect, ls, rm, load, pull, gc)", tostring(sub))
  end
  return subs[sub](argv, first + 1, h)
end

return M
