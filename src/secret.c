/* flowservice.core secrets: copies of credentials in malloc'd C memory that Lua code
 * cannot read back, wiped with explicit_bzero when freed (contract: docs/DESIGN.md).
 *
 * Lifecycle as in liolib: the userdata exists "wiped" (data NULL) before anything is
 * allocated, so a raise leaks nothing; one idempotent finalizer serves wipe, __gc and
 * __close. There is deliberately no __len, __concat, __eq or accessor: the only ways
 * to use the bytes are the request pieces request.c reads in C.
 *
 * Limits: the Lua string a secret was made from is immutable and may be interned, so
 * it cannot be wiped here; pages are not locked (mlock), so they may be swapped out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "request.h"
#include "secret.h"

void fs_wipe(void *p, size_t n) {
  if (p != NULL && n > 0) explicit_bzero(p, n);
}

/* wipe == __gc == __close; idempotent (__close runs and then __gc runs again). */
static int secret_wipe(lua_State *L) {
  fs_secret *s = luaL_checkudata(L, 1, FS_SECRET_MT);
  if (s->data != NULL) {
    fs_wipe(s->data, s->len + 1);
    free(s->data);
    s->data = NULL;
    s->len = 0;
  }
  return 0;
}

static int secret_is_wiped(lua_State *L) {
  fs_secret *s = luaL_checkudata(L, 1, FS_SECRET_MT);
  lua_pushboolean(L, s->data == NULL);
  return 1;
}

/* Neither the value nor its length: both would help an attacker reading logs. */
static int secret_tostring(lua_State *L) {
  luaL_checkudata(L, 1, FS_SECRET_MT);
  lua_pushliteral(L, FS_SECRET_MT);
  return 1;
}

fs_secret *fs_secret_push_empty(lua_State *L) {
  fs_secret *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->data = NULL;
  s->len = 0;
  s->header_safe = 0;
  luaL_setmetatable(L, FS_SECRET_MT);
  return s;
}

int fs_secret_alloc(fs_secret *s, size_t len) {
  s->data = calloc(1, len + 1); /* + 1: malloc(0) may return NULL */
  if (s->data == NULL) return -1;
  s->len = len;
  s->header_safe = 0; /* the caller fills it and may say so */
  return 0;
}

fs_secret *fs_secret_test(lua_State *L, int idx) {
  return luaL_testudata(L, idx, FS_SECRET_MT);
}

fs_secret *fs_secret_test_mt(lua_State *L, int idx, int mt) {
  int same;
  if (mt == 0) return fs_secret_test(L, idx);
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
  same = lua_rawequal(L, -1, mt);
  lua_pop(L, 1);
  return same ? lua_touserdata(L, idx) : NULL;
}

/* RFC 3986 unreserved: left as is by application/x-www-form-urlencoded encoding here. */
static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* Encodes src into dst (sized by form_length), every other byte as %XX. */
static void form_encode(char *dst, const unsigned char *src, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < len; i++) {
    if (is_unreserved(src[i])) {
      *dst++ = (char)src[i];
    } else {
      *dst++ = '%';
      *dst++ = hex[src[i] >> 4];
      *dst++ = hex[src[i] & 15];
    }
  }
}

static size_t form_length(const unsigned char *src, size_t len) {
  size_t n = 0, i;
  for (i = 0; i < len; i++) n += is_unreserved(src[i]) ? 1 : 3;
  return n;
}

int fs_secret_new(lua_State *L) {
  static const char *const encodings[] = {"raw", "form", NULL};
  size_t len;
  const char *value = luaL_checklstring(L, 1, &len);
  int form = luaL_checkoption(L, 2, "raw", encodings) == 1;
  size_t size;
  fs_secret *s;
  if (len > (SIZE_MAX - 1) / 3) return luaL_error(L, "secret too large"); /* 3 * len + 1 fits */
  size = form ? form_length((const unsigned char *)value, len) : len;
  s = fs_secret_push_empty(L);
  if (fs_secret_alloc(s, size) != 0) return luaL_error(L, "not enough memory");
  if (form)
    form_encode(s->data, (const unsigned char *)value, len);
  else if (len > 0)
    memcpy(s->data, value, len);
  s->header_safe = !fs_has_ctl(s->data, size); /* a secret's bytes never change */
  return 1;
}

static const luaL_Reg secret_methods[] = {
    {"wipe", secret_wipe},
    {"is_wiped", secret_is_wiped},
    {NULL, NULL},
};

static const luaL_Reg secret_metamethods[] = {
    {"__index", NULL}, /* set to the methods table below */
    {"__gc", secret_wipe},
    {"__close", secret_wipe},
    {"__tostring", secret_tostring},
    {NULL, NULL},
};

void fs_secret_register(lua_State *L) {
  if (luaL_newmetatable(L, FS_SECRET_MT)) { /* sets __name too */
    luaL_setfuncs(L, secret_metamethods, 0);
    luaL_newlibtable(L, secret_methods);
    luaL_setfuncs(L, secret_methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
