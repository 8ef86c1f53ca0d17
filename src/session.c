/* flowservice.core session: one libcurl easy handle reused across requests, so
 * libcurl keeps the connection alive between them (contract: docs/DESIGN.md).
 *
 * Rules this file keeps:
 *  - lifecycle as in liolib: the userdata exists "closed" before anything is
 *    allocated; one idempotent finalizer serves close, __gc and __close;
 *  - validate everything first, allocate second; what is allocated hangs off the
 *    session so a raise cannot leak it;
 *  - libcurl callbacks only append to C buffers and never call Lua, so no Lua error
 *    can longjmp through libcurl; Lua values are built after curl_easy_perform;
 *  - no error message contains a header value (they carry tokens). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "buffer.h"
#include "session.h"

#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_TIMEOUT 60.0
#define DEFAULT_MAX_RESPONSE ((lua_Integer)32 * 1024 * 1024)
#define MAX_SECONDS 2147483.0 /* keeps milliseconds within a 32-bit long */
#define MAX_HEADER_LINE (64 * 1024)
#define KEEP_BODY ((size_t)256 * 1024) /* body buffer kept between requests */

#define SESSION_OPTIONS "connect_timeout, max_response_size, timeout, user_agent"
#define REQUEST_FIELDS "body, headers, method, url"

enum { FAIL_NONE, FAIL_BODY, FAIL_HEADERS, FAIL_NOMEM };

typedef struct header_item {
  size_t name_off, name_len, value_off, value_len; /* into hdr_data */
} header_item;

typedef struct fs_session {
  CURL *curl; /* NULL once closed */
  struct curl_slist *req_headers;
  char *user_agent;
  fs_buffer body;     /* response body, capped at max_response_size */
  fs_buffer hdr_data; /* response header names (lower-cased) and values */
  fs_buffer line;     /* scratch for "Name: value" request lines */
  header_item hdrs[FS_MAX_RESPONSE_HEADERS];
  unsigned nhdrs;
  size_t hdr_bytes; /* raw header bytes received for this request, 1xx included */
  int failure;      /* why a callback aborted the transfer */
  long connect_timeout_ms, timeout_ms;
  size_t max_response_size;
  char errbuf[CURL_ERROR_SIZE];
} fs_session;

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
  header_item *h;
  size_t i;

  s->hdr_bytes += n;
  if (s->hdr_bytes > FS_MAX_RESPONSE_HEADER_BYTES) goto too_large;
  while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r')) len--;
  if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
    /* a new status line: drop headers of an interim (1xx) response */
    s->nhdrs = 0;
    d->len = 0;
    return n;
  }
  if (len == 0) return n; /* end of a header block */
  if (is_ows(ptr[0])) {   /* obsolete line folding: continues the last value */
    if (s->nhdrs == 0) return n;
    for (vstart = 0; vstart < len && is_ows(ptr[vstart]); vstart++) {}
    if (vstart == len) return n;
    h = &s->hdrs[s->nhdrs - 1]; /* its value is the last thing in hdr_data */
    if (fs_buffer_putc(d, ' ') != FS_BUF_OK ||
        fs_buffer_append(d, ptr + vstart, len - vstart) != FS_BUF_OK)
      goto too_large;
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
  if (s->nhdrs == FS_MAX_RESPONSE_HEADERS) goto too_large;
  if (fs_buffer_reserve(d, name_len + (vend - vstart)) != FS_BUF_OK) goto too_large;
  h = &s->hdrs[s->nhdrs++];
  h->name_off = d->len;
  h->name_len = name_len;
  for (i = 0; i < name_len; i++) {
    char c = ptr[i];
    d->data[d->len++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  h->value_off = d->len;
  h->value_len = vend - vstart;
  if (h->value_len > 0) memcpy(d->data + d->len, ptr + vstart, h->value_len);
  d->len += h->value_len;
  return n;

too_large: /* (hdr_data is capped at FS_MAX_RESPONSE_HEADER_BYTES too) */
  s->failure = FAIL_HEADERS;
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
      snprintf(buf, size, "CURLE_%d", (int)rc);
      return buf;
  }
}

/* Pushes nil, "CURLE_NAME: message", "CURLE_NAME" (luv's fail triple). */
static int push_failure(lua_State *L, const char *name, const char *message) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", name, message);
  lua_pushstring(L, name);
  return 3;
}

