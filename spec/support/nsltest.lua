-- Helpers shared by the specs: run code in throwaway children, run shell
-- commands, run a script as an unprivileged user.
local nsl = require "nsl"

local T = {}

-- The host binary under test (make test sets NSL_BIN).
T.bin = os.getenv("NSL_BIN") or "build/bin/nsl"

-- An unprivileged uid/gid without a passwd entry, for rootless runs.
T.uid, T.gid = 1002, 1002

-- Runs a shell command; returns its stdout (trailing newline removed) and
-- the os.execute-style triple of its exit.
function T.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return (out:gsub("\n$", "")), ok, how, code
end

-- Runs fn in a child in new namespaces and waits for it. The child's
-- result is its exit status, so tests check fn's outcome through it:
-- return true/nothing for success, false or an error for failure.
function T.child(namespaces, fn, opts)
  local pid = assert(nsl.clone(namespaces, fn, opts))
  return nsl.wait(pid)
end

-- Like T.child, but fn's return values (strings, numbers, booleans) come
-- back to the parent through a pipe-backed temporary file.
function T.inside(namespaces, fn, opts)
  -- a private directory everyone may write into: the child may run as
  -- another uid (a user namespace mapped elsewhere)
  local dir = T.sh("mktemp -d /tmp/nsl-inside.XXXXXX")
  assert(dir:match("^/tmp/nsl%-inside%."), "mktemp failed")
  os.execute("chmod 777 " .. dir)
  local path = dir .. "/results"
  local pid = assert(nsl.clone(namespaces, function(...)
    local results = table.pack(fn(...))
    local f = assert(io.open(path, "w"))
    for i = 1, results.n do
      local v = results[i]
      f:write(type(v), "\0", tostring(v), "\0")
    end
    f:close()
    return 0
  end, opts))
  local ok, how, code = nsl.wait(pid)
  local f = io.open(path, "r")
  local data = f and f:read("a") or ""
  if f then f:close() end
  os.remove(path)
  os.remove(dir)
  assert(ok, ("child failed: %s %s"):format(how, code))
  local out, n = {}, 0
  for ty, v in data:gmatch("(%a+)%z(.-)%z") do
    n = n + 1
    if ty == "number" then out[n] = math.tointeger(tonumber(v)) or tonumber(v)
    elseif ty == "boolean" then out[n] = v == "true"
    elseif ty == "nil" then out[n] = nil
    else out[n] = v end
  end
  return table.unpack(out, 1, n)
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
T.quote = quote

-- A file's contents, or nil when it cannot be read.
function T.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes data to path (raises on failure); mode: chmod's, when given.
function T.write(path, data, mode)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  if mode then assert(os.execute(("chmod %s %s"):format(mode, quote(path)))) end
end

function T.exists(path) return nsl.lstat(path) ~= nil end

-- mkdir -p of each path.
function T.mkdirs(...)
  for _, p in ipairs({ ... }) do assert(os.execute("mkdir -p " .. quote(p))) end
end

-- Writes text to a new file readable by everyone; returns its path.
function T.script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  os.execute("chmod 644 " .. quote(path))
  return path
end

-- Runs a Lua script with `nsl run` as the unprivileged T.uid. Returns
-- stdout, stderr and the exit triple.
function T.rootless(text, ...)
  local path = T.script(text)
  local err = os.tmpname()
  local args = {}
  for i = 1, select("#", ...) do args[#args + 1] = quote(select(i, ...)) end
  local out, ok, how, code = T.sh(("setpriv --reuid=%d --regid=%d --clear-groups %s run %s %s 2>%s")
    :format(T.uid, T.gid, quote(T.user_bin()), quote(path), table.concat(args, " "), quote(err)))
  local f = io.open(err)
  local errtext = f:read("a")
  f:close()
  os.remove(path)
  os.remove(err)
  return out, errtext, ok, how, code
end

local function runs_as_user(bin)
  local _, ok = T.sh(("setpriv --reuid=%d --regid=%d --clear-groups %s --version >/dev/null 2>&1")
    :format(T.uid, T.gid, quote(bin)))
  return ok == true
end

-- The binary under test as the unprivileged T.uid can run it: T.bin
-- itself, or, when a directory on its path is closed to that uid (a
-- checkout under a private home), a copy in a temporary directory, removed
-- when the test process ends. The binary carries its Lua layer inside, so
-- the copy is the same program.
local user_bin
function T.user_bin()
  if user_bin then return user_bin end
  if runs_as_user(T.bin) then
    user_bin = T.bin
    return user_bin
  end
  local dir = T.sh("mktemp -d /tmp/nsl-bin.XXXXXX")
  assert(dir:match("^/tmp/nsl%-bin%."), "mktemp failed")
  assert(os.execute(("cp %s %s/nsl && chmod 755 %s %s/nsl"):format(quote(T.bin), dir, dir, dir)))
  local owner = nsl.getpid()
  T._user_bin_guard = setmetatable({}, { __gc = function()
    if nsl.getpid() == owner then os.execute("rm -rf " .. quote(dir)) end
  end })
  user_bin = dir .. "/nsl"
  return user_bin
end

-- Whether the unprivileged T.uid can run the binary under test (through
-- T.user_bin, which makes a reachable copy when needed).
function T.bin_reachable()
  return runs_as_user(T.user_bin())
end

-- busted keeps one `finally` per test (a second call replaces the first).
-- T.deferrer(register) gives a defer(fn) for a spec file: every clean-up
-- step of a test goes through it, and one finally (register, which calls
-- the file's own `finally`) runs them all, last first, each attempted,
-- the first error raised.
--   local defer = T.deferrer(function(f) finally(f) end)
function T.deferrer(register)
  local deferred
  return function(fn)
    if not deferred then
      local list = {}
      deferred = list
      register(function()
        deferred = nil
        local first
        for i = #list, 1, -1 do
          local ok, err = pcall(list[i])
          if not ok and not first then first = err end
        end
        if first then error(first, 0) end
      end)
    end
    deferred[#deferred + 1] = fn
  end
end

-- pred()'s first true value within seconds (default 5), polled; else
-- what it gives at the end.
function T.wait_until(pred, seconds)
  local deadline = nsl.time() + (seconds or 5)
  repeat
    local r = pred()
    if r then return r end
    nsl.sleep(0.02)
  until nsl.time() > deadline
  return pred()
end

return T
