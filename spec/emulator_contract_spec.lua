-- The emulator against Adobe's contract, through the emulator process (issue 17, points 1, 3, 4
-- and 5): "+" in a query string, the Location header of creates, explore without objectType, and
-- the field types of a dataflow. Each case goes through the public client where it can, and
-- through raw HTTP where the bytes on the wire are the point.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"

local OSC_SPEC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local BASE = rawhttp.BASE

describe("emulator contract", function()
  local block = helper.emulator_block()
  local client, api

  lazy_setup(function()
    block.start()
    client = helper.new_client(block.emu)
  end)
  lazy_teardown(function()
    if client then client:close() end
    block.stop()
  end)
  before_each(function()
    block.reset()
    api = rawhttp.api(block.emu)
  end)

  local function new_connection(name)
    return assert(client.connections:create {
      name = name, spec = "oracle-service-cloud",
      auth = { host = "example.custhelp.com", username = "u", password = "p" },
    })
  end

  describe("query strings (point 1)", function()
    it("reads '+' as a space and %2B as a plus", function()
      new_connection("a b")
      new_connection("a+b")
      local function names(query)
        local res = api.call("GET", "/connections?" .. query)
        assert.are.equal(200, res.status, res.body)
        local out = {}
        for i, item in ipairs(res.json.items) do out[i] = item.name end
        table.sort(out)
        return table.concat(out, "|")
      end
      assert.are.equal("a b", names("property=name==a+b"))
      assert.are.equal("a b", names("property=name==a%20b"))
      assert.are.equal("a+b", names("property=name==a%2Bb"))
      assert.are.equal("a b", names("property=name==%22a+b%22"))
    end)

    it("keeps an unencoded orderby=+name ascending", function()
      for _, name in ipairs { "b", "c", "a" } do new_connection(name) end
      local res = api.call("GET", "/connections?orderby=+name")
      assert.are.equal(200, res.status, res.body)
      assert.are.same({ "a", "b", "c" },
        { res.json.items[1].name, res.json.items[2].name, res.json.items[3].name })
    end)

    it("finds names with spaces and plus signs through the client (space %20, plus %2B)", function()
      local spaced = new_connection("OSC prod base")
      local plussed = new_connection("OSC+prod+base")
      assert.are.equal("property=name%3D%3Da%20b%2Bc",
        require("flowservice.client")._query_string { property = "name==a b+c" })
      assert.are.equal(spaced.id, assert(client.connections:find("OSC prod base")).id)
      assert.are.equal(plussed.id, assert(client.connections:find("OSC+prod+base")).id)
      -- ensure finds the existing one instead of creating a duplicate
      local again = assert(client.connections:ensure {
        name = "OSC+prod+base", spec = "oracle-service-cloud",
        auth = { host = "example.custhelp.com", username = "u", password = "p" },
      })
      assert.are.equal(plussed.id, again.id)
      assert.are.equal(2, assert(client.connections:count()))
    end)
  end)

  describe("Location on 201 (point 3)", function()
    it("names the new connection and flow; other creates have none", function()
      local res = api.call("POST", "/connections", {
        name = "loc", connectionSpec = { id = OSC_SPEC, version = "1.0" },
        auth = { specName = "Basic Authentication",
          params = { host = "example.custhelp.com", username = "u", password = "p" } },
      })
      assert.are.equal(201, res.status, res.body)
      assert.are.equal(BASE .. "/connections/" .. res.json.id, res.headers["location"])
      local got = api.call("GET", res.headers["location"]:sub(#BASE + 1))
      assert.are.equal(200, got.status)
      assert.are.equal(res.json.id, got.json.items[1].id)

      local source = api.call("POST", "/sourceConnections", {
        name = "src", baseConnectionId = res.json.id, data = { format = "tabular" },
        params = { tableName = "incidents" }, connectionSpec = { id = OSC_SPEC, version = "1.0" },
      })
      assert.are.equal(201, source.status, source.body)
      assert.is_nil(source.headers["location"])
      local target = assert(client.target_connections:create {
        name = "t", dataset_id = "ds", schema_id = "https://ns.adobe.com/t/schemas/s" })
      local flow = api.call("POST", "/flows", {
        name = "f", flowSpec = { id = "14518937-270c-4525-bdec-c2ba7cce3860", version = "1.0" },
        sourceConnectionIds = { source.json.id }, targetConnectionIds = { target.id },
        scheduleParams = { startTime = tostring(os.time() + 3600), frequency = "once" },
      })
      assert.are.equal(201, flow.status, flow.body)
      assert.are.equal(BASE .. "/flows/" .. flow.json.id, flow.headers["location"])
    end)
  end)

  describe("explore without objectType (point 4)", function()
    it("answers the root listing, as objectType=root does", function()
      local base = new_connection("explore")
      local bare = api.call("GET", "/connections/" .. base.id .. "/explore")
      local root = api.call("GET", "/connections/" .. base.id .. "/explore?objectType=root")
      assert.are.equal(200, bare.status, bare.body)
      assert.are.same(root.json, bare.json)
      assert.are.equal("incidents", bare.json[1].path)
      rawhttp.assert_flow_problem(api.call("GET", "/connections/" .. base.id .. "/explore?objectType=file"),
        400, "CONNECTOR-1358")
    end)
  end)

  describe("dataflow field types (point 5)", function()
    local function source_and_target()
      local base = new_connection("types")
      local source = assert(client.source_connections:create {
        name = "s", base_connection_id = base.id, table = "incidents" })
      local target = assert(client.target_connections:create {
        name = "t", dataset_id = "ds", schema_id = "https://ns.adobe.com/t/schemas/s" })
      return source, target
    end

    it("the client sends the tutorials' strings; the emulator stores and returns strings", function()
      local source, target = source_and_target()
      local start = os.time() + 3600
      local flow = assert(client.flows:create {
        name = "typed", flow_spec = "CRMToAEP", source_connection_id = source.id,
        target_connection_id = target.id, delta_column = "updatedTime", mapping_id = "m1",
        schedule = { start_time = start, frequency = "minute", interval = 15, backfill = true },
      })
      local item = assert(client.flows:get(flow.id))
      assert.are.same({ startTime = tostring(start), frequency = "minute", interval = "15",
        backfill = "true" }, item.scheduleParams)
      assert.are.equal("0", item.transformations[2].params.mappingVersion)
    end)

    it("accepts the OpenAPI's numbers too and returns them as strings", function()
      local source, target = source_and_target()
      local start = os.time() + 3600
      local res = api.call("POST", "/flows", {
        name = "numbers", flowSpec = { id = "14518937-270c-4525-bdec-c2ba7cce3860", version = "1.0" },
        sourceConnectionIds = { source.id }, targetConnectionIds = { target.id },
        transformations = {
          { name = "Copy", params = { deltaColumn = { name = "updatedTime" } } },
          { name = "Mapping", params = { mappingId = "m", mappingVersion = 2 } },
        },
        scheduleParams = { startTime = start, frequency = "hour", interval = 1, backfill = false },
      })
      assert.are.equal(201, res.status, res.body)
      local got = api.call("GET", "/flows/" .. res.json.id)
      assert.matches('"startTime":"' .. start .. '"', got.body, 1, true)
      assert.matches('"interval":"1"', got.body, 1, true)
      assert.matches('"backfill":"false"', got.body, 1, true)
      assert.matches('"mappingVersion":"2"', got.body, 1, true)
      -- a PATCH with a number is stored as a string as well
      local patched = api.call("PATCH", "/flows/" .. res.json.id,
        { { op = "replace", path = "/scheduleParams/interval", value = 3 } },
        { ["If-Match"] = got.json.items[1].etag })
      assert.are.equal(200, patched.status, patched.body)
      assert.matches('"interval":"3"', api.call("GET", "/flows/" .. res.json.id).body, 1, true)
    end)
  end)
end)
