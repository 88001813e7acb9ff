/*
 * Internal: the Lua-free half of nsl.net (netlink.c), for its Lua
 * wrappers (net.c). Each function opens one rtnetlink socket in the
 * namespace to act in (where: a pid, a path, or the caller's), sends one
 * or two requests and reports a failure into err ("<op>: <reason>").
 */
#ifndef NSL_NETLINK_H
#define NSL_NETLINK_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "nsl.h"

#define NETNS_RUN_DIR "/run/netns" /* named namespaces, as `ip netns` */

struct nl_cache;

/* A network namespace: a pid, or a path; neither means the caller's. */
typedef struct net_target {
	pid_t pid;
	char path[PATH_MAX];
} net_target;

/* An address with a prefix length: "10.1.1.1/24", "fd00::1/64". */
typedef struct net_prefix {
	int family; /* AF_INET or AF_INET6 */
	int len;    /* prefix length */
	unsigned char bytes[16];
} net_prefix;

/* Attributes for net.set; unset fields are left alone. */
typedef struct net_link_attrs {
	int up;                /* -1: unchanged, 0: down, 1: up */
	const char *name;      /* new name */
	unsigned int mtu;      /* 0: unchanged */
	int has_mac;
	unsigned char mac[6];
	const char *master;    /* a bridge's name */
	int nomaster;          /* master = false: detach */
	net_target move;       /* the namespace to move the link to */
	int addrgenmode;       /* -1: unchanged, else IN6_ADDR_GEN_MODE_* */
} net_link_attrs;

/* A route: destination (len 0 for default), gateway and/or device. */
typedef struct net_route_spec {
	net_prefix dst;
	int has_gw;
	net_prefix gw;
	const char *dev;
	long long metric; /* -1: none */
} net_route_spec;

/* What a listing holds while it is turned into Lua tables; a userdata,
 * so that a Lua error on the way still frees it (__gc). */
typedef struct net_hold {
	struct nl_cache *links, *addrs, *routes;
	char **names;
	size_t n;
} net_hold;

/* Whether t names a namespace (else: the caller's). */
int nsl_net_target_given(const net_target *t);

/* ---- addresses as given by users ----------------------------------------- */

/* Parses "ADDR[/LEN]"; returns 0, or -1 with a reason in why. */
int nsl_net_parse_prefix(const char *s, net_prefix *p, const char **why);
/* Whether the bits after the prefix are all zero (a network, not a host). */
int nsl_net_prefix_is_network(const net_prefix *p);
/* "aa:bb:cc:dd:ee:ff" into mac; -1 when malformed. */
int nsl_net_parse_mac(const char *s, unsigned char mac[6]);

/* ---- links, addresses, routes -------------------------------------------- */

/* A veth pair name/peer in where, the peer made directly in peer_where. */
int nsl_net_veth(const net_target *where, const char *name,
                 const char *peer_name, const net_target *peer_where,
                 nsl_error *err);
/* A link of a kind the kernel makes without parameters ("bridge"). */
int nsl_net_link_add(const net_target *where, const char *kind,
                     const char *name, nsl_error *err);
int nsl_net_link_delete(const net_target *where, const char *name,
                        nsl_error *err);
/* Changes a link (see nsl.net.set); opname names the call in messages. */
int nsl_net_link_set(const net_target *where, const char *opname,
                     const char *ifname, const net_link_attrs *a,
                     nsl_error *err);
/* Adds (add = 1) or deletes an address or a route. */
int nsl_net_addr(const net_target *where, int add, const char *ifname,
                 const char *cidr, const net_prefix *p, nsl_error *err);
int nsl_net_route(const net_target *where, int add, const char *dstname,
                  const net_route_spec *s, nsl_error *err);

/* ---- listings, into a net_hold freed by nsl_net_hold_free ---------------- */

/* Links, and addresses or routes (routes = 1), of where. */
int nsl_net_dump(const net_target *where, const char *op, int routes,
                 net_hold *h, nsl_error *err);
/* One link by name, its master and its addresses; ENODEV when none. */
int nsl_net_link_one(const net_target *where, const char *name,
                     net_hold *h, nsl_error *err);
/* The names in /run/netns, sorted, into h->names. */
int nsl_net_netns_list(net_hold *h, nsl_error *err);
void nsl_net_hold_free(net_hold *h);

/* ---- named network namespaces (/run/netns/NAME) --------------------------- */

int nsl_net_netns_add(const char *name, nsl_error *err);
int nsl_net_netns_del(const char *name, nsl_error *err);

#endif
