/*
 * nsl — Linux namespaces as a Lua 5.4 module.
 *
 * The public C interface. Two layers live in every area of src/:
 *
 *   - Lua-free functions (nsl_*) that do the work and report failures
 *     into a struct nsl_error. They allocate nothing on the Lua heap and
 *     never longjmp, so they are safe to call in a freshly cloned child
 *     and from other C programs.
 *   - Thin Lua wrappers that check arguments, call them and push results.
 *
 * luaopen_nsl_core() assembles the wrappers into the module `nsl.core`;
 * the Lua layer (`require "nsl"`) builds on it.
 */
#ifndef NSL_H
#define NSL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NSL_VERSION "0.1.0"

struct lua_State;

/* The C module: `require "nsl.core"`. */
int luaopen_nsl_core(struct lua_State *L);
/* The submodule nsl.seccomp_compile (libseccomp), loaded on demand. */
int luaopen_nsl_seccomp_compile(struct lua_State *L);
/* The submodule nsl.archive (libarchive, nettle): a .so of its own only,
 * never in the binary, which finds it on package.cpath. */
int luaopen_nsl_archive(struct lua_State *L);

/*
 * A failure: the operation and its object ("mount /proc") and the errno
 * value that explains it. The Lua side shows "<what>: <strerror(code)>".
 */
typedef struct nsl_error {
	int code;        /* errno value; 0 when no system call failed */
	char what[480];  /* operation and object, without the reason */
} nsl_error;

/* Records a failure in err (which may be NULL) and returns -1. */
int nsl_fail(nsl_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- flags given by name ------------------------------------------------ */

typedef struct nsl_flag {
	const char *name;
	unsigned long value;
} nsl_flag;

/* Tables end with a {NULL, 0} entry. */
extern const nsl_flag nsl_namespace_flags[]; /* mnt, mount, uts, ipc, ... */
extern const nsl_flag nsl_mount_flags[];     /* ro, nosuid, bind, rec, ... */
extern const nsl_flag nsl_umount_flags[];    /* detach, force, expire, nofollow */

/*
 * Parses a list of flag names separated by commas and/or blanks
 * ("uts,pid", "uts pid") into *out. On an unknown name, returns -1 and
 * copies the offending name (truncated) into bad. Empty input gives 0.
 */
int nsl_parse_flags(const char *s, size_t len, const nsl_flag *table,
                    unsigned long *out, char *bad, size_t badlen);

/* The /proc/<pid>/ns/<name> entry of one namespace flag ("net"). */
const char *nsl_namespace_name(unsigned long flag);

/* ---- user namespaces: id maps -------------------------------------------- */

#define NSL_IDMAP_MAX 340 /* the kernel's limit of lines in a map */

typedef struct nsl_idmap_entry {
	uint32_t inside, outside, count;
} nsl_idmap_entry;

/* Checks one entry: count >= 1 and neither range passes 2^32 - 1. */
int nsl_idmap_check(const nsl_idmap_entry *e);

/* Writes /proc/<pid>/<kind>_map (kind "uid" or "gid"); pid 0 means self. */
int nsl_idmap_write(pid_t pid, const char *kind, const nsl_idmap_entry *map,
                    size_t n, nsl_error *err);

/* Writes /proc/<pid>/setgroups ("deny" or "allow"); pid 0 means self. */
int nsl_setgroups_write(pid_t pid, const char *value, nsl_error *err);

/* ---- namespaces ---------------------------------------------------------- */

/* Joins the namespaces in flags of process pid; flags 0 means every one
 * that differs from the caller's, user namespace first. */
int nsl_setns_pid(pid_t pid, unsigned long flags, nsl_error *err);

/* Joins the namespace behind a /proc/<pid>/ns/<x> or bind-mounted path;
 * nstype 0 accepts any type. */
int nsl_setns_path(const char *path, unsigned long nstype, nsl_error *err);

/* ---- mounts -------------------------------------------------------------- */

/* mount(2), plus what users expect of a bind mount: "bind,ro" and the
 * other per-mount flags take effect through a remount that keeps flags the
 * kernel locked (as in a user namespace). */
int nsl_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data, nsl_error *err);

/* pivot_root(2); put_old NULL stacks the old root on the new one and
 * detaches it, leaving only new_root visible. */
int nsl_pivot_root(const char *new_root, const char *put_old, nsl_error *err);

/* ---- capabilities --------------------------------------------------------- */

/* Capability numbers are those of <linux/capability.h>; a set is a bit mask. */
typedef uint64_t nsl_capset;

/* Keeps only the capabilities in keep, in every set, bounding included. */
int nsl_caps_keep(nsl_capset keep, nsl_error *err);

/* Drops the capabilities in drop from every set, bounding included. */
int nsl_caps_drop(nsl_capset drop, nsl_error *err);

#endif
