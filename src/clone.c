/*
 * Cloning into new namespaces: a child running a Lua function or a plan.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

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
/* What nsl.clone was asked for, checked in the caller before anything is
 * acquired. */
struct clone_opts {
	unsigned long flags;
	const struct nsl_plan *plan; /* NULL: the function at index 2 */
	int args;                    /* stack index of opts.args, or 0 */
	lua_Integer nargs;
	nsl_idmap_entry uid_map[NSL_IDMAP_MAX], gid_map[NSL_IDMAP_MAX];
	size_t n_uid, n_gid;
	const char *setgroups;
	int pdeathsig, collect, late_cgroupns;
	int n_cg;
	const char *cgroups[CLONE_CGROUPS_MAX];
	long as_uid, as_gid; /* mapped_id's: -1 keeps the caller's */
	int need_sync;       /* the child waits for the parent's go byte */
};

static void check_opt_args(lua_State *L, struct clone_opts *o)
{
	if (lua_getfield(L, 3, "args") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			luaL_error(L, "clone options: field 'args' must be a table (got %s)",
			           luaL_typename(L, -1));
		o->args = lua_gettop(L);
		o->nargs = check_clone_args(L, o->args);
	} else {
		lua_pop(L, 1);
	}
}

static void check_opt_setgroups(lua_State *L, struct clone_opts *o)
{
	if (lua_getfield(L, 3, "setgroups") != LUA_TNIL) {
		const char *v = lua_tostring(L, -1);
		if (lua_type(L, -1) != LUA_TSTRING ||
		    (strcmp(v, "deny") != 0 && strcmp(v, "allow") != 0))
			luaL_error(L, "clone options: setgroups must be \"deny\" or \"allow\"");
		o->setgroups = v[0] == 'd' ? "deny" : "allow";
	}
	lua_pop(L, 1);
}

/* The option table at index 3, field by field. */
static void check_clone_opts(lua_State *L, struct clone_opts *o)
{
	nsl_checkfields(L, 3, clone_fields, "clone options");
	check_opt_args(L, o);
	if (lua_getfield(L, 3, "uid_map") != LUA_TNIL)
		o->n_uid = nsl_checkidmap(L, -1, o->uid_map, "clone options: uid_map");
	lua_pop(L, 1);
	if (lua_getfield(L, 3, "gid_map") != LUA_TNIL)
		o->n_gid = nsl_checkidmap(L, -1, o->gid_map, "clone options: gid_map");
	lua_pop(L, 1);
	check_opt_setgroups(L, o);
	if (lua_getfield(L, 3, "pdeathsig") != LUA_TNIL &&
	    (o->pdeathsig = nsl_tosignal(L, -1)) < 0)
		luaL_error(L, "clone options: pdeathsig: %s", lua_tostring(L, -1));
	lua_pop(L, 1);
	if (lua_getfield(L, 3, "collect") != LUA_TNIL) {
		if (!lua_isboolean(L, -1))
			luaL_error(L, "clone options: collect must be a boolean (got %s)",
			           luaL_typename(L, -1));
		o->collect = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 3, "cgroups") != LUA_TNIL)
		o->n_cg = check_clone_cgroups(L, lua_gettop(L), o->cgroups);
	lua_pop(L, 1);
}

/* Every argument of nsl.clone, and what follows from them. */
static void check_clone(lua_State *L, struct clone_opts *o)
{
	o->flags = nsl_checkflags(L, 1, nsl_namespace_flags, "namespace");
	o->plan = nsl_toplan(L, 2);
	if (!o->plan)
		luaL_checktype(L, 2, LUA_TFUNCTION);
	int has_opts = nsl_opttable(L, 3);
	nsl_checknargs(L, 3);
	o->collect = 1;
	if (has_opts)
		check_clone_opts(L, o);
	/* A cgroup namespace made at clone time would be rooted at the
	 * caller's group: the child makes it after it was moved. */
	o->late_cgroupns = o->n_cg > 0 && (o->flags & CLONE_NEWCGROUP);
	if (o->late_cgroupns)
		o->flags &= ~(unsigned long)CLONE_NEWCGROUP;
	if ((o->n_uid || o->n_gid || o->setgroups) && !(o->flags & CLONE_NEWUSER))
		luaL_error(L, "clone options: uid_map, gid_map and setgroups need the 'user' namespace");
	if (o->n_gid && !o->setgroups)
		o->setgroups = "deny";
	if (nsl_thread_count() > 1)
		luaL_error(L, "clone: the process has several threads; nsl can only clone a single-threaded process");
	o->as_uid = mapped_id(o->uid_map, o->n_uid, (uint32_t)getuid());
	o->as_gid = mapped_id(o->gid_map, o->n_gid, (uint32_t)getgid());
	if (o->plan && o->args)
		luaL_error(L, "clone options: args are for a function, not a plan");
	/* The child waits for the parent only when the parent has something
	 * to do first: write id maps, move it into cgroups. */
	o->need_sync = o->n_uid || o->n_gid || o->setgroups || o->n_cg;
}

