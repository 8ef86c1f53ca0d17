/* flowservice.core requests: turning the table given to session:request into what
 * libcurl needs (contract: docs/DESIGN.md, "C core"). This file owns reading and checking
 * the fields (method, url, headers, body, capture, timeout, resend), header names (RFC 9110 tokens) and
 * values (no CR, LF or NUL), the pieces (strings and secrets) of header values and
 * bodies, laying out the curl_slist header lines and the body in the two buffers the
 * session lends it, the per-request libcurl options, and wiping those buffers.
 * session.c runs the transfer and pushes the response.
 *
 * Rules this file keeps:
 *  - validate everything first (fs_request_read raises, allocates nothing), allocate
 *    second (fs_request_build, into buffers the session owns, so a raise cannot leak);
 *  - no Lua call from libcurl callbacks (there are none here); fs_request_build,
 *    fs_request_set_options and fs_request_release never call Lua either: they run while
 *    the buffers hold secret bytes, and a Lua error would longjmp past the wipe;
 *  - no error message contains a header value (they carry tokens);
 *  - the header lines and a body joined from pieces may hold secret bytes: both buffers
 *    wipe their old storage when they grow or are freed, and fs_request_release wipes
 *    them after the transfer. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "buffer.h"
#include "request.h"
#include "secret.h"

#define MAX_HEADER_LINE (64 * 1024)
#define KEEP_REQ_HEADERS ((size_t)16 * 1024) /* buffers kept between requests */
#define KEEP_REQ_BODY ((size_t)16 * 1024)
#define REQ_HEADERS_MAX ((size_t)(FS_MAX_REQUEST_HEADERS + 2) * (MAX_HEADER_LINE + 64))
#define MAX_CAPTURE_NAME 256
#define REQUEST_FIELDS "body, capture, headers, method, resend, timeout, url"

/* ---- field tables and header bytes (shared with session.c's options) -------------- */

void fs_read_fields(lua_State *L, int t, int arg, const fs_field *names, int n, const char *what,
                    const char *valid) {
  int first = lua_gettop(L) + 1, i;
  luaL_checkstack(L, n + 3, NULL);
  for (i = 0; i < n; i++) lua_pushnil(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t len;
    const char *k;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s names must be strings, got a %s key", what,
                                            luaL_typename(L, -2)));
    k = lua_tolstring(L, -2, &len);
    for (i = 0; i < n && !(names[i].len == len && names[i].name[0] == k[0] && memcmp(names[i].name, k, len) == 0);
         i++) {}
    if (i == n)
      luaL_argerror(L, arg, lua_pushfstring(L, "unknown %s '%s' (valid: %s)", what, k, valid));
    lua_replace(L, first + i); /* pops the value */
  }
}

/* 8 bytes at a time ("has a zero byte" trick, exact for "any"): header values are
 * checked on every request. */
int fs_has_ctl(const char *s, size_t len) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = 0;
  for (; len - i >= 8; i += 8) {
    uint64_t w, r, n;
    memcpy(&w, s + i, 8);
    r = w ^ (ones * '\r');
    n = w ^ (ones * '\n');
    if ((((w - ones) & ~w) | ((r - ones) & ~r) | ((n - ones) & ~n)) & highs) return 1;
  }
  for (; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

/* Any byte <= 0x20 (space, controls) or 0x7f? (What a URL may not contain.) 8 bytes at a
 * time as fs_has_ctl, with the "has a byte less than n" trick (exact for any, n <= 128). */
static int has_space_or_ctl(const char *s, size_t len) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = 0;
  for (; len - i >= 8; i += 8) {
    uint64_t w, d;
    memcpy(&w, s + i, 8);
    d = w ^ (ones * 0x7f);
    if ((((w - ones * 0x21) & ~w) | ((d - ones) & ~d)) & highs) return 1;
  }
  for (; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

/* ---- reading and checking the request table --------------------------------------- */

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
enum { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_HEAD };

/* RFC 9110 tchar, by table: every header name of every request is scanned. */
static const unsigned char tchars[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int is_tchar(unsigned char c) { return tchars[c]; }

static int ieq(const char *a, size_t alen, const char *b, size_t blen) {
  size_t i;
  if (alen != blen) return 0;
  for (i = 0; i < alen; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != b[i]) return 0;
  }
  return 1;
}

/* A bad header name for an error message: quoted, escaped, shortened. */
static const char *show_name(lua_State *L, const char *s, size_t len, char quote) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, quote);
  for (i = 0; i < len && i < 64; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != (unsigned char)quote && c != '\\') {
      luaL_addchar(&b, (char)c);
    } else {
      char esc[5];
      (void)snprintf(esc, sizeof esc, "\\x%02x", c);
      luaL_addstring(&b, esc);
    }
  }
  if (len > 64) luaL_addstring(&b, "...");
  luaL_addchar(&b, quote);
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* The field pieces belong to, for a message: `header` names a header value (only built when
 * a message needs it: requests are read on every call). */
