-- flowservice.core secrets: C-owned copies of credentials that Lua cannot read back, used as
-- pieces of request headers and bodies, and tokens captured from JSON responses in C.
local core = require "flowservice.core"
local helper = require "helper"
local cjson = require "cjson"

local TOKEN = "SENTINEL-secret-token-e41f"

local start_fixture = helper.start_http_fixture

local ALL_BYTES = {}
for b = 0, 255 do ALL_BYTES[#ALL_BYTES + 1] = string.char(b) end
ALL_BYTES = table.concat(ALL_BYTES)

-- The form encoding the secret must apply, written out independently of the C code.
local function form_encoded(s)
  return (s:gsub("[^A-Za-z0-9%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

describe("core.secret", function()
  it("shows neither the value nor its length in tostring", function()
    local short, long = core.secret("a"), core.secret(TOKEN:rep(10))
    assert.equal("flowservice.secret", tostring(short))
    assert.equal("flowservice.secret", tostring(long))
    assert.equal("flowservice.secret", tostring(core.secret(TOKEN, "form")))
  end)

  it("cannot be read back: no length, concatenation, comparison or fields", function()
    local s = core.secret(TOKEN)
    assert.error_matches(function() return #s end, "attempt to get length of")
    assert.error_matches(function() return s .. "" end, "attempt to concatenate")
    assert.error_matches(function() return "" .. s end, "attempt to concatenate")
    assert.is_false(s == core.secret(TOKEN)) -- identity only, no __eq
    assert.error_matches(function() return s < s end, "attempt to compare")
    for _, key in ipairs { "value", "data", "len", "__index", 1 } do assert.is_nil(s[key]) end
    local mt = getmetatable(s)
    assert.equal("flowservice.secret", mt.__name)
    assert.is_nil(mt.__len)
    assert.is_nil(mt.__concat)
    assert.is_nil(mt.__eq)
    local methods = {}
    for k in pairs(mt.__index) do methods[#methods + 1] = k end
    table.sort(methods)
    assert.same({ "is_wiped", "wipe" }, methods)
    assert.is_nil(tostring(s):find(TOKEN, 1, true))
  end)

  it("wipe, __close and __gc share one idempotent finalizer", function()
    local s = core.secret(TOKEN)
    assert.equal("secret", core.type(s))
    assert.is_false(s:is_wiped())
    s:wipe()
    assert.is_true(s:is_wiped())
    assert.equal("wiped secret", core.type(s))
    s:wipe()
    getmetatable(s).__gc(s)
    assert.equal("flowservice.secret", tostring(s))
    local kept = core.secret(TOKEN)
    if helper.HAS_CLOSE then
      helper.in_close_scope(kept, function(c) assert.is_false(c:is_wiped()) end)
    else
      getmetatable(kept).__close(kept) -- what leaving the scope does on 5.4
    end
    assert.is_true(kept:is_wiped())
    getmetatable(kept).__gc(kept) -- what the collector does next: must not double-free
    assert.is_true(kept:is_wiped())
  end)

  it("checks its arguments", function()
    assert.has_error(function() core.secret() end, "bad argument #1 to 'secret' (string expected, got no value)")
    assert.has_error(function() core.secret({}) end, "bad argument #1 to 'secret' (string expected, got table)")
    assert.has_error(function() core.secret("x", "base64") end, "bad argument #2 to 'secret' (invalid option 'base64')")
    assert.has_error(function() getmetatable(core.secret("x")).__index.wipe({}) end,
      "bad argument #1 to 'wipe' (flowservice.secret expected, got table)")
  end)
end)

describe("secrets in requests", function()
  local fx, s
  setup(function()
    fx = start_fixture("http")
    s = core.session()
  end)
  teardown(function() fx.stop() end)

  local function count()
    local _, _, body = s:request { url = fx.url .. "/count" }
    return tonumber(body)
  end

  local function echo(req)
    req.url = fx.url .. "/echo"
    local status, _, body = s:request(req)
    assert.equal(200, status)
    return cjson.decode(body)
  end

  it("joins header pieces in C, byte for byte", function()
    local e = echo { headers = { Authorization = { "Bearer ", core.secret(TOKEN) },
      ["X-Mixed"] = { "a", core.secret("b"), "", core.secret(""), "c" }, ["X-Plain"] = "p", ["X-None"] = {} } }
    assert.equal("Bearer " .. TOKEN, e.headers.authorization)
    assert.equal("abc", e.headers["x-mixed"])
    assert.equal("p", e.headers["x-plain"])
    assert.equal("", e.headers["x-none"])
  end)

  it("joins body pieces in C, byte for byte, raw and form-encoded", function()
    local e = echo { method = "POST", body = { "<", core.secret(ALL_BYTES), ">" } }
    assert.equal("<" .. ALL_BYTES .. ">", e.body)
    e = echo { method = "POST", body = { "client_secret=", core.secret(ALL_BYTES, "form"), "&scope=x" } }
    assert.equal("client_secret=" .. form_encoded(ALL_BYTES) .. "&scope=x", e.body)
    assert.equal(form_encoded(ALL_BYTES), require("flowservice.url").encode(ALL_BYTES))
    e = echo { method = "PUT", body = {} }
    assert.equal("", e.body)
    assert.equal("0", e.headers["content-length"])
    assert.is_nil(e.headers["content-type"]) -- none of libcurl's own, as with string bodies
  end)

  it("refuses CR, LF or NUL in a secret header piece without showing it", function()
    local before = count()
    for _, bad in ipairs { "x\r\nX-Injected: 1", "x\n", "x\0y" } do
      local ok, err = pcall(s.request, s, { url = fx.url .. "/echo",
        headers = { Authorization = { "Bearer ", core.secret(TOKEN .. bad) } } })
      assert.is_false(ok)
      assert.matches("value of 'Authorization' contains CR, LF or NUL", err, 1, true)
      assert.is_nil(err:find(TOKEN, 1, true))
    end
    assert.equal(before + 1, count()) -- only the count request itself reached the server
  end)

  it("refuses wiped secrets and pieces of other types before sending", function()
    local before = count()
    local wiped = core.secret(TOKEN)
    wiped:wipe()
    assert.has_error(function() s:request { url = fx.url .. "/echo", headers = { A = { "x", wiped } } } end,
      "attempt to use a wiped secret")
    assert.has_error(function() s:request { url = fx.url .. "/echo", method = "POST", body = { wiped } } end,
      "attempt to use a wiped secret")
    for _, piece in ipairs { 5, true, {}, s } do
      local kind = type(piece)
      assert.has_error(function() s:request { url = fx.url .. "/echo", headers = { A = { piece } } } end,
        "bad argument #1 to 'request' (field 'headers': value of 'A': piece 1 must be a string or a secret, got "
          .. kind .. ")")
      assert.has_error(function() s:request { url = fx.url .. "/echo", method = "POST", body = { piece } } end,
        "bad argument #1 to 'request' (field 'body': piece 1 must be a string or a secret, got " .. kind .. ")")
    end
    assert.has_error(function() s:request { url = fx.url .. "/echo", headers = { A = core.secret("x") } } end,
      "bad argument #1 to 'request' (field 'headers': value of 'A' must be a string or a list of strings and "
        .. "secrets, got userdata)")
    assert.has_error(function() s:request { url = fx.url .. "/echo", body = { "x" } } end, -- GET
      "bad argument #1 to 'request' (field 'body' is not allowed with GET)")
    local many = {}
    for i = 1, 300 do many[i] = "x" end
    assert.has_error(function() s:request { url = fx.url .. "/echo", method = "POST", body = many } end,
      "bad argument #1 to 'request' (more than 256 pieces in one request)")
    assert.equal(before + 1, count()) -- only the count request itself reached the server
  end)
end)

describe("capture", function()
  local fx, s
  setup(function()
    fx = start_fixture("reply")
    s = core.session()
  end)
  teardown(function() fx.stop() end)

  -- The fixture answers with the request body and the status in the path.
  local function reply(body, status)
    local st, headers, got, info = s:request { method = "POST", url = fx.url .. "/" .. (status or 200),
      body = body, capture = "access_token" }
    assert.equal(status or 200, st, tostring(headers))
    return got, info.captured
  end

  -- What a captured secret holds, as the fixture server sees it in a header.
  local function seen_by_server(secret)
    local echo = start_fixture("http")
    finally(echo.stop)
    local status, _, body = core.session():request { url = echo.url .. "/echo",
      headers = { ["X-Token"] = { "<", secret, ">" } } }
    assert.equal(200, status)
    return cjson.decode(body).headers["x-token"]:match("^<(.*)>$")
  end

  it("moves the member into a secret and leaves '<captured>' in the body", function()
    local body, captured = reply('{"access_token":"' .. TOKEN .. '","token_type":"bearer","expires_in":86399}')
    assert.equal("flowservice.secret", tostring(captured))
    assert.equal('{"access_token":"<captured>","token_type":"bearer","expires_in":86399}', body)
    assert.is_nil(body:find(TOKEN, 1, true))
    assert.same({ access_token = "<captured>", token_type = "bearer", expires_in = 86399 }, cjson.decode(body))
    assert.equal(TOKEN, seen_by_server(captured))
  end)

  it("unescapes the value, surrogate pairs included", function()
    local body, captured = reply([[ {"expires_in": 5, "access_token" : "a\"b\\c\/d\u00e9\u20AC\ud83d\ude00z"} ]])
    assert.equal([[ {"expires_in": 5, "access_token" : "<captured>"} ]], body)
    assert.equal('a"b\\c/d\195\169\226\130\172\240\159\152\128z', seen_by_server(captured))
  end)

  it("finds the member after nested values and escaped names", function()
    local body, captured = reply('{"x":{"access_token":"nested"},"y":[1,"]}",{"z":null}],"n":-1.5e3,'
      .. '"t":true,"f":false,"nul":null,"\\u0061ccess_token":"' .. TOKEN .. '"}')
    assert.matches('"\\u0061ccess_token":"<captured>"}$', body)
    assert.matches('{"x":{"access_token":"nested"}', body, 1, true)
    assert.equal(TOKEN, seen_by_server(captured))
  end)

  local untouched = {
    { "a missing member", '{"token":"x","expires_in":1}' },
    { "a member that is not a string", '{"access_token":42}' },
    { "an empty value", '{"access_token":""}' },
    { "a value with a control character", '{"access_token":"a\\nb"}' },
    { "a value with NUL", '{"access_token":"a\\u0000b"}' },
    { "a repeated member", '{"access_token":"a","access_token":"b"}' },
    { "an array", '["access_token","x"]' },
    { "a string", '"access_token"' },
    { "an empty body", "" },
    { "an empty object", "{}" },
    { "trailing text", '{"access_token":"x"} {}' },
    { "a missing comma", '{"a":1 "access_token":"x"}' },
    { "a trailing comma", '{"access_token":"x",}' },
    { "a bad number", '{"n":01,"access_token":"x"}' },
    { "a bad literal", '{"n":nul,"access_token":"x"}' },
    { "an unterminated string", '{"access_token":"x' },
    { "a raw control character", '{"access_token":"a\tb"}' },
    { "a lone low surrogate", '{"access_token":"\\udc00"}' },
    { "a high surrogate without its pair", '{"access_token":"\\ud83dx"}' },
    { "a bad escape", '{"access_token":"\\x41"}' },
    { "mismatched brackets", '{"a":[1},"access_token":"x"}' },
  }
  for _, case in ipairs(untouched) do
    it("leaves the body unchanged and captures nothing for " .. case[1], function()
      local body, captured = reply(case[2])
      assert.equal(case[2], body)
      assert.is_nil(captured)
    end)
  end

  it("captures nothing from a non-2xx response", function()
    for _, status in ipairs { 400, 401, 500 } do
      local body, captured = reply('{"access_token":"x"}', status)
      assert.equal('{"access_token":"x"}', body)
      assert.is_nil(captured)
    end
  end)

  it("captures from large responses, and only when asked", function()
    local filler = ("f"):rep(300000)
    local body, captured = reply('{"pad":"' .. filler .. '","access_token":"' .. TOKEN .. '"}')
    assert.equal('{"pad":"' .. filler .. '","access_token":"<captured>"}', body)
    assert.equal(TOKEN, seen_by_server(captured))
    local _, _, plain, info = s:request { method = "POST", url = fx.url .. "/200", body = '{"access_token":"x"}' }
    assert.equal('{"access_token":"x"}', plain)
    assert.is_nil(info.captured)
  end)

  it("checks the capture field", function()
    local BAD = {
      [5] = "must be a string, got number", [""] = "must be a member name of 1 to 256 bytes",
      [("n"):rep(257)] = "must be a member name of 1 to 256 bytes", [{}] = "must be a string, got table",
    }
    for bad, rule in pairs(BAD) do
      assert.has_error(function() s:request { url = fx.url .. "/200", capture = bad } end,
        "bad argument #1 to 'request' (field 'capture' " .. rule .. ")")
    end
  end)
end)