static int push_curl_failure(lua_State *L, fs_session *s, CURLcode rc) {
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
  return 3;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static fs_session *check_session(lua_State *L) {
  fs_session *s = luaL_checkudata(L, 1, FS_SESSION_MT);
  if (s->curl == NULL) luaL_error(L, "attempt to use a closed session");
  return s;
}

/* close == __gc == __close; idempotent (__close runs and then __gc runs again). */
static int session_close(lua_State *L) {
  fs_session *s = luaL_checkudata(L, 1, FS_SESSION_MT);
  if (s->curl != NULL) {
    curl_easy_cleanup(s->curl); /* also closes the kept-alive connection */
    s->curl = NULL;
  }
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
  free(s->user_agent);
  s->user_agent = NULL;
  fs_buffer_free(&s->body);
  fs_buffer_free(&s->hdr_data);
  fs_buffer_free(&s->line);
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
  if (s == NULL) luaL_pushfail(L);
  else if (s->curl == NULL) lua_pushliteral(L, "closed session");
  else lua_pushliteral(L, "session");
  return 1;
}

/* ---- option tables ---------------------------------------------------------------- */

/* Raises unless every key of the table at t is one of names (a NULL-terminated list). */
static void check_fields(lua_State *L, int t, int arg, const char *const names[],
                         const char *what, const char *valid) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int i, found = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s names must be strings, got a %s key", what,
                                            luaL_typename(L, -1)));
    for (i = 0; names[i] != NULL && !found; i++) found = strcmp(lua_tostring(L, -1), names[i]) == 0;
    if (!found)
      luaL_argerror(L, arg, lua_pushfstring(L, "unknown %s '%s' (valid: %s)", what,
                                            lua_tostring(L, -1), valid));
  }
}

static const char *type_error(lua_State *L, const char *name, const char *expected) {
  return lua_pushfstring(L, "option '%s' must be %s, got %s", name, expected, luaL_typename(L, -1));
}

static long opt_milliseconds(lua_State *L, int t, const char *name, double def) {
  double v = def;
  int tp = lua_getfield(L, t, name);
  if (tp != LUA_TNIL) {
    if (tp != LUA_TNUMBER) luaL_argerror(L, 1, type_error(L, name, "a number of seconds"));
    v = (double)lua_tonumber(L, -1);
    if (!(v > 0 && v <= MAX_SECONDS)) /* also refuses NaN */
      luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' must be > 0 and <= %d seconds", name,
                                          (int)MAX_SECONDS));
  }
  lua_pop(L, 1);
  return (long)ceil(v * 1000.0);
}

static int has_ctl(const char *s, size_t len) {
  return memchr(s, '\r', len) || memchr(s, '\n', len) || memchr(s, '\0', len);
}

int fs_session_new(lua_State *L) {
  long connect_ms = (long)(DEFAULT_CONNECT_TIMEOUT * 1000), total_ms = (long)(DEFAULT_TIMEOUT * 1000);
  lua_Integer max_size = DEFAULT_MAX_RESPONSE;
  const char *ua = "flowservice/" FLOWSERVICE_VERSION;
  size_t ua_len = strlen(ua);
  fs_session *s;
  static const char *const options[] = {"connect_timeout", "max_response_size", "timeout",
                                        "user_agent", NULL};

  /* 1. validate (may raise; nothing allocated yet) */
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  check_fields(L, 1, 1, options, "option", SESSION_OPTIONS);
  connect_ms = opt_milliseconds(L, 1, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  total_ms = opt_milliseconds(L, 1, "timeout", DEFAULT_TIMEOUT);
  switch (lua_getfield(L, 1, "max_response_size")) {
    case LUA_TNIL: break;
    case LUA_TNUMBER: {
      int isint;
      max_size = lua_tointegerx(L, -1, &isint);
      if (isint && max_size > 0 && (lua_Unsigned)max_size <= SIZE_MAX / 2) break;
    } /* fallthrough */
    default:
      luaL_argerror(L, 1, type_error(L, "max_response_size", "an integer number of bytes > 0"));
  }
  if (lua_getfield(L, 1, "user_agent") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 1, type_error(L, "user_agent", "a string"));
    ua = lua_tolstring(L, -1, &ua_len); /* stays on the stack until copied */
    if (has_ctl(ua, ua_len))
      luaL_argerror(L, 1, "option 'user_agent' must not contain CR, LF or NUL");
  }

  /* 2. a closed session first, so its __gc owns whatever follows */
  s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  fs_buffer_init(&s->body, (size_t)max_size);
  fs_buffer_init(&s->hdr_data, FS_MAX_RESPONSE_HEADER_BYTES);
  fs_buffer_init(&s->line, MAX_HEADER_LINE + 4);
  s->connect_timeout_ms = connect_ms;
  s->timeout_ms = total_ms;
  s->max_response_size = (size_t)max_size;
  luaL_setmetatable(L, FS_SESSION_MT);

  /* 3. allocate */
  s->user_agent = malloc(ua_len + 1);
  if (s->user_agent == NULL) return luaL_error(L, "not enough memory");
  memcpy(s->user_agent, ua, ua_len + 1);
  s->curl = curl_easy_init();
  if (s->curl == NULL) return luaL_error(L, "cannot create a libcurl easy handle");
  return 1;
}

