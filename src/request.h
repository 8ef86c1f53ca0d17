/* A request table (session:request's argument) turned into what libcurl needs: checked
 * fields, the header list and the body (request.c; contract: docs/DESIGN.md, "C core"). */
#ifndef FLOWSERVICE_REQUEST_H
#define FLOWSERVICE_REQUEST_H

#include <stddef.h>

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"

/* Request limits: headers per request; pieces (strings and secrets) in header values and
 * the body together. */
#define FS_MAX_REQUEST_HEADERS 64
#define FS_MAX_REQUEST_PIECES 256
/* Longest timeout in seconds (milliseconds stay within a 32-bit long); session options too. */
#define FS_MAX_SECONDS 2147483.0

/* Bytes of a header value or body piece: a Lua string or a secret, both anchored in the
 * request table (through the headers table or a piece list) for the whole call. */
typedef struct fs_span {
  const char *data;
  size_t len;
  int header_safe; /* a secret known to hold no CR, LF or NUL: not scanned again */
} fs_span;

typedef struct fs_header_ref { /* points into the (anchored) headers table */
  const char *name;
  size_t name_len, value_len;
  int first, count; /* its value: spans first .. first + count - 1 */
} fs_header_ref;

/* Everything points into Lua values that fs_request_read leaves on the stack, so a
 * request is valid only during that call. The caller reads capture/capture_len; the
 * rest is request.c's. */
typedef struct fs_request {
  int method;
  const char *url;
  size_t url_len;
  const char *body; /* NULL: no body */
  size_t body_len;
  int body_first, body_count; /* a body given as pieces; fs_request_build joins them */
  const char *capture;        /* name of the member to capture, or NULL */
  size_t capture_len;
  long timeout_ms;            /* the field 'timeout' in milliseconds; 0: the session's */
  int resend;                 /* the field 'resend' (default 1); 0: libcurl may not send it twice */
  int has_content_type, has_expect, has_user_agent, has_accept_encoding;
  int secret_mt;              /* fs_request_read's secret_mt */
  int nheaders, nspans;
  fs_header_ref headers[FS_MAX_REQUEST_HEADERS];
  fs_span spans[FS_MAX_REQUEST_PIECES];
} fs_request;

/* A whitelisted field or option name for fs_read_fields. */
typedef struct fs_field {
  const char *name;
  size_t len;
} fs_field;

#define FS_FIELD(s) {s, sizeof(s) - 1}

/* One raw pass over the table at t: the value of names[i] goes to stack slot
 * top + 1 + i (nil when absent); any other key raises (argument arg), naming it. Reads
 * the request table here and the session's option table in session.c. */
void fs_read_fields(lua_State *L, int t, int arg, const fs_field *names, int n, const char *what,
                    const char *valid);

/* Any CR, LF or NUL in s[0..len)? (What a header line may not contain.) */
int fs_has_ctl(const char *s, size_t len);

/* Reads and validates the request table, argument 2 of the running C function, into r;
 * raises on the first violation (messages may name a header, never show a value) and
 * allocates nothing. Pushes one slot per field above the current top; they anchor every
 * string r points to. r also points at secrets' bytes, which a finalizer could wipe: so
 * nothing that allocates may run between this call and the end of the transfer (values the
 * caller needs must be pushed before). secret_mt: a pseudo-index (an upvalue) holding the
 * secret metatable, which spares a registry lookup per secret piece; 0: look it up. */
void fs_request_read(lua_State *L, fs_request *r, int secret_mt);

/* Sets up the two buffers a session keeps for its requests: header lines and a body
 * joined from pieces, both capped and wiped (they may hold secret pieces). */
void fs_request_buffers_init(fs_buffer *headers, fs_buffer *body);

/* Header lines a session sends unless the request has its own header of that name, as
 * complete lines ("User-Agent: x"); NULL for none. They go in the request's own list rather
 * than through CURLOPT_USERAGENT and CURLOPT_ACCEPT_ENCODING, for which libcurl formats the
 * line again on every request (about 8,000 instructions each). */
typedef struct fs_default_headers {
  char *user_agent, *accept_encoding;
} fs_default_headers;

/* Joins a body given as pieces into body, then lays out the header list in headers
 * (*list: NULL when there are no headers), with the lines of `defaults` the request does not
 * replace. Returns 0, or -1 when out of memory; either way fs_request_release must follow.
 * No Lua calls. */
int fs_request_build(fs_request *r, fs_buffer *headers, fs_buffer *body, const fs_default_headers *defaults,
                     struct curl_slist **list);

/* Keeps libcurl from sending a request twice by itself: when a reused connection dies
 * before any reply, libcurl sends the request again on a new connection
 * (Curl_retry_request), POST included, and the server may have acted on the first one.
 * Its pre-request callback runs once per request sent; for a request that must not be
 * sent twice the second run aborts the transfer and sets `refused`. It lives in the
 * session or multi slot, next to the handle, for the handle's life. */
typedef struct fs_resend_guard {
  int once;    /* this request must not be sent twice (the request's resend = false) */
  int sends;   /* pre-request callbacks so far in this transfer */
  int refused; /* a second send was refused: the request may have taken effect */
} fs_resend_guard;

/* Points c's pre-request callback at guard (once per handle: guard must not move). */
CURLcode fs_request_bind_guard(CURL *c, fs_resend_guard *guard);

/* What fs_request_set_options last set on a handle, so options that have not changed are
 * not set again (each curl_easy_setopt costs, and CURLOPT_URL copies the string). Lives next
 * to the handle; after fs_applied_init nothing is known, so everything is set. */
typedef struct fs_applied {
  int known;         /* the fields below are what the handle has */
  int method;        /* the last request's method ... */
  int had_body;      /* ... and whether it had a body */
  long timeout_ms;   /* CURLOPT_TIMEOUT_MS */
  fs_buffer url;     /* CURLOPT_URL, with its NUL (not wiped: a URL is no secret piece) */
} fs_applied;

void fs_applied_init(fs_applied *a);
void fs_applied_free(fs_applied *a);

/* Sets every option a request needs on c (method, URL, headers, body, total timeout: the
 * request's when it is shorter than session_timeout_ms, else that), overwriting whatever the
 * previous request set; options `applied` shows unchanged are left alone. */
CURLcode fs_request_set_options(CURL *c, const fs_request *r, struct curl_slist *list, long session_timeout_ms,
                                fs_resend_guard *guard, fs_applied *applied);

/* After the transfer (or a failed build): drops everything c held that pointed into the
 * request's Lua values and buffers, and wipes both buffers. No Lua calls. */
void fs_request_release(CURL *c, fs_buffer *headers, fs_buffer *body);

#endif
