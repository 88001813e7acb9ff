/*
 * Plans: a container's set-up as a list of steps, checked in the caller
 * and run in C by the cloned child.
 *
 * nsl.container builds the plan of a start in Lua (mounts, /dev, the
 * root, hostname, capabilities, the command) and hands it to nsl.clone
 * instead of a function: the child then runs every step here and execs,
 * without entering the interpreter again. That keeps the child off the
 * caller's Lua heap (no copy-on-write of pages the collector or the
 * interpreter would touch) and is the short path of a container start.
 * A plan can also be run piece by piece from Lua (plan:run(from, to)),
 * for starts with a Lua function in them (setup, a function command).
 *
 * Everything is checked when the plan is made, here; running it
 * (plan_run.c, Lua-free) only calls the kernel. A failing step stops the run: its message, "<step>: <what>:
 * <reason>" as the Lua wrappers word it, goes to the plan's status
 * descriptor prefixed with "E", and the child exits 1 (126 or 127 when
 * the exec failed, as a shell does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#include "plan.h"

#define PLAN_MAX_STEPS 4096

/* ---- making a plan (in the caller, under Lua) --------------------------------- */

/* Where the caller's argv and environ strings lie: fields 48 to 51 of
 * /proc/self/stat (Linux 3.5); zeroes when they cannot be read. */
static void read_title_areas(unsigned long area[4])
{
	char buf[1024];
	memset(area, 0, 4 * sizeof area[0]);
	nsl_autoclose int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	long n = NSL_RETRY(read(fd, buf, sizeof buf - 1));
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *s = strrchr(buf, ')'); /* the name before it may hold anything */
	if (!s)
		return;
	unsigned long v[4];
	int field = 2; /* the name */
	char *save = NULL;
	for (char *t = strtok_r(s + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		field++;
		if (field >= 48 && field <= 51)
			v[field - 48] = strtoul(t, NULL, 10);
		if (field == 51) {
			memcpy(area, v, sizeof v);
			return;
		}
	}
}

#define PLAN_MT "nsl.plan"

const struct nsl_plan *nsl_toplan(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, PLAN_MT);
}

static int l_plan_run(lua_State *L);
static int l_plan_len(lua_State *L);

/* A string argument of a step; false or nil mean absent when optional. */
static const char *step_string(lua_State *L, int t, lua_Integer i, int optional,
                               lua_Integer k)
{
	int ty = lua_geti(L, t, k);
	if (optional && (ty == LUA_TNIL || (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)))) {
		lua_pop(L, 1);
		return NULL;
	}
	size_t len;
	if (ty != LUA_TSTRING)
		luaL_error(L, "plan: step %I: argument %I must be a string (got %s)", i, k - 2,
		           luaL_typename(L, -1));
	const char *s = lua_tolstring(L, -1, &len);
	if (strlen(s) != len || len >= PATH_MAX)
		luaL_error(L, "plan: step %I: argument %I contains a NUL byte or is too long", i, k - 2);
	lua_pop(L, 1); /* the step table keeps it alive, and the plan keeps the table */
	return s;
}

static long long step_int(lua_State *L, int t, lua_Integer i, lua_Integer k,
                          long long min, long long max)
{
	int isnum;
	lua_geti(L, t, k);
	lua_Integer v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || v < min || v > max)
		luaL_error(L, "plan: step %I: argument %I must be an integer from %I to %I", i, k - 2,
		           (lua_Integer)min, (lua_Integer)max);
	lua_pop(L, 1);
	return v;
}

static int step_bool(lua_State *L, int t, lua_Integer k)
{
	lua_geti(L, t, k);
	int b = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return b;
}

static long long step_rlim(lua_State *L, int t, lua_Integer i, lua_Integer k)
{
	int ty = lua_geti(L, t, k);
	if ((ty == LUA_TSTRING && strcmp(lua_tostring(L, -1), "unlimited") == 0) ||
	    (ty == LUA_TNUMBER && !lua_isinteger(L, -1) && lua_tonumber(L, -1) == HUGE_VAL)) {
		lua_pop(L, 1);
		return (long long)RLIM_INFINITY;
	}
	lua_pop(L, 1);
	return step_int(L, t, i, k, 0, LUA_MAXINTEGER);
}

