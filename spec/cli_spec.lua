local T = require "nsltest"

describe("nsl binary", function()
  it("prints its version", function()
    local out, ok = T.sh(T.quote(T.bin) .. " --version")
    assert.is_true(ok)
    assert.matches("^nsl %d+%.%d+%.%d+ %(Lua 5%.4%)$", out)
  end)
end)
