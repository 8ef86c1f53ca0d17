/* Secret userdata: bytes in malloc'd C memory, wiped when freed, never readable
 * from Lua (contract: docs/DESIGN.md, "C core"). */
#ifndef FLOWSERVICE_SECRET_H
#define FLOWSERVICE_SECRET_H

#include <stddef.h>

#include <lua.h>

#define FS_SECRET_MT "flowservice.secret"

typedef struct fs_secret {
  char *data; /* NULL once wiped (or before it is filled) */
  size_t len;
  int header_safe; /* checked once when filled: no CR, LF or NUL (request.c skips the scan) */
} fs_secret;

/* Overwrites n bytes in a way the compiler may not optimise away. */
void fs_wipe(void *p, size_t n);

/* Creates the secret metatable (once per Lua state); leaves the stack unchanged. */
void fs_secret_register(lua_State *L);
/* core.secret(string [, "form"]) -> secret */
int fs_secret_new(lua_State *L);
/* Pushes a new, empty ("wiped") secret; fs_secret_fill gives it bytes later. */
fs_secret *fs_secret_push_empty(lua_State *L);
/* Gives an empty secret a zeroed buffer of len bytes (+1 spare); returns 0, or -1 when
 * out of memory. Never calls Lua, so it may run while a buffer holds secret bytes. */
int fs_secret_alloc(fs_secret *s, size_t len);
/* The secret at idx, or NULL when the value is not a secret. */
fs_secret *fs_secret_test(lua_State *L, int idx);
/* The same, comparing with the secret metatable at index mt (no registry lookup); mt 0:
 * fs_secret_test. idx must not be relative to the top. */
fs_secret *fs_secret_test_mt(lua_State *L, int idx, int mt);

#endif
