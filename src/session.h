/* Session userdata: one libcurl easy handle reused across requests (keep-alive). */
#ifndef FLOWSERVICE_SESSION_H
#define FLOWSERVICE_SESSION_H

#include <lua.h>

#define FS_SESSION_MT "flowservice.core.session"

/* Response limits: body size is per session (max_response_size); these are fixed. */
#define FS_MAX_RESPONSE_HEADERS 100
#define FS_MAX_RESPONSE_HEADER_BYTES (64 * 1024)
/* Request limits: see request.h. */

/* Creates the session metatable (once per Lua state); leaves the stack unchanged. */
void fs_session_register(lua_State *L);
/* core.session([opts]) -> session */
int fs_session_new(lua_State *L);
/* core.type(x) -> "session" | "closed session" | "secret" | "wiped secret" | nil */
int fs_session_type(lua_State *L);

#endif
