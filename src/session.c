/* flowservice.core session: one libcurl easy handle reused across requests, so
 * libcurl keeps the connection alive between them (contract: docs/DESIGN.md). What a
 * request table turns into (fields, header list, body, per-request options) is
 * request.c's; this file runs the transfer and pushes the response.
 *
 * Rules this file keeps:
 *  - lifecycle as in liolib: the userdata exists "closed" before anything is
 *    allocated; one idempotent finalizer serves close, __gc and __close;
 *  - validate everything first, allocate second; what is allocated hangs off the
 *    session so a raise cannot leak it;
 *  - libcurl callbacks only append to C buffers and never call Lua, so no Lua error
 *    can longjmp through libcurl; Lua values are built after curl_easy_perform;
 *  - no error message contains a header value (they carry tokens);
 *  - every C buffer that held secret bytes (request header lines and a body built from
 *    pieces, through request.c's fs_request_release; a response a token was captured
 *    from) is wiped after the transfer. libcurl's own send and receive buffers, and
 *    OpenSSL's, also see those bytes: they are outside our control. */
#include <limits.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "buffer.h"
#include "capture.h"
#include "multi.h"
#include "request.h"
#include "secret.h"
#include "session.h"

#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_TIMEOUT 60.0
#define DEFAULT_MAX_RESPONSE ((lua_Integer)32 * 1024 * 1024)
#define MAX_SECONDS FS_MAX_SECONDS /* keeps milliseconds within a 32-bit long */
#define KEEP_BODY ((size_t)256 * 1024) /* body buffer kept between requests */
#define DEFAULT_LOW_SPEED_LIMIT 1L /* bytes per second ... */
#define DEFAULT_LOW_SPEED_TIME 30L /* ... averaged over this many seconds */
#define CAPTURED "\"<captured>\"" /* replaces a captured value in the body Lua sees */
#define MAX_USER_AGENT 1024 /* bytes; a longer one is a mistake (and libcurl fails on a huge one) */
#define PUSH_SLOTS 12 /* the most stack slots fs_session_push_result uses at once */

#define SESSION_OPTIONS \
  "ca_blob, ca_file, ca_path, connect_timeout, low_speed_limit, low_speed_time, " \
  "max_response_size, proxy, timeout, user_agent"

enum { FAIL_NONE, FAIL_BODY, FAIL_HEADERS, FAIL_NOMEM, FAIL_HEAD_CUT };

/* ---- libcurl callbacks: C buffers only, never Lua ------------------------------ */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  fs_session *s = ud;
  size_t n = size * nmemb;
  /* Counted here because CURLOPT_MAXFILESIZE does not stop chunked bodies before
   * curl 8.4. Returning less than n makes curl fail with CURLE_WRITE_ERROR. */
  int rc = fs_buffer_append(&s->body, ptr, n);
  if (rc == FS_BUF_OK) return n;
  s->failure = rc == FS_BUF_FULL ? FAIL_BODY : FAIL_NOMEM;
  return 0;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static size_t header_cb(char *ptr, size_t size, size_t nitems, void *ud) {
  fs_session *s = ud;
  size_t n = size * nitems, len = n, name_len, vstart, vend;
  fs_buffer *d = &s->hdr_data;
  const char *colon;
  fs_header_item *h;
  size_t i;

  int rc = FS_BUF_FULL;

  s->hdr_bytes += n;
  if (s->hdr_bytes > (size_t)FS_MAX_RESPONSE_HEADER_BYTES) goto failed;
  while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r')) len--;
  if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
    /* a new status line: drop headers of an interim (1xx) response */
    s->nhdrs = 0;
    d->len = 0;
    s->hdr_ended = 0;
    return n;
  }
  if (len == 0) { /* end of a header block */
    s->hdr_ended = 1;
    return n;
  }
  if (is_ows(ptr[0])) {   /* obsolete line folding: continues the last value */
    if (s->nhdrs == 0) return n;
    for (vstart = 0; vstart < len && is_ows(ptr[vstart]); vstart++) {}
    while (len > vstart && is_ows(ptr[len - 1])) len--;
    if (vstart == len) return n;
    h = &s->hdrs[s->nhdrs - 1]; /* its value is the last thing in hdr_data */
    if ((rc = fs_buffer_reserve(d, 1 + len - vstart)) != FS_BUF_OK) goto failed;
    d->data[d->len++] = ' ';
    memcpy(d->data + d->len, ptr + vstart, len - vstart);
    d->len += len - vstart;
    h->value_len += 1 + len - vstart;
    return n;
  }
  colon = memchr(ptr, ':', len);
  if (colon == NULL || colon == ptr) return n; /* not a field line: ignore */
  name_len = (size_t)(colon - ptr);
  vstart = name_len + 1;
  vend = len;
  while (vstart < vend && is_ows(ptr[vstart])) vstart++;
  while (vend > vstart && is_ows(ptr[vend - 1])) vend--;
  if (s->nhdrs == FS_MAX_RESPONSE_HEADERS) goto failed;
  if ((rc = fs_buffer_reserve(d, name_len + (vend - vstart))) != FS_BUF_OK) goto failed;
  h = &s->hdrs[s->nhdrs++];
  h->name_off = d->len;
  h->name_len = name_len;
  for (i = 0; i < name_len; i++) {
    char c = ptr[i];
    d->data[d->len++] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  h->value_off = d->len;
  h->value_len = vend - vstart;
  if (h->value_len > 0) memcpy(d->data + d->len, ptr + vstart, h->value_len);
  d->len += h->value_len;
  return n;

failed: /* too many or too large (hdr_data is capped too), or out of memory */
  s->failure = rc == FS_BUF_NOMEM ? FAIL_NOMEM : FAIL_HEADERS;
  return 0;
}

