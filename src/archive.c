/*
 * The module `nsl.archive`: image layers unpacked as hostile input
 * (libarchive reads them) and digests of blobs (nettle's sha256).
 *
 * Not in nsl.core and not in the binary: libarchive brings zlib, zstd,
 * xz, libxml2 and more, so the module is a .so of its own that the image
 * paths require, and a plain container never maps it.
 *
 * unpack writes every member itself, never with archive_write_disk:
 * each member's parent is resolved beneath the target directory with no
 * symbolic link followed (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
 * or one O_NOFOLLOW step per component without openat2), and the member
 * is made with *at calls on that parent, none of them following a link.
 * Symbolic links the archive makes earlier are then never gone through,
 * and nothing is ever written outside the directory, whatever the
 * archive holds.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "nsl.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define BLOCK (64 * 1024)
#define PROGRESS_STEP (1 << 20)

/* ---- digests ------------------------------------------------------------- */

static void hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * archive.sha256(path) -> hex, size
 * The SHA-256 of the file at path (read in blocks, never whole), as 64
 * lower-case hex digits, and its size in bytes; nil, message, errno when
 * it cannot be read.
 */
static int l_sha256(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	luaL_argcheck(L, strlen(path) == lua_rawlen(L, 1), 1, "contains a NUL byte");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		goto fail;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	uint8_t buf[BLOCK];
	lua_Integer size = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e;
			goto fail;
		}
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		size += n;
	}
	close(fd);
	uint8_t d[SHA256_DIGEST_SIZE];
	char out[2 * SHA256_DIGEST_SIZE + 1];
	sha256_digest(&ctx, sizeof d, d);
	hex(d, sizeof d, out);
	lua_pushstring(L, out);
	lua_pushinteger(L, size);
	return 2;
fail:
	{
		int e = errno;
		lua_pushnil(L);
		lua_pushfstring(L, "sha256 %s: %s", path, strerror(e));
		lua_pushinteger(L, e);
		return 3;
	}
}

/*
 * archive.sha256_string(s) -> hex
 * The SHA-256 of the string s, as 64 lower-case hex digits.
 */
static int l_sha256_string(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char out[2 * SHA256_DIGEST_SIZE + 1];
	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)s);
	sha256_digest(&ctx, sizeof d, d);
	hex(d, sizeof d, out);
	lua_pushstring(L, out);
	return 1;
}

/* ---- unpacking: Lua-free ------------------------------------------------- */

enum whiteouts { WH_OVERLAY, WH_KEEP };

struct unpack_opts {
	int devices;            /* make char and block devices (root only) */
	enum whiteouts whiteouts;
	const char *opaque_xattr;
	/* called with the bytes read so far; nonzero stops with its message */
	int (*progress)(void *arg, int64_t bytes, char *msg, size_t msglen);
	void *progress_arg;
};

/* A directory's mode and times, applied at the end. */
struct dir_rec {
	char *path;
	size_t seq;
	mode_t mode;
	struct timespec times[2];
};

struct unpack {
	const struct unpack_opts *opts;
	const char *archive_path;
	int rootfd;
	int root;               /* euid 0: owners, setuid bits, devices, trusted.* */
	struct dir_rec *dirs;
	size_t ndirs, capdirs;
	int64_t entries, bytes;
	char msg[PATH_MAX + 512];
};

/* Records "unpack ARCHIVE: MEMBER: what" (and strerror(code) when code),
 * returns -1. */
