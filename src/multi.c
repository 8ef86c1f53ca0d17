/* flowservice.core multi: up to `concurrency` requests in flight at once over libcurl's
 * multi interface (contract: docs/DESIGN.md, "C core"). Every transfer runs on a clone of
 * the session's easy handle (fs_session_clone), so it has exactly the session's options,
 * limits and checks; the request table is read, checked and laid out by request.c and the
 * response is pushed by session.c, as for session:request.
 *
 * Rules this file keeps (those of session.c):
 *  - lifecycle as in liolib: the userdata exists "closed" before anything is allocated;
 *    one idempotent finalizer serves close, __gc and __close and aborts what is in flight;
 *  - validate everything first (m:start raises before anything is sent), allocate second;
 *  - libcurl callbacks are session.c's: C buffers only, never Lua. curl_multi_perform and
 *    curl_multi_poll run with no Lua value under construction;
 *  - the buffers that held secret bytes are wiped when a transfer ends (fs_session_end),
 *    also when it is aborted.
 * Slots are reused: a slot keeps its easy handle (and so its TLS session cache) between
 * transfers; connections live in the multi handle's cache, shared by all slots. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "multi.h"
#include "request.h"
#include "secret.h"
#include "session.h"

enum { SLOT_FREE, SLOT_RUNNING, SLOT_DONE };

/* Lua values a transfer needs until its result is pushed, in the multi's anchor table
 * (its user value) at ANCHOR(slot, what). */
enum { A_KEY = 1, A_BODY, A_CAPTURE, A_SECRET, ANCHORS_PER_SLOT = 4 };
#define ANCHOR(i, what) ((lua_Integer)(i) * ANCHORS_PER_SLOT + (what))

typedef struct slot {
  fs_session easy; /* easy.curl is NULL until the slot is first used */
  int state;
  int performed;       /* handed to libcurl (else rc came from setting options) */
  CURLcode rc;         /* SLOT_DONE: how the transfer ended */
  const char *capture; /* the anchored member name to capture, or NULL */
  size_t capture_len;
} slot;

typedef struct fs_multi {
  CURLM *multi;        /* NULL once closed */
  int busy;            /* in m:start's or m:wait's Lua allocations: a close waits, other uses raise */
  int close_pending;   /* close was called while busy */
  fs_session template; /* a clone of the session's handle, never performed: slots copy it */
  slot *slots;         /* `size` of them */
  int size, pending;   /* pending: started, result not yet returned */
} fs_multi;

/* ---- lifecycle -------------------------------------------------------------------- */

static fs_multi *check_multi(lua_State *L) {
  fs_multi *m = luaL_checkudata(L, 1, FS_MULTI_MT);
  if (m->multi == NULL) luaL_error(L, "attempt to use a closed multi");
  if (m->busy) luaL_error(L, "attempt to use a multi while it starts a transfer or makes results (from a finalizer?)");
  return m;
}

/* close == __gc == __close; idempotent. Aborts transfers in flight (their buffers are
 * wiped) and closes every connection. The order is libcurl's: remove each easy handle
 * from the multi, clean them up, then the multi. */
static void release(lua_State *L, fs_multi *m);

static int multi_close(lua_State *L) {
  fs_multi *m = luaL_checkudata(L, 1, FS_MULTI_MT);
  if (m->busy) /* a finalizer, while m:start or m:wait reads the slots: done when they return */
    m->close_pending = 1;
  else
    release(L, m);
  lua_pushboolean(L, 1);
  return 1;
}

/* What close does; the multi is at stack slot 1. */
static void release(lua_State *L, fs_multi *m) {
  if (m->slots != NULL) {
    int i;
    for (i = 0; i < m->size; i++) {
      slot *s = &m->slots[i];
      if (s->state == SLOT_RUNNING) {
        curl_multi_remove_handle(m->multi, s->easy.xfer);
        fs_session_end(&s->easy); /* wipes the request's buffers */
      }
      fs_session_release(&s->easy);
    }
    free(m->slots);
    m->slots = NULL;
  }
  fs_session_release(&m->template);
  if (m->multi != NULL) {
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
  }
  m->pending = 0;
  lua_pushnil(L); /* drops every anchored key, body and secret */
  lua_setiuservalue(L, 1, 1);
}

