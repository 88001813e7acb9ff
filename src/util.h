/*
 * Internal, Lua-free helpers shared by the areas of src/.
 */
#ifndef NSL_UTIL_H
#define NSL_UTIL_H

#include <errno.h>
#include <sys/types.h>
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

/* The threads of the calling process (/proc/self/stat), -1 when unknown:
 * clone and unshare refuse a process with several. */
int nsl_thread_count(void);

/* "file", "directory", "symlink", "char", "block", "fifo", "socket" or
 * "unknown", as nsl.lstat names a file's type. */
const char *nsl_file_type(mode_t mode);

#endif
