-- Figure 5's corpus of malformed and truncated responses, built the same way by the feeder
-- (which makes the client call) and the fixture server (which serves the response), so both
-- agree on case i without sending the case over the wire.
--
--   corpus.capture(emu)              -> captured: kind -> {status, content_type, body}, taken
--                                       from a running emulator with raw HTTP
--   corpus.build(captured, stride)   -> list of cases {kind, call, status, content_type, body,
--                                       content_length, label, is_json (the body is RFC 8259
--                                       JSON)}; stride 1 = every truncation point
--   corpus.save(path, captured, stride) / corpus.load(path) -> cases (one file for both processes)
local cjson = require("cjson.safe").new()

local corpus = {}

local OSC_SPEC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local MISSING_ID = "00000000-0000-4000-8000-000000000000"

-- Which public client call receives each response kind (see corpus_feed.lua).
corpus.CALLS = {
  token = "authenticate", token_error = "authenticate",
  create = "create", create_error = "create",
  get = "get", not_found = "get", gateway_error = "get",
  list = "all",
  explore_root = "tables", explore_table = "columns", explore_preview = "preview",
  spec = "spec",
}

---------------------------------------------------------------------------------------------------
-- Capture from a real emulator
---------------------------------------------------------------------------------------------------

local function captured_response(res)
  return { status = res.status, content_type = res.headers["content-type"] or "", body = res.body }
end

local function osc_body(name)
  return {
    name = name, description = "reliability corpus",
    auth = { specName = "Basic Authentication", params = {
      host = "https://osc.example.com", username = "corpus", password = "corpus-password",
    } },
    connectionSpec = { id = OSC_SPEC_ID, version = "1.0" },
  }
end

-- Every response kind the client parses, as the emulator sends it.
function corpus.capture(emu)
  local rawhttp = require "spec.rawhttp"
  local got = {}
  got.token = captured_response(rawhttp.request(emu, "POST", "/ims/token/v3", rawhttp.FORM,
    rawhttp.token_params()))
  got.token_error = captured_response(rawhttp.request(emu, "POST", "/ims/token/v3", rawhttp.FORM,
    rawhttp.token_params { client_secret = "wrong" }))
  local api = rawhttp.api(emu, "test-corpus")
  local created = api.call("POST", "/connections", osc_body("corpus one"))
  got.create = captured_response(created)
  api.call("POST", "/connections", osc_body("corpus two"))
  local id = assert(created.json and created.json.id, "capture: create failed")
  got.create_error = captured_response(api.call("POST", "/connections", { name = "no spec" }))
  got.get = captured_response(api.call("GET", "/connections/" .. id))
  got.not_found = captured_response(api.call("GET", "/connections/" .. MISSING_ID))
  got.gateway_error = captured_response(api.call("GET", "/connections", nil, { Authorization = false }))
  got.list = captured_response(api.call("GET", "/connections?limit=1"))
  local root = api.call("GET", "/connections/" .. id .. "/explore?objectType=root")
  got.explore_root = captured_response(root)
  local table_path = assert(root.json and root.json[1] and root.json[1].path, "capture: no tables")
  local object = rawhttp.form { { "objectType", "table" }, { "object", table_path } }
  got.explore_table = captured_response(api.call("GET", "/connections/" .. id .. "/explore?" .. object))
  got.explore_preview = captured_response(api.call("GET", "/connections/" .. id .. "/explore?" .. object
    .. "&preview=true"))
  got.spec = captured_response(api.call("GET", "/connectionSpecs/" .. OSC_SPEC_ID))
  for kind, res in pairs(got) do
    assert(res.body ~= "", "capture: empty body for " .. kind)
  end
  return got
end

---------------------------------------------------------------------------------------------------
-- Cases
---------------------------------------------------------------------------------------------------

local JSON = "application/json"

