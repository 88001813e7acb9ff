/*
 * Networking over netlink (libnl-route): the Lua-free half of nsl.net,
 * whose Lua wrappers are in net.c.
 *
 * Acting in another network namespace: a netlink socket belongs for its
 * whole life to the namespace it was created in. So the calling thread
 * joins the target namespace just long enough to call socket(2) and then
 * returns; every request of the call then goes through that socket. When
 * the return cannot be guaranteed (the caller's network namespace belongs
 * to another user namespace than the one the caller is in), a short-lived
 * child process creates the socket and passes it back instead. Either
 * way the caller's own namespaces are the same afterwards.
 *
 * Cost: no call reads a whole table it does not return. Interfaces are
 * found by name with one targeted RTM_GETLINK (or named directly in the
 * request), so the cost of a call does not grow with the number of
 * interfaces in the namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/nsfs.h>

#include <netlink/netlink.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "util.h"
#include "netlink.h"

/* ---- where to act (Lua-free) --------------------------------------------- */

int nsl_net_target_given(const net_target *t)
{
	return t->pid > 0 || t->path[0] != '\0';
}

static const char *target_name(const net_target *t, char *buf, size_t len)
{
	if (t->pid > 0)
		snprintf(buf, len, "/proc/%d/ns/net", (int)t->pid);
	else
		snprintf(buf, len, "%s", t->path);
	return buf;
}