/* ---- errors ----------------------------------------------------------------------- */

static const char *curl_code_name(CURLcode rc, char *buf, size_t size) {
  switch (rc) {
#define NAME(x) case x: return #x;
    NAME(CURLE_UNSUPPORTED_PROTOCOL) NAME(CURLE_FAILED_INIT) NAME(CURLE_URL_MALFORMAT)
    NAME(CURLE_NOT_BUILT_IN) NAME(CURLE_COULDNT_RESOLVE_PROXY) NAME(CURLE_COULDNT_RESOLVE_HOST)
    NAME(CURLE_COULDNT_CONNECT) NAME(CURLE_WEIRD_SERVER_REPLY) NAME(CURLE_REMOTE_ACCESS_DENIED)
    NAME(CURLE_HTTP2) NAME(CURLE_PARTIAL_FILE) NAME(CURLE_HTTP_RETURNED_ERROR)
    NAME(CURLE_WRITE_ERROR) NAME(CURLE_UPLOAD_FAILED) NAME(CURLE_READ_ERROR)
    NAME(CURLE_OUT_OF_MEMORY) NAME(CURLE_OPERATION_TIMEDOUT) NAME(CURLE_RANGE_ERROR)
    NAME(CURLE_HTTP_POST_ERROR) NAME(CURLE_SSL_CONNECT_ERROR) NAME(CURLE_ABORTED_BY_CALLBACK)
    NAME(CURLE_BAD_FUNCTION_ARGUMENT) NAME(CURLE_INTERFACE_FAILED)
    NAME(CURLE_TOO_MANY_REDIRECTS) NAME(CURLE_UNKNOWN_OPTION) NAME(CURLE_SETOPT_OPTION_SYNTAX)
    NAME(CURLE_GOT_NOTHING) NAME(CURLE_SSL_ENGINE_NOTFOUND) NAME(CURLE_SSL_ENGINE_SETFAILED)
    NAME(CURLE_SEND_ERROR) NAME(CURLE_RECV_ERROR) NAME(CURLE_SSL_CERTPROBLEM)
    NAME(CURLE_SSL_CIPHER) NAME(CURLE_PEER_FAILED_VERIFICATION)
    NAME(CURLE_BAD_CONTENT_ENCODING) NAME(CURLE_FILESIZE_EXCEEDED)
    NAME(CURLE_SEND_FAIL_REWIND) NAME(CURLE_SSL_ENGINE_INITFAILED) NAME(CURLE_LOGIN_DENIED)
    NAME(CURLE_SSL_CACERT_BADFILE) NAME(CURLE_SSL_SHUTDOWN_FAILED) NAME(CURLE_AGAIN)
    NAME(CURLE_SSL_CRL_BADFILE) NAME(CURLE_SSL_ISSUER_ERROR) NAME(CURLE_CHUNK_FAILED)
    NAME(CURLE_NO_CONNECTION_AVAILABLE) NAME(CURLE_SSL_PINNEDPUBKEYNOTMATCH)
    NAME(CURLE_SSL_INVALIDCERTSTATUS) NAME(CURLE_HTTP2_STREAM) NAME(CURLE_RECURSIVE_API_CALL)
    NAME(CURLE_AUTH_ERROR) NAME(CURLE_HTTP3) NAME(CURLE_QUIC_CONNECT_ERROR) NAME(CURLE_PROXY)
    NAME(CURLE_SSL_CLIENTCERT) NAME(CURLE_UNRECOVERABLE_POLL)
#undef NAME
    default:
      (void)snprintf(buf, size, "CURLE_%d", (int)rc);
      return buf;
  }
}

/* Pushes nil, "CURLE_NAME: message", "CURLE_NAME" (luv's fail triple). */
static void push_failure(lua_State *L, const char *name, const char *message) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", name, message);
  lua_pushstring(L, name);
}

