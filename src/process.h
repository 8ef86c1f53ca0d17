/* Process-wide protections of the secrets this library holds (contract: docs/DESIGN.md,
 * "C core"): libcurl allocation functions that wipe freed memory, and core dumps off. */
#ifndef FLOWSERVICE_PROCESS_H
#define FLOWSERVICE_PROCESS_H

#include <curl/curl.h>
#include <lua.h>

/* curl_global_init with allocation functions that wipe every block libcurl frees (its
 * request buffers hold the bearer token). When libcurl was initialised before (by the host),
 * libcurl keeps its allocators and only counts the call: *wiping is then 0. */
CURLcode fs_curl_global_init(int *wiping);

/* core.wipe_stats() -> { blocks = n, bytes = n }: blocks and bytes wiped on free so far. */
int fs_wipe_stats(lua_State *L);

/* core.harden_process() -> { core_dumps_off = bool, not_dumpable = bool } (read back from the
 * system after the change): core dumps off (RLIMIT_CORE 0, soft and hard) and, on Linux,
 * the process not dumpable (PR_SET_DUMPABLE 0: no core file, no ptrace by same-user processes,
 * /proc/<pid>/mem closed to them). Raises naming the call the system refused. */
int fs_harden_process(lua_State *L);

#endif
