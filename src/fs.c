/*
 * Files and directories: what building a container's root needs (mkdir,
 * mknod, symlink, lstat, chdir and chroot, paths resolved inside a root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* ---- Lua-free ------------------------------------------------------------ */

/* Opens path as an O_PATH descriptor with every component (symlinks and
 * ".." included) resolved as if rootfd were "/", and magic links such as
 * /proc/self/fd/N refused. */
/* Opens the symlink-free relative path rel (components separated by '/',
 * "" for the root itself) under rootfd, one component at a time and none
 * of them followed: if one was swapped for a symlink meanwhile, the walk
 * opens the link itself and the next step fails with ENOTDIR. */
static int open_plain(int rootfd, const char *rel)
{
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	char part[NAME_MAX + 1];
	while (fd >= 0 && *rel) {
		size_t n = strcspn(rel, "/");
		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(part, rel, n);
		part[n] = '\0';
		int next = openat(fd, part, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		rel += n + (rel[n] == '/');
	}
	return fd;
}

/* open_in_root without openat2 (Linux before 5.6, valgrind): the same
 * resolution in user space. rel holds the resolved part, free of
 * symlinks and "..", relative to rootfd; todo what is left of the path.
 * A symlink's target replaces it in todo (an absolute one restarts at
 * the root); ".." never climbs above the root; at most 40 links, as the
 * kernel. /proc's magic links are read as text, like any other link, so
 * they never lead anywhere else. */
/* What part is under the symlink-free rel: -1 on error; 1 for a
 * symbolic link, its target (len bytes) in link; else 0. */
static int peek(int rootfd, const char *rel, const char *part, char *link, size_t linklen,
                ssize_t *len)
{
	int dirfd = open_plain(rootfd, rel);
	if (dirfd < 0)
		return -1;
	struct stat st;
	int rc = fstatat(dirfd, part, &st, AT_SYMLINK_NOFOLLOW);
	if (rc == 0 && S_ISLNK(st.st_mode))
		*len = readlinkat(dirfd, part, link, linklen - 1);
	int saved = errno;
	close(dirfd);
	errno = saved;
	if (rc < 0 || (S_ISLNK(st.st_mode) && *len < 0))
		return -1;
	if (!S_ISLNK(st.st_mode))
		return 0;
	link[*len] = '\0';
	return 1;
}

/* todo becomes the link's target followed by what was left of it (from
 * p); an absolute target restarts at the root (rel emptied). */
static int follow(char *todo, size_t todolen, const char *p, const char *link, size_t len,
                  char *rel)
{
	if (link[0] == '/')
		rel[0] = '\0';
	size_t rest = strlen(p);
	if (len + 1 + rest + 1 > todolen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(todo + len + 1, p, rest + 1);
	memcpy(todo, link, len);
	todo[len] = '/';
	return 0;
}

/* The result of the walk: rel opened, checked to be a directory when
 * flags ask for one. */
static int open_result(int rootfd, const char *rel, int flags)
{
	int fd = open_plain(rootfd, rel);
	if (fd >= 0 && (flags & O_DIRECTORY)) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			return -1;
		}
	}
	return fd;
}

static int walk_in_root(int rootfd, const char *path, int flags)
{
	char rel[PATH_MAX] = "", todo[PATH_MAX], link[PATH_MAX], part[NAME_MAX + 1];
	int links = 0;
	if (!*path) {
		errno = ENOENT; /* as openat2 */
		return -1;
	}
	if (strlen(path) >= sizeof todo) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(todo, path);
	char *p = todo;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		p += n;
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			char *slash = strrchr(rel, '/');
			if (slash)
				*slash = '\0';
			else
				rel[0] = '\0';
			continue;
		}
		size_t rlen = strlen(rel);
		if (rlen + 1 + n + 1 > sizeof rel) {
			errno = ENAMETOOLONG;
			return -1;
		}
		ssize_t len = -1;
		int kind = peek(rootfd, rel, part, link, sizeof link, &len);
		if (kind < 0)
			return -1;
		if (kind == 0) {
			snprintf(rel + rlen, sizeof rel - rlen, "%s%s", rlen ? "/" : "", part);
			continue;
		}
		if (++links > 40) {
			errno = ELOOP;
			return -1;
		}
		if (follow(todo, sizeof todo, p, link, (size_t)len, rel) < 0)
			return -1;
		p = todo;
	}
	return open_result(rootfd, rel, flags);
}