static void push_curl_failure(lua_State *L, fs_session *s, CURLcode rc) {
  char namebuf[32];
  const char *name = curl_code_name(rc, namebuf, sizeof namebuf);
  size_t n = strlen(s->errbuf);
  while (n > 0 && (s->errbuf[n - 1] == '\n' || s->errbuf[n - 1] == '\r')) s->errbuf[--n] = '\0';
  luaL_pushfail(L);
  if (n > 0)
    lua_pushfstring(L, "%s: %s; %s", name, curl_easy_strerror(rc), s->errbuf);
  else
    lua_pushfstring(L, "%s: %s", name, curl_easy_strerror(rc));
  lua_pushstring(L, name);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static fs_session *check_session(lua_State *L) {
  fs_session *s = luaL_checkudata(L, 1, FS_SESSION_MT);
  if (s->curl == NULL) luaL_error(L, "attempt to use a closed session");
  if (s->busy) luaL_error(L, "attempt to use a session while its last request's results are being made (from a finalizer?)");
  return s;
}

/* Upvalues of session:request (fs_session_register): the session and secret metatables, so
 * the type checks of every request need no registry lookup. */
#define REQUEST_SESSION_MT lua_upvalueindex(1)
#define REQUEST_SECRET_MT lua_upvalueindex(2)

/* check_session for session:request, against its upvalue (as luaL_testudata does against the
 * registry's metatable); anything else goes to check_session, which raises as before. */
static fs_session *check_request_session(lua_State *L) {
  fs_session *s = lua_type(L, 1) == LUA_TUSERDATA ? lua_touserdata(L, 1) : NULL;
  int same = 0;
  if (s != NULL && lua_getmetatable(L, 1)) {
    same = lua_rawequal(L, -1, REQUEST_SESSION_MT);
    lua_pop(L, 1);
  }
  return same && s->curl != NULL && !s->busy ? s : check_session(L);
}

void fs_session_release(fs_session *s) {
  fs_session_drop_transfer(s);
  if (s->curl != NULL) {
    curl_easy_cleanup(s->curl); /* also closes the kept-alive connection */
    s->curl = NULL;
  }
  s->xfer = NULL;
  if (s->share != NULL) { /* after every handle that used it */
    curl_share_cleanup(s->share); /* closes the connections it kept */
    s->share = NULL;
  }
  fs_buffer_free(&s->body);
  fs_buffer_free(&s->hdr_data);
  fs_buffer_free(&s->req_headers);
  fs_buffer_free(&s->req_body);
  fs_applied_free(&s->applied);
  free(s->defaults.user_agent);
  free(s->defaults.accept_encoding);
  s->defaults.user_agent = s->defaults.accept_encoding = NULL;
}

/* close == __gc == __close; idempotent (__close runs and then __gc runs again). While the
 * session is busy (a finalizer closing it as a request's results are made) the release waits
 * for the end of that request: the results are read from the session's buffers. */
static int session_close(lua_State *L) {
  fs_session *s = luaL_checkudata(L, 1, FS_SESSION_MT);
  if (s->busy)
    s->close_pending = 1;
  else
    fs_session_release(s);
  lua_pushboolean(L, 1);
  return 1;
}

static int session_tostring(lua_State *L) {
  fs_session *s = luaL_checkudata(L, 1, FS_SESSION_MT);
  if (s->curl == NULL)
    lua_pushliteral(L, FS_SESSION_MT " (closed)");
  else
    lua_pushfstring(L, FS_SESSION_MT " (%p)", (void *)s);
  return 1;
}

int fs_session_type(lua_State *L) {
  fs_session *s;
  luaL_checkany(L, 1);
  s = luaL_testudata(L, 1, FS_SESSION_MT);
  if (s == NULL) {
    fs_secret *secret = fs_secret_test(L, 1);
    if (secret == NULL) luaL_pushfail(L);
    else if (secret->data == NULL) lua_pushliteral(L, "wiped secret");
    else lua_pushliteral(L, "secret");
  }
  else if (s->curl == NULL) lua_pushliteral(L, "closed session");
  else lua_pushliteral(L, "session");
  return 1;
}

/* ---- option tables ---------------------------------------------------------------- */

static const char *option_error(lua_State *L, int idx, const char *name, const char *expected) {
  return lua_pushfstring(L, "option '%s' must be %s, got %s", name, expected, luaL_typename(L, idx));
}

static long opt_milliseconds(lua_State *L, int idx, const char *name, double def) {
  double v = def;
  if (!lua_isnil(L, idx)) {
    if (lua_type(L, idx) != LUA_TNUMBER) luaL_argerror(L, 1, option_error(L, idx, name, "a number of seconds"));
    v = (double)lua_tonumber(L, idx);
    if (!(v > 0 && v <= MAX_SECONDS)) /* also refuses NaN */
      luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' must be > 0 and <= %d seconds", name,
                                          (int)MAX_SECONDS));
  }
  return (long)ceil(v * 1000.0);
}

/* Session options after validation; the strings point into the (anchored) options table. */
typedef struct config {
  const char *user_agent, *ca_file, *ca_path, *ca_blob, *proxy;
  size_t ca_blob_len;
  long low_speed_limit, low_speed_time;
} config;

/* Points the handle's callbacks, error buffer and resend guard at s (which never moves: a
 * userdata, or a multi's slot). */
static CURLcode bind_callbacks(fs_session *s) {
  CURLcode rc = CURLE_OK;
#define SET(opt, val) \
  if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, opt, val)
  SET(CURLOPT_ERRORBUFFER, s->errbuf);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, (void *)s);
  SET(CURLOPT_HEADERFUNCTION, header_cb);
  SET(CURLOPT_HEADERDATA, (void *)s);
#undef SET
  return rc == CURLE_OK ? fs_request_bind_guard(s->curl, &s->guard) : rc;
}

/* A session with empty buffers and no handle yet. */
static void init_state(fs_session *s, size_t max_size, long connect_ms, long total_ms) {
  memset(s, 0, sizeof *s);
  fs_buffer_init(&s->body, max_size);
  fs_buffer_init(&s->hdr_data, (size_t)FS_MAX_RESPONSE_HEADER_BYTES);
  fs_request_buffers_init(&s->req_headers, &s->req_body);
  fs_applied_init(&s->applied);
  s->connect_timeout_ms = connect_ms;
  s->timeout_ms = total_ms;
  s->max_response_size = max_size;
}

/* A malloc'd copy of s (NULL stays NULL); sets *failed when out of memory. */
static char *copy_line(const char *s, int *failed) {
  char *copy;
  if (s == NULL) return NULL;
  copy = malloc(strlen(s) + 1);
  if (copy == NULL) *failed = 1;
  else memcpy(copy, s, strlen(s) + 1);
  return copy;
}

int fs_session_clone(fs_session *dst, const fs_session *src) {
  int failed = 0;
  init_state(dst, src->max_response_size, src->connect_timeout_ms, src->timeout_ms);
  dst->defaults.user_agent = copy_line(src->defaults.user_agent, &failed);
  dst->defaults.accept_encoding = copy_line(src->defaults.accept_encoding, &failed);
  if (failed) return -1;
  dst->curl = curl_easy_duphandle(src->curl); /* every option, strings and blobs copied */
  if (dst->curl == NULL) return -1;
  return bind_callbacks(dst) == CURLE_OK ? 0 : -1;
}

