-- Failure switches (issue 17, points 6 to 9), against the emulator process: unknown sandboxes,
-- connections that fail their test or are refused, runs that fail or lose records, expired and
-- revoked tokens, a disabled credential and a sandbox being reset. Switched by magic values, by
-- --scenario at start and by PUT /_emulator/scenario at run time.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local cjson = require "cjson.safe"
local socket = require "socket"

local function scenario(emu, value)
  local res = rawhttp.request(emu, "PUT", "/_emulator/scenario", { { "Content-Type", "application/json" } },
    type(value) == "string" and value or assert(cjson.encode(value)))
  return res
end

local function cli_env(emu, extra)
  local env = { AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
    AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

describe("emulator failure switches", function()
  local block = helper.emulator_block { args = { "--run-duration", "0.4" } }
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

  local function osc(name, password, host, c)
    return (c or client).connections:create { name = name, spec = "oracle-service-cloud",
      auth = { host = host or "example.custhelp.com", username = "u", password = password or "p" } }
  end

  -- A CRMToAEP flow on `incidents` whose first run starts in a second.
  local function flow_with_runs(name)
    local base = assert(osc(name))
    local source = assert(client.source_connections:create { name = name, base_connection_id = base.id,
      table = "incidents" })
    local target = assert(client.target_connections:create { name = name, dataset_id = "ds",
      schema_id = "https://ns.adobe.com/t/schemas/s" })
    return assert(client.flows:create { name = name, flow_spec = "CRMToAEP", source_connection_id = source.id,
      target_connection_id = target.id, delta_column = "updatedTime",
      schedule = { start_time = os.time() + 1, frequency = "minute", interval = 15 } })
  end

  describe("sandboxes (point 6)", function()
    it("serves prod, dev, stage and test-*; any other name is Adobe's unknown sandbox", function()
      for _, name in ipairs { "prod", "dev", "stage", "test-anything" } do
        local c = helper.new_client(block.emu, { sandbox = name })
        assert.are.equal(0, assert(c.connections:count()), name)
        c:close()
      end
      local typo = helper.new_client(block.emu, { sandbox = "prd" })
      local _, err = typo.connections:count()
      assert.are.equal("FLOW-2101-404", err.code)
      assert.are.equal(404, err.status)
      assert.matches("Sandbox with name 'prd' not present", err.detail, 1, true)
      typo:close()
    end)

    it("takes the set of sandboxes from the admin endpoint; a bad scenario names the field", function()
      local res = scenario(block.emu, { sandboxes = { "prod", "qa-*" } })
      assert.are.equal(200, res.status, res.body)
      assert.are.same({ "prod", "qa-*" }, res.json.sandboxes)
      local api = rawhttp.api(block.emu, "qa-1")
      assert.are.equal(200, api.call("GET", "/connections").status)
      rawhttp.assert_flow_problem(rawhttp.api(block.emu, "dev").call("GET", "/connections"), 404, "2101")
      res = scenario(block.emu, { sandboxes = { "Prod" } })
      assert.are.equal(400, res.status)
      assert.matches("sandboxes%[1%]", res.json.detail)
      res = scenario(block.emu, { sandbox = { "prod" } })
      assert.are.equal(400, res.status)
      assert.matches("unknown field 'sandbox'", res.json.detail, 1, true)
      -- reset goes back to the start scenario
      block.admin.reset()
      assert.are.equal(200, rawhttp.api(block.emu, "dev").call("GET", "/connections").status)
    end)
  end)

  describe("connections (point 7)", function()
    it("a password that always fails its test; values the source refuses at create", function()
      local bad = assert(osc("fails its test", "flowservice-test-fails"))
      local result, test_err = client.connections:test(bad.id)
      assert.is_false(result, tostring(test_err))
      local good = assert(osc("passes its test"))
      assert.is_true(assert(client.connections:test(good.id)))
      local _, err = osc("refused", "flowservice-rejected")
      assert.are.equal("CONNECTOR-1001-401", err.code)
      assert.are.equal(401, err.status)
      _, err = osc("times out", nil, "timeout.invalid")
      assert.are.equal("CONNECTOR-1006-408", err.code)
      assert.are.equal(1 + 1, assert(client.connections:count()))   -- the refused ones were not stored
      local out, stderr, status = helper.run_cli({ "connections", "test", bad.id }, { env = cli_env(block.emu) })
      assert.are.equal(3, status, out .. stderr)
      assert.matches("failed", out)
    end)
  end)

  describe("runs (point 8)", function()
    it("a flow named with fail-runs fails: runs:wait, runs watch (exit 1) and the documented retry", function()
      local flow = flow_with_runs("incidents fail-runs")
      local run, status = assert(client.runs:wait { flow_id = flow.id, interval = 0.2, timeout = 30 })
      assert.are.equal("failed", status)
      assert.are.same({ { code = "CONNECTOR-1001-500", message = "Error occurred at copy activity." } },
        run.metrics.statusSummary.errors)
      assert.are.equal("failed", run.activities[1].statusSummary.status)
      assert.are.equal(0, run.metrics.recordSummary.outputRecordCount)
      local out, err, code = helper.run_cli({ "runs", "watch", run.id, "--interval", "0.1" },
        { env = cli_env(block.emu) })
      assert.are.equal(1, code, out .. err)
      assert.matches("failed", out)
      -- Adobe's retry: a new run over the same window; its outcome is decided anew
      local retry = assert(client.runs:retry(run.id))
      assert.are_not.equal(run.id, retry.id)
      local _, retry_status = assert(client.runs:wait { run_id = retry.id, interval = 0.2, timeout = 30 })
      assert.are.equal("failed", retry_status)          -- still a fail-runs flow
    end)

    it("a flow named with partial-runs succeeds with failed records, as monitor.md shows", function()
      local flow = flow_with_runs("incidents partial-runs")
      local run, status = assert(client.runs:wait { flow_id = flow.id, interval = 0.2, timeout = 30 })
      assert.are.equal("success", status)
      local records = run.metrics.recordSummary
      assert.are.equal(1, records.failedRecordCount)
      assert.are.equal(records.inputRecordCount - 1, records.outputRecordCount)
      assert.are.equal("CONNECTOR-2001-500", run.metrics.statusSummary.errors[1].code)
      local ext = run.activities[2].statusSummary.extensions.errors
      assert.are.equal("INGEST-1212-400", ext[1].code)
      assert.are.same({ code = "MAPPER-3700-400", recordCount = 1, message = "Mapper Transform Error" }, ext[2])
      local out, err, code = helper.run_cli({ "runs", "watch", run.id }, { env = cli_env(block.emu) })
      assert.are.equal(0, code, out .. err)
      assert.matches("failed 1%)", out)
    end)

    it("the scenario's runs switch: outcome, failed records and duration for every new run", function()
      assert.are.equal(200, scenario(block.emu, { runs = { outcome = "partial", failed_records = 5,
        duration = 1.5 } }).status)
      local flow = flow_with_runs("switched")
      local started = socket.gettime()
      local seen_in_progress = false
      local run = assert(client.runs:wait { flow_id = flow.id, interval = 0.2, timeout = 30,
        progress = function(r)
          seen_in_progress = seen_in_progress or (r and client.runs.status(r) == "inprogress")
        end })
      assert.is_true(seen_in_progress)
      assert.is_true(socket.gettime() - started >= 1.5)
      assert.are.equal(5, run.metrics.recordSummary.failedRecordCount)
      -- failed, then the switch is cleared and the retry succeeds
      assert.are.equal(200, scenario(block.emu, { runs = { outcome = "failed", duration = 0.2 } }).status)
      local once = assert(client.flows:create { name = "switched once", flow_spec = "CRMToAEP",
        source_connection_id = flow and assert(client.flows:get(flow.id)).sourceConnectionIds[1],
        target_connection_id = assert(client.flows:get(flow.id)).targetConnectionIds[1],
        schedule = { start_time = os.time() + 3600, frequency = "once" } })
      local failed = assert(client.runs:create { flow_id = once.id, window_start = 1, window_end = 2,
        delta_column = "updatedTime" })
      local _, status = assert(client.runs:wait { run_id = failed.id, interval = 0.1, timeout = 30 })
      assert.are.equal("failed", status)
      assert.are.equal(200, scenario(block.emu, {}).status)
      local retry = assert(client.runs:retry(failed.id))
      local again, retry_status = assert(client.runs:wait { run_id = retry.id, interval = 0.1, timeout = 30 })
      assert.are.equal("success", retry_status)
      assert.are.same({ windowStartTime = "1", windowEndTime = "2", deltaColumn = { name = "updatedTime" } },
        again.params)
    end)
  end)

  describe("tokens, credentials and sandbox resets (point 9)", function()
    it("expired and revoked tokens get 401013; the client fetches a new one", function()
      for _, how in ipairs { "expired", "revoked" } do
        local api = rawhttp.api(block.emu)
        assert.are.equal(200, api.call("GET", "/connections").status)
        assert(client.connections:count())
        local before = block.admin.stats().by_route["POST /ims/token/v3"] or 0
        assert.are.equal(200, scenario(block.emu, { tokens = how }).status)
        rawhttp.assert_gateway_error(api.call("GET", "/connections"), 401, "401013", "Oauth token is not valid")
        assert(client.connections:count())               -- one new token, one more try
        assert.are.equal(before + 1, block.admin.stats().by_route["POST /ims/token/v3"])
      end
    end)

    it("a disabled credential: IMS refuses it and its tokens stop working", function()
      local api = rawhttp.api(block.emu)
      assert.are.equal(200, scenario(block.emu, { credentials = "disabled" }).status)
      rawhttp.assert_gateway_error(api.call("GET", "/connections"), 401, "401013", "Oauth token is not valid")
      local fresh = helper.new_client(block.emu)
      local _, err = fresh.connections:count()
      assert.are.equal("auth", err.kind)
      fresh:close()
      local out, stderr, code = helper.run_cli({ "connections", "list" }, { env = cli_env(block.emu) })
      assert.are.equal(4, code, out .. stderr)
      assert.are.equal(200, scenario(block.emu, { credentials = "enabled" }).status)
      assert(client.connections:count())
    end)

    it("a sandbox being reset answers 2108-500, then is empty", function()
      local dev = helper.new_client(block.emu, { sandbox = "dev", retry = { attempts = 1 } })
      assert(osc("in dev", nil, nil, dev))
      assert(osc("in prod"))
      local res = scenario(block.emu, { sandbox_resets = { dev = 0.6 } })
      assert.are.equal(200, res.status, res.body)
      local _, err = dev.connections:count()
      assert.are.equal("FLOW-2108-500", err.code)
      assert.are.equal(1, assert(client.connections:count()))      -- prod is untouched
      socket.sleep(0.8)
      assert.are.equal(0, assert(dev.connections:count()))
      dev:close()
    end)
  end)
end)

describe("emulator --scenario", function()
  it("applies a scenario file at start; a bad one stops the launcher with exit 2", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"sandboxes": ["prod", "uat"], "runs": {"outcome": "failed"}}')
    f:close()
    local emu = helper.start_emulator { args = { "--scenario", path } }
    local ok, err = pcall(function()
      assert.are.equal(200, rawhttp.api(emu, "uat").call("GET", "/connections").status)
      rawhttp.assert_flow_problem(rawhttp.api(emu, "dev").call("GET", "/connections"), 404, "2101")
      local res = rawhttp.request(emu, "GET", "/_emulator/scenario")
      assert.are.equal("failed", res.json.runs.outcome)
    end)
    emu.stop()
    os.remove(path)
    assert(ok, err)
    local out, stderr, code = helper.run_process(helper.LUA .. " bin/flowservice-emulator --port 0 --scenario "
      .. helper.shell_quote('{"runs": {"outcome": "maybe"}}'))
    assert.are.equal(2, code, out)
    assert.matches("runs.outcome must be one of success, failed, partial", stderr, 1, true)
  end)
end)
