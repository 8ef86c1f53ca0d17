-- On-demand runs (issue 17, point 2): POST /runs as Adobe's "Create a flow run for on-demand
-- ingestion" documents it, through client.runs:create and `flowservice runs create`, against
-- the emulator process; and the documented retry (POST /runs/{id}/action?op=re-trigger) refusing
-- a run that did not fail.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local cjson = require "cjson.safe"

describe("on-demand runs", function()
  local block = helper.emulator_block { args = { "--run-duration", "0.5" } }
  local client

  lazy_setup(function()
    block.start()
    client = helper.new_client(block.emu)
  end)
  lazy_teardown(function()
    if client then client:close() end
    block.stop()
  end)
  before_each(function() block.reset() end)

  -- A CRMToAEP flow on `incidents` with the given frequency ("once" unless told).
  local function new_flow(name, frequency)
    local base = assert(client.connections:create { name = name, spec = "oracle-service-cloud",
      auth = { host = "example.custhelp.com", username = "u", password = "p" } })
    local source = assert(client.source_connections:create {
      name = name, base_connection_id = base.id, table = "incidents" })
    local target = assert(client.target_connections:create {
      name = name, dataset_id = "ds", schema_id = "https://ns.adobe.com/t/schemas/s" })
    frequency = frequency or "once"
    return assert(client.flows:create {
      name = name, flow_spec = "CRMToAEP", source_connection_id = source.id, target_connection_id = target.id,
      delta_column = frequency ~= "once" and "updatedTime" or nil,
      schedule = { start_time = os.time() + 3600, frequency = frequency },
    })
  end

  local function code(err) return err and err.code end

  it("creates a run of a flow scheduled once; the first deltaColumn joins the flow's Copy", function()
    local flow = new_flow("once")
    local now = os.time()
    local run = assert(client.runs:create { flow_id = flow.id, window_start = now - 86400,
      window_end = tostring(now), delta_column = "updatedTime" })
    assert.matches('^"', run.etag)
    local item = assert(client.runs:get(run.id))
    assert.are.equal(flow.id, item.flowId)
    assert.are.same({ windowStartTime = tostring(now - 86400), windowEndTime = tostring(now),
      deltaColumn = { name = "updatedTime" } }, item.params)
    local copy = assert(client.flows:get(flow.id)).transformations[1]
    assert.are.same({ name = "Copy", params = { deltaColumn = { name = "updatedTime" } } }, copy)
    local final, status = assert(client.runs:wait { run_id = run.id, interval = 0.2, timeout = 30 })
    assert.are.equal("success", status)
    assert.are.equal((now - 86400) * 1000, final.activities[1].durationSummary.extensions.windowStart)
    -- later runs: no deltaColumn needed; the same one is fine; another one is refused
    assert(client.runs:create { flow_id = flow.id, window_start = now, window_end = now })
    assert(client.runs:create { flow_id = flow.id, window_start = now, window_end = now, delta_column = "updatedTime" })
    local _, err = client.runs:create { flow_id = flow.id, window_start = now, window_end = now,
      delta_column = "createdTime" }
    assert.are.equal("CONNECTOR-1382-400", code(err))
    -- a PATCH of the flow keeps working with the delta column the run gave it
    local current = assert(client.flows:get(flow.id))
    assert(client.flows:update(flow.id, { name = "once renamed" }, current.etag))
  end)

  it("answers Adobe's documented errors", function()
    local once = new_flow("errors once")
    local hourly = new_flow("errors hourly", "hour")
    local now = os.time()
    local _, err = client.runs:create { flow_id = once.id, window_start = now - 60, window_end = now }
    assert.are.equal("CONNECTOR-1383-400", code(err))          -- first run of a table-based flow
    _, err = client.runs:create { flow_id = hourly.id, window_start = now - 60, window_end = now }
    assert.are.equal("CONNECTOR-1386-400", code(err))          -- not scheduled once
    _, err = client.runs:create { flow_id = "00000000-0000-4000-8000-000000000000", window_start = 1, window_end = 2 }
    assert.are.equal("FLOW-1430-400", code(err))
    assert(client.flows:disable(once.id))
    _, err = client.runs:create { flow_id = once.id, window_start = 1, window_end = 2, delta_column = "updatedTime" }
    assert.are.equal("CONNECTOR-1388-400", code(err))

    -- what the library refuses itself is also refused by the emulator, with Adobe's codes
    local api = rawhttp.api(block.emu)
    local function post(body) return api.call("POST", "/runs", body) end
    rawhttp.assert_flow_problem(post { params = { windowStartTime = "1", windowEndTime = "2" } }, 400, "FLOW-1446")
    rawhttp.assert_flow_problem(post { flowId = hourly.id, params = cjson.empty_array }, 400, "CONNECTOR-1386")
    assert(client.flows:enable(once.id))
    rawhttp.assert_flow_problem(post { flowId = once.id, params = { windowStartTime = "1" } }, 400, "CONNECTOR-1359")
    rawhttp.assert_flow_problem(post { flowId = once.id, params = { windowStartTime = "9", windowEndTime = "2",
      deltaColumn = { name = "updatedTime" } } }, 400, "CONNECTOR-1381")
    rawhttp.assert_flow_problem(post { flowId = once.id, params = { windowStartTime = "x1", windowEndTime = "2" } },
      400, "CONNECTOR-1340")
    rawhttp.assert_flow_problem(post { flowId = once.id, params = {} }, 400, "CONNECTOR-1384")
    rawhttp.assert_flow_problem(post { flowId = once.id, params = { windowStartTime = "1", windowEndTime = "2",
      extra = true } }, 400, "CONNECTOR-1384")
    -- the tutorial's body works as printed (201, {"items": [{id, etag}]})
    local res = post { flowId = once.id, params = { startTime = tostring(now), windowStartTime = "1651584991",
      windowEndTime = "1651585967", deltaColumn = { name = "updatedTime" } } }
    assert.are.equal(201, res.status, res.body)
    assert.is_string(res.json.items[1].id)
    assert.is_string(res.json.items[1].etag)
  end)

  it("checks its input before sending anything", function()
    local before = block.admin.stats().requests
    local cases = {
      { {}, "flow_id" },
      { { flow_id = "f" }, "window_start" },
      { { flow_id = "f", window_start = 10 }, "window_end" },
      { { flow_id = "f", window_start = 10, window_end = 5 }, "window_end" },
      { { flow_id = "f", window_start = -1, window_end = 5 }, "window_start" },
      { { flow_id = "f", window_start = "yesterday", window_end = 5 }, "window_start" },
      { { flow_id = "f", window_start = 1, window_end = 5, start_time = 1.5 }, "start_time" },
      { { flow_id = "f", window_start = 1, window_end = 5, delta_column = "" }, "delta_column" },
    }
    for _, case in ipairs(cases) do
      local ok, err = client.runs:create(case[1])
      assert.is_nil(ok)
      assert.are.equal("validation", err.kind)
      assert.are.equal(case[2], err.field, tostring(err))
    end
    assert.has_error(function() client.runs:create { flow = "f" } end)
    assert.are.equal(before, block.admin.stats().requests)
  end)

  it("retry (re-trigger) is refused for a run that did not fail", function()
    local flow = new_flow("retry")
    local run = assert(client.runs:create { flow_id = flow.id, window_start = 1, window_end = 2,
      delta_column = "updatedTime" })
    local _, err = client.runs:retry(run.id)
    assert.are.equal("CONNECTOR-1387-400", code(err))
    _, err = client.runs:retry("00000000-0000-4000-8000-000000000000")
    assert.are.equal("FLOW-1439-404", code(err))
  end)

  it("flowservice runs create: prints the new run; refuses bad input with exit 3", function()
    local flow = new_flow("cli once")
    local env = {
      AEP_BASE_URL = block.emu.url, AEP_IMS_URL = block.emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
      AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID,
    }
    local out, err, status = helper.run_cli({ "--json", "runs", "create", "--flow", "cli once",
      "--window-start=-3600", "--delta-column", "updatedTime" }, { env = env })
    assert.are.equal(0, status, err)
    local doc = assert(cjson.decode(out))
    local item = assert(client.runs:get(doc.id))
    assert.are.equal(flow.id, item.flowId)
    out, err, status = helper.run_cli({ "runs", "create", "--flow", flow.id }, { env = env })
    assert.are.equal(3, status, out .. err)
    assert.matches("window_start", err)
    out, err, status = helper.run_cli({ "runs", "create", "--flow", flow.id, "--window-start=-60",
      "--dry-run" }, { env = env })
    assert.are.equal(0, status, err)
    assert.matches("POST " .. block.emu.url .. "/data/foundation/flowservice/runs", out, 1, true)
    assert.matches('"flowId":"' .. flow.id .. '"', out, 1, true)
  end)
end)
