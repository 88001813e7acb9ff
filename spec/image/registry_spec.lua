-- nsl.image.pull against a real registry: Debian's docker-registry (the
-- Distribution registry), started inside a network namespace this spec
-- makes, filled with skopeo from layouts the spec builds; the pulls run
-- in the same namespace (a script under `unshare -n`), so nothing leaves
-- loopback.
local nsl = require "nsl"
local T = require "nsltest"
-- every clean-up step through defer: busted keeps one finally per test
local defer = T.deferrer(function(f) finally(f) end)
local write, mkdirs = T.write, T.mkdirs
local C = require "container_helpers"
local I = require "image_helpers"

local work, base, layout, have_tools, busybox

local REGISTRY_CONFIG = [[
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
]]

-- Runs, in a new network namespace: the registry, `skopeo copy` of each
-- of pushes ({source, "name:tag", all}), then the Lua script (its output
-- returned, stdout and stderr). before_script: shell run between the
-- pushes and the script (to damage the registry's storage, say).
local function in_registry_netns(pushes, script, before_script, as_user_home)
  local reg = work .. "/reg-" .. nsl.getpid() .. "-" .. math.random(1e6)
  mkdirs(reg)
  write(reg .. "/config.yml", REGISTRY_CONFIG:format(reg .. "/data"))
  local lua = T.script(script)
  local lines = {
    "set -e", "ip link set lo up", "export REG=" .. T.quote(reg),
    ("docker-registry serve %s > %s/log 2>&1 & echo $! > %s/pid"):format(T.quote(reg .. "/config.yml"), T.quote(reg), T.quote(reg)),
    -- the registry goes with the script, however it ends
    ("trap 'kill $(cat %s/pid) 2>/dev/null; wait' EXIT"):format(T.quote(reg)),
    "for i in $(seq 100); do busybox wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && break; sleep 0.1; done",
  }
  for _, p in ipairs(pushes) do
    lines[#lines + 1] = ("skopeo copy -q %s --dest-tls-verify=false %s docker://127.0.0.1:5000/%s > /dev/null")
      :format(p[3] and "--all" or "", p[1], p[2])
  end
  lines[#lines + 1] = before_script or "true"
  lines[#lines + 1] = "set +e"
  if as_user_home then
    -- as the unprivileged user, with its own store under its HOME
    lines[#lines + 1] = ("setpriv --reuid=%d --regid=%d --clear-groups env HOME=%s %s run %s 2>&1; rc=$?")
      :format(T.uid, T.gid, T.quote(as_user_home), T.quote(T.user_bin()), T.quote(lua))
  else
    lines[#lines + 1] = ("NSL_IMAGE_STORE=%s %s run %s 2>&1; rc=$?")
      :format(T.quote(work .. "/store"), T.quote(T.bin), T.quote(lua))
  end
  lines[#lines + 1] = "exit $rc"
  write(reg .. "/run.sh", table.concat(lines, "\n") .. "\n")
  local out, ok = T.sh("unshare -n sh " .. T.quote(reg .. "/run.sh"))
  os.remove(lua)
  os.execute("rm -rf " .. T.quote(reg))
  return out, ok
end

setup(function()
  have_tools = os.execute("command -v docker-registry >/dev/null && command -v skopeo >/dev/null")
  work = assert(nsl.mkdtemp("/tmp/nsl-spec-registry-"))
  base = work .. "/base"
  mkdirs(base, work .. "/top/etc")
  busybox = C.busybox_root()
  assert(os.execute(("cp -a %s/. %s/"):format(T.quote(busybox), T.quote(base))))
  write(work .. "/top/etc/motd", "pulled from a registry\n")
  layout = work .. "/layout"
  I.layout(layout, { base, work .. "/top" }, { Cmd = { "cat", "/etc/motd" } })
end)

teardown(function()
  local left = C.children()
  os.execute("rm -rf " .. T.quote(work))
  C.remove(busybox)
  assert.are.same({}, left)
end)

describe("nsl.image.pull from a registry", function()
  before_each(function()
    if not have_tools then pending("docker-registry and skopeo are not installed (tools/deps.sh)") end
    os.execute("rm -rf " .. T.quote(work .. "/store"))
  end)

  it("pulls by tag and by digest, and runs the image", function()
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      local rec = nsl.image.pull("127.0.0.1:5000/spec/app:1", { insecure = true })
      print(rec.ref, #rec.layers)
      print(nsl.container { image = "127.0.0.1:5000/spec/app:1" }:run())
      local by_digest = nsl.image.pull("127.0.0.1:5000/spec/app@" .. rec.manifest, { insecure = true })
      print(by_digest.config == rec.config)
      -- pulled on demand by the spec
      assert(nsl.image.remove("127.0.0.1:5000/spec/app:1"))
      print(nsl.container { image = { "127.0.0.1:5000/spec/app:1", pull = "missing", insecure = true } }:run())
      print(#nsl.readdir(os.getenv("NSL_IMAGE_STORE") .. "/tmp"))
    ]])
    assert.is_true(ok, out)
    assert.are.equal("127.0.0.1:5000/spec/app:1\t2\npulled from a registry\ntrue\texit\t0\ntrue\n"
      .. "pulled from a registry\ntrue\texit\t0\n0", out)
  end)

  it("lets two processes pull the same image at once: both end whole, nothing doubled", function()
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      local pids = {}
      for i = 1, 2 do
        pids[i] = assert(nsl.clone({}, function()
          local ok = pcall(nsl.image.pull, "127.0.0.1:5000/spec/app:1", { insecure = true })
          return ok and 0 or 1
        end))
      end
      for i = 1, 2 do print(nsl.wait(pids[i])) end
      local store = os.getenv("NSL_IMAGE_STORE")
      print(#nsl.image.list(), #nsl.readdir(store .. "/layers"), #nsl.readdir(store .. "/tmp"))
      print(nsl.container { image = "127.0.0.1:5000/spec/app:1" }:run())
    ]])
    assert.is_true(ok, out)
    assert.are.equal("true\texit\t0\ntrue\texit\t0\n1\t2\t0\npulled from a registry\ntrue\texit\t0", out)
  end)

  it("pulls and runs as an unprivileged user, into a store of its own", function()
    if not T.bin_reachable() then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local home = assert(nsl.mkdtemp("/tmp/nsl-spec-home-"))
    defer(function() os.execute("rm -rf " .. T.quote(home)) end)
    assert(os.execute(("chown %d:%d %s"):format(T.uid, T.gid, T.quote(home))))
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      local rec = nsl.image.pull("127.0.0.1:5000/spec/app:1", { insecure = true })
      print(nsl.image.store():sub(-24), #rec.layers)
      print(nsl.container { image = rec.ref }:run())
    ]], nil, home)
    assert.is_true(ok, out)
    assert.are.equal("/.local/share/nsl/images\t2\npulled from a registry\ntrue\texit\t0", out)
  end)

  it("picks this host's image from a manifest list of several platforms", function()
    local other = work .. "/layout-s390x"
    I.layout(other, { work .. "/top" }, { Cmd = { "false" } }, { arch = "s390x" })
    local multi = work .. "/multi"
    I.index(multi, { { layout, "amd64" }, { other, "s390x" } })
    local out, ok = in_registry_netns({ { "oci:" .. multi, "spec/multi:1", true } }, [[
      local nsl = require "nsl"
      nsl.image.pull("127.0.0.1:5000/spec/multi:1", { insecure = true })
      print(nsl.container { image = "127.0.0.1:5000/spec/multi:1" }:run())
      print(pcall(nsl.image.pull, "127.0.0.1:5000/spec/multi:1",
        { insecure = true, platform = { os = "linux", architecture = "riscv64" } }))
    ]])
    assert.is_true(ok, out)
    assert.matches("^pulled from a registry\ntrue\texit\t0\nfalse\tpull: [^\n]*has no image for linux/riscv64", out)
  end)

  it("refuses plain HTTP unless asked, an unknown tag, naming them", function()
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      print(pcall(nsl.image.pull, "127.0.0.1:5000/spec/app:1"))
      print(pcall(nsl.image.pull, "127.0.0.1:5000/spec/app:nosuch", { insecure = true }))
      print(#nsl.image.list())
    ]])
    assert.is_true(ok, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    -- https first: the registry speaks plain HTTP, so TLS fails
    assert.matches("^false\tpull: http GET https://127%.0%.0%.1:5000/", lines[1])
    assert.matches("^false\tpull: .*no manifest nosuch", lines[2])
    assert.are.equal("0", lines[3])
  end)

  it("refuses a corrupted blob and keeps nothing of it", function()
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      print(pcall(nsl.image.pull, "127.0.0.1:5000/spec/app:1", { insecure = true }))
      local store = os.getenv("NSL_IMAGE_STORE")
      print(#nsl.image.list(), #nsl.readdir(store .. "/tmp"), #nsl.readdir(store .. "/layers"))
    ]], [[
      # every layer blob of the registry gets a byte more
      for f in $(find "$REG"/data -path '*/blobs/*' -name data -size +1k); do printf x >> "$f"; done
    ]])
    assert.is_true(ok, out)
    assert.matches("^false\timage store: blob sha256:%x+ does not match its descriptor: its content is sha256:%x+, %d+ bytes %(expected %d+ bytes%)", out)
    assert.matches("\n0\t0\t0$", out)
  end)

  it("says so when the registry dies in the middle, and keeps nothing half made", function()
    local out, ok = in_registry_netns({ { "oci:" .. layout, "spec/app:1" } }, [[
      local nsl = require "nsl"
      local pid = io.open(os.getenv("REG") .. "/pid"):read("l")
      local killed = false
      print(pcall(nsl.image.pull, "127.0.0.1:5000/spec/app:1", { insecure = true, progress = function()
        if not killed then killed = true; os.execute("kill -9 " .. pid); nsl.sleep(0.2) end
      end }))
      local store = os.getenv("NSL_IMAGE_STORE")
      print(#nsl.image.list(), #nsl.readdir(store .. "/tmp"))
    ]])
    assert.is_true(ok, out)
    assert.matches("^false\tpull: ", out)
    assert.matches("\n0\t0$", out)
  end)
end)
