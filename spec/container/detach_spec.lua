-- Detached containers and the commands that reach containers from other
-- processes: the supervisor (nsl-monitor), nsl ps / exec / logs / kill /
-- wait / rm, stale state after a SIGKILL, terminals for exec. As root.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"
local state = require "nsl.state"

local root
local tag = nsl.getpid()
-- cgroup v2 (the VM lane, make check-vm) or this machine's v1
local V2 = nsl.lstat("/sys/fs/cgroup/cgroup.controllers") ~= nil
-- A container's group: in the v1 hierarchy of controller, or the v2 one.
local function group(controller, name)
  return V2 and "/sys/fs/cgroup/nsl/" .. name or ("/sys/fs/cgroup/%s/nsl/%s"):format(controller, name)
end

-- Runs `nsl ARGS` (a shell fragment); returns stdout, stderr, status.
local function cli(args, stdin)
  local err = os.tmpname()
  local out, _, _, code = T.sh(("%s %s %s 2>%s"):format(
    stdin and ("printf %s |"):format(T.quote(stdin)) or "", T.quote(T.bin), args, err))
  local f = io.open(err)
  local e = f:read("a")
  f:close()
  os.remove(err)
  return out, e, code
end

-- Runs a Lua script with `nsl run` in another process; returns its
-- stdout, stderr and status.
local function script(text)
  local path = T.script(text)
  local out, err, code = cli("run " .. T.quote(path))
  os.remove(path)
  return out, err, code
end

local function detached(name, command, extra)
  return script(([[
    local c = nsl.container { name = %q, rootfs = %q, detach = true,
      command = %s, %s }
    local ok, err = c:start()
    if not ok then io.stderr:write(err, "\n") os.exit(1) end
    print(c.pid)
  ]]):format(name, root, command, extra or ""))
end

local wait_until = T.wait_until

-- A name as a Lua pattern.
local function esc(s)
  return (s:gsub("%p", "%%%0"))
end

local function record(name)
  return state.read(name)
end

local function gone(name)
  cli("rm -f " .. name)
  assert.is_nil(nsl.lstat(state.dir(name)))
end

setup(function()
  root = C.busybox_root()
end)

teardown(function()
  C.remove(root)
end)

-- Whatever a failed test left running or recorded goes.
after_each(function()
  for _, id in ipairs(state.ids()) do
    if id:find("^dt%-%a+%-" .. tag .. "$") then cli("rm -f " .. id) end
  end
end)