/* A NULL-terminated array in a userdata kept in the plan's extras table. */
static char **plan_strv(lua_State *L, int extras, size_t n)
{
	char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
	v[n] = NULL;
	lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
	return v;
}

static void check_exec(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	if (lua_geti(L, t, 3) != LUA_TTABLE)
		luaL_error(L, "plan: step %I: argv must be a table", i);
	int a = lua_gettop(L);
	lua_Integer n = luaL_len(L, a);
	if (n < 1 || n > 65536)
		luaL_error(L, "plan: step %I: argv must have 1 to 65536 strings", i);
	st->argv = plan_strv(L, extras, (size_t)n);
	for (lua_Integer j = 1; j <= n; j++) {
		st->argv[j - 1] = (char *)step_string(L, a, i, 0, j);
		/* the argv table is kept in extras, so the strings live on */
	}
	lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
	if (lua_geti(L, t, 4) == LUA_TTABLE) {
		int e = lua_gettop(L);
		size_t count = 0;
		lua_pushnil(L);
		while (lua_next(L, e)) {
			lua_pop(L, 1);
			count++;
		}
		st->envp = plan_strv(L, extras, count);
		size_t k = 0;
		lua_pushnil(L);
		while (lua_next(L, e)) {
			size_t klen, vlen;
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
				luaL_error(L, "plan: step %I: env must map names to strings", i);
			const char *key = lua_tolstring(L, -2, &klen);
			const char *val = lua_tolstring(L, -1, &vlen);
			if (klen == 0 || strlen(key) != klen || strchr(key, '=') || strlen(val) != vlen)
				luaL_error(L, "plan: step %I: env.%s is not a valid variable", i, key);
			lua_pushfstring(L, "%s=%s", key, val);
			st->envp[k++] = (char *)lua_tostring(L, -1);
			if (strcmp(key, "PATH") == 0)
				st->path = st->envp[k - 1] + 5;
			lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
			lua_pop(L, 1);
		}
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "plan: step %I: env must be a table or nil", i);
	}
	lua_pop(L, 1);
	st->n[0] = step_bool(L, t, 5);
	st->n[1] = -1;
	if (lua_geti(L, t, 6) != LUA_TNIL) {
		int isnum;
		lua_Integer fd = lua_tointegerx(L, -1, &isnum);
		if (!isnum || fd < 0 || fd > INT_MAX)
			luaL_error(L, "plan: step %I: the init's descriptor must be a non-negative integer", i);
		st->n[1] = fd;
	}
	lua_pop(L, 1);
	st->n[2] = -1;
	if (lua_geti(L, t, 7) != LUA_TNIL)
		st->n[2] = step_int(L, t, i, 7, 0, INT_MAX);
	lua_pop(L, 1);
}

/* Element k of step i, one of names; its index. */
static int step_choice(lua_State *L, int t, lua_Integer i, lua_Integer k,
                       const char *const names[], const char *what)
{
	lua_geti(L, t, k);
	const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	for (int j = 0; v && names[j]; j++)
		if (strcmp(names[j], v) == 0) {
			lua_pop(L, 1);
			return j;
		}
	return luaL_error(L, "plan: step %I: unknown %s '%s'", i, what,
	                  v ? v : luaL_typename(L, -1));
}

/* ---- the check of each op's arguments, in the step table at t --------------- */

typedef void check_fn(lua_State *L, int t, lua_Integer i, int extras, struct step *st);

static void check_umask(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, 0777);
}

/* close fd, setns fd */
static void check_fd(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, INT_MAX);
}

static void check_dup2(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, INT_MAX);
	st->n[1] = step_int(L, t, i, 4, 0, INT_MAX);
}

static void check_mount(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 1, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
	st->s[2] = step_string(L, t, i, 1, 5);
	lua_geti(L, t, 6);
	st->mflags = nsl_checkflags(L, lua_gettop(L), nsl_mount_flags, "mount flag");
	lua_pop(L, 1);
	st->s[3] = step_string(L, t, i, 1, 7);
}

static const char *const kinds[] = {"dir", "file", NULL};