/* The child of clone_process: waits for the go byte, then takes its
 * place (cgroup namespace, mapped ids) and runs the plan or fn. */
static void __attribute__((noreturn))
child_start(lua_State *L, const struct clone_opts *o, const int sync[2],
            pid_t parent)
{
	char go;
	if (o->pdeathsig)
		prctl(PR_SET_PDEATHSIG, o->pdeathsig);
	if (o->need_sync) {
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
	if (o->pdeathsig && ppid != parent && ppid != 0 && !(o->flags & CLONE_NEWPID)) {
		kill(getpid(), o->pdeathsig);
		_exit(127);
	}
	if (o->late_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		fprintf(stderr, "nsl.clone: unshare cgroup: %s\n", strerror(errno));
		_exit(127);
	}
	if ((o->as_gid >= 0 && setresgid((gid_t)o->as_gid, (gid_t)o->as_gid, (gid_t)o->as_gid) < 0) ||
	    (o->as_uid >= 0 && setresuid((uid_t)o->as_uid, (uid_t)o->as_uid, (uid_t)o->as_uid) < 0)) {
		fprintf(stderr, "nsl.clone: switching to the mapped ids: %s\n",
		        strerror(errno));
		_exit(127);
	}
	if (o->plan)
		_exit(nsl_plan_exec(o->plan, 0));
	run_child(L, 2, o->args, o->nargs);
}

/* The parent's part before the child may go on: id maps (uid_map, then
 * setgroups, then gid_map), the child moved into its cgroups, then the
 * go byte. */
static int release_child(const struct clone_opts *o, pid_t pid, int go,
                         nsl_error *err)
{
	if ((o->n_uid && nsl_idmap_write(pid, "uid", o->uid_map, o->n_uid, err) < 0) ||
	    (o->setgroups && nsl_setgroups_write(pid, o->setgroups, err) < 0) ||
	    (o->n_gid && nsl_idmap_write(pid, "gid", o->gid_map, o->n_gid, err) < 0))
		return -1;
	for (int i = 0; i < o->n_cg; i++) {
		char file[PATH_MAX], num[24];
		snprintf(file, sizeof file, "%s/cgroup.procs", o->cgroups[i]);
		int len = snprintf(num, sizeof num, "%d", (int)pid);
		if (nsl_write_file(file, num, (size_t)len, err) < 0)
			return -1;
	}
	if (NSL_RETRY(write(go, "1", 1)) != 1)
		return nsl_fail(err, errno, "clone: releasing child %d", (int)pid);
	return 0;
}

/* The failure of the clone itself, naming the namespaces asked for. */
static int push_clone_failure(lua_State *L, unsigned long flags)
{
	int saved = errno;
	char names[128] = "";
	for (const nsl_flag *f = nsl_namespace_flags; f->name; f++)
		if ((flags & f->value) && nsl_namespace_name(f->value) == f->name)
			snprintf(names + strlen(names), sizeof names - strlen(names),
			         "%s%s", names[0] ? "," : "", f->name);
	errno = saved;
	return nsl_pusherrno(L, "clone (%s)", names[0] ? names : "no new namespaces");
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
	struct clone_opts o = {0};
	int sync[2] = {-1, -1};
	nsl_error err;

	check_clone(L, &o);
	if (o.need_sync && pipe2(sync, O_CLOEXEC) < 0)
		return nsl_pusherrno(L, "clone: pipe");
	fflush(NULL);
	if (o.collect)
		lua_gc(L, LUA_GCCOLLECT);
	pid_t parent = getpid();
	pid_t pid;
	if (o.plan && !o.need_sync && can_spawn(o.plan, o.flags))
		pid = spawn_plan(o.plan, o.flags, o.pdeathsig);
	else
		pid = clone_process(o.flags);
	if (pid == 0)
		child_start(L, &o, sync, parent);
	if (pid > 0 && !o.need_sync) {
		lua_pushinteger(L, pid);
		return 1;
	}
	if (pid < 0) {
		int saved = errno;
		if (o.need_sync) {
			close(sync[0]);
			close(sync[1]);
		}
		errno = saved;
		return push_clone_failure(L, o.flags);
	}
	close(sync[0]);
	int failed = release_child(&o, pid, sync[1], &err) < 0;
	close(sync[1]);
	if (failed) {
		/* The one way out once the child exists: it never runs. */
		kill(pid, SIGKILL);
		NSL_RETRY(waitpid(pid, NULL, 0));
		return nsl_pushfail(L, &err);
	}
	lua_pushinteger(L, pid);
	return 1;
}

const luaL_Reg nsl_clone_funcs[] = {
	{"clone", l_clone},
	{NULL, NULL},
};
