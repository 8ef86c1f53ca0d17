-- Retries through the public client against real server processes: the scripted
-- spec/fixtures/flaky_server.lua (per-request answers), unbound ports, a listener that never
-- accepts, and the emulator (bin/flowservice-emulator: token revocation by its admin reset, and
-- its fault injection when the admin endpoints are there). Delays are shortened with the `retry`
-- option's base; timing bounds are generous.
local helper = require "spec.helper"
local flowservice = require "flowservice"
local socket = require "socket"
local cjson = require "cjson"

local TOKEN = "SENTINEL-retry-token-0d4c"
local API_KEY = "retry-spec-api-key"
local ID = "4b1c7e0a-0000-4000-8000-000000000001"
local FAST = { base = 0.01, throttle_base = 0.02 }

-- Starts the flaky server with `script` (see its header); returns helper.start_logging_fixture's
-- process with requests() added.
local function start_flaky(script)
  local fx = helper.start_logging_fixture("flaky_server.lua", cjson.encode(script))
  -- The scripted requests the server got, as "METHOD TARGET" lines.
  function fx.requests()
    fx.probe()
    local lines = {}
    for method, target in fx.log():gmatch("request %d+ (%S+) (%S+)\n") do
      lines[#lines + 1] = method .. " " .. target
    end
    return lines
  end
  return fx
end

-- a's fields with b's over them; false in b removes a field.
local function merged(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do
    if v == false then t[k] = nil else t[k] = v end
  end
  return t
end

-- A client of a server at `url` standing in for Flow Service: a given token, no IMS.
local function client_for(url, opts, retry_opts)
  return assert(flowservice.new(merged({
    env = false, base_url = url, ims_url = url, org_id = helper.ORG_ID, access_token = TOKEN,
    api_key = API_KEY, retry = merged(FAST, retry_opts),
  }, opts)))
end

local function target_body()
  return { name = "t", dataset_id = "d", schema_id = "x" }
end

local CREATED = { status = 201, body = cjson.encode { id = ID, etag = '"1"' } }
local LIST = { status = 200, body = cjson.encode { items = { { id = ID } } } }

describe("retries against a scripted server", function()
  local fx
  after_each(function()
    if fx then fx.stop() end
    fx = nil
  end)

  it("a GET after two 503s succeeds with attempts = 3", function()
    fx = start_flaky { { status = 503 }, { status = 503 }, LIST }
    local c = client_for(fx.url)
    local body, res = c:request { method = "GET", path = "/connections" }
    assert.equals(ID, body.items[1].id)
    assert.equals(3, res.attempts)
    assert.equals(3, #fx.requests())
  end)

  it("a POST after a 500 is not retried and is ambiguous", function()
    fx = start_flaky { { status = 500 }, CREATED }
    local c = client_for(fx.url)
    local created, err = c.target_connections:create(target_body())
    assert.is_nil(created)
    assert.same({ "http", 500, 1, false, true }, { err.kind, err.status, err.attempts, err.retryable, err.ambiguous })
    assert.equals(1, #fx.requests())
  end)

  it("a POST whose connection closes without a reply is not retried and is ambiguous", function()
    fx = start_flaky { { close = true }, CREATED }
    local c = client_for(fx.url)
    local _, err = c.target_connections:create(target_body())
    assert.same({ "transport", "CURLE_GOT_NOTHING", 1, true }, { err.kind, err.curl_code, err.attempts, err.ambiguous })
    assert.equals(1, #fx.requests())
  end)

  it("a POST that timed out after sending is not retried and is ambiguous", function()
    fx = start_flaky { { stall = true }, CREATED }
    local c = client_for(fx.url, { timeout = 1 })
    local _, err = c.target_connections:create(target_body())
    assert.same({ "CURLE_OPERATION_TIMEDOUT", 1, true }, { err.curl_code, err.attempts, err.ambiguous })
    assert.equals(1, #fx.requests())
  end)

  it("a POST after the gateway's 429 is retried, honouring Retry-After; after another 429 or 503 it is not", function()
    local refused = cjson.encode { error_code = "429050", message = "Too many requests" }
    fx = start_flaky { { status = 429, headers = { ["Retry-After"] = "1" }, body = refused }, CREATED }
    local c = client_for(fx.url)
    local t0 = socket.gettime()
    local created = assert(c.target_connections:create(target_body()))
    local took = socket.gettime() - t0
    assert.equals(ID, created.id)
    assert.equals(2, #fx.requests())
    assert.is_true(took >= 1 and took < 5, ("took %.2f s"):format(took))
    fx.stop()

    for _, answer in ipairs { { status = 503 }, { status = 429 }, { status = 503, body = refused },
        { status = 429, body = cjson.encode { title = "Too many requests", status = 429 } } } do
      fx = start_flaky { answer, CREATED }
      local _, err = client_for(fx.url).target_connections:create(target_body())
      assert.same({ answer.status, 1, true }, { err.status, err.attempts, err.ambiguous })
      assert.equals(1, #fx.requests())
      fx.stop()
    end
    fx = nil
  end)

  it("a GET that keeps failing ends within the deadline, each attempt's timeout lowered", function()
    fx = start_flaky { { stall = true } }
    local c = client_for(fx.url, { timeout = 30 }, { deadline = 1.5, attempts = 5 })
    local t0 = socket.gettime()
    local _, err = c:request { method = "GET", path = "/connections" }
    local took = socket.gettime() - t0
    assert.equals("CURLE_OPERATION_TIMEDOUT", err.curl_code)
    assert.is_true(err.attempts >= 1)
    assert.is_true(took >= 1.4 and took <= 2.5, ("took %.2f s"):format(took))
  end)

  it("after a 401 from a token IMS issued, fetches one new token and repeats the call once", function()
    local token = { status = 200, body = cjson.encode { access_token = "t", token_type = "bearer", expires_in = 3600 } }
    fx = start_flaky { token, { status = 401 }, token, LIST, LIST }
    local c = client_for(fx.url, { access_token = false, client_id = helper.CLIENT_ID,
      client_secret = helper.CLIENT_SECRET })
    local _, res = assert(c:request { method = "GET", path = "/connections" })
    assert.equals(2, res.attempts)
    assert(c:request { method = "GET", path = "/connections" })
    local base = "/data/foundation/flowservice/connections"
    assert.same({ "POST /ims/token/v3", "GET " .. base, "POST /ims/token/v3", "GET " .. base, "GET " .. base },
      fx.requests())
  end)
end)

describe("retries before anything reaches a server", function()
  it("a POST to a closed port is retried and is not ambiguous", function()
    local url = "http://127.0.0.1:" .. helper.closed_port()
    local c = client_for(url)
    local _, err = c.target_connections:create(target_body())
    assert.same({ "transport", "CURLE_COULDNT_CONNECT", 3, true, false },
      { err.kind, err.curl_code, err.attempts, err.retryable, err.ambiguous })
  end)

  it("a POST whose connection is never accepted times out before sending and is retried", function()
    -- connect times out with no request byte sent
    local port, close = helper.unaccepting_port()
    local c = client_for("http://127.0.0.1:" .. port, { connect_timeout = 0.5 }, { attempts = 2 })
    local _, err = c.target_connections:create(target_body())
    close()
    assert.same({ "CURLE_OPERATION_TIMEDOUT", 2, true, false },
      { err.curl_code, err.attempts, err.retryable, err.ambiguous })
  end)
end)

describe("retries against the emulator", function()
  local emu, admin
  setup(function()
    emu = helper.start_emulator()
    local rawhttp = require "spec.rawhttp"
    admin = rawhttp.admin and rawhttp.admin(emu)
  end)
  teardown(function() if emu then emu.stop() end end)

  local function emulator_client()
    return helper.new_client(emu, { retry = merged(FAST) })
  end

  local function count(pattern)
    local n = 0
    for _ in emu.log():gmatch(pattern) do n = n + 1 end
    return n
  end

  it("a token the emulator revoked (admin reset) is refreshed once", function()
    assert(admin, "the emulator's admin endpoints (spec/rawhttp.lua rawhttp.admin) are missing")
    local c = emulator_client()
    assert(c.connections:all())
    local tokens = count("POST /ims/token/v3 200")
    admin.reset()
    local items, err = c.connections:all()
    assert.is_truthy(items, tostring(err))
    assert.equals(tokens + 1, count("POST /ims/token/v3 200"))
    assert.is_true(count("GET /data/foundation/flowservice/connections 401") >= 1)
  end)

  it("a GET after injected 503s succeeds; a create after an injected 500 is ambiguous and created", function()
    assert(admin, "the emulator's admin endpoints (spec/rawhttp.lua rawhttp.admin) are missing")
    local c = emulator_client()
    admin.set_faults { { method = "GET", path = "*/connections", count = 2, fault = "status", status = 503 } }
    local _, res = assert(c:request { method = "GET", path = "/connections" })
    assert.equals(3, res.attempts)

    admin.set_faults { { method = "POST", path = "*/targetConnections", count = 1, fault = "status", status = 500,
      phase = "after" } }
    local _, err = c.target_connections:create(target_body())
    assert.same({ 500, 1, true }, { err.status, err.attempts, err.ambiguous })
    admin.clear_faults()
    assert.equals(1, #assert(c.target_connections:all()))
  end)

  it("a create answered 503 or 429 after the emulator carried it out is ambiguous and sent once", function()
    assert(admin, "the emulator's admin endpoints (spec/rawhttp.lua rawhttp.admin) are missing")
    local c = emulator_client()
    for _, status in ipairs { 503, 429 } do
      local name = "after " .. status
      admin.set_faults { { method = "POST", path = "*/targetConnections", count = 1, fault = "status",
        status = status, phase = "after", retry_after = 0 } }
      local _, err = c.target_connections:create { name = name, dataset_id = "d", schema_id = "x" }
      admin.clear_faults()
      assert.same({ status, 1, true }, { err.status, err.attempts, err.ambiguous })
      assert.equals(1, #assert(c.target_connections:all { property = { { "name", "==", name } } }))
    end
    -- refused by the "gateway" before processing: resent, created once
    admin.set_faults { { method = "POST", path = "*/targetConnections", count = 1, fault = "status", status = 429,
      retry_after = 0 } }
    local made = assert(c.target_connections:create { name = "after gateway 429", dataset_id = "d", schema_id = "x" })
    admin.clear_faults()
    assert.equals(1, #assert(c.target_connections:all { property = { { "name", "==", "after gateway 429" } } }))
    assert.is_string(made.id)
  end)

  it("a create reset after the emulator read it, on a kept-alive client, is sent once", function()
    -- libcurl re-sends a request by itself when a reused connection dies before any reply; the
    -- client sends every POST on a new connection so that cannot happen.
    assert(admin, "the emulator's admin endpoints (spec/rawhttp.lua rawhttp.admin) are missing")
    local c = emulator_client()
    assert(c.target_connections:all()) -- a token and a kept-alive connection
    local before = count("POST /data/foundation/flowservice/targetConnections")
    admin.set_faults { { method = "POST", path = "*/targetConnections", count = 1, fault = "reset", phase = "after" } }
    local _, err = c.target_connections:create { name = "once", dataset_id = "d", schema_id = "x" }
    admin.clear_faults()
    assert.same({ "transport", 1, true }, { err.kind, err.attempts, err.ambiguous })
    local named = assert(c.target_connections:all { property = { { "name", "==", "once" } } })
    assert.equals(1, #named)
    assert.equals(before + 1, count("POST /data/foundation/flowservice/targetConnections"))
  end)
end)

describe("the core's per-request timeout, resend and request_size", function()
  local core = require "flowservice.core"
  local fx
  after_each(function()
    if fx then fx.stop() end
    fx = nil
  end)

  it("checks the timeout field", function()
    local s = core.session()
    for _, bad in ipairs { 0, -1, 0 / 0, 2147484, "1" } do
      local ok, err = pcall(s.request, s, { url = "http://127.0.0.1:1/", timeout = bad })
      assert.is_false(ok)
      assert.matches("field 'timeout' must be", err)
    end
    local ok, err = pcall(s.request, s, { url = "http://127.0.0.1:1/", timeot = 1 })
    assert.is_false(ok)
    assert.matches("unknown field 'timeot' %(valid: body, capture, headers, method, resend, timeout, url%)",
      err)
    ok, err = pcall(s.request, s, { url = "http://127.0.0.1:1/", resend = 1 })
    assert.is_false(ok)
    assert.matches("field 'resend' must be a boolean, got number", err)
    s:close()
  end)

  it("lowers the session's timeout, never raises it, and reports the bytes sent", function()
    fx = start_flaky { { stall = true } }
    local s = core.session { timeout = 1 }
    local t0 = socket.gettime()
    local status, message, name, info = s:request { url = fx.url .. "/a", timeout = 30 }
    local took = socket.gettime() - t0
    assert.same({ nil, "CURLE_OPERATION_TIMEDOUT" }, { status, name })
    assert.matches("^CURLE_OPERATION_TIMEDOUT: ", message)
    assert.is_true(took >= 0.9 and took < 3, ("took %.2f s"):format(took))
    assert.is_true(info.request_size > 0)
    t0 = socket.gettime()
    status, message, name = s:request { url = fx.url .. "/b", timeout = 0.3 }
    took = socket.gettime() - t0
    assert.same({ nil, "CURLE_OPERATION_TIMEDOUT" }, { status, name })
    -- libcurl's timer may end it a millisecond early ("after 299 milliseconds")
    local ms = tonumber(message:match("after (%d+) milliseconds"))
    assert.is_true(ms ~= nil and ms >= 290 and ms < 400, message)
    assert.is_true(took >= 0.25 and took < 0.9, ("took %.2f s"):format(took))
    local _, _, refused, refused_info = s:request { url = "http://127.0.0.1:" .. helper.closed_port() .. "/" }
    assert.same({ "CURLE_COULDNT_CONNECT", 0, 0 }, { refused, refused_info.request_size, refused_info.connects })
    s:close()
  end)
end)
