/*
 * libFuzzer harness for nsl's argument decoding. One source, one binary
 * per target (FUZZ_TARGET is its name, set by fuzz/Makefile):
 *
 *   flags   nsl_checkflags with the namespace, mount and umount tables
 *           (checked against a reference parser), nsl_checkcaps,
 *           nsl_checksignal, nsl_checktarget
 *   idmap   nsl_checkidmap, then nsl_idmap_write's formatting (to a pid
 *           that cannot exist)
 *   net     nsl.net.addr_add/addr_del/route_add/route_del/set/up/down,
 *           links, routes: CIDRs, addresses, MACs, interface names
 *   mount   nsl.mount and nsl.umount: flag lists, fstype, data, on a
 *           target that cannot exist
 *   spec    nsl.container(spec): the Lua layer's whole check of a
 *           container spec, with a root that is a temporary directory
 *
 * The calls go through Lua (a state with nsl.core and the Lua layer from
 * lua/), so what is fuzzed is the real decoding code. Inputs become Lua
 * values through a small decoder (decode_value) with a dictionary of
 * words each target cares about.
 *
 * What counts as a failure: a crash or what the sanitizers catch, an
 * error object that is not a string, a failure that is not
 * nil, message, errno, a result that disagrees with the reference (flags,
 * target, idmap), and a mount that went through. NSL_FUZZ_STRICT=1 adds:
 * an error of nsl.container raised inside the Lua layer rather than by
 * its checks ("nsl/container.lua:485: bad argument #1 to 'lstat'",
 * "attempt to index a nil value").
 *
 * Before the first input the process moves into new mount, network, UTS
 * and IPC namespaces (and a user namespace when not root), makes every
 * mount read-only, and puts a tmpfs on /run (so that no netns name finds
 * one of the host's); only the directory named by NSL_FUZZ_WRITABLE
 * (default: the current one; not under /run) stays writable, for
 * libFuzzer's corpus and crash files and the spec target's root. Nothing
 * an input makes the library do can reach the machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lnsl.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target (flags, idmap, net, mount, spec)"
#endif
#ifndef NSL_LUA_DIR
#define NSL_LUA_DIR "lua"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)
#define TARGET STR(FUZZ_TARGET)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int strict, show;
static char root_dir[PATH_MAX]; /* the spec target's container root */

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "nsl fuzz: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A finding: libFuzzer saves the input that led here. */
static void __attribute__((noreturn)) finding(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void finding(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "nsl fuzz (%s): ", TARGET);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- the sandbox --------------------------------------------------------- */

static void write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static void sandbox(void)
{
	int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
	struct statvfs root;
	char cwd[PATH_MAX];
	const char *w = getenv("NSL_FUZZ_WRITABLE");
	if (!w || !*w)
		w = getcwd(cwd, sizeof cwd);
	if (!w)
		die("getcwd");
	snprintf(root_dir, sizeof root_dir, "%s/spec-root", w);

	/* libFuzzer's -fork and -jobs run this program again: its children
	 * inherit the sandbox. */
	if (getenv("NSL_FUZZ_SANDBOXED") && statvfs("/", &root) == 0 &&
	    (root.f_flag & ST_RDONLY))
		return;
	if (geteuid() != 0) {
		char map[64];
		uid_t uid = geteuid();
		gid_t gid = getegid();
		if (unshare(flags | CLONE_NEWUSER) < 0)
			die("unshare");
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		write_proc("/proc/self/uid_map", map);
		write_proc("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		write_proc("/proc/self/gid_map", map);
	} else if (unshare(flags) < 0) {
		die("unshare");
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) < 0)
		die("make / read-only");
	/* netns names resolve under /run/netns: none of the host's */
	if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") < 0)
		die("tmpfs on /run");
	struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
	if (mount(w, w, NULL, MS_BIND, NULL) < 0 ||
	    mount_setattr(AT_FDCWD, w, 0, &rw, sizeof rw) < 0)
		die(w);
	setenv("NSL_FUZZ_SANDBOXED", "1", 1);
	setenv("TMPDIR", w, 1); /* for -fork: /tmp is read-only */
}

/* ---- Lua ----------------------------------------------------------------- */

static void run_chunk(const char *code)
{
	if (luaL_dostring(L, code) != LUA_OK) {
		fprintf(stderr, "nsl fuzz: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	lua_settop(L, 0);
}

static void setup_lua(void)
{
	const char *dir = getenv("NSL_FUZZ_LUA_DIR");
	if (!dir || !*dir)
		dir = NSL_LUA_DIR;
	L = luaL_newstate();
	if (!L)
		die("luaL_newstate");
	luaL_openlibs(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, (lua_CFunction)luaopen_nsl_core);
	lua_setfield(L, -2, "nsl.core");
	lua_pushcfunction(L, (lua_CFunction)luaopen_nsl_seccomp_compile);
	lua_setfield(L, -2, "nsl.seccomp_compile");
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/?.lua", dir);
	lua_setfield(L, -2, "path");
	lua_settop(L, 0);
	/* Everything the targets use is loaded now, from the checkout. */
	run_chunk("nsl = require 'nsl'\n"
	          "local _ = nsl.container, nsl.rootfs, nsl.cgroup\n"
	          "hostile_fn = function() return 0 end\n"
	          "hostile_meta = {__index = function(_, k) error('hostile __index ' .. tostring(k)) end}\n"
	          "function fuzz_show(what, ...)\n"
	          "  local function s(v, depth)\n"
	          "    if type(v) == 'string' then return (('%q'):format(v):gsub('\\\n', 'n')) end\n"
	          "    if type(v) ~= 'table' or getmetatable(v) or depth > 6 then return tostring(v) end\n"
	          "    local out = {}\n"
	          "    for k, x in pairs(v) do out[#out + 1] = '[' .. s(k, depth + 1) .. '] = ' .. s(x, depth + 1) end\n"
	          "    table.sort(out)\n"
	          "    return '{' .. table.concat(out, ', ') .. '}'\n"
	          "  end\n"
	          "  local parts = table.pack(...)\n"
	          "  for i = 1, parts.n do parts[i] = s(parts[i], 0) end\n"
	          "  io.stderr:write(what, '(', table.concat(parts, ', ', 1, parts.n), ')\\n')\n"
	          "end\n");
	if (strcmp(TARGET, "spec") == 0) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/bin", root_dir);
		if ((mkdir(root_dir, 0755) < 0 && errno != EEXIST) ||
		    (mkdir(path, 0755) < 0 && errno != EEXIST))
			die(root_dir);
		snprintf(path, sizeof path, "%s/bin/sh", root_dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
		if (fd < 0)
			die(path);
		close(fd);
	}
}

/* ---- from bytes to Lua values -------------------------------------------- */

typedef struct input {
	const uint8_t *p;
	size_t n;
	int nodes; /* values decoded so far, bounded */
} input;

static unsigned byte(input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t bytes_le(input *in, int count)
{
	uint64_t v = 0;
	for (int i = 0; i < count; i++)
		v |= (uint64_t)byte(in) << (8 * i);
	return v;
}

/* Words of each target, so that short inputs reach deep into the checks. */
static const char *const spec_words[] = {
	"name", "rootfs", "hostname", "namespaces", "user", "mounts", "net", "env",
	"cwd", "capabilities", "limits", "rlimits", "command", "init", "setup",
	"on_start", "hardening", "detach", "stop_timeout", "uid_map", "gid_map",
	"type", "source", "target", "data", "flags", "bind", "rec", "ro", "nosuid",
	"nodev", "noexec", "veth", "bridge", "address", "host_address", "gateway",
	"subnet", "mtu", "host", "peer", "memory", "pids", "cpu", "cpuset",
	"masked_paths", "readonly_paths", "pivot_root", "private_mounts", "proc",
	"sys", "dev", "no_new_privs", "close_fds", "new_session", "resolve_cwd",
	"refuse_symlinks", "log_max", "image", "writable", "upper", "keep", "size",
	"nofile", "nproc", "core", "as", "mnt", "mount", "uts", "ipc", "pid", "cgroup",
	"time", "tmpfs", "/mnt", "/bin/sh", "sh", "/tmp", "/", "/proc", "/dev/null",
	"..", ".", "none", "host", "10.1.1.1/24", "10.1.1.2", "10.1.1.0/24",
	"fd00::1/64", "64M", "1G", "512k", "0-1", "0", "unlimited", "CAP_CHOWN",
	"chown", "CAP_SYS_ADMIN", "eth0", "veth0", "nsl0", "8M", "bind,ro",
	"rec,private", "size=64m", "PATH", "HOME", "web1", "a b", "a,b", "\xff",
	"/nonexistent", "bin/sh", "/bin", "/usr/bin/env",
	NULL,
};

static const char *const net_words[] = {
	"lo", "eth0", "veth0", "nsl0", "br0", "default", "10.1.1.1/24", "10.1.1.0/24",
	"10.1.1.2", "fd00::1/64", "fd00::/64", "::1", "::", "0.0.0.0/0",
	"255.255.255.255/32", "1.2.3.4/33", "::ffff:1.2.3.4", "fe80::1%lo", "gw",
	"dev", "metric", "up", "name", "mtu", "mac", "master", "family", "inet",
	"inet6", "netns", "peer_netns", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff",
	"0:0:0:0:0:0", "/", "/24", "10.0.0.1/", "10.0.0.1/024", "1.2.3.4/-1", ".",
	"..", "a:b", "a b", "x", "1234567890123456",
	NULL,
};

static const char *const mount_words[] = {
	"ro", "rw", "nosuid", "nodev", "noexec", "bind", "rec", "remount", "move",
	"private", "slave", "shared", "unbindable", "relatime", "noatime",
	"strictatime", "nodiratime", "lazytime", "sync", "dirsync", "silent",
	"nosymfollow", "detach", "force", "expire", "nofollow", "bind,ro",
	"rec,private", "ro nosuid", "ro,,nodev", " ", ",", "tmpfs", "proc", "none",
	"overlay", "size=64m", "mode=755", "/", "", "x", "..",
	NULL,
};

static const char *const flag_words[] = {
	"mnt", "mount", "uts", "ipc", "pid", "net", "user", "cgroup", "time", "ro",
	"rw", "nosuid", "bind", "rec", "remount", "private", "detach", "force",
	"expire", "nofollow", "CAP_CHOWN", "chown", "cap_sys_admin", "CAP_", "TERM",
	"SIGKILL", "hup", "sig", "/proc/1/ns/net", "./x", "blue", ".", "..", ",",
	" ", "\t", "\n", "\v",
	NULL,
};

static const char *const plan_words[] = {
	"umask", "setsid", "keyring", "dumpable_off", "no_forward", "close", "dup2",
	"mount", "resolve", "touch", "mkdir", "symlink", "hostname", "lo_up",
	"pivot_root", "chroot", "mask", "readonly", "rlimit", "chdir", "caps",
	"nnp", "ready", "init", "exec", "refuse_symlink", "setns", "cgroup", "unshare", "try",
	"otherwise", "status", "go", "dir", "file", "nofile", "stack", "unlimited",
	"bind,ro", "rec,private", "nosuid,nodev", "tmpfs", "proc", "/", "/proc",
	"dev", "", "x", "sh", "PATH", "A=B", "mount /proc", "rootfs",
	NULL,
};

static const char *const no_words[] = {"", NULL};

static const char *const *words;
static int nwords;

enum { MAX_DEPTH = 6, MAX_NODES = 256 };

/*
 * One value from the input: the low four bits of a byte say which kind.
 * 0 nil, 1 false, 2 true, 3 a small integer, 4 a 32-bit integer, 5 a
 * 64-bit integer, 6 a double (NaN and infinities included), 7 a short
 * string, 8 a word, 9 an array, 10 a table of pairs, 11 something special
 * (the temporary root, a function, a long string, a table whose __index
 * raises), 12 two strings joined, 13-15 a word.
 */
static void decode_value(input *in, int depth)
{
	unsigned tag = byte(in);
	if (++in->nodes > MAX_NODES || depth > MAX_DEPTH) {
		lua_pushnil(L);
		return;
	}
	luaL_checkstack(L, 4, "decode");
	switch (tag & 15) {
	case 0:
		lua_pushnil(L);
		break;
	case 1:
	case 2:
		lua_pushboolean(L, (tag & 15) == 2);
		break;
	case 3:
		lua_pushinteger(L, (int8_t)byte(in));
		break;
	case 4:
		lua_pushinteger(L, (lua_Integer)(uint32_t)bytes_le(in, 4));
		break;
	case 5:
		lua_pushinteger(L, (lua_Integer)bytes_le(in, 8));
		break;
	case 6: {
		uint64_t bits = bytes_le(in, 8);
		double d;
		memcpy(&d, &bits, sizeof d);
		lua_pushnumber(L, d);
		break;
	}
	case 7: {
		size_t len = byte(in) % 64;
		if (len > in->n)
			len = in->n;
		lua_pushlstring(L, (const char *)in->p, len);
		in->p += len;
		in->n -= len;
		break;
	}
	case 9: {
		int count = (int)(byte(in) % 8);
		lua_createtable(L, count, 0);
		for (int i = 1; i <= count; i++) {
			decode_value(in, depth + 1);
			lua_rawseti(L, -2, i);
		}
		break;
	}
	case 10: {
		int count = (int)(byte(in) % 8);
		lua_createtable(L, 0, count);
		for (int i = 0; i < count; i++) {
			decode_value(in, depth + 1);
			decode_value(in, depth + 1);
			/* nil and NaN cannot be keys */
			if (lua_isnil(L, -2) || (lua_type(L, -2) == LUA_TNUMBER &&
			                         lua_tonumber(L, -2) != lua_tonumber(L, -2)))
				lua_pop(L, 2);
			else
				lua_rawset(L, -3);
		}
		break;
	}
	case 11:
		switch (byte(in) % 4) {
		case 0:
			lua_pushstring(L, root_dir);
			break;
		case 1:
			lua_getglobal(L, "hostile_fn");
			break;
		case 2: {
			size_t len = (size_t)bytes_le(in, 2) * 4; /* up to 256 KiB */
			char *s = malloc(len + 1);
			if (!s)
				luaL_error(L, "out of memory");
			memset(s, 'a' + (int)(len % 26), len);
			lua_pushlstring(L, s, len);
			free(s);
			break;
		}
		default:
			lua_newtable(L);
			lua_getglobal(L, "hostile_meta");
			lua_setmetatable(L, -2);
			break;
		}
		break;
	case 12:
		decode_value(in, depth + 1);
		if (!lua_isstring(L, -1)) {
			lua_pop(L, 1);
			lua_pushliteral(L, "");
		}
		decode_value(in, depth + 1);
		if (!lua_isstring(L, -1)) {
			lua_pop(L, 1);
			lua_pushliteral(L, "");
		}
		lua_concat(L, 2);
		break;
	default: /* 8, 13, 14, 15: a word */
		lua_pushstring(L, words[byte(in) % (unsigned)nwords]);
		break;
	}
}

/* With NSL_FUZZ_SHOW=1, what an input decodes to is printed: the n
 * values from index first, as the call what(...). */
static void show_call(const char *what, int first, int n)
{
	if (!show)
		return;
	lua_getglobal(L, "fuzz_show");
	lua_pushstring(L, what);
	for (int i = 0; i < n; i++)
		lua_pushvalue(L, first + i);
	lua_call(L, n + 1, 0);
}

/* And what the call gave: the values from index first to the top. */
static void show_result(int status, int first)
{
	if (!show)
		return;
	int top = lua_gettop(L);
	lua_getglobal(L, "fuzz_show");
	lua_pushstring(L, status == LUA_OK ? "  -> returned" : "  -> raised");
	for (int i = first; i <= top; i++)
		lua_pushvalue(L, i);
	lua_call(L, top - first + 2, 0);
}

/* ---- checking outcomes ---------------------------------------------------- */

/* Calls the function below the nargs values on top. Returns the
 * lua_pcall status; results or the error are left on the stack. */
static int call(int nargs)
{
	return lua_pcall(L, nargs, LUA_MULTRET, 0);
}

/* A function of the C core was called: its outcome must be an error
 * message, or nil, message, errno, or a result. base: the stack top
 * before the function was pushed. */
static void check_core(const char *what, int status, int base)
{
	if (status != LUA_OK) {
		if (lua_type(L, -1) != LUA_TSTRING)
			finding("%s raised a %s instead of a message", what,
			        luaL_typename(L, -1));
		return;
	}
	int n = lua_gettop(L) - base;
	if (n < 1)
		finding("%s returned nothing", what);
	if (lua_isnil(L, base + 1) &&
	    (n < 3 || lua_type(L, base + 2) != LUA_TSTRING || !lua_isinteger(L, base + 3)))
		finding("%s failed without nil, message, errno", what);
}

/* ---- flags, capabilities, signals, targets --------------------------------- */

static const nsl_flag *const flag_tables[] = {
	nsl_namespace_flags, nsl_mount_flags, nsl_umount_flags,
};

static int is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

/* The reference: exact names from the table. */
static int ref_name(const nsl_flag *t, const char *s, size_t len,
                    unsigned long *out)
{
	for (; t->name; t++)
		if (strlen(t->name) == len && memcmp(t->name, s, len) == 0) {
			*out |= t->value;
			return 0;
		}
	return -1;
}

/* What nsl_checkflags should make of the value at index 1. */
static int ref_flags(const nsl_flag *t, unsigned long *out)
{
	size_t len;
	*out = 0;
	if (lua_isnil(L, 1))
		return 0;
	if (lua_type(L, 1) == LUA_TSTRING) {
		const char *s = lua_tolstring(L, 1, &len);
		if (memchr(s, '\0', len))
			return -1;
		for (size_t i = 0; i < len;) {
			while (i < len && is_sep(s[i]))
				i++;
			size_t start = i;
			while (i < len && !is_sep(s[i]))
				i++;
			if (i > start && ref_name(t, s + start, i - start, out) < 0)
				return -1;
		}
		return 0;
	}
	if (lua_type(L, 1) != LUA_TTABLE)
		return -1;
	lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return -1;
		}
	}
	for (lua_Integer i = 1; i <= n; i++) {
		int type = lua_rawgeti(L, 1, i);
		const char *s = lua_tolstring(L, -1, &len);
		int bad = type != LUA_TSTRING || memchr(s, '\0', len) ||
		          ref_name(t, s, len, out) < 0;
		lua_pop(L, 1);
		if (bad)
			return -1;
	}
	return 0;
}

/* What nsl_checktarget should make of the value at index 1: a pid, a
 * path starting with '/' or '.', or the name of a named netns. */
static int ref_target(char *path, size_t len, lua_Integer *pid)
{
	path[0] = '\0';
	if (lua_type(L, 1) == LUA_TNUMBER) {
		int isnum;
		*pid = lua_tointegerx(L, 1, &isnum);
		return isnum && *pid >= 1 && *pid <= INT_MAX ? 0 : -1;
	}
	if (lua_type(L, 1) != LUA_TSTRING)
		return -1;
	size_t n;
	const char *s = lua_tolstring(L, 1, &n);
	if (memchr(s, '\0', n) || n > PATH_MAX - 16)
		return -1;
	if (s[0] == '/' || s[0] == '.') {
		snprintf(path, len, "%s", s);
		return 0;
	}
	if (n == 0 || n > NAME_MAX || strchr(s, '/'))
		return -1;
	snprintf(path, len, "/run/netns/%s", s);
	return 0;
}

static int probe_flags(lua_State *l)
{
	int which = (int)lua_tointeger(l, lua_upvalueindex(1));
	unsigned long v = nsl_checkflags(l, 1, flag_tables[which], "flag");
	lua_pushinteger(l, (lua_Integer)v);
	return 1;
}

static int probe_caps(lua_State *l)
{
	lua_pushinteger(l, (lua_Integer)nsl_checkcaps(l, 1));
	return 1;
}

static int probe_signal(lua_State *l)
{
	lua_pushinteger(l, nsl_checksignal(l, 1));
	return 1;
}

static int probe_target(lua_State *l)
{
	pid_t pid;
	char path[PATH_MAX];
	nsl_checktarget(l, 1, &pid, path, sizeof path);
	lua_pushinteger(l, pid);
	lua_pushstring(l, path);
	return 2;
}

/* The value at index 1 from raw bytes: one string, an array of pieces
 * split at 0xff (a piece starting with 0xfe is an integer instead), or a
 * number. */
static void push_raw(input *in, unsigned form)
{
	if (form == 2) {
		decode_value(in, 0);
		return;
	}
	if (form == 0) {
		lua_pushlstring(L, (const char *)in->p, in->n);
		return;
	}
	lua_newtable(L);
	lua_Integer k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= in->n; i++) {
		if (i < in->n && in->p[i] != 0xff)
			continue;
		if (i > start && in->p[start] == 0xfe)
			lua_pushinteger(L, i > start + 1 ? in->p[start + 1] : 0);
		else
			lua_pushlstring(L, (const char *)in->p + start, i - start);
		lua_rawseti(L, -2, ++k);
		start = i + 1;
	}
}

static void fuzz_flags(input *in)
{
	unsigned kind = byte(in) % 6, form = byte(in) % 3;
	static const char *const names[] = {"namespace flags", "mount flags",
	                                    "umount flags", "capabilities",
	                                    "signal", "target"};
	lua_settop(L, 0);
	push_raw(in, form); /* index 1 */
	show_call(names[kind], 1, 1);
	if (kind < 3) {
		lua_pushinteger(L, kind);
		lua_pushcclosure(L, probe_flags, 1);
	} else {
		lua_pushcfunction(L, kind == 3 ? probe_caps : kind == 4 ? probe_signal : probe_target);
	}
	lua_pushvalue(L, 1);
	int status = call(1);
	show_result(status, 2);
	if (status != LUA_OK) {
		if (lua_type(L, -1) != LUA_TSTRING)
			finding("%s: error object is a %s", names[kind], luaL_typename(L, -1));
		const char *msg = lua_tostring(L, -1);
		if (strncmp(msg, "bad argument #1 to ", 19) != 0 && !strstr(msg, "hostile __index"))
			finding("%s: error does not name the argument: %s", names[kind], msg);
	}
	if (kind < 3) {
		unsigned long want;
		int ok = ref_flags(flag_tables[kind], &want) == 0;
		if (ok != (status == LUA_OK))
			finding("%s: nsl_checkflags %s what the reference %s: %s", names[kind],
			        status == LUA_OK ? "accepted" : "refused",
			        ok ? "accepts" : "refuses",
			        status == LUA_OK ? "" : lua_tostring(L, -1));
		if (ok && (unsigned long)lua_tointeger(L, -1) != want)
			finding("%s: nsl_checkflags gave %#lx, the reference %#lx", names[kind],
			        (unsigned long)lua_tointeger(L, -1), want);
	} else if (kind == 3 && status == LUA_OK) {
		int bits = cap_max_bits();
		uint64_t v = (uint64_t)lua_tointeger(L, -1);
		if (bits < 64 && (v >> bits) != 0)
			finding("capabilities: bits above the last capability: %#llx",
			        (unsigned long long)v);
	} else if (kind == 4 && status == LUA_OK) {
		lua_Integer sig = lua_tointeger(L, -1);
		if (sig < 0 || sig >= NSIG)
			finding("signal: %lld is not a signal", (long long)sig);
	} else if (kind == 5) {
		char want[PATH_MAX];
		lua_Integer want_pid = 0;
		int ok = ref_target(want, sizeof want, &want_pid) == 0;
		if (ok != (status == LUA_OK))
			finding("target: nsl_checktarget %s what the reference %s", status == LUA_OK ? "accepted" : "refused",
			        ok ? "accepts" : "refuses");
		if (ok && (lua_tointeger(L, -2) != want_pid || strcmp(lua_tostring(L, -1), want) != 0))
			finding("target: pid %lld, path '%s'; the reference: pid %lld, path '%s'",
			        (long long)lua_tointeger(L, -2), lua_tostring(L, -1), (long long)want_pid, want);
	}
}

/* ---- id maps --------------------------------------------------------------- */

static nsl_idmap_entry idmap[NSL_IDMAP_MAX];

static int probe_idmap(lua_State *l)
{
	lua_pushinteger(l, (lua_Integer)nsl_checkidmap(l, 1, idmap, "id map"));
	return 1;
}

static void fuzz_idmap(input *in)
{
	lua_settop(L, 0);
	if (byte(in) & 1) {
		/* mostly well formed: {{u32, u32, u32}, ...}, now and then a
		 * decoded value in place of an entry or an id */
		int count = (int)(bytes_le(in, 2) % 400);
		lua_createtable(L, count, 0);
		for (int i = 1; i <= count && in->n; i++) {
			unsigned mark = byte(in);
			if (mark >= 0xf0) {
				decode_value(in, 1);
			} else {
				lua_createtable(L, 3, 0);
				for (int j = 1; j <= 3; j++) {
					if (mark & (1u << j))
						decode_value(in, 2);
					else
						lua_pushinteger(L, (lua_Integer)(uint32_t)bytes_le(in, 4));
					lua_rawseti(L, -2, j);
				}
			}
			lua_rawseti(L, -2, i);
		}
	} else {
		decode_value(in, 0);
	}
	show_call("idmap", 1, 1);
	lua_pushcfunction(L, probe_idmap);
	lua_pushvalue(L, 1);
	int status = call(1);
	show_result(status, 2);
	if (status != LUA_OK) {
		if (lua_type(L, -1) != LUA_TSTRING)
			finding("idmap: error object is a %s", luaL_typename(L, -1));
		if (!strstr(lua_tostring(L, -1), "id map") && !strstr(lua_tostring(L, -1), "hostile __index"))
			finding("idmap: error does not name the map: %s", lua_tostring(L, -1));
		return;
	}
	lua_Integer n = lua_tointeger(L, -1);
	if (n < 1 || n > NSL_IDMAP_MAX || (size_t)n != lua_rawlen(L, 1))
		finding("idmap: %lld entries from a table of %zu", (long long)n, (size_t)lua_rawlen(L, 1));
	for (lua_Integer i = 1; i <= n; i++) {
		nsl_idmap_entry *e = &idmap[i - 1];
		if (nsl_idmap_check(e) < 0)
			finding("idmap: entry %lld {%u, %u, %u} accepted but invalid", (long long)i,
			        e->inside, e->outside, e->count);
		lua_rawgeti(L, 1, i);
		for (int j = 1; j <= 3; j++) {
			lua_rawgeti(L, -1, j);
			lua_Integer v = lua_tointeger(L, -1);
			uint32_t got = j == 1 ? e->inside : j == 2 ? e->outside : e->count;
			if (v != (lua_Integer)got)
				finding("idmap: entry %lld part %d is %lld, decoded as %u", (long long)i, j,
				        (long long)v, got);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	/* The text written to uid_map: formatted, then refused at open, as no
	 * process has this pid. */
	nsl_error err;
	err.code = 0;
	if (nsl_idmap_write(INT_MAX, "uid", idmap, (size_t)n, &err) != -1 || err.code != ENOENT)
		finding("idmap: writing the map of pid %d: code %d (%s)", INT_MAX, err.code, err.what);
}

/* ---- net ----------------------------------------------------------------- */

/* Options and attributes name namespaces to act in: a pid or a path
 * would reach the host's (or another process's) network. Only netns
 * names stay, which resolve under /run/netns, an empty tmpfs here. */
static void tame_netns(int t)
{
	static const char *const keys[] = {"netns", "peer_netns"};
	if (lua_type(L, t) != LUA_TTABLE)
		return;
	for (int i = 0; i < 2; i++) {
		lua_pushstring(L, keys[i]);
		lua_rawget(L, t);
		/* the type first: lua_tostring would turn a pid into a string */
		int safe = lua_isnil(L, -1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *s = lua_tostring(L, -1);
			safe = s[0] != '/' && s[0] != '.';
		}
		lua_pop(L, 1);
		if (!safe) {
			lua_pushstring(L, keys[i]);
			lua_pushnil(L);
			lua_rawset(L, t);
		}
	}
}

static void fuzz_net(input *in)
{
	static const char *const ops[] = {"addr_add", "addr_del", "route_add", "route_del",
	                                  "set", "up", "down", "links", "routes"};
	unsigned op = byte(in) % 9;
	int nargs = (int)(byte(in) % 4);
	lua_settop(L, 0);
	lua_getglobal(L, "nsl");
	lua_getfield(L, -1, "net");
	lua_getfield(L, -1, ops[op]);
	lua_replace(L, 1);
	lua_settop(L, 1);
	for (int i = 0; i < nargs; i++) {
		decode_value(in, 0);
		tame_netns(lua_gettop(L));
	}
	show_call(ops[op], 2, nargs);
	int status = call(nargs);
	show_result(status, 1);
	check_core(ops[op], status, 0);
}

/* ---- mount ----------------------------------------------------------------- */

static void fuzz_mount(input *in)
{
	int umount = byte(in) & 1;
	int nargs = umount ? 2 : 5;
	lua_settop(L, 0);
	lua_getglobal(L, "nsl");
	lua_getfield(L, -1, umount ? "umount" : "mount");
	lua_replace(L, 1);
	lua_settop(L, 1);
	for (int i = 0; i < nargs; i++) {
		decode_value(in, 0);
		/* the target: a path under a directory that does not exist, so
		 * that nothing is ever mounted or unmounted */
		if (i == (umount ? 0 : 1) && lua_type(L, -1) == LUA_TSTRING) {
			lua_pushliteral(L, "/nonexistent-nsl-fuzz/");
			lua_insert(L, -2);
			lua_concat(L, 2);
		}
	}
	show_call(umount ? "umount" : "mount", 2, nargs);
	int status = call(nargs);
	show_result(status, 1);
	check_core(umount ? "umount" : "mount", status, 0);
	if (status == LUA_OK && lua_toboolean(L, 1))
		finding("%s went through", umount ? "umount" : "mount");
}

/* ---- container specs ------------------------------------------------------- */

/*
 * The Lua layer is not compiled code: libFuzzer would not see which of
 * its branches an input took. A line hook feeds that to it instead, as
 * extra counters: one per pair (previous line, line), hashed.
 */
#define LUA_EDGES 65536
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[LUA_EDGES];
static uintptr_t lua_prev;

static void line_hook(lua_State *l, lua_Debug *ar)
{
	if (!lua_getinfo(l, "S", ar))
		return;
	uintptr_t here = ((uintptr_t)ar->source * 2654435761u) ^
	                 ((uintptr_t)ar->currentline * 40503u);
	lua_edges[(here ^ (lua_prev >> 1)) % LUA_EDGES]++;
	lua_prev = here;
}

/*
 * Whether msg holds the position of a line of the Lua layer as a word of
 * its own ("nsl/container.lua:485:" at the start or after ": "): an
 * error raised inside the layer (a library function given what its
 * checks let through), where its checks would name the field at fault.
 * Matched by hand: libFuzzer learns the strings given to strstr and
 * would soon put them into the specs it makes.
 */
static int internal_position(const char *msg)
{
	for (const char *p = msg; *p; p++) {
		if (p != msg && !(p - msg >= 2 && p[-1] == ' ' && p[-2] == ':'))
			continue;
		const char *q = p;
		while (*q && *q != ' ' && *q != ':')
			q++;
		/* q ends the file name: it must be .../nsl/<name>.lua */
		if (q - p < 9 || q[0] != ':' || q[-4] != '.' || q[-3] != 'l' ||
		    q[-2] != 'u' || q[-1] != 'a')
			continue;
		const char *slash = q - 5;
		while (slash > p && *slash != '/')
			slash--;
		if (slash - p < 3 || slash[-3] != 'n' || slash[-2] != 's' || slash[-1] != 'l')
			continue;
		const char *d = q + 1;
		if (*d < '0' || *d > '9')
			continue;
		while (*d >= '0' && *d <= '9')
			d++;
		if (*d == ':')
			return 1;
	}
	return 0;
}

static void fuzz_spec(input *in)
{
	unsigned how = byte(in);
	lua_settop(L, 0);
	lua_getglobal(L, "nsl");
	lua_getfield(L, -1, "container");
	lua_replace(L, 1);
	lua_settop(L, 1);
	if (how & 1) {
		/* a table of fields named by words */
		int count = (int)(byte(in) % 12);
		lua_createtable(L, 0, count);
		for (int i = 0; i < count; i++) {
			lua_pushstring(L, words[byte(in) % (unsigned)nwords]);
			decode_value(in, 1);
			lua_rawset(L, -3);
		}
	} else {
		decode_value(in, 0);
	}
	int has_meta = lua_getmetatable(L, 2);
	if (has_meta)
		lua_pop(L, 1);
	if ((how & 2) && lua_type(L, 2) == LUA_TTABLE && !has_meta) {
		lua_pushliteral(L, "rootfs");
		lua_rawget(L, 2);
		if (lua_isnil(L, -1)) {
			lua_pushliteral(L, "rootfs");
			lua_pushstring(L, root_dir);
			lua_rawset(L, 2);
		}
		lua_pop(L, 1);
	}
	show_call("nsl.container", 2, 1);
	lua_prev = 0;
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
	int status = call(1);
	lua_sethook(L, NULL, 0, 0);
	show_result(status, 1);
	if (status != LUA_OK) {
		if (lua_type(L, -1) != LUA_TSTRING)
			finding("nsl.container raised a %s", luaL_typename(L, -1));
		const char *msg = lua_tostring(L, -1);
		if (strict && internal_position(msg))
			finding("nsl.container failed inside the Lua layer: %s", msg);
	}
}

/* ---- plans ------------------------------------------------------------------ */

/* nsl.plan(steps [, opts]): the checks of every step (src/plan.c). A
 * plan is only made, never run. */
static void fuzz_plan(input *in)
{
	int nargs = 1 + (int)(byte(in) & 1);
	lua_settop(L, 0);
	lua_getglobal(L, "nsl");
	lua_getfield(L, -1, "plan");
	lua_replace(L, 1);
	lua_settop(L, 1);
	for (int i = 0; i < nargs; i++)
		decode_value(in, 0);
	show_call("nsl.plan", 2, nargs);
	int status = call(nargs);
	show_result(status, 1);
	check_core("nsl.plan", status, 0);
}

/* ---- libFuzzer ------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strict = getenv("NSL_FUZZ_STRICT") && strcmp(getenv("NSL_FUZZ_STRICT"), "1") == 0;
	show = getenv("NSL_FUZZ_SHOW") && strcmp(getenv("NSL_FUZZ_SHOW"), "1") == 0;
	const char *const *w = no_words;
	if (strcmp(TARGET, "spec") == 0)
		w = spec_words;
	else if (strcmp(TARGET, "net") == 0)
		w = net_words;
	else if (strcmp(TARGET, "mount") == 0)
		w = mount_words;
	else if (strcmp(TARGET, "flags") == 0)
		w = flag_words;
	else if (strcmp(TARGET, "idmap") == 0)
		w = no_words;
	else if (strcmp(TARGET, "plan") == 0)
		w = plan_words;
	words = w;
	for (nwords = 0; words[nwords]; nwords++) {}
	sandbox();
	setup_lua();
	return 0;
}

static int run_input(lua_State *l)
{
	input *in = lua_touserdata(l, 1);
	if (strcmp(TARGET, "flags") == 0)
		fuzz_flags(in);
	else if (strcmp(TARGET, "idmap") == 0)
		fuzz_idmap(in);
	else if (strcmp(TARGET, "net") == 0)
		fuzz_net(in);
	else if (strcmp(TARGET, "mount") == 0)
		fuzz_mount(in);
	else if (strcmp(TARGET, "spec") == 0)
		fuzz_spec(in);
	else if (strcmp(TARGET, "plan") == 0)
		fuzz_plan(in);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = {data, size, 0};
	/* The decoding runs protected too: running out of memory there is
	 * not a finding. The calls inside have their own lua_pcall. */
	lua_settop(L, 0);
	lua_pushcfunction(L, run_input);
	lua_pushlightuserdata(L, &in);
	lua_pcall(L, 1, 0, 0);
	lua_settop(L, 0);
	/* Garbage goes now: what an input allocated is freed by its end,
	 * so libFuzzer's leak check looks only at real leaks. */
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