static void check_resolve(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
	if (lua_geti(L, t, 5) == LUA_TNIL || (lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
		st->n[0] = 0;
	else
		st->n[0] = "df"[step_choice(L, t, i, 5, kinds, "create")];
	lua_pop(L, 1);
}

/* touch path mode, mkdir path mode */
static void check_path_mode(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = step_int(L, t, i, 4, 0, 07777);
}

/* symlink target path, refuse_symlink path message */
static void check_two_strings(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
}

/* hostname, pivot_root, chroot, mask, readonly: one string */
static void check_string(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
}

static void check_rlimit(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = nsl_rlimit_resource(st->s[0]);
	if (st->n[0] < 0)
		luaL_error(L, "plan: step %I: unknown limit '%s'", i, st->s[0]);
	st->n[1] = step_rlim(L, t, i, 4);
	st->n[2] = step_rlim(L, t, i, 5);
	if ((rlim_t)st->n[1] > (rlim_t)st->n[2])
		luaL_error(L, "plan: step %I: soft limit above the hard limit", i);
}

static void check_chdir(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = step_bool(L, t, 4);
}

static void check_caps(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, LUA_MININTEGER, LUA_MAXINTEGER);
}

static void check_cgroup(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	if (st->s[0][0] != '/')
		luaL_error(L, "plan: step %I: the cgroup must be an absolute path", i);
}

/* seccomp filter: the program's bytes, NULs and all */
static void check_seccomp(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	size_t len;
	if (lua_geti(L, t, 3) != LUA_TSTRING)
		luaL_error(L, "plan: step %I: argument 1 must be a filter program", i);
	st->s[0] = lua_tolstring(L, -1, &len);
	lua_pop(L, 1); /* the step table keeps it alive */
	if (!nsl_seccomp_check(len))
		luaL_error(L, "plan: step %I: not a filter program (%d bytes)", i, (int)len);
	st->n[0] = (long long)len;
	st->n[1] = step_bool(L, t, 4);
}

/* ids uid gid */
static void check_ids(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, 4294967294LL);
	st->n[1] = step_int(L, t, i, 4, 0, 4294967294LL);
}

/* landlock fs net; landlock_path mask path; landlock_port mask port */
static void check_landlock(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, LUA_MAXINTEGER);
	st->n[1] = step_int(L, t, i, 4, 0, LUA_MAXINTEGER);
}

static void check_landlock_path(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, LUA_MAXINTEGER);
	st->s[0] = step_string(L, t, i, 0, 4);
}

static void check_landlock_port(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, LUA_MAXINTEGER);
	st->n[1] = step_int(L, t, i, 4, 0, 65535);
}

static void check_unshare(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	lua_geti(L, t, 3);
	st->n[0] = (long long)nsl_checkflags(L, lua_gettop(L), nsl_namespace_flags, "namespace");
	lua_pop(L, 1);
	if (st->n[0] == 0)
		luaL_error(L, "plan: step %I: unshare needs a namespace", i);
}

/* What each op is called, how many arguments it takes (after the op and
 * the step's name) and how they are checked (NULL: it takes none). */
