/*
 * Network namespaces over netlink (libnl-route): nsl.net.
 */
#include "lnsl.h"

static const luaL_Reg net_funcs[] = {
	{NULL, NULL},
};

int nsl_open_net(lua_State *L)
{
	luaL_newlib(L, net_funcs);
	return 1;
}
