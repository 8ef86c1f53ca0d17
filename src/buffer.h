/* Growable byte buffer with a hard cap (model: lua-cjson's strbuf).
 * Pure C, no Lua calls: it is filled from libcurl callbacks, where a Lua error
 * would longjmp through libcurl. Failures are reported as return codes. */
#ifndef FLOWSERVICE_BUFFER_H
#define FLOWSERVICE_BUFFER_H

#include <stddef.h>
#include <string.h>

typedef struct fs_buffer {
  char *data;   /* NULL until the first append */
  size_t len;   /* bytes in use */
  size_t cap;   /* bytes allocated */
  size_t max;   /* hard cap on len */
  int wipe;     /* may hold secret bytes: growing and freeing wipe the old storage */
} fs_buffer;

enum {
  FS_BUF_OK = 0,
  FS_BUF_FULL = 1,   /* the append would exceed max; nothing was written */
  FS_BUF_NOMEM = 2   /* realloc failed; nothing was written */
};

void fs_buffer_init(fs_buffer *b, size_t max);
/* Frees the storage (wiped first when b->wipe is set). */
void fs_buffer_free(fs_buffer *b);
/* Zeroes the bytes in use (explicit_bzero), whatever b->wipe says. */
void fs_buffer_wipe(fs_buffer *b);
/* Slow path of fs_buffer_reserve. */
int fs_buffer_grow(fs_buffer *b, size_t extra);
/* Empties the buffer (wiping the bytes in use when b->wipe is set); frees the storage
 * if it grew beyond keep bytes, so one large response does not pin memory for the
 * life of the owner. */
void fs_buffer_clear(fs_buffer *b, size_t keep);

/* Makes room for extra more bytes (after which up to extra bytes may be
 * written at data + len without further checks). */
static inline int fs_buffer_reserve(fs_buffer *b, size_t extra) {
  if (extra <= b->cap - b->len) return FS_BUF_OK;
  return fs_buffer_grow(b, extra);
}

static inline int fs_buffer_append(fs_buffer *b, const void *p, size_t n) {
  int rc = fs_buffer_reserve(b, n);
  if (rc != FS_BUF_OK) return rc;
  if (n > 0) memcpy(b->data + b->len, p, n);  /* memcpy(NULL, .., 0) is UB */
  b->len += n;
  return FS_BUF_OK;
}

static inline int fs_buffer_putc(fs_buffer *b, char c) {
  if (b->len == b->cap) {
    int rc = fs_buffer_grow(b, 1);
    if (rc != FS_BUF_OK) return rc;
  }
  b->data[b->len++] = c;
  return FS_BUF_OK;
}

#endif
