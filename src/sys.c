/*
 * Process attributes: sessions, resource limits, the parent-death signal,
 * dumpable, ids, the session keyring, the loopback device, sleep and time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

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
int nsl_setids(uid_t uid, gid_t gid, nsl_error *err)
{
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return nsl_fail(err, errno, "setids: setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return nsl_fail(err, errno, "setids: setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return nsl_fail(err, errno, "setids: setresuid %u", (unsigned)uid);
	return 0;
}

static int l_setids(lua_State *L)
{
	uid_t uid = (uid_t)nsl_checkrange(L, 1, 0, 4294967294LL, "uid");
	gid_t gid = (gid_t)nsl_checkrange(L, 2, 0, 4294967294LL, "gid");
	nsl_checknargs(L, 2);
	nsl_error err;
	if (nsl_setids(uid, gid, &err) < 0)
		return nsl_pushfail(L, &err);
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
	{"loopback_up", l_loopback_up},
	{NULL, NULL},
};
