-- nsl.http: the HTTP client of registry pulls, against real servers.
-- Each test runs its client in a child in new network and pid
-- namespaces: loopback brought up there, `busybox httpd` listening on
-- 127.0.0.1:8080 and 127.0.0.2:8080 (two hosts for cross-host
-- redirects) and serving a temporary directory, whose cgi-bin scripts
-- answer 401, redirect, and echo the request headers they received. The
-- child is its namespace's PID 1, so the servers die with it whatever
-- happens; they are also killed before it returns.
local nsl = require "nsl"
local T = require "nsltest"
local read, write, exists = T.read, T.write, T.exists
local cjson = require "cjson"

local http = require "nsl.http"
local defer = T.deferrer(function(f) finally(f) end)

local BASE = "http://127.0.0.1:8080"
local OTHER = "http://127.0.0.2:8080"
local BIG = 1024 * 1024 + 17 -- more than a few progress steps

local function sha256sum(path)
  return (T.sh("sha256sum " .. T.quote(path)):match("^(%x+)"))
end

local CGI = {
  -- the request's headers, one HTTP_NAME=value a line
  echo = [[#!/bin/sh
printf 'Status: 200 OK\r\nContent-Type: text/plain\r\nX-Twice: one\r\nX-Twice: two\r\n\r\n'
env | grep '^HTTP_' | sort
]],
  -- a registry's answer to a request without a token
  auth = [[#!/bin/sh
if [ -z "$HTTP_AUTHORIZATION" ]; then
  printf 'Status: 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="http://127.0.0.1:8080/token",service="test"\r\nContent-Type: text/plain\r\n\r\nno token\n'
else
  printf 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n%s\n' "$HTTP_AUTHORIZATION"
fi
]],
  -- to another host (a registry's blob storage)
  away = [[#!/bin/sh
printf 'Status: 307 Temporary Redirect\r\nLocation: http://127.0.0.2:8080/cgi-bin/echo\r\nContent-Type: text/plain\r\n\r\nthis body is not the answer\n'
]],
  -- on the same host, relative
  near = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: /cgi-bin/echo\r\n\r\nnot this\n'
]],
  -- to another host, then back to this one
  around = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: http://127.0.0.2:8080/cgi-bin/back\r\n\r\n'
]],
  back = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: http://127.0.0.1:8080/cgi-bin/echo\r\n\r\n'
]],
  -- to another host's and to this host's page behind basic auth
  awayp = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: http://127.0.0.2:8080/protected/hello.txt\r\n\r\n'
]],
  nearp = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: /protected/hello.txt\r\n\r\n'
]],
  -- a redirect to itself, forever
  loop = [[#!/bin/sh
printf 'Status: 302 Found\r\nLocation: /cgi-bin/loop\r\n\r\n'
]],
}

-- A fresh served directory: hello.txt, big.bin (random bytes), cgi-bin,
-- protected/hello.txt behind basic auth (httpd.conf: busybox httpd keeps
-- a Basic Authorization header to itself, CGI scripts never see one).
local function www()
  local dir = T.sh("mktemp -d /tmp/nsl-http.XXXXXX")
  assert(dir:match("^/tmp/nsl%-http%."), "mktemp failed")
  defer(function() os.execute("rm -rf " .. T.quote(dir)) end)
  assert(nsl.mkdir(dir .. "/www"))
  assert(nsl.mkdir(dir .. "/www/cgi-bin"))
  assert(nsl.mkdir(dir .. "/out"))
  assert(nsl.mkdir(dir .. "/www/protected"))
  write(dir .. "/www/hello.txt", "hello, world\n")
  write(dir .. "/www/protected/hello.txt", "hello, name\n")
  write(dir .. "/httpd.conf", "/protected:name:secret\n")
  assert(os.execute(("head -c %d /dev/urandom > %s/www/big.bin"):format(BIG, dir)))
  for name, text in pairs(CGI) do write(dir .. "/www/cgi-bin/" .. name, text, "755") end
  return dir
end

local function start_httpd(addr, dir)
  local pid = T.sh(("busybox httpd -f -p %s -h %s -c %s </dev/null >/dev/null 2>&1 & echo $!")
    :format(addr, T.quote(dir .. "/www"), T.quote(dir .. "/httpd.conf")))
  return (assert(math.tointeger(tonumber(pid)), "httpd did not start"))
