-- Unit specs of adaptive rate limiting: limiter.lua's logic with an injected clock (no timing),
-- and the client's use of it on the fake core (spec/fakecore.lua) with an injected clock and
-- sleep: 429s absorbed without attempts or budget while requests succeed, Retry-After pausing
-- every request, a shared limiter, options and traces.
local cjson = require "cjson"
local fakecore = require "spec.fakecore"

local JSON = { ["content-type"] = "application/json" }
local TOKEN = "SENTINEL-limiter-unit-token-41c2"
local ID = "4b1c7e0a-0000-4000-8000-000000000002"
local GATEWAY_429 = { 429, JSON, '{"error_code":"429050","message":"Too many requests"}' }

describe("limiter (pure logic, injected clock)", function()
  local limiter, now, lim

  before_each(function()
    fakecore.load(function() error("no request expected") end)
    limiter = require "flowservice.limiter"
    now = 0
    lim = assert(limiter.new { clock = function() return now end, max_window = 16 })
  end)

  -- Successful answers every `step` seconds from `from` to `to` (clock moves along).
  local function succeed(from, to, step)
    for t = from, to, step do
      now = t
      local _, ticket = lim:acquire()
      lim:record(ticket, false)
    end
  end

  it("does not limit before the first throttling answer", function()
    for _ = 1, 1000 do
      local wait = lim:acquire()
      assert.equals(0, wait)
    end
    assert.equals(math.huge, lim:state().rate)
    assert.equals(16, lim:in_flight())
  end)

  it("falls to beta times the rate of successful answers over the last second, then paces", function()
    succeed(0, 2.75, 0.25)                    -- 4 successes per second
    now = 3
    lim:record(now, true)
    -- window (1.875, 3]: 2.0, 2.25, 2.5, 2.75 -> 4/s; 0.7 * 4
    assert.is_near(2.8, lim:state().rate, 1e-9)
    assert.same({ 1, 1 }, { lim:state().throttled, lim:state().decreases })
    -- requests asked for at the same moment are spaced 1/rate apart
    local w1, w2, w3 = lim:acquire(), lim:acquire(), lim:acquire()
    assert.is_near(1 / 2.8, w1, 1e-9)
    assert.is_near(2 / 2.8, w2, 1e-9)
    assert.is_near(3 / 2.8, w3, 1e-9)
  end)

  it("takes the send rate when too few requests succeeded to measure", function()
    now = 0
    for _ = 1, 30 do lim:acquire() end       -- 30 sent at once, none answered yet
    now = 0.5
    lim:record(0, true)
    assert.is_near(0.7 * 30 / 0.5, lim:state().rate, 1e-9)
  end)

  it("lowers the rate once per congestion event", function()
    succeed(0, 2.75, 0.25)
    now = 3
    local _, old_ticket = lim:acquire()       -- a request placed before the decrease
    now = 3.05
    lim:record(3.05, true)
    local rate = lim:state().rate
    now = 3.1
    lim:record(old_ticket, true)              -- its 429: the same event
    assert.equals(rate, lim:state().rate)
    assert.same({ 2, 1 }, { lim:state().throttled, lim:state().decreases })
    local _, new_ticket = lim:acquire()       -- placed after the decrease
    lim:record(new_ticket, true)
    assert.is_true(lim:state().rate < rate)
    assert.equals(2, lim:state().decreases)
  end)

  it("climbs back to the throttled rate in K seconds along a cubic, then beyond", function()
    succeed(0, 2.75, 0.25)
    now = 3
    lim:record(now, true)                     -- W_max = 4
    local k = (0.3 / limiter.DEFAULTS.scale) ^ (1 / 3)
    assert.is_near(2, k, 1e-9)
    now = 3 + 1
    lim:acquire()
    assert.is_near(4 * (1 + limiter.DEFAULTS.scale * (1 - k) ^ 3), lim:state().rate, 1e-9) -- concave part
    now = 3 + k
    lim:acquire()
    assert.is_near(4, lim:state().rate, 1e-9)
    now = 3 + k + 2
    lim:acquire()
    assert.is_near(4 * (1 + limiter.DEFAULTS.scale * 8), lim:state().rate, 1e-9) -- probing above
  end)

  it("shrinks the in-flight window by beta on throttling and grows it by 1/window per success", function()
    succeed(0, 2.75, 0.25)
    now = 3
    lim:record(now, true)
    assert.equals(11, lim:in_flight())        -- 16 * 0.7 = 11.2
    local _, ticket = lim:acquire()
    lim:record(ticket, false)
    assert.is_near(11.2 + 1 / 11.2, lim.window, 1e-9)
    -- and no more calls in flight than twice rate x latency, plus one
    lim:record(ticket, false, nil, 0.1)
    assert.equals(math.ceil(2 * lim:state().rate * 0.1) + 1, lim:in_flight())
  end)

  it("pauses every request until a Retry-After has passed, then goes on at its rate", function()
    succeed(0, 2.75, 0.25)
    now = 10
    lim:record(10, true, 3)
    assert.equals(13, lim:state().paused_until)
    assert.equals(1, lim:state().pauses)
    local w1, w2 = lim:acquire(), lim:acquire()
    assert.equals(3, w1)
    assert.is_near(3 + 1 / lim:state().rate, w2, 1e-9)
    -- a pause also holds a limiter that never throttled (a 503 with Retry-After)
    local fresh = assert(limiter.new { clock = function() return now end })
    fresh:record(now, false, 5)
    assert.equals(5, fresh:acquire())
  end)

  it("absorbs throttling only while requests succeed", function()
    assert.is_false(lim:absorbs())            -- nothing succeeded yet
    succeed(0, 0, 1)
    now = 9
    assert.is_true(lim:absorbs())
    now = 10.5
    assert.is_false(lim:absorbs())            -- a sustained outage: the retry policy applies
  end)

  it("tells its listeners of decreases, pauses and rises", function()
    local events = {}
    local listener = function(e) events[#events + 1] = e end
    lim:_listen(listener)
    succeed(0, 2.75, 0.25)
    now = 3
    lim:record(now, true, 1)
    assert.same({ "pause", "throttled" }, { events[1].event, events[2].event })
    assert.same({ "limiter", 1 }, { events[1].kind, events[1].seconds })
    assert.is_near(2.8, events[2].rate, 1e-9)
    assert.equals(4, events[2].max_rate)
    now = 20
    lim:acquire()
    assert.equals("raise", events[3].event)
    assert.is_true(events[3].rate > 4)
    -- before any limit the rate is left out, so an event encodes as JSON
    local fresh = assert(limiter.new { clock = function() return now end })
    local seen = {}
    local keep = function(e) seen[#seen + 1] = e end
    fresh:_listen(keep)
    fresh:record(now, false, 2)
    assert.same({ kind = "limiter", event = "pause", seconds = 2, window = 64 }, seen[1])
    assert.is_string(cjson.encode(seen[1]))   -- math.huge would raise here
  end)

  it("checks its options: unknown names and types raise, bad values are validation errors", function()
    assert.has_error(function() limiter.new { bogus = 1 } end,
      "limiter.new: unknown option 'bogus' (expected one of: beta, burst, clock, max_window, min_rate, "
      .. "org_id, scale, throttled_attempts)")
    assert.has_error(function() limiter.new { beta = "0.5" } end, "limiter.new: beta: expected number, got string")
    for name, bad in pairs { beta = 1, scale = 0, min_rate = -1, burst = 0 / 0, max_window = 1.5,
        throttled_attempts = 0 } do
      local l, err = limiter.new { [name] = bad }
      assert.is_nil(l)
      assert.same({ "validation", "limiter." .. name }, { err.kind, err.field })
    end
    assert.matches("^flowservice.limiter %(rate unlimited, window 64%)$", tostring(assert(limiter.new())))
  end)
end)

describe("the client with its limiter (fake core)", function()
  local flowservice, sent, core, client_module
  local now, slept

  local function scripted(script)
    local i = 0
    return function(req)
      if req.url:find("/ims/", 1, true) then error("no token request expected") end
      i = i + 1
      local entry = script[math.min(i, #script)]
      req.at = now
      return entry[1], entry[2] or JSON, entry[3] or cjson.encode { items = { { id = ID } } }
    end
  end

  local function load(script)
    flowservice, sent, core = fakecore.load(scripted(script))
    client_module = require "flowservice.client"
    now, slept = 1000, {}
    client_module.clock = function() return now end
  end

  after_each(function()
    if client_module then client_module.clock = core.monotonic end
  end)

  -- extra.attempts, extra.budget: the retry policy's (attempts 1: a throttled call fails at once)
  local function new_client(extra)
    local opts = { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN, api_key = "k",
      retry = { sleep = function(s) slept[#slept + 1] = s; now = now + s end, random = function() return 0.5 end,
        budget = extra and extra.budget or 7, attempts = extra and extra.attempts } }
    for k, v in pairs(extra or {}) do
      if k ~= "attempts" and k ~= "budget" then opts[k] = v end
    end
    return assert(flowservice.new(opts))
  end

  it("retries 429s without spending attempts or budget while requests succeed", function()
    load { { 200 }, GATEWAY_429, GATEWAY_429, GATEWAY_429, GATEWAY_429, { 200 } }
    local c = new_client()
    assert(c:request { method = "GET", path = "/flows/" .. ID })
    -- 4 throttled retries: more than attempts (3) and than the budget pays for (7 / cost 5)
    local body, res = c:request { method = "GET", path = "/flows/" .. ID }
    assert.is_table(body)
    assert.equals(5, res.attempts)
    assert.equals(6, #sent)
  end)

  it("lets the retry policy decide when nothing succeeds (a throttling outage)", function()
    load { GATEWAY_429 }
    local c = new_client()
    local ok, err = c:request { method = "GET", path = "/flows/" .. ID }
    assert.is_nil(ok)
    assert.same({ 429, 2 }, { err.status, err.attempts }) -- the budget (7) paid for one retry
    assert.is_true(err.budget_exhausted)
  end)

  it("pauses every request of the client for a Retry-After, not only the throttled call's", function()
    local headers = { ["retry-after"] = "3", ["content-type"] = "application/json" }
    load { { 429, headers, '{"error_code":"429050","message":"Too many requests"}' }, { 200 } }
    local c = new_client { attempts = 1 }     -- the throttled call fails at once
    local t0 = now
    assert.is_nil(c.flows:get(ID))
    assert(c.flows:get(ID))                   -- another call: sent 3 s later
    assert.equals(t0 + 3, sent[2].at)
  end)

  it("still honours a Retry-After on other statuses as the retry's own wait", function()
    load { { 200 }, { 500, { ["retry-after"] = "2", ["content-type"] = "application/json" } }, { 200 } }
    local c = new_client { budget = 500 }
    assert(c.flows:get(ID))
    assert(c.flows:get(ID))
    assert.same({ 2 }, slept)                 -- no pause of the whole client: the call waited
  end)

  it("shares one limiter between clients of the same organisation, not of another", function()
    local headers = { ["retry-after"] = "4", ["content-type"] = "application/json" }
    load { { 429, headers, '{"error_code":"429050","message":"Too many requests"}' }, { 200 } }
    local shared = assert(flowservice.limiter.new { clock = function() return now end })
    local a = new_client { attempts = 1, limiter = shared }
    local b = new_client { attempts = 1, limiter = shared }
    local t0 = now
    assert.is_nil(a.flows:get(ID))
    assert(b.flows:get(ID))                   -- the other client waited for the pause too
    assert.equals(t0 + 4, sent[2].at)
    local c, err = flowservice.new { env = false, org_id = "OTHERORG@AdobeOrg", access_token = TOKEN,
      api_key = "k", limiter = shared }
    assert.is_nil(c)
    assert.same({ "validation", "limiter" }, { err.kind, err.field })
  end)

  it("shows rate changes in traces, as events of kind limiter", function()
    load { { 200 }, GATEWAY_429, { 200 } }
    local events = {}
    local c = new_client { trace = function(e) events[#events + 1] = e end }
    assert(c.flows:get(ID))
    assert(c.flows:get(ID))
    local kinds = {}
    for _, e in ipairs(events) do kinds[#kinds + 1] = e.kind or e.status end
    assert.same({ 200, 429, "limiter", 200 }, kinds)
    assert.same("throttled", events[3].event)
    assert.is_number(events[3].rate)
  end)

  it("is on by default, off with false, tuned with a table; bad options are refused", function()
    load { { 200 } }
    local c = new_client { limiter = false }
    assert(c.flows:get(ID))
    local bad, err = flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN,
      api_key = "k", limiter = { beta = 2 } }
    assert.is_nil(bad)
    assert.same({ "validation", "limiter.beta" }, { err.kind, err.field })
    assert.has_error(function()
      flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN, api_key = "k",
        limiter = { bogus = true } }
    end)
    assert.has_error(function()
      flowservice.new { env = false, org_id = "UNITORG@AdobeOrg", access_token = TOKEN, api_key = "k",
        limiter = "on" }
    end, "flowservice.new: limiter: expected a table, a limiter or false, got string")
  end)
end)