__attribute__((format(printf, 4, 5)))
static int fail(struct unpack *u, const char *member, int code, const char *fmt, ...)
{
	char what[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (member)
		snprintf(u->msg, sizeof u->msg, "unpack %s: %s: %s%s%s", u->archive_path, member,
		         what, code ? ": " : "", code ? strerror(code) : "");
	else
		snprintf(u->msg, sizeof u->msg, "unpack %s: %s%s%s", u->archive_path, what,
		         code ? ": " : "", code ? strerror(code) : "");
	return -1;
}

/*
 * A member's name made into a path relative to the target directory,
 * into out: "." and empty components dropped, ".." taking back the
 * component before it (lexically: nothing is looked up, and no link is
 * followed later, so a/../b is b whatever a is). Refuses with a reason:
 * an absolute name (tar strips the '/'; a layer has no reason to hold
 * one, so it is taken as an attack), a ".." that climbs above the
 * directory, a name or component too long. *last_dot is set when the
 * name's last component is "." or "..".
 */
static const char *normalize(const char *name, char out[PATH_MAX], int *last_dot)
{
	size_t len = 0;
	*last_dot = 0;
	if (name[0] == '/')
		return "is an absolute path";
	if (strlen(name) >= PATH_MAX)
		return "has a name too long";
	out[0] = '\0';
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n > NAME_MAX)
			return "has a component longer than 255 bytes";
		int dot = n == 1 && p[0] == '.';
		int dotdot = n == 2 && p[0] == '.' && p[1] == '.';
		if (n > 0)
			*last_dot = dot || dotdot;
		if (dotdot) {
			if (len == 0)
				return "climbs out of the directory with '..'";
			char *slash = strrchr(out, '/');
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
		} else if (n > 0 && !dot) {
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
			out[len] = '\0';
		}
		p += n;
		p += strspn(p, "/");
	}
	return NULL;
}

/* Opens the directory rel (symlink-free, normalized; "" for the root)
 * beneath rootfd, following no symbolic link; when create, missing
 * directories on the way are made (0755, the caller's). An O_PATH
 * descriptor, or -1 with errno (ELOOP: a symbolic link on the way,
 * ENOTDIR: something else). */
static int open_beneath(int rootfd, const char *rel, int create)
{
	if (!*rel)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	static int no_openat2;
	if (!no_openat2) {
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
		if (fd >= 0 || (errno != ENOSYS && !(errno == ENOENT && create)))
			return fd;
		if (errno == ENOSYS)
			no_openat2 = 1;
	}
	/* one component at a time, none followed, missing ones made */
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	char part[NAME_MAX + 1];
	while (fd >= 0 && *rel) {
		size_t n = strcspn(rel, "/");
		memcpy(part, rel, n);
		part[n] = '\0';
		int next = openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create &&
		    (mkdirat(fd, part, 0755) == 0 || errno == EEXIST))
			next = openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOTDIR) {
			struct stat st;
			if (fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				errno = ELOOP;
			else
				errno = ENOTDIR;
		}
		int e = errno;
		close(fd);
		errno = e;
		fd = next;
		rel += n + (rel[n] == '/');
	}
	return fd;
}

/* Splits the normalized rel into its parent (in parent) and last name. */
static const char *split(const char *rel, char parent[PATH_MAX])
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		parent[0] = '\0';
		return rel;
	}
	memcpy(parent, rel, (size_t)(slash - rel));
	parent[slash - rel] = '\0';
	return slash + 1;
}

/* Removes everything beneath the directory fd (its entries' own links
 * are removed, never followed). */
static int empty_dir(int fd, int depth)
{
	if (depth > 256) {
		errno = ELOOP;
		return -1;
	}
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fchmod(dfd, 0700); /* a 0555 directory of ours, emptied all the same */
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = sub < 0 ? -1 : empty_dir(sub, depth + 1);
			if (sub >= 0)
				close(sub);
			if (rc == 0)
				rc = unlinkat(dfd, e->d_name, AT_REMOVEDIR);
		} else {
			rc = unlinkat(dfd, e->d_name, 0);
		}
	}
	int saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

/* Whatever is at name in parent goes, a directory with all it holds,
 * unless it is a directory and keep_dir. 1 when a directory was kept. */
static int clear(int parent, const char *name, int keep_dir)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0);
	if (keep_dir)
		return 1;
	int fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = empty_dir(fd, 0);
	close(fd);
	return rc < 0 ? -1 : unlinkat(parent, name, AT_REMOVEDIR);
}

/* The member's permission bits as this caller may keep them. */
static mode_t perm(const struct unpack *u, struct archive_entry *e)
{
	mode_t m = archive_entry_perm(e) & 07777;
	return u->root ? m : (m & ~(mode_t)(S_ISUID | S_ISGID));
}