/* "Name: value" in malloc'd memory, or NULL when out of memory. */
static char *header_line(const char *name, const char *value, size_t len) {
  size_t nlen = strlen(name);
  char *line = malloc(nlen + 2 + len + 1);
  if (line == NULL) return NULL;
  memcpy(line, name, nlen);
  memcpy(line + nlen, ": ", 2);
  memcpy(line + nlen + 2, value, len);
  line[nlen + 2 + len] = '\0';
  return line;
}

/* What libcurl sends for CURLOPT_ACCEPT_ENCODING "" (every encoding it can decode, in its
 * order), or "" when it can decode none, written to list (the caller's: no static buffer
 * that sessions made on other threads would share). */
#define ENCODINGS_MAX 64 /* room for every name below and the separators */
static const char *decodable_encodings(char list[ENCODINGS_MAX]) {
  static const struct {
    int feature;
    const char *name;
  } encodings[] = {
      {CURL_VERSION_LIBZ, "deflate, gzip"},
#ifdef CURL_VERSION_BROTLI
      {CURL_VERSION_BROTLI, "br"},
#endif
#ifdef CURL_VERSION_ZSTD
      {CURL_VERSION_ZSTD, "zstd"},
#endif
  };
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  size_t len = 0, i;
  for (i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
    size_t n = strlen(encodings[i].name);
    if (!(v->features & encodings[i].feature) || len + n + 3 > ENCODINGS_MAX) continue;
    if (len > 0) {
      memcpy(list + len, ", ", 2);
      len += 2;
    }
    memcpy(list + len, encodings[i].name, n);
    len += n;
  }
  list[len] = '\0';
  return list;
}

/* The User-Agent and Accept-Encoding lines (fs_default_headers); -1 when out of memory. */
static int set_default_headers(fs_session *s, const char *user_agent, size_t ua_len) {
  char list[ENCODINGS_MAX];
  const char *encodings = decodable_encodings(list);
  if (ua_len > 0 && (s->defaults.user_agent = header_line("User-Agent", user_agent, ua_len)) == NULL) return -1;
  if (encodings[0] != '\0' &&
      (s->defaults.accept_encoding = header_line("Accept-Encoding", encodings, strlen(encodings))) == NULL)
    return -1;
  return 0;
}

/* Options that never change for the life of the handle. Per-request options are
 * overwritten by fs_request_set_options. */
static CURLcode set_base_options(fs_session *s, const config *cfg) {
  CURL *c = s->curl;
  CURLcode rc = CURLE_OK;
#define SET(opt, val) \
  if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
  SET(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts; threaded resolver */
  SET(CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, s->timeout_ms);
  SET(CURLOPT_LOW_SPEED_LIMIT, cfg->low_speed_limit); /* a stalled peer ends the transfer */
  SET(CURLOPT_LOW_SPEED_TIME, cfg->low_speed_time);
  SET(CURLOPT_FOLLOWLOCATION, 0L); /* redirects would carry x-api-key etc. elsewhere */
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2); /* 7.88 still allows 1.0 */
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  /* "" turns off http_proxy/https_proxy/all_proxy from the environment: credentials go
   * through a proxy only when the caller chose it. A chosen https proxy is verified too. */
  SET(CURLOPT_PROXY, cfg->proxy); /* copied by libcurl, like every string option here */
  SET(CURLOPT_PROXY_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
  if (cfg->ca_file) SET(CURLOPT_CAINFO, cfg->ca_file);
  if (cfg->ca_path) SET(CURLOPT_CAPATH, cfg->ca_path);
  if (cfg->ca_blob) {
    struct curl_blob blob;
    /* NOLINTNEXTLINE(performance-no-int-to-ptr): C has no const_cast; CURL_BLOB_COPY only reads */
    blob.data = (void *)(uintptr_t)cfg->ca_blob; /* not written: CURL_BLOB_COPY copies it */
    blob.len = cfg->ca_blob_len;
    blob.flags = CURL_BLOB_COPY;
    SET(CURLOPT_CAINFO_BLOB, &blob);
  }
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
  SET(CURLOPT_ACCEPT_ENCODING, ""); /* decoded bytes count against max_response_size */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_response_size);
  /* no CURLOPT_USERAGENT: the User-Agent line is s->defaults' (fs_default_headers) */
#undef SET
  return rc == CURLE_OK ? bind_callbacks(s) : rc;
}

/* RFC 9110 field-value text: visible characters, spaces, tabs and obs-text; no other control
 * characters (a header value is sent as is). */
