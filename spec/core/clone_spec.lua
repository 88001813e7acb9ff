-- The pitfalls of running Lua in a cloned child (issue 2, item 3). Each
-- case is a script run by the nsl binary, so that what it prints, and how
-- often, is seen as a user would see it.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

-- Runs a script with `nsl run`; returns stdout, stderr and the triple.
local function run(text)
  local path = T.script(text)
  local err = os.tmpname()
  local out, ok, how, code = T.sh(("%s run %s 2>%s"):format(T.quote(T.bin), path, err))
  local errtext = H.read(err)
  os.remove(path)
  os.remove(err)
  return out, errtext, ok, how, code
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("nsl.clone and stdio", function()
  it("prints what was buffered before the clone once, not again from the child", function()
    -- stdout is a pipe here, so it is fully buffered
    local out = run([[
      io.write("before-clone ")
      local pid = assert(nsl.clone(nil, function() io.write("in-child ") end))
      nsl.wait(pid)
      io.write("after-wait\n")
    ]])
    assert.are.equal(1, count(out, "before%-clone"))
    assert.are.equal(1, count(out, "in%-child"))
    assert.are.equal("before-clone in-child after-wait", out)
  end)

  it("writes what a buffered file held before the clone once", function()
    local path = os.tmpname()
    run(([[
      local f = assert(io.open(%q, "w"))
      f:write("parent-data\n")
      local pid = assert(nsl.clone(nil, function() end))
      nsl.wait(pid)
      f:close()
    ]]):format(path))
    local data = H.read(path)
    os.remove(path)
    assert.are.equal("parent-data\n", data)
  end)

  it("flushes what the child printed before it exits", function()
    local out = run([[
      local pid = assert(nsl.clone(nil, function() io.write("unflushed-in-child") end))
      nsl.wait(pid)
    ]])
    assert.are.equal("unflushed-in-child", out)
  end)
end)

describe("an error raised in the child", function()
  it("is not caught by a pcall of the parent's code", function()
    local out, err = run([[
      local ok, e = pcall(function()
        local pid = assert(nsl.clone(nil, function() error("child-error") end))
        print("waited", nsl.wait(pid))
      end)
      print("pcall-returned", ok, nsl.getpid())
    ]])
    assert.are.equal(1, count(out, "pcall%-returned"))
    assert.matches("pcall%-returned\ttrue", out)
    assert.matches("waited\tnil\texit\t1", out)
    assert.matches("child%-error", err)
    assert.matches("stack traceback:", err, 1, true)
  end)

  it("raised while reading opts.args is raised in the parent, before any child", function()
    local out = run([[
      local args = setmetatable({}, { __len = function() error("len-error") end })
      local ok, e = pcall(nsl.clone, nil, function() print("child-ran") end, { args = args })
      print("pcall-returned", ok, e)
    ]])
    assert.are.equal(1, count(out, "pcall%-returned"))
    assert.matches("pcall%-returned\tfalse\t.*len%-error", out)
    assert.are.equal(0, count(out, "child%-ran"))
  end)

  it("raised by an __index of opts.args stays in the child", function()
    local out, err = run([[
      local args = setmetatable({ n = 1 }, { __index = function() error("index-error") end })
      local ok = pcall(function()
        local pid = assert(nsl.clone(nil, function() print("child-ran") end, { args = args }))
        print("waited", nsl.wait(pid))
      end)
      print("pcall-returned", ok)
    ]])
    assert.are.equal(1, count(out, "pcall%-returned"))
    assert.are.equal(0, count(out, "child%-ran"))
    assert.matches("waited\tnil\texit\t1", out)
    assert.matches("index%-error", err)
  end)

  it("a yield across the child's function fails in the child only", function()
    local out = run([[
      local co = coroutine.wrap(function()
        local pid = assert(nsl.clone(nil, function() coroutine.yield("yielded") end))
        print("waited", nsl.wait(pid))
        return "done"
      end)
      print("resumed", co())
    ]])
    assert.are.equal(1, count(out, "resumed"))
    assert.matches("waited\tnil\texit\t1", out)
    assert.matches("resumed\tdone", out)
  end)
end)