static const char *piece_field(lua_State *L, const char *field, const char *header) {
  if (header == NULL) return field;
  return lua_pushfstring(L, "field 'headers': value of '%s'", header);
}

/* Appends the piece at idx, of type `type` (a string or an unwiped secret), to r->spans;
 * returns its length. */
static size_t add_piece(lua_State *L, int idx, int type, fs_request *r, const char *field, const char *header,
                        int i) {
  fs_span *sp;
  fs_secret *secret;
  if (r->nspans == FS_MAX_REQUEST_PIECES)
    luaL_argerror(L, 2, lua_pushfstring(L, "more than %d pieces in one request", FS_MAX_REQUEST_PIECES));
  sp = &r->spans[r->nspans];
  if (type == LUA_TSTRING) {
    sp->data = lua_tolstring(L, idx, &sp->len);
    sp->header_safe = 0;
  } else if ((secret = fs_secret_test_mt(L, idx, r->secret_mt)) != NULL) {
    if (secret->data == NULL) luaL_error(L, "attempt to use a wiped secret");
    sp->data = secret->data;
    sp->len = secret->len;
    sp->header_safe = secret->header_safe;
  } else {
    const char *what = piece_field(L, field, header);
    luaL_argerror(L, 2, lua_pushfstring(L, "%s: piece %d must be a string or a secret, got %s", what, i,
                                        luaL_typename(L, idx)));
  }
  r->nspans++;
  return sp->len;
}

/* Reads the value at idx (a string, or a list of strings and secrets) into r->spans;
 * sets *first, *count and returns the total length. `field`, or the value of the header
 * `header` when not NULL, names the field in errors. */
static size_t read_pieces(lua_State *L, int idx, fs_request *r, const char *field, const char *header, int *first,
                          int *count) {
  lua_Integer n, i;
  size_t total = 0;
  int type = lua_type(L, idx);
  *first = r->nspans;
  *count = 0;
  if (type == LUA_TSTRING) {
    *count = 1;
    return add_piece(L, idx, type, r, field, header, 1);
  }
  if (type != LUA_TTABLE) {
    const char *what = piece_field(L, field, header);
    luaL_argerror(L, 2, lua_pushfstring(L, "%s must be a string or a list of strings and secrets, got %s", what,
                                        luaL_typename(L, idx)));
  }
  n = (lua_Integer)lua_rawlen(L, idx);
  for (i = 1; i <= n; i++) {
    size_t len;
    lua_rawgeti(L, idx, i); /* stays anchored by the list after the pop */
    len = add_piece(L, lua_gettop(L), lua_type(L, -1), r, field, header, (int)i);
    lua_pop(L, 1);
    if (len > SIZE_MAX / 4 - total)
      luaL_argerror(L, 2, lua_pushfstring(L, "%s is too long", piece_field(L, field, header)));
    total += len;
    (*count)++;
  }
  return total;
}

/* Headers that frame the message or manage the connection (RFC 9110 7.6.1, RFC 9112 6 and
 * 9.6): libcurl sets them from the method, body and connection state. From a caller they
 * would desynchronise the stream: "Content-Length: 0" with a body makes the server read the
 * body as a second request, "Transfer-Encoding: chunked" on a GET makes it wait for chunks. */
static int is_transport_header(const char *name, size_t len) {
  switch (len) {
    case 2: return ieq(name, len, "te", 2);
    case 7: return ieq(name, len, "upgrade", 7) || ieq(name, len, "trailer", 7);
    case 10: return ieq(name, len, "connection", 10) || ieq(name, len, "keep-alive", 10);
    case 14: return ieq(name, len, "content-length", 14);
    case 16: return ieq(name, len, "proxy-connection", 16);
    case 17: return ieq(name, len, "transfer-encoding", 17);
    default: return 0;
  }
}