/* ---- request ------------------------------------------------------------------------ */

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
enum { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_HEAD };

/* RFC 9110 tchar */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int ieq(const char *a, size_t alen, const char *b) {
  size_t i;
  if (alen != strlen(b)) return 0;
  for (i = 0; i < alen; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != b[i]) return 0;
  }
  return 1;
}

/* A bad header name for an error message: quoted, escaped, shortened. */
static const char *show_name(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (i = 0; i < len && i < 64; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      luaL_addchar(&b, (char)c);
    } else {
      char esc[5];
      snprintf(esc, sizeof esc, "\\x%02x", c);
      luaL_addstring(&b, esc);
    }
  }
  if (len > 64) luaL_addstring(&b, "...");
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

typedef struct request {
  int method;
  const char *url;
  const char *body; /* NULL: no body */
  size_t body_len;
  int has_content_type, has_expect;
} request;

/* Validates the headers table at index h; raises on the first violation. */
static void check_headers(lua_State *L, int h, request *r) {
  lua_pushnil(L);
  while (lua_next(L, h)) {
    size_t nlen, vlen, i;
    const char *name, *value;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': names must be strings, got a %s key",
                                          luaL_typename(L, -2)));
    name = lua_tolstring(L, -2, &nlen);
    for (i = 0; i < nlen && is_tchar((unsigned char)name[i]); i++) {}
    if (nlen == 0 || i < nlen)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': invalid header name %s (must be an RFC 9110 token)",
                                          show_name(L, name, nlen)));
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': value of '%s' must be a string, got %s",
                                          name, luaL_typename(L, -1)));
    value = lua_tolstring(L, -1, &vlen);
    if (has_ctl(value, vlen)) /* never echo the value: it may be a token */
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': value of '%s' contains CR, LF or NUL", name));
    if (nlen + vlen > MAX_HEADER_LINE)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': '%s' is longer than %d bytes", name,
                                          MAX_HEADER_LINE));
    if (ieq(name, nlen, "content-type")) r->has_content_type = 1;
    if (ieq(name, nlen, "expect")) r->has_expect = 1;
    lua_pop(L, 1);
  }
}

static int append_header(fs_session *s, const char *name, size_t nlen, const char *value, size_t vlen) {
  struct curl_slist *l;
  fs_buffer *b = &s->line;
  b->len = 0;
  /* "Name;" is libcurl's spelling of a header with an empty value ("Name:" would
   * remove the header instead). */
  if (fs_buffer_append(b, name, nlen) || fs_buffer_append(b, vlen ? ": " : ";", vlen ? 2 : 1) ||
      fs_buffer_append(b, value, vlen) || fs_buffer_putc(b, '\0'))
    return -1;
  l = curl_slist_append(s->req_headers, b->data);
  if (l == NULL) return -1;
  s->req_headers = l;
  return 0;
}

static int append_raw(fs_session *s, const char *line) {
  struct curl_slist *l = curl_slist_append(s->req_headers, line);
  if (l == NULL) return -1;
  s->req_headers = l;
  return 0;
}

