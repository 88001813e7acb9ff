/*
 * Plans: a container's set-up as a list of steps, checked in the caller
 * and run in C by the cloned child.
 *
 * nsl.container builds the plan of a start in Lua (mounts, /dev, the
 * root, hostname, capabilities, the command) and hands it to nsl.clone
 * instead of a function: the child then runs every step here and execs,
 * without entering the interpreter again. That keeps the child off the
 * caller's Lua heap (no copy-on-write of pages the collector or the
 * interpreter would touch) and is the short path of a container start.
 * A plan can also be run piece by piece from Lua (plan:run(from, to)),
 * for starts with a Lua function in them (setup, a function command).
 *
 * Everything is checked when the plan is made; running it only calls the
 * kernel. A failing step stops the run: its message, "<step>: <what>:
 * <reason>" as the Lua wrappers word it, goes to the plan's status
 * descriptor prefixed with "E", and the child exits 1 (126 or 127 when
 * the exec failed, as a shell does).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PLAN_MAX_STEPS 4096

enum op {
	OP_UMASK, OP_SETSID, OP_KEYRING, OP_DUMPABLE_OFF, OP_NO_FORWARD,
	OP_CLOSE, OP_DUP2, OP_MOUNT, OP_RESOLVE, OP_TOUCH, OP_MKDIR,
	OP_SYMLINK, OP_HOSTNAME, OP_LO_UP, OP_PIVOT_ROOT, OP_CHROOT, OP_MASK,
	OP_READONLY, OP_RLIMIT, OP_CHDIR, OP_CAPS, OP_NNP, OP_READY, OP_INIT,
	OP_EXEC, OP_REFUSE_SYMLINK, OP_SETNS, OP_CGROUP, OP_UNSHARE,
	OP_COUNT
};

/* Step flags: a fallback is a "try" step followed by an "otherwise" one. */
#define STEP_TRY 1       /* a failure goes on to the next step */
#define STEP_OTHERWISE 2 /* runs only when the previous step failed */

struct step {
	unsigned char op, flags;
	const char *name;          /* shown in errors: "mount /proc" */
	const char *s[5];          /* strings (NULL: absent) */
	long long n[3];            /* numbers */
	unsigned long mflags;      /* mount flags */
	char **argv, **envp;       /* exec; envp NULL: the caller's */
	const char *path;          /* exec: PATH searched */
};

struct nsl_plan {
	int status_fd, go_fd;
	unsigned long title[4];  /* init: the caller's argv and environ areas */
	size_t n;
	struct step steps[];
};

/* ---- running (Lua-free: it runs in the child) ----------------------------- */

struct run {
	const struct nsl_plan *plan;
	int shared;          /* the child shares the caller's memory (clone.c) */
	char dir[PATH_MAX];  /* what the last resolve step gave */
	char msg[768];
	nsl_error err;
};

static int step_fail(struct run *r, const struct step *st, const nsl_error *err)
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
step_errno(struct run *r, const struct step *st, const char *fmt, ...)
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

static int do_exec(struct run *r, const struct step *st)
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
static int do_init(struct run *r, const struct step *st)
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

typedef int run_fn(struct run *r, const struct step *st);

static int run_umask(struct run *r, const struct step *st)
{
	umask((mode_t)st->n[0]);
	return 0;
}

static int run_setsid(struct run *r, const struct step *st)
{
	return setsid() < 0 ? step_errno(r, st, "setsid") : 0;
}

static int run_keyring(struct run *r, const struct step *st)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		return step_errno(r, st, "session keyring");
	return 0;
}

static int run_dumpable_off(struct run *r, const struct step *st)
{
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? step_errno(r, st, "dumpable") : 0;
}

static int run_no_forward(struct run *r, const struct step *st)
{
	nsl_forward_reset();
	return 0;
}

static int run_close(struct run *r, const struct step *st)
{
	close((int)st->n[0]);
	return 0;
}

static int run_dup2(struct run *r, const struct step *st)
{
	if (dup2((int)st->n[0], (int)st->n[1]) < 0)
		return step_errno(r, st, "dup2 %d %d", (int)st->n[0], (int)st->n[1]);
	return 0;
}

