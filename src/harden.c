/* core.harden_process: a crashed process must not leave a core file holding the client
 * secret, the token and the source's password (reference transport-security.md, section 7). */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <lauxlib.h>

#include "process.h"

int fs_harden_process(lua_State *L) {
  struct rlimit none;
  none.rlim_cur = 0;
  none.rlim_max = 0; /* also the hard limit: the process cannot turn dumps back on */
  if (setrlimit(RLIMIT_CORE, &none) != 0)
    return luaL_error(L, "harden_process: setrlimit(RLIMIT_CORE, 0) failed: %s", strerror(errno));
#ifdef __linux__
  if (prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
    return luaL_error(L, "harden_process: prctl(PR_SET_DUMPABLE, 0) failed: %s", strerror(errno));
#endif
  /* What the system now says, so the caller sees the effect and not only the request. */
  if (getrlimit(RLIMIT_CORE, &none) != 0)
    return luaL_error(L, "harden_process: getrlimit(RLIMIT_CORE) failed: %s", strerror(errno));
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, none.rlim_cur == 0 && none.rlim_max == 0);
  lua_setfield(L, -2, "core_dumps_off");
#ifdef __linux__
  lua_pushboolean(L, prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) == 0);
#else
  lua_pushboolean(L, 0);
#endif
  lua_setfield(L, -2, "not_dumpable");
  return 1;
}
