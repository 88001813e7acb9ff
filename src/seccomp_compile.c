/*
 * The module `nsl.seccomp_compile`: seccomp filters compiled with
 * libseccomp. Loaded only by the Lua layer's nsl.seccomp when a filter
 * has to be compiled, so that a process that starts no filtered
 * container never maps libseccomp; the program it makes is installed by
 * the core (confine.c), which needs no library.
 *
 * The interface is the kernel's, in names: the policy language (groups,
 * extends, capabilities) is the Lua layer's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "nsl.h"


/* The highest system call number looked at on the native architecture
 * (x86_64 has ~470, aarch64 ~470; the x32 range starts at 0x40000000). */
#define NR_SCAN 1024
#define CTX_META "nsl.seccomp_ctx"

static const struct {
	const char *name;
	enum scmp_compare op;
} compares[] = {
	{"==", SCMP_CMP_EQ}, {"!=", SCMP_CMP_NE}, {"<", SCMP_CMP_LT},
	{"<=", SCMP_CMP_LE}, {">", SCMP_CMP_GT}, {">=", SCMP_CMP_GE},
	{"&==", SCMP_CMP_MASKED_EQ},
};

/*
 * compile.names() -> {name, ...}
 * The system calls libseccomp knows on the native architecture.
 */
static int l_names(lua_State *L)
{
	uint32_t arch = seccomp_arch_native();
	lua_newtable(L);
	int n = 0;
	for (int nr = 0; nr < NR_SCAN; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(arch, nr);
		if (!name)
			continue;
		lua_pushstring(L, name);
		free(name);
		lua_rawseti(L, -2, ++n);
	}
	return 1;
}

/*
 * compile.resolve(name) -> number | nil
 * The number of a system call on the native architecture; a negative
 * number when libseccomp knows the name on another architecture only;
 * nil when it does not know it at all.
 */
static int l_resolve(lua_State *L)
{
	int nr = seccomp_syscall_resolve_name(luaL_checkstring(L, 1));
	if (nr == __NR_SCMP_ERROR)
		lua_pushnil(L);
	else
		lua_pushinteger(L, nr);
	return 1;
}

/* The action of {name[, errno]} at idx. */
static uint32_t check_action(lua_State *L, int idx, const char *what)
{
	if (!lua_istable(L, idx))
		luaL_error(L, "seccomp: %s must be {action[, errno]}", what);
	lua_geti(L, idx, 1);
	const char *a = lua_tostring(L, -1);
	lua_geti(L, idx, 2);
	lua_Integer e = lua_tointeger(L, -1);
	lua_pop(L, 2);
	if (!a)
		luaL_error(L, "seccomp: %s has no action", what);
	if (strcmp(a, "allow") == 0)
		return SCMP_ACT_ALLOW;
	if (strcmp(a, "kill") == 0)
		return SCMP_ACT_KILL_PROCESS;
	if (strcmp(a, "kill_thread") == 0)
		return SCMP_ACT_KILL_THREAD;
	if (strcmp(a, "trap") == 0)
		return SCMP_ACT_TRAP;
	if (strcmp(a, "log") == 0)
		return SCMP_ACT_LOG;
	if (strcmp(a, "errno") == 0) {
		if (e < 0 || e > 4095)
			luaL_error(L, "seccomp: %s: errno %d out of range", what, (int)e);
		return SCMP_ACT_ERRNO((uint16_t)e);
	}
	return (uint32_t)luaL_error(L, "seccomp: %s: unknown action '%s'", what, a);
}

