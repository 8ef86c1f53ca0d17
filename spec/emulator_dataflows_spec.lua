-- In-process specs of the emulator's dataset, explore and dataflows modules (no server): bodies
-- are built here, connections live in a store of a fake state, and the clock (util.now) is
-- replaced where runs are checked.
local dataflows = require "flowservice.emulator.dataflows"
local dataset = require "flowservice.emulator.dataset"
local explore = require "flowservice.emulator.explore"
local store = require "flowservice.emulator.store"
local util = require "flowservice.emulator.util"
local math_type = require("flowservice.compat").math_type -- math.type, or the 2^53 rule

local OSC_SPEC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local DATA_LAKE_SPEC = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
local CRM_FLOW_SPEC = "14518937-270c-4525-bdec-c2ba7cce3860"

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

---------------------------------------------------------------------------------------------------
-- Fixtures: a sandbox with a base connection, a source connection on `incidents`, a target
---------------------------------------------------------------------------------------------------

local function new_sandbox()
  local state = { run_duration = 2 }
  local ctx = { client_id = "spec-client", org_id = "ORG@AdobeOrg", sandbox_name = "prod",
    sandbox_id = "11111111-2222-4333-8444-555555555555" }
  local base = store.insert(state, ctx, "connections", {
    name = "osc", connectionSpec = { id = OSC_SPEC, version = "1.0" }, state = "enabled",
  })
  local source = store.insert(state, ctx, "sourceConnections", {
    name = "incidents", baseConnectionId = base.id, data = { format = "tabular" },
    params = { tableName = "incidents" }, connectionSpec = { id = OSC_SPEC, version = "1.0" },
  })
  local target = store.insert(state, ctx, "targetConnections", {
    name = "lake", data = { format = "parquet_xdm" }, params = { dataSetId = "ds1" },
    connectionSpec = { id = DATA_LAKE_SPEC, version = "1.0" },
  })
  local other_target = store.insert(state, ctx, "targetConnections", {
    name = "not the lake", params = {}, connectionSpec = { id = OSC_SPEC, version = "1.0" },
  })
  local other_source = store.insert(state, ctx, "sourceConnections", {
    name = "lake as source", params = {}, connectionSpec = { id = DATA_LAKE_SPEC, version = "1.0" },
  })
  local sandbox = { state = state, ctx = ctx, base = base, source = source, target = target,
    other_source = other_source, other_target = other_target }
  function sandbox.lookup(kind, id) return store.find(state, ctx, kind, id) end
  return sandbox
end

local function flow_body(sb, start)
  return {
    name = "OSC incidents",
    flowSpec = { id = CRM_FLOW_SPEC, version = "1.0" },
    sourceConnectionIds = { sb.source.id },
    targetConnectionIds = { sb.target.id },
    transformations = {
      { name = "Copy", params = { deltaColumn = { name = "updatedTime", dateFormat = "YYYY-MM-DD",
        timezone = "UTC" } } },
      { name = "Mapping", params = { mappingId = "0b090130b58b4819afc78b6dc98b484d", mappingVersion = 0.0 } },
    },
    scheduleParams = { startTime = tostring(start or os.time() + 3600), frequency = "minute",
      interval = 15.0 },
  }
end

