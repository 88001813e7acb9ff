/*
 * Internal: a plan as plan.c makes it (in the caller, under Lua) and
 * plan_run.c runs it (Lua-free, in the cloned child): its ops, its steps,
 * and the state of a run.
 */
#ifndef NSL_PLAN_H
#define NSL_PLAN_H

#include <limits.h>
#include <stddef.h>

#include "nsl.h"

enum op {
	OP_UMASK, OP_SETSID, OP_KEYRING, OP_DUMPABLE_OFF, OP_NO_FORWARD,
	OP_CLOSE, OP_DUP2, OP_MOUNT, OP_RESOLVE, OP_TOUCH, OP_MKDIR,
	OP_SYMLINK, OP_HOSTNAME, OP_LO_UP, OP_PIVOT_ROOT, OP_CHROOT, OP_MASK,
	OP_READONLY, OP_RLIMIT, OP_CHDIR, OP_CAPS, OP_NNP, OP_READY, OP_INIT,
	OP_EXEC, OP_REFUSE_SYMLINK, OP_SETNS, OP_CGROUP, OP_UNSHARE,
	OP_SECCOMP, OP_IDS, OP_LANDLOCK, OP_LANDLOCK_PATH, OP_LANDLOCK_PORT, OP_LANDLOCK_RESTRICT,
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

/* One run of a plan's steps. */
struct plan_run {
	const struct nsl_plan *plan;
	int shared;          /* the child shares the caller's memory (clone.c) */
	char dir[PATH_MAX];  /* what the last resolve step gave */
	int landlock;        /* the ruleset a landlock step made, -1: none */
	const struct step *filters[4]; /* seccomp steps the exec installs */
	int nfilters;
	char msg[768];
	nsl_error err;
};

/* Runs steps from..to (0-based, inclusive): 0, or the exit status the
 * child should end with, the message in r->msg and, "E"-prefixed, on the
 * plan's status descriptor. */
int nsl_plan_run_steps(struct plan_run *r, size_t from, size_t to);

#endif