/* A value made only of spaces and tabs: libcurl drops such a line without a word. */
static int is_blank_value(const fs_request *r, const fs_header_ref *ref) {
  int k;
  for (k = ref->first; k < ref->first + ref->count; k++) {
    size_t i;
    for (i = 0; i < r->spans[k].len; i++)
      if (r->spans[k].data[i] != ' ' && r->spans[k].data[i] != '\t') return 0;
  }
  return 1;
}

/* Validates the headers table at index h into r->headers; raises on the first
 * violation. Messages may name a header, never show a value. */
static void check_headers(lua_State *L, int h, fs_request *r) {
  lua_pushnil(L);
  while (lua_next(L, h)) {
    size_t nlen, vlen, i;
    const char *name;
    fs_header_ref *ref;
    int k;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': names must be strings, got a %s key",
                                          luaL_typename(L, -2)));
    name = lua_tolstring(L, -2, &nlen);
    for (i = 0; i < nlen && is_tchar((unsigned char)name[i]); i++) {}
    if (nlen == 0 || i < nlen)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': invalid header name %s (must be an RFC 9110 token)",
                                          show_name(L, name, nlen, '"')));
    if (r->nheaders == FS_MAX_REQUEST_HEADERS)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': more than %d headers", FS_MAX_REQUEST_HEADERS));
    ref = &r->headers[r->nheaders];
    vlen = read_pieces(L, lua_gettop(L), r, NULL, name, &ref->first, &ref->count);
    for (k = ref->first; k < ref->first + ref->count; k++)
      if (!r->spans[k].header_safe && fs_has_ctl(r->spans[k].data, r->spans[k].len))
        luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': value of '%s' contains CR, LF or NUL", name));
    if (vlen > 0 && is_blank_value(r, ref))
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': value of '%s' is only spaces or tabs (libcurl would "
                                          "drop the line; send \"\" for an empty value)", name));
    if (is_transport_header(name, nlen))
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': '%s' is set by the transport (message framing and "
                                          "connection handling), not by a request", name));
    if (nlen + vlen > (size_t)MAX_HEADER_LINE)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers': '%s' is longer than %d bytes", name,
                                          MAX_HEADER_LINE));
    switch (nlen) { /* names the session or libcurl would otherwise add */
      case 12: if (ieq(name, nlen, "content-type", 12)) r->has_content_type = 1; break;
      case 6: if (ieq(name, nlen, "expect", 6)) r->has_expect = 1; break;
      case 10: if (ieq(name, nlen, "user-agent", 10)) r->has_user_agent = 1; break;
      case 15: if (ieq(name, nlen, "accept-encoding", 15)) r->has_accept_encoding = 1; break;
      default: break;
    }
    ref->name = name;
    ref->name_len = nlen;
    ref->value_len = vlen;
    r->nheaders++;
    lua_pop(L, 1);
  }
}

