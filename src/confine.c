/*
 * Confinement: installing a seccomp filter (compiled elsewhere, see
 * seccomp_compile.c) and Landlock rulesets. Both are Lua-free below the
 * wrappers, so a plan's steps (plan_run.c) install them in a cloned child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

/* ---- seccomp ------------------------------------------------------------ */

int nsl_seccomp_check(size_t len)
{
	return len > 0 && len % sizeof(struct sock_filter) == 0 &&
	       len / sizeof(struct sock_filter) <= BPF_MAXINSNS;
}

int nsl_seccomp_load(const void *prog, size_t len, nsl_error *err)
{
	if (!nsl_seccomp_check(len))
		return nsl_fail(err, EINVAL, "seccomp: not a filter program (%zu bytes)", len);
	struct sock_fprog fp = {
		.len = (unsigned short)(len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(uintptr_t)prog,
	};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) == 0)
		return 0;
	if (errno == ENOSYS && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) == 0)
		return 0;
	return nsl_fail(err, errno, "seccomp: install the filter");
}

/*
 * nsl.seccomp_load(filter) -> true
 * Installs filter, a classic BPF program (the bytes of its struct
 * sock_filter array, as nsl.seccomp.compile makes them), on the calling
 * thread and every process it starts from now on. Needs no_new_privs (or
 * CAP_SYS_ADMIN); irreversible.
 * @see seccomp(2) SECCOMP_SET_MODE_FILTER
 */
static int l_seccomp_load(lua_State *L)
{
	size_t len;
	const char *prog = luaL_checklstring(L, 1, &len);
	nsl_checknargs(L, 1);
	if (!nsl_seccomp_check(len))
		return luaL_argerror(L, 1, "not a filter program (a multiple of 8 bytes, at most 4096 instructions)");
	nsl_error err;
	if (nsl_seccomp_load(prog, len, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.seccomp_mode() -> "disabled" | "strict" | "filter"
 * The calling process's seccomp mode (the Seccomp line of
 * /proc/self/status).
 */
static int l_seccomp_mode(lua_State *L)
{
	static const char *const modes[] = {"disabled", "strict", "filter"};
	nsl_checknargs(L, 0);
	int m = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	if (m < 0) {
		if (errno != EINVAL)
			return nsl_pusherrno(L, "seccomp_mode");
		m = 0; /* a kernel built without seccomp */
	}
	lua_pushstring(L, m >= 0 && m <= 2 ? modes[m] : "unknown");
	return 1;
}

/* ---- a sealed copy of a program ------------------------------------------ */

/*
 * nsl.sealed_copy(path [, name]) -> fd
 * A copy of the file at path in memory (memfd named name, default the
 * file's), sealed against every change, as a close-on-exec descriptor to
 * execute with execveat. A container's init run from it has no path to the
 * host's binary: /proc/1/exe names the copy, which nothing can write (as
 * runc does since CVE-2019-5736).
 * @see memfd_create(2), F_ADD_SEALS in fcntl(2)
 */
static int l_sealed_copy(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *name = luaL_optstring(L, 2, NULL);
	nsl_checknargs(L, 2);
	if (!name) {
		name = strrchr(path, '/');
		name = name ? name + 1 : path;
	}
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return nsl_pusherrno(L, "sealed_copy %s", path);
	struct stat st;
	int out = -1;
	if (fstat(in, &st) < 0)
		goto fail;
	out = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (out < 0)
		goto fail;
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = sendfile(out, in, NULL, (size_t)(st.st_size - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the file shrank under us */
			goto fail;
		}
		done += n;
	}
	if (fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	close(in);
	lua_pushinteger(L, out);
	return 1;
fail:;
	int e = errno;
	close(in);
	if (out >= 0)
		close(out);
	errno = e;
	return nsl_pusherrno(L, "sealed_copy %s", path);
}

/* ---- Landlock ----------------------------------------------------------- */

/* Rights newer than the build's kernel headers (Debian 12: ABI 2): the
 * kernel's values, stable by its ABI rules. */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_RULE_NET_PORT 2           /* ABI 4 */
#define LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                        LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

int nsl_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

int nsl_landlock_create(unsigned long long fs, unsigned long long net, nsl_error *err)
{
	/* ABI 1-3 take the first field only, 4+ both: a size the kernel knows */
	struct {
		__u64 fs, net, scoped;
	} attr = {fs, net, 0};
	size_t size = net ? 2 * sizeof(__u64) : sizeof(__u64);
	long fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0)
		return nsl_fail(err, errno, "landlock: create a ruleset");
	return (int)fd;
}

int nsl_landlock_add_path(int ruleset, unsigned long long access, const char *path,
                          nsl_error *err)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return nsl_fail(err, errno, "landlock: open %s", path);
	/* a file takes only the rights that apply to files */
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FILE_RIGHTS;
	struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
	long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	int e = errno;
	close(fd);
	if (r < 0)
		return nsl_fail(err, e, "landlock: add a rule for %s", path);
	return 0;
}

int nsl_landlock_add_port(int ruleset, unsigned long long access, unsigned long long port,
                          nsl_error *err)
{
	struct {
		__u64 allowed_access, port;
	} __attribute__((packed)) np = {access, port};
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) < 0)
		return nsl_fail(err, errno, "landlock: add a rule for port %llu", port);
	return 0;
}

