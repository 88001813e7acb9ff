-- Other local users against a rootless user's state: a state root made
-- first by someone else, links, directories writable by others, records
-- and record directories of another uid, records naming paths and pids
-- that are not nsl's. As root, driving uid 1003 (the attacker) and 1004
-- (the victim) with setpriv, without XDG_RUNTIME_DIR, so that the
-- victim's state root is /tmp/nsl-1004/containers. The victim's home is a
-- file tree in /tmp standing in for /home/u1004/proj, and its process a
-- `sleep` of uid 1004: nothing may be deleted, nothing killed. Every test
-- removes its /tmp paths and ends its processes in `finally`.
--
-- Against the code before these checks (`NSL_BIN=<that build>`), every
-- attack here succeeds: the tree loses files or the sleep is killed.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"

local ATTACKER, VICTIM = 1003, 1004
local VICTIM_BASE = "/tmp/nsl-" .. VICTIM

local function quote(s) return T.quote(s) end

-- Removes a /tmp path a test made (as root, whoever owns it).
local function wipe(path)
  assert(path:match("^/tmp/nsl%-"), "refusing to remove " .. path)
  os.execute("rm -rf " .. quote(path))
end

-- Runs a shell command as uid, without XDG_RUNTIME_DIR and NSL_STATE_DIR
-- but for env; returns stdout, stderr, ok, exit code.
local function as(uid, cmd, env)
  local sets = {}
  for k, v in pairs(env or {}) do sets[#sets + 1] = k .. "=" .. quote(v) end
  local err = os.tmpname()
  local out, ok, _, code = T.sh(("env -u XDG_RUNTIME_DIR -u NSL_STATE_DIR %s setpriv --reuid=%d --regid=%d --clear-groups sh -c %s 2>%s")
    :format(table.concat(sets, " "), uid, uid, quote(cmd), quote(err)))
  local f = io.open(err)
  local errtext = f and f:read("a") or ""
  if f then f:close() end
  os.remove(err)
  return out, errtext, ok, code
end

-- The binary under test, run by the victim.
local function nsl_as_victim(args, env)
  return as(VICTIM, quote(T.user_bin()) .. " " .. args, env)
end

-- Runs a Lua script with `nsl run` as the victim.
local function script_as_victim(text, env)
  local path = T.script(text)
  local out, err, ok, code = nsl_as_victim("run " .. quote(path), env)
  os.remove(path)
  return out, err, ok, code
end

-- Writes a record (a Lua table literal) as uid into dir/state, making dir.
local function plant(uid, dir, literal)
  local _, err, ok = as(uid, ("mkdir -p %s && printf '%%s\\n' %s > %s/state")
    :format(quote(dir), quote("return " .. literal), quote(dir)))
  assert(ok, "planting " .. dir .. ": " .. err)
end

-- The victim's files: dir/proj with work/ and index/ as overlayfs work
-- directories have them, and a README; made by the victim.
local FILES = { "proj/README", "proj/work/work/a", "proj/work/index/b", "proj/index/c",
  "proj.nsl-work/work/d", "proj.nsl-work/index/e", "proj.nsl-work/README" }
local function victim_tree()
  local dir = assert(nsl.mkdtemp("/tmp/nsl-trust-home-"))
  assert(nsl.chmod(dir, 493))
  os.execute(("chown %d:%d %s"):format(VICTIM, VICTIM, quote(dir)))
  local cmds = {}
  for _, f in ipairs(FILES) do
    cmds[#cmds + 1] = ("mkdir -p %s && echo keep > %s"):format(quote(dir .. "/" .. f:match("^(.*)/")), quote(dir .. "/" .. f))
  end
  local _, err, ok = as(VICTIM, table.concat(cmds, " && "))
  assert(ok, err)
  return dir
end

local function assert_intact(dir)
  local missing = {}
  for _, f in ipairs(FILES) do
    if not nsl.lstat(dir .. "/" .. f) then missing[#missing + 1] = f end
  end
  assert.are.same({}, missing, "files of the victim were deleted")
end

-- A process of the victim's (sleep), and what a record would say of it.
local function victim_process()
  local pid = assert(nsl.clone({}, function()
    nsl.exec({ "setpriv", "--reuid=" .. VICTIM, "--regid=" .. VICTIM, "--clear-groups", "sleep", "600" })
    return 127
  end, { collect = false }))
  local deadline = nsl.time() + 5
  repeat
    local comm = io.open("/proc/" .. pid .. "/comm")
    local name = comm and comm:read("l")
    if comm then comm:close() end
    if name == "sleep" then break end
    nsl.sleep(0.01)
  until nsl.time() > deadline
  local state = require "nsl.state"
  return pid, {
    pid = pid, pid_start = state.start_time(pid), boot = state.boot_id(),
    pid_ns = nsl.nsid(pid, "pid"), mnt_ns = nsl.nsid(pid, "mnt"),
  }
end

local function alive(pid)
  return require("nsl.state").alive(pid)
end

local function stop(pid)
  if pid then
    nsl.kill(pid, "KILL")
    nsl.wait(pid)
  end
end

-- The victim's own state root, made as nsl makes it (0700, the victim's).
local function victim_root()
  local root = VICTIM_BASE .. "/containers"
  assert(os.execute(("mkdir -p -m 0700 %s && chmod 0700 %s && chown -R %d:%d %s")
    :format(quote(root), quote(VICTIM_BASE), VICTIM, VICTIM, quote(VICTIM_BASE))))
  return root
end

-- A record's fields as Lua text.
local function literal(t)
  return require("nsl.state").encode(t)
end

-- An owner no process has: the record is stale, and ps cleans up after it.
local DEAD = { owner = 4194000, owner_start = 1, status = "running" }
local function stale(extra)
  local t = {}
  for k, v in pairs(DEAD) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return literal(t)
end

describe("another local user", function()
  setup(function()
    assert(T.bin_reachable(), "the unprivileged users cannot run " .. T.bin)
  end)

  before_each(function()
    wipe(VICTIM_BASE)
  end)

  it("cannot make the victim's nsl ps delete its files or kill its process through a state root made first (the report)", function()
    local tree, pid, root
    finally(function()
      stop(pid)
      wipe(VICTIM_BASE)
      if tree then wipe(tree) end
      if root then C.remove(root) end
    end)
    tree = victim_tree()
    local rec
    pid, rec = victim_process()
    -- as 1003, before 1004 ever runs nsl
    local _, err, ok = as(ATTACKER, ("mkdir -p %s/containers && chmod -R a+rwX %s"):format(VICTIM_BASE, VICTIM_BASE))
    assert(ok, err)
    plant(ATTACKER, VICTIM_BASE .. "/containers/evil", stale({ id = "evil", name = "evil",
      root = { kind = "overlay", work_dir = tree .. "/proj" } }))
    plant(ATTACKER, VICTIM_BASE .. "/containers/evil2", stale({ id = "evil2", name = "evil2",
      pid = rec.pid, pid_start = rec.pid_start }))

    local out, perr, pok, code = nsl_as_victim("ps -a")
    assert.is_falsy(pok, out)
    assert.are.equal(1, code)
    assert.matches("state directory /tmp/nsl%-1004/containers is not to be trusted", perr)
    assert.matches("/tmp/nsl%-1004 is owned by another user %(owner uid 1003", perr)
    assert.matches("set XDG_RUNTIME_DIR or NSL_STATE_DIR to a directory of your own", perr)
    assert.matches("have /tmp/nsl%-1004 removed by its owner or root", perr)

    -- the Lua side: list raises, lookup says why, a named start is refused
    root = C.busybox_root({ shared = true })
    local sout, serr = script_as_victim(([[
      print(pcall(nsl.list))
      print(nsl.lookup("evil"))
      local c = nsl.container({ name = "web", rootfs = %q, command = { "true" } })
      print(c:start())
    ]]):format(root))
    local lines = {}
    for l in (sout .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
    assert.matches("^false\tlist: state directory /tmp/nsl%-1004/containers is not to be trusted", lines[1], serr)
    assert.matches("^nil\tlookup: state directory /tmp/nsl%-1004/containers is not to be trusted", lines[2])
    assert.matches("^nil\tname: state directory /tmp/nsl%-1004/containers is not to be trusted", lines[3])

    assert_intact(tree)
    assert.is_true(alive(pid), "the victim's process was killed")
    assert.is_truthy(nsl.lstat(VICTIM_BASE .. "/containers/evil/state"), "nsl touched another user's files")
  end)

  it("cannot redirect the victim's state root with a symlink", function()
    local tree, planted
    finally(function()
      wipe(VICTIM_BASE)
      if planted then wipe(planted) end
      if tree then wipe(tree) end
    end)
    tree = victim_tree()
    planted = "/tmp/nsl-trust-planted-" .. nsl.getpid()
    local _, err, ok = as(ATTACKER, ("mkdir -p %s/containers && chmod -R a+rwX %s && ln -s %s %s")
      :format(planted, planted, planted, VICTIM_BASE))
    assert(ok, err)
    plant(ATTACKER, planted .. "/containers/evil", stale({ id = "evil", name = "evil",
      root = { kind = "overlay", work_dir = tree .. "/proj" } }))

    local out, perr, pok = nsl_as_victim("ps -a")
    assert.is_falsy(pok, out)
    assert.matches("state directory /tmp/nsl%-1004/containers is not to be trusted", perr)
    assert.matches("symbolic link", perr)
    assert.matches("the link /tmp/nsl%-1004 is uid 1003's", perr)
    assert_intact(tree)
  end)

  it("cannot plant records in a state root of the victim's that others can write", function()
    local tree
    finally(function()
      wipe(VICTIM_BASE)
      if tree then wipe(tree) end
    end)
    tree = victim_tree()
    -- the victim's own directories, the state root left writable by all
    local _, err, ok = as(VICTIM, ("mkdir -m 0755 %s && mkdir -m 0777 %s/containers && chmod 0777 %s/containers")
      :format(VICTIM_BASE, VICTIM_BASE, VICTIM_BASE))
    assert(ok, err)
    plant(ATTACKER, VICTIM_BASE .. "/containers/evil", stale({ id = "evil", name = "evil",
      root = { kind = "overlay", work_dir = tree .. "/proj" } }))

    local out, perr, pok = nsl_as_victim("ps -a")
    assert.is_falsy(pok, out)
    assert.matches("state directory /tmp/nsl%-1004/containers is not to be trusted", perr)
    assert.matches("mode 0777", perr)
    assert_intact(tree)
  end)

  it("has a record directory or state file of another uid ignored, with a warning", function()
    local tree, pid
    finally(function()
      stop(pid)
      wipe(VICTIM_BASE)
      if tree then wipe(tree) end
    end)
    tree = victim_tree()
    local rec
    pid, rec = victim_process()
    local root = victim_root()
    -- only root could put them there; nsl must not act on them all the same
    plant(0, root .. "/evil", stale({ id = "evil", name = "evil", pid = rec.pid, pid_start = rec.pid_start,
      pid_ns = rec.pid_ns, mnt_ns = rec.mnt_ns, boot = rec.boot,
      root = { kind = "overlay", work_dir = tree .. "/proj" } }))
    os.execute(("chown -R %d:%d %s"):format(ATTACKER, ATTACKER, quote(root .. "/evil")))
    plant(VICTIM, root .. "/evil2", "{}")
    plant(0, root .. "/evil2", stale({ id = "evil2", name = "evil2",
      root = { kind = "overlay", upper_dir = tree .. "/proj", work_dir = tree .. "/proj.nsl-work" } }))
    os.execute(("chown %d:%d %s"):format(ATTACKER, ATTACKER, quote(root .. "/evil2/state")))

    local out, perr, pok = nsl_as_victim("ps -a")
    assert.is_true(pok, perr)
    assert.are.equal("NAME  PID  STATUS  UPTIME  ADDRESS  COMMAND", out)
    assert.matches("ignoring the record /tmp/nsl%-1004/containers/evil: owned by uid 1003, not by you %(uid 1004%)", perr)
    assert.matches("ignoring the record /tmp/nsl%-1004/containers/evil2: its state is owned by uid 1003", perr)
    assert_intact(tree)
    assert.is_true(alive(pid), "the victim's process was killed")
    assert.is_truthy(nsl.lstat(root .. "/evil/state"))
    assert.is_truthy(nsl.lstat(root .. "/evil2/state"))
  end)

  it("cannot have a record of the victim's own release /, '..' or links into its home", function()
    local tree
    finally(function()
      wipe(VICTIM_BASE)
      if tree then wipe(tree) end
    end)
    tree = victim_tree()
    local root = victim_root()
    local rootfs_dir = VICTIM_BASE .. "/rootfs"
    -- links of the names nsl would give: a root's state directory, a work
    -- directory beside an upper directory
    local _, err, ok = as(VICTIM, ("mkdir -m 0700 %s && ln -s %s %s/root-link-state-abcdef && ln -s %s %s/up.nsl-work")
      :format(rootfs_dir, quote(tree .. "/proj"), rootfs_dir, quote(tree .. "/proj"), VICTIM_BASE))
    assert(ok, err)
    local home = tree:match("[^/]+$")
    local records = {
      -- (plan: the network's field as an older nsl named it, read too)
      slash = { root = { kind = "host", state = "/" }, cgroup = "/",
        plan = { mode = "bridge", bridge = "nsl0", leased = "../../..", subnet = { ip = 1, len = 24 } } },
      dotdot = { root = { kind = "overlay", keep = true, state = rootfs_dir .. "/../../" .. home .. "/proj" } },
      dotdot_work = { root = { kind = "overlay", upper_dir = VICTIM_BASE .. "/../" .. home .. "/proj",
        work_dir = VICTIM_BASE .. "/../" .. home .. "/proj.nsl-work" } },
      link_state = { root = { kind = "overlay", keep = true, state = rootfs_dir .. "/root-link-state-abcdef" } },
      link_work = { root = { kind = "overlay", upper_dir = VICTIM_BASE .. "/up", work_dir = VICTIM_BASE .. "/up.nsl-work" } },
      home_work = { root = { kind = "overlay", work_dir = tree .. "/proj" } },
      cgroup_path = { cgroup = "../../..", cgroup_paths = { "/sys/fs/cgroup" } },
      init = { pid = 1, pid_start = 0 },
    }
    for id, t in pairs(records) do
      t.id, t.name = id:gsub("_", "-"), id:gsub("_", "-")
      plant(VICTIM, root .. "/" .. t.id, stale(t))
    end

    local out, perr, pok = nsl_as_victim("ps -a")
    assert.is_true(pok, perr)
    assert.are.equal("NAME  PID  STATUS  UPTIME  ADDRESS  COMMAND", out)
    for _, pat in ipairs({
      "not releasing the root of container slash: state directory /: it is not a state directory nsl makes",
      "not releasing the cgroup of container slash: it names the cgroup /, not its own",
      "not releasing the network of container slash: its lease \"../../..\" is not an address",
      "not releasing the root of container dotdot: state directory .*: it is not a state directory nsl makes",
      "not releasing the root of container dotdot%-work: work directory .*'%.' and '%.%.' are not accepted",
      "not releasing the root of container link%-state: state directory .*symbolic link",
      "not releasing the root of container link%-work: work directory .*symbolic link",
      "not releasing the root of container home%-work: work directory .*: it is not the one nsl makes",
      "not releasing the cgroup of container cgroup%-path: it names the cgroup ../../..",
    }) do
      assert.is_truthy(perr:find(pat), "no warning " .. pat .. " in:\n" .. perr)
    end
    assert_intact(tree)
    -- the stale records themselves are the victim's: cleaned up
    assert.are.same({}, nsl.readdir(root))
  end)

  it("cannot make a victim's NSL_STATE_DIR in a shared directory count", function()
    local tree, shared, sticky, root
    finally(function()
      wipe(VICTIM_BASE)
      if shared then wipe(shared) end
      if sticky then wipe(sticky) end
      if tree then wipe(tree) end
      if root then C.remove(root) end
    end)
    tree = victim_tree()
    shared = "/tmp/nsl-trust-shared-" .. nsl.getpid()
    sticky = "/tmp/nsl-trust-sticky-" .. nsl.getpid()
    local _, err, ok = as(ATTACKER, ("mkdir %s %s && chmod 0777 %s && chmod 1777 %s")
      :format(shared, sticky, shared, sticky))
    assert(ok, err)
    plant(ATTACKER, shared .. "/state/evil", stale({ id = "evil", name = "evil",
      root = { kind = "overlay", work_dir = tree .. "/proj" } }))
    os.execute("chmod -R a+rwX " .. quote(shared .. "/state"))

    local out, perr, pok = nsl_as_victim("ps -a", { NSL_STATE_DIR = shared .. "/state" })
    assert.is_falsy(pok, out)
    assert.matches("state directory " .. shared:gsub("%-", "%%-") .. "/state is not to be trusted", perr)
    assert.matches("owner uid 1003", perr)
    assert.matches("set NSL_STATE_DIR to a directory of your own", perr)

    -- a state root the victim would make in a sticky directory of
    -- another's, who could rename it: refused before anything is made
    root = C.busybox_root({ shared = true })
    local sout = script_as_victim(([[
      print(nsl.container({ name = "web", rootfs = %q, command = { "true" } }):start())
    ]]):format(root), { NSL_STATE_DIR = sticky .. "/mine" })
    assert.matches("^nil\tname: state directory " .. sticky:gsub("%-", "%%-") .. "/mine is not to be trusted: "
      .. sticky:gsub("%-", "%%-") .. " is owned by another user %(owner uid 1003, mode 1777%)", sout)
    assert.is_nil(nsl.lstat(sticky .. "/mine"))
    assert_intact(tree)
  end)

  it("cannot have the victim's nsl signal one of its processes named by a record, with its start time, boot and namespaces", function()
    local pid, owner
    finally(function()
      stop(pid)
      stop(owner)
      wipe(VICTIM_BASE)
    end)
    local rec
    pid, rec = victim_process()
    local root = victim_root()
    -- a stale record: ps releases it
    rec.id, rec.name = "gone", "gone"
    plant(VICTIM, root .. "/gone", stale(rec))
    local out, perr, pok = nsl_as_victim("ps -a")
    assert.is_true(pok, perr)
    assert.are.equal("NAME  PID  STATUS  UPTIME  ADDRESS  COMMAND", out)
    assert.matches("not releasing its process of container gone: pid " .. pid .. " shares the caller's mount namespace", perr)
    assert.is_true(alive(pid), "the victim's process was killed")

    -- a record whose owner lives: nsl kill and nsl ps see it running
    local orec
    owner, orec = victim_process()
    rec.id, rec.name, rec.owner, rec.owner_start, rec.status = "held", "held", owner, orec.pid_start, "running"
    plant(VICTIM, root .. "/held", literal(rec))
    local kout, kerr, kok, code = nsl_as_victim("kill held KILL")
    assert.is_falsy(kok, kout)
    assert.are.equal(1, code)
    assert.matches("kill: pid " .. pid .. " shares the caller's mount namespace: it is no container's PID 1", kerr)
    local xout, xerr, xok = nsl_as_victim("exec held true")
    assert.is_falsy(xok, xout)
    assert.matches("exec: pid " .. pid .. " shares the caller's mount namespace", xerr)
    assert.is_true(alive(pid), "the victim's process was killed")
  end)

  it("(control) still runs, lists, kills and removes the victim's own detached container", function()
    local root
    finally(function()
      nsl_as_victim("rm -f box")
      wipe(VICTIM_BASE)
      if root then C.remove(root) end
    end)
    root = C.busybox_root({ shared = true })
    local out, err, ok = script_as_victim(([[
      local c = assert(nsl.container({ name = "box", rootfs = %q, detach = true,
        command = { "sleep", "600" } }):start())
      print(c.pid)
    ]]):format(root))
    assert(ok, err)
    local pid = math.tointeger(tonumber(out))
    assert.is_truthy(pid, out)
    local st = nsl.lstat(VICTIM_BASE)
    assert.are.equal(VICTIM, st.uid)
    assert.are.equal(448, st.mode)
    local ps = nsl_as_victim("ps")
    assert.matches("\nbox%s+" .. pid .. "%s+running", ps)
    local _, kerr, kok = nsl_as_victim("kill box KILL")
    assert.is_true(kok, kerr)
    local _, _, _, code = nsl_as_victim("wait box")
    assert.are.equal(137, code)
    local _, rerr, rok = nsl_as_victim("rm box")
    assert.is_true(rok, rerr)
    assert.are.same({}, nsl.readdir(VICTIM_BASE .. "/containers"))
  end)
end)
