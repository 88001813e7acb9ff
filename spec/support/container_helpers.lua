-- Helpers for the container specs: throwaway root file systems built from
-- the host's busybox-static, and checks that nothing stayed behind.
local nsl = require "nsl"
local T = require "nsltest"

local C = {}

C.busybox = "/bin/busybox"

local APPLETS = {
  "sh", "cat", "echo", "ls", "sleep", "hostname", "id", "grep", "ps",
  "mount", "true", "false", "test", "ln", "mkdir", "touch", "rm", "kill",
  "wc", "head", "tr", "ip", "ifconfig", "stat", "readlink", "env", "pwd",
  "umount", "mknod", "sed", "printf", "uname", "chroot", "tty", "awk",
}

-- A minimal root in a new temporary directory: /bin/busybox and its
-- applets, and empty /proc, /sys, /dev, /tmp, /etc, /root. Readable by
-- everyone, so that rootless runs can use it too.
function C.busybox_root()
  local dir = assert(nsl.mkdtemp("/tmp/nsl-spec-root-"))
  assert(nsl.chmod(dir, 493))
  for _, d in ipairs({ "bin", "proc", "sys", "dev", "tmp", "etc", "root" }) do
    assert(nsl.mkdir(dir .. "/" .. d, 493))
  end
  local src = assert(io.open(C.busybox, "rb"))
  local dst = assert(io.open(dir .. "/bin/busybox", "wb"))
  dst:write(src:read("a"))
  src:close()
  dst:close()
  assert(nsl.chmod(dir .. "/bin/busybox", 493))
  for _, a in ipairs(APPLETS) do
    assert(nsl.symlink("busybox", dir .. "/bin/" .. a))
  end
  return dir
end

-- Removes a directory tree made by the specs (never a mount point: it
-- refuses when something is still mounted under it).
function C.remove(dir)
  assert(dir:match("^/tmp/nsl%-"), "refusing to remove " .. dir)
  local mounted = C.mounts_under(dir)
  assert(#mounted == 0, "still mounted: " .. table.concat(mounted, ", "))
  os.execute("rm -rf " .. T.quote(dir))
end

-- Mount points of the host at or below prefix.
function C.mounts_under(prefix)
  local out = {}
  local f = assert(io.open("/proc/self/mountinfo"))
  for line in f:lines() do
    local target = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    if target == prefix or target:sub(1, #prefix + 1) == prefix .. "/" then
      out[#out + 1] = target
    end
  end
  f:close()
  return out
end

-- The children of this process that still exist.
function C.children()
  local f = io.open(("/proc/%d/task/%d/children"):format(nsl.getpid(), nsl.getpid()))
  local s = f and f:read("a") or ""
  if f then f:close() end
  local out = {}
  for pid in s:gmatch("%d+") do out[#out + 1] = tonumber(pid) end
  return out
end

-- Runs a container (a spec or a container) and captures its standard
-- output through a pipe (outputs up to the pipe's 64 KiB). Returns out,
-- ok, how, n, or nil and the message when it could not start.
function C.capture(spec)
  local c = require("nsl.container").is_container(spec) and spec
  if not c then c = nsl.container(spec) end
  local r, w = assert(nsl.pipe())
  io.stdout:flush()
  local saved = assert(nsl.dup2(1, 199))
  assert(nsl.dup2(w, 1))
  nsl.close(w)
  local ok, how, n = c:run()
  assert(nsl.dup2(saved, 1))
  nsl.close(saved)
  local chunks = {}
  repeat
    local s = assert(nsl.read(r, 65536))
    chunks[#chunks + 1] = s
  until s == ""
  nsl.close(r)
  if ok == nil and how ~= "exit" and how ~= "signal" then return nil, how end
  return (table.concat(chunks):gsub("\n$", "")), ok, how, n
end

return C
