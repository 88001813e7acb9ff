-- The examples, run as a user would run them, with the key lines of their
-- output checked: the namespace examples as root and as an unprivileged
-- uid, the container examples as root, with the host checked afterwards.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

local function run(name, rootless)
  local err = os.tmpname()
  local cmd = ("%s run examples/%s.lua 2>%s"):format(T.quote(T.bin), name, err)
  if rootless then
    os.execute("chmod 644 " .. err)
    cmd = ("setpriv --reuid=%d --regid=%d --clear-groups %s"):format(T.uid, T.gid, cmd)
  end
  local out, ok, how, code = T.sh(cmd)
  local errtext = H.read(err)
  os.remove(err)
  return out, errtext, ok, how, code
end

local function queue_ids()
  local ids = {}
  for line in io.lines("/proc/sysvipc/msg") do
    local id = line:match("^%s*%-?%d+%s+(%d+)")
    if id then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return table.concat(ids, ",")
end

local function leftovers(prefix)
  return T.sh("ls -d /tmp/" .. prefix .. ".* 2>/dev/null")
end

local host = nsl.gethostname()

local checks = {
  uts = function(out)
    assert.matches("host:    hostname is " .. host .. "\n", out, 1, true)
    assert.matches("inside:  hostname set to container\n", out, 1, true)
    assert.matches("inside:  uname -n says container\n", out, 1, true)
    assert.matches("host:    hostname is still " .. host .. "$", out)
    assert.are.equal(host, T.sh("hostname"))
  end,
  ipc = function(out, before)
    local id = out:match("host:    made message queue (%d+) with ipcmk %-Q")
    assert.is_string(id)
    assert.matches("host:    ipcs -q lists queue " .. id .. ": yes\n", out, 1, true)
    assert.matches("inside:  ipcs -q lists queue " .. id .. ": no (0 queues in all)\n", out, 1, true)
    assert.matches("host:    removed queue " .. id .. " with ipcrm: gone", out, 1, true)
    assert.are.equal(before, queue_ids())
  end,
  pid = function(out)
    assert.matches("inside:  my pid is 1, my parent's 0\n", out, 1, true)
    local n = tonumber(out:match("inside:  after mounting /proc, ps sees (%d+) processes"))
    assert.is_true(n ~= nil and n <= 4, out)
    assert.matches("inside:  |       1 nsl\n", out, 1, true)
    assert.matches("(untouched)", out, 1, true)
    assert.is_nil(out:find("CHANGED", 1, true))
  end,
  mount = function(out)
    local dir = out:match("host:    (%S+) is a plain directory")
    assert.is_string(dir)
    assert.matches("inside:  " .. dir .. " is a tmpfs mount; it holds hello: written inside", out, 1, true)
    assert.matches("host:    " .. dir .. " is still a plain directory; hello is not there", out, 1, true)
    assert.are.equal("", leftovers("nsl-mount-example"))
  end,
  user = function(out, _, rootless)
    local outside = rootless and T.uid or 100000
    assert.matches("inside:  I am uid 0 gid 0, with %d+ capabilities", out)
    assert.matches(("inside:  uid_map: 0 inside is %d outside (1 id)"):format(outside), out, 1, true)
    assert.matches(("host:    the file root made inside belongs to %d:%d"):format(outside, outside), out, 1, true)
    assert.matches("sethostname nope: Operation not permitted", out, 1, true)
    assert.are.equal("", leftovers("nsl-user-example"))
  end,
  net = function(out)
    assert.matches("inside:  interfaces lo (down)\n", out, 1, true)
    assert.matches("inside:  ping 127.0.0.1: Network is unreachable", out, 1, true)
    local first = out:match("^host:    interfaces ([^\n]+)")
    assert.matches("lo (up)", first, 1, true)
    assert.matches("host:    interfaces " .. first .. " (unchanged)", out, 1, true)
  end,
}

describe("examples", function()
  for _, name in ipairs({ "uts", "ipc", "pid", "mount", "user", "net" }) do
    for _, rootless in ipairs({ false, true }) do
      it(("%s.lua runs and shows the isolation%s"):format(name, rootless and " (as an unprivileged user)" or ""), function()
        local before = queue_ids()
        local out, err, ok = run(name, rootless)
        assert.are.equal("", err)
        assert.is_true(ok, out)
        checks[name](out, before, rootless)
      end)
    end
  end
end)

-- The container examples (as root), with the host checked afterwards:
-- nothing of theirs left in /run/nsl, the cgroup trees or the links.
local function host_state()
  local links = T.sh("ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\\n' ' '")
  -- entries only: on a fresh machine the directories themselves appear
  -- with the first container that needs them
  local run = T.sh("find /run/nsl/containers /run/nsl/net /run/nsl/rootfs -mindepth 1 -maxdepth 1 2>/dev/null | sort | tr '\\n' ' '")
  local cg = T.sh("ls -d /sys/fs/cgroup/*/nsl 2>/dev/null | tr '\\n' ' '")
  return links .. "|" .. run .. "|" .. cg
end

local container_checks = {
  hello = function(out)
    assert.matches("inside:  hostname hello, pid 2 (1 is nsl-init), user 0", out, 1, true)
    assert.matches("the container ended: true exit 0", out, 1, true)
  end,
  pipeline = function(out)
    assert.matches("counter got: line 4 from producer", out, 1, true)
    assert.is_nil(out:find("line 3 from", 1, true))
    assert.matches("counter ended: true exit 0", out, 1, true)
  end,
  veth = function(out)
    assert.matches("both sides reached each other", out, 1, true)
  end,
  bridge = function(out)
    assert.matches("all three namespaces reach each other", out, 1, true)
  end,
  web = function(out)
    assert.matches("-> hello from web", out, 1, true)
  end,
  registry = function(out)
    assert.matches("pushed:  127.0.0.1:5000/demo/web:1", out, 1, true)
    assert.matches("pulled:  127.0.0.1:5000/demo/web:1, 1 layer", out, 1, true)
    assert.matches("client:  GET web:8080 -> hello from an image", out, 1, true)
    assert.matches("client ended:\ttrue\texit\t0", out, 1, true)
  end,
  sandbox = function(out)
    for _, line in ipairs({ "confinement: seccomp default+custom", "refused: writing outside /tmp",
      "wrote /tmp/scratch", "refused: running a file it wrote", "refused: sockets",
      "refused: new namespaces", "the sandbox ended: true exit 0" }) do
      assert.matches(line, out, 1, true)
    end
  end,
  supervisor = function(out)
    assert.matches("flaky   exited 3, restart 1 of 3", out, 1, true)
    assert.matches("flaky: up at last\n", out, 1, true)
    assert.matches("flaky   ended well", out, 1, true)
    assert.matches("hungry  killed by its memory limit, given up", out, 1, true)
    assert.matches("steady  ended well", out, 1, true)
    local _, restarts = out:gsub("hungry  started", "")
    assert.are.equal(4, restarts)
  end,
}

describe("container examples", function()
  for _, name in ipairs({ "hello", "pipeline", "veth", "bridge", "web", "supervisor", "sandbox", "registry" }) do
    it(name .. ".lua runs as documented and leaves the host as it was", function()
      local before = host_state()
      local out, err, ok = run(name, false)
      assert.is_true(ok, out .. err)
      container_checks[name](out)
      -- network namespaces go away asynchronously: give them a moment
      local after
      for _ = 1, 50 do
        after = host_state()
        if after == before then break end
        nsl.sleep(0.1)
      end
      assert.are.equal(before, after)
    end)
  end
end)
