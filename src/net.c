/*
 * Networking over netlink (libnl-route), nsl.net.
 *
 * The thin Lua wrappers: they check every argument, call the Lua-free
 * functions of netlink.c (netlink.h), which do the work in the namespace
 * to act in, and push the result.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/route.h>

#include "lnsl.h"
#include "util.h"
#include "netlink.h"

/* ---- argument checking ----------------------------------------------------- */

/* Interface names as the kernel takes them (dev_valid_name). */
static const char *check_ifname(lua_State *L, int arg)
{
	size_t len;
	const char *s = nsl_checkname(L, arg, 0, &len);
	if (len == 0)
		luaL_argerror(L, arg, "interface name is empty");
	if (len >= IFNAMSIZ)
		luaL_argerror(L, arg,
		              lua_pushfstring(L, "interface name '%s' is longer than %d bytes",
		                              s, IFNAMSIZ - 1));
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		luaL_argerror(L, arg, lua_pushfstring(L, "invalid interface name '%s'", s));
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
			luaL_argerror(L, arg,
			              lua_pushfstring(L, "interface name '%s' must not contain '/', ':' or blanks",
			                              s));
	return s;
}

/* The same rules for a field (attrs.name, attrs.master, spec.dev). */
static const char *check_ifname_field(lua_State *L, int t, const char *field,
                                      const char *owner)
{
	lua_getfield(L, t, field);
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "%s: field '%s' must be an interface name (got %s)",
		           owner, field, luaL_typename(L, -1));
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);
	int bad = strlen(s) != len || len == 0 || len >= IFNAMSIZ ||
	          strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
	          strpbrk(s, "/: \t\n\r\v\f") != NULL;
	if (bad)
		luaL_error(L, "%s: field '%s': invalid interface name '%s' (1 to %d bytes, no '/', ':' or blanks)",
		           owner, field, s, IFNAMSIZ - 1);
	lua_pop(L, 1); /* the table still holds the string */
	return s;
}

