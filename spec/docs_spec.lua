-- The reference in docs/ must describe every public function of the C core
-- and be the one `make docs` generates from the source comments.
local nsl = require "nsl"
local T = require "nsltest"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

describe("docs/reference.md", function()
  local reference = read("docs/reference.md")

  local function documented(qualified)
    local heading = "### `" .. qualified .. "("
    return reference:find(heading, 1, true) ~= nil
  end

  it("documents every function of nsl, nsl.caps and nsl.net", function()
    local missing = {}
    local function scan(prefix, t)
      for name, value in pairs(t) do
        if type(value) == "function" and not documented(prefix .. name) then
          missing[#missing + 1] = prefix .. name
        end
      end
    end
    scan("nsl.", require "nsl.core")
    scan("nsl.caps.", nsl.caps)
    scan("nsl.net.", nsl.net)
    table.sort(missing)
    assert.are.same({}, missing, "undocumented (add a doc comment, run make docs)")
  end)

  it("is what make docs generates from the sources", function()
    local tmp = os.tmpname()
    local _, ok = T.sh("make -s docs DOCS_OUT=" .. tmp .. " >/dev/null 2>&1")
    local fresh = ok and read(tmp) or nil
    os.remove(tmp)
    assert.is_true(ok)
    assert.are.equal(fresh, reference, "docs/reference.md is stale: run make docs")
  end)
end)
