-- The trace module alone: what a trace event shows and what it replaces by the marker.
local trace = require "flowservice.trace"
local cjson = require "cjson"

local SECRET = "SENTINEL-trace-secret-51f0"
local M = trace.MARKER

-- A stand-in for a C secret piece (only its type matters to the trace).
local secret_piece = setmetatable({}, { __tostring = function() return "flowservice.secret" end })

describe("trace", function()
  it("redacts Authorization always and x-api-key when asked", function()
    local h = trace.headers({ Authorization = { "Bearer ", secret_piece }, ["x-api-key"] = "client",
      Accept = "application/json" }, { redact_api_key = true })
    assert.are.same({ Authorization = M, ["x-api-key"] = M, Accept = "application/json" }, h)
    h = trace.headers({ ["x-api-key"] = "client", ["X-Extra"] = { "a", secret_piece } }, { redact_api_key = false })
    assert.are.same({ ["x-api-key"] = "client", ["X-Extra"] = "a" .. M }, h)
  end)

  it("redacts caller-added headers whose names look secret", function()
    local given = {
      ["X-Upstream-Token"] = SECRET, ["X-Client-Secret"] = SECRET, ["X-Db-Password"] = SECRET,
      ["X-Signing-Key"] = SECRET, ["X-Credentials"] = SECRET, ["X-Auth-User"] = SECRET, Cookie = SECRET,
      ["Set-Cookie"] = SECRET, ["X-Session-Id"] = SECRET, ["X-Signature"] = SECRET,
      ["Proxy-Authorization"] = SECRET,
      ["If-Match"] = '"1"', ["x-sandbox-name"] = "prod", ["x-request-id"] = "r1",
    }
    for _, redact_api_key in ipairs { true, false } do
      local h = trace.headers(given, { redact_api_key = redact_api_key })
      for name, value in pairs(given) do
        assert.are.equal(value == SECRET and M or value, h[name], name)
      end
    end
  end)

  it("redacts Cookie, Set-Cookie and Proxy-Authorization in any case, whatever the API key option", function()
    for _, redact_api_key in ipairs { true, false } do
      local h = trace.headers({ Cookie = "session=" .. SECRET, ["set-cookie"] = "id=" .. SECRET .. "; HttpOnly",
        ["PROXY-AUTHORIZATION"] = { "Basic ", secret_piece }, ["Proxy-Authorization"] = "Basic " .. SECRET,
        ["X-Request-Id"] = "r1" }, { redact_api_key = redact_api_key })
      assert.are.same({ Cookie = M, ["set-cookie"] = M, ["PROXY-AUTHORIZATION"] = M, ["Proxy-Authorization"] = M,
        ["X-Request-Id"] = "r1" }, h)
    end
    local event = trace.event({ method = "GET", url = "https://platform.example/x", headers = { Cookie = SECRET } },
      { status = 200, headers = { ["Set-Cookie"] = SECRET }, body = "" }, nil, { redact_api_key = true })
    assert.are.equal(M, event.request_headers.Cookie)
    assert.are.equal(M, event.response_headers["Set-Cookie"])
  end)

  it("replaces whatever lies deeper than 100 levels by the marker, secrets included", function()
    local root = {}
    local node = root
    for _ = 1, 150 do
      node.child, node.note = {}, "visible"
      node = node.child
    end
    node.password, node.name = SECRET, "leaf"
    local shown = trace.redact(root)
    node = shown
    for level = 1, 100 do
      assert.are.equal("visible", node.note, "level " .. level)
      node = node.child
      assert.is_table(node, "level " .. level)
    end
    assert.are.equal(M, node.child) -- level 101: cut off
    assert.is_nil(cjson.encode(shown):find(SECRET, 1, true))
  end)

  it("redacts every auth.params value and secret-looking members anywhere in JSON", function()
    local body = cjson.encode {
      name = "conn", auth = { specName = "Basic Authentication",
        params = { host = "h.example", username = "u", password = SECRET, nested = { x = SECRET } } },
      connectionSpec = { id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003" },
      deep = { list = { { clientSecret = SECRET, apiKey = SECRET, accessToken = SECRET, Credentials = SECRET,
        dataSetId = "ds" } } },
    }
    local shown = trace.body(body, "application/json; charset=utf-8")
    assert.is_nil(shown:find(SECRET, 1, true))
    local v = cjson.decode(shown)
    assert.are.equal("Basic Authentication", v.auth.specName)
    assert.are.same({ host = M, username = M, password = M, nested = { x = M } }, v.auth.params)
    assert.are.equal("conn", v.name)
    assert.are.same({ clientSecret = M, apiKey = M, accessToken = M, Credentials = M, dataSetId = "ds" },
      v.deep.list[1])
  end)

  it("hides the value of JSON Patch operations on auth or secret-looking paths", function()
    local patch = cjson.encode {
      { op = "replace", path = "/auth/params/password", value = SECRET },
      { op = "add", path = "/auth", value = { specName = "Basic Authentication", params = { password = SECRET } } },
      { op = "replace", path = "/params/clientSecret", value = SECRET },
      { op = "replace", path = "/name", value = "visible name" },
      { op = "replace", path = "/auth/params/host", value = SECRET },
    }
    local shown = trace.body(patch, "application/json")
    assert.is_nil(shown:find(SECRET, 1, true))
    local ops = cjson.decode(shown)
    assert.are.equal(M, ops[1].value)
    assert.are.equal("/auth/params/password", ops[1].path)
    assert.are.equal(M, ops[3].value)
    assert.are.equal("visible name", ops[4].value)
    assert.are.equal(M, ops[5].value) -- anything under /auth, whatever its last segment
  end)

  it("shows only grant_type and scope of an IMS form, whether text or pieces", function()
    local form = "grant_type=client_credentials&client_id=abc&client_secret=" .. SECRET .. "&scope=openid"
    local ct = "application/x-www-form-urlencoded"
    assert.are.equal("grant_type=client_credentials&client_id=" .. M .. "&client_secret=" .. M
      .. "&scope=openid", trace.body(form, ct))
    local pieces = { "grant_type=client_credentials&client_id=abc&client_secret=", secret_piece, "&scope=openid" }
    assert.is_nil(trace.body(pieces, ct):find("abc", 1, true))
  end)

  it("describes bodies that are not JSON instead of showing them", function()
    assert.are.equal("(15 bytes, not JSON)", trace.body("not json at all", "application/json"))
    assert.are.equal("(5 bytes of text/html)", trace.body("<b/>!", "text/html"))
    assert.is_nil(trace.body("", "application/json"))
  end)

  it("builds one event per request with sizes, status and timings", function()
    local event = trace.event(
      { method = "POST", url = "https://platform.example/x", headers = { ["Content-Type"] = "application/json",
        Authorization = "Bearer " .. SECRET }, body = '{"password":"' .. SECRET .. '"}' },
      { status = 201, headers = { ["content-type"] = "application/json" }, body = '{"id":"1","etag":"\\"e\\""}',
        info = { total_time = 0.01, connects = 1 } },
      nil, { redact_api_key = true })
    assert.are.equal("POST", event.method)
    assert.are.equal(201, event.status)
    assert.are.equal(#('{"password":"' .. SECRET .. '"}'), event.request_body_size)
    assert.are.equal(1, event.connects)
    local all = cjson.encode(event)
    assert.is_nil(all:find(SECRET, 1, true))
  end)

  describe("through a client", function()
    local fakecore = require "spec.fakecore"
    local API_KEY = "SENTINEL-trace-api-key-7c2e"

    -- The x-api-key header of the first Flow Service request a client traced.
    local function traced_api_key(extra)
      local flowservice = fakecore.load(function(req)
        if req.url:find("/ims/", 1, true) then
          return 200, { ["content-type"] = "application/json" },
            cjson.encode { access_token = SECRET, expires_in = 86399 }
        end
        return 200, { ["content-type"] = "application/json" }, cjson.encode { items = {} }
      end)
      local events = {}
      local opts = { env = false, client_id = API_KEY, client_secret = "SENTINEL-trace-client-secret",
        org_id = "TRACE@AdobeOrg", base_url = "http://127.0.0.1:9", ims_url = "http://127.0.0.1:9",
        trace = function(e) events[#events + 1] = e end }
      for k, v in pairs(extra) do opts[k] = v end
      local client = assert(flowservice.new(opts))
      assert(client.connections:all())
      client:close()
      local flow = fakecore.flow_requests(events)
      assert.is_true(#flow >= 1)
      for _, e in ipairs(events) do
        assert.is_nil(cjson.encode(e):find(SECRET, 1, true))
      end
      return flow[1].request_headers["x-api-key"]
    end

    it("redacts x-api-key by default and shows it only with trace_api_key = true", function()
      assert.are.equal(M, traced_api_key {})
      assert.are.equal(M, traced_api_key { trace_api_key = false })
      assert.are.equal(API_KEY, traced_api_key { trace_api_key = true })
    end)
  end)
end)
