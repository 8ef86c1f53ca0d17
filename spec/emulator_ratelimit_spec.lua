-- The emulator's rate limit (ratelimit.lua, admin.lua) against its process: the adobe.io
-- gateway's 429 before the request reaches the service, buckets per organisation / sandbox /
-- route class, Retry-After off by default and switchable, changes at run time, statistics, and
-- the command line. Rates are tiny (a token per 1000 s) so that no refill happens during a spec.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local socket = require "socket"

local OSC_SPEC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local SLOW = 0.001 -- tokens per second: none comes back while a spec runs

local function osc_connection(name)
  return {
    name = name,
    auth = { specName = "Basic Authentication", params = {
      host = "https://osc.example.com", username = "osc-user", password = "pw-123456",
    } },
    connectionSpec = { id = OSC_SPEC_ID, version = "1.0" },
  }
end

local function assert_throttled(res)
  rawhttp.assert_gateway_error(res, 429, "429050", "Too many requests")
end

describe("emulator rate limit", function()
  local emu, admin

  lazy_setup(function()
    emu = helper.start_emulator { args = { "--rate-limit", ("%g/3"):format(SLOW) } }
    admin = rawhttp.admin(emu)
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  before_each(function()
    admin.reset() -- the start limit again, full buckets, zero counters
  end)

  it("answers 429 in the gateway's shape once the organisation's burst is spent, without Retry-After", function()
    local api = rawhttp.api(emu)              -- the IMS token request is not limited
    for _ = 1, 3 do
      assert.equals(200, api.call("GET", "/connections").status)
    end
    local res = api.call("GET", "/connections")
    assert_throttled(res)
    assert.is_nil(res.headers["retry-after"])
    local limit = admin.ratelimit()
    assert.same({ true, SLOW, 3, "org", false, 1 },
      { limit.enabled, limit.rate, limit.burst, limit.per, limit.retry_after, limit.throttled })
    local stats = admin.stats()
    assert.same({ 5, 1 }, { stats.requests, stats.throttled })
    assert.matches("ratelimit=throttled", emu.log())
  end)

  it("throttles before the service: a throttled create creates nothing", function()
    local api = rawhttp.api(emu)
    admin.set_ratelimit { rate = SLOW, burst = 2 }
    assert.equals(201, api.call("POST", "/connections", osc_connection("first")).status)
    assert.equals(201, api.call("POST", "/connections", osc_connection("second")).status)
    assert_throttled(api.call("POST", "/connections", osc_connection("throttled")))
    admin.clear_ratelimit()
    local list = api.call("GET", "/connections", nil)
    assert.equals(200, list.status)
    local names = {}
    for _, item in ipairs(list.json.items) do names[#names + 1] = item.name end
    table.sort(names)
    assert.same({ "first", "second" }, names)
  end)

  it("changes at run time through the admin endpoint, with Retry-After when switched on", function()
    local api = rawhttp.api(emu)
    admin.set_ratelimit { rate = SLOW, burst = 1, retry_after = true }
    assert.equals(200, api.call("GET", "/connections").status)
    local res = api.call("GET", "/connections")
    assert_throttled(res)
    -- whole seconds until a token is free: 1 / 0.001
    assert.equals("1000", res.headers["retry-after"])
    admin.clear_ratelimit()
    assert.equals(200, api.call("GET", "/connections").status)
    assert.same({ false, 1 }, { admin.ratelimit().enabled, admin.ratelimit().throttled })
  end)

  it("counts a request sent before the Retry-After it was given as early", function()
    local api = rawhttp.api(emu)
    admin.set_ratelimit { rate = SLOW, burst = 1, retry_after = true }
    assert.equals(200, api.call("GET", "/connections").status)
    assert_throttled(api.call("GET", "/connections"))
    socket.sleep(0.3)                         -- past the grace for requests already on their way
    assert_throttled(api.call("GET", "/connections"))
    assert.same({ 2, 1 }, { admin.stats().throttled, admin.stats().early })
  end)

  it("keeps buckets per organisation, per sandbox or per route class", function()
    local api = rawhttp.api(emu)
    local other = rawhttp.api(emu, "dev")
    admin.set_ratelimit { rate = SLOW, burst = 1, per = "sandbox" }
    assert.equals(200, api.call("GET", "/connections").status)
    assert_throttled(api.call("GET", "/connections"))
    assert.equals(200, other.call("GET", "/connections").status)  -- its own bucket
    admin.set_ratelimit { rate = SLOW, burst = 1, per = "class" }
    assert.equals(200, api.call("GET", "/connections").status)
    assert_throttled(api.call("GET", "/connections"))
    assert.equals(201, api.call("POST", "/connections", osc_connection("a write")).status)
    admin.set_ratelimit { rate = SLOW, burst = 1, per = "org" }
    assert.equals(200, api.call("GET", "/connections").status)
    assert_throttled(other.call("GET", "/connections"))          -- one bucket for the org
  end)

  it("refuses a bad limit with 400 naming the field", function()
    for body, field in pairs {
      ['{"rate": 0}'] = "field 'rate' must be a number of requests per second > 0",
      ['{"rate": 5, "burst": 0.5}'] = "field 'burst' must be a number of requests >= 1",
      ['{"rate": 5, "per": "user"}'] = "field 'per' must be",
      ['{"rate": 5, "retry_after": "yes"}'] = "field 'retry_after' must be true or false",
      ['{"rate": 5, "limit": 1}'] = "unknown field 'limit'",
      ['[1]'] = "the rate limit must be an object",
    } do
      local res = rawhttp.request(emu, "PUT", "/_emulator/ratelimit", { { "Content-Type", "application/json" } }, body)
      assert.equals(400, res.status)
      assert.matches(field, res.json.detail, 1, true)
    end
    assert.same({ true, SLOW }, { admin.ratelimit().enabled, admin.ratelimit().rate }) -- unchanged
  end)

  it("refuses a bad --rate-limit on the command line", function()
    for _, value in ipairs { "0", "fast", "5/0", '{"rate": 5, "per": "user"}' } do
      local out, ok = helper.run(("%s bin/flowservice-emulator --port 0 --rate-limit %s"):format(helper.LUA,
        helper.shell_quote(value)))
      assert.is_false(ok)
      assert.matches("flowservice%-emulator: %-%-rate%-limit: ", out)
    end
  end)
end)
