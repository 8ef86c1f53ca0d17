/* Growable byte buffer; see buffer.h. */
#include <stdlib.h>

#include "buffer.h"

#define FS_BUFFER_MIN 256

void fs_buffer_init(fs_buffer *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void fs_buffer_free(fs_buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

int fs_buffer_grow(fs_buffer *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra > b->max - b->len) return FS_BUF_FULL;  /* no overflow: len <= max */
  need = b->len + extra;
  if (need <= b->cap) return FS_BUF_OK;
  cap = b->cap < FS_BUFFER_MIN ? FS_BUFFER_MIN : b->cap;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) { cap = need; break; }
    cap *= 2;
  }
  if (cap > b->max) cap = b->max;  /* need <= max, so still enough */
  p = realloc(b->data, cap);
  if (p == NULL) return FS_BUF_NOMEM;
  b->data = p;
  b->cap = cap;
  return FS_BUF_OK;
}

void fs_buffer_clear(fs_buffer *b, size_t keep) {
  if (b->cap > keep) fs_buffer_free(b);
  b->len = 0;
}
