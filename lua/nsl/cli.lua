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
  help, --help, -h       show this help
  version, --version     show the version

A script gets `nsl` as a global and through require "nsl", and `arg` and
`...` as lua(1) sets them. See docs/ for the module's reference.
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
  end
  return fail(2, "unknown command '%s' (try nsl --help)", command)
end

return cli