end

-- fn(dir) run in a child with its own network and servers; its table of
-- results (JSON-able) comes back, or its error is raised here.
local function served(fn)
  local dir = www()
  local result = dir .. "/result.json"
  local pid = assert(nsl.clone({ "net", "pid" }, function()
    local ok, res = pcall(function()
      assert(nsl.loopback_up())
      local servers = {
        start_httpd("127.0.0.1:8080", dir),
        start_httpd("127.0.0.2:8080", dir),
      }
      local ok, res = pcall(function()
        for _, base in ipairs { BASE, OTHER } do
          assert(T.wait_until(function()
            local r = http.request { url = base .. "/hello.txt", insecure = true }
            return r and r.status == 200
          end), "httpd at " .. base .. " did not answer")
        end
        return fn(dir)
      end)
      for _, p in ipairs(servers) do nsl.kill(p, "KILL") end
      for _, p in ipairs(servers) do nsl.wait(p) end
      if not ok then error(res, 0) end
      return res
    end)
    write(result, cjson.encode { ok = ok, res = ok and res or tostring(res) })
    return 0
  end))
  local ok, how, code = nsl.wait(pid)
  assert(ok, ("the child failed: %s %s"):format(how, code))
  local out = cjson.decode((assert(read(result), "no result")))
  if not out.ok then error(out.res, 0) end
  return out.res
end

-- The HTTP_* lines of an echo body as a table.
local function received(body)
  local t = {}
  for k, v in body:gmatch("HTTP_([%w_]+)=([^\n]*)") do t[k] = v end
  return t
end