/* Validates the request table (fields already in their stack slots) into r; raises. */
static void check_request(lua_State *L, fs_request *r, int secret_mt, int f_body, int f_capture, int f_resend,
                          int f_headers, int f_method, int f_timeout, int f_url) {
  memset(r, 0, offsetof(fs_request, headers)); /* the arrays are filled as counted */
  r->secret_mt = secret_mt;
  switch (lua_type(L, f_method)) {
    case LUA_TNIL: r->method = M_GET; break;
    case LUA_TSTRING: {
      size_t len;
      const char *m = lua_tolstring(L, f_method, &len);
      /* compared with its length: "GET\0x" is no method (strcmp would stop at the NUL) */
      for (r->method = 0; methods[r->method] && !(strlen(methods[r->method]) == len &&
                                                 memcmp(methods[r->method], m, len) == 0);
           r->method++) {}
      if (methods[r->method] == NULL)
        luaL_argerror(L, 2, lua_pushfstring(L, "field 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got %s",
                                            show_name(L, m, len, '\'')));
      break;
    }
    default:
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'method' must be a string, got %s", luaL_typename(L, f_method)));
  }
  if (lua_type(L, f_url) != LUA_TSTRING)
    luaL_argerror(L, 2, lua_pushfstring(L, "field 'url' must be a string, got %s", luaL_typename(L, f_url)));
  r->url = lua_tolstring(L, f_url, &r->url_len);
  if (has_space_or_ctl(r->url, r->url_len))
    luaL_argerror(L, 2, "field 'url' must not contain spaces or control characters");
  switch (lua_type(L, f_headers)) {
    case LUA_TNIL: break;
    case LUA_TTABLE: check_headers(L, f_headers, r); break;
    default:
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'headers' must be a table, got %s", luaL_typename(L, f_headers)));
  }
  if (lua_isnil(L, f_body)) {
    /* POST, PUT and PATCH always carry a body, so libcurl sends Content-Length: 0 */
    if (r->method == M_POST || r->method == M_PUT || r->method == M_PATCH) r->body = "";
  } else {
    if (r->method == M_GET || r->method == M_HEAD)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'body' is not allowed with %s", methods[r->method]));
    if (lua_type(L, f_body) == LUA_TSTRING) {
      r->body = lua_tolstring(L, f_body, &r->body_len); /* libcurl reads it in place */
    } else if (lua_type(L, f_body) == LUA_TTABLE) {
      r->body_len = read_pieces(L, f_body, r, "field 'body'", NULL, &r->body_first, &r->body_count);
      r->body = r->body_count > 0 ? NULL : ""; /* build_body sets it */
    } else {
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'body' must be a string or a list of strings and secrets, got %s",
                                          luaL_typename(L, f_body)));
    }
  }
  if (!lua_isnil(L, f_capture)) {
    if (lua_type(L, f_capture) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'capture' must be a string, got %s", luaL_typename(L, f_capture)));
    r->capture = lua_tolstring(L, f_capture, &r->capture_len);
    if (r->capture_len == 0 || r->capture_len > MAX_CAPTURE_NAME)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'capture' must be a member name of 1 to %d bytes", MAX_CAPTURE_NAME));
  }
  if (!lua_isnil(L, f_timeout)) { /* seconds; a retry loop lowers it to the time left */
    double v;
    if (lua_type(L, f_timeout) != LUA_TNUMBER)
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'timeout' must be a number, got %s", luaL_typename(L, f_timeout)));
    v = (double)lua_tonumber(L, f_timeout);
    if (!(v > 0 && v <= FS_MAX_SECONDS)) /* also refuses NaN */
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'timeout' must be > 0 and <= %d seconds", (int)FS_MAX_SECONDS));
    r->timeout_ms = (long)ceil(v * 1000.0);
  }
  switch (lua_type(L, f_resend)) {
    case LUA_TNIL: r->resend = 1; break;
    case LUA_TBOOLEAN: r->resend = lua_toboolean(L, f_resend); break;
    default:
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'resend' must be a boolean, got %s",
                                          luaL_typename(L, f_resend)));
  }
}

void fs_request_read(lua_State *L, fs_request *r, int secret_mt) {
  static const fs_field fields[] = {FS_FIELD("body"),    FS_FIELD("capture"), FS_FIELD("resend"),
                                    FS_FIELD("headers"), FS_FIELD("method"),  FS_FIELD("timeout"),
                                    FS_FIELD("url")};
  enum { F_BODY, F_CAPTURE, F_RESEND, F_HEADERS, F_METHOD, F_TIMEOUT, F_URL }; /* slots past `first` */
  int first = lua_gettop(L) + 1;
  luaL_checktype(L, 2, LUA_TTABLE);
  fs_read_fields(L, 2, 2, fields, 7, "field", REQUEST_FIELDS); /* the slots anchor the strings */
  check_request(L, r, secret_mt, first + F_BODY, first + F_CAPTURE, first + F_RESEND, first + F_HEADERS,
                first + F_METHOD, first + F_TIMEOUT, first + F_URL);
}

/* ---- laying out what libcurl reads ------------------------------------------------ */

static char *copy_spans(char *p, const fs_request *r, int first, int count) {
  int k;
  for (k = first; k < first + count; k++) {
    if (r->spans[k].len > 0) memcpy(p, r->spans[k].data, r->spans[k].len);
    p += r->spans[k].len;
  }
  return p;
}

