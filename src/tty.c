/*
 * Terminals: pseudo-terminals for commands that need one (nsl exec -t),
 * and the relay that connects one to the caller's stdin and stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* The size of a new terminal when neither the options nor the caller's
 * stdin give one. */
#define DEFAULT_ROWS 24
#define DEFAULT_COLS 80

/* After the command ended, output still coming from the terminal (a
 * background process may hold it) is relayed until it has been quiet for
 * DRAIN_QUIET_MS, and for at most DRAIN_MAX_MS. */
#define DRAIN_QUIET_MS 100
#define DRAIN_MAX_MS 1000
/* Without a pidfd, how often the relay looks whether the command ended. */
#define WAIT_POLL_MS 100

static int check_fd(lua_State *L, int arg)
{
	return (int)nsl_checkrange(L, arg, 0, INT_MAX, "descriptor");
}

/* ---- the pair ------------------------------------------------------------ */

static void close_keep_errno(int fd)
{
	int saved = errno;
	close(fd);
	errno = saved;
}

/*
 * Opens the dev/ptmx of another root (a container's, /proc/PID/root),
 * every component resolved inside it, so that a symbolic link there
 * cannot lead out of it; it must be the multiplexer device (5, 2). That
 * instance's devpts (the container's own /dev/pts) holds the slave.
 */
static int open_ptmx_in(const char *root, nsl_error *err)
{
	nsl_autoclose int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return nsl_fail(err, errno, "openpty: open root %s", root);
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	nsl_autoclose int node = (int)syscall(SYS_openat2, rootfd, "dev/ptmx", &how, sizeof how);
	if (node < 0)
		return nsl_fail(err, errno, "openpty %s/dev/ptmx", root);
	struct stat st;
	if (fstat(node, &st) < 0)
		return nsl_fail(err, errno, "openpty %s/dev/ptmx", root);
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
		return nsl_fail(err, ENOTTY, "openpty %s/dev/ptmx: not the pseudo-terminal multiplexer", root);
	/* Reopened through the O_PATH descriptor: the same path, so the
	 * same devpts instance. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", node);
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return nsl_fail(err, errno, "openpty %s/dev/ptmx", root);
	return fd;
}

/*
 * A new pseudo-terminal pair of size *ws from the caller's /dev/ptmx, or
 * from root's when root is not NULL. Both ends are close-on-exec and
 * neither becomes the caller's controlling terminal.
 */
static int pty_open(const char *root, const struct winsize *ws, int *masterp,
                    int *slavep, nsl_error *err)
{
	int master;
	if (root) {
		master = open_ptmx_in(root, err);
		if (master < 0)
			return -1;
	} else {
		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0)
			return nsl_fail(err, errno, "openpty /dev/ptmx");
	}
	if (grantpt(master) < 0 || unlockpt(master) < 0) {
		close_keep_errno(master);
		return nsl_fail(err, errno, "openpty: unlock the slave");
	}
	/* Through the master itself (Linux 4.13): the slave of this very
	 * devpts instance, whatever is mounted on /dev/pts. By its path on
	 * older kernels, when that instance is the caller's. */
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0 && !root && (errno == EINVAL || errno == ENOTTY)) {
		char name[64];
		int e = ptsname_r(master, name, sizeof name);
		if (e != 0) {
			close(master);
			return nsl_fail(err, e, "openpty: name of the slave");
		}
		slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0) {
			close_keep_errno(master);
			return nsl_fail(err, errno, "openpty %s", name);
		}
	} else if (slave < 0) {
		close_keep_errno(master);
		return nsl_fail(err, errno, "openpty: open the slave");
	}
	if (ioctl(master, TIOCSWINSZ, ws) < 0) {
		close_keep_errno(slave);
		close_keep_errno(master);
		return nsl_fail(err, errno, "openpty: set the window size");
	}
	*masterp = master;
	*slavep = slave;
	return 0;
}

static const char *const openpty_fields[] = {"rows", "cols", "root", NULL};

