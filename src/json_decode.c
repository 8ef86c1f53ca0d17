/* What json.lua needs around lua-cjson 2.1.0 (the decoder), done in C because it runs on every
 * response: a strict UTF-8 check (lua-cjson passes invalid bytes through) and the pass that
 * turns integral floats back into integers (lua-cjson decodes every number as a float). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "json.h"

/* Deeper than lua-cjson's decode_max_depth (json.lua sets 1000); also stops a cyclic table. */
#define MAX_DEPTH 1100
#define EXACT 9007199254740992.0 /* 2^53: from here on a double may have been rounded */

int fs_utf8_valid(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i], lo = 0x80, hi = 0xBF;
    size_t size, k;
    if (c < 0x80) {
      uint64_t w;
      if (len - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080u) == 0))
        i += 8; /* eight ASCII bytes */
      else
        i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      size = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      size = 3;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      size = 4;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
      return 0;
    }
    if (len - i < size || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (k = 2; k < size; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    i += size;
  }
  return 1;
}

/* core.utf8_valid(s) -> boolean */
static int core_utf8_valid(lua_State *L) {
  size_t len;
  const char *s;
  luaL_checktype(L, 1, LUA_TSTRING);
  s = lua_tolstring(L, 1, &len);
  lua_pushboolean(L, fs_utf8_valid((const unsigned char *)s, len));
  return 1;
}

/* Tables visited before json_integers starts to remember them: a decoded document never
 * shares a table, so below this nothing is tracked (the common case costs nothing); past it, a
 * table reached again (a graph that shares subtables, built by a caller) is skipped, which keeps
 * the walk linear instead of exponential. */
#define UNTRACKED_VISITS 256
#define SEEN 2 /* stack slot of the set of tables seen (nil until UNTRACKED_VISITS) */

/* The table at t and the tables in it: integral numbers below 2^53 in magnitude become
 * integers (-0 becomes 0, as math.tointeger makes it), in place. 0 on an infinite number.
 * Every value is on the Lua stack while it is used: a finalizer running in the set's
 * allocations can change the tables, not invalidate a pointer. */
static int integers(lua_State *L, int t, int depth, int *visits) {
  if (depth > MAX_DEPTH) luaL_error(L, "json_integers: tables nested deeper than %d", MAX_DEPTH);
  luaL_checkstack(L, 4, NULL);
  if (++*visits > UNTRACKED_VISITS) {
    if (lua_isnil(L, SEEN)) {
      lua_newtable(L);
      lua_replace(L, SEEN);
    }
    lua_pushvalue(L, t);
    if (lua_rawget(L, SEEN) != LUA_TNIL) {
      lua_pop(L, 1);
      return 1; /* done already */
    }
    lua_pop(L, 1);
    lua_pushvalue(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, SEEN);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int type = lua_type(L, -1);
    if (type == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number v = lua_tonumber(L, -1);
      if (isinf(v)) {
        lua_pop(L, 2);
        return 0;
      }
      if (v > -EXACT && v < EXACT && v == floor(v)) { /* changing an existing field: allowed */
        lua_pushvalue(L, -2);
        lua_pushinteger(L, (lua_Integer)v);
        lua_rawset(L, t);
      }
    } else if (type == LUA_TTABLE && !integers(L, lua_gettop(L), depth + 1, visits)) {
      lua_pop(L, 2);
      return 0;
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* core.json_integers(t) -> true, or false when t holds an infinite number (1e400) */
static int core_json_integers(lua_State *L) {
  int visits = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushnil(L); /* SEEN */
  lua_pushboolean(L, integers(L, 1, 0, &visits));
  return 1;
}

void fs_json_register_decode_aids(lua_State *L) {
  lua_pushcfunction(L, core_utf8_valid);
  lua_setfield(L, -2, "utf8_valid");
  lua_pushcfunction(L, core_json_integers);
  lua_setfield(L, -2, "json_integers");
}