describe("the child", function()
  it("never returns into the caller's script", function()
    local out = run([[
      local pid = assert(nsl.clone(nil, function() return 0 end))
      print("after-clone", nsl.getpid() == tonumber(arg.pid or nsl.getpid()))
      print("wait", nsl.wait(pid))
      print("end-of-script")
    ]])
    assert.are.equal(1, count(out, "after%-clone"))
    assert.are.equal(1, count(out, "end%-of%-script"))
  end)

  it("does not run the finalizers of the parent's objects: its garbage, or live ones at exit", function()
    local log = os.tmpname()
    run(([[
      local function logger(tag)
        return setmetatable({}, { __gc = function()
          local f = io.open(%q, "a"); f:write(tag, " ", nsl.getpid(), "\n"); f:close()
        end })
      end
      local dead = logger("dead"); dead = nil
      local alive = logger("alive")
      local pid = assert(nsl.clone(nil, function()
        collectgarbage(); collectgarbage()
        return alive and 0 or 1
      end))
      nsl.wait(pid)
      local f = io.open(%q, "a"); f:write("parent ", nsl.getpid(), "\n"); f:close()
      alive = nil
      collectgarbage(); collectgarbage()
    ]]):format(log, log))
    local text = H.read(log)
    os.remove(log)
    local parent = text:match("parent (%d+)")
    assert.is_string(parent)
    local tags = {}
    for tag, pid in text:gmatch("(%a+) (%d+)") do
      assert.are.equal(parent, pid, tag .. " ran in another process")
      tags[#tags + 1] = tag
    end
    -- the dead object's finalizer ran once, at the clone, in the parent;
    -- the live one's once, when the parent let it go
    assert.are.same({ "dead", "parent", "alive" }, tags)
  end)

  it("does not close the caller's to-be-closed variables", function()
    local log = os.tmpname()
    run(([[
      do
        local x <close> = setmetatable({}, { __close = function()
          local f = io.open(%q, "a"); f:write("closed ", nsl.getpid(), "\n"); f:close()
        end })
        local pid = assert(nsl.clone(nil, function() error("leave") end))
        nsl.wait(pid)
      end
    ]]):format(log))
    local text = H.read(log)
    os.remove(log)
    assert.are.equal(1, count(text, "closed"))
  end)
end)

describe("descriptors around clone", function()
  local function fd_count()
    return #(T.sh("ls /proc/" .. nsl.getpid() .. "/fd"):gsub("%s+$", ""):gsub("[^%s]+", "x"):gsub("%s", ""))
  end

  it("leave none behind in the parent", function()
    -- Files dropped by earlier tests would be closed by the collection
    -- clone makes, and lower the count: collect them first.
    collectgarbage("collect")
    collectgarbage("collect")
    local before = fd_count()
    for _ = 1, 5 do
      assert.is_true((T.child({ "uts" }, function() end)))
    end
    assert.are.equal(before, fd_count())
  end)

  it("are inherited by the child's Lua code but not across its exec", function()
    local dir = H.tmpdir()
    local file = dir .. "/opened"
    local f = assert(io.open(file, "w"))
    local ok = T.child(nil, function()
      -- the parent's open file still works in the child
      f:write("from-child\n")
      f:flush()
      nsl.exec({ "sh", "-c", "exec ls -l /proc/self/fd/ > " .. dir .. "/fds" })
    end)
    f:close()
    local listing = H.read(dir .. "/fds")
    local content = H.read(file)
    H.rmtree(dir)
    assert.is_true(ok)
    assert.are.equal("from-child\n", content)
    assert.is_nil(listing:find(file, 1, true))
  end)
end)