-- Creates and stores a flow; returns the record.
local function create_flow(sb, body)
  local fields = assert(dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
  return store.insert(sb.state, sb.ctx, "flows", fields)
end

local function expect_error(code, ok, err)
  assert.is_nil(ok)
  assert.are.equal(code, err.code)
  assert.are.equal(400, err.status)
  assert.is_string(err.detail)
  return err
end

---------------------------------------------------------------------------------------------------

describe("emulator dataset", function()
  it("serves incidents, contacts and accounts in a stable order", function()
    local paths = {}
    for i, t in ipairs(dataset.tables()) do paths[i] = t.path end
    assert.are.same({ "incidents", "contacts", "accounts" }, paths)
    assert.are.equal(dataset.get("contacts"), dataset.tables()[2])
    assert.is_nil(dataset.get("Incidents"))
    assert.is_nil(dataset.get("nope"))
  end)

  it("types every value of every row as its column says", function()
    local lua_type = { string = "string", integer = "number", double = "number", boolean = "boolean" }
    for _, t in ipairs(dataset.tables()) do
      assert.is_true(#t.rows >= 12, t.path)
      local kinds = {}
      for _, column in ipairs(t.columns) do
        kinds[column["meta:xdmType"] or column.type] = true
        for i, row in ipairs(t.rows) do
          local v = row[column.name]
          local where = t.path .. "[" .. i .. "]." .. column.name
          assert.are.equal(lua_type[column.type], type(v), where)
          if column.type == "integer" then assert.are.equal("integer", math_type(v), where) end
          if column["meta:xdmType"] == "date-time" then
            assert.are.same({ type = "string", format = "date-time" }, column.xdm)
            assert.truthy(v:find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), where)
          end
        end
      end
      assert.is_true(kinds["date-time"] and kinds.string and kinds.integer and kinds.boolean, t.path)
      assert.is_table(dataset.column(t, "updatedTime"), t.path)
    end
    local numeric = dataset.column(dataset.get("incidents"), "responseHours")
    assert.are.same({ name = "responseHours", type = "double", xdm = { type = "number" } }, numeric)
  end)

  it("uses only example.com addresses", function()
    for _, t in ipairs(dataset.tables()) do
      for _, row in ipairs(t.rows) do
        for _, v in pairs(row) do
          if type(v) == "string" and v:find("@", 1, true) then
            assert.truthy(v:find("@example%.com$"), v)
          end
        end
      end
    end
  end)
end)

---------------------------------------------------------------------------------------------------

describe("emulator explore", function()
  local osc = { connectionSpec = { id = OSC_SPEC, version = "1.0" } }

  it("lists the tables for objectType=root, in any case", function()
    for _, object_type in ipairs { "root", "ROOT", "Root" } do
      local status, value = explore.handle(osc, { objectType = object_type })
      assert.are.equal(200, status)
      assert.are.equal(#dataset.tables(), #value)
      assert.are.same({ type = "table", name = "Incidents", path = "incidents", canPreview = true,
        canFetchSchema = true }, value[1])
    end
  end)

  it("describes a table's columns, with data only on preview=true", function()
    local status, value = explore.handle(osc, { objectType = "TABLE", object = "contacts" })
    assert.are.equal(200, status)
    assert.are.equal("flat", value.format)
    assert.is_nil(value.data)
    local contacts = dataset.get("contacts")
    assert.are.equal(#contacts.columns, #value.schema.columns)
    assert.are.same(contacts.columns[#contacts.columns], value.schema.columns[#contacts.columns])
    local json = util.json_encode(value)
    assert.truthy(json:find('"meta:xdmType":"date-time"', 1, true))

    local _, previewed = explore.handle(osc, { objectType = "table", object = "contacts", preview = "true" })
    assert.are.equal(explore.PREVIEW_ROWS, #previewed.data)
    assert.are.same(contacts.rows[1], previewed.data[1])
    previewed.data[1].email = "changed"                      -- a copy: the dataset is untouched
    assert.are.equal("contact01@example.com", contacts.rows[1].email)
    local _, not_previewed = explore.handle(osc, { objectType = "table", object = "contacts", preview = "false" })
    assert.is_nil(not_previewed.data)
  end)

  it("refuses what Adobe refuses, with sources-errors codes", function()
    local cases = {
      { { objectType = "file" }, "CONNECTOR-1358" },
      { { objectType = "rest", object = "incidents" }, "CONNECTOR-1358" },
      { { objectType = "table" }, "CONNECTOR-1337" },
      { { objectType = "table", object = "" }, "CONNECTOR-1337" },
      { { objectType = "table", object = "tickets" }, "CONNECTOR-1330" },
      { { objectType = "table", object = "incidents", preview = "yes" }, "CONNECTOR-1312" },
      { { objectType = "root", limit = "5" }, "FLOW-1451" },
      { { objectType = "table", object = "incidents", filters = "e30=" }, "CONNECTOR-1353" },
    }
    for _, case in ipairs(cases) do
      local status, err = explore.handle(osc, case[1])
      assert.is_nil(status)
      assert.are.equal(case[2], err.code, util.json_encode(case[1]))
      assert.are.equal(400, err.status)
    end
    local _, err = explore.handle(osc, { objectType = "table", object = "tickets" })
    assert.are.equal("No columns were found for table tickets. Please provide a valid table name and "
      .. "try again.", err.detail)
  end)

  it("refuses a connection whose spec is not tabular (CONNECTOR-1336)", function()
    local status, err = explore.handle({ connectionSpec = { id = DATA_LAKE_SPEC, version = "1.0" } },
      { objectType = "root" })
    assert.is_nil(status)
    assert.are.equal("CONNECTOR-1336", err.code)
    assert.truthy(err.detail:find(DATA_LAKE_SPEC, 1, true))
  end)
end)

---------------------------------------------------------------------------------------------------

describe("emulator dataflows: create", function()
  local sb
  before_each(function() sb = new_sandbox() end)

  it("returns the fields to store: enabled, inherited attributes, schedule as given", function()
    local body = flow_body(sb)
    local fields = assert(dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
    assert.are.equal("enabled", fields.state)
    assert.are.equal("OSC incidents", fields.name)
    assert.is_nil(fields.description)
    assert.are.same({ id = CRM_FLOW_SPEC, version = "1.0" }, fields.flowSpec)
    assert.are.same({ sb.source.id }, fields.sourceConnectionIds)
    -- stored in the form update-dataflows.md's GET shows: digit strings
    assert.are.same({ startTime = body.scheduleParams.startTime, frequency = "minute", interval = "15" },
      fields.scheduleParams)
    local inherited = fields.inheritedAttributes
    assert.are.same({ id = sb.source.id, connectionSpec = { id = OSC_SPEC, version = "1.0" },
      baseConnection = { id = sb.base.id, connectionSpec = { id = OSC_SPEC, version = "1.0" } } },
      inherited.sourceConnections[1])
    assert.are.same({ id = sb.target.id, connectionSpec = { id = DATA_LAKE_SPEC, version = "1.0" } },
      inherited.targetConnections[1])
    local public = store.public(fields)
    for k in pairs(public) do assert.are_not.equal("_", k:sub(1, 1)) end
    assert.truthy(util.json_encode(public):find('"mappingVersion":"0"', 1, true))

    body.description = "nightly"
    fields = assert(dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
    assert.are.equal("nightly", fields.description)
  end)

  it("accepts startTime as an integer and a once schedule without delta column", function()
    local body = flow_body(sb, os.time() + 60)
    body.scheduleParams.startTime = os.time() + 60
    assert.is_table(dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
    body.scheduleParams = { startTime = tostring(os.time() + 60), frequency = "once" }
    body.transformations[1].params = {}
    assert.is_table(dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
  end)

  -- Each case changes a valid body and names the code it must be refused with.
  local cases = {
    { "state in the body", "FLOW-1410", function(b) b.state = "enabled" end },
    { "no name", "FLOW-1100", function(b) b.name = nil end },
    { "empty name", "FLOW-1100", function(b) b.name = "" end },
    { "description not a string", "FLOW-1100", function(b) b.description = 5 end },
    { "no flowSpec", "FLOW-1100", function(b) b.flowSpec = nil end },
    { "unknown flowSpec", "FLOW-1413", function(b) b.flowSpec.id = "00000000-0000-4000-8000-000000000000" end },
    { "wrong flowSpec version", "FLOW-1413", function(b) b.flowSpec.version = "2.0" end },
    { "no source ids", "CONNECTOR-1338", function(b) b.sourceConnectionIds = nil end },
    { "null source ids", "CONNECTOR-1338", function(b) b.sourceConnectionIds = util.null end },
    { "empty source ids", "CONNECTOR-1338", function(b) b.sourceConnectionIds = {} end },
    { "null target id", "CONNECTOR-1338", function(b) b.targetConnectionIds = { util.null } end },
    { "two source ids", "CONNECTOR-1321", function(b) b.sourceConnectionIds[2] = b.sourceConnectionIds[1] end },
    { "source ids not an array", "FLOW-1100", function(b) b.sourceConnectionIds = "abc" end },
    { "unknown source id", "FLOW-1100", function(b) b.sourceConnectionIds = { "missing" } end },
    { "unknown target id", "FLOW-1100", function(b) b.targetConnectionIds = { "missing" } end },
    { "a target connection id as source", "FLOW-1100", function(b, s)
      b.sourceConnectionIds = { s.target.id }
    end },
    { "a source spec the flow spec does not list", "FLOW-1100", function(b, s)
      b.sourceConnectionIds = { s.other_source.id }
    end, "is not supported by the flow spec CRMToAEP" },
    { "target spec not data lake", "CONNECTOR-1307", function(b, s)
      b.targetConnectionIds = { s.other_target.id }
    end },
    { "transformations not an array", "FLOW-1100", function(b) b.transformations = "Copy" end },
    { "unknown transformation", "FLOW-1100", function(b) b.transformations[3] = { name = "Encrypt" } end },
    { "repeated transformation", "FLOW-1100", function(b) b.transformations[3] = b.transformations[2] end },
    { "mapping without id", "CONNECTOR-1329", function(b) b.transformations[2].params.mappingId = nil end },
    { "mapping version negative", "FLOW-1412", function(b) b.transformations[2].params.mappingVersion = -1 end },
    { "mapping version fraction", "FLOW-1412", function(b) b.transformations[2].params.mappingVersion = 0.5 end },
    { "mapping version not digits", "FLOW-1412", function(b) b.transformations[2].params.mappingVersion = "v1" end },
    { "no schedule", "CONNECTOR-1317", function(b) b.scheduleParams = nil end },
    { "empty schedule", "CONNECTOR-1317", function(b) b.scheduleParams = {} end },
    { "unknown schedule field", "FLOW-1100", function(b) b.scheduleParams.timezone = "UTC" end },
    { "no startTime", "CONNECTOR-1359", function(b) b.scheduleParams.startTime = nil end },
    { "startTime not digits", "CONNECTOR-1340", function(b) b.scheduleParams.startTime = "2030-01-01" end },
    { "startTime fraction", "CONNECTOR-1340", function(b) b.scheduleParams.startTime = 1.5 end },
    { "startTime in the past", "CONNECTOR-1360", function(b)
      b.scheduleParams.startTime = tostring(os.time() - 10)
    end },
    { "no frequency", "CONNECTOR-1359", function(b) b.scheduleParams.frequency = nil end },
    { "bad frequency", "CONNECTOR-1312", function(b) b.scheduleParams.frequency = "month" end },
    { "upper-case frequency", "CONNECTOR-1312", function(b) b.scheduleParams.frequency = "MINUTE" end },
    { "interval with once", "CONNECTOR-1361", function(b)
      b.scheduleParams.frequency = "once"
      b.transformations[1].params = {}
    end },
    { "backfill with once", "CONNECTOR-1364", function(b)
      b.scheduleParams = { startTime = b.scheduleParams.startTime, frequency = "once", backfill = true }
      b.transformations[1].params = {}
    end },
    { "no interval", "CONNECTOR-1359", function(b) b.scheduleParams.interval = nil end },
    { "interval not a number", "CONNECTOR-1312", function(b) b.scheduleParams.interval = "often" end },
    { "minute interval below 15", "CONNECTOR-1362", function(b) b.scheduleParams.interval = 14 end },
    { "hour interval 0", "CONNECTOR-1362", function(b)
      b.scheduleParams.frequency, b.scheduleParams.interval = "hour", "0"
    end },
    { "bad backfill", "CONNECTOR-1312", function(b) b.scheduleParams.backfill = "maybe" end },
    { "CRM flow without delta column", "CONNECTOR-1367", function(b) b.transformations[1].params = {} end },
    { "CRM flow without Copy", "CONNECTOR-1367", function(b) table.remove(b.transformations, 1) end },
    { "delta column with once", "CONNECTOR-1369", function(b)
      b.scheduleParams = { startTime = b.scheduleParams.startTime, frequency = "once" }
    end },
    { "delta column without a name", "FLOW-1100", function(b)
      b.transformations[1].params.deltaColumn = { dateFormat = "YYYY-MM-DD" }
    end },
    { "delta column not in the table", "FLOW-1100", function(b)
      b.transformations[1].params.deltaColumn.name = "lastLogin"
    end },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1] .. " with " .. case[2], function()
      local body = flow_body(sb)
      case[3](body, sb)
      local err = expect_error(case[2], dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
      if case[4] then assert.truthy(err.detail:find(case[4], 1, true), err.detail) end
    end)
  end

  it("uses Adobe's texts for the schedule codes", function()
    local body = flow_body(sb)
    body.scheduleParams.interval = 5
    local err = expect_error("CONNECTOR-1362", dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
    assert.are.equal("Interval cannot be less than 15. Please provide a valid interval value and try again.",
      err.detail)
    body = flow_body(sb)
    body.targetConnectionIds = { sb.other_target.id }
    err = expect_error("CONNECTOR-1307", dataflows.validate_create(sb.state, sb.ctx, body, sb.lookup))
    assert.truthy(err.detail:find("The allowed value is: " .. DATA_LAKE_SPEC, 1, true))
  end)
end)

---------------------------------------------------------------------------------------------------

describe("emulator dataflows: patch and action", function()
  local sb, real_now
  before_each(function()
    sb = new_sandbox()
    real_now = util.now
  end)
  after_each(function() util.now = real_now end)

  -- Applies `change` to a copy of the record and validates it, as the store's PATCH does.
  local function patched(record, change)
    local new = deep_copy(record)
    change(new)
    return new, dataflows.validate_patch(sb.state, sb.ctx, record, new)
  end

  it("keeps a start time that has passed when the patch does not change it", function()
    local start = math.floor(util.now()) + 5
    local flow = create_flow(sb, flow_body(sb, start))
    util.now = function() return start + 100 end
    local new, ok = patched(flow, function(r) r.name = "renamed" end)
    assert.is_true(ok)
    assert.are.equal("renamed", new.name)
    local _, ok2, err = patched(flow, function(r) r.scheduleParams.startTime = tostring(start + 1) end)
    expect_error("CONNECTOR-1360", ok2, err)
  end)

  it("re-runs the body checks on the patched record", function()
    local flow = create_flow(sb, flow_body(sb))
    local _, ok, err = patched(flow, function(r) r.scheduleParams.interval = "10" end)
    expect_error("CONNECTOR-1362", ok, err)
    _, ok, err = patched(flow, function(r) r.transformations[1].params.deltaColumn = nil end)
    expect_error("CONNECTOR-1367", ok, err)
    _, ok, err = patched(flow, function(r) r.sourceConnectionIds = { "gone" } end)
    expect_error("FLOW-1100", ok, err)
    local new
    new, ok = patched(flow, function(r) r.scheduleParams.frequency, r.scheduleParams.interval = "hour", "2" end)
    assert.is_true(ok)
    assert.are.same({ start = flow._schedule.start, frequency = "hour", interval = 2 }, new._schedule)
  end)

  it("enables and disables, refusing a repeated action with FLOW-1422", function()
    local flow = create_flow(sb, flow_body(sb))
    local err = expect_error("FLOW-1422", dataflows.action(sb.state, sb.ctx, flow, "enable"))
    assert.are.equal("The action enable cannot be applied on the current state enabled. Please update "
      .. "the action and try again.", err.detail)
    assert.is_true(dataflows.action(sb.state, sb.ctx, flow, "DISABLE"))
    assert.are.equal("disabled", flow.state)
    expect_error("FLOW-1422", dataflows.action(sb.state, sb.ctx, flow, "disable"))
    assert.is_true(dataflows.action(sb.state, sb.ctx, flow, "enable"))
    assert.are.equal("enabled", flow.state)
    expect_error("FLOW-1100", dataflows.action(sb.state, sb.ctx, flow, "finalize"))
    expect_error("FLOW-1100", dataflows.action(sb.state, sb.ctx, flow, nil))
  end)
end)

---------------------------------------------------------------------------------------------------

describe("emulator dataflows: runs", function()
  local sb, real_now, clock
  local PERIOD = 15 * 60
  before_each(function()
    sb = new_sandbox()
    real_now = util.now
    clock = math.floor(real_now())
    util.now = function() return clock end
  end)
  after_each(function() util.now = real_now end)

  local function runs(flows)
    return dataflows.runs(sb.state, sb.ctx, flows)
  end

  it("starts at startTime, is inProgress for run_duration, then succeeds with the table's counts", function()
    local start = clock + 60
    local flow = create_flow(sb, flow_body(sb, start))
    assert.are.same({}, runs { flow })

    clock = start + 0.5
    local items = runs { flow }
    assert.are.equal(1, #items)
    local run = items[1]
    assert.are.equal(flow.id, run.flowId)
    assert.are.same(flow.flowSpec, run.flowSpec)
    assert.are.equal(sb.ctx.sandbox_name, run.sandboxName)
    assert.are.equal(start * 1000, run.createdAt)
    assert.are.equal(math_type(run.createdAt), "integer")
    assert.are.equal("inProgress", run.metrics.statusSummary.status)
    assert.is_nil(run.metrics.durationSummary.completedAtUTC)
    assert.are.equal(0, run.metrics.recordSummary.inputRecordCount)
    assert.truthy(run.etag:find('^"%x+%-0000%-0200%-0000%-%x+"$'))
    assert.are.equal("copyActivity", run.activities[1].id)
    assert.are.equal("promotionActivity", run.activities[2].id)
    assert.are.equal(sb.source.id, run.activities[1].sourceInfo[1].id)

    clock = start + 2
    local done = runs({ flow })[1]
    assert.are.equal(run.id, done.id)
    assert.are_not.equal(run.etag, done.etag)
    local rows = #dataset.get("incidents").rows
    assert.are.equal("success", done.metrics.statusSummary.status)
    assert.are.equal(start * 1000 + 2000, done.metrics.durationSummary.completedAtUTC)
    assert.are.same({ inputRecordCount = rows, outputRecordCount = rows, failedRecordCount = 0 },
      done.metrics.recordSummary)
    assert.is_true(done.metrics.sizeSummary.inputBytes > 0)
    assert.are.equal("success", done.activities[2].statusSummary.status)
    assert.are.equal(done.updatedAt, done.metrics.durationSummary.completedAtUTC)
    local json = util.json_encode(done)
    assert.truthy(json:find('"errors":[]', 1, true))
  end)

  it("honours state.run_duration", function()
    sb.state.run_duration = 10
    local start = clock + 1
    local flow = create_flow(sb, flow_body(sb, start))
    clock = start + 9
    assert.are.equal("inProgress", runs({ flow })[1].metrics.statusSummary.status)
    clock = start + 10
    assert.are.equal("success", runs({ flow })[1].metrics.statusSummary.status)
  end)

  it("adds a run every interval, keeps ids stable and lists all flows oldest first", function()
    local start = clock + 1
    local flow = create_flow(sb, flow_body(sb, start))
    local once_body = flow_body(sb, start + 100)
    once_body.scheduleParams = { startTime = tostring(start + 100), frequency = "once" }
    once_body.transformations[1].params = {}
    local once = create_flow(sb, once_body)

    clock = start + 3 * PERIOD + 5
    local items = runs { flow, once }
    assert.are.equal(5, #items)
    assert.are.equal(once.id, items[2].flowId)
    local ids, previous = {}, -1
    for _, item in ipairs(items) do
      assert.is_true(item.createdAt >= previous)
      previous = item.createdAt
      ids[#ids + 1] = item.id
    end
    assert.are.equal((start + 3 * PERIOD) * 1000, items[5].createdAt)

    local again = runs { flow, once }
    for i, item in ipairs(again) do assert.are.equal(ids[i], item.id) end
    clock = start + 30 * PERIOD
    assert.are.equal(1, #runs { once })
  end)

  it("stops adding runs while disabled and resumes after enable", function()
    local start = clock + 1
    local flow = create_flow(sb, flow_body(sb, start))
    clock = start + PERIOD + 1                 -- slots 0 and 1 have started
    assert.is_true(dataflows.action(sb.state, sb.ctx, flow, "disable"))
    clock = start + 5 * PERIOD + 1
    local items = runs { flow }
    assert.are.equal(2, #items)                 -- created lazily, but only for enabled seconds
    assert.are.equal("success", items[2].metrics.statusSummary.status)
    assert.is_true(dataflows.action(sb.state, sb.ctx, flow, "enable"))
    clock = start + 7 * PERIOD + 1
    items = runs { flow }
    assert.are.equal(4, #items)
    assert.are.equal((start + 6 * PERIOD) * 1000, items[3].createdAt)
  end)

  it("keeps at most MAX_RUNS_PER_FLOW runs per flow", function()
    local start = clock + 1
    local flow = create_flow(sb, flow_body(sb, start))
    clock = start + 250 * PERIOD
    local items = runs { flow }
    assert.are.equal(dataflows.MAX_RUNS_PER_FLOW, #items)
    assert.are.equal((start + 250 * PERIOD) * 1000, items[#items].createdAt)
  end)
end)

---------------------------------------------------------------------------------------------------
-- Through the emulator process (routes in flow.lua), with runs that last 1 s
---------------------------------------------------------------------------------------------------

describe("emulator dataflows over HTTP", function()
  local helper = require "spec.helper"
  local rawhttp = require "spec.rawhttp"
  local socket = require "socket"
  local PASSWORD_SENTINEL = "SENTINEL-password-5d0b7e"
  local emu, api, base_id

  lazy_setup(function()
    emu = helper.start_emulator { args = { "--run-duration", "1" } }
    api = rawhttp.api(emu)
    local res = api.call("POST", "/connections", {
      name = "OSC", connectionSpec = { id = OSC_SPEC, version = "1.0" },
      auth = { specName = "Basic Authentication",
        params = { host = "https://osc.example.com", username = "osc-user", password = PASSWORD_SENTINEL } },
    })
    assert.are.equal(201, res.status, res.body)
    base_id = res.json.id
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  local function explore_query(query)
    return api.call("GET", "/connections/" .. base_id .. "/explore?" .. query)
  end

  it("explores root, a table and a preview", function()
    local res = explore_query("objectType=root")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("incidents", res.json[1].path)
    assert.is_true(res.json[1].canPreview)

    res = explore_query("objectType=table&object=incidents")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("flat", res.json.format)
    assert.are.equal("id", res.json.schema.columns[1].name)
    assert.is_nil(res.json.data)

    res = explore_query("objectType=table&object=incidents&preview=true")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(explore.PREVIEW_ROWS, #res.json.data)
    assert.matches('"id":20001,', res.body, 1, true)             -- integers stay integers

    rawhttp.assert_flow_problem(explore_query("objectType=file"), 400, "CONNECTOR-1358")
    rawhttp.assert_flow_problem(explore_query("objectType=table&object=tickets"), 400, "CONNECTOR-1330")
  end)

  it("creates source, target and flow; a run appears and succeeds", function()
    local res = api.call("POST", "/sourceConnections", {
      name = "incidents", baseConnectionId = base_id, data = { format = "tabular" },
      params = { tableName = "incidents" }, connectionSpec = { id = OSC_SPEC, version = "1.0" },
    })
    assert.are.equal(201, res.status, res.body)
    local source_id = res.json.id
    res = api.call("POST", "/targetConnections", {
      name = "lake", data = { format = "parquet_xdm", schema = {
        id = "https://ns.adobe.com/specorg/schemas/0123456789abcdef",
        version = "application/vnd.adobe.xed-full+json;version=1" } },
      params = { dataSetId = "5f0123456789abcdef012345" },
      connectionSpec = { id = DATA_LAKE_SPEC, version = "1.0" },
    })
    assert.are.equal(201, res.status, res.body)
    local target_id = res.json.id

    local body = flow_body({ source = { id = source_id }, target = { id = target_id } }, os.time() - 5)
    rawhttp.assert_flow_problem(api.call("POST", "/flows", body), 400, "CONNECTOR-1360")
    body.scheduleParams.startTime = tostring(os.time() + 1)
    res = api.call("POST", "/flows", body)
    assert.are.equal(201, res.status, res.body)
    local flow_id = res.json.id

    res = api.call("GET", "/flows/" .. flow_id)
    assert.are.equal(200, res.status, res.body)
    local flow = res.json.items[1]
    assert.are.equal("enabled", flow.state)
    assert.are.equal(base_id, flow.inheritedAttributes.sourceConnections[1].baseConnection.id)

    local deadline = socket.gettime() + 10
    local run
    repeat
      socket.sleep(0.25)
      res = api.call("GET", "/runs?property=flowId==" .. flow_id)
      assert.are.equal(200, res.status, res.body)
      run = res.json.items[1]
    until (run and run.metrics.statusSummary.status == "success") or socket.gettime() > deadline
    assert.is_table(run, "no run appeared")
    assert.are.equal("success", run.metrics.statusSummary.status)
    assert.are.equal(flow_id, run.flowId)
    assert.are.equal(#dataset.get("incidents").rows, run.metrics.recordSummary.outputRecordCount)
    assert.are.equal(run.metrics.durationSummary.startedAtUTC + 1000, run.metrics.durationSummary.completedAtUTC)

    res = api.call("GET", "/runs/" .. run.id)
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(run.id, res.json.items[1].id)

    res = api.call("POST", "/flows/" .. flow_id .. "/action?op=disable")
    assert.are.equal(200, res.status, res.body)
    rawhttp.assert_flow_problem(api.call("POST", "/flows/" .. flow_id .. "/action?op=disable"), 400, "1422")
    assert.is_nil(emu.log():find(PASSWORD_SENTINEL, 1, true))
  end)
end)
