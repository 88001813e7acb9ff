/*
 * Namespaces: clone, unshare, setns, nsid, and the id maps of user
 * namespaces.
 *
 * nsl.clone runs a Lua function in a child. The child is a copy of the
 * whole Lua state, so the pitfalls of fork apply and each is handled here:
 *   - stdio is flushed before the clone, so buffered output prints once;
 *   - garbage is collected before the clone, so finalizers of the caller's
 *     dead objects run in the caller, not again in the child;
 *   - the function runs under a fresh lua_pcall and the child leaves
 *     through _exit, so an error can never unwind into the caller's
 *     pcall and the child never returns into the caller's script;
 *   - the child waits on a pipe until the parent wrote its id maps, and
 *     exits if the parent died first;
 *   - a process with several threads is refused: only the calling thread
 *     would exist in the child, holding whatever locks the others held.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
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

/* ---- clone --------------------------------------------------------------- */

/* struct clone_args of <linux/sched.h>, spelled out so that the header's
 * CLONE_* macros do not clash with glibc's. */
struct nsl_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* Like fork(2), into new namespaces. clone3 is the only call that takes
 * CLONE_NEWTIME; clone(2) serves kernels before 5.3. */
static pid_t clone_process(unsigned long flags)
{
	struct nsl_clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
	long pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid < 0 && errno == ENOSYS && !(flags & CLONE_NEWTIME))
		pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	return (pid_t)pid;
}

/*
 * A plan that runs through to its exec is started the way posix_spawn
 * starts a program: the child shares the caller's memory (CLONE_VM) on
 * a stack of its own while the caller waits (CLONE_VFORK) until it execs
 * or exits. No page table is copied and no page is copied on write,
 * which is most of what a fork of a large process costs. The child runs
 * only plan.c's steps, which write nothing the caller keeps (no
 * allocation, no Lua) but for errno, the caller's dumpable flag (shared
 * with the memory: restored after) and the run's own static record.
 */
struct spawn_arg {
	const struct nsl_plan *plan;
	int pdeathsig;
	pid_t parent;
};

static int spawn_main(void *p)
{
	const struct spawn_arg *a = p;
	if (a->pdeathsig) {
		prctl(PR_SET_PDEATHSIG, a->pdeathsig);
		pid_t ppid = getppid();
		if (ppid != a->parent && ppid != 0) {
			kill(getpid(), a->pdeathsig);
			_exit(127);
		}
	}
	_exit(nsl_plan_exec(a->plan, 1));
}

#define SPAWN_STACK (512 * 1024)

static pid_t spawn_plan(const struct nsl_plan *plan, unsigned long flags, int pdeathsig)
{
	static char *stack;
	if (!stack) {
		void *m = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (m == MAP_FAILED)
			return -1;
		stack = m;
	}
	struct spawn_arg a = {plan, pdeathsig, getpid()};
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	/* Nothing of the caller's signal handling may run in the child (it
	 * would on the caller's memory); its exec unblocks them. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(spawn_main, stack + SPAWN_STACK,
	                  (int)(flags | CLONE_VM | CLONE_VFORK | SIGCHLD), &a);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (dumpable >= 0)
		prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
	errno = saved;
	return pid;
}

/* Whether a plan may be run by spawn_plan: NSL_CLONE_FORK=1 in the
 * environment turns it off (a fork instead, for comparison), and so does
 * AddressSanitizer, which cannot follow a child on a stack of its own. */
static int can_spawn(const struct nsl_plan *plan, unsigned long flags)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)plan;
	(void)flags;
	return 0;
#else
	const char *env = getenv("NSL_CLONE_FORK");
	return !(flags & CLONE_NEWTIME) && nsl_plan_runs_through(plan) &&
	       !(env && *env && strcmp(env, "0") != 0);
#endif
}

