-- A small web server in a container on a bridge, reached from the host.
--
-- The root is busybox (built into a temporary directory, no download),
-- used as a read-only image: the container writes into its own
-- copy-on-write layer, and the image is removed at the end. The
-- network is a bridge that nsl creates on first use, with the gateway's
-- address on it; the container gets its own address on that subnet. When
-- the container ends, the veth, the bridge, the address lease and the
-- upper layer are gone. Run as root: build/bin/nsl run examples/web.lua
local nsl = require "nsl"

local dir = assert(nsl.mkdtemp("/tmp/nsl-web-"))
local image = nsl.rootfs.busybox(dir)
local address = "10.201.7.2"

local ok, page = pcall(function()
  local c <close> = nsl.container {
    name = "web",
    hostname = "web",
    rootfs = { image = image, writable = true },
    net = { bridge = "nslweb0", subnet = "10.201.7.0/24", address = address .. "/24" },
    setup = function()
      -- Runs inside, before the command: the page lands in the container's
      -- own layer, not in the shared image.
      assert(nsl.mkdir("/www"))
      local f = assert(io.open("/www/index.html", "w"))
      f:write("hello from ", nsl.gethostname(), "\n")
      f:close()
    end,
    -- nsl's init, PID 1 by default, passes TERM on to httpd (httpd as
    -- PID 1, with init = false, would not die of it).
    command = { "httpd", "-f", "-p", "8080", "-h", "/www" },
  }
  assert(c:start())

  -- Fetch the page from the host, at the container's address only; the
  -- server may need a moment to listen. (No -T: busybox 1.35's wget crashes
  -- with it; a server not yet listening refuses at once anyway.)
  local url = ("http://%s:8080/index.html"):format(address)
  local page
  for _ = 1, 50 do
    local p = io.popen("busybox wget -q -O - " .. url .. " 2>/dev/null")
    page = p:read("a")
    p:close()
    if page ~= "" then break end
    os.execute("sleep 0.1")
  end
  io.write(("host: GET %s -> %s"):format(url, page ~= "" and page or "(no answer)\n"))
  io.stdout:flush()

  c:kill("TERM")
  print("container:", c:wait())
  return page
end)
os.execute("rm -rf '" .. dir .. "'")
assert(ok, page)
assert(page == "hello from web\n", "the page did not come back")