/* Names of named network namespaces, as iproute2 accepts them. */
static const char *check_netns_name(lua_State *L, int arg)
{
	size_t len;
	const char *s = nsl_checkname(L, arg, NAME_MAX, &len);
	if (len == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		luaL_argerror(L, arg, lua_pushfstring(L, "invalid netns name '%s'", s));
	if (strchr(s, '/'))
		luaL_argerror(L, arg,
		              lua_pushfstring(L, "netns name '%s' must not contain '/'", s));
	return s;
}

/* A field naming a namespace: pid, path or netns name; nil leaves t empty. */
static void check_target_field(lua_State *L, int tbl, const char *field,
                               const char *owner, net_target *t)
{
	t->pid = 0;
	t->path[0] = '\0';
	int type = lua_getfield(L, tbl, field);
	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (type == LUA_TNUMBER) {
		int isnum;
		lua_Integer pid = lua_tointegerx(L, -1, &isnum);
		if (!isnum || pid < 1 || pid > INT_MAX)
			luaL_error(L, "%s: field '%s' must be a positive integer pid, a path or a netns name",
			           owner, field);
		t->pid = (pid_t)pid;
	} else if (type == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		if (strlen(s) != len)
			luaL_error(L, "%s: field '%s' contains a NUL byte", owner, field);
		if (len == 0 || len >= sizeof t->path - sizeof NETNS_RUN_DIR - 1)
			luaL_error(L, "%s: field '%s': invalid namespace '%s'", owner,
			           field, s);
		if (s[0] == '/' || s[0] == '.') {
			snprintf(t->path, sizeof t->path, "%s", s);
		} else {
			if (strchr(s, '/') || len > NAME_MAX)
				luaL_error(L, "%s: field '%s': invalid netns name '%s' (a name must not contain '/'; a path starts with '/' or '.')",
				           owner, field, s);
			snprintf(t->path, sizeof t->path, "%s/%s", NETNS_RUN_DIR, s);
		}
	} else {
		luaL_error(L, "%s: field '%s' must be a pid, a path or a netns name (got %s)",
		           owner, field, luaL_typename(L, -1));
	}
	lua_pop(L, 1);
}

static const char *const netns_only[] = {"netns", NULL};

/* The last optional argument of every call: {netns = ...} and fields. */
static int check_opts(lua_State *L, int arg, const char *const fields[],
                      const char *fname, net_target *where)
{
	char owner[48];
	where->pid = 0;
	where->path[0] = '\0';
	if (!nsl_opttable(L, arg))
		return 0;
	snprintf(owner, sizeof owner, "%s options", fname);
	nsl_checkfields(L, arg, fields, owner);
	check_target_field(L, arg, "netns", owner, where);
	return 1;
}

static void check_prefix(lua_State *L, int arg, net_prefix *p)
{
	const char *why;
	const char *s = nsl_checkname(L, arg, 0, NULL);
	if (nsl_net_parse_prefix(s, p, &why) < 0)
		luaL_argerror(L, arg, lua_pushfstring(L, "malformed address '%s' (%s)", s, why));
}

static int push_ok(lua_State *L, int rc, const nsl_error *err)
{
	if (rc < 0)
		return nsl_pushfail(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- Lua: links ---------------------------------------------------------- */

static const char *const veth_fields[] = {"netns", "peer_netns", NULL};

/*
 * nsl.net.veth(name, peer [, {netns=, peer_netns=}]) -> true
 * Creates a veth pair name/peer in opts.netns (default: the caller's);
 * with peer_netns, the peer end is created directly in that namespace,
 * in the same request: the pair exists whole or not at all.
 */
static int l_veth(lua_State *L)
{
	net_target where, peer_where;
	nsl_error err;

	const char *name = check_ifname(L, 1);
	const char *peer = check_ifname(L, 2);
	nsl_checknargs(L, 3);
	peer_where.pid = 0;
	peer_where.path[0] = '\0';
	if (check_opts(L, 3, veth_fields, "veth", &where))
		check_target_field(L, 3, "peer_netns", "veth options", &peer_where);
	if (strcmp(name, peer) == 0 && !nsl_net_target_given(&peer_where))
		luaL_argerror(L, 2, "the peer needs a name of its own");
	return push_ok(L, nsl_net_veth(&where, name, peer, &peer_where, &err), &err);
}

/*
 * nsl.net.bridge(name [, {netns=}]) -> true
 * Creates a bridge (down, like any new link).
 */
static int l_bridge(lua_State *L)
{
	net_target where;
	nsl_error err;

	const char *name = check_ifname(L, 1);
	nsl_checknargs(L, 2);
	check_opts(L, 2, netns_only, "bridge", &where);
	return push_ok(L, nsl_net_link_add(&where, "bridge", name, &err), &err);
}

/*
 * nsl.net.delete(ifname [, {netns=}]) -> true
 * Deletes a link; for a veth pair, both ends go.
 */
static int l_delete(lua_State *L)
{
	net_target where;
	nsl_error err;

	const char *name = check_ifname(L, 1);
	nsl_checknargs(L, 2);
	check_opts(L, 2, netns_only, "delete", &where);
	return push_ok(L, nsl_net_link_delete(&where, name, &err), &err);
}

static const char *const set_fields[] = {"up", "name", "mtu", "mac",
                                         "master", "netns", "addrgenmode", NULL};
/* IPv6 link-local address generation, as ip(8) names the modes; in the
 * order of the kernel's IN6_ADDR_GEN_MODE_* values. */
static const char *const addrgen_modes[] = {"eui64", "none", "stable_secret",
                                            "random", NULL};

/*
 * nsl.net.set(ifname, attrs [, {netns=}]) -> true
 * Changes a link in one request (two with up and addrgenmode: the link
 * comes up once the mode is set). attrs: up (boolean), name, mtu, mac
 * ("aa:bb:cc:dd:ee:ff"), master (a bridge's name, or false to detach),
 * netns (moves the link there: pid, path or netns name; the link arrives
 * down unless up = true is given too), addrgenmode (how IPv6 makes the
 * link-local address when the link comes up: "eui64", "stable_secret",
 * "random", or "none": no address, so no neighbour discovery or MLD
 * traffic from it; IPv6 stays usable with addresses added by hand).
 */
static int l_set(lua_State *L)
{
	static const char owner[] = "set attributes";
	net_target where;
	net_link_attrs a;
	nsl_error err;

	const char *ifname = check_ifname(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	nsl_checknargs(L, 3);
	check_opts(L, 3, netns_only, "set", &where);
	memset(&a, 0, sizeof a);
	a.up = -1;
	a.addrgenmode = -1;
	nsl_checkfields(L, 2, set_fields, owner);
	if (lua_getfield(L, 2, "addrgenmode") != LUA_TNIL) {
		const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
		for (int i = 0; addrgen_modes[i] && a.addrgenmode < 0; i++)
			if (strcmp(m, addrgen_modes[i]) == 0)
				a.addrgenmode = i;
		if (a.addrgenmode < 0)
			luaL_error(L, "%s: field 'addrgenmode' must be \"eui64\", \"none\", \"stable_secret\" or \"random\"",
			           owner);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "up") != LUA_TNIL) {
		if (!lua_isboolean(L, -1))
			luaL_error(L, "%s: field 'up' must be a boolean (got %s)", owner,
			           luaL_typename(L, -1));
		a.up = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "name") != LUA_TNIL)
		a.name = check_ifname_field(L, 2, "name", owner);
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "mtu") != LUA_TNIL) {
		int isnum;
		lua_Integer mtu = lua_tointegerx(L, -1, &isnum);
		if (!isnum || mtu < 1 || mtu > INT_MAX)
			luaL_error(L, "%s: field 'mtu' must be a positive integer", owner);
		a.mtu = (unsigned int)mtu;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "mac") != LUA_TNIL) {
		const char *mac = lua_tostring(L, -1);
		if (lua_type(L, -1) != LUA_TSTRING || nsl_net_parse_mac(mac, a.mac) < 0)
			luaL_error(L, "%s: field 'mac' must be a MAC address such as \"02:00:00:00:00:01\"",
			           owner);
		a.has_mac = 1;
	}
	lua_pop(L, 1);
	int type = lua_getfield(L, 2, "master");
	if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1))
		a.nomaster = 1;
	else if (type != LUA_TNIL)
		a.master = check_ifname_field(L, 2, "master", owner);
	lua_pop(L, 1);
	check_target_field(L, 2, "netns", owner, &a.move);
	return push_ok(L, nsl_net_link_set(&where, "set", ifname, &a, &err), &err);
}

