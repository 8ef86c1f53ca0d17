/* See capture.h. A strict scanner of the top level of a JSON object (RFC 8259): the
 * captured member's value is decoded in C, straight into secret memory. */
#include <string.h>

#include "capture.h"
#include "secret.h"

#define MAX_NESTING 256 /* deeper nested values: no capture */
#define MAX_NAME 256    /* longer member names cannot match */

typedef struct scanner {
  const char *s;
  size_t len, pos;
} scanner;

static void skip_ws(scanner *sc) {
  while (sc->pos < sc->len) {
    char c = sc->s[sc->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    sc->pos++;
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The 4 hex digits at p (which has at least 4 bytes), or -1. */
static long hex4(const char *p) {
  long v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

static size_t put_utf8(char *dst, unsigned long cp) {
  if (cp < 0x80) {
    dst[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    dst[0] = (char)(0xE0 | (cp >> 12));
    dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  dst[0] = (char)(0xF0 | (cp >> 18));
  dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  dst[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Reads the escape after a backslash at s[*i] (s[*i] is the byte after '\'), within
 * s[..end); returns the code point (or byte) and advances *i, or -1 when invalid. A
 * \uD800-\uDBFF must be followed by \uDC00-\uDFFF; a lone low surrogate is invalid. */
static long read_escape(const char *s, size_t *i, size_t end) {
  long hi, lo;
  char c = s[*i];
  const char *simple = strchr("\"\\/bfnrt", c);
  static const char decoded[] = "\"\\/\b\f\n\r\t";
  if (c != '\0' && simple != NULL) {
    (*i)++;
    return (unsigned char)decoded[simple - "\"\\/bfnrt"];
  }
  if (c != 'u' || end - *i < 5 || (hi = hex4(s + *i + 1)) < 0) return -1;
  *i += 5;
  if (hi >= 0xDC00 && hi <= 0xDFFF) return -1;
  if (hi < 0xD800 || hi > 0xDBFF) return hi;
  if (end - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u') return -1;
  lo = hex4(s + *i + 2);
  if (lo < 0xDC00 || lo > 0xDFFF) return -1;
  *i += 6;
  return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* A string starting at sc->pos ('"'): checks it and moves past it. When out is given,
 * writes the unescaped bytes there while they fit in out_cap, and sets *out_len to the
 * full unescaped length. Returns 0, or -1 when it is not a valid JSON string. */
static int scan_string(scanner *sc, char *out, size_t out_cap, size_t *out_len) {
  size_t i = sc->pos + 1, n = 0;
  char utf8[4];
  if (sc->pos >= sc->len || sc->s[sc->pos] != '"') return -1;
  while (i < sc->len) {
    unsigned char c = (unsigned char)sc->s[i];
    if (c == '"') {
      sc->pos = i + 1;
      if (out_len) *out_len = n;
      return 0;
    }
    if (c < 0x20) return -1; /* control characters must be escaped */
    if (c == '\\') {
      long cp;
      size_t k, w;
      i++;
      if (i >= sc->len || (cp = read_escape(sc->s, &i, sc->len)) < 0) return -1;
      w = put_utf8(utf8, (unsigned long)cp);
      for (k = 0; k < w; k++, n++)
        if (out && n < out_cap) out[n] = utf8[k];
      fs_wipe(utf8, sizeof utf8); /* may be token bytes */
    } else {
      if (out && n < out_cap) out[n] = (char)c;
      n++;
      i++;
    }
  }
  return -1; /* unterminated */
}

/* An array or object starting at sc->pos: brackets matched (kinds too), strings
 * checked, everything else left to the real decoder in the Lua layer. */
static int skip_nested(scanner *sc) {
  char stack[MAX_NESTING];
  int depth = 0;
  while (sc->pos < sc->len) {
    char c = sc->s[sc->pos];
    if (c == '"') {
      if (scan_string(sc, NULL, 0, NULL) != 0) return -1;
      continue;
    }
    if (c == '{' || c == '[') {
      if (depth == MAX_NESTING) return -1;
      stack[depth++] = c == '{' ? '}' : ']';
    } else if (c == '}' || c == ']') {
      if (depth == 0 || stack[depth - 1] != c) return -1;
      if (--depth == 0) {
        sc->pos++;
        return 0;
      }
    }
    sc->pos++;
  }
  return -1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int skip_digits(scanner *sc) {
  size_t from = sc->pos;
  while (sc->pos < sc->len && is_digit(sc->s[sc->pos])) sc->pos++;
  return sc->pos > from ? 0 : -1;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int skip_number(scanner *sc) {
  if (sc->pos < sc->len && sc->s[sc->pos] == '-') sc->pos++;
  if (sc->pos < sc->len && sc->s[sc->pos] == '0') {
    sc->pos++;
  } else if (skip_digits(sc) != 0) {
    return -1;
  }
  if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
    sc->pos++;
    if (skip_digits(sc) != 0) return -1;
  }
  if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
    sc->pos++;
    if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-')) sc->pos++;
    if (skip_digits(sc) != 0) return -1;
  }
  return 0;
}

static int skip_word(scanner *sc, const char *word) {
  size_t n = strlen(word);
  if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0) return -1;
  sc->pos += n;
  return 0;
}

/* Any value other than a string (strings are handled by the caller). */
static int skip_value(scanner *sc) {
  char c;
  if (sc->pos >= sc->len) return -1;
  c = sc->s[sc->pos];
  if (c == '{' || c == '[') return skip_nested(sc);
  if (c == 't') return skip_word(sc, "true");
  if (c == 'f') return skip_word(sc, "false");
  if (c == 'n') return skip_word(sc, "null");
  return skip_number(sc);
}

int fs_json_find_member(const char *text, size_t len, const char *name, size_t name_len,
                        size_t *start, size_t *end) {
  scanner sc = {text, len, 0};
  int found = 0;
  if (name_len > MAX_NAME) return 0;
  skip_ws(&sc);
  if (sc.pos >= len || text[sc.pos] != '{') return 0;
  sc.pos++;
  skip_ws(&sc);
  if (sc.pos < len && text[sc.pos] == '}') {
    sc.pos++;
  } else {
    for (;;) {
      char key[MAX_NAME];
      size_t key_len, value_start;
      int match;
      skip_ws(&sc);
      if (scan_string(&sc, key, sizeof key, &key_len) != 0) return 0;
      match = key_len == name_len && memcmp(key, name, name_len) == 0;
      skip_ws(&sc);
      if (sc.pos >= len || text[sc.pos] != ':') return 0;
      sc.pos++;
      skip_ws(&sc);
      value_start = sc.pos;
      if (sc.pos < len && text[sc.pos] == '"') {
        if (scan_string(&sc, NULL, 0, NULL) != 0) return 0;
      } else if (skip_value(&sc) != 0) {
        return 0;
      }
      if (match) {
        if (found || text[value_start] != '"') return 0; /* repeated, or not a string */
        found = 1;
        *start = value_start;
        *end = sc.pos;
      }
      skip_ws(&sc);
      if (sc.pos < len && text[sc.pos] == ',') {
        sc.pos++;
        continue;
      }
      if (sc.pos < len && text[sc.pos] == '}') {
        sc.pos++;
        break;
      }
      return 0;
    }
  }
  skip_ws(&sc);
  return found && sc.pos == len;
}

size_t fs_json_unescape(const char *text, size_t start, size_t end, char *dst) {
  scanner sc = {text, end, start};
  size_t n = 0;
  scan_string(&sc, dst, end - start, &n); /* already checked by fs_json_find_member */
  return n;
}
