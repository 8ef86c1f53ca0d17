-- Adaptive rate limiting against the emulator's rate limit (both separate from the spec: the
-- emulator runs as a process): every call succeeds, nothing is created twice, the client's
-- limiter slowed down, Retry-After was obeyed, and ensure goes through the same limiter. No
-- timing is asserted: only counts.
local helper = require "helper"

local block = helper.emulator_block()
local emu, admin
setup(function()
  block.start()
  emu, admin = block.emu, block.admin
end)
teardown(block.stop)
before_each(block.reset)

local function osc(name)
  return {
    name = name, spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc-user", password = "SENTINEL-limiter-pw-5d1e" },
  }
end

-- The names of the emulator's connections (a client without a limit of its own).
local function connection_names()
  admin.clear_ratelimit()
  local c = helper.new_client(emu, { limiter = false })
  local names = {}
  for item in c.connections:list() do names[#names + 1] = item.name end
  c:close()
  return names
end

local function create_all(client, n, prefix)
  local calls = {}
  for i = 1, n do calls[i] = function() return client.connections:create(osc(prefix .. i)) end end
  return client:batch(calls, { concurrency = 16 })
end

describe("the client's limiter against a throttling emulator", function()
  it("creates every connection of a batch once, slowing down on 429s", function()
    local events = {}
    local client = helper.new_client(emu, { trace = function(e) events[#events + 1] = e end })
    assert(client.connections:count())       -- a first success (and the token)
    admin.set_ratelimit { rate = 40, burst = 5 }
    local results = create_all(client, 60, "batch-")
    for i, r in ipairs(results) do
      assert.is_table(r[1], "call " .. i .. ": " .. tostring(r[2]))
    end
    local throttled = admin.stats().throttled
    assert.is_true(throttled > 0, "the emulator throttled nothing")
    local limiter_events = 0
    for _, e in ipairs(events) do
      if e.kind == "limiter" then limiter_events = limiter_events + 1 end
    end
    assert.is_true(limiter_events > 0, "no rate change in the trace")
    client:close()
    local names = connection_names()
    assert.equals(60, #names)                -- no duplicates, none missing
  end)

  it("sends nothing before a Retry-After has passed", function()
    local client = helper.new_client(emu)
    assert(client.connections:count())
    admin.set_ratelimit { rate = 4, burst = 2, retry_after = true }
    local results = create_all(client, 6, "ra-")
    for i, r in ipairs(results) do
      assert.is_table(r[1], "call " .. i .. ": " .. tostring(r[2]))
    end
    local stats = admin.stats()
    assert.is_true(stats.throttled > 0)
    assert.equals(0, stats.early)
    client:close()
  end)

  it("runs ensure through the same limiter", function()
    local client = helper.new_client(emu)
    assert(client.connections:count())
    admin.set_ratelimit { rate = 20, burst = 2 }
    -- twice the same six: the second round finds what the first created
    for _ = 1, 2 do
      local calls = {}
      for i = 1, 6 do calls[i] = function() return client.connections:ensure(osc("ensured-" .. i)) end end
      local results = client:batch(calls, { concurrency = 8 })
      for i, r in ipairs(results) do
        assert.is_table(r[1], "call " .. i .. ": " .. tostring(r[2]))
      end
    end
    assert.is_true(admin.stats().throttled > 0)
    client:close()
    assert.equals(6, #connection_names())
  end)
end)
