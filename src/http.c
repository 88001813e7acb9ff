/*
 * The module `nsl.http`: the HTTP client a registry pull needs, on libcurl.
 *
 * Not in nsl.core and not in the binary: libcurl brings a TLS library,
 * nghttp2, libidn2, libssh2 and more, so the module is a .so of its own
 * that only the image paths require (as nsl.archive), and a plain
 * container never maps it.
 *
 * One easy handle per request. Redirects are followed here, not by
 * libcurl, so that what each hop carries is decided in one place: an
 * Authorization header and basic-auth credentials go only to the scheme,
 * host and port the request named; once a redirect leaves them they are
 * dropped for the rest of the chain (a registry sends blob downloads to
 * a storage host, which must never see its token). Without insecure, every
 * hop must be https. Certificates are always verified.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "nsl.h"

#define MAX_REDIRECTS 10
#define PROGRESS_STEP (256 * 1024)
#define DEFAULT_MAX_BODY ((lua_Integer)16 << 20)
#define STATE_META "nsl.http_request"

/* A growable byte buffer, Lua-free. */
struct buf {
	char *data;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *p, size_t n)
{
	if (n > SIZE_MAX - b->len - 1)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* One request's state, in a userdata whose __gc frees what is left: a Lua
 * error (a memory error in a push) never leaks the handle or the file. */
struct request {
	CURL *curl;
	struct curl_slist *headers;      /* as given */
	struct curl_slist *headers_noauth; /* without Authorization */
	int fd;                          /* output, or -1 */
	char *output;                    /* its path, to remove on failure */
	struct buf body;                 /* the body, without output */
	struct buf head;                 /* the final response's header lines */
	size_t max_body;
	int discard;                     /* this response is a redirect we follow */
	int follow;
	long status;                     /* of the response being read */
	int64_t bytes, next_progress;
	/* progress */
	lua_State *L;
	int progress;                    /* stack index of the function, or 0 */
	int failed;                      /* the reason is in msg */
	char msg[512];
	char errbuf[CURL_ERROR_SIZE];
};

static void request_free(struct request *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	r->curl = NULL;
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->headers_noauth);
	r->headers = r->headers_noauth = NULL;
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
		if (r->output)
			unlink(r->output); /* not kept: the request did not end */
	}
	free(r->output);
	r->output = NULL;
	buf_free(&r->body);
	buf_free(&r->head);
}

static int request_gc(lua_State *L)
{
	request_free(luaL_checkudata(L, 1, STATE_META));
	return 0;
}

static int is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 ||
	       status == 308;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t len = size * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (an interim 1xx, or the next hop's): its headers
		 * replace what came before */
		r->head.len = 0;
		const char *sp = memchr(p, ' ', len);
		r->status = sp && sp + 4 <= p + len ? strtol(sp + 1, NULL, 10) : 0;
		r->discard = 0;
		return len;
	}
	if (r->follow && is_redirect(r->status) && len > 9 && strncasecmp(p, "location:", 9) == 0)
		r->discard = 1; /* a redirect we follow: its body is not the answer */
	if (buf_add(&r->head, p, len) < 0) {
		snprintf(r->msg, sizeof r->msg, "out of memory for the headers");
		r->failed = 1;
		return 0;
	}
	return len;
}

/* The Lua progress function, called protected: its error stops the
 * transfer with its message, never longjmps across libcurl. */
static int call_progress(struct request *r)
{
	lua_State *L = r->L;
	curl_off_t total = -1;
	if (curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total) != CURLE_OK)
		total = -1;
	if (!lua_checkstack(L, 4)) {
		snprintf(r->msg, sizeof r->msg, "progress: no Lua stack");
		return -1;
	}
	lua_pushvalue(L, r->progress);
	lua_pushinteger(L, (lua_Integer)r->bytes);
	if (total >= 0)
		lua_pushinteger(L, (lua_Integer)total);
	else
		lua_pushnil(L);
	if (lua_pcall(L, 2, 0, 0) == LUA_OK)
		return 0;
	const char *m = lua_tostring(L, -1);
	snprintf(r->msg, sizeof r->msg, "%s", m ? m : "(an error that is not a string)");
	lua_pop(L, 1);
	return -1;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t len = size * n;
	if (r->discard)
		return len;
	if (r->fd >= 0) {
		for (size_t off = 0; off < len;) {
			ssize_t w = write(r->fd, p + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(r->msg, sizeof r->msg, "write %s: %s", r->output, strerror(errno));
				r->failed = 1;
				return 0;
			}
			off += (size_t)w;
		}
	} else {
		if (len > r->max_body - r->body.len) {
			snprintf(r->msg, sizeof r->msg, "the body is longer than max_body (%zu bytes)",
			         r->max_body);
			r->failed = 1;
			return 0;
		}
		if (buf_add(&r->body, p, len) < 0) {
			snprintf(r->msg, sizeof r->msg, "out of memory for the body");
			r->failed = 1;
			return 0;
		}
	}
	r->bytes += (int64_t)len;
	if (r->progress && r->bytes >= r->next_progress) {
		r->next_progress = r->bytes + PROGRESS_STEP;
		if (call_progress(r) < 0) {
			r->failed = 1;
			return 0;
		}
	}
	return len;
}