/*
 * nsl.openpty([opts]) -> master, slave
 * A new pseudo-terminal pair from the caller's /dev/ptmx, as two
 * descriptors, both close-on-exec; neither becomes the caller's
 * controlling terminal. Its window size is opts.rows x opts.cols (1 to
 * 65535 each); what the options leave out is taken from the caller's
 * stdin when that is a terminal, else 24 rows and 80 columns. With
 * opts.root (a directory, such as a container's /proc/PID/root), the pair
 * comes from the dev/ptmx in that root instead, resolved inside it: the
 * slave is then one of that root's /dev/pts, where the container's
 * processes find it by name. The slave is for a child: nsl.setsid, then
 * nsl.setctty(slave). @see pty(7)
 */
static int l_openpty(lua_State *L)
{
	lua_Integer rows = 0, cols = 0;
	const char *root = NULL;
	if (nsl_opttable(L, 1)) {
		nsl_checkfields(L, 1, openpty_fields, "openpty options");
		rows = nsl_optfieldrange(L, 1, "rows", "openpty options", 1, 65535, 0);
		cols = nsl_optfieldrange(L, 1, "cols", "openpty options", 1, 65535, 0);
		if (lua_getfield(L, 1, "root") != LUA_TNIL) {
			lua_pop(L, 1);
			root = nsl_checkfieldstring(L, 1, "root", "openpty options");
			if (strlen(root) >= PATH_MAX)
				luaL_error(L, "openpty options: root is longer than %d bytes", PATH_MAX - 1);
		} else {
			lua_pop(L, 1);
		}
	}
	nsl_checknargs(L, 1);

	struct winsize ws = {0};
	if (!isatty(0) || ioctl(0, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col) {
		memset(&ws, 0, sizeof ws);
		ws.ws_row = DEFAULT_ROWS;
		ws.ws_col = DEFAULT_COLS;
	}
	if (rows)
		ws.ws_row = (unsigned short)rows;
	if (cols)
		ws.ws_col = (unsigned short)cols;

	int master = -1, slave = -1;
	nsl_error err;
	if (pty_open(root, &ws, &master, &slave, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushinteger(L, master);
	lua_pushinteger(L, slave);
	return 2;
}

/*
 * Makes the terminal fd the caller's controlling terminal and its
 * descriptors 0, 1 and 2, all three kept open on exec. The caller must
 * lead a session without a terminal (just after setsid).
 */
static int pty_setctty(int fd, nsl_error *err)
{
	if (getsid(0) != getpid())
		return nsl_fail(err, EPERM, "setctty %d: the caller does not lead a session (nsl.setsid first)", fd);
	if (ioctl(fd, TIOCSCTTY, 0) < 0)
		return nsl_fail(err, errno, "setctty %d", fd);
	for (int i = 0; i <= 2; i++) {
		/* dup2 clears close-on-exec on its copy; fd itself, when it
		 * is one of 0-2, still carries the flag openpty gave it. */
		int r = fd == i ? fcntl(i, F_SETFD, 0) : (int)NSL_RETRY(dup2(fd, i));
		if (r < 0)
			return nsl_fail(err, errno, "setctty %d: make it descriptor %d", fd, i);
	}
	if (fd > 2)
		close(fd);
	return 0;
}

/*
 * nsl.setctty(fd) -> true
 * For the child side of a terminal, after nsl.setsid: makes the terminal
 * fd (an openpty slave) the caller's controlling terminal, and its stdin,
 * stdout and stderr, which stay open on exec; fd itself is closed when it
 * is above 2. Fails when the caller does not lead its session, or the
 * terminal is another session's. @see ioctl_tty(2)
 */
static int l_setctty(lua_State *L)
{
	int fd = check_fd(L, 1);
	nsl_checknargs(L, 1);
	nsl_error err;
	if (pty_setctty(fd, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.isatty(fd) -> boolean
 * Whether fd is an open descriptor of a terminal. @see isatty(3)
 */
static int l_isatty(lua_State *L)
{
	int fd = check_fd(L, 1);
	nsl_checknargs(L, 1);
	lua_pushboolean(L, isatty(fd));
	return 1;
}

/* ---- the relay ------------------------------------------------------------ */

/* Signals that would end the caller: while relaying they go to the
 * command instead, so that the caller lives to restore its terminal. */
static const int relay_fatal[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

struct relay {
	int master, in, out;
	pid_t pid;
	int pidfd, sigfd;
	int size_from;   /* the caller's terminal whose size the pty follows, or -1 */
	int in_tty;      /* in is a terminal */
	int reading;     /* in is still read */
	int writing;     /* out is still written */
	int slave_open;  /* the master has not reported EIO yet */
	int send_eof;    /* in ended: pass the end on once pending input is through */
	int exited;      /* pid was reaped; status holds how it ended */
	int status;
	int deferred;    /* a fatal signal that came after pid ended */
	char last;       /* the last byte passed to the master */
	size_t pending, sent;
	char input[4096];
};

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void copy_size(const struct relay *r)
{
	struct winsize ws;
	if (r->size_from >= 0 && ioctl(r->size_from, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_row && ws.ws_col)
		ioctl(r->master, TIOCSWINSZ, &ws);
}

static void relay_signals(struct relay *r)
{
	struct signalfd_siginfo si;
	while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGWINCH)
			copy_size(r);
		else if (sig == SIGPIPE)
			; /* from a write to out, handled where it failed */
		else if (!r->exited)
			kill(r->pid, sig);
		else
			r->deferred = sig; /* for the caller, once restored */
	}
}

/* Master -> out. out is the caller's: written as it is, blocking
 * (waiting on poll when someone made it non-blocking). */
static void relay_output(struct relay *r)
{
	char buf[16384];
	ssize_t n = read(r->master, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* EIO: no descriptor of the slave is open any more */
		r->slave_open = 0;
		return;
	}
	for (ssize_t done = 0; r->writing && done < n;) {
		ssize_t w = write(r->out, buf + done, (size_t)(n - done));
		if (w > 0) {
			done += w;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = r->out, .events = POLLOUT};
			poll(&p, 1, -1);
		} else if (w < 0 && errno != EINTR) {
			/* Nobody reads the output any more: the command
			 * gets what a writer to a closed pipe or a hung-up
			 * terminal would get, and the rest is discarded. */
			r->writing = 0;
			if (!r->exited)
				kill(r->pid, errno == EPIPE ? SIGPIPE : SIGHUP);
		}
	}
}

/* In -> the pending input. */
static void relay_input(struct relay *r)
{
	ssize_t n = read(r->in, r->input, sizeof r->input);
	if (n > 0) {
		r->pending = (size_t)n;
		r->sent = 0;
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		/* A terminal's user ends input with a byte (^D) in raw mode;
		 * this is a closed pipe or file, or a hung-up terminal. */
		r->reading = 0;
		r->send_eof = !r->in_tty;
	}
}

/* The pending input -> master (non-blocking). */
static void relay_flush(struct relay *r)
{
	ssize_t n = write(r->master, r->input + r->sent, r->pending - r->sent);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		r->pending = r->sent = 0;
		r->reading = r->send_eof = 0;
		return;
	}
	r->sent += (size_t)n;
	if (r->sent == r->pending) {
		r->last = r->input[r->pending - 1];
		r->pending = r->sent = 0;
	}
}

/* The end of a non-terminal stdin, told to the command: the terminal's
 * end-of-file character, when the command reads lines (canonical mode).
 * A partial line takes one to be delivered and another for the end. */
static void queue_eof(struct relay *r)
{
	struct termios t;
	r->send_eof = 0;
	if (tcgetattr(r->master, &t) < 0 || !(t.c_lflag & ICANON) ||
	    t.c_cc[VEOF] == _POSIX_VDISABLE)
		return;
	r->input[0] = r->input[1] = (char)t.c_cc[VEOF];
	r->pending = r->last == '\n' ? 1 : 2;
	r->sent = 0;
}

/* Reaps pid if it ended; -1 when it cannot be waited for. */
static int check_child(struct relay *r, struct timespec *ended, nsl_error *err)
{
	pid_t w = (pid_t)NSL_RETRY(waitpid(r->pid, &r->status, WNOHANG));
	if (w < 0)
		return nsl_fail(err, errno, "pty_relay: wait %d", (int)r->pid);
	if (w == r->pid) {
		r->exited = 1;
		r->pending = r->sent = 0;
		clock_gettime(CLOCK_MONOTONIC, ended);
	}
	return 0;
}

/* The loop, Lua-free: returns 0 once pid is reaped (r->status), or -1. */
static int relay_run(struct relay *r, nsl_error *err)
{
	struct timespec ended = {0};
	for (;;) {
		if (r->send_eof && !r->pending)
			queue_eof(r);
		struct pollfd p[4] = {
			{.fd = r->slave_open ? r->master : -1,
			 .events = (short)(POLLIN | (r->pending ? POLLOUT : 0))},
			{.fd = r->reading && !r->pending && !r->exited ? r->in : -1,
			 .events = POLLIN},
			{.fd = r->sigfd, .events = POLLIN},
			{.fd = r->exited ? -1 : r->pidfd, .events = POLLIN},
		};
		int timeout = -1;
		if (r->exited) {
			long left = DRAIN_MAX_MS - elapsed_ms(&ended);
			if (left <= 0)
				return 0;
			timeout = left < DRAIN_QUIET_MS ? (int)left : DRAIN_QUIET_MS;
		} else if (r->pidfd < 0) {
			timeout = WAIT_POLL_MS;
		}
		int n = poll(p, 4, timeout);
		if (n < 0 && errno != EINTR)
			return nsl_fail(err, errno, "pty_relay: poll");
		if (n == 0 && r->exited)
			return 0; /* quiet since the command ended */
		if (n > 0) {
			/* Signals first: a size change that came before some
			 * input reaches the command before that input. */
			if (p[2].revents)
				relay_signals(r);
			if (p[0].revents & POLLOUT)
				relay_flush(r);
			if (p[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
				relay_output(r);
			if (p[1].revents)
				relay_input(r);
		}
		if (r->exited) {
			if (!r->slave_open || r->deferred)
				return 0;
		} else if (p[3].revents || r->pidfd < 0 || !r->slave_open) {
			if (check_child(r, &ended, err) < 0)
				return -1;
			if (r->exited && !r->slave_open)
				return 0;
		}
	}
}

/* Blocks the signals the relay takes over into *set; the caller's mask
 * goes to *old. */
static void block_signals(sigset_t *set, sigset_t *old)
{
	sigemptyset(set);
	sigprocmask(SIG_SETMASK, NULL, old);
	sigaddset(set, SIGWINCH);
	for (size_t i = 0; i < sizeof relay_fatal / sizeof relay_fatal[0]; i++) {
		struct sigaction sa;
		int sig = relay_fatal[i];
		if (!sigismember(old, sig) && sigaction(sig, NULL, &sa) == 0 &&
		    !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL)
			sigaddset(set, sig);
	}
	struct sigaction sa;
	if (!sigismember(old, SIGPIPE) && sigaction(SIGPIPE, NULL, &sa) == 0 &&
	    !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL)
		sigaddset(set, SIGPIPE);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/* Discards a SIGPIPE the relay's own writes left pending, before the
 * caller's mask (which lets it through) is back. */
static void discard_sigpipe(const sigset_t *blocked)
{
	if (!sigismember(blocked, SIGPIPE))
		return;
	sigset_t pipe_only, pending;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	struct timespec zero = {0};
	while (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) &&
	       sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
		;
}

static const char *const relay_fields[] = {"stdin", "stdout", NULL};

/*
 * nsl.pty_relay(master, pid [, opts]) -> ok, "exit"|"signal", n
 * Connects the caller's stdin and stdout to the pseudo-terminal master
 * until pid, a child of the caller running on its slave, ends; returns how
 * it ended, as nsl.wait does. Close the caller's copy of the slave first:
 * the relay ends when pid has ended and the terminal has no more to say
 * (every slave descriptor closed, or output quiet for 0.1 s, 1 s at most).
 *
 * When stdin is a terminal, it is in raw mode meanwhile (keys, ^C and ^D
 * included, go to the command as bytes) and its mode is restored before
 * the relay returns; the pseudo-terminal takes its window size and follows
 * its changes (SIGWINCH; stdout's size when only stdout is a terminal).
 * When stdin is not a terminal, its end is passed on as the terminal's
 * end-of-file character (^D) if the command reads lines. TERM, INT, HUP
 * and QUIT that would end the caller (default action, not blocked) are
 * sent to pid instead (once pid has ended, they end the caller after the
 * terminal is restored); a command whose output can no longer be written
 * gets SIGPIPE (SIGHUP for a terminal that went away). opts.stdin and
 * opts.stdout are the descriptors to use instead of 0 and 1. Fails before
 * relaying anything when master is not a pseudo-terminal master or pid is
 * not a child of the caller. @see pty(7), termios(3)
 */
static int l_pty_relay(lua_State *L)
{
	struct relay r;
	memset(&r, 0, sizeof r);
	r.master = check_fd(L, 1);
	r.pid = nsl_checkpid(L, 2);
	r.in = 0;
	r.out = 1;
	if (nsl_opttable(L, 3)) {
		nsl_checkfields(L, 3, relay_fields, "pty_relay options");
		r.in = (int)nsl_optfieldrange(L, 3, "stdin", "pty_relay options", 0, INT_MAX, 0);
		r.out = (int)nsl_optfieldrange(L, 3, "stdout", "pty_relay options", 0, INT_MAX, 1);
	}
	nsl_checknargs(L, 3);

	/* Nothing changes before these pass. */
	int ptn, master_flags;
	if ((master_flags = fcntl(r.master, F_GETFL)) < 0)
		return nsl_pusherrno(L, "pty_relay: master %d", r.master);
	if (ioctl(r.master, TIOCGPTN, &ptn) < 0) {
		errno = ENOTTY;
		return nsl_pusherrno(L, "pty_relay: %d is not a pseudo-terminal master", r.master);
	}
	if (fcntl(r.in, F_GETFL) < 0)
		return nsl_pusherrno(L, "pty_relay: stdin %d", r.in);
	if (fcntl(r.out, F_GETFL) < 0)
		return nsl_pusherrno(L, "pty_relay: stdout %d", r.out);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (NSL_RETRY(waitid(P_PID, (id_t)r.pid, &si, WEXITED | WNOHANG | WNOWAIT)) < 0)
		return nsl_pusherrno(L, "pty_relay: wait %d", (int)r.pid);

	/* From here on, no Lua call until everything is restored. */
	r.reading = r.writing = r.slave_open = 1;
	r.last = '\n';
	r.size_from = isatty(r.in) ? r.in : isatty(r.out) ? r.out : -1;
	r.in_tty = isatty(r.in);
	struct termios saved;
	int raw = 0;
	if (r.in_tty && tcgetattr(r.in, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(r.in, TCSANOW, &t) == 0;
	}
	copy_size(&r);
	fcntl(r.master, F_SETFL, master_flags | O_NONBLOCK);

	sigset_t taken, old;
	block_signals(&taken, &old);
	r.sigfd = signalfd(-1, &taken, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r.sigfd < 0) /* relay without them rather than hold them back */
		sigprocmask(SIG_SETMASK, &old, NULL);
	r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0); /* close-on-exec */

	nsl_error err;
	int rc = relay_run(&r, &err);
	if (rc < 0 && !r.exited) {
		/* The loop failed (poll): still wait for pid, as promised. */
		if (NSL_RETRY(waitpid(r.pid, &r.status, 0)) == r.pid)
			rc = 0, r.exited = 1;
	}

	if (r.pidfd >= 0)
		close(r.pidfd);
	if (raw)
		tcsetattr(r.in, TCSADRAIN, &saved);
	fcntl(r.master, F_SETFL, master_flags);
	if (r.sigfd >= 0) {
		close(r.sigfd);
		discard_sigpipe(&taken);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	/* It would have ended the caller, had it come a moment later. */
	if (r.deferred)
		raise(r.deferred);

	if (rc < 0)
		return nsl_pushfail(L, &err);
	return nsl_pushstatus(L, r.status);
}

const luaL_Reg nsl_tty_funcs[] = {
	{"openpty", l_openpty},
	{"setctty", l_setctty},
	{"isatty", l_isatty},
	{"pty_relay", l_pty_relay},
	{NULL, NULL},
};
