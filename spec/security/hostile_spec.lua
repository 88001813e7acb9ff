-- Hostile input: every public function of nsl, called with every
-- combination of awkward values per argument position, never crashes.
-- Each call must raise a Lua error with a string message, or return
-- nil, message, errno (a string and an integer), or a result.
--
-- The functions are found in the module's tables (nsl.*, nsl.net.*,
-- nsl.caps.*, and the Lua layer that nsl loads on demand: nsl.container,
-- nsl.rootfs.*, nsl.cgroup.*, ...), so a new function is covered without
-- touching this file. Arities come from the doc comment above each C
-- function ("nsl.name(a, b [, c])") and from the Lua functions' own
-- parameter lists.
--
-- Everything runs in children cloned into new user (root inside, uid
-- 1002 outside), mount, pid, net, uts, ipc and cgroup namespaces, with
-- fresh tmpfs on /tmp, /run, /var/tmp and /dev/shm and the working
-- directory deep inside /tmp: even a call that succeeds touches nothing
-- of the host. The functions of SKIP (those that would change the calling
-- process for good if they went through: exec, chroot, setids, ...) get a
-- throwaway child: the child ends after the first such call that is not
-- refused by argument checking, and the next call gets a new child.
--
-- A child that dies of a signal names the call that killed it (each call
-- is recorded before it is made); a call still running after HANG_LIMIT
-- seconds is a hang (WAIT_LIMIT for functions that wait by design).
local nsl = require "nsl"
local T = require "nsltest"

local HANG_LIMIT = 10   -- seconds without progress: a hang
local WAIT_LIMIT = 1    -- for functions that wait by design (WAITS)
local SAMPLES = tonumber(os.getenv("NSL_HOSTILE_SAMPLES")) or 200 -- per arity above 2
local MAX_FAILURES = 3  -- per function: the rest of its calls are skipped
-- NSL_HOSTILE_NOTES=1 prints the errors of the Lua layer that come from
-- inside it ("nsl/rootfs.lua:93: bad argument #1 to 'open'", "attempt to
-- index ...") rather than from its argument checks; =all prints every
-- error raised. NSL_HOSTILE_ONLY=<Lua pattern> runs the matching functions only.
local NOTES = os.getenv("NSL_HOSTILE_NOTES")

-- ---- the values -------------------------------------------------------------

local BIG = ("x"):rep(1 << 20)

-- Each value is made afresh for every call: a function may keep or change
-- a table it is given (rootfs.restore sets a metatable on it).
local VALUES = {
  { "nil", function() return nil end },
  { "true", function() return true end },
  { "false", function() return false end },
  { "0", function() return 0 end },
  { "-1", function() return -1 end },
  { "math.mininteger", function() return math.mininteger end },
  { "math.maxinteger", function() return math.maxinteger end },
  { "2^53", function() return 2 ^ 53 end },
  { "0.5", function() return 0.5 end },
  { "-0.0", function() return -0.0 end },
  { "NaN", function() return 0 / 0 end },
  { "math.huge", function() return math.huge end },
  { "-math.huge", function() return -math.huge end },
  { '""', function() return "" end },
  { "a 1 MiB string", function() return BIG end },
  { '"a\\0b"', function() return "a\0b" end },
  { '"net\\0uts"', function() return "net\0uts" end },
  { '"../../etc"', function() return "../../etc" end },
  { '{1, {}, "x"}', function() return { 1, {}, "x" } end },
  { "{{}}", function() return { {} } end },
  { "a table whose __index raises", function()
    return setmetatable({}, { __index = function(_, k) error("hostile __index " .. tostring(k)) end })
  end },
  { "a function", function() return function() return 0 end end },
  { "a coroutine", function() return coroutine.create(function() end) end },
  { "io.stdout", function() return io.stdout end },
}
local NV = #VALUES

-- ---- the functions ----------------------------------------------------------

-- Would change the calling process for good if they went through.
local SKIP = {}
for name in ([[exec unshare setns pivot_root chroot chdir mount umount setids
    caps.keep caps.drop caps_limit no_new_privs sethostname setdomainname kill
    close close_fds dup2 setctty setsid umask setrlimit pdeathsig dumpable
    forward_signals stop_forwarding supervise]]):gmatch("%S+") do
  SKIP[name] = true
end

-- Wait by design (poll with a long timeout, sleep): a call still waiting
-- after WAIT_LIMIT is stopped and counted, not failed.
local WAITS = { poll = true, sleep = true, reap = true, wait = true, supervise = true,
  pty_relay = true, read = true }

-- The directory of this file's checkout (make test runs from there):
-- this file is spec/<area>/hostile_spec.lua in it.
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]+/[^/]*$")) or "."

