/*
 * Namespaces: unshare, setns, nsid, and the id maps of user namespaces
 * (nsl.clone is in clone.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* ---- id maps (Lua-free) -------------------------------------------------- */

static void proc_path(char *buf, size_t len, pid_t pid, const char *file)
{
	if (pid == 0)
		snprintf(buf, len, "/proc/self/%s", file);
	else
		snprintf(buf, len, "/proc/%d/%s", (int)pid, file);
}

int nsl_idmap_write(pid_t pid, const char *kind, const nsl_idmap_entry *map,
                    size_t n, nsl_error *err)
{
	char path[64], file[16];
	char buf[NSL_IDMAP_MAX * 34]; /* three 10-digit ids, blanks, newline */
	size_t len = 0;

	if (n == 0 || n > NSL_IDMAP_MAX)
		return nsl_fail(err, EINVAL, "%s_map: 1 to %d entries", kind,
		                NSL_IDMAP_MAX);
	for (size_t i = 0; i < n; i++) {
		if (nsl_idmap_check(&map[i]) < 0)
			return nsl_fail(err, EINVAL, "%s_map entry %zu", kind, i + 1);
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%u %u %u\n",
		                        map[i].inside, map[i].outside,
		                        map[i].count);
	}
	snprintf(file, sizeof file, "%s_map", kind);
	proc_path(path, sizeof path, pid, file);
	return nsl_write_file(path, buf, len, err);
}

int nsl_setgroups_write(pid_t pid, const char *value, nsl_error *err)
{
	char path[64];
	proc_path(path, sizeof path, pid, "setgroups");
	return nsl_write_file(path, value, strlen(value), err);
}

/* ---- joining namespaces (Lua-free) --------------------------------------- */

static int same_namespace(pid_t pid, const char *name, int *same)
{
	char mine[64], theirs[64];
	struct stat a, b;
	snprintf(mine, sizeof mine, "/proc/self/ns/%s", name);
	snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", (int)pid, name);
	if (stat(theirs, &b) < 0)
		return -1;
	if (stat(mine, &a) < 0)
		return -1;
	*same = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	return 0;
}

int nsl_setns_pid(pid_t pid, unsigned long flags, nsl_error *err)
{
	unsigned long join = 0;

	/* Opened first: it fails for a pid that does not exist, which the
	 * checks below would take for namespace types the kernel lacks. */
	nsl_autoclose int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return nsl_fail(err, errno, "setns %d", (int)pid);

	/* Only namespaces that differ: the kernel refuses to "join" the user
	 * namespace one is already in, and re-joining the others is useless. */
	for (const nsl_flag *f = nsl_namespace_flags; f->name; f++) {
		int same;
		if (flags && !(flags & f->value))
			continue;
		if (join & f->value)
			continue; /* an alias */
		if (same_namespace(pid, f->name, &same) < 0) {
			if (errno == ENOENT && !flags)
				continue; /* a namespace type this kernel lacks */
			return nsl_fail(err, errno, "setns %d: %s namespace", (int)pid,
			                f->name);
		}
		if (!same || (flags && f->value != CLONE_NEWUSER))
			join |= f->value;
	}
	if (!join)
		return 0;
	/* A pidfd joins all of them at once, in an order the kernel knows
	 * works (user namespace first), and atomically. */
	if (setns(pidfd, (int)join) < 0)
		return nsl_fail(err, errno, "setns %d", (int)pid);
	return 0;
}

int nsl_setns_path(const char *path, unsigned long nstype, nsl_error *err)
{
	nsl_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nsl_fail(err, errno, "setns %s", path);
	if (setns(fd, (int)nstype) < 0)
		return nsl_fail(err, errno, "setns %s", path);
	return 0;
}

/*
 * nsl.unshare(namespaces) -> true
 * Moves the caller into new namespaces. @see unshare(2)
 */