static int thread_count(void)
{
	char buf[1024];
	nsl_autoclose int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Field 20, counted after the command name, which may hold blanks. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	int field = 2;
	for (p++; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return atoi(p);
}

static int child_traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL)
		msg = lua_pushfstring(L, "(error object is a %s value)",
		                      luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Runs in the child under lua_pcall: fn(args[1], ..., args[n]). Reading
 * args may call metamethods that raise, so it must be protected too. */
static int child_main(lua_State *L)
{
	lua_Integer n = lua_tointeger(L, 3);
	lua_settop(L, 2);
	for (lua_Integer i = 1; i <= n; i++)
		lua_geti(L, 2, i);
	lua_remove(L, 2);
	lua_call(L, (int)n, 1);
	return 1;
}

/* The child's whole life: run fn(args...) and _exit with its status.
 * Nothing here may raise outside the lua_pcall: an error would unwind
 * into the caller's code, in the child. */
static void __attribute__((noreturn))
run_child(lua_State *L, int fn, int args, lua_Integer nargs)
{
	int status;

	lua_pushcfunction(L, child_traceback);
	int msgh = lua_gettop(L);
	lua_pushcfunction(L, child_main);
	lua_pushvalue(L, fn);
	if (args)
		lua_pushvalue(L, args);
	else
		lua_pushnil(L);
	lua_pushinteger(L, args ? nargs : 0);
	if (lua_pcall(L, 3, 1, msgh) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		status = 1;
	} else if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && lua_toboolean(L, -1))) {
		status = 0;
	} else if (lua_isboolean(L, -1)) {
		status = 1;
	} else if (lua_isinteger(L, -1)) {
		status = (int)(lua_tointeger(L, -1) & 0xff);
	} else {
		fprintf(stderr,
		        "nsl.clone: the child function returned a %s (expected an integer status, a boolean or nothing)\n",
		        luaL_typename(L, -1));
		status = 1;
	}
	fflush(NULL);
	_exit(status);
}

/* The number of values opts.args holds: args.n when set (as table.pack
 * leaves it), else #args. Checked in the caller, where raising is safe;
 * the stack room is made here too, so the child needs none. */
static lua_Integer check_clone_args(lua_State *L, int args)
{
	lua_Integer n;
	int isnum;
	if (lua_getfield(L, args, "n") != LUA_TNIL) {
		n = lua_tointegerx(L, -1, &isnum);
		if (!isnum || lua_type(L, -1) != LUA_TNUMBER || n < 0)
			luaL_error(L, "clone options: field 'args.n' must be a non-negative integer");
	} else {
		n = luaL_len(L, args);
		if (n < 0)
			n = 0;
	}
	lua_pop(L, 1);
	if (n >= INT_MAX - 8 || !lua_checkstack(L, (int)n + 8))
		luaL_error(L, "clone options: field 'args' has too many values (%I)", n);
	return n;
}

/*
 * The id the child takes once its maps are written. A child starts with
 * the caller's ids; when a map leaves the caller's id out (root mapping
 * {{0, 100000, 65536}}), the child would run as the overflow id
 * ("nobody") and fn would not run with the map in force. It then switches
 * to root inside when the map has it, else to the map's first id.
 * Returns -1 when the caller's id is mapped and nothing needs to change.
 */
static long mapped_id(const nsl_idmap_entry *map, size_t n, uint32_t own)
{
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (own >= map[i].outside && own - map[i].outside < map[i].count)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (map[i].inside == 0)
			return 0;
	return (long)map[0].inside;
}

static const char *const clone_fields[] = {"args", "uid_map", "gid_map",
                                           "setgroups", "pdeathsig",
                                           "collect", "cgroups", NULL};

#define CLONE_CGROUPS_MAX 16

/* opts.cgroups: a list of cgroup directories, checked and collected in
 * paths (pointers into the option table, which outlives the call). */
static int check_clone_cgroups(lua_State *L, int t, const char *paths[])
{
	if (!lua_istable(L, t))
		luaL_error(L, "clone options: cgroups must be a list of cgroup directories (got %s)",
		           luaL_typename(L, t));
	lua_Integer n = luaL_len(L, t);
	if (n < 0 || n > CLONE_CGROUPS_MAX)
		luaL_error(L, "clone options: cgroups takes at most %d directories", CLONE_CGROUPS_MAX);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, t, i);
		size_t len;
		const char *p = lua_tolstring(L, -1, &len);
		if (lua_type(L, -1) != LUA_TSTRING || p[0] != '/' || strlen(p) != len ||
		    len > PATH_MAX - 32)
			luaL_error(L, "clone options: cgroups[%d] must be an absolute path", (int)i);
		paths[i - 1] = p;
		lua_pop(L, 1);
	}
	return (int)n;
}