static int l_updown(lua_State *L, int up)
{
	const char *fname = up ? "up" : "down";
	net_target where;
	net_link_attrs a;
	nsl_error err;

	const char *ifname = check_ifname(L, 1);
	nsl_checknargs(L, 2);
	check_opts(L, 2, netns_only, fname, &where);
	memset(&a, 0, sizeof a);
	a.up = up;
	a.addrgenmode = -1;
	return push_ok(L, nsl_net_link_set(&where, fname, ifname, &a, &err), &err);
}

/*
 * nsl.net.up(ifname [, {netns=}]) -> true
 * Short for net.set(ifname, {up = true}).
 */
static int l_up(lua_State *L)
{
	return l_updown(L, 1);
}

/*
 * nsl.net.down(ifname [, {netns=}]) -> true
 * Short for net.set(ifname, {up = false}).
 */
static int l_down(lua_State *L)
{
	return l_updown(L, 0);
}

/* ---- Lua: addresses and routes ------------------------------------------- */

static int l_addr(lua_State *L, int add)
{
	net_target where;
	net_prefix p;
	nsl_error err;

	const char *ifname = check_ifname(L, 1);
	check_prefix(L, 2, &p);
	nsl_checknargs(L, 3);
	check_opts(L, 3, netns_only, add ? "addr_add" : "addr_del", &where);
	return push_ok(L, nsl_net_addr(&where, add, ifname, lua_tostring(L, 2), &p,
	                               &err), &err);
}

/*
 * nsl.net.addr_add(ifname, cidr [, {netns=}]) -> true
 * Adds an IPv4 or IPv6 address ("10.1.1.1/24", "fd00::1/64"; without a
 * prefix, a host address). Adding one that exists fails (File exists).
 */
static int l_addr_add(lua_State *L)
{
	return l_addr(L, 1);
}

/*
 * nsl.net.addr_del(ifname, cidr [, {netns=}]) -> true
 * Removes an address.
 */
static int l_addr_del(lua_State *L)
{
	return l_addr(L, 0);
}

static const char *const route_fields[] = {"gw", "dev", "metric", NULL};

