/*
 * Running a plan (src/plan.h): each op's step as system calls, Lua-free,
 * as the cloned child runs it (nsl_plan_exec) or plan:run in the caller.
 * plan.c makes and checks plans.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "areas.h"

#include "plan.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- running (Lua-free: it runs in the child) ----------------------------- */


static int step_fail(struct plan_run *r, const struct step *st, const nsl_error *err)
{
	if (err->code)
		snprintf(r->msg, sizeof r->msg, "%s: %s: %s", st->name, err->what,
		         strerror(err->code));
	else
		snprintf(r->msg, sizeof r->msg, "%s: %s", st->name, err->what);
	return -1;
}

/* The step failed at a system call: errno explains it, fmt says what. */
static int __attribute__((format(printf, 3, 4)))
step_errno(struct plan_run *r, const struct step *st, const char *fmt, ...)
{
	int code = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err.what, sizeof r->err.what, fmt, ap);
	va_end(ap);
	r->err.code = code;
	return step_fail(r, st, &r->err);
}

/* A path of a step: relative ones are taken in the last resolved dir.
 * NULL (errno ENAMETOOLONG) when the result does not fit. */
static const char *join(const char *dir, const char *path, char *buf, size_t len)
{
	if (path[0] == '/')
		return path;
	if (path[0] == '\0')
		return dir;
	int n = snprintf(buf, len, "%s/%s", dir, path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

/* Every descriptor above 2 but skip stays open on exec. Read with
 * getdents64 into the stack, as the child must not allocate. */
static void keep_all_fds(int skip)
{
	char buf[4096];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			int fd = atoi(e->d_name);
			if (fd > 2 && fd != dir && fd != skip)
				fcntl(fd, F_SETFD, 0);
		}
	}
	close(dir);
}

static int do_exec(struct plan_run *r, const struct step *st)
{
	extern char **environ;
	const struct nsl_plan *p = r->plan;
	char **envp = st->envp ? st->envp : environ;
	const char *path = st->path;
	if (!path && !st->envp)
		path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;
	if (st->n[0]) {
		/* close_fds: nothing but 0-2 crosses the exec */
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			return step_errno(r, st, "exec %s: close_range", st->argv[0]);
	} else {
		/* every descriptor the child holds stays open, but the status pipe */
		keep_all_fds(p->status_fd);
	}
	int init_fd = (int)st->n[1];
	if (init_fd >= 0) {
		/* an init (nsl-init) execs the command and reports its exec on
		 * the status pipe; its own binary is no descriptor of the
		 * container's */
		if (p->status_fd >= 0)
			fcntl(p->status_fd, F_SETFD, 0);
		if (st->n[2] >= 0)
			fcntl((int)st->n[2], F_SETFD, 0);
		fcntl(init_fd, F_SETFD, FD_CLOEXEC);
	}
	if (r->shared) {
		/* A handler of the caller's would run on the caller's memory:
		 * the defaults the exec would give, before signals come in. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++) {
			struct sigaction cur;
			if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL &&
			    cur.sa_handler != SIG_IGN)
				sigaction(sig, &dfl, NULL);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the filters come last: nothing of the set-up above is bound by them */
	for (int i = 0; i < r->nfilters; i++)
		if (nsl_seccomp_load(r->filters[i]->s[0], (size_t)r->filters[i]->n[0], &r->err) < 0)
			return step_fail(r, st, &r->err);
	if (init_fd >= 0) {
		syscall(SYS_execveat, init_fd, "", st->argv, envp, AT_EMPTY_PATH);
		/* without execveat (Linux before 3.19, valgrind 3.19): the
		 * descriptor's magic link, where the container has a /proc */
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", init_fd);
		execve(self, st->argv, envp);
	} else
		nsl_exec_search(st->argv[0], st->argv, envp, path);
	int saved = errno;
	if (init_fd >= 0 && p->status_fd >= 0)
		fcntl(p->status_fd, F_SETFD, FD_CLOEXEC);
	/* no step name here: the message is nsl.exec's, "exec X: reason" */
	snprintf(r->msg, sizeof r->msg, "exec %s: %s", st->argv[0], strerror(saved));
	return saved == ENOENT ? 127 : 126;
}

/* Has the caller, the reader of the plan's status pipe, gone? A pipe
 * with no reader left polls POLLERR at its write end. In a new pid
 * namespace getppid() is 0 whoever the parent is, so the pipe is what
 * tells. Without a status pipe nothing can be told: 0. */
static int caller_gone(const struct nsl_plan *p)
{
	if (p->status_fd < 0)
		return 0;
	struct pollfd pfd = {.fd = p->status_fd, .events = POLLOUT};
	return NSL_RETRY(poll(&pfd, 1, 0)) == 1 && (pfd.revents & (POLLERR | POLLNVAL)) != 0;
}

/* The init is a copy of the caller: its command line and environment
 * would be the caller's (`nsl run SCRIPT ARGS`, /proc/1/cmdline inside).
 * The areas were read in the caller, whose copy the init is (same
 * addresses). The command line becomes "nsl-init" before the fork, so
 * that the command never sees the caller's (a last byte that is not NUL
 * makes the kernel show the area up to its first NUL, setproctitle's
 * convention); the environment is wiped after, in the init only, as the
 * child may still read it. */
static void init_title(const struct nsl_plan *p)
{
	static const char name[] = "nsl-init";
	char *arg = (char *)p->title[0];
	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (!arg || p->title[1] < p->title[0] + 2)
		return;
	size_t len = p->title[1] - p->title[0];
	memset(arg, 0, len);
	memcpy(arg, name, len - 2 < sizeof name - 1 ? len - 2 : sizeof name - 1);
	arg[len - 1] = ' ';
}

static void init_wipe_environ(const struct nsl_plan *p)
{
	if (p->title[2] && p->title[3] > p->title[2])
		memset((char *)p->title[2], 0, p->title[3] - p->title[2]);
}

/* The init step: the rest of the plan runs in a child of this process,
 * which stays as PID 1, forwards signals, reaps orphans and exits with
 * the command's status; the kernel then kills whatever is left in its
 * pid namespace. Returns 0 in the child.
 * The init ends with its caller whatever the command does to its own
 * credentials (a change of uid or gid clears the command's parent-death
 * signal): the init's own is armed again here, as a step before (a setup
 * hook) may have changed credentials too, and a caller that died before
 * that is seen on the status pipe. */
static int do_init(struct plan_run *r, const struct step *st)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return step_errno(r, st, "parent-death signal");
	if (caller_gone(r->plan))
		_exit(1);
	char comm[16] = "";
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	init_title(r->plan);
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return step_errno(r, st, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(1);
		prctl(PR_SET_NAME, comm, 0, 0, 0); /* the command's until its exec */
		return 0;
	}
	init_wipe_environ(r->plan);
	if (r->plan->status_fd >= 0)
		close(r->plan->status_fd);
	close_range(3, ~0U, 0);
	int status;
	if (nsl_supervise(pid, &status) < 0)
		_exit(1);
	_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

/* ---- the run of each op: 0, or -1 with the message in r->msg (an exec
 * returns the status to exit with) ------------------------------------------ */

typedef int run_fn(struct plan_run *r, const struct step *st);

static int run_umask(struct plan_run *r, const struct step *st)
{
	umask((mode_t)st->n[0]);
	return 0;
}

static int run_setsid(struct plan_run *r, const struct step *st)
{
	return setsid() < 0 ? step_errno(r, st, "setsid") : 0;
}

static int run_keyring(struct plan_run *r, const struct step *st)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		return step_errno(r, st, "session keyring");
	return 0;
}