/* Opens the namespace file of t, or returns -2 when t names none. */
static int target_open(const net_target *t, const char *op, nsl_error *err)
{
	char path[PATH_MAX];
	if (!nsl_net_target_given(t))
		return -2;
	target_name(t, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nsl_fail(err, errno, "%s: netns %s", op, path);
	return fd;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- running a step inside another network namespace (Lua-free) ---------- */

/*
 * One step to take inside a network namespace: create a rtnetlink socket
 * there (nsfd >= 0), or make a new namespace and bind it at mount_at.
 */
typedef struct netns_job {
	int nsfd;
	const char *mount_at;
} netns_job;

/* What failed, for the message; sent as an index by the fallback child. */
enum { STEP_OPEN, STEP_SETNS, STEP_UNSHARE, STEP_SOCKET, STEP_MOUNT, STEP_FORK };
static const char *const step_names[] = {
	"open /proc/thread-self/ns/net", "setns", "unshare", "socket",
	"bind mount", "fork",
};

static int rtnl_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	/* Port 0: the kernel picks a free port id in the socket's namespace. */
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int job_enter(const netns_job *job, int *step)
{
	if (job->mount_at) {
		*step = STEP_UNSHARE;
		return unshare(CLONE_NEWNET);
	}
	*step = STEP_SETNS;
	return setns(job->nsfd, CLONE_NEWNET);
}

/* Inside the namespace: a socket (>= 0) or 0 for the mount; -1 on error. */
static int job_inside(const netns_job *job, int *step)
{
	if (job->mount_at) {
		*step = STEP_MOUNT;
		return mount("/proc/thread-self/ns/net", job->mount_at, "none",
		             MS_BIND, NULL);
	}
	*step = STEP_SOCKET;
	return rtnl_socket();
}

/*
 * Whether the calling thread can rejoin its network namespace after
 * leaving it: setns(2) needs CAP_SYS_ADMIN both in the namespace's owning
 * user namespace and in the caller's. Entering the target proved the
 * second; when both are the same user namespace the first holds too.
 */
static int can_return(int self)
{
	struct stat a, b;
	nsl_autoclose int owner = ioctl(self, NS_GET_USERNS);
	if (owner < 0)
		return 0;
	if (fstat(owner, &a) < 0 || stat("/proc/thread-self/ns/user", &b) < 0)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The slow, always safe way: a child process takes the step and sends
 * back the socket (SCM_RIGHTS) with its errno and step. */
static int job_in_child(const netns_job *job, int *step)
{
	int sv[2];
	struct {
		int result, code, step;
	} report = {0, 0, 0};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&report, sizeof report};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	*step = STEP_FORK;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		report.result = job_enter(job, &report.step);
		if (report.result >= 0)
			report.result = job_inside(job, &report.step);
		report.code = report.result < 0 ? errno : 0;
		if (report.result > 0 && !job->mount_at) {
			memset(&ctl, 0, sizeof ctl);
			msg.msg_control = ctl.buf;
			msg.msg_controllen = sizeof ctl.buf;
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &report.result, sizeof(int));
		}
		_exit(NSL_RETRY(sendmsg(sv[1], &msg, 0)) < 0 ? 1 : 0);
	}
	close(sv[1]);
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	ssize_t n = NSL_RETRY(recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC));
	int saved = errno;
	close(sv[0]);
	NSL_RETRY(waitpid(pid, NULL, 0));
	if (n != (ssize_t)sizeof report) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	*step = report.step;
	if (report.result < 0) {
		errno = report.code;
		return -1;
	}
	if (job->mount_at)
		return 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS) {
		errno = EIO;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/*
 * Takes the step of job inside its namespace and brings the calling
 * thread back into its own. Returns job_inside's result, or -1 with errno
 * and *step saying what failed.
 */
static int run_in_netns(const netns_job *job, int *step)
{
	*step = STEP_OPEN;
	nsl_autoclose int self = open("/proc/thread-self/ns/net",
	                              O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -1;
	if (!job->mount_at && same_file(self, job->nsfd))
		return job_inside(job, step);
	if (!can_return(self))
		return job_in_child(job, step);
	if (job_enter(job, step) < 0)
		return -1;
	int result = job_inside(job, step);
	int saved = errno;
	/* can_return() showed this is allowed; only a kernel out of memory
	 * could refuse, and going on in the wrong namespace is no option. */
	for (int tries = 0; setns(self, CLONE_NEWNET) < 0; tries++) {
		if (tries == 100) {
			fprintf(stderr, "nsl.net: cannot return to the caller's network namespace: %s\n",
			        strerror(errno));
			abort();
		}
		usleep(1000);
	}
	errno = saved;
	return result;
}

/* ---- rtnetlink sockets (Lua-free) ---------------------------------------- */

typedef struct rtnl {
	struct nl_sock *sk;
	int syserr; /* errno of the kernel's last error reply, 0 if none */
} rtnl;

static int record_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	*(int *)arg = -e->error;
	return NL_STOP;
}

/* errno for a libnl error code when the kernel's own was not seen. */
static int nlerr_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM: return ENOMEM;
	case NLE_EXIST: return EEXIST;
	case NLE_INVAL: return EINVAL;
	case NLE_RANGE: return ERANGE;
	case NLE_PERM: return EPERM;
	case NLE_BUSY: return EBUSY;
	case NLE_OBJ_NOTFOUND: return ENODEV;
	case NLE_NODEV: return ENODEV;
	case NLE_NOADDR: return EADDRNOTAVAIL;
	case NLE_OPNOTSUPP: return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
	case NLE_AGAIN: return EAGAIN;
	case NLE_INTR: return EINTR;
	case NLE_NOACCESS: return EACCES;
	case NLE_MSGSIZE: return EMSGSIZE;
	case NLE_BAD_SOCK: return EBADF;
	default: return EIO;
	}
}

/* Records a failed libnl call in err, with the kernel's errno if any. */
static int rtnl_fail(rtnl *r, int nlerr, nsl_error *err, const char *op)
{
	return nsl_fail(err, r->syserr ? r->syserr : nlerr_errno(nlerr), "%s", op);
}

static void rtnl_close(rtnl *r)
{
	if (r->sk)
		nl_socket_free(r->sk); /* closes the descriptor too */
	r->sk = NULL;
}