/* After m:start's or m:wait's protected part: a close that waited is done now, and an error
 * is raised again. */
static void finish_busy(lua_State *L, fs_multi *m, int status) {
  if (m->close_pending) {
    m->close_pending = 0;
    release(L, m);
  }
  if (status != LUA_OK) lua_error(L);
}

static int multi_tostring(lua_State *L) {
  fs_multi *m = luaL_checkudata(L, 1, FS_MULTI_MT);
  if (m->multi == NULL)
    lua_pushliteral(L, FS_MULTI_MT " (closed)");
  else
    lua_pushfstring(L, FS_MULTI_MT " (%p)", (void *)m);
  return 1;
}

/* Multi options: at most `size` connections in all and per host (so `size` transfers are
 * what the server sees at most), kept alive; HTTP/2 streams share one connection when the
 * server offers it. */
static CURLMcode set_multi_options(CURLM *multi, long size) {
  CURLMcode rc = CURLM_OK;
#define SET(opt, val) \
  if (rc == CURLM_OK) rc = curl_multi_setopt(multi, opt, val)
  SET(CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  SET(CURLMOPT_MAX_HOST_CONNECTIONS, size);
  SET(CURLMOPT_MAX_TOTAL_CONNECTIONS, size);
  SET(CURLMOPT_MAXCONNECTS, size);
#undef SET
  return rc;
}

/* What a multi's transfers add to the session's options: HTTP/2 over TLS when the server
 * offers it (plain http stays HTTP/1.1). */
static CURLcode set_template_options(CURL *c) {
  return curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
}

/* Over https, a transfer waits for a connection being set up that may multiplex (HTTP/2)
 * rather than opening another one; plain http is HTTP/1.1, where waiting would only
 * serialise the first transfers. */
static CURLcode set_pipewait(CURL *c, const char *url) {
  return curl_easy_setopt(c, CURLOPT_PIPEWAIT, (long)(strncasecmp(url, "https:", 6) == 0));
}

/* session:multi(concurrency) */
int fs_multi_new(lua_State *L) {
  fs_session *session = luaL_checkudata(L, 1, FS_SESSION_MT);
  lua_Integer size = luaL_checkinteger(L, 2);
  fs_multi *m;
  if (session->curl == NULL) return luaL_error(L, "attempt to use a closed session");
  if (session->busy) return luaL_error(L, "attempt to use a session while its last request's results are being made (from a finalizer?)");
  luaL_argcheck(L, size >= 1 && size <= FS_MULTI_MAX_CONCURRENCY, 2, "concurrency must be from 1 to 64");

  /* a closed multi first, so its __gc owns whatever follows */
  m = lua_newuserdatauv(L, sizeof *m, 1);
  memset(m, 0, sizeof *m);
  luaL_setmetatable(L, FS_MULTI_MT);
  lua_createtable(L, (int)size * ANCHORS_PER_SLOT, 0);
  lua_setiuservalue(L, -2, 1);

  /* the allocations above may have run a finalizer that closed the session */
  /* cppcheck-suppress knownConditionTrueFalse ; a finalizer may have closed it meanwhile */
  if (session->curl == NULL || session->busy) return luaL_error(L, "attempt to use a closed session");
  m->slots = calloc((size_t)size, sizeof *m->slots);
  if (m->slots == NULL) return luaL_error(L, "not enough memory");
  m->size = (int)size;
  if (fs_session_clone(&m->template, session) != 0) return luaL_error(L, "not enough memory");
  if (set_template_options(m->template.curl) != CURLE_OK)
    return luaL_error(L, "cannot configure libcurl for HTTP/2");
  m->multi = curl_multi_init();
  if (m->multi == NULL) return luaL_error(L, "cannot create a libcurl multi handle");
  if (set_multi_options(m->multi, (long)size) != CURLM_OK) {
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
    return luaL_error(L, "cannot configure the libcurl multi handle");
  }
  return 1;
}

/* ---- anchors ---------------------------------------------------------------------- */

/* anchors[ANCHOR(i, what)] = value at idx (nil clears it). */
static void anchor(lua_State *L, int i, int what, int idx) {
  idx = lua_absindex(L, idx);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, ANCHOR(i, what));
  lua_pop(L, 1);
}

