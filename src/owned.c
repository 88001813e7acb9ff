/*
 * Directories the caller owns, and work beneath them. A path in a shared
 * place (/tmp, another user's home) can be made or swapped by someone
 * else first; nsl writes into, reads its state from, and removes only
 * beneath a directory that passed nsl_owned_open: reached from / without
 * a symbolic link, through directories no other user can rename, and
 * owned by the caller and writable by no one else. Work beneath it is
 * done with *at calls on its descriptor, none of them following a link.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"
#include "areas.h"

#define DIR_MT "nsl.owned_dir"

/* ---- Lua-free ------------------------------------------------------------ */

/* Why a directory on the way to the one asked for cannot be trusted, or
 * NULL: someone other than root and the caller could rename what is in it
 * (its owner, or anyone when it is writable by others without the sticky
 * bit, which limits renames to the entries' owners). */
static const char *untrusted_ancestor(const struct stat *st, uid_t me)
{
	if (st->st_uid != 0 && st->st_uid != me)
		return "is owned by another user";
	if ((st->st_mode & 022) && !(st->st_mode & S_ISVTX))
		return "is writable by other users";
	return NULL;
}

/* name in dirfd gets exactly mode (sticky bits and all, whatever the
 * umask), through a descriptor: a link there is not followed. */
static int mode_at(int dirfd, const char *name, mode_t mode)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fchmod(fd, mode);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* A new directory name in dirfd, with exactly mode. */
static int mkdir_exact(int dirfd, const char *name, mode_t mode)
{
	if (mkdirat(dirfd, name, 0700) < 0)
		return -1;
	return mode_at(dirfd, name, mode);
}

/* path made absolute (from the working directory) into abs. */
static int absolute(const char *path, char abs[PATH_MAX], nsl_error *err)
{
	if (path[0] == '/') {
		if (strlen(path) >= PATH_MAX)
			return nsl_fail(err, ENAMETOOLONG, "%s", path);
		strcpy(abs, path);
		return 0;
	}
	if (!getcwd(abs, PATH_MAX))
		return nsl_fail(err, errno, "%s: getcwd", path);
	size_t n = strlen(abs);
	if (n + 1 + strlen(path) + 1 > PATH_MAX)
		return nsl_fail(err, ENAMETOOLONG, "%s", path);
	snprintf(abs + n, PATH_MAX - n, "/%s", path);
	return 0;
}

/* One step down from the directory fd (taken, and closed) to its entry
 * name, made first when mode >= 0 (exactly mode, whatever the umask);
 * sofar is the path so far, for messages. A link or anything but a
 * directory stops the walk. Returns the entry's O_PATH descriptor, its
 * stat in st. */
static int step_down(int fd, const char *name, int mode, const char *sofar,
                     const char *path, struct stat *st, nsl_error *err)
{
	if (mode >= 0)
		mkdir_exact(fd, name, (mode_t)mode); /* EEXIST: looked at below */
	int next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(fd);
	if (next < 0)
		return nsl_fail(err, e, "%s", sofar);
	if (fstat(next, st) < 0 || !S_ISDIR(st->st_mode)) {
		int lnk = S_ISLNK(st->st_mode);
		close(next);
		if (lnk)
			return nsl_fail(err, 0, "%s: %s is a symbolic link; nsl follows none in a "
			                "path it trusts (give the real path)", path, sofar);
		return nsl_fail(err, ENOTDIR, "%s", sofar);
	}
	return next;
}

/* The last directory of the walk: the caller's, and closed enough. */
static int check_own(const struct stat *st, int private, const char *path, nsl_error *err)
{
	uid_t me = geteuid();
	if (st->st_uid != me)
		return nsl_fail(err, 0, "%s is owned by uid %u, not by you (uid %u): someone else may "
		                "have made it first; remove it or use a directory of your own",
		                path, (unsigned)st->st_uid, (unsigned)me);
	if (st->st_mode & (private ? 077 : 022))
		return nsl_fail(err, 0, "%s has mode %04o: it must be %s (chmod %s %s)", path,
		                (unsigned)(st->st_mode & 07777),
		                private ? "closed to other users" : "writable by you only",
		                private ? "0700" : "go-w", path);
	return 0;
}

/* Opens the directory at path, checked as the file comment says; missing
 * components are made when mode >= 0 (the last with mode, exactly; those
 * on the way 0755). private also asks that no one else may enter it.
 * Returns an O_PATH descriptor, or -1 with err set. */
