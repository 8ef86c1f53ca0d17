-- Fault injection in the emulator (faults.lua, admin.lua, http.lua), observed on the wire: raw
-- sockets for bytes and timing, the C core (libcurl) where only it tells a reset from a clean
-- close. The emulator runs as a separate process (spec/helper.lua).
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local socket = require "socket"
local cjson = rawhttp.cjson

local BASE = rawhttp.BASE
local CONNECTIONS = BASE .. "/connections"
local SPECS = BASE .. "/connectionSpecs"
local OSC_SPEC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"

local function osc_connection(name)
  return {
    name = name or "faulted connection",
    auth = { specName = "Basic Authentication", params = {
      host = "https://osc.example.com", username = "osc-user", password = "pw-123456",
    } },
    connectionSpec = { id = OSC_SPEC_ID, version = "1.0" },
  }
end

-- Status code of a raw response's status line, or nil.
local function status_of(bytes)
  return tonumber(bytes:match("^HTTP/1%.1 (%d%d%d) "))
end

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), to read HTTP dates
-- without the local time zone.
local function days_from_civil(y, m, d)
  local floor = math.floor
  y = m <= 2 and y - 1 or y
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }

-- Epoch seconds of an IMF-fixdate, or nil when the text is not one.
local function parse_imf_fixdate(text)
  local d, mon, y, hh, mm, ss = text:match(
    "^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d or not MONTHS[mon] then return nil end
  return days_from_civil(tonumber(y), MONTHS[mon], tonumber(d)) * 86400
    + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

describe("emulator fault injection", function()
  local emu, admin, api

  lazy_setup(function()
    emu = helper.start_emulator()
    admin = rawhttp.admin(emu)
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  before_each(function()
    admin.reset()
    api = rawhttp.api(emu)
  end)

  local function connection_count()
    local res = api.call("GET", "/connections?count=true")
    assert.are.equal(200, res.status)
    return res.json.count
  end

  -- A raw request with the Platform headers (and a JSON body when given).
  local function exchange(method, path, body, timeout)
    local headers = rawhttp.platform_headers(api.token)
    if body then
      body = assert(cjson.encode(body))
      rawhttp.with_json(headers)
    end
    return rawhttp.exchange(emu, method, path, headers, body, timeout)
  end

  -- One request through the C core (libcurl): status, or nil, message, curl code name.
  local function curl_request(method, path, body)
    local core = require "flowservice.core"
    local session = core.session { timeout = 10 }
    local headers = {
      Authorization = "Bearer " .. api.token, ["x-api-key"] = helper.CLIENT_ID,
      ["x-gw-ims-org-id"] = helper.ORG_ID, ["x-sandbox-name"] = "prod",
    }
    if body then headers["Content-Type"] = "application/json" end
    local status, message, name = session:request {
      method = method, url = emu.url .. path, headers = headers,
      body = body and assert(cjson.encode(body)) or nil,
    }
    session:close()
    return status, message, name
  end

  describe("status", function()
    it("answers the status with a gateway-shaped body, nothing processed", function()
      admin.set_faults { { fault = "status", status = 503, method = "POST", path = CONNECTIONS } }
      local res = api.call("POST", "/connections", osc_connection())
      assert.are.equal(503, res.status)
      assert.are.same({ error_code = "503050", message = "Service unavailable" }, res.json)
      assert.is_nil(res.headers["retry-after"])
      assert.are.equal(0, connection_count())
    end)

    it("with phase after, processes the request first: the connection exists", function()
      admin.set_faults { { fault = "status", status = 500, method = "POST", path = CONNECTIONS,
        phase = "after" } }
      local res = api.call("POST", "/connections", osc_connection())
      assert.are.equal(500, res.status)
      assert.are.equal(1, connection_count())
    end)

    it("before: a 429 has the gateway's throttling shape; after: a Flow Service problem, never 429050", function()
      admin.set_faults { { fault = "status", status = 429, method = "POST", path = CONNECTIONS, count = 1 } }
      local res = api.call("POST", "/connections", osc_connection())
      assert.are.same({ 429, { error_code = "429050", message = "Too many requests" } }, { res.status, res.json })
      assert.are.equal(0, connection_count())
      for _, status in ipairs { 429, 503 } do
        admin.set_faults { { fault = "status", status = status, method = "POST", path = CONNECTIONS, count = 1,
          phase = "after" } }
        res = api.call("POST", "/connections", osc_connection())
        assert.are.equal(status, res.status)
        assert.is_nil(res.json.error_code)
        assert.matches("^https://ns%.adobe%.com/aep/errors/FLOW%-%d+%-" .. status .. "$", res.json.type)
        assert.are.equal(status, res.json.status)
        assert.are.equal(res.headers["x-request-id"], res.json.report["request-id"])
      end
      assert.are.equal(2, connection_count())
    end)

    it("sends Retry-After as delta-seconds, verbatim text or an IMF-fixdate", function()
      admin.set_faults { { fault = "status", status = 429, path = SPECS, count = 1, retry_after = 7 } }
      assert.are.equal("7", api.call("GET", "/connectionSpecs").headers["retry-after"])

      admin.set_faults { { fault = "status", status = 503, path = SPECS, retry_after = "soon, maybe" } }
      assert.are.equal("soon, maybe", api.call("GET", "/connectionSpecs").headers["retry-after"])

      admin.set_faults { { fault = "status", status = 503, path = SPECS, retry_after_date = 30 } }
      local before = os.time()
      local headers = api.call("GET", "/connectionSpecs").headers
      local value = headers["retry-after"]
      local at = parse_imf_fixdate(value)
      assert.is_number(at, "not an IMF-fixdate: " .. tostring(value))
      assert.is_true(at >= before + 30 and at <= os.time() + 31, value)
      -- exactly 30 s after the response's Date header
      assert.are.equal(30, at - parse_imf_fixdate(headers.date))
    end)
  end)

  describe("matching", function()
    it("skips the first matches, fires count times, then lets requests through", function()
      admin.set_faults { { fault = "status", status = 502, method = "GET", path = SPECS,
        skip = 1, count = 2 } }
      local seen = {}
      for i = 1, 5 do seen[i] = api.call("GET", "/connectionSpecs").status end
      assert.are.same({ 200, 502, 502, 200, 200 }, seen)
      local rule = admin.faults().rules[1]
      assert.are.equal(5, rule.matched)
      assert.are.equal(2, rule.fired)
    end)

    it("matches method and path globs; the first rule that fires applies", function()
      admin.set_faults { rules = {
        { fault = "status", status = 504, method = "DELETE", path = "*" },
        { fault = "status", status = 500, path = CONNECTIONS .. "/*" },
        { fault = "status", status = 429, path = "/data/*", probability = 0 },
        { fault = "status", status = 503, path = "/data/foundation/*/connectionSpecs" },
      } }
      assert.are.equal(200, api.call("GET", "/connections").status)     -- no trailing part
      assert.are.equal(500, api.call("GET", "/connections/abc").status)
      assert.are.equal(504, api.call("DELETE", "/connections/abc").status)
      assert.are.equal(503, api.call("GET", "/connectionSpecs").status)
      local rules = admin.faults().rules
      assert.are.same({ 1, 1, 0, 1 }, { rules[1].fired, rules[2].fired, rules[3].fired,
        rules[4].fired })
      assert.are.equal(2, rules[3].matched)                          -- matched, never fired
    end)

    it("never faults the admin endpoints", function()
      admin.set_faults { { fault = "reset", path = "*" } }
      assert.are.equal(1, #admin.faults().rules)
      assert.are.same({ requests = 1, by_route = { ["POST /ims/token/v3"] = 1 }, faults_fired = 0,
        throttled = 0, early = 0 }, admin.stats())    -- the token before_each fetched
    end)

    it("fires p = 0.3 about 300 times in 1000 and repeats the same sequence for a seed", function()
      local function sequence(config)
        admin.reset()
        admin.set_faults(config)
        local sock = rawhttp.connect(emu)              -- one keep-alive connection, no auth
        local fired = {}
        for i = 1, 1000 do
          assert(sock:send(rawhttp.build_request("GET", SPECS)))
          local res = rawhttp.read_response(sock)
          fired[i] = res.status == 503 and "1" or "0"
        end
        sock:close()
        return table.concat(fired)
      end
      local rule = { fault = "status", status = 503, path = SPECS, probability = 0.3 }
      local first = sequence { seed = 42, rules = { rule } }
      local fires = select(2, first:gsub("1", ""))
      assert.is_true(fires >= 225 and fires <= 375, "fired " .. fires .. " times")
      assert.are.equal(first, sequence { seed = 42, rules = { rule } })
      assert.are.equal(fires, admin.faults().rules[1].fired)
      assert.are.equal(1000, admin.faults().rules[1].matched)
      assert.are_not.equal(first, sequence { seed = 43, rules = { rule } })
    end)
  end)

  describe("delay", function()
    it("delays one connection without blocking another", function()
      admin.set_faults { { fault = "delay", seconds = 1.5, path = CONNECTIONS } }
      local slow = rawhttp.connect(emu)
      local started = socket.gettime()
      assert(slow:send(rawhttp.build_request("GET", CONNECTIONS, rawhttp.platform_headers(api.token))))
      socket.sleep(0.1)                             -- the slow request has arrived
      local res = api.call("GET", "/connectionSpecs")
      local other_done = socket.gettime() - started
      assert.are.equal(200, res.status)
      assert.is_true(other_done < 1.2, "the other request took " .. other_done .. " s")
      local slow_res = rawhttp.read_response(slow)
      local slow_done = socket.gettime() - started
      slow:close()
      assert.are.equal(200, slow_res.status)
      assert.is_true(slow_done >= 1.45 and slow_done < 5, "the delayed request took " .. slow_done)
    end)
  end)

  describe("reset and empty", function()
    it("reset before: no reply byte, an aborted connection, nothing created", function()
      admin.set_faults { { fault = "reset", method = "POST", path = CONNECTIONS } }
      local bytes = exchange("POST", CONNECTIONS, osc_connection())
      assert.are.equal("", bytes)
      local status, message, name = curl_request("POST", CONNECTIONS, osc_connection())
      assert.is_nil(status)
      assert.are.equal("CURLE_RECV_ERROR", name, message)
      assert.are.equal(0, connection_count())
    end)

    it("reset after: the connection was created all the same", function()
      admin.set_faults { { fault = "reset", method = "POST", path = CONNECTIONS, phase = "after" } }
      local status, _, name = curl_request("POST", CONNECTIONS, osc_connection())
      assert.is_nil(status)
      assert.are.equal("CURLE_RECV_ERROR", name)
      assert.are.equal(1, connection_count())
    end)

    it("empty before: a clean close without reply, nothing created", function()
      admin.set_faults { { fault = "empty", method = "POST", path = CONNECTIONS } }
      local bytes, how = exchange("POST", CONNECTIONS, osc_connection())
      assert.are.equal("", bytes)
      assert.are.equal("closed", how)
      local status, message, name = curl_request("POST", CONNECTIONS, osc_connection())
      assert.is_nil(status)
      assert.are.equal("CURLE_GOT_NOTHING", name, message)
      assert.are.equal(0, connection_count())
    end)

    it("empty after: the connection was created all the same", function()
      admin.set_faults { { fault = "empty", method = "POST", path = CONNECTIONS, phase = "after" } }
      assert.are.equal("", (exchange("POST", CONNECTIONS, osc_connection())))
      assert.are.equal(1, connection_count())
    end)
  end)

  describe("mangled replies", function()
    it("truncate cuts the real response after `bytes`, counted from the status line", function()
      local whole = exchange("GET", SPECS)
      assert.are.equal(200, status_of(whole))
      admin.set_faults { { fault = "truncate", path = SPECS, count = 1, bytes = 20 } }
      local cut = exchange("GET", SPECS)
      assert.are.equal(20, #cut)
      assert.are.equal("HTTP/1.1 200 OK\r\nCon", cut)   -- inside the headers

      admin.set_faults { { fault = "truncate", path = SPECS } }
      cut = exchange("GET", SPECS)
      local head = whole:find("\r\n\r\n", 1, true) + 3
      assert.are.equal(head + math.floor((#whole - head) / 2), #cut)   -- default: headers, half the body
      local function normal(bytes)
        return (bytes:gsub("x%-request%-id: [%x-]+", "x-request-id: ID"):gsub("Date: [^\r]+", "Date: D"))
      end
      assert.are.equal(normal(whole):sub(1, #normal(cut)), normal(cut))
    end)

    it("truncate after a POST leaves the connection created", function()
      admin.set_faults { { fault = "truncate", method = "POST", path = CONNECTIONS } }
      local cut = exchange("POST", CONNECTIONS, osc_connection())
      assert.are.equal(201, status_of(cut))
      assert.are.equal(1, connection_count())
    end)

    it("invalid_json keeps status and headers, the body is not JSON, its length is right", function()
      admin.set_faults { { fault = "invalid_json", path = CONNECTIONS } }
      local res = api.call("POST", "/connections", osc_connection())
      assert.are.equal(201, res.status)
      assert.are.equal("application/json", res.headers["content-type"])
      assert.are.equal(#res.body, tonumber(res.headers["content-length"]))
      assert.is_true(#res.body > 0)
      assert.is_nil(cjson.decode(res.body))
      admin.clear_faults()
      assert.are.equal(1, connection_count())
    end)

    it("oversized streams a JSON body of exactly `bytes` bytes", function()
      admin.set_faults { { fault = "oversized", path = SPECS, bytes = 3 * 1024 * 1024 + 5 } }
      local res = api.call("GET", "/connectionSpecs")
      assert.are.equal(200, res.status)
      assert.are.equal(3 * 1024 * 1024 + 5, #res.body)
      assert.is_table(cjson.decode(res.body))
    end)

    it("oversized defaults to 64 MiB", function()
      admin.set_faults { { fault = "oversized", path = SPECS } }
      local sock = rawhttp.connect(emu)
      assert(sock:send(rawhttp.build_request("GET", SPECS)))
      local head = {}
      repeat
        local line = assert(sock:receive("*l"))
        head[#head + 1] = line
      until line == ""
      assert.are.equal(64 * 1024 * 1024, tonumber(table.concat(head, "\n"):match(
        "Content%-Length: (%d+)")))
      assert.are.equal('{"items":[],"padding":"xx', assert(sock:receive(25)))
      sock:close()
    end)
  end)

  describe("admin endpoints", function()
    it("PUT replaces, POST appends, GET lists with counters, DELETE clears", function()
      local put = admin.set_faults { seed = 9, rules = { { fault = "empty", path = "/nowhere" } } }
      assert.are.equal(9, put.seed)
      assert.are.same({ fault = "empty", method = "*", path = "/nowhere", probability = 1, skip = 0,
        phase = "before", matched = 0, fired = 0 }, put.rules[1])
      local added = admin.add_faults { { fault = "delay", seconds = 0.5, method = "get" } }
      assert.are.equal(2, #added.rules)
      assert.are.equal("GET", added.rules[2].method)
      assert.are.same({}, admin.clear_faults().rules)
      assert.are.equal(9, admin.faults().seed)
    end)

    it("refuses a bad rule with 400 naming the rule and the field, and keeps the old rules", function()
      admin.set_faults { { fault = "empty", path = "/kept" } }
      local function put(body)
        return rawhttp.request(emu, "PUT", "/_emulator/faults", { { "Content-Type", "application/json" } },
          body)
      end
      local res = put('{"rules": [{"fault": "empty"}, {"fault": "status", "status": 404}]}')
      assert.are.equal(400, res.status)
      assert.matches("rule 2: field 'status' must be one of 429, 500, 502, 503, 504", res.json.detail,
        1, true)
      res = put('{"rules": [{"fault": "delay", "seconds": 1, "colour": "red"}]}')
      assert.matches("rule 1: unknown field 'colour'", res.json.detail, 1, true)
      res = put('{"rules": [{"fault": "oversized", "phase": "before"}]}')
      assert.matches("rule 1: field 'phase'", res.json.detail, 1, true)
      res = put('{"rules": [], "shuffle": true}')
      assert.matches("unknown field 'shuffle'", res.json.detail, 1, true)
      assert.are.equal(400, put("not json").status)
      assert.are.equal("/kept", admin.faults().rules[1].path)
    end)

    it("reset clears resources, tokens, rules and statistics", function()
      assert.are.equal(201, api.call("POST", "/connections", osc_connection()).status)
      admin.set_faults { { fault = "empty", path = "/nowhere" } }
      admin.reset()
      assert.are.equal(401, api.call("GET", "/connections").status)   -- the old token is gone
      api = rawhttp.api(emu)
      assert.are.equal(0, connection_count())
      assert.are.same({}, admin.faults().rules)
      assert.are.equal(1, admin.faults().seed)
    end)

    it("stats count requests by route with ids as {id}, and fired faults", function()
      local id = api.call("POST", "/connections", osc_connection()).json.id
      api.call("GET", "/connections/" .. id)
      api.call("GET", "/connections/" .. id .. "/")
      api.call("GET", "/connections/" .. id .. "/test")
      admin.set_faults { { fault = "status", status = 503, path = "/elsewhere" } }
      rawhttp.request(emu, "GET", "/elsewhere")
      assert.are.same({
        requests = 6, faults_fired = 1, throttled = 0, early = 0, by_route = {
          ["POST /ims/token/v3"] = 1,
          ["POST " .. CONNECTIONS] = 1,
          ["GET " .. CONNECTIONS .. "/{id}"] = 2,
          ["GET " .. CONNECTIONS .. "/{id}/test"] = 1,
          ["GET (other)"] = 1,
        },
      }, admin.stats())
    end)

    it("logs which fault a request got, never its token", function()
      admin.set_faults { { fault = "reset", path = CONNECTIONS, phase = "after", method = "POST" } }
      exchange("POST", CONNECTIONS, osc_connection())
      local log = emu.log()
      assert.matches("POST " .. CONNECTIONS:gsub("%p", "%%%0") .. " 201 [%d.]+ms fault=reset phase=after",
        log)
      assert.is_nil(log:find(api.token, 1, true))
      assert.is_nil(log:find(helper.CLIENT_SECRET, 1, true))
    end)
  end)

  describe("loopback check", function()
    local admin_module = require "flowservice.emulator.admin"

    it("accepts loopback peers only", function()
      for _, peer in ipairs { "127.0.0.1", "127.0.0.2", "127.255.1.9", "::1", "::ffff:127.0.0.1",
        "::FFFF:127.1.2.3" } do
        assert.is_true(admin_module.is_loopback(peer), peer)
      end
      for _, peer in ipairs { "10.0.0.1", "192.168.1.20", "128.0.0.1", "::ffff:10.0.0.1", "fe80::1",
        "::2", "1127.0.0.1", "127.0.0.1.example", "127.0.0.256", "", false } do
        assert.is_false(admin_module.is_loopback(peer or nil), tostring(peer))
      end
    end)

    it("answers another peer 403 and changes nothing", function()
      local http = require "flowservice.emulator.http"
      local state = { buckets = {}, sandbox_ids = {}, tokens = { t = {} } }
      admin_module.init(state, { rules = { { fault = "empty" } } })
      local router = http.router()
      admin_module.register(router, state)
      for _, call in ipairs { { "PUT", "/_emulator/faults", '{"rules": []}' },
        { "DELETE", "/_emulator/faults" }, { "POST", "/_emulator/reset" },
        { "GET", "/_emulator/stats" } } do
        local handler = assert(router:match(call[1], call[2]))
        -- everything else as a loopback caller sends it: only the peer can be why it is refused
        local res = handler { method = call[1], path = call[2], peer = "192.0.2.7", body = call[3] or "",
          headers = { host = "127.0.0.1:8080", ["content-type"] = "application/json" } }
        assert.are.equal(403, res.status, call[1] .. " " .. call[2])
        local loopback = handler { method = call[1], path = call[2], peer = "127.0.0.1", body = call[3] or "",
          headers = { host = "127.0.0.1:8080", ["content-type"] = "application/json" } }
        assert.are.equal(200, loopback.status)
        admin_module.init(state, { rules = { { fault = "empty" } } })
      end
      assert.are.equal(1, #state.faults.rules)
    end)

    it("refuses what a web page of another site could send, and changes nothing", function()
      local function call(method, path, headers, body)
        local list = {}
        for name, value in pairs(headers) do list[#list + 1] = { name, value } end
        return rawhttp.request(emu, method, path, list, body)
      end
      admin.set_faults { { fault = "empty", path = "/nowhere" } }
      local JSON = "application/json"
      local port = emu.url:match(":(%d+)$")
      local refused = {
        -- a "simple" cross-site POST: text/plain, no preflight
        { "POST", "/_emulator/reset", { ["Content-Type"] = "text/plain", Origin = "http://evil.example" }, "x" },
        { "POST", "/_emulator/reset", { ["Content-Type"] = "text/plain" }, "x" },
        { "PUT", "/_emulator/faults", { ["Content-Type"] = "application/x-www-form-urlencoded" }, '{"rules": []}' },
        { "PUT", "/_emulator/faults", {}, '{"rules": []}' },
        { "DELETE", "/_emulator/faults", {} },
        { "POST", "/_emulator/reset", { ["Content-Type"] = "application/jsonx" } },
        -- JSON, but from a foreign page (after a preflight the emulator never grants) or a rebinding name
        { "POST", "/_emulator/reset", { ["Content-Type"] = JSON, Origin = "http://evil.example" } },
        { "POST", "/_emulator/reset", { ["Content-Type"] = JSON, Origin = "null" } },
        { "POST", "/_emulator/reset", { ["Content-Type"] = JSON, Origin = "http://127.0.0.1.evil.example" } },
        { "DELETE", "/_emulator/faults", { ["Content-Type"] = JSON, Host = "evil.example:8080" } },
        { "GET", "/_emulator/faults", { Host = "rebind.evil.example" } },
        { "GET", "/_emulator/stats", { Origin = "https://evil.example" } },
        -- the scenario and rate-limit routes go through the same guard
        { "PUT", "/_emulator/scenario", { ["Content-Type"] = "text/plain" }, '{"credentials": "disabled"}' },
        { "PUT", "/_emulator/scenario", { ["Content-Type"] = JSON, Origin = "http://evil.example" },
          '{"credentials": "disabled"}' },
        { "GET", "/_emulator/scenario", { Host = "rebind.evil.example" } },
        { "PUT", "/_emulator/ratelimit", { ["Content-Type"] = "text/plain" }, '{"rate": 1}' },
        { "DELETE", "/_emulator/ratelimit", { Origin = "http://evil.example" } },
      }
      for _, r in ipairs(refused) do
        local res = call(r[1], r[2], r[3], r[4])
        assert.are.equal(403, res.status, r[1] .. " " .. r[2] .. " " .. cjson.encode(r[3]))
      end
      assert.are.equal(1, #admin.faults().rules)
      assert.is_nil(cjson.decode(call("GET", "/_emulator/scenario", {}).body).credentials) -- not switched off
      -- a loopback Origin, Host forms and JSON with parameters are fine
      for _, headers in ipairs { { Origin = "http://127.0.0.1:" .. port }, { Origin = "http://localhost:3000" },
          { Host = "localhost:" .. port }, { Host = "[::1]:" .. port } } do
        assert.are.equal(200, call("GET", "/_emulator/stats", headers).status, cjson.encode(headers))
      end
      assert.are.equal(200, call("DELETE", "/_emulator/faults", { ["Content-Type"] = "application/json; charset=utf-8",
        Origin = "http://[::1]:9" }).status)
      assert.are.equal(0, #admin.faults().rules)
    end)

    it("serves a peer on another loopback address", function()
      local other = helper.start_emulator { args = { "--host", "127.0.0.2" } }
      local ok, err = pcall(function()
        assert.are.equal(200, rawhttp.request(other, "GET", "/_emulator/stats").status)
      end)
      other.stop()
      assert(ok, err)
    end)
  end)
end)

describe("emulator fault injection over TLS", function()
  it("truncates, closes without reply and delays HTTPS responses", function()
    local certs = helper.make_certs()
    local emu = helper.start_emulator { tls = certs, args = { "--faults", assert(cjson.encode { rules = {
      { fault = "truncate", path = "/t" }, { fault = "empty", path = "/e" },
      { fault = "delay", seconds = 0.5, path = "/d" },
    } }) } }
    local ok, err = pcall(function()
      local core = require "flowservice.core"
      local session = core.session { ca_file = certs.ca, timeout = 10 }
      local function timed(path)
        local started = socket.gettime()
        local status, _, name = session:request { url = emu.url .. path }
        return status, name, socket.gettime() - started
      end
      local status, name = timed("/t")
      assert.is_nil(status)
      assert.are.equal("CURLE_PARTIAL_FILE", name)
      local took
      status, name, took = timed("/e")
      assert.is_nil(status)
      assert.are.equal("CURLE_GOT_NOTHING", name)
      assert.is_true(took < 1.5, "the empty reply took " .. took .. " s")
      status, name, took = timed("/d")
      assert.are.equal(404, status, name)
      assert.is_true(took >= 0.45, "the delayed reply took " .. took .. " s")
      session:close()
    end)
    emu.stop()
    assert(ok, err)
  end)
end)

describe("emulator fault configuration at start", function()
  it("takes rules from a JSON file, and --fault-seed overrides its seed", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"seed": 5, "rules": [{"fault": "status", "status": 503, "probability": 0.5}]}')
    f:close()
    local function run(args)
      local emu = helper.start_emulator { args = args }
      local ok, result = pcall(function()
        local config = rawhttp.admin(emu).faults()
        local fired = {}
        for i = 1, 40 do fired[i] = rawhttp.request(emu, "GET", SPECS).status == 503 and 1 or 0 end
        return { seed = config.seed, fired = table.concat(fired) }
      end)
      emu.stop()
      assert(ok, result)
      return result
    end
    local from_file = run { "--faults", path }
    local seeded = run { "--faults", path, "--fault-seed", "6" }
    local again = run { "--fault-seed", "6", "--faults", path }
    os.remove(path)
    assert.are.equal(5, from_file.seed)
    assert.are.equal(6, seeded.seed)
    assert.are.same(seeded, again)
    assert.are_not.equal(from_file.fired, seeded.fired)
    assert.matches("1", from_file.fired)
    assert.matches("0", from_file.fired)
  end)

  it("takes JSON text", function()
    local emu = helper.start_emulator { args = { "--faults",
      '{"rules": [{"fault": "status", "status": 429, "retry_after": 3}]}' } }
    local ok, err = pcall(function()
      local res = rawhttp.request(emu, "GET", SPECS)
      assert.are.equal(429, res.status)
      assert.are.equal("3", res.headers["retry-after"])
    end)
    emu.stop()
    assert(ok, err)
  end)

  it("refuses a bad rule with exit status 2 and a message naming the rule and the field", function()
    local out = helper.run(helper.LUA .. " bin/flowservice-emulator --faults "
      .. helper.shell_quote('{"rules": [{"fault": "reset"}, {"fault": "delay", "seconds": -1}]}')
      .. "; echo exit=$?")
    assert.matches("rule 2: field 'seconds' must be", out, 1, true)
    assert.matches("exit=2", out, 1, true)
    out = helper.run(helper.LUA .. " bin/flowservice-emulator --fault-seed -3; echo exit=$?")
    assert.matches("--fault-seed", out, 1, true)
    assert.matches("exit=2", out, 1, true)
  end)

  it("emulator.new refuses a bad rule naming the rule and the field", function()
    local emulator = require "flowservice.emulator"
    local ok, err = pcall(emulator.new, { client_id = "c", client_secret = "s", org_id = "o",
      faults = { rules = { { fault = "truncate", bytes = "half" } } } })
    assert.is_false(ok)
    assert.matches("option 'faults': rule 1: field 'bytes' must be", err, 1, true)
  end)
end)

describe("fault rule sets", function()
  local faults = require "flowservice.emulator.faults"

  it("draw the minimal standard generator's sequence (the same on every platform)", function()
    local set = faults.new { seed = 0 }                  -- state 1, as minstd_rand's default
    for _ = 1, 10000 do set:draw() end
    assert.are.equal(399268537, set.state)            -- C++ [rand.predef]: minstd_rand, 10000th
  end)

  it("restart from the seed when replaced", function()
    local set = faults.new { seed = 11, rules = { { fault = "empty", probability = 0.5 } } }
    local function run()
      local s = {}
      for i = 1, 64 do s[i] = set:match("GET", "/x") and 1 or 0 end
      return table.concat(s)
    end
    local first = run()
    set:replace(set.rules[1] and { set.rules[1].spec } or {})
    assert.are.equal(first, run())
  end)

  it("make HTTP dates without the locale", function()
    assert.are.equal("Sun, 06 Nov 1994 08:49:37 GMT", faults.http_date(784111777))
  end)
end)
