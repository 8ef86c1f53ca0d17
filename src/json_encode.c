/* core.json_encode(value) -> string | nil, message  (rules: docs/DESIGN.md).
 *
 * Bad data never raises: it returns nil and a message naming the rule and the path
 * ($.a.b[2]). Only running out of memory raises. Memory safety when Lua raises:
 * the output buffer and key scratch live in a userdata (upvalue 1) whose __gc frees
 * them, so nothing leaks whatever unwinds.
 *
 * While encoding we make no Lua allocations (no pushed strings, no new tables), so
 * no GC step and no finalizer can run in the middle, and the C pointers to object keys
 * (anchored by their tables, which are on the stack) stay valid. The stack holds one key
 * and value per nesting level, so an object may be as wide as memory allows. The state is
 * busy until the text is pushed: a finalizer that re-enters json_encode then gets a fresh
 * state. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "buffer.h"
#include "json.h"

#define STATE_MT "flowservice.core.json_state"
#define KEEP_BYTES ((size_t)64 * 1024) /* output buffer kept between calls */
#define KEEP_KEYS 1024                 /* key scratch entries kept between calls */
#define MSG_MAX 512
#define PATH_KEY_MAX 64 /* bytes of a key shown in an error path */

enum { KIND_AUTO, KIND_ARRAY, KIND_OBJECT };

typedef struct path_item {
  const char *key; /* NULL for an array index */
  size_t len;
  lua_Integer index;
} path_item;

typedef struct key_item {
  const char *s; /* the key string (anchored by its table, which is on the stack) */
  size_t len;
  size_t start, end; /* its member text ("key":value) in the output, from the object's start */
} key_item;

typedef struct json_state {
  fs_buffer out;
  fs_buffer members; /* an object's member texts while they are put in key order */
  key_item *keys; /* a stack: each object level uses a segment past its parent's */
  size_t nkeys, capkeys;
  int busy;   /* in use by an active json_encode call */
  int buferr; /* FS_BUF_FULL / FS_BUF_NOMEM from the last failed write */
  path_item path[FS_JSON_MAX_DEPTH];
  char msg[MSG_MAX];
} json_state;

typedef struct enc {
  lua_State *L;
  json_state *st;
} enc;

/* 0: copied as is; 1: escaped; 2: starts a multibyte sequence (validated). */
static const unsigned char byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xA0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xB0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xC0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xD0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xE0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xF0 */
};

static const char hex_digits[] = "0123456789abcdef";

/* ---- error messages ---------------------------------------------------------- */