static int l_route(lua_State *L, int add)
{
	const char *fname = add ? "route_add" : "route_del";
	char owner[32];
	net_target where;
	net_route_spec s;
	nsl_error err;
	const char *why;

	memset(&s, 0, sizeof s);
	s.metric = -1;
	snprintf(owner, sizeof owner, "%s spec", fname);
	const char *dst = nsl_checkname(L, 1, 0, NULL);
	int is_default = strcmp(dst, "default") == 0;
	if (!is_default) {
		check_prefix(L, 1, &s.dst);
		if (!nsl_net_prefix_is_network(&s.dst))
			luaL_argerror(L, 1,
			              lua_pushfstring(L, "'%s' has bits set after the prefix length (a route goes to a network such as 10.1.1.0/24)",
			                              dst));
	}
	int has_spec = nsl_opttable(L, 2);
	if (add && !has_spec)
		luaL_argerror(L, 2, "table {gw=, dev=} expected");
	nsl_checknargs(L, 3);
	check_opts(L, 3, netns_only, fname, &where);
	if (has_spec) {
		nsl_checkfields(L, 2, route_fields, owner);
		if (lua_getfield(L, 2, "gw") != LUA_TNIL) {
			const char *gw = lua_tostring(L, -1);
			if (lua_type(L, -1) != LUA_TSTRING ||
			    nsl_net_parse_prefix(gw, &s.gw, &why) < 0 || strchr(gw, '/'))
				luaL_error(L, "%s: field 'gw' must be an IPv4 or IPv6 address without a prefix",
				           owner);
			s.has_gw = 1;
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "dev") != LUA_TNIL)
			s.dev = check_ifname_field(L, 2, "dev", owner);
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "metric") != LUA_TNIL) {
			int isnum;
			s.metric = lua_tointegerx(L, -1, &isnum);
			if (!isnum || s.metric < 0 || s.metric > UINT32_MAX)
				luaL_error(L, "%s: field 'metric' must be an integer from 0 to 4294967295",
				           owner);
		}
		lua_pop(L, 1);
	}
	if (add && !s.has_gw && !s.dev)
		luaL_error(L, "%s: a route needs 'gw', 'dev' or both", owner);
	if (is_default) {
		s.dst.family = s.has_gw ? s.gw.family : AF_INET;
		s.dst.len = 0;
	} else if (s.has_gw && s.gw.family != s.dst.family) {
		luaL_error(L, "%s: gateway and destination are of different families (IPv4 and IPv6)",
		           owner);
	}
	return push_ok(L, nsl_net_route(&where, add, dst, &s, &err), &err);
}

/*
 * nsl.net.route_add(dst, {gw=, dev=, metric=} [, {netns=}]) -> true
 * Adds a route to the main table: dst a network ("10.2.0.0/16",
 * "fd00:1::/64") or "default"; through a gateway, a device or both.
 */
static int l_route_add(lua_State *L)
{
	return l_route(L, 1);
}

/*
 * nsl.net.route_del(dst [, {gw=, dev=, metric=}] [, {netns=}]) -> true
 * Removes a route of the main table; the spec narrows which one.
 */
static int l_route_del(lua_State *L)
{
	return l_route(L, 0);
}

/* ---- Lua: listings -------------------------------------------------------- */

static int hold_gc(lua_State *L)
{
	nsl_net_hold_free(luaL_checkudata(L, 1, "nsl.net.hold"));
	return 0;
}