/* Whether a and b have the same scheme, host and port (curl's URL parser
 * on both, so that "HTTPS://Host:443/" and "https://host/" are one). */
static int same_origin(const char *a, const char *b)
{
	int same = 0;
	CURLU *ua = curl_url(), *ub = curl_url();
	char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
	if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
	    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK)
		same = strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 && strcmp(pa, pb) == 0;
	curl_free(sa);
	curl_free(sb);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

static int is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Options, checked before anything is made. */
struct req_opts {
	const char *url, *method, *output, *user;
	int head, follow, insecure, nheaders;
	double timeout, connect_timeout;
	lua_Integer max_body;
	int progress;
};

static const char *const request_fields[] = {
	"url", "method", "headers", "output", "max_body", "follow", "insecure",
	"timeout", "connect_timeout", "progress", "user", NULL,
};

static const char *opt_string(lua_State *L, const char *name, int required)
{
	int t = lua_getfield(L, 1, name);
	if (t == LUA_TNIL && !required) {
		lua_pop(L, 1);
		return NULL;
	}
	size_t len;
	const char *s = t == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
	if (!s || len == 0 || strlen(s) != len)
		luaL_error(L, "http.request: %s must be a non-empty string without NUL bytes", name);
	return s; /* left on the stack: the caller's table may change */
}

static int opt_bool(lua_State *L, const char *name, int dflt)
{
	int t = lua_getfield(L, 1, name);
	if (t != LUA_TNIL && t != LUA_TBOOLEAN)
		luaL_error(L, "http.request: %s must be a boolean", name);
	int v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

static double opt_seconds(lua_State *L, const char *name, double dflt)
{
	int t = lua_getfield(L, 1, name);
	double v = dflt;
	if (t != LUA_TNIL) {
		if (t != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0) || lua_tonumber(L, -1) > 1e7)
			luaL_error(L, "http.request: %s must be a number of seconds above 0", name);
		v = lua_tonumber(L, -1);
	}
	lua_pop(L, 1);
	return v;
}

static void check_options(lua_State *L, struct req_opts *o)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_gettop(L) > 1)
		luaL_error(L, "http.request: one argument, a table");
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int i = 0;
		while (k && request_fields[i] && strcmp(request_fields[i], k) != 0)
			i++;
		if (!k || !request_fields[i])
			luaL_error(L, "http.request: unknown option '%s'",
			           k ? k : luaL_typename(L, -1));
	}
	o->url = opt_string(L, "url", 1);
	o->method = opt_string(L, "method", 0);
	if (!o->method)
		o->method = "GET";
	if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "HEAD") != 0)
		luaL_error(L, "http.request: method must be \"GET\" or \"HEAD\", not \"%s\"", o->method);
	o->head = strcmp(o->method, "HEAD") == 0;
	o->output = opt_string(L, "output", 0);
	o->user = opt_string(L, "user", 0);
	if (o->user && !strchr(o->user, ':'))
		luaL_error(L, "http.request: user must be \"name:password\"");
	o->follow = opt_bool(L, "follow", 1);
	o->insecure = opt_bool(L, "insecure", 0);
	o->timeout = opt_seconds(L, "timeout", 300);
	o->connect_timeout = opt_seconds(L, "connect_timeout", 30);

	int t = lua_getfield(L, 1, "max_body");
	o->max_body = DEFAULT_MAX_BODY;
	if (t != LUA_TNIL) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
			luaL_error(L, "http.request: max_body must be a number of bytes (0 or more)");
		o->max_body = lua_tointeger(L, -1);
	}
	lua_pop(L, 1);

	t = lua_getfield(L, 1, "progress");
	if (t != LUA_TNIL && t != LUA_TFUNCTION)
		luaL_error(L, "http.request: progress must be a function");
	o->progress = t == LUA_TFUNCTION ? lua_gettop(L) : 0; /* stays on the stack */
	if (!o->progress)
		lua_pop(L, 1);

	t = lua_getfield(L, 1, "headers");
	o->nheaders = 0;
	if (t != LUA_TNIL) {
		if (t != LUA_TTABLE)
			luaL_error(L, "http.request: headers must be a list of \"Name: value\" strings");
		lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, -1, i);
			size_t len;
			const char *h = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
			const char *colon = h ? strchr(h, ':') : NULL;
			if (!h || strlen(h) != len || strpbrk(h, "\r\n") || !colon || colon == h)
				luaL_error(L, "http.request: headers[%d] must be a \"Name: value\" string "
				           "on one line", (int)i);
			lua_pop(L, 1);
		}
		o->nheaders = (int)n;
	}
	lua_pop(L, 1);

	if (!is_https(o->url)) {
		if (strncasecmp(o->url, "http://", 7) != 0)
			luaL_error(L, "http.request: url must be an https:// (or http://) URL: %s", o->url);
		if (!o->insecure)
			luaL_error(L, "http.request: %s: plain HTTP needs insecure = true", o->url);
	}
}