static int is_identifier(const char *s, size_t len) {
  size_t i;
  if (len == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* "$", then .name, ["other key"] or [lua_index] per level. Keys are escaped to
 * printable ASCII and shortened: the path is for humans and logs. */
static void render_path(fs_buffer *pb, const path_item *path, int n) {
  int i;
  fs_buffer_putc(pb, '$');
  for (i = 0; i < n; i++) {
    const path_item *p = &path[i];
    if (p->key == NULL) {
      char num[32];
      int k = snprintf(num, sizeof num, "[%lld]", (long long)p->index);
      fs_buffer_append(pb, num, (size_t)k);
    } else if (p->len <= PATH_KEY_MAX && is_identifier(p->key, p->len)) {
      fs_buffer_putc(pb, '.');
      fs_buffer_append(pb, p->key, p->len);
    } else {
      size_t j, shown = p->len < PATH_KEY_MAX ? p->len : PATH_KEY_MAX;
      fs_buffer_append(pb, "[\"", 2);
      /* cppcheck-suppress knownConditionTrueFalse ; it takes is_identifier's len == 0 test
       * above for "len is always 0" here */
      for (j = 0; j < shown; j++) {
        unsigned char c = (unsigned char)p->key[j];
        if (c == '"' || c == '\\') {
          char esc[2] = {'\\', (char)c};
          fs_buffer_append(pb, esc, 2);
        } else if (c >= 0x20 && c < 0x7f) {
          fs_buffer_putc(pb, (char)c);
        } else {
          char esc[4] = {'\\', 'x', hex_digits[c >> 4], hex_digits[c & 15]};
          fs_buffer_append(pb, esc, 4);
        }
      }
      if (shown < p->len) fs_buffer_append(pb, "...", 3);
      fs_buffer_append(pb, "\"]", 2);
    }
  }
}

/* Records "cannot encode <what> at <path of depth components>"; returns -1. */
static int fail(enc *e, int depth, const char *what) {
  json_state *st = e->st;
  fs_buffer pb;
  fs_buffer_init(&pb, (size_t)64 * 1024);
  render_path(&pb, st->path, depth);
  if (fs_buffer_putc(&pb, '\0') == FS_BUF_OK) pb.len--; /* for %s below */
  else fs_buffer_free(&pb);
  if (pb.data == NULL) {
    (void)snprintf(st->msg, sizeof st->msg, "cannot encode %s", what);
  } else if (pb.len <= 300) {
    (void)snprintf(st->msg, sizeof st->msg, "cannot encode %s at %.*s", what, (int)pb.len, pb.data);
  } else { /* keep both ends of very deep paths */
    (void)snprintf(st->msg, sizeof st->msg, "cannot encode %s at %.100s...%s", what, pb.data,
                   pb.data + pb.len - 200);
  }
  fs_buffer_free(&pb);
  st->buferr = FS_BUF_OK;
  return -1;
}

/* ---- output ---------------------------------------------------------------------- */

/* A failed write: remember why; the caller unwinds with -1. */
static int out_error(enc *e, int rc) {
  e->st->buferr = rc;
  return -1;
}

static int put(enc *e, const char *s, size_t n) {
  int rc = fs_buffer_append(&e->st->out, s, n);
  return rc == FS_BUF_OK ? 0 : out_error(e, rc);
}

static int putc_(enc *e, char c) {
  int rc = fs_buffer_putc(&e->st->out, c);
  return rc == FS_BUF_OK ? 0 : out_error(e, rc);
}

/* Writes the decimal digits of v ending at end; returns the start. */
static char *format_integer(char *end, lua_Integer v) {
  char *p = end;
  /* negate in unsigned arithmetic: -math.mininteger overflows lua_Integer */
  fs_unsigned u = v < 0 ? (fs_unsigned)0 - (fs_unsigned)v : (fs_unsigned)v;
  do {
    *--p = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u != 0);
  if (v < 0) *--p = '-';
  return p;
}

static int put_integer(enc *e, lua_Integer v) {
  char buf[24];
  char *p = format_integer(buf + sizeof buf, v);
  return put(e, p, (size_t)(buf + sizeof buf - p));
}

/* Shortest %.Ng (N <= 17) that reads back as the same double, always with a '.'
 * or an exponent so it stays a float for decoders that distinguish (1.0, not 1). */
static int put_float(enc *e, double d, int depth) {
  char buf[48], out[48];
  int prec, n = 0, i, o = 0, has_mark = 0;
  if (isnan(d) || isinf(d)) return fail(e, depth, "NaN or infinity");
  if (d > -1e9 && d < 1e9 && (d >= 1e-4 || d <= -1e-4 || d == 0) && !(d == 0 && signbit(d))) {
    /* Fast path (snprintf is ~2k instructions) for values %.14g writes in plain
     * positional form: the fewest k <= 6 fractional digits such that the decimal
     * M / 10^k reads back as d. M and 10^k are exact doubles, so M / 10^k rounds
     * like strtod does; if some k-digit decimal reads back as d, it is M, the
     * nearest one to d * 10^k (|d * 10^k| < 1e15 < 2^53: the product is off by
     * at most 1/16, so nearbyint finds M). Same text as the general path. */
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    int k;
    for (k = 0; k <= 6; k++) {
      double m = nearbyint(d * pow10[k]);
      if (m / pow10[k] == d) {
        char *end = buf + sizeof buf, *p;
        long long im = (long long)m, u = im < 0 ? -im : im;
        int j;
        if (k == 0) {
          *--end = '0';
          *--end = '.';
        }
        for (j = 0; j < k; j++) {
          *--end = (char)('0' + (int)(u % 10));
          u /= 10;
        }
        if (k > 0) *--end = '.';
        p = format_integer(end, (lua_Integer)u);
        if (im < 0) *--p = '-';
        return put(e, p, (size_t)(buf + sizeof buf - p));
      }
    }
  }
  /* For normal doubles a shortest form of <= 14 digits is what %.14g prints (its
   * rounding error is far below 1e-14), so start there; subnormals carry fewer
   * significant digits (5e-324), so search them from 1. */
  for (prec = (fabs(d) < DBL_MIN && d != 0) ? 1 : 14; prec <= 17; prec++) {
    n = snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (prec == 17 || strtod(buf, NULL) == d) break;
  }
  /* %g writes digits, sign, 'e' and the locale's decimal point: whatever else
   * appears is that decimal point (maybe multibyte), written here as '.'. */
  for (i = 0; i < n; i++) {
    char c = buf[i];
    if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
      out[o++] = c;
    } else if (c == 'e' || c == 'E') {
      out[o++] = 'e';
      has_mark = 1;
    } else {
      out[o++] = '.';
      has_mark = 1;
      while (i + 1 < n && !((buf[i + 1] >= '0' && buf[i + 1] <= '9') || buf[i + 1] == 'e' ||
                            buf[i + 1] == 'E'))
        i++;
    }
  }
  if (!has_mark) {
    out[o++] = '.';
    out[o++] = '0';
  }
  return put(e, out, (size_t)o);
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left, s[0] >= 0x80), or 0.
 * Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
      return 0;
    return 4;
  }
  return 0;
}

