/* flowservice.core private files: the token cache's file I/O (token_cache.lua), done in C so
 * that the token moves between its secret and the file without ever being a Lua string, and so
 * that ownership and permissions are checked on the open descriptor (no race between a check
 * and the use, and no `stat` process at start-up).
 *
 * A private file holds one header line (not secret: JSON the caller writes) and then the
 * secret's bytes. It must be a regular file owned by the effective user with no group or other
 * permission bits; its directory must be such a directory too (like ssh with its keys).
 * Writes are atomic: a new file (O_EXCL, mode 0600) beside the target, then rename(2). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "private_file.h"
#include "request.h"
#include "secret.h"

/* A cache file is a header line and a token of a few KB; anything larger is not ours. */
#define MAX_PRIVATE_FILE ((off_t)64 * 1024)

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Pushes nil, a message and a reason ("missing", "unsafe" or "io"); returns 3. */
static int fail(lua_State *L, const char *reason, const char *fmt, ...) {
  va_list ap;
  lua_pushnil(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushstring(L, reason);
  return 3;
}

/* The permission bits as 4 octal digits, for messages (lua_pushfstring has no %o). */
static const char *mode_text(const struct stat *st, char out[8]) {
  (void)snprintf(out, 8, "%04o", (unsigned)(st->st_mode & 07777));
  return out;
}

/* NULL when st is private to the effective user, else why not (for a message). */
static const char *why_not_private(const struct stat *st, int want_dir) {
  if (S_ISLNK(st->st_mode)) return "is a symbolic link";
  if (want_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
    return want_dir ? "is not a directory" : "is not a regular file";
  if (st->st_uid != geteuid()) return "belongs to another user";
  if ((st->st_mode & 077) != 0) return "is accessible by group or others";
  return NULL;
}

/* core.private_dir(path) -> true | nil, message, reason: creates the directory (mode 0700,
 * its missing parents too) and checks that it is a directory (not a symbolic link) owned by
 * the effective user with no group or other permission bits. */
static int private_dir(lua_State *L) {
  size_t len, i;
  const char *path = luaL_checklstring(L, 1, &len);
  struct stat st;
  const char *why;
  char *copy;
  luaL_argcheck(L, len > 0 && strlen(path) == len, 1, "expected a path without NUL bytes");
  copy = malloc(len + 1);
  if (copy == NULL) return luaL_error(L, "not enough memory");
  memcpy(copy, path, len + 1);
  for (i = 1; i <= len; i++) { /* each prefix ending before a '/', then the whole path */
    if (i < len && copy[i] != '/') continue;
    copy[i] = '\0';
    if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
      int e = errno;
      free(copy);
      return fail(L, "io", "cannot create the directory %s: %s", path, strerror(e));
    }
    if (i < len) copy[i] = '/';
  }
  /* lstat without the trailing slashes: "link/" would name what a symbolic link points to */
  while (len > 1 && copy[len - 1] == '/') copy[--len] = '\0';
  if (lstat(copy, &st) != 0) {
    int e = errno;
    free(copy);
    return fail(L, "io", "cannot read the directory %s: %s", path, strerror(e));
  }
  free(copy);
  why = why_not_private(&st, 1);
  if (why != NULL) {
    char mode[8];
    return fail(L, "unsafe", "%s %s (mode %s); it must be a directory of this user with mode 0700", path, why,
                mode_text(&st, mode));
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* core.private_read(path) -> header, secret | nil, message, reason. Reason "missing" when there
 * is no such file, "unsafe" when it is not a private regular file (it is not read), "io" when it
 * cannot be read or has no header line. */
static int private_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  const char *why, *newline;
  char *buf;
  size_t got = 0;
  fs_secret *s;
  /* O_NONBLOCK: opening a FIFO (or a device) put where the file should be must not wait for a
   * writer; fstat below refuses anything but a regular file, and a regular file reads the same */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return fail(L, "missing", "%s does not exist", path);
    if (errno == ELOOP) return fail(L, "unsafe", "%s is a symbolic link", path);
    return fail(L, "io", "cannot open %s: %s", path, strerror(errno));
  }
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(L, "io", "cannot read %s: %s", path, strerror(e));
  }
  why = why_not_private(&st, 0);
  if (why != NULL) {
    char mode[8];
    close(fd);
    return fail(L, "unsafe", "%s %s (mode %s); it must be a file of this user with mode 0600", path, why,
                mode_text(&st, mode));
  }
  if (st.st_size <= 0 || st.st_size > MAX_PRIVATE_FILE) {
    close(fd);
    return fail(L, "io", "%s is empty or too large", path);
  }
  /* the secret userdata first, so a raise (out of memory) after the read leaks nothing */
  s = fs_secret_push_empty(L);
  buf = calloc(1, (size_t)st.st_size + 1);
  if (buf == NULL) {
    close(fd);
    return luaL_error(L, "not enough memory");
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  newline = memchr(buf, '\n', got);
  if (newline == NULL || newline == buf + got - 1) {
    fs_wipe(buf, got);
    free(buf);
    return fail(L, "io", "%s is not a token cache file", path);
  }
  {
    size_t header_len = (size_t)(newline - buf), secret_len = got - header_len - 1;
    if (fs_secret_alloc(s, secret_len) != 0) {
      fs_wipe(buf, got);
      free(buf);
      return luaL_error(L, "not enough memory");
    }
    memcpy(s->data, newline + 1, secret_len);
    s->header_safe = !fs_has_ctl(s->data, secret_len);
    fs_wipe(buf + header_len, got - header_len);
    lua_pushlstring(L, buf, header_len); /* may raise: buf then leaks only the header */
    free(buf);
  }
  lua_insert(L, -2); /* header, secret */
  return 2;
}

/* Writes all of len bytes; returns 0 or -1 (errno set). */
static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* core.private_write(path, temp_path, header, secret) -> true | nil, message, "io": writes the
 * header line and the secret's bytes to temp_path (created new, mode 0600, never through a
 * symbolic link), syncs it, and renames it to path. temp_path is removed on failure. */