describe("detached containers", function()
  it("outlive their script, log their output and record their end", function()
    local name = "dt-log-" .. tag
    local out, err, code = detached(name,
      [[{"sh", "-c", "echo out-line; echo err-line >&2; read x < /dev/zero & sleep 0.5; echo last; exit 5"}]])
    assert.are.equal(0, code, err)
    local pid = tonumber(out)
    assert.is_truthy(pid)
    -- the script has ended; the container runs on, supervised
    local rec = record(name)
    assert.are.equal("running", state.status(rec))
    assert.are.equal(pid, rec.pid)
    assert.is_true(rec.detached)
    local ps = cli("ps")
    assert.matches("\n" .. esc(name) .. "%s+" .. pid .. "%s+running%s", ps)
    -- the supervisor is small
    local status = state.read_file("/proc/" .. rec.owner .. "/status")
    local rss = tonumber(status:match("VmRSS:%s*(%d+)"))
    assert.is_true(rss < 1024, "supervisor VmRSS " .. rss .. " kB")
    local w_out, _, w_code = cli("wait " .. name)
    assert.are.equal(5, w_code, w_out)
    assert.are.equal("out-line\nerr-line\nlast", (cli("logs " .. name)))
    rec = record(name)
    assert.are.equal("exited", state.status(rec))
    assert.are.same({ "exit", 5 }, { rec.how, rec.code })
    assert.matches("\n" .. esc(name) .. "%s+%-%s+exited 5%s", cli("ps"))
    -- a second container of that name is refused until it is removed
    local _, err2, code2 = detached(name, [[{"true"}]])
    assert.are.equal(1, code2)
    assert.matches("name " .. name .. " is taken by an exited container; remove it first", err2, 1, true)
    local _, _, rm_code = cli("rm " .. name)
    assert.are.equal(0, rm_code)
    assert.is_nil(nsl.lstat(state.dir(name)))
  end)

  it("rotate their log at log_max and keep the newest output", function()
    local name = "dt-rot-" .. tag
    local _, err, code = detached(name,
      [[{"sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"}]],
      [[detach = { log_max = 8192 }]])
    assert.are.equal(0, code, err)
    cli("wait " .. name)
    local dir = state.dir(name)
    local size = nsl.lstat(dir .. "/log").size
    assert.is_true(size <= 8192, "log is " .. size .. " bytes")
    assert.is_true(nsl.lstat(dir .. "/log.1").size <= 8192)
    local logs = cli("logs " .. name)
    assert.matches("line%-399%-x+$", logs)
    assert.is_nil(logs:find("line-0-", 1, true)) -- the oldest part is gone
    gone(name)
  end)

  it("release their cgroup, lease and bridge when they end, and report oom", function()
    local name = "dt-oom-" .. tag
    local bridge = "nsldt" .. tag % 10000
    local _, err, code = detached(name,
      [[{"sh", "-c", "sleep 0.3; x=$(head -c 100000000 /dev/zero | tr '\\0' a)"}]],
      ([[limits = { memory = "16M" }, net = { bridge = %q, address = "10.93.0.2/24" }]]):format(bridge))
    assert.are.equal(0, code, err)
    assert.is_truthy(nsl.lstat(group("memory", name)))
    assert.is_truthy(nsl.net.link and nsl.net.link(bridge) or T.sh("ip -o link show " .. bridge) ~= "")
    assert.are.equal("10.93.0.2", cli("ps"):match(esc(name) .. "%s+%d+%s+running%s+%S+%s+(%S+)"))
    local _, _, w = cli("wait " .. name)
    assert.are.equal(137, w)
    assert.matches(esc(name) .. "%s+%-%s+oom%s", cli("ps"))
    local json = cli("ps --json")
    assert.matches('"name":"' .. name .. '"', json, 1, true)
    assert.matches('"oom":true', json, 1, true)
    assert.is_nil(nsl.lstat(group("memory", name)))
    assert.is_nil(nsl.lstat(require("nsl.netmode").lease_dir(bridge)))
    assert.is_true(wait_until(function() return T.sh("ip -o link show " .. bridge .. " 2>/dev/null") == "" end))
    gone(name)
  end)

  it("are reached by exec (namespaces, root, env, caps, cgroup) and stopped by kill", function()
    local name = "dt-exec-" .. tag
    -- init = false: sleep is PID 1, which ignores TERM (for kill -t below)
    local _, err, code = detached(name, [[{"sleep", "60"}]],
      [[env = { GREETING = "hi" }, limits = { pids = 20 }, hostname = "inner", init = false]])
    assert.are.equal(0, code, err)
    local out, e, c = cli("exec " .. name .. [[ sh -c 'echo $GREETING $(hostname); cat /proc/1/cmdline | tr "\0" " "; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; grep ]] .. (V2 and "^0::" or "pids") .. [[ /proc/self/cgroup; exit 3']])
    assert.are.equal(3, c, e)
    assert.matches("^hi inner\nsleep 60 CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n" .. (V2 and "0:" or "%d+:pids")
      .. ":/nsl/" .. esc(name) .. "$", out)
    out = cli("exec -e GREETING=yo -w /tmp " .. name .. [[ sh -c 'echo $GREETING; pwd']])
    assert.are.equal("yo\n/tmp", out)
    local _, e2, c2 = cli("exec nosuch-" .. tag .. " true")
    assert.are.equal(1, c2)
    assert.matches("no container named nosuch", e2, 1, true)
    -- sleep as PID 1 ignores TERM: kill -t escalates to KILL
    local t0 = nsl.time()
    local _, _, kc = cli("kill -t 0.5 " .. name)
    assert.are.equal(0, kc)
    assert.is_true(nsl.time() - t0 < 5)
    assert.matches(esc(name) .. "%s+%-%s+signal 9%s", cli("ps"))
    gone(name)
  end)

  it("give exec -t a terminal of the given size", function()
    local name = "dt-tty-" .. tag
    local _, err, code = detached(name, [[{"sleep", "60"}]])
    assert.are.equal(0, code, err)
    local out, e, c = cli("exec -t " .. name .. " sh -c 'test -t 0 && test -t 1 && echo term; stty size; read x; echo got:$x'", "hello\n")
    assert.are.equal(0, c, e)
    assert.matches("term\r\n24 80\r\n", out, 1, true)
    assert.matches("got:hello", out, 1, true)
    cli("kill " .. name .. " KILL")
    gone(name)
  end)

  it("refuse rm while running, unless -f", function()
    local name = "dt-rm-" .. tag
    local _, err, code = detached(name, [[{"sleep", "60"}]])
    assert.are.equal(0, code, err)
    local _, e, c = cli("rm " .. name)
    assert.are.equal(1, c)
    assert.matches("is running", e, 1, true)
    local _, _, c2 = cli("rm -f " .. name)
    assert.are.equal(0, c2)
    assert.is_nil(nsl.lstat(state.dir(name)))
    assert.is_nil(nsl.lstat(group("pids", name)))
  end)

  it("end with their supervisor: a killed supervisor leaves stale state that ps cleans up", function()
    local name = "dt-stale-" .. tag
    local _, err, code = detached(name, [[{"sleep", "60"}]], [[limits = { pids = 20 }]])
    assert.are.equal(0, code, err)
    local rec = record(name)
    nsl.kill(rec.owner, "KILL")
    assert.is_true(wait_until(function() return not state.alive(rec.pid, rec.pid_start) end))
    local ps = cli("ps")
    assert.is_nil(ps:find(name, 1, true))
    assert.is_nil(nsl.lstat(state.dir(name)))
    assert.is_nil(nsl.lstat(group("pids", name)))
  end)
end)