/* Condition i of the rule's args list at idx, into *c. */
static void check_arg(lua_State *L, int idx, int i, struct scmp_arg_cmp *c)
{
	lua_geti(L, idx, i);
	if (!lua_istable(L, -1))
		luaL_error(L, "seccomp: condition %d must be {index, op, value[, mask]}", i);
	int t = lua_gettop(L);
	lua_geti(L, t, 1);
	lua_geti(L, t, 2);
	lua_geti(L, t, 3);
	lua_geti(L, t, 4);
	int isnum;
	lua_Integer arg = lua_tointegerx(L, t + 1, &isnum);
	if (!isnum || arg < 0 || arg > 5)
		luaL_error(L, "seccomp: condition %d: the argument index must be 0 to 5", i);
	const char *op = lua_tostring(L, t + 2);
	size_t k = 0;
	while (op && k < sizeof compares / sizeof *compares && strcmp(compares[k].name, op) != 0)
		k++;
	if (!op || k == sizeof compares / sizeof *compares)
		luaL_error(L, "seccomp: condition %d: unknown comparison '%s'", i, op ? op : "?");
	lua_Integer v = lua_tointegerx(L, t + 3, &isnum);
	if (!isnum)
		luaL_error(L, "seccomp: condition %d: the value must be an integer", i);
	lua_Integer mask = lua_tointegerx(L, t + 4, &isnum);
	if (compares[k].op == SCMP_CMP_MASKED_EQ && !isnum)
		luaL_error(L, "seccomp: condition %d: '&==' needs a mask", i);
	c->arg = (unsigned)arg;
	c->op = compares[k].op;
	/* a masked compare takes the mask first, the value second */
	c->datum_a = compares[k].op == SCMP_CMP_MASKED_EQ ? (scmp_datum_t)mask : (scmp_datum_t)v;
	c->datum_b = compares[k].op == SCMP_CMP_MASKED_EQ ? (scmp_datum_t)v : 0;
	lua_pop(L, 5);
}

/* Adds rule i of the list at idx to ctx; the rule's action being the
 * filter's default makes it redundant (libseccomp refuses those). */
static int add_rule(lua_State *L, scmp_filter_ctx ctx, int idx, int i, uint32_t dflt)
{
	struct scmp_arg_cmp cmp[6];
	char what[64];
	snprintf(what, sizeof what, "rule %d", i);
	lua_geti(L, idx, i);
	int t = lua_gettop(L);
	if (!lua_istable(L, t))
		return luaL_error(L, "seccomp: %s must be a table", what);
	lua_getfield(L, t, "name");
	const char *name = lua_tostring(L, -1);
	if (!name)
		return luaL_error(L, "seccomp: %s has no system call name", what);
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return luaL_error(L, "seccomp: unknown system call '%s'", name);
	lua_getfield(L, t, "action");
	uint32_t action = check_action(L, lua_gettop(L), what);
	unsigned n = 0;
	if (lua_getfield(L, t, "args") == LUA_TTABLE) {
		lua_Integer len = luaL_len(L, -1);
		if (len > 6)
			return luaL_error(L, "seccomp: %s (%s): at most 6 conditions", what, name);
		for (int k = 1; k <= len; k++)
			check_arg(L, lua_gettop(L), k, &cmp[n++]);
	}
	lua_pop(L, 4);
	if (action == dflt)
		return 0;
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

/* The program ctx makes, as a Lua string. */
static int push_program(lua_State *L, scmp_filter_ctx ctx)
{
	int fd = memfd_create("nsl-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = seccomp_export_bpf(ctx, fd);
	off_t len = rc == 0 ? lseek(fd, 0, SEEK_CUR) : -1;
	luaL_Buffer b;
	if (len > 0) {
		char *p = luaL_buffinitsize(L, &b, (size_t)len);
		if (pread(fd, p, (size_t)len, 0) == len) {
			close(fd);
			luaL_pushresultsize(&b, (size_t)len);
			return 0;
		}
		lua_pop(L, 1);
	}
	if (rc < 0)
		errno = -rc;
	close(fd);
	return -1;
}

/*
 * compile.compile{default = {action[, errno]}, badarch = {action[, errno]},
 *                 arches = {"x86", "x32", ...}, rules = {
 *                   {name = "ioctl", action = {"errno", 1},
 *                    args = {{1, "&==", 0x5412, 0xffffffff}}}, ...}} -> program
 * A filter program (the bytes of its struct sock_filter array) that gives
 * each call the action of its rules (rules of one call with conditions
 * are tried in turn) and default to every other call of the native
 * architecture and of arches; calls of any other ABI get badarch.
 */
static int l_compile(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "default");
	uint32_t dflt = check_action(L, 2, "default");
	lua_getfield(L, 1, "badarch");
	uint32_t badarch = lua_isnil(L, 3) ? SCMP_ACT_KILL_PROCESS : check_action(L, 3, "badarch");
	int ta = lua_getfield(L, 1, "arches");  /* 4 */
	int tr = lua_getfield(L, 1, "rules");   /* 5 */
	if ((ta != LUA_TNIL && ta != LUA_TTABLE) || tr != LUA_TTABLE)
		return luaL_error(L, "seccomp: arches must be a list, rules a list");
	/* the context lives in a userdata: a raised error frees it */
	scmp_filter_ctx *box = lua_newuserdatauv(L, sizeof *box, 0);
	*box = NULL;
	luaL_setmetatable(L, CTX_META);
	if (!(*box = seccomp_init(dflt)))
		return luaL_error(L, "seccomp: cannot make a filter");
	scmp_filter_ctx ctx = *box;
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the plan sets it */
	for (lua_Integer i = 1; rc == 0 && ta == LUA_TTABLE && i <= luaL_len(L, 4); i++) {
		lua_geti(L, 4, i);
		const char *a = lua_tostring(L, -1);
		uint32_t token = a ? seccomp_arch_resolve_name(a) : 0;
		if (!token)
			return luaL_error(L, "seccomp: unknown architecture '%s'", a ? a : "?");
		lua_pop(L, 1);
		rc = seccomp_arch_add(ctx, token);
		if (rc == -EEXIST)
			rc = 0;
	}
	lua_Integer n = luaL_len(L, 5);
	for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
		rc = add_rule(L, ctx, 5, (int)i, dflt);
		if (rc < 0)
			return luaL_error(L, "seccomp: rule %d: libseccomp refused it (%s)", (int)i,
			                  strerror(-rc));
	}
	if (rc == 0)
		rc = push_program(L, ctx) == 0 ? 0 : -errno;
	if (rc < 0)
		return luaL_error(L, "seccomp: compile: %s", strerror(-rc));
	return 1;
}