static int run_mount(struct run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[1], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "mount %s", st->s[1]);
	if (nsl_mount(st->s[0], path, st->s[2], st->mflags, st->s[3], &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

static int run_setns(struct run *r, const struct step *st)
{
	if (setns((int)st->n[0], 0) < 0)
		return step_errno(r, st, "setns %d", (int)st->n[0]);
	close((int)st->n[0]);
	return 0;
}

static int run_cgroup(struct run *r, const struct step *st)
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

static int run_unshare(struct run *r, const struct step *st)
{
	return unshare((int)st->n[0]) < 0 ? step_errno(r, st, "unshare") : 0;
}

static int run_refuse_symlink(struct run *r, const struct step *st)
{
	struct stat sb;
	if (lstat(st->s[0], &sb) == 0 && S_ISLNK(sb.st_mode)) {
		nsl_fail(&r->err, 0, "%s", st->s[1]);
		return step_fail(r, st, &r->err);
	}
	return 0;
}

static int run_resolve(struct run *r, const struct step *st)
{
	if (nsl_resolve_path(st->s[0], st->s[1], (int)st->n[0], r->dir, sizeof r->dir,
	                     &r->err) < 0)
		return step_fail(r, st, &r->err);
	return 0;
}

static int run_touch(struct run *r, const struct step *st)
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

static int run_mkdir(struct run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[0], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "mkdir %s", st->s[0]);
	return mkdir(path, (mode_t)st->n[0]) < 0 ? step_errno(r, st, "mkdir %s", path) : 0;
}

static int run_symlink(struct run *r, const struct step *st)
{
	char buf[PATH_MAX];
	const char *path = join(r->dir, st->s[1], buf, sizeof buf);
	if (!path)
		return step_errno(r, st, "symlink %s", st->s[1]);
	return symlink(st->s[0], path) < 0 ? step_errno(r, st, "symlink %s", path) : 0;
}

static int run_hostname(struct run *r, const struct step *st)
{
	if (sethostname(st->s[0], strlen(st->s[0])) < 0)
		return step_errno(r, st, "sethostname %s", st->s[0]);
	return 0;
}

static int run_lo_up(struct run *r, const struct step *st)
{
	return nsl_loopback_up(&r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_pivot_root(struct run *r, const struct step *st)
{
	return nsl_pivot_root(st->s[0], NULL, &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_chroot(struct run *r, const struct step *st)
{
	if (chroot(st->s[0]) < 0)
		return step_errno(r, st, "chroot %s", st->s[0]);
	if (chdir("/") < 0)
		return step_errno(r, st, "chroot %s: chdir /", st->s[0]);
	return 0;
}

/* A directory is covered by an empty read-only tmpfs, a file by
 * /dev/null; what is missing or a symlink is left alone. */
static int run_mask(struct run *r, const struct step *st)
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

static int run_readonly(struct run *r, const struct step *st)
{
	struct stat sb;
	if (lstat(st->s[0], &sb) < 0)
		return 0;
	return nsl_mount(st->s[0], st->s[0], NULL,
	                 MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
	                 NULL, &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_rlimit(struct run *r, const struct step *st)
{
	struct rlimit rl = {(rlim_t)st->n[1], (rlim_t)st->n[2]};
	if (setrlimit((int)st->n[0], &rl) < 0)
		return step_errno(r, st, "setrlimit %s", st->s[0]);
	return 0;
}

static int run_chdir(struct run *r, const struct step *st)
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

static int run_caps(struct run *r, const struct step *st)
{
	return nsl_caps_limit((nsl_capset)st->n[0], &r->err) < 0 ? step_fail(r, st, &r->err) : 0;
}

static int run_nnp(struct run *r, const struct step *st)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return step_errno(r, st, "no_new_privs");
	return 0;
}

static int run_ready(struct run *r, const struct step *st)
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
};

/* Runs steps from..to (0-based, inclusive); 0 when all went well, else
 * the exit status the child should end with, the message in r->msg
 * and, "E"-prefixed, on the status descriptor. */
static int run_steps(struct run *r, size_t from, size_t to)
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
	static struct run r; /* static keeps it off the child's stack */
	r.plan = plan;
	r.shared = shared;
	r.dir[0] = '\0';
	return run_steps(&r, 0, plan->n ? plan->n - 1 : 0);
}

/* ---- making a plan (in the caller, under Lua) --------------------------------- */

/* Where the caller's argv and environ strings lie: fields 48 to 51 of
 * /proc/self/stat (Linux 3.5); zeroes when they cannot be read. */
static void read_title_areas(unsigned long area[4])
{
	char buf[1024];
	memset(area, 0, 4 * sizeof area[0]);
	nsl_autoclose int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	long n = NSL_RETRY(read(fd, buf, sizeof buf - 1));
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *s = strrchr(buf, ')'); /* the name before it may hold anything */
	if (!s)
		return;
	unsigned long v[4];
	int field = 2; /* the name */
	char *save = NULL;
	for (char *t = strtok_r(s + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		field++;
		if (field >= 48 && field <= 51)
			v[field - 48] = strtoul(t, NULL, 10);
		if (field == 51) {
			memcpy(area, v, sizeof v);
			return;
		}
	}
}

#define PLAN_MT "nsl.plan"

const struct nsl_plan *nsl_toplan(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, PLAN_MT);
}

static int l_plan_run(lua_State *L);
static int l_plan_len(lua_State *L);

/* A string argument of a step; false or nil mean absent when optional. */
static const char *step_string(lua_State *L, int t, lua_Integer i, int optional,
                               lua_Integer k)
{
	int ty = lua_geti(L, t, k);
	if (optional && (ty == LUA_TNIL || (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)))) {
		lua_pop(L, 1);
		return NULL;
	}
	size_t len;
	if (ty != LUA_TSTRING)
		luaL_error(L, "plan: step %I: argument %I must be a string (got %s)", i, k - 2,
		           luaL_typename(L, -1));
	const char *s = lua_tolstring(L, -1, &len);
	if (strlen(s) != len || len >= PATH_MAX)
		luaL_error(L, "plan: step %I: argument %I contains a NUL byte or is too long", i, k - 2);
	lua_pop(L, 1); /* the step table keeps it alive, and the plan keeps the table */
	return s;
}

static long long step_int(lua_State *L, int t, lua_Integer i, lua_Integer k,
                          long long min, long long max)
{
	int isnum;
	lua_geti(L, t, k);
	lua_Integer v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || v < min || v > max)
		luaL_error(L, "plan: step %I: argument %I must be an integer from %I to %I", i, k - 2,
		           (lua_Integer)min, (lua_Integer)max);
	lua_pop(L, 1);
	return v;
}

static int step_bool(lua_State *L, int t, lua_Integer k)
{
	lua_geti(L, t, k);
	int b = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return b;
}

static long long step_rlim(lua_State *L, int t, lua_Integer i, lua_Integer k)
{
	int ty = lua_geti(L, t, k);
	if ((ty == LUA_TSTRING && strcmp(lua_tostring(L, -1), "unlimited") == 0) ||
	    (ty == LUA_TNUMBER && !lua_isinteger(L, -1) && lua_tonumber(L, -1) == HUGE_VAL)) {
		lua_pop(L, 1);
		return (long long)RLIM_INFINITY;
	}
	lua_pop(L, 1);
	return step_int(L, t, i, k, 0, LUA_MAXINTEGER);
}

/* A NULL-terminated array in a userdata kept in the plan's extras table. */
static char **plan_strv(lua_State *L, int extras, size_t n)
{
	char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
	v[n] = NULL;
	lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
	return v;
}

static void check_exec(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	if (lua_geti(L, t, 3) != LUA_TTABLE)
		luaL_error(L, "plan: step %I: argv must be a table", i);
	int a = lua_gettop(L);
	lua_Integer n = luaL_len(L, a);
	if (n < 1 || n > 65536)
		luaL_error(L, "plan: step %I: argv must have 1 to 65536 strings", i);
	st->argv = plan_strv(L, extras, (size_t)n);
	for (lua_Integer j = 1; j <= n; j++) {
		st->argv[j - 1] = (char *)step_string(L, a, i, 0, j);
		/* the argv table is kept in extras, so the strings live on */
	}
	lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
	if (lua_geti(L, t, 4) == LUA_TTABLE) {
		int e = lua_gettop(L);
		size_t count = 0;
		lua_pushnil(L);
		while (lua_next(L, e)) {
			lua_pop(L, 1);
			count++;
		}
		st->envp = plan_strv(L, extras, count);
		size_t k = 0;
		lua_pushnil(L);
		while (lua_next(L, e)) {
			size_t klen, vlen;
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
				luaL_error(L, "plan: step %I: env must map names to strings", i);
			const char *key = lua_tolstring(L, -2, &klen);
			const char *val = lua_tolstring(L, -1, &vlen);
			if (klen == 0 || strlen(key) != klen || strchr(key, '=') || strlen(val) != vlen)
				luaL_error(L, "plan: step %I: env.%s is not a valid variable", i, key);
			lua_pushfstring(L, "%s=%s", key, val);
			st->envp[k++] = (char *)lua_tostring(L, -1);
			if (strcmp(key, "PATH") == 0)
				st->path = st->envp[k - 1] + 5;
			lua_rawseti(L, extras, (lua_Integer)lua_rawlen(L, extras) + 1);
			lua_pop(L, 1);
		}
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "plan: step %I: env must be a table or nil", i);
	}
	lua_pop(L, 1);
	st->n[0] = step_bool(L, t, 5);
	st->n[1] = -1;
	if (lua_geti(L, t, 6) != LUA_TNIL) {
		int isnum;
		lua_Integer fd = lua_tointegerx(L, -1, &isnum);
		if (!isnum || fd < 0 || fd > INT_MAX)
			luaL_error(L, "plan: step %I: the init's descriptor must be a non-negative integer", i);
		st->n[1] = fd;
	}
	lua_pop(L, 1);
}

/* Element k of step i, one of names; its index. */
static int step_choice(lua_State *L, int t, lua_Integer i, lua_Integer k,
                       const char *const names[], const char *what)
{
	lua_geti(L, t, k);
	const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	for (int j = 0; v && names[j]; j++)
		if (strcmp(names[j], v) == 0) {
			lua_pop(L, 1);
			return j;
		}
	return luaL_error(L, "plan: step %I: unknown %s '%s'", i, what,
	                  v ? v : luaL_typename(L, -1));
}

/* ---- the check of each op's arguments, in the step table at t --------------- */

typedef void check_fn(lua_State *L, int t, lua_Integer i, int extras, struct step *st);

static void check_umask(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, 0777);
}

