/*
 * sysprobe: makes the system calls a seccomp filter must refuse and
 * prints one line per call, "NAME RESULT", RESULT being "ok" or the name
 * of the errno the kernel (or the filter) answered. Each call is made so
 * that, let through, it does no harm: invalid arguments past the
 * permission checks, objects of this process only.
 * Used by spec/confine/seccomp_spec.lua.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r)
{
	printf("%s %s\n", name, r < 0 ? strerrorname_np(errno) : "ok");
	fflush(stdout);
}

/* A child that does fn and exits with 0 (ok) or its errno. */
static void in_child(const char *name, long (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		long r = fn();
		_exit(r < 0 ? errno : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	errno = WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
	report(name, errno ? -1 : 0);
}

static long userns_mount(void)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	return mount("none", "/tmp", "tmpfs", 0, NULL);
}

static long clone_newns(void)
{
	/* clone(2) with a namespace flag, as fork does otherwise */
	long r = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return r;
}

static void shocker(void)
{
	/* a handle of the root directory (inode 2) of the file system that
	 * holds /: opened, it is a way out of any chroot or pivot_root */
	struct {
		struct file_handle h;
		uint32_t ino, gen;
	} fh = {.h = {.handle_bytes = 8, .handle_type = 1 /* FILEID_INO32_GEN */}, .ino = 2, .gen = 0};
	int mnt = open("/", O_RDONLY | O_DIRECTORY);
	long r = syscall(SYS_open_by_handle_at, mnt, &fh.h, O_RDONLY | O_DIRECTORY);
	report("open_by_handle_at", r);
}

static void tiocsti(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	long r = -1;
	if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0) {
		int s = open(ptsname(m), O_RDWR | O_NOCTTY);
		char c = 'x';
		r = s < 0 ? -1 : ioctl(s, TIOCSTI, &c);
		/* the kernel reads the request as 32 bits: the high ones must not hide it */
		report("tiocsti", r);
		r = s < 0 ? -1 : syscall(SYS_ioctl, s, 0x100000000UL | TIOCSTI, &c);
		report("tiocsti_high", r);
		return;
	}
	report("tiocsti", -1);
}

static void ptrace_child(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
	report("ptrace", r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void clone3_then_fork(void)
{
	struct clone_args a = {.exit_signal = SIGCHLD};
	long r = syscall(SYS_clone3, &a, sizeof a);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	report("clone3", r);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	report("fork", pid < 0 ? -1 : waitpid(pid, NULL, 0));
}

static void int80(void)
{
	long r = 20; /* getpid on i386 */
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	if (r < 0) {
		errno = (int)-r;
		r = -1;
	}
	report("int80", r);
}

int main(void)
{
	report("keyctl", syscall(SYS_add_key, "user", "nsl-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	union bpf_attr attr = {.map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};
	report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
	struct perf_event_attr pe = {.type = PERF_TYPE_SOFTWARE, .size = sizeof pe,
	                             .config = PERF_COUNT_SW_TASK_CLOCK, .disabled = 1};
	report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
	report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
	in_child("userns_mount", userns_mount);
	report("clone_newns", clone_newns());
	shocker();
	tiocsti();
	ptrace_child();
	/* invalid flags: the kernel answers EINVAL once past its permission check */
	report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x0f0f0000UL));
	static char image[64];
	report("init_module", syscall(SYS_init_module, image, sizeof image, ""));
	report("syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
	report("swapoff", syscall(SYS_swapoff, "/nonexistent"));
	report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
	report("personality", syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
	clone3_then_fork();
	int80();
	/* listmount (Linux 6.8): newer than this libseccomp knows */
	report("listmount", syscall(458, NULL, NULL, 0, 0));
	report("nr1000", syscall(1000));
	return 0;
}
