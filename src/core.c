/* flowservice.core: the C core (contract: docs/DESIGN.md, "C core"). */
#include <errno.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "json.h"
#include "multi.h"
#include "private_file.h"
#include "process.h"
#include "secret.h"
#include "session.h"

#ifndef FLOWSERVICE_VERSION
#error "build with -DFLOWSERVICE_VERSION='\"x.y.z\"' (the Makefile takes it from lua/flowservice/init.lua)"
#endif

/* Exported for Lua only. */
LUAMOD_API int luaopen_flowservice_core(lua_State *L);

static void set_feature(lua_State *L, const char *name, int on) {
  lua_pushboolean(L, on);
  lua_setfield(L, -2, name);
}

/* Like curl_version(), built from curl_version_info(): curl_version() also asks
 * libldap for its version, which initialises libldap and libsasl2 and leaves
 * their global allocations behind (noise in every leak check). */
static void push_curl_version(lua_State *L, const curl_version_info_data *info) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "libcurl/");
  luaL_addstring(&b, info->version);
  if (info->ssl_version) {
    luaL_addchar(&b, ' ');
    luaL_addstring(&b, info->ssl_version);
  }
  if (info->libz_version) {
    luaL_addstring(&b, " zlib/");
    luaL_addstring(&b, info->libz_version);
  }
  if (info->age >= CURLVERSION_SIXTH && info->nghttp2_version) {
    luaL_addstring(&b, " nghttp2/");
    luaL_addstring(&b, info->nghttp2_version);
  }
  luaL_pushresult(&b);
}

/* Seconds on a clock that never jumps (token expiry must not follow NTP or a user
 * changing the wall clock), with sub-second resolution (os.time has whole seconds). */
static int core_monotonic(lua_State *L) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return luaL_error(L, "clock_gettime failed");
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* Blocks the calling thread for `seconds` (0 to 86400): runs:wait polls with it. A signal
 * that interrupts the sleep does not cut it short. */
static int core_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  struct timespec ts;
  luaL_argcheck(L, seconds >= 0 && seconds <= 86400, 1, "expected seconds between 0 and 86400");
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (lua_Number)ts.tv_sec) * 1e9);
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    /* interrupted: ts now holds the time left */
  }
  return 0;
}

static const luaL_Reg core_functions[] = {
    {"harden_process", fs_harden_process},
    {"monotonic", core_monotonic},
    {"secret", fs_secret_new},
    {"sleep", core_sleep},
    {"session", fs_session_new},
    {"type", fs_session_type},
    {"wipe_stats", fs_wipe_stats},
    {NULL, NULL},
};

LUAMOD_API int luaopen_flowservice_core(lua_State *L) {
  /* Once per process and never cleaned up: other Lua states (or the host) may
   * still use libcurl. Safe to race from 7.84 on when libcurl is threadsafe. With
   * allocation functions that wipe what libcurl frees, unless the host initialised
   * libcurl first (then libcurl keeps its own and `wiping` says so). */
  static int curl_ready = 0, wiping = 0;
  const curl_version_info_data *info;
  if (!curl_ready) {
    CURLcode rc = fs_curl_global_init(&wiping);
    if (rc != CURLE_OK) return luaL_error(L, "curl_global_init failed: %s", curl_easy_strerror(rc));
    curl_ready = 1;
    fs_choose_handle_mode();
  }
  fs_session_register(L);
  fs_multi_register(L);
  fs_secret_register(L);
  luaL_newlib(L, core_functions);
  fs_private_file_register(L);
  fs_json_push_encode(L);
  lua_setfield(L, -2, "json_encode");
  fs_json_register_decode_aids(L);
  lua_pushliteral(L, FLOWSERVICE_VERSION);
  lua_setfield(L, -2, "version");
  info = curl_version_info(CURLVERSION_NOW);
  push_curl_version(L, info);
  lua_setfield(L, -2, "curl_version");
  /* libcurl before 8.1.0: a fresh easy handle per transfer (session.h, fs_fresh_handles) */
  lua_pushboolean(L, fs_fresh_handles);
  lua_setfield(L, -2, "fresh_handles");
  lua_createtable(L, 0, 5);
  set_feature(L, "ssl", (info->features & CURL_VERSION_SSL) != 0);
  set_feature(L, "asynchdns", (info->features & CURL_VERSION_ASYNCHDNS) != 0);
  set_feature(L, "http2", (info->features & CURL_VERSION_HTTP2) != 0);
  set_feature(L, "wiping_allocator", wiping);
#ifdef CURL_VERSION_THREADSAFE
  set_feature(L, "threadsafe", (info->features & CURL_VERSION_THREADSAFE) != 0);
#else
  set_feature(L, "threadsafe", 0);
#endif
  lua_setfield(L, -2, "features");
  return 1;
}