/* Length of the leading run of bytes that are copied as is (printable ASCII other
 * than '"' and '\\'), tested 8 at a time: a word passes when no byte is < 0x20,
 * == '"', == '\\' or >= 0x80 (the "has a zero / less-than byte" bit tricks, exact
 * for "any byte"). */
static size_t plain_run(const unsigned char *s, size_t len) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = 0;
  uint64_t w, q, b;
#define PLAIN_WORD(at)                                                             \
  (memcpy(&w, s + (at), 8), q = w ^ (ones * '"'), b = w ^ (ones * '\\'),          \
   ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & highs) == 0)
  while (len - i >= 8 && PLAIN_WORD(i)) i += 8;
  /* a tail of 1..7 bytes: one more (overlapping) word instead of a byte loop */
  if (i < len && len >= 8 && len - i < 8 && PLAIN_WORD(len - 8)) return len;
#undef PLAIN_WORD
  while (i < len && byte_class[s[i]] == 0) i++;
  return i;
}

/* Writes s as a JSON string. Returns 0, -1 (write failed), or 1 for invalid UTF-8
 * (*bad = byte offset). Runs of plain bytes are copied with one memcpy. */
static int put_string(enc *e, const char *str, size_t len, size_t *bad) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i, run = 0;
  fs_buffer *b = &e->st->out;
  int rc = fs_buffer_reserve(b, len + 2); /* exact unless something is escaped */
  if (rc != FS_BUF_OK) return out_error(e, rc);
  b->data[b->len++] = '"';
  i = plain_run(s, len);
  if (i == len) { /* the common case: nothing to escape or validate */
    if (len > 0) memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len++] = '"';
    return 0;
  }
  while (i < len) {
    unsigned char c = s[i];
    if (byte_class[c] == 2) {
      size_t k = utf8_sequence(s + i, len - i);
      if (k == 0) {
        *bad = i;
        return 1;
      }
      i += k;
    } else {
      char esc[6];
      size_t m = 2;
      esc[0] = '\\';
      switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
          esc[1] = 'u';
          esc[2] = '0';
          esc[3] = '0';
          esc[4] = hex_digits[c >> 4];
          esc[5] = hex_digits[c & 15];
          m = 6;
      }
      if (put(e, (const char *)s + run, i - run) || put(e, esc, m)) return -1;
      run = ++i;
    }
    i += plain_run(s + i, len - i);
  }
  if (put(e, (const char *)s + run, len - run) || putc_(e, '"')) return -1;
  return 0;
}

