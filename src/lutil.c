/*
 * Argument checking and result conventions shared by the Lua wrappers.
 *
 * Failures of the environment return nil, "<operation> <object>: <reason>",
 * errno. Programming errors (wrong type, unknown name, extra argument)
 * raise an error naming the argument and what it accepts.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"

int nsl_pushfail(lua_State *L, const nsl_error *err)
{
	luaL_pushfail(L);
	if (err->code)
		lua_pushfstring(L, "%s: %s", err->what, strerror(err->code));
	else
		lua_pushstring(L, err->what);
	lua_pushinteger(L, err->code);
	return 3;
}

int nsl_pusherrno(lua_State *L, const char *fmt, ...)
{
	nsl_error err;
	va_list ap;
	err.code = errno; /* saved before anything else can change it */
	va_start(ap, fmt);
	vsnprintf(err.what, sizeof err.what, fmt, ap);
	va_end(ap);
	return nsl_pushfail(L, &err);
}

int nsl_pushstatus(lua_State *L, int status)
{
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0)
			lua_pushboolean(L, 1);
		else
			luaL_pushfail(L);
		lua_pushliteral(L, "exit");
		lua_pushinteger(L, WEXITSTATUS(status));
	} else {
		luaL_pushfail(L);
		lua_pushliteral(L, "signal");
		lua_pushinteger(L, WTERMSIG(status));
	}
	return 3;
}

void nsl_checknargs(lua_State *L, int n)
{
	int top = lua_gettop(L);
	if (top > n)
		luaL_argerror(L, n + 1,
		              lua_pushfstring(L, "too many arguments (expected at most %d, got %d)",
		                              n, top));
}

static const char *check_clean(lua_State *L, int arg, const char *s,
                               size_t len, size_t maxlen)
{
	if (strlen(s) != len)
		luaL_argerror(L, arg, "string contains a NUL byte");
	if (maxlen && len > maxlen)
		luaL_argerror(L, arg,
		              lua_pushfstring(L, "longer than %d bytes",
		                              (int)maxlen));
	return s;
}

const char *nsl_checkname(lua_State *L, int arg, size_t maxlen, size_t *lenp)
{
	size_t len;
	/* Before luaL_checklstring, which would turn a number into a string
	 * in place and let it through. */
	if (lua_type(L, arg) != LUA_TSTRING)
		luaL_typeerror(L, arg, "string");
	const char *s = lua_tolstring(L, arg, &len);
	if (lenp)
		*lenp = len;
	return check_clean(L, arg, s, len, maxlen);
}

const char *nsl_optname(lua_State *L, int arg, size_t maxlen, size_t *lenp)
{
	if (lua_isnoneornil(L, arg)) {
		if (lenp)
			*lenp = 0;
		return NULL;
	}
	return nsl_checkname(L, arg, maxlen, lenp);
}

const char *nsl_checkfieldstring(lua_State *L, int t, const char *field,
                                 const char *owner)
{
	size_t len;
	if (lua_getfield(L, t, field) != LUA_TSTRING)
		luaL_error(L, "%s: field '%s' must be a string (got %s)", owner,
		           field, luaL_typename(L, -1));
	const char *s = lua_tolstring(L, -1, &len);
	if (strlen(s) != len)
		luaL_error(L, "%s: field '%s' contains a NUL byte", owner, field);
	lua_pop(L, 1); /* the table still holds the string */
	return s;
}

lua_Integer nsl_checkrange(lua_State *L, int arg, lua_Integer min,
                           lua_Integer max, const char *what)
{
	int isnum;
	lua_Integer v = lua_tointegerx(L, arg, &isnum);
	if (!isnum) {
		if (lua_type(L, arg) == LUA_TNUMBER)
			luaL_argerror(L, arg,
			              lua_pushfstring(L, "%s must be an integer", what));
		luaL_typeerror(L, arg, "integer");
	}
	if (v < min || v > max)
		luaL_argerror(L, arg,
		              lua_pushfstring(L, "%s out of range (%I to %I)", what,
		                              min, max));
	return v;
}

lua_Integer nsl_optfieldrange(lua_State *L, int t, const char *field,
                              const char *owner, lua_Integer min,
                              lua_Integer max, lua_Integer dflt)
{
	int isnum;
	if (lua_getfield(L, t, field) == LUA_TNIL) {
		lua_pop(L, 1);
		return dflt;
	}
	lua_Integer v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || lua_type(L, -1) != LUA_TNUMBER || v < min || v > max) {
		const char *got = lua_type(L, -1) == LUA_TNUMBER
		                  ? luaL_tolstring(L, -1, NULL) : luaL_typename(L, -1);
		luaL_error(L, "%s: %s must be an integer from %I to %I (got %s)",
		           owner, field, min, max, got);
	}
	lua_pop(L, 1);
	return v;
}