static int is_field_text(const char *p, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

/* With fs_fresh_handles: the share handle the fresh copies of s->curl keep their connections,
 * TLS sessions and DNS answers in (one thread uses a session at a time: no locks). */
static CURLSHcode make_share(fs_session *s) {
  CURLSHcode rc;
  s->share = curl_share_init();
  if (s->share == NULL) return CURLSHE_NOMEM;
  rc = curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  if (rc == CURLSHE_OK) rc = curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (rc == CURLSHE_OK) rc = curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  return rc;
}

/* A string option without NUL (libcurl would cut it there) or, unless allow_empty,
 * empty; NULL when absent. Raises naming the option, never showing the value. */
static const char *opt_string(lua_State *L, int idx, const char *name, int allow_empty, size_t *len_out) {
  size_t len;
  const char *v;
  if (lua_isnil(L, idx)) return NULL;
  if (lua_type(L, idx) != LUA_TSTRING) luaL_argerror(L, 1, option_error(L, idx, name, "a string"));
  v = lua_tolstring(L, idx, &len);
  if (len == 0 && !allow_empty) luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' must not be empty", name));
  if (memchr(v, '\0', len) != NULL) luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' must not contain NUL", name));
  if (len_out) *len_out = len;
  return v;
}

/* A whole number between 1 and max, or def when absent. */
static long opt_count(lua_State *L, int idx, const char *name, long def, long max, const char *unit) {
  lua_Integer v;
  int isint;
  if (lua_isnil(L, idx)) return def;
  v = lua_tointegerx(L, idx, &isint);
  if (lua_type(L, idx) != LUA_TNUMBER || !isint || v < 1 || v > max)
    luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' must be a whole number of %s from 1 to %d",
                                        name, unit, (int)max));
  return (long)v;
}

/* "" (no proxy) or an http:// or https:// URL without spaces or control characters. */
static const char *opt_proxy(lua_State *L, int idx) {
  size_t len, i;
  const char *v = opt_string(L, idx, "proxy", 1, &len);
  if (v == NULL || len == 0) return "";
  if (!(len > 7 && strncasecmp(v, "http://", 7) == 0) && !(len > 8 && strncasecmp(v, "https://", 8) == 0))
    luaL_argerror(L, 1, "option 'proxy' must be \"\" or an http:// or https:// URL");
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c <= 0x20 || c == 0x7f)
      luaL_argerror(L, 1, "option 'proxy' must not contain spaces or control characters");
  }
  return v;
}

