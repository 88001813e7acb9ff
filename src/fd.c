/*
 * File descriptors: pipes between a container and its creator, and
 * control over which descriptors reach a new program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"

#define READ_MAX 65536

static int check_fd(lua_State *L, int arg)
{
	return (int)nsl_checkrange(L, arg, 0, INT_MAX, "descriptor");
}

/*
 * nsl.pipe() -> rfd, wfd
 * A pipe; both ends close on exec. @see pipe2(2)
 */
static int l_pipe(lua_State *L)
{
	int p[2];
	nsl_checknargs(L, 0);
	if (pipe2(p, O_CLOEXEC) < 0)
		return nsl_pusherrno(L, "pipe");
	lua_pushinteger(L, p[0]);
	lua_pushinteger(L, p[1]);
	return 2;
}

/*
 * nsl.close(fd) -> true
 * @see close(2)
 */
static int l_close(lua_State *L)
{
	int fd = check_fd(L, 1);
	nsl_checknargs(L, 1);
	if (close(fd) < 0 && errno != EINTR)
		return nsl_pusherrno(L, "close %d", fd);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.read(fd [, max]) -> string
 * Reads at most max bytes (4096 by default, up to 65536) in one read(2);
 * "" means end of file. Retries when a signal interrupts it. @see read(2)
 */
static int l_read(lua_State *L)
{
	char buf[READ_MAX];
	int fd = check_fd(L, 1);
	size_t max = lua_isnoneornil(L, 2) ? 4096
	             : (size_t)nsl_checkrange(L, 2, 1, READ_MAX, "max");
	nsl_checknargs(L, 2);
	ssize_t n = NSL_RETRY(read(fd, buf, max));
	if (n < 0)
		return nsl_pusherrno(L, "read %d", fd);
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

/*
 * nsl.write(fd, data) -> bytes written
 * One write(2), retried when a signal interrupts it; a write of at most
 * PIPE_BUF bytes to a pipe is atomic. @see write(2)
 */
static int l_write(lua_State *L)
{
	size_t len;
	int fd = check_fd(L, 1);
	const char *data = luaL_checklstring(L, 2, &len);
	nsl_checknargs(L, 2);
	ssize_t n = NSL_RETRY(write(fd, data, len));
	if (n < 0)
		return nsl_pusherrno(L, "write %d", fd);
	lua_pushinteger(L, n);
	return 1;
}

/*
 * nsl.dup2(oldfd, newfd) -> newfd
 * newfd becomes a copy of oldfd that stays open on exec. @see dup2(2)
 */
static int l_dup2(lua_State *L)
{
	int oldfd = check_fd(L, 1), newfd = check_fd(L, 2);
	nsl_checknargs(L, 2);
	if (NSL_RETRY(dup2(oldfd, newfd)) < 0)
		return nsl_pusherrno(L, "dup2 %d to %d", oldfd, newfd);
	lua_pushinteger(L, newfd);
	return 1;
}

/*
 * nsl.cloexec(fd, on) -> true
 * Sets (on true) or clears the close-on-exec flag of fd. @see fcntl(2)
 */
static int l_cloexec(lua_State *L)
{
	int fd = check_fd(L, 1);
	luaL_checktype(L, 2, LUA_TBOOLEAN);
	int on = lua_toboolean(L, 2);
	nsl_checknargs(L, 2);
	if (fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0) < 0)
		return nsl_pusherrno(L, "cloexec %d", fd);
	lua_pushboolean(L, 1);
	return 1;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The open descriptors of the caller, sorted, into fds (at most max);
 * returns their number or -1. */
static int list_fds(int *fds, int max, nsl_error *err)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return nsl_fail(err, errno, "list descriptors: /proc/self/fd");
	int own = dirfd(d), n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);
		if (fd != own)
			fds[n++] = fd;
	}
	closedir(d);
	qsort(fds, (size_t)n, sizeof *fds, cmp_int);
	return n;
}

/*
 * nsl.fds() -> {fd, ...}
 * The caller's open descriptors, in increasing order, as /proc/self/fd
 * lists them.
 */