pid_t nsl_checkpid(lua_State *L, int arg)
{
	return (pid_t)nsl_checkrange(L, arg, 1, INT_MAX, "pid");
}

int nsl_opttable(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return 0;
	luaL_checktype(L, arg, LUA_TTABLE);
	return 1;
}

/* "a, b, c" from a flag table, without aliases that repeat a value. */
static const char *flag_names(lua_State *L, const nsl_flag *table)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (const nsl_flag *f = table; f->name; f++) {
		if (f != table)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, f->name);
	}
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

static void unknown_flag(lua_State *L, int arg, const nsl_flag *table,
                         const char *what, const char *name)
{
	const char *names = flag_names(L, table);
	luaL_argerror(L, arg,
	              lua_pushfstring(L, "unknown %s '%s' (expected %s)", what,
	                              name, names));
}

unsigned long nsl_checkflags(lua_State *L, int arg, const nsl_flag *table,
                             const char *what)
{
	unsigned long flags = 0;
	char bad[64];

	switch (lua_type(L, arg)) {
	case LUA_TNONE:
	case LUA_TNIL:
		return 0;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, arg, &len);
		if (strlen(s) != len)
			luaL_argerror(L, arg, "string contains a NUL byte");
		if (nsl_parse_flags(s, len, table, &flags, bad, sizeof bad) < 0)
			unknown_flag(L, arg, table, what, bad);
		return flags;
	}
	case LUA_TTABLE: {
		lua_Integer n = luaL_len(L, arg);
		/* {uts = true} would otherwise read as an empty list and
		 * silently ask for nothing. */
		lua_pushnil(L);
		while (lua_next(L, arg)) {
			lua_pop(L, 1);
			if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
			    lua_tointeger(L, -1) > n)
				luaL_argerror(L, arg,
				              lua_pushfstring(L, "%s list must be an array of names (found key '%s')",
				                              what, luaL_tolstring(L, -1, NULL)));
		}
		for (lua_Integer i = 1; i <= n; i++) {
			size_t len;
			if (lua_geti(L, arg, i) != LUA_TSTRING)
				luaL_argerror(L, arg,
				              lua_pushfstring(L, "%s list item %I must be a string (got %s)",
				                              what, i, luaL_typename(L, -1)));
			const char *s = lua_tolstring(L, -1, &len);
			const nsl_flag *f = nsl_flag_lookup(table, s, len);
			if (!f || strlen(s) != len)
				unknown_flag(L, arg, table, what, s);
			flags |= f->value;
			lua_pop(L, 1);
		}
		return flags;
	}
	default:
		return luaL_typeerror(L, arg,
		                      lua_pushfstring(L, "%s list (string or table)", what));
	}
}

void nsl_checkfields(lua_State *L, int t, const char *const fields[],
                     const char *owner)
{
	t = lua_absindex(L, t);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1); /* value */
		int known = 0;
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *key = lua_tostring(L, -1);
			for (int i = 0; fields[i]; i++)
				if (strcmp(fields[i], key) == 0)
					known = 1;
		}
		if (!known) {
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (int i = 0; fields[i]; i++) {
				if (i)
					luaL_addstring(&b, ", ");
				luaL_addstring(&b, fields[i]);
			}
			luaL_pushresult(&b);
			/* One at a time: the order in which C evaluates the
			 * arguments of a call is unspecified, and luaL_tolstring
			 * pushes, which moves what -2 names. */
			const char *expected = lua_tostring(L, -1);
			const char *key = luaL_tolstring(L, -2, NULL);
			luaL_error(L, "%s: unknown field '%s' (expected %s)", owner, key,
			           expected);
		}
	}
}

/* Names of named network namespaces, as iproute2 accepts them. */
static int valid_netns_name(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;
	return strchr(s, '/') == NULL;
}