static void push_anchor(lua_State *L, int i, int what) {
  lua_getiuservalue(L, 1, 1);
  lua_rawgeti(L, -1, ANCHOR(i, what));
  lua_remove(L, -2);
}

static void clear_anchors(lua_State *L, int i) {
  int what;
  lua_getiuservalue(L, 1, 1);
  for (what = A_KEY; what <= A_SECRET; what++) {
    lua_pushnil(L);
    lua_rawseti(L, -2, ANCHOR(i, what));
  }
  lua_pop(L, 1);
}

/* Anchors the request field `name` (read raw, as request.c did) when it is a string. */
static void anchor_string_field(lua_State *L, int i, int what, const char *name) {
  lua_pushstring(L, name);
  if (lua_rawget(L, 2) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  anchor(L, i, what, -1);
  lua_pop(L, 1);
}

/* ---- start ------------------------------------------------------------------------ */

static int free_slot(const fs_multi *m) {
  int i;
  for (i = 0; i < m->size; i++)
    if (m->slots[i].state == SLOT_FREE) return i;
  return -1;
}

/* The Lua values the transfer in slot i needs until its result is pushed, anchored: the key,
 * a string body (libcurl reads it in place), the capture name and the empty secret a capture
 * fills. These allocate, so they are made before the request is read (fs_request_read: nothing
 * may allocate after it), as a protected call while the multi is busy. Arguments: the multi,
 * the request, the key and a pointer to the slot index (a light userdata). */
static char anchor_slot_key; /* registry keys (fs_register_protected) */
static char push_finished_key;

static int anchor_slot(lua_State *L) {
  int i = *(const int *)lua_touserdata(L, 4);
  lua_settop(L, 3);
  luaL_checkstack(L, 4, NULL);
  anchor(L, i, A_KEY, 3);
  anchor_string_field(L, i, A_BODY, "body");
  anchor_string_field(L, i, A_CAPTURE, "capture");
  lua_pushliteral(L, "capture");
  if (lua_rawget(L, 2) != LUA_TNIL) /* raw, as fs_request_read reads it */
    fs_secret_push_empty(L);
  else
    lua_pushnil(L);
  anchor(L, i, A_SECRET, -1);
  return 0;
}

/* m:start(request, key) -> true, or false when every slot is taken (wait first). The request
 * table is session:request's; it is checked before anything is sent (violations raise). The
 * key (any value but nil) comes back with the result.
 * A transfer that fails at once (say, an option libcurl refuses) still starts: its failure
 * comes back from m:wait like any other. */
static int multi_start(lua_State *L) {
  fs_multi *m = check_multi(L);
  fs_request r;
  struct curl_slist *headers;
  slot *s;
  CURL *h = NULL;
  int i, status;

  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_argcheck(L, !lua_isnoneornil(L, 3), 3, "key must not be nil");
  lua_settop(L, 3);
  i = free_slot(m);
  if (i < 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  /* 1. Lua allocations; a request that raises below leaves them in a free slot, until the
   *    slot is reused */
  status = fs_busy_pcall(L, &anchor_slot_key, 1, 3, &i, &m->busy);
  finish_busy(L, m, status);
  if (m->multi == NULL) return luaL_error(L, "attempt to use a multi closed while it started a transfer");
  s = &m->slots[i]; /* read after the allocations: a pointer kept across them could dangle */

  /* 2. validate: raises on a bad request; allocates nothing. From here until the transfer has
   *    started or failed, no Lua allocation (r points at secrets' bytes) */
  fs_request_read(L, &r, 0);

  /* 3. C allocations: the slot's handle on first use, the header list and body */
  if (s->easy.curl == NULL && fs_session_clone(&s->easy, &m->template) != 0) {
    fs_session_release(&s->easy);
    return luaL_error(L, "not enough memory");
  }
  if (fs_request_build(&r, &s->easy.req_headers, &s->easy.req_body, &s->easy.defaults, &headers) != 0) {
    fs_session_end(&s->easy);
    return luaL_error(L, "not enough memory");
  }

  /* 4. start */
  fs_session_begin(&s->easy, r.capture != NULL);
  s->capture = r.capture;
  s->capture_len = r.capture_len;
  s->performed = 0;
  s->rc = fs_request_set_options(s->easy.curl, &r, headers, s->easy.timeout_ms, &s->easy.guard,
                                 &s->easy.applied);
  if (s->rc == CURLE_OK) s->rc = set_pipewait(s->easy.curl, r.url);
  if (s->rc == CURLE_OK) s->rc = curl_easy_setopt(s->easy.curl, CURLOPT_PRIVATE, (void *)s);
  if (s->rc == CURLE_OK && (h = fs_session_transfer_handle(&s->easy)) == NULL) s->rc = CURLE_OUT_OF_MEMORY;
  if (s->rc == CURLE_OK) {
    CURLMcode mrc = curl_multi_add_handle(m->multi, h);
    if (mrc != CURLM_OK) {
      fs_session_end(&s->easy);
      fs_session_drop_transfer(&s->easy);
      clear_anchors(L, i);
      lua_pushboolean(L, 0);
      lua_pushstring(L, curl_multi_strerror(mrc));
      return 2;
    }
    s->performed = 1;
    s->state = SLOT_RUNNING;
  } else {
    fs_session_end(&s->easy);
    s->state = SLOT_DONE;
  }
  m->pending++;
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- wait ------------------------------------------------------------------------- */

/* Moves every transfer libcurl reports finished to SLOT_DONE; returns how many. No Lua. */
static int collect(fs_multi *m) {
  CURLMsg *msg;
  int left, done = 0;
  while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
    slot *s = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)(void *)&s);
    s->rc = msg->data.result; /* read before removing: msg points into the handle */
    curl_multi_remove_handle(m->multi, s->easy.xfer);
    fs_session_end(&s->easy); /* wipes the request's buffers */
    s->state = SLOT_DONE;
    done++;
  }
  return done;
}

