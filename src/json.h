/* JSON encoder for flowservice.core (Lua value -> JSON text); rules in docs/DESIGN.md. */
#ifndef FLOWSERVICE_JSON_H
#define FLOWSERVICE_JSON_H

#include <stddef.h>

#include <lua.h>

/* Tables may nest this deep; deeper (including cycles) is refused. */
#define FS_JSON_MAX_DEPTH 100
/* Longest JSON text json_encode produces. */
#define FS_JSON_MAX_OUTPUT ((size_t)1 << 30)

/* Pushes the core.json_encode function (a closure owning a reusable output buffer). */
void fs_json_push_encode(lua_State *L);

/* json_decode.c: 1 when s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF), else 0. */
int fs_utf8_valid(const unsigned char *s, size_t len);
/* Sets core.utf8_valid and core.json_integers in the table on top of the stack. */
void fs_json_register_decode_aids(lua_State *L);

#endif
