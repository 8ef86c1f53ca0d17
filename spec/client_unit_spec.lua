-- Unit specs of the Lua layer with a fake C core that records every request instead of
-- sending it: option and param validation, "nothing was sent", the token cache, error mapping.
local cjson = require "cjson"

local SECRET = "SENTINEL-unit-client-secret-91ab"
local PASSWORD = "SENTINEL-unit-password-c0ffee"
local TOKEN = "SENTINEL-unit-token-5d2e"

local fakecore = require "spec.fakecore"
local math_type = require("flowservice.compat").math_type -- math.type, or the 2^53 rule

local JSON = { ["content-type"] = "application/json" }

-- IMS gives a token; Flow Service creates and reads connections.
local function happy(req)
  if req.url:find("/ims/token/v3", 1, true) then
    return 200, JSON, cjson.encode { access_token = TOKEN, token_type = "bearer", expires_in = 86399 }
  elseif req.method == "POST" then
    return 201, JSON, [[{"id":"4b1c7e0a-0000-4000-8000-000000000001","etag":"\"0a00\""}]]
  end
  return 200, JSON, [[{"items":[{"id":"4b1c7e0a-0000-4000-8000-000000000001","createdAt":1700000000000}]}]]
end

local flowservice, sent, client_module

local function load(responder)
  flowservice, sent = fakecore.load(responder or happy)
  client_module = require "flowservice.client"
end

