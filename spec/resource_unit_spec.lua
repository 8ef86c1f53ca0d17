-- Unit specs of the shared resource code and the per-resource modules, on a fake C core that
-- records every request: filters, paging, count, update with If-Match, delete, the input rules
-- of flows, source and target connections, and runs:wait.
local cjson = require "cjson"
local fakecore = require "spec.fakecore"

local JSON = { ["content-type"] = "application/json" }
local TOKEN = "SENTINEL-resource-unit-token"

local function ims_or(routes)
  return function(req)
    if req.url:find("/ims/token/v3", 1, true) then
      return 200, JSON, cjson.encode { access_token = TOKEN, expires_in = 86399 }
    end
    for _, route in ipairs(routes) do
      if req.method == route[1] and req.url:find(route[2]) then
        local status, body = route[3](req)
        return status, JSON, type(body) == "string" and body or cjson.encode(body)
      end
    end
    return 404, JSON, cjson.encode { type = "https://ns.adobe.com/aep/errors/FLOW-1101-404", status = 404 }
  end
end

local function setup(routes)
  local flowservice, sent = fakecore.load(ims_or(routes))
  local client = assert(flowservice.new {
    env = false, client_id = "unit", client_secret = "SENTINEL-resource-unit-secret",
    org_id = "UNIT@AdobeOrg", base_url = "http://127.0.0.1:9",
    ims_url = "http://127.0.0.1:9",
  })
  -- requests to Flow Service only (the token call is not interesting here)
  local function flow_requests()
    return fakecore.flow_requests(sent)
  end
  return client, flow_requests, flowservice
end

local function query_of(u)
  return u:match("%?(.*)$") or ""
end

describe("property filters", function()
  local filter = require "flowservice.filter"

  it("quotes strings, escapes quotes and backslashes, writes whole numbers as integers", function()
    assert.are.same({ 'name=="a, \\"b\\" \\\\ c"' }, filter.build { { "name", "==", 'a, "b" \\ c' } })
    assert.are.same({ "createdAt>10000" }, filter.build { { "createdAt", ">", 10000.0 } })
    assert.are.same({ "enabled==true" }, filter.build { { "enabled", "==", true } })
  end)

  it("takes raw strings, a single triple, OR lists and maps (AND-ed, sorted)", function()
    assert.are.same({ "state==enabled" }, filter.build "state==enabled")
    assert.are.same({ 'id=="a","b"' }, filter.build { "id", "==", { "a", "b" } })
    assert.are.same({ 'name=="x"', 'state=="enabled"' }, filter.build { state = "enabled", name = "x" })
    assert.are.same({ "a==1", 'sourceConnectionIds[]=="s"' },
      filter.build { "a==1", { "sourceConnectionIds[]", "==", "s" } })
  end)

  it("refuses bad operators, OR lists with ordering operators and odd values, naming the filter", function()
    local ok, field, rule = filter.build { { "name", "=~", "x" } }
    assert.is_nil(ok)
    assert.are.equal("property[1]", field)
    assert.matches("operator", rule)
    ok, field = filter.build { "a==1", { "createdAt", ">", { 1, 2 } } }
    assert.is_nil(ok)
    assert.are.equal("property[2]", field)
    ok, field = filter.build { { "x", "==", 0 / 0 } }
    assert.is_nil(ok)
    assert.are.equal("property[1]", field)
    ok, field = filter.build { "bad\nfilter" }
    assert.is_nil(ok)
    assert.are.equal("property[1]", field)
  end)
end)

