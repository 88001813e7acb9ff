-- nsl.state (lua/nsl/state.lua) on its own: records written by one
-- process and read back by another, the ids listed, names claimed and
-- taken over from a dead owner, records removed and swept, and the checks
-- on the state root and on what is in it. Each test has a state root of
-- its own (NSL_STATE_DIR in a fresh /tmp/nsl-spec.* directory) and drives
-- it with scripts run by `nsl run`, as nsl ps and the container layer
-- would; the test removes the directory in `finally`.
--
-- Other local users attacking a user's state through nsl ps, kill and
-- exec are spec/security/state_trust_spec.lua's; here each function's
-- own answer is checked.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

local defer = T.deferrer(function(f) finally(f) end)

local OTHER = 3001

-- A fresh directory for a test, removed at its end; its state root is
-- DIR/containers (not made yet).
local function new_dir()
  local dir = H.tmpdir()
  defer(function() H.rmtree(dir) end)
  return dir, dir .. "/containers"
end

-- Runs body (Lua, with `state` and `root` defined) with `nsl run` and
-- NSL_STATE_DIR=root. Returns stdout, stderr and the exit code.
local function run(root, body)
  local path = T.script(("local state = require 'nsl.state'\nlocal root = %q\n%s"):format(root, body))
  local err = os.tmpname()
  local out, _, _, code = T.sh(("NSL_STATE_DIR=%s %s run %s 2>%s")
    :format(T.quote(root), T.quote(T.bin), T.quote(path), T.quote(err)))
  local errtext = H.read(err) or ""
  os.remove(path)
  os.remove(err)
  return out, errtext, code
end

-- Like run, but the script must succeed and say nothing on stderr.
local function run_ok(root, body)
  local out, err, code = run(root, body)
  assert.are.equal(0, code, err)
  assert.are.equal("", err)
  return out
end

local function lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