/* Lays out the request header list in b (nodes, then the lines): one buffer owned by
 * the session, reused across requests, so there is nothing to leak and no allocation
 * per header. libcurl only reads the list during perform; fs_request_release wipes the
 * whole buffer (header lines may hold secrets). */
static int build_headers(fs_buffer *b, const fs_request *r, const fs_default_headers *defaults,
                         struct curl_slist **list) {
  /* The session's lines the request does not replace; then lines libcurl would add on its
   * own are removed ("Name:" deletes one): a form Content-Type on bodies, and Expect:
   * 100-continue on large bodies (a 1 s stall on servers that ignore it). */
  const char *extra[4];
  int nextra = 0, n, i;
  if (defaults->user_agent != NULL && !r->has_user_agent) extra[nextra++] = defaults->user_agent;
  if (defaults->accept_encoding != NULL && !r->has_accept_encoding) extra[nextra++] = defaults->accept_encoding;
  size_t size, len;
  struct curl_slist *nodes;
  char *p;
  if (r->body != NULL && !r->has_content_type) extra[nextra++] = "Content-Type:";
  if (r->body != NULL && !r->has_expect) extra[nextra++] = "Expect:";
  n = r->nheaders + nextra;
  *list = NULL;
  if (n == 0) return 0;
  size = (size_t)n * sizeof *nodes;
  for (i = 0; i < r->nheaders; i++) size += r->headers[i].name_len + r->headers[i].value_len + 3;
  for (i = 0; i < nextra; i++) size += strlen(extra[i]) + 1;
  b->len = 0;
  if (fs_buffer_reserve(b, size) != FS_BUF_OK) return -1;
  nodes = (struct curl_slist *)(void *)b->data; /* malloc'd, so aligned */
  p = b->data + (size_t)n * sizeof *nodes;
  for (i = 0; i < n; i++) {
    nodes[i].data = p;
    nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    if (i < r->nheaders) {
      const fs_header_ref *h = &r->headers[i];
      memcpy(p, h->name, h->name_len);
      p += h->name_len;
      if (h->value_len > 0) {
        *p++ = ':';
        *p++ = ' ';
        p = copy_spans(p, r, h->first, h->count);
      } else {
        *p++ = ';'; /* libcurl's spelling of an empty value ("Name:" would delete it) */
      }
      *p++ = '\0';
    } else {
      len = strlen(extra[i - r->nheaders]) + 1;
      memcpy(p, extra[i - r->nheaders], len);
      p += len;
    }
  }
  b->len = (size_t)(p - b->data);
  *list = nodes;
  return 0;
}

/* Joins a body given as pieces into b (wiped by fs_request_release). */
static int build_body(fs_buffer *b, fs_request *r) {
  if (r->body_count == 0) return 0;
  b->len = 0;
  if (fs_buffer_reserve(b, r->body_len) != FS_BUF_OK) return -1;
  b->len = r->body_len;
  if (r->body_len == 0) {
    r->body = ""; /* still a body: POST, PUT, PATCH send Content-Length: 0 */
    return 0;
  }
  copy_spans(b->data, r, r->body_first, r->body_count);
  r->body = b->data;
  return 0;
}

void fs_request_buffers_init(fs_buffer *headers, fs_buffer *body) {
  fs_buffer_init(headers, REQ_HEADERS_MAX);
  fs_buffer_init(body, SIZE_MAX / 2);
  headers->wipe = body->wipe = 1; /* they may hold secret pieces */
}

int fs_request_build(fs_request *r, fs_buffer *headers, fs_buffer *body, const fs_default_headers *defaults,
                     struct curl_slist **list) {
  /* the body first: the header list looks at r->body */
  if (build_body(body, r) != 0 || build_headers(headers, r, defaults, list) != 0) return -1;
  return 0;
}

/* ---- handing it to libcurl -------------------------------------------------------- */