/*
 * compile.enosys_stub() -> instructions
 * The head of a policy's program: a call of the native architecture
 * numbered above the highest libseccomp knows fails with ENOSYS, and
 * every other call goes on to the instruction that follows (the policy's
 * program: stub .. program is one program). Calls newer than the policy
 * then look absent, and libc falls back to older ones, where the
 * policy's default (EPERM) would make it give up. (runc puts the same
 * stub in front of libseccomp's programs.)
 */
static int l_enosys_stub(lua_State *L)
{
	uint32_t arch = seccomp_arch_native();
	int max = 0;
	for (int nr = 0; nr < NR_SCAN; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(arch, nr);
		if (name)
			max = nr;
		free(name);
	}
	const struct sock_filter stub[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 2, 0), /* x32: the policy's */
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)max, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		/* the policy's program follows */
	};
	lua_pushlstring(L, (const char *)stub, sizeof stub);
	return 1;
}

static int ctx_gc(lua_State *L)
{
	scmp_filter_ctx *box = luaL_checkudata(L, 1, CTX_META);
	if (*box)
		seccomp_release(*box);
	*box = NULL;
	return 0;
}

int luaopen_nsl_seccomp_compile(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"compile", l_compile},
		{"enosys_stub", l_enosys_stub},
		{"names", l_names},
		{"resolve", l_resolve},
		{NULL, NULL},
	};
	luaL_newmetatable(L, CTX_META);
	lua_pushcfunction(L, ctx_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	const struct scmp_version *v = seccomp_version();
	lua_pushfstring(L, "%d.%d.%d", (int)v->major, (int)v->minor, (int)v->micro);
	lua_setfield(L, -2, "libseccomp");
	return 1;
}