-- Makes a record directory and its state file as root (a test's plant,
-- not nsl's write), with text as the file's content.
local function plant(root, id, text)
  assert(os.execute(("mkdir -p -m 0700 %s && chmod 0700 %s && mkdir -m 0700 %s && printf '%%s\\n' %s > %s/state")
    :format(T.quote(root), T.quote(root), T.quote(root .. "/" .. id), T.quote(text), T.quote(root .. "/" .. id))))
end

local function chown(uid, path, recursive)
  assert(os.execute(("chown %s%d:%d %s"):format(recursive and "-R " or "", uid, uid, T.quote(path))))
end

-- A record whose owner no process is: stale.
local DEAD = 'return { id = "%s", name = "%s", owner = 4194000, owner_start = 1, status = "running" }'

local function esc(s) return (s:gsub("%p", "%%%0")) end

describe("nsl.state records", function()
  it("are written by one process and read back whole by another", function()
    local _, root = new_dir()
    run_ok(root, [[
      assert(state.claim("web", { id = "web", status = "starting" }))
      assert(state.write("web", {
        id = "web", name = "web", pid = 4242, status = "running",
        note = "a \"quoted\"\nline\0and a NUL", ratio = 0.1, big = math.huge, detach = false,
        command = { "sh", "-c", "echo hi" }, limits = { memory = 67108864, cpus = { 0, 2 } },
      }))
    ]])
    local text = H.read(root .. "/web/state")
    assert.matches("^return {", text)
    assert.are.same({ "state" }, nsl.readdir(root .. "/web"), "a temporary file is left")
    local out = run_ok(root, [[
      local r = state.read("web")
      print(r.id, r.name, r.pid, r.status, r.note == "a \"quoted\"\nline\0and a NUL", r.ratio, r.big == math.huge,
        r.detach, table.concat(r.command, " "), r.limits.memory, r.limits.cpus[1], r.limits.cpus[2])
    ]])
    assert.are.equal("web\tweb\t4242\trunning\ttrue\t0.1\ttrue\tfalse\tsh -c echo hi\t67108864\t0\t2", out)
  end)

  it("are listed by id, sorted, without the directories a claim or a sweep is making", function()
    local _, root = new_dir()
    local out = run_ok(root, [[
      print(#state.ids())
      for _, id in ipairs { "web", "db", "_anon-7-1" } do assert(state.claim(id, { id = id })) end
      assert(nsl.mkdir(root .. "/.claim-99-abc"))
      assert(nsl.mkdir(root .. "/.stale-web-99"))
      print(table.concat(state.ids(), " "))
    ]])
    assert.are.same({ "0", "_anon-7-1 db web" }, lines(out))
  end)

  it("are found under the path dir() gives", function()
    local _, root = new_dir()
    local out = run_ok(root, [[
      assert(state.claim("web", { id = "web" }))
      print(state.dir("web"))
    ]])
    assert.are.equal(root .. "/web", out)
    assert.is_truthy(nsl.lstat(out .. "/state"))
  end)

  it("that hold code are not run: read gives nothing", function()
    local dir, root = new_dir()
    local marker = dir .. "/ran"
    plant(root, "web", ('return { id = "web", x = io.open(%q, "w") }'):format(marker))
    plant(root, "db", ('return { id = "db", x = os.execute("touch %s") }'):format(marker))
    plant(root, "app", ('os.execute("touch %s") return { id = "app" }'):format(marker))
    local out = run_ok(root, [[
      print(state.read("web"), state.read("db"), state.read("app"))
    ]])
    assert.are.equal("nil\tnil\tnil", out)
    assert.is_nil(nsl.lstat(marker), "a record's code ran")
  end)

  it("of another id are ignored, with a warning", function()
    local _, root = new_dir()
    plant(root, "web", 'return { id = "db", name = "db" }')
    local out, err, code = run(root, [[print(state.read("web"))]])
    assert.are.equal(0, code, err)
    assert.are.equal("nil", out)
    assert.matches("nsl: ignoring the record " .. esc(root) .. "/web: it is for db", err)
  end)
end)

describe("nsl.state.claim", function()
  it("refuses the name of a running container, then of an exited one", function()
    local _, root = new_dir()
    local out = run_ok(root, [[
      local me = nsl.getpid()
      print(me)
      local running = { id = "web", owner = me, owner_start = state.start_time(me), status = "running",
        pid = me, pid_start = state.start_time(me) }
      assert(state.claim("web", running))
      print(state.status(state.read("web")))
      print(state.claim("web", { id = "web" }))
      running.status = "exited"
      assert(state.write("web", running))
      print(state.status(state.read("web")))
      print(state.claim("web", { id = "web" }))
      print(state.read("web").status)
    ]])
    local l = lines(out)
    local pid = table.remove(l, 1)
    assert.are.same({
      "running",
      ("nil\tthe name web is in use by a running container (pid %s)"):format(pid),
      "exited",
      "nil\tthe name web is taken by an exited container; remove it first (nsl rm web)",
      "exited",
    }, l)
    assert.are.same({ "web" }, nsl.readdir(root), "a claim left a directory behind")
  end)

  it("takes over the name of a dead owner's record, after handing that record to release", function()
    local _, root = new_dir()
    plant(root, "web", DEAD:format("web", "web"):gsub(" }$", ", cgroup = \"nsl/web-old\" }"))
    local out = run_ok(root, [[
      print(state.status(state.read("web")))
      print(state.claim("web", { id = "web", status = "starting", owner = nsl.getpid() }, function(old)
        print("released", old.id, old.cgroup)
      end))
      print(state.read("web").owner == nsl.getpid())
    ]])
    assert.are.same({ "stale", "released\tweb\tnsl/web-old", "true", "true" }, lines(out))
    assert.are.same({ "web" }, nsl.readdir(root))
  end)
end)

describe("nsl.state.remove", function()
  it("removes a record's directory with its logs and exit file, and is content when it is gone", function()
    local _, root = new_dir()
    local out = run_ok(root, [[
      assert(state.claim("web", { id = "web" }))
      for _, f in ipairs { "log", "log.1", "exit" } do
        local h = assert(io.open(root .. "/web/" .. f, "w")); h:write("x"); h:close()
      end
      print(state.remove("web"))
      print(state.remove("web"))
      print(state.read("web"))
    ]])
    assert.are.same({ "true", "true", "nil" }, lines(out))
    assert.are.same({}, nsl.readdir(root))
  end)
end)

describe("nsl.state.sweep", function()
  it("cleans up the records of dead owners and leaves running and exited ones", function()
    local _, root = new_dir()
    plant(root, "gone", DEAD:format("gone", "gone"))
    plant(root, "done", 'return { id = "done", status = "exited", how = "exit", code = 0 }')
    local out = run_ok(root, [[
      local me = nsl.getpid()
      assert(state.claim("live", { id = "live", owner = me, owner_start = state.start_time(me), status = "running",
        pid = me, pid_start = state.start_time(me) }))
      local released = {}
      print(state.sweep(function(rec) released[#released + 1] = rec.id end))
      print(table.concat(released, " "))
      print(table.concat(state.ids(), " "))
    ]])
    assert.are.same({ "1", "gone", "done live" }, lines(out))
  end)
end)

describe("the state root", function()
  it("is made private to its user by the first claim; before that, reads find nothing and make nothing", function()
    local _, root = new_dir()
    local out = run_ok(root, [[
      print(state.root(), #state.ids(), state.read("web"))
      print(nsl.lstat(root) == nil)
      assert(state.claim("web", { id = "web" }))
      print(state.root())
    ]])
    assert.are.same({ root .. "\t0\tnil", "true", root }, lines(out))
    local st = assert(nsl.lstat(root))
    assert.are.equal("directory", st.type)
    assert.are.equal(nsl.geteuid(), st.uid)
    assert.are.equal(448, st.mode) -- 0700
  end)

  -- What every call on an untrusted root must answer: nil and the refusal.
  local CALLS = [[
    local function show(name, ...) print(name, select("#", ...), (...), (select(2, ...))) end
    show("root", state.root())
    show("read", state.read("web"))
    show("ids", state.ids())
    show("write", state.write("web", { id = "web" }))
    show("claim", state.claim("db", { id = "db" }))
    show("remove", state.remove("web"))
    show("sweep", state.sweep(function() print("released") end))
  ]]

  local function assert_refused(out, root, why)
    local names = {}
    for _, l in ipairs(lines(out)) do
      local name, n, first, msg = l:match("^(%a+)\t(%d)\t([^\t]*)\t(.*)$")
      assert.is_truthy(name, "unexpected output: " .. l)
      names[#names + 1] = name
      assert.are.equal("2", n, l)
      assert.are.equal("nil", first, l)
      assert.matches("^state directory " .. esc(root) .. " is not to be trusted: .*" .. why, msg)
      assert.matches("%(way out: set NSL_STATE_DIR to a directory of your own%)$", msg)
    end
    assert.are.same({ "root", "read", "ids", "write", "claim", "remove", "sweep" }, names)
  end

  it("owned by another uid is refused by every call, and what is in it is left alone", function()
    local _, root = new_dir()
    plant(root, "web", DEAD:format("web", "web"))
    chown(OTHER, root, true)
    local out, err, code = run(root, CALLS)
    assert.are.equal(0, code, err)
    assert_refused(out, root, esc(root) .. " is owned by uid " .. OTHER .. ", not by you")
    assert.are.same({ "web" }, nsl.readdir(root))
    assert.is_truthy(nsl.lstat(root .. "/web/state"))
  end)

  for _, mode in ipairs { "0770", "0707", "0755" } do
    it("of its user's but with mode " .. mode .. " is refused by every call, and what is in it is left alone", function()
      local _, root = new_dir()
      plant(root, "web", DEAD:format("web", "web"))
      assert(nsl.chmod(root, tonumber(mode, 8)))
      local out, err, code = run(root, CALLS)
      assert.are.equal(0, code, err)
      assert_refused(out, root, "mode " .. mode)
      assert.are.same({ "web" }, nsl.readdir(root))
      assert.is_truthy(nsl.lstat(root .. "/web/state"))
    end)
  end
end)

describe("a record directory of another uid in the user's state root", function()
  it("is read as nothing, kept by sweep, refused by remove and claim, with warnings", function()
    local _, root = new_dir()
    plant(root, "evil", DEAD:format("evil", "evil"))
    chown(OTHER, root .. "/evil", true)
    local out, err, code = run(root, [[
      print(state.read("evil"))
      print(state.sweep(function() print("released") end))
      print(state.remove("evil"))
      print(state.claim("evil", { id = "evil" }))
      print(table.concat(state.ids(), " "))
    ]])
    assert.are.equal(0, code, err)
    local whose = ("owned by uid %d, not by you (uid %d)"):format(OTHER, nsl.geteuid())
    assert.are.same({
      "nil",
      "0",
      ("nil\t%s/evil is %s"):format(root, whose),
      ("nil\tthe name evil is taken by %s/evil, which is %s"):format(root, whose),
      "evil",
    }, lines(out))
    assert.matches("nsl: ignoring the record " .. esc(root) .. "/evil: " .. esc(whose), err)
    assert.matches("nsl: not removing " .. esc(root) .. "/evil: " .. esc(whose), err)
    assert.is_truthy(nsl.lstat(root .. "/evil/state"))
    assert.are.same({ "evil" }, nsl.readdir(root), "a claim left a directory behind")
  end)

  it("is ignored when only its state file is another's", function()
    local _, root = new_dir()
    plant(root, "web", DEAD:format("web", "web"))
    chown(OTHER, root .. "/web/state")
    local out, err, code = run(root, [[
      print(state.read("web"))
      print(state.sweep())
    ]])
    assert.are.equal(0, code, err)
    assert.are.same({ "nil", "0" }, lines(out))
    assert.matches("nsl: ignoring the record " .. esc(root) .. "/web: its state is owned by uid " .. OTHER, err)
    assert.is_truthy(nsl.lstat(root .. "/web/state"))
  end)
end)
