-- Images written by the tools users have: podman (import, then save in
-- its three formats) and umoci (a layout made layer by layer), each
-- loaded and run. podman runs with a storage of the spec's own (--root,
-- --runroot, the vfs driver), so the machine's stays as it was.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"
local image = require "nsl.image"

local work, busybox

local function have(tool) return os.execute("command -v " .. tool .. " >/dev/null") end

local function sh(cmd)
  local out, ok = T.sh(cmd .. " 2>&1")
  assert(ok, cmd .. ": " .. tostring(out))
  return out
end

setup(function()
  work = assert(nsl.mkdtemp("/tmp/nsl-spec-tools-"))
  image.store(work .. "/store")
  busybox = C.busybox_root()
end)

teardown(function()
  local left = C.children()
  image.store(nil)
  os.execute("rm -rf " .. T.quote(work))
  C.remove(busybox)
  assert.are.same({}, left)
end)

describe("podman's images", function()
  local podman
  setup(function()
    if not have("podman") then return end
    podman = ("podman --root %s/p-root --runroot %s/p-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none")
      :format(T.quote(work), T.quote(work))
    sh(("tar -C %s -cf %s/bb.tar ."):format(T.quote(busybox), T.quote(work)))
    sh(("%s import --change 'CMD [\"echo\",\"from podman\"]' %s/bb.tar localhost/podbb:1"):format(podman, T.quote(work)))
  end)

  for _, format in ipairs({ "oci-archive", "docker-archive", "oci-dir" }) do
    it("loads and runs podman save --format " .. format, function()
      if not podman then return pending("podman is not installed") end
      local out = work .. "/podman-" .. format
      sh(("%s save --format %s -o %s localhost/podbb:1"):format(podman, format, T.quote(out)))
      local recs = image.load(out)
      assert.are.equal("localhost/podbb:1", recs[1].ref)
      assert.are.equal("from podman", (C.capture { image = "localhost/podbb:1" }))
    end)
  end
end)

describe("umoci's images", function()
  it("loads and runs a layout umoci built, its root entry '/' included", function()
    if not have("umoci") then return pending("umoci is not installed") end
    local dir = work .. "/umoci"
    sh(("umoci init --layout %s && umoci new --image %s:1"):format(T.quote(dir), T.quote(dir)))
    sh(("umoci insert --image %s:1 %s /"):format(T.quote(dir), T.quote(busybox)))
    sh(("umoci config --image %s:1 --config.cmd echo --config.cmd 'from umoci'"):format(T.quote(dir)))
    -- its ref.name annotation is the tag alone: the name comes from tag
    local recs = image.load(dir, { tag = "spec/umoci:1" })
    assert.are.same({ "docker.io/spec/umoci:1" }, { recs[1].ref, recs[2] and recs[2].ref })
    assert.are.equal("from umoci", (C.capture { image = "spec/umoci:1" }))
  end)
end)
