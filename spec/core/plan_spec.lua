-- nsl.plan: a container's set-up run in C by the cloned child
-- (src/plan.c). Every plan runs in a child of its own, in a new mount
-- namespace where it mounts anything, so the host is left alone.
local nsl = require "nsl"

-- Clones body (a plan, or a function) into new mnt and uts namespaces
-- with a status pipe; returns what the child wrote on it and how it
-- ended.
local function run_child(make, namespaces)
  local r, w = assert(nsl.pipe())
  local body = make(w)
  local pid = assert(nsl.clone(namespaces or { "mnt", "uts" }, body, { collect = false }))
  nsl.close(w)
  local said = {}
  while true do
    local chunk = nsl.read(r)
    if not chunk or chunk == "" then break end
    said[#said + 1] = chunk
  end
  nsl.close(r)
  local ok, how, n = nsl.wait(pid)
  return table.concat(said), ok, how, n
end

local dir

before_each(function() dir = assert(nsl.mkdtemp("/tmp/nsl-spec-plan-")) end)
after_each(function() os.execute("rm -rf " .. dir) end)

describe("nsl.plan", function()
  it("runs its steps in the child: mounts, resolved paths, files, links, hostname", function()
    local out_r, out_w = assert(nsl.pipe())
    local said, ok, how, n = run_child(function(w)
      return nsl.plan({
        { "dup2", "stdout", out_w, 1 },
        { "mount", "private", false, "/", false, "rec,private" },
        { "mount", "scratch", "tmpfs", dir, "tmpfs", "nosuid", "mode=755" },
        { "resolve", "mkdir /a/b", dir, "/a/b", "dir" },
        { "touch", "create f", "f", 384 },
        { "mkdir", "mkdir d", "d", 448 },
        { "symlink", "link l", "f", "l" },
        { "hostname", "hostname", "planned" },
        { "exec", "exec", { "sh", "-c", ("cd %s/a/b && stat -c '%%n %%a' f d && readlink l && hostname && grep -c ' %s ' /proc/self/mountinfo"):format(dir, dir) },
          { PATH = "/usr/bin:/bin" }, true },
      }, { status = w })
    end)
    nsl.close(out_w)
    local out = nsl.read(out_r)
    nsl.close(out_r)
    assert.are.same({ "", true, "exit", 0 }, { said, ok, how, n })
    -- made with the umask of the caller (022), on the tmpfs mounted once
    assert.are.equal("f 600\nd 700\nf\nplanned\n1\n", out)
    -- the tmpfs was the child's: nothing of it on the host
    assert.is_nil(nsl.lstat(dir .. "/a"))
  end)

  it("gives the command's output and status, the environment it was given", function()
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({ "mnt" }, nsl.plan({
      { "dup2", "stdout", w, 1 },
      { "umask", "umask", 18 },
      { "exec", "exec", { "sh", "-c", "echo \"$GREETING $(umask)\"; exit 7" }, { GREETING = "hi", PATH = "/bin" }, true },
    }), { collect = false }))
    nsl.close(w)
    local out = nsl.read(r)
    nsl.close(r)
    assert.are.equal("hi 0022\n", out)
    assert.are.same({ nil, "exit", 7 }, { nsl.wait(pid) })
  end)

  it("names the failing step on the status descriptor and stops there", function()
    local said, ok, how, n = run_child(function(w)
      return nsl.plan({
        { "mount", "private", false, "/", false, "rec,private" },
        { "mkdir", "mkdir /x", dir .. "/missing/x", 493 },
        { "touch", "never", dir .. "/never", 420 },
      }, { status = w })
    end)
    assert.are.equal(("Emkdir /x: mkdir %s/missing/x: No such file or directory"):format(dir), said)
    assert.are.same({ nil, "exit", 1 }, { ok, how, n })
    assert.is_nil(nsl.lstat(dir .. "/never"))
  end)

  it("exits 127 for a command that is not there, 126 for one it cannot run, as a shell", function()
    local said, ok, how, n = run_child(function(w)
      return nsl.plan({ { "exec", "exec", { "/nonexistent/cmd" }, nil, true } }, { status = w })
    end)
    assert.are.equal("Eexec /nonexistent/cmd: No such file or directory", said)
    assert.are.same({ nil, "exit", 127 }, { ok, how, n })
    said, ok, how, n = run_child(function(w)
      return nsl.plan({ { "exec", "exec", { dir }, nil, true } }, { status = w })
    end)
    assert.are.equal(("Eexec %s: Permission denied"):format(dir), said)
    assert.are.same({ nil, "exit", 126 }, { ok, how, n })
  end)

  it("runs an 'otherwise' step only when the 'try' before it failed", function()
    local said, ok = run_child(function(w)
      return nsl.plan({
        { "mkdir", "first", dir .. "/no/such", 493, try = true },
        { "mkdir", "fallback", dir .. "/fallback", 493, otherwise = true },
        { "mkdir", "second", dir .. "/second", 493, try = true },
        { "mkdir", "skipped", dir .. "/skipped", 493, otherwise = true },
      }, { status = w })
    end)
    assert.are.same({ "", true }, { said, ok })
    assert.is_truthy(nsl.lstat(dir .. "/fallback"))
    assert.is_truthy(nsl.lstat(dir .. "/second"))
    assert.is_nil(nsl.lstat(dir .. "/skipped"))
  end)

  it("refuses a symlink where a system directory goes, with the step's message", function()
    assert(nsl.symlink("/etc", dir .. "/proc"))
    local said, ok = run_child(function(w)
      return nsl.plan({
        { "refuse_symlink", "rootfs", dir .. "/proc", "/proc is a symlink (refused)" },
        { "mkdir", "never", dir .. "/never", 493 },
      }, { status = w })
    end)
    assert.are.same({ "Erootfs: /proc is a symlink (refused)", nil }, { said, ok })
    assert.is_nil(nsl.lstat(dir .. "/never"))
  end)

  it("resolves inside a root: a symlink out of it stays in it", function()
    assert(nsl.mkdir(dir .. "/root"))
    assert(nsl.mkdir(dir .. "/root/tmp"))
    assert(nsl.symlink("/../../../tmp", dir .. "/root/escape"))
    local said, ok = run_child(function(w)
      return nsl.plan({
        { "resolve", "resolve", dir .. "/root", "/escape/inside", "dir" },
        { "touch", "touch", "marker", 420 },
      }, { status = w })
    end)
    assert.are.same({ "", true }, { said, ok })
    assert.is_truthy(nsl.lstat(dir .. "/root/tmp/inside/marker"))
    assert.is_nil(nsl.lstat("/tmp/inside"))
  end)

  it("waits for the go byte at the ready step, and ends without it", function()
    local status_r, status_w = assert(nsl.pipe())
    local go_r, go_w = assert(nsl.pipe())
    local plan = nsl.plan({
      { "close", "close", status_r }, { "close", "close", go_w },
      { "ready", "ready" },
      { "exec", "exec", { "true" }, nil, true },
    }, { status = status_w, go = go_r })
    local pid = assert(nsl.clone(nil, plan, { collect = false }))
    nsl.close(status_w); nsl.close(go_r)
    assert.are.equal("R", nsl.read(status_r, 1))
    assert.is_true(nsl.write(go_w, "G") ~= nil)
    nsl.close(go_w)
    assert.are.equal("", nsl.read(status_r) or "")
    assert.are.same({ true, "exit", 0 }, { nsl.wait(pid) })

    -- the caller gives up: the child ends before its command
    status_r, status_w = assert(nsl.pipe())
    go_r, go_w = assert(nsl.pipe())
    plan = nsl.plan({
      { "close", "close", status_r }, { "close", "close", go_w },
      { "ready", "ready" },
      { "exec", "exec", { "sh", "-c", "exit 9" }, nil, true },
    }, { status = status_w, go = go_r })
    pid = assert(nsl.clone(nil, plan, { collect = false }))
    nsl.close(status_w); nsl.close(go_r)
    assert.are.equal("R", nsl.read(status_r, 1))
    nsl.close(go_w)
    nsl.close(status_r)
    assert.are.same({ nil, "exit", 1 }, { nsl.wait(pid) })
  end)

  it("with an init step, the command runs in a child of PID 1, which exits with its status", function()
    local r, w = assert(nsl.pipe())
    local pid = assert(nsl.clone({ "pid", "mnt" }, nsl.plan({
      { "dup2", "stdout", w, 1 },
      { "init", "init" },
      { "exec", "exec", { "sh", "-c", "echo $$; kill -TERM $$" }, nil, true },
    }), { collect = false }))
    nsl.close(w)
    assert.are.equal("2\n", nsl.read(r))
    nsl.close(r)
    assert.are.same({ nil, "exit", 128 + 15 }, { nsl.wait(pid) })
  end)

  it("leaves the caller dumpable when the child, sharing its memory until the exec, is not", function()
    -- A plan that runs through to its exec shares the caller's memory
    -- (CLONE_VM), and the dumpable flag lives with the memory: the
    -- caller's is put back once the child has exec'd.
    assert.is_true(nsl.dumpable())
    local pid = assert(nsl.clone({ "mnt" }, nsl.plan({
      { "dumpable_off", "dumpable" },
      { "exec", "exec", { "true" }, nil, true },
    }), { collect = false }))
    assert.is_true(nsl.dumpable())
    assert.are.same({ true, "exit", 0 }, { nsl.wait(pid) })
  end)

  it("moves the child into a cgroup, then roots its cgroup namespace there", function()
    -- a throwaway group of the pids hierarchy (v1 here; the unified one
    -- when that is all there is), removed once its process is gone
    local base = nsl.lstat("/sys/fs/cgroup/pids") and "/sys/fs/cgroup/pids" or "/sys/fs/cgroup"
    local group = ("%s/nsl-spec-plan-%d"):format(base, nsl.getpid())
    assert(nsl.mkdir(group, 493))
    local pid
    finally(function()
      if pid then nsl.kill(pid, "KILL"); nsl.wait(pid) end
      assert(nsl.rmdir(group))
    end)
    local r, w = assert(nsl.pipe())
    pid = assert(nsl.clone({ "mnt" }, nsl.plan({
      { "cgroup", "limits", group },
      { "unshare", "cgroup namespace", "cgroup" },
      { "dup2", "stdout", w, 1 },
      { "exec", "exec", { "sh", "-c", "cat /proc/self/cgroup; exec sleep 5" }, nil, true },
    }), { collect = false }))
    nsl.close(w)
    local out = nsl.read(r)
    nsl.close(r)
    -- from outside, the process is in the group; inside, the group is "/"
    local procs = assert(io.open(group .. "/cgroup.procs")):read("a")
    assert.matches("%f[%d]" .. pid .. "\n", procs)
    local line = base == "/sys/fs/cgroup" and "\n0::/\n" or "\n%d+:pids:/\n"
    assert.matches(line, "\n" .. out)

    local said, ok, how, n = run_child(function(sw)
      return nsl.plan({ { "cgroup", "limits", group .. "/missing" } }, { status = sw })
    end)
    assert.are.equal(("Elimits: joining %s/missing: No such file or directory"):format(group), said)
    assert.are.same({ nil, "exit", 1 }, { ok, how, n })
  end)

  it("runs piece by piece from Lua with plan:run(from, to)", function()
    local plan = nsl.plan({
      { "mkdir", "one", dir .. "/one", 493 },
      { "mkdir", "two", dir .. "/two", 493 },
      { "mkdir", "three", dir .. "/one", 493 },
    })
    assert.are.equal(3, #plan)
    assert.is_true(plan:run(1, 2))
    assert.is_truthy(nsl.lstat(dir .. "/two"))
    assert.are.same({ nil, ("three: mkdir %s/one: File exists"):format(dir), 1 }, { plan:run(3) })
    assert.is_true(plan:run(3, 2)) -- nothing to run
    assert.has_error(function() plan:run(0) end, "plan:run: steps 0 to 3 of 3")
  end)

  it("checks every step when it is made, naming what is wrong", function()
    local cases = {
      { {}, "plan: step 1: unknown op 'nil'" },
      { { "fly", "x" }, "plan: step 1: unknown op 'fly'" },
      { { "mkdir" }, "plan: step 1: argument 0 must be a string (got nil)" },
      { { "mkdir", "m", "/x" }, "plan: step 1: argument 2 must be an integer from 0 to 4095" },
      { { "mkdir", "m", "/x", 493, 7 }, "plan: step 1 (mkdir) takes 2 arguments" },
      { { "mount", "m", false, "/x", false, "bind,sideways" }, "unknown mount flag" },
      { { "rlimit", "r", "files", 1, 1 }, "plan: step 1: unknown limit 'files'" },
      { { "rlimit", "r", "nofile", 10, 5 }, "plan: step 1: soft limit above the hard limit" },
      { { "touch", "t", "/x\0y", 420 }, "plan: step 1: argument 1 contains a NUL byte or is too long" },
      { { "exec", "e", {} }, "plan: step 1: argv must have 1 to 65536 strings" },
      { { "exec", "e", { "sh" }, { ["A=B"] = "c" } }, "plan: step 1: env.A=B is not a valid variable" },
      { { "resolve", "r", "/", "/x", "socket" }, "plan: step 1: unknown create 'socket'" },
      { { "cgroup", "c", "nsl/x" }, "plan: step 1: the cgroup must be an absolute path" },
      { { "unshare", "u", "" }, "plan: step 1: unshare needs a namespace" },
      { { "unshare", "u", "cgroup,galaxy" }, "unknown namespace" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(nsl.plan, { c[1] })
      assert.is_false(ok)
      assert.matches(c[2], tostring(err), 1, true)
    end
    assert.has_error(function() nsl.plan({ 5 }) end, "plan: step 1 must be a table (got number)")
    assert.has_error(function() nsl.plan({}, { status = "x" }) end)
    assert.has_error(function() nsl.plan({}, { stdout = 1 }) end)
    assert.has_error(function() nsl.clone(nil, nsl.plan({}), { args = { 1 } }) end,
      "clone options: args are for a function, not a plan")
  end)
end)
