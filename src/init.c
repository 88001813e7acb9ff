/*
 * nsl-init: a container's PID 1, when its command runs under an init
 * (the default with a pid namespace).
 *
 *   nsl-init [-d] [-s FD] [-f FD] -- COMMAND [ARG...]
 *
 * The container's set-up (src/plan.c) execs this program as its last
 * step, with the command's environment, from a descriptor opened on the
 * host: it need not be in the container's root. It forks the command
 * (searched in the environment's PATH), forwards TERM, INT, HUP, QUIT,
 * USR1, USR2 and WINCH to it, reaps every orphan, and exits with the
 * command's status (128 + N for a signal N); the kernel then kills
 * whatever is left in the pid namespace.
 *
 * It ends with the process that started the container: its parent-death
 * signal is armed again here (a change of credentials on the way clears
 * it), and a caller already gone shows on the status pipe (FD, -s: no
 * reader left), which also carries "E<message>" when the command cannot
 * be executed. -d: not dumpable (run by root: the container must not
 * open the host's binary through /proc/1/exe).
 *
 * -f FD: seccomp filter programs to install in the command's process
 * just before its exec (each a 32-bit length in bytes, then the bytes of
 * its struct sock_filter array), read and closed at the start. The init
 * itself stays unfiltered, so that a policy need not allow what an init
 * does: it makes no call on the container's behalf, and the filter keeps
 * the container's processes from tracing it.
 *
 * A separate, static program rather than a copy of the caller: the
 * container's code could otherwise read the caller's memory through
 * /proc/1/mem (it may, rootless, as the init is then its own user's),
 * and an exec of a small static binary costs less than a fork.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define NFORWARDED (int)(sizeof forwarded / sizeof forwarded[0])

static volatile sig_atomic_t command_pid;

static void forward(int sig)
{
	if (command_pid > 0)
		kill((pid_t)command_pid, sig);
}

/* execve of file, searched in path when it has no '/', as a shell does:
 * returns only on failure, errno set (EACCES if some candidate was not
 * executable, else the last error). */
static void exec_search(const char *file, char **argv)
{
	extern char **environ;
	if (strchr(file, '/')) {
		execve(file, argv, environ);
		return;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;
	int denied = 0;
	char buf[PATH_MAX];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)(end - p), p,
		                 end > p ? "/" : "", file);
		if (n > 0 && (size_t)n < sizeof buf) {
			execve(buf, argv, environ);
			if (errno == EACCES)
				denied = 1;
		}
		if (!*end)
			break;
		p = end;
	}
	errno = denied ? EACCES : ENOENT;
}

/* The filter programs of -f: at most MAX_FILTERS, 4096 instructions each. */
#define MAX_FILTERS 4
static struct sock_filter filters[MAX_FILTERS][BPF_MAXINSNS];
static unsigned short filter_len[MAX_FILTERS];
static int nfilters;

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Reads the programs of -f; 0, or -1 on a malformed stream. */
static int read_filters(int fd)
{
	uint32_t len;
	int rc = 0;
	while (rc == 0 && read_full(fd, &len, sizeof len) == 0) {
		if (nfilters == MAX_FILTERS || len == 0 || len % sizeof(struct sock_filter) ||
		    len / sizeof(struct sock_filter) > BPF_MAXINSNS ||
		    read_full(fd, filters[nfilters], len) < 0)
			rc = -1;
		else
			filter_len[nfilters++] = (unsigned short)(len / sizeof(struct sock_filter));
	}
	close(fd);
	return rc;
}

static int install_filters(void)
{
	for (int i = 0; i < nfilters; i++) {
		struct sock_fprog prog = {.len = filter_len[i], .filter = filters[i]};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			return -1;
	}
	return 0;
}

static void report_as(int fd, const char *what, const char *file, int err)
{
	char msg[PATH_MAX + 128];
	int n = snprintf(msg, sizeof msg, "E%s %s: %s", what, file, strerror(err));
	if (fd >= 0 && n > 0 && write(fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) {}
}

static void report(int fd, const char *file, int err)
{
	report_as(fd, "exec", file, err);
}

/* The command's side of the fork: the signals as it would have them,
 * the status pipe closed at its exec, which reports a failure on it. */
static void run_command(char **command, int status_fd, pid_t init, const sigset_t *mask)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != init)
		_exit(1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	if (status_fd >= 0)
		fcntl(status_fd, F_SETFD, FD_CLOEXEC);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (install_filters() < 0) {
		report_as(status_fd, "seccomp filter for", command[0], errno);
		_exit(126);
	}
	exec_search(command[0], command);
	int err = errno;
	report(status_fd, command[0], err);
	_exit(err == ENOENT ? 127 : 126);
}

/* PID 1's life once the command runs: signals passed on, every child
 * reaped; the command's status, as a shell gives it. */
static int supervise(pid_t pid, const sigset_t *mask)
{
	command_pid = pid;
	sigset_t forward_only = *mask;
	for (int i = 0; i < NFORWARDED; i++)
		sigdelset(&forward_only, forwarded[i]);
	sigprocmask(SIG_SETMASK, &forward_only, NULL);
	for (;;) {
		int status;
		pid_t r = waitpid(-1, &status, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 1;
		if (r == pid)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: nsl-init [-d] [-s FD] [-f FD] -- COMMAND [ARG...]\n");
	return 125;
}

int main(int argc, char **argv)
{
	int status_fd = -1, filter_fd = -1, opt;
	/* first of all: no window in which the container could open it */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-d") == 0)
			prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* executed from a memfd, the name would be "memfd:nsl-init" */
	prctl(PR_SET_NAME, "nsl-init", 0, 0, 0);
	while ((opt = getopt(argc, argv, "+ds:f:")) != -1) {
		if (opt == 's')
			status_fd = atoi(optarg);
		else if (opt == 'f')
			filter_fd = atoi(optarg);
		else if (opt != 'd')
			return usage();
	}
	if (optind >= argc)
		return usage();
	char **command = argv + optind;
	if (filter_fd >= 0 && read_filters(filter_fd) < 0) {
		report_as(status_fd, "seccomp filter for", command[0], EINVAL);
		return 126;
	}

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (status_fd >= 0) {
		struct pollfd pfd = {.fd = status_fd, .events = POLLOUT};
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLNVAL)))
			return 1; /* the caller is gone already */
	}
	/* Signals that arrive before the command runs are held, then passed
	 * on; the command starts with the mask and handlers it would have. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		report(status_fd, command[0], errno);
		return 126;
	}
	if (pid == 0)
		run_command(command, status_fd, self, &old);
	if (status_fd >= 0)
		close(status_fd);
	return supervise(pid, &old);
}