static int open_in_root(int rootfd, const char *path, int flags)
{
	static int no_openat2;
	if (!no_openat2) {
		struct open_how how = {
			.flags = (uint64_t)(O_PATH | O_CLOEXEC | flags),
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		no_openat2 = 1;
	}
	return walk_in_root(rootfd, path, flags);
}

/*
 * Resolves path inside root and, when create is 'd' or 'f', creates what
 * is missing (directories, and a last component that is a directory or an
 * empty file). Returns an O_PATH descriptor of the result.
 */
int nsl_resolve_fd(const char *root, const char *path, int create,
                   nsl_error *err)
{
	nsl_autoclose int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return nsl_fail(err, errno, "resolve %s: open root %s", path, root);
	int fd = open_in_root(rootfd, path, 0);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : nsl_fail(err, errno, "resolve %s in %s", path, root);

	/* Walk component by component, creating what is missing. */
	char prefix[PATH_MAX];
	size_t plen = 0;
	nsl_autoclose int dirfd = dup(rootfd);
	if (dirfd < 0)
		return nsl_fail(err, errno, "resolve %s: dup", path);
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		int last = *end == '\0' || end[strspn(end, "/")] == '\0';
		if (plen + len + 2 >= sizeof prefix)
			return nsl_fail(err, ENAMETOOLONG, "resolve %s", path);
		prefix[plen++] = '/';
		memcpy(prefix + plen, p, len);
		plen += len;
		prefix[plen] = '\0';
		int next = open_in_root(rootfd, prefix, 0);
		if (next < 0 && errno == ENOENT) {
			char name[NAME_MAX + 1];
			if (len > NAME_MAX)
				return nsl_fail(err, ENAMETOOLONG, "resolve %s", path);
			memcpy(name, p, len);
			name[len] = '\0';
			int r;
			if (last && create == 'f') {
				r = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(dirfd, name, 0755);
			}
			if (r < 0 && errno != EEXIST)
				return nsl_fail(err, errno, "create %s in %s", prefix, root);
			next = open_in_root(rootfd, prefix, 0);
		}
		if (next < 0)
			return nsl_fail(err, errno, "resolve %s in %s", prefix, root);
		close(dirfd);
		dirfd = next;
		p = end;
	}
	int fd2 = dirfd;
	dirfd = -1;
	return fd2;
}

/* The path of an O_PATH descriptor, as the caller's /proc shows it. */
static int fd_path(int fd, char *out, size_t outlen, const char *what,
                   nsl_error *err)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, outlen - 1);
	if (n < 0)
		return nsl_fail(err, errno, "resolve %s: readlink %s", what, link);
	out[n] = '\0';
	return 0;
}

int nsl_resolve_path(const char *root, const char *path, int create,
                     char *out, size_t outlen, nsl_error *err)
{
	nsl_autoclose int fd = nsl_resolve_fd(root, path, create, err);
	if (fd < 0 || fd_path(fd, out, outlen, path, err) < 0)
		return -1;
	return 0;
}

/* ---- Lua wrappers -------------------------------------------------------- */

static int push_true(lua_State *L)
{
	lua_pushboolean(L, 1);
	return 1;
}

static mode_t check_mode(lua_State *L, int arg, mode_t dflt)
{
	if (lua_isnoneornil(L, arg))
		return dflt;
	return (mode_t)nsl_checkrange(L, arg, 0, 07777, "mode");
}

/*
 * nsl.mkdir(path [, mode]) -> true
 * Creates a directory (mode 0755 by default, less the umask); fails with
 * EEXIST when something is already there. @see mkdir(2)
 */
static int l_mkdir(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	mode_t mode = check_mode(L, 2, 0755);
	nsl_checknargs(L, 2);
	if (mkdir(path, mode) < 0)
		return nsl_pusherrno(L, "mkdir %s", path);
	return push_true(L);
}

/*
 * nsl.rmdir(path) -> true
 * Removes an empty directory. @see rmdir(2)
 */
static int l_rmdir(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	if (rmdir(path) < 0)
		return nsl_pusherrno(L, "rmdir %s", path);
	return push_true(L);
}

