-- The emulator's resource routes (store, list queries, PATCH, DELETE) through the emulator
-- process, with raw HTTP (spec/rawhttp.lua).
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local compat = require "flowservice.compat"

local assert_flow_problem = rawhttp.assert_flow_problem

local OSC_SPEC = { id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003", version = "1.0" }
local LAKE_SPEC = { id = "c604ff05-7f1a-43c0-8e18-33bf874cb11c", version = "1.0" }
local CRM_FLOW_SPEC = { id = "14518937-270c-4525-bdec-c2ba7cce3860", version = "1.0" }
local PASSWORD_SENTINEL = "SENTINEL-store-password-5b8e"

local function connection_body(name, password)
  return {
    name = name,
    auth = { specName = "Basic Authentication", params = {
      host = "https://osc.example.com", username = "osc-user", password = password or PASSWORD_SENTINEL,
    } },
    connectionSpec = OSC_SPEC,
  }
end

local function source_body(base_id, overrides)
  local body = {
    name = "OSC incidents", baseConnectionId = base_id, data = { format = "tabular" },
    params = { tableName = "incidents" }, connectionSpec = OSC_SPEC,
  }
  for k, v in pairs(overrides or {}) do body[k] = v end
  return body
end

local function target_body(overrides)
  local body = {
    name = "Data lake", data = { format = "parquet_xdm", schema = {
      id = "https://ns.adobe.com/tenant/schemas/abc",
      version = "application/vnd.adobe.xed-full+json;version=1" } },
    params = { dataSetId = "5f3c4a7e9d1b2c0001a2b3c4" }, connectionSpec = LAKE_SPEC,
  }
  for k, v in pairs(overrides or {}) do body[k] = v end
  return body
end

local function flow_body(source_id, target_id)
  return {
    name = "OSC to AEP", flowSpec = CRM_FLOW_SPEC,
    sourceConnectionIds = { source_id }, targetConnectionIds = { target_id },
    transformations = { { name = "Copy", params = { deltaColumn = { name = "updatedTime" } } } },
    scheduleParams = { startTime = tostring(os.time() + 3600), frequency = "hour", interval = 1 },
  }
end

describe("emulator resource store", function()
  local emu, api

  lazy_setup(function()
    emu = helper.start_emulator()
    api = rawhttp.api(emu)
  end)

  lazy_teardown(function()
    if emu then emu.stop() end
  end)

  local function create(kind, body)
    local res = api.call("POST", "/" .. kind, body)
    assert.are.equal(201, res.status, res.body)
    return res.json.id, res.json.etag
  end

  local function get(kind, id)
    local res = api.call("GET", "/" .. kind .. "/" .. id)
    assert.are.equal(200, res.status, res.body)
    return res.json.items[1]
  end

  -- api.call sends only the Platform headers; this adds more (a list of {name, value}).
  local function call_with(method, path, body, extra)
    local headers = rawhttp.platform_headers(api.token)
    if body then rawhttp.with_json(headers) end
    for _, h in ipairs(extra) do headers[#headers + 1] = h end
    return rawhttp.request(emu, method, rawhttp.BASE .. path, headers, body)
  end

  local function patch(kind, id, ops, etag)
    return call_with("PATCH", "/" .. kind .. "/" .. id, rawhttp.cjson.encode(ops), { { "If-Match", etag } })
  end

  -- A fresh sandbox per test group keeps lists predictable.
  local sandbox_counter = 0
  local function sandbox_api()
    sandbox_counter = sandbox_counter + 1
    local sandbox = "test-list-" .. sandbox_counter
    local scoped = rawhttp.api(emu, sandbox)
    return scoped
  end

  describe("CRUD", function()
    it("source connections: create, get, list, patch, delete", function()
      local base = create("connections", connection_body("base for source"))
      local id, etag = create("sourceConnections", source_body(base))
      local item = get("sourceConnections", id)
      assert.are.equal(base, item.baseConnectionId)
      assert.are.equal("incidents", item.params.tableName)
      assert.are.equal(etag, item.etag)
      assert.are.equal(etag, item.version)
      assert.are.equal("prod", item.sandboxName)
      local res = patch("sourceConnections", id, { { op = "replace", path = "/params/tableName",
        value = "contacts" } }, etag)
      assert.are.equal(200, res.status, res.body)
      assert.are_not.equal(etag, res.json.etag)
      assert.are.equal("contacts", get("sourceConnections", id).params.tableName)
      assert.are.equal(204, api.call("DELETE", "/sourceConnections/" .. id).status)
      assert_flow_problem(api.call("GET", "/sourceConnections/" .. id), 404, "1439")
    end)

    it("target connections: create, get, patch, delete (trailing slash)", function()
      local id, etag = create("targetConnections", target_body())
      local item = get("targetConnections", id)
      assert.are.equal("parquet_xdm", item.data.format)
      assert.are.same(LAKE_SPEC, item.connectionSpec)
      local res = patch("targetConnections", id .. "/", { { op = "add", path = "/description",
        value = "lake" } }, etag)
      assert.are.equal(200, res.status, res.body)
      assert.are.equal("lake", get("targetConnections", id).description)
      local del = api.call("DELETE", "/targetConnections/" .. id .. "/")
      assert.are.equal(204, del.status)
      assert.are.equal("", del.body)
      assert_flow_problem(api.call("DELETE", "/targetConnections/" .. id), 404, "1439")
    end)

    it("connections: list, get masks secrets, delete", function()
      local id = create("connections", connection_body("listed"))
      local list = api.call("GET", "/connections")
      assert.are.equal(200, list.status)
      local found
      for _, item in ipairs(list.json.items) do
        if item.id == id then found = item end
      end
      assert.are.equal("****", found.auth.params.password)
      assert.is_nil(list.body:find(PASSWORD_SENTINEL, 1, true))
      assert.are.equal(204, api.call("DELETE", "/connections/" .. id).status)
      assert_flow_problem(api.call("GET", "/connections/" .. id), 404, "1439")
    end)

    it("connections: test answers result true", function()
      local id = create("connections", connection_body("tested"))
      local res = api.call("GET", "/connections/" .. id .. "/test")
      assert.are.equal(200, res.status)
      assert.are.same({ result = true }, res.json)
      assert_flow_problem(api.call("GET", "/connections/nope/test"), 404, "1439")
    end)

    it("flows: create, get, patch, enable/disable, delete", function()
      local base = create("connections", connection_body("flow base"))
      local source = create("sourceConnections", source_body(base))
      local target = create("targetConnections", target_body())
      local id, etag = create("flows", flow_body(source, target))
      local item = get("flows", id)
      assert.are.equal("enabled", item.state)
      assert.are.same({ source }, item.sourceConnectionIds)
      local res = patch("flows", id, { { op = "replace", path = "/name", value = "renamed" } }, etag)
      assert.are.equal(200, res.status, res.body)
      assert.are.equal("renamed", get("flows", id).name)
      res = api.call("POST", "/flows/" .. id .. "/action?op=disable", nil)
      assert.are.equal(200, res.status, res.body)
      assert.are.equal("disabled", get("flows", id).state)
      assert_flow_problem(api.call("POST", "/flows/" .. id .. "/action?op=disable"), 400, "1422")
      assert_flow_problem(api.call("POST", "/flows/" .. id .. "/action?op=explode"), 400, "1100")
      assert_flow_problem(api.call("POST", "/flows/" .. id .. "/action"), 400, "1100")
      assert_flow_problem(call_with("POST", "/flows/" .. id .. "/action?op=enable", nil,
        { { "If-Match", '"stale"' } }), 412, "1404")
      res = call_with("POST", "/flows/" .. id .. "/action?op=ENABLE", nil, { { "If-Match", get("flows", id).etag } })
      assert.are.equal(200, res.status, res.body)
      assert.are.equal("enabled", get("flows", id).state)
      -- the flow blocks deleting what it uses
      assert_flow_problem(api.call("DELETE", "/sourceConnections/" .. source), 400, "1447")
      assert_flow_problem(api.call("DELETE", "/targetConnections/" .. target), 400, "1447")
      local blocked = api.call("DELETE", "/connections/" .. base)
      assert_flow_problem(blocked, 400, "1418")
      assert.matches("The base connection with the ID " .. base .. " cannot be deleted",
        blocked.json.errorMessage, 1, true)
      assert.are.equal(204, api.call("DELETE", "/flows/" .. id).status)
      assert_flow_problem(api.call("GET", "/flows/" .. id), 404, "1439")
      assert.are.equal(204, api.call("DELETE", "/sourceConnections/" .. source).status)
      assert.are.equal(204, api.call("DELETE", "/connections/" .. base).status)
    end)
  end)

  describe("source and target connection validation", function()
    local base

    lazy_setup(function()
      base = create("connections", connection_body("validation base"))
    end)

    it("baseConnectionId must be a connection of the sandbox (1100)", function()
      assert_flow_problem(api.call("POST", "/sourceConnections", source_body("no-such-id")), 400, "1100")
      assert_flow_problem(api.call("POST", "/sourceConnections", source_body(nil)), 400, "1100")
      local other = rawhttp.api(emu, "test-elsewhere")
      assert_flow_problem(other.call("POST", "/sourceConnections", source_body(base)), 400, "1100")
    end)

    it("data.format, params.tableName and the table are checked", function()
      assert_flow_problem(api.call("POST", "/sourceConnections",
        source_body(base, { data = { format = "xml" } })), 400, "CONNECTOR-1327")
      assert_flow_problem(api.call("POST", "/sourceConnections",
        source_body(base, { params = { tableName = "" } })), 400, "CONNECTOR-1329")
      assert_flow_problem(api.call("POST", "/sourceConnections",
        source_body(base, { params = { tableName = "nosuchtable" } })), 400, "CONNECTOR-1330")
    end)

    it("the connectionSpec must be known (1413) and, for targets, the data lake (CONNECTOR-1307)", function()
      assert_flow_problem(api.call("POST", "/sourceConnections",
        source_body(base, { connectionSpec = { id = "nope", version = "1.0" } })), 400, "1413")
      local res = api.call("POST", "/targetConnections", target_body { connectionSpec = OSC_SPEC })
      assert_flow_problem(res, 400, "CONNECTOR-1307")
      assert.matches("The allowed value is: c604ff05-7f1a-43c0-8e18-33bf874cb11c", res.json.errorMessage, 1, true)
      assert.are.equal("Bad Request", res.json.title)
    end)

    it("target data.format, data.schema and params.dataSetId are checked", function()
      assert_flow_problem(api.call("POST", "/targetConnections",
        target_body { data = { format = "parquet", schema = { id = "x", version = "1" } } }), 400, "CONNECTOR-1327")
      assert_flow_problem(api.call("POST", "/targetConnections",
        target_body { data = { format = "parquet_xdm", schema = { id = "x" } } }), 400, "1100")
      assert_flow_problem(api.call("POST", "/targetConnections",
        target_body { params = { dataSetId = "" } }), 400, "CONNECTOR-1325")
      assert_flow_problem(api.call("POST", "/targetConnections", target_body { params = {} }), 400, "CONNECTOR-1325")
    end)

    it("create checks shared by all kinds: empty body 1405, not an object / no name 1100", function()
      for _, kind in ipairs { "sourceConnections", "targetConnections", "flows" } do
        assert_flow_problem(api.call("POST", "/" .. kind, ""), 400, "1405")
        assert_flow_problem(api.call("POST", "/" .. kind, "[1]"), 400, "1100")
        assert_flow_problem(api.call("POST", "/" .. kind, "{"), 400, "1100")
        local headers = rawhttp.platform_headers(api.token)
        headers[#headers + 1] = { "Content-Type", "text/plain" }
        local res = rawhttp.request(emu, "POST", rawhttp.BASE .. "/" .. kind, headers, '{"name":"x"}')
        assert.are.equal(400, res.status)
        assert.are.equal("BadRequestError", res.json.title)
      end
      assert_flow_problem(api.call("POST", "/targetConnections", target_body { name = "" }), 400, "1100")
    end)
  end)

  describe("PATCH", function()
    local id, etag

    before_each(function()
      id, etag = create("connections", connection_body("patch me"))
    end)

    it("needs If-Match (1403) equal to the current etag (1404-412)", function()
      local ops = rawhttp.cjson.encode { { op = "replace", path = "/name", value = "x" } }
      assert_flow_problem(api.call("PATCH", "/connections/" .. id, ops), 400, "1403")
      local stale = patch("connections", id, { { op = "replace", path = "/name", value = "x" } },
        etag:gsub('"', ""))                                     -- unquoted: not the etag
      assert_flow_problem(stale, 412, "1404")
      assert.are.equal("Version not matching", stale.json.title)
      assert.matches("does not match the current version on entity", stale.json.errorMessage, 1, true)
      assert.are.equal("patch me", get("connections", id).name)
    end)

    it("applies add / replace / remove, returns a new etag, and the old etag is then stale", function()
      local res = patch("connections", id, {
        { op = "replace", path = "/name", value = "patched" },
        { op = "ADD", path = "/description", value = "new description" },
      }, etag)
      assert.are.equal(200, res.status, res.body)
      assert.are.equal(id, res.json.id)
      assert.are_not.equal(etag, res.json.etag)
      local item = get("connections", id)
      assert.are.equal("patched", item.name)
      assert.are.equal("new description", item.description)
      assert.are.equal(res.json.etag, item.etag)
      assert.is_true(item.updatedAt >= item.createdAt)
      assert_flow_problem(patch("connections", id, { { op = "remove", path = "/description" } }, etag), 412, "1404")
      res = patch("connections", id, { { op = "remove", path = "/description" } }, res.json.etag)
      assert.are.equal(200, res.status, res.body)
      assert.is_nil(get("connections", id).description)
    end)

    it("re-validates /auth/params against the authSpec; secrets stay masked", function()
      local res = patch("connections", id, { { op = "remove", path = "/auth/params/host" } }, etag)
      assert_flow_problem(res, 400, "1100")
      res = patch("connections", id, { { op = "replace", path = "/auth/params/password", value = "****" } }, etag)
      assert_flow_problem(res, 400, "1100")
      res = patch("connections", id, { { op = "replace", path = "/auth/params",
        value = { host = "https://other.example.com", username = "u2", password = "SENTINEL-new-pw-2c1d" } } }, etag)
      assert.are.equal(200, res.status, res.body)
      local item = get("connections", id)
      assert.are.equal("https://other.example.com", item.auth.params.host)
      assert.are.equal("****", item.auth.params.password)
      assert.is_nil(emu.log():find("SENTINEL-new-pw-2c1d", 1, true))
    end)

    it("refuses a connectionSpec change (1414) and read-only fields (1100)", function()
      assert_flow_problem(patch("connections", id, { { op = "replace", path = "/connectionSpec/id",
        value = "x" } }, etag), 400, "1414")
      for _, path in ipairs { "/id", "/etag", "/createdAt", "/state", "/sandboxName", "/_secrets", "/labels" } do
        assert_flow_problem(patch("connections", id, { { op = "replace", path = path, value = "x" } }, etag),
          400, "1100")
      end
    end)

    it("refuses unsupported ops (1434), missing paths (1455) and bodies that are not op arrays (1100)", function()
      local res = patch("connections", id, { { op = "move", from = "/name", path = "/description" } }, etag)
      assert_flow_problem(res, 400, "1434")
      assert.matches("Unsupported operation 'move' received", res.json.errorMessage, 1, true)
      assert_flow_problem(patch("connections", id, { { op = "replace", path = "/description", value = "x" } },
        etag), 400, "1455")
      assert_flow_problem(patch("connections", id, { { op = "remove", path = "/auth/params/nope" } }, etag),
        400, "1455")
      assert_flow_problem(patch("connections", id, { op = "replace", path = "/name", value = "x" }, etag),
        400, "1100")
      assert_flow_problem(patch("connections", id, { { op = "replace", path = "name", value = "x" } }, etag),
        400, "1100")
      assert_flow_problem(patch("connections", id, { { op = "replace", path = "/name" } }, etag), 400, "1100")
    end)

    it("is atomic: a failing op leaves the resource and its etag unchanged", function()
      local res = patch("connections", id, {
        { op = "replace", path = "/name", value = "half done" },
        { op = "remove", path = "/auth/params/nosuchparam" },
      }, etag)
      assert_flow_problem(res, 400, "1455")
      res = patch("connections", id, {
        { op = "replace", path = "/name", value = "half done" },
        { op = "replace", path = "/auth/params/username", value = 42 },
      }, etag)
      assert_flow_problem(res, 400, "1100")
      local item = get("connections", id)
      assert.are.equal("patch me", item.name)
      assert.are.equal("osc-user", item.auth.params.username)
      assert.are.equal(etag, item.etag)
    end)

    it("answers 404 for an unknown id", function()
      assert_flow_problem(patch("connections", "nope", { { op = "remove", path = "/name" } }, etag), 404, "1439")
    end)
  end)

  describe("list queries", function()
    local scoped, names, ids

    lazy_setup(function()
      scoped = sandbox_api()
      names, ids = { "delta", "Alpha, the first", "charlie", "bravo", "echo" }, {}
      for i, name in ipairs(names) do
        local res = scoped.call("POST", "/connections", connection_body(name))
        assert.are.equal(201, res.status, res.body)
        ids[i] = res.json.id
      end
    end)

    local function list(query_string)
      local res = scoped.call("GET", "/connections" .. query_string)
      assert.are.equal(200, res.status, res.body)
      return res
    end

    local function names_of(res)
      local out = {}
      for i, item in ipairs(res.json.items) do out[i] = item.name end
      return table.concat(out, "|")
    end

    it("lists in insertion order with count and an empty _links object", function()
      local res = list("")
      assert.are.equal("delta|Alpha, the first|charlie|bravo|echo", names_of(res))
      assert.are.equal(5, res.json.count)
      assert.matches('"_links":{}', res.body, 1, true)
    end)

    it("pages with limit=2 across three pages without skipping or repeating", function()
      local seen, pages = {}, 0
      local res = list("?limit=2")
      while true do
        pages = pages + 1
        assert.is_true(#res.json.items <= 2)
        assert.are.equal(#res.json.items, res.json.count)
        for _, item in ipairs(res.json.items) do
          assert.is_nil(seen[item.id], "repeated " .. item.id)
          seen[item.id] = true
          seen[#seen + 1] = item.id
        end
        local nxt = res.json._links.next
        if not nxt then break end
        assert.matches("^/connections%?continuationToken=", nxt.href)
        res = list(nxt.href:sub(#"/connections" + 1))
      end
      assert.are.equal(3, pages)
      assert.are.same(ids, { compat.unpack(seen) }) -- the list part (seen also maps id -> true)
    end)

    it("filters with each operator, OR lists, quoted values, AND and nested paths", function()
      assert.are.equal("charlie", names_of(list("?property=name==charlie")))
      assert.are.equal("delta|charlie|bravo|echo", names_of(list("?property=name!=%22Alpha,%20the%20first%22")))
      assert.are.equal("Alpha, the first|bravo", names_of(list('?property=name==bravo,"Alpha,%20the%20first"')))
      assert.are.equal("delta|echo", names_of(list("?property=name>charlie")))
      assert.are.equal("Alpha, the first|bravo", names_of(list("?property=name<charlie")))
      assert.are.equal("delta|charlie|echo", names_of(list("?property=name>=charlie")))
      assert.are.equal("Alpha, the first|charlie|bravo", names_of(list("?property=name<=charlie")))
      assert.are.equal("charlie|bravo", names_of(list('?property=name>"Alpha,%20the%20first"&property=name<delta')))
      assert.are.equal(5, list("?property=connectionSpec.id==" .. OSC_SPEC.id).json.count)
      assert.are.equal(0, list("?property=connectionSpec.id==other").json.count)
      assert.are.equal(ids[3], list("?property=id==" .. ids[3]).json.items[1].id)
    end)

    it("orders ascending and descending", function()
      assert.are.equal("Alpha, the first|bravo|charlie|delta|echo", names_of(list("?orderby=name")))
      assert.are.equal("echo|delta|charlie|bravo|Alpha, the first", names_of(list("?orderby=-name")))
      assert.are.equal("delta|Alpha, the first|charlie|bravo|echo", names_of(list("?orderby=%2BcreatedAt")))
      assert_flow_problem(scoped.call("GET", "/connections?orderby=nosuchfield"), 400, "1433")
      assert_flow_problem(scoped.call("GET", "/connections?orderby=--name"), 400, "1432")
    end)

    it("count=true answers only the count; limit with count is 1401", function()
      local res = list("?count=true&property=name!=echo")
      assert.are.same({ count = 4 }, res.json)
      assert_flow_problem(scoped.call("GET", "/connections?count=true&limit=2"), 400, "1401")
      assert_flow_problem(scoped.call("GET", "/connections?bogus=1"), 400, "1451")
      assert_flow_problem(scoped.call("GET", "/connections?property=name!>a"), 400, "1450")
      assert_flow_problem(scoped.call("GET", "/connections?property=name>a,b"), 400, "1443")
      assert_flow_problem(scoped.call("GET", "/connections?limit=0"), 400, "1453")
      assert_flow_problem(scoped.call("GET", "/connections?continuationToken=garbage!"), 400, "1453")
    end)

    it("[] paths match array members (flows by source connection)", function()
      local base = scoped.call("POST", "/connections", connection_body("for flows")).json.id
      local s1 = scoped.call("POST", "/sourceConnections", source_body(base)).json.id
      local s2 = scoped.call("POST", "/sourceConnections", source_body(base,
        { params = { tableName = "contacts" } })).json.id
      local t = scoped.call("POST", "/targetConnections", target_body()).json.id
      local f1 = scoped.call("POST", "/flows", flow_body(s1, t))
      local f2 = scoped.call("POST", "/flows", flow_body(s2, t))
      assert.are.equal(201, f1.status, f1.body)
      assert.are.equal(201, f2.status, f2.body)
      local res = scoped.call("GET", "/flows?property=sourceConnectionIds[]==" .. s2)
      assert.are.equal(1, res.json.count)
      assert.are.equal(f2.json.id, res.json.items[1].id)
      res = scoped.call("GET", "/sourceConnections?property=params.tableName==contacts")
      assert.are.equal(s2, res.json.items[1].id)
      assert.are.equal(2, scoped.call("GET", "/flows?property=targetConnectionIds[]==" .. t).json.count)
    end)
  end)

  describe("sandboxes", function()
    it("keeps resources per sandbox", function()
      local a, b = sandbox_api(), sandbox_api()
      local id = a.call("POST", "/connections", connection_body("only in a")).json.id
      assert.are.equal(1, a.call("GET", "/connections?count=true").json.count)
      assert.are.equal(0, b.call("GET", "/connections?count=true").json.count)
      assert_flow_problem(b.call("GET", "/connections/" .. id), 404, "1439")
      assert_flow_problem(b.call("DELETE", "/connections/" .. id), 404, "1439")
      assert_flow_problem(b.call("PATCH", "/connections/" .. id, "[]"), 404, "1439")
    end)
  end)

  describe("specs", function()
    it("lists connection specs with a filter and gets one", function()
      local res = api.call("GET", '/connectionSpecs?property=name=="oracle-service-cloud"')
      assert.are.equal(200, res.status, res.body)
      assert.are.equal(1, res.json.count)
      assert.are.equal(OSC_SPEC.id, res.json.items[1].id)
      local one = api.call("GET", "/connectionSpecs/" .. OSC_SPEC.id)
      assert.are.equal(OSC_SPEC.id, one.json.items[1].id)
      assert_flow_problem(api.call("GET", "/connectionSpecs/nope"), 404, "1439")
    end)

    it("lists flow specs and gets one", function()
      local res = api.call("GET", "/flowSpecs?property=name==CRMToAEP")
      assert.are.equal(200, res.status, res.body)
      assert.are.equal(CRM_FLOW_SPEC.id, res.json.items[1].id)
      assert.are.equal("CRMToAEP", api.call("GET", "/flowSpecs/" .. CRM_FLOW_SPEC.id).json.items[1].name)
      assert_flow_problem(api.call("GET", "/flowSpecs/nope"), 404, "1439")
    end)
  end)

  describe("routing", function()
    it("answers unknown paths under the base with a Flow 404 after the gateway checks", function()
      local res = api.call("GET", "/nosuchthing")
      assert_flow_problem(res, 404, "1101")
      assert.are.equal("Resource not found", res.json.title)
      assert_flow_problem(api.call("POST", "/connections/a/b/c", {}), 404, "1101")
      local anonymous = rawhttp.request(emu, "GET", rawhttp.BASE .. "/nosuchthing", {})
      assert.are.equal(403, anonymous.status)
      assert.are.equal("403010", anonymous.json.error_code)
    end)

    it("keeps 405 with Allow for a known path and another method", function()
      local res = api.call("PUT", "/flows", {})
      assert.are.equal(405, res.status)
      assert.are.equal("POST, GET", res.headers.allow)
    end)

    it("unknown runs are 1439", function()
      assert_flow_problem(api.call("GET", "/runs/nope"), 404, "1439")
      assert.are.equal(200, api.call("GET", "/runs?property=flowId==nope").status)
    end)
  end)
end)

describe("emulator --page-size", function()
  it("sets the default page size of lists", function()
    local emu = helper.start_emulator { args = { "--page-size", "2" } }
    local ok, err = pcall(function()
      local api = rawhttp.api(emu)
      for i = 1, 3 do
        assert.are.equal(201, api.call("POST", "/connections", connection_body("c" .. i)).status)
      end
      local res = api.call("GET", "/connections")
      assert.are.equal(2, res.json.count)
      assert.is_string(res.json._links.next.href)
      assert.are.equal(3, #api.call("GET", "/connections?limit=3").json.items)
    end)
    emu.stop()
    assert(ok, err)
  end)
end)
