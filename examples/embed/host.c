/*
 * A minimal C host that embeds flowservice (docs/EMBEDDING.md): it creates a Lua state, opens the
 * standard libraries, points package.path and package.cpath at the library (the host decides
 * where modules come from, not the environment), requires "flowservice" and creates an Oracle
 * Service Cloud base connection, then prints its id.
 *
 * usage: host LUA_DIR CORE_DIR BASE_URL
 *   LUA_DIR   directory holding flowservice/init.lua (the checkout's lua/)
 *   CORE_DIR  directory holding flowservice/core.so (the checkout's build/)
 *   BASE_URL  the Flow Service and IMS base URL (the emulator's)
 * The credentials come from AEP_CLIENT_ID, AEP_CLIENT_SECRET and AEP_ORG_ID, as for any client.
 *
 * Exit status 0 with "connection id: ..." on stdout; 1 with the Lua error on stderr. A failure in
 * Lua never ends the host: every call into Lua is protected (lua_pcall).
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* The work, in Lua: the host passes the base URL; the script returns the new connection's id. */
static const char SCRIPT[] =
    "local base_url = ...\n"
    "local flowservice = require 'flowservice'\n"
    "local client = flowservice.assert(flowservice.new { base_url = base_url, ims_url = base_url })\n"
    "local conn = flowservice.assert(client.connections:create {\n"
    "  name = 'Oracle Service Cloud (embedded host)', spec = 'oracle-service-cloud',\n"
    "  auth = { host = 'example.custhelp.com', username = 'svc-user', password = 'embed-demo-password' },\n"
    "})\n"
    "client:close()\n"
    "return conn.id\n";

/* package[field] = templates .. ";" .. package[field]: the host's directories first, then the
 * system's Lua directories (where Debian's lua-cjson is). */
static void prepend_search_path(lua_State *L, const char *field, const char *templates)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    const char *system_dirs = lua_tostring(L, -1);
    lua_pushfstring(L, "%s;%s", templates, system_dirs != NULL ? system_dirs : "");
    lua_setfield(L, -3, field);
    lua_pop(L, 2);
}

/* Message handler: the error with a traceback (an error table is shown through its __tostring). */
static int traceback(lua_State *L)
{
    const char *message = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, message, 1);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        (void)fprintf(stderr, "usage: %s LUA_DIR CORE_DIR BASE_URL\n", argv[0]);
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        (void)fputs("host: cannot create a Lua state (out of memory)\n", stderr);
        return 1;
    }
    luaL_openlibs(L);

    char lua_templates[4096];
    char core_templates[4096];
    int n = snprintf(lua_templates, sizeof lua_templates, "%s/?.lua;%s/?/init.lua", argv[1], argv[1]);
    int m = snprintf(core_templates, sizeof core_templates, "%s/?.so", argv[2]);
    if (n < 0 || n >= (int)sizeof lua_templates || m < 0 || m >= (int)sizeof core_templates) {
        (void)fputs("host: a directory name is too long\n", stderr);
        lua_close(L);
        return 2;
    }
    prepend_search_path(L, "path", lua_templates);
    prepend_search_path(L, "cpath", core_templates);

    int status = 1;
    lua_pushcfunction(L, traceback);
    if (luaL_loadbuffer(L, SCRIPT, sizeof SCRIPT - 1, "=embedded") != LUA_OK) {
        (void)fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    } else {
        lua_pushstring(L, argv[3]);
        if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
            (void)fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        } else {
            if (printf("connection id: %s\n", lua_tostring(L, -1)) > 0 && fflush(stdout) == 0)
                status = 0;
        }
    }
    lua_close(L); /* runs the finalizers: the client's libcurl handle is released here */
    return status;
}