-- Sorted kinds, so case numbering is the same in every process.
local function kinds_of(captured)
  local kinds = {}
  for kind in pairs(captured) do kinds[#kinds + 1] = kind end
  table.sort(kinds)
  return kinds
end

-- Every prefix of each body (lengths 0 .. #body - 1, every `stride`-th, plus the last), once
-- announced with the full Content-Length (the connection closes early) and once with a
-- Content-Length that matches what is sent; and the whole body as a control.
local function truncations(cases, captured, stride)
  for _, kind in ipairs(kinds_of(captured)) do
    local r = captured[kind]
    local call = corpus.CALLS[kind]
    local full = #r.body
    local function add(label, body, length)
      cases[#cases + 1] = { kind = kind, call = call, status = r.status, content_type = r.content_type,
        body = body, content_length = length, label = label }
    end
    add(kind .. " whole", r.body, full)
    cases[#cases].is_json = true
    for cut = 0, full - 1 do
      if cut % stride == 0 or cut == full - 1 then
        local prefix = r.body:sub(1, cut)
        add(kind .. " cut " .. cut .. " of " .. full .. ", full length", prefix, full)
        add(kind .. " cut " .. cut .. " of " .. full .. ", matching length", prefix, cut)
      end
    end
  end
end

local function nest(depth, open, close, inner)
  return open:rep(depth) .. (inner or "") .. close:rep(depth)
end

-- Numbers RFC 8259 allows (however a decoder may round them).
local VALID_NUMBERS = {
  ["1e400"] = true, ["-1e400"] = true, ["1e-400"] = true, ["123456789012345678901234567890"] = true,
  ["9223372036854775808"] = true, ["-9223372036854775809"] = true, ["9007199254740993"] = true,
}

-- Bodies that are malformed as a whole, or valid JSON of an unexpected shape or size:
-- list of {label, body, is_json} (served 200, application/json, to a get). is_json: valid
-- RFC 8259 JSON text.
local function malformed_bodies(get_body)
  local item = '{"items":[{"id":"x","name":%s}]}'
  local bodies = {}
  local function add(label, body, is_json) bodies[#bodies + 1] = { label, body, is_json or false } end
  for label, bytes in pairs {
    ["invalid UTF-8 0xFF"] = "\255", ["invalid UTF-8 overlong /"] = "\192\175",
    ["invalid UTF-8 surrogate"] = "\237\160\128", ["invalid UTF-8 above U+10FFFF"] = "\244\144\128\128",
    ["invalid UTF-8 cut sequence"] = "\226\130", ["invalid UTF-8 lone continuation"] = "\128",
    ["NUL in a string"] = "\0", ["raw control character in a string"] = "\1",
  } do
    add(label, item:format('"a' .. bytes .. 'b"'))
    add(label .. " in a key", '{"items":[{"id":"x","n' .. bytes .. '":1}]}')
  end
  for _, number in ipairs { "NaN", "-NaN", "nan", "Infinity", "-Infinity", "inf", "0x10", "0X1F", "-0x1",
      "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "9223372036854775808",
      "-9223372036854775809", "9007199254740993", "01", "+1", ".5", "1.", "1e", "-" } do
    add("number " .. number, item:format(number), VALID_NUMBERS[number])
  end
  for _, depth in ipairs { 1001, 100000 } do
    add("array depth " .. depth, nest(depth, "[", "]"), true)
    add("object depth " .. depth, nest(depth, '{"a":', "}", "1"), true)
    add("unclosed array depth " .. depth, ("["):rep(depth))
    add("items nested depth " .. depth, '{"items":[' .. nest(depth, "[", "]") .. ']}', true)
  end
  add("array of 10^6 elements", '{"items":[' .. ("0,"):rep(999999) .. '0]}', true)
  add("array of 10^6 objects", '{"items":[' .. ("{},"):rep(999999) .. '{}]}', true)
  add("duplicate keys", '{"items":[{"id":"a","id":"b","name":"x"}]}', true)
  add("duplicate items member", '{"items":[],"items":[{"id":"a"}]}', true)
  add("BOM", "\239\187\191" .. get_body)
  add("UTF-16 BOM", "\255\254" .. get_body)
  for label, tail in pairs { letter = "x", brace = "}", object = "{}", NUL = "\0", ["second value"] = " 1" } do
    add("trailing garbage: " .. label, get_body .. tail)
  end
  add("empty body", "")
  add("whitespace only", " \r\n\t ")
  add("null", "null", true)
  add("a string", '"items"', true)
  add("a number", "42", true)
  add("true", "true", true)
  add("items not a list", '{"items":"x"}', true)
  add("items empty", '{"items":[]}', true)
  add("item not an object", '{"items":[1]}', true)
  add("HTML", "<html><body>502 Bad Gateway</body></html>")
  add("comment", '/* c */' .. get_body)
  add("single quotes", "{'items':[]}")
  add("unquoted key", "{items:[]}")
  add("escaped lone surrogate", item:format('"\\ud800"'), true) -- grammar allows it
  add("bad escape", item:format('"\\x41"'))
  add("short unicode escape", item:format('"\\u12"'))
  table.sort(bodies, function(a, b) return a[1] < b[1] end)
  return bodies
end

local function malformed(cases, captured)
  local get = captured.get
  for _, entry in ipairs(malformed_bodies(get.body)) do
    cases[#cases + 1] = { kind = "get", call = "get", status = 200, content_type = JSON, body = entry[2],
      content_length = #entry[2], label = entry[1], is_json = entry[3] }
  end
  -- The same bodies on a create (201) and on an error status.
  for _, entry in ipairs { { "empty body", "" }, { "array depth 100000", nest(100000, "[", "]") },
      { "number NaN", '{"id":NaN,"etag":"\\"1\\""}' }, { "invalid UTF-8", '{"id":"\255","etag":"1"}' } } do
    cases[#cases + 1] = { kind = "create", call = "create", status = 201, content_type = JSON,
      body = entry[2], content_length = #entry[2], label = "create: " .. entry[1] }
    cases[#cases + 1] = { kind = "not_found", call = "get", status = 404, content_type = JSON,
      body = entry[2], content_length = #entry[2], label = "404: " .. entry[1] }
    cases[#cases + 1] = { kind = "token", call = "authenticate", status = 200, content_type = JSON,
      body = entry[2], content_length = #entry[2], label = "token: " .. entry[1] }
  end
  -- Wrong or missing Content-Type on a valid body, and JSON under a problem type.
  for _, ctype in ipairs { "text/html", "text/plain", "", "application/octet-stream",
      "application/problem+json", "application/json; charset=utf-16" } do
    for _, kind in ipairs { "get", "token", "create" } do
      local r = captured[kind]
      cases[#cases + 1] = { kind = kind, call = corpus.CALLS[kind], status = r.status, content_type = ctype,
        body = r.body, content_length = #r.body, label = kind .. " with Content-Type '" .. ctype .. "'",
        is_json = true }
    end
  end
end

function corpus.build(captured, stride)
  local cases = {}
  truncations(cases, captured, stride or 1)
  malformed(cases, captured)
  return cases
end

function corpus.save(path, captured, stride)
  local f = assert(io.open(path, "wb"))
  f:write(assert(cjson.encode { stride = stride, captured = captured }))
  f:close()
end

-- The cases saved by corpus.save, and the captured responses.
function corpus.load(path)
  local f = assert(io.open(path, "rb"))
  local saved = assert(cjson.decode(f:read("a")))
  f:close()
  return corpus.build(saved.captured, saved.stride), saved.captured
end

return corpus