static net_hold *new_hold(lua_State *L)
{
	net_hold *h = lua_newuserdatauv(L, sizeof *h, 0);
	memset(h, 0, sizeof *h);
	if (luaL_newmetatable(L, "nsl.net.hold")) {
		lua_pushcfunction(L, hold_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return h;
}

/* "10.1.1.1/24" from an address object. */
static const char *addr_text(struct nl_addr *a, char *buf, size_t len,
                             int with_prefix)
{
	char ip[INET6_ADDRSTRLEN];
	int family = nl_addr_get_family(a);
	if ((family != AF_INET && family != AF_INET6) ||
	    !inet_ntop(family, nl_addr_get_binary_addr(a), ip, sizeof ip))
		return nl_addr2str(a, buf, len);
	if (with_prefix)
		snprintf(buf, len, "%s/%u", ip, nl_addr_get_prefixlen(a));
	else
		snprintf(buf, len, "%s", ip);
	return buf;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	if (!value)
		return;
	lua_pushstring(L, value);
	lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

static const char *link_name(net_hold *h, int index, char *buf, size_t len)
{
	if (index <= 0)
		return NULL;
	return rtnl_link_i2name(h->links, index, buf, (size_t)len);
}

static void push_link(lua_State *L, net_hold *h, struct rtnl_link *link)
{
	char buf[128];
	int index = rtnl_link_get_ifindex(link);

	lua_createtable(L, 0, 9);
	set_string(L, "name", rtnl_link_get_name(link));
	set_integer(L, "index", index);
	set_string(L, "kind", rtnl_link_get_type(link));
	lua_pushboolean(L, (rtnl_link_get_flags(link) & IFF_UP) != 0);
	lua_setfield(L, -2, "up");
	set_string(L, "state", rtnl_link_operstate2str(rtnl_link_get_operstate(link),
	                                               buf, sizeof buf));
	set_integer(L, "mtu", rtnl_link_get_mtu(link));
	struct nl_addr *mac = rtnl_link_get_addr(link);
	if (mac && nl_addr_get_len(mac) > 0)
		set_string(L, "mac", nl_addr2str(mac, buf, sizeof buf));
	set_string(L, "master", link_name(h, rtnl_link_get_master(link), buf,
	                                  sizeof buf));
	lua_newtable(L);
	lua_Integer n = 0;
	for (struct nl_object *o = nl_cache_get_first(h->addrs); o;
	     o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != index || !rtnl_addr_get_local(a))
			continue;
		char text[INET6_ADDRSTRLEN + 8];
		struct nl_addr *local = rtnl_addr_get_local(a);
		nl_addr_set_prefixlen(local, rtnl_addr_get_prefixlen(a));
		lua_pushstring(L, addr_text(local, text, sizeof text, 1));
		lua_rawseti(L, -2, ++n);
	}
	lua_setfield(L, -2, "addrs");
}

/*
 * nsl.net.links([{netns=}]) -> {{name=, index=, kind=, up=, mtu=, mac=, master=, addrs=}, ...}
 * Every link of the namespace, by index. kind is nil for loopback and
 * physical devices ("veth", "bridge", ... otherwise); up is the
 * administrative state, state the operational one ("up", "down", ...);
 * addrs lists the link's addresses, {"10.1.1.1/24", "fe80::1/64"}.
 */
static int l_links(lua_State *L)
{
	net_target where;
	nsl_error err;

	nsl_checknargs(L, 1);
	check_opts(L, 1, netns_only, "links", &where);
	net_hold *h = new_hold(L);
	if (nsl_net_dump(&where, "links", 0, h, &err) < 0) {
		nsl_net_hold_free(h);
		return nsl_pushfail(L, &err);
	}
	lua_newtable(L);
	lua_Integer n = 0;
	for (struct nl_object *o = nl_cache_get_first(h->links); o;
	     o = nl_cache_get_next(o)) {
		push_link(L, h, (struct rtnl_link *)o);
		lua_rawseti(L, -2, ++n);
	}
	nsl_net_hold_free(h);
	return 1;
}

/*
 * nsl.net.link(ifname [, {netns=}]) -> {name=, index=, kind=, up=, mtu=, mac=, master=, addrs=}
 * One link, as nsl.net.links() describes each, found by name with a
 * targeted request: its cost does not grow with the number of links.
 * nil, message, ENODEV when there is no such link.
 */
static int l_link(lua_State *L)
{
	net_target where;
	nsl_error err;

	const char *name = check_ifname(L, 1);
	nsl_checknargs(L, 2);
	check_opts(L, 2, netns_only, "link", &where);
	net_hold *h = new_hold(L);
	if (nsl_net_link_one(&where, name, h, &err) < 0) {
		nsl_net_hold_free(h);
		return nsl_pushfail(L, &err);
	}
	struct nl_object *o = nl_cache_get_first(h->links);
	push_link(L, h, (struct rtnl_link *)o);
	nsl_net_hold_free(h);
	return 1;
}

static const char *const routes_fields[] = {"netns", "family", NULL};

/*
 * nsl.net.routes([{netns=, family="inet"|"inet6"}]) -> {{dst=, gw=, dev=, family=, metric=}, ...}
 * The unicast routes of the main table, the one `ip route` shows; dst is
 * "default" or a network "10.1.1.0/24". Both families unless one is given.
 */
static int l_routes(lua_State *L)
{
	net_target where;
	nsl_error err;
	int family = AF_UNSPEC;

	nsl_checknargs(L, 1);
	if (check_opts(L, 1, routes_fields, "routes", &where)) {
		if (lua_getfield(L, 1, "family") != LUA_TNIL) {
			const char *f = lua_tostring(L, -1);
			if (lua_type(L, -1) == LUA_TSTRING && strcmp(f, "inet") == 0)
				family = AF_INET;
			else if (lua_type(L, -1) == LUA_TSTRING && strcmp(f, "inet6") == 0)
				family = AF_INET6;
			else
				luaL_error(L, "routes options: field 'family' must be \"inet\" or \"inet6\"");
		}
		lua_pop(L, 1);
	}
	net_hold *h = new_hold(L);
	if (nsl_net_dump(&where, "routes", 1, h, &err) < 0) {
		nsl_net_hold_free(h);
		return nsl_pushfail(L, &err);
	}
	lua_newtable(L);
	lua_Integer n = 0;
	for (struct nl_object *o = nl_cache_get_first(h->routes); o;
	     o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		int f = rtnl_route_get_family(r);
		char buf[INET6_ADDRSTRLEN + 8];
		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(r) != RTN_UNICAST ||
		    (f != AF_INET && f != AF_INET6) ||
		    (family != AF_UNSPEC && f != family))
			continue;
		lua_createtable(L, 0, 5);
		struct nl_addr *dst = rtnl_route_get_dst(r);
		if (!dst || nl_addr_get_prefixlen(dst) == 0)
			set_string(L, "dst", "default");
		else
			set_string(L, "dst", addr_text(dst, buf, sizeof buf, 1));
		set_string(L, "family", f == AF_INET ? "inet" : "inet6");
		if (rtnl_route_get_nnexthops(r) > 0) {
			struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
			struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
			if (gw)
				set_string(L, "gw", addr_text(gw, buf, sizeof buf, 0));
			set_string(L, "dev", link_name(h, rtnl_route_nh_get_ifindex(nh),
			                               buf, sizeof buf));
		}
		set_integer(L, "metric", rtnl_route_get_priority(r));
		lua_rawseti(L, -2, ++n);
	}
	nsl_net_hold_free(h);
	return 1;
}

/* ---- Lua: named namespaces -------------------------------------------------- */

/*
 * nsl.net.netns_add(name) -> true
 * Creates a named network namespace, /run/netns/NAME, as `ip netns add`
 * does (and usable by it). The caller stays in its own namespace.
 */
static int l_netns_add(lua_State *L)
{
	nsl_error err;
	const char *name = check_netns_name(L, 1);
	nsl_checknargs(L, 1);
	return push_ok(L, nsl_net_netns_add(name, &err), &err);
}

/*
 * nsl.net.netns_del(name) -> true
 * Removes a named network namespace, as `ip netns delete` does; the
 * namespace itself lives on while processes or links still use it.
 */
static int l_netns_del(lua_State *L)
{
	nsl_error err;
	const char *name = check_netns_name(L, 1);
	nsl_checknargs(L, 1);
	return push_ok(L, nsl_net_netns_del(name, &err), &err);
}

/*
 * nsl.net.netns_list() -> {"blue", "red", ...}
 * The named network namespaces, sorted.
 */
static int l_netns_list(lua_State *L)
{
	nsl_error err;
	nsl_checknargs(L, 0);
	net_hold *h = new_hold(L);
	if (nsl_net_netns_list(h, &err) < 0) {
		nsl_net_hold_free(h);
		return nsl_pushfail(L, &err);
	}
	lua_createtable(L, (int)h->n, 0);
	for (size_t i = 0; i < h->n; i++) {
		lua_pushstring(L, h->names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	nsl_net_hold_free(h);
	return 1;
}

static const luaL_Reg net_funcs[] = {
	{"veth", l_veth},
	{"bridge", l_bridge},
	{"delete", l_delete},
	{"set", l_set},
	{"up", l_up},
	{"down", l_down},
	{"addr_add", l_addr_add},
	{"addr_del", l_addr_del},
	{"route_add", l_route_add},
	{"route_del", l_route_del},
	{"link", l_link},
	{"links", l_links},
	{"routes", l_routes},
	{"netns_add", l_netns_add},
	{"netns_del", l_netns_del},
	{"netns_list", l_netns_list},
	{NULL, NULL},
};

int nsl_open_net(lua_State *L)
{
	luaL_newlib(L, net_funcs);
	return 1;
}
