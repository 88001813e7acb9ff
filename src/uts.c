/*
 * UTS namespace: host and domain names.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lnsl.h"

/* The kernel's limit (__NEW_UTS_LEN) for both names. */
#define UTS_NAME_MAX 64

/*
 * nsl.sethostname(name) -> true
 * At most 64 bytes. @see sethostname(2)
 */
static int l_sethostname(lua_State *L)
{
	size_t len;
	const char *name = nsl_checkname(L, 1, UTS_NAME_MAX, &len);
	nsl_checknargs(L, 1);
	if (sethostname(name, len) < 0)
		return nsl_pusherrno(L, "sethostname %s", name);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.gethostname() -> string
 */
static int l_gethostname(lua_State *L)
{
	struct utsname u;
	nsl_checknargs(L, 0);
	if (uname(&u) < 0)
		return nsl_pusherrno(L, "uname");
	lua_pushstring(L, u.nodename);
	return 1;
}

/*
 * nsl.setdomainname(name) -> true
 * The NIS domain name, at most 64 bytes. @see setdomainname(2)
 */
static int l_setdomainname(lua_State *L)
{
	size_t len;
	const char *name = nsl_checkname(L, 1, UTS_NAME_MAX, &len);
	nsl_checknargs(L, 1);
	if (setdomainname(name, len) < 0)
		return nsl_pusherrno(L, "setdomainname %s", name);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.getdomainname() -> string
 */
static int l_getdomainname(lua_State *L)
{
	struct utsname u;
	nsl_checknargs(L, 0);
	if (uname(&u) < 0)
		return nsl_pusherrno(L, "uname");
	lua_pushstring(L, u.domainname);
	return 1;
}

const luaL_Reg nsl_uts_funcs[] = {
	{"sethostname", l_sethostname},
	{"gethostname", l_gethostname},
	{"setdomainname", l_setdomainname},
	{"getdomainname", l_getdomainname},
	{NULL, NULL},
};