int nsl_landlock_restrict(int ruleset, nsl_error *err)
{
	long r = syscall(SYS_landlock_restrict_self, ruleset, 0);
	int e = errno;
	close(ruleset);
	if (r < 0)
		return nsl_fail(err, e, "landlock: restrict the process");
	return 0;
}

/*
 * nsl.landlock_abi() -> integer
 * The Landlock ABI version of the running kernel, 0 when Landlock is not
 * available (not built, or not enabled at boot).
 * @see landlock_create_ruleset(2) LANDLOCK_CREATE_RULESET_VERSION
 */
static int l_landlock_abi(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, nsl_landlock_abi());
	return 1;
}

static unsigned long long field_mask(lua_State *L, int idx, const char *what)
{
	lua_Integer v = luaL_checkinteger(L, idx);
	if (v < 0)
		luaL_error(L, "landlock: %s must be a non-negative mask", what);
	return (unsigned long long)v;
}

/*
 * nsl.landlock_restrict(rules) -> true
 * rules = {fs = mask, net = mask, paths = {{mask, path}, ...},
 * ports = {{mask, port}, ...}}. Confines the calling process and its
 * future children: the access rights in fs (LANDLOCK_ACCESS_FS_* bits)
 * and net (LANDLOCK_ACCESS_NET_*) are refused except beneath each path
 * with its mask, and on each port with its. Needs no_new_privs (or CAP_SYS_ADMIN). nsl.landlock (the Lua layer)
 * speaks in names; this is the kernel's interface.
 * @see landlock(7)
 */
static int l_landlock_restrict(lua_State *L)
{
	static const char *const fields[] = {"fs", "net", "paths", "ports", NULL};
	luaL_checktype(L, 1, LUA_TTABLE);
	nsl_checknargs(L, 1);
	nsl_checkfields(L, 1, fields, "landlock");
	lua_getfield(L, 1, "fs");
	unsigned long long fs = lua_isnil(L, -1) ? 0 : field_mask(L, -1, "fs");
	lua_getfield(L, 1, "net");
	unsigned long long net = lua_isnil(L, -1) ? 0 : field_mask(L, -1, "net");
	lua_pop(L, 2);
	/* every rule checked before the ruleset exists: a raised error leaks nothing */
	int n[2] = {0, 0};
	static const char *const lists[] = {"paths", "ports"};
	for (int k = 0; k < 2; k++) {
		int ty = lua_getfield(L, 1, lists[k]);
		if (ty != LUA_TNIL && ty != LUA_TTABLE)
			luaL_error(L, "landlock: %s must be a list", lists[k]);
		n[k] = ty == LUA_TNIL ? 0 : (int)luaL_len(L, -1);
		for (int i = 1; i <= n[k]; i++) {
			lua_geti(L, -1, i);
			luaL_checktype(L, -1, LUA_TTABLE);
			lua_geti(L, -1, 1);
			field_mask(L, -1, lists[k]);
			lua_geti(L, -2, 2);
			if (k == 0 && !lua_isstring(L, -1))
				luaL_error(L, "landlock: paths[%d] needs a path", i);
			if (k == 1 && (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
			               lua_tointeger(L, -1) > 65535))
				luaL_error(L, "landlock: ports[%d] needs a port number", i);
			lua_pop(L, 3);
		}
		lua_pop(L, 1);
	}
	nsl_error err;
	int rs = nsl_landlock_create(fs, net, &err);
	if (rs < 0)
		return nsl_pushfail(L, &err);
	for (int k = 0; k < 2; k++) {
		lua_getfield(L, 1, lists[k]);
		for (int i = 1; i <= n[k]; i++) {
			lua_geti(L, -1, i);
			lua_geti(L, -1, 1);
			lua_geti(L, -2, 2);
			unsigned long long mask = (unsigned long long)lua_tointeger(L, -2);
			int r = k == 0 ? nsl_landlock_add_path(rs, mask, lua_tostring(L, -1), &err)
			               : nsl_landlock_add_port(rs, mask,
			                                       (unsigned long long)lua_tointeger(L, -1), &err);
			lua_pop(L, 3);
			if (r < 0) {
				close(rs);
				return nsl_pushfail(L, &err);
			}
		}
		lua_pop(L, 1);
	}
	if (nsl_landlock_restrict(rs, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg nsl_confine_funcs[] = {
	{"sealed_copy", l_sealed_copy},
	{"seccomp_load", l_seccomp_load},
	{"seccomp_mode", l_seccomp_mode},
	{"landlock_abi", l_landlock_abi},
	{"landlock_restrict", l_landlock_restrict},
	{NULL, NULL},
};
