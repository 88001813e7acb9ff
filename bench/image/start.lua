-- Containers from a stored image against the same root as a directory;
-- not a test.
--
--   NSL_IMAGE_STORE=STORE nsl run start.lua DIR N LAYOUT_SH
--
-- builds a busybox root in DIR/bb (nsl.rootfs.busybox), an OCI layout of
-- it (one layer, LAYOUT_SH) loaded as bench/busybox:1, and prints "key
-- value" lines for run.sh:
--   MODE MS          median ms per container of N (after 10 of each as a
--                    warm-up), the modes taking turns container by
--                    container, the order turning each round; each is
--                    nsl.container{...}:run() of /bin/true
--   inspect MS       median of 200 nsl.image.inspect of the image
--   container_spec MS  median of 200 nsl.image.container_spec
--   store_root MS    median of 200 of the store's root() (made and checked)
-- MODE: image (image = "bench/busybox:1"), overlay (rootfs = {image =
-- DIR/bb, writable = true}: the overlay the image makes, one lower and a
-- temporary upper), dir (rootfs = DIR/bb, bound), image-memo (image, with
-- nsl.image.inspect memoized in this script: what a per-process cache
-- would save). Each mode is first checked to fail with /bin/false.
local nsl = require "nsl"
local image = require "nsl.image"

local dir, N, layout_sh = arg[1], tonumber(arg[2]), arg[3]
local root = nsl.rootfs.busybox(dir .. "/bb")
assert(os.execute(("%s %s/bb-layout %s >/dev/null"):format(layout_sh, dir, root.path)))
image.load(dir .. "/bb-layout", { tag = "bench/busybox:1" })
local REF = "bench/busybox:1"
local now = function() return nsl.time("monotonic") end
local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local real_inspect = image.inspect
local memo = {}
local function memo_inspect(ref)
  local r = memo[ref]
  if not r then r = real_inspect(ref); memo[ref] = r end
  return r
end

local MODES = { "image", "overlay", "dir", "image-memo" }
local function spec(mode, command)
  if mode == "image" or mode == "image-memo" then return { image = REF, command = command } end
  if mode == "overlay" then return { rootfs = { image = root.path, writable = true }, command = command } end
  return { rootfs = root.path, command = command }
end
local function run(mode, command)
  image.inspect = mode == "image-memo" and memo_inspect or real_inspect
  return nsl.container(spec(mode, command)):run()
end

for _, m in ipairs(MODES) do
  assert(not run(m, { "/bin/false" }), m .. ": /bin/false succeeded")
  local ok, how, code = run(m, { "/bin/true" })
  if not ok then error(("%s: /bin/true: %s %s"):format(m, how, code)) end
  for _ = 1, 9 do run(m, { "/bin/true" }) end
end

local each = {}
for _, m in ipairs(MODES) do each[m] = {} end
for r = 1, N do
  for i = 1, #MODES do
    local m = MODES[(i + r) % #MODES + 1]
    local t = now()
    local ok = run(m, { "/bin/true" })
    local ms = (now() - t) * 1000
    assert(ok, m)
    local e = each[m]
    e[#e + 1] = ms
  end
end
image.inspect = real_inspect
for _, m in ipairs(MODES) do print(m, median(each[m])) end

local function time(f)
  local s = {}
  for i = 1, 200 do
    local t = now()
    f()
    s[i] = (now() - t) * 1000
  end
  return median(s)
end
print("inspect", time(function() image.inspect(REF) end))
print("container_spec", time(function() image.container_spec { image = REF, command = { "/bin/true" } } end))
print("store_root", time(function() image.store() end))
