/*
 * Processes: exec, wait, kill and the ids of the caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#include "lnsl.h"
#include "util.h"
#include "areas.h"

/* PIDFD_GET_INFO (Linux 6.13; the exit status since 6.15), declared here:
 * the build host's headers may predate it. */
struct nsl_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define NSL_PIDFD_INFO_EXIT (1ULL << 3)
#define NSL_PIDFD_GET_INFO _IOWR(0xFF, 11, struct nsl_pidfd_info)

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A NULL-terminated array of strings on the Lua heap (a userdata on the
 * stack), so a raised error frees it like anything else. */
static char **new_strv(lua_State *L, size_t n)
{
	char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
	v[n] = NULL;
	return v;
}

static char **check_argv(lua_State *L, int arg)
{
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_Integer n = luaL_len(L, arg);
	if (n < 1)
		luaL_argerror(L, arg, "argv must have at least one string");
	if (n > 65536)
		luaL_argerror(L, arg, "argv has too many entries");
	char **argv = new_strv(L, (size_t)n);
	lua_createtable(L, (int)n, 0); /* keeps converted numbers alive */
	int keep = lua_gettop(L);
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		if (lua_geti(L, arg, i) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
			luaL_argerror(L, arg,
			              lua_pushfstring(L, "argv[%I] must be a string (got %s)",
			                              i, luaL_typename(L, -1)));
		const char *s = lua_tolstring(L, -1, &len);
		if (strlen(s) != len)
			luaL_argerror(L, arg,
			              lua_pushfstring(L, "argv[%I] contains a NUL byte", i));
		argv[i - 1] = (char *)s;
		lua_rawseti(L, keep, i);
	}
	return argv;
}

/* env = {KEY = "value"} to "KEY=value" strings; *path gets PATH's value. */
static char **check_env(lua_State *L, int t, const char **path)
{
	size_t n = 0;
	t = lua_absindex(L, t);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		n++;
	}
	char **envp = new_strv(L, n);
	lua_newtable(L); /* keeps the "KEY=value" strings alive */
	int keep = lua_gettop(L);
	size_t i = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		size_t klen, vlen;
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "exec options: env keys must be strings (got %s)",
			           luaL_typename(L, -2));
		if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
			luaL_error(L, "exec options: env.%s must be a string (got %s)",
			           lua_tostring(L, -2), luaL_typename(L, -1));
		const char *k = lua_tolstring(L, -2, &klen);
		const char *v = lua_tolstring(L, -1, &vlen);
		if (klen == 0 || strlen(k) != klen || strchr(k, '='))
			luaL_error(L, "exec options: env key '%s' is not a valid variable name", k);
		if (strlen(v) != vlen)
			luaL_error(L, "exec options: env.%s contains a NUL byte", k);
		if (strcmp(k, "PATH") == 0)
			*path = v;
		lua_pushfstring(L, "%s=%s", k, v);
		envp[i++] = (char *)lua_tostring(L, -1);
		lua_rawseti(L, keep, (lua_Integer)i);
		lua_pop(L, 1);
	}
	return envp;
}

/* execve(2) through a PATH search like execvp's, but with the PATH of
 * the new environment. Returns only on failure, with errno set. */
void nsl_exec_search(const char *file, char **argv, char **envp,
                     const char *path)
{
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return;
	}
	int saw_eacces = 0;
	char buf[PATH_MAX];
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0) /* an empty entry means the current directory */
			snprintf(buf, sizeof buf, "%s", file);
		else
			snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, file);
		execve(buf, argv, envp);
		if (errno == EACCES)
			saw_eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG)
			return;
		p += len;
		if (*p == ':')
			p++;
	}
	errno = saw_eacces ? EACCES : ENOENT;
}

static const char *const exec_fields[] = {"env", "keep_fds", NULL};