static int count_state(const fs_multi *m, int state) {
  int i, n = 0;
  for (i = 0; i < m->size; i++) n += m->slots[i].state == state;
  return n;
}

/* Drives the transfers until one is done or timeout_ms passes (< 0: no limit). No Lua. */
static CURLMcode drive(fs_multi *m, double timeout_ms) {
  struct timespec start, now;
  CURLMcode rc;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int running;
    double elapsed, left;
    rc = curl_multi_perform(m->multi, &running);
    if (rc != CURLM_OK) return rc;
    if (collect(m) > 0 || count_state(m, SLOT_RUNNING) == 0) return CURLM_OK;
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed = (double)(now.tv_sec - start.tv_sec) * 1e3 + (double)(now.tv_nsec - start.tv_nsec) / 1e6;
    left = timeout_ms < 0 ? 1000.0 : timeout_ms - elapsed;
    if (left <= 0) return CURLM_OK;
    rc = curl_multi_poll(m->multi, NULL, 0, (int)ceil(left > 1000.0 ? 1000.0 : left), NULL);
    if (rc != CURLM_OK) return rc;
  }
}

/* Pushes { key, <what session:request returns>, n = count } for the finished slot i and
 * frees the slot. The multi is at stack slot 1 and busy (m:wait). */
static void push_done(lua_State *L, fs_multi *m, int i) {
  slot *s = &m->slots[i];
  int base, secret_slot = 0, n, k;
  luaL_checkstack(L, 4, "pushing a batch result");
  lua_createtable(L, 6, 1);
  base = lua_gettop(L);
  if (s->capture) {
    push_anchor(L, i, A_SECRET);
    secret_slot = lua_gettop(L);
  }
  n = fs_session_push_result(L, &s->easy, s->rc, s->performed, s->capture, s->capture_len, secret_slot);
  for (k = n; k >= 1; k--) lua_rawseti(L, base, k + 1);
  lua_settop(L, base); /* the secret, if any */
  push_anchor(L, i, A_KEY);
  lua_rawseti(L, base, 1);
  lua_pushinteger(L, n + 1);
  lua_setfield(L, base, "n");
  fs_session_drop_transfer(&s->easy);
  s->state = SLOT_FREE;
  s->capture = NULL;
  m->pending--;
  clear_anchors(L, i);
}

