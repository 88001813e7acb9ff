-- The seccomp data nsl ships: named groups of system calls, and the
-- default profile every container gets (docs/security.md compares it
-- with docker's and podman's and says why each denial is there).
--
-- A profile is a policy (see nsl.seccomp) whose entries may depend on the
-- container's capabilities: `when = "CAP_X"` applies an entry only when the
-- container keeps CAP_X, `unless = "CAP_X"` only when it does not. Names
-- this build's libseccomp does not know are left out of a profile (the
-- calls are then newer than the filter and get ENOSYS), where a user's
-- policy naming them is refused.

local M = {}

M.groups = {
  ["@mount"] = { "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig",
    "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr" },
  ["@namespaces"] = { "unshare", "setns" },
  ["@keyring"] = { "add_key", "request_key", "keyctl" },
  ["@module"] = { "init_module", "finit_module", "delete_module" },
  ["@reboot"] = { "reboot", "kexec_load", "kexec_file_load" },
  ["@swap"] = { "swapon", "swapoff" },
  ["@clock"] = { "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime" },
  ["@debug"] = { "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_getfd", "process_madvise", "perf_event_open", "lookup_dcookie" },
  ["@bpf"] = { "bpf" },
  ["@raw-io"] = { "iopl", "ioperm" },
  ["@io-uring"] = { "io_uring_setup", "io_uring_enter", "io_uring_register" },
  ["@obsolete"] = { "uselib", "sysfs", "_sysctl", "ustat", "nfsservctl", "create_module",
    "get_kernel_syms", "query_module", "vserver", "afs_syscall", "tuxcall",
    "security", "putpmsg", "getpmsg" },
  ["@privileged"] = { "acct", "quotactl", "quotactl_fd", "syslog", "vhangup",
    "sethostname", "setdomainname", "chroot", "fanotify_init", "open_by_handle_at" },
  ["@network"] = { "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown" },
  ["@process"] = { "fork", "vfork", "clone", "clone3", "execve", "execveat", "kill",
    "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "wait4", "waitid" },
}

-- Calls every container may make: docker's default list as of 2024,
-- without io_uring (three calls, a large and often-fixed kernel surface:
-- containerd and ChromeOS refuse it too) and without ptrace and
-- process_vm_* (docker allows them on kernels from 4.8; here they need
-- CAP_SYS_PTRACE), with the calls added to Linux since.
local allow = {
  "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
  "capget", "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres",
  "clock_gettime", "clock_nanosleep", "close", "close_range", "connect",
  "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
  "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
  "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
  "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir",
  "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync",
  "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
  "fstatfs", "fsync", "ftruncate", "futex", "futex_requeue", "futex_wait", "futex_waitv",
  "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
  "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp",
  "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit",
  "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
  "get_thread_area", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
  "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
  "io_getevents", "io_pgetevents", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
  "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
  "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
  "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise", "map_shadow_stack",
  "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
  "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr",
  "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap",
  "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
  "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2",
  "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
  "pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
  "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
  "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
  "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
  "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
  "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity",
  "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
  "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
  "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
  "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
  "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority",
  "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list",
  "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr",
  "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
  "socketpair", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
  "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
  "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
  "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname",
  "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4",
  "waitid", "write", "writev",
  -- x86 only
  "arch_prctl", "modify_ldt",
}

-- Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
-- NEWUSER, NEWPID, NEWNET.
local CLONE_NEW = 0x7E020000
local TIOCSTI, TIOCLINUX = 0x5412, 0x541C
local AF_VSOCK = 40
local LOW32 = 0xFFFFFFFF

M.default = {
  default = "EPERM",
  allow = allow,
  rules = {
    -- personality: Linux, with the 32-bit and uname-2.6 flavours, and the query
    { "personality", action = "allow", args = { { 0, "==", 0 } } },
    { "personality", action = "allow", args = { { 0, "==", 0x0008 } } },
    { "personality", action = "allow", args = { { 0, "==", 0x20000 } } },
    { "personality", action = "allow", args = { { 0, "==", 0x20008 } } },
    { "personality", action = "allow", args = { { 0, "==", LOW32 } } },
    -- sockets of every family but vsock (a way to the hypervisor)
    { "socket", action = "allow", args = { { 0, "!=", AF_VSOCK } } },
    -- no input pushed into a terminal, no console tricks; the kernel
    -- reads the request as 32 bits, so only those are compared
    { "ioctl", action = "EPERM", args = { { 1, "&==", TIOCSTI, LOW32 } } },
    { "ioctl", action = "EPERM", args = { { 1, "&==", TIOCLINUX, LOW32 } } },
    -- new processes and threads, no new namespaces; clone3 hides its
    -- flags in memory a filter cannot read: ENOSYS, and libc uses clone
    { "clone", action = "allow", args = { { 0, "&==", 0, CLONE_NEW } }, unless = "CAP_SYS_ADMIN" },
    { "clone3", action = "ENOSYS", unless = "CAP_SYS_ADMIN" },
    -- what a capability the container keeps stands for
    { "@mount", "@namespaces", "clone", "clone3", "bpf", "fanotify_init", "lookup_dcookie",
      "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
      "syslog", action = "allow", when = "CAP_SYS_ADMIN" },
    { "reboot", action = "allow", when = "CAP_SYS_BOOT" },
    { "chroot", action = "allow", when = "CAP_SYS_CHROOT" },
    { "@module", action = "allow", when = "CAP_SYS_MODULE" },
    { "acct", action = "allow", when = "CAP_SYS_PACCT" },
    { "@debug", action = "allow", when = "CAP_SYS_PTRACE" },
    { "@raw-io", action = "allow", when = "CAP_SYS_RAWIO" },
    { "settimeofday", "stime", "clock_settime", action = "allow", when = "CAP_SYS_TIME" },
    { "vhangup", action = "allow", when = "CAP_SYS_TTY_CONFIG" },
    { "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", action = "allow",
      when = "CAP_SYS_NICE" },
    { "syslog", action = "allow", when = "CAP_SYSLOG" },
    { "bpf", action = "allow", when = "CAP_BPF" },
    { "perf_event_open", action = "allow", when = "CAP_PERFMON" },
    { "open_by_handle_at", action = "allow", when = "CAP_DAC_READ_SEARCH" },
  },
}

-- Named profiles a policy can extend.
M.profiles = { default = M.default }

return M
