-- Argument checking of every public function: a programming error raises
-- a Lua error that names the argument (or option field) and what is
-- accepted, and never crashes the process. Each call runs in a child with
-- its own namespaces, so a call that wrongly went through could not touch
-- the host; the child reports the outcome of its pcall.
local nsl = require "nsl"
local T = require "nsltest"

local NUL = "a\0b"
local LONG65 = ("h"):rep(65)
local fn = function() end

-- { call, pattern the error must match (plain text) }
local cases = {
  -- clone
  { function() return nsl.clone(42, fn) end, "bad argument #1 to 'nsl.clone' (namespace list (string or table) expected, got number)" },
  { function() return nsl.clone("uts,bogus", fn) end, "bad argument #1 to 'nsl.clone' (unknown namespace 'bogus' (expected mnt, mount, uts, ipc, pid, net, user, cgroup, time))" },
  { function() return nsl.clone({ "uts", 3 }, fn) end, "bad argument #1 to 'nsl.clone' (namespace list item 2 must be a string (got number))" },
  { function() return nsl.clone({ uts = true }, fn) end, "bad argument #1 to 'nsl.clone' (namespace list must be an array of names (found key 'uts'))" },
  { function() return nsl.clone("uts\0pid", fn) end, "bad argument #1 to 'nsl.clone' (string contains a NUL byte)" },
  { function() return nsl.clone("uts") end, "bad argument #2 to 'nsl.clone' (function expected, got no value)" },
  { function() return nsl.clone("uts", "fn") end, "bad argument #2 to 'nsl.clone' (function expected, got string)" },
  { function() return nsl.clone("uts", fn, 5) end, "bad argument #3 to 'nsl.clone' (table expected, got number)" },
  { function() return nsl.clone("uts", fn, {}, 1) end, "bad argument #4 to 'nsl.clone' (too many arguments (expected at most 3, got 4))" },
  { function() return nsl.clone("uts", fn, { arg = {} }) end, "clone options: unknown field 'arg' (expected args, uid_map, gid_map, setgroups, pdeathsig" },
  { function() return nsl.clone("uts", fn, { args = "x" }) end, "clone options: field 'args' must be a table (got string)" },
  { function() return nsl.clone("uts", fn, { args = { n = -1 } }) end, "clone options: field 'args.n' must be a non-negative integer" },
  { function() return nsl.clone("user", fn, { uid_map = 0 }) end, "clone options: uid_map must be a table of {inside, outside, count} (got number)" },
  { function() return nsl.clone("user", fn, { uid_map = {} }) end, "clone options: uid_map must have 1 to 340 entries (got 0)" },
  { function() return nsl.clone("user", fn, { uid_map = { { 0, 1000 } } }) end, "clone options: uid_map entry 1 must have 3 numbers {inside, outside, count}" },
  { function() return nsl.clone("user", fn, { uid_map = { { -1, 1000, 1 } } }) end, "clone options: uid_map entry 1: inside id must be an integer from 0 to 4294967294" },
  { function() return nsl.clone("user", fn, { gid_map = { { 0, -5, 1 } } }) end, "clone options: gid_map entry 1: outside id must be an integer from 0 to 4294967294" },
  { function() return nsl.clone("user", fn, { gid_map = { { 0, 1000, 0 } } }) end, "clone options: gid_map entry 1: count must be at least 1" },
  { function() return nsl.clone("user", fn, { uid_map = { { 0, 4294967294, 2 } } }) end, "clone options: uid_map entry 1: count must be at least 1 and the ranges end below 4294967295" },
  { function() return nsl.clone("user", fn, { uid_map = { { 0.5, 1000, 1 } } }) end, "clone options: uid_map entry 1: inside id must be an integer" },
  { function() return nsl.clone("user", fn, { setgroups = "maybe" }) end, "clone options: setgroups must be \"deny\" or \"allow\"" },
  { function() return nsl.clone("uts", fn, { uid_map = { { 0, 0, 1 } } }) end, "clone options: uid_map, gid_map and setgroups need the 'user' namespace" },
  { function() return nsl.clone("uts", fn, { pdeathsig = "NOPE" }) end, "unknown signal 'NOPE'" },
  { function() return nsl.clone("uts", fn, { pdeathsig = 1000 }) end, "signal out of range" },
  -- unshare
  { function() return nsl.unshare() end, "bad argument #1 to 'nsl.unshare' (namespace list expected)" },
  { function() return nsl.unshare("netns") end, "bad argument #1 to 'nsl.unshare' (unknown namespace 'netns'" },
  { function() return nsl.unshare(true) end, "bad argument #1 to 'nsl.unshare' (namespace list (string or table) expected, got boolean)" },
  { function() return nsl.unshare("uts", "ipc") end, "bad argument #2 to 'nsl.unshare' (too many arguments (expected at most 1, got 2))" },
  -- setns
  { function() return nsl.setns() end, "bad argument #1 to 'nsl.setns' (pid, namespace path or netns name expected, got no value)" },
  { function() return nsl.setns(-3) end, "bad argument #1 to 'nsl.setns' (pid out of range (1 to 2147483647))" },
  { function() return nsl.setns(1.5) end, "bad argument #1 to 'nsl.setns' (pid must be an integer)" },
  { function() return nsl.setns("/proc/self/ns/net\0x") end, "bad argument #1 to 'nsl.setns' (string contains a NUL byte)" },
  { function() return nsl.setns("a/b") end, "bad argument #1 to 'nsl.setns' (invalid namespace name)" },
  { function() return nsl.setns(nsl.getpid(), "bogus") end, "bad argument #2 to 'nsl.setns' (unknown namespace 'bogus'" },
  { function() return nsl.setns("/proc/self/ns/net", "net,uts") end, "bad argument #2 to 'nsl.setns' (a path names a single namespace)" },
  { function() return nsl.setns(nsl.getpid(), "net", 1) end, "bad argument #3 to 'nsl.setns' (too many arguments" },
  -- nsid
  { function() return nsl.nsid(0, "net") end, "bad argument #1 to 'nsl.nsid' (pid out of range" },
  { function() return nsl.nsid("me", "net") end, "bad argument #1 to 'nsl.nsid' (pid, \"self\" or a path expected)" },
  { function() return nsl.nsid({}, "net") end, "bad argument #1 to 'nsl.nsid' (string expected, got table)" },
  { function() return nsl.nsid("self") end, "bad argument #2 to 'nsl.nsid' (namespace name expected)" },
  { function() return nsl.nsid("self", "uts,net") end, "bad argument #2 to 'nsl.nsid' (exactly one namespace expected)" },
  { function() return nsl.nsid("self", "nett") end, "bad argument #2 to 'nsl.nsid' (unknown namespace 'nett'" },
  { function() return nsl.nsid("self", "net", 1) end, "bad argument #3 to 'nsl.nsid' (too many arguments" },
  -- idmap, setgroups
  { function() return nsl.idmap(-1, "uid", { { 0, 0, 1 } }) end, "bad argument #1 to 'nsl.idmap' (pid out of range" },
  { function() return nsl.idmap("self", "pid", { { 0, 0, 1 } }) end, "bad argument #2 to 'nsl.idmap' (invalid option 'pid')" },
  { function() return nsl.idmap("self", "uid") end, "bad argument #3 to 'nsl.idmap' (table expected, got no value)" },
  { function() return nsl.idmap("self", "uid", { { 0, -1, 1 } }) end, "id map entry 1: outside id must be an integer from 0 to 4294967294" },
  { function() return nsl.idmap("self", "uid", { "0 0 1" }) end, "id map entry 1 must be a table {inside, outside, count}" },
  { function() return nsl.idmap("self", "uid", { { 0, 0, 1 } }, 1) end, "bad argument #4 to 'nsl.idmap' (too many arguments" },
  { function() return nsl.setgroups("self", "yes") end, "bad argument #2 to 'nsl.setgroups' (invalid option 'yes')" },
  { function() return nsl.setgroups(nil, "deny") end, "bad argument #1 to 'nsl.setgroups' (integer expected, got nil)" },
  { function() return nsl.setgroups("self", "deny", 1) end, "bad argument #3 to 'nsl.setgroups' (too many arguments" },
  -- UTS
  { function() return nsl.sethostname(LONG65) end, "bad argument #1 to 'nsl.sethostname' (longer than 64 bytes)" },
  { function() return nsl.sethostname(NUL) end, "bad argument #1 to 'nsl.sethostname' (string contains a NUL byte)" },
  { function() return nsl.sethostname(123) end, "bad argument #1 to 'nsl.sethostname' (string expected, got number)" },
  { function() return nsl.sethostname() end, "bad argument #1 to 'nsl.sethostname' (string expected, got no value)" },
  { function() return nsl.sethostname("a", "b") end, "bad argument #2 to 'nsl.sethostname' (too many arguments" },
  { function() return nsl.setdomainname(LONG65) end, "bad argument #1 to 'nsl.setdomainname' (longer than 64 bytes)" },
  { function() return nsl.setdomainname(NUL) end, "bad argument #1 to 'nsl.setdomainname' (string contains a NUL byte)" },
  { function() return nsl.setdomainname({}) end, "bad argument #1 to 'nsl.setdomainname' (string expected, got table)" },
  { function() return nsl.gethostname(1) end, "bad argument #1 to 'nsl.gethostname' (too many arguments (expected at most 0, got 1))" },
  { function() return nsl.getdomainname("x") end, "bad argument #1 to 'nsl.getdomainname' (too many arguments" },
  -- mount, umount, pivot_root
  { function() return nsl.mount("none", "/mnt", "tmpfs", "ro,bogus") end, "bad argument #4 to 'nsl.mount' (unknown mount flag 'bogus' (expected ro, rw, nosuid, nodev, noexec, bind, rec, remount, move, private, slave, shared, unbindable, relatime, noatime, strictatime" },
  { function() return nsl.mount("none", "/mnt", "tmpfs", { "ro", false }) end, "bad argument #4 to 'nsl.mount' (mount flag list item 2 must be a string (got boolean))" },
  { function() return nsl.mount("none", "/mnt", "tmpfs", 7) end, "bad argument #4 to 'nsl.mount' (mount flag list (string or table) expected, got number)" },
  { function() return nsl.mount("none") end, "bad argument #2 to 'nsl.mount' (string expected, got no value)" },
  { function() return nsl.mount("none", "/mnt\0/x", "tmpfs") end, "bad argument #2 to 'nsl.mount' (string contains a NUL byte)" },
  { function() return nsl.mount(NUL, "/mnt", "tmpfs") end, "bad argument #1 to 'nsl.mount' (string contains a NUL byte)" },
  { function() return nsl.mount(1, "/mnt", "tmpfs") end, "bad argument #1 to 'nsl.mount' (string expected, got number)" },
  { function() return nsl.mount("none", "/mnt", {}, nil) end, "bad argument #3 to 'nsl.mount' (string expected, got table)" },
  { function() return nsl.mount("none", "/mnt", "tmpfs", nil, "size=1m\0") end, "bad argument #5 to 'nsl.mount' (string contains a NUL byte)" },
  { function() return nsl.mount("none", "/" .. ("x"):rep(5000), "tmpfs") end, "bad argument #2 to 'nsl.mount' (longer than 4096 bytes)" },
  { function() return nsl.mount("none", "/mnt", "tmpfs", nil, nil, 1) end, "bad argument #6 to 'nsl.mount' (too many arguments" },
  { function() return nsl.umount() end, "bad argument #1 to 'nsl.umount' (string expected, got no value)" },
  { function() return nsl.umount("/mnt", "lazy") end, "bad argument #2 to 'nsl.umount' (unknown umount flag 'lazy' (expected detach, force, expire, nofollow))" },
  { function() return nsl.umount("/mnt", "detach", 1) end, "bad argument #3 to 'nsl.umount' (too many arguments" },
  { function() return nsl.pivot_root() end, "bad argument #1 to 'nsl.pivot_root' (string expected, got no value)" },
  { function() return nsl.pivot_root("/new", 5) end, "bad argument #2 to 'nsl.pivot_root' (string expected, got number)" },
  { function() return nsl.pivot_root("/new", "/old", 1) end, "bad argument #3 to 'nsl.pivot_root' (too many arguments" },
  -- exec, wait, kill
  { function() return nsl.exec() end, "bad argument #1 to 'nsl.exec' (table expected, got no value)" },
  { function() return nsl.exec("ls") end, "bad argument #1 to 'nsl.exec' (table expected, got string)" },
  { function() return nsl.exec({}) end, "bad argument #1 to 'nsl.exec' (argv must have at least one string)" },
  { function() return nsl.exec({ "ls", {} }) end, "bad argument #1 to 'nsl.exec' (argv[2] must be a string (got table))" },
  { function() return nsl.exec({ "ls", NUL }) end, "bad argument #1 to 'nsl.exec' (argv[2] contains a NUL byte)" },
  { function() return nsl.exec({ "true" }, 1) end, "bad argument #2 to 'nsl.exec' (table expected, got number)" },
  { function() return nsl.exec({ "true" }, { environ = {} }) end, "exec options: unknown field 'environ' (expected env, keep_fds)" },
  { function() return nsl.exec({ "true" }, { env = "A=b" }) end, "exec options: env must be a table (got string)" },
  { function() return nsl.exec({ "true" }, { env = { "A=b" } }) end, "exec options: env keys must be strings (got number)" },
  { function() return nsl.exec({ "true" }, { env = { A = {} } }) end, "exec options: env.A must be a string (got table)" },
  { function() return nsl.exec({ "true" }, { env = { ["A=B"] = "c" } }) end, "exec options: env key 'A=B' is not a valid variable name" },
  { function() return nsl.exec({ "true" }, { env = { A = NUL } }) end, "exec options: env.A contains a NUL byte" },
  { function() return nsl.exec({ "true" }, { keep_fds = 3 }) end, "exec options: keep_fds must be a list of descriptors" },
  { function() return nsl.exec({ "true" }, { keep_fds = { -1 } }) end, "exec options: keep_fds[1] must be a descriptor number" },
  { function() return nsl.exec({ "true" }, {}, 1) end, "bad argument #3 to 'nsl.exec' (too many arguments" },
  { function() return nsl.wait() end, "bad argument #1 to 'nsl.wait' (integer expected, got no value)" },
  { function() return nsl.wait(-1) end, "bad argument #1 to 'nsl.wait' (pid out of range (1 to 2147483647))" },
  { function() return nsl.wait(2 ^ 40) end, "bad argument #1 to 'nsl.wait' (pid out of range" },
  { function() return nsl.wait("x") end, "bad argument #1 to 'nsl.wait' (integer expected, got string)" },
  { function() return nsl.wait(1, 2) end, "bad argument #2 to 'nsl.wait' (too many arguments" },
  { function() return nsl.kill(0, "TERM") end, "bad argument #1 to 'nsl.kill' (pid 0 and -1 are not accepted (they signal many processes))" },
  { function() return nsl.kill(-1, "TERM") end, "bad argument #1 to 'nsl.kill' (pid 0 and -1 are not accepted" },
  { function() return nsl.kill(nsl.getpid(), "BOGUS") end, "bad argument #2 to 'nsl.kill' (unknown signal 'BOGUS'" },
  { function() return nsl.kill(nsl.getpid(), -9) end, "bad argument #2 to 'nsl.kill' (signal out of range" },
  { function() return nsl.kill(nsl.getpid(), 65) end, "bad argument #2 to 'nsl.kill' (signal out of range" },
  { function() return nsl.kill(nsl.getpid(), "TE\0RM") end, "bad argument #2 to 'nsl.kill' (string contains a NUL byte)" },
  { function() return nsl.kill(nsl.getpid(), {}) end, "bad argument #2 to 'nsl.kill' (string expected, got table)" },
  { function() return nsl.kill(nsl.getpid(), 0, 1) end, "bad argument #3 to 'nsl.kill' (too many arguments" },
  -- ids
  { function() return nsl.getpid(1) end, "bad argument #1 to 'nsl.getpid' (too many arguments" },
  { function() return nsl.getppid(1) end, "bad argument #1 to 'nsl.getppid' (too many arguments" },
  { function() return nsl.getuid(1) end, "bad argument #1 to 'nsl.getuid' (too many arguments" },
  { function() return nsl.geteuid(1) end, "bad argument #1 to 'nsl.geteuid' (too many arguments" },
  { function() return nsl.getgid(1) end, "bad argument #1 to 'nsl.getgid' (too many arguments" },
  -- capabilities
  { function() return nsl.caps.get("effectiv") end, "bad argument #1 to 'get' (invalid option 'effectiv')" },
  { function() return nsl.caps.get("bounding", 1) end, "bad argument #2 to 'get' (too many arguments" },
  { function() return nsl.caps.keep({ "CAP_CHOWN", "CAP_FLY" }) end, "bad argument #1 to 'keep' (unknown capability 'CAP_FLY'" },
  { function() return nsl.caps.keep("chown,fly") end, "bad argument #1 to 'keep' (unknown capability 'fly'" },
  { function() return nsl.caps.keep({ 1 }) end, "bad argument #1 to 'keep' (capability list item 1 must be a string (got number))" },
  { function() return nsl.caps.keep() end, "bad argument #1 to 'keep' (capability list (string or table) expected, got no value)" },
  { function() return nsl.caps.keep("CAP_CHOWN\0") end, "bad argument #1 to 'keep' (string contains a NUL byte)" },
  { function() return nsl.caps.drop({ "CAP_NOPE" }) end, "bad argument #1 to 'drop' (unknown capability 'CAP_NOPE'" },
  { function() return nsl.caps.drop(5) end, "bad argument #1 to 'drop' (capability list (string or table) expected, got number)" },
  { function() return nsl.caps.drop({}, 1) end, "bad argument #2 to 'drop' (too many arguments" },
  { function() return nsl.no_new_privs(true) end, "bad argument #1 to 'nsl.no_new_privs' (too many arguments" },
}

-- Everything the children may touch is theirs alone.
local SANDBOX = { "uts", "ipc", "net", "mnt", "pid", "cgroup" }

describe("argument checking", function()
  for i, case in ipairs(cases) do
    it(("raises a clear error, case %d: %s"):format(i, case[2]:sub(1, 90)), function()
      local ok, msg = T.inside(SANDBOX, function()
        assert(nsl.mount(nil, "/", nil, "rec,private"))
        return pcall(case[1])
      end)
      assert.is_false(ok)
      assert.is_string(msg)
      -- the function's name depends on how it was reached ('nsl.clone'
      -- from a script, 'clone' from busted): any name will do
      local function norm(s) return (s:gsub("to '[%w_.]+'", "to 'F'")) end
      assert.is_truthy(norm(msg):find(norm(case[2]), 1, true), ("message was: %s"):format(msg))
    end)
  end

  it("leaves the process able to go on after each error", function()
    for _, case in ipairs(cases) do
      local ok = T.inside(SANDBOX, function()
        pcall(case[1])
        return nsl.getpid() == 1
      end)
      assert.is_true(ok)
    end
  end)
end)