describe("nsl.http", function()
  it("reports libcurl's version", function()
    assert.matches("^libcurl/%d", http.version())
  end)

  it("gets a file into memory, headers lowercased", function()
    local r = served(function(dir)
      local r = assert(http.request { url = BASE .. "/big.bin", insecure = true })
      local hello = assert(http.request { url = BASE .. "/hello.txt", insecure = true })
      local f = io.open(dir .. "/got", "wb")
      f:write(r.body)
      f:close()
      local upper = false
      for k in pairs(r.headers) do upper = upper or k:match("%u") ~= nil end
      return { status = r.status, url = r.url, len = #r.body, sum = sha256sum(dir .. "/got"),
               want = sha256sum(dir .. "/www/big.bin"), ctype = hello.headers["content-type"],
               clen = r.headers["content-length"], upper = upper }
    end)
    assert.equal(200, r.status)
    assert.equal(BASE .. "/big.bin", r.url)
    assert.equal(BIG, r.len)
    assert.equal(r.want, r.sum)
    assert.equal(tostring(BIG), r.clen)
    assert.equal("text/plain", r.ctype)
    assert.is_false(r.upper)
  end)

  it("gets a file into an output file, 0600, and returns no body", function()
    local r = served(function(dir)
      local out = dir .. "/out/blob"
      local r = assert(http.request { url = BASE .. "/big.bin", insecure = true, output = out })
      return { status = r.status, body = r.body == nil, sum = sha256sum(out),
               want = sha256sum(dir .. "/www/big.bin"), mode = T.sh("stat -c %a " .. out),
               same = read(out) == read(dir .. "/www/big.bin") }
    end)
    assert.equal(200, r.status)
    assert.is_true(r.body)
    assert.equal(r.want, r.sum)
    assert.is_true(r.same)
    assert.equal("600", r.mode)
  end)

  it("makes HEAD requests: the headers, no body", function()
    local r = served(function()
      local r = assert(http.request { url = BASE .. "/big.bin", method = "HEAD", insecure = true })
      return { status = r.status, body = r.body, clen = r.headers["content-length"] }
    end)
    assert.equal(200, r.status)
    assert.equal("", r.body)
    assert.equal(tostring(BIG), r.clen)
  end)

  it("returns HTTP error statuses (404, 401 with WWW-Authenticate) rather than failing", function()
    local r = served(function()
      local nf = assert(http.request { url = BASE .. "/missing", insecure = true })
      local un = assert(http.request { url = BASE .. "/cgi-bin/auth", insecure = true })
      local ok = assert(http.request { url = BASE .. "/cgi-bin/auth", insecure = true,
                                       headers = { "Authorization: Bearer tok" } })
      local nobasic = assert(http.request { url = BASE .. "/protected/hello.txt", insecure = true })
      local basic = assert(http.request { url = BASE .. "/protected/hello.txt", insecure = true,
                                          user = "name:secret" })
      return { nf = nf.status, un = un.status, www = un.headers["www-authenticate"],
               unbody = un.body, ok = ok.status, okbody = ok.body, nobasic = nobasic.status,
               basic = basic.status, basicbody = basic.body }
    end)
    assert.equal(404, r.nf)
    assert.equal(401, r.un)
    assert.equal('Bearer realm="http://127.0.0.1:8080/token",service="test"', r.www)
    assert.equal("no token\n", r.unbody)
    assert.equal(200, r.ok)
    assert.equal("Bearer tok\n", r.okbody)
    assert.equal(401, r.nobasic)
    assert.equal(200, r.basic)
    assert.equal("hello, name\n", r.basicbody)
  end)

  it("sends the headers given, and its own User-Agent; joins repeated response headers", function()
    local r = served(function()
      local r = assert(http.request { url = BASE .. "/cgi-bin/echo", insecure = true,
        headers = { "Accept: application/a, application/b", "Authorization: Bearer tok" } })
      return { got = received(r.body), twice = r.headers["x-twice"] }
    end)
    assert.equal("application/a, application/b", r.got.ACCEPT)
    assert.equal("Bearer tok", r.got.AUTHORIZATION)
    assert.matches("^nsl/", r.got.USER_AGENT)
    assert.equal("one, two", r.twice)
  end)

  it("follows a redirect to another host without Authorization or user", function()
    local r = served(function()
      local a = assert(http.request { url = BASE .. "/cgi-bin/away", insecure = true,
        headers = { "Accept: application/x", "Authorization: Bearer tok" } })
      local b = assert(http.request { url = BASE .. "/cgi-bin/awayp", insecure = true,
                                      user = "name:secret" })
      local c = assert(http.request { url = BASE .. "/cgi-bin/around", insecure = true,
        headers = { "Authorization: Bearer tok" } })
      return { status = a.status, url = a.url, got = received(a.body), body = a.body,
               basic = b.status, basic_url = b.url, back = received(c.body), back_url = c.url }
    end)
    assert.equal(200, r.status)
    assert.equal(OTHER .. "/cgi-bin/echo", r.url)
    assert.equal("127.0.0.2:8080", r.got.HOST)
    assert.equal("application/x", r.got.ACCEPT)
    assert.is_nil(r.got.AUTHORIZATION)
    assert.equal(OTHER .. "/protected/hello.txt", r.basic_url)
    assert.equal(401, r.basic) -- the same page, the credentials not sent there
    assert.not_matches("not the answer", r.body)
    -- dropped for the rest of the chain, also back on the first host
    assert.equal(BASE .. "/cgi-bin/echo", r.back_url)
    assert.is_nil(r.back.AUTHORIZATION)
  end)

  it("keeps Authorization on a redirect within the host; follow = false stops", function()
    local r = served(function()
      local a = assert(http.request { url = BASE .. "/cgi-bin/near", insecure = true,
        headers = { "Authorization: Bearer tok" } })
      local b = assert(http.request { url = BASE .. "/cgi-bin/away", insecure = true,
                                      follow = false })
      local c, err = http.request { url = BASE .. "/cgi-bin/loop", insecure = true }
      local d = assert(http.request { url = BASE .. "/cgi-bin/nearp", insecure = true,
                                      user = "name:secret" })
      return { url = a.url, got = received(a.body), status = b.status, basic = d.status,
               location = b.headers.location, c = c == nil, err = err }
    end)
    assert.equal(BASE .. "/cgi-bin/echo", r.url)
    assert.equal("Bearer tok", r.got.AUTHORIZATION)
    assert.equal(200, r.basic)
    assert.equal(307, r.status)
    assert.equal(OTHER .. "/cgi-bin/echo", r.location)
    assert.is_true(r.c)
    assert.matches("redirects", r.err)
  end)

  it("fails past max_body", function()
    local r = served(function()
      local r, err = http.request { url = BASE .. "/big.bin", insecure = true, max_body = 1000 }
      local ok = http.request { url = BASE .. "/hello.txt", insecure = true, max_body = 13 }
      return { r = r == nil, err = err, ok = ok and ok.body }
    end)
    assert.is_true(r.r)
    assert.matches("^http GET http://127%.0%.0%.1:8080/big%.bin: .*max_body", r.err)
    assert.equal("hello, world\n", r.ok)
  end)

  it("refuses plain HTTP without insecure = true, and checks its arguments", function()
    local ok, err = pcall(http.request, { url = BASE .. "/hello.txt" })
    assert.is_false(ok)
    assert.matches("insecure = true", err)
    for _, bad in ipairs {
      { url = "ftp://example.com/x" },
      { url = "https://example.com/", method = "POST" },
      { url = "https://example.com/", headers = { "Bad\r\nX: y" } },
      { url = "https://example.com/", headers = { "no colon" } },
      { url = "https://example.com/", max_body = -1 },
      { url = "https://example.com/", timeout = 0 },
      { url = "https://example.com/", progress = "no" },
      { url = "https://example.com/", user = "nocolon" },
      { url = "https://example.com/", unknown = 1 },
    } do
      assert.has_error(function() http.request(bad) end)
    end
  end)

  it("fails with nil and curl's message: connection refused, TLS to a plain server", function()
    local r = served(function()
      local a, aerr = http.request { url = "http://127.0.0.1:8099/x", insecure = true }
      local b, berr = http.request { url = "https://127.0.0.1:8080/hello.txt" }
      return { a = a == nil, aerr = aerr, b = b == nil, berr = berr }
    end)
    assert.is_true(r.a)
    assert.matches("^http GET http://127%.0%.0%.1:8099/x: .*[Cc]onnect", r.aerr)
    assert.is_true(r.b)
    assert.matches("^http GET https://127%.0%.0%.1:8080/hello%.txt: ", r.berr)
  end)

  it("calls progress with the bytes so far and the total", function()
    local r = served(function(dir)
      local calls = {}
      assert(http.request { url = BASE .. "/big.bin", insecure = true, output = dir .. "/out/b",
        progress = function(n, total) calls[#calls + 1] = { n, total } end })
      return calls
    end)
    assert.is_true(#r >= 4 and #r <= 8, "calls: " .. #r)
    for i, c in ipairs(r) do
      assert.equal(BIG, c[2])
      if i > 1 then assert.is_true(c[1] > r[i - 1][1]) end
    end
    assert.equal(BIG, r[#r][1])
  end)

  it("stops when progress raises: the error returned, no output file, nothing left open", function()
    local r = served(function(dir)
      local out = dir .. "/out/b"
      local before = #nsl.readdir("/proc/self/fd")
      local res, err = http.request { url = BASE .. "/big.bin", insecure = true, output = out,
        progress = function() error("enough of this", 0) end }
      local mem, merr = http.request { url = BASE .. "/big.bin", insecure = true,
        progress = function() error("again", 0) end }
      collectgarbage()
      return { res = res == nil, err = err, left = exists(out), mem = mem == nil, merr = merr,
               fds = #nsl.readdir("/proc/self/fd") - before }
    end)
    assert.is_true(r.res)
    assert.matches("^http GET http://127%.0%.0%.1:8080/big%.bin: enough of this$", r.err)
    assert.is_false(r.left)
    assert.is_true(r.mem)
    assert.matches(": again$", r.merr)
    assert.equal(0, r.fds)
  end)

  it("never writes over an existing file nor through a symbolic link", function()
    local r = served(function(dir)
      local out = dir .. "/out/there"
      write(out, "original")
      local a, aerr = http.request { url = BASE .. "/hello.txt", insecure = true, output = out }
      assert(nsl.symlink(dir .. "/out/target", dir .. "/out/link"))
      local b, berr = http.request { url = BASE .. "/hello.txt", insecure = true,
                                     output = dir .. "/out/link" }
      return { a = a == nil, aerr = aerr, kept = read(out), b = b == nil, berr = berr,
               target = exists(dir .. "/out/target"), link = exists(dir .. "/out/link") }
    end)
    assert.is_true(r.a)
    assert.matches("File exists", r.aerr)
    assert.equal("original", r.kept)
    assert.is_true(r.b)
    assert.matches("link", r.berr)
    assert.is_false(r.target)
    assert.is_true(r.link) -- a failure removes only what the request made
  end)
end)