int fs_session_new(lua_State *L) {
  static const fs_field options[] = {
      FS_FIELD("ca_blob"),         FS_FIELD("ca_file"),        FS_FIELD("ca_path"),
      FS_FIELD("connect_timeout"), FS_FIELD("low_speed_limit"), FS_FIELD("low_speed_time"),
      FS_FIELD("max_response_size"), FS_FIELD("proxy"),        FS_FIELD("timeout"),
      FS_FIELD("user_agent")};
  enum { O_CA_BLOB = 2, O_CA_FILE, O_CA_PATH, O_CONNECT, O_LOW_LIMIT, O_LOW_TIME, O_MAX, O_PROXY, O_TIMEOUT,
         O_UA }; /* stack slots from fs_read_fields */
  long connect_ms, total_ms;
  lua_Integer max_size = DEFAULT_MAX_RESPONSE;
  config cfg;
  size_t ua_len;
  fs_session *s;
  CURLcode rc;

  /* 1. validate (may raise; nothing allocated yet) */
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  fs_read_fields(L, 1, 1, options, 10, "option", SESSION_OPTIONS);
  connect_ms = opt_milliseconds(L, O_CONNECT, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  total_ms = opt_milliseconds(L, O_TIMEOUT, "timeout", DEFAULT_TIMEOUT);
  switch (lua_type(L, O_MAX)) {
    case LUA_TNIL: break;
    case LUA_TNUMBER: {
      int isint;
      max_size = lua_tointegerx(L, O_MAX, &isint);
      if (isint && max_size > 0 && (size_t)max_size <= SIZE_MAX / 2) break;
    } /* fallthrough */
    default:
      luaL_argerror(L, 1, option_error(L, O_MAX, "max_response_size", "an integer number of bytes > 0"));
  }
  cfg.user_agent = opt_string(L, O_UA, "user_agent", 1, &ua_len);
  if (cfg.user_agent == NULL) {
    cfg.user_agent = "flowservice/" FLOWSERVICE_VERSION;
    ua_len = strlen(cfg.user_agent);
  } else if (ua_len > MAX_USER_AGENT) {
    luaL_argerror(L, 1, lua_pushfstring(L, "option 'user_agent' must be at most %d bytes", MAX_USER_AGENT));
  } else if (!is_field_text(cfg.user_agent, ua_len)) {
    luaL_argerror(L, 1, "option 'user_agent' must not contain control characters (only text, spaces and tabs)");
  }
  cfg.ca_file = opt_string(L, O_CA_FILE, "ca_file", 0, NULL);
  cfg.ca_path = opt_string(L, O_CA_PATH, "ca_path", 0, NULL);
  cfg.ca_blob = NULL;
  cfg.ca_blob_len = 0;
  if (!lua_isnil(L, O_CA_BLOB)) { /* PEM text: NUL is not an issue for a blob */
    if (lua_type(L, O_CA_BLOB) != LUA_TSTRING)
      luaL_argerror(L, 1, option_error(L, O_CA_BLOB, "ca_blob", "a string of PEM certificates"));
    cfg.ca_blob = lua_tolstring(L, O_CA_BLOB, &cfg.ca_blob_len);
    if (cfg.ca_blob_len == 0) luaL_argerror(L, 1, "option 'ca_blob' must not be empty");
  }
  cfg.proxy = opt_proxy(L, O_PROXY);
  cfg.low_speed_limit = opt_count(L, O_LOW_LIMIT, "low_speed_limit", DEFAULT_LOW_SPEED_LIMIT, INT_MAX, "bytes per second");
  cfg.low_speed_time = opt_count(L, O_LOW_TIME, "low_speed_time", DEFAULT_LOW_SPEED_TIME, (long)MAX_SECONDS, "seconds");

  /* 2. a closed session first, so its __gc owns whatever follows */
  s = lua_newuserdatauv(L, sizeof *s, 0);
  init_state(s, (size_t)max_size, connect_ms, total_ms);
  luaL_setmetatable(L, FS_SESSION_MT);

  /* 3. allocate */
  if (set_default_headers(s, cfg.user_agent, ua_len) != 0) return luaL_error(L, "not enough memory");
  s->curl = curl_easy_init();
  if (s->curl == NULL) return luaL_error(L, "cannot create a libcurl easy handle");
  rc = set_base_options(s, &cfg);
  if (rc != CURLE_OK) { /* e.g. a libcurl older than 7.85 (PROTOCOLS_STR) */
    char namebuf[32];
    return luaL_error(L, "cannot configure libcurl: %s (%s)", curl_easy_strerror(rc),
                      curl_code_name(rc, namebuf, sizeof namebuf));
  }
  if (fs_fresh_handles && make_share(s) != CURLSHE_OK)
    return luaL_error(L, "cannot create a libcurl share handle");
  return 1;
}

/* ---- request ------------------------------------------------------------------------ */

int fs_fresh_handles = 0;

int fs_choose_handle_mode(void) {
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  const char *forced = getenv("FLOWSERVICE_CURL_HANDLES");
  fs_fresh_handles = info->version_num < 0x080100 || (forced != NULL && strcmp(forced, "fresh") == 0);
#ifdef FLOWSERVICE_MEASURE_REUSED_HANDLES
  fs_fresh_handles = 0; /* bench/lib/main.lua's build, to measure what fresh handles cost */
#endif
  return fs_fresh_handles;
}

CURL *fs_session_transfer_handle(fs_session *s) {
  fs_session_drop_transfer(s);
  if (!fs_fresh_handles) return s->xfer = s->curl;
  /* every option (callbacks, their data and the resend guard included); a new handle has no
   * "previous header" left from an earlier transfer */
  s->xfer = curl_easy_duphandle(s->curl);
  if (s->xfer != NULL && s->share != NULL && curl_easy_setopt(s->xfer, CURLOPT_SHARE, s->share) != CURLE_OK) {
    curl_easy_cleanup(s->xfer);
    s->xfer = NULL;
  }
  return s->xfer;
}

void fs_session_drop_transfer(fs_session *s) {
  if (s->xfer != NULL && s->xfer != s->curl) curl_easy_cleanup(s->xfer); /* its connection stays in the cache */
  s->xfer = NULL;
}

void fs_session_begin(fs_session *s, int wipe) {
  s->body.len = 0;
  s->body.wipe = wipe; /* the response holds a token: growing must not leave copies */
  s->hdr_data.len = 0;
  s->nhdrs = 0;
  s->hdr_bytes = 0;
  s->hdr_ended = 0;
  s->failure = FAIL_NONE;
  s->errbuf[0] = '\0';
}

void fs_session_end(fs_session *s) { fs_request_release(s->curl, &s->req_headers, &s->req_body); }

static int same_name(const fs_session *s, const fs_header_item *a, const fs_header_item *b) {
  return a->name_len == b->name_len &&
         memcmp(s->hdr_data.data + a->name_off, s->hdr_data.data + b->name_off, a->name_len) == 0;
}

/* The headers table: lower-cased names; a repeated field's values joined with ", " in the
 * order received (RFC 9110 list syntax). Repeats are found in C (at most
 * FS_MAX_RESPONSE_HEADERS names), so each name is pushed and set once. */
static void push_headers(lua_State *L, fs_session *s) {
  const char *d = s->hdr_data.data;
  unsigned i, j;
  lua_createtable(L, 0, (int)s->nhdrs);
  for (i = 0; i < s->nhdrs; i++) {
    const fs_header_item *h = &s->hdrs[i];
    for (j = 0; j < i && !same_name(s, &s->hdrs[j], h); j++) {}
    if (j < i) continue; /* joined to its first occurrence */
    lua_pushlstring(L, d + h->name_off, h->name_len);
    for (j = i + 1; j < s->nhdrs && !same_name(s, &s->hdrs[j], h); j++) {}
    if (j == s->nhdrs) {
      lua_pushlstring(L, d + h->value_off, h->value_len);
    } else {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      luaL_addlstring(&b, d + h->value_off, h->value_len);
      for (; j < s->nhdrs; j++) {
        if (!same_name(s, &s->hdrs[j], h)) continue;
        luaL_addlstring(&b, ", ", 2);
        luaL_addlstring(&b, d + s->hdrs[j].value_off, s->hdrs[j].value_len);
      }
      luaL_pushresult(&b);
    }
    lua_rawset(L, -3);
  }
}

/* Could the bytes go in a header? Not empty, no control characters. */
static int is_header_safe(const char *p, size_t len) {
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return 0;
  return 1;
}

/* Moves the member `name` of the JSON object in s->body into the empty secret `out` and
 * puts CAPTURED in its place, in the buffer itself (no Lua call while it holds the
 * value; the bytes it covered are overwritten or wiped). Returns 1 when captured; 0 leaves
 * the body as it is (no such member, or a value with control characters); -1 when out of
 * memory (the caller must not show the body). */
static int capture_member(fs_session *s, const char *name, size_t name_len, fs_secret *out) {
  fs_buffer *b = &s->body;
  size_t start, end, old_len, new_len, placeholder = sizeof CAPTURED - 1, value_len;
  if (b->len == 0 || !fs_json_find_member(b->data, b->len, name, name_len, &start, &end)) return 0;
  old_len = end - start;
  if (placeholder > old_len) {
    /* The placeholder may be longer than the value: room past max_response_size is fine (the
     * whole response is in), and a body near the cap must not keep its token in clear. */
    size_t max = b->max;
    int rc;
    b->max = SIZE_MAX / 2;
    rc = fs_buffer_reserve(b, placeholder - old_len);
    b->max = max;
    if (rc != FS_BUF_OK) return -1;
  }
  if (fs_secret_alloc(out, old_len) != 0) return -1; /* the unescaped value is never longer */
  value_len = fs_json_unescape(b->data, start, end, out->data);
  if (!is_header_safe(out->data, value_len)) { /* no token a header can carry: body left as it is */
    fs_wipe(out->data, old_len + 1);
    free(out->data);
    out->data = NULL;
    return 0;
  }
  out->len = value_len; /* bytes past it were never written (calloc'd zeros) */
  out->header_safe = 1; /* is_header_safe: no control characters at all */
  new_len = b->len - old_len + placeholder;
  memmove(b->data + start + placeholder, b->data + end, b->len - end);
  memcpy(b->data + start, CAPTURED, placeholder);
  if (new_len < b->len) fs_wipe(b->data + new_len, b->len - new_len);
  b->len = new_len;
  return 1;
}

/* The three failure values. Messages are formatted in C, so each branch pushes exactly those. */
static void push_failure_message(lua_State *L, fs_session *s, CURLcode rc, int performed) {
  char msg[96];
  if (s->failure == FAIL_BODY || rc == CURLE_FILESIZE_EXCEEDED) {
    (void)snprintf(msg, sizeof msg, "response body larger than %zu bytes", s->max_response_size);
    push_failure(L, "CURLE_FILESIZE_EXCEEDED", msg);
  } else if (s->failure == FAIL_HEADERS) {
    (void)snprintf(msg, sizeof msg, "response headers larger than %d fields or %d bytes", FS_MAX_RESPONSE_HEADERS,
                   FS_MAX_RESPONSE_HEADER_BYTES);
    push_failure(L, "CURLE_FILESIZE_EXCEEDED", msg);
  } else if (s->failure == FAIL_NOMEM) {
    push_failure(L, "CURLE_OUT_OF_MEMORY", "cannot buffer the response");
  } else if (s->failure == FAIL_HEAD_CUT) {
    push_failure(L, "CURLE_PARTIAL_FILE", "the response ended inside its header block (no blank line after it)");
  } else if (rc == CURLE_ABORTED_BY_CALLBACK && s->guard.refused) { /* named as libcurl names a body it cannot send again */
    push_failure(L, "CURLE_SEND_FAIL_REWIND",
                 "the connection closed before any reply and the request was not sent again "
                 "(it may have taken effect)");
  } else if (rc == CURLE_BAD_FUNCTION_ARGUMENT && performed) {
    /* every option was accepted before the transfer: this comes from the response (libcurl
     * 7.x says so for a folded header line with no field before it) */
    push_failure(L, "CURLE_WEIRD_SERVER_REPLY",
                 "libcurl refused the response's header block (a folded line with no field before it?)");
  } else {
    push_curl_failure(L, s, rc);
  }
}

/* The info table of a transfer: connects, total_time, request_size (request bytes sent; 0
 * after a failure means the server cannot have seen the request). All 0 when libcurl was
 * never asked to perform (its counters are still the previous transfer's). */
static void push_info(lua_State *L, fs_session *s, int performed) {
  long connects = 0, request_size = 0;
  double total_time = 0;
  if (performed && s->xfer != NULL) {
    curl_easy_getinfo(s->xfer, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(s->xfer, CURLINFO_TOTAL_TIME, &total_time);
    curl_easy_getinfo(s->xfer, CURLINFO_REQUEST_SIZE, &request_size);
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)connects);
  lua_setfield(L, -2, "connects");
  lua_pushnumber(L, (lua_Number)total_time);
  lua_setfield(L, -2, "total_time");
  lua_pushinteger(L, (lua_Integer)request_size);
  lua_setfield(L, -2, "request_size");
}

/* nil, "CURLE_NAME: message", "CURLE_NAME", info */
static void push_transfer_failure(lua_State *L, fs_session *s, CURLcode rc, int performed) {
  push_failure_message(L, s, rc, performed);
  push_info(L, s, performed);
}

/* The capture secret, pushed before the request is read (fs_request_read: nothing may
 * allocate after it); nil when the request captures nothing. Returns its slot or 0. */
static int push_capture_secret(lua_State *L) {
  int wanted;
  lua_pushliteral(L, "capture");
  wanted = lua_rawget(L, 2) != LUA_TNIL; /* raw, as fs_request_read reads it */
  lua_pop(L, 1);
  if (!wanted) return 0;
  fs_secret_push_empty(L);
  return lua_gettop(L);
}

static int session_request(lua_State *L) {
  fs_session *s = check_request_session(L);
  fs_request r;
  struct curl_slist *headers;
  int capture_slot;
  CURLcode rc;
  int performed = 0;

  /* 1. allocate what Lua must (a finalizer may run here, and may close the session); then
   *    validate everything: raises leave nothing behind */
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  capture_slot = push_capture_secret(L);
  if (s->curl == NULL || s->busy) check_session(L); /* closed or in use meanwhile: raises */
  fs_request_read(L, &r, REQUEST_SECRET_MT); /* leaves the fields on the stack: they anchor the strings */

  /* 2. allocate (into buffers the session owns) */
  if (fs_request_build(&r, &s->req_headers, &s->req_body, &s->defaults, &headers) != 0) {
    fs_session_end(s);
    return luaL_error(L, "not enough memory");
  }

  /* 3. transfer: no Lua calls until the buffers holding secrets are wiped */
  fs_session_begin(s, r.capture != NULL);
  rc = fs_request_set_options(s->curl, &r, headers, s->timeout_ms, &s->guard, &s->applied);
  if (rc == CURLE_OK) {
    CURL *h = fs_session_transfer_handle(s);
    if (h == NULL) {
      rc = CURLE_OUT_OF_MEMORY;
    } else {
      rc = curl_easy_perform(h);
      performed = 1;
    }
  }
  fs_session_end(s);

  /* 4. results, made while the session is busy (they are read from its buffers) */
  return fs_session_push_guarded(L, s, rc, performed, r.capture, r.capture_len, capture_slot);
}

int fs_session_push_result(lua_State *L, fs_session *s, CURLcode rc, int performed, const char *capture,
                           size_t capture_len, int capture_slot) {
  fs_secret *captured = capture_slot ? fs_secret_test(L, capture_slot) : NULL;
  int got_capture = 0, top = lua_gettop(L);
  long status = 0;
  luaL_checkstack(L, PUSH_SLOTS, "pushing a response");
  /* libcurl 7.88 takes a response cut off after its status line (or inside its headers) as
   * complete: a 201 with no body, where the answer was lost. A truncated answer instead (after
   * the request went out: a create's is ambiguous). */
  if (rc == CURLE_OK && !s->hdr_ended) {
    s->failure = FAIL_HEAD_CUT;
    rc = CURLE_PARTIAL_FILE;
  }
  if (rc == CURLE_OK) {
    curl_easy_getinfo(s->xfer, CURLINFO_RESPONSE_CODE, &status);
    if (captured && status >= 200 && status < 300) got_capture = capture_member(s, capture, capture_len, captured);
  }
  if (rc != CURLE_OK || got_capture < 0) {
    fs_buffer_clear(&s->body, KEEP_BODY); /* wiped when it held a token */
    if (rc != CURLE_OK) {
      push_transfer_failure(L, s, rc, performed);
    } else {
      push_failure(L, "CURLE_OUT_OF_MEMORY", "cannot capture the response's token");
      push_info(L, s, performed);
    }
    return lua_gettop(L) - top;
  }
  lua_pushinteger(L, (lua_Integer)status);
  push_headers(L, s);
  lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
  fs_buffer_clear(&s->body, KEEP_BODY); /* wiped when it held a token */
  push_info(L, s, 1);
  if (got_capture) {
    lua_pushvalue(L, capture_slot);
    lua_setfield(L, -2, "captured");
  }
  return lua_gettop(L) - top; /* the one place results are counted */
}

void fs_register_protected(lua_State *L, char *key, lua_CFunction fn) {
  lua_pushlightuserdata(L, key);
  lua_pushcfunction(L, fn);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

int fs_busy_pcall(lua_State *L, char *key, int first, int n, void *ud, int *busy) {
  int status, i;
  luaL_checkstack(L, n + 2, NULL);
  *busy = 1; /* before anything is pushed: nothing below allocates, but the call's own frame */
  lua_pushlightuserdata(L, key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  for (i = 0; i < n; i++) lua_pushvalue(L, first + i);
  lua_pushlightuserdata(L, ud);
  status = lua_pcall(L, n + 1, LUA_MULTRET, 0);
  *busy = 0;
  return status;
}

typedef struct push_call { /* fs_session_push_guarded's arguments, for its protected call */
  fs_session *s;
  CURLcode rc;
  int performed;
  const char *capture;
  size_t capture_len;
} push_call;

static char push_protected_key; /* its address is push_protected's registry key */

static int push_protected(lua_State *L) { /* ([captured secret,] push_call) */
  const push_call *c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return fs_session_push_result(L, c->s, c->rc, c->performed, c->capture, c->capture_len, lua_gettop(L));
}

/* fs_session_push_result with s busy, as a protected call; then a close that waited is done
 * and an error is raised again. Returns the number of results. */
int fs_session_push_guarded(lua_State *L, fs_session *s, CURLcode rc, int performed, const char *capture,
                            size_t capture_len, int capture_slot) {
  push_call c;
  int top = lua_gettop(L), status;
  c.s = s;
  c.rc = rc;
  c.performed = performed;
  c.capture = capture;
  c.capture_len = capture_len;
  status = fs_busy_pcall(L, &push_protected_key, capture_slot, capture_slot ? 1 : 0, &c, &s->busy);
  fs_session_drop_transfer(s);
  if (s->close_pending) {
    s->close_pending = 0;
    fs_session_release(s);
  }
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L) - top;
}

/* ---- registration ------------------------------------------------------------------- */

static const luaL_Reg session_methods[] = {
    {"request", NULL}, /* a closure over the metatables: set below */
    {"multi", fs_multi_new},
    {"close", session_close},
    {NULL, NULL},
};

static const luaL_Reg session_metamethods[] = {
    {"__index", NULL}, /* set to the methods table below */
    {"__gc", session_close},
    {"__close", session_close},
    {"__tostring", session_tostring},
    {NULL, NULL},
};

void fs_session_register(lua_State *L) {
  if (luaL_newmetatable(L, FS_SESSION_MT)) { /* sets __name too */
    luaL_setfuncs(L, session_metamethods, 0);
    luaL_newlibtable(L, session_methods);
    luaL_setfuncs(L, session_methods, 0);
    lua_pushvalue(L, -2);
    fs_register_protected(L, &push_protected_key, push_protected);
    fs_secret_register(L); /* idempotent; its metatable is request's second upvalue */
    luaL_getmetatable(L, FS_SECRET_MT);
    lua_pushcclosure(L, session_request, 2);
    lua_setfield(L, -2, "request");
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
