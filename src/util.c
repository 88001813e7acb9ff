/*
 * Lua-free helpers shared by every area: failure records, flag tables, the
 * parsing of flag lists, /proc writes and reads, the check of id-map entries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "nsl.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

int nsl_fail(nsl_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->what, sizeof err->what, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	errno = code;
	return -1;
}

/* The first name of a value is the one shown in messages and by
 * nsl_namespace_name; later ones are aliases. */
const nsl_flag nsl_namespace_flags[] = {
	{"mnt", CLONE_NEWNS},
	{"mount", CLONE_NEWNS},
	{"uts", CLONE_NEWUTS},
	{"ipc", CLONE_NEWIPC},
	{"pid", CLONE_NEWPID},
	{"net", CLONE_NEWNET},
	{"user", CLONE_NEWUSER},
	{"cgroup", CLONE_NEWCGROUP},
	{"time", CLONE_NEWTIME},
	{NULL, 0},
};

const nsl_flag nsl_mount_flags[] = {
	{"ro", MS_RDONLY},
	{"rw", 0},
	{"nosuid", MS_NOSUID},
	{"nodev", MS_NODEV},
	{"noexec", MS_NOEXEC},
	{"bind", MS_BIND},
	{"rec", MS_REC},
	{"remount", MS_REMOUNT},
	{"move", MS_MOVE},
	{"private", MS_PRIVATE},
	{"slave", MS_SLAVE},
	{"shared", MS_SHARED},
	{"unbindable", MS_UNBINDABLE},
	{"relatime", MS_RELATIME},
	{"noatime", MS_NOATIME},
	{"strictatime", MS_STRICTATIME},
	{"nodiratime", MS_NODIRATIME},
	{"lazytime", MS_LAZYTIME},
	{"sync", MS_SYNCHRONOUS},
	{"dirsync", MS_DIRSYNC},
	{"silent", MS_SILENT},
	{"nosymfollow", MS_NOSYMFOLLOW},
	{NULL, 0},
};

const nsl_flag nsl_umount_flags[] = {
	{"detach", MNT_DETACH},
	{"force", MNT_FORCE},
	{"expire", MNT_EXPIRE},
	{"nofollow", UMOUNT_NOFOLLOW},
	{NULL, 0},
};

const char *nsl_namespace_name(unsigned long flag)
{
	for (const nsl_flag *f = nsl_namespace_flags; f->name; f++)
		if (f->value == flag)
			return f->name;
	return NULL;
}

static int is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

int nsl_parse_flags(const char *s, size_t len, const nsl_flag *table,
                    unsigned long *out, char *bad, size_t badlen)
{
	unsigned long flags = 0;
	size_t i = 0;

	while (i < len) {
		while (i < len && is_separator(s[i]))
			i++;
		size_t start = i;
		while (i < len && !is_separator(s[i]))
			i++;
		if (i == start)
			break;
		const nsl_flag *f = nsl_flag_lookup(table, s + start, i - start);
		if (!f) {
			if (bad && badlen) {
				size_t n = i - start < badlen - 1 ? i - start : badlen - 1;
				memcpy(bad, s + start, n);
				bad[n] = '\0';
			}
			return -1;
		}
		flags |= f->value;
	}
	*out = flags;
	return 0;
}

const nsl_flag *nsl_flag_lookup(const nsl_flag *table, const char *name,
                                size_t len)
{
	for (const nsl_flag *f = table; f->name; f++)
		if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
			return f;
	return NULL;
}

int nsl_write_file(const char *path, const char *data, size_t len,
                   nsl_error *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return nsl_fail(err, errno, "open %s", path);
	ssize_t n = write(fd, data, len);
	int saved = errno;
	close(fd);
	if (n < 0)
		return nsl_fail(err, saved, "write %s", path);
	if ((size_t)n != len)
		return nsl_fail(err, EIO, "write %s (short write)", path);
	return 0;
}

int nsl_idmap_check(const nsl_idmap_entry *e)
{
	if (e->count == 0 || e->inside > UINT32_MAX - 1 ||
	    e->outside > UINT32_MAX - 1)
		return -1;
	/* The last id of each range must stay below 2^32 - 1. */
	if ((uint64_t)e->inside + e->count > UINT32_MAX ||
	    (uint64_t)e->outside + e->count > UINT32_MAX)
		return -1;
	return 0;
}

int nsl_thread_count(void)
{
	char buf[1024];
	nsl_autoclose int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Field 20, counted after the command name, which may hold blanks. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	int field = 2;
	for (p++; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return atoi(p);
}

const char *nsl_file_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}