/* close fd, setns fd */
static void check_fd(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, INT_MAX);
}

static void check_dup2(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, 0, INT_MAX);
	st->n[1] = step_int(L, t, i, 4, 0, INT_MAX);
}

static void check_mount(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 1, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
	st->s[2] = step_string(L, t, i, 1, 5);
	lua_geti(L, t, 6);
	st->mflags = nsl_checkflags(L, lua_gettop(L), nsl_mount_flags, "mount flag");
	lua_pop(L, 1);
	st->s[3] = step_string(L, t, i, 1, 7);
}

static const char *const kinds[] = {"dir", "file", NULL};

static void check_resolve(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
	if (lua_geti(L, t, 5) == LUA_TNIL || (lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
		st->n[0] = 0;
	else
		st->n[0] = "df"[step_choice(L, t, i, 5, kinds, "create")];
	lua_pop(L, 1);
}

/* touch path mode, mkdir path mode */
static void check_path_mode(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = step_int(L, t, i, 4, 0, 07777);
}

/* symlink target path, refuse_symlink path message */
static void check_two_strings(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->s[1] = step_string(L, t, i, 0, 4);
}

/* hostname, pivot_root, chroot, mask, readonly: one string */
static void check_string(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
}

static void check_rlimit(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = nsl_rlimit_resource(st->s[0]);
	if (st->n[0] < 0)
		luaL_error(L, "plan: step %I: unknown limit '%s'", i, st->s[0]);
	st->n[1] = step_rlim(L, t, i, 4);
	st->n[2] = step_rlim(L, t, i, 5);
	if ((rlim_t)st->n[1] > (rlim_t)st->n[2])
		luaL_error(L, "plan: step %I: soft limit above the hard limit", i);
}

static void check_chdir(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	st->n[0] = step_bool(L, t, 4);
}

static void check_caps(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->n[0] = step_int(L, t, i, 3, LUA_MININTEGER, LUA_MAXINTEGER);
}

static void check_cgroup(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	st->s[0] = step_string(L, t, i, 0, 3);
	if (st->s[0][0] != '/')
		luaL_error(L, "plan: step %I: the cgroup must be an absolute path", i);
}

static void check_unshare(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	lua_geti(L, t, 3);
	st->n[0] = (long long)nsl_checkflags(L, lua_gettop(L), nsl_namespace_flags, "namespace");
	lua_pop(L, 1);
	if (st->n[0] == 0)
		luaL_error(L, "plan: step %I: unshare needs a namespace", i);
}

/* What each op is called, how many arguments it takes (after the op and
 * the step's name) and how they are checked (NULL: it takes none). */
static const struct op_def {
	const char *name;
	unsigned char nargs;
	check_fn *check;
} op_defs[OP_COUNT] = {
	[OP_UMASK] = {"umask", 1, check_umask},
	[OP_SETSID] = {"setsid", 0, NULL},
	[OP_KEYRING] = {"keyring", 0, NULL},
	[OP_DUMPABLE_OFF] = {"dumpable_off", 0, NULL},
	[OP_NO_FORWARD] = {"no_forward", 0, NULL},
	[OP_CLOSE] = {"close", 1, check_fd},
	[OP_DUP2] = {"dup2", 2, check_dup2},
	[OP_MOUNT] = {"mount", 5, check_mount},
	[OP_RESOLVE] = {"resolve", 3, check_resolve},
	[OP_TOUCH] = {"touch", 2, check_path_mode},
	[OP_MKDIR] = {"mkdir", 2, check_path_mode},
	[OP_SYMLINK] = {"symlink", 2, check_two_strings},
	[OP_HOSTNAME] = {"hostname", 1, check_string},
	[OP_LO_UP] = {"lo_up", 0, NULL},
	[OP_PIVOT_ROOT] = {"pivot_root", 1, check_string},
	[OP_CHROOT] = {"chroot", 1, check_string},
	[OP_MASK] = {"mask", 1, check_string},
	[OP_READONLY] = {"readonly", 1, check_string},
	[OP_RLIMIT] = {"rlimit", 3, check_rlimit},
	[OP_CHDIR] = {"chdir", 2, check_chdir},
	[OP_CAPS] = {"caps", 1, check_caps},
	[OP_NNP] = {"nnp", 0, NULL},
	[OP_READY] = {"ready", 0, NULL},
	[OP_INIT] = {"init", 0, NULL},
	[OP_EXEC] = {"exec", 4, check_exec},
	[OP_REFUSE_SYMLINK] = {"refuse_symlink", 2, check_two_strings},
	[OP_SETNS] = {"setns", 1, check_fd},
	[OP_CGROUP] = {"cgroup", 1, check_cgroup},
	[OP_UNSHARE] = {"unshare", 1, check_unshare},
};

/* Element 1 of step i: the index of its op in op_defs. */
static int step_op(lua_State *L, int t, lua_Integer i)
{
	lua_geti(L, t, 1);
	const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	for (int op = 0; v && op < OP_COUNT; op++)
		if (strcmp(op_defs[op].name, v) == 0) {
			lua_pop(L, 1);
			return op;
		}
	return luaL_error(L, "plan: step %I: unknown op '%s'", i,
	                  v ? v : luaL_typename(L, -1));
}

static void check_step(lua_State *L, int t, lua_Integer i, int extras, struct step *st)
{
	int op = step_op(L, t, i);
	st->op = (unsigned char)op;
	st->name = step_string(L, t, i, 0, 2);
	if (lua_getfield(L, t, "try") != LUA_TNIL && lua_toboolean(L, -1))
		st->flags |= STEP_TRY;
	if (lua_getfield(L, t, "otherwise") != LUA_TNIL && lua_toboolean(L, -1))
		st->flags |= STEP_OTHERWISE;
	lua_pop(L, 2);
	if ((lua_Integer)luaL_len(L, t) > 2 + op_defs[op].nargs)
		luaL_error(L, "plan: step %I (%s) takes %d arguments", i, op_defs[op].name,
		           op_defs[op].nargs);
	if (op_defs[op].check)
		op_defs[op].check(L, t, i, extras, st);
}

/*
 * nsl.plan(steps [, opts]) -> plan
 * A container's set-up as data, for nsl.clone to run in C in the child
 * (nsl.clone(namespaces, plan, opts)) or for plan:run([from [, to]]) to
 * run in the caller. steps is a list of {op, name, args...}; name labels
 * the step in errors. ops: umask m; setsid; keyring; dumpable_off;
 * no_forward; close fd; dup2 from to; mount source target fstype flags
 * data; resolve root path create ("dir", "file" or false; the result
 * becomes the directory that relative paths of later steps are taken in,
 * "" being that directory itself); refuse_symlink path message; touch path
 * mode; mkdir path mode; symlink target path; hostname name; lo_up;
 * setns fd (joins the namespace of fd, then closes it); cgroup dir (moves
 * the process into the cgroup directory dir); unshare namespaces (a list,
 * as nsl.unshare takes);
 * pivot_root path; chroot path; mask path; readonly path; rlimit name soft
 * hard; chdir path in_root; caps mask; nnp; ready (writes "R" to
 * opts.status, waits for "G" on opts.go); init (the rest runs in a
 * child; this process stays as its init, named nsl-init, and dies with
 * its own parent, whose end it also checks on opts.status); exec argv
 * env close_fds [init_fd] (with init_fd, the program open at init_fd is
 * executed instead, as nsl-init: argv is its command line, and the status
 * pipe stays open for it to report the command's exec).
 * A step with try = true may fail; the next with otherwise = true runs
 * only when it did. Failures write "E<message>" to opts.status. ready,
 * init and exec are for a child: run in the caller, they would wait,
 * fork or exec there.
 */
static int l_plan(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int has_opts = nsl_opttable(L, 2);
	nsl_checknargs(L, 2);
	int status_fd = -1, go_fd = -1;
	if (has_opts) {
		static const char *const fields[] = {"status", "go", NULL};
		nsl_checkfields(L, 2, fields, "plan options");
		status_fd = (int)nsl_optfieldrange(L, 2, "status", "plan options", -1, INT_MAX, -1);
		go_fd = (int)nsl_optfieldrange(L, 2, "go", "plan options", -1, INT_MAX, -1);
	}
	lua_Integer n = luaL_len(L, 1);
	if (n < 0 || n > PLAN_MAX_STEPS)
		luaL_error(L, "plan: at most %d steps", PLAN_MAX_STEPS);
	lua_settop(L, 2);
	struct nsl_plan *p = lua_newuserdatauv(L, sizeof *p + (size_t)n * sizeof p->steps[0], 2);
	memset(p, 0, sizeof *p + (size_t)n * sizeof p->steps[0]);
	p->status_fd = status_fd;
	p->go_fd = go_fd;
	int ud = lua_gettop(L);
	lua_newtable(L);
	int extras = lua_gettop(L);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_geti(L, 1, i) != LUA_TTABLE)
			luaL_error(L, "plan: step %I must be a table (got %s)", i, luaL_typename(L, -1));
		check_step(L, lua_gettop(L), i, extras, &p->steps[i - 1]);
		lua_pop(L, 1);
	}
	p->n = (size_t)n;
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].op == OP_INIT) {
			read_title_areas(p->title);
			break;
		}
	lua_setiuservalue(L, ud, 2);  /* extras */
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, ud, 1);  /* the steps, with their strings */
	if (luaL_newmetatable(L, PLAN_MT)) {
		static const luaL_Reg methods[] = {{"run", l_plan_run}, {NULL, NULL}};
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_plan_len);
		lua_setfield(L, -2, "__len");
	}
	lua_setmetatable(L, ud);
	return 1;
}

