-- The emulator as a real separate process (spec/helper.lua), driven with raw HTTP over luasocket
-- TCP, so these specs need neither the C core nor libcurl.
local helper = require "spec.helper"
local socket = require "socket"
local cjson = require("cjson.safe").new()
local compat = require "flowservice.compat"

local OSC_SPEC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local PASSWORD_SENTINEL = "SENTINEL-password-91c2e4"
local UUID_V4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local CONNECTIONS = "/data/foundation/flowservice/connections"

local rawhttp = require "spec.rawhttp"
local connect, build_request, read_response = rawhttp.connect, rawhttp.build_request, rawhttp.read_response
local request, FORM, token_params = rawhttp.request, rawhttp.FORM, rawhttp.token_params
local get_token, platform_headers, with_json = rawhttp.get_token, rawhttp.platform_headers, rawhttp.with_json
local assert_gateway_error, assert_flow_problem = rawhttp.assert_gateway_error, rawhttp.assert_flow_problem

local function osc_body(params, overrides)
  local body = {
    name = "OSC base connection", description = "made by the emulator spec",
    auth = { specName = "Basic Authentication", params = params or {
      host = "https://osc.example.com", username = "osc-user", password = PASSWORD_SENTINEL,
    } },
    connectionSpec = { id = OSC_SPEC_ID, version = "1.0" },
  }
  for k, v in pairs(overrides or {}) do body[k] = v end
  return assert(cjson.encode(body))
end

---------------------------------------------------------------------------------------------------