-- "nsl.mknod(path, type, mode [, major, minor]) -> true" -> 5, from the
-- doc comments in src/*.c.
local function documented_arities()
  local arity = {}
  for _, file in ipairs(assert(nsl.readdir(ROOT .. "/src"))) do
    if file:match("%.c$") then
      for line in io.lines(ROOT .. "/src/" .. file) do
        local name, params = line:match("^ %* nsl%.([%w_.]+)(%b())")
        if name then
          local p = params:sub(2, -2):gsub("%b{}", "T"):gsub('%b""', "S"):gsub("[%[%]]", " ")
          local n = 0
          for item in p:gmatch("[^,]+") do
            if item:find("%S") then n = n + 1 end
          end
          arity[name] = n
        end
      end
    end
  end
  return arity
end

-- The lazily loaded fields of nsl (container, rootfs, ...), read from the
-- upvalue of its __index that lists them.
local function lazy_fields()
  local index = getmetatable(nsl).__index
  for i = 1, math.huge do
    local name, value = debug.getupvalue(index, i)
    if not name then break end
    if name == "lazy" then
      local keys = {}
      for k in pairs(value) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end
  end
  error("nsl's __index has no 'lazy' upvalue: update hostile_spec.lua")
end

-- { name = "net.veth", fn = f, kind = "core"|"lua", arity = n }, sorted.
local function public_functions()
  local docs = documented_arities()
  local list, undocumented = {}, {}
  local function add(name, fn, kind)
    local arity
    if kind == "core" then
      arity = docs[name]
      if not arity then
        undocumented[#undocumented + 1] = name
        arity = 3
      end
    else
      local info = debug.getinfo(fn, "u")
      arity = info.nparams + (info.isvararg and 1 or 0)
    end
    list[#list + 1] = { name = name, fn = fn, kind = kind, arity = arity }
  end
  local core = require "nsl.core"
  for k, v in pairs(core) do
    if type(v) == "function" then
      add(k, v, "core")
    elseif type(v) == "table" then
      for k2, v2 in pairs(v) do
        if type(v2) == "function" then add(k .. "." .. k2, v2, "core") end
      end
    end
  end
  for _, k in ipairs(lazy_fields()) do
    local v = nsl[k]
    if type(v) == "function" then
      add(k, v, "lua")
    elseif type(v) == "table" then
      for k2, v2 in pairs(v) do
        if type(v2) == "function" then add(k .. "." .. k2, v2, "lua") end
      end
    end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list, undocumented
end

-- ---- the calls --------------------------------------------------------------

-- A small deterministic generator (xorshift32), seeded by the name.
local function generator(name)
  local s = 2166136261
  for i = 1, #name do s = ((s ~ name:byte(i)) * 16777619) & 0xffffffff end
  if s == 0 then s = 1 end
  return function(n)
    s = s ~ ((s << 13) & 0xffffffff)
    s = s ~ (s >> 17)
    s = s ~ ((s << 5) & 0xffffffff)
    return s % n + 1
  end
end

-- Lists of value indices: every combination for up to two arguments (and
-- up to the arity), a sample of SAMPLES for each longer count, up to one
-- more than the arity (an extra argument).
local function calls_for(name, arity)
  local calls = { {} }
  for i = 1, NV do calls[#calls + 1] = { i } end
  if arity >= 2 then
    for i = 1, NV do
      for j = 1, NV do calls[#calls + 1] = { i, j } end
    end
  end
  local pick = generator(name)
  local from = arity >= 2 and 3 or 2
  for k = from, arity + 1 do
    for _ = 1, SAMPLES do
      local c = {}
      for p = 1, k do c[p] = pick(NV) end
      calls[#calls + 1] = c
    end
  end
  return calls
end

local function describe_call(name, call)
  local parts = {}
  for i, v in ipairs(call) do parts[i] = VALUES[v][1] end
  return ("%s(%s)"):format(name, table.concat(parts, ", "))
end

-- What is wrong with the outcome of one call (table.pack(pcall(...))) of
-- job with nargs arguments, or nil. An argument error of the C core must
-- name the function called and an argument it takes or was given, not a
-- stack slot ("bad argument #-2") or a field taken for an argument.
local function judge(job, res, nargs)
  if not res[1] then
    local msg = res[2]
    if type(msg) ~= "string" then
      return ("raised a %s instead of a string message"):format(type(msg))
    end
    if msg == "" then return "raised an empty message" end
    local k, fname = msg:match("bad argument #(%-?%d+) to '([^']*)'")
    if job.kind == "core" and k then
      k = tonumber(k)
      if k < 1 or k > math.max(nargs, job.arity) then
        return ("raised %q, but the call has %d arguments"):format(msg:sub(1, 200), math.max(nargs, job.arity))
      end
      if fname:match("[%w_]+$") ~= job.fname then
        return ("raised %q, which names another function than %s"):format(msg:sub(1, 200), job.fname)
      end
    end
    return nil
  end
  if res.n >= 2 and res[2] == nil then
    local msg, code = res[3], res[4]
    if job.kind == "core" then
      if type(msg) ~= "string" or math.type(code) ~= "integer" then
        return ("returned nil, %s, %s instead of nil, message, errno"):format(type(msg), math.type(code) or type(code))
      end
    elseif msg ~= nil and type(msg) ~= "string" then
      return ("returned nil and a %s instead of a message"):format(type(msg))
    end
  elseif job.kind == "core" and res.n < 2 then
    return "returned nothing"
  end
  return nil
end

-- ---- the children -----------------------------------------------------------

local SANDBOX_NS = { "user", "mnt", "pid", "net", "uts", "ipc", "cgroup" }
local SANDBOX_OPTS = { uid_map = { { 0, T.uid, 1 } }, gid_map = { { 0, T.gid, 1 } }, collect = false }
local WORK = "/tmp/w/a/b/c"  -- so that "../../etc" stays in /tmp/w
local FAKE_ROOT = "/tmp/w/root" -- a container root with an executable /bin/sh

-- In the sandbox's PID 1, before any call.
local function sandbox(errfd)
  local null = assert(nsl.open("/dev/null", "rdwr"))
  assert(nsl.dup2(null, 0))
  assert(nsl.dup2(null, 1))
  assert(nsl.dup2(errfd, 2))
  assert(nsl.mount(nil, "/", nil, "rec,private"))
  for _, dir in ipairs { "/tmp", "/run", "/var/tmp", "/dev/shm" } do
    assert(nsl.mount("tmpfs", dir, "tmpfs", "nosuid,nodev", "size=64m,mode=1777"))
  end
  local path = "/tmp"
  for part in WORK:sub(6):gmatch("[^/]+") do
    path = path .. "/" .. part
    assert(nsl.mkdir(path))
  end
  assert(nsl.mkdir(FAKE_ROOT))
  assert(nsl.mkdir(FAKE_ROOT .. "/bin"))
  assert(nsl.touch(FAKE_ROOT .. "/bin/sh", 493))
  assert(nsl.chdir(WORK))
end

-- Exit statuses of a worker.
local DONE, WENT_THROUGH, WENT_THROUGH_BADLY = 0, 10, 11

local function one_line(s)
  s = tostring(s):gsub("[%c]", " ")
  if #s > 300 then s = s:sub(1, 300) .. "..." end
  return s
end

-- The worker: makes the calls, writing "C <i>" before each and
-- "V <i> <what>" after one whose outcome is wrong.
local function worker(job, first, rep)
  for i = first, #job.calls do
    nsl.write(rep, ("C %d\n"):format(i))
    local call = job.calls[i]
    local args = { n = #call }
    for p, v in ipairs(call) do args[p] = VALUES[v][2]() end
    local res = table.pack(pcall(job.fn, table.unpack(args, 1, args.n)))
    local problem = judge(job, res, args.n)
    if problem then
      nsl.write(rep, ("V %d %s\n"):format(i, one_line(problem)))
    end
    if NOTES and not res[1] and type(res[2]) == "string" and (NOTES == "all"
        or res[2]:find("attempt to") or res[2]:find("nsl/[%w_]+%.lua:%d+:")) then
      nsl.write(rep, ("I %d %s\n"):format(i, one_line(res[2])))
    end
    if job.isolated and res[1] then
      return problem and WENT_THROUGH_BADLY or WENT_THROUGH
    end
  end
  return DONE
end

-- PID 1 of the sandbox: sets it up, runs the worker as its child (so that
-- the worker is an ordinary process, which signals kill) and exits with
-- the worker's status, 128 + n for a signal n.
local function sandbox_init(job, first, rep, errfd)
  sandbox(errfd)
  local pid = assert(nsl.clone(nil, function() return worker(job, first, rep) end, { collect = false }))
  local _, how, code = nsl.wait(pid)
  return how == "signal" and 128 + code or code
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function last_call(report)
  local last
  for i in report:gmatch("C (%d+)\n") do last = tonumber(i) end
  return last
end

local stats = { calls = 0, children = 0, waited = {} }

-- Runs job.calls[first..] in one sandbox; returns the index to go on from
-- and adds what went wrong to problems.
local function run_child(job, first, dir, problems)
  local report_path, err_path = dir .. "/report", dir .. "/stderr"
  local rep = assert(nsl.open(report_path, "wronly,creat,trunc", 384))
  local errfd = assert(nsl.open(err_path, "wronly,creat,trunc", 384))
  local pid, err = nsl.clone(SANDBOX_NS, function()
    return sandbox_init(job, first, rep, errfd)
  end, SANDBOX_OPTS)
  nsl.close(rep)
  nsl.close(errfd)
  assert(pid, err)
  stats.children = stats.children + 1
  local pfd = assert(nsl.pidfd(pid))
  local limit = job.hang_limit or (job.waits and WAIT_LIMIT or HANG_LIMIT)
  local size, since, stopped = -1, nsl.time(), false
  while #nsl.poll({ pfd }, 0.05) == 0 do
    local st = nsl.lstat(report_path)
    if st and st.size ~= size then
      size, since = st.size, nsl.time()
    elseif nsl.time() - since > limit then
      nsl.kill(pid, "KILL")
      stopped = true
      break
    end
  end
  nsl.close(pfd)
  local _, how, code = nsl.wait(pid)
  local report = read_file(report_path)
  local at = last_call(report)
  for i, msg in report:gmatch("I (%d+) ([^\n]*)\n") do
    io.stderr:write(("NOTE %s: %s\n"):format(describe_call(job.name, job.calls[tonumber(i)]), msg))
  end
  for i, msg in report:gmatch("V (%d+) ([^\n]*)\n") do
    problems[#problems + 1] = ("%s: %s"):format(describe_call(job.name, job.calls[tonumber(i)]), msg)
  end
  local function fail(what)
    local errtext = read_file(err_path)
    problems[#problems + 1] = ("%s: %s%s"):format(at and describe_call(job.name, job.calls[at]) or job.name,
      what, errtext ~= "" and ("\n    stderr: " .. errtext:sub(-2000):gsub("\n", "\n    ")) or "")
    problems.failures = (problems.failures or 0) + 1
  end
  if stopped and not at then
    fail(("made no progress in %g s"):format(limit))
  elseif stopped then
    if job.waits and not job.hang_limit then
      stats.waited[#stats.waited + 1] = describe_call(job.name, job.calls[at])
    else
      fail(("still running after %g s (a hang)"):format(limit))
    end
  elseif how == "signal" then
    fail(("the sandbox died of signal %d"):format(code))
  elseif code > 128 then
    fail(("the process died of signal %d"):format(code - 128))
  elseif code == DONE then
    stats.calls = stats.calls + #job.calls - first + 1
    return #job.calls + 1
  elseif code ~= WENT_THROUGH and code ~= WENT_THROUGH_BADLY then
    fail(("the process exited with status %d"):format(code))
  end
  if not at then return #job.calls + 1 end -- nothing ran: the sandbox failed
  stats.calls = stats.calls + at - first + 1
  return at + 1
end

local function run_job(job)
  local dir = assert(nsl.mkdtemp("/tmp/nsl-hostile-" .. nsl.getpid() .. "-"))
  local problems = {}
  local ok, err = pcall(function()
    local i = 1
    while i <= #job.calls and (problems.failures or 0) < MAX_FAILURES do
      i = run_child(job, i, dir, problems)
    end
  end)
  os.remove(dir .. "/report")
  os.remove(dir .. "/stderr")
  nsl.rmdir(dir)
  assert(ok, err)
  return problems
end

-- ---- option tables and container specs, field by field -----------------------

-- Functions that take a table of named fields, each as a function of
-- that table, with valid other arguments, so that the table is reached
-- (lua: a function of the Lua layer, which may return nil, message).
-- Their fields are found from the error raised for an unknown one
-- ("unknown field 'x' (expected a, b, c)"), so new fields are covered.
local function f0() return 0 end
local function container_with(t)
  local spec = { rootfs = FAKE_ROOT, command = { "/bin/sh" } }
  for k, v in pairs(t) do spec[k] = v end
  return nsl.container(spec)
end
local OPTION_TABLES = {
  { "nsl.clone('', f, %s)", function(t) return nsl.clone("", f0, t) end },
  { "nsl.clone('user', f, %s)", function(t) return nsl.clone("user", f0, t) end },
  { "nsl.exec({'/nonexistent'}, %s)", function(t) return nsl.exec({ "/nonexistent/hostile" }, t) end,
    isolated = true },
  { "nsl.close_fds(1000, %s)", function(t) return nsl.close_fds(1000, t) end, isolated = true },
  { "nsl.openpty(%s)", function(t) return nsl.openpty(t) end },
  { "nsl.pty_relay(0, 2147483647, %s)", function(t) return nsl.pty_relay(0, 2147483647, t) end },
  { "nsl.net.veth('h0', 'h1', %s)", function(t) return nsl.net.veth("h0", "h1", t) end },
  { "nsl.net.bridge('hb0', %s)", function(t) return nsl.net.bridge("hb0", t) end },
  { "nsl.net.set('lo', %s)", function(t) return nsl.net.set("lo", t) end },
  { "nsl.net.set('lo', {}, %s)", function(t) return nsl.net.set("lo", {}, t) end },
  { "nsl.net.addr_add('lo', '10.9.9.9/32', %s)", function(t) return nsl.net.addr_add("lo", "10.9.9.9/32", t) end },
  { "nsl.net.route_add('10.9.0.0/16', %s)", function(t) return nsl.net.route_add("10.9.0.0/16", t) end },
  { "nsl.net.route_del('default', %s)", function(t) return nsl.net.route_del("default", t) end },
  { "nsl.net.links(%s)", function(t) return nsl.net.links(t) end },
  { "nsl.net.routes(%s)", function(t) return nsl.net.routes(t) end },
  { "nsl.rootfs.busybox('bb', %s)", function(t) return nsl.rootfs.busybox("bb", t) end, lua = true },
  { "nsl.rootfs.resolve(%s)", function(t) return nsl.rootfs.resolve(t) end, lua = true },
  -- its message describes the fields in prose: they are listed here
  { "nsl.cgroup.check(%s)", function(t) return nsl.cgroup.check(t) end, lua = true,
    fields = { "memory", "pids", "cpu", "cpuset" } },
  { "nsl.cgroup.create('hostile', {}, %s)", function(t) return nsl.cgroup.create("hostile", {}, t) end, lua = true },
  { "nsl.container(%s)", container_with, lua = true },
}

-- Deeper places of a container spec, each a function of the value.
local SPEC_PLACES = {
  { "{user = {uid_map = V}}", function(v) return { user = { uid_map = v } } end },
  { "{user = {gid_map = {V}}}", function(v) return { user = { gid_map = { v } } } end },
  { "{user = {uid_map = {{0, V, 1}}}}", function(v) return { user = { uid_map = { { 0, v, 1 } } } } end },
  { "{mounts = {V}}", function(v) return { mounts = { v } } end },
  { "{mounts = {{target = V, type = 'tmpfs'}}}", function(v) return { mounts = { { target = v, type = "tmpfs" } } } end },
  { "{mounts = {{target = '/mnt', type = V}}}", function(v) return { mounts = { { target = "/mnt", type = v } } } end },
  { "{mounts = {{target = '/mnt', bind = true, source = V}}}", function(v)
    return { mounts = { { target = "/mnt", bind = true, source = v } } }
  end },
  { "{mounts = {{target = '/mnt', type = 'tmpfs', flags = V}}}", function(v)
    return { mounts = { { target = "/mnt", type = "tmpfs", flags = v } } }
  end },
  { "{mounts = {{target = '/mnt', type = 'tmpfs', data = V, ro = V}}}", function(v)
    return { mounts = { { target = "/mnt", type = "tmpfs", data = v, ro = v } } }
  end },
  { "{net = {veth = V}}", function(v) return { net = { veth = v } } end },
  { "{net = {veth = {host = V, peer = V}}}", function(v) return { net = { veth = { host = v, peer = v } } } end },
  { "{net = {bridge = V}}", function(v) return { net = { bridge = v } } end },
  { "{net = {bridge = 'b0', address = V}}", function(v) return { net = { bridge = "b0", address = v } } end },
  { "{net = {bridge = 'b0', subnet = V, gateway = V}}", function(v)
    return { net = { bridge = "b0", subnet = v, gateway = v } }
  end },
  { "{net = {veth = {}, mtu = V, host_address = V}}", function(v)
    return { net = { veth = {}, mtu = v, host_address = v } }
  end },
  { "{limits = {memory = V}}", function(v) return { limits = { memory = v } } end },
  { "{limits = {pids = V, cpu = V}}", function(v) return { limits = { pids = v, cpu = v } } end },
  { "{limits = {cpuset = V}}", function(v) return { limits = { cpuset = v } } end },
  { "{hardening = {masked_paths = V}}", function(v) return { hardening = { masked_paths = v } } end },
  { "{hardening = {readonly_paths = {V}}}", function(v) return { hardening = { readonly_paths = { v } } } end },
  { "{hardening = {no_new_privs = V}}", function(v) return { hardening = { no_new_privs = v } } end },
  { "{rlimits = {nofile = V}}", function(v) return { rlimits = { nofile = v } } end },
  { "{rlimits = {nofile = {0, V}}}", function(v) return { rlimits = { nofile = { 0, v } } } end },
  { "{env = {X = V}}", function(v) return { env = { X = v } } end },
  { "{env = {[V] = 'x'}}", function(v)
    if v == nil or v ~= v then return {} end -- not a table key
    return { env = { [v] = "x" } }
  end },
  { "{detach = {log_max = V}}", function(v) return { detach = { log_max = v } } end },
  { "{command = {'/bin/sh', V}}", function(v) return { command = { "/bin/sh", v } } end },
  { "{namespaces = {'mnt', V}}", function(v) return { namespaces = { "mnt", v } } end },
  { "{capabilities = {V}}", function(v) return { capabilities = { v } } end },
}

local function fields_in(msg)
  local list = type(msg) == "string" and (msg:match("expected ([%w_, ]+)%)") or msg:match("accepted: ([%w_, ]+)%)"))
  if not list then return nil end
  local fields = {}
  for f in list:gmatch("[%w_]+") do fields[#fields + 1] = f end
  return fields
end

-- The fields of each of OPTION_TABLES, found in a sandbox too: the calls
-- should fail on the unknown field, but a test that assumed so could harm
-- the host if one did not. Returns {[i] = {field, ...} or false}.
local function discover_fields()
  local r, w = assert(nsl.pipe())
  local pid = assert(nsl.clone(SANDBOX_NS, function()
    sandbox(2)
    for i, o in ipairs(OPTION_TABLES) do
      local ok, msg = pcall(o[2], { ["hostile-probe"] = true })
      local fields = not ok and fields_in(msg)
      nsl.write(w, ("%d %s\n"):format(i, fields and table.concat(fields, ",") or "-"))
    end
    return 0
  end, SANDBOX_OPTS))
  nsl.close(w)
  local out = {}
  while true do
    local s = nsl.read(r, 65536)
    if not s or s == "" then break end
    out[#out + 1] = s
  end
  nsl.close(r)
  nsl.wait(pid)
  local found = {}
  for i, list in table.concat(out):gmatch("(%d+) ([^\n]*)\n") do
    local fields = false
    if list ~= "-" then
      fields = {}
      for f in list:gmatch("[^,]+") do fields[#fields + 1] = f end
    end
    found[tonumber(i)] = fields
  end
  return found
end

-- Jobs of one argument (the value V) for each field of each option table
-- and for each place of SPEC_PLACES.
local function probe_jobs()
  local jobs, missing = {}, {}
  local function job(name, fn, extra)
    local calls = { {} }
    for i = 1, NV do calls[#calls + 1] = { i } end
    jobs[#jobs + 1] = { name = name, fn = fn, kind = extra.kind, isolated = extra.isolated or false,
      waits = false, calls = calls, arity = extra.arity or 1, fname = extra.fname }
  end
  local found = discover_fields()
  for i, o in ipairs(OPTION_TABLES) do
    found[i] = found[i] or o.fields
    if not found[i] then
      missing[#missing + 1] = o[1]:format("{...}")
    else
      local kind = o.lua and "lua" or "core"
      -- the function called and its arguments, from the label
      local fname, args = o[1]:match("([%w_]+)(%b())")
      local _, commas = args:gsub(",", "")
      for _, f in ipairs(found[i]) do
        job(o[1]:format(("{%s = V}"):format(f)), function(v) return o[2]({ [f] = v }) end,
          { kind = kind, isolated = o.isolated, arity = commas + 1, fname = fname })
      end
    end
  end
  for _, p in ipairs(SPEC_PLACES) do
    job("nsl.container" .. p[1], function(v) return container_with(p[2](v)) end, { kind = "lua" })
  end
  return jobs, missing
end

-- ---- the specs ----------------------------------------------------------------

describe("hostile arguments", function()
  local funcs, undocumented = public_functions()
  local jobs = {}
  for _, f in ipairs(funcs) do
    jobs[#jobs + 1] = {
      name = "nsl." .. f.name, fn = f.fn, kind = f.kind, arity = f.arity,
      fname = f.name:match("[%w_]+$"),
      isolated = SKIP[f.name] or false, waits = WAITS[f.name] or false,
      calls = calls_for(f.name, f.arity),
    }
  end
  local probes, missing = probe_jobs()
  for _, j in ipairs(probes) do jobs[#jobs + 1] = j end

  it("finds the functions of every table, each with a known arity", function()
    local names = {}
    for _, f in ipairs(funcs) do names[f.name] = true end
    for _, expected in ipairs { "clone", "mount", "net.veth", "net.route_add", "caps.keep",
        "container", "rootfs.busybox", "cgroup.create", "cgroup.check", "wait_any" } do
      assert.is_true(names[expected] == true, "not found: nsl." .. expected)
    end
    assert.are.same({}, undocumented, "C functions without a doc comment giving their arguments")
    assert.are.same({}, missing, "option tables whose fields could not be found")
  end)

  local only = os.getenv("NSL_HOSTILE_ONLY") -- a Lua pattern: run only the matching jobs
  for _, job in ipairs(jobs) do
    if not only or job.name:find(only) then
      it(("%s never crashes (%d calls%s)"):format(job.name, #job.calls,
        job.isolated and ", a new process after each that goes through" or ""), function()
        local problems = run_job(job)
        assert(#problems == 0, ("%d problem(s):\n  %s"):format(#problems, table.concat(problems, "\n  ")))
      end)
    end
  end

  it("ran the calls (summary)", function()
    io.write(("\nhostile: %d functions and option fields, %d calls in %d sandboxes; %d calls that wait by design stopped after %g s%s\n")
      :format(#jobs, stats.calls, stats.children, #stats.waited, WAIT_LIMIT,
        #stats.waited > 0 and (": " .. table.concat(stats.waited, ", ")) or ""))
    assert.is_true(stats.calls > 0 or only ~= nil)
  end)
end)

-- What this spec found, checked directly (in a sandbox: a regression
-- could make a call act or wait).
describe("hostile input found", function()
  local function in_sandbox(fn)
    local pid = assert(nsl.clone(SANDBOX_NS, fn, SANDBOX_OPTS))
    local pfd = assert(nsl.pidfd(pid))
    local ended = #nsl.poll({ pfd }, 5) > 0
    nsl.close(pfd)
    if not ended then nsl.kill(pid, "KILL") end
    local ok, how, code = nsl.wait(pid)
    assert.is_true(ended, "still running after 5 s")
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
  end

  it("nsl.poll with an empty list and no timeout (it waited forever)", function()
    in_sandbox(function()
      local ok, err = pcall(nsl.poll, setmetatable({}, { __index = error }))
      assert(not ok and err:find("an empty list without a timeout would wait forever", 1, true), err)
      assert(#nsl.poll({}, 0.01) == 0)
    end)
  end)

  it("option fields taken for arguments in errors (openpty, pty_relay, clone)", function()
    in_sandbox(function()
      local cases = {
        { function() return nsl.openpty({ rows = "x" }) end,
          "openpty options: rows must be an integer from 1 to 65535 (got string)" },
        { function() return nsl.openpty({ cols = 0.5 }) end,
          "openpty options: cols must be an integer from 1 to 65535 (got 0.5)" },
        { function() return nsl.pty_relay(0, 2147483647, { stdout = -1 }) end,
          "pty_relay options: stdout must be an integer from 0 to 2147483647 (got -1)" },
        { function() return nsl.clone("", f0, { pdeathsig = "x" }) end,
          "clone options: pdeathsig: unknown signal 'x'" },
        { function() return nsl.clone("", f0, { pdeathsig = {} }) end,
          "clone options: pdeathsig: string expected, got table" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(c[1])
        assert(not ok and err:find(c[2], 1, true), ("expected %q, got %s"):format(c[2], tostring(err)))
      end
    end)
  end)
  it("container specs: each bad value is named, never a Lua error from inside nsl", function()
    local long = "/" .. ("a"):rep(5000)
    local cases = {
      { { command = { 42 } }, "container: command[1] must be the program" },
      { { command = { "sh\0x" } }, "container: command[1] contains a NUL byte" },
      { { command = { "sh", "a\0b" } }, "container: command[2] contains a NUL byte" },
      { { command = { long } }, "container: command[1] must be the program" },
      { { command = { "" } }, "container: command[1] must be the program" },
      { { rootfs = long }, "container: rootfs must be a non-empty path" },
      { { mounts = { { target = long, type = "tmpfs" } } }, "container: mounts[1].target must be an absolute path" },
      { { mounts = { { target = "/mnt", bind = true, source = long } } }, "container: mounts[1].source must be an absolute host path" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(container_with, c[1])
      assert(not ok and err:find(c[2], 1, true) and not err:find("%.lua:%d"),
        ("expected %q, got %s"):format(c[2], tostring(err)))
    end
    local ok, err = pcall(nsl.rootfs.busybox, "/nonexistent/bb", { busybox = 5 })
    assert(not ok and err:find("rootfs.busybox: busybox must be a path (a string), got number", 1, true), err)
  end)
end)

-- The checks above can fail: a call that kills its process, one that
-- hangs, one that breaks the nil, message, errno convention.
describe("the hostile harness", function()
  local function job(fn, kind, extra)
    local calls = {}
    for i = 1, NV do calls[#calls + 1] = { i } end
    local j = { name = "probe", fn = fn, kind = kind or "core", isolated = false, waits = false,
      calls = calls, arity = 1, fname = "probe" }
    for k, v in pairs(extra or {}) do j[k] = v end
    return j
  end

  it("names a call that kills the process", function()
    local problems = run_job(job(function(v)
      if v == 0.5 then nsl.kill(nsl.getpid(), "SEGV") end
      error("refused")
    end))
    assert.are.equal(1, #problems)
    -- SIGSEGV, or SIGABRT from AddressSanitizer's handler
    assert.is_truthy(problems[1]:find("^probe%(0%.5%): the process died of signal %d+"), problems[1])
  end)

  it("names a call that hangs", function()
    local problems = run_job(job(function(v)
      if v == "" then nsl.sleep(3) end
      error("refused")
    end, "core", { hang_limit = 0.5 }))
    assert.are.equal(1, #problems)
    assert.is_truthy(problems[1]:find('probe(""): still running after 0.5 s', 1, true), problems[1])
  end)

  it("names a call that breaks the result conventions", function()
    local problems = run_job(job(function(v)
      if v == true then return nil, 42 end
      if v == false then error({}) end
      if math.type(v) == "integer" and v == 0 then error("bad argument #-2 to 'probe' (out of range)", 0) end
      if v == -1 then error("bad argument #1 to 'other' (out of range)", 0) end
      return true
    end))
    table.sort(problems)
    assert.are.same({
      [[probe(-1): raised "bad argument #1 to 'other' (out of range)", which names another function than probe]],
      [[probe(0): raised "bad argument #-2 to 'probe' (out of range)", but the call has 1 arguments]],
      "probe(false): raised a table instead of a string message",
      "probe(true): returned nil, number, nil instead of nil, message, errno",
    }, problems)
  end)

  it("gives a throwaway process to each call of a SKIP function that goes through", function()
    local used = false
    local problems = run_job(job(function(v)
      if math.type(v) == "integer" then
        if used then error("the process was used again after a call went through") end
        used = true
        return true
      end
      error("refused")
    end, "core", { isolated = true }))
    assert.are.same({}, problems)
  end)
end)
