-- The whole Oracle Service Cloud workflow through the public Lua API, against the emulator as a
-- separate process: connections (CRUD, test, lists across pages, filters, etags), connection
-- and flow specs, explore, source and target connections, dataflows, runs.
local helper = require "spec.helper"
local flowservice = require "flowservice"

local OSC_SPEC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local CRM_FLOW_SPEC = "14518937-270c-4525-bdec-c2ba7cce3860"
local DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
local PASSWORD = "SENTINEL-workflow-password-3e1d"
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function osc(client, name)
  return assert(client.connections:create {
    name = name, spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc-user", password = PASSWORD },
  })
end

local function names_of(items)
  local out = {}
  for i, item in ipairs(items) do out[i] = item.name end
  return out
end

-- The whole suite runs twice: over plain http, and over https with the emulator serving a
-- certificate from a throwaway CA (spec/helper.lua make_certs) that the client trusts through
-- ca_file.
for _, transport in ipairs { "http", "https" } do
  describe("over " .. transport, function()
    local emu, ca_file

    local function new_client(sandbox)
      return assert(flowservice.new {
        env = false, base_url = emu.url, ims_url = emu.url, client_id = helper.CLIENT_ID,
        client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID, sandbox = sandbox or "prod",
        ca_file = ca_file,
      })
    end

    lazy_setup(function()
      local tls
      if transport == "https" then
        local certs = helper.make_certs()
        tls, ca_file = { cert = certs.cert, key = certs.key }, certs.ca
      end
      emu = helper.start_emulator { args = { "--run-duration", "1" }, tls = tls }
      assert.are.equal(transport, emu.url:match("^(%a+)://"))
    end)

    lazy_teardown(function()
      if emu then emu.stop() end
    end)

    describe("connections", function()
      local client

      before_each(function()
        client = new_client("test-conn-" .. math.random(1, 1e9))
      end)

      after_each(function()
        client:close()
      end)

      it("create, get, update (If-Match), test and delete", function()
        local created = osc(client, "OSC one")
        assert.matches(UUID, created.id)
        local item = assert(client.connections:get(created.id))
        assert.are.equal(created.etag, item.etag)
        assert.are.equal("****", item.auth.params.password)
        assert.is_true(client.connections:test(created.id))

        local updated = assert(client.connections:update(created.id,
          { { op = "replace", path = "/name", value = "OSC renamed" } }, item.etag))
        assert.are_not.equal(item.etag, updated.etag)
        assert.are.equal("OSC renamed", client.connections:get(created.id).name)

        -- the old etag is stale now: a distinct 412 error; retry_on_conflict re-reads and re-applies
        local res, err = client.connections:update(created.id, { description = "x" }, item.etag)
        assert.is_nil(res)
        assert.are.equal(412, err.status)
        assert.are.equal("FLOW-1404-412", err.code)
        assert.is_true(err.conflict)
        res = assert(client.connections:update(created.id, { description = "second try" }, item.etag,
          { retry_on_conflict = true }))
        assert.are.equal("second try", client.connections:get(created.id).description)
        assert.are_not.equal(updated.etag, res.etag)

        assert.is_true(client.connections:delete(created.id))
        local gone
        gone, err = client.connections:get(created.id)
        assert.is_nil(gone)
        assert.are.equal(404, err.status)
        assert.are.equal("FLOW-1439-404", err.code)
      end)

      it("refuses to change the connection spec (FLOW-1414-400)", function()
        local created = osc(client, "OSC spec change")
        local res, err = client.connections:update(created.id,
          { { op = "replace", path = "/connectionSpec/id", value = DATA_LAKE } }, created.etag)
        assert.is_nil(res)
        assert.are.equal("FLOW-1414-400", err.code)
      end)

      it("lists across at least three pages without repeats, with filters, order and count", function()
        for i = 1, 7 do osc(client, ("page item %d"):format(i)) end
        osc(client, "other, with a comma")
        local seen, names = {}, {}
        for item, err in client.connections:list { property = { { "name", ">=", "page item" } }, limit = 2 } do
          assert.is_truthy(item, tostring(err))
          assert.is_nil(seen[item.id], "an item came twice")
          seen[item.id] = true
          names[#names + 1] = item.name
        end
        assert.are.equal(7, #names)
        assert.are.equal(7, client.connections:count { property = { { "name", ">=", "page item" } } })
        assert.are.equal(8, client.connections:count())

        local desc = assert(client.connections:all { property = "name>=page", orderby = "-name" })
        assert.are.same({ "page item 7", "page item 6", "page item 5", "page item 4", "page item 3",
          "page item 2", "page item 1" }, names_of(desc))
        local two = assert(client.connections:all {
          property = { { "name", "==", { "page item 2", "other, with a comma" } } }, orderby = "name" })
        assert.are.same({ "other, with a comma", "page item 2" }, names_of(two))
        local anded = assert(client.connections:all {
          property = { { "name", "!=", "page item 1" }, { "name", ">=", "page item 6" } } })
        assert.are.same({ "page item 6", "page item 7" }, names_of(anded))
        assert.are.equal("other, with a comma", assert(client.connections:find("other, with a comma")).name)
      end)

      it("keeps sandboxes apart", function()
        local created = osc(client, "sandboxed")
        local other = new_client("test-other-" .. math.random(1, 1e9))
        local item, err = other.connections:get(created.id)
        assert.is_nil(item)
        assert.are.equal(404, err.status)
        assert.are.equal(0, other.connections:count())
        other:close()
      end)

      it("maps the service's list errors: limit with count (FLOW-1401-400)", function()
        local body, err = client:request { method = "GET", path = "/connections",
          query = { limit = 2, count = true } }
        assert.is_nil(body)
        assert.are.equal("FLOW-1401-400", err.code)
      end)
    end)

    describe("connection specs and flow specs", function()
      local client

      setup(function() client = new_client() end)
      teardown(function() client:close() end)

      it("gets, finds and lists connection specs", function()
        local spec = assert(client.connection_specs:get(OSC_SPEC))
        assert.are.equal(OSC_SPEC, spec.id)
        assert.is_table(spec.authSpec)
        local found = assert(client.connection_specs:find(spec.name))
        assert.are.equal(OSC_SPEC, found.id)
        local all = assert(client.connection_specs:all())
        assert.is_true(#all >= 6)
        local ids = {}
        for _, s in ipairs(all) do ids[s.id] = true end
        assert.is_true(ids[DATA_LAKE])
      end)

      it("validates auth against a fetched spec before sending", function()
        local spec = assert(client.connection_specs:get(OSC_SPEC))
        local before = client.connections:count()
        local res, err = client.connections:create { name = "bad", spec = spec,
          auth = { host = "h", username = "u" } }
        assert.is_nil(res)
        assert.are.equal("validation", err.kind)
        assert.are.equal("auth.password", err.field)
        assert.are.equal(before, client.connections:count())
        assert(client.connections:create { name = "good", spec = spec,
          auth = { host = "h", username = "u", password = PASSWORD } })
      end)

      it("finds CRMToAEP, which allows Oracle Service Cloud and the data lake", function()
        local fs = assert(client.flow_specs:find("CRMToAEP"))
        assert.are.equal(CRM_FLOW_SPEC, fs.id)
        local allowed = {}
        for _, id in ipairs(fs.sourceConnectionSpecIds) do allowed[id] = true end
        assert.is_true(allowed[OSC_SPEC])
        assert.are.same({ DATA_LAKE }, fs.targetConnectionSpecIds)
        assert.are.equal(CRM_FLOW_SPEC, assert(client.flow_specs:get(CRM_FLOW_SPEC)).id)
        local _, err = client.flow_specs:find("NoSuchFlowSpec")
        assert.are.equal("not_found", err.kind)
      end)
    end)

    describe("the walkthrough: explore, source, target, flow, runs", function()
      local client, base

      setup(function()
        client = new_client("test-walk-" .. math.random(1, 1e9))
        base = osc(client, "OSC walkthrough")
      end)

      teardown(function() client:close() end)

      local function table_with_delta()
        local tables = assert(client.connections:tables(base.id))
        local t = tables[1]
        local columns = assert(client.connections:columns(base.id, t.path))
        for _, c in ipairs(columns) do
          if c.xdm and c.xdm.format == "date-time" then return t, columns, c.name end
        end
        error("no date-time column in " .. t.path)
      end

      local function pipeline(frequency, start)
        local t, _, delta = table_with_delta()
        local source = assert(client.source_connections:create { name = "src " .. frequency,
          base_connection_id = base.id, table = t.path })
        local target = assert(client.target_connections:create { name = "lake " .. frequency,
          dataset_id = "5f7e0d1c2b3a4d5e6f708192", schema_id = "https://ns.adobe.com/t/schemas/abc" })
        local flow = assert(client.flows:create {
          name = "flow " .. frequency, flow_spec = "CRMToAEP",
          source_connection_id = source.id, target_connection_id = target.id,
          delta_column = frequency ~= "once" and delta or nil, mapping_id = "m1",
          schedule = { start_time = start or os.time() + 1, frequency = frequency,
            interval = frequency ~= "once" and 15 or nil },
        })
        return flow, source, target, t
      end

      it("explores tables, columns and a preview of rows", function()
        local tables = assert(client.connections:tables(base.id))
        assert.is_true(#tables >= 3)
        for _, t in ipairs(tables) do
          assert.are.equal("table", t.type)
          assert.is_string(t.path)
        end
        local preview = assert(client.connections:preview(base.id, tables[1].path))
        assert.is_true(#preview.columns > 3)
        assert.is_true(#preview.rows > 0)
        for name in pairs(preview.rows[1]) do
          local known = false
          for _, c in ipairs(preview.columns) do known = known or c.name == name end
          assert.is_true(known, name .. " is not a column")
        end
        local res, err = client.connections:columns(base.id, "no_such_table")
        assert.is_nil(res)
        assert.are.equal("CONNECTOR-1330-400", err.code)
      end)

      it("creates a flow, waits for its first run, and reports record counts", function()
        local flow, source = pipeline("minute")
        local item = assert(client.flows:get(flow.id))
        assert.are.equal("enabled", item.state)
        local progress = 0
        local run, status = assert(client.runs:wait { flow_id = flow.id, timeout = 20, interval = 0.3,
          progress = function() progress = progress + 1 end })
        assert.are.equal("success", status)
        assert.are.equal(flow.id, run.flowId)
        assert.is_true(progress >= 2, "the run should have been seen in progress first")
        assert.is_true(run.metrics.recordSummary.inputRecordCount > 0)
        assert.are.equal(run.id, assert(client.runs:get(run.id)).id)
        assert.are.equal(1, #assert(client.runs:all { flow_id = flow.id }))
        assert(client.source_connections:get(source.id))
      end)

      it("disables and enables a flow, updates it, refuses in-use deletes, then deletes", function()
        local flow, source, target = pipeline("hour", os.time() + 3600)
        local disabled = assert(client.flows:disable(flow.id))
        assert.are.equal("disabled", client.flows:get(flow.id).state)
        local _, err = client.flows:disable(flow.id)
        assert.are.equal("FLOW-1422-400", err.code)
        local enabled = assert(client.flows:enable(flow.id, disabled.etag))
        assert.are.equal("enabled", client.flows:get(flow.id).state)

        assert(client.flows:update(flow.id, { { op = "replace", path = "/name", value = "renamed flow" } },
          enabled.etag))
        assert.are.equal("renamed flow", client.flows:get(flow.id).name)
        assert.are.equal(1, client.flows:count { property = { { "sourceConnectionIds[]", "==", source.id } } })

        _, err = client.connections:delete(base.id)
        assert.are.equal("FLOW-1418-400", err.code)
        _, err = client.source_connections:delete(source.id)
        assert.are.equal("FLOW-1447-400", err.code)
        assert.is_true(client.flows:delete(flow.id))
        assert.is_true(client.source_connections:delete(source.id))
        assert.is_true(client.target_connections:delete(target.id))
      end)

      it("passes the service's flow validation codes through (raw requests)", function()
        local t, _, delta = table_with_delta()
        local source = assert(client.source_connections:create { name = "src codes",
          base_connection_id = base.id, table = t.path })
        local target = assert(client.target_connections:create { name = "lake codes",
          dataset_id = "ds", schema_id = "https://ns.adobe.com/t/schemas/abc" })
        local function post(schedule, transformations)
          local _, err = client:request { method = "POST", path = "/flows", body = {
            name = "raw", flowSpec = { id = CRM_FLOW_SPEC, version = "1.0" },
            sourceConnectionIds = { source.id }, targetConnectionIds = { target.id },
            transformations = transformations or { { name = "Copy", params = { deltaColumn = { name = delta } } } },
            scheduleParams = schedule,
          } }
          return err and err.code
        end
        local soon = tostring(os.time() + 600)
        assert.are.equal("CONNECTOR-1360-400", post { startTime = tostring(os.time() - 3600), frequency = "hour",
          interval = 1 })
        assert.are.equal("CONNECTOR-1362-400", post { startTime = soon, frequency = "minute", interval = 5 })
        assert.are.equal("CONNECTOR-1361-400", post({ startTime = soon, frequency = "once", interval = 1 },
          flowservice.json.array()))
        assert.are.equal("CONNECTOR-1367-400", post({ startTime = soon, frequency = "hour", interval = 1 },
          { { name = "Mapping", params = { mappingId = "m", mappingVersion = 0 } } }))
        assert.are.equal("CONNECTOR-1369-400", post { startTime = soon, frequency = "once" })
        assert.are.equal("CONNECTOR-1364-400", post({ startTime = soon, frequency = "once", backfill = true },
          flowservice.json.array()))

        -- the flow spec must exist and allow the source's connection spec
        local function post_spec(id)
          local _, err = client:request { method = "POST", path = "/flows", body = {
            name = "raw", flowSpec = { id = id, version = "1.0" },
            sourceConnectionIds = { source.id }, targetConnectionIds = { target.id },
            transformations = { { name = "Copy", params = { deltaColumn = { name = delta } } } },
            scheduleParams = { startTime = soon, frequency = "hour", interval = 1 },
          } }
          return err
        end
        assert.are.equal("FLOW-1413-400", post_spec("00000000-0000-4000-8000-000000000000").code)
        local err = post_spec("9753525b-82c7-4dce-8a9b-5ccfce2b9876")   -- CloudStorageToAEP
        assert.are.equal("FLOW-1100-400", err.code)
        assert.matches("not supported by the flow spec", err.detail)
      end)

      it("needs If-Match on PATCH (FLOW-1403-400), and answers unknown routes in the Flow shape", function()
        local _, err = client:request { method = "PATCH", path = "/connections/" .. base.id,
          body = { { op = "replace", path = "/name", value = "x" } } }
        assert.are.equal("FLOW-1403-400", err.code)
        _, err = client:request { method = "GET", path = "/noSuchResource" }
        assert.are.equal(404, err.status)
        assert.are.equal("FLOW-1101-404", err.code)
      end)
    end)

    describe("secrets", function()
      it("never reach the emulator's log, whatever the workflow did", function()
        -- runs after the rest of this file (busted keeps file order); drives a secret update too
        local client = new_client("test-secrets")
        local created = osc(client, "secret check")
        assert(client.connections:get(created.id))
        assert(client.connections:update(created.id, { { op = "replace", path = "/auth/params/password",
          value = PASSWORD .. "-2" } }, created.etag))
        client:close()
        local log = emu.log()
        assert.is_nil(log:find(PASSWORD, 1, true))
        assert.is_nil(log:find(helper.CLIENT_SECRET, 1, true))
      end)
    end)
  end)
end
