-- The host binary: nsl run, --help, --version, errors, exit statuses.
local nsl = require "nsl"
local T = require "nsltest"
local H = require "hostcheck"

-- Runs the binary with a shell command line; returns stdout, stderr and
-- the exit triple.
local function nslrun(args, opts)
  opts = opts or {}
  local err = os.tmpname()
  local out, ok, how, code = T.sh(("%s%s %s 2>%s%s"):format(
    opts.cd and ("cd " .. opts.cd .. " && ") or "", T.quote(T.bin), args, err,
    opts.stdin and (" <" .. opts.stdin) or ""))
  local errtext = H.read(err)
  os.remove(err)
  return out, errtext, ok, how, code
end

local function script(text)
  return T.script(text)
end

describe("nsl binary", function()
  it("prints its version", function()
    local out, ok = T.sh(T.quote(T.bin) .. " --version")
    assert.is_true(ok)
    assert.matches("^nsl %d+%.%d+%.%d+ %(Lua 5%.4%)$", out)
    assert.are.equal(("nsl %s (Lua 5.4)"):format(nsl.version), out)
  end)

  it("prints its usage with --help and -h, on stdout, status 0", function()
    for _, flag in ipairs({ "--help", "-h", "help" }) do
      local out, err, ok = nslrun(flag)
      assert.is_true(ok, flag)
      assert.are.equal("", err)
      assert.matches("^usage: nsl COMMAND", out)
      assert.matches("run SCRIPT %[ARGS%.%.%.%]", out)
    end
  end)

  it("prints its usage on stderr and exits 2 without a command", function()
    local out, err, ok, how, code = nslrun("")
    assert.are.same({ nil, "exit", 2 }, { ok, how, code })
    assert.are.equal("", out)
    assert.matches("^usage: nsl COMMAND", err)
  end)

  it("refuses an unknown command with status 2", function()
    local out, err, ok, how, code = nslrun("frobnicate")
    assert.are.same({ nil, "exit", 2 }, { ok, how, code })
    assert.are.equal("", out)
    assert.are.equal("nsl: unknown command 'frobnicate' (try nsl --help)\n", err)
  end)

  it("says so when run has no script (status 2) or the script does not exist (status 1)", function()
    local _, err, ok, how, code = nslrun("run")
    assert.are.same({ nil, "exit", 2 }, { ok, how, code })
    assert.matches("^nsl: run: no script given", err)
    _, err, ok, how, code = nslrun("run /nonexistent/script.lua")
    assert.are.same({ nil, "exit", 1 }, { ok, how, code })
    assert.matches("cannot open /nonexistent/script.lua", err, 1, true)
  end)

  describe("run", function()
    it("sets arg and ... as lua(1) does", function()
      local path = script([[
        print(arg[0], arg[1], arg[2], arg[3], #arg, select("#", ...), ...)
        print(arg[-1], arg[-2] ~= nil, arg[-3])
      ]])
      local out, err, ok = nslrun("run " .. path .. " one 'two words' ''")
      local lua_out = T.sh("lua5.4 " .. path .. " one 'two words' ''")
      os.remove(path)
      assert.is_true(ok, err)
      local first, second = out:match("^([^\n]*)\n([^\n]*)$")
      assert.are.equal(path .. "\tone\ttwo words\t\t3\t3\tone\ttwo words\t", first)
      assert.are.equal("run\ttrue\tnil", second)
      -- the same as lua5.4 gives, but for what comes before the script
      assert.are.equal(lua_out:match("^[^\n]*"), first)
    end)

    it("has nsl as a global and through require", function()
      local path = script([[print(nsl == require "nsl", type(nsl.clone))]])
      local out, _, ok = nslrun("run " .. path)
      os.remove(path)
      assert.is_true(ok)
      assert.are.equal("true\tfunction", out)
    end)

    it("exits 0 when the script ends, with the status of os.exit", function()
      local path = script([[print("done")]])
      assert.are.same({ "done", "", true, "exit", 0 }, { nslrun("run " .. path) })
      os.remove(path)
      path = script([[os.exit(7)]])
      local _, _, ok, how, code = nslrun("run " .. path)
      os.remove(path)
      assert.are.same({ nil, "exit", 7 }, { ok, how, code })
    end)

    it("reports a script error with its message and traceback on stderr, status 1", function()
      local path = script([[
        local function inner() error("something broke") end
        print("before")
        inner()
      ]])
      local out, err, ok, how, code = nslrun("run " .. path)
      os.remove(path)
      assert.are.same({ nil, "exit", 1 }, { ok, how, code })
      assert.are.equal("before", out)
      assert.matches("^nsl: " .. path:gsub("%p", "%%%0") .. ":1: something broke\n", err)
      assert.matches("stack traceback:", err, 1, true)
      assert.matches("in local 'inner'", err, 1, true)
    end)

    it("reports an error object that is not a string", function()
      local path = script([[error({ code = 1 })]])
      local _, err, ok = nslrun("run " .. path)
      os.remove(path)
      assert.is_nil(ok)
      assert.matches("error object is a table value", err, 1, true)
    end)

    it("reports a syntax error with status 1", function()
      local path = script("local x = = 1\n")
      local _, err, ok, how, code = nslrun("run " .. path)
      os.remove(path)
      assert.are.same({ nil, "exit", 1 }, { ok, how, code })
      assert.matches("unexpected symbol near '='", err, 1, true)
    end)

    it("reads the script from stdin with -", function()
      local path = script([[print("from stdin", ...)]])
      local out, _, ok = nslrun("run - a", { stdin = path })
      os.remove(path)
      assert.is_true(ok)
      assert.are.equal("from stdin\ta", out)
    end)

    it("works from another directory, with a relative script path", function()
      local dir = H.tmpdir()
      local f = assert(io.open(dir .. "/rel.lua", "w"))
      f:write([[
        local pid = assert(nsl.clone("uts", function() return 3 end))
        print(require("nsl").version, nsl.wait(pid))
      ]])
      f:close()
      local out, err, ok = nslrun("run rel.lua", { cd = dir })
      H.rmtree(dir)
      assert.is_true(ok, err)
      assert.are.equal(nsl.version .. "\tnil\texit\t3", out)
    end)
  end)
end)
