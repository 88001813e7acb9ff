/*
 * nsl-monitor: the supervisor of a detached container, once it runs.
 *
 *   nsl-monitor --pid PID --log FILE [--log-max BYTES] --exit-file FILE
 *               [--] [THEN-ARGV...]
 *
 * The process that started the container (its PID 1 is PID, a child of
 * this process) execs this program with the read end of the container's
 * output pipe on descriptor 3. It copies the output to FILE, keeping it
 * under BYTES by renaming it to FILE.1 when full; when PID ends it
 * writes "exit N" or "signal N" and "finished T" to the exit file
 * (atomically), then execs THEN-ARGV (nsl __reap, which releases the
 * container's host resources), or exits.
 *
 * It is a separate, statically linked program so that a detached
 * container costs well under 1 MiB of resident memory while it runs:
 * no Lua state, no shared libraries, one buffer on the stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define OUTPUT_FD 3
#define DRAIN_MS 250

struct monitor {
	pid_t pid;
	const char *log, *exit_file;
	long long log_max;
	char **then;
	int logfd;
	long long logsize;
	char log1[PATH_MAX];
};

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "nsl-monitor: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: nsl-monitor --pid PID --log FILE [--log-max BYTES] "
	                "--exit-file FILE [--] [THEN-ARGV...]\n");
	exit(2);
}

/* "1048576", "64k", "8M" -> bytes; -1 when malformed or too large. */
static long long parse_size(const char *s)
{
	char *end;
	long long unit = 1;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || n <= 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		unit = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		unit = 1024 * 1024, end++;
	if (*end || n > LLONG_MAX / unit)
		return -1;
	return n * unit;
}

static void parse_args(struct monitor *m, int argc, char **argv)
{
	memset(m, 0, sizeof *m);
	m->log_max = 1 << 20;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (i + 1 >= argc)
			usage_error("option %s needs a value", a);
		const char *v = argv[++i];
		if (strcmp(a, "--pid") == 0) {
			char *end;
			errno = 0;
			long p = strtol(v, &end, 10);
			if (errno || end == v || *end || p <= 0 || p > INT_MAX)
				usage_error("--pid needs a process id (got '%s')", v);
			m->pid = (pid_t)p;
		} else if (strcmp(a, "--log") == 0) {
			m->log = v;
		} else if (strcmp(a, "--log-max") == 0) {
			m->log_max = parse_size(v);
			if (m->log_max < 4096)
				usage_error("--log-max needs a size of at least 4096 bytes, "
				            "with an optional k or M (got '%s')", v);
		} else if (strcmp(a, "--exit-file") == 0) {
			m->exit_file = v;
		} else {
			usage_error("unknown option %s", a);
		}
	}
	if (!m->pid || !m->log || !m->exit_file)
		usage_error("--pid, --log and --exit-file are required");
	if (!*m->log || !*m->exit_file)
		usage_error("--log and --exit-file need a file name");
	if (strlen(m->log) + 3 > sizeof m->log1 || strlen(m->exit_file) + 5 > PATH_MAX)
		usage_error("file name too long");
	snprintf(m->log1, sizeof m->log1, "%s.1", m->log);
	if (i < argc) {
		if (argv[i][0] != '/')
			usage_error("the command to run afterwards must be an absolute path (got '%s')",
			            argv[i]);
		m->then = argv + i;
	}
}

/* Opens FILE for appending; with truncate, empties it (used when it could
 * not be renamed away, so that it stays bounded). */
static void open_log(struct monitor *m, int truncate)
{
	m->logfd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	                (truncate ? O_TRUNC : 0), 0640);
	struct stat st;
	m->logsize = (m->logfd >= 0 && fstat(m->logfd, &st) == 0) ? (long long)st.st_size : 0;
}

/* Appends to the log, filling it up to log_max, then renaming it to
 * FILE.1 and going on in a new FILE. Failures (a full disk) lose
 * output, never block the container. */
static void log_write(struct monitor *m, const char *buf, size_t len)
{
	while (len > 0) {
		if (m->logsize >= m->log_max) {
			if (m->logfd >= 0)
				close(m->logfd);
			open_log(m, rename(m->log, m->log1) < 0);
		}
		size_t room = (size_t)(m->log_max - m->logsize);
		size_t chunk = len < room ? len : room;
		ssize_t n = m->logfd >= 0 ? write(m->logfd, buf, chunk) : -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* lost: counted all the same, so that rotation
			 * still comes and may free room */
			n = (ssize_t)chunk;
		}
		buf += n;
		len -= (size_t)n;
		m->logsize += n;
	}
}

/* Copies what the pipe holds now; returns 0 at its end. */
static int pump(struct monitor *m)
{
	char buf[16384];
	ssize_t n = read(OUTPUT_FD, buf, sizeof buf);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return 0;
	log_write(m, buf, (size_t)n);
	return 1;
}

/* Reaps children other than PID that have ended (the process that exec'd
 * this program may have had others). Leaves PID alone: its zombie keeps
 * its number from being reused while TERM may still be sent to it. */
static void reap_others(pid_t pid)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid == 0 || si.si_pid == pid)
			return;
		waitpid(si.si_pid, NULL, 0);
	}
}