/* Opens a rtnetlink socket in the namespace nsfd (< 0: the caller's). */
static int rtnl_open(rtnl *r, int nsfd, const char *op, nsl_error *err)
{
	int fd, step = STEP_SOCKET;

	r->sk = NULL;
	r->syserr = 0;
	if (nsfd < 0) {
		fd = rtnl_socket();
	} else {
		netns_job job = {.nsfd = nsfd};
		fd = run_in_netns(&job, &step);
	}
	if (fd < 0)
		return nsl_fail(err, errno, "%s: %s", op, step_names[step]);
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (cb) {
		nl_cb_err(cb, NL_CB_CUSTOM, record_error, &r->syserr);
		r->sk = nl_socket_alloc_cb(cb);
		nl_cb_put(cb);
	}
	if (!r->sk) {
		close(fd);
		return nsl_fail(err, ENOMEM, "%s", op);
	}
	int e = nl_socket_set_fd(r->sk, NETLINK_ROUTE, fd);
	if (e < 0) {
		close(fd);
		rtnl_close(r);
		return nsl_fail(err, nlerr_errno(e), "%s: socket", op);
	}
	return 0;
}

/* Opens the socket for a call acting in where (none: the caller's). */
static int rtnl_open_target(rtnl *r, const net_target *where, const char *op,
                            nsl_error *err)
{
	nsl_autoclose int nsfd = target_open(where, op, err);
	if (nsfd == -1)
		return -1;
	return rtnl_open(r, nsfd, op, err);
}

/* The index of interface name, by one targeted RTM_GETLINK. */
static int link_index(rtnl *r, const char *name, const char *op,
                      nsl_error *err)
{
	struct rtnl_link *link = NULL;
	r->syserr = 0;
	int e = rtnl_link_get_kernel(r->sk, 0, name, &link);
	if (e < 0 || !link)
		return nsl_fail(err, e < 0 ? nlerr_errno(e) : ENODEV, "%s", op);
	int index = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return index;
}

/* ---- addresses as given by users (Lua-free) ------------------------------ */

static int prefix_size(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Parses "ADDR[/LEN]"; returns 0, or -1 with a reason in why. */
int nsl_net_parse_prefix(const char *s, net_prefix *p, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);

	*why = "expected an IPv4 or IPv6 address with an optional /prefix, e.g. \"10.1.1.1/24\"";
	if (hlen == 0 || hlen >= sizeof host)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(p, 0, sizeof *p);
	if (inet_pton(AF_INET, host, p->bytes) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, host, p->bytes) == 1)
		p->family = AF_INET6;
	else
		return -1;
	int max = prefix_size(p->family) * 8;
	p->len = max;
	if (slash) {
		const char *d = slash + 1;
		size_t n = strlen(d);
		if (n == 0 || n > 3)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!isdigit((unsigned char)d[i]))
				return -1;
		p->len = atoi(d);
		if (p->len > max) {
			*why = p->family == AF_INET ? "IPv4 prefix length must be 0 to 32"
			                            : "IPv6 prefix length must be 0 to 128";
			return -1;
		}
	}
	return 0;
}

/* Whether the bits after the prefix are all zero (a network, not a host). */
int nsl_net_prefix_is_network(const net_prefix *p)
{
	int size = prefix_size(p->family);
	for (int bit = p->len; bit < size * 8; bit++)
		if (p->bytes[bit / 8] & (0x80 >> (bit % 8)))
			return 0;
	return 1;
}

static struct nl_addr *prefix_addr(const net_prefix *p)
{
	struct nl_addr *a = nl_addr_build(p->family, p->bytes,
	                                  (size_t)prefix_size(p->family));
	if (a)
		nl_addr_set_prefixlen(a, p->len);
	return a;
}

/* "aa:bb:cc:dd:ee:ff" into mac; -1 when malformed. */
int nsl_net_parse_mac(const char *s, unsigned char mac[6])
{
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		const char *h = s + 3 * i;
		if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]) ||
		    (i < 5 && h[2] != ':'))
			return -1;
		char byte[3] = {h[0], h[1], '\0'};
		mac[i] = (unsigned char)strtoul(byte, NULL, 16);
	}
	return 0;
}

/* ---- links (Lua-free) ---------------------------------------------------- */

/* A veth pair name/peer in where; the peer created directly in peer_where
 * when given, in the same request, so the pair exists whole or not at all. */
