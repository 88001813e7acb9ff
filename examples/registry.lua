-- Images end to end, inside a network namespace of this script's own
-- (nothing reaches the host's network): a busybox root with a web page
-- becomes an image, goes to a local registry (Debian's docker-registry,
-- pushed with skopeo), is pulled back into a store of this script's, and
-- runs as two containers on a bridge: a web server and a client that
-- fetches its page. Everything is removed at the end.
--
--   build/bin/nsl run examples/registry.lua      (as root; needs the
--   docker-registry and skopeo packages, which tools/deps.sh installs)
local nsl = require "nsl"

assert(nsl.unshare("net"))          -- this script's own network, only lo
assert(nsl.loopback_up())
local work = assert(nsl.mkdtemp("/tmp/nsl-registry-"))
nsl.image.store(work .. "/store")   -- a store of this script's, not the user's
local function sh(cmd) assert(os.execute(cmd), cmd) end

local registry_pid
local ok, err = pcall(function()
  -- 1. an image: busybox and a page, imported as one layer
  local root = work .. "/root"
  sh(("cp -a %s %s && mkdir %s/www"):format(nsl.rootfs.busybox().path, root, root))
  local f = assert(io.open(root .. "/www/index.html", "w"))
  f:write("hello from an image\n")
  f:close()
  nsl.image.import(root, "demo/web:1", { config = { Cmd = { "httpd", "-f", "-p", "8080", "-h", "/www" } } })
  nsl.image.save("demo/web:1", work .. "/layout")

  -- 2. a registry on this namespace's loopback, and the image pushed to it
  local conf = assert(io.open(work .. "/registry.yml", "w"))
  conf:write(("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:5000\n")
    :format(work))
  conf:close()
  local p = io.popen(("docker-registry serve %s/registry.yml >/dev/null 2>&1 & echo $!"):format(work))
  registry_pid = p:read("l")
  p:close()
  sh("for i in $(seq 100); do busybox wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && break; sleep 0.1; done")
  sh(("skopeo copy -q --dest-tls-verify=false oci:%s/layout docker://127.0.0.1:5000/demo/web:1"):format(work))
  print("pushed:  127.0.0.1:5000/demo/web:1")

  -- 3. pulled back (plain HTTP: asked for), and run
  local image = nsl.image.pull("127.0.0.1:5000/demo/web:1", { insecure = true })
  print(("pulled:  %s, %d layer, config %s"):format(image.ref, #image.layers, image.config:sub(1, 19)))
  local net = { bridge = "nslreg0", subnet = "10.202.0.0/24" }
  local web <close> = nsl.container { name = "web", hostname = "web", image = image.ref,
    net = { bridge = net.bridge, subnet = net.subnet, address = "10.202.0.2/24" } }
  assert(web:start())
  local client <close> = nsl.container { image = image.ref, hostname = "client",
    net = { bridge = net.bridge, subnet = net.subnet, address = "10.202.0.3/24" },
    command = { "sh", "-c", [[
      for i in $(seq 50); do page=$(wget -q -O - http://10.202.0.2:8080/index.html) && break; sleep 0.1; done
      echo "client:  GET web:8080 -> $page"]] } }
  print("client ended:", client:run())
  web:kill("TERM")
  print("web ended:   ", web:wait())
end)
if registry_pid then os.execute("kill " .. registry_pid .. " 2>/dev/null; sleep 0.2") end
os.execute("rm -rf '" .. work .. "'")
assert(ok, err)
