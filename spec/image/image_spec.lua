-- nsl.image and containers from images: images the spec builds itself
-- (spec/support/image_helpers.lua) in each format, loaded into a store of
-- the spec's own, then run.
local nsl = require "nsl"
local T = require "nsltest"
-- every clean-up step through defer: busted keeps one finally per test
local defer = T.deferrer(function(f) finally(f) end)
local write, mkdirs = T.write, T.mkdirs
local C = require "container_helpers"
local I = require "image_helpers"
local image = require "nsl.image"

local work, store, base, busybox

local function count(dir)
  return #(nsl.readdir(dir) or {})
end

setup(function()
  work = assert(nsl.mkdtemp("/tmp/nsl-spec-image-"))
  store = work .. "/store"
  image.store(store)
  -- the bottom layer: a busybox root
  base = work .. "/base"
  mkdirs(base)
  busybox = C.busybox_root()
  assert(os.execute(("cp -a %s/. %s/"):format(T.quote(busybox), T.quote(base))))
end)

teardown(function()
  local left = C.children()
  image.store(nil)
  os.execute("rm -rf " .. T.quote(work))
  C.remove(busybox)
  assert.are.same({}, left)
end)

describe("an OCI image layout", function()
  local top, layout

  setup(function()
    -- the top layer: a file added, /root deleted (whiteout), /etc made
    -- opaque (only its new content shows), /tmp replaced by a file
    top = work .. "/top"
    mkdirs(top .. "/etc", top .. "/srv")
    write(top .. "/etc/hello", "hello from the top layer\n")
    write(top .. "/etc/.wh..wh..opq", "")
    write(top .. "/.wh.root", "")
    write(top .. "/srv/data", "x")
    layout = work .. "/layout"
    I.layout(layout, { base, top }, {
      Env = { "PATH=/bin", "GREETING=hi", "ONLY_IMAGE=1" },
      Cmd = { "sh", "-c", "echo $GREETING $ONLY_IMAGE; pwd" },
      WorkingDir = "/srv", StopSignal = "SIGINT", ExposedPorts = { ["80/tcp"] = {} },
      Labels = { team = "nsl" },
    }, { name = "spec/app:1" })
  end)

  it("loads into the store, named by the layout's ref.name", function()
    local recs = image.load(layout)
    assert.are.equal(1, #recs)
    assert.are.equal("docker.io/spec/app:1", recs[1].ref)
    assert.are.equal(2, #recs[1].layers)
    local names = {}
    for _, r in ipairs(image.list()) do names[#names + 1] = r.ref end
    assert.are.same({ "docker.io/spec/app:1" }, names)
    assert.are.equal(0, count(store .. "/tmp"))
  end)

  it("gives its config's defaults to read from Lua", function()
    local img = assert(image.inspect("spec/app:1"))
    local d = img.config_data
    assert.are.same({ "sh", "-c", "echo $GREETING $ONLY_IMAGE; pwd" }, d.cmd)
    assert.are.equal("hi", d.env.GREETING)
    assert.are.equal("/srv", d.cwd)
    assert.are.equal("SIGINT", d.stop_signal)
    assert.are.same({ "80/tcp" }, d.exposed_ports)
    assert.are.same({ team = "nsl" }, d.labels)
    assert.are.equal(2, #img.layer_dirs)
  end)

  it("runs a container with its Cmd, Env and WorkingDir, layers stacked as the spec says", function()
    local out, ok = C.capture { image = "spec/app:1" }
    assert.is_true(ok, out)
    assert.are.equal("hi 1\n/srv", out)
    out = C.capture { image = "spec/app:1", command = { "sh", "-c",
      "cat /etc/hello; ls /etc; ls -d /root 2>&1; test -f /bin/busybox && echo base" } }
    -- opaque /etc: only the top layer's file; /root whited out; the base below
    assert.are.equal("hello from the top layer\nhello\nls: /root: No such file or directory\nbase", out)
  end)

  it("lets the spec's command replace Cmd, entrypoint replace Entrypoint, env win per variable", function()
    local out = C.capture { image = "spec/app:1", command = { "sh", "-c", "echo $GREETING-$ONLY_IMAGE" },
      env = { GREETING = "spec" } }
    assert.are.equal("spec-1", out)
    out = C.capture { image = "spec/app:1", entrypoint = { "echo", "entry" }, command = { "args" } }
    assert.are.equal("entry args", out)
  end)

  it("shares the layers between containers: starting more copies nothing", function()
    local before = count(store .. "/layers")
    local cs = {}
    for i = 1, 3 do
      cs[i] = assert(nsl.container { image = "spec/app:1", command = { "sleep", "30" } })
      assert(cs[i]:start())
    end
    assert.are.equal(before, count(store .. "/layers"))
    for _, c in ipairs(cs) do c:destroy() end
  end)

  it("writes go to the container's own upper layer, never into the store", function()
    local out = C.capture { image = "spec/app:1", command = { "sh", "-c", "echo new > /etc/hello; cat /etc/hello" } }
    assert.are.equal("new", out)
    assert.are.equal("hello from the top layer\n", io.open(image.inspect("spec/app:1").layer_dirs[2] .. "/etc/hello"):read("a"))
  end)

  it("lets a later layer replace a directory by a file and a file by a directory", function()
    local a, b = work .. "/swap-a", work .. "/swap-b"
    mkdirs(a .. "/thing", b .. "/other")
    write(a .. "/thing/inner", "below")
    write(a .. "/other", "a file below")
    write(b .. "/thing", "a file above")
    write(b .. "/other/inside", "a directory above")
    I.layout(work .. "/swap", { base, a, b }, { Cmd = { "sh", "-c",
      "cat /thing; echo; ls /thing/inner 2>&1; cat /other/inside" } }, { name = "spec/swap:1" })
    image.load(work .. "/swap")
    assert.are.equal("a file above\nls: /thing/inner: Not a directory\na directory above",
      (C.capture { image = "spec/swap:1" }))
  end)

  it("stacks more layers than one overlay mount's options could name in full", function()
    local dirs = { base }
    for i = 1, 60 do
      local d = ("%s/many/%02d"):format(work, i)
      mkdirs(d .. "/layers")
      write(("%s/layers/%02d"):format(d, i), tostring(i))
      dirs[#dirs + 1] = d
    end
    I.layout(work .. "/many-layout", dirs, { Cmd = { "sh", "-c", "ls /layers | wc -l; cat /layers/60" } },
      { name = "spec/many:1" })
    image.load(work .. "/many-layout")
    assert.are.equal(61, #image.inspect("spec/many:1").layers)
    assert.are.equal("60\n60", (C.capture { image = "spec/many:1" }))
  end)

  it("loads the same layout again without unpacking again", function()
    local before = count(store .. "/layers")
    image.load(layout, { tag = "spec/app:again" })
    assert.are.equal(before, count(store .. "/layers"))
    assert.is_truthy(image.inspect("spec/app:again"))
  end)
end)

describe("archives", function()
  local layer
  setup(function()
    layer = work .. "/extra"
    mkdirs(layer .. "/etc")
    write(layer .. "/etc/motd", "from an archive\n")
  end)

  it("loads an oci-archive (a layout in a tar)", function()
    local dir = work .. "/layout2"
    I.layout(dir, { base, layer }, { Cmd = { "cat", "/etc/motd" } }, { name = "spec/ociarchive:1" })
    image.load(I.oci_archive(work .. "/oci.tar", dir))
    assert.are.equal("from an archive", (C.capture { image = "spec/ociarchive:1" }))
  end)

  it("loads docker save's legacy archive (manifest.json, layer.tar), with its RepoTags", function()
    local file = I.docker_archive(work .. "/docker.tar", { base, layer }, { Cmd = { "cat", "/etc/motd" } },
      { "spec/docker:1", "registry.local:5000/spec/docker:2" })
    local recs = image.load(file)
    assert.are.equal(2, #recs)
    assert.are.equal("from an archive", (C.capture { image = "registry.local:5000/spec/docker:2" }))
    assert.are.equal(0, count(store .. "/tmp"))
  end)

  it("names an archive that names no image by opts.tag, and refuses one without", function()
    local dir = work .. "/layout3"
    I.layout(dir, { base }, { Cmd = { "true" } })
    local ok, err = pcall(image.load, dir)
    assert.is_false(ok)
    assert.matches("names no image; give opts.tag", err)
    assert.are.equal("docker.io/spec/untagged:latest", image.load(dir, { tag = "spec/untagged" })[1].ref)
  end)
end)

describe("archives skopeo writes", function()
  local src
  setup(function()
    src = work .. "/skopeo-src"
    local extra = work .. "/skopeo-layer"
    mkdirs(extra .. "/etc")
    write(extra .. "/etc/motd", "written by skopeo\n")
    I.layout(src, { base, extra }, { Cmd = { "cat", "/etc/motd" } })
  end)

  for _, form in ipairs({ "docker-archive", "oci-archive", "oci" }) do
    it("loads skopeo's " .. form, function()
      if not os.execute("command -v skopeo >/dev/null") then return pending("skopeo is not installed") end
      local dest = work .. "/skopeo." .. form
      local target = form == "oci" and (form .. ":" .. dest .. ":spec/skopeo-" .. form .. ":1")
        or (form .. ":" .. dest .. ":spec/skopeo-" .. form .. ":1")
      local out, ok = T.sh(("skopeo copy -q oci:%s %s 2>&1"):format(T.quote(src), T.quote(target)))
      assert.is_true(ok, out)
      local recs = image.load(dest, { tag = "spec/skopeo-" .. form .. ":1" })
      assert.is_true(#recs >= 1)
      assert.are.equal("written by skopeo", (C.capture { image = "spec/skopeo-" .. form .. ":1" }))
    end)
  end
end)

describe("an image's User", function()
  local function image_with_user(user, name)
    local dir = work .. "/user-" .. name
    mkdirs(dir .. "/etc")
    write(dir .. "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nweb:x:1234:2345:web:/srv:/bin/sh\n")
    write(dir .. "/etc/group", "root:x:0:\nweb:x:2345:\nstaff:x:50:\n")
    I.layout(work .. "/user-layout-" .. name, { base, dir }, { User = user, Cmd = { "sh", "-c",
      "id -u; id -g; grep -E '^Cap(Prm|Eff)' /proc/self/status" } }, { name = "spec/user:" .. name })
    image.load(work .. "/user-layout-" .. name)
    return "spec/user:" .. name
  end

  it("runs the command as the user it names, resolved in the image, with no capabilities", function()
    local out, ok = C.capture { image = image_with_user("web", "name") }
    assert.is_true(ok, out)
    assert.are.equal("1234\n2345\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000", out)
    out = C.capture { image = image_with_user("1234:staff", "uidgroup") }
    assert.matches("^1234\n50\n", out)
    out = C.capture { image = image_with_user("77", "uid") }
    assert.matches("^77\n0\n", out)
  end)

  it("refuses a user or group the image does not have, naming it", function()
    local ok, err = pcall(nsl.container, { image = image_with_user("nobody-here", "missing") })
    assert.is_false(ok)
    assert.matches('user "nobody%-here" is not in its /etc/passwd', err)
    ok, err = pcall(nsl.container, { image = image_with_user("web:nogroup", "missinggroup") })
    assert.is_false(ok)
    assert.matches('group "nogroup" is not in its /etc/group', err)
  end)
end)

describe("an image's StopSignal", function()
  it("is the signal c:stop() sends first; the spec's stop_signal wins", function()
    local dir = work .. "/stopsig"
    I.layout(dir, { base }, { StopSignal = "SIGINT", Cmd = { "sh", "-c",
      "trap 'echo got INT; exit 7' INT; trap 'echo got TERM; exit 8' TERM; while :; do sleep 0.05; done" } },
      { name = "spec/stopsig:1" })
    image.load(dir)
    for _, case in ipairs({ { nil, 7 }, { "TERM", 8 } }) do
      local c = assert(nsl.container { image = "spec/stopsig:1", stop_signal = case[1] })
      defer(function() c:destroy() end)
      assert(c:start())
      nsl.sleep(0.3)
      local _, how, n = c:stop(5)
      assert.are.same({ "exit", case[2] }, { how, n })
    end
    local ok, err = pcall(nsl.container, { image = "spec/stopsig:1", stop_signal = "RTMIN" })
    assert.is_false(ok)
    assert.matches("stop_signal must be TERM, INT", err)
  end)
end)

describe("import and save", function()
  it("imports a root directory as a one-layer image, and saves it as a layout others read", function()
    local rec = image.import(base, "spec/imported:1", { config = { Cmd = { "echo", "imported" } } })
    assert.are.equal(1, #rec.layers)
    assert.are.equal("imported", (C.capture { image = "spec/imported:1" }))
    local dir = work .. "/saved"
    assert.is_true(image.save("spec/imported:1", dir))
    if os.execute("command -v skopeo >/dev/null") then
      local out, ok = T.sh("skopeo inspect --raw oci:" .. T.quote(dir))
      assert.is_true(ok, out)
      assert.matches('"digest":"' .. rec.config, out, 1, true)
    end
    local ok, err = pcall(image.save, "spec/imported:1", dir)
    assert.is_false(ok)
    assert.matches("exists", err)
    assert.are.equal("docker.io/spec/imported:1", image.load(dir)[1].ref)
  end)
end)

describe("bad images", function()
  local function refs() return #image.list() end

  it("refuses a blob that does not match its digest, and keeps nothing of it", function()
    local dir, fresh = work .. "/bad1", work .. "/fresh"
    mkdirs(fresh)
    write(fresh .. "/only-in-this-image", "1") -- a blob the store has not seen
    local info = I.layout(dir, { fresh }, { Cmd = { "true" } }, { name = "spec/corrupt:1", corrupt = 1 })
    local before, blobs = refs(), count(store .. "/blobs/sha256")
    local ok, err = pcall(image.load, dir)
    assert.is_false(ok)
    assert.matches("does not match its descriptor", err)
    assert.are.equal(before, refs())
    assert.are.equal(0, count(store .. "/tmp"))
    assert.is_nil(nsl.lstat(store .. "/layers/" .. info.diff_ids[1]))
    -- the manifest and config, verified, may stay; no layer blob did
    assert.is_true(count(store .. "/blobs/sha256") <= blobs + 2)
  end)

  it("says so when the disk is full, and leaves the store as it was", function()
    -- a store on a 2 MB tmpfs, in a mount namespace of a child's own
    local dir = work .. "/big"
    mkdirs(work .. "/bigdata")
    assert(os.execute(("head -c 3000000 /dev/urandom > %s/bigdata/blob"):format(T.quote(work))))
    I.layout(dir, { work .. "/bigdata" }, { Cmd = { "true" } }, { name = "spec/big:1" })
    local small = work .. "/small-store"
    mkdirs(small)
    local r1, r2, r3 = T.inside({ "mnt" }, function()
      assert(nsl.mount(nil, "/", nil, "rec,private"))
      assert(nsl.mount("tmpfs", small, "tmpfs", nil, "size=2m,mode=0700"))
      image.store(small)
      local ok, err = pcall(image.load, dir)
      return ok, err, #image.list() .. " " .. #nsl.readdir(small .. "/tmp") .. " " .. #nsl.readdir(small .. "/layers")
    end)
    assert.is_false(r1)
    assert.matches("No space left on device", r2)
    assert.are.equal("0 0 0", r3)
  end)

  it("refuses a layout with no image for this platform, naming it", function()
    local dir = work .. "/bad2"
    I.layout(dir, { base }, { Cmd = { "true" } }, { name = "spec/arm:1",
      index = { platform = { os = "linux", architecture = "s390x" } } })
    local ok, err = pcall(image.load, dir)
    assert.is_false(ok)
    assert.matches("has no image for linux/", err)
  end)

  it("refuses invalid JSON and a directory that is no image, naming them", function()
    local dir = work .. "/bad3"
    mkdirs(dir)
    write(dir .. "/index.json", "{not json")
    local ok, err = pcall(image.load, dir)
    assert.is_false(ok)
    assert.matches("index.json is not valid JSON", err)
    ok, err = pcall(image.load, work .. "/base")
    assert.is_false(ok)
    assert.matches("neither an OCI image layout", err)
    ok, err = pcall(image.load, work .. "/nonexistent")
    assert.is_false(ok)
    assert.matches("no such file or directory", err)
  end)

  it("refuses malformed references and unknown images", function()
    for ref, msg in pairs({ ["Upper/Case"] = "bad name component", ["app:"] = "bad tag",
      ["app@sha256:12"] = "digest must be sha256" }) do
      local ok, err = pcall(nsl.container, { image = ref })
      assert.is_false(ok)
      assert.matches(msg, err, 1, true)
    end
    local ok, err = pcall(nsl.container, { image = "spec/nosuch:1" })
    assert.is_false(ok)
    assert.matches("image docker.io/spec/nosuch:1 is not in the store", err, 1, true)
    ok, err = pcall(nsl.container, { image = "spec/app:1", rootfs = "/" })
    assert.is_false(ok)
    assert.matches("give image or rootfs, not both", err)
  end)
end)

describe("removing images", function()
  it("rmi forgets a name; gc frees what no image and no container uses", function()
    local dir = work .. "/gc"
    local solo = work .. "/solo"
    mkdirs(solo)
    write(solo .. "/only-here", "1")
    local info = I.layout(dir, { base, solo }, { Cmd = { "sleep", "30" } }, { name = "spec/gc:1" })
    image.load(dir)
    local layer = store .. "/layers/" .. info.diff_ids[2]
    assert.is_truthy(nsl.lstat(layer))
    local c = assert(nsl.container { name = "nsl-spec-gc-" .. nsl.getpid(), image = "spec/gc:1" })
    defer(function() c:destroy() end)
    assert(c:start())
    assert.is_true(image.remove("spec/gc:1"))
    assert.is_nil(image.inspect("spec/gc:1"))
    image.gc()
    assert.is_truthy(nsl.lstat(layer), "gc removed a layer a running container uses")
    c:destroy()
    local n = image.gc()
    assert.is_nil(nsl.lstat(layer))
    assert.is_true(n.layers >= 1)
    -- the layers of images still named stay
    assert.is_truthy(image.inspect("spec/app:1"))
    for _, d in ipairs(image.inspect("spec/app:1").layer_dirs) do assert.is_truthy(nsl.lstat(d)) end
  end)
end)

describe("the image commands", function()
  local function nsl_cmd(args)
    return T.sh(("env NSL_IMAGE_STORE=%s %s %s 2>&1"):format(T.quote(store), T.quote(T.bin), args))
  end

  it("load, images, image inspect, rmi", function()
    local dir = work .. "/cli"
    I.layout(dir, { base }, { Cmd = { "true" }, Labels = { cli = "yes" } })
    local out, ok = nsl_cmd("load -t spec/cli:1 " .. T.quote(dir))
    assert.is_true(ok, out)
    assert.are.equal("Loaded image: docker.io/spec/cli:1", out)
    out = nsl_cmd("images")
    assert.matches("\nspec/cli:1 +%x+ +1 ", out)
    out = nsl_cmd("images -q")
    assert.matches("docker.io/spec/cli:1", out, 1, true)
    out = nsl_cmd("image inspect spec/cli:1")
    local j = require("cjson").decode(out)
    assert.are.equal("docker.io/spec/cli:1", j[1].ref)
    assert.are.equal("yes", j[1].config_data.labels.cli)
    out, ok = nsl_cmd("rmi spec/cli:1")
    assert.is_true(ok, out)
    out, ok = nsl_cmd("rmi spec/cli:1")
    assert.is_falsy(ok)
    assert.matches("not in the store", out)
    out, ok = nsl_cmd("load")
    assert.is_falsy(ok)
    assert.matches("give an archive", out)
  end)
end)

describe("images, rootless", function()
  it("an unprivileged user loads into a store of its own and runs the image", function()
    if not T.bin_reachable() then return pending("uid " .. T.uid .. " cannot run " .. T.bin) end
    local dir = work .. "/rootless"
    mkdirs(dir .. "/top/etc")
    write(dir .. "/top/etc/who", "rootless layer\n")
    write(dir .. "/top/.wh.root", "")
    I.layout(dir .. "/layout", { base, dir .. "/top" }, { Cmd = { "sh", "-c", "cat /etc/who; ls /root 2>&1 | head -1" } },
      { name = "spec/rootless:1" })
    assert(os.execute(("chmod -R a+rX %s && chmod a+x %s"):format(T.quote(dir), T.quote(work))))
    local home = assert(nsl.mkdtemp("/tmp/nsl-spec-home-"))
    defer(function() os.execute("rm -rf " .. T.quote(home)) end)
    assert(os.execute(("chown %d:%d %s"):format(T.uid, T.gid, T.quote(home))))
    local script = T.script([[
      local nsl = require "nsl"
      nsl.image.load(arg[1])
      print(nsl.container { image = "spec/rootless:1" }:run())
    ]])
    defer(function() os.remove(script) end)
    local out = T.sh(("setpriv --reuid=%d --regid=%d --clear-groups env HOME=%s %s run %s %s 2>&1")
      :format(T.uid, T.gid, T.quote(home), T.quote(T.user_bin()), T.quote(script), T.quote(dir .. "/layout")))
    assert.are.equal("rootless layer\nls: /root: No such file or directory\ntrue\texit\t0", out)
  end)
end)