/*
 * nsl.clone(namespaces, fn [, opts]) -> pid
 * Forks a child in new namespaces; the child runs fn(table.unpack(opts.args))
 * and exits: an integer return is its exit status, true or nothing gives 0,
 * false gives 1, a raised error prints its message and traceback on stderr
 * and gives 1. The child never returns into the caller's code. fn may also
 * be a plan (nsl.plan): the child runs it in C, never entering Lua, and
 * exits with its status; a plan that runs through to its exec is started
 * as posix_spawn does (docs/architecture.md).
 * Options: args (a table; args.n is honoured); uid_map and gid_map
 * ({{inside, outside, count}, ...}, need "user"), written by the parent
 * before fn starts; setgroups ("deny", the default with a gid map, or
 * "allow"); pdeathsig (a signal the child gets when the caller dies);
 * collect (default true: collect the caller's garbage first, so that no
 * finalizer of the caller's dead objects runs again in the child; its cost
 * grows with the heap, about 0.5 ms per MB: false skips it); cgroups (a
 * list of cgroup directories, one per hierarchy: the parent moves the child
 * into each before fn starts, so that no instruction of the child runs
 * outside its limits; with the "cgroup" namespace, the child unshares it
 * once it is in them, so that they are the root it sees).
 * Stdio is flushed before the clone, so nothing prints twice. A process
 * with several threads is refused. @see clone(2)
 */
