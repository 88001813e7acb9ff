-- nsl.resolve: paths taken inside a root, with the kernel's openat2
-- (RESOLVE_IN_ROOT) and with the user-space walk nsl falls back to where
-- openat2 is missing (Linux before 5.6, valgrind). The fallback is forced
-- by a seccomp filter that makes openat2 fail with ENOSYS, and both must
-- give the same answers.
local nsl = require "nsl"
local T = require "nsltest"
local C = require "container_helpers"

local NO_OPENAT2 = [[
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "unknown architecture"
#endif
int main(int argc, char **argv)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof code / sizeof code[0], code};
	if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("no-openat2");
		return 1;
	}
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
]]

local dir, tools

setup(function()
  dir = assert(nsl.mkdtemp("/tmp/nsl-spec-fs-"))
  tools = assert(nsl.mkdtemp("/tmp/nsl-spec-fstools-"))
  C.compile(NO_OPENAT2, tools .. "/no-openat2")
  local r = dir .. "/root"
  for _, d in ipairs({ "root", "root/etc", "root/a", "root/a/b", "outside" }) do
    assert(nsl.mkdir(dir .. "/" .. d, 493))
  end
  io.open(r .. "/etc/passwd", "w"):close()
  io.open(dir .. "/outside/secret", "w"):close()
  assert(nsl.symlink("/etc", r .. "/abs"))               -- absolute: inside the root
  assert(nsl.symlink("../../..", r .. "/a/b/up"))        -- climbs past the root
  assert(nsl.symlink("../outside", r .. "/rel"))         -- relative, out of the root
  assert(nsl.symlink("b/up/etc/passwd", r .. "/a/chain")) -- a chain of links
  assert(nsl.symlink("loop2", r .. "/loop1"))
  assert(nsl.symlink("loop1", r .. "/loop2"))
  assert(nsl.symlink("/proc/self/root", r .. "/magic"))
end)

teardown(function()
  os.execute("rm -rf " .. T.quote(dir) .. " " .. T.quote(tools))
end)

local CASES = {
  "/etc/passwd", "etc/passwd", "/abs/passwd", "/a/b/up/etc", "/a/b/../../etc/passwd",
  "/rel/secret", "/rel", "/a/chain", "/loop1", "/missing/x", "/etc/passwd/x",
  "/", "", "/a/./b//.", "/new/dir/made", "/a/newfile", "/magic/etc", -- no /proc in the root
}

-- What nsl.resolve answers for each case, in this process or (wrap) in
-- `nsl run` under the filter; one line per case: the result, or the
-- message's errno.
local function answers(wrap)
  local copy = dir .. "/copy-" .. (wrap and "walk" or "openat2")
  local script = dir .. "/resolve.lua"
  local f = assert(io.open(script, "w"))
  f:write(([[
    local nsl = require "nsl"
    local root, copy = %q, %q
    os.execute("rm -rf " .. copy .. " && cp -a " .. root .. " " .. copy)
    local cases = { %s }
    for _, p in ipairs(cases) do
      local create = (p == "/new/dir/made" and "dir") or (p == "/a/newfile" and "file") or nil
      local r, _, errno = nsl.resolve(copy, p, create)
      local st = r and nsl.lstat(r)
      print(r and (r:gsub("^" .. copy:gsub("%%-", "%%%%-"), "ROOT") .. " " .. st.type) or ("errno " .. tostring(errno)))
    end
  ]]):format(dir .. "/root", copy, (function()
    local q = {}
    for _, c in ipairs(CASES) do q[#q + 1] = ("%q"):format(c) end
    return table.concat(q, ", ")
  end)()))
  f:close()
  local cmd = (wrap and T.quote(tools .. "/no-openat2") .. " " or "") .. T.quote(T.bin) .. " run " .. T.quote(script)
  local out, ok = T.sh(cmd .. " 2>&1")
  assert(ok, out)
  local lines = {}
  for l in (out .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
  if lines[#lines] == "" then lines[#lines] = nil end
  return lines
end

describe("nsl.resolve", function()
  it("keeps every path inside the root: links, '..', chains, loops, magic links", function()
    local got = answers(false)
    assert.are.same({
      "ROOT/etc/passwd file", "ROOT/etc/passwd file", "ROOT/etc/passwd file", "ROOT/etc directory",
      "ROOT/etc/passwd file", "errno 2", "errno 2", "ROOT/etc/passwd file", "errno 40", "errno 2",
      "errno 20", "ROOT directory", "errno 2", "ROOT/a/b directory", "ROOT/new/dir/made directory",
      "ROOT/a/newfile file", "errno 2",
    }, got)
  end)

  it("gives the same answers without openat2 (the user-space walk)", function()
    assert.are.same(answers(false), answers(true))
  end)
end)
