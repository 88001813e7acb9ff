-- The command line of the host binary: `nsl run SCRIPT`, `nsl --help`, ...
local nsl = require "nsl"

local cli = {}

local usage = [[
usage: nsl COMMAND [ARGS...]

Commands:
  run SCRIPT [ARGS...]   run a Lua script with the nsl module preloaded
                         (SCRIPT "-" reads the script from standard input);
                         when the script returns a container spec (a table)
                         or a container, nsl runs it with stdio attached and
                         exits with its status (128 + N when killed by
                         signal N; 1 when it could not start)
  ps [-a] [--json]       list the named containers: name, pid, status,
                         uptime, address, command (-a: unnamed ones too)
  exec [-t] [-e K=V]... [-w DIR] NAME CMD [ARGS...]
                         run a command inside a running container (its
                         namespaces, root, environment, capabilities and
                         cgroup); -t gives it a terminal; exits with its
                         status
  logs [-f] NAME         the output of a detached container (-f: follow it
                         until the container ends)
  kill [-t SECS] NAME [SIGNAL]
                         send SIGNAL; without one, TERM and then KILL when
                         it has not ended after SECS (its stop_timeout, 10)
  wait NAME              wait for a container to end; exit with its status
  rm [-f] NAME...        remove what is left of ended containers (-f: kill
                         running ones first)
  pull [--insecure] [--platform OS/ARCH] REF
                         pull an image from its registry into the store
  load [-t REF] FILE     load the images of a docker or OCI archive, or of
                         an OCI image layout directory, into the store
  images [--json] [-q]   list the stored images
  rmi REF...             forget image names (nsl image gc frees the space)
  image inspect|ls|rm|load|pull|gc
                         the same, and inspect (JSON) and gc
  help, --help, -h       show this help
  version, --version     show the version

A script gets `nsl` as a global and through require "nsl", and `arg` and
`...` as lua(1) sets them. See nsl(1) and docs/ for the module's reference.
]]

local function fail(status, fmt, ...)
  io.stderr:write("nsl: ", fmt:format(...), "\n")
  return status
end

local function traceback(msg)
  if type(msg) ~= "string" then
    local mt = getmetatable(msg)
    if mt and mt.__tostring then return tostring(msg) end
    msg = ("(error object is a %s value)"):format(type(msg))
  end
  return debug.traceback(msg, 2)
end

-- The exit status of nsl for a container's end: its own exit status, or
-- 128 + N when signal N killed it, as shells report it.
local function exit_status(ok, how, n)
  if how == "signal" then return 128 + n end
  if how == "exit" then return n end
  return ok and 0 or 1
end

-- A script returned a table: a container, or a spec to make one from.
local function run_container(value)
  local container = require "nsl.container"
  local made, c = true, value
  if not container.is_container(value) then
    made, c = xpcall(container.new, traceback, value)
    if not made then return fail(1, "%s", c) end
  end
  local ok, how, n
  if c.state == "running" then
    ok, how, n = c:wait()
  else
    ok, how, n = c:run()
  end
  c:destroy()
  if ok == nil and how ~= "exit" and how ~= "signal" then
    return fail(1, "%s", how)
  end
  return exit_status(ok, how, n)
end