static int l_clone(lua_State *L)
{
	nsl_idmap_entry uid_map[NSL_IDMAP_MAX], gid_map[NSL_IDMAP_MAX];
	size_t n_uid = 0, n_gid = 0;
	const char *setgroups = NULL;
	int pdeathsig = 0, args = 0, collect = 1, n_cg = 0;
	const char *cgroups[CLONE_CGROUPS_MAX];
	lua_Integer nargs = 0;
	nsl_error err;

	unsigned long flags = nsl_checkflags(L, 1, nsl_namespace_flags, "namespace");
	const struct nsl_plan *plan = nsl_toplan(L, 2);
	if (!plan)
		luaL_checktype(L, 2, LUA_TFUNCTION);
	int has_opts = nsl_opttable(L, 3);
	nsl_checknargs(L, 3);
	if (has_opts) {
		nsl_checkfields(L, 3, clone_fields, "clone options");
		if (lua_getfield(L, 3, "args") != LUA_TNIL) {
			if (!lua_istable(L, -1))
				luaL_error(L, "clone options: field 'args' must be a table (got %s)",
				           luaL_typename(L, -1));
			args = lua_gettop(L);
			nargs = check_clone_args(L, args);
		} else {
			lua_pop(L, 1);
		}
		if (lua_getfield(L, 3, "uid_map") != LUA_TNIL)
			n_uid = nsl_checkidmap(L, -1, uid_map, "clone options: uid_map");
		lua_pop(L, 1);
		if (lua_getfield(L, 3, "gid_map") != LUA_TNIL)
			n_gid = nsl_checkidmap(L, -1, gid_map, "clone options: gid_map");
		lua_pop(L, 1);
		if (lua_getfield(L, 3, "setgroups") != LUA_TNIL) {
			const char *v = lua_tostring(L, -1);
			if (lua_type(L, -1) != LUA_TSTRING ||
			    (strcmp(v, "deny") != 0 && strcmp(v, "allow") != 0))
				luaL_error(L, "clone options: setgroups must be \"deny\" or \"allow\"");
			setgroups = v[0] == 'd' ? "deny" : "allow";
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 3, "pdeathsig") != LUA_TNIL &&
		    (pdeathsig = nsl_tosignal(L, -1)) < 0)
			luaL_error(L, "clone options: pdeathsig: %s", lua_tostring(L, -1));
		lua_pop(L, 1);
		if (lua_getfield(L, 3, "collect") != LUA_TNIL) {
			if (!lua_isboolean(L, -1))
				luaL_error(L, "clone options: collect must be a boolean (got %s)",
				           luaL_typename(L, -1));
			collect = lua_toboolean(L, -1);
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 3, "cgroups") != LUA_TNIL)
			n_cg = check_clone_cgroups(L, lua_gettop(L), cgroups);
		lua_pop(L, 1);
	}
	/* A cgroup namespace made at clone time would be rooted at the
	 * caller's group: the child makes it after it was moved. */
	int late_cgroupns = n_cg > 0 && (flags & CLONE_NEWCGROUP);
	if (late_cgroupns)
		flags &= ~(unsigned long)CLONE_NEWCGROUP;
	if ((n_uid || n_gid || setgroups) && !(flags & CLONE_NEWUSER))
		luaL_error(L, "clone options: uid_map, gid_map and setgroups need the 'user' namespace");
	if (n_gid && !setgroups)
		setgroups = "deny";
	if (thread_count() > 1)
		luaL_error(L, "clone: the process has several threads; nsl can only clone a single-threaded process");
	long as_uid = mapped_id(uid_map, n_uid, (uint32_t)getuid());
	long as_gid = mapped_id(gid_map, n_gid, (uint32_t)getgid());

	if (plan && args)
		luaL_error(L, "clone options: args are for a function, not a plan");
	/* The child waits for the parent only when the parent has something
	 * to do first: write id maps, move it into cgroups. */
	int sync[2] = {-1, -1};
	int need_sync = n_uid || n_gid || setgroups || n_cg;
	if (need_sync && pipe2(sync, O_CLOEXEC) < 0)
		return nsl_pusherrno(L, "clone: pipe");
	fflush(NULL);
	if (collect)
		lua_gc(L, LUA_GCCOLLECT);
	pid_t parent = getpid();
	pid_t pid;
	int spawned = plan && !need_sync && can_spawn(plan, flags);
	if (spawned)
		pid = spawn_plan(plan, flags, pdeathsig);
	else
		pid = clone_process(flags);
	if (pid < 0) {
		int saved = errno;
		if (need_sync) {
			close(sync[0]);
			close(sync[1]);
		}
		errno = saved;
		char names[128] = "";
		for (const nsl_flag *f = nsl_namespace_flags; f->name; f++)
			if ((flags & f->value) && nsl_namespace_name(f->value) == f->name)
				snprintf(names + strlen(names), sizeof names - strlen(names),
				         "%s%s", names[0] ? "," : "", f->name);
		return nsl_pusherrno(L, "clone (%s)", names[0] ? names : "no new namespaces");
	}
	if (pid == 0) {
		char go;
		if (pdeathsig)
			prctl(PR_SET_PDEATHSIG, pdeathsig);
		if (need_sync) {
			close(sync[1]);
			/* EOF instead of the go byte: the parent died or gave up. */
			if (NSL_RETRY(read(sync[0], &go, 1)) != 1)
				_exit(127);
			close(sync[0]);
		}
		/* The parent may have written the go byte and died before the
		 * prctl above armed the signal: deliver it as the kernel would
		 * have, so the child ends the same way whatever the timing. */
		pid_t ppid = getppid(); /* 0: the parent is outside our pid namespace */
		if (pdeathsig && ppid != parent && ppid != 0 && !(flags & CLONE_NEWPID)) {
			kill(getpid(), pdeathsig);
			_exit(127);
		}
		if (late_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
			fprintf(stderr, "nsl.clone: unshare cgroup: %s\n", strerror(errno));
			_exit(127);
		}
		if ((as_gid >= 0 && setresgid((gid_t)as_gid, (gid_t)as_gid, (gid_t)as_gid) < 0) ||
		    (as_uid >= 0 && setresuid((uid_t)as_uid, (uid_t)as_uid, (uid_t)as_uid) < 0)) {
			fprintf(stderr, "nsl.clone: switching to the mapped ids: %s\n",
			        strerror(errno));
			_exit(127);
		}
		if (plan)
			_exit(nsl_plan_exec(plan, 0));
		run_child(L, 2, args, nargs);
	}
	if (!need_sync) {
		lua_pushinteger(L, pid);
		return 1;
	}
	close(sync[0]);
	if ((n_uid && nsl_idmap_write(pid, "uid", uid_map, n_uid, &err) < 0) ||
	    (setgroups && nsl_setgroups_write(pid, setgroups, &err) < 0) ||
	    (n_gid && nsl_idmap_write(pid, "gid", gid_map, n_gid, &err) < 0)) {
		close(sync[1]);
		kill(pid, SIGKILL);
		NSL_RETRY(waitpid(pid, NULL, 0));
		return nsl_pushfail(L, &err);
	}
	for (int i = 0; i < n_cg; i++) {
		char file[PATH_MAX], num[24];
		snprintf(file, sizeof file, "%s/cgroup.procs", cgroups[i]);
		int len = snprintf(num, sizeof num, "%d", (int)pid);
		if (nsl_write_file(file, num, (size_t)len, &err) < 0) {
			close(sync[1]);
			kill(pid, SIGKILL);
			NSL_RETRY(waitpid(pid, NULL, 0));
			return nsl_pushfail(L, &err);
		}
	}
	if (NSL_RETRY(write(sync[1], "1", 1)) != 1) {
		int saved = errno;
		close(sync[1]);
		kill(pid, SIGKILL);
		NSL_RETRY(waitpid(pid, NULL, 0));
		errno = saved;
		return nsl_pusherrno(L, "clone: releasing child %d", (int)pid);
	}
	close(sync[1]);
	lua_pushinteger(L, pid);
	return 1;
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
	if ((flags & CLONE_NEWUSER) && thread_count() > 1)
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
	if (thread_count() > 1)
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
	{"clone", l_clone},
	{"unshare", l_unshare},
	{"newns", l_newns},
	{"setns", l_setns},
	{"nsid", l_nsid},
	{"idmap", l_idmap},
	{"setgroups", l_setgroups},
	{NULL, NULL},
};