/* The list of finished transfers (m:wait's result), as a protected call while the multi is
 * busy: a finalizer that runs in these allocations cannot free the slots being read.
 * Arguments: the multi and the fs_multi (a light userdata). */
static int push_finished(lua_State *L) {
  fs_multi *m = lua_touserdata(L, 2);
  int i, k = 0;
  lua_settop(L, 1);
  lua_createtable(L, count_state(m, SLOT_DONE), 0);
  for (i = 0; i < m->size; i++) {
    if (m->slots[i].state != SLOT_DONE) continue;
    push_done(L, m, i);
    lua_rawseti(L, 2, ++k);
  }
  return 1;
}

/* m:wait([timeout]) -> list of finished transfers, each { key, status, headers, body, info }
 * or { key, nil, message, curl_name, info } (with n), as soon as at least one is done or
 * timeout seconds have passed (nil: no limit; an empty list then means nothing is pending). */
static int multi_wait(lua_State *L) {
  fs_multi *m = check_multi(L);
  double timeout_ms = -1;
  CURLMcode rc;
  int status;
  if (!lua_isnoneornil(L, 2)) {
    lua_Number t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t >= 0 && t <= 86400, 2, "expected seconds between 0 and 86400");
    timeout_ms = (double)t * 1e3;
  }
  lua_settop(L, 1);
  if (count_state(m, SLOT_DONE) == 0 && count_state(m, SLOT_RUNNING) > 0) {
    rc = drive(m, timeout_ms);
    if (rc != CURLM_OK) return luaL_error(L, "libcurl multi error: %s", curl_multi_strerror(rc));
  }
  status = fs_busy_pcall(L, &push_finished_key, 1, 1, m, &m->busy);
  finish_busy(L, m, status);
  return 1;
}

/* m:pending() -> transfers started whose results m:wait has not returned yet */
static int multi_pending(lua_State *L) {
  fs_multi *m = check_multi(L);
  lua_pushinteger(L, m->pending);
  return 1;
}

/* ---- registration ----------------------------------------------------------------- */

static const luaL_Reg multi_methods[] = {
    {"start", multi_start},
    {"wait", multi_wait},
    {"pending", multi_pending},
    {"close", multi_close},
    {NULL, NULL},
};

static const luaL_Reg multi_metamethods[] = {
    {"__index", NULL}, /* set to the methods table below */
    {"__gc", multi_close},
    {"__close", multi_close},
    {"__tostring", multi_tostring},
    {NULL, NULL},
};

void fs_multi_register(lua_State *L) {
  if (luaL_newmetatable(L, FS_MULTI_MT)) {
    fs_register_protected(L, &anchor_slot_key, anchor_slot);
    fs_register_protected(L, &push_finished_key, push_finished);
    luaL_setfuncs(L, multi_metamethods, 0);
    luaL_newlibtable(L, multi_methods);
    luaL_setfuncs(L, multi_methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}
