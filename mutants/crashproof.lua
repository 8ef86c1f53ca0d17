-- Mutants of the rules that keep a server's answer or a caller's input from crashing the host
-- (docs/SECURITY.md, "Crash safety"; docs/DESIGN.md, "No pointer across an allocation"): results
-- counted in one place, a fresh libcurl handle per transfer where libcurl < 8.1.0 needs it,
-- headers the transport owns, methods compared with their length, blank header values, the
-- user_agent's length, capture at the size cap, json_integers on shared tables. Format: see the
-- header of mutants/run.lua.
return {
  { id = "header_cap_extra_value", file = "src/session.c",
    from = [[    push_failure(L, "CURLE_FILESIZE_EXCEEDED", msg);
  } else if (s->failure == FAIL_NOMEM) {]],
    to = [[    push_failure(L, "CURLE_FILESIZE_EXCEEDED", lua_pushstring(L, msg));
  } else if (s->failure == FAIL_NOMEM) {]],
    breaks = "a response with too many headers leaves an extra value among m:wait's results",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "reused_handles", file = "src/session.c",
    from = [[fs_fresh_handles = info->version_num < 0x080100 ||]], to = [[fs_fresh_handles = 0 ||]],
    breaks = "libcurl 7.88 reuses a handle whose last header was freed: a folded first line crashes",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "transport_headers_core", file = "src/request.c",
    from = [[    if (is_transport_header(name, nlen))]], to = [[    if (0)]],
    breaks = "Content-Length or Transfer-Encoding from a caller desynchronises the connection",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "transport_headers_client", file = "lua/flowservice/client.lua",
    from = [[    if TRANSPORT_HEADERS[name:lower()] then]], to = [[    if false then]],
    breaks = "client:request{headers=} passes framing headers down (the core's refusal names no rule)",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "method_nul", file = "src/request.c",
    from = [[!(strlen(methods[r->method]) == len &&
                                                 memcmp(methods[r->method], m, len) == 0)]],
    to = [[!(strcmp(methods[r->method], m) == 0)]],
    breaks = "a method with an embedded NUL (\"GET\\0x\") is taken as GET",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "blank_header_value", file = "src/request.c",
    from = [[    if (vlen > 0 && is_blank_value(r, ref))]], to = [[    if (0)]],
    breaks = "a header value of spaces only is dropped by libcurl without a word",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "user_agent_length", file = "src/session.c",
    from = [[} else if (ua_len > MAX_USER_AGENT) {]], to = [[} else if (0) {]],
    breaks = "a 5 MiB user_agent makes every request fail with a misleading 'not enough memory'",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "capture_at_cap", file = "src/session.c",
    from = [[    b->max = SIZE_MAX / 2;]], to = [[    (void)0;]],
    breaks = "a token in a body that fills max_response_size comes back as a plain Lua string",
    specs = { "spec/crashproof_spec.lua" } },
  { id = "json_integers_shared", file = "src/json_decode.c",
    from = [[    if (lua_rawget(L, SEEN) != LUA_TNIL) {]], to = [[    if (0) {]],
    breaks = "json_integers walks a table shared by many paths once per path (exponential)",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "private_read_fifo", file = "src/private_file.c",
    from = [[O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK]], to = [[O_RDONLY | O_NOFOLLOW | O_CLOEXEC]],
    breaks = "a FIFO at the token cache's path makes the reader wait for a writer (the host hangs)",
    specs = { "spec/token_cache_spec.lua" } },
}