/* Builds s->req_headers from the (validated) table at h. */
static int build_headers(lua_State *L, fs_session *s, int h, const request *r) {
  if (h != 0) {
    lua_pushnil(L);
    while (lua_next(L, h)) {
      size_t nlen, vlen;
      const char *name = lua_tolstring(L, -2, &nlen), *value = lua_tolstring(L, -1, &vlen);
      lua_pop(L, 1);
      if (append_header(s, name, nlen, value, vlen)) {
        lua_pop(L, 1);
        return -1;
      }
    }
  }
  /* Remove headers libcurl would add on its own ("Name:" deletes one): a form
   * Content-Type on bodies, and Expect: 100-continue on large bodies (a 1 s stall
   * on servers that ignore it). */
  if (r->body != NULL && !r->has_content_type && append_raw(s, "Content-Type:")) return -1;
  if (r->body != NULL && !r->has_expect && append_raw(s, "Expect:")) return -1;
  return 0;
}

static CURLcode setup_transfer(fs_session *s, const request *r) {
  CURL *c = s->curl;
  CURLcode rc = CURLE_OK;
#define SET(opt, val) \
  if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
  /* A clean slate per request, so nothing (POSTFIELDS, CUSTOMREQUEST, NOBODY...)
   * carries over; the reset keeps live connections, DNS and TLS session caches. */
  curl_easy_reset(c);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, s->timeout_ms);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
  SET(CURLOPT_ACCEPT_ENCODING, ""); /* decoded bytes count against max_response_size */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_response_size);
  SET(CURLOPT_USERAGENT, s->user_agent);
  SET(CURLOPT_ERRORBUFFER, s->errbuf);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, (void *)s);
  SET(CURLOPT_HEADERFUNCTION, header_cb);
  SET(CURLOPT_HEADERDATA, (void *)s);
  SET(CURLOPT_URL, r->url);
  SET(CURLOPT_HTTPHEADER, s->req_headers);
  switch (r->method) {
    case M_HEAD: SET(CURLOPT_NOBODY, 1L); break;
    case M_POST: SET(CURLOPT_POST, 1L); break;
    case M_PUT: SET(CURLOPT_CUSTOMREQUEST, "PUT"); break;
    case M_PATCH: SET(CURLOPT_CUSTOMREQUEST, "PATCH"); break;
    case M_DELETE: SET(CURLOPT_CUSTOMREQUEST, "DELETE"); break;
    default: SET(CURLOPT_HTTPGET, 1L); break;
  }
  if (r->body != NULL) {
    /* libcurl reads the Lua string in place; it stays on the stack through perform */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    SET(CURLOPT_POSTFIELDS, r->body);
  }
#undef SET
  return rc;
}

/* Drops everything that pointed into this request's Lua values. */
static void end_transfer(fs_session *s) {
  curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
}

static void push_headers(lua_State *L, fs_session *s) {
  unsigned i;
  lua_createtable(L, 0, (int)s->nhdrs);
  for (i = 0; i < s->nhdrs; i++) {
    const header_item *h = &s->hdrs[i];
    lua_pushlstring(L, s->hdr_data.data + h->name_off, h->name_len);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushlstring(L, s->hdr_data.data + h->value_off, h->value_len);
    } else { /* repeated field: RFC 9110 list syntax */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, s->hdr_data.data + h->value_off, h->value_len);
      lua_concat(L, 3);
    }
    lua_rawset(L, -3);
  }
}

