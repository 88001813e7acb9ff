-- What the default seccomp filter (and a Landlock rule set) costs; not a test.
--
--   nsl run confine.lua DIR N ROUNDS DD_RUNS
--
-- builds a busybox root in DIR (nsl.rootfs.busybox; the caller removes DIR)
-- and prints, one line each, "key value" pairs for run.sh:
--   compile-first MS   nsl.seccomp.compile of a fresh policy table
--                      {extends = "default"}, the first in this process
--                      (loads the compiler and libseccomp too)
--   compile MS         the median of 10 more, each on a fresh table
--   start-MODE MS      ms per container, best of ROUNDS runs of N
--                      containers of /bin/true started one after another
--                      (modes taking turns, after a warm-up of 20 each)
--   turns-MODE MS      the median per container, N of each mode started
--                      taking turns container by container
--   programs N INSNS   the default filter: its programs, their instructions
--   dd-MODE MS         the best of DD_RUNS c:run() of busybox dd bs=1
--                      count=1000000 (2 million system calls) in a container
-- MODE: off (seccomp = false), default (the field absent), landlock (the
-- default filter and landlock = {read = {"/"}, exec = {"/bin"}}).
-- Each mode is first checked to run the container as it claims: the filter
-- in force (/proc/self/status Seccomp: 2) or not, Landlock refusing a write.
local nsl = require "nsl"
local seccomp = nsl.seccomp or require "nsl.seccomp"

local dir, N, ROUNDS, DD = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local root = nsl.rootfs.busybox(dir)
local now = function() return nsl.time("monotonic") end

local MODES = { "off", "default", "landlock" }
local function spec(mode, command)
  local s = { rootfs = root, command = command }
  if mode == "off" then s.seccomp = false end
  if mode == "landlock" then s.landlock = { read = { "/" }, exec = { "/bin" } } end
  return s
end
local function run(mode, command)
  return nsl.container(spec(mode, command)):run()
end
local function must(mode, command)
  local ok, how, code = run(mode, command)
  if not ok then error(("%s: %s: %s %s"):format(mode, table.concat(command, " "), how, code)) end
end
local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- 1. Compiling, before any container has compiled the profile.
local t = now()
seccomp.compile({ extends = "default" })
print("compile-first", (now() - t) * 1000)
local c = {}
for i = 1, 10 do
  t = now()
  seccomp.compile({ extends = "default" })
  c[i] = (now() - t) * 1000
end
print("compile", median(c))
local f = seccomp.compile("default")
local bytes = 0
for _, p in ipairs(f.programs) do bytes = bytes + #p end
print("programs", #f.programs, bytes // 8)

-- Each mode does what it says.
local filtered = { "/bin/sh", "-c", "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status" }
must("default", filtered)
must("landlock", filtered)
assert(not run("off", filtered), "off: the command runs under a filter")
local write = { "/bin/sh", "-c", "exec 2>&-; echo x >/tmp/confine-probe" }
must("off", write)
assert(not run("landlock", write), "landlock: a write outside its paths succeeded")
must("off", { "/bin/rm", "/tmp/confine-probe" })

-- 2. Start cost.
for _, m in ipairs(MODES) do
  for _ = 1, 20 do must(m, { "/bin/true" }) end
end
local best = {}
for r = 1, ROUNDS do
  for _, m in ipairs(MODES) do
    t = now()
    for _ = 1, N do must(m, { "/bin/true" }) end
    local ms = (now() - t) * 1000 / N
    best[m] = math.min(best[m] or math.huge, ms)
    io.stderr:write(("confine: round %d of %d, %s: %.3f ms per container\n"):format(r, ROUNDS, m, ms))
  end
end
for _, m in ipairs(MODES) do print("start-" .. m, best[m]) end

-- The same, the modes taking turns container by container (N each): the
-- median of each mode's per-container times, which the machine's drifts
-- over a run of N touch less than a best of whole runs.
local each = { off = {}, default = {}, landlock = {} }
for _ = 1, N do
  for _, m in ipairs(MODES) do
    t = now()
    must(m, { "/bin/true" })
    local e = each[m]
    e[#e + 1] = (now() - t) * 1000
  end
end
for _, m in ipairs(MODES) do print("turns-" .. m, median(each[m])) end

-- 3. A program that makes system calls and little else.
local dd = { "/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null" }
local dbest = {}
for r = 1, DD do
  for _, m in ipairs({ "off", "default" }) do
    t = now()
    must(m, dd)
    local ms = (now() - t) * 1000
    dbest[m] = math.min(dbest[m] or math.huge, ms)
    io.stderr:write(("confine: dd %d of %d, %s: %.1f ms\n"):format(r, DD, m, ms))
  end
end
print("dd-off", dbest.off)
print("dd-default", dbest.default)