static int run_dumpable_off(struct plan_run *r, const struct step *st)
{
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? step_errno(r, st, "dumpable") : 0;
}

static int run_no_forward(struct plan_run *r, const struct step *st)
{
	nsl_forward_reset();
	return 0;
}

static int run_close(struct plan_run *r, const struct step *st)
{
	close((int)st->n[0]);
	return 0;
}

static int run_dup2(struct plan_run *r, const struct step *st)
{
	if (dup2((int)st->n[0], (int)st->n[1]) < 0)
		return step_errno(r, st, "dup2 %d %d", (int)st->n[0], (int)st->n[1]);
	return 0;
}

static int run_mount(struct plan_run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[1], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "mount %s", st->s[1]);
	if (nsl_mount(st->s[0], path, st->s[2], st->mflags, st->s[3], &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

static int run_setns(struct plan_run *r, const struct step *st)
{
	if (setns((int)st->n[0], 0) < 0)
		return step_errno(r, st, "setns %d", (int)st->n[0]);
	close((int)st->n[0]);
	return 0;
}

static int run_cgroup(struct plan_run *r, const struct step *st)
{
	char buf[PATH_MAX];
	/* "0": the writer itself, on cgroup v1 and v2 alike */
	int n = snprintf(buf, sizeof buf, "%s/cgroup.procs", st->s[0]);
	if (n < 0 || (size_t)n >= sizeof buf)
		errno = ENAMETOOLONG;
	else if (nsl_write_file(buf, "0", 1, &r->err) == 0)
		return 0;
	else
		errno = r->err.code;
	return step_errno(r, st, "joining %s", st->s[0]);
}

static int run_unshare(struct plan_run *r, const struct step *st)
{
	return unshare((int)st->n[0]) < 0 ? step_errno(r, st, "unshare") : 0;
}

static int run_refuse_symlink(struct plan_run *r, const struct step *st)
{
	struct stat sb;
	if (lstat(st->s[0], &sb) == 0 && S_ISLNK(sb.st_mode)) {
		nsl_fail(&r->err, 0, "%s", st->s[1]);
		return step_fail(r, st, &r->err);
	}
	return 0;
}

static int run_resolve(struct plan_run *r, const struct step *st)
{
	if (nsl_resolve_path(st->s[0], st->s[1], (int)st->n[0], r->dir, sizeof r->dir,
	                     &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

static int run_touch(struct plan_run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[0], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "touch %s", st->s[0]);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, (mode_t)st->n[0]);
	if (fd < 0)
		return step_errno(r, st, "touch %s", path);
	close(fd);
	return 0;
}

static int run_mkdir(struct plan_run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[0], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "mkdir %s", st->s[0]);
	return mkdir(path, (mode_t)st->n[0]) < 0 ? step_errno(r, st, "mkdir %s", path) : 0;
}

static int run_symlink(struct plan_run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[1], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "symlink %s", st->s[1]);
	return symlink(st->s[0], path) < 0 ? step_errno(r, st, "symlink %s", path) : 0;
}

static int run_hostname(struct plan_run *r, const struct step *st)
{
	if (sethostname(st->s[0], strlen(st->s[0])) < 0)
		return step_errno(r, st, "sethostname %s", st->s[0]);
	return 0;
}

static int run_lo_up(struct plan_run *r, const struct step *st)
{
	return nsl_loopback_up(&r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_pivot_root(struct plan_run *r, const struct step *st)
{
	return nsl_pivot_root(st->s[0], NULL, &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_chroot(struct plan_run *r, const struct step *st)
{
	if (chroot(st->s[0]) < 0)
		return step_errno(r, st, "chroot %s", st->s[0]);
	if (chdir("/") < 0)
		return step_errno(r, st, "chroot %s: chdir /", st->s[0]);
	return 0;
}

/* A directory is covered by an empty read-only tmpfs, a file by
 * /dev/null; what is missing or a symlink is left alone. */
static int run_mask(struct plan_run *r, const struct step *st)
{
	struct stat sb;
	if (lstat(st->s[0], &sb) < 0 || S_ISLNK(sb.st_mode))
		return 0;
	if (S_ISDIR(sb.st_mode))
		return nsl_mount("tmpfs", st->s[0], "tmpfs",
		                 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		                 "size=4k,mode=0555", &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
	return nsl_mount("/dev/null", st->s[0], NULL, MS_BIND, NULL, &r->err) < 0
	       ? step_fail(r, st, &r->err) : 0;
}

static int run_readonly(struct plan_run *r, const struct step *st)
{
	struct stat sb;
	if (lstat(st->s[0], &sb) < 0)
		return 0;
	return nsl_mount(st->s[0], st->s[0], NULL,
	                 MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
	                 NULL, &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_rlimit(struct plan_run *r, const struct step *st)
{
	struct rlimit rl = {(rlim_t)st->n[1], (rlim_t)st->n[2]};
	if (setrlimit((int)st->n[0], &rl) < 0)
		return step_errno(r, st, "setrlimit %s", st->s[0]);
	return 0;
}

static int run_chdir(struct plan_run *r, const struct step *st)
{
	if (st->n[0]) {
		nsl_autoclose int fd = nsl_resolve_fd("/", st->s[0], 0, &r->err);
		if (fd < 0)
			return step_fail(r, st, &r->err);
		if (fchdir(fd) < 0)
			return step_errno(r, st, "chdir %s", st->s[0]);
		return 0;
	}
	return chdir(st->s[0]) < 0 ? step_errno(r, st, "chdir %s", st->s[0]) : 0;
}

static int run_caps(struct plan_run *r, const struct step *st)
{
	return nsl_caps_limit((nsl_capset)st->n[0], &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_nnp(struct plan_run *r, const struct step *st)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return step_errno(r, st, "no_new_privs");
	return 0;
}

static int run_ids(struct plan_run *r, const struct step *st)
{
	if (nsl_setids((uid_t)st->n[0], (gid_t)st->n[1], &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

static int run_seccomp(struct plan_run *r, const struct step *st)
{
	if (st->n[1]) {
		if (r->nfilters == (int)(sizeof r->filters / sizeof *r->filters))
			return step_errno(r, st, "seccomp: too many filters");
		r->filters[r->nfilters++] = st;
		return 0;
	}
	if (nsl_seccomp_load(st->s[0], (size_t)st->n[0], &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

/* The landlock steps: a ruleset, its rules, then restrict (which closes
 * it); a failure on the way closes it too. */
static int run_landlock(struct plan_run *r, const struct step *st)
{
	int rc = 0;
	switch (st->op) {
	case OP_LANDLOCK:
		if (r->landlock >= 0)
			close(r->landlock);
		r->landlock = nsl_landlock_create((unsigned long long)st->n[0],
		                                  (unsigned long long)st->n[1], &r->err);
		return r->landlock < 0 ? step_fail(r, st, &r->err) : 0;
	case OP_LANDLOCK_PATH:
		rc = nsl_landlock_add_path(r->landlock, (unsigned long long)st->n[0], st->s[0], &r->err);
		break;
	case OP_LANDLOCK_PORT:
		rc = nsl_landlock_add_port(r->landlock, (unsigned long long)st->n[0],
		                           (unsigned long long)st->n[1], &r->err);
		break;
	default:
		rc = nsl_landlock_restrict(r->landlock, &r->err);
		r->landlock = -1;
	}
	if (rc < 0) {
		if (r->landlock >= 0)
			close(r->landlock);
		r->landlock = -1;
		return step_fail(r, st, &r->err);
	}
	return 0;
}

static int run_ready(struct plan_run *r, const struct step *st)
{
	const struct nsl_plan *p = r->plan;
	char go = 0;
	if (p->status_fd >= 0 && NSL_RETRY(write(p->status_fd, "R", 1)) != 1)
		_exit(1); /* the caller is gone */
	if (p->go_fd >= 0) {
		if (NSL_RETRY(read(p->go_fd, &go, 1)) != 1 || go != 'G')
			_exit(1); /* the caller gave up */
		close(p->go_fd);
	}
	return 0;
}

static run_fn *const op_run[OP_COUNT] = {
	[OP_UMASK] = run_umask,
	[OP_SETSID] = run_setsid,
	[OP_KEYRING] = run_keyring,
	[OP_DUMPABLE_OFF] = run_dumpable_off,
	[OP_NO_FORWARD] = run_no_forward,
	[OP_CLOSE] = run_close,
	[OP_DUP2] = run_dup2,
	[OP_MOUNT] = run_mount,
	[OP_RESOLVE] = run_resolve,
	[OP_TOUCH] = run_touch,
	[OP_MKDIR] = run_mkdir,
	[OP_SYMLINK] = run_symlink,
	[OP_HOSTNAME] = run_hostname,
	[OP_LO_UP] = run_lo_up,
	[OP_PIVOT_ROOT] = run_pivot_root,
	[OP_CHROOT] = run_chroot,
	[OP_MASK] = run_mask,
	[OP_READONLY] = run_readonly,
	[OP_RLIMIT] = run_rlimit,
	[OP_CHDIR] = run_chdir,
	[OP_CAPS] = run_caps,
	[OP_NNP] = run_nnp,
	[OP_READY] = run_ready,
	[OP_INIT] = do_init,
	[OP_EXEC] = do_exec,
	[OP_REFUSE_SYMLINK] = run_refuse_symlink,
	[OP_SETNS] = run_setns,
	[OP_CGROUP] = run_cgroup,
	[OP_UNSHARE] = run_unshare,
	[OP_SECCOMP] = run_seccomp,
	[OP_IDS] = run_ids,
	[OP_LANDLOCK] = run_landlock,
	[OP_LANDLOCK_PATH] = run_landlock,
	[OP_LANDLOCK_PORT] = run_landlock,
	[OP_LANDLOCK_RESTRICT] = run_landlock,
};

/* Runs steps from..to (0-based, inclusive); 0 when all went well, else
 * the exit status the child should end with, the message in r->msg
 * and, "E"-prefixed, on the status descriptor. */
int nsl_plan_run_steps(struct plan_run *r, size_t from, size_t to)
{
	int failed = 0;
	for (size_t i = from; i <= to && i < r->plan->n; i++) {
		const struct step *st = &r->plan->steps[i];
		if ((st->flags & STEP_OTHERWISE) && !failed)
			continue;
		int rc = op_run[st->op](r, st);
		failed = rc != 0;
		if (rc != 0 && !(st->flags & STEP_TRY)) {
			int status = rc > 0 ? rc : 1;
			if (r->plan->status_fd >= 0) {
				char out[sizeof r->msg + 1];
				int len = snprintf(out, sizeof out, "E%s", r->msg);
				if (NSL_RETRY(write(r->plan->status_fd, out, (size_t)len))) {}
			}
			return status;
		}
	}
	return 0;
}

int nsl_plan_runs_through(const struct nsl_plan *plan)
{
	if (plan->go_fd >= 0)
		return 0;
	for (size_t i = 0; i < plan->n; i++)
		if (plan->steps[i].op == OP_INIT)
			return 0;
	return 1;
}

int nsl_plan_exec(const struct nsl_plan *plan, int shared)
{
	static struct plan_run r; /* static keeps it off the child's stack */
	r.plan = plan;
	r.shared = shared;
	r.dir[0] = '\0';
	r.landlock = -1;
	r.nfilters = 0;
	return nsl_plan_run_steps(&r, 0, plan->n ? plan->n - 1 : 0);
}