/* ---- values ------------------------------------------------------------------------ */

static int encode(enc *e, int idx, int depth);

static int key_less(const key_item *a, const key_item *b) {
  size_t n;
  int c = (int)(unsigned char)a->s[0] - (int)(unsigned char)b->s[0]; /* "" ends in '\0' */
  if (c != 0) return c < 0;
  n = a->len < b->len ? a->len : b->len;
  c = memcmp(a->s, b->s, n);
  return c < 0 || (c == 0 && a->len < b->len);
}

static int key_cmp(const void *pa, const void *pb) {
  const key_item *a = pa, *b = pb;
  return key_less(a, b) ? -1 : key_less(b, a) ? 1 : 0;
}

/* Byte order of UTF-8 keys == code point order. Keys are unique in a Lua table. */
static void sort_keys(key_item *k, size_t n) {
  size_t i, j;
  if (n > 16) {
    qsort(k, n, sizeof *k, key_cmp);
    return;
  }
  for (i = 1; i < n; i++) {
    key_item t = k[i];
    for (j = i; j > 0 && key_less(&t, &k[j - 1]); j--) k[j] = k[j - 1];
    k[j] = t;
  }
}

static int push_key(enc *e, const char *s, size_t len, size_t start) {
  json_state *st = e->st;
  if (st->nkeys == st->capkeys) {
    size_t cap = st->capkeys ? st->capkeys * 2 : 64;
    key_item *k = (cap > ((size_t)-1) / sizeof *k) ? NULL : realloc(st->keys, cap * sizeof *k);
    if (k == NULL) return out_error(e, FS_BUF_NOMEM);
    st->keys = k;
    st->capkeys = cap;
  }
  st->keys[st->nkeys].s = s;
  st->keys[st->nkeys].len = len;
  st->keys[st->nkeys].start = start;
  st->nkeys++;
  return 0;
}

/* __jsontype of the table at t: KIND_* or -1 for an invalid marker. */
static int table_kind(lua_State *L, int t) {
  int kind = KIND_AUTO;
  if (!lua_getmetatable(L, t)) return KIND_AUTO;
  lua_pushvalue(L, lua_upvalueindex(2)); /* "__jsontype", pre-made: no allocation */
  lua_rawget(L, -2);                     /* raw: no metamethod can run */
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len == 5 && memcmp(s, "array", 5) == 0) kind = KIND_ARRAY;
    else if (len == 6 && memcmp(s, "object", 6) == 0) kind = KIND_OBJECT;
    else kind = -1;
  } else if (!lua_isnil(L, -1)) {
    kind = -1;
  }
  lua_pop(L, 2);
  return kind;
}

/* Rewrites the object whose member texts ("key":value, in table order) start at base in the
 * output as {members in key order}; n members, their items at st->keys + kbase. */
static int put_object(enc *e, size_t base, size_t kbase, size_t n) {
  json_state *st = e->st;
  fs_buffer *out = &st->out, *tmp = &st->members;
  size_t i, len = out->len - base;
  int rc;
  sort_keys(st->keys + kbase, n);
  tmp->len = 0;
  if ((rc = fs_buffer_append(tmp, out->data + base, len)) != FS_BUF_OK) return out_error(e, rc);
  out->len = base; /* the object needs n + 1 more bytes than its members: braces, commas */
  if (putc_(e, '{')) return -1;
  for (i = 0; i < n; i++) {
    const key_item *k = &st->keys[kbase + i];
    if (i > 0 && putc_(e, ',')) return -1;
    if (put(e, tmp->data + k->start, k->end - k->start)) return -1;
  }
  return putc_(e, '}');
}