describe("flowservice emulator", function()
  local emu

  lazy_setup(function()
    emu = helper.start_emulator()
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  it("listens on loopback and prints its URL first", function()
    assert.matches("^http://127%.0%.0%.1:%d+$", emu.url)
  end)

  describe("IMS POST /ims/token/v3", function()
    it("issues a fresh bearer token to a known client", function()
      local res = request(emu, "POST", "/ims/token/v3", FORM, token_params())
      assert.are.equal(200, res.status)
      assert.are.equal("application/json", res.headers["content-type"])
      assert.are.equal("no-store", res.headers["cache-control"])
      assert.are.equal("bearer", res.json.token_type)
      assert.matches('"expires_in":86399[,}]', res.body)
      assert.is_true(#res.json.access_token >= 32)
      assert.are_not.equal(res.json.access_token, get_token(emu))
    end)

    it("also accepts the parameters in the query string", function()
      local res = request(emu, "POST", "/ims/token/v3?" .. token_params(), {}, nil)
      assert.are.equal(200, res.status)
      assert.is_string(res.json.access_token)
    end)

    it("refuses a wrong secret with invalid_client", function()
      local res = request(emu, "POST", "/ims/token/v3", FORM,
        token_params { client_secret = "wrong-secret" })
      assert.are.equal(401, res.status)
      assert.are.equal("invalid_client", res.json.error)
      assert.is_string(res.json.error_description)
      assert.is_nil(res.body:find("wrong-secret", 1, true))
    end)

    it("refuses an unknown client with invalid_client", function()
      local res = request(emu, "POST", "/ims/token/v3", FORM,
        token_params { client_id = "someone-else" })
      assert.are.equal(401, res.status)
      assert.are.equal("invalid_client", res.json.error)
    end)

    it("refuses another grant type with unsupported_grant_type", function()
      local res = request(emu, "POST", "/ims/token/v3", FORM,
        token_params { grant_type = "password" })
      assert.are.equal(400, res.status)
      assert.are.equal("unsupported_grant_type", res.json.error)
    end)

    it("refuses missing fields with invalid_request", function()
      for _, missing in ipairs { "grant_type", "client_id", "client_secret", "scope" } do
        local res = request(emu, "POST", "/ims/token/v3", FORM, token_params { [missing] = false })
        assert.are.equal(400, res.status, missing)
        assert.are.equal("invalid_request", res.json.error, missing)
        assert.matches(missing, res.json.error_description, 1, true)
      end
    end)

    it("refuses a repeated parameter and a non-form body with invalid_request", function()
      local repeated = request(emu, "POST", "/ims/token/v3", FORM,
        token_params() .. "&client_id=" .. helper.CLIENT_ID)
      assert.are.equal(400, repeated.status)
      assert.are.equal("invalid_request", repeated.json.error)
      local as_json = request(emu, "POST", "/ims/token/v3",
        { { "Content-Type", "application/json" } }, '{"grant_type":"client_credentials"}')
      assert.are.equal(400, as_json.status)
      assert.are.equal("invalid_request", as_json.json.error)
    end)

    it("answers another method with 405", function()
      local res = request(emu, "GET", "/ims/token/v3")
      assert.are.equal(405, res.status)
      assert.are.equal("POST", res.headers.allow)
    end)
  end)

  describe("adobe.io gateway checks", function()
    local token
    lazy_setup(function() token = get_token(emu) end)

    local function get(overrides)
      return request(emu, "GET", CONNECTIONS .. "/00000000-0000-4000-8000-000000000000",
        platform_headers(token, overrides))
    end

    it("403010 without a bearer token", function()
      assert_gateway_error(get { Authorization = false }, 403, "403010", "Oauth token is missing.")
      assert_gateway_error(get { Authorization = "Basic dXNlcjpwdw==" }, 403, "403010",
        "Oauth token is missing.")
    end)

    it("401013 for an unknown token", function()
      assert_gateway_error(get { Authorization = "Bearer not-a-token" }, 401, "401013",
        "Oauth token is not valid")
    end)

    it("403000 without x-api-key", function()
      assert_gateway_error(get { ["x-api-key"] = false }, 403, "403000", "Api Key is required")
    end)

    it("403000 and 400003 when x-api-key or x-gw-ims-org-id is empty", function()
      assert_gateway_error(get { ["x-api-key"] = "" }, 403, "403000", "Api Key is required")
      assert_gateway_error(get { ["x-gw-ims-org-id"] = "" }, 400, "400003", "Missing header")
    end)

    it("403003 when x-api-key is not the token's client", function()
      assert_gateway_error(get { ["x-api-key"] = "other-client" }, 403, "403003",
        "Api Key is invalid")
    end)

    it("400003 without x-gw-ims-org-id", function()
      assert_gateway_error(get { ["x-gw-ims-org-id"] = false }, 400, "400003", "Missing header")
    end)

    it("403025 when the org is not the token's org", function()
      assert_gateway_error(get { ["x-gw-ims-org-id"] = "OTHERORG@AdobeOrg" }, 403, "403025",
        "Profile is not valid")
    end)

    it("FLOW-2105-400 without x-sandbox-name", function()
      assert_flow_problem(get { ["x-sandbox-name"] = false }, 400, "2105")
    end)

    it("FLOW-2105-400 with an empty x-sandbox-name", function()
      assert_flow_problem(get { ["x-sandbox-name"] = "" }, 400, "2105")
    end)

    it("FLOW-2100-404 for a sandbox name that is not all-lowercase", function()
      assert_flow_problem(get { ["x-sandbox-name"] = "Prod" }, 404, "2100")
    end)
  end)

  describe("token lifetime", function()
    local short

    lazy_setup(function()
      short = helper.start_emulator { args = { "--token-ttl", "1" } }
    end)

    lazy_teardown(function()
      if short then short.stop() end
    end)

    it("honours --token-ttl and refuses expired tokens with 401013", function()
      local res = request(short, "POST", "/ims/token/v3", FORM, token_params())
      assert.matches('"expires_in":1[,}]', res.body)
      local headers = platform_headers(res.json.access_token)
      local target = CONNECTIONS .. "/00000000-0000-4000-8000-000000000000"
      assert.are.equal(404, request(short, "GET", target, headers).status)
      socket.sleep(1.2)
      assert_gateway_error(request(short, "GET", target, headers), 401, "401013",
        "Oauth token is not valid")
    end)
  end)

  describe("POST /connections", function()
    local token
    lazy_setup(function() token = get_token(emu) end)

    local function post(body, headers)
      return request(emu, "POST", CONNECTIONS, headers or with_json(platform_headers(token)), body)
    end

    it("needs Content-Type: application/json", function()
      local expected = {
        type = "/placeholder/type/uri", status = 400, title = "BadRequestError",
        detail = "A valid content-type must be specified",
      }
      local missing = post(osc_body(), platform_headers(token))
      assert.are.equal(400, missing.status)
      assert.are.same(expected, missing.json)
      local text = platform_headers(token)
      text[#text + 1] = { "Content-Type", "text/plain" }
      assert.are.same(expected, post(osc_body(), text).json)
    end)

    it("FLOW-1405-400 for an empty body", function()
      assert_flow_problem(post(""), 400, "1405")
    end)

    it("FLOW-1100-400 for a body that is not valid JSON", function()
      local res = post('{"name": "x", ')
      assert_flow_problem(res, 400, "1100")
      assert_flow_problem(post("[1, 2]"), 400, "1100")
    end)

    it("FLOW-1413-400 for an unknown connection spec", function()
      local res = post(osc_body(nil, { connectionSpec = {
        id = "00000000-0000-4000-8000-000000000000", version = "1.0" } }))
      assert_flow_problem(res, 400, "1413")
      assert_flow_problem(post(osc_body(nil, { connectionSpec = {
        id = OSC_SPEC_ID, version = "2.0" } })), 400, "1413")
    end)

    it("FLOW-1100-400 without a name", function()
      local res = post(osc_body(nil, { name = false }))
      assert_flow_problem(res, 400, "1100")
      assert.matches("name", res.json.report["detailed-message"], 1, true)
    end)

    it("FLOW-1415-400 for an auth spec name the spec does not have", function()
      local body = assert(cjson.encode {
        name = "x", connectionSpec = { id = OSC_SPEC_ID, version = "1.0" },
        auth = { specName = "OAuth2 Refresh Code", params = { accessToken = PASSWORD_SENTINEL } },
      })
      local res = post(body)
      assert_flow_problem(res, 400, "1415")
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
    end)

    it("names a missing auth param and the rule, not the values", function()
      local res = post(osc_body { host = "https://osc.example.com", username = PASSWORD_SENTINEL })
      assert_flow_problem(res, 400, "1100")
      local detail = res.json.report["detailed-message"]
      assert.matches("password", detail, 1, true)
      assert.matches("required", detail, 1, true)
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
    end)

    it("names a mistyped auth param and the rule", function()
      local res = post(osc_body { host = "https://osc.example.com", username = 42,
        password = PASSWORD_SENTINEL })
      assert_flow_problem(res, 400, "1100")
      local detail = res.json.report["detailed-message"]
      assert.matches("auth.params.username", detail, 1, true)
      assert.matches("type string", detail, 1, true)
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
    end)

    it("names an unknown auth param", function()
      local res = post(osc_body { host = "h", username = "u", password = PASSWORD_SENTINEL,
        apiToken = PASSWORD_SENTINEL .. "-2" })
      assert_flow_problem(res, 400, "1100")
      local detail = res.json.report["detailed-message"]
      assert.matches("apiToken", detail, 1, true)
      assert.matches("not allowed", detail, 1, true)
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
    end)

    it("creates a connection: 201 with a UUID id and a quoted etag", function()
      local res = post(osc_body())
      assert.are.equal(201, res.status)
      assert.are.equal("application/json", res.headers["content-type"])
      assert.are.equal(#res.body, tonumber(res.headers["content-length"]))
      assert.matches(UUID_V4, res.json.id)
      assert.matches('^"[^"]+"$', res.json.etag)
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
    end)
  end)

  describe("GET /connections/{id}", function()
    local token, created

    lazy_setup(function()
      token = get_token(emu)
      created = request(emu, "POST", CONNECTIONS, with_json(platform_headers(token)),
        osc_body()).json
    end)

    it("returns the connection in an items envelope with the password masked", function()
      local before_ms = math.floor(socket.gettime() * 1000) - 60000
      local res = request(emu, "GET", CONNECTIONS .. "/" .. created.id, platform_headers(token))
      assert.are.equal(200, res.status)
      assert.are.equal(1, #res.json.items)
      local item = res.json.items[1]
      assert.are.equal(created.id, item.id)
      assert.are.equal(created.etag, item.etag)
      assert.are.equal(created.etag, item.version)
      assert.are.equal("OSC base connection", item.name)
      assert.are.equal("made by the emulator spec", item.description)
      assert.are.same({ id = OSC_SPEC_ID, version = "1.0" }, item.connectionSpec)
      assert.are.equal("enabled", item.state)
      assert.are.equal("prod", item.sandboxName)
      assert.matches(UUID_V4, item.sandboxId)
      assert.are.equal(helper.ORG_ID, item.imsOrgId)
      assert.are.equal(helper.CLIENT_ID, item.createdClient)
      assert.are.equal(helper.CLIENT_ID, item.updatedClient)
      assert.is_string(item.createdBy)
      assert.is_string(item.updatedBy)
      assert.are.equal("Basic Authentication", item.auth.specName)
      assert.are.equal("https://osc.example.com", item.auth.params.host)
      assert.are.equal("osc-user", item.auth.params.username)
      assert.are.equal("****", item.auth.params.password)
      assert.is_nil(res.body:find(PASSWORD_SENTINEL, 1, true))
      for _, field in ipairs { "createdAt", "updatedAt" } do
        local digits = res.body:match('"' .. field .. '":(%-?[%d%.eE+]+)[,}]')
        assert.is_truthy(digits and digits:match("^%d+$"), field .. " must be an exact integer")
        assert.is_true(tonumber(digits) > before_ms)
      end
    end)

    it("FLOW-1439-404 from another sandbox", function()
      local res = request(emu, "GET", CONNECTIONS .. "/" .. created.id,
        platform_headers(token, { ["x-sandbox-name"] = "dev" }))
      assert_flow_problem(res, 404, "1439")
    end)

    it("FLOW-1439-404 for an unknown id", function()
      local unknown = "5f1c7d2e-0000-4000-8000-00000000abcd"
      local res = request(emu, "GET", CONNECTIONS .. "/" .. unknown, platform_headers(token))
      assert_flow_problem(res, 404, "1439")
      assert.are.equal("Resource not found", res.json.title)
      assert.are.equal(unknown, res.json.report.id)
    end)
  end)

  describe("routing", function()
    it("answers an unknown route with 404", function()
      assert.are.equal(404, request(emu, "GET", "/no/such/route").status)
    end)

    it("answers a known path with the wrong method with 405 and Allow", function()
      local res = request(emu, "PUT", CONNECTIONS .. "/abc", {}, "")
      assert.are.equal(405, res.status)
      assert.are.equal("GET, PATCH, DELETE", res.headers.allow)
    end)
  end)

  describe("HTTP/1.1", function()
    it("keeps the connection alive across several requests", function()
      local token = get_token(emu)
      local sock = connect(emu)
      local ids = {}
      for i = 1, 5 do
        local req
        if i % 2 == 1 then
          req = build_request("POST", CONNECTIONS, with_json(platform_headers(token)), osc_body())
        else
          req = build_request("POST", "/ims/token/v3", FORM, token_params())
        end
        assert(sock:send(req))
        local res = read_response(sock)
        assert.are.equal(i % 2 == 1 and 201 or 200, res.status)
        assert.is_nil(res.headers.connection)
        assert.is_nil(ids[res.headers["x-request-id"]])
        ids[res.headers["x-request-id"]] = true
      end
      sock:close()
    end)

    it("honours Connection: close", function()
      local sock = connect(emu)
      assert(sock:send(build_request("GET", "/no/such/route", { { "Connection", "close" } })))
      local res = read_response(sock)
      assert.are.equal("close", res.headers.connection)
      local _, err = sock:receive(1)
      assert.are.equal("closed", err)
      sock:close()
    end)

    it("sends 100 Continue before reading a body sent with Expect: 100-continue", function()
      local token = get_token(emu)
      local body = osc_body()
      local headers = with_json(platform_headers(token))
      headers[#headers + 1] = { "Expect", "100-continue" }
      headers[#headers + 1] = { "Content-Length", tostring(#body) }
      local sock = connect(emu)
      assert(sock:send(build_request("POST", CONNECTIONS, headers)))   -- head only
      local interim = read_response(sock)
      assert.are.equal(100, interim.status)
      assert(sock:send(body))
      local res = read_response(sock)
      assert.are.equal(201, res.status)
      sock:close()
    end)

    it("refuses a too large body with 413 instead of 100 Continue", function()
      local sock = connect(emu)
      assert(sock:send(build_request("POST", "/ims/token/v3", {
        { "Content-Type", "application/x-www-form-urlencoded" },
        { "Expect", "100-continue" }, { "Content-Length", "999999999" } })))
      assert.are.equal(413, read_response(sock).status)
      sock:close()
    end)

    it("reads a chunked request body", function()
      local token = get_token(emu)
      local body = osc_body()
      local cut1, cut2 = 10, 60
      local chunked = ("%x\r\n%s\r\n%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n"):format(
        cut1, body:sub(1, cut1), cut2 - cut1, body:sub(cut1 + 1, cut2),
        #body - cut2, body:sub(cut2 + 1))
      local headers = with_json(platform_headers(token))
      headers[#headers + 1] = { "Transfer-Encoding", "chunked" }
      local sock = connect(emu)
      assert(sock:send(build_request("POST", CONNECTIONS, headers, chunked)))
      local res = read_response(sock)
      assert.are.equal(201, res.status)
      assert.matches(UUID_V4, res.json.id)
      -- the connection is still usable after a chunked request
      assert(sock:send(build_request("GET", CONNECTIONS .. "/" .. res.json.id,
        platform_headers(token))))
      assert.are.equal(200, read_response(sock).status)
      sock:close()
    end)

    it("answers malformed requests with 400 and closes", function()
      for _, raw in ipairs {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",                                     -- no Host
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      } do
        local sock = connect(emu)
        assert(sock:send(raw))
        local res = read_response(sock)
        assert.are.equal(400, res.status, raw)
        assert.are.equal("close", res.headers.connection)
        sock:close()
      end
    end)

    it("limits the request line (414) and the header section (431)", function()
      local long_line = request(emu, "GET", "/" .. ("a"):rep(9000))
      assert.are.equal(414, long_line.status)
      local headers = {}
      for i = 1, 40 do headers[i] = { "X-Filler-" .. i, ("b"):rep(1000) } end
      assert.are.equal(431, request(emu, "GET", "/", headers).status)
    end)

    it("serves 16 slow clients at once, bytes interleaved, without blocking others", function()
      local token = get_token(emu)
      local socks, reqs, longest = {}, {}, 0
      for i = 1, 16 do
        socks[i] = connect(emu)
        if i % 2 == 0 then
          reqs[i] = build_request("POST", "/ims/token/v3", FORM, token_params())
        else
          reqs[i] = build_request("POST", CONNECTIONS, with_json(platform_headers(token)),
            osc_body())
        end
        longest = math.max(longest, #reqs[i])
      end
      local half = math.floor(longest / 2)
      for pos = 1, longest do
        for i = 1, 16 do
          if pos <= #reqs[i] then assert(socks[i]:send(reqs[i]:sub(pos, pos))) end
        end
        if pos % 64 == 0 then socket.sleep(0.005) end
        if pos == half then
          -- a complete request from another client is answered while all 16 are mid-request
          local started = socket.gettime()
          assert.are.equal(404, request(emu, "GET", "/no/such/route").status)
          assert.is_true(socket.gettime() - started < 1)
        end
      end
      for i = 1, 16 do
        local res = read_response(socks[i])
        assert.are.equal(i % 2 == 0 and 200 or 201, res.status)
        socks[i]:close()
      end
    end)

    it("survives a client that disconnects mid-request", function()
      local sock = connect(emu)
      assert(sock:send("POST /ims/token/v3 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"))
      sock:close()
      assert.are.equal(404, request(emu, "GET", "/still/alive").status)
    end)
  end)

  describe("access log", function()
    it("has method, path, status and ms, and never a secret, header or query", function()
      local token = get_token(emu)
      local query = "?client_secret=" .. helper.CLIENT_SECRET .. "&token=" .. token
      request(emu, "POST", "/ims/token/v3?" .. token_params(), {}, nil)
      request(emu, "POST", "/ims/token/v3", FORM, token_params { client_secret = "x" .. PASSWORD_SENTINEL })
      request(emu, "POST", CONNECTIONS .. query, with_json(platform_headers(token)), osc_body())
      request(emu, "GET", CONNECTIONS .. "/none" .. query, platform_headers(token))
      local log = emu.log()
      assert.matches("POST /ims/token/v3 200 [%d%.]+ms", log)
      assert.matches("POST /data/foundation/flowservice/connections 201 [%d%.]+ms", log)
      assert.matches("GET /data/foundation/flowservice/connections/none 404 [%d%.]+ms", log)
      for _, secret in ipairs { helper.CLIENT_SECRET, token, PASSWORD_SENTINEL, helper.ORG_ID,
          "client_secret", "?" } do
        assert.is_nil(log:find(secret, 1, true), "log contains " .. secret)
      end
    end)
  end)
end)

---------------------------------------------------------------------------------------------------
-- Modules used in-process
---------------------------------------------------------------------------------------------------

describe("emulator JSON encoder", function()
  local util = require "flowservice.emulator.util"

  it("writes integers exactly and keeps empty arrays", function()
    -- without integers (5.1, 5.2, LuaJIT) the literal 2^53 + 1 already reads as 2^53
    assert.are.equal('{"a":1795892201901,"b":[],"c":{},"d":' .. (compat.HAS_INTEGERS and "9007199254740993}"
      or "9007199254740992}"), util.json_encode { a = 1795892201901, b = util.array(), c = {}, d = 9007199254740993 })
    assert.are.equal("5", util.json_encode(5.0))
    assert.are.equal("0.1", util.json_encode(0.1))
    assert.are.equal('"a\\"b\\n\\u0001"', util.json_encode('a"b\n\1'))
  end)
end)

describe("emulator JSON Schema subset", function()
  local schema = require "flowservice.emulator.schema"
  local compiled = schema.compile {
    type = "object", required = { "host", "mode" }, additionalProperties = false,
    properties = {
      host = { type = "string", minLength = 3, pattern = "^https?://[a-z0-9.-]+$" },
      mode = { type = "string", enum = { "a", "b" } },
      port = { type = "integer" },
      secret = { type = "string", format = "password" },
    },
  }

  it("accepts a valid value", function()
    assert.are.same({}, schema.validate(compiled, { host = "https://x.io", mode = "a", port = 443 }))
  end)

  it("reports each rule by name, never the value", function()
    local errors = schema.validate(compiled,
      { host = "ftp://VALUE", mode = "VALUE2", port = 1.5, extra = "VALUE3" }, "p")
    local all = table.concat(errors, "\n")
    assert.matches("p: property 'extra' is not allowed", all, 1, true)
    assert.matches("p.host: does not match pattern", all, 1, true)
    assert.matches("p.mode: not one of the allowed values", all, 1, true)
    assert.matches("p.port: expected type integer, found number", all, 1, true)
    assert.is_nil(all:find("VALUE", 1, true))
    assert.matches("p.host: shorter than minLength 3",
      table.concat(schema.validate(compiled, { host = "h", mode = "a" }, "p"), "\n"), 1, true)
    assert.matches("required property 'mode'",
      table.concat(schema.validate(compiled, { host = "https://x.io" }, "p"), "\n"), 1, true)
  end)

  it("knows which properties are secrets", function()
    assert.are.same({ secret = true }, schema.secret_properties(compiled))
  end)

  it("refuses keywords and regex constructs it cannot check", function()
    assert.has_error(function() schema.compile { type = "string", format = "x", maximum = 3 } end,
      "schema: unsupported schema keyword 'maximum'")
    assert.has_error(function() schema.compile { type = "string", pattern = "^(a|b)$" } end,
      "schema: pattern: unsupported regex construct: '('")
  end)
end)

describe("emulator module in-process", function()
  local emulator = require "flowservice.emulator"

  local function quiet_server(extra)
    local opts = { client_id = "c", client_secret = "s", org_id = "O@AdobeOrg",
      log = assert(io.open("/dev/null", "w")) }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(emulator.new(opts))
  end

  -- Drives the server until the client has received everything up to the close.
  local function drive_until_closed(server, client, seconds)
    local parts, deadline = {}, socket.gettime() + seconds
    client:settimeout(0)
    while socket.gettime() < deadline do
      server:step(0.02)
      local data, err, partial = client:receive(4096)
      parts[#parts + 1] = data or partial
      if err == "closed" then return table.concat(parts) end
    end
    return table.concat(parts)
  end

  it("refuses unknown options", function()
    assert.has_error(function() emulator.new { client_id = "c", client_secret = "s",
      org_id = "O", bogus = 1 } end, "unknown option 'bogus'")
    assert.has_error(function() emulator.new { client_id = "c", org_id = "O" } end,
      "option 'client_secret' is required")
  end)

  it("answers 408 to a request that does not arrive in time", function()
    local server = quiet_server { timeouts = { request = 0.2 } }
    assert.matches("^http://127%.0%.0%.1:%d+$", server.url)
    local client = socket.tcp()
    client:settimeout(0)
    client:connect("127.0.0.1", server.port)
    server:step(0.1)                         -- accept
    client:settimeout(1)
    assert(client:send("GET /ims/token/v3 HTTP/1.1\r\nHost: x\r\n"))   -- head never ends
    local started = socket.gettime()
    local response = drive_until_closed(server, client, 3)
    assert.matches("^HTTP/1%.1 408 ", response)
    assert.is_true(socket.gettime() - started < 2)
    client:close()
    server:close()
  end)
end)
