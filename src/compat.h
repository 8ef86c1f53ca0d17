/* The parts of the Lua 5.4 C API the core uses, on Lua 5.1, 5.2, 5.3 and LuaJIT 2.1
 * (LuaJIT reports 5.1 but has most of the 5.2 auxiliary library). Include after
 * lua.h and lauxlib.h. Only what src/ uses is here. */
#ifndef FLOWSERVICE_COMPAT_H
#define FLOWSERVICE_COMPAT_H

#include <math.h>
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#ifndef LUAMOD_API
#define LUAMOD_API LUALIB_API
#endif

/* 5.2's lua_Unsigned has 32 bits while its lua_Integer (ptrdiff_t) has 64. */
#if LUA_VERSION_NUM >= 503
typedef lua_Unsigned fs_unsigned;
#else
typedef size_t fs_unsigned;
#endif

#ifndef LUA_OK
#define LUA_OK 0 /* lua_pcall's success (5.2 names it) */
#endif

#if LUA_VERSION_NUM < 504
#define luaL_pushfail(L) lua_pushnil(L)
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata(L, size)
#endif

#if LUA_VERSION_NUM < 503
/* Without an integer subtype, "integer" means a whole number that a double holds
 * exactly: |x| <= 2^53 (not -0, which keeps its sign as a float). */
#define FS_MAX_EXACT 9007199254740992.0
static inline int fs_isinteger(lua_State *L, int idx) {
  lua_Number n;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  n = lua_tonumber(L, idx);
  return n == floor(n) && n >= -FS_MAX_EXACT && n <= FS_MAX_EXACT && !(n == 0 && signbit(n));
}
#define lua_isinteger(L, idx) fs_isinteger(L, idx)

/* As in 5.3: *isint only for a whole number that lua_Integer holds (no truncation).
 * 5.2's lua_tointeger passes isint NULL. */
static inline lua_Integer fs_tointegerx(lua_State *L, int idx, int *isint) {
  lua_Number n = lua_tonumber(L, idx);
  int ok = lua_type(L, idx) == LUA_TNUMBER && n == floor(n) && n >= -9223372036854775808.0 &&
           n < 9223372036854775808.0;
  if (isint != NULL) *isint = ok;
  return ok ? (lua_Integer)n : 0;
}
#define lua_tointegerx(L, idx, isint) fs_tointegerx(L, idx, isint)

/* As in 5.3: a number that is not whole (or out of range) is refused, not truncated. */
static inline lua_Integer fs_checkinteger(lua_State *L, int arg) {
  int isint;
  lua_Integer n;
  luaL_checknumber(L, arg); /* the type error, and numeric strings converted in place */
  n = fs_tointegerx(L, arg, &isint);
  if (!isint) luaL_argerror(L, arg, "number has no integer representation");
  return n;
}
#define luaL_checkinteger(L, arg) fs_checkinteger(L, arg)

/* 5.3 returns the type of the value pushed. */
#define lua_rawget(L, idx) (lua_rawget(L, idx), lua_type(L, -1))

/* 5.3 sets __name, which tostring, error messages and specs read. */
static inline int fs_newmetatable(lua_State *L, const char *name) {
  if (!(luaL_newmetatable)(L, name)) return 0;
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  return 1;
}
#define luaL_newmetatable(L, name) fs_newmetatable(L, name)
#endif

#if LUA_VERSION_NUM == 501
#define lua_rawlen(L, idx) lua_objlen(L, idx)
#endif

#if LUA_VERSION_NUM == 501 && !defined(luaL_newlibtable) /* PUC 5.1, not LuaJIT */
static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    if (l->func == NULL) { /* a placeholder, as in 5.4 */
      lua_pushboolean(L, 0);
    } else {
      for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
      lua_pushcclosure(L, l->func, nup);
    }
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

static inline void luaL_setmetatable(lua_State *L, const char *name) {
  luaL_getmetatable(L, name);
  lua_setmetatable(L, -2);
}

static inline void *luaL_testudata(lua_State *L, int idx, const char *name) {
  void *p = lua_touserdata(L, idx);
  int same;
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, name);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

#define luaL_newlibtable(L, l) lua_createtable(L, 0, (int)(sizeof(l) / sizeof((l)[0]) - 1))
#define luaL_newlib(L, l) (luaL_newlibtable(L, l), luaL_setfuncs(L, l, 0))
#endif

/* User values (multi.c keeps one, a table, or nil once closed). 5.2 and 5.3 have one per
 * userdata, 5.1 and LuaJIT its environment table, which cannot be nil: nil becomes an empty
 * table there (what nil is for, dropping what the old table held, still happens). */
#if LUA_VERSION_NUM < 504
static inline int fs_getiuservalue(lua_State *L, int idx, int n) {
  (void)n;
#if LUA_VERSION_NUM == 501
  lua_getfenv(L, idx);
#else
  lua_getuservalue(L, idx);
#endif
  return lua_type(L, -1);
}
#define lua_getiuservalue(L, idx, n) fs_getiuservalue(L, idx, n)

static inline int fs_setiuservalue(lua_State *L, int idx, int n) {
  (void)n;
#if LUA_VERSION_NUM == 501
  if (lua_isnil(L, -1)) { /* pops one value and pushes one: a relative idx stays right */
    lua_pop(L, 1);
    lua_newtable(L);
  }
  return lua_setfenv(L, idx);
#else
  lua_setuservalue(L, idx);
  return 1;
#endif
}
#define lua_setiuservalue(L, idx, n) fs_setiuservalue(L, idx, n)
#endif

#if LUA_VERSION_NUM == 501
static inline int fs_absindex(lua_State *L, int idx) {
  return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex(L, idx) fs_absindex(L, idx)
#endif

#endif