static void entry_times(struct archive_entry *e, struct timespec t[2])
{
	t[1].tv_sec = archive_entry_mtime(e);
	t[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		t[0].tv_sec = archive_entry_atime(e);
		t[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		t[0] = t[1];
	}
}

/* Owner (root only), then times, of name in parent; links not followed. */
static int owner_times(struct unpack *u, int parent, const char *name,
                       struct archive_entry *e, int times)
{
	if (u->root && fchownat(parent, name, (uid_t)archive_entry_uid(e),
	                        (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	struct timespec t[2];
	entry_times(e, t);
	if (times && utimensat(parent, name, t, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return 0;
}

/* The member's extended attributes on fd: user.* always,
 * security.capability as root, the others ignored. */
static int xattrs(struct unpack *u, int fd, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		int wanted = strncmp(name, "user.", 5) == 0 ||
		             (u->root && strcmp(name, "security.capability") == 0);
		if (wanted && fsetxattr(fd, name, value, size, 0) < 0)
			return -1;
	}
	return 0;
}

/* A regular file: its data streamed from the archive (holes kept). */
static int make_file(struct unpack *u, struct archive *a, int parent, const char *name,
                     const char *member, struct archive_entry *e)
{
	if (clear(parent, name, 0) < 0)
		return fail(u, member, errno, "cannot remove what is in the way");
	int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(u, member, errno, "create");
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		const char *p = buf;
		while (len > 0) {
			ssize_t n = pwrite(fd, p, len, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int err = errno;
				close(fd);
				return fail(u, member, err, "write");
			}
			p += n;
			off += n;
			len -= (size_t)n;
			u->bytes += n;
		}
	}
	if (r != ARCHIVE_EOF) {
		close(fd);
		return fail(u, member, 0, "%s", archive_error_string(a));
	}
	int rc = ftruncate(fd, archive_entry_size(e)); /* a sparse file's last hole */
	if (rc == 0 && u->root)
		rc = fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e));
	if (rc == 0)
		rc = xattrs(u, fd, e);
	if (rc == 0) /* after chown, which clears setuid bits */
		rc = fchmod(fd, perm(u, e));
	struct timespec t[2];
	entry_times(e, t);
	if (rc == 0)
		rc = futimens(fd, t);
	int err = errno;
	close(fd);
	return rc < 0 ? fail(u, member, err, "set its attributes") : 0;
}

static int add_dir(struct unpack *u, const char *rel, mode_t mode, struct archive_entry *e)
{
	if (u->ndirs == u->capdirs) {
		size_t cap = u->capdirs ? 2 * u->capdirs : 64;
		struct dir_rec *d = realloc(u->dirs, cap * sizeof *d);
		if (!d)
			return -1;
		u->dirs = d;
		u->capdirs = cap;
	}
	struct dir_rec *d = &u->dirs[u->ndirs];
	if (!(d->path = strdup(rel)))
		return -1;
	d->seq = u->ndirs++;
	d->mode = mode;
	entry_times(e, d->times);
	return 0;
}

/* A directory: one already there is kept; its mode and times wait for
 * the end, so that a 0555 directory can still be filled. */
static int make_dir(struct unpack *u, int parent, const char *name, const char *rel,
                    const char *member, struct archive_entry *e)
{
	int kept = clear(parent, name, 1);
	if (kept < 0)
		return fail(u, member, errno, "cannot remove what is in the way");
	if (!kept && mkdirat(parent, name, 0700) < 0)
		return fail(u, member, errno, "mkdir");
	if (owner_times(u, parent, name, e, 0) < 0)
		return fail(u, member, errno, "chown");
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(u, member, errno, "open");
	int rc = xattrs(u, fd, e);
	int err = errno;
	close(fd);
	if (rc < 0)
		return fail(u, member, err, "set its extended attributes");
	if (add_dir(u, rel, perm(u, e), e) < 0)
		return fail(u, member, ENOMEM, "remember its mode");
	return 0;
}

/* A hard link to target (a member's name, resolved beneath the directory
 * without following a link; linkat does not follow the last one). */
static int make_hardlink(struct unpack *u, int parent, const char *name, const char *rel,
                         const char *member, const char *target)
{
	char trel[PATH_MAX], tparent[PATH_MAX];
	int dot;
	const char *why = normalize(target, trel, &dot);
	if (why)
		return fail(u, member, 0, "refused: its hard link target '%s' %s", target, why);
	if (!*trel)
		return fail(u, member, 0, "refused: a hard link to the directory itself");
	if (strcmp(trel, rel) == 0)
		return 0; /* a link to itself: what is there already is it */
	const char *tname = split(trel, tparent);
	int tfd = open_beneath(u->rootfd, tparent, 0);
	if (tfd < 0)
		return fail(u, member, 0, "refused: its hard link target '%s' %s", target,
		            errno == ELOOP || errno == EXDEV ? "goes through a symbolic link"
		                                             : strerror(errno));
	struct stat st;
	int rc = fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		close(tfd);
		return fail(u, member, 0, "refused: its hard link target '%s' is a directory", target);
	}
	if (rc == 0 && clear(parent, name, 0) < 0)
		rc = -1;
	if (rc == 0)
		rc = linkat(tfd, tname, parent, name, 0);
	int err = errno;
	close(tfd);
	return rc < 0 ? fail(u, member, err, "hard link to '%s'", target) : 0;
}

/* A special file: fifo, or char/block device (root, opts.devices). */
static int make_node(struct unpack *u, int parent, const char *name, const char *member,
                     struct archive_entry *e, mode_t type)
{
	if ((type == S_IFCHR || type == S_IFBLK) && !(u->opts->devices && u->root))
		return fail(u, member, 0, "refused: a device node (%u:%u); devices = true makes them, "
		            "as root only", (unsigned)archive_entry_rdevmajor(e),
		            (unsigned)archive_entry_rdevminor(e));
	if (clear(parent, name, 0) < 0)
		return fail(u, member, errno, "cannot remove what is in the way");
	dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(e);
	if (mknodat(parent, name, type | 0600, dev) < 0)
		return fail(u, member, errno, "mknod");
	if (owner_times(u, parent, name, e, 0) < 0)
		return fail(u, member, errno, "chown");
	int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(u, member, errno, "open");
	/* fchmod wants a real descriptor; an O_PATH one works through /proc */
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	int rc = chmod(proc, perm(u, e));
	int err = errno;
	close(fd);
	if (rc < 0)
		return fail(u, member, err, "chmod");
	if (owner_times(u, parent, name, e, 1) < 0)
		return fail(u, member, errno, "set its times");
	return 0;
}

/* overlayfs's whiteout (a char device 0:0, which unprivileged users may
 * make since Linux 5.8) at name, in place of what is there. */
static int make_whiteout(struct unpack *u, int parent, const char *name, const char *member,
                         struct archive_entry *e)
{
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(name, ".wh.", 4) == 0)
		return fail(u, member, 0, "refused: a whiteout of no valid name");
	if (clear(parent, name, 0) < 0)
		return fail(u, member, errno, "cannot remove what is in the way");
	if (mknodat(parent, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return fail(u, member, errno, "make the whiteout");
	if (owner_times(u, parent, name, e, 1) < 0)
		return fail(u, member, errno, "set its owner and times");
	return 0;
}

/* DIR/.wh..wh..opq: DIR marked opaque (opts.opaque_xattr = "y"). */
static int make_opaque(struct unpack *u, int parent, const char *member)
{
	int fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(u, member, errno, "open its directory");
	int rc = fsetxattr(fd, u->opts->opaque_xattr, "y", 1, 0);
	int err = errno;
	close(fd);
	return rc < 0 ? fail(u, member, err, "set %s", u->opts->opaque_xattr) : 0;
}

static int one_entry(struct unpack *u, struct archive *a, struct archive_entry *e)
{
	const char *member = archive_entry_pathname(e);
	if (!member)
		member = archive_entry_pathname_utf8(e);
	if (!member)
		return fail(u, NULL, 0, "member %lld: a name that cannot be read",
		            (long long)u->entries + 1);
	char rel[PATH_MAX], parent_rel[PATH_MAX];
	int dot;
	mode_t type = archive_entry_filetype(e);
	/* "/" as a directory is the layer's root (umoci writes it): the
	 * directory itself, as "./" is; any other absolute name is refused */
	if (member[0] == '/' && member[strspn(member, "/")] == '\0' && type == AE_IFDIR &&
	    !archive_entry_hardlink(e))
		return 0;
	const char *why = normalize(member, rel, &dot);
	if (why)
		return fail(u, member, 0, "refused: it %s", why);
	const char *hardlink = archive_entry_hardlink(e);
	if (!*rel || dot) {
		if (type == AE_IFDIR && !hardlink)
			return 0; /* "./": the directory itself, the caller's, as it is */
		return fail(u, member, 0, "refused: a %s named '.' or '..'",
		            hardlink ? "hard link" : type == AE_IFLNK ? "symbolic link" : "file");
	}
	const char *name = split(rel, parent_rel);
	int whiteout = u->opts->whiteouts == WH_OVERLAY && strncmp(name, ".wh.", 4) == 0;
	int parent = open_beneath(u->rootfd, parent_rel, 1);
	if (parent < 0) {
		if (errno == ELOOP || errno == EXDEV)
			return fail(u, member, 0, "refused: it goes through a symbolic link");
		return fail(u, member, errno, "open its directory '%s'", parent_rel);
	}
	int rc;
	if (whiteout && strcmp(name, ".wh..wh..opq") == 0)
		rc = make_opaque(u, parent, member);
	else if (whiteout)
		rc = make_whiteout(u, parent, name + 4, member, e);
	else if (hardlink)
		rc = make_hardlink(u, parent, name, rel, member, hardlink);
	else if (type == AE_IFREG)
		rc = make_file(u, a, parent, name, member, e);
	else if (type == AE_IFDIR)
		rc = make_dir(u, parent, name, rel, member, e);
	else if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target)
			rc = fail(u, member, 0, "refused: a symbolic link without a target");
		else if (clear(parent, name, 0) < 0)
			rc = fail(u, member, errno, "cannot remove what is in the way");
		else if (symlinkat(target, parent, name) < 0)
			rc = fail(u, member, errno, "symlink");
		else if (owner_times(u, parent, name, e, 1) < 0)
			rc = fail(u, member, errno, "set its owner and times");
		else
			rc = 0;
	} else if (type == AE_IFIFO || type == AE_IFCHR || type == AE_IFBLK)
		rc = make_node(u, parent, name, member, e, type);
	else
		rc = fail(u, member, 0, "refused: a member of unknown type 0%o", (unsigned)type);
	close(parent);
	return rc;
}

