/* Private files for the token cache (token_cache.lua): see private_file.c. */
#ifndef FLOWSERVICE_PRIVATE_FILE_H
#define FLOWSERVICE_PRIVATE_FILE_H

#include <lua.h>

/* Adds private_dir, private_read, private_write and hash64 to the table on top of the stack. */
void fs_private_file_register(lua_State *L);

#endif
