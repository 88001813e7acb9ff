-- The namespace examples, run as a user would run them (root, and for
-- each also as an unprivileged uid), with the key lines of their output
-- checked. Only the examples of the foundation are run here; the others
-- (hello.lua, veth.lua, bridge.lua, ...) have their own specs.
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