/*
 * nsl.unlink(path) -> true
 * Removes a file, symlink or device node (not a directory). @see unlink(2)
 */
static int l_unlink(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	if (unlink(path) < 0)
		return nsl_pusherrno(L, "unlink %s", path);
	return push_true(L);
}

/*
 * nsl.symlink(target, linkpath) -> true
 * Creates linkpath pointing at target (which need not exist).
 * @see symlink(2)
 */
static int l_symlink(lua_State *L)
{
	const char *target = nsl_checkname(L, 1, PATH_MAX, NULL);
	const char *link = nsl_checkname(L, 2, PATH_MAX, NULL);
	nsl_checknargs(L, 2);
	if (symlink(target, link) < 0)
		return nsl_pusherrno(L, "symlink %s", link);
	return push_true(L);
}

/*
 * nsl.readlink(path) -> string
 * The target of a symbolic link. @see readlink(2)
 */
static int l_readlink(lua_State *L)
{
	char buf[PATH_MAX];
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	ssize_t n = readlink(path, buf, sizeof buf);
	if (n < 0)
		return nsl_pusherrno(L, "readlink %s", path);
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

/*
 * nsl.realpath(path) -> string
 * The absolute path with every symlink, "." and ".." resolved.
 * @see realpath(3)
 */
static int l_realpath(lua_State *L)
{
	char buf[PATH_MAX];
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	if (!realpath(path, buf))
		return nsl_pusherrno(L, "realpath %s", path);
	lua_pushstring(L, buf);
	return 1;
}


/*
 * nsl.lstat(path) -> {type=, mode=, uid=, gid=, size=, ino=, mtime=, major=, minor=}
 * What the path itself is, without following a final symlink. type is
 * "file", "directory", "symlink", "char", "block", "fifo" or "socket";
 * major and minor are those of a device node. @see lstat(2)
 */
static int l_lstat(lua_State *L)
{
	struct stat st;
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	if (lstat(path, &st) < 0)
		return nsl_pusherrno(L, "lstat %s", path);
	nsl_push_stat(L, &st);
	return 1;
}

/*
 * nsl.chmod(path, mode) -> true
 * @see chmod(2)
 */
static int l_chmod(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	mode_t mode = (mode_t)nsl_checkrange(L, 2, 0, 07777, "mode");
	nsl_checknargs(L, 2);
	if (chmod(path, mode) < 0)
		return nsl_pusherrno(L, "chmod %s", path);
	return push_true(L);
}

/*
 * nsl.mknod(path, type, mode [, major, minor]) -> true
 * Creates a device node or FIFO; type is "char", "block" or "fifo".
 * Needs CAP_MKNOD in the initial user namespace for devices. @see mknod(2)
 */
static int l_mknod(lua_State *L)
{
	static const char *const types[] = {"char", "block", "fifo", NULL};
	static const mode_t fmt[] = {S_IFCHR, S_IFBLK, S_IFIFO};
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	int type = luaL_checkoption(L, 2, NULL, types);
	mode_t mode = (mode_t)nsl_checkrange(L, 3, 0, 07777, "mode");
	unsigned maj = 0, min = 0;
	if (type != 2) {
		maj = (unsigned)nsl_checkrange(L, 4, 0, 4095, "major");
		min = (unsigned)nsl_checkrange(L, 5, 0, 1048575, "minor");
	}
	nsl_checknargs(L, 5);
	if (mknod(path, fmt[type] | mode, makedev(maj, min)) < 0)
		return nsl_pusherrno(L, "mknod %s", path);
	return push_true(L);
}

/*
 * nsl.touch(path [, mode]) -> true
 * Creates an empty file when nothing is at path (mode 0644 by default);
 * leaves an existing one alone. A mount point for a bind-mounted file.
 */
static int l_touch(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	mode_t mode = check_mode(L, 2, 0644);
	nsl_checknargs(L, 2);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return nsl_pusherrno(L, "touch %s", path);
	close(fd);
	return push_true(L);
}

/*
 * nsl.umask(mask) -> previous mask
 * @see umask(2)
 */
static int l_umask(lua_State *L)
{
	mode_t mask = (mode_t)nsl_checkrange(L, 1, 0, 0777, "mask");
	nsl_checknargs(L, 1);
	lua_pushinteger(L, umask(mask));
	return 1;
}

/*
 * nsl.chdir(path [, root]) -> true
 * Changes the working directory. With root, path is resolved as if root
 * were "/": neither "..", nor an absolute or relative symlink, nor a
 * magic link such as /proc/self/fd/N leads out of it. @see chdir(2),
 * openat2(2)
 */
static int l_chdir(lua_State *L)
{
	nsl_error err;
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	const char *root = nsl_optname(L, 2, PATH_MAX, NULL);
	nsl_checknargs(L, 2);
	if (!root) {
		if (chdir(path) < 0)
			return nsl_pusherrno(L, "chdir %s", path);
		return push_true(L);
	}
	nsl_autoclose int fd = nsl_resolve_fd(root, path, 0, &err);
	if (fd < 0)
		return nsl_pushfail(L, &err);
	if (fchdir(fd) < 0)
		return nsl_pusherrno(L, "chdir %s", path);
	return push_true(L);
}

/*
 * nsl.chroot(path) -> true
 * Changes the root directory of the caller only; containers use
 * pivot_root instead, which a process cannot climb out of. @see chroot(2)
 */
static int l_chroot(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	if (chroot(path) < 0)
		return nsl_pusherrno(L, "chroot %s", path);
	if (chdir("/") < 0)
		return nsl_pusherrno(L, "chroot %s: chdir /", path);
	return push_true(L);
}

/*
 * nsl.resolve(root, path [, create]) -> string
 * The caller's path of path taken inside root, every component resolved
 * as if root were "/" (symlinks and ".." cannot lead out of it, magic
 * links are refused). create "dir" or "file" makes what is missing:
 * directories on the way and a last component of that kind. The place
 * to mount on, given a path inside a container's root. @see openat2(2)
 */
static int l_resolve(lua_State *L)
{
	static const char *const kinds[] = {"dir", "file", NULL};
	char out[PATH_MAX];
	nsl_error err;
	const char *root = nsl_checkname(L, 1, PATH_MAX, NULL);
	const char *path = nsl_checkname(L, 2, PATH_MAX, NULL);
	int create = lua_isnoneornil(L, 3) ? 0 : "df"[luaL_checkoption(L, 3, NULL, kinds)];
	nsl_checknargs(L, 3);
	if (nsl_resolve_path(root, path, create, out, sizeof out, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushstring(L, out);
	return 1;
}

/*
 * nsl.mkdtemp([prefix]) -> string
 * Creates a new private directory (mode 0700) named prefix followed by
 * six random characters; prefix defaults to "/tmp/nsl-". @see mkdtemp(3)
 */
static int l_mkdtemp(lua_State *L)
{
	char tmpl[PATH_MAX];
	const char *prefix = nsl_optname(L, 1, PATH_MAX - 8, NULL);
	nsl_checknargs(L, 1);
	snprintf(tmpl, sizeof tmpl, "%sXXXXXX", prefix ? prefix : "/tmp/nsl-");
	if (!mkdtemp(tmpl))
		return nsl_pusherrno(L, "mkdtemp %s", tmpl);
	lua_pushstring(L, tmpl);
	return 1;
}

/*
 * nsl.readdir(path) -> {name, ...}
 * The names in a directory, "." and ".." left out, in the order the file
 * system gives them. @see readdir(3)
 */
static int l_readdir(lua_State *L)
{
	const char *path = nsl_checkname(L, 1, PATH_MAX, NULL);
	nsl_checknargs(L, 1);
	return nsl_push_names(L, open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), path);
}

const luaL_Reg nsl_fs_funcs[] = {
	{"readdir", l_readdir},
	{"mkdir", l_mkdir},
	{"rmdir", l_rmdir},
	{"unlink", l_unlink},
	{"symlink", l_symlink},
	{"readlink", l_readlink},
	{"realpath", l_realpath},
	{"lstat", l_lstat},
	{"chmod", l_chmod},
	{"mknod", l_mknod},
	{"touch", l_touch},
	{"umask", l_umask},
	{"chdir", l_chdir},
	{"chroot", l_chroot},
	{"resolve", l_resolve},
	{"mkdtemp", l_mkdtemp},
	{NULL, NULL},
};