/*
 * plan:run([from [, to]]) -> true | nil, message, status
 * Runs steps from..to (1-based, inclusive; the whole plan by default) in
 * the caller. A failure is also reported on the plan's status descriptor.
 * status is the exit status a child should end with (1, or 126/127 when
 * the exec step failed). An exec step that succeeds does not return.
 */
static int l_plan_run(lua_State *L)
{
	struct nsl_plan *p = luaL_checkudata(L, 1, PLAN_MT);
	lua_Integer from = luaL_optinteger(L, 2, 1);
	lua_Integer to = luaL_optinteger(L, 3, (lua_Integer)p->n);
	nsl_checknargs(L, 3);
	if (from < 1 || to > (lua_Integer)p->n)
		luaL_error(L, "plan:run: steps %I to %I of %I", from, to, (lua_Integer)p->n);
	if (from > to) {
		lua_pushboolean(L, 1);
		return 1;
	}
	fflush(NULL);
	struct run *r = lua_newuserdatauv(L, sizeof *r, 0);
	r->plan = p;
	r->shared = 0;
	r->dir[0] = '\0';
	int status = run_steps(r, (size_t)(from - 1), (size_t)(to - 1));
	if (status == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, r->msg);
	lua_pushinteger(L, status);
	return 3;
}

static int l_plan_len(lua_State *L)
{
	struct nsl_plan *p = luaL_checkudata(L, 1, PLAN_MT);
	lua_pushinteger(L, (lua_Integer)p->n);
	return 1;
}

const luaL_Reg nsl_plan_funcs[] = {
	{"plan", l_plan},
	{NULL, NULL},
};
