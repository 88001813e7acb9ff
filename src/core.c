/*
 * The module `nsl.core`: every area's functions in one table, with the
 * capability and network functions as the subtables `caps` and `net`.
 */
#include "lnsl.h"

/* Stores the table on top as field name of the module below it, and as
 * package.loaded["nsl.<name>"]: require "nsl.net" then works, and error
 * messages name the function ("bad argument #1 to 'nsl.net.up'"). */
static void set_submodule(lua_State *L, const char *name)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushfstring(L, "nsl.%s", name);
	lua_pushvalue(L, -3);
	lua_settable(L, -3);
	lua_pop(L, 1); /* the loaded table */
	lua_setfield(L, -2, name);
}

int luaopen_nsl_core(lua_State *L)
{
	static const luaL_Reg *const areas[] = {
		nsl_ns_funcs, nsl_clone_funcs, nsl_uts_funcs, nsl_mount_funcs,
		nsl_proc_funcs, nsl_priv_funcs,
		nsl_fs_funcs, nsl_owned_funcs, nsl_fd_funcs, nsl_sys_funcs, nsl_supervise_funcs, nsl_tty_funcs, /* containers' primitives */
		nsl_plan_funcs, nsl_confine_funcs,
		NULL,
	};

	luaL_checkversion(L);
	lua_newtable(L);
	for (int i = 0; areas[i]; i++)
		luaL_setfuncs(L, areas[i], 0);
	lua_newtable(L);
	luaL_setfuncs(L, nsl_caps_funcs, 0);
	set_submodule(L, "caps");
	nsl_open_net(L);
	set_submodule(L, "net");
	lua_pushliteral(L, NSL_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