/*
 * nsl.exec(argv [, opts])
 * Replaces the process with argv[1] (searched in PATH) and its arguments.
 * opts.env = {KEY = "value"} replaces the environment (its PATH is the one
 * searched); opts.keep_fds = {3, ...} lists descriptors above 2 that stay
 * open: every other one is closed on exec. Returns only on failure.
 * @see execve(2)
 */
static int l_exec(lua_State *L)
{
	extern char **environ;
	const char *path = NULL;
	char **envp = environ;
	int keep[64], nkeep = 0;

	nsl_checknargs(L, 2);
	luaL_checktype(L, 1, LUA_TTABLE); /* before lua_settop turns none into nil */
	int has_opts = nsl_opttable(L, 2);
	/* check_argv pushes onto the stack: give opts its slot first, or the
	 * argv userdata lands at index 2 when opts was omitted. */
	lua_settop(L, 2);
	char **argv = check_argv(L, 1);
	if (has_opts) {
		nsl_checkfields(L, 2, exec_fields, "exec options");
		if (lua_getfield(L, 2, "env") != LUA_TNIL) {
			if (!lua_istable(L, -1))
				luaL_error(L, "exec options: env must be a table (got %s)",
				           luaL_typename(L, -1));
			envp = check_env(L, -1, &path);
		}
		if (lua_getfield(L, 2, "keep_fds") != LUA_TNIL) {
			int t = lua_gettop(L);
			if (!lua_istable(L, t))
				luaL_error(L, "exec options: keep_fds must be a list of descriptors");
			lua_Integer n = luaL_len(L, t);
			if (n > (lua_Integer)(sizeof keep / sizeof keep[0]))
				luaL_error(L, "exec options: keep_fds has too many entries");
			for (lua_Integer i = 1; i <= n; i++) {
				int isnum;
				lua_geti(L, t, i);
				lua_Integer fd = lua_tointegerx(L, -1, &isnum);
				if (!isnum || fd < 0 || fd > INT_MAX)
					luaL_error(L, "exec options: keep_fds[%I] must be a descriptor number", i);
				keep[nkeep++] = (int)fd;
				lua_pop(L, 1);
			}
		}
	}
	if (!path && envp == environ)
		path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;

	fflush(NULL);
	/* Nothing but 0-2 and the kept descriptors crosses the exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return nsl_pusherrno(L, "exec %s: close_range", argv[0]);
	for (int i = 0; i < nkeep; i++)
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			return nsl_pusherrno(L, "exec %s: keep descriptor %d", argv[0], keep[i]);
	/* A blocked signal would stay blocked in the new program. */
	sigset_t all, old;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	nsl_exec_search(argv[0], argv, envp, path);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return nsl_pusherrno(L, "exec %s", argv[0]);
}

/*
 * nsl.wait(pid) -> ok, "exit"|"signal", n
 * Waits for a child to end; the same triple as os.execute. @see waitpid(2)
 */
static int l_wait(lua_State *L)
{
	int status;
	pid_t pid = nsl_checkpid(L, 1);
	nsl_checknargs(L, 1);
	if (NSL_RETRY(waitpid(pid, &status, 0)) < 0)
		return nsl_pusherrno(L, "wait %d", (int)pid);
	return nsl_pushstatus(L, status);
}

/*
 * nsl.kill(pid, sig) -> true
 * sig: a name ("TERM", "SIGKILL") or a number; TERM when omitted. A
 * negative pid names a process group. @see kill(2)
 */
static int l_kill(lua_State *L)
{
	lua_Integer pid = nsl_checkrange(L, 1, -INT_MAX, INT_MAX, "pid");
	if (pid == 0 || pid == -1)
		luaL_argerror(L, 1, "pid 0 and -1 are not accepted (they signal many processes)");
	int sig = lua_isnoneornil(L, 2) ? SIGTERM : nsl_checksignal(L, 2);
	nsl_checknargs(L, 2);
	if (kill((pid_t)pid, sig) < 0)
		return nsl_pusherrno(L, "kill %d", (int)pid);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.getpid() -> integer
 * The caller's pid as its own pid namespace sees it (1 for a container's
 * first process). Never cached: right in a cloned child too.
 */