local function new_client(extra)
  local opts = {
    env = false, client_id = "unit-client", client_secret = SECRET,
    org_id = "UNITORG@AdobeOrg", sandbox = "prod",
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return flowservice.new(opts)
end

local OSC = {
  name = "Base connection for Oracle Service Cloud",
  spec = "oracle-service-cloud",
  auth = { host = "example.custhelp.com", username = "svc-user", password = PASSWORD },
}

local NONE = {} -- marks a field to leave out

local function with(overrides)
  local t = {}
  for k, v in pairs(OSC) do t[k] = v end
  for k, v in pairs(overrides) do
    if v == NONE then t[k] = nil else t[k] = v end
  end
  return t
end

local function auth_with(overrides, remove)
  local a = {}
  for k, v in pairs(OSC.auth) do a[k] = v end
  for k, v in pairs(overrides) do a[k] = v end
  if remove then a[remove] = nil end
  return with { auth = a }
end

describe("flowservice.new", function()
  before_each(function() load() end)

  it("raises at the caller's line on an unknown option name", function()
    local ok, err = pcall(flowservice.new, { timout = 5 })
    assert.is_false(ok)
    assert.matches("unknown option 'timout'", err)
    assert.matches("timeout", err) -- lists the valid names
    local _, err2 = pcall(function() flowservice.new { timout = 5 } end)
    assert.matches("client_unit_spec.lua:%d+:", err2)
  end)

  it("raises on an option of the wrong Lua type", function()
    assert.has_error(function() new_client { timeout = "5" } end,
      "flowservice.new: timeout: expected number, got string")
    assert.has_error(function() flowservice.new("prod") end, "flowservice.new: options: expected a table, got string")
  end)

  it("returns a validation error naming a missing org_id", function()
    local c, err = flowservice.new { env = false, client_id = "a", client_secret = "b" }
    assert.is_nil(c)
    assert.equals("validation", err.kind)
    assert.equals("org_id", err.field)
    assert.matches("AEP_ORG_ID", tostring(err))
  end)

  it("falls back to the environment and prefers explicit options", function()
    local env = {
      AEP_CLIENT_ID = "env-client", AEP_CLIENT_SECRET = SECRET, AEP_ORG_ID = "ENV@AdobeOrg",
      AEP_SANDBOX = "dev-1", AEP_BASE_URL = "http://127.0.0.1:1",
    }
    local c = assert(flowservice.new { env = env, sandbox = "prod" })
    assert.equals("env-client", c.config.client_id)
    assert.equals("ENV@AdobeOrg", c.config.org_id)
    assert.equals("prod", c.config.sandbox)
    assert.equals("http://127.0.0.1:1", c.config.base_url)
    assert.equals("https://ims-na1.adobelogin.com", c.config.ims_url)
  end)

  it("ignores the environment with env = false", function()
    local c, err = flowservice.new { env = false }
    assert.is_nil(c)
    assert.equals("validation", err.kind)
  end)

  it("refuses plain http except to a loopback address", function()
    local _, err = new_client { base_url = "http://platform.adobe.io" }
    assert.equals("base_url", err.field)
    assert.matches("https", err.message)
    assert.truthy(new_client { base_url = "http://localhost:8080" })
    assert.truthy(new_client { base_url = "http://127.0.0.1:8080/" })
    local _, err2 = new_client { ims_url = "ims-na1.adobelogin.com" }
    assert.equals("ims_url", err2.field)
  end)

  it("takes as loopback only addresses libcurl connects to without resolving a name", function()
    -- names that look like addresses: libcurl resolves (or rewrites) them, so they could go anywhere
    for _, host in ipairs { "127.0.0.300", "127.0.0.1000", "127.999.999.999", "127.0.0.256", "127.1",
        "127.0.1", "0177.0.0.1", "127.0.0.01", "0x7f.0.0.1", "127.0.0.1.", "127.0.0.1.example", "localhost.",
        "a.localhost", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]", "128.0.0.1", "127.0.0.%31", "2130706433" } do
      for _, field in ipairs { "base_url", "ims_url" } do
        local c, err = new_client { [field] = "http://" .. host .. ":8080" }
        assert.is_nil(c, host)
        assert.same({ "validation", field }, { err.kind, err.field }, host)
        assert.truthy(new_client { [field] = "https://" .. host .. ":8080" }, host)
      end
    end
    for _, host in ipairs { "127.0.0.1", "127.255.255.255", "127.0.0.0", "127.10.200.3", "[::1]", "localhost",
        "LocalHost" } do
      assert.truthy(new_client { base_url = "http://" .. host .. ":8080", ims_url = "http://" .. host }, host)
    end
  end)

  it("takes localhost as loopback only from libcurl 7.78 on, which answers it without a resolver", function()
    local core = require "flowservice.core"
    local real = core.curl_version
    core.curl_version = "libcurl/7.77.0 OpenSSL/1.1.1"
    local c, err = new_client { base_url = "http://localhost:8080" }
    core.curl_version = real
    assert.is_nil(c)
    assert.equals("base_url", err.field)
    assert.is_true(require("flowservice.client")._is_loopback("localhost"))
  end)

  it("refuses a proxy elsewhere with plain http: the proxy would read it in the clear", function()
    assert.truthy(new_client { base_url = "http://127.0.0.1:8080", proxy = "http://127.0.0.1:3128" })
    for _, proxy in ipairs { "http://proxy.example:3128", "https://proxy.example:8443", "http://127.0.0.300:3128" } do
      local c, err = new_client { base_url = "http://127.0.0.1:8080", proxy = proxy }
      assert.is_nil(c, proxy)
      assert.same({ "validation", "proxy" }, { err.kind, err.field })
    end
    assert.truthy(new_client { base_url = "http://127.0.0.1:8080", proxy = "" })
    assert.truthy(new_client { base_url = "https://platform.example", ims_url = "https://ims.example",
      proxy = "http://proxy.example:3128" })
  end)

  it("refuses service URLs with credentials, a query or a fragment", function()
    local CREDENTIALS = "must not contain credentials, a query or a fragment"
    local BAD = {
      { "https://user:SENTINEL-pw@platform.adobe.io", "must be an absolute URL like https://host" },
      { "https://SENTINEL-pw@platform.adobe.io", CREDENTIALS },
      { "https://evil.example@platform.adobe.io:443", CREDENTIALS },
      { "https://platform.adobe.io/?x=1", CREDENTIALS },
      { "https://platform.adobe.io/#f", CREDENTIALS },
    }
    for _, case in ipairs(BAD) do
      for _, name in ipairs { "base_url", "ims_url" } do
        local c, err = new_client { [name] = case[1] }
        assert.is_nil(c, case[1])
        assert.equals(name, err.field)
        assert.equals(name .. ": " .. case[2], err.message)
        assert.is_nil(tostring(err):find("SENTINEL-pw", 1, true))
      end
    end
  end)

  it("refuses a sandbox name that is not all-lowercase, and does not change it", function()
    local _, err = new_client { sandbox = "Prod" }
    assert.equals("sandbox", err.field)
    assert.matches("lowercase", err.message)
  end)

  it("refuses header values with control characters", function()
    local _, err = new_client { client_id = "abc\r\nX-Injected: 1" }
    assert.equals("client_id", err.field)
    local _, err2 = new_client { access_token = "tok\n", client_secret = nil }
    assert.equals("access_token", err2.field)
  end)

  it("refuses timeouts and sizes that are not positive finite numbers", function()
    for _, bad in ipairs { 0, -1, 0 / 0, math.huge } do
      local c, err = new_client { timeout = bad }
      assert.is_nil(c)
      assert.equals("timeout", err.field)
    end
    local _, err = new_client { max_response_size = 1.5 }
    assert.equals("max_response_size", err.field)
  end)

  it("one rule for option values: out of range is a validation error, never a raise", function()
    for _, case in ipairs { { "timeout", 1e9 }, { "timeout", 2147484 }, { "connect_timeout", 3e6 },
        { "max_response_size", 1e300 }, { "user_agent", "ua\r\nX-Injected: 1" }, { "user_agent", "" },
        { "base_url", "http://127.0.0.1:1/ x" }, { "ims_url", "https://ims.example/\tx" },
        { "base_url", "https://platform.example/a\0b" } } do
      local ok, c, err = pcall(new_client, { [case[1]] = case[2] })
      assert.is_true(ok, case[1] .. ": " .. tostring(c))
      assert.is_nil(c, case[1])
      assert.same({ "validation", case[1] }, { err.kind, err.field })
    end
    assert.truthy(new_client { timeout = 2147483, connect_timeout = 0.001 })
  end)

  it("needs a client secret or an access token", function()
    local _, err = flowservice.new { env = false, client_id = "a", org_id = "O@AdobeOrg" }
    assert.equals("client_secret", err.field)
    assert.truthy(flowservice.new { env = false, client_id = "a", org_id = "O@AdobeOrg",
      access_token = TOKEN })
    local _, err2 = flowservice.new { env = false, org_id = "O@AdobeOrg", access_token = TOKEN }
    assert.equals("api_key", err2.field)
  end)

  it("never shows secrets in tostring or in its fields", function()
    local c = assert(new_client { access_token = TOKEN })
    local seen = {}
    local function walk(v, depth)
      if depth > 6 or seen[v] then return end
      if type(v) == "string" then
        assert.is_nil(v:find("SENTINEL", 1, true))
      elseif type(v) == "table" then
        seen[v] = true
        for k, x in pairs(v) do walk(k, depth + 1); walk(x, depth + 1) end
      end
    end
    walk(c, 0)
    assert.is_nil(tostring(c):find("SENTINEL", 1, true))
    assert.matches("UNITORG@AdobeOrg", tostring(c))
  end)

  it("closes idempotently and refuses use after close", function()
    local c = assert(new_client())
    c:close()
    c:close()
    assert.matches("%(closed%)", tostring(c))
    assert.has_error(function() c.connections:create(OSC) end, "attempt to use a closed flowservice client")
    assert.has_error(function() c.connections:create { name = "" } end,
      "attempt to use a closed flowservice client")
    assert.has_error(function() c.connections:get("x") end, "attempt to use a closed flowservice client")
    local _, where = pcall(function() c.connections:get("x") end)
    assert.matches("client_unit_spec.lua:%d+: attempt to use a closed", where)
    -- methods of their own (explore, actions, wait) point at the caller too
    for _, call in ipairs {
      function() c.connections:test("x") end, function() c.flows:enable("x") end,
      function() c.runs:wait { run_id = "x" } end,
    } do
      _, where = pcall(call)
      assert.matches("client_unit_spec.lua:%d+: attempt to use a closed", where)
    end
    _, where = pcall(function() c.runs.wait { run_id = "x" } end)
    assert.matches("client_unit_spec.lua:%d+: call it as a method", where)
    assert.has_error(function() c:authenticate() end, "attempt to use a closed flowservice client")
  end)
end)

describe("connections:create", function()
  before_each(function() load() end)

  it("sends the documented body and headers", function()
    local c = assert(new_client())
    local conn = assert(c.connections:create(with { description = "d" }))
    assert.equals("4b1c7e0a-0000-4000-8000-000000000001", conn.id)
    assert.equals('"0a00"', conn.etag)
    assert.equals(2, #sent)
    local ims, post = sent[1], sent[2]
    assert.equals("https://ims-na1.adobelogin.com/ims/token/v3", ims.url)
    assert.equals("application/x-www-form-urlencoded", ims.headers["Content-Type"])
    assert.matches("grant_type=client_credentials", ims.body)
    assert.matches("client_id=unit%-client", ims.body)
    assert.equals("POST", post.method)
    assert.equals("https://platform.adobe.io/data/foundation/flowservice/connections", post.url)
    assert.same({
      ["Authorization"] = "Bearer " .. TOKEN, ["x-api-key"] = "unit-client",
      ["x-gw-ims-org-id"] = "UNITORG@AdobeOrg", ["x-sandbox-name"] = "prod",
      ["Accept"] = "application/json", ["Content-Type"] = "application/json",
    }, post.headers)
    assert.same({
      name = OSC.name, description = "d",
      auth = { specName = "Basic Authentication", params = OSC.auth },
      connectionSpec = { id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003", version = "1.0" },
    }, cjson.decode(post.body))
  end)

  it("accepts the connection spec id instead of the alias", function()
    local c = assert(new_client())
    assert(c.connections:create(with { spec = "ba5126ec-c9ac-11eb-b8bc-0242ac130003" }))
    assert.equals("ba5126ec-c9ac-11eb-b8bc-0242ac130003",
      cjson.decode(sent[2].body).connectionSpec.id)
  end)

  it("sends an unknown spec id as given, with auth_spec", function()
    local c = assert(new_client())
    local id = "00000000-0000-4000-8000-00000000abcd"
    assert(c.connections:create {
      name = "z", spec = id, auth_spec = "OAuth2 Refresh Code",
      auth = { subdomain = "s", accessToken = "t" },
    })
    local body = cjson.decode(sent[2].body)
    assert.same({ id = id, version = "1.0" }, body.connectionSpec)
    assert.same({ specName = "OAuth2 Refresh Code", params = { subdomain = "s", accessToken = "t" } },
      body.auth)
  end)

  it("does not change the caller's table", function()
    local c = assert(new_client())
    local input = with {}
    local auth = input.auth
    assert(c.connections:create(input))
    assert.equals(auth, input.auth)
    assert.same(OSC.auth, auth)
    assert.is_nil(getmetatable(auth))
  end)

  -- Each bad input: the error names the field, and nothing at all was sent (not even IMS).
  local cases = {
    { "missing name", with { name = "" }, "name", "required" },
    { "missing spec", with { spec = NONE }, "spec", "required" },
    { "unknown alias", with { spec = "oracle-cloud" }, "spec", "unknown connection spec" },
    { "missing auth", with { auth = NONE }, "auth", "required" },
    { "missing host", auth_with({}, "host"), "auth.host", "required" },
    { "missing password", auth_with({}, "password"), "auth.password", "required" },
    { "mistyped username", auth_with { username = 42 }, "auth.username", "must be a string" },
    { "empty host", auth_with { host = "" }, "auth.host", "must not be empty" },
    { "unknown param", auth_with { passwrd = "x" }, "auth.passwrd", "not a parameter" },
    { "wrong auth spec", with { auth_spec = "OAuth 2" }, "auth_spec", "Basic Authentication" },
    { "unknown id without auth_spec", with { spec = "00000000-0000-4000-8000-00000000abcd" },
      "auth_spec", "required" },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1] .. " before sending anything", function()
      local c = assert(new_client())
      local conn, err = c.connections:create(case[2])
      assert.is_nil(conn)
      assert.equals("validation", err.kind)
      assert.equals(case[3], err.field)
      assert.matches(case[4], err.message, 1, true)
      assert.equals(0, #sent)
      assert.is_nil(tostring(err):find(PASSWORD, 1, true))
    end)
  end

  it("raises on unknown fields and wrong Lua types", function()
    local c = assert(new_client())
    assert.has_error(function() c.connections:create(with { nmae = "x" }) end,
      "connections:create: unknown option 'nmae' (expected one of: auth, auth_spec, description, name, spec, "
      .. "spec_version)")
    assert.has_error(function() c.connections:create(with { auth = "secret" }) end,
      "connections:create: auth: expected table, got string")
    assert.has_error(function() c.connections:create("x") end, "connections:create: expected a table, got string")
    assert.has_error(function() c.connections.create(OSC) end,
      "call it as a method: resources:create(...)")
    assert.equals(0, #sent)
  end)

  it("client:request raises on unknown fields, wrong types and bad methods or paths", function()
    local c = assert(new_client())
    assert.has_error(function() c:request { method = "GET", path = "/x", qeury = {} } end,
      "request: unknown option 'qeury' (expected one of: body, headers, href, method, path, query)")
    assert.has_error(function() c:request { method = "GET", path = 5 } end,
      "request: path: expected string, got number")
    assert.has_error(function() c:request { method = "GETS", path = "/x" } end,
      "request: method: expected one of GET, POST, PUT, PATCH, DELETE")
    assert.has_error(function() c:request { method = "GET", path = "x" } end,
      "request: path: expected a path starting with '/'")
    assert.has_error(function() c:request { method = "GET", path = "/x", query = { limit = 1.5 } } end,
      "request: query.limit: expected a string, boolean, whole number or a list of them")
    assert.equals(0, #sent)
  end)

  it("client:request refuses headers the client sets itself, in any case", function()
    local c = assert(new_client())
    for _, name in ipairs { "Authorization", "authorization", "X-Api-Key", "x-gw-ims-org-id", "x-sandbox-name",
        "Content-Type", "Host" } do
      assert.has_error(function() c:request { method = "GET", path = "/x", headers = { [name] = "v" } } end,
        "request: headers: " .. name .. " is set by the client")
    end
    for _, name in ipairs { "Content-Length", "transfer-encoding", "Connection", "TE", "Upgrade" } do
      assert.has_error(function() c:request { method = "GET", path = "/x", headers = { [name] = "v" } } end,
        "request: headers: " .. name .. " is set by the transport (message framing and connection handling), "
          .. "not by a request")
    end
    assert.has_error(function() c:request { method = "GET", path = "/x", headers = { ["Bad Name"] = "v" } } end,
      "request: headers: names must be header tokens")
    assert.equals(0, #sent)
  end)

  it("refuses a body the encoder rejects, before the token call", function()
    local c = assert(new_client())
    local _, err = c:request { method = "POST", path = "/connections", body = { x = function() end } }
    assert.equals("validation", err.kind)
    assert.equals("body", err.field)
    assert.equals(0, #sent)
  end)
end)

describe("connections:get", function()
  before_each(function() load() end)

  it("unwraps the items envelope and returns integers", function()
    local c = assert(new_client())
    local item = assert(c.connections:get("4b1c7e0a-0000-4000-8000-000000000001"))
    assert.equals("4b1c7e0a-0000-4000-8000-000000000001", item.id)
    assert.equals("integer", math_type(item.createdAt))
  end)

  it("percent-encodes the id and refuses ids that would change the route", function()
    local c = assert(new_client())
    c.connections:get("a/b ?#%")
    assert.equals("https://platform.adobe.io/data/foundation/flowservice/connections/a%2Fb%20%3F%23%25",
      sent[#sent].url)
    local n = #sent
    for _, bad in ipairs { "", ".", ".." } do
      local item, err = c.connections:get(bad)
      assert.is_nil(item)
      assert.equals("id", err.field)
    end
    assert.equals(n, #sent)
    assert.has_error(function() c.connections:get(42) end, "connections:get: id: expected a string, got number")
  end)
end)

describe("the token cache", function()
  local clock
  before_each(function()
    load()
    clock = 1000
    client_module.clock = function() return clock end
  end)
  after_each(function() client_module.clock = require("flowservice.core").monotonic end)

  local function ims_calls()
    local n = 0
    for _, r in ipairs(sent) do
      if r.url:find("/ims/", 1, true) then n = n + 1 end
    end
    return n
  end

  it("fetches one token for many calls and refreshes it before expiry", function()
    local c = assert(new_client())
    assert(c.connections:create(OSC))
    assert(c.connections:get("x1"))
    assert.equals(1, ims_calls())
    clock = clock + 86399 - 301 -- still outside the 300 s margin
    assert(c.connections:get("x1"))
    assert.equals(1, ims_calls())
    clock = clock + 2 -- inside the margin: refresh
    assert(c.connections:get("x1"))
    assert.equals(2, ims_calls())
  end)

  it("uses a given access_token and never calls IMS", function()
    local c = assert(new_client { access_token = TOKEN, client_secret = nil })
    assert(c.connections:create(OSC))
    assert.equals(0, ims_calls())
    assert.equals("Bearer " .. TOKEN, sent[1].headers.Authorization)
  end)

  it("turns an IMS refusal into an auth error without the secret", function()
    load(function()
      return 401, JSON, [[{"error":"invalid_client","error_description":"invalid client_secret parameter"}]]
    end)
    local c = assert(new_client())
    local conn, err = c.connections:create(OSC)
    assert.is_nil(conn)
    assert.equals("auth", err.kind)
    assert.equals(401, err.status)
    assert.equals("invalid_client", err.code)
    assert.equals(1, #sent) -- the create itself was never sent
    assert.is_nil(tostring(err):find(SECRET, 1, true))
  end)
end)

describe("errors", function()
  local errors
  before_each(function()
    load()
    errors = require "flowservice.errors"
  end)

  it("reads the gateway shape", function()
    local err = errors.from_response(403, { ["x-request-id"] = "r1" },
      { error_code = "403010", message = "Oauth token is missing." })
    assert.same({ "http", 403, "403010", "Oauth token is missing.", "r1" },
      { err.kind, err.status, err.code, err.title, err.request_id })
    assert.equals("flowservice: http error 403 403010: Oauth token is missing. (request id r1)",
      tostring(err))
  end)

  it("reads the Flow Service problem shape", function()
    local err = errors.from_response(404, {}, {
      type = "https://ns.adobe.com/aep/errors/FLOW-1439-404", title = "Resource not found",
      status = 404, report = { ["detailed-message"] = "Connection x not found", ["request-id"] = "r2" },
    })
    assert.same({ "FLOW-1439-404", "Resource not found", "Connection x not found", "r2" },
      { err.code, err.title, err.detail, err.request_id })
    assert.matches("404 FLOW%-1439%-404: Resource not found: Connection x not found", tostring(err))
  end)

  it("reads the generic problem shape and the etag message shape", function()
    local err = errors.from_response(400, {}, { type = "/placeholder/type/uri", status = 400,
      title = "BadRequestError", detail = "A valid content-type must be specified" })
    assert.is_nil(err.code)
    assert.equals("BadRequestError", err.title)
    assert.equals("A valid content-type must be specified", err.detail)
    local err2 = errors.from_response(412, {}, { errorMessage = "Supplied version=[1] does not match" })
    assert.equals("Precondition Failed", err2.title)
    assert.equals("Supplied version=[1] does not match", err2.detail)
  end)

  it("names the target of a redirect it did not follow", function()
    local err = errors.from_response(302, { location = "https://elsewhere.example/x" }, nil)
    assert.equals("https://elsewhere.example/x", err.location)
    assert.matches("redirect", tostring(err))
  end)

  it("copes with a body that is not an error shape", function()
    local err = errors.from_response(500, {}, nil)
    assert.equals("flowservice: http error 500: Internal Server Error", tostring(err))
    assert.equals("Service Unavailable", errors.from_response(503, {}, { 1, 2 }).title)
  end)

  it("maps transport failures and keeps libcurl's name", function()
    load(function() return nil, "CURLE_COULDNT_CONNECT: Couldn't connect to server", "CURLE_COULDNT_CONNECT" end)
    local c = assert(new_client())
    local _, err = c.connections:create(OSC)
    assert.equals("transport", err.kind)
    assert.equals("CURLE_COULDNT_CONNECT", err.curl_code)
    assert.matches("^flowservice: transport error: CURLE_COULDNT_CONNECT", tostring(err))
  end)

  it("reports a 2xx body that is not JSON as a decode error", function()
    load(function(req)
      if req.url:find("/ims/", 1, true) then return happy(req) end
      return 201, JSON, "{not json"
    end)
    local c = assert(new_client())
    local _, err = c.connections:create(OSC)
    assert.equals("decode", err.kind)
    assert.equals(201, err.status)
  end)
end)

describe("secrets on the client", function()
  local fake
  before_each(function()
    flowservice, sent, fake = fakecore.load(happy)
    client_module = require "flowservice.client"
  end)

  it("sends the client secret form-encoded as a C secret piece, and captures the token", function()
    local c = assert(new_client { client_secret = "s3cr&t= +/%" .. SECRET, scopes = "openid,a b" })
    assert(c:authenticate())
    local ims = sent[1]
    assert.equals("access_token", ims.capture)
    assert.equals("grant_type=client_credentials&client_id=unit-client&client_secret=s3cr%26t%3D%20%2B%2F%25"
      .. SECRET .. "&scope=openid%2Ca%20b", ims.body)
    local pieces = ims.raw.body
    assert.equals("table", type(pieces))
    local secrets = 0
    for _, piece in ipairs(pieces) do
      if fakecore.is_secret(piece) then
        secrets = secrets + 1
      else
        assert.is_nil(piece:find(SECRET, 1, true)) -- no Lua string carries the secret
      end
    end
    assert.equals(1, secrets)
  end)

  it("sends the captured token as a secret piece of Authorization", function()
    local c = assert(new_client())
    assert(c.connections:get("x1"))
    local auth = sent[2].raw.headers.Authorization
    assert.equals("Bearer ", auth[1])
    assert.is_true(fakecore.is_secret(auth[2]))
    assert.equals("Bearer " .. TOKEN, sent[2].headers.Authorization)
  end)

  it("keeps a given access_token as a secret, and leaves the caller's table as it was", function()
    local opts = { env = false, org_id = "UNITORG@AdobeOrg", api_key = "k", access_token = TOKEN }
    local c = assert(flowservice.new(opts))
    assert.equals(TOKEN, opts.access_token)
    assert(c.connections:get("x1"))
    assert.is_true(fakecore.is_secret(sent[1].raw.headers.Authorization[2]))
    assert.equals("Bearer " .. TOKEN, sent[1].headers.Authorization)
  end)

  it("authenticate() returns the lifetime, never the token", function()
    local c = assert(new_client())
    local result = assert(c:authenticate())
    local keys = {}
    for k in pairs(result) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "cached", "expires_in", "refresh_in" }, keys)
    assert.is_true(result.expires_in > 86000)
    assert.is_true(result.refresh_in < result.expires_in)
    assert.is_false(result.cached)
  end)

  it("close() wipes the client secret and the token", function()
    local c = assert(new_client())
    assert(c.connections:get("x1"))
    local client_secret, token = sent[1].raw.body[2], sent[2].raw.headers.Authorization[2]
    assert.is_false(client_secret:is_wiped())
    assert.is_false(token:is_wiped())
    c:close()
    assert.is_true(client_secret:is_wiped())
    assert.is_true(token:is_wiped())
    local given = assert(new_client { access_token = TOKEN, client_secret = nil })
    assert(given.connections:get("x1"))
    local static = sent[#sent].raw.headers.Authorization[2]
    given:close()
    assert.is_true(static:is_wiped())
  end)

  it("wipes a token when it is replaced", function()
    local clock = 1000
    client_module.clock = function() return clock end
    finally(function() client_module.clock = require("flowservice.core").monotonic end)
    local c = assert(new_client())
    assert(c.connections:get("x1"))
    local first = sent[2].raw.headers.Authorization[2]
    clock = clock + 86399
    assert(c.connections:get("x1"))
    local second = sent[4].raw.headers.Authorization[2]
    assert.is_true(first:is_wiped())
    assert.is_false(second:is_wiped())
    assert.are_not.equal(first, second)
  end)

  local unusable = {
    { "no access_token", { token_type = "bearer", expires_in = 10 } },
    { "an empty access_token", { access_token = "", expires_in = 10 } },
    { "a numeric access_token", { access_token = 5, expires_in = 10 } },
    { "no expires_in", { access_token = TOKEN } },
    { "a zero expires_in", { access_token = TOKEN, expires_in = 0 } },
  }
  for _, case in ipairs(unusable) do
    it("reports IMS answering with " .. case[1] .. " as an auth error", function()
      load(function(req)
        if req.url:find("/ims/", 1, true) then return 200, JSON, cjson.encode(case[2]) end
        return happy(req)
      end)
      local c = assert(new_client())
      local _, err = c.connections:get("x1")
      assert.equals("auth", err.kind)
      assert.matches("without a usable access_token", err.message)
      assert.equals(1, #sent)
      assert.is_nil(tostring(err):find(TOKEN, 1, true))
    end)
  end

  it("passes the transport options to the core", function()
    local opts = { ca_file = "/etc/hostname", ca_path = "/etc", ca_blob = "-----BEGIN CERTIFICATE-----\nx",
      low_speed_limit = 10, low_speed_time = 5.0, proxy = "https://proxy.example:8443" }
    assert(new_client(opts))
    local got = fake.sessions[#fake.sessions]
    for k, v in pairs(opts) do assert.equals(v, got[k], k) end
    assert.equals("integer", math_type(got.low_speed_time))
    assert(new_client { proxy = "" })
    assert.equals("", fake.sessions[#fake.sessions].proxy)
  end)

  local bad_transport = {
    { "ca_file", "/nonexistent/ca.pem" }, { "ca_file", "/etc" }, { "ca_file", "" },
    { "ca_path", "/nonexistent" }, { "ca_path", "/etc/hostname" }, { "ca_path", "" },
    { "ca_blob", "not a certificate" }, { "low_speed_limit", 0 }, { "low_speed_limit", 1.5 },
    { "low_speed_time", -1 }, { "low_speed_time", 0 / 0 }, { "proxy", "socks5://127.0.0.1:1080" },
    { "proxy", "proxy.example:3128" }, { "proxy", "http://a b" },
  }
  for _, case in ipairs(bad_transport) do
    it("refuses " .. case[1] .. " = " .. tostring(case[2]) .. " before anything is sent", function()
      local n = #fake.sessions
      local c, err = new_client { [case[1]] = case[2] }
      assert.is_nil(c)
      assert.equals("validation", err.kind)
      assert.equals(case[1], err.field)
      if type(case[2]) == "string" and case[2] ~= "" then
        assert.is_nil(tostring(err):find(case[2], 1, true)) -- names the option, not the value
      end
      assert.equals(n, #fake.sessions)
      assert.equals(0, #sent)
    end)
  end
end)
