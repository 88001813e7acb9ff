-- Capabilities and no_new_privs: changed only in children; the host
-- process is checked to keep what it had.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

-- The capability mask of a /proc/<pid>/status field ("CapEff").
local function mask(status, field)
  return math.tointeger(tonumber(status:match("\n" .. field .. ":%s+(%x+)"), 16))
end

local function count(m)
  local n = 0
  while m ~= 0 do n = n + (m & 1); m = m >> 1 end
  return n
end

local function set_of(list)
  local s = {}
  for _, name in ipairs(list) do s[name] = true end
  return s
end

local FIELDS = { effective = "CapEff", permitted = "CapPrm", inheritable = "CapInh",
                 bounding = "CapBnd", ambient = "CapAmb" }

describe("nsl.caps.get", function()
  for set, field in pairs(FIELDS) do
    it("lists the " .. set .. " set as /proc/self/status shows it", function()
      local m = mask(H.read("/proc/self/status"), field)
      local list = nsl.caps.get(set)
      assert.are.equal(count(m), #list)
      local names = set_of(list)
      -- CAP_CHOWN is bit 0, CAP_SYS_ADMIN bit 21
      assert.are.equal(m & 1 ~= 0, names.CAP_CHOWN == true)
      assert.are.equal(m & (1 << 21) ~= 0, names.CAP_SYS_ADMIN == true)
    end)
  end

  it("gives the effective set by default, with names in capabilities(7) form", function()
    local list = nsl.caps.get()
    assert.are.same(nsl.caps.get("effective"), list)
    for _, name in ipairs(list) do assert.matches("^CAP_[A-Z_]+$", name) end
    assert.is_true(set_of(list).CAP_SYS_ADMIN) -- the suite runs as root
  end)
end)

describe("nsl.caps.keep in a child", function()
  it("leaves only the listed capabilities in every set, bounding included", function()
    local host = H.read("/proc/self/status")
    local status, eff, bnd = T.inside(nil, function()
      assert(nsl.caps.keep({ "CAP_CHOWN", "net_bind_service" }))
      return H.read("/proc/self/status"), table.concat(nsl.caps.get(), ","),
        table.concat(nsl.caps.get("bounding"), ",")
    end)
    local want = (1 << 0) | (1 << 10)
    assert.are.equal(want, mask(status, "CapEff"))
    assert.are.equal(want, mask(status, "CapPrm"))
    assert.are.equal(want, mask(status, "CapBnd"))
    assert.are.equal("CAP_CHOWN,CAP_NET_BIND_SERVICE", eff)
    assert.are.equal("CAP_CHOWN,CAP_NET_BIND_SERVICE", bnd)
    -- the host process still has what it had
    assert.are.equal(host:match("CapEff:%s+%x+"), H.read("/proc/self/status"):match("CapEff:%s+%x+"))
    assert.are.equal(host:match("CapBnd:%s+%x+"), H.read("/proc/self/status"):match("CapBnd:%s+%x+"))
  end)

  it("takes the capabilities away: without CAP_SYS_ADMIN sethostname is refused", function()
    local r, msg, errno = T.inside({ "uts" }, function()
      assert(nsl.caps.keep("CAP_CHOWN"))
      return nsl.sethostname("nsl-spec-nocap")
    end)
    assert.is_nil(r)
    assert.are.equal("sethostname nsl-spec-nocap: Operation not permitted", msg)
    assert.are.equal(1, errno)
  end)

  it("holds across exec, even for root", function()
    local dir = H.tmpdir()
    local ok = T.child(nil, function()
      assert(nsl.caps.keep({ "CAP_KILL" }))
      nsl.exec({ "sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status > " .. dir .. "/caps" })
    end)
    local status = "\n" .. (H.read(dir .. "/caps") or "")
    H.rmtree(dir)
    assert.is_true(ok)
    assert.are.equal(1 << 5, mask(status, "CapEff"))
    assert.are.equal(1 << 5, mask(status, "CapBnd"))
  end)
end)

describe("nsl.caps.drop in a child", function()
  it("removes the listed capabilities from every set and keeps the others", function()
    local status = T.inside(nil, function()
      assert(nsl.caps.drop({ "CAP_SYS_ADMIN", "CAP_NET_ADMIN" }))
      return H.read("/proc/self/status")
    end)
    local host = H.read("/proc/self/status")
    for _, field in ipairs({ "CapEff", "CapPrm", "CapBnd" }) do
      local m = mask(status, field)
      assert.are.equal(0, m & (1 << 21), field)
      assert.are.equal(0, m & (1 << 12), field)
      assert.are.equal(mask(host, field) & ~((1 << 21) | (1 << 12)), m, field)
    end
    assert.is_true(set_of(nsl.caps.get()).CAP_SYS_ADMIN)
  end)

  it("makes what needed the capability fail", function()
    local r, msg, errno = T.inside({ "uts" }, function()
      assert(nsl.caps.drop("sys_admin"))
      return nsl.sethostname("nsl-spec-dropped")
    end)
    assert.is_nil(r)
    assert.are.equal("sethostname nsl-spec-dropped: Operation not permitted", msg)
    assert.are.equal(1, errno)
  end)
end)

describe("nsl.no_new_privs in a child", function()
  it("sets NoNewPrivs for the child and what it runs, not for the host", function()
    local before, ok, after, exec_seen = T.inside(nil, function()
      local b = H.read("/proc/self/status"):match("NoNewPrivs:%s+(%d)")
      local r = nsl.no_new_privs()
      return b, r, H.read("/proc/self/status"):match("NoNewPrivs:%s+(%d)"),
        (T.sh("grep NoNewPrivs /proc/self/status")):match("(%d)")
    end)
    assert.are.equal("0", before)
    assert.is_true(ok)
    assert.are.equal("1", after)
    assert.are.equal("1", exec_seen)
    assert.are.equal("0", H.read("/proc/self/status"):match("NoNewPrivs:%s+(%d)"))
  end)
end)
