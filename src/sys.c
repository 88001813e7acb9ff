/*
 * Process control for containers: sessions, resource limits, signal
 * forwarding, reaping, a small init, the container capability set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

/* ---- Lua-free ------------------------------------------------------------ */

/*
 * Signal forwarding. A handler can only reach static storage, so the
 * targets live here: a small table of pids that every forwarded signal
 * is sent to. The handler is async-signal-safe (kill(2) and reads of
 * sig_atomic_t slots only).
 */
#define FORWARD_MAX 64
static volatile sig_atomic_t forward_pids[FORWARD_MAX];
static const int forward_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT,
                                      SIGUSR1, SIGUSR2, SIGWINCH};
#define NFORWARD (int)(sizeof forward_signals / sizeof forward_signals[0])
static unsigned forward_mask;          /* bit i: forward_signals[i] handled */
static struct sigaction forward_saved[NFORWARD];

/* A TERM, INT, HUP or QUIT forwarded gives each target a deadline of its
 * own grace period: a target still registered when its deadline passes
 * gets SIGKILL (a command running as PID 1 without a handler ignores
 * TERM, and its caller would wait forever). One interval timer serves
 * every deadline; each handler blocks the others (sa_mask), so the
 * tables below are only ever touched by one handler at a time. */
#define GRACE_NEVER (-1)
static int forward_grace[FORWARD_MAX];          /* seconds, or GRACE_NEVER */
static long long forward_deadline[FORWARD_MAX]; /* ms, CLOCK_MONOTONIC; 0: none */
static struct sigaction alarm_saved;
static int alarm_installed;

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the timer to the nearest deadline, or stops it when none is left. */
static void forward_rearm(long long now)
{
	long long next = 0;
	for (int i = 0; i < FORWARD_MAX; i++)
		if (forward_pids[i] > 0 && forward_deadline[i] &&
		    (!next || forward_deadline[i] < next))
			next = forward_deadline[i];
	struct itimerval it;
	memset(&it, 0, sizeof it);
	if (next) {
		long long ms = next > now ? next - now : 1;
		it.it_value.tv_sec = (time_t)(ms / 1000);
		it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

static void forward_handler(int sig)
{
	int saved = errno;
	int terminating = sig == SIGTERM || sig == SIGINT || sig == SIGHUP ||
	                  sig == SIGQUIT;
	long long now = terminating ? monotonic_ms() : 0;
	for (int i = 0; i < FORWARD_MAX; i++) {
		if (forward_pids[i] <= 0)
			continue;
		kill((pid_t)forward_pids[i], sig);
		if (terminating && forward_grace[i] != GRACE_NEVER &&
		    !forward_deadline[i])
			forward_deadline[i] = now + forward_grace[i] * 1000LL;
	}
	if (terminating)
		forward_rearm(now);
	errno = saved;
}

static void forward_alarm(int sig)
{
	int saved = errno;
	long long now = monotonic_ms();
	(void)sig;
	for (int i = 0; i < FORWARD_MAX; i++)
		if (forward_pids[i] > 0 && forward_deadline[i] &&
		    forward_deadline[i] <= now) {
			kill((pid_t)forward_pids[i], SIGKILL);
			forward_deadline[i] = 0;
		}
	forward_rearm(now);
	errno = saved;
}

static int forward_count(void)
{
	int n = 0;
	for (int i = 0; i < FORWARD_MAX; i++)
		n += forward_pids[i] > 0;
	return n;
}

/* Blocks the forwarded signals and SIGALRM (the set goes to *block, the
 * mask before to *old) while the tables change. */
static void forward_block(sigset_t *block, sigset_t *old)
{
	sigemptyset(block);
	for (int i = 0; i < NFORWARD; i++)
		sigaddset(block, forward_signals[i]);
	sigaddset(block, SIGALRM);
	sigprocmask(SIG_BLOCK, block, old);
}

/* Restores the handlers that were there before forwarding started. */
static void forward_restore(void)
{
	for (int i = 0; i < NFORWARD; i++)
		if (forward_mask & (1u << i))
			sigaction(forward_signals[i], &forward_saved[i], NULL);
	forward_mask = 0;
	if (alarm_installed) {
		struct itimerval off;
		memset(&off, 0, sizeof off);
		setitimer(ITIMER_REAL, &off, NULL);
		sigaction(SIGALRM, &alarm_saved, NULL);
		alarm_installed = 0;
	}
	memset(forward_deadline, 0, sizeof forward_deadline);
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

/* ---- Lua wrappers -------------------------------------------------------- */

/*
 * nsl.setsid() -> session id
 * Starts a new session without a controlling terminal, so that a
 * process cannot push input into the terminal of its creator (TIOCSTI).
 * @see setsid(2)
 */
static int l_setsid(lua_State *L)
{
	nsl_checknargs(L, 0);
	pid_t sid = setsid();
	if (sid < 0)
		return nsl_pusherrno(L, "setsid");
	lua_pushinteger(L, sid);
	return 1;
}

/*
 * nsl.getsid([pid]) -> session id
 * The session of pid (the caller by default). @see getsid(2)
 */
static int l_getsid(lua_State *L)
{
	pid_t pid = lua_isnoneornil(L, 1) ? 0 : nsl_checkpid(L, 1);
	nsl_checknargs(L, 1);
	pid_t sid = getsid(pid);
	if (sid < 0)
		return nsl_pusherrno(L, "getsid %d", (int)pid);
	lua_pushinteger(L, sid);
	return 1;
}

static const char *const rlimit_names[] = {
	"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
	"nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending",
	"stack", NULL};
static const int rlimit_values[] = {
	RLIMIT_AS, RLIMIT_CORE, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE,
	RLIMIT_LOCKS, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE,
	RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME,
	RLIMIT_SIGPENDING, RLIMIT_STACK};

int nsl_rlimit_resource(const char *name)
{
	for (int i = 0; rlimit_names[i]; i++)
		if (strcmp(rlimit_names[i], name) == 0)
			return rlimit_values[i];
	return -1;
}

/* A limit: a non-negative integer, or math.huge / "unlimited". */
static rlim_t check_rlim(lua_State *L, int arg)
{
	if (lua_type(L, arg) == LUA_TSTRING &&
	    strcmp(lua_tostring(L, arg), "unlimited") == 0)
		return RLIM_INFINITY;
	if (lua_type(L, arg) == LUA_TNUMBER && !lua_isinteger(L, arg) &&
	    lua_tonumber(L, arg) == HUGE_VAL)
		return RLIM_INFINITY;
	return (rlim_t)nsl_checkrange(L, arg, 0, LUA_MAXINTEGER, "limit");
}

static void push_rlim(lua_State *L, rlim_t v)
{
	if (v == RLIM_INFINITY)
		lua_pushnumber(L, HUGE_VAL);
	else
		lua_pushinteger(L, (lua_Integer)v);
}

/*
 * nsl.setrlimit(name, soft [, hard]) -> true
 * name: as, core, cpu, data, fsize, locks, memlock, msgqueue, nice,
 * nofile, nproc, rss, rtprio, rttime, sigpending, stack. A limit is an
 * integer, or math.huge or "unlimited"; hard defaults to soft.
 * @see setrlimit(2)
 */
static int l_setrlimit(lua_State *L)
{
	int i = luaL_checkoption(L, 1, NULL, rlimit_names);
	rlim_t soft = check_rlim(L, 2);
	rlim_t hard = lua_isnoneornil(L, 3) ? soft : check_rlim(L, 3);
	nsl_checknargs(L, 3);
	if (soft > hard)
		luaL_argerror(L, 2, "soft limit above the hard limit");
	struct rlimit r = {soft, hard};
	if (setrlimit(rlimit_values[i], &r) < 0)
		return nsl_pusherrno(L, "setrlimit %s", rlimit_names[i]);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.getrlimit(name) -> soft, hard
 * math.huge stands for unlimited. @see getrlimit(2)
 */
static int l_getrlimit(lua_State *L)
{
	int i = luaL_checkoption(L, 1, NULL, rlimit_names);
	struct rlimit r;
	nsl_checknargs(L, 1);
	if (getrlimit(rlimit_values[i], &r) < 0)
		return nsl_pusherrno(L, "getrlimit %s", rlimit_names[i]);
	push_rlim(L, r.rlim_cur);
	push_rlim(L, r.rlim_max);
	return 2;
}

/*
 * nsl.pdeathsig(sig) -> true
 * The signal the caller gets when its parent dies (0: none).
 * @see PR_SET_PDEATHSIG in prctl(2)
 */
static int l_pdeathsig(lua_State *L)
{
	int sig = nsl_checksignal(L, 1);
	nsl_checknargs(L, 1);
	if (prctl(PR_SET_PDEATHSIG, sig) < 0)
		return nsl_pusherrno(L, "pdeathsig");
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.dumpable([flag]) -> boolean
 * Without an argument, whether the caller is dumpable; with one, sets it.
 * A process that is not dumpable keeps others of the same uid out of its
 * /proc/<pid> entries (exe, mem, fd, ...) unless they hold CAP_SYS_PTRACE:
 * nsl's own processes inside a container use it so that the container
 * cannot reach the host's nsl binary through /proc/<pid>/exe. execve
 * makes a process dumpable again. @see PR_SET_DUMPABLE in prctl(2)
 */
static int l_dumpable(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		nsl_checknargs(L, 0);
		int d = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
		if (d < 0)
			return nsl_pusherrno(L, "dumpable");
		lua_pushboolean(L, d);
		return 1;
	}
	luaL_checktype(L, 1, LUA_TBOOLEAN);
	nsl_checknargs(L, 1);
	if (prctl(PR_SET_DUMPABLE, lua_toboolean(L, 1) ? 1 : 0, 0, 0, 0) < 0)
		return nsl_pusherrno(L, "dumpable");
	lua_pushboolean(L, lua_toboolean(L, 1));
	return 1;
}

/*
 * nsl.session_keyring() -> true
 * Gives the caller a new, empty session keyring in place of the one it
 * inherited, so that the keys of its parent's session are out of its
 * reach (and of every process it starts). A kernel without keyrings
 * (ENOSYS) has nothing to hide: that counts as done.
 * @see keyctl(2), session-keyring(7)
 */
static int l_session_keyring(lua_State *L)
{
	nsl_checknargs(L, 0);
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		return nsl_pusherrno(L, "session keyring");
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.forward_signals(pid [, grace]) -> true
 * From now on, TERM, INT, HUP, QUIT, USR1, USR2 and WINCH sent to the
 * caller are sent on to pid (and to every other pid registered) instead
 * of acting on the caller. Up to 64 pids at a time. After a TERM, INT,
 * HUP or QUIT, a target still registered grace seconds later gets
 * SIGKILL, as a PID 1 without a handler ignores TERM: grace is per target,
 * default 10, 0 kills right after the forwarded signal, false never.
 * Registering a pid again sets its grace. The deadlines use the
 * ITIMER_REAL timer (SIGALRM) while forwarding is on.
 */
static int l_forward_signals(lua_State *L)
{
	pid_t pid = nsl_checkpid(L, 1);
	int grace = 10;
	if (lua_type(L, 2) == LUA_TBOOLEAN && !lua_toboolean(L, 2))
		grace = GRACE_NEVER;
	else if (!lua_isnoneornil(L, 2))
		grace = (int)nsl_checkrange(L, 2, 0, 86400, "grace");
	nsl_checknargs(L, 2);
	sigset_t block, old;
	forward_block(&block, &old);
	int slot = -1;
	for (int i = 0; i < FORWARD_MAX && slot < 0; i++)
		if (forward_pids[i] == pid)
			slot = i;
	for (int i = 0; i < FORWARD_MAX && slot < 0; i++)
		if (forward_pids[i] <= 0)
			slot = i;
	if (slot < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		errno = ENOSPC;
		return nsl_pusherrno(L, "forward_signals %d: more than %d targets",
		                     (int)pid, FORWARD_MAX);
	}
	if (forward_pids[slot] != pid)
		forward_deadline[slot] = 0;
	forward_pids[slot] = pid;
	forward_grace[slot] = grace;
	if (!forward_mask) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = forward_handler;
		sa.sa_flags = SA_RESTART;
		sa.sa_mask = block;
		for (int i = 0; i < NFORWARD; i++)
			if (sigaction(forward_signals[i], &sa, &forward_saved[i]) == 0)
				forward_mask |= 1u << i;
		sa.sa_handler = forward_alarm;
		if (sigaction(SIGALRM, &sa, &alarm_saved) == 0)
			alarm_installed = 1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	lua_pushboolean(L, 1);
	return 1;
}

/* Forwarding to pid (0: every target) ends; the previous handlers come
 * back when no target is left. */
static void stop_forwarding(pid_t pid)
{
	sigset_t block, old;
	forward_block(&block, &old);
	for (int i = 0; i < FORWARD_MAX; i++)
		if (pid == 0 || forward_pids[i] == pid) {
			forward_pids[i] = 0;
			forward_deadline[i] = 0;
		}
	if (forward_count() == 0)
		forward_restore();
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void nsl_forward_reset(void)
{
	/* Only the handlers (the process's own) change: the tables stay as
	 * they are, as a child may share them with its parent (plan.c). */
	for (int i = 0; i < NFORWARD; i++)
		if (forward_mask & (1u << i))
			sigaction(forward_signals[i], &forward_saved[i], NULL);
	if (alarm_installed)
		sigaction(SIGALRM, &alarm_saved, NULL);
}

/*
 * nsl.stop_forwarding([pid]) -> true
 * Stops forwarding signals to pid, or to every pid when none is given;
 * the caller's previous handlers come back when no target is left.
 */
static int l_stop_forwarding(lua_State *L)
{
	pid_t pid = lua_isnoneornil(L, 1) ? 0 : nsl_checkpid(L, 1);
	nsl_checknargs(L, 1);
	stop_forwarding(pid);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.reap([pid [, "nohang"]]) -> pid, ok, "exit"|"signal", n
 * Waits for the child pid, or any child when pid is nil or -1, and says
 * which one ended and how. With "nohang", returns 0 at once when none has
 * ended yet. @see waitpid(2)
 */
static int l_reap(lua_State *L)
{
	static const char *const modes[] = {"nohang", NULL};
	int status;
	pid_t pid = -1;
	if (!lua_isnoneornil(L, 1) &&
	    !(lua_type(L, 1) == LUA_TNUMBER && lua_tointeger(L, 1) == -1))
		pid = nsl_checkpid(L, 1);
	int flags = lua_isnoneornil(L, 2) ? 0 : (luaL_checkoption(L, 2, NULL, modes), WNOHANG);
	nsl_checknargs(L, 2);
	pid_t r = (pid_t)NSL_RETRY(waitpid(pid, &status, flags));
	if (r < 0)
		return pid > 0 ? nsl_pusherrno(L, "reap %d", (int)pid)
		               : nsl_pusherrno(L, "reap");
	lua_pushinteger(L, r);
	if (r == 0)
		return 1;
	return 1 + nsl_pushstatus(L, status);
}

static volatile sig_atomic_t supervise_child;

static void supervise_forward(int sig)
{
	if (supervise_child > 0)
		kill((pid_t)supervise_child, sig);
}

/*
 * nsl.supervise(pid) -> ok, "exit"|"signal", n
 * The work of a container's init (PID 1): forwards TERM, INT, HUP, QUIT,
 * USR1, USR2 and WINCH to pid, reaps every child (orphans re-parented to
 * the caller included) and returns how pid ended. Meant to be called by
 * PID 1 of a pid namespace, or by a process that is a child subreaper.
 */
static int l_supervise(lua_State *L)
{
	pid_t pid = nsl_checkpid(L, 1);
	nsl_checknargs(L, 1);
	int status;
	if (nsl_supervise(pid, &status) < 0)
		return nsl_pusherrno(L, "supervise %d", (int)pid);
	return nsl_pushstatus(L, status);
}

int nsl_supervise(pid_t pid, int *wstatus)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = supervise_forward;
	sigemptyset(&sa.sa_mask);
	supervise_child = pid;
	for (int i = 0; i < NFORWARD; i++)
		sigaction(forward_signals[i], &sa, NULL);
	for (;;) {
		int status;
		pid_t r = waitpid(-1, &status, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			supervise_child = 0;
			return -1;
		}
		if (r == pid) {
			supervise_child = 0;
			/* Orphans still around are reaped on the way out. */
			while (waitpid(-1, NULL, WNOHANG) > 0) {}
			*wstatus = status;
			return 0;
		}
	}
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

/*
 * nsl.loopback_up() -> true
 * Brings up "lo" in the caller's network namespace with one ioctl; what
 * the network mode "none" does inside a container. @see netdevice(7)
 */
static int l_loopback_up(lua_State *L)
{
	nsl_error err;
	nsl_checknargs(L, 0);
	if (nsl_loopback_up(&err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

int nsl_loopback_up(nsl_error *err)
{
	nsl_autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return nsl_fail(err, errno, "loopback_up: socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return nsl_fail(err, errno, "loopback_up: get flags of lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return nsl_fail(err, errno, "loopback_up: set lo up");
	return 0;
}

/*
 * nsl.setids(uid, gid) -> true
 * Becomes uid and gid (real, effective and saved) with no supplementary
 * groups where the user namespace allows dropping them; what a process
 * that joined a user namespace does to take an identity mapped in it.
 * @see setresuid(2), setgroups(2)
 */
static int l_setids(lua_State *L)
{
	uid_t uid = (uid_t)nsl_checkrange(L, 1, 0, 4294967294LL, "uid");
	gid_t gid = (gid_t)nsl_checkrange(L, 2, 0, 4294967294LL, "gid");
	nsl_checknargs(L, 2);
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return nsl_pusherrno(L, "setids: setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return nsl_pusherrno(L, "setids: setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return nsl_pusherrno(L, "setids: setresuid %u", (unsigned)uid);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.sleep(seconds) -> true
 * Sleeps for seconds (a number, fractions allowed, at most a day); a
 * signal that interrupts it does not cut it short. @see nanosleep(2)
 */
static int l_sleep(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	nsl_checknargs(L, 1);
	if (!(s >= 0 && s <= 86400))
		return luaL_argerror(L, 1, "seconds must be from 0 to 86400");
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.time(["monotonic"|"real"]) -> seconds
 * The time as a float: by default monotonic (for durations and
 * timeouts), or "real", seconds since the epoch. @see clock_gettime(2)
 */
static int l_time(lua_State *L)
{
	static const char *const clocks[] = {"monotonic", "real", NULL};
	int which = luaL_checkoption(L, 1, "monotonic", clocks);
	nsl_checknargs(L, 1);
	struct timespec ts;
	clock_gettime(which ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

const luaL_Reg nsl_sys_funcs[] = {
	{"sleep", l_sleep},
	{"time", l_time},
	{"setids", l_setids},
	{"setsid", l_setsid},
	{"getsid", l_getsid},
	{"setrlimit", l_setrlimit},
	{"getrlimit", l_getrlimit},
	{"pdeathsig", l_pdeathsig},
	{"dumpable", l_dumpable},
	{"session_keyring", l_session_keyring},
	{"forward_signals", l_forward_signals},
	{"stop_forwarding", l_stop_forwarding},
	{"reap", l_reap},
	{"supervise", l_supervise},
	{"cap_bits", l_cap_bits},
	{"caps_limit", l_caps_limit},
	{"loopback_up", l_loopback_up},
	{NULL, NULL},
};
