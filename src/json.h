/* JSON encoder for flowservice.core (Lua value -> JSON text); rules in docs/DESIGN.md. */
#ifndef FLOWSERVICE_JSON_H
#define FLOWSERVICE_JSON_H

#include <lua.h>

/* Tables may nest this deep; deeper (including cycles) is refused. */
#define FS_JSON_MAX_DEPTH 100
/* Longest JSON text json_encode produces. */
#define FS_JSON_MAX_OUTPUT ((size_t)1 << 30)

/* Pushes the core.json_encode function (a closure owning a reusable output buffer). */
void fs_json_push_encode(lua_State *L);

#endif