/* Arrays are written in index order. An object's members are written as lua_next gives them,
 * each value right after its key while it is on the stack, then put in key order (put_object):
 * the stack holds one key and value at a time, however wide the object. */
static int encode_table(enc *e, int t, int depth) {
  lua_State *L = e->L;
  json_state *st = e->st;
  const int top = lua_gettop(L);
  const size_t kbase = st->nkeys, base = st->out.len;
  size_t nint = 0, nstr = 0, i;
  lua_Integer maxk = 0;
  int nonpositive = 0, rc = -1, kind;
  const char *err = NULL;

  if (depth >= FS_JSON_MAX_DEPTH)
    return fail(e, depth, "table nested deeper than 100 levels (cyclic reference?)");
  if (!lua_checkstack(L, 8)) return fail(e, depth, "table: Lua stack exhausted");
  kind = table_kind(L, t);
  if (kind < 0) return fail(e, depth, "table whose __jsontype is not \"array\" or \"object\"");

  /* One pass over the keys: classify them, and write each string key's member. */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
      size_t len, bad, start = st->out.len - base;
      const char *s = lua_tolstring(L, -2, &len);
      int r;
      if (kind == KIND_ARRAY) { err = "array with a string key (__jsontype \"array\" needs keys 1..n)"; goto done; }
      if (nint) { err = "table with mixed integer and string keys"; goto done; }
      st->path[depth].key = s;
      st->path[depth].len = len;
      r = put_string(e, s, len, &bad);
      if (r > 0) {
        rc = fail(e, depth + 1, "object key with invalid UTF-8");
        goto done;
      }
      if (r < 0 || putc_(e, ':')) goto done;
      if (encode(e, lua_gettop(L), depth + 1)) goto done;
      if (push_key(e, s, len, start)) goto done;
      st->keys[st->nkeys - 1].end = st->out.len - base;
      nstr++;
    } else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      if (kind == KIND_OBJECT) { err = "object with an integer key (__jsontype \"object\" needs string keys)"; goto done; }
      if (nstr) { err = "table with mixed integer and string keys"; goto done; }
      if (k < 1) nonpositive = 1;
      else if (k > maxk) maxk = k;
      nint++;
    } else {
      err = kt == LUA_TNUMBER ? "table with a float key (keys must be strings or 1..n)"
          : kt == LUA_TBOOLEAN ? "table with a boolean key (keys must be strings or 1..n)"
          : "table with a non-string key (keys must be strings or 1..n)";
      goto done;
    }
    lua_pop(L, 1); /* the value; an array's is read again in order below */
  }

  if (nint > 0) {
    /* nint distinct integers, all in 1..maxk, and maxk == nint: exactly 1..n */
    if (nonpositive || (fs_unsigned)maxk != (fs_unsigned)nint) {
      err = "sparse array (keys must be exactly 1..n)";
      goto done;
    }
    if (putc_(e, '[')) goto done;
    for (i = 1; i <= nint; i++) {
      if (i > 1 && putc_(e, ',')) goto done;
      st->path[depth].key = NULL;
      st->path[depth].index = (lua_Integer)i;
      lua_rawgeti(L, t, (lua_Integer)i);
      if (encode(e, lua_gettop(L), depth + 1)) goto done;
      lua_pop(L, 1);
    }
    if (putc_(e, ']')) goto done;
  } else if (nstr > 0) {
    if (put_object(e, base, kbase, nstr)) goto done;
  } else {
    if (put(e, kind == KIND_ARRAY ? "[]" : "{}", 2)) goto done;
  }
  rc = 0;

done:
  if (err != NULL) rc = fail(e, depth, err);
  lua_settop(L, top);
  st->nkeys = kbase;
  return rc;
}