int nsl_net_veth(const net_target *where, const char *name,
                 const char *peer_name, const net_target *peer_where,
                 nsl_error *err)
{
	char op[64];
	rtnl r;
	int rc = -1, e;

	snprintf(op, sizeof op, "veth %s/%s", name, peer_name);
	nsl_autoclose int peerfd = target_open(peer_where, op, err);
	if (peerfd == -1)
		return -1;
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	struct rtnl_link *link = rtnl_link_veth_alloc();
	if (!link) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	rtnl_link_set_name(link, name);
	struct rtnl_link *peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, peer_name);
	if (peerfd >= 0)
		rtnl_link_set_ns_fd(peer, peerfd);
	rtnl_link_put(peer);
	e = rtnl_link_add(r.sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
	rtnl_link_veth_release(link);
out:
	rtnl_close(&r);
	return rc;
}

/* A new link of a kind the kernel creates without parameters ("bridge"). */
int nsl_net_link_add(const net_target *where, const char *kind,
                     const char *name, nsl_error *err)
{
	char op[64];
	rtnl r;
	int rc = -1, e;

	snprintf(op, sizeof op, "%s %s", kind, name);
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	struct rtnl_link *link = rtnl_link_alloc();
	if (!link || (e = rtnl_link_set_type(link, kind)) < 0) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	rtnl_link_set_name(link, name);
	e = rtnl_link_add(r.sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
out:
	if (link)
		rtnl_link_put(link);
	rtnl_close(&r);
	return rc;
}

int nsl_net_link_delete(const net_target *where, const char *name,
                        nsl_error *err)
{
	char op[64];
	rtnl r;
	int rc = -1;

	snprintf(op, sizeof op, "delete %s", name);
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	struct rtnl_link *link = rtnl_link_alloc();
	if (!link) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	rtnl_link_set_name(link, name); /* deleted by name, no lookup */
	int e = rtnl_link_delete(r.sk, link);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
	rtnl_link_put(link);
out:
	rtnl_close(&r);
	return rc;
}

/* The request's part of a's changes to ifname: orig names the link when
 * it is renamed, changes holds the new attributes (*mac, once built, is
 * the caller's to put). */
static int link_changes(rtnl *r, const char *op, const char *ifname,
                        const net_link_attrs *a, int movefd,
                        struct rtnl_link *orig, struct rtnl_link *changes,
                        struct nl_addr **mac, nsl_error *err)
{
	int e;
	if (a->name && strcmp(a->name, ifname) != 0) {
		int index = link_index(r, ifname, op, err);
		if (index < 0)
			return -1;
		rtnl_link_set_ifindex(orig, index);
		rtnl_link_set_name(orig, ifname);
		rtnl_link_set_name(changes, a->name);
	} else {
		rtnl_link_set_name(changes, ifname); /* the kernel finds it by name */
	}
	if (a->master) {
		char mop[128];
		snprintf(mop, sizeof mop, "%s: master %s", op, a->master);
		int index = link_index(r, a->master, mop, err);
		if (index < 0)
			return -1;
		rtnl_link_set_master(changes, index);
	} else if (a->nomaster) {
		rtnl_link_set_master(changes, 0);
	}
	if (a->up == 1)
		rtnl_link_set_flags(changes, IFF_UP);
	else if (a->up == 0)
		rtnl_link_unset_flags(changes, IFF_UP);
	if (a->mtu)
		rtnl_link_set_mtu(changes, a->mtu);
	if (a->has_mac) {
		*mac = nl_addr_build(AF_LLC, a->mac, 6);
		if (!*mac)
			return nsl_fail(err, ENOMEM, "%s", op);
		rtnl_link_set_addr(changes, *mac);
	}
	if (movefd >= 0)
		rtnl_link_set_ns_fd(changes, movefd);
	if (a->addrgenmode >= 0 &&
	    (e = rtnl_link_inet6_set_addr_gen_mode(changes, (uint8_t)a->addrgenmode)) < 0)
		return nsl_fail(err, ENOMEM, "%s: addrgenmode: %s", op, nl_geterror(e));
	return 0;
}

/*
 * The kernel applies a request's flags before its IFLA_AF_SPEC: a link
 * brought up by the request that sets its addrgenmode may make its
 * link-local address by the old mode first (a veth whose peer is up
 * does, Linux 6.1 and 6.18). So everything else goes first, and the link
 * comes up in a second request, where it is by then.
 */
static int link_set_then_up(const net_target *where, const char *opname,
                            const char *ifname, const net_link_attrs *a,
                            nsl_error *err)
{
	net_link_attrs rest = *a, up;
	rest.up = -1;
	if (nsl_net_link_set(where, opname, ifname, &rest, err) < 0)
		return -1;
	memset(&up, 0, sizeof up);
	up.up = 1;
	up.addrgenmode = -1;
	return nsl_net_link_set(nsl_net_target_given(&a->move) ? &a->move : where,
	                        opname, a->name ? a->name : ifname, &up, err);
}

/*
 * Changes a link in one RTM_NEWLINK request. The link is named in the
 * request itself; only a rename needs its index first, and a master is
 * looked up by name.
 */
int nsl_net_link_set(const net_target *where, const char *opname,
                     const char *ifname, const net_link_attrs *a,
                     nsl_error *err)
{
	char op[64];
	rtnl r;
	int rc = -1, e;
	struct rtnl_link *orig = NULL, *changes = NULL;
	struct nl_addr *mac = NULL;

	if (a->up == 1 && a->addrgenmode >= 0)
		return link_set_then_up(where, opname, ifname, a, err);
	snprintf(op, sizeof op, "%s %s", opname, ifname);
	nsl_autoclose int movefd = target_open(&a->move, op, err);
	if (movefd == -1)
		return -1;
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	orig = rtnl_link_alloc();
	changes = rtnl_link_alloc();
	if (!orig || !changes) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	if (link_changes(&r, op, ifname, a, movefd, orig, changes, &mac, err) < 0)
		goto out;
	r.syserr = 0;
	e = rtnl_link_change(r.sk, orig, changes, 0);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
out:
	if (mac)
		nl_addr_put(mac);
	if (orig)
		rtnl_link_put(orig);
	if (changes)
		rtnl_link_put(changes);
	rtnl_close(&r);
	return rc;
}

/* ---- addresses and routes (Lua-free) ------------------------------------- */

int nsl_net_addr(const net_target *where, int add, const char *ifname,
                 const char *cidr, const net_prefix *p, nsl_error *err)
{
	char op[128];
	rtnl r;
	int rc = -1, e;
	struct rtnl_addr *addr = NULL;
	struct nl_addr *local = NULL;

	snprintf(op, sizeof op, "%s %s %s", add ? "addr_add" : "addr_del",
	         ifname, cidr);
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	int index = link_index(&r, ifname, op, err);
	if (index < 0)
		goto out;
	addr = rtnl_addr_alloc();
	local = prefix_addr(p);
	if (!addr || !local) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	rtnl_addr_set_ifindex(addr, index);
	rtnl_addr_set_family(addr, p->family);
	rtnl_addr_set_local(addr, local);
	r.syserr = 0;
	e = add ? rtnl_addr_add(r.sk, addr, NLM_F_EXCL)
	        : rtnl_addr_delete(r.sk, addr, 0);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
out:
	if (local)
		nl_addr_put(local);
	if (addr)
		rtnl_addr_put(addr);
	rtnl_close(&r);
	return rc;
}

int nsl_net_route(const net_target *where, int add, const char *dstname,
                  const net_route_spec *s, nsl_error *err)
{
	char op[128];
	rtnl r;
	int rc = -1, e, index = 0;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = NULL, *gw = NULL;

	snprintf(op, sizeof op, "%s %s", add ? "route_add" : "route_del",
	         dstname);
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	if (s->dev) {
		char dop[160];
		snprintf(dop, sizeof dop, "%s: dev %s", op, s->dev);
		if ((index = link_index(&r, s->dev, dop, err)) < 0)
			goto out;
	}
	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	dst = prefix_addr(&s->dst);
	gw = s->has_gw ? prefix_addr(&s->gw) : NULL;
	if (!route || !nh || !dst || (s->has_gw && !gw)) {
		nsl_fail(err, ENOMEM, "%s", op);
		goto out;
	}
	rtnl_route_set_family(route, (uint8_t)s->dst.family);
	rtnl_route_set_dst(route, dst);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_type(route, RTN_UNICAST);
	if (add) {
		rtnl_route_set_protocol(route, RTPROT_BOOT); /* as `ip route add` */
		rtnl_route_set_scope(route, s->has_gw ? RT_SCOPE_UNIVERSE
		                                      : RT_SCOPE_LINK);
	} else {
		rtnl_route_set_protocol(route, 0);           /* any */
		rtnl_route_set_scope(route, RT_SCOPE_NOWHERE); /* any */
	}
	if (s->metric >= 0)
		rtnl_route_set_priority(route, (uint32_t)s->metric);
	if (index > 0)
		rtnl_route_nh_set_ifindex(nh, index);
	if (gw)
		rtnl_route_nh_set_gateway(nh, gw);
	if (index > 0 || gw) {
		rtnl_route_add_nexthop(route, nh); /* the route owns it now */
		nh = NULL;
	}
	r.syserr = 0;
	e = add ? rtnl_route_add(r.sk, route, NLM_F_EXCL)
	        : rtnl_route_delete(r.sk, route, 0);
	rc = e < 0 ? rtnl_fail(&r, e, err, op) : 0;
out:
	if (nh)
		rtnl_route_nh_free(nh);
	if (gw)
		nl_addr_put(gw);
	if (dst)
		nl_addr_put(dst);
	if (route)
		rtnl_route_put(route);
	rtnl_close(&r);
	return rc;
}

/* ---- listings (Lua-free) -------------------------------------------------- */

void nsl_net_hold_free(net_hold *h)
{
	if (h->links)
		nl_cache_free(h->links);
	if (h->addrs)
		nl_cache_free(h->addrs);
	if (h->routes)
		nl_cache_free(h->routes);
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	memset(h, 0, sizeof *h);
}

/* Dumps links, and addresses or routes, of where into h. */
int nsl_net_dump(const net_target *where, const char *op, int routes,
                 net_hold *h, nsl_error *err)
{
	rtnl r;
	int e;

	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	e = rtnl_link_alloc_cache(r.sk, AF_UNSPEC, &h->links);
	if (e >= 0)
		e = routes ? rtnl_route_alloc_cache(r.sk, AF_UNSPEC, 0, &h->routes)
		           : rtnl_addr_alloc_cache(r.sk, &h->addrs);
	if (e < 0)
		rtnl_fail(&r, e, err, op);
	rtnl_close(&r);
	return e < 0 ? -1 : 0;
}

/* The addresses of one link, into a new cache: a dump the kernel filters
 * by interface (strict checking, Linux 4.20), so that the cost does not
 * grow with the number of links; without strict checking, the kernel's
 * whole dump, which the caller filters anyway. */
static int addrs_of(rtnl *r, int ifindex, struct nl_cache **out)
{
	int one = 1, e;
	struct nl_cache *cache;
	struct ifaddrmsg ifa;
	if ((e = nl_cache_alloc_name("route/addr", &cache)) < 0)
		return e;
	if (setsockopt(nl_socket_get_fd(r->sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK,
	               &one, sizeof one) < 0) {
		nl_cache_free(cache);
		return rtnl_addr_alloc_cache(r->sk, out);
	}
	memset(&ifa, 0, sizeof ifa);
	ifa.ifa_family = AF_UNSPEC;
	ifa.ifa_index = (unsigned)ifindex;
	e = nl_send_simple(r->sk, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof ifa);
	if (e >= 0)
		e = nl_cache_pickup(r->sk, cache);
	one = 0;
	setsockopt(nl_socket_get_fd(r->sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
	if (e < 0) {
		nl_cache_free(cache);
		return e;
	}
	*out = cache;
	return 0;
}

/* One link of where, by name, into h (a links cache holding it and its
 * master, and the addresses): targeted RTM_GETLINK requests, so the cost
 * does not grow with the number of links. ENODEV when there is none. */
int nsl_net_link_one(const net_target *where, const char *name,
                     net_hold *h, nsl_error *err)
{
	rtnl r;
	struct rtnl_link *link = NULL, *master = NULL;
	char op[IFNAMSIZ + 8];

	snprintf(op, sizeof op, "link %s", name);
	if (rtnl_open_target(&r, where, op, err) < 0)
		return -1;
	int e = rtnl_link_get_kernel(r.sk, 0, name, &link);
	if (e >= 0 && rtnl_link_get_master(link) > 0)
		e = rtnl_link_get_kernel(r.sk, rtnl_link_get_master(link), NULL, &master);
	if (e >= 0)
		e = nl_cache_alloc_name("route/link", &h->links);
	if (e >= 0)
		e = nl_cache_add(h->links, (struct nl_object *)link);
	if (e >= 0 && master)
		e = nl_cache_add(h->links, (struct nl_object *)master);
	if (e >= 0)
		e = addrs_of(&r, rtnl_link_get_ifindex(link), &h->addrs);
	if (e < 0)
		rtnl_fail(&r, e, err, op);
	if (link)
		rtnl_link_put(link);
	if (master)
		rtnl_link_put(master);
	rtnl_close(&r);
	return e < 0 ? -1 : 0;
}

/* ---- named network namespaces (Lua-free) --------------------------------- */

/*
 * Makes /run/netns a shared mount, as `ip netns add` does, so that a
 * namespace file unmounted here is unmounted in every mount namespace
 * that copied it, and the namespace can go away.
 */
static int netns_run_dir(nsl_error *err)
{
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return nsl_fail(err, errno, "netns_add: mkdir %s", NETNS_RUN_DIR);
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return nsl_fail(err, errno, "netns_add: mount --make-shared %s",
		                NETNS_RUN_DIR);
	/* Not a mount point yet: make it one, once, even with others at it. */
	nsl_autoclose int lock = open(NETNS_RUN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0)
		return nsl_fail(err, errno, "netns_add: open %s", NETNS_RUN_DIR);
	NSL_RETRY(flock(lock, LOCK_EX));
	int rc = 0;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED, NULL) < 0) {
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
		    mount("", NETNS_RUN_DIR, "none", MS_PRIVATE | MS_REC, NULL) < 0 ||
		    mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
			rc = nsl_fail(err, errno, "netns_add: mount --bind %s",
			              NETNS_RUN_DIR);
	}
	flock(lock, LOCK_UN);
	return rc;
}

int nsl_net_netns_add(const char *name, nsl_error *err)
{
	char path[PATH_MAX];
	int step;

	snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, name);
	if (netns_run_dir(err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return nsl_fail(err, errno, "netns_add %s", name);
	close(fd);
	netns_job job = {.nsfd = -1, .mount_at = path};
	if (run_in_netns(&job, &step) < 0) {
		int saved = errno;
		umount2(path, MNT_DETACH);
		unlink(path);
		return nsl_fail(err, saved, "netns_add %s: %s", name,
		                step_names[step]);
	}
	return 0;
}

int nsl_net_netns_del(const char *name, nsl_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return nsl_fail(err, errno, "netns_del %s", name);
	if (unlink(path) < 0)
		return nsl_fail(err, errno, "netns_del %s", name);
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in /run/netns, sorted, into h->names. */
int nsl_net_netns_list(net_hold *h, nsl_error *err)
{
	DIR *dir = opendir(NETNS_RUN_DIR);
	size_t cap = 0;
	struct dirent *d;

	if (!dir)
		return errno == ENOENT ? 0 : nsl_fail(err, errno, "netns_list");
	while ((errno = 0, d = readdir(dir))) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (h->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **names = realloc(h->names, ncap * sizeof *names);
			if (!names)
				break;
			h->names = names;
			cap = ncap;
		}
		if (!(h->names[h->n] = strdup(d->d_name)))
			break;
		h->n++;
	}
	int saved = errno;
	closedir(dir);
	if (saved)
		return nsl_fail(err, saved, "netns_list");
	if (h->n)
		qsort(h->names, h->n, sizeof *h->names, compare_names);
	return 0;
}