static void write_exit(struct monitor *m, const siginfo_t *si)
{
	char tmp[PATH_MAX], text[96];
	snprintf(tmp, sizeof tmp, "%s.tmp", m->exit_file);
	int killed = si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED;
	int len = snprintf(text, sizeof text, "%s %d\nfinished %lld\n",
	                   killed ? "signal" : "exit", si->si_status, (long long)time(NULL));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, text, (size_t)len) != len || close(fd) < 0 ||
	    rename(tmp, m->exit_file) < 0) {
		char msg[PATH_MAX + 64];
		int n = snprintf(msg, sizeof msg, "nsl-monitor: cannot write %s: %s\n",
		                 m->exit_file, strerror(errno));
		log_write(m, msg, (size_t)n);
	}
}

/* What the monitor needs before it watches: PID a child of its own, the
 * output descriptor open; signals set up (TERM and SIGCHLD through *sfd)
 * and a pidfd on PID. 0, or the exit status 2 after saying why. */
static int set_up(const struct monitor *m, int *sfd, int *pidfd)
{
	/* PID must be ours to wait for (children survive the exec that
	 * started this program); it may have ended already. */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		fprintf(stderr, "nsl-monitor: process %d is not a child of this process "
		                "(nsl-monitor must be exec'd by the parent of the process it watches)\n",
		        (int)m->pid);
		return 2;
	}
	if (fcntl(OUTPUT_FD, F_GETFD) < 0) {
		fprintf(stderr, "nsl-monitor: descriptor %d (the container's output) is not open\n",
		        OUTPUT_FD);
		return 2;
	}
	fcntl(OUTPUT_FD, F_SETFD, FD_CLOEXEC);

	/* Detached: a terminal's signals do not concern it; TERM is passed on
	 * to the container, whose end then ends the monitor. SIGCHLD must not
	 * be ignored (an inherited SIG_IGN would reap PID behind our back). */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigset_t used;
	sigemptyset(&used);
	sigaddset(&used, SIGTERM);
	sigaddset(&used, SIGCHLD);
	sigprocmask(SIG_BLOCK, &used, NULL);
	*sfd = signalfd(-1, &used, SFD_CLOEXEC | SFD_NONBLOCK);
	if (*sfd < 0) {
		fprintf(stderr, "nsl-monitor: signalfd: %s\n", strerror(errno));
		return 2;
	}
	*pidfd = (int)syscall(SYS_pidfd_open, m->pid, 0);
	if (*pidfd < 0) {
		fprintf(stderr, "nsl-monitor: pidfd_open %d: %s\n", (int)m->pid, strerror(errno));
		return 2;
	}
	return 0;
}

/* Copies the output until PID ends (TERM passed on, other children
 * reaped on the way); then what is left in the pipe, until a quiet
 * moment: processes of a container without a pid namespace may keep it
 * open. How PID ended goes to si. */
static void watch(struct monitor *m, int sfd, int pidfd, siginfo_t *si)
{
	int out_open = 1;
	for (;;) {
		struct pollfd p[3] = {
			{.fd = out_open ? OUTPUT_FD : -1, .events = POLLIN},
			{.fd = pidfd, .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && !pump(m))
			out_open = 0;
		if (p[2].revents) {
			struct signalfd_siginfo ssi;
			while (read(sfd, &ssi, sizeof ssi) == (ssize_t)sizeof ssi)
				if (ssi.ssi_signo == SIGTERM)
					kill(m->pid, SIGTERM);
			reap_others(m->pid);
		}
		if (p[1].revents)
			break;
	}
	memset(si, 0, sizeof *si);
	while (waitid(P_PID, (id_t)m->pid, si, WEXITED) < 0 && errno == EINTR)
		;
	while (out_open) {
		struct pollfd p = {.fd = OUTPUT_FD, .events = POLLIN};
		int r = poll(&p, 1, DRAIN_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || !pump(m))
			break;
	}
	close(OUTPUT_FD);
}

/* Execs THEN-ARGV with default signal handling; returns only on failure,
 * which goes to the log. A TERM that came after PID ended is still
 * pending: it is consumed, or unblocking would end this process before
 * the exec. */
static int exec_then(struct monitor *m, int sfd)
{
	struct signalfd_siginfo ssi;
	while (read(sfd, &ssi, sizeof ssi) == (ssize_t)sizeof ssi)
		;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* glibc refuses its own 32 and 33 */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(m->then[0], m->then);
	char msg[PATH_MAX + 64];
	int n = snprintf(msg, sizeof msg, "nsl-monitor: exec %s: %s\n", m->then[0], strerror(errno));
	open_log(m, 0);
	log_write(m, msg, (size_t)n);
	return 1;
}

int main(int argc, char **argv)
{
	struct monitor m;
	parse_args(&m, argc, argv);
	int sfd, pidfd;
	int status = set_up(&m, &sfd, &pidfd);
	if (status)
		return status;
	reap_others(m.pid); /* those that ended before the signalfd existed */
	open_log(&m, 0);
	if (m.logfd < 0)
		fprintf(stderr, "nsl-monitor: cannot open %s (output is lost until it can): %s\n",
		        m.log, strerror(errno));
	siginfo_t si;
	watch(&m, sfd, pidfd, &si);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	write_exit(&m, &si);
	if (m.logfd >= 0)
		close(m.logfd);
	if (!m.then)
		return 0;
	return exec_then(&m, sfd);
}
