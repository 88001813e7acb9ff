-- Orchestration: three containers in a pipeline, one's output feeding the
-- next one's input through pipes made by the script, like a shell's
-- `producer | filter | counter`, each in its own namespaces and root.
--
--   build/bin/nsl run examples/pipeline.lua   (as root, or rootless)
local nsl = require "nsl"

local dir = assert(nsl.mkdtemp("/tmp/nsl-pipeline-"))
local root = nsl.rootfs.busybox(dir)

-- A container whose stdin and stdout are the given descriptors: the
-- caller's 0 and 1 are swapped in while it starts (the container inherits
-- them), then put back.
local function start_with(spec, stdin, stdout)
  io.stdout:flush()
  local saved_in, saved_out = assert(nsl.dup2(0, 200)), assert(nsl.dup2(1, 201))
  if stdin then assert(nsl.dup2(stdin, 0)) end
  if stdout then assert(nsl.dup2(stdout, 1)) end
  local c = nsl.container(spec)
  local ok, err = c:start()
  assert(nsl.dup2(saved_in, 0))
  assert(nsl.dup2(saved_out, 1))
  nsl.close(saved_in)
  nsl.close(saved_out)
  return assert(ok and c, err)
end

local ok, err = pcall(function()
  local r1, w1 = assert(nsl.pipe())
  local r2, w2 = assert(nsl.pipe())
  local producer <close> = start_with({ name = "producer", rootfs = root,
    command = { "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"line $i from $(hostname)\"; done" } },
    nil, w1)
  local filter <close> = start_with({ name = "filter", rootfs = root,
    command = { "grep", "[02468] from" } }, r1, w2)
  local counter <close> = start_with({ name = "counter", rootfs = root,
    command = { "sh", "-c", "while read l; do echo \"$(hostname) got: $l\"; done" } }, r2, nil)
  -- The script keeps no pipe end: each stage sees end of file when the
  -- one before it ends.
  for _, fd in ipairs({ r1, w1, r2, w2 }) do nsl.close(fd) end
  for _, c in ipairs({ producer, filter, counter }) do
    local done, how, n = c:wait()
    print(("%s ended: %s %s %s"):format(c.name, tostring(done), how, n))
  end
end)
os.execute("rm -rf '" .. dir .. "'")
if not ok then error(err, 0) end
