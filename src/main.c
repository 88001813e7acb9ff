/*
 * The host binary: a Lua 5.4 interpreter with nsl built in.
 *
 * The C part only makes the Lua state, registers the core and the Lua
 * layer (compiled into the binary, so that nsl needs no installed files
 * and works from any directory) and hands the command line to the Lua
 * module nsl.cli, all inside a protected call whose message handler adds
 * a traceback, as lua.c does.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "nsl.h"
#include "embedded.h"

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)",
		                      luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static int load_embedded(lua_State *L)
{
	const struct nsl_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
	if (luaL_loadbufferx(L, (const char *)m->data, m->len, m->chunkname,
	                     NULL) != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, m->name);
	lua_call(L, 1, 1);
	return 1;
}

/* package.preload entries for the core and every embedded Lua module:
 * they win over whatever else the search paths would find. */
static void preload(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_nsl_core);
	lua_setfield(L, -2, "nsl.core");
	lua_pushcfunction(L, luaopen_nsl_seccomp_compile);
	lua_setfield(L, -2, "nsl.seccomp_compile");
	for (const struct nsl_embedded *m = nsl_embedded; m->name; m++) {
		lua_pushlightuserdata(L, (void *)m);
		lua_pushcclosure(L, load_embedded, 1);
		lua_setfield(L, -2, m->name);
	}
	lua_pop(L, 1);
}

/* Does dir look like the lib directory of an installation or a build
 * tree: a directory owned by root or the caller that no one else may
 * write into? (A binary copied to /tmp/x/nsl must not load what anyone
 * put in /tmp/lib.) */
static int trusted_lib(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       (st.st_uid == 0 || st.st_uid == geteuid()) && !(st.st_mode & 022);
}

/* The C submodules that are not built in (nsl.archive: libarchive's
 * static dependencies are many) are found next to the binary: BIN/../lib
 * in the build tree (build/lib/nsl/archive.so), BIN/../lib/lua/5.4 when
 * installed (PREFIX/lib/lua/5.4/nsl/archive.so). Both go in front of
 * package.cpath; -Wl,-E gives such modules the binary's Lua API. */
static void submodule_path(lua_State *L)
{
	char exe[PATH_MAX], lib[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	snprintf(lib, sizeof lib, "%s/../lib", exe);
	if (trusted_lib(lib)) {
		snprintf(lib, sizeof lib, "%s/../lib/lua/5.4", exe);
		if (trusted_lib(lib))
			lua_pushfstring(L, "%s/?.so;", lib);
		else
			lua_pushliteral(L, "");
		luaL_addvalue(&b);
		lua_pushfstring(L, "%s/../lib/?.so;", exe);
		luaL_addvalue(&b);
	}
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "cpath");
	lua_remove(L, -2);
	luaL_addvalue(&b);
	luaL_pushresult(&b);
	lua_getglobal(L, "package");
	lua_insert(L, -2);
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
}

static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);

	luaL_openlibs(L);
	preload(L);
	submodule_path(L);
	lua_pushcfunction(L, traceback);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "nsl.cli");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	lua_createtable(L, argc, 0);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	if (lua_pcall(L, 1, 1, 3) != LUA_OK) {
		fprintf(stderr, "nsl: %s\n", lua_tostring(L, -1));
		lua_pushinteger(L, 1);
	}
	return 1;
}

int main(int argc, char **argv)
{
	/* nsl runs any script with all the powers of its user: installed
	 * setuid or setgid (or with file capabilities), it would hand the
	 * powers of its owner to whoever runs it. */
	if (getauxval(AT_SECURE)) {
		fprintf(stderr, "nsl: refusing to run setuid, setgid or with file "
		        "capabilities: it would give whoever runs it the powers of its owner\n");
		return 1;
	}
	lua_State *L = luaL_newstate();
	if (L == NULL) {
		fprintf(stderr, "nsl: cannot create the Lua state: not enough memory\n");
		return 1;
	}
	lua_pushcfunction(L, pmain);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	int status;
	if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
		fprintf(stderr, "nsl: %s\n", lua_tostring(L, -1));
		status = 1;
	} else {
		status = (int)lua_tointeger(L, -1);
	}
	/* Closing the state runs the finalizers that tear down what the
	 * script set up and did not release itself. */
	lua_close(L);
	return status;
}
