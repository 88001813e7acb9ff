/*
 * Signal forwarding and supervision: what a container's caller and its
 * init do with signals and children (forward_signals, stop_forwarding,
 * reap, supervise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
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

/* ---- Lua wrappers -------------------------------------------------------- */

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

const luaL_Reg nsl_supervise_funcs[] = {
	{"forward_signals", l_forward_signals},
	{"stop_forwarding", l_stop_forwarding},
	{"reap", l_reap},
	{"supervise", l_supervise},
	{NULL, NULL},
};
