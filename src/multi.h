/* Multi userdata: many transfers in flight over libcurl's multi interface, each on a
 * clone of a session's easy handle (multi.c; contract: docs/DESIGN.md, "C core"). */
#ifndef FLOWSERVICE_MULTI_H
#define FLOWSERVICE_MULTI_H

#include <lua.h>

#define FS_MULTI_MT "flowservice.core.multi"
#define FS_MULTI_MAX_CONCURRENCY 64

/* Creates the multi metatable (once per Lua state); leaves the stack unchanged. */
void fs_multi_register(lua_State *L);
/* session:multi(concurrency) -> multi */
int fs_multi_new(lua_State *L);

#endif
