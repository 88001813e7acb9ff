-- The first container: its own hostname, its own pids (its command is pid
-- 2, under nsl's init as PID 1), a network with only lo (up), on a busybox
-- root built here without downloading anything (from Debian's
-- busybox-static), removed at the end.
--
--   build/bin/nsl run examples/hello.lua      (as root, or rootless)
local nsl = require "nsl"

local dir = assert(nsl.mkdtemp("/tmp/nsl-hello-"))
local ok, how, n = pcall(function()
  local c <close> = nsl.container {
    rootfs = nsl.rootfs.busybox(dir),
    hostname = "hello",
    command = { "/bin/sh", "-c", [[
      echo "inside:  hostname $(hostname), pid $$ (1 is $(cat /proc/1/comm)), user $(id -u)"
      echo "inside:  interfaces $(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\n' ' ')"
      ip -o link show lo | grep -q UP && echo "inside:  lo is up"
    ]] },
  }
  local done, how2, n2 = c:run()
  print(("outside: hostname %s, the container ended: %s %s %s"):format(
    nsl.gethostname(), tostring(done), how2, n2))
  return done, how2, n2
end)
os.execute("rm -rf '" .. dir .. "'")
if not ok then error(how, 0) end