static int private_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *temp = luaL_checkstring(L, 2);
  size_t header_len;
  const char *header = luaL_checklstring(L, 3, &header_len);
  fs_secret *s = fs_secret_test(L, 4);
  int fd, failed, e;
  luaL_argcheck(L, s != NULL, 4, "expected a secret");
  if (s->data == NULL) return luaL_error(L, "attempt to use a wiped secret");
  luaL_argcheck(L, memchr(header, '\n', header_len) == NULL, 3, "the header must be one line");
  fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(L, "io", "cannot create %s: %s", temp, strerror(errno));
  failed = fchmod(fd, 0600) != 0 || write_all(fd, header, header_len) != 0 || write_all(fd, "\n", 1) != 0 ||
           write_all(fd, s->data, s->len) != 0 || fsync(fd) != 0;
  e = errno;
  if (close(fd) != 0 && !failed) {
    failed = 1;
    e = errno;
  }
  if (!failed && rename(temp, path) != 0) {
    failed = 1;
    e = errno;
  }
  if (failed) {
    unlink(temp);
    return fail(L, "io", "cannot write %s: %s", path, strerror(e));
  }
  lua_pushboolean(L, 1);
  return 1;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* core.hash64(string [, secret]) -> 16 hex digits: FNV-1a, 64 bits, over the string and then the
 * secret's bytes. Names a cache file after its key and the client secret, so a token is only
 * ever found with the secret that got it; not a cryptographic hash (the file repeats the key,
 * and a mismatch is a miss). 64 bits say next to nothing of a client secret of 30 or more
 * random characters, and the name is in a directory of mode 0700 with the token itself. */
static int hash64(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  uint64_t h = fnv1a(14695981039346656037ULL, p, len);
  char hex[17];
  if (!lua_isnoneornil(L, 2)) {
    fs_secret *s = luaL_checkudata(L, 2, FS_SECRET_MT);
    if (s->data == NULL) return luaL_error(L, "attempt to use a wiped secret");
    h = fnv1a(h, (const unsigned char *)s->data, s->len);
  }
  (void)snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  lua_pushstring(L, hex);
  return 1;
}

static const luaL_Reg private_file_functions[] = {
    {"private_dir", private_dir},
    {"private_read", private_read},
    {"private_write", private_write},
    {"hash64", hash64},
    {NULL, NULL},
};

void fs_private_file_register(lua_State *L) {
  luaL_setfuncs(L, private_file_functions, 0);
}