static int l_unshare(lua_State *L)
{
	unsigned long flags = nsl_checkflags(L, 1, nsl_namespace_flags, "namespace");
	nsl_checknargs(L, 1);
	if (lua_isnoneornil(L, 1))
		luaL_argerror(L, 1, "namespace list expected");
	if ((flags & CLONE_NEWUSER) && nsl_thread_count() > 1)
		luaL_error(L, "unshare: a process with several threads cannot enter a new user namespace");
	if (unshare((int)flags) < 0)
		return nsl_pusherrno(L, "unshare");
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.newns(type) -> fd
 * A new namespace of one type, "net", "uts" or "ipc", as a close-on-exec
 * descriptor; the caller stays in its own. The descriptor serves
 * nsl.setns, nsl.net's netns options (as "/proc/self/fd/N") and plans: a
 * container's network can be made whole in it before the container's
 * first process exists. The namespace lives as long as a descriptor or a
 * process holds it. @see unshare(2), setns(2)
 */
static int l_newns(lua_State *L)
{
	static const char *const types[] = {"net", "uts", "ipc", NULL};
	static const int flags[] = {CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC};
	static const char *const files[] = {"net", "uts", "ipc"};
	int t = luaL_checkoption(L, 1, NULL, types);
	nsl_checknargs(L, 1);
	if (nsl_thread_count() > 1)
		luaL_error(L, "newns: the process has several threads; nsl can only do this single-threaded");
	char path[64];
	snprintf(path, sizeof path, "/proc/thread-self/ns/%s", files[t]);
	nsl_autoclose int self = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return nsl_pusherrno(L, "newns %s: open %s", types[t], path);
	if (unshare(flags[t]) < 0)
		return nsl_pusherrno(L, "newns %s: unshare", types[t]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int saved = errno;
	/* Back to the caller's own: setns to a namespace it was in a moment
	 * ago is refused only when the kernel is out of memory. */
	for (int tries = 0; setns(self, flags[t]) < 0; tries++) {
		if (tries == 100) {
			fprintf(stderr, "nsl.newns: cannot return to the caller's %s namespace: %s\n",
			        types[t], strerror(errno));
			abort();
		}
		usleep(1000);
	}
	if (fd < 0) {
		errno = saved;
		return nsl_pusherrno(L, "newns %s: open %s", types[t], path);
	}
	lua_pushinteger(L, fd);
	return 1;
}

/* The single namespace type in flags, or -1 when there are several. */
static int single_type(unsigned long flags)
{
	return flags && !(flags & (flags - 1)) ? 0 : -1;
}

/*
 * nsl.setns(target [, namespaces]) -> true
 * Joins the namespaces of a pid (all that differ when none are named) or
 * the one namespace behind a path or a netns name. @see setns(2)
 */
static int l_setns(lua_State *L)
{
	pid_t pid;
	char path[PATH_MAX];
	nsl_error err;

	nsl_checktarget(L, 1, &pid, path, sizeof path);
	unsigned long flags = nsl_checkflags(L, 2, nsl_namespace_flags, "namespace");
	nsl_checknargs(L, 2);
	if (pid) {
		if (nsl_setns_pid(pid, flags, &err) < 0)
			return nsl_pushfail(L, &err);
	} else {
		if (flags && single_type(flags) < 0)
			luaL_argerror(L, 2, "a path names a single namespace");
		if (nsl_setns_path(path, flags, &err) < 0)
			return nsl_pushfail(L, &err);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.nsid(target, ns) -> integer
 * The inode number of a namespace, as ls -i /proc/<pid>/ns/<ns> shows it.
 * target: a pid, "self", or a path to a namespace file (ns then optional).
 */
static int l_nsid(lua_State *L)
{
	char path[PATH_MAX];
	unsigned long flag = 0;
	const char *name = NULL;
	struct stat st;

	if (!lua_isnoneornil(L, 2)) {
		flag = nsl_checkflags(L, 2, nsl_namespace_flags, "namespace");
		if (single_type(flag) < 0)
			luaL_argerror(L, 2, "exactly one namespace expected");
		name = nsl_namespace_name(flag);
	}
	nsl_checknargs(L, 2);
	if (lua_type(L, 1) == LUA_TNUMBER) {
		pid_t pid = nsl_checkpid(L, 1);
		if (!name)
			luaL_argerror(L, 2, "namespace name expected");
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
	} else {
		const char *t = nsl_checkname(L, 1, PATH_MAX - 32, NULL);
		if (strcmp(t, "self") == 0) {
			if (!name)
				luaL_argerror(L, 2, "namespace name expected");
			snprintf(path, sizeof path, "/proc/self/ns/%s", name);
		} else if (t[0] == '/' || t[0] == '.') {
			snprintf(path, sizeof path, "%s", t);
		} else {
			luaL_argerror(L, 1, "pid, \"self\" or a path expected");
		}
	}
	if (stat(path, &st) < 0)
		return nsl_pusherrno(L, "nsid %s", path);
	lua_pushinteger(L, (lua_Integer)st.st_ino);
	return 1;
}

/* pid or "self" (0) */
static pid_t check_pid_or_self(lua_State *L, int arg)
{
	if (lua_type(L, arg) == LUA_TSTRING &&
	    strcmp(lua_tostring(L, arg), "self") == 0)
		return 0;
	return nsl_checkpid(L, arg);
}

/*
 * nsl.idmap(pid, "uid"|"gid", {{inside, outside, count}, ...}) -> true
 * Writes /proc/<pid>/uid_map or gid_map. @see user_namespaces(7)
 */
static int l_idmap(lua_State *L)
{
	static const char *const kinds[] = {"uid", "gid", NULL};
	nsl_idmap_entry map[NSL_IDMAP_MAX];
	nsl_error err;

	pid_t pid = check_pid_or_self(L, 1);
	const char *kind = kinds[luaL_checkoption(L, 2, NULL, kinds)];
	luaL_checktype(L, 3, LUA_TTABLE);
	nsl_checknargs(L, 3);
	size_t n = nsl_checkidmap(L, 3, map, "id map");
	if (nsl_idmap_write(pid, kind, map, n, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.setgroups(pid, "deny"|"allow") -> true
 * Writes /proc/<pid>/setgroups; "deny" must precede an unprivileged gid map.
 */
static int l_setgroups(lua_State *L)
{
	static const char *const values[] = {"deny", "allow", NULL};
	nsl_error err;

	pid_t pid = check_pid_or_self(L, 1);
	const char *value = values[luaL_checkoption(L, 2, NULL, values)];
	nsl_checknargs(L, 2);
	if (nsl_setgroups_write(pid, value, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg nsl_ns_funcs[] = {
	{"unshare", l_unshare},
	{"newns", l_newns},
	{"setns", l_setns},
	{"nsid", l_nsid},
	{"idmap", l_idmap},
	{"setgroups", l_setgroups},
	{NULL, NULL},
};