describe("named containers of a script killed with SIGKILL", function()
  it("are cleaned up by the next look: no record, cgroup, lease or bridge left", function()
    local name = "dt-kill-" .. tag
    local bridge = "nsldk" .. tag % 10000
    local path = T.script(([[
      local c = nsl.container { name = %q, rootfs = %q, command = {"sleep", "60"},
        limits = { memory = "32M" }, net = { bridge = %q, address = "10.94.0.2/24" } }
      assert(c:start())
      io.stdout:write("up\n") io.stdout:flush()
      nsl.sleep(60)
    ]]):format(name, root, bridge))
    local p = io.popen(T.quote(T.bin) .. " run " .. T.quote(path) .. " & echo $!")
    local pid = tonumber(p:read("l"))
    assert.are.equal("up", p:read("l"))
    local rec = record(name)
    nsl.kill(pid, "KILL")
    p:close()
    os.remove(path)
    assert.is_true(wait_until(function() return not state.alive(rec.pid, rec.pid_start) end))
    assert.is_truthy(nsl.lstat(state.dir(name))) -- left behind, for now
    assert.is_nil(cli("ps"):find(name, 1, true))
    assert.is_nil(nsl.lstat(state.dir(name)))
    assert.is_nil(nsl.lstat(group("memory", name)))
    assert.is_nil(nsl.lstat(require("nsl.netmode").lease_dir(bridge)))
    assert.is_true(wait_until(function() return T.sh("ip -o link show " .. bridge .. " 2>/dev/null") == "" end))
  end)
end)

describe("the lifecycle commands", function()
  it("explain bad usage with status 2", function()
    for _, args in ipairs({ "ps --bogus", "exec", "logs", "kill", "rm", "exec -e nope x true",
      "exec -w rel x true", "kill -t soon x" }) do
      local _, err, code = cli(args)
      assert.are.equal(2, code, args)
      assert.matches("^nsl: ", err)
    end
    local _, err = cli("logs ../etc")
    assert.matches("a container name is 1 to 64", err, 1, true)
  end)
end)