void nsl_checktarget(lua_State *L, int arg, pid_t *pid, char *path,
                     size_t pathlen)
{
	*pid = 0;
	path[0] = '\0';
	if (lua_type(L, arg) == LUA_TNUMBER) {
		*pid = nsl_checkpid(L, arg);
		return;
	}
	if (lua_type(L, arg) != LUA_TSTRING)
		luaL_typeerror(L, arg, "pid, namespace path or netns name");
	size_t len;
	const char *s = nsl_checkname(L, arg, PATH_MAX - 16, &len);
	if (s[0] == '/' || s[0] == '.') {
		snprintf(path, pathlen, "%s", s);
	} else if (valid_netns_name(s, len)) {
		snprintf(path, pathlen, "/run/netns/%s", s);
	} else {
		luaL_argerror(L, arg, "invalid namespace name");
	}
}

size_t nsl_checkidmap(lua_State *L, int arg, nsl_idmap_entry *map,
                      const char *what)
{
	if (lua_type(L, arg) != LUA_TTABLE)
		luaL_error(L, "%s must be a table of {inside, outside, count} (got %s)",
		           what, luaL_typename(L, arg));
	arg = lua_absindex(L, arg);
	lua_Integer n = luaL_len(L, arg);
	if (n < 1 || n > NSL_IDMAP_MAX)
		luaL_error(L, "%s must have 1 to %d entries (got %I)", what,
		           NSL_IDMAP_MAX, n);
	static const char *const part[] = {"inside", "outside", "count"};
	for (lua_Integer i = 1; i <= n; i++) {
		uint32_t v[3];
		if (lua_geti(L, arg, i) != LUA_TTABLE)
			luaL_error(L, "%s entry %I must be a table {inside, outside, count}",
			           what, i);
		if (luaL_len(L, -1) != 3)
			luaL_error(L, "%s entry %I must have 3 numbers {inside, outside, count}",
			           what, i);
		for (int j = 0; j < 3; j++) {
			int isnum;
			lua_geti(L, -1, j + 1);
			lua_Integer x = lua_tointegerx(L, -1, &isnum);
			if (!isnum || x < 0 || x > 4294967294LL)
				luaL_error(L, "%s entry %I: %s id must be an integer from 0 to 4294967294",
				           what, i, part[j]);
			v[j] = (uint32_t)x;
			lua_pop(L, 1);
		}
		map[i - 1] = (nsl_idmap_entry){v[0], v[1], v[2]};
		if (nsl_idmap_check(&map[i - 1]) < 0)
			luaL_error(L, "%s entry %I: count must be at least 1 and the ranges end below 4294967295",
			           what, i);
		lua_pop(L, 1);
	}
	return (size_t)n;
}

int nsl_signal_number(const char *name)
{
	char up[32];
	size_t i;
	for (i = 0; name[i] && i < sizeof up - 1; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = '\0';
	const char *s = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcmp(abbrev, s) == 0)
			return sig;
	}
	return -1;
}

int nsl_tosignal(lua_State *L, int idx)
{
	size_t len;
	int isnum;
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer v = lua_tointegerx(L, idx, &isnum);
		if (!isnum)
			lua_pushliteral(L, "signal must be an integer");
		else if (v < 0 || v >= NSIG)
			lua_pushfstring(L, "signal out of range (0 to %d)", NSIG - 1);
		else
			return (int)v;
		return -1;
	}
	if (lua_type(L, idx) != LUA_TSTRING) {
		lua_pushfstring(L, "string expected, got %s", luaL_typename(L, idx));
		return -1;
	}
	const char *name = lua_tolstring(L, idx, &len);
	if (strlen(name) != len) {
		lua_pushliteral(L, "string contains a NUL byte");
		return -1;
	}
	if (len > 31) {
		lua_pushliteral(L, "longer than 31 bytes");
		return -1;
	}
	int sig = nsl_signal_number(name);
	if (sig < 0)
		lua_pushfstring(L, "unknown signal '%s' (expected a name such as TERM, KILL, HUP, INT, USR1 or a number)",
		                name);
	return sig;
}

int nsl_checksignal(lua_State *L, int arg)
{
	int sig = nsl_tosignal(L, arg);
	if (sig < 0)
		luaL_argerror(L, arg, lua_tostring(L, -1));
	return sig;
}

/* "chown", "cap_chown" or "CAP_CHOWN" to a capability number, or -1. */
static int cap_number(const char *name, size_t len)
{
	char lower[64];
	const char *prefix = "";
	size_t i;

	if (len >= sizeof lower - 5)
		return -1;
	if (!(len > 4 && strncasecmp(name, "cap_", 4) == 0))
		prefix = "cap_";
	snprintf(lower, sizeof lower, "%s%s", prefix, name);
	for (i = 0; lower[i]; i++)
		lower[i] = (char)tolower((unsigned char)lower[i]);
	cap_value_t cap;
	if (cap_from_name(lower, &cap) != 0 || cap < 0 || cap > 63)
		return -1;
	return (int)cap;
}