/* libcurl's pre-request callback: see fs_resend_guard. */
/* NOLINTNEXTLINE(readability-non-const-parameter): the signature is curl_prereqcallback's */
static int guard_resend(void *userdata, char *primary_ip, char *local_ip, int primary_port, int local_port) {
  fs_resend_guard *g = userdata;
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  if (g->sends++ > 0 && g->once) {
    g->refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

CURLcode fs_request_bind_guard(CURL *c, fs_resend_guard *guard) {
  CURLcode rc = curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, guard_resend);
  return rc == CURLE_OK ? curl_easy_setopt(c, CURLOPT_PREREQDATA, (void *)guard) : rc;
}

void fs_applied_init(fs_applied *a) {
  a->known = 0;
  a->method = 0;
  a->had_body = 0;
  a->timeout_ms = 0;
  fs_buffer_init(&a->url, SIZE_MAX / 2);
}

void fs_applied_free(fs_applied *a) {
  fs_buffer_free(&a->url);
  a->known = 0;
}

/* Overwrites every option a request sets, so nothing (POSTFIELDS, CUSTOMREQUEST,
 * NOBODY...) carries over; cheaper than curl_easy_reset plus the base options.
 * Order matters: setting POSTFIELDS, even to NULL, selects POST; HTTPGET then
 * selects GET and clears NOBODY and UPLOAD. Skipped when `applied` shows them unchanged:
 *  - the URL, when it is the same bytes as the one set last;
 *  - the timeout, when it is the same number;
 *  - the method reset, when the last request had the same method and a body, as this one
 *    does: since then only fs_request_release set POSTFIELDS (to NULL) and HTTPHEADER, and
 *    both are set again below, so the handle ends as the full sequence would leave it. */
CURLcode fs_request_set_options(CURL *c, const fs_request *r, struct curl_slist *list, long session_timeout_ms,
                                fs_resend_guard *guard, fs_applied *applied) {
  CURLcode rc = CURLE_OK;
  /* a request may shorten the session's timeout, never lengthen it */
  long timeout_ms =
      r->timeout_ms > 0 && r->timeout_ms < session_timeout_ms ? r->timeout_ms : session_timeout_ms;
  int known = applied->known, same_url;
  applied->known = 0; /* until every option below is set */
  same_url = known && applied->url.len == r->url_len + 1 && memcmp(applied->url.data, r->url, r->url_len + 1) == 0;
#define SET(opt, val) \
  if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
  if (!(known && r->body != NULL && applied->had_body && applied->method == r->method)) {
    SET(CURLOPT_POSTFIELDS, (char *)NULL);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    SET(CURLOPT_HTTPGET, 1L);
    switch (r->method) {
      case M_HEAD: SET(CURLOPT_NOBODY, 1L); break;
      case M_PUT: SET(CURLOPT_CUSTOMREQUEST, "PUT"); break;
      case M_PATCH: SET(CURLOPT_CUSTOMREQUEST, "PATCH"); break;
      case M_DELETE: SET(CURLOPT_CUSTOMREQUEST, "DELETE"); break;
      default: break; /* GET; POST comes from POSTFIELDS */
    }
  }
  if (!same_url) {
    SET(CURLOPT_URL, r->url);
    applied->url.len = 0; /* a copy that does not fit just means setting it next time too */
    if (fs_buffer_append(&applied->url, r->url, r->url_len + 1) != FS_BUF_OK) applied->url.len = 0;
  }
  SET(CURLOPT_HTTPHEADER, list);
  if (!(known && applied->timeout_ms == timeout_ms)) SET(CURLOPT_TIMEOUT_MS, timeout_ms);
  /* A request that must not be sent twice is refused a second send (fs_resend_guard): it
   * fails instead, and the body still goes out with the headers, in one send. */
  guard->once = !r->resend;
  guard->sends = guard->refused = 0;
  if (r->body != NULL) {
    /* libcurl reads the string in place; it stays on the stack (or in the session's
     * buffer) through perform */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    SET(CURLOPT_POSTFIELDS, r->body);
  }
#undef SET
  if (rc == CURLE_OK) {
    applied->known = 1;
    applied->method = r->method;
    applied->had_body = r->body != NULL;
    applied->timeout_ms = timeout_ms;
  }
  return rc;
}

/* Drops everything that pointed into this request's Lua values and buffers, and wipes
 * the buffers that held header lines and a body built from pieces. */
void fs_request_release(CURL *c, fs_buffer *headers, fs_buffer *body) {
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  fs_buffer_clear(headers, KEEP_REQ_HEADERS);
  fs_buffer_clear(body, KEEP_REQ_BODY);
}
