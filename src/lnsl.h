/*
 * Internal: what the Lua wrappers of every area share. Argument checking
 * follows one rule: everything is checked before anything is acquired, so
 * a raised error (a longjmp) never leaks a descriptor or leaves a half-made
 * state behind.
 */
#ifndef LNSL_H
#define LNSL_H

#include <lua.h>
#include <lauxlib.h>

#include "nsl.h"

/* Each area's functions, assembled by luaopen_nsl_core (core.c). */
extern const luaL_Reg nsl_ns_funcs[];    /* ns.c */
extern const luaL_Reg nsl_clone_funcs[]; /* clone.c */
extern const luaL_Reg nsl_uts_funcs[];   /* uts.c */
extern const luaL_Reg nsl_mount_funcs[]; /* mount.c */
extern const luaL_Reg nsl_proc_funcs[];  /* proc.c */
extern const luaL_Reg nsl_caps_funcs[];  /* caps.c, as nsl.caps */
extern const luaL_Reg nsl_priv_funcs[];  /* caps.c, top level */
extern const luaL_Reg nsl_fs_funcs[];    /* fs.c */
extern const luaL_Reg nsl_fd_funcs[];    /* fd.c */
extern const luaL_Reg nsl_owned_funcs[]; /* owned.c */
extern const luaL_Reg nsl_sys_funcs[];   /* sys.c */
extern const luaL_Reg nsl_supervise_funcs[]; /* supervise.c */
extern const luaL_Reg nsl_tty_funcs[];   /* tty.c */
extern const luaL_Reg nsl_plan_funcs[];  /* plan.c */
extern const luaL_Reg nsl_confine_funcs[]; /* confine.c */
int nsl_open_net(lua_State *L);          /* net.c: pushes the nsl.net table */

/* Pushes the names in the directory open at fd (taken and closed;
 * -1 with errno set pushes the failure), "." and ".." left out. */
int nsl_push_names(lua_State *L, int fd, const char *what);

/* Pushes nil, "<what>: <strerror>", errno and returns 3. */
int nsl_pushfail(lua_State *L, const nsl_error *err);

/* Pushes nil, "<what>: <strerror(errno)>", errno, formatting what. */
int nsl_pusherrno(lua_State *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Pushes the os.execute triple for a waitpid status: true|nil,
 * "exit"|"signal", n; returns 3. */
int nsl_pushstatus(lua_State *L, int status);

/* Raises an error when more than n arguments were given. */
void nsl_checknargs(lua_State *L, int n);

/* A string argument without NUL bytes and at most maxlen bytes long
 * (0: any length). */
const char *nsl_checkname(lua_State *L, int arg, size_t maxlen, size_t *len);
const char *nsl_optname(lua_State *L, int arg, size_t maxlen, size_t *len);

/* The same rules for a string field of an option table at index t. */
const char *nsl_checkfieldstring(lua_State *L, int t, const char *field,
                                 const char *owner);

/* An integer argument within [min, max]; floats with an integral value
 * are accepted, as Lua itself does. */
lua_Integer nsl_checkrange(lua_State *L, int arg, lua_Integer min,
                           lua_Integer max, const char *what);

/* The same for field of the option table at index t: dflt when the field
 * is nil; an error names owner and field ("openpty options: rows must
 * ..."), where nsl_checkrange would name a stack slot. */
lua_Integer nsl_optfieldrange(lua_State *L, int t, const char *field,
                              const char *owner, lua_Integer min,
                              lua_Integer max, lua_Integer dflt);

/*
 * A set of flags given as nil (none), a string of names separated by
 * commas or blanks, or an array of names. Unknown names raise an error
 * that lists the accepted ones; what names the kind ("namespace").
 */
unsigned long nsl_checkflags(lua_State *L, int arg, const nsl_flag *table,
                             const char *what);

/* Raises an error if the table at index t has a key not in fields
 * (NULL-terminated); owner names the table in the message. */
void nsl_checkfields(lua_State *L, int t, const char *const fields[],
                     const char *owner);

/* A table argument or nil/none (returns 0 for none). */
int nsl_opttable(lua_State *L, int arg);

/* Process ids: a positive integer. */
pid_t nsl_checkpid(lua_State *L, int arg);

/*
 * Something naming a namespace: a pid, a path ("/proc/1/ns/net",
 * "./x"), or the name of a named network namespace (/run/netns/NAME).
 * On return, either *pid > 0 or path holds the resolved path.
 */
void nsl_checktarget(lua_State *L, int arg, pid_t *pid, char *path,
                     size_t pathlen);

/* Checks an id map {{inside, outside, count}, ...} into map; returns n. */
size_t nsl_checkidmap(lua_State *L, int arg, nsl_idmap_entry *map,
                      const char *what);

/* Signal numbers from names ("TERM", "SIGTERM", "term") or integers. */
int nsl_checksignal(lua_State *L, int arg);
/* The same for the value at idx without raising: the signal, or -1 with
 * the reason pushed (for option fields, whose errors name the field). */
int nsl_tosignal(lua_State *L, int idx);
int nsl_signal_number(const char *name);

/* Capability names ("CAP_CHOWN", "chown") to a set; unknown names raise. */
nsl_capset nsl_checkcaps(lua_State *L, int arg);

/* Pushes the table nsl.lstat gives for st (type, mode, uid, gid, size,
 * ino, mtime, major, minor). */
struct stat;
void nsl_push_stat(lua_State *L, const struct stat *st);

#endif
