-- client:batch against the emulator (a separate process). Delays and failures come from the
-- emulator's fault rules (rawhttp.admin); requests the client made are counted from the
-- client's own trace hook and the emulator's statistics.
local helper = require "helper"
local rawhttp = require "rawhttp"
local compat = require "flowservice.compat"
local core = require "flowservice.core"
local errors = require "flowservice.errors"

local BASE = rawhttp.BASE
local PASSWORD = "SENTINEL-batch-password-91c2"
local IMS_ROUTE = "POST /ims/token/v3"
local block = helper.emulator_block()
local emu, admin
setup(function()
  block.start()
  emu, admin = block.emu, block.admin
end)
teardown(block.stop)
before_each(block.reset)

-- A client for the emulator; `events` (optional) collects its trace events.
local function new_client(extra, events)
  local opts = { retry = { base = 0.01, throttle_base = 0.01 } }
  if events then opts.trace = function(e) events[#events + 1] = e end end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return helper.new_client(emu, opts)
end

local function osc(name)
  return {
    name = name, spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc-user", password = PASSWORD },
  }
end

local function get_delay(id_pattern, seconds)
  return { fault = "delay", seconds = seconds, method = "GET", path = BASE .. "/connections/" .. id_pattern }
end

-- Creates n connections one by one (outside any batch); returns their ids.
local function create_connections(client, n, prefix)
  local ids = {}
  for i = 1, n do ids[i] = assert(client.connections:create(osc((prefix or "conn") .. i))).id end
  return ids
end

-- The number of trace events whose URL ends with `suffix`, and the connections they opened.
local function count_events(events, suffix)
  local n, connects = 0, 0
  for _, e in ipairs(events) do
    if suffix == nil or e.url:sub(-#suffix) == suffix then
      n = n + 1
      connects = connects + (e.connects or 0)
    end
  end
  return n, connects
end

describe("client:batch", function()
  it("returns every call's results in call order, although they finish out of order", function()
    local client = new_client()
    local ids = create_connections(client, 4)
    admin.set_faults { get_delay(ids[1], 0.4), get_delay(ids[2], 0.2) }
    local calls, finished = {}, {}
    for i, id in ipairs(ids) do calls[i] = function() return client.connections:get(id) end end
    local results = client:batch(calls, { concurrency = 4 })
    assert.equals(4, #results)
    for i, id in ipairs(ids) do
      assert.equals(1, results[i].n)
      assert.equals(id, results[i][1].id)
    end
    -- the same calls streamed: on_result sees them as they finish
    assert.is_nil(client:batch(calls, {
      concurrency = 4, on_result = function(i, item) finished[#finished + 1] = { i, item.id } end,
    }))
    assert.equals(4, #finished)
    assert.same({ 1, ids[1] }, finished[4])
    assert.same({ 2, ids[2] }, finished[3])
    client:close()
  end)

  it("keeps each call's nil, err among successes (partial failures)", function()
    local client = new_client()
    local calls = {}
    for i = 1, 6 do
      calls[i] = i % 2 == 0
        and function() return client.connections:get("missing-" .. i) end
        or function() return client.connections:create(osc("partial" .. i)) end
    end
    local results = client:batch(calls, { concurrency = 3 })
    for i = 1, 6 do
      if i % 2 == 0 then
        assert.equals(2, results[i].n)
        assert.is_nil(results[i][1])
        assert.is_true(errors.is(results[i][2]))
        assert.equals(404, results[i][2].status)
        assert.matches("missing%-" .. i, results[i][2].message)
      else
        assert.matches("^%x+%-", results[i][1].id)
      end
    end
    assert.equals(3, #client.connections:all())
    client:close()
  end)

  it("packs whatever a call returns: nothing, several values, nils in between", function()
    local client = new_client()
    local results = client:batch {
      function() end,
      function() return 1, nil, 3 end,
      function() return client:authenticate() end,
    }
    assert.same({ n = 0 }, results[1])
    assert.same({ n = 3, 1, nil, 3 }, results[2])
    assert.equals("number", type(results[3][1].expires_in))
    client:close()
  end)

  it("retries inside a batch with the same rules as a single call, waiting on timers", function()
    local slept = {}
    local events = {}
    local client = new_client({
      retry = { base = 0.05, throttle_base = 0.05, sleep = function(s) slept[#slept + 1] = s end },
    }, events)
    local ids = create_connections(client, 3)
    admin.set_faults {
      { fault = "status", status = 503, count = 1, method = "GET", path = BASE .. "/connections/" .. ids[1] },
      { fault = "status", status = 503, count = 2, method = "GET", path = BASE .. "/connections/" .. ids[2] },
      { fault = "status", status = 503, count = 3, method = "GET", path = BASE .. "/connections/" .. ids[3] },
    }
    local results = client:batch {
      function() return client.connections:get(ids[1]) end,
      function() return client.connections:get(ids[2]) end,
      function() return client.connections:get(ids[3]) end,
    }
    assert.equals(ids[1], results[1][1].id)
    assert.equals(ids[2], results[2][1].id)
    -- three attempts (the default), all 503: the error says so
    assert.is_nil(results[3][1])
    assert.equals(503, results[3][2].status)
    assert.equals(3, results[3][2].attempts)
    assert.equals(2, count_events(events, ids[1]))
    assert.equals(3, count_events(events, ids[2]))
    assert.equals(3, count_events(events, ids[3]))
    -- the waits were the batch's timers, not the blocking sleep function
    assert.same({}, slept)
    client:close()
  end)

  it("has at most `concurrency` requests in flight and connections open", function()
    local events = {}
    local client = new_client(nil, events)
    assert(client:authenticate())
    admin.set_faults { get_delay("slow-*", 0.3) }
    local calls = {}
    for i = 1, 9 do calls[i] = function() return client.connections:get("slow-" .. i) end end
    local t0 = core.monotonic()
    local results = client:batch(calls, { concurrency = 3 })
    local elapsed = core.monotonic() - t0
    for i = 1, 9 do assert.equals(404, results[i][2].status) end
    local requests, connects = count_events(events, nil)
    assert.equals(10, requests) -- the token, then the nine calls
    assert.is_true(connects - 1 <= 3 and connects - 1 >= 2, "connections the batch opened: " .. connects - 1)
    -- nine 0.3 s answers, never more than three at a time: at least three rounds
    assert.is_true(elapsed >= 0.8, "elapsed " .. elapsed)
    client:close()
  end)

  it("takes calls from an iterator and streams results, holding at most `concurrency` calls", function()
    local client = new_client()
    assert(client:authenticate())
    local made, seen, most_open = 0, {}, 0
    local function next_call()
      if made == 120 then return nil end
      made = made + 1
      local i = made
      most_open = math.max(most_open, made - #seen)
      return function() return client.connections:get("it-" .. i) end
    end
    local result = client:batch(next_call, {
      concurrency = 5,
      on_result = function(i, item, err)
        assert.is_nil(item)
        assert.matches("it%-" .. i .. " ", err.message)
        seen[#seen + 1] = i
      end,
    })
    assert.is_nil(result)
    assert.equals(120, #seen)
    table.sort(seen)
    for i = 1, 120 do assert.equals(i, seen[i]) end
    assert.is_true(most_open <= 6, "calls taken but not finished: " .. most_open)
    client:close()
  end)

  it("streams a long batch in memory that does not grow with the number of calls", function()
    local client = new_client()
    assert(client:authenticate())
    local made, delivered, early, late = 0, 0, nil, nil
    local function live_kib()
      collectgarbage()
      collectgarbage()
      return collectgarbage("count")
    end
    client:batch(function()
      if made == 1000 then return nil end
      made = made + 1
      return function() return client.connections:get("many-" .. made) end
    end, {
      concurrency = 8,
      on_result = function()
        delivered = delivered + 1
        if delivered == 100 then early = live_kib() end
        if delivered == 1000 then late = live_kib() end
      end,
    })
    assert.equals(1000, delivered)
    -- 900 more results (an error table each, ~1 KiB) would show if they were kept
    assert.is_true(late - early < 150, ("live memory grew from %.0f KiB to %.0f KiB"):format(early, late))
    client:close()
  end)

  it("fetches one token for a cold batch (single flight), also when IMS refuses", function()
    local function cold_calls(client)
      local calls = {}
      for i = 1, 10 do calls[i] = function() return client.connections:get("cold-" .. i) end end
      return calls
    end
    local client = new_client()
    client:batch(cold_calls(client), { concurrency = 5 })
    assert.equals(1, admin.stats().by_route[IMS_ROUTE])
    client:close()

    admin.reset()
    local refused = new_client { client_secret = "SENTINEL-wrong-secret-5d1e" }
    -- all ten at once: one refusal for all (a failure is not kept: later calls would ask again)
    local results = refused:batch(cold_calls(refused), { concurrency = 10 })
    assert.equals(1, admin.stats().by_route[IMS_ROUTE])
    for i = 1, 10 do assert.equals("auth", results[i][2].kind) end
    refused:close()
  end)

  it("works with create, ensure and list inside calls", function()
    local client = new_client()
    local calls = {}
    for i = 1, 4 do calls[i] = function() return client.connections:ensure(osc("ensured" .. i)) end end
    local first = client:batch(calls, { concurrency = 4 })
    local again = client:batch(calls, { concurrency = 4 })
    for i = 1, 4 do
      assert.is_true(first[i][1].created)
      assert.is_false(again[i][1].created)
      assert.equals(first[i][1].id, again[i][1].id)
    end
    local listed = client:batch { function() return client.connections:all() end }
    assert.equals(4, #listed[1][1])
    client:close()
  end)

  it("never shows a secret in errors or trace events", function()
    local events = {}
    local client = new_client(nil, events)
    admin.set_faults {
      { fault = "status", status = 500, method = "POST", path = BASE .. "/connections" },
      { fault = "reset", method = "GET", path = BASE .. "/connections/reset-me" },
    }
    local results = client:batch {
      function() return client.connections:create(osc("secret1")) end,
      function() return client.connections:get("reset-me") end,
      function() return client:request { method = "GET", path = "/connections", headers = { ["X-Bad"] = "a\1" } } end,
    }
    local texts = {}
    for i = 1, 3 do
      assert.is_nil(results[i][1])
      texts[#texts + 1] = tostring(results[i][2])
    end
    for _, e in ipairs(events) do texts[#texts + 1] = require("cjson").encode(e) end
    local all = table.concat(texts, "\n")
    assert.matches("ambiguous", texts[1])
    assert.equals("transport", results[2][2].kind)
    assert.equals("validation", results[3][2].kind)
    assert.is_nil(all:find(helper.CLIENT_SECRET, 1, true))
    assert.is_nil(all:find(PASSWORD, 1, true))
    client:close()
    assert.is_nil(emu.log():find(PASSWORD, 1, true))
    assert.is_nil(emu.log():find(helper.CLIENT_SECRET, 1, true))
  end)

  it("does not start calls after its deadline: they get a timeout error", function()
    local client = new_client()
    admin.set_faults { get_delay("late-*", 0.3) }
    local calls = {}
    for i = 1, 3 do calls[i] = function() return client.connections:get("late-" .. i) end end
    local results = client:batch(calls, { concurrency = 1, deadline = 0.1 })
    assert.equals(404, results[1][2].status)
    for i = 2, 3 do
      assert.equals("timeout", results[i][2].kind)
      assert.matches("deadline", results[i][2].message)
    end
    client:close()
  end)

  it("raises an error a call raises, after aborting the transfers in flight", function()
    local client = new_client()
    admin.set_faults { get_delay("held-*", 3) }
    local t0 = core.monotonic()
    local ok, err = pcall(client.batch, client, {
      function() return client.connections:get("held-1") end,
      function() error("boom") end,
    })
    assert.is_false(ok)
    assert.matches("^batch: call 2: .*boom$", err)
    ok, err = pcall(client.batch, client, { function() error("boom") end })
    assert.is_false(ok)
    assert.matches("^batch: call 1: .*boom$", err)
    ok, err = pcall(client.batch, client, { function() error({ code = 7 }) end })
    assert.is_false(ok)
    assert.same({ code = 7 }, err) -- a non-string error value is raised as it is
    assert.is_true(core.monotonic() - t0 < 2.5, "the held request was not waited for")
    -- the client carries on, in and out of batches
    assert.equals(404, select(2, client.connections:get("after")).status)
    assert.equals(404, client:batch({ function() return client.connections:get("x") end })[1][2].status)
    client:close()
  end)

  it("refuses bad arguments, a batch inside a batch, a stray yield and a closed client", function()
    local client = new_client()
    assert.has_error(function() client:batch("x") end,
      "batch: calls: expected a list or an iterator function, got string")
    for _, bad in ipairs { 0, 65, 2.5 } do
      assert.has_error(function() client:batch({}, { concurrency = bad }) end,
        "batch: concurrency: expected a whole number from 1 to 64")
    end
    assert.has_error(function() client:batch({}, { parallel = 2 }) end,
      "batch: unknown option 'parallel' (expected one of: concurrency, deadline, on_result)")
    assert.has_error(function() client:batch({}, { deadline = -1 }) end,
      "batch: deadline: expected a positive number of seconds")
    assert.has_error(function() client:batch { 42 } end, "batch: call 1: expected a function, got number")
    local ok, err = pcall(client.batch, client, { function() return client:batch {} end })
    assert.is_false(ok)
    assert.matches("batch: a batch cannot run inside another batch", err)
    ok, err = pcall(client.batch, client, { function() coroutine.yield(1) end })
    assert.is_false(ok)
    assert.matches("coroutine.yield inside a batch call is not supported", err)
    assert.same({}, client:batch {})
    client:close()
    assert.has_error(function() client:batch {} end, "attempt to use a closed flowservice client")
  end)

  it("overlaps requests made under a pcall in a call, except on PUC Lua 5.1 (there they block)", function()
    local events = {}
    local client = new_client(nil, events)
    assert(client:authenticate())
    admin.set_faults { get_delay("guarded-*", 0.2) }
    local calls = {}
    for i = 1, 3 do
      calls[i] = function()
        return select(2, pcall(client.connections.get, client.connections, "guarded-" .. i))
      end
    end
    local results = client:batch(calls, { concurrency = 3 })
    for i = 1, 3 do assert.equals(404, results[i][2].status) end
    local _, connects = count_events(events, nil)
    if compat.YIELDS_ACROSS_PCALL then -- three at once: the batch's multi opens connections
      assert.is_true(connects - 1 >= 2, "connections the batch opened: " .. connects - 1)
    else -- 5.1 cannot yield across pcall: one by one on the client's own connection
      assert.equals(1, connects)
    end
    client:close()
  end)

  it("runs blocking calls of another client inside a call", function()
    local client, other = new_client(), new_client()
    local results = client:batch {
      function() return other.connections:get("elsewhere") end,
      function() return client.connections:get("here") end,
    }
    assert.equals(404, results[1][2].status)
    assert.equals(404, results[2][2].status)
    client:close()
    other:close()
  end)
end)
