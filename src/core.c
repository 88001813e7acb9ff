/*
 * The module `nsl.core`: every area's functions in one table, with the
 * capability and network functions as the subtables `caps` and `net`.
 */
#include "lnsl.h"

int luaopen_nsl_core(lua_State *L)
{
	static const luaL_Reg *const areas[] = {
		nsl_ns_funcs, nsl_uts_funcs, nsl_mount_funcs,
		nsl_proc_funcs, nsl_priv_funcs,
		nsl_fs_funcs, nsl_fd_funcs, nsl_sys_funcs, /* containers' primitives */
		NULL,
	};

	luaL_checkversion(L);
	lua_newtable(L);
	for (int i = 0; areas[i]; i++)
		luaL_setfuncs(L, areas[i], 0);
	lua_newtable(L);
	luaL_setfuncs(L, nsl_caps_funcs, 0);
	lua_setfield(L, -2, "caps");
	nsl_open_net(L);
	lua_setfield(L, -2, "net");
	lua_pushliteral(L, NSL_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
