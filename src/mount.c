/*
 * Mount namespace: mount, umount, pivot_root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lnsl.h"
#include "util.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif

/* Flags that belong to one mount point rather than to a file system:
 * a bind mount ignores them, only a remount applies them. */
#define PER_MOUNT_FLAGS                                                      \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |         \
	 MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)
#define ATIME_FLAGS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

/* The flags a mount has now, as MS_* values. In a user namespace the
 * kernel locks them: a remount that leaves one out fails with EPERM. */
static unsigned long current_flags(const char *target)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(target, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
	if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
	if (sv.f_flag & ST_NOSYMFOLLOW) f |= MS_NOSYMFOLLOW;
	return f;
}

static int bind_remount(const char *target, unsigned long flags,
                        nsl_error *err)
{
	unsigned long now = current_flags(target);
	unsigned long keep = now & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC |
	                            MS_NOSYMFOLLOW);
	if (!(flags & ATIME_FLAGS))
		keep |= now & (ATIME_FLAGS | MS_NODIRATIME);
	unsigned long f = MS_BIND | MS_REMOUNT | (flags & PER_MOUNT_FLAGS) | keep;
	if (mount(NULL, target, NULL, f, NULL) < 0)
		return nsl_fail(err, errno, "remount %s", target);
	return 0;
}

/* The recursive form: mount_setattr(2) sets the flags on every mount of
 * the tree and leaves the others (locked or not) as they are. */
static int bind_setattr_rec(const char *target, unsigned long flags,
                            nsl_error *err)
{
	struct mount_attr attr = {0};
	if (flags & MS_RDONLY) attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID) attr.attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV) attr.attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC) attr.attr_set |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NOSYMFOLLOW) attr.attr_set |= MOUNT_ATTR_NOSYMFOLLOW;
	if (flags & MS_NODIRATIME) attr.attr_set |= MOUNT_ATTR_NODIRATIME;
	if (flags & ATIME_FLAGS) {
		attr.attr_clr |= MOUNT_ATTR__ATIME;
		if (flags & MS_NOATIME) attr.attr_set |= MOUNT_ATTR_NOATIME;
		else if (flags & MS_STRICTATIME) attr.attr_set |= MOUNT_ATTR_STRICTATIME;
		else attr.attr_set |= MOUNT_ATTR_RELATIME;
	}
	if (mount_setattr(AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) < 0) {
		if (errno == ENOSYS)
			return bind_remount(target, flags, err);
		return nsl_fail(err, errno, "remount %s", target);
	}
	return 0;
}

int nsl_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data, nsl_error *err)
{
	int fresh_bind = (flags & MS_BIND) && !(flags & MS_REMOUNT);
	unsigned long first = fresh_bind ? flags & ~PER_MOUNT_FLAGS : flags;

	if (mount(source, target, fstype, first, data) < 0) {
		if (source && (flags & (MS_BIND | MS_MOVE)))
			return nsl_fail(err, errno, "mount %s on %s", source, target);
		return nsl_fail(err, errno, "mount %s", target);
	}
	if (fresh_bind && (flags & PER_MOUNT_FLAGS)) {
		int r = (flags & MS_REC) ? bind_setattr_rec(target, flags, err)
		                         : bind_remount(target, flags, err);
		if (r < 0) {
			/* No half-made state: take the new bind mount away. */
			umount2(target, MNT_DETACH);
			return -1;
		}
	}
	return 0;
}

int nsl_pivot_root(const char *new_root, const char *put_old, nsl_error *err)
{
	if (put_old) {
		if (syscall(SYS_pivot_root, new_root, put_old) < 0)
			return nsl_fail(err, errno, "pivot_root %s", new_root);
		return 0;
	}
	/* pivot_root(".", ".") stacks the old root on top of the new one;
	 * detaching it leaves the new root alone, with no directory needed
	 * to hold the old one. */
	nsl_autoclose int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
	if (oldroot < 0)
		return nsl_fail(err, errno, "pivot_root %s: open /", new_root);
	if (chdir(new_root) < 0)
		return nsl_fail(err, errno, "pivot_root %s: chdir", new_root);
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		int saved = errno;
		if (fchdir(oldroot) < 0) { /* back where we were, if we can */ }
		return nsl_fail(err, saved, "pivot_root %s", new_root);
	}
	if (umount2(".", MNT_DETACH) < 0)
		return nsl_fail(err, errno, "pivot_root %s: detach old root", new_root);
	if (chdir("/") < 0)
		return nsl_fail(err, errno, "pivot_root %s: chdir /", new_root);
	return 0;
}

/*
 * nsl.mount(source, target, fstype, flags, data) -> true
 * flags: ro, nosuid, nodev, noexec, bind, rec, remount, move, private,
 * slave, shared, unbindable, relatime, noatime, strictatime, ... A bind
 * mount with per-mount flags ("bind,ro") is followed by the remount that
 * makes them take effect. @see mount(2)
 */
static int l_mount(lua_State *L)
{
	nsl_error err;
	const char *source = nsl_optname(L, 1, PATH_MAX, NULL);
	const char *target = nsl_checkname(L, 2, PATH_MAX, NULL);
	const char *fstype = nsl_optname(L, 3, 255, NULL);
	unsigned long flags = nsl_checkflags(L, 4, nsl_mount_flags, "mount flag");
	const char *data = nsl_optname(L, 5, 4096, NULL);
	nsl_checknargs(L, 5);
	if (nsl_mount(source, target, fstype, flags, data, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.umount(target [, flags]) -> true
 * flags: detach, force, expire, nofollow. @see umount2(2)
 */
static int l_umount(lua_State *L)
{
	const char *target = nsl_checkname(L, 1, PATH_MAX, NULL);
	unsigned long flags = nsl_checkflags(L, 2, nsl_umount_flags, "umount flag");
	nsl_checknargs(L, 2);
	if (umount2(target, (int)flags) < 0)
		return nsl_pusherrno(L, "umount %s", target);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * nsl.pivot_root(new_root [, put_old]) -> true
 * Without put_old, the old root is detached and the working directory is
 * the new /. @see pivot_root(2)
 */
static int l_pivot_root(lua_State *L)
{
	nsl_error err;
	const char *new_root = nsl_checkname(L, 1, PATH_MAX, NULL);
	const char *put_old = nsl_optname(L, 2, PATH_MAX, NULL);
	nsl_checknargs(L, 2);
	if (nsl_pivot_root(new_root, put_old, &err) < 0)
		return nsl_pushfail(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg nsl_mount_funcs[] = {
	{"mount", l_mount},
	{"umount", l_umount},
	{"pivot_root", l_pivot_root},
	{NULL, NULL},
};
