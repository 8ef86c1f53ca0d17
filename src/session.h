/* Session userdata: one libcurl easy handle reused across requests (keep-alive). */
#ifndef FLOWSERVICE_SESSION_H
#define FLOWSERVICE_SESSION_H

#include <stddef.h>

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"
#include "request.h"

#define FS_SESSION_MT "flowservice.core.session"

/* Response limits: body size is per session (max_response_size); these are fixed. */
#define FS_MAX_RESPONSE_HEADERS 100
#define FS_MAX_RESPONSE_HEADER_BYTES (64 * 1024)
/* Request limits: see request.h. */

typedef struct fs_header_item {
  size_t name_off, name_len, value_off, value_len; /* into hdr_data */
} fs_header_item;

/* One easy handle and what its transfers need: the session userdata, and each transfer
 * slot of a multi (multi.c), which clones a session with fs_session_clone. */
typedef struct fs_session {
  CURL *curl;            /* NULL once closed; requests are set up on it */
  CURL *xfer;            /* the handle the current or last transfer runs on: curl, or a fresh copy
                          * of it (fs_fresh_handles); NULL when there is none */
  CURLSH *share;         /* fresh copies share the connection, TLS session and DNS caches through
                          * it (a session userdata's, with fs_fresh_handles; NULL otherwise) */
  int busy;              /* its results are being pushed (fs_session_push_guarded): a close waits
                          * until they are, any other use raises */
  int close_pending;     /* close was called while busy */
  fs_buffer req_headers; /* the request's curl_slist, laid out by fs_request_build; wiped */
  fs_buffer req_body;    /* a body given as pieces, joined by fs_request_build; wiped */
  fs_buffer body;        /* response body, capped at max_response_size */
  fs_buffer hdr_data;    /* response header names (lower-cased) and values */
  fs_header_item hdrs[FS_MAX_RESPONSE_HEADERS];
  unsigned nhdrs;
  size_t hdr_bytes; /* raw header bytes received for this request, 1xx included */
  int hdr_ended;    /* the last header block ended with its blank line (see header_cb) */
  int failure;      /* why a callback aborted the transfer */
  long connect_timeout_ms, timeout_ms;
  size_t max_response_size;
  fs_resend_guard guard; /* refuses libcurl's own second send (request.c) */
  fs_applied applied;    /* per-request options last set on curl (request.c) */
  fs_default_headers defaults; /* User-Agent and Accept-Encoding lines (malloc'd, or NULL) */
  char errbuf[CURL_ERROR_SIZE];
} fs_session;

/* libcurl before 8.1.0 reads freed memory when a reused easy handle receives a response whose
 * first header line is a folded continuation (curl PR #11103: the previous transfer's last
 * header stays its "previous header"). Where that holds, every transfer runs on a fresh copy
 * of the handle (curl_easy_duphandle), and the copies keep one connection per host through a
 * share handle (a session) or the multi handle's cache (a multi). Set once, by luaopen. */
extern int fs_fresh_handles;
/* Decides fs_fresh_handles from the running libcurl (FLOWSERVICE_CURL_HANDLES=fresh forces the
 * fresh path, for measurements); returns it. */
int fs_choose_handle_mode(void);

/* Creates the session metatable (once per Lua state); leaves the stack unchanged. */
void fs_session_register(lua_State *L);
/* core.session([opts]) -> session */
int fs_session_new(lua_State *L);
/* core.type(x) -> "session" | "closed session" | "secret" | "wiped secret" | nil */
int fs_session_type(lua_State *L);

/* For multi.c; none of these calls Lua. */
/* Makes dst a session with its own buffers and a copy of src's handle (every option, by
 * curl_easy_duphandle; callbacks bound to dst, which must not move). Returns 0, or -1 when
 * out of memory (fs_session_release must follow either way). */
int fs_session_clone(fs_session *dst, const fs_session *src);
/* Frees the handle (closing its connections) and the buffers; idempotent. */
void fs_session_release(fs_session *s);
/* The handle to perform this transfer on, after fs_request_set_options on s->curl: s->curl
 * itself, or (fs_fresh_handles) a fresh copy of it with s->share; NULL when out of memory.
 * It stays s->xfer until fs_session_drop_transfer. */
CURL *fs_session_transfer_handle(fs_session *s);
/* Frees a fresh copy made for the last transfer (after its results are pushed); idempotent. */
void fs_session_drop_transfer(fs_session *s);
/* Before a transfer, after fs_request_build: empties the response state; wipe: the
 * response may hold a token (capture). */
void fs_session_begin(fs_session *s, int wipe);
/* After the transfer (or a failed build): see fs_request_release (wipes the request's
 * buffers). */
void fs_session_end(fs_session *s);
/* Pushes what session:request returns for a transfer that ended with rc (performed: libcurl
 * ran it on s->xfer, so its counters are this transfer's) and returns how many values it
 * pushed (counted from the stack, in this one place): status, headers, body, info (with
 * info.captured: the empty secret at capture_slot, filled from the member `capture`, when
 * capture_slot is not 0), or the failure values. Allocates, so finalizers may run: the owner
 * of s must be marked busy (fs_session_push_guarded does that for a session; a multi marks
 * itself). */
int fs_session_push_result(lua_State *L, fs_session *s, CURLcode rc, int performed, const char *capture,
                           size_t capture_len, int capture_slot);

/* Keeps fn in the registry under the address key, for fs_busy_pcall: pushing it from there
 * allocates nothing (lua_pushcfunction does on Lua 5.1 and LuaJIT, and a finalizer may run
 * in any allocation). */
void fs_register_protected(lua_State *L, char *key, lua_CFunction fn);
/* Calls the function registered under key as a protected call with copies of the n values at
 * stack slots first.. and then the light userdata ud as its arguments, while *busy is set, so
 * that a finalizer running in its allocations finds the owner in use. Clears *busy whatever
 * happens. Returns lua_pcall's status, with the results (or the error) on top. */
int fs_busy_pcall(lua_State *L, char *key, int first, int n, void *ud, int *busy);
/* fs_session_push_result, as a protected call while s is busy; then a close that waited is
 * done, the fresh handle dropped, and an error raised again. Returns the number of results. */
int fs_session_push_guarded(lua_State *L, fs_session *s, CURLcode rc, int performed, const char *capture,
                            size_t capture_len, int capture_slot);

#endif