static int session_request(lua_State *L) {
  fs_session *s = check_session(L);
  static const char *const fields[] = {"body", "headers", "method", "url", NULL};
  request r;
  int hidx = 0;
  size_t url_len, i;
  CURLcode rc;
  long status = 0, connects = 0;
  double total_time = 0;

  /* 1. validate everything; raises leave nothing behind */
  memset(&r, 0, sizeof r);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  check_fields(L, 2, 2, fields, "field", REQUEST_FIELDS);
  lua_getfield(L, 2, "method"); /* 3 */
  if (lua_isnil(L, 3)) r.method = M_GET;
  else if (lua_type(L, 3) != LUA_TSTRING)
    return luaL_argerror(L, 2, lua_pushfstring(L, "field 'method' must be a string, got %s", luaL_typename(L, 3)));
  else {
    const char *m = lua_tostring(L, 3);
    for (r.method = 0; methods[r.method] && strcmp(methods[r.method], m) != 0; r.method++) {}
    if (methods[r.method] == NULL)
      return luaL_argerror(L, 2, lua_pushfstring(L, "field 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got '%s'", m));
  }
  if (lua_getfield(L, 2, "url") != LUA_TSTRING) /* 4 */
    return luaL_argerror(L, 2, lua_pushfstring(L, "field 'url' must be a string, got %s", luaL_typename(L, 4)));
  r.url = lua_tolstring(L, 4, &url_len);
  for (i = 0; i < url_len; i++) {
    unsigned char c = (unsigned char)r.url[i];
    if (c <= 0x20 || c == 0x7f)
      return luaL_argerror(L, 2, "field 'url' must not contain spaces or control characters");
  }
  switch (lua_getfield(L, 2, "headers")) { /* 5 */
    case LUA_TNIL: break;
    case LUA_TTABLE: hidx = 5; check_headers(L, 5, &r); break;
    default:
      return luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers' must be a table, got %s", luaL_typename(L, 5)));
  }
  switch (lua_getfield(L, 2, "body")) { /* 6: anchors the body string during perform */
    case LUA_TNIL:
      /* POST, PUT and PATCH always carry a body, so libcurl sends Content-Length: 0 */
      if (r.method == M_POST || r.method == M_PUT || r.method == M_PATCH) r.body = "";
      break;
    case LUA_TSTRING:
      if (r.method == M_GET || r.method == M_HEAD)
        return luaL_argerror(L, 2, lua_pushfstring(L, "field 'body' is not allowed with %s", methods[r.method]));
      r.body = lua_tolstring(L, 6, &r.body_len);
      break;
    default:
      return luaL_argerror(L, 2, lua_pushfstring(L, "field 'body' must be a string, got %s", luaL_typename(L, 6)));
  }

  /* 2. allocate: the list hangs off the session, so a raise cannot leak it */
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
  if (build_headers(L, s, hidx, &r) != 0) {
    curl_slist_free_all(s->req_headers);
    s->req_headers = NULL;
    return luaL_error(L, "not enough memory");
  }

  /* 3. transfer: no Lua calls until curl_easy_perform returns */
  s->body.len = 0;
  s->hdr_data.len = 0;
  s->nhdrs = 0;
  s->hdr_bytes = 0;
  s->failure = FAIL_NONE;
  s->errbuf[0] = '\0';
  rc = setup_transfer(s, &r);
  if (rc == CURLE_OK) rc = curl_easy_perform(s->curl);
  end_transfer(s);

  /* 4. results */
  if (rc != CURLE_OK) {
    int n;
    if (s->failure == FAIL_BODY || rc == CURLE_FILESIZE_EXCEEDED) {
      char msg[96];
      snprintf(msg, sizeof msg, "response body larger than %zu bytes", s->max_response_size);
      n = push_failure(L, "CURLE_FILESIZE_EXCEEDED", msg);
    } else if (s->failure == FAIL_HEADERS) {
      n = push_failure(L, "CURLE_FILESIZE_EXCEEDED",
                       lua_pushfstring(L, "response headers larger than %d fields or %d bytes",
                                       FS_MAX_RESPONSE_HEADERS, FS_MAX_RESPONSE_HEADER_BYTES));
    } else if (s->failure == FAIL_NOMEM) {
      n = push_failure(L, "CURLE_OUT_OF_MEMORY", "cannot buffer the response");
    } else {
      n = push_curl_failure(L, s, rc);
    }
    fs_buffer_clear(&s->body, KEEP_BODY);
    return n;
  }
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(s->curl, CURLINFO_TOTAL_TIME, &total_time);
  lua_pushinteger(L, (lua_Integer)status);
  push_headers(L, s);
  lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)connects);
  lua_setfield(L, -2, "connects");
  lua_pushnumber(L, (lua_Number)total_time);
  lua_setfield(L, -2, "total_time");
  fs_buffer_clear(&s->body, KEEP_BODY);
  return 4;
}

/* ---- registration ------------------------------------------------------------------- */

static const luaL_Reg session_methods[] = {
    {"request", session_request},
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
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
