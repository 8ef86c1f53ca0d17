-- Mutants of the JSON rules (docs/LIBRARY.md: flowservice.json): exact integers both ways, strict UTF-8
-- both ways, no NaN or infinities. Format: see the header of mutants/run.lua.
return {
  { id = "decode_exact", file = "src/json_decode.c",
    from = [[if (v > -EXACT && v < EXACT && v == floor(v))]], to = [[if (v == floor(v))]],
    breaks = "numbers at or above 2^53 (maybe rounded) come back as integers",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "decode_inf", file = "src/json_decode.c",
    from = [[      if (isinf(v)) {]], to = [[      if (0) {]],
    breaks = "1e400 decodes as infinity instead of an error",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "decode_surrogates", file = "src/json_decode.c",
    from = [[else if (c == 0xED) hi = 0x9F; /* surrogates */]], to = [[else if (c == 0xED) hi = 0xBF;]],
    breaks = "UTF-8 encoded surrogates pass the decoder's check",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "decode_overlong", file = "src/json_decode.c",
    from = [[if (c == 0xF0) lo = 0x90;      /* overlong */]], to = [[if (c == 0xF0) lo = 0x80;]],
    breaks = "overlong 4-byte UTF-8 passes the decoder's check",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "encode_surrogates", file = "src/json_encode.c",
    from = [[    else if (c == 0xED) hi = 0x9F;
]], to = [[    else if (c == 0xED) hi = 0xBF;
]],
    breaks = "the encoder writes UTF-8 encoded surrogates",
    specs = { "spec/json_encode_spec.lua" } },
  { id = "encode_inf", file = "src/json_encode.c",
    from = [[if (isnan(d) || isinf(d)) return fail]], to = [[if (isnan(d)) return fail]],
    breaks = "the encoder writes infinities (invalid JSON)",
    specs = { "spec/json_encode_spec.lua" } },
  { id = "encode_integers", file = "src/json_encode.c",
    from = [[if (lua_isinteger(L, idx)) return put_integer(e, lua_tointeger(L, idx));]],
    to = [[if (0) return put_integer(e, lua_tointeger(L, idx));]],
    breaks = "integers are written as floats (10000.0), and those past 2^53 lose digits",
    specs = { "spec/json_encode_spec.lua" } },
  { id = "encode_float_mark", file = "src/json_encode.c",
    from = [[        if (k == 0) {
          *--end = '0';
          *--end = '.';
        }]], to = "",
    breaks = "a whole float is written like an integer (10000 for 10000.0)",
    specs = { "spec/json_encode_spec.lua" } },
  { id = "decode_range_ignored", file = "lua/flowservice/json.lua",
    from = [[    if not integers(value) then return nil, "number out of range" end
    return value]], to = [[    integers(value)
    return value]],
    breaks = "a number out of range in a response is not an error",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "decode_utf8_skipped", file = "lua/flowservice/json.lua",
    from = [[if not utf8_valid(text) then]], to = [[if not utf8_valid("") then]],
    breaks = "invalid UTF-8 in a response is passed through",
    specs = { "spec/json_decode_spec.lua" } },
  { id = "decode_nan", file = "lua/flowservice/json.lua",
    from = [[cjson.decode_invalid_numbers(false)]], to = [[cjson.decode_invalid_numbers(true)]],
    breaks = "NaN, Infinity and hex numbers in a response decode",
    specs = { "spec/json_decode_spec.lua" } },
}
