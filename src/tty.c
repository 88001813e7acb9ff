/*
 * Terminals: a pseudo-terminal for a command run inside a container
 * (nsl exec -t), and the relay between it and the caller's terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"

static int check_fd(lua_State *L, int arg)
{
	return (int)nsl_checkrange(L, arg, 0, INT_MAX, "descriptor");
}

/* Writes all of buf, retrying short writes; -1 on error. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *const openpty_fields[] = {"rows", "cols", NULL};

/*
 * nsl.openpty([{rows =, cols =}]) -> master, slave
 * A new pseudo-terminal pair, both ends close-on-exec and neither the
 * caller's controlling terminal. Its size is rows x cols when given, else
 * that of the caller's stdin when it is a terminal, else 24 x 80.
 * @see pty(7)
 */
static int l_openpty(lua_State *L)
{
	struct winsize ws = {0};
	int has = nsl_opttable(L, 1);
	nsl_checknargs(L, 1);
	if (has) {
		nsl_checkfields(L, 1, openpty_fields, "openpty options");
		ws.ws_row = (unsigned short)nsl_optfieldrange(L, 1, "rows", "openpty options",
		                                              1, 65535, 0);
		ws.ws_col = (unsigned short)nsl_optfieldrange(L, 1, "cols", "openpty options",
		                                              1, 65535, 0);
	}
	if (!ws.ws_row && !ws.ws_col && !(isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row))
		ws.ws_row = 24, ws.ws_col = 80;
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return nsl_pusherrno(L, "openpty: /dev/ptmx");
	char name[64];
	if (grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, name, sizeof name) != 0) {
		int saved = errno;
		close(master);
		errno = saved;
		return nsl_pusherrno(L, "openpty");
	}
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		int saved = errno;
		close(master);
		errno = saved;
		return nsl_pusherrno(L, "openpty: %s", name);
	}
	if (ws.ws_row || ws.ws_col)
		ioctl(master, TIOCSWINSZ, &ws);
	lua_pushinteger(L, master);
	lua_pushinteger(L, slave);
	return 2;
}

/*
 * nsl.setctty(fd) -> true
 * In a process that just made a new session (nsl.setsid): makes the
 * terminal fd its controlling terminal and its stdin, stdout and stderr
 * (fd itself is closed when above 2). @see ioctl_tty(2)
 */
static int l_setctty(lua_State *L)
{
	int fd = check_fd(L, 1);
	nsl_checknargs(L, 1);
	if (ioctl(fd, TIOCSCTTY, 0) < 0)
		return nsl_pusherrno(L, "setctty %d", fd);
	for (int i = 0; i <= 2; i++)
		if (fd != i && dup2(fd, i) < 0)
			return nsl_pusherrno(L, "setctty: dup2 %d", i);
	if (fd > 2)
		close(fd);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.isatty(fd) -> boolean
 * @see isatty(3)
 */
static int l_isatty(lua_State *L)
{
	int fd = check_fd(L, 1);
	nsl_checknargs(L, 1);
	lua_pushboolean(L, isatty(fd));
	return 1;
}

static const char *const relay_fields[] = {"stdin", "stdout", NULL};

/* The relay's loop, Lua-free: returns the waitpid status or -1. */
static int relay(int master, pid_t pid, int in, int out, int sfd)
{
	char buf[16384];
	int in_open = 1, status = -1;
	for (;;) {
		struct pollfd p[3] = {
			{.fd = master, .events = POLLIN},
			{.fd = in_open ? in : -1, .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
		};
		int r = poll(p, 3, 100);
		if (r < 0 && errno != EINTR)
			break;
		/* pid ended and nothing more came for a moment: whatever
		 * still holds the slave (a background process) is not
		 * waited for. */
		if (r == 0 && status >= 0)
			break;
		if (p[0].revents) {
			ssize_t n = read(master, buf, sizeof buf);
			if (n > 0)
				write_all(out, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				break; /* EIO: every slave descriptor is closed */
		}
		if (p[1].revents) {
			ssize_t n = read(in, buf, sizeof buf);
			if (n > 0)
				write_all(master, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				in_open = 0;
		}
		if (sfd >= 0 && p[2].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				struct winsize ws;
				if (ioctl(in, TIOCGWINSZ, &ws) == 0)
					ioctl(master, TIOCSWINSZ, &ws);
			}
		}
		if (status < 0) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				continue; /* drain what is left, until EIO */
			status = -1;
			if (w < 0 && errno == ECHILD)
				break;
		}
	}
	if (status < 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	return status;
}

/*
 * nsl.pty_relay(master, pid [, {stdin =, stdout =}]) -> ok, "exit"|"signal", n
 * Relays between the caller's terminal and the pseudo-terminal master
 * until pid (a child of the caller, running on the slave) ends, then
 * returns how it ended, as nsl.wait does. The caller's stdin is in raw
 * mode meanwhile when it is a terminal (restored before returning), and
 * its window size follows the caller's (SIGWINCH). stdin and stdout
 * default to descriptors 0 and 1.
 */
static int l_pty_relay(lua_State *L)
{
	int master = check_fd(L, 1);
	pid_t pid = nsl_checkpid(L, 2);
	int in = 0, out = 1;
	int has = nsl_opttable(L, 3);
	nsl_checknargs(L, 3);
	if (has) {
		nsl_checkfields(L, 3, relay_fields, "pty_relay options");
		in = (int)nsl_optfieldrange(L, 3, "stdin", "pty_relay options", 0, INT_MAX, 0);
		out = (int)nsl_optfieldrange(L, 3, "stdout", "pty_relay options", 0, INT_MAX, 1);
	}
	struct termios saved;
	int raw = isatty(in) && tcgetattr(in, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(in, TCSANOW, &t);
		struct winsize ws;
		if (ioctl(in, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	sigset_t winch, old;
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	sigprocmask(SIG_BLOCK, &winch, &old);
	int sfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
	int status = relay(master, pid, in, out, sfd);
	int saved_errno = errno;
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (raw)
		tcsetattr(in, TCSANOW, &saved);
	if (status < 0) {
		errno = saved_errno;
		return nsl_pusherrno(L, "pty_relay: wait %d", (int)pid);
	}
	return nsl_pushstatus(L, status);
}

const luaL_Reg nsl_tty_funcs[] = {
	{"openpty", l_openpty},
	{"setctty", l_setctty},
	{"isatty", l_isatty},
	{"pty_relay", l_pty_relay},
	{NULL, NULL},
};
