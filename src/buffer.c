/* Growable byte buffer; see buffer.h. */
#include <stdlib.h>

#include "buffer.h"
#include "secret.h"

#define FS_BUFFER_MIN 256

void fs_buffer_init(fs_buffer *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
  b->wipe = 0;
}

void fs_buffer_free(fs_buffer *b) {
  if (b->wipe) fs_wipe(b->data, b->cap);
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void fs_buffer_wipe(fs_buffer *b) {
  fs_wipe(b->data, b->len);
}

/* realloc may leave a copy of the old contents in freed memory: a buffer that holds
 * secrets moves them itself and wipes the old block. */
static char *resize(fs_buffer *b, size_t cap) {
  char *p;
  if (!b->wipe) return realloc(b->data, cap);
  p = malloc(cap);
  if (p == NULL) return NULL;
  if (b->len > 0) memcpy(p, b->data, b->len);
  fs_wipe(b->data, b->cap);
  free(b->data);
  return p;
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
  p = resize(b, cap);
  if (p == NULL) return FS_BUF_NOMEM;
  b->data = p;
  b->cap = cap;
  return FS_BUF_OK;
}

void fs_buffer_clear(fs_buffer *b, size_t keep) {
  if (b->wipe) fs_wipe(b->data, b->len);
  if (b->cap > keep) fs_buffer_free(b);
  b->len = 0;
}
