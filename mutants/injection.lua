-- Mutants of the header and URL injection rules (docs/SECURITY.md: Header injection): CR, LF
-- and NUL refused in header values (C: 8 bytes at a time, then byte by byte), header names
-- that are RFC 9110 tokens, no spaces or controls in URLs, the client's own checks before the
-- core's. Format: see the header of mutants/run.lua.
return {
  { id = "ctl_tail_cr", file = "src/request.c",
    from = [[if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;]],
    to = [[if (s[i] == '\n' || s[i] == '\0') return 1;]],
    breaks = "a CR in the last 1-7 bytes of a header value splits the header",
    specs = { "spec/core_spec.lua", "spec/core_guards_spec.lua" } },
  { id = "ctl_tail_loop", file = "src/request.c",
    from = [[  for (; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;]], to = [[  return 0;]],
    breaks = "the last 1-7 bytes of a header value are not checked at all",
    specs = { "spec/core_spec.lua", "spec/core_guards_spec.lua" } },
  { id = "ctl_word_cr", file = "src/request.c",
    from = [[r = w ^ (ones * '\r');]], to = [[r = w ^ (ones * '\n');]],
    breaks = "a CR in the 8-byte words of a header value splits the header",
    specs = { "spec/core_spec.lua", "spec/core_guards_spec.lua" } },
  { id = "header_name_colon", file = "src/request.c",
    from = [[['.'] = 1, ['^'] = 1,]], to = [[['.'] = 1, [':'] = 1, ['^'] = 1,]],
    breaks = "a header name with ':' can smuggle a header",
    specs = { "spec/core_spec.lua" } },
  { id = "url_spaces", file = "src/request.c",
    from = [[  if (has_space_or_ctl(r->url, r->url_len))
    luaL_argerror]], to = [[  if (0)
    luaL_argerror]],
    breaks = "a URL with CR LF or spaces reaches libcurl",
    specs = { "spec/core_spec.lua" } },
  { id = "user_agent", file = "src/session.c",
    from = [[} else if (!is_field_text(cfg.user_agent, ua_len)) {]], to = [[} else if (0) {]],
    breaks = "a user_agent option with CR LF splits the request head",
    specs = { "spec/core_spec.lua", "spec/crashproof_spec.lua" } },
  { id = "client_header_value", file = "lua/flowservice/client.lua",
    from = [[if value:find("[%z\1-\31\127]") then]], to = [[if false then]],
    breaks = "option values with control characters (sandbox, org_id, ...) are not a validation error",
    specs = { "spec/client_unit_spec.lua", "spec/transport_spec.lua" } },
  { id = "reserved_headers", file = "lua/flowservice/client.lua",
    from = [[["authorization"] = true, ["x-api-key"] = true, ]], to = [[["x-api-key"] = true, ]],
    breaks = "client:request{headers=} may replace the Authorization header",
    specs = { "spec/client_unit_spec.lua" } },
}