static int l_fds(lua_State *L)
{
	int fds[1024];
	nsl_error err;
	nsl_checknargs(L, 0);
	int n = list_fds(fds, 1024, &err);
	if (n < 0)
		return nsl_pushfail(L, &err);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushinteger(L, fds[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static const char *const close_fields[] = {"keep", "null", NULL};

/*
 * nsl.close_fds(first [, opts]) -> true
 * Closes every descriptor from first on, except those listed in
 * opts.keep. With opts.null = true they are not closed but made copies
 * of /dev/null instead: their numbers stay taken, so that a stale handle
 * (a Lua file the caller still holds) can never close or write to a
 * descriptor opened later. @see close_range(2)
 */
static int l_close_fds(lua_State *L)
{
	int keep[64], nkeep = 0, to_null = 0;
	int first = check_fd(L, 1);
	if (nsl_opttable(L, 2)) {
		nsl_checkfields(L, 2, close_fields, "close_fds options");
		if (lua_getfield(L, 2, "keep") != LUA_TNIL) {
			if (!lua_istable(L, -1))
				luaL_error(L, "close_fds options: keep must be a list of descriptors");
			lua_Integer n = luaL_len(L, -1);
			if (n > 64)
				luaL_error(L, "close_fds options: keep has more than 64 entries");
			for (lua_Integer i = 1; i <= n; i++) {
				int isnum;
				lua_geti(L, -1, i);
				lua_Integer fd = lua_tointegerx(L, -1, &isnum);
				if (!isnum || fd < 0 || fd > INT_MAX)
					luaL_error(L, "close_fds options: keep[%I] must be a descriptor number", i);
				keep[nkeep++] = (int)fd;
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		lua_getfield(L, 2, "null");
		to_null = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	nsl_checknargs(L, 2);

	nsl_error err;
	int fds[4096];
	int n = list_fds(fds, 4096, &err);
	if (n < 0)
		return nsl_pushfail(L, &err);
	nsl_autoclose int null = -1;
	if (to_null) {
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0)
			return nsl_pusherrno(L, "close_fds: open /dev/null");
	}
	for (int i = 0; i < n; i++) {
		int fd = fds[i], kept = fd < first || fd == null;
		for (int k = 0; k < nkeep && !kept; k++)
			kept = keep[k] == fd;
		if (kept)
			continue;
		if (to_null) {
			if (dup3(null, fd, O_CLOEXEC) < 0)
				return nsl_pusherrno(L, "close_fds: dup3 %d", fd);
		} else {
			close(fd);
		}
	}
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.poll(fds [, timeout]) -> {fd, ...}
 * Waits until one of the descriptors in the list fds is readable (or
 * closed at the other end, or a pidfd whose process ended) and returns
 * the ready ones; an empty list when timeout seconds (a number; nil or
 * negative: no limit) passed first. A signal that interrupts the wait
 * returns an empty list too. At most 1024 descriptors; an empty list
 * needs a timeout (it could only wait forever). @see poll(2)
 */
static int l_poll(lua_State *L)
{
	struct pollfd p[1024];
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Number t = luaL_optnumber(L, 2, -1);
	nsl_checknargs(L, 2);
	lua_Integer n = luaL_len(L, 1);
	if (n < 0 || n > 1024)
		return luaL_argerror(L, 1, "at most 1024 descriptors");
	for (lua_Integer i = 0; i < n; i++) {
		lua_geti(L, 1, i + 1);
		int isnum;
		lua_Integer fd = lua_tointegerx(L, -1, &isnum);
		if (!isnum || fd < 0 || fd > INT_MAX)
			return luaL_error(L, "bad argument #1 to 'poll' (fds[%d] must be a descriptor)", (int)i + 1);
		lua_pop(L, 1);
		p[i].fd = (int)fd;
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	if (t != t)
		return luaL_argerror(L, 2, "timeout must be a number of seconds");
	if (n == 0 && t < 0)
		return luaL_argerror(L, 1, "an empty list without a timeout would wait forever");
	int ms = t < 0 ? -1 : t > 86400 ? 86400000 : (int)(t * 1000 + 0.999);
	int r = poll(p, (nfds_t)n, ms);
	if (r < 0 && errno != EINTR)
		return nsl_pusherrno(L, "poll");
	lua_createtable(L, r > 0 ? r : 0, 0);
	lua_Integer k = 0;
	for (lua_Integer i = 0; r > 0 && i < n; i++) {
		if (p[i].revents & POLLNVAL)
			return luaL_error(L, "poll: descriptor %d is not open", p[i].fd);
		if (p[i].revents) {
			lua_pushinteger(L, p[i].fd);
			lua_rawseti(L, -2, ++k);
		}
	}
	return 1;
}

static const nsl_flag open_flags[] = {
	{"rdonly", O_RDONLY}, {"wronly", O_WRONLY}, {"rdwr", O_RDWR},
	{"creat", O_CREAT}, {"excl", O_EXCL}, {"trunc", O_TRUNC},
	{"append", O_APPEND}, {"nofollow", O_NOFOLLOW},
	{"directory", O_DIRECTORY}, {"noctty", O_NOCTTY}, {NULL, 0},
};

/*
 * nsl.open(path [, flags [, mode]]) -> fd
 * Opens a file and returns its descriptor, close-on-exec. flags: names
 * from rdonly (the default), wronly, rdwr, creat, excl, trunc, append,
 * nofollow, directory, noctty; mode (default 0644) applies with creat,
 * less the umask. @see open(2)
 */
static int l_open(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	int flags = (int)nsl_checkflags(L, 2, open_flags, "open flag");
	lua_Integer mode = luaL_optinteger(L, 3, 0644);
	nsl_checknargs(L, 3);
	luaL_argcheck(L, mode >= 0 && mode <= 07777, 3, "mode must be from 0 to 07777");
	int fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return nsl_pusherrno(L, "open %s", path);
	lua_pushinteger(L, fd);
	return 1;
}

const luaL_Reg nsl_fd_funcs[] = {
	{"open", l_open},
	{"poll", l_poll},
	{"pipe", l_pipe},
	{"close", l_close},
	{"read", l_read},
	{"write", l_write},
	{"dup2", l_dup2},
	{"cloexec", l_cloexec},
	{"fds", l_fds},
	{"close_fds", l_close_fds},
	{NULL, NULL},
};