static int by_path_then_seq(const void *x, const void *y)
{
	const struct dir_rec *a = x, *b = y;
	int c = strcmp(a->path, b->path);
	return c ? c : (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/* The directories' modes and times, deepest first (a child sorts after
 * its parent), each directory's last member winning. A directory a later
 * member replaced is skipped. */
static int finish_dirs(struct unpack *u)
{
	if (u->ndirs > 1)
		qsort(u->dirs, u->ndirs, sizeof *u->dirs, by_path_then_seq);
	for (size_t i = u->ndirs; i-- > 0;) {
		struct dir_rec *d = &u->dirs[i];
		if (i + 1 < u->ndirs && strcmp(d->path, u->dirs[i + 1].path) == 0)
			continue;
		char prel[PATH_MAX];
		const char *name = split(d->path, prel);
		int parent = open_beneath(u->rootfd, prel, 0);
		int fd = parent < 0 ? -1 :
		         openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (parent >= 0)
			close(parent);
		if (fd < 0)
			continue;
		int rc = fchmod(fd, d->mode);
		if (rc == 0)
			rc = futimens(fd, d->times);
		int err = errno;
		close(fd);
		if (rc < 0)
			return fail(u, d->path, err, "set its mode and times");
	}
	return 0;
}

static int dir_is_empty(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Unpacks the layer tarball at path into the empty directory dir. 0, or
 * -1 with the message in u->msg. */
static int unpack(struct unpack *u, const char *path, const char *dir)
{
	u->archive_path = path;
	u->root = geteuid() == 0;
	u->rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (u->rootfd < 0)
		return fail(u, NULL, errno, "target %s", dir);
	int empty = dir_is_empty(u->rootfd);
	if (empty <= 0)
		return fail(u, NULL, empty < 0 ? errno : 0, "target %s%s", dir,
		            empty < 0 ? "" : " is not empty");
	struct archive *a = archive_read_new();
	if (!a)
		return fail(u, NULL, ENOMEM, "archive_read_new");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = fail(u, NULL, errno, "open");
		goto out;
	}
	if (archive_read_open_fd(a, fd, BLOCK) != ARCHIVE_OK) {
		rc = fail(u, NULL, 0, "%s", archive_error_string(a));
		goto out;
	}
	int64_t next_report = PROGRESS_STEP;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = fail(u, NULL, 0, "after %lld members: %s", (long long)u->entries,
			          archive_error_string(a));
			goto out;
		}
		if ((rc = one_entry(u, a, e)) < 0)
			goto out;
		u->entries++;
		int64_t read = archive_filter_bytes(a, -1);
		if (u->opts->progress && read >= next_report) {
			next_report = read + PROGRESS_STEP;
			char msg[256];
			if (u->opts->progress(u->opts->progress_arg, read, msg, sizeof msg)) {
				rc = fail(u, NULL, 0, "progress: %s", msg);
				goto out;
			}
		}
	}
	rc = finish_dirs(u);
out:
	archive_read_free(a);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void unpack_free(struct unpack *u)
{
	for (size_t i = 0; i < u->ndirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	u->dirs = NULL;
	u->ndirs = u->capdirs = 0;
	if (u->rootfd >= 0)
		close(u->rootfd);
	u->rootfd = -1;
}

/* ---- unpacking: Lua ------------------------------------------------------ */

struct lua_progress {
	lua_State *L;
	int fn; /* stack index of the function */
};

/* The Lua progress function, called protected: its error stops the
 * unpacking with its message, never longjmps across the Lua-free part. */
static int call_progress(void *arg, int64_t bytes, char *msg, size_t msglen)
{
	struct lua_progress *p = arg;
	lua_pushvalue(p->L, p->fn);
	lua_pushinteger(p->L, (lua_Integer)bytes);
	if (lua_pcall(p->L, 1, 0, 0) == LUA_OK)
		return 0;
	const char *m = lua_tostring(p->L, -1);
	snprintf(msg, msglen, "%s", m ? m : "(an error that is not a string)");
	lua_pop(p->L, 1);
	return 1;
}

/*
 * archive.unpack(path, dir [, opts]) -> {entries = n, bytes = n}
 * Unpacks the layer tarball at path (tar, gzip or zstd, told apart by
 * their contents) into dir, an existing empty directory, as hostile
 * input: nothing is ever written outside dir, nor through a symbolic
 * link, including those the archive made. Refused, with the member
 * named: absolute names, ".." that climbs out of dir, a member whose
 * directory is reached through a symbolic link, hard links whose target
 * is outside dir or through a symbolic link, a link or file named "." or
 * "..", device nodes (unless opts.devices, and only as root), names too
 * long. Owners (root only; otherwise the caller's), setuid and setgid
 * bits (root only), times, xattrs (user.*; security.capability as root)
 * are kept; directories get their modes and times last. opts:
 * devices = false, whiteouts = "overlay" (".wh.NAME" becomes an overlayfs
 * whiteout at NAME, "DIR/.wh..wh..opq" sets opaque_xattr = "y" on DIR) or
 * "keep" (unpacked as they are), opaque_xattr ("trusted.overlay.opaque"
 * as root, "user.overlay.opaque" otherwise), progress (a function given
 * the bytes read so far, at most every MiB). nil, "unpack PATH: MEMBER:
 * reason" on failure, dir then holding a part that the caller removes.
 */
static int l_unpack(lua_State *L)
{
	if (lua_gettop(L) > 3)
		return luaL_error(L, "archive.unpack: at most 3 arguments");
	const char *path = luaL_checkstring(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	luaL_argcheck(L, strlen(path) == lua_rawlen(L, 1), 1, "contains a NUL byte");
	luaL_argcheck(L, strlen(dir) == lua_rawlen(L, 2), 2, "contains a NUL byte");
	struct unpack_opts opts = {
		.devices = 0,
		.whiteouts = WH_OVERLAY,
		.opaque_xattr = geteuid() == 0 ? "trusted.overlay.opaque" : "user.overlay.opaque",
	};
	struct lua_progress prog = {L, 0};
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_settop(L, 3);
		static const char *const fields[] = {"devices", "whiteouts", "opaque_xattr",
		                                     "progress", NULL};
		lua_pushnil(L);
		while (lua_next(L, 3)) {
			lua_pop(L, 1);
			const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
			int i = 0;
			while (k && fields[i] && strcmp(fields[i], k) != 0)
				i++;
			if (!k || !fields[i])
				return luaL_error(L, "archive.unpack options: unknown option '%s'",
				                  k ? k : luaL_typename(L, -1));
		}
		int t = lua_getfield(L, 3, "devices");
		if (t != LUA_TNIL && t != LUA_TBOOLEAN)
			return luaL_error(L, "archive.unpack options: devices must be a boolean");
		opts.devices = lua_toboolean(L, -1);
		t = lua_getfield(L, 3, "whiteouts");
		if (t != LUA_TNIL) {
			static const char *const modes[] = {"overlay", "keep", NULL};
			opts.whiteouts = luaL_checkoption(L, -1, NULL, modes) == 0 ? WH_OVERLAY : WH_KEEP;
		}
		t = lua_getfield(L, 3, "opaque_xattr");
		if (t != LUA_TNIL) {
			size_t len;
			const char *x = lua_tolstring(L, -1, &len);
			if (t != LUA_TSTRING || len == 0 || len > XATTR_NAME_MAX || strlen(x) != len)
				return luaL_error(L, "archive.unpack options: opaque_xattr must be an "
				                  "xattr name");
			opts.opaque_xattr = x;
		}
		t = lua_getfield(L, 3, "progress");
		if (t != LUA_TNIL && t != LUA_TFUNCTION)
			return luaL_error(L, "archive.unpack options: progress must be a function");
		if (t == LUA_TFUNCTION) {
			prog.fn = lua_gettop(L);
			opts.progress = call_progress;
			opts.progress_arg = &prog;
		}
	}
	/* the state lives in a userdata: nothing below raises until it is
	 * freed, but a memory error in a push would find it there */
	struct unpack *u = lua_newuserdatauv(L, sizeof *u, 0);
	memset(u, 0, sizeof *u);
	u->rootfd = -1;
	u->opts = &opts;
	luaL_setmetatable(L, "nsl.archive_unpack");
	int rc = unpack(u, path, dir);
	lua_Integer entries = u->entries, bytes = u->bytes;
	unpack_free(u);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, u->msg);
		return 2;
	}
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, entries);
	lua_setfield(L, -2, "entries");
	lua_pushinteger(L, bytes);
	lua_setfield(L, -2, "bytes");
	return 1;
}

static int unpack_gc(lua_State *L)
{
	unpack_free(luaL_checkudata(L, 1, "nsl.archive_unpack"));
	return 0;
}

int luaopen_nsl_archive(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"sha256", l_sha256},
		{"sha256_string", l_sha256_string},
		{"unpack", l_unpack},
		{NULL, NULL},
	};
	luaL_newmetatable(L, "nsl.archive_unpack");
	lua_pushcfunction(L, unpack_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	lua_pushstring(L, archive_version_details());
	lua_setfield(L, -2, "libarchive");
	return 1;
}
