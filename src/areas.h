/*
 * Internal: what the areas of src/ take from each other, Lua-free unless
 * said otherwise. Dependencies go one way: util.c (Lua-free helpers) and
 * lutil.c (Lua helpers) depend on no area; the areas depend on those and
 * on the functions below; nothing here is used by util.c or lutil.c.
 */
#ifndef NSL_AREAS_H
#define NSL_AREAS_H

#include <sys/types.h>

#include "nsl.h"

/* ---- what a container's set-up (plan.c) takes from the areas ----------- */

/* fs.c: path resolved inside root (see nsl.resolve); create is 0, 'd' or
 * 'f'. The _fd form gives an O_PATH descriptor, the _path form the
 * caller's path of it. */
int nsl_resolve_fd(const char *root, const char *path, int create,
                   nsl_error *err);
int nsl_resolve_path(const char *root, const char *path, int create,
                     char *out, size_t outlen, nsl_error *err);


/* owned.c: the directory at path if it is the caller's own (see
 * nsl.owned_dir), as an O_PATH descriptor; mode >= 0 makes what is
 * missing. nsl_remove_beneath removes rel beneath such a directory. */
int nsl_owned_open(const char *path, int mode, int private, nsl_error *err);
int nsl_remove_beneath(int dirfd, const char *rel, nsl_error *err);

/* proc.c: execve through a search of path (the new environment's PATH);
 * returns only on failure, errno set. */
void nsl_exec_search(const char *file, char **argv, char **envp,
                     const char *path);

/* caps.c */
int nsl_caps_limit(nsl_capset keep, nsl_error *err); /* see nsl.caps_limit */

/* confine.c: a seccomp filter (len bytes of struct sock_filter, checked
 * by nsl_seccomp_check) and Landlock (a ruleset descriptor, its rules,
 * then restrict, which closes it); see nsl.seccomp_load and
 * nsl.landlock_restrict. */
int nsl_seccomp_check(size_t len);
int nsl_seccomp_load(const void *prog, size_t len, nsl_error *err);
int nsl_landlock_abi(void);
int nsl_landlock_create(unsigned long long fs, unsigned long long net, nsl_error *err);
int nsl_landlock_add_path(int ruleset, unsigned long long access, const char *path,
                          nsl_error *err);
int nsl_landlock_add_port(int ruleset, unsigned long long access, unsigned long long port,
                          nsl_error *err);
int nsl_landlock_restrict(int ruleset, nsl_error *err);

/* sys.c */
int nsl_loopback_up(nsl_error *err);
int nsl_setids(uid_t uid, gid_t gid, nsl_error *err); /* see nsl.setids */
int nsl_rlimit_resource(const char *name);  /* RLIMIT_*, -1 when unknown */

/* supervise.c */
void nsl_forward_reset(void);                /* forwarding off, handlers back */
int nsl_supervise(pid_t pid, int *wstatus);  /* see nsl.supervise; -1: errno */

/* ---- what nsl.clone (clone.c) takes from plan.c (Lua) ------------------- */

/* The plan at idx, or NULL when that is not one; running a whole plan (in
 * a cloned child; shared: one that shares the caller's memory) returns the
 * status to exit with. */
struct lua_State;
struct nsl_plan;
const struct nsl_plan *nsl_toplan(struct lua_State *L, int idx);
int nsl_plan_exec(const struct nsl_plan *plan, int shared);
/* Whether the plan runs to its exec or its end without waiting for the
 * caller (no go byte) and without staying on (no init): then the child
 * may share the caller's memory while the caller waits (clone.c). */
int nsl_plan_runs_through(const struct nsl_plan *plan);

#endif