static int fail(lua_State *L, struct request *r, const char *method, const char *url,
                const char *why)
{
	request_free(r);
	lua_pushnil(L);
	lua_pushfstring(L, "http %s %s: %s", method, url, why);
	return 2;
}

/* The header lines of the final response as a table, names lowercased;
 * a name given twice has its values joined with ", ". */
static void push_headers(lua_State *L, const struct buf *head)
{
	lua_newtable(L);
	const char *p = head->data, *end = head->data + head->len;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		const char *stop = eol ? eol : end;
		while (stop > p && (stop[-1] == '\r' || stop[-1] == '\n'))
			stop--;
		const char *colon = memchr(p, ':', (size_t)(stop - p));
		if (colon && colon > p) {
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (const char *c = p; c < colon; c++)
				luaL_addchar(&b, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
			luaL_pushresult(&b);
			const char *v = colon + 1;
			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = stop;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			lua_pushvalue(L, -1);
			if (lua_rawget(L, -3) == LUA_TSTRING) {
				lua_pushliteral(L, ", ");
				lua_pushlstring(L, v, (size_t)(ve - v));
				lua_concat(L, 3);
			} else {
				lua_pop(L, 1);
				lua_pushlstring(L, v, (size_t)(ve - v));
			}
			lua_rawset(L, -3);
		}
		p = next;
	}
}

/*
 * http.request{url = URL, ...} -> {status = n, headers = {...}, body = s, url = s}
 * An HTTP GET or HEAD of url (https://; http:// only with insecure =
 * true). Fields: method ("GET" or "HEAD"), headers (a list of "Name:
 * value" strings), output (a path: the body is written to a new file
 * there, created 0600 and never through a symbolic link or over an
 * existing file, instead of returned), max_body (the longest body
 * returned in memory, 16 MiB), follow (redirects followed, at most 10;
 * true), insecure (false: https only, on every hop; certificates are
 * always verified), timeout (seconds for the whole request, 300),
 * connect_timeout (30), progress (a function given the body's bytes so
 * far and the total or nil, about every 256 KiB; its error stops the
 * transfer), user ("name:password", basic auth). Authorization and user
 * go only to the scheme, host and port of url, never past a redirect to
 * another. Returns the final response: its status, its headers (names
 * lowercased; repeated ones joined with ", "), its body (without output),
 * its URL. An HTTP error status is a response, not a failure; a transport
 * failure (DNS, connection, TLS, timeout, write, max_body, progress) is
 * nil, "http METHOD URL: reason", the output file then removed.
 */
