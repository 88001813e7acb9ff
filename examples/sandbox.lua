-- A sandbox for untrusted code: the default seccomp profile with the
-- network calls taken away and tracing punished, Landlock rules that leave
-- the root readable, /tmp writable and only /bin executable, no network,
-- and (as root) memory and process limits. The "untrusted" script tries
-- each way out and says what it was refused.
--
--   build/bin/nsl run examples/sandbox.lua      (as root, or rootless)
local nsl = require "nsl"

local policy = {
  extends = "default",
  deny = { "@network" },                    -- no sockets at all, unix ones included
  rules = {
    { "ptrace", action = "kill" },          -- trying to trace is enough to end it
  },
}

local untrusted = [[
echo "sandbox: uid $(id -u) on $(hostname)"
{ echo evil > /etc/motd; } 2>/dev/null && echo "wrote /etc/motd" || echo "refused: writing outside /tmp"
echo ok > /tmp/scratch && echo "wrote /tmp/scratch"
printf '#!/bin/sh\necho pwned\n' > /tmp/x.sh && chmod +x /tmp/x.sh
/tmp/x.sh 2>/dev/null || echo "refused: running a file it wrote"
echo | nc 127.0.0.1 80 2>/dev/null || echo "refused: sockets"
unshare -U true 2>/dev/null || echo "refused: new namespaces"
]]

local c <close> = nsl.container {
  rootfs = nsl.rootfs.busybox(),
  hostname = "sandbox",
  seccomp = policy,
  landlock = { read = { "/" }, write = { "/tmp", "/dev/null" }, exec = { "/bin" },
    best_effort = true },                   -- an older kernel: what it lacks is said
  limits = nsl.geteuid() == 0 and { memory = "64M", pids = 32 } or nil,
  rlimits = { cpu = 5, fsize = 1024 * 1024 },
  command = { "/bin/sh", "-c", untrusted },
}
print("confinement: seccomp " .. c:info().confinement.seccomp ..
  ", landlock ABI " .. (c:info().confinement.landlock.abi or 0))
local ok, how, n = c:run()
print(("the sandbox ended: %s %s %s"):format(tostring(ok), how, n))
