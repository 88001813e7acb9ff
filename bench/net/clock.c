/*
 * A monotonic clock for the benchmark script: require "clock".now() is
 * the time in seconds (a float, nanosecond resolution). Built by the
 * Makefile next to it; not part of nsl.
 */
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

int luaopen_clock(lua_State *L);

static int now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

int luaopen_clock(lua_State *L)
{
	static const luaL_Reg funcs[] = {{"now", now}, {NULL, NULL}};
	luaL_newlib(L, funcs);
	return 1;
}
