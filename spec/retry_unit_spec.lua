-- Unit specs of the retry policy: retry.lua's pure parts (delays, Retry-After, classification,
-- the budget) and client.lua's loop on the fake core (spec/fakecore.lua) with an injected clock,
-- sleep and random: exact delays, the deadline, the budget, POST safety, the 401 refresh, and
-- the fields every error carries.
local cjson = require "cjson"
local fakecore = require "spec.fakecore"

local JSON = { ["content-type"] = "application/json" }
local TOKEN = "SENTINEL-retry-unit-token-3e1f"
local SECRET = "SENTINEL-retry-unit-secret-77aa"
local ID = "4b1c7e0a-0000-4000-8000-000000000001"

describe("retry (pure parts)", function()
  local retry
  before_each(function()
    fakecore.load(function() error("no request expected") end)
    retry = require "flowservice.retry"
  end)

  local function policy(opts)
    return assert(retry.policy(opts, function() end))
  end

  describe("backoff", function()
    it("is random() * min(cap, base * 2^(n-1)), with the throttle base when throttled", function()
      local p = policy { random = function() return 0.5 end }
      assert.same({ 0.05, 0.1, 0.2, 0.4 },
        { retry.backoff(p, 1), retry.backoff(p, 2), retry.backoff(p, 3), retry.backoff(p, 4) })
      assert.same({ 0.5, 1, 2 }, { retry.backoff(p, 1, true), retry.backoff(p, 2, true), retry.backoff(p, 3, true) })
    end)

    it("caps before the jitter", function()
      local p = policy { random = function() return 0.5 end, base = 1, cap = 3 }
      assert.same({ 0.5, 1, 1.5, 1.5 }, { retry.backoff(p, 1), retry.backoff(p, 2), retry.backoff(p, 3),
        retry.backoff(p, 10) })
      assert.equals(10, policy { random = function() return 0.5 end }.cap / 2) -- default cap 20
      assert.equals(10, retry.backoff(policy { random = function() return 0.5 end }, 30, true))
    end)

    it("stays within [0, min(cap, base * 2^(n-1))) with the default random", function()
      local p = policy {}
      for n = 1, 12 do
        for _ = 1, 200 do
          local d = retry.backoff(p, n, n % 2 == 0)
          local bound = math.min(20, (n % 2 == 0 and 1 or 0.1) * 2 ^ (n - 1))
          assert.is_true(d >= 0 and d < bound, ("n=%d: %g not in [0, %g)"):format(n, d, bound))
        end
      end
    end)
  end)

  describe("Retry-After", function()
    local NOW = 784111777 -- Sun, 06 Nov 1994 08:49:37 GMT

    it("reads the three HTTP-date forms", function()
      assert.equals(NOW, retry.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
      assert.equals(NOW, retry.parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
      assert.equals(NOW, retry.parse_http_date("Sun Nov  6 08:49:37 1994"))
      assert.equals(951782400, retry.parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"))
      assert.equals(1767225599, retry.parse_http_date("Wed, 31 Dec 2025 23:59:59 GMT"))
      assert.equals(946684800, retry.parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"))
    end)

    it("takes delta-seconds and dates, clamped to the maximum", function()
      assert.equals(5, retry.parse_retry_after("5", NOW, 60))
      assert.equals(7, retry.parse_retry_after(" 7 ", NOW, 60))
      assert.equals(0, retry.parse_retry_after("0", NOW, 60))
      assert.equals(60, retry.parse_retry_after("3600", NOW, 60))
      assert.equals(60, retry.parse_retry_after("99999999999999999999999", NOW, 60))
      assert.equals(10, retry.parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", NOW, 60))
      assert.equals(12, retry.parse_retry_after("Sunday, 06-Nov-94 08:49:49 GMT", NOW, 60))
      assert.equals(3, retry.parse_retry_after("Sun Nov  6 08:49:40 1994", NOW, 60))
      assert.equals(60, retry.parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", NOW, 60))
      assert.equals(0, retry.parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", NOW, 60)) -- in the past
    end)

    it("ignores invalid values", function()
      for _, v in ipairs { "", "soon", "-1", "1.5", "+3", "0x10", "5 s", "Sun, 06 Nov 1994 08:49:37 UTC",
          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
          "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994" } do
        assert.is_nil(retry.parse_retry_after(v, NOW, 60), v)
      end
      assert.is_nil(retry.parse_retry_after(nil, NOW, 60))
    end)
  end)

  describe("classify", function()
    local STATUS_RETRIED = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

    -- Every method (PATCH with and without If-Match, the IMS POST) x every kind of outcome.
    local METHODS = {
      { "GET" }, { "PUT" }, { "DELETE" }, { "HEAD" }, { "PATCH", conditional = true }, { "PATCH" },
      { "POST" }, { "POST", repeatable = true },
    }
    local function idempotent(m)
      return m[1] ~= "POST" and m[1] ~= "PATCH" or m.conditional or m.repeatable or false
    end
    local function verdict(m, outcome)
      outcome.method, outcome.conditional, outcome.repeatable = m[1], m.conditional, m.repeatable
      local v = retry.classify(outcome)
      return { v.retryable, v.ambiguous }
    end

    it("statuses", function()
      for _, m in ipairs(METHODS) do
        for _, status in ipairs { 200, 201, 204, 302, 400, 401, 403, 404, 408, 409, 412, 429, 500, 501,
            502, 503, 504, 505 } do
          local retried, ambiguous
          if idempotent(m) then
            retried, ambiguous = STATUS_RETRIED[status] == true, false
          else
            -- a 429 or 503 without the gateway's proof may come after the service acted
            retried = false
            ambiguous = status >= 500 or status == 429
          end
          assert.same({ retried, ambiguous }, verdict(m, { status = status }), m[1] .. " " .. status)
        end
      end
    end)

    it("a POST is retried after an answer only when it proves the request never reached the service", function()
      for _, m in ipairs(METHODS) do
        assert.same({ true, false }, verdict(m, { status = 429, refused = true }), m[1])
        assert.same({ idempotent(m), not idempotent(m) }, verdict(m, { status = 503, retry_after = true }), m[1])
      end
    end)

    it("refused_before_service: only a 429 with the adobe.io gateway's throttling body", function()
      local gateway = { error_code = "429050", message = "Too many requests" }
      assert.is_true(retry.refused_before_service(429, {}, gateway))
      assert.is_true(retry.refused_before_service(429, {}, cjson.encode(gateway)))
      for _, case in ipairs {
        { 503, { error_code = "503050", message = "Service unavailable" } },
        { 503, gateway },
        { 429, { error_code = "429001", message = "Too many requests" } },
        { 429, { error_code = 429050, message = "Too many requests" } },
        { 429, { error_code = "429050" } },
        { 429, { type = "https://ns.adobe.com/aep/errors/FLOW-1102-429", title = "Internal Error", status = 429 } },
        { 429, nil }, { 429, "" }, { 429, "Too many requests" }, { 429, '{"error_code":"429050"' },
      } do
        assert.is_false(retry.refused_before_service(case[1], {}, case[2]), cjson.encode(case))
      end
    end)

    it("every 2xx is retry.SUCCESS, the constant the retry loop uses instead of classify", function()
      for _, m in ipairs(METHODS) do
        for _, status in ipairs { 200, 201, 202, 204, 206, 299 } do
          local outcome = { status = status, method = m[1], conditional = m.conditional, repeatable = m.repeatable }
          local v = retry.classify(outcome)
          assert.same({ retry.SUCCESS.retryable, retry.SUCCESS.ambiguous, retry.SUCCESS.throttle },
            { v.retryable, v.ambiguous, v.throttle }, m[1] .. " " .. status)
        end
      end
      assert.same({ false, false, false }, { retry.SUCCESS.retryable, retry.SUCCESS.ambiguous, retry.SUCCESS.throttle })
      assert.has_error(function() retry.SUCCESS.retryable = true end, "retry.SUCCESS is read-only")
    end)

    it("transport failures", function()
      local CASES = { -- code, sent, retried when idempotent, retried when not, ambiguous when not
        { "CURLE_COULDNT_RESOLVE_HOST", nil, true, true, false },
        { "CURLE_COULDNT_RESOLVE_PROXY", nil, true, true, false },
        { "CURLE_COULDNT_CONNECT", nil, true, true, false },
        { "CURLE_SSL_CONNECT_ERROR", nil, true, true, false },
        { "CURLE_OPERATION_TIMEDOUT", false, true, true, false },
        { "CURLE_OPERATION_TIMEDOUT", true, true, false, true },
        { "CURLE_RECV_ERROR", true, true, false, true },
        { "CURLE_SEND_ERROR", true, true, false, true },
        { "CURLE_GOT_NOTHING", true, true, false, true },
        { "CURLE_PARTIAL_FILE", true, true, false, true },
        { "CURLE_WEIRD_SERVER_REPLY", true, true, false, true },
        -- an unsafe request libcurl wanted to send again on a new connection (resend = false)
        { "CURLE_SEND_FAIL_REWIND", true, true, false, true },
        { "CURLE_PEER_FAILED_VERIFICATION", false, false, false, false },
        { "CURLE_SSL_CACERT_BADFILE", false, false, false, false },
        { "CURLE_URL_MALFORMAT", false, false, false, false },
        { "CURLE_FILESIZE_EXCEEDED", true, false, false, true },
      }
      for _, m in ipairs(METHODS) do
        for _, c in ipairs(CASES) do
          local expected = idempotent(m) and { c[3], false } or { c[4], c[5] }
          assert.same(expected, verdict(m, { curl_code = c[1], sent = c[2] }), m[1] .. " " .. c[1])
        end
      end
    end)

    it("an unreadable 2xx body: not retried; ambiguous unless the request was safe to repeat", function()
      for _, m in ipairs(METHODS) do
        assert.same({ false, not idempotent(m) }, verdict(m, { status = 201, decode = true }), m[1])
      end
    end)

    it("throttling: 429, and 503 with Retry-After", function()
      assert.is_true(retry.classify { method = "GET", status = 429 }.throttle)
      assert.is_true(retry.classify { method = "GET", status = 503, retry_after = true }.throttle)
      assert.is_false(retry.classify { method = "GET", status = 503 }.throttle)
      assert.is_false(retry.classify { method = "GET", status = 500, retry_after = true }.throttle)
      assert.equals(5, retry.cost(true))
      assert.equals(14, retry.cost(false))
    end)
  end)

  describe("budget", function()
    it("pays while it can, refunds up to its capacity", function()
      local b = retry.budget(20)
      assert.is_true(b:take(14))
      assert.is_false(b:take(14))
      assert.equals(6, b.tokens)
      assert.is_true(b:take(5))
      b:refund(100)
      assert.equals(20, b.tokens)
      assert.equals("flowservice.retry.budget (20 of 20 tokens)", tostring(b))
    end)
  end)
end)

---------------------------------------------------------------------------------------------------
-- The client's loop on the fake core
---------------------------------------------------------------------------------------------------

-- A responder playing `script` in order (one entry per request; the last one repeats). An entry
-- is { status, headers, body } or { fail = "CURLE_...", sent = bytes }, or a function(req).
-- IMS requests get a token unless the script says otherwise (ims = {...}).
local function scripted(script, opts)
  opts = opts or {}
  local i, ims = 0, 0
  return function(req)
    if req.url:find("/ims/token/v3", 1, true) then
      ims = ims + 1
      local entry = opts.ims and opts.ims[math.min(ims, #opts.ims)]
      if entry then return entry[1], entry[2] or JSON, entry[3] end
      return 200, JSON, cjson.encode { access_token = TOKEN .. "-" .. ims, token_type = "bearer",
        expires_in = 86399 }
    end
    i = i + 1
    local entry = script[math.min(i, #script)]
    if type(entry) == "function" then entry = entry(req) end
    if opts.on_request then opts.on_request(req) end
    if entry.fail then
      return nil, entry.fail .. ": failed", entry.fail, { request_size = entry.sent or 0, connects = 0 }
    end
    local headers = {}
    for k, v in pairs(entry[2] or JSON) do headers[k] = v end
    return entry[1], headers, entry[3] or (entry[1] < 300 and cjson.encode { items = { { id = ID } } }
      or cjson.encode { title = "failed" })
  end
end

describe("the client's retry loop", function()
  local flowservice, sent, core, client_module
  local now, slept

  local function load(script, opts)
    flowservice, sent, core = fakecore.load(scripted(script, opts))
    client_module = require "flowservice.client"
    now, slept = 1000, {}
    client_module.clock = function() return now end
  end

  after_each(function()
    if client_module then client_module.clock = core.monotonic end
  end)

  local function new_client(retry_opts, extra)
    local r = { sleep = function(s) slept[#slept + 1] = s; now = now + s end, random = function() return 0.5 end }
    for k, v in pairs(retry_opts or {}) do r[k] = v end
    -- the retry policy alone; with the limiter: limiter_unit_spec.lua
    local opts = { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN, api_key = "k", retry = r,
      limiter = false }
    for k, v in pairs(extra or {}) do
      if v == false then opts[k] = nil else opts[k] = v end
    end
    return assert(flowservice.new(opts))
  end

  local function flow_requests()
    return fakecore.flow_requests(sent)
  end

  it("retries a GET after two 503s with exact full-jitter delays", function()
    load { { 503 }, { 503 }, { 200 } }
    local c = new_client()
    local flow = assert(c.flows:get(ID))
    assert.equals(ID, flow.id)
    assert.equals(3, #sent)
    assert.same({ 0.05, 0.1 }, slept)
  end)

  it("gives up after `attempts` with a retryable error that counts them", function()
    load { { 503, { ["content-type"] = "application/json", ["x-request-id"] = "req-9" } } }
    local c = new_client()
    local flow, err = c.flows:get(ID)
    assert.is_nil(flow)
    assert.same({ "http", 503, 3, true, false, "req-9" },
      { err.kind, err.status, err.attempts, err.retryable, err.ambiguous, err.request_id })
    assert.same({ 0.05, 0.1 }, slept)
    assert.matches("after 3 attempts", tostring(err))
    assert.is_nil(tostring(err):find("ambiguous"))
  end)

  it("honours Retry-After in seconds and as a date, clamped; ignores an invalid one", function()
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    load { { 429, { ["retry-after"] = "2" } }, { 503, { ["retry-after"] = date } },
      { 429, { ["retry-after"] = "7200" } }, { 200 } }
    local c = new_client { attempts = 4 }
    assert(c.flows:get(ID))
    assert.equals(2, slept[1])
    assert.is_true(slept[2] >= 28 and slept[2] <= 31, tostring(slept[2]))
    assert.equals(60, slept[3])

    -- A date is read against the response's Date header, not the local clock (skewed here).
    load { { 503, { ["retry-after"] = "Sun, 06 Nov 1994 08:49:47 GMT", date = "Sun, 06 Nov 1994 08:49:37 GMT" } },
      { 200 } }
    c = new_client()
    assert(c.flows:get(ID))
    assert.same({ 10 }, slept)

    load { { 429, { ["retry-after"] = "later" } }, { 200 } }
    c = new_client()
    assert(c.flows:get(ID))
    assert.same({ 0.5 }, slept) -- throttled: 0.5 * throttle_base
  end)

  it("sends each attempt with the time left as its timeout and never waits past the deadline", function()
    -- Every attempt takes 0.3 s, or its timeout when that is shorter (as libcurl would end it).
    local function takes(req) now = now + math.min(0.3, req.timeout) end
    load({ { 503, { ["retry-after"] = "0" } } }, { on_request = takes })
    local c = new_client { attempts = 10, deadline = 2, retry_after_max = 0.5 }
    local started = now
    local _, err = c.flows:get(ID)
    -- attempts start at 0, 0.3, 0.6, ... (Retry-After 0 honoured) until no time is left
    assert.equals(err.attempts, #sent)
    for i, r in ipairs(sent) do
      assert.is_near(2 - 0.3 * (i - 1), r.timeout, 1e-9)
    end
    assert.is_true(now - started <= 2 + 1e-9)

    load({ { 503, { ["retry-after"] = "1" } } }, { on_request = takes })
    c = new_client { attempts = 10, deadline = 2 }
    started = now
    _, err = c.flows:get(ID)
    -- 0 -> 0.3, wait 1 -> 1.3, 1.3 -> 1.6: another wait of 1 would end after 2
    assert.equals(2, sent[1].timeout)
    assert.is_near(0.7, sent[2].timeout, 1e-9)
    assert.equals(2, err.attempts)
    assert.same({ 1 }, slept)
    assert.is_true(now - started <= 2)
  end)

  it("starts no attempt once the deadline has passed", function()
    load({ { fail = "CURLE_COULDNT_CONNECT" } }, { on_request = function() now = now + 5 end })
    local c = new_client { deadline = 4 }
    local _, err = c.flows:get(ID)
    assert.equals(1, #sent)
    assert.same({ "transport", 1, true }, { err.kind, err.attempts, err.retryable })
  end)

  it("stops retrying when the budget cannot pay, fails fast, and refunds 1 per success", function()
    local throttled = 0
    load { function(req)
      if req.url:find("/ok", 1, true) then return { 200 } end
      if req.url:find("/throttled", 1, true) then
        throttled = throttled + 1
        return throttled % 2 == 1 and { 429 } or { 200 }
      end
      return { 500 }
    end }
    local c = new_client { budget = 14 }
    local function count(path)
      local before = #sent
      local _, err = c:request { method = "GET", path = path }
      return #sent - before, err
    end
    -- 14 tokens: one retry (cost 14), then no more
    local n, err = count("/fail")
    assert.equals(2, n)
    assert.same({ 2, true, true }, { err.attempts, err.budget_exhausted, err.retryable })
    assert.matches("retry budget exhausted", tostring(err))
    -- empty: fail fast
    n, err = count("/fail")
    assert.equals(1, n)
    assert.is_true(err.budget_exhausted)
    -- 5 successes without retry put 5 tokens back: a 500 retry (14) is not paid, a 429 one (5) is
    for _ = 1, 5 do assert.equals(1, count("/ok")) end
    assert.equals(1, count("/fail"))
    assert.equals(2, count("/throttled"))
    -- that retried call succeeded: its 5 tokens came back
    assert.equals(2, count("/throttled"))
    assert.equals(1, count("/fail"))
  end)

  it("puts back the full cost when a retried call succeeds", function()
    load { { 500 }, { 200 }, { 500 }, { 200 }, { 500 }, { 500 } }
    local c = new_client { budget = 14 }
    assert(c:request { method = "GET", path = "/a" }) -- takes 14, gives 14 back
    assert(c:request { method = "GET", path = "/b" }) -- so this one may retry too
    local _, err = c:request { method = "GET", path = "/c" }
    assert.same({ 6, 2, true }, { #sent, err.attempts, err.budget_exhausted })
  end)

  describe("POST safety", function()
    it("does not retry a POST after a 500 and marks it ambiguous", function()
      load { { 500 } }
      local c = new_client()
      local _, err = c.target_connections:create { name = "t", dataset_id = "d", schema_id = "x" }
      assert.same({ 1, 500, false, true }, { #sent, err.status, err.retryable, err.ambiguous })
      assert.matches("ambiguous", tostring(err))
    end)

    it("retries a POST that never reached the server, and after the gateway's 429", function()
      local refused = { 429, JSON, cjson.encode { error_code = "429050", message = "Too many requests" } }
      for _, first in ipairs { { fail = "CURLE_COULDNT_CONNECT" }, { fail = "CURLE_COULDNT_RESOLVE_HOST" },
          { fail = "CURLE_SSL_CONNECT_ERROR" }, { fail = "CURLE_OPERATION_TIMEDOUT", sent = 0 }, refused } do
        load { first, { 201, JSON, cjson.encode { id = ID, etag = '"1"' } } }
        local c = new_client()
        local created = assert(c.target_connections:create { name = "t", dataset_id = "d", schema_id = "x" })
        assert.equals(ID, created.id)
        assert.equals(2, #sent, first.fail or first[1])
      end
    end)

    it("marks every other failed POST ambiguous, not retried", function()
      for _, outcome in ipairs { { fail = "CURLE_OPERATION_TIMEDOUT", sent = 300 },
          { fail = "CURLE_RECV_ERROR", sent = 300 }, { fail = "CURLE_GOT_NOTHING", sent = 300 },
          { fail = "CURLE_PARTIAL_FILE", sent = 300 }, { 502 }, { 504 }, { 201, JSON, '{"id": "' },
          { 429 }, { 503 }, { 503, { ["retry-after"] = "1" } },
          { 503, JSON, cjson.encode { error_code = "503050", message = "Service unavailable" } },
          { 429, JSON, cjson.encode { type = "https://ns.adobe.com/aep/errors/FLOW-1102-429", status = 429 } } } do
        load { outcome }
        local c = new_client()
        local _, err = c.target_connections:create { name = "t", dataset_id = "d", schema_id = "x" }
        local what = outcome.fail or outcome[1]
        assert.same({ 1, 1, false, true }, { #sent, err.attempts, err.retryable, err.ambiguous }, what)
      end
    end)

    it("retries a PATCH with If-Match, not one without", function()
      load { { 502 }, { 200, JSON, cjson.encode { id = ID, etag = '"2"' } } }
      local c = new_client()
      assert(c.connections:update(ID, { name = "n" }, '"1"'))
      assert.equals(2, #sent)
      assert.equals('"1"', sent[2].headers["If-Match"])

      load { { 502 } }
      c = new_client()
      local _, err = c:request { method = "PATCH", path = "/connections/" .. ID,
        body = { { op = "remove", path = "/x" } } }
      assert.same({ 1, true }, { #sent, err.ambiguous })
    end)
  end)

  describe("with a token from IMS", function()
    local function ims_client(retry_opts)
      return new_client(retry_opts, { access_token = false, client_id = "cid", client_secret = SECRET })
    end

    it("retries the token request like a GET", function()
      load({ { 200 } }, { ims = { { 503, JSON, "{}" }, { 200, JSON, cjson.encode { access_token = TOKEN,
        expires_in = 3600 } } } })
      local c = ims_client()
      assert(c.flows:get(ID))
      assert.equals(3, #sent)
      assert.same({ 0.05 }, slept)
    end)

    it("an IMS outage (5xx) or throttling (429) is an http error, refused credentials an auth error", function()
      for _, case in ipairs { { 500, "http" }, { 503, "http" }, { 429, "http" }, { 400, "auth" }, { 401, "auth" } } do
        load({ { 200 } }, { ims = { { case[1], JSON, cjson.encode { error = "e", error_description = "d" } } } })
        local _, err = ims_client { attempts = 1 }:authenticate()
        assert.same({ case[2], case[1] }, { err.kind, err.status }, tostring(case[1]))
      end
    end)

    it("after a 401, fetches one new token and repeats the call once", function()
      load { function(req)
        return req.headers.Authorization == "Bearer " .. TOKEN .. "-1" and { 401 } or { 200 }
      end }
      local c = ims_client()
      assert(c.flows:get(ID))
      local urls = {}
      for i, r in ipairs(sent) do urls[i] = r.url:match("/ims/") and "ims" or r.headers.Authorization end
      assert.same({ "ims", "Bearer " .. TOKEN .. "-1", "ims", "Bearer " .. TOKEN .. "-2" }, urls)
      assert(c.flows:get(ID)) -- the new token is kept
      assert.equals(5, #sent)
    end)

    it("returns the second 401 without looping", function()
      load { { 401, JSON, cjson.encode { error_code = "401013", message = "Oauth token is not valid" } } }
      local c = ims_client()
      local _, err = c.flows:get(ID)
      assert.same({ "http", 401, "401013", 2 }, { err.kind, err.status, err.code, err.attempts })
      assert.equals(4, #sent) -- ims, get, ims, get
      assert.equals(2, #flow_requests())
    end)

    it("does not refresh a given access_token", function()
      load { { 401 } }
      local c = new_client()
      local _, err = c.flows:get(ID)
      assert.same({ 401, 1, 1 }, { err.status, err.attempts, #sent })
    end)

    it("refreshes before expiry: 300 s early, at most a tenth of the lifetime", function()
      load({ { 200 } }, { ims = { { 200, JSON, cjson.encode { access_token = TOKEN, expires_in = 100 } } } })
      local c = ims_client()
      assert(c.flows:get(ID))
      now = now + 89
      assert(c.flows:get(ID))
      assert.equals(3, #sent)
      now = now + 2
      assert(c.flows:get(ID))
      assert.equals(5, #sent) -- a new token at 90 s of 100
      assert.equals(300, client_module.REFRESH_MARGIN)
    end)
  end)

  describe("options", function()
    it("retry = false makes one attempt", function()
      load { { 503 } }
      local c = assert(flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
        api_key = "k", retry = false })
      local _, err = c.flows:get(ID)
      assert.same({ 1, 1, true }, { #sent, err.attempts, err.retryable })
    end)

    it("waits with core.sleep unless given a sleep function, and only through it", function()
      load { { 503 }, { 200 } }
      local waits = {}
      core.sleep = function(s) waits[#waits + 1] = s end
      local c = assert(flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
        api_key = "k", retry = { random = function() return 1 end } })
      assert(c.flows:get(ID))
      assert.same({ 0.1 }, waits)
      c:_sleep(3)
      assert.same({ 0.1, 3 }, waits)
    end)

    it("raises naming retry.random when it returns something that is not a number from 0 to 1", function()
      for _, bad in ipairs { 0 / 0, -0.5, 2, "0.5", false } do
        load { { 503 }, { 200 } }
        local c = new_client { random = function() return bad end }
        local ok, err = pcall(c.flows.get, c.flows, ID)
        assert.is_false(ok)
        assert.matches("option retry%.random: must return a number from 0 to 1", err)
      end
    end)

    it("raises on unknown names and wrong types, at the caller's line", function()
      load { { 200 } }
      local function new(r)
        local client = flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
          api_key = "k", retry = r }
        return client -- not a tail call: Lua 5.1 reports no line for a level that is one
      end
      local ok, err = pcall(function() new { atempts = 2 } end)
      assert.is_false(ok)
      assert.matches("retry_unit_spec.lua:%d+: flowservice.new: retry: unknown option 'atempts'", err)
      ok, err = pcall(function() new { base = "1" } end)
      assert.is_false(ok)
      assert.matches("retry_unit_spec.lua:%d+: flowservice.new: retry: base: expected number, got string", err)
      ok, err = pcall(function() new "yes" end)
      assert.matches("retry_unit_spec.lua:%d+: flowservice.new: retry: expected a table or false", err)
      assert.is_false(ok)
    end)

    it("returns validation errors for bad values, naming the option", function()
      load { { 200 } }
      for name, value in pairs { attempts = 0, base = -1, cap = 0 / 0, deadline = 0, budget = math.huge,
          retry_after_max = -5, throttle_base = -0.1 } do
        local c, err = flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
          api_key = "k", retry = { [name] = value } }
        assert.is_nil(c)
        assert.same({ "validation", "retry." .. name, 0, false, false },
          { err.kind, err.field, err.attempts, err.retryable, err.ambiguous })
      end
      assert.truthy(flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
        api_key = "k", retry = { attempts = 1.0, budget = 0 } })
    end)

    it("gives every error attempts, retryable and ambiguous; validation errors made no attempt", function()
      load { { 404 } }
      local c = new_client()
      local _, err = c.connections:get("")
      assert.same({ "validation", 0, false, false }, { err.kind, err.attempts, err.retryable, err.ambiguous })
      _, err = c.connections:get(ID)
      assert.same({ "http", 1, false, false }, { err.kind, err.attempts, err.retryable, err.ambiguous })
      assert.is_nil(tostring(err):find("attempts"))
    end)
  end)
end)
