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

-- The man page and docs/cli.md must follow the commands and options that
-- `nsl --help` of the binary under test lists, so that they cannot drift
-- apart; and the page must render without a warning.

-- The commands of `nsl --help`: {name =, aliases = {...}, options = {...}}
-- from lines such as "  kill [-t SECS] NAME [SIGNAL]   send SIGNAL ..." and
-- "  help, --help, -h       show this help".
local function help_commands()
  local out, ok = T.sh(T.quote(T.bin) .. " --help")
  assert(ok, "nsl --help failed")
  local body = out:match("\nCommands:\n(.-)\n\n")
  assert(body, "no Commands: section in nsl --help:\n" .. out)
  local commands = {}
  for line in (body .. "\n"):gmatch("(.-)\n") do
    local usage = line:match("^  (%S.*)$") -- a command's line; deeper ones continue the text
    if usage then
      usage = usage:match("^(.-)%s%s") or usage -- without the description
      local names = {}
      for name in usage:gmatch("[^,]+") do names[#names + 1] = name:match("^%s*(%S+)") end
      local options = {}
      for opt in usage:gmatch("%[(%-%-?[%w-]+)") do options[#options + 1] = opt end
      commands[#commands + 1] = { name = names[1], aliases = names, options = options }
    end
  end
  return commands
end

-- Roff text without font changes, escaped dashes, zero-width joins and
-- quotes around macro arguments.
local function plain(roff)
  return (roff:gsub("\\f[BIRP]", ""):gsub("\\%-", "-"):gsub("\\&", ""):gsub('"', ""))
end

-- The lines of a section (.SH) or subsection (.SS) up to the next one.
local function section(page, macro, title)
  local lines, inside = {}, false
  for line in page:gmatch("([^\n]*)\n") do
    local m, t = line:match("^%.(S[HS])%s+(.-)%s*$")
    if m and inside and (m == "SH" or m == macro) then break end
    if m == macro and t:gsub('"', "") == title then
      inside = true
    elseif inside then
      lines[#lines + 1] = line
    end
  end
  return lines
end

-- Does text hold word (an option or a name) on its own?
local function has_word(text, word)
  return text:find("%f[%w%-]" .. word:gsub("%p", "%%%0") .. "%f[^%w%-]") ~= nil
end

describe("docs/nsl.1", function()
  local page = read("docs/nsl.1")
  local commands = help_commands()

  it("is checked against a help text that lists the commands", function()
    local names = {}
    for _, c in ipairs(commands) do names[#names + 1] = c.name end
    for _, expected in ipairs({ "run", "ps", "exec", "help", "version" }) do
      assert.is_truthy(table.concat(names, " "):find(expected, 1, true), expected)
    end
  end)

  it("describes every command of nsl --help under COMMANDS, and no other", function()
    -- the tags of the top-level .TP items: "kill [-t seconds] name [signal]"
    local tags, depth, lines = {}, 0, section(page, "SH", "COMMANDS")
    for i, line in ipairs(lines) do
      if line:match("^%.RS") then depth = depth + 1 end
      if line:match("^%.RE") then depth = depth - 1 end
      if line:match("^%.TP") and depth == 0 and lines[i + 1] then
        local tag = plain(lines[i + 1]:gsub("^%.%a+%s*", ""))
        tags[tag:match("^(%S+)")] = tag
      end
    end
    local missing, listed = {}, {}
    for _, c in ipairs(commands) do
      listed[c.name] = true
      local tag = tags[c.name]
      if not tag then
        missing[#missing + 1] = c.name
      else
        for _, alias in ipairs(c.aliases) do
          if not has_word(tag, alias) then missing[#missing + 1] = c.name .. " (alias " .. alias .. ")" end
        end
      end
    end
    assert.are.same({}, missing, "commands of nsl --help missing from COMMANDS in docs/nsl.1")
    local extra = {}
    for name in pairs(tags) do
      if not listed[name] then extra[#extra + 1] = name end
    end
    table.sort(extra)
    assert.are.same({}, extra, "commands in docs/nsl.1 that nsl --help does not list")
  end)

  it("shows every command of nsl --help, with its options, in the SYNOPSIS", function()
    -- one entry per .br-separated group: "nsl kill [-t seconds] name [signal]"
    local entries, current = {}, {}
    for _, line in ipairs(section(page, "SH", "SYNOPSIS")) do
      if line:match("^%.br") then
        entries[#entries + 1] = table.concat(current, " ")
        current = {}
      else
        current[#current + 1] = plain(line:gsub("^%.%a+%s*", ""))
      end
    end
    entries[#entries + 1] = table.concat(current, " ")
    local by_name = {}
    for _, e in ipairs(entries) do
      local name = e:match("^nsl%s+(%S+)")
      if name then by_name[name] = e end
    end
    local missing = {}
    for _, c in ipairs(commands) do
      local entry = by_name[c.name]
      if not entry then
        missing[#missing + 1] = c.name
      else
        for _, opt in ipairs(c.options) do
          if not has_word(entry, opt) then missing[#missing + 1] = c.name .. " " .. opt end
        end
      end
    end
    assert.are.same({}, missing, "missing from the SYNOPSIS of docs/nsl.1")
  end)

  it("explains every option of nsl --help under OPTIONS", function()
    local missing = {}
    for _, c in ipairs(commands) do
      if #c.options > 0 then
        local tags = {}
        local lines = section(page, "SS", c.name)
        for i, line in ipairs(lines) do
          if line:match("^%.TP") and lines[i + 1] then
            tags[#tags + 1] = plain(lines[i + 1]:gsub("^%.%a+%s*", ""))
          end
        end
        local text = table.concat(tags, "\n")
        for _, opt in ipairs(c.options) do
          if not has_word(text, opt) then missing[#missing + 1] = c.name .. " " .. opt end
        end
      end
    end
    assert.are.same({}, missing, "options without an item under OPTIONS in docs/nsl.1")
  end)

  it("has the sections of a man page", function()
    local titles = {}
    for t in page:gmatch("\n%.SH%s+([^\n]+)") do titles[#titles + 1] = (t:gsub('"', "")) end
    assert.are.same({ "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "ENVIRONMENT",
      "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO" }, titles)
    assert.matches("^%.TH NSL 1 ", page)
  end)

  it("renders with groff without a warning", function()
    local _, found = T.sh("command -v groff >/dev/null 2>&1")
    if not found then return pending("groff is not installed (Debian: groff-base)") end
    local err = os.tmpname()
    local out, ok = T.sh("groff -man -Tutf8 -ww -z docs/nsl.1 2>" .. err)
    local f = assert(io.open(err))
    local warnings = f:read("a")
    f:close()
    os.remove(err)
    assert.are.equal("", out)
    assert.are.equal("", warnings)
    assert.is_true(ok)
  end)
end)

describe("docs/cli.md", function()
  it("shows every command of nsl --help", function()
    local text = read("docs/cli.md")
    local missing = {}
    for _, c in ipairs(help_commands()) do
      if not text:find("nsl " .. c.name, 1, true) then missing[#missing + 1] = c.name end
    end
    assert.are.same({}, missing, "commands of nsl --help missing from docs/cli.md")
  end)
end)
