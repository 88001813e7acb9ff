/*
 * Capabilities (libcap), the capability set a container starts from, and
 * no_new_privs.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

static int last_cap(void)
{
	int n = cap_max_bits();
	return (n > 64 ? 64 : n) - 1;
}

static const char *cap_label(int cap, char *buf, size_t len)
{
	char *name = cap_to_name((cap_value_t)cap);
	size_t i;
	if (!name) {
		snprintf(buf, len, "%d", cap);
		return buf;
	}
	for (i = 0; name[i] && i < len - 1; i++)
		buf[i] = (char)toupper((unsigned char)name[i]);
	buf[i] = '\0';
	cap_free(name);
	return buf;
}

/* Applies new = old & mask to the permitted, effective and inheritable
 * sets, to ambient, and to bounding. Bounding goes first: dropping from it
 * needs CAP_SETPCAP, which the process may be about to give up. */
static int caps_restrict(nsl_capset mask, const char *op, nsl_error *err)
{
	int last = last_cap();
	char label[64];

	for (int c = 0; c <= last; c++) {
		if (mask & ((nsl_capset)1 << c))
			continue;
		if (cap_get_bound((cap_value_t)c) == 1 && cap_drop_bound((cap_value_t)c) < 0)
			return nsl_fail(err, errno, "%s: drop %s from the bounding set",
			                op, cap_label(c, label, sizeof label));
		if (cap_get_ambient((cap_value_t)c) == 1 &&
		    cap_set_ambient((cap_value_t)c, CAP_CLEAR) < 0)
			return nsl_fail(err, errno, "%s: drop %s from the ambient set",
			                op, cap_label(c, label, sizeof label));
	}
	cap_t caps = cap_get_proc();
	if (!caps)
		return nsl_fail(err, errno, "%s: read capabilities", op);
	for (int c = 0; c <= last; c++) {
		if (mask & ((nsl_capset)1 << c))
			continue;
		cap_value_t v = (cap_value_t)c;
		cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_CLEAR);
		cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_CLEAR);
		cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_CLEAR);
	}
	int r = cap_set_proc(caps);
	int saved = errno;
	cap_free(caps);
	if (r < 0)
		return nsl_fail(err, saved, "%s: set capabilities", op);
	return 0;
}

int nsl_caps_keep(nsl_capset keep, nsl_error *err)
{
	return caps_restrict(keep, "caps.keep", err);
}

int nsl_caps_drop(nsl_capset drop, nsl_error *err)
{
	return caps_restrict(~drop, "caps.drop", err);
}

/* Keeps only the capabilities in keep in the bounding, permitted and
 * effective sets and empties the inheritable and ambient sets, the state
 * a container's processes start from. */
int nsl_caps_limit(nsl_capset keep, nsl_error *err)
{
	int last = cap_max_bits() - 1;
	if (last > 63)
		last = 63;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return nsl_fail(err, errno, "capabilities: clear the ambient set");
	for (int c = 0; c <= last; c++)
		if (!(keep & ((nsl_capset)1 << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return nsl_fail(err, errno, "capabilities: drop %d from the bounding set", c);
	/* capget/capset themselves, not libcap's cap_t: no allocation, as a
	 * child that shares its parent's memory must not allocate (plan.c). */
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return nsl_fail(err, errno, "capabilities: read");
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));
		data[i].effective &= k;
		data[i].permitted &= k;
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return nsl_fail(err, errno, "capabilities: set");
	return 0;
}

/* Is capability c in the named set of the calling process? */
static int in_set(cap_t caps, int set, int c)
{
	cap_flag_value_t v = CAP_CLEAR;
	switch (set) {
	case 3: return cap_get_bound((cap_value_t)c) == 1;
	case 4: return cap_get_ambient((cap_value_t)c) == 1;
	default: {
		static const cap_flag_t flag[] = {CAP_EFFECTIVE, CAP_PERMITTED,
		                                  CAP_INHERITABLE};
		cap_get_flag(caps, (cap_value_t)c, flag[set], &v);
		return v == CAP_SET;
	}
	}
}

/*
 * nsl.caps.get([set]) -> {"CAP_CHOWN", ...}
 * set: "effective" (default), "permitted", "inheritable", "bounding" or
 * "ambient". @see capabilities(7)
 */
static int l_caps_get(lua_State *L)
{
	static const char *const sets[] = {"effective", "permitted", "inheritable",
	                                   "bounding", "ambient", NULL};
	int set = luaL_checkoption(L, 1, "effective", sets);
	char label[64];
	nsl_checknargs(L, 1);

	cap_t caps = cap_get_proc();
	if (!caps)
		return nsl_pusherrno(L, "caps.get");
	lua_newtable(L);
	int n = 0, last = last_cap();
	for (int c = 0; c <= last; c++) {
		if (!in_set(caps, set, c))
			continue;
		lua_pushstring(L, cap_label(c, label, sizeof label));
		lua_rawseti(L, -2, ++n);
	}
	cap_free(caps);
	return 1;
}

/*
 * nsl.caps.keep(list) -> true
 * Drops every capability not in list from all sets, bounding included.
 */
static int l_caps_keep(lua_State *L)
{
	nsl_error err;
	nsl_capset keep = nsl_checkcaps(L, 1);
	nsl_checknargs(L, 1);
	if (nsl_caps_keep(keep, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.caps.drop(list) -> true
 * Drops the listed capabilities from all sets, bounding included.
 */
static int l_caps_drop(lua_State *L)
{
	nsl_error err;
	nsl_capset drop = nsl_checkcaps(L, 1);
	nsl_checknargs(L, 1);
	if (nsl_caps_drop(drop, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.no_new_privs() -> true
 * From now on, execve never grants privileges (setuid bits, file
 * capabilities); inherited by children and irreversible.
 * @see PR_SET_NO_NEW_PRIVS in prctl(2)
 */
static int l_no_new_privs(lua_State *L)
{
	nsl_checknargs(L, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return nsl_pusherrno(L, "no_new_privs");
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.cap_bits(list) -> integer
 * The bit mask (bit n for capability n) of a list of capability names,
 * such as {"CAP_CHOWN", "net_raw"}; unknown names raise an error.
 */
static int l_cap_bits(lua_State *L)
{
	nsl_capset set = nsl_checkcaps(L, 1);
	nsl_checknargs(L, 1);
	lua_pushinteger(L, (lua_Integer)set);
	return 1;
}

/*
 * nsl.caps_limit(list) -> true
 * The capability state a container starts from: the bounding, permitted
 * and effective sets keep only the listed capabilities (a list of names
 * or a mask from nsl.cap_bits), the inheritable and ambient sets are
 * emptied. @see capabilities(7)
 */
static int l_caps_limit(lua_State *L)
{
	nsl_error err;
	nsl_capset keep = lua_type(L, 1) == LUA_TNUMBER
	                  ? (nsl_capset)nsl_checkrange(L, 1, LUA_MININTEGER, LUA_MAXINTEGER, "mask")
	                  : nsl_checkcaps(L, 1);
	nsl_checknargs(L, 1);
	if (nsl_caps_limit(keep, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg nsl_caps_funcs[] = {
	{"get", l_caps_get},
	{"keep", l_caps_keep},
	{"drop", l_caps_drop},
	{NULL, NULL},
};

const luaL_Reg nsl_priv_funcs[] = {
	{"no_new_privs", l_no_new_privs},
	{"cap_bits", l_cap_bits},
	{"caps_limit", l_caps_limit},
	{NULL, NULL},
};