nsl_capset nsl_checkcaps(lua_State *L, int arg)
{
	nsl_capset set = 0;
	const char *bad = NULL;

	if (lua_type(L, arg) == LUA_TSTRING) {
		size_t len;
		const char *s = nsl_checkname(L, arg, 0, &len);
		size_t i = 0;
		while (i < len) {
			while (i < len && (s[i] == ',' || isspace((unsigned char)s[i])))
				i++;
			size_t start = i;
			while (i < len && s[i] != ',' && !isspace((unsigned char)s[i]))
				i++;
			if (i == start)
				break;
			int cap = cap_number(s + start, i - start);
			if (cap < 0) {
				lua_pushlstring(L, s + start, i - start);
				bad = lua_tostring(L, -1);
				break;
			}
			set |= (nsl_capset)1 << cap;
		}
	} else if (lua_type(L, arg) == LUA_TTABLE) {
		lua_Integer n = luaL_len(L, arg);
		for (lua_Integer i = 1; i <= n && !bad; i++) {
			size_t len;
			if (lua_geti(L, arg, i) != LUA_TSTRING)
				luaL_argerror(L, arg,
				              lua_pushfstring(L, "capability list item %I must be a string (got %s)",
				                              i, luaL_typename(L, -1)));
			const char *s = lua_tolstring(L, -1, &len);
			int cap = strlen(s) == len ? cap_number(s, len) : -1;
			if (cap < 0)
				bad = s;
			else
				set |= (nsl_capset)1 << cap;
			if (!bad)
				lua_pop(L, 1);
		}
	} else {
		luaL_typeerror(L, arg, "capability list (string or table)");
	}
	if (bad)
		luaL_argerror(L, arg,
		              lua_pushfstring(L, "unknown capability '%s' (expected names such as CAP_CHOWN or chown; see capabilities(7))",
		                              bad));
	return set;
}

/* A directory stream owned by a userdata, so that a memory error raised
 * while the names are collected still closes it (on collection). */
static int dir_gc(lua_State *L)
{
	DIR **box = lua_touserdata(L, 1);
	if (*box) {
		closedir(*box);
		*box = NULL;
	}
	return 0;
}

/* Pushes the names in the directory open at fd (which it takes, and
 * closes), "." and ".." left out; what names it in an error. */
int nsl_push_names(lua_State *L, int fd, const char *what)
{
	DIR **box = lua_newuserdatauv(L, sizeof *box, 0);
	*box = NULL;
	if (luaL_newmetatable(L, "nsl.dir")) {
		lua_pushcfunction(L, dir_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	*box = fd < 0 ? NULL : fdopendir(fd);
	if (!*box) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		errno = saved;
		return nsl_pusherrno(L, "readdir %s", what);
	}
	lua_createtable(L, 16, 0);
	lua_Integer n = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(*box))) {
		const char *name = e->d_name;
		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		lua_pushstring(L, name);
		lua_rawseti(L, -2, ++n);
	}
	int saved = errno;
	closedir(*box);
	*box = NULL;
	if (saved) {
		errno = saved;
		return nsl_pusherrno(L, "readdir %s", what);
	}
	return 1;
}

/* Pushes the table nsl.lstat gives for st. */
void nsl_push_stat(lua_State *L, const struct stat *st)
{
	lua_createtable(L, 0, 9);
	lua_pushstring(L, nsl_file_type(st->st_mode));
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, st->st_mode & 07777);
	lua_setfield(L, -2, "mode");
	lua_pushinteger(L, st->st_uid);
	lua_setfield(L, -2, "uid");
	lua_pushinteger(L, st->st_gid);
	lua_setfield(L, -2, "gid");
	lua_pushinteger(L, st->st_size);
	lua_setfield(L, -2, "size");
	lua_pushinteger(L, (lua_Integer)st->st_ino);
	lua_setfield(L, -2, "ino");
	lua_pushinteger(L, (lua_Integer)st->st_mtim.tv_sec);
	lua_setfield(L, -2, "mtime");
	lua_pushinteger(L, major(st->st_rdev));
	lua_setfield(L, -2, "major");
	lua_pushinteger(L, minor(st->st_rdev));
	lua_setfield(L, -2, "minor");
}