static int l_request(lua_State *L)
{
	struct req_opts o;
	check_options(L, &o);
	double deadline = now() + o.timeout;

	struct request *r = lua_newuserdatauv(L, sizeof *r, 0);
	memset(r, 0, sizeof *r);
	r->fd = -1;
	luaL_setmetatable(L, STATE_META);
	r->L = L;
	r->progress = o.progress;
	r->follow = o.follow;
	r->max_body = (size_t)o.max_body;
	r->next_progress = PROGRESS_STEP;

	/* the headers, twice: as given, and without Authorization */
	lua_getfield(L, 1, "headers");
	for (int i = 1; i <= o.nheaders; i++) {
		lua_rawgeti(L, -1, i);
		const char *h = lua_tostring(L, -1);
		struct curl_slist *s = curl_slist_append(r->headers, h);
		if (!s)
			return fail(L, r, o.method, o.url, "out of memory");
		r->headers = s;
		if (strncasecmp(h, "authorization:", 14) != 0) {
			s = curl_slist_append(r->headers_noauth, h);
			if (!s)
				return fail(L, r, o.method, o.url, "out of memory");
			r->headers_noauth = s;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	r->curl = curl_easy_init();
	if (!r->curl)
		return fail(L, r, o.method, o.url, "curl_easy_init failed");
	CURL *c = r->curl;
	const char *protocols = o.insecure ? "http,https" : "https";
	CURLcode rc = CURLE_OK;
#define SET(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, protocols);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	SET(CURLOPT_FOLLOWLOCATION, 0L); /* followed below, hop by hop */
	SET(CURLOPT_USERAGENT, "nsl/" NSL_VERSION);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(o.connect_timeout * 1000));
	SET(CURLOPT_NOBODY, (long)o.head);
	SET(CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as sent: digests are of them */
#undef SET
	if (rc != CURLE_OK)
		return fail(L, r, o.method, o.url, curl_easy_strerror(rc));

	if (o.output) {
		r->output = strdup(o.output);
		if (!r->output)
			return fail(L, r, o.method, o.url, "out of memory");
		r->fd = open(o.output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (r->fd < 0) {
			char why[512];
			snprintf(why, sizeof why, "open %s: %s", o.output, strerror(errno));
			free(r->output);
			r->output = NULL; /* not ours: never removed */
			return fail(L, r, o.method, o.url, why);
		}
	}

	/* the URL of the current hop: a Lua string, kept on the stack */
	lua_pushstring(L, o.url);
	int url_idx = lua_gettop(L);
	int auth = 1; /* Authorization and user still go with the request */
	for (int hop = 0;; hop++) {
		const char *url = lua_tostring(L, url_idx);
		double left = deadline - now();
		if (left <= 0)
			return fail(L, r, o.method, o.url, "timed out following redirects");
		r->head.len = 0;
		r->body.len = 0;
		r->bytes = 0;
		r->next_progress = PROGRESS_STEP;
		r->status = 0;
		r->discard = 0;
		r->errbuf[0] = '\0';
		if (r->fd >= 0 && (ftruncate(r->fd, 0) < 0 || lseek(r->fd, 0, SEEK_SET) < 0)) {
			char why[512];
			snprintf(why, sizeof why, "truncate %s: %s", r->output, strerror(errno));
			return fail(L, r, o.method, o.url, why);
		}
		rc = curl_easy_setopt(c, CURLOPT_URL, url);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER,
			                      auth ? r->headers : r->headers_noauth);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c, CURLOPT_USERPWD, auth ? o.user : NULL);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c, CURLOPT_HTTPAUTH,
			                      (long)(auth && o.user ? CURLAUTH_BASIC : CURLAUTH_NONE));
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left * 1000) + 1);
		if (rc == CURLE_OK)
			rc = curl_easy_perform(c);
		if (rc != CURLE_OK) {
			const char *why = r->failed ? r->msg :
			                  r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
			return fail(L, r, o.method, url, why);
		}
		long status = 0;
		char *next = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (!o.follow || !is_redirect(status) ||
		    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
			break;
		if (hop == MAX_REDIRECTS)
			return fail(L, r, o.method, o.url, "more than 10 redirects");
		if (!o.insecure && !is_https(next)) {
			char why[2048];
			snprintf(why, sizeof why, "redirected to %s: plain HTTP needs insecure = true",
			         next);
			return fail(L, r, o.method, url, why);
		}
		if (!same_origin(o.url, next))
			auth = 0; /* and never again on this chain */
		lua_pushstring(L, next); /* next is the handle's: copied first */
		lua_replace(L, url_idx);
	}

	/* done: the file is kept, the handle goes */
	char *eff = NULL;
	curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (r->progress && r->bytes > 0 && r->bytes + PROGRESS_STEP != r->next_progress) {
		/* the last bytes, when the last call did not report them */
		if (call_progress(r) < 0) {
			char why[sizeof r->msg];
			memcpy(why, r->msg, sizeof why);
			return fail(L, r, o.method, o.url, why);
		}
	}
	if (r->fd >= 0) {
		int e = close(r->fd) < 0 ? errno : 0;
		r->fd = -1;
		if (e) {
			unlink(r->output);
			char why[512];
			snprintf(why, sizeof why, "close %s: %s", r->output, strerror(e));
			return fail(L, r, o.method, o.url, why);
		}
	}
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, status);
	lua_setfield(L, -2, "status");
	lua_pushstring(L, eff ? eff : lua_tostring(L, url_idx));
	lua_setfield(L, -2, "url");
	if (!o.output) {
		lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
		lua_setfield(L, -2, "body");
	}
	push_headers(L, &r->head);
	lua_setfield(L, -2, "headers");
	request_free(r);
	return 1;
}

/*
 * http.version() -> s
 * libcurl's version string ("libcurl/7.88.1 OpenSSL/3.0.11 ...").
 */
static int l_version(lua_State *L)
{
	lua_pushstring(L, curl_version());
	return 1;
}

int luaopen_nsl_http(lua_State *L);
int luaopen_nsl_http(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"request", l_request},
		{"version", l_version},
		{NULL, NULL},
	};
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return luaL_error(L, "nsl.http: curl_global_init failed");
	luaL_newmetatable(L, STATE_META);
	lua_pushcfunction(L, request_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