static const struct op_def {
	const char *name;
	unsigned char nargs;
	check_fn *check;
} op_defs[OP_COUNT] = {
	[OP_UMASK] = {"umask", 1, check_umask},
	[OP_SETSID] = {"setsid", 0, NULL},
	[OP_KEYRING] = {"keyring", 0, NULL},
	[OP_DUMPABLE_OFF] = {"dumpable_off", 0, NULL},
	[OP_NO_FORWARD] = {"no_forward", 0, NULL},
	[OP_CLOSE] = {"close", 1, check_fd},
	[OP_DUP2] = {"dup2", 2, check_dup2},
	[OP_MOUNT] = {"mount", 5, check_mount},
	[OP_RESOLVE] = {"resolve", 3, check_resolve},
	[OP_TOUCH] = {"touch", 2, check_path_mode},
	[OP_MKDIR] = {"mkdir", 2, check_path_mode},
	[OP_SYMLINK] = {"symlink", 2, check_two_strings},
	[OP_HOSTNAME] = {"hostname", 1, check_string},
	[OP_LO_UP] = {"lo_up", 0, NULL},
	[OP_PIVOT_ROOT] = {"pivot_root", 1, check_string},
	[OP_CHROOT] = {"chroot", 1, check_string},
	[OP_MASK] = {"mask", 1, check_string},
	[OP_READONLY] = {"readonly", 1, check_string},
	[OP_RLIMIT] = {"rlimit", 3, check_rlimit},
	[OP_CHDIR] = {"chdir", 2, check_chdir},
	[OP_CAPS] = {"caps", 1, check_caps},
	[OP_NNP] = {"nnp", 0, NULL},
	[OP_READY] = {"ready", 0, NULL},
	[OP_INIT] = {"init", 0, NULL},
	[OP_EXEC] = {"exec", 5, check_exec},
	[OP_REFUSE_SYMLINK] = {"refuse_symlink", 2, check_two_strings},
	[OP_SETNS] = {"setns", 1, check_fd},
	[OP_CGROUP] = {"cgroup", 1, check_cgroup},
	[OP_UNSHARE] = {"unshare", 1, check_unshare},
	[OP_SECCOMP] = {"seccomp", 2, check_seccomp},
	[OP_IDS] = {"ids", 2, check_ids},
	[OP_LANDLOCK] = {"landlock", 2, check_landlock},
	[OP_LANDLOCK_PATH] = {"landlock_path", 2, check_landlock_path},
	[OP_LANDLOCK_PORT] = {"landlock_port", 2, check_landlock_port},
	[OP_LANDLOCK_RESTRICT] = {"landlock_restrict", 0, NULL},
};

/* Element 1 of step i: the index of its op in op_defs. */
static int step_op(lua_State *L, int t, lua_Integer i)
{
	lua_geti(L, t, 1);
	const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	for (int op = 0; v && op < OP_COUNT; op++)
		if (strcmp(op_defs[op].name, v) == 0) {
			lua_pop(L, 1);
			return op;
		}
	return luaL_error(L, "plan: step %I: unknown op '%s'", i,
	                  v ? v : luaL_typename(L, -1));
}

static void check_step(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	int op = step_op(L, t, i);
	st->op = (unsigned char)op;
	st->name = step_string(L, t, i, 0, 2);
	if (lua_getfield(L, t, "try") != LUA_TNIL && lua_toboolean(L, -1))
		st->flags |= STEP_TRY;
	if (lua_getfield(L, t, "otherwise") != LUA_TNIL && lua_toboolean(L, -1))
		st->flags |= STEP_OTHERWISE;
	lua_pop(L, 2);
	if ((lua_Integer)luaL_len(L, t) > 2 + op_defs[op].nargs)
		luaL_error(L, "plan: step %I (%s) takes %d arguments", i, op_defs[op].name,
		           op_defs[op].nargs);
	if (op_defs[op].check)
		op_defs[op].check(L, t, i, extras, st);
}

/*
 * nsl.plan(steps [, opts]) -> plan
 * A container's set-up as data, for nsl.clone to run in C in the child
 * (nsl.clone(namespaces, plan, opts)) or for plan:run([from [, to]]) to
 * run in the caller. steps is a list of {op, name, args...}; name labels
 * the step in errors. ops: umask m; setsid; keyring; dumpable_off;
 * no_forward; close fd; dup2 from to; mount source target fstype flags
 * data; resolve root path create ("dir", "file" or false; the result
 * becomes the directory that relative paths of later steps are taken in,
 * "" being that directory itself); refuse_symlink path message; touch path
 * mode; mkdir path mode; symlink target path; hostname name; lo_up;
 * setns fd (joins the namespace of fd, then closes it); cgroup dir (moves
 * the process into the cgroup directory dir); unshare namespaces (a list,
 * as nsl.unshare takes);
 * pivot_root path; chroot path; mask path; readonly path; rlimit name soft
 * hard; chdir path in_root; caps mask; nnp; ids uid gid (as nsl.setids);
 * seccomp filter [at_exec]
 * (installs a filter program, see nsl.seccomp_load; at_exec: as the
 * exec's last act before execve); landlock fs net, then
 * landlock_path mask path and landlock_port mask port, then
 * landlock_restrict (see nsl.landlock_restrict); ready (writes "R" to
 * opts.status, waits for "G" on opts.go); init (the rest runs in a
 * child; this process stays as its init, named nsl-init, and dies with
 * its own parent, whose end it also checks on opts.status); exec argv
 * env close_fds [init_fd [keep_fd]] (with init_fd, the program open at
 * init_fd is executed instead, as nsl-init: argv is its command line, and
 * the status pipe and keep_fd stay open for it).
 * A step with try = true may fail; the next with otherwise = true runs
 * only when it did. Failures write "E<message>" to opts.status. ready,
 * init and exec are for a child: run in the caller, they would wait,
 * fork or exec there.
 */
