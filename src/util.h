/*
 * Internal, Lua-free helpers shared by the areas of src/.
 */
#ifndef NSL_UTIL_H
#define NSL_UTIL_H

#include <errno.h>
#include <unistd.h>

#include "nsl.h"

/* Retries a system call interrupted by a signal. */
#define NSL_RETRY(expr)                                                      \
	({                                                                   \
		long nsl_r_;                                                 \
		do                                                           \
			nsl_r_ = (long)(expr);                               \
		while (nsl_r_ == -1 && errno == EINTR);                      \
		nsl_r_;                                                      \
	})

/* A descriptor closed when it goes out of scope (errno preserved). */
static inline void nsl_close_fdp(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define nsl_autoclose __attribute__((cleanup(nsl_close_fdp)))

const nsl_flag *nsl_flag_lookup(const nsl_flag *table, const char *name,
                                size_t len);

/* Writes data to an existing file in one write(2), as /proc files need. */
int nsl_write_file(const char *path, const char *data, size_t len,
                   nsl_error *err);

/* ---- what a container's set-up (plan.c) takes from the areas ----------- */

/* fs.c: path resolved inside root (see nsl.resolve); create is 0, 'd' or
 * 'f'. The _fd form gives an O_PATH descriptor, the _path form the
 * caller's path of it. */
int nsl_resolve_fd(const char *root, const char *path, int create,
                   nsl_error *err);
int nsl_resolve_path(const char *root, const char *path, int create,
                     char *out, size_t outlen, nsl_error *err);

/* fs.c: "file", "directory", "symlink", "char", "block", "fifo",
 * "socket" or "unknown", as nsl.lstat names a file's type. */
const char *nsl_file_type(mode_t mode);

/* owned.c: the directory at path if it is the caller's own (see
 * nsl.owned_dir), as an O_PATH descriptor; mode >= 0 makes what is
 * missing. nsl_remove_beneath removes rel beneath such a directory. */
int nsl_owned_open(const char *path, int mode, int private, nsl_error *err);
int nsl_remove_beneath(int dirfd, const char *rel, nsl_error *err);

/* proc.c: execve through a search of path (the new environment's PATH);
 * returns only on failure, errno set. */
void nsl_exec_search(const char *file, char **argv, char **envp,
                     const char *path);

/* sys.c */
int nsl_caps_limit(nsl_capset keep, nsl_error *err); /* see nsl.caps_limit */
int nsl_loopback_up(nsl_error *err);
int nsl_rlimit_resource(const char *name);  /* RLIMIT_*, -1 when unknown */
void nsl_forward_reset(void);                /* forwarding off, handlers back */
int nsl_supervise(pid_t pid, int *wstatus);  /* see nsl.supervise; -1: errno */

#endif
