-- Benchmark: set up N veth-connected named network namespaces, with
-- nsl.net and with iproute2 commands, side by side.
--
-- Each namespace gets: the namespace itself, a veth pair whose host end
-- stays in a hub namespace and whose peer ("eth0") is created in the new
-- namespace, an address on each end, both ends up. iproute2 does the same
-- in six commands per namespace, as a shell script would:
--
--   ip netns add NS
--   ip -n HUB link add hI type veth peer name eth0 netns NS
--   ip -n HUB addr add 10.X.Y.1/24 dev hI
--   ip -n NS addr add 10.X.Y.2/24 dev eth0
--   ip -n HUB link set hI up
--   ip -n NS link set eth0 up
--
-- The hub keeps the host ends off the machine's own namespace. Everything
-- made is removed after each run, also when a run fails.
--
-- Each size runs ROUNDS times (default 3; once for N >= 1000), the two
-- tools alternating, and the median is printed. Between runs the script pauses so that the kernel
-- finishes tearing down the namespaces of the previous run (that work is
-- asynchronous and would otherwise be charged to the next run).
--
-- usage: nsl run bench.lua N...   (NSL_BENCH_CLOCK: directory of clock.so,
--                                  NSL_BENCH_ROUNDS: runs per size,
--                                  NSL_BENCH_MD: where to write the table
--                                  as Markdown too)
local nsl = require "nsl"
local net = nsl.net

package.cpath = (os.getenv("NSL_BENCH_CLOCK") or ".") .. "/?.so;" .. package.cpath
local clock = require "clock"

local prefix = ("nslbench%d-"):format(nsl.getpid())
local hub = prefix .. "hub"

local function ns_name(i) return prefix .. i end
local function subnet(i) return ("10.%d.%d."):format(i // 256, i % 256) end

-- Removes every named namespace this run made (the veth pairs go with them).
local function cleanup()
  for _, name in ipairs(net.netns_list()) do
    if name:sub(1, #prefix) == prefix then assert(net.netns_del(name)) end
  end
end

local function with_nsl(n)
  assert(net.netns_add(hub))
  local hubopt = {netns = hub}
  local t0 = clock.now()
  for i = 1, n do
    local ns, host, sub = ns_name(i), "h" .. i, subnet(i)
    local nsopt = {netns = ns}
    assert(net.netns_add(ns))
    assert(net.veth(host, "eth0", {netns = hub, peer_netns = ns}))
    assert(net.addr_add(host, sub .. "1/24", hubopt))
    assert(net.addr_add("eth0", sub .. "2/24", nsopt))
    assert(net.up(host, hubopt))
    assert(net.up("eth0", nsopt))
  end
  return clock.now() - t0
end

local function with_iproute2(n)
  assert(net.netns_add(hub))
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  for i = 1, n do
    local ns, host, sub = ns_name(i), "h" .. i, subnet(i)
    f:write(("ip netns add %s\n"):format(ns),
      ("ip -n %s link add %s type veth peer name eth0 netns %s\n"):format(hub, host, ns),
      ("ip -n %s addr add %s1/24 dev %s\n"):format(hub, sub, host),
      ("ip -n %s addr add %s2/24 dev eth0\n"):format(ns, sub),
      ("ip -n %s link set %s up\n"):format(hub, host),
      ("ip -n %s link set eth0 up\n"):format(ns))
  end
  f:close()
  local t0 = clock.now()
  local ok = os.execute("sh -e " .. path)
  local t = clock.now() - t0
  os.remove(path)
  assert(ok, "the iproute2 script failed")
  return t
end

-- Checks what a run made, from iproute2's side: the last namespace's eth0
-- is up with its address, and the hub reaches it.
local function verify(n)
  local p = io.popen(("ip -n %s -br addr show dev eth0"):format(ns_name(n)))
  local out = p:read("a")
  p:close()
  assert(out:find(subnet(n) .. "2/24", 1, true) and out:find("UP", 1, true),
         "namespace " .. n .. " is not set up: " .. out)
end

-- Runs fn(n) and removes what it made whatever happens; then lets the
-- kernel's asynchronous namespace teardown finish.
local function run(fn, n)
  local ok, t = pcall(fn, n)
  local verified, why = true, nil
  if ok then verified, why = pcall(verify, n) end
  cleanup()
  if not ok then error(t, 0) end
  if not verified then error(why, 0) end
  os.execute(("sleep %.2f"):format(0.5 + n / 400))
  return t
end

local function median(list)
  table.sort(list)
  return list[(#list + 1) // 2]
end

local sizes = {}
for i = 1, #arg do sizes[#sizes + 1] = math.tointeger(tonumber(arg[i])) end
if #sizes == 0 then sizes = {10, 100, 1000} end

local rounds = math.tointeger(tonumber(os.getenv("NSL_BENCH_ROUNDS") or "3")) or 3

print(("setting up N namespaces (netns, veth pair into it, address on each end, both ends up);"))
-- N = 1000 takes about half a minute per run with iproute2: one run.
local function rounds_for(n) return n >= 1000 and 1 or rounds end
print(("milliseconds per namespace, median of %d runs (one run for N >= 1000)"):format(rounds))
print(("%6s  %16s  %16s  %8s"):format("N", "iproute2 ms/ns", "nsl.net ms/ns", "ratio"))
local md = { "| N | iproute2 ms per namespace | nsl.net ms per namespace | ratio | namespaces per second, iproute2 | nsl.net |",
  "| ---: | ---: | ---: | ---: | ---: | ---: |" }
for _, n in ipairs(sizes) do
  local ips, nsls = {}, {}
  for _ = 1, rounds_for(n) do
    ips[#ips + 1] = run(with_iproute2, n)
    nsls[#nsls + 1] = run(with_nsl, n)
  end
  local ip, ns = median(ips), median(nsls)
  print(("%6d  %16.3f  %16.3f  %7.1fx"):format(n, ip * 1000 / n, ns * 1000 / n, ip / ns))
  io.stdout:flush()
  md[#md + 1] = ("| %d | %.2f | %.2f | %.1fx | %.0f | %.0f |"):format(n, ip * 1000 / n, ns * 1000 / n, ip / ns, n / ip, n / ns)
end
local md_path = os.getenv("NSL_BENCH_MD")
if md_path then
  local f = assert(io.open(md_path, "w"))
  f:write(table.concat(md, "\n"), "\n")
  f:close()
end