describe("resources:list", function()
  local PAGES = {
    [""] = { items = { { id = "1", name = "a" }, { id = "2", name = "b" } },
      _links = { next = { href = "/connections?continuationToken=p2" } } },
    ["continuationToken=p2"] = { items = { { id = "3", name = "c" } },
      _links = { next = { href = "/connections?continuationToken=p3" } } },
    ["continuationToken=p3"] = { items = { { id = "4", name = "d" } }, _links = {} },
  }

  local function paged(req)
    local q = query_of(req.url)
    if q:find("continuationToken") then return 200, PAGES[q] end
    return 200, PAGES[""]
  end

  it("follows _links.next.href page after page until there is none", function()
    local client, requests = setup { { "GET", "/connections", paged } }
    local names = {}
    for item, err in client.connections:list { property = { { "name", "==", "a,b" } }, limit = 2 } do
      assert.is_truthy(item, tostring(err))
      names[#names + 1] = item.name
    end
    assert.are.same({ "a", "b", "c", "d" }, names)
    local r = requests()
    assert.are.equal(3, #r)
    assert.are.equal("limit=2&property=name%3D%3D%22a%2Cb%22", query_of(r[1].url))
    assert.matches("/data/foundation/flowservice/connections%?continuationToken=p2$", r[2].url)
    assert.matches("/data/foundation/flowservice/connections%?continuationToken=p3$", r[3].url)
  end)

  it("sends several property filters as repeated parameters, and orderby", function()
    local client, requests = setup { { "GET", "/flows", function() return 200, { items = {} } end } }
    assert.are.same({}, client.flows:all { property = { "state==enabled", { "name", "!=", "x y" } },
      orderby = "-createdAt" })
    assert.are.equal("orderby=-createdAt&property=state%3D%3Denabled&property=name%21%3D%22x%20y%22",
      query_of(requests()[1].url))
  end)

  it("yields false and the error once when a page fails, then ends", function()
    local client = setup { { "GET", "/connections", function(req)
      if query_of(req.url):find("p2") then
        return 503, { type = "https://ns.adobe.com/aep/errors/FLOW-1103-503", status = 503 }
      end
      return 200, PAGES[""]
    end } }
    local seen, failures = {}, {}
    for item, err in client.connections:list() do
      if item then seen[#seen + 1] = item.id else failures[#failures + 1] = err end
    end
    assert.are.same({ "1", "2" }, seen)
    assert.are.equal(1, #failures)
    assert.are.equal(503, failures[1].status)
    local all, err = client.connections:all()
    assert.is_nil(all)
    assert.are.equal(503, err.status)
  end)

  it("stops on a next link that repeats, and refuses links that leave the service base", function()
    local client = setup { { "GET", "/connections", function()
      return 200, { items = { { id = "1" } }, _links = { next = { href = "/connections?continuationToken=same" } } }
    end } }
    local all, err = client.connections:all()
    assert.is_nil(all)
    assert.are.equal("decode", err.kind)
    assert.matches("repeats", err.message)

    for _, href in ipairs { "http://evil.example/x", "//evil.example/x", "/../../x", "/a b",
        -- dot segments in disguise: percent-encoded, with ;parameters, or with an encoded slash
        "/%2e%2e/%2e%2e/ims/token/v3", "/%2E%2E/x", "/.%2e/x", "/%2e./x", "/..%2f..%2fims", "/..%2F", "/..;/x",
        "/..;jsessionid=1/x", "/.;/x", "/%2e", "/connections/%2e%2e?continuationToken=p", "/a%5c..%5cb",
        "/%252e%252e/x", "/..", "/./x", "/connections/..?x=1" } do
      client = setup { { "GET", "/connections", function()
        return 200, { items = {}, _links = { next = { href = href } } }
      end } }
      all, err = client.connections:all()
      assert.is_nil(all, href)
      assert.are.equal("decode", err.kind)
    end
  end)

  it("follows links whose escapes are harmless", function()
    for _, href in ipairs { "/connections?continuationToken=%2e%2e%2f..", "/connections?x=..;/", "/connections/a%2Db",
        "/connections/...", "/connections/.x" } do
      local pages = 0
      local client = setup { { "GET", "/connections", function()
        pages = pages + 1
        if pages == 1 then return 200, { items = {}, _links = { next = { href = href } } } end
        return 200, { items = {} }
      end } }
      assert(client.connections:all(), href)
      assert.are.equal(2, pages, href)
    end
  end)

  it("refuses next links that climb with '..', or hold '#' or a backslash, before following them", function()
    local BAD = { "/connections/..", "/connections/../..", "/connections/..?continuationToken=p2",
      "/connections/.", "/connections/.?continuationToken=p2", "/connections/./../x",
      "/connections?continuationToken=p2#frag", "/connections#", "/connections\\..\\x",
      "/connections?continuationToken=p2\\" }
    for _, href in ipairs(BAD) do
      local client, requests = setup { { "GET", "/connections", function()
        return 200, { items = { { id = "1" } }, _links = { next = { href = href } } }
      end } }
      local all, err = client.connections:all()
      assert.is_nil(all, href)
      assert.are.equal("decode", err.kind, href)
      assert.matches("not a path under the Flow Service base", err.message, 1, true)
      assert.are.equal(1, #requests(), href) -- the first page only: the link was not followed
    end
    -- dots inside a segment or a token are fine
    local client, requests = setup { { "GET", "/connections", function(req)
      if req.url:find("continuationToken", 1, true) then return 200, { items = {} } end
      return 200, { items = { { id = "1" } }, _links = { next = { href = "/connections?continuationToken=a..b" } } }
    end } }
    assert.are.equal(1, #assert(client.connections:all()))
    assert.matches("continuationToken=a%.%.b$", requests()[2].url)
  end)

  it("treats an empty next href and a missing _links as the last page", function()
    local client, requests = setup { { "GET", "/runs", function()
      return 200, { items = { { id = "r" } }, _links = { next = { href = "" } } }
    end } }
    assert.are.equal(1, #client.runs:all { flow_id = "f1" })
    assert.are.equal('property=flowId%3D%3D%22f1%22', query_of(requests()[1].url))
  end)

  it("checks limit and orderby before sending, and raises on unknown options", function()
    local client, requests = setup {}
    local _, err = client.flows:all { limit = 0 }
    assert.are.equal("limit", err.field)
    _, err = client.flows:all { orderby = "name desc" }
    assert.are.equal("orderby", err.field)
    _, err = client.flows:all { property = { { "name", "~", "x" } } }
    assert.are.equal("property[1]", err.field)
    assert.are.equal(0, #requests())
    for _, method in ipairs { "all", "list", "count" } do
      local ok, raised = pcall(function() client.flows[method](client.flows, { limt = 5 }) end)
      assert.is_false(ok)
      -- raised at the caller's line, not inside the library
      assert.matches("^spec/resource_unit_spec%.lua:%d+: flows:" .. (method == "count" and "count" or "list")
        .. ": unknown option 'limt' %(expected one of: limit, orderby, property%)$", raised)
    end
  end)
end)

describe("resources:count and find", function()
  it("asks for count=true and returns the number", function()
    local client, requests = setup { { "GET", "/flows", function() return 200, { count = 7.0 } end } }
    assert.are.equal(7, client.flows:count { property = "state==enabled" })
    assert.are.equal("count=true&property=state%3D%3Denabled", query_of(requests()[1].url))
    assert.has_error(function() client.flows:count { limit = 2 } end,
      "flows:count: limit: not allowed with count")
  end)

  it("finds by exact name and says not_found when nothing matches", function()
    local client, requests = setup { { "GET", "/flowSpecs", function(req)
      if query_of(req.url):find("CRMToAEP") then
        return 200, { items = { { id = "14518937-270c-4525-bdec-c2ba7cce3860", name = "CRMToAEP" } } }
      end
      return 200, { items = {} }
    end } }
    assert.are.equal("14518937-270c-4525-bdec-c2ba7cce3860", client.flow_specs:find("CRMToAEP").id)
    assert.are.equal("property=name%3D%3D%22CRMToAEP%22", query_of(requests()[1].url))
    local item, err = client.flow_specs:find("Nope")
    assert.is_nil(item)
    assert.are.equal("not_found", err.kind)
  end)
end)

describe("resources:update and delete", function()
  local ETAG = '"2c00-0000-0200-0000-65f0a1b20000"'

  it("sends a JSON Patch array with If-Match exactly as received, quotes included", function()
    local client, requests = setup { { "PATCH", "/connections/c1$", function()
      return 200, { id = "c1", etag = '"new"' }
    end } }
    local res = assert(client.connections:update("c1", {
      { op = "replace", path = "/name", value = "renamed" },
      { op = "remove", path = "/description" },
    }, ETAG))
    assert.are.same({ id = "c1", etag = '"new"' }, res)
    local r = requests()[1]
    assert.are.equal("PATCH", r.method)
    assert.are.equal(ETAG, r.headers["If-Match"])
    assert.are.same({ { op = "replace", path = "/name", value = "renamed" },
      { op = "remove", path = "/description" } }, cjson.decode(r.body))
  end)

  it("turns a map into add operations with escaped pointers", function()
    local client, requests = setup { { "PATCH", "/flows/f1$", function()
      return 200, { id = "f1", etag = '"e2"' }
    end } }
    assert(client.flows:update("f1", { name = "n", ["a/b"] = 1 }, ETAG))
    assert.are.same({ { op = "add", path = "/a~1b", value = 1 }, { op = "add", path = "/name", value = "n" } },
      cjson.decode(requests()[1].body))
  end)

  it("refuses bad operations before sending, naming the operation", function()
    local client, requests = setup {}
    local cases = {
      { { { op = "move", path = "/a" } }, "patch[1].op" },
      { { { op = "add", path = "name", value = 1 } }, "patch[1].path" },
      { { { op = "replace", path = "/a" } }, "patch[1].value" },
      { { { op = "remove", path = "/a", value = 1 } }, "patch[1].value" },
      { { { op = "add", path = "/a", value = 1, form = 2 } }, "patch[1].form" },
      { {}, "patch" },
    }
    for _, case in ipairs(cases) do
      local res, err = client.connections:update("c1", case[1], ETAG)
      assert.is_nil(res)
      assert.are.equal(case[2], err.field)
    end
    local _, err = client.connections:update("..", { name = "x" }, ETAG)
    assert.are.equal("id", err.field)
    _, err = client.connections:update("c1", { name = "x" }, 'bad\r\nX-Injected: 1')
    assert.are.equal("headers.If-Match", err.field)
    assert.are.equal(0, #requests())
    assert.has_error(function() client.connections:update("c1", { name = "x" }) end,
      "connections:update: etag: expected a string (the etag from create, get or a previous update)")
    assert.has_error(function() client.connection_specs:update("c1", { name = "x" }, ETAG) end,
      "connection_specs are read-only: there is no update")
  end)

  local function conflict_then(etag_after)
    local patches = 0
    return setup {
      { "PATCH", "/connections/c1$", function(req)
        patches = patches + 1
        if req.headers["If-Match"] == etag_after then return 200, { id = "c1", etag = '"e3"' } end
        return 412, { type = "https://ns.adobe.com/aep/errors/FLOW-1404-412", status = 412,
          title = "Version not matching" }
      end },
      { "GET", "/connections/c1$", function() return 200, { items = { { id = "c1", etag = etag_after } } } end },
    }, function() return patches end
  end

  it("gives a distinct conflict error for a stale etag", function()
    local client, count = conflict_then('"fresh"')
    local res, err = client.connections:update("c1", { name = "x" }, '"stale"')
    assert.is_nil(res)
    assert.are.equal(412, err.status)
    assert.are.equal("FLOW-1404-412", err.code)
    assert.is_true(err.conflict)
    assert.are.equal(1, count())
  end)

  it("re-reads and re-applies once with retry_on_conflict", function()
    local client, count = conflict_then('"fresh"')
    local res = assert(client.connections:update("c1", { name = "x" }, '"stale"', { retry_on_conflict = true }))
    assert.are.equal('"e3"', res.etag)
    assert.are.equal(2, count())
  end)

  it("deletes with DELETE and returns true", function()
    local client, requests = setup { { "DELETE", "/flows/f1$", function() return 204, "" end } }
    assert.is_true(client.flows:delete("f1"))
    assert.are.equal("DELETE", requests()[1].method)
  end)
end)

describe("create bodies", function()
  local CRM = "14518937-270c-4525-bdec-c2ba7cce3860"

  local function flow(overrides)
    local t = {
      name = "OSC incidents", flow_spec = CRM, source_connection_id = "s1", target_connection_id = "t1",
      delta_column = "updatedTime", mapping_id = "m1",
      schedule = { start_time = os.time() + 3600, frequency = "minute", interval = 15 },
    }
    for k, v in pairs(overrides or {}) do t[k] = v end
    return t
  end

  it("builds a flow body with Copy, Mapping and scheduleParams (startTime as a string)", function()
    local client, requests = setup { { "POST", "/flows$", function() return 201, { id = "f1", etag = '"e"' } end } }
    local start = os.time() + 3600
    assert(client.flows:create(flow { schedule = { start_time = start, frequency = "hour", interval = 2 } }))
    local body = cjson.decode(requests()[1].body)
    assert.are.same({ id = CRM, version = "1.0" }, body.flowSpec)
    assert.are.same({ "s1" }, body.sourceConnectionIds)
    assert.are.same({ "t1" }, body.targetConnectionIds)
    assert.are.same({
      { name = "Copy", params = {
        deltaColumn = { name = "updatedTime", dateFormat = "YYYY-MM-DD", timezone = "UTC" } } },
      { name = "Mapping", params = { mappingId = "m1", mappingVersion = "0" } },
    }, body.transformations)
    assert.are.same({ startTime = tostring(start), frequency = "hour", interval = "2" }, body.scheduleParams)
  end)

  it("checks the documented schedule and delta column rules before sending", function()
    local client, requests = setup {}
    local past = os.time() - 10
    local cases = {
      { { schedule = { start_time = past, frequency = "day" } }, "schedule.start_time" },
      { { schedule = { frequency = "day" } }, "schedule.start_time" },
      { { schedule = { start_time = os.time() + 60, frequency = "month" } }, "schedule.frequency" },
      { { schedule = { start_time = os.time() + 60, frequency = "minute", interval = 5 } }, "schedule.interval" },
      { { schedule = { start_time = os.time() + 60, frequency = "hour", interval = 0 } }, "schedule.interval" },
      { { schedule = { start_time = os.time() + 60, frequency = "once", interval = 1 } }, "schedule.interval" },
      { { schedule = { start_time = os.time() + 60, frequency = "once", backfill = true } }, "schedule.backfill" },
      { { schedule = { start_time = os.time() + 60, frequency = "once" } }, "delta_column" },
      { { delta_column = { name = "" } }, "delta_column.name" },
      { { source_connection_id = "" }, "source_connection_id" },
      { { name = "" }, "name" },
      { { mapping_version = -1 }, "mapping_version" },
    }
    for i, case in ipairs(cases) do
      local res, err = client.flows:create(flow(case[1]))
      assert.is_nil(res, "case " .. i)
      assert.are.equal(case[2], err.field, "case " .. i)
      assert.are.equal("validation", err.kind)
    end
    local no_delta = flow { delta_column = nil }
    no_delta.delta_column = nil
    local _, err = client.flows:create(no_delta)
    assert.are.equal("delta_column", err.field)
    -- the rule also holds when CRMToAEP is only known from the flow spec item given
    no_delta.flow_spec = { id = CRM, name = "CRMToAEP", version = "1.0" }
    _, err = client.flows:create(no_delta)
    assert.are.equal("delta_column", err.field)
    assert.are.equal(0, #requests())
    assert.has_error(function()
      client.flows:create(flow { schedule = { start_time = os.time() + 60, frequency = "day", intervl = 1 } })
    end, "flows:create: schedule: unknown option 'intervl' (expected one of: backfill, frequency, interval, "
      .. "start_time)")
  end)

  it("looks a flow spec up by name", function()
    local client, requests = setup {
      { "GET", "/flowSpecs", function()
        return 200, { items = { { id = CRM, name = "CRMToAEP", version = "1.0" } } }
      end },
      { "POST", "/flows$", function() return 201, { id = "f1", etag = '"e"' } end },
    }
    assert(client.flows:create(flow { flow_spec = "CRMToAEP" }))
    local r = requests()
    assert.matches("/flowSpecs%?property=name%%3D%%3D%%22CRMToAEP%%22$", r[1].url)
    assert.are.equal(CRM, cjson.decode(r[2].body).flowSpec.id)
  end)

  it("enables and disables through the action endpoint, with If-Match when given", function()
    local client, requests = setup { { "POST", "/flows/f1/action", function()
      return 200, { id = "f1", etag = '"e9"' }
    end } }
    assert.are.equal('"e9"', client.flows:disable("f1", '"e8"').etag)
    assert(client.flows:enable("f1"))
    local r = requests()
    assert.matches("/flows/f1/action%?op=disable$", r[1].url)
    assert.are.equal('"e8"', r[1].headers["If-Match"])
    assert.matches("/flows/f1/action%?op=enable$", r[2].url)
    assert.is_nil(r[2].headers["If-Match"])
  end)

  it("builds a tabular source connection, reading the base connection's spec when not given", function()
    local OSC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
    local client, requests = setup {
      { "GET", "/connections/b1$", function()
        return 200, { items = { { id = "b1", connectionSpec = { id = OSC, version = "1.0" } } } }
      end },
      { "POST", "/sourceConnections$", function() return 201, { id = "s1", etag = '"e"' } end },
    }
    assert(client.source_connections:create { name = "incidents", base_connection_id = "b1", table = "incidents" })
    local body = cjson.decode(requests()[2].body)
    assert.are.same({ name = "incidents", baseConnectionId = "b1", data = { format = "tabular" },
      params = { tableName = "incidents" }, connectionSpec = { id = OSC, version = "1.0" } }, body)
    local _, err = client.source_connections:create { name = "x", base_connection_id = "b1" }
    assert.are.equal("table", err.field)
    assert.are.equal(2, #requests())
  end)

  it("builds a data lake target connection", function()
    local client, requests = setup { { "POST", "/targetConnections$", function()
      return 201, { id = "t1", etag = '"e"' }
    end } }
    assert(client.target_connections:create { name = "lake", dataset_id = "ds1",
      schema_id = "https://ns.adobe.com/tenant/schemas/abc" })
    assert.are.same({
      name = "lake",
      data = { format = "parquet_xdm", schema = { id = "https://ns.adobe.com/tenant/schemas/abc",
        version = "application/vnd.adobe.xed-full+json;version=1" } },
      params = { dataSetId = "ds1" },
      connectionSpec = { id = "c604ff05-7f1a-43c0-8e18-33bf874cb11c", version = "1.0" },
    }, cjson.decode(requests()[1].body))
    local _, err = client.target_connections:create { name = "lake", schema_id = "x" }
    assert.are.equal("dataset_id", err.field)
  end)
end)

describe("runs:wait", function()
  local function run(status)
    return { id = "r1", flowId = "f1", metrics = { statusSummary = { status = status } } }
  end

  it("polls until the run is final, reporting progress", function()
    local statuses = { "inProgress", "inProgress", "success" }
    local polls = 0
    local client = setup { { "GET", "/runs/r1$", function()
      polls = polls + 1
      return 200, { items = { run(statuses[polls]) } }
    end } }
    local now, slept, seen = 0, {}, {}
    local final, status = client.runs:wait {
      run_id = "r1", interval = 2, timeout = 60,
      clock = function() return now end,
      sleep = function(s) slept[#slept + 1] = s; now = now + s end,
      progress = function(r) seen[#seen + 1] = client.runs.status(r) end,
    }
    assert.are.equal("r1", final.id)
    assert.are.equal("success", status)
    assert.are.same({ "inprogress", "inprogress", "success" }, seen)
    assert.are.same({ 2, 2 }, slept)
  end)

  it("waits for a flow's first run to appear, and times out with kind timeout", function()
    local client, requests = setup { { "GET", "/runs", function() return 200, { items = {} } end } }
    local now = 0
    local final, err = client.runs:wait {
      flow_id = "f1", interval = 1, timeout = 3,
      clock = function() return now end, sleep = function(s) now = now + s end,
    }
    assert.is_nil(final)
    assert.are.equal("timeout", err.kind)
    assert.matches("no run yet", err.message)
    assert.matches("orderby=createdAt", requests()[1].url)
    assert.has_error(function() client.runs:wait { run_id = "a", flow_id = "b" } end,
      "runs:wait: give exactly one of run_id and flow_id")
  end)

  it("normalises both status styles", function()
    local runs = require "flowservice.runs"
    assert.are.equal("partialsuccess", runs.status(run("PARTIAL_SUCCESS")))
    assert.is_true(runs.is_final(run("FAILED")))
    assert.is_false(runs.is_final(run("IN_PROGRESS")))
    assert.is_false(runs.is_final({}))
  end)
end)

describe("runs:create and runs:retry (unit)", function()
  it("reads both documented create answers: {items: [{id, etag}]} and {id, etag}", function()
    for _, answer in ipairs {
      { items = { { id = "r1", etag = '"e1"' } } },     -- the on-demand ingestion tutorial
      { id = "r1", etag = '"e1"' },                     -- the OpenAPI's CreateFlowRunResponse
    } do
      local client, requests = setup { { "POST", "/runs$", function() return 201, answer end } }
      local run = assert(client.runs:create { flow_id = "f1", window_start = 10, window_end = "20",
        start_time = 30, delta_column = "updatedTime" })
      assert.are.same({ id = "r1", etag = '"e1"' }, run)
      local sent = requests()[1]
      assert.are.equal("POST", sent.method)
      assert.are.same({ flowId = "f1", params = { windowStartTime = "10", windowEndTime = "20", startTime = "30",
        deltaColumn = { name = "updatedTime" } } }, cjson.decode(sent.body))
    end
    local client = setup { { "POST", "/runs$", function() return 201, { items = {} } end } }
    local _, err = client.runs:create { flow_id = "f1", window_start = 1, window_end = 2 }
    assert.are.equal("decode", err.kind)
  end)

  it("retries with POST /runs/{id}/action?op=re-trigger", function()
    local client, requests = setup {
      { "POST", "/runs/r1/action", function() return 200, { id = "r2", etag = '"e"' } end },
    }
    assert.are.same({ id = "r2", etag = '"e"' }, assert(client.runs:retry("r1")))
    assert.matches("/runs/r1/action%?op=re%-trigger$", requests()[1].url)
  end)
end)
