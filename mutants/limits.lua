-- Mutants of the response limits (docs/SECURITY.md: Response limits): bodies over
-- max_response_size, more than 100 headers or 64 KiB of them refused while receiving.
-- Format: see the header of mutants/run.lua.
return {
  { id = "header_bytes", file = "src/session.c",
    from = [[if (s->hdr_bytes > (size_t)FS_MAX_RESPONSE_HEADER_BYTES) goto failed;]], to = [[(void)0;]],
    breaks = "response header bytes that are not kept (white space) are not counted against the limit",
    specs = { "spec/core_spec.lua", "spec/core_guards_spec.lua" } },
  { id = "header_count", file = "src/session.c",
    from = [[if (s->nhdrs == FS_MAX_RESPONSE_HEADERS) goto failed;]],
    to = [[if (s->nhdrs == FS_MAX_RESPONSE_HEADERS * 2) goto failed;]],
    breaks = "more than 100 response headers are accepted",
    specs = { "spec/core_spec.lua" } },
  { id = "body_write", file = "src/session.c",
    from = [[  s->failure = rc == FS_BUF_FULL ? FAIL_BODY : FAIL_NOMEM;
  return 0;]], to = [[  s->failure = rc == FS_BUF_FULL ? FAIL_BODY : FAIL_NOMEM;
  return n;]],
    breaks = "a chunked body past max_response_size is dropped silently instead of failing",
    specs = { "spec/core_spec.lua" } },
}
