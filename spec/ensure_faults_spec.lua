-- resources:ensure end to end: the emulator (a separate process) injects faults on the create
-- call after the resource was created (reset, empty reply, 500, truncated body) or before
-- (503), and ensure must end with exactly one resource, created or found, every time.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"

local CREATE = "/data/foundation/flowservice/connections"
local PASSWORD = "SENTINEL-ensure-faults-password"

describe("ensure against injected faults", function()
  local emu, admin

  lazy_setup(function()
    emu = helper.start_emulator {}
    admin = rawhttp.admin(emu)
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  -- in_flight_limit: a create that failed ambiguously is waited for this long before ensure
  -- creates again (65 s by default, Adobe's gateway cut plus a margin; the emulator's faults
  -- here land within 0.6 s)
  local function new_client(sandbox, timeout)
    return helper.new_client(emu, { sandbox = sandbox, timeout = timeout or 2, in_flight_limit = 1,
      retry = { base = 0.01, throttle_base = 0.01 } })
  end

  local function input(name)
    return {
      name = name, spec = "oracle-service-cloud",
      auth = { host = "example.custhelp.com", username = "svc", password = PASSWORD },
    }
  end

  local FAULTS = {
    { fault = "reset", phase = "after" },
    { fault = "empty", phase = "after" },
    { fault = "status", status = 500, phase = "after" },
    { fault = "truncate", bytes = 20 },
    { fault = "invalid_json" },
    { fault = "status", status = 503, phase = "before" },
    { fault = "reset", phase = "before" },
    { fault = "status", status = 503, phase = "after" },
    { fault = "status", status = 429, phase = "after" },
    { fault = "status", status = 429, phase = "before" },
  }

  for i, rule in ipairs(FAULTS) do
    it(("leaves exactly one connection after a %s (%s) on create"):format(rule.fault,
      rule.phase or rule.status or "after"), function()
      local sandbox = "test-ensure-" .. i
      local client = new_client(sandbox)
      admin.clear_faults()
      local fault = { method = "POST", path = CREATE, count = 1 }
      for k, v in pairs(rule) do fault[k] = v end
      admin.add_faults { fault }
      local result, err = client.connections:ensure(input("OSC " .. i))
      assert(result, tostring(err))
      assert.are.equal(true, result.created)
      local all = assert(client.connections:all { property = { { "name", "==", "OSC " .. i } } })
      assert.are.equal(1, #all)
      assert.are.equal(all[1].id, result.id)
      -- a second run finds it and creates nothing
      local again = assert(client.connections:ensure(input("OSC " .. i)))
      assert.are.equal(false, again.created)
      assert.are.equal(result.id, again.id)
      assert.are.equal(1, #assert(client.connections:all { property = { { "name", "==", "OSC " .. i } } }))
      client:close()
    end)
  end

  it("waits for a create still in flight when the client timed out, instead of creating it twice", function()
    local client = new_client("test-ensure-in-flight", 0.5)
    admin.clear_faults()
    admin.add_faults { { method = "POST", path = CREATE, count = 1, fault = "delay", seconds = 0.9, phase = "before" } }
    local result = assert(client.connections:ensure(input("in flight")))
    assert.are.same({ true, true }, { result.created, result.recovered })
    assert.are.equal(1, #assert(client.connections:all { property = { { "name", "==", "in flight" } } }))
    client:close()
  end)

  it("ensures source and target connections and flows too, after an ambiguous create of each", function()
    admin.clear_faults()
    local client = new_client("test-ensure-kinds")
    local base = assert(client.connections:ensure(input("OSC kinds")))
    local inputs = {
      { kind = "source_connections", path = "/data/foundation/flowservice/sourceConnections",
        input = function() return { name = "src", base_connection_id = base.id, table = "incidents" } end },
      { kind = "target_connections", path = "/data/foundation/flowservice/targetConnections",
        input = function()
          return { name = "lake", dataset_id = "5f7e0d1c2b3a4d5e6f708192",
            schema_id = "https://ns.adobe.com/t/schemas/abc" }
        end },
    }
    local ids = {}
    for _, k in ipairs(inputs) do
      admin.add_faults { { method = "POST", path = k.path, count = 1, fault = "reset", phase = "after" } }
      local made = assert(client[k.kind]:ensure(k.input()))
      assert.are.same({ true, true }, { made.created, made.recovered }, k.kind)
      local again = assert(client[k.kind]:ensure(k.input()))
      assert.are.same({ made.id, false }, { again.id, again.created }, k.kind)
      ids[k.kind] = made.id
    end
    local flow_input = {
      name = "OSC flow", flow_spec = "CRMToAEP", source_connection_id = ids.source_connections,
      target_connection_id = ids.target_connections, delta_column = "updatedTime", mapping_id = "m1",
      schedule = { start_time = os.time() + 60, frequency = "minute", interval = 15 },
    }
    admin.add_faults { { method = "POST", path = "/data/foundation/flowservice/flows", count = 1,
      fault = "status", status = 500, phase = "after" } }
    local flow = assert(client.flows:ensure(flow_input))
    assert.are.same({ true, true }, { flow.created, flow.recovered })
    local again = assert(client.flows:ensure(flow_input))
    assert.are.same({ flow.id, false }, { again.id, again.created })
    assert.are.equal(1, #assert(client.flows:all { property = { { "name", "==", "OSC flow" } } }))
    client:close()
  end)

  it("calls of one batch ensuring the same resource create it once; the others find it", function()
    admin.clear_faults()
    local client = new_client("test-ensure-batch")
    local calls = {}
    for i = 1, 4 do calls[i] = function() return client.connections:ensure(input("batch twin")) end end
    calls[5] = function() return client.connections:ensure(input("batch other")) end
    local results = client:batch(calls, { concurrency = 5 })
    local created, id = 0, nil
    for i = 1, 4 do
      local result = assert(results[i][1], tostring(results[i][2]))
      created = created + (result.created and 1 or 0)
      id = id or result.id
      assert.are.equal(id, result.id)
    end
    assert.are.equal(1, created)
    assert.are.equal(true, assert(results[5][1], tostring(results[5][2])).created)
    assert.are.equal(1, #assert(client.connections:all { property = { { "name", "==", "batch twin" } } }))
    client:close()
  end)

  it("creates reuse one connection; a reset after one is not sent again by libcurl", function()
    admin.clear_faults()
    local events = {}
    local client = helper.new_client(emu, {
      sandbox = "test-ensure-reuse", trace = function(e) events[#events + 1] = e end,
    })
    for i = 1, 5 do assert(client.connections:create(input("reuse " .. i))) end
    local connects = 0
    for _, e in ipairs(events) do connects = connects + (e.connects or 0) end
    assert.are.equal(1, connects) -- the token request's connection, then 5 creates on it
    -- The connection is kept alive; the emulator acts on the next create, then resets it.
    -- libcurl would send the POST again on a new connection by itself: it must not.
    admin.add_faults { { method = "POST", path = CREATE, count = 1, fault = "reset", phase = "after" } }
    local created, err = client.connections:create(input("reuse 6"))
    assert.is_nil(created)
    assert.are.equal(true, err.ambiguous)
    assert.are.equal(1, #assert(client.connections:all { property = { { "name", "==", "reuse 6" } } }))
    client:close()
  end)

  it("a plain create after an ambiguous fault reports it as ambiguous, and the resource exists", function()
    local client = new_client("test-ensure-plain")
    admin.clear_faults()
    admin.add_faults { { method = "POST", path = CREATE, count = 1, fault = "reset", phase = "after" } }
    local created, err = client.connections:create(input("plain"))
    assert.is_nil(created)
    assert.are.equal(true, err.ambiguous)
    assert.are.equal(1, err.attempts)
    assert.falsy(tostring(err):find(PASSWORD, 1, true))
    assert.are.equal(1, #assert(client.connections:all { property = { { "name", "==", "plain" } } }))
    client:close()
  end)
end)
