/*
 * The host binary: a Lua 5.4 interpreter with nsl built in.
 *
 * The C part only makes the Lua state, registers the core and the Lua
 * layer (compiled into the binary, so that nsl needs no installed files
 * and works from any directory) and hands the command line to the Lua
 * module nsl.cli, all inside a protected call whose message handler adds
 * a traceback, as lua.c does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

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

static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);

	luaL_openlibs(L);
	preload(L);
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