static int encode(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      return put(e, "null", 4);
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) ? put(e, "true", 4) : put(e, "false", 5);
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return put_integer(e, lua_tointeger(L, idx));
      return put_float(e, (double)lua_tonumber(L, idx), depth);
    case LUA_TSTRING: {
      size_t len, bad;
      const char *s = lua_tolstring(L, idx, &len);
      int r = put_string(e, s, len, &bad);
      if (r > 0) {
        char what[96];
        (void)snprintf(what, sizeof what, "string with invalid UTF-8 (byte %zu)", bad + 1);
        return fail(e, depth, what);
      }
      return r;
    }
    case LUA_TTABLE:
      return encode_table(e, idx, depth);
    case LUA_TLIGHTUSERDATA:
      /* cjson.null / flowservice.json.null */
      if (lua_touserdata(L, idx) == NULL) return put(e, "null", 4);
      return fail(e, depth, "a light userdata other than NULL");
    case LUA_TFUNCTION:
      return fail(e, depth, "a function");
    case LUA_TUSERDATA:
      return fail(e, depth, "a userdata");
    case LUA_TTHREAD:
      return fail(e, depth, "a thread");
    default:
      return fail(e, depth, "a value of unknown type");
  }
}

/* ---- state and entry point ------------------------------------------------------- */

static int state_gc(lua_State *L) {
  json_state *st = luaL_checkudata(L, 1, STATE_MT);
  fs_buffer_free(&st->out);
  fs_buffer_free(&st->members);
  free(st->keys);
  st->keys = NULL;
  st->nkeys = st->capkeys = 0;
  return 0;
}

static json_state *new_state(lua_State *L) {
  json_state *st = lua_newuserdatauv(L, sizeof *st, 0);
  fs_buffer_init(&st->out, FS_JSON_MAX_OUTPUT);
  fs_buffer_init(&st->members, FS_JSON_MAX_OUTPUT);
  st->keys = NULL;
  st->nkeys = st->capkeys = 0;
  st->busy = 0;
  st->buferr = FS_BUF_OK;
  st->msg[0] = '\0';
  luaL_setmetatable(L, STATE_MT);
  return st;
}

static int json_encode(lua_State *L) {
  json_state *st = lua_touserdata(L, lua_upvalueindex(1));
  enc e;
  int rc;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  if (st->busy) st = new_state(L); /* re-entered from a finalizer; freed by its __gc */
  st->busy = 1;
  st->out.len = 0;
  st->nkeys = 0;
  st->buferr = FS_BUF_OK;
  e.L = L;
  e.st = st;
  rc = encode(&e, 1, 0);
  if (rc == 0) {
    /* Still busy: Lua 5.1 and LuaJIT may run a GC step (and a finalizer that calls
     * json_encode) before copying the text. If the push raises, the state stays busy and
     * later calls use fresh ones: slower, never wrong. */
    lua_pushlstring(L, st->out.data ? st->out.data : "", st->out.len);
    st->busy = 0;
    /* cppcheck-suppress knownConditionTrueFalse ; encode() sets buferr through e.st */
  } else if (st->buferr == FS_BUF_NOMEM) {
    fs_buffer_clear(&st->out, 0);
    st->busy = 0;
    return luaL_error(L, "not enough memory");
  } else {
    /* cppcheck-suppress knownConditionTrueFalse ; encode() sets buferr through e.st */
    if (st->buferr == FS_BUF_FULL)
      (void)snprintf(st->msg, sizeof st->msg, "cannot encode value: JSON text longer than %zu bytes",
                     (size_t)FS_JSON_MAX_OUTPUT);
    luaL_pushfail(L);
    lua_pushstring(L, st->msg);
  }
  st->busy = 0;
  fs_buffer_clear(&st->out, KEEP_BYTES);
  fs_buffer_clear(&st->members, KEEP_BYTES);
  if (st->capkeys > KEEP_KEYS) {
    free(st->keys);
    st->keys = NULL;
    st->capkeys = 0;
  }
  return rc == 0 ? 1 : 2;
}

void fs_json_push_encode(lua_State *L) {
  if (luaL_newmetatable(L, STATE_MT)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  new_state(L);
  lua_pushliteral(L, "__jsontype");
  lua_pushcclosure(L, json_encode, 2);
}