static int l_plan(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int has_opts = nsl_opttable(L, 2);
	nsl_checknargs(L, 2);
	int status_fd = -1, go_fd = -1;
	if (has_opts) {
		static const char *const fields[] = {"status", "go", NULL};
		nsl_checkfields(L, 2, fields, "plan options");
		status_fd = (int)nsl_optfieldrange(L, 2, "status", "plan options", -1, INT_MAX, -1);
		go_fd = (int)nsl_optfieldrange(L, 2, "go", "plan options", -1, INT_MAX, -1);
	}
	lua_Integer n = luaL_len(L, 1);
	if (n < 0 || n > PLAN_MAX_STEPS)
		luaL_error(L, "plan: at most %d steps", PLAN_MAX_STEPS);
	lua_settop(L, 2);
	struct nsl_plan *p = lua_newuserdatauv(L, sizeof *p + (size_t)n * sizeof p->steps[0], 2);
	memset(p, 0, sizeof *p + (size_t)n * sizeof p->steps[0]);
	p->status_fd = status_fd;
	p->go_fd = go_fd;
	int ud = lua_gettop(L);
	lua_newtable(L);
	int extras = lua_gettop(L);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_geti(L, 1, i) != LUA_TTABLE)
			luaL_error(L, "plan: step %I must be a table (got %s)", i, luaL_typename(L, -1));
		check_step(L, lua_gettop(L), i, extras, &p->steps[i - 1]);
		lua_pop(L, 1);
	}
	p->n = (size_t)n;
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].op == OP_INIT) {
			read_title_areas(p->title);
			break;
		}
	lua_setiuservalue(L, ud, 2);  /* extras */
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, ud, 1);  /* the steps, with their strings */
	if (luaL_newmetatable(L, PLAN_MT)) {
		static const luaL_Reg methods[] = {{"run", l_plan_run}, {NULL, NULL}};
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_plan_len);
		lua_setfield(L, -2, "__len");
	}
	lua_setmetatable(L, ud);
	return 1;
}

/*
 * plan:run([from [, to]]) -> true | nil, message, status
 * Runs steps from..to (1-based, inclusive; the whole plan by default) in
 * the caller. A failure is also reported on the plan's status descriptor.
 * status is the exit status a child should end with (1, or 126/127 when
 * the exec step failed). An exec step that succeeds does not return.
 */
static int l_plan_run(lua_State *L)
{
	struct nsl_plan *p = luaL_checkudata(L, 1, PLAN_MT);
	lua_Integer from = luaL_optinteger(L, 2, 1);
	lua_Integer to = luaL_optinteger(L, 3, (lua_Integer)p->n);
	nsl_checknargs(L, 3);
	if (from < 1 || to > (lua_Integer)p->n)
		luaL_error(L, "plan:run: steps %I to %I of %I", from, to, (lua_Integer)p->n);
	if (from > to) {
		lua_pushboolean(L, 1);
		return 1;
	}
	fflush(NULL);
	struct plan_run *r = lua_newuserdatauv(L, sizeof *r, 0);
	r->plan = p;
	r->shared = 0;
	r->dir[0] = '\0';
	r->landlock = -1;
	r->nfilters = 0;
	int status = nsl_plan_run_steps(r, (size_t)(from - 1), (size_t)(to - 1));
	if (status == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, r->msg);
	lua_pushinteger(L, status);
	return 3;
}

static int l_plan_len(lua_State *L)
{
	struct nsl_plan *p = luaL_checkudata(L, 1, PLAN_MT);
	lua_pushinteger(L, (lua_Integer)p->n);
	return 1;
}

const luaL_Reg nsl_plan_funcs[] = {
	{"plan", l_plan},
	{NULL, NULL},
};
