/*
 * Networking over netlink (libnl-route), nsl.net.
 *
 * Two layers, as in every area:
 *   - Lua-free functions (net_*) that open one rtnetlink socket in the
 *     namespace to act in, send one or two requests and report failures
 *     into an nsl_error;
 *   - thin Lua wrappers (l_*) that check every argument, call them and
 *     push the result.
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

#include "lnsl.h"
#include "util.h"

#define NETNS_RUN_DIR "/run/netns"

/* ---- where to act (Lua-free) --------------------------------------------- */

/* A network namespace: a pid, or a path; neither means the caller's. */
typedef struct net_target {
	pid_t pid;
	char path[PATH_MAX];
} net_target;

static int target_given(const net_target *t)
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
	if (!target_given(t))
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

/* An address with a prefix length: "10.1.1.1/24", "fd00::1/64". */
typedef struct net_prefix {
	int family; /* AF_INET or AF_INET6 */
	int len;    /* prefix length */
	unsigned char bytes[16];
} net_prefix;

static int prefix_size(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Parses "ADDR[/LEN]"; returns 0, or -1 with a reason in why. */
static int parse_prefix(const char *s, net_prefix *p, const char **why)
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
static int prefix_is_network(const net_prefix *p)
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
static int parse_mac(const char *s, unsigned char mac[6])
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
static int net_veth(const net_target *where, const char *name,
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
static int net_link_add(const net_target *where, const char *kind,
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

static int net_link_delete(const net_target *where, const char *name,
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

/* Attributes for net.set; unset fields are left alone. */
typedef struct link_attrs {
	int up;                /* -1: unchanged, 0: down, 1: up */
	const char *name;      /* new name */
	unsigned int mtu;      /* 0: unchanged */
	int has_mac;
	unsigned char mac[6];
	const char *master;    /* a bridge's name */
	int nomaster;          /* master = false: detach */
	net_target move;       /* the namespace to move the link to */
	int addrgenmode;       /* -1: unchanged, else IN6_ADDR_GEN_MODE_* */
} link_attrs;

/*
 * Changes a link in one RTM_NEWLINK request. The link is named in the
 * request itself; only a rename needs its index first, and a master is
 * looked up by name.
 */
static int net_link_set(const net_target *where, const char *opname,
                        const char *ifname, const link_attrs *a,
                        nsl_error *err)
{
	char op[64];
	rtnl r;
	int rc = -1, e;
	struct rtnl_link *orig = NULL, *changes = NULL;
	struct nl_addr *mac = NULL;

	/* The kernel applies a request's flags before its IFLA_AF_SPEC: a
	 * link brought up by the request that sets its addrgenmode may make
	 * its link-local address by the old mode first (a veth whose peer is
	 * up does, Linux 6.1 and 6.18). So everything else goes first, and
	 * the link comes up in a second request, where it is by then. */
	if (a->up == 1 && a->addrgenmode >= 0) {
		link_attrs rest = *a, up;
		rest.up = -1;
		if (net_link_set(where, opname, ifname, &rest, err) < 0)
			return -1;
		memset(&up, 0, sizeof up);
		up.up = 1;
		up.addrgenmode = -1;
		return net_link_set(target_given(&a->move) ? &a->move : where, opname,
		                    a->name ? a->name : ifname, &up, err);
	}

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
	if (a->name && strcmp(a->name, ifname) != 0) {
		int index = link_index(&r, ifname, op, err);
		if (index < 0)
			goto out;
		rtnl_link_set_ifindex(orig, index);
		rtnl_link_set_name(orig, ifname);
		rtnl_link_set_name(changes, a->name);
	} else {
		rtnl_link_set_name(changes, ifname); /* the kernel finds it by name */
	}
	if (a->master) {
		char mop[128];
		snprintf(mop, sizeof mop, "%s: master %s", op, a->master);
		int index = link_index(&r, a->master, mop, err);
		if (index < 0)
			goto out;
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
		mac = nl_addr_build(AF_LLC, a->mac, 6);
		if (!mac) {
			nsl_fail(err, ENOMEM, "%s", op);
			goto out;
		}
		rtnl_link_set_addr(changes, mac);
	}
	if (movefd >= 0)
		rtnl_link_set_ns_fd(changes, movefd);
	if (a->addrgenmode >= 0 &&
	    (e = rtnl_link_inet6_set_addr_gen_mode(changes, (uint8_t)a->addrgenmode)) < 0) {
		nsl_fail(err, ENOMEM, "%s: addrgenmode: %s", op, nl_geterror(e));
		goto out;
	}
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

static int net_addr(const net_target *where, int add, const char *ifname,
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

/* A route: destination (len 0 for default), gateway and/or device. */
typedef struct route_spec {
	net_prefix dst;
	int has_gw;
	net_prefix gw;
	const char *dev;
	long long metric; /* -1: none */
} route_spec;

static int net_route(const net_target *where, int add, const char *dstname,
                     const route_spec *s, nsl_error *err)
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

/* What a listing holds while it is turned into Lua tables; a userdata,
 * so that a Lua error on the way still frees it (__gc). */
typedef struct net_hold {
	struct nl_cache *links, *addrs, *routes;
	char **names;
	size_t n;
} net_hold;

static void hold_free(net_hold *h)
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
static int net_dump(const net_target *where, const char *op, int routes,
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
static int net_link_one(const net_target *where, const char *name,
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

static int net_netns_add(const char *name, nsl_error *err)
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

static int net_netns_del(const char *name, nsl_error *err)
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
static int net_netns_list(net_hold *h, nsl_error *err)
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
	if (parse_prefix(s, p, &why) < 0)
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
	if (strcmp(name, peer) == 0 && !target_given(&peer_where))
		luaL_argerror(L, 2, "the peer needs a name of its own");
	return push_ok(L, net_veth(&where, name, peer, &peer_where, &err), &err);
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
	return push_ok(L, net_link_add(&where, "bridge", name, &err), &err);
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
	return push_ok(L, net_link_delete(&where, name, &err), &err);
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
	link_attrs a;
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
		if (lua_type(L, -1) != LUA_TSTRING || parse_mac(mac, a.mac) < 0)
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
	return push_ok(L, net_link_set(&where, "set", ifname, &a, &err), &err);
}

static int l_updown(lua_State *L, int up)
{
	const char *fname = up ? "up" : "down";
	net_target where;
	link_attrs a;
	nsl_error err;

	const char *ifname = check_ifname(L, 1);
	nsl_checknargs(L, 2);
	check_opts(L, 2, netns_only, fname, &where);
	memset(&a, 0, sizeof a);
	a.up = up;
	a.addrgenmode = -1;
	return push_ok(L, net_link_set(&where, fname, ifname, &a, &err), &err);
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
	return push_ok(L, net_addr(&where, add, ifname, lua_tostring(L, 2), &p,
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
	route_spec s;
	nsl_error err;
	const char *why;

	memset(&s, 0, sizeof s);
	s.metric = -1;
	snprintf(owner, sizeof owner, "%s spec", fname);
	const char *dst = nsl_checkname(L, 1, 0, NULL);
	int is_default = strcmp(dst, "default") == 0;
	if (!is_default) {
		check_prefix(L, 1, &s.dst);
		if (!prefix_is_network(&s.dst))
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
			    parse_prefix(gw, &s.gw, &why) < 0 || strchr(gw, '/'))
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
	return push_ok(L, net_route(&where, add, dst, &s, &err), &err);
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
	hold_free(luaL_checkudata(L, 1, "nsl.net.hold"));
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
	if (net_dump(&where, "links", 0, h, &err) < 0) {
		hold_free(h);
		return nsl_pushfail(L, &err);
	}
	lua_newtable(L);
	lua_Integer n = 0;
	for (struct nl_object *o = nl_cache_get_first(h->links); o;
	     o = nl_cache_get_next(o)) {
		push_link(L, h, (struct rtnl_link *)o);
		lua_rawseti(L, -2, ++n);
	}
	hold_free(h);
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
	if (net_link_one(&where, name, h, &err) < 0) {
		hold_free(h);
		return nsl_pushfail(L, &err);
	}
	struct nl_object *o = nl_cache_get_first(h->links);
	push_link(L, h, (struct rtnl_link *)o);
	hold_free(h);
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
	if (net_dump(&where, "routes", 1, h, &err) < 0) {
		hold_free(h);
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
	hold_free(h);
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
	return push_ok(L, net_netns_add(name, &err), &err);
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
	return push_ok(L, net_netns_del(name, &err), &err);
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
	if (net_netns_list(h, &err) < 0) {
		hold_free(h);
		return nsl_pushfail(L, &err);
	}
	lua_createtable(L, (int)h->n, 0);
	for (size_t i = 0; i < h->n; i++) {
		lua_pushstring(L, h->names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	hold_free(h);
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