static int l_getpid(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, getpid());
	return 1;
}

/*
 * nsl.getppid() -> integer
 * The parent's pid; 0 when the parent is outside the caller's pid namespace.
 */
static int l_getppid(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, getppid());
	return 1;
}

/*
 * nsl.getuid() -> integer
 * The real uid, as the caller's user namespace maps it (65534 when unmapped).
 */
static int l_getuid(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, getuid());
	return 1;
}

/*
 * nsl.getgid() -> integer
 * The real gid, as the caller's user namespace maps it.
 */
static int l_getgid(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, getgid());
	return 1;
}

/*
 * nsl.geteuid() -> integer
 * The effective uid.
 */
static int l_geteuid(lua_State *L)
{
	nsl_checknargs(L, 0);
	lua_pushinteger(L, geteuid());
	return 1;
}

/*
 * nsl.pidfd(pid) -> fd
 * A descriptor that refers to the process pid (not to whichever process
 * gets its number later) and becomes readable in nsl.poll when it ends;
 * close-on-exec. Works for any process the caller can see, not only its
 * children. @see pidfd_open(2)
 */
static int l_pidfd(lua_State *L)
{
	pid_t pid = nsl_checkpid(L, 1);
	nsl_checknargs(L, 1);
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return nsl_pusherrno(L, "pidfd %d", (int)pid);
	lua_pushinteger(L, fd);
	return 1;
}

/*
 * nsl.pidfd_kill(fd [, sig]) -> true
 * Sends sig (a name or a number; TERM when omitted) to the process
 * behind a pidfd: to that process only, never to a later one that got
 * its pid. Fails with ESRCH once it has ended. @see pidfd_send_signal(2)
 */
static int l_pidfd_kill(lua_State *L)
{
	int fd = (int)nsl_checkrange(L, 1, 0, INT_MAX, "fd");
	int sig = lua_isnoneornil(L, 2) ? SIGTERM : nsl_checksignal(L, 2);
	nsl_checknargs(L, 2);
	if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
		return nsl_pusherrno(L, "pidfd_kill %d", fd);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.pidfd_status(fd) -> ok, "exit"|"signal", n
 * How the process behind a pidfd ended, the same triple as nsl.wait,
 * once its parent reaped it: the kernel keeps the status for whoever
 * holds a pidfd, so a process that is not the parent learns it too.
 * Before that: nil, message, EAGAIN. Needs Linux 6.15 (older kernels:
 * nil, message, ENOTTY or EINVAL). @see PIDFD_GET_INFO in ioctl_pidfd(2)
 */
static int l_pidfd_status(lua_State *L)
{
	int fd = (int)nsl_checkrange(L, 1, 0, INT_MAX, "fd");
	nsl_checknargs(L, 1);
	struct nsl_pidfd_info info;
	memset(&info, 0, sizeof info);
	info.mask = NSL_PIDFD_INFO_EXIT;
	if (ioctl(fd, NSL_PIDFD_GET_INFO, &info) < 0)
		return nsl_pusherrno(L, "pidfd_status %d", fd);
	if (!(info.mask & NSL_PIDFD_INFO_EXIT)) {
		luaL_pushfail(L);
		lua_pushfstring(L, "pidfd_status %d: the process has not ended and been reaped yet", fd);
		lua_pushinteger(L, EAGAIN);
		return 3;
	}
	return nsl_pushstatus(L, info.exit_code);
}

const luaL_Reg nsl_proc_funcs[] = {
	{"pidfd", l_pidfd},
	{"pidfd_status", l_pidfd_status},
	{"pidfd_kill", l_pidfd_kill},
	{"exec", l_exec},
	{"wait", l_wait},
	{"kill", l_kill},
	{"getpid", l_getpid},
	{"getppid", l_getppid},
	{"getuid", l_getuid},
	{"geteuid", l_geteuid},
	{"getgid", l_getgid},
	{NULL, NULL},
};