int nsl_owned_open(const char *path, int mode, int private, nsl_error *err)
{
	char abs[PATH_MAX], sofar[PATH_MAX] = "", name[NAME_MAX + 1];
	if (absolute(path, abs, err) < 0)
		return -1;
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return nsl_fail(err, errno, "%s: open /", path);
	for (const char *p = abs + strspn(abs, "/"); *p; p += strspn(p, "/")) {
		const char *why = untrusted_ancestor(&st, geteuid());
		if (why) {
			close(fd);
			return nsl_fail(err, 0, "%s: %s %s (owner uid %u, mode %04o), so what is in it "
			                "could be swapped; use a directory of your own",
			                path, *sofar ? sofar : "/", why, (unsigned)st.st_uid,
			                (unsigned)(st.st_mode & 07777));
		}
		size_t n = strcspn(p, "/");
		if (n > NAME_MAX) {
			close(fd);
			return nsl_fail(err, ENAMETOOLONG, "%s", path);
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		size_t slen = strlen(sofar);
		snprintf(sofar + slen, sizeof sofar - slen, "/%s", name);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			close(fd);
			return nsl_fail(err, EINVAL, "%s: '.' and '..' are not accepted in a path nsl trusts", path);
		}
		int last = p[strspn(p, "/")] == '\0';
		fd = step_down(fd, name, mode < 0 ? -1 : last ? mode : 0755, sofar, path, &st, err);
		if (fd < 0)
			return -1;
	}
	if (check_own(&st, private, path, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Opens the directory holding rel's last component beneath dirfd, no
 * component followed if it is a link; *last points into rel at that
 * component. rel must be relative, without "." or ".." components. */
static int open_parent(int dirfd, const char *rel, const char **last)
{
	if (!*rel || rel[0] == '/') {
		errno = EINVAL;
		return -1;
	}
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	char part[NAME_MAX + 1];
	for (;;) {
		size_t n = strcspn(rel, "/");
		if (n == 0 || n > NAME_MAX || (n == 1 && rel[0] == '.') ||
		    (n == 2 && rel[0] == '.' && rel[1] == '.')) {
			close(fd);
			errno = n > NAME_MAX ? ENAMETOOLONG : EINVAL;
			return -1;
		}
		if (rel[n] == '\0') {
			*last = rel;
			return fd;
		}
		memcpy(part, rel, n);
		part[n] = '\0';
		int next = openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0) {
			if (errno == ELOOP)
				errno = ENOTDIR; /* a link where a directory should be */
			return -1;
		}
		fd = next;
		rel += n + 1;
	}
}

/* Removes name in dirfd and, if it is a directory, all beneath it:
 * nothing followed, no other file system entered (dev is the top's). */
static int remove_at(int dirfd, const char *name, dev_t dev, int depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	if (st.st_dev != dev) {
		errno = EXDEV; /* a mount point, or another file system: not nsl's to empty */
		return -1;
	}
	if (depth > 512) {
		errno = ELOOP;
		return -1;
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -1;
	if ((st.st_mode & 0700) != 0700) {
		/* overlayfs leaves its work/work at mode 0: opened to be emptied */
		int rfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (rfd < 0 && errno == EACCES) {
			/* no read permission (rootless): chmod through an O_PATH
			 * descriptor, which names the directory itself */
			int pfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (pfd >= 0) {
				char proc[64];
				snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
				chmod(proc, st.st_mode | 0700);
				close(pfd);
			}
		} else if (rfd >= 0) {
			fchmod(rfd, st.st_mode | 0700);
			close(rfd);
		}
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (remove_at(fd, e->d_name, dev, depth + 1) < 0) {
			rc = -1;
			break;
		}
	}
	int saved = errno;
	closedir(d);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes rel beneath dirfd, whatever it is; 0 when it is gone. */
int nsl_remove_beneath(int dirfd, const char *rel, nsl_error *err)
{
	const char *last;
	struct stat top;
	if (fstat(dirfd, &top) < 0)
		return nsl_fail(err, errno, "remove %s: stat", rel);
	nsl_autoclose int pfd = open_parent(dirfd, rel, &last);
	if (pfd < 0)
		return errno == ENOENT ? 0 : nsl_fail(err, errno, "remove %s", rel);
	if (remove_at(pfd, last, top.st_dev, 0) < 0)
		return nsl_fail(err, errno, "remove %s", rel);
	return 0;
}

/* Writes len bytes of data as rel beneath dirfd, mode exactly: into a new
 * file beside it, renamed over it, so that readers see the old or the new
 * content, and a link at rel is replaced, never written through. */
static int write_beneath(int dirfd, const char *rel, const char *data, size_t len,
                         mode_t mode, nsl_error *err)
{
	const char *last;
	nsl_autoclose int pfd = open_parent(dirfd, rel, &last);
	if (pfd < 0)
		return nsl_fail(err, errno, "write %s", rel);
	char tmp[NAME_MAX + 1];
	int fd = -1;
	for (int i = 0; i < 100 && fd < 0; i++) {
		snprintf(tmp, sizeof tmp, ".nsl-new-%d-%d", (int)getpid(), i);
		fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return nsl_fail(err, errno, "write %s", rel);
	}
	if (fd < 0)
		return nsl_fail(err, EEXIST, "write %s", rel);
	size_t done = 0;
	while (done < len) {
		ssize_t n = NSL_RETRY(write(fd, data + done, len - done));
		if (n < 0)
			break;
		done += (size_t)n;
	}
	int e = done < len ? errno : 0;
	if (!e && fchmod(fd, mode) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && renameat(pfd, tmp, pfd, last) < 0)
		e = errno;
	if (e) {
		unlinkat(pfd, tmp, 0);
		return nsl_fail(err, e, "write %s", rel);
	}
	return 0;
}

/* ---- Lua wrappers -------------------------------------------------------- */

typedef struct {
	int fd; /* O_PATH, -1 once closed */
	char path[];
} owned_dir;

static owned_dir *check_dir(lua_State *L)
{
	owned_dir *d = luaL_checkudata(L, 1, DIR_MT);
	luaL_argcheck(L, d->fd >= 0, 1, "directory handle is closed");
	return d;
}

/* The relative path argument of a method: no NUL, not absolute, no "."
 * or ".." component. */
static const char *check_rel(lua_State *L, int arg)
{
	const char *rel = nsl_checkname(L, arg, PATH_MAX - 1, NULL);
	luaL_argcheck(L, *rel && rel[0] != '/', arg, "a relative path is expected");
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		luaL_argcheck(L, n > 0 && !(n == 1 && p[0] == '.') &&
		              !(n == 2 && p[0] == '.' && p[1] == '.'), arg,
		              "empty, '.' and '..' components are not accepted");
		p += n + (p[n] == '/');
	}
	return rel;
}

static int fail_rel(lua_State *L, const owned_dir *d, const char *what, const char *rel)
{
	if (errno == ELOOP || errno == EMLINK)
		errno = ELOOP;
	return nsl_pusherrno(L, "%s %s/%s", what, d->path, rel);
}

/*
 * nsl.owned_dir(path [, opts]) -> dir
 * A handle on the directory at path, if it is the caller's own: reached
 * from / without a symbolic link, through directories that only root or
 * the caller could change (or sticky ones, as /tmp), and owned by the
 * caller and writable by no one else. Otherwise nil and a message that
 * names the path, what is wrong and the way out. opts.create = mode makes
 * what is missing (the directory itself with that mode exactly, those on
 * the way 0755); opts.private = true also asks that no one else may enter
 * it (mode 0700 or less). The methods work beneath the directory and
 * follow no symbolic link; paths given to them are relative, without "."
 * or "..": dir:path(), dir:lstat(rel), dir:read(rel), dir:write(rel,
 * data [, mode]) (a new file renamed into place), dir:mkdir(rel [, mode]),
 * dir:symlink(target, rel), dir:chmod(rel, mode), dir:list([rel]),
 * dir:remove(rel) (whatever is there, and all beneath it, never entering
 * another file system), dir:close().
 */
static int l_owned_dir(lua_State *L)
{
	size_t len;
	const char *path = nsl_checkname(L, 1, PATH_MAX - 1, &len);
	luaL_argcheck(L, len > 0, 1, "empty path");
	int t = nsl_opttable(L, 2) ? 2 : 0;
	nsl_checknargs(L, 2);
	int mode = -1, private = 0;
	if (t) {
		static const char *const fields[] = {"create", "private", NULL};
		nsl_checkfields(L, t, fields, "owned_dir options");
		mode = (int)nsl_optfieldrange(L, t, "create", "owned_dir options", 0, 07777, -1);
		lua_getfield(L, t, "private");
		private = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	owned_dir *d = lua_newuserdatauv(L, sizeof *d + len + 1, 0);
	d->fd = -1;
	memcpy(d->path, path, len + 1);
	while (len > 1 && d->path[len - 1] == '/')
		d->path[--len] = '\0';
	luaL_setmetatable(L, DIR_MT);
	nsl_error err;
	d->fd = nsl_owned_open(path, mode, private, &err);
	if (d->fd < 0)
		return nsl_pushfail(L, &err);
	return 1;
}

static int dir_path(lua_State *L)
{
	owned_dir *d = check_dir(L);
	lua_pushstring(L, d->path);
	return 1;
}

static int dir_close(lua_State *L)
{
	owned_dir *d = luaL_checkudata(L, 1, DIR_MT);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	return 0;
}

static int dir_lstat(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	nsl_checknargs(L, 2);
	const char *last;
	struct stat st;
	nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
	if (pfd < 0 || fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_rel(L, d, "lstat", rel);
	nsl_push_stat(L, &st);
	return 1;
}

static int dir_read(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	nsl_checknargs(L, 2);
	const char *last;
	nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
	if (pfd < 0)
		return fail_rel(L, d, "read", rel);
	nsl_autoclose int fd = openat(pfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail_rel(L, d, "read", rel);
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return nsl_pusherrno(L, "read %s/%s: not a regular file", d->path, rel);
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (;;) {
		char *p = luaL_prepbuffer(&b);
		ssize_t n = NSL_RETRY(read(fd, p, LUAL_BUFFERSIZE));
		if (n < 0)
			return fail_rel(L, d, "read", rel);
		if (n == 0)
			break;
		luaL_addsize(&b, (size_t)n);
	}
	luaL_pushresult(&b);
	return 1;
}

static int dir_write(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	size_t len;
	const char *data = luaL_checklstring(L, 3, &len);
	mode_t mode = (mode_t)(lua_isnoneornil(L, 4) ? 0644 : nsl_checkrange(L, 4, 0, 07777, "mode"));
	nsl_checknargs(L, 4);
	nsl_error err;
	if (write_beneath(d->fd, rel, data, len, mode, &err) < 0) {
		errno = err.code;
		return fail_rel(L, d, "write", rel);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int dir_mkdir(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	mode_t mode = (mode_t)(lua_isnoneornil(L, 3) ? 0755 : nsl_checkrange(L, 3, 0, 07777, "mode"));
	nsl_checknargs(L, 3);
	const char *last;
	nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
	if (pfd < 0 || mkdir_exact(pfd, last, mode) < 0)
		return fail_rel(L, d, "mkdir", rel);
	lua_pushboolean(L, 1);
	return 1;
}

static int dir_symlink(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *target = nsl_checkname(L, 2, PATH_MAX - 1, NULL);
	const char *rel = check_rel(L, 3);
	nsl_checknargs(L, 3);
	const char *last;
	nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
	if (pfd < 0 || symlinkat(target, pfd, last) < 0)
		return fail_rel(L, d, "symlink", rel);
	lua_pushboolean(L, 1);
	return 1;
}

static int dir_chmod(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	mode_t mode = (mode_t)nsl_checkrange(L, 3, 0, 07777, "mode");
	nsl_checknargs(L, 3);
	const char *last;
	nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
	if (pfd < 0 || mode_at(pfd, last, mode) < 0)
		return fail_rel(L, d, "chmod", rel);
	lua_pushboolean(L, 1);
	return 1;
}

static int dir_list(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = lua_isnoneornil(L, 2) ? NULL : check_rel(L, 2);
	nsl_checknargs(L, 2);
	int fd;
	if (rel) {
		const char *last;
		nsl_autoclose int pfd = open_parent(d->fd, rel, &last);
		fd = pfd < 0 ? -1 : openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	lua_pushfstring(L, "%s/%s", d->path, rel ? rel : ".");
	return nsl_push_names(L, fd, lua_tostring(L, -1));
}

static int dir_remove(lua_State *L)
{
	owned_dir *d = check_dir(L);
	const char *rel = check_rel(L, 2);
	nsl_checknargs(L, 2);
	nsl_error err;
	if (nsl_remove_beneath(d->fd, rel, &err) < 0) {
		errno = err.code;
		return fail_rel(L, d, "remove", rel);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int dir_tostring(lua_State *L)
{
	owned_dir *d = luaL_checkudata(L, 1, DIR_MT);
	lua_pushfstring(L, "nsl.owned_dir(%s%s)", d->path, d->fd < 0 ? ", closed" : "");
	return 1;
}

static const luaL_Reg dir_methods[] = {
	{"path", dir_path},
	{"lstat", dir_lstat},
	{"read", dir_read},
	{"write", dir_write},
	{"mkdir", dir_mkdir},
	{"symlink", dir_symlink},
	{"chmod", dir_chmod},
	{"list", dir_list},
	{"remove", dir_remove},
	{"close", dir_close},
	{NULL, NULL},
};

static const luaL_Reg dir_meta[] = {
	{"__gc", dir_close},
	{"__close", dir_close},
	{"__tostring", dir_tostring},
	{NULL, NULL},
};

static int l_owned_dir_open(lua_State *L)
{
	if (luaL_newmetatable(L, DIR_MT)) {
		luaL_setfuncs(L, dir_meta, 0);
		luaL_newlib(L, dir_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	return l_owned_dir(L);
}

const luaL_Reg nsl_owned_funcs[] = {
	{"owned_dir", l_owned_dir_open},
	{NULL, NULL},
};
