/* libcurl's memory functions, given with curl_global_init_mem, that overwrite every block
 * before freeing it: "libcurl does not explicitly clear memory before freeing it"
 * (libcurl-security), and its request header buffer holds "Authorization: Bearer <token>"
 * after close(). glibc's malloc_usable_size gives each block's size. */
#ifndef _GNU_SOURCE
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): glibc's feature macro for dladdr */
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "process.h"
#include "secret.h"

/* Statistics for the cost figures (bench and README): updated without locks, so they are
 * approximate when several threads use libcurl at once; never used for decisions. */
static size_t wiped_blocks, wiped_bytes;

static void *wipe_malloc(size_t size) {
  return malloc(size);
}

static void wipe_free(void *p) {
  size_t n;
  if (p == NULL) return;
  n = malloc_usable_size(p);
  fs_wipe(p, n);
  /* relaxed atomics: libcurl's resolver threads free memory too (counts only, no ordering) */
  __atomic_fetch_add(&wiped_blocks, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&wiped_bytes, n, __ATOMIC_RELAXED);
  free(p);
}

/* Never realloc in place: a block that moved would leave its old copy unwiped. */
static void *wipe_realloc(void *p, size_t size) {
  size_t old;
  void *q;
  if (p == NULL) return malloc(size);
  old = malloc_usable_size(p);
  if (size <= old && size > 0) return p; /* the spare tail is wiped with the block */
  q = malloc(size > 0 ? size : 1);
  if (q == NULL) return NULL; /* p stays valid, as realloc promises */
  memcpy(q, p, old < size ? old : size);
  wipe_free(p);
  return q;
}

static char *wipe_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy != NULL) memcpy(copy, s, n);
  return copy;
}

static void *wipe_calloc(size_t count, size_t size) {
  return calloc(count, size);
}

/* libcurl keeps the allocation functions for the life of the process, but Lua unloads this
 * library (dlclose) when its state closes: the host's next libcurl call would then jump into
 * unmapped code. Pinned first (RTLD_NODELETE); when that fails, libcurl keeps its own. */
static int pin_library(void) {
  Dl_info info;
  void *self;
  if (dladdr((void *)wipe_free, &info) == 0 || info.dli_fname == NULL) return 0;
  self = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  /* cppcheck-suppress resourceLeak ; the extra reference is never dropped: that is the pin */
  return self != NULL;
}

CURLcode fs_curl_global_init(int *wiping) {
  size_t before = __atomic_load_n(&wiped_blocks, __ATOMIC_RELAXED);
  char *probe;
  CURLcode rc;
  if (!pin_library()) {
    *wiping = 0;
    return curl_global_init(CURL_GLOBAL_DEFAULT);
  }
  rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc, wipe_strdup,
                                     wipe_calloc);
  *wiping = 0;
  if (rc != CURLE_OK) return rc;
  /* Whether libcurl took our functions: one block from libcurl, freed through curl_free. */
  probe = curl_easy_escape(NULL, "probe", 5);
  if (probe != NULL) {
    curl_free(probe);
    *wiping = __atomic_load_n(&wiped_blocks, __ATOMIC_RELAXED) > before;
  }
  return CURLE_OK;
}

int fs_wipe_stats(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)__atomic_load_n(&wiped_blocks, __ATOMIC_RELAXED));
  lua_setfield(L, -2, "blocks");
  lua_pushinteger(L, (lua_Integer)__atomic_load_n(&wiped_bytes, __ATOMIC_RELAXED));
  lua_setfield(L, -2, "bytes");
  return 1;
}