-- `nsl run SCRIPT ARGS...`: argv[first] is the script.
local function run(argv, first)
  local script = argv[first]
  if not script then
    return fail(2, "run: no script given\n%s", usage)
  end
  local chunk, err = loadfile(script ~= "-" and script or nil)
  if not chunk then
    return fail(1, "%s", err)
  end
  -- arg as lua(1) sets it: the script at 0, its arguments from 1, and
  -- what came before the script at negative indices.
  local args, script_args = {}, {}
  for i = 0, #argv do
    args[i - first] = argv[i]
  end
  for i = first + 1, #argv do
    script_args[#script_args + 1] = argv[i]
  end
  _G.arg = args
  _G.nsl = nsl
  local results = table.pack(xpcall(chunk, traceback, table.unpack(script_args)))
  if not results[1] then
    return fail(1, "%s", results[2])
  end
  local value = results[2]
  if type(value) == "table" then
    return run_container(value)
  end
  return 0
end


-- ---- the container commands -------------------------------------------------

local function container_mod()
  return require "nsl.container"
end

-- Options before the operands: spec maps a flag to true (takes no value)
-- or "value"; repeated values collect in a list. Returns opts and the
-- index of the first operand, or nil and a message.
local function getopts(argv, first, spec)
  local opts, i = {}, first
  while argv[i] do
    local a = argv[i]
    if a == "--" then i = i + 1; break end
    if a:sub(1, 1) ~= "-" or a == "-" then break end
    local kind = spec[a]
    if kind == nil then return nil, ("unknown option %s"):format(a) end
    if kind == "value" or kind == "list" then
      local v = argv[i + 1]
      if v == nil then return nil, ("option %s needs a value"):format(a) end
      if kind == "list" then
        opts[a] = opts[a] or {}
        table.insert(opts[a], v)
      else
        opts[a] = v
      end
      i = i + 2
    else
      opts[a] = true
      i = i + 1
    end
  end
  return opts, i
end

-- JSON for plain data (ps --json).
local function json(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        json(x, out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        json(k, out)
        out[#out + 1] = ":"
        json(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
      return named[c] or ("\\u%04x"):format(c:byte())
    end) .. '"'
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif math.type(v) == "integer" then out[#out + 1] = ("%d"):format(v)
    else out[#out + 1] = ("%.14g"):format(v) end
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  else
    out[#out + 1] = "null"
  end
  return out
end

local function duration(s)
  s = math.floor(s)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  if s < 86400 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  return ("%dd%02dh"):format(s // 86400, s % 86400 // 3600)
end

-- The status column: running, starting, exited N, killed SIG, oom.
local function status_text(rec)
  if rec.state ~= "exited" then return rec.state end
  if rec.oom then return "oom" end
  if rec.how == "signal" then return "signal " .. tostring(rec.code) end
  if rec.how == "exit" then return "exited " .. tostring(rec.code) end
  return "exited"
end

local function ps(argv, first)
  local opts, i = getopts(argv, first, { ["--json"] = true, ["-a"] = true, ["--all"] = true })
  if not opts then return fail(2, "ps: %s", i) end
  if argv[i] then return fail(2, "ps: unexpected argument %s", argv[i]) end
  local state = require "nsl.state"
  local container = container_mod()
  local rows = {}
  local now = nsl.time("real")
  local root, err = state.root()
  if not root then return fail(1, "ps: %s", err) end
  if nsl.lstat(root) then
    state.sweep(container.release_record)
    for _, id in ipairs(state.ids() or {}) do
      local rec = state.read(id)
      if rec and (rec.name or opts["-a"] or opts["--all"]) then
        rec.state = state.status(rec)
        if rec.state ~= "stale" then rows[#rows + 1] = rec end
      end
    end
  end
  if opts["--json"] then
    local list = {}
    for _, r in ipairs(rows) do
      local running = r.state == "running"
      list[#list + 1] = {
        name = r.name, id = r.id, pid = running and r.pid or nil, status = r.state,
        exit = r.state == "exited" and r.how and { how = r.how, code = r.code, oom = r.oom or false } or nil,
        started = r.started and math.floor(r.started), finished = r.finished,
        uptime = running and r.started and math.floor(now - r.started) or nil,
        address = r.address, command = r.command, detached = r.detached or false,
        hostname = r.hostname, namespaces = r.namespaces, net = r.net, log = r.log,
        supervisor = running and r.owner or nil, confinement = r.confinement,
      }
    end
    io.stdout:write(#list == 0 and "[]" or table.concat(json(list, {})), "\n")
    return 0
  end
  local lines = { { "NAME", "PID", "STATUS", "UPTIME", "ADDRESS", "COMMAND" } }
  for _, r in ipairs(rows) do
    local running = r.state == "running"
    local cmd = table.concat(r.command or {}, " ")
    if #cmd > 40 then cmd = cmd:sub(1, 37) .. "..." end
    lines[#lines + 1] = {
      r.name or r.id, running and tostring(r.pid) or "-", status_text(r),
      running and r.started and duration(now - r.started) or "-",
      running and r.address and r.address:match("^[^/]+") or "-", cmd,
    }
  end
  local width = {}
  for _, l in ipairs(lines) do
    for c, cell in ipairs(l) do width[c] = math.max(width[c] or 0, #cell) end
  end
  for _, l in ipairs(lines) do
    local cells = {}
    for c, cell in ipairs(l) do
      cells[c] = c < #l and cell .. (" "):rep(width[c] - #cell) or cell
    end
    io.stdout:write(table.concat(cells, "  "), "\n")
  end
  return 0
end

-- The container NAME names, or an exit status after a message.
local function find(cmd, name)
  if not name then return nil, fail(2, "%s: no container name given", cmd) end
  local ok, c, err = pcall(container_mod().lookup, name)
  if not ok then return nil, fail(2, "%s: %s", cmd, tostring(c):gsub("^lookup: ", "")) end
  if not c then return nil, fail(1, "%s: %s", cmd, tostring(err):gsub("^lookup: ", "")) end
  return c
end

local function exec(argv, first)
  local opts, i = getopts(argv, first, { ["-t"] = true, ["--tty"] = true, ["-e"] = "list",
    ["--env"] = "list", ["-w"] = "value", ["--workdir"] = "value", ["-i"] = true })
  if not opts then return fail(2, "exec: %s", i) end
  local name = argv[i]
  local cmd = table.move(argv, i + 1, #argv, 1, {})
  if not name then return fail(2, "exec: no container name given (nsl exec NAME CMD [ARGS...])") end
  if #cmd == 0 then return fail(2, "exec: no command given (nsl exec NAME CMD [ARGS...])") end
  local env = {}
  for _, flag in ipairs({ "-e", "--env" }) do
    for _, kv in ipairs(opts[flag] or {}) do
      local k, v = kv:match("^([^=]+)=(.*)$")
      if not k then return fail(2, "exec: %s takes KEY=VALUE (got %s)", flag, kv) end
      env[k] = v
    end
  end
  local cwd = opts["-w"] or opts["--workdir"]
  if cwd and cwd:sub(1, 1) ~= "/" then return fail(2, "exec: -w takes an absolute path (got %s)", cwd) end
  local c, status = find("exec", name)
  if not c then return status end
  local ok, how, n = c:exec(cmd, { env = env, cwd = cwd, tty = (opts["-t"] or opts["--tty"]) or nil })
  if ok == nil and how ~= "exit" and how ~= "signal" then return fail(1, "exec: %s", (tostring(how):gsub("^exec: ", ""))) end
  return exit_status(ok, how, n)
end

local function logs(argv, first)
  local opts, i = getopts(argv, first, { ["-f"] = true, ["--follow"] = true })
  if not opts then return fail(2, "logs: %s", i) end
  local c, status = find("logs", argv[i])
  if not c then return status end
  if argv[i + 1] then return fail(2, "logs: unexpected argument %s", argv[i + 1]) end
  local path = c._rec and c._rec.log
  if not path then
    return fail(1, "logs: %s is not detached: its output goes where its script's goes", argv[i])
  end
  local function copy(f)
    while true do
      local data = f:read(65536)
      if not data then return end
      io.stdout:write(data)
    end
  end
  local old = io.open(path .. ".1", "rb")
  if old then copy(old); old:close() end
  local f = io.open(path, "rb")
  local st = nsl.lstat(path)
  if f then copy(f) end
  io.stdout:flush()
  if not (opts["-f"] or opts["--follow"]) then
    if f then f:close() end
    return 0
  end
  local state = require "nsl.state"
  while true do
    local rec = state.read(c._id)
    local done = not rec or state.status(rec) == "exited" or state.status(rec) == "stale"
    local now = nsl.lstat(path)
    if now and (not st or now.ino ~= st.ino) then
      -- rotated (log -> log.1): finish the old file, go on in the new one
      if f then copy(f); f:close() end
      f, st = io.open(path, "rb"), now
    end
    if f then copy(f) end
    io.stdout:flush()
    if done then break end
    nsl.sleep(0.1)
  end
  if f then f:close() end
  return 0
end

local function kill(argv, first)
  local opts, i = getopts(argv, first, { ["-t"] = "value", ["--time"] = "value" })
  if not opts then return fail(2, "kill: %s", i) end
  local t = opts["-t"] or opts["--time"]
  local grace = t and tonumber(t)
  if t and (not grace or grace < 0) then return fail(2, "kill: -t takes a number of seconds (got %s)", t) end
  local sig = argv[i + 1]
  if argv[i + 2] then return fail(2, "kill: unexpected argument %s", argv[i + 2]) end
  local c, status = find("kill", argv[i])
  if not c then return status end
  if c.state ~= "running" then return fail(1, "kill: %s is not running", argv[i]) end
  if sig then
    local ok, r, err = pcall(c.kill, c, tonumber(sig) or sig)
    if not ok then
      -- nsl.kill's message, without the position and argument number
      return fail(2, "kill: %s", tostring(r):match("%((unknown signal .*)%)$") or tostring(r))
    end
    if not r then return fail(1, "%s", err) end
    return 0
  end
  c:stop(grace)
  return 0
end

-- Whether the kernel tells a pidfd's holder how a process that another
-- one reaped ended (PIDFD_GET_INFO, Linux 6.15): a pidfd of this very
-- process then answers EAGAIN (11, not ended yet), an older kernel
-- ENOTTY or EINVAL.
local function pidfd_status_works()
  local fd = nsl.pidfd(nsl.getpid())
  if not fd then return false end
  local _, _, code = nsl.pidfd_status(fd)
  nsl.close(fd)
  return code == 11
end

local function wait(argv, first)
  local c, status = find("wait", argv[first])
  if not c then return status end
  local ok, how, n = c:wait()
  if how == "unknown" and not c.detached and not pidfd_status_works() then
    return fail(1, "wait: unknown: %s ran in another script's foreground, and this kernel tells its status "
      .. "to that script only (PIDFD_GET_INFO, which tells it to others, needs Linux 6.15)", argv[first])
  end
  if ok == nil and how ~= "exit" and how ~= "signal" then return fail(1, "wait: %s", tostring(how)) end
  return exit_status(ok, how, n)
end

local function rm(argv, first)
  local opts, i = getopts(argv, first, { ["-f"] = true, ["--force"] = true })
  if not opts then return fail(2, "rm: %s", i) end
  if not argv[i] then return fail(2, "rm: no container name given") end
  local status = 0
  for j = i, #argv do
    local c, st = find("rm", argv[j])
    if not c then
      status = st
    else
      local ok, err = c:remove(opts["-f"] or opts["--force"])
      if not ok then status = fail(1, "rm: %s", tostring(err):gsub("^remove: ", "")) end
    end
  end
  return status
end

-- `nsl __reap ID`: run by a detached container's supervisor once the
-- container ended, to release what it held and record its end
-- (container.ended_record).
local function reap(argv, first)
  local id = argv[first]
  if not id then return fail(2, "__reap: no id") end
  local ok, err = container_mod().ended_record(id)
  if not ok then return fail(1, "%s", err) end
  return 0
end

local commands = { ps = ps, exec = exec, logs = logs, kill = kill, wait = wait, rm = rm, __reap = reap }

-- The image commands (lua/nsl/cli/image.lua), loaded when one is asked for.
for _, name in ipairs({ "pull", "load", "images", "rmi", "image" }) do
  commands[name] = function(argv, first)
    return require("nsl.cli.image")[name](argv, first, { fail = fail, getopts = getopts })
  end
end

function cli.main(argv)
  local command = argv[1]
  if command == "run" then
    return run(argv, 2)
  elseif command == "--help" or command == "-h" or command == "help" then
    io.stdout:write(usage)
    return 0
  elseif command == "--version" or command == "-V" or command == "version" then
    io.stdout:write("nsl ", nsl.version, " (", _VERSION, ")\n")
    return 0
  elseif command == nil then
    io.stderr:write(usage)
    return 2
  elseif commands[command] then
    return commands[command](argv, 2)
  end
  return fail(2, "unknown command '%s' (try nsl --help)", command)
end

return cli
