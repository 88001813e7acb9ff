-- Writes the seed corpus, corpus/<target>/<name>, from the readable
-- descriptions below, in the byte format harness.c decodes, and
-- flags.dict:
--
--   lua5.4 seeds.lua        (make -C fuzz seeds)
--
-- The word lists are read from harness.c itself, so that a word's index
-- here is the one the harness uses.

local HARNESS = "harness.c"

-- ---- the word lists of harness.c --------------------------------------------

local function c_string(body)
  local map = { n = "\n", t = "\t", v = "\v", ["\\"] = "\\", ['"'] = '"' }
  return (body:gsub("\\(x%x%x)", function(h) return string.char(tonumber(h:sub(2), 16)) end)
    :gsub("\\(.)", function(c) return map[c] or c end))
end

local function word_lists()
  local f = assert(io.open(HARNESS))
  local text = f:read("a")
  f:close()
  local lists = {}
  for name, body in text:gmatch("static const char %*const (%w+_words)%[%] = (%b{})") do
    local words, i = {}, 1
    while true do
      local start = body:find('"', i, true)
      if not start then break end
      local j = start + 1
      while body:sub(j, j) ~= '"' do
        j = j + (body:sub(j, j) == "\\" and 2 or 1)
      end
      words[#words + 1] = c_string(body:sub(start + 1, j - 1))
      i = j + 1
    end
    lists[name] = words
  end
  return lists
end

local LISTS = word_lists()

-- ---- encoding ----------------------------------------------------------------

local ROOT, FN, HOSTILE = {}, {}, {} -- the special values of tag 11

local function encoder(words)
  local index = {}
  for i, w in ipairs(words) do index[w] = index[w] or i - 1 end
  local enc
  function enc(v, out)
    out = out or {}
    local t = type(v)
    if v == nil then
      out[#out + 1] = "\0"
    elseif v == ROOT or v == FN or v == HOSTILE then
      out[#out + 1] = string.char(11, v == ROOT and 0 or v == FN and 1 or 3)
    elseif t == "boolean" then
      out[#out + 1] = string.char(v and 2 or 1)
    elseif math.type(v) == "integer" then
      if v >= -128 and v <= 127 then
        out[#out + 1] = string.pack("<Bb", 3, v)
      elseif v >= 0 and v <= 0xffffffff then
        out[#out + 1] = string.pack("<BI4", 4, v)
      else
        out[#out + 1] = string.pack("<Bi8", 5, v)
      end
    elseif t == "number" then
      out[#out + 1] = string.pack("<Bd", 6, v)
    elseif t == "string" then
      if index[v] then
        out[#out + 1] = string.char(8, index[v])
      else
        assert(#v < 64, "a seed string not in the word list must be shorter than 64 bytes")
        out[#out + 1] = string.char(7, #v) .. v
      end
    elseif t == "table" then
      local n, count = #v, 0
      for _ in pairs(v) do count = count + 1 end
      assert(count < 8, "at most 7 entries per table")
      if count == n then
        out[#out + 1] = string.char(9, n)
        for i = 1, n do enc(v[i], out) end
      else
        out[#out + 1] = string.char(10, count)
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        for _, k in ipairs(keys) do
          enc(k, out)
          enc(v[k], out)
        end
      end
    else
      error("cannot encode a " .. t)
    end
    return out
  end
  return function(...)
    local out = {}
    for i = 1, select("#", ...) do enc((select(i, ...)), out) end
    return table.concat(out)
  end, index
end

-- ---- the seeds ---------------------------------------------------------------

local seeds = {}
local function seed(target, name, bytes) seeds[#seeds + 1] = { target, name, bytes } end

-- flags: kind (0 namespaces, 1 mount, 2 umount, 3 capabilities, 4 signal,
-- 5 namespace target), form (0 string, 1 array split at 0xff, 2 a value)
do
  local enc = encoder(LISTS.flag_words)
  local function f(name, kind, form, payload) seed("flags", name, string.char(kind, form) .. payload) end
  f("ns-string", 0, 0, "uts,pid net")
  f("ns-array", 0, 1, "mnt\xffuser\xffcgroup")
  f("ns-nul", 0, 0, "uts\0pid")
  f("ns-number-item", 0, 1, "uts\xff\xfe\x05")
  f("ns-value", 0, 2, enc({ "uts", "time" }))
  f("ns-map", 0, 2, enc({ uts = true }))
  f("mount-string", 1, 0, "bind,ro,rec nosuid")
  f("mount-array", 1, 1, "remount\xffbind\xffro")
  f("umount-string", 2, 0, "detach nofollow")
  f("umount-empty", 2, 0, " , ,")
  f("caps-string", 3, 0, "CAP_CHOWN chown,cap_net_raw")
  f("caps-array", 3, 1, "kill\xffCAP_SYS_ADMIN")
  f("signal-name", 4, 0, "SIGTERM")
  f("signal-lower", 4, 0, "hup")
  f("signal-number", 4, 2, enc(9))
  f("signal-float", 4, 2, enc(9.5))
  f("target-path", 5, 0, "/proc/1/ns/net")
  f("target-relative", 5, 0, "./ns")
  f("target-name", 5, 0, "blue")
  f("target-pid", 5, 2, enc(42))
  f("target-bad", 5, 0, "a/b")
end

-- idmap: 1, count (2 bytes), entries (a mark byte 0 and three 32-bit ids)
-- or 0 and one value
do
  local enc = encoder(LISTS.no_words)
  local function map(name, entries)
    local out = { string.pack("<BI2", 1, #entries) }
    for _, e in ipairs(entries) do out[#out + 1] = string.pack("<BI4I4I4", 0, e[1], e[2], e[3]) end
    seed("idmap", name, table.concat(out))
  end
  map("root", { { 0, 1000, 1 } })
  map("range", { { 0, 100000, 65536 } })
  map("two", { { 0, 1000, 1 }, { 1, 100000, 65535 } })
  map("last-id", { { 4294967294, 0, 1 } })
  map("overflow", { { 1, 4294967294, 2 } })
  map("zero-count", { { 0, 0, 0 } })
  local many = {}
  for i = 1, 300 do many[i] = { i * 10, i * 10, 10 } end
  map("many", many)
  seed("idmap", "value-floats", "\0" .. enc({ { 0.0, 1000.0, 1.0 } }))
  seed("idmap", "value-strings", "\0" .. enc({ { "0", "1000", "1" } }))
  seed("idmap", "value-short", "\0" .. enc({ { 0, 1000 } }))
  seed("idmap", "value-negative", "\0" .. enc({ { -1, 1000, 1 } }))
end

-- net: operation (0 addr_add, 1 addr_del, 2 route_add, 3 route_del,
-- 4 set, 5 up, 6 down, 7 links, 8 routes), argument count, arguments
do
  local enc = encoder(LISTS.net_words)
  local function n(name, op, ...)
    seed("net", name, string.char(op, select("#", ...)) .. enc(...))
  end
  n("addr-add", 0, "lo", "10.1.1.1/24")
  n("addr-add-v6", 0, "lo", "fd00::1/64")
  n("addr-del", 1, "lo", "10.1.1.1/24")
  n("addr-bad-prefix", 0, "lo", "1.2.3.4/33")
  n("route-gw", 2, "10.1.1.0/24", { gw = "10.1.1.2", dev = "lo" })
  n("route-default", 2, "default", { dev = "lo", metric = 5 })
  n("route-v6", 2, "fd00::/64", { gw = "::1" })
  n("route-host-bits", 2, "10.1.1.1/24", { dev = "lo" })
  n("route-del", 3, "default")
  n("set", 4, "lo", { up = true, mtu = 1500, mac = "02:00:00:00:00:01" })
  n("set-name", 4, "lo", { name = "eth0", master = false })
  n("set-netns-name", 4, "lo", {}, { netns = "blue" })
  n("up", 5, "lo")
  n("down", 6, "lo")
  n("links", 7)
  n("routes-family", 8, { family = "inet6" })
end

-- mount: 0 mount (source, target, fstype, flags, data) or 1 umount
-- (target, flags); the harness puts every target under a missing directory
do
  local enc = encoder(LISTS.mount_words)
  local function m(name, which, ...) seed("mount", name, string.char(which) .. enc(...)) end
  m("tmpfs", 0, "tmpfs", "t", "tmpfs", "nosuid,nodev", "size=64m")
  m("bind-ro", 0, "/", "t", nil, { "bind", "ro", "rec" }, nil)
  m("remount", 0, nil, "t", nil, "remount,bind,ro", nil)
  m("propagation", 0, nil, "t", nil, "rec,private", nil)
  m("move", 0, "/", "t", nil, "move", nil)
  m("bad-flag", 0, "none", "t", "tmpfs", "ro,bogus", nil)
  m("umount", 1, "t", "detach")
  m("umount-array", 1, "t", { "force", "expire" })
end

-- spec: a byte (bit 0: a table of fields named by words, bit 1: add
-- rootfs = the temporary root when missing), then the spec
do
  local enc, index = encoder(LISTS.spec_words)
  local function spec(name, t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    local out = { string.char(3, #keys) }
    for _, k in ipairs(keys) do
      out[#out + 1] = string.char((assert(index[k], k)))
      out[#out + 1] = enc(t[k])
    end
    seed("spec", name, table.concat(out))
  end
  spec("minimal", { command = { "/bin/sh" } })
  spec("hostname", { name = "web1", hostname = "web1", command = { "sh", "-c", "true" } })
  spec("namespaces", { namespaces = { "mnt", "uts", "pid", "ipc" }, net = "host" })
  spec("veth", { net = { veth = { host = "veth0", peer = "eth0" }, address = "10.1.1.1/24",
    host_address = "10.1.1.2/24" } })
  spec("bridge", { net = { bridge = "nsl0", address = "10.1.1.1/24", gateway = "10.1.1.2" } })
  spec("user", { user = { uid_map = { { 0, 1000, 1 } }, gid_map = { { 0, 1000, 1 } } } })
  spec("mounts", { mounts = { { type = "tmpfs", target = "/tmp", data = "size=64m" },
    { source = "/tmp", target = "/mnt", bind = true, ro = true } } })
  spec("limits", { limits = { memory = "64M", pids = 64, cpu = 0.5, cpuset = "0-1" } })
  spec("rlimits", { rlimits = { nofile = 1024, core = { 0, "unlimited" } } })
  spec("env", { env = { PATH = "/bin", HOME = false }, cwd = "/tmp" })
  spec("capabilities", { capabilities = { "CAP_CHOWN", "chown" } })
  spec("hardening", { hardening = { no_new_privs = false, masked_paths = { "/proc" } } })
  spec("detach", { detach = { log_max = "8M" }, stop_timeout = 5, init = true })
  spec("image", { rootfs = { image = ROOT, writable = true, size = "64m" } })
  spec("functions", { setup = FN, on_start = FN, command = FN })
  spec("hostile", { limits = HOSTILE })
  seed("spec", "not-a-table", "\0" .. enc("web1"))
end

-- plan: a byte (bit 0: opts given too), then the steps [and the opts]
do
  local enc = encoder(LISTS.plan_words)
  local function plan(name, steps, opts)
    seed("plan", name, string.char(opts and 1 or 0) .. enc(steps) .. (opts and enc(opts) or ""))
  end
  plan("dev", {
    { "mount", "private", false, "/", false, "rec,private" },
    { "resolve", "mkdir /dev", "/", "dev", "dir" },
    { "mount", "mount /dev", "tmpfs", "", "tmpfs", "nosuid,nodev", "mode=755" },
    { "touch", "create /dev/null", "x", 438 },
    { "symlink", "link", "/proc", "x" },
  }, { status = 3 })
  plan("exec", { { "umask", "umask", 18 }, { "exec", "exec", { "sh" }, { PATH = "/" }, true } })
  plan("limits", { { "rlimit", "rlimit nofile", "nofile", 10, "unlimited" },
                   { "caps", "capabilities", -1 }, { "nnp", "nnp" } })
  plan("try", { { "mount", "mount /proc", "proc", "/proc", "proc", "nosuid,nodev", try = true },
                { "mount", "mount /proc", "/proc", "/proc", false, "bind,ro", otherwise = true } })
  plan("fds", { { "setns", "x", 3 }, { "dup2", "x", 3, 1 }, { "close", "x", 4 },
                { "ready", "x" }, { "init", "x" } }, { status = 3, go = 4 })
  plan("bad", { { "fly", "x" }, { "mkdir" } })
end

-- ---- writing -------------------------------------------------------------------

for _, s in ipairs(seeds) do
  local dir = "corpus/" .. s[1]
  os.execute("mkdir -p " .. dir)
  local f = assert(io.open(dir .. "/" .. s[2], "wb"))
  f:write(s[3])
  f:close()
end
print(("seeds: %d files in corpus/"):format(#seeds))

-- The flags target also reads raw strings: its words as a libFuzzer
-- dictionary (-dict=flags.dict).
do
  local f = assert(io.open("flags.dict", "w"))
  f:write("# written by seeds.lua from flag_words in harness.c\n")
  for _, w in ipairs(LISTS.flag_words) do
    f:write('"', (w:gsub("[^%w%p ]", function(c) return ("\\x%02x"):format(c:byte()) end)
      :gsub('"', '\\"')), '"\n')
  end
  f:close()
end
