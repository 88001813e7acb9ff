/*
 * The floor: the least a program can do to start the benchmark's container,
 * with nothing but system calls. It clones into new mnt, uts, ipc, pid and
 * net namespaces, binds the root onto itself, mounts /proc and a /dev tmpfs
 * with the six usual device nodes, pivots into the root, drops every
 * capability except the three of the OCI default (AUDIT_WRITE, KILL,
 * NET_BIND_SERVICE), sets no_new_privs and execs the command.
 *
 *   floor [-n N] [-t] [-d] [-v] ROOT CMD [ARGS...]
 *
 * -n N  start N containers one after another from this one process
 * -t    after each container, write one byte to stdout (the timing driver
 *       timestamps them), and one byte before the first
 * -d    do not wait: print the container's pid and leave it running
 * -v    clone as posix_spawn does: the child shares this process's memory
 *       (CLONE_VM) on a stack of its own while this process waits
 *       (CLONE_VFORK) for its exec; no page table is copied. nsl.container
 *       starts a container this way when nothing has to happen between
 *       the clone and the exec (src/clone.c)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEP ((1ULL << CAP_AUDIT_WRITE) | (1ULL << CAP_KILL) | \
              (1ULL << CAP_NET_BIND_SERVICE))

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void drop_caps(void)
{
	for (int c = 0; c <= 63; c++) {
		if (KEEP & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die("drop from bounding set");
	}
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
		{(__u32)KEEP, (__u32)KEEP, 0}, {(__u32)(KEEP >> 32), (__u32)(KEEP >> 32), 0}};
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
}

static void container(const char *root, char **argv)
{
	static const struct { const char *name; int major, minor; } devs[] = {
		{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
		{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	char path[4096];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("bind root");
	if (chdir(root) < 0)
		die("chdir root");
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount /proc");
	if (mount("dev", "dev", "tmpfs", MS_NOSUID, "mode=755") < 0)
		die("mount /dev");
	for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		snprintf(path, sizeof path, "dev/%s", devs[i].name);
		if (mknod(path, S_IFCHR | 0666, makedev(devs[i].major, devs[i].minor)) < 0)
			die("mknod");
	}
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		die("detach old root");
	if (chdir("/") < 0)
		die("chdir /");
	drop_caps();
	execv(argv[0], argv);
	die(argv[0]);
}

struct child { const char *root; char **cmd; };

static int child_main(void *arg)
{
	struct child *c = arg;
	container(c->root, c->cmd);
	return 127;
}

int main(int argc, char **argv)
{
	long n = 1;
	int ticks = 0, detach = 0, vfork_like = 0, opt;
	const int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
	                  CLONE_NEWNET;

	while ((opt = getopt(argc, argv, "+n:tdv")) != -1) {
		switch (opt) {
		case 'v': vfork_like = 1; break;
		case 'n': n = atol(optarg); break;
		case 't': ticks = 1; break;
		case 'd': detach = 1; break;
		default:
			fprintf(stderr, "usage: floor [-n N] [-t] [-d] [-v] ROOT CMD [ARGS...]\n");
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: floor [-n N] [-t] [-d] [-v] ROOT CMD [ARGS...]\n");
		return 2;
	}
	const char *root = argv[optind];
	char **cmd = argv + optind + 1;
	if (ticks && write(1, "r", 1) != 1)
		die("write");
	size_t stack_size = 256 * 1024;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		die("mmap");
	struct child c = {root, cmd};
	for (long i = 0; i < n; i++) {
		pid_t pid;
		if (vfork_like)
			pid = clone(child_main, stack + stack_size,
			            flags | CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
		else
			pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
		if (pid < 0)
			die("clone");
		if (pid == 0)
			container(root, cmd);
		if (detach) {
			printf("%d\n", (int)pid);
			fflush(stdout);
			continue;
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "floor: container exited with status %#x\n", status);
			return 1;
		}
		if (ticks && write(1, "x", 1) != 1)
			die("write");
	}
	return 0;
}
