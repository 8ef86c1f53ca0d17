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
  CURL *curl;            /* NULL once closed */
  fs_buffer req_headers; /* the request's curl_slist, laid out by fs_request_build; wiped */
  fs_buffer req_body;    /* a body given as pieces, joined by fs_request_build; wiped */
  fs_buffer body;        /* response body, capped at max_response_size */
  fs_buffer hdr_data;    /* response header names (lower-cased) and values */
  fs_header_item hdrs[FS_MAX_RESPONSE_HEADERS];
  unsigned nhdrs;
  size_t hdr_bytes; /* raw header bytes received for this request, 1xx included */
  int failure;      /* why a callback aborted the transfer */
  long connect_timeout_ms, timeout_ms;
  size_t max_response_size;
  fs_resend_guard guard; /* refuses libcurl's own second send (request.c) */
  fs_applied applied;    /* per-request options last set on curl (request.c) */
  fs_default_headers defaults; /* User-Agent and Accept-Encoding lines (malloc'd, or NULL) */
  char errbuf[CURL_ERROR_SIZE];
} fs_session;

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
/* Before a transfer, after fs_request_build: empties the response state; wipe: the
 * response may hold a token (capture). */
void fs_session_begin(fs_session *s, int wipe);
/* After the transfer (or a failed build): see fs_request_release (wipes the request's
 * buffers). */
void fs_session_end(fs_session *s);
/* Pushes what session:request returns for a transfer that ended with rc (performed: libcurl
 * ran it, so its counters are this transfer's) and returns how many values: status,
 * headers, body, info (with info.captured: the empty secret at capture_slot, filled from the
 * member `capture`, when capture_slot is not 0), or the failure values. Calls Lua. */
int fs_session_push_result(lua_State *L, fs_session *s, CURLcode rc, int performed, const char *capture,
                           size_t capture_len, int capture_slot);

#endif
