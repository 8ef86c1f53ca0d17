-- Unit specs of resources:ensure on a fake C core whose responder keeps a store of connections,
-- so "created" can be told from "found" and duplicates can be counted. The end-to-end
-- counterpart (faults injected by the emulator) is in spec/ensure_faults_spec.lua.
local cjson = require "cjson"
local fakecore = require "spec.fakecore"

local JSON = { ["content-type"] = "application/json" }
local OSC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local INPUT = {
  name = "OSC prod", spec = "oracle-service-cloud",
  auth = { host = "example.custhelp.com", username = "api-user", password = "SENTINEL-ensure-pw" },
}

-- A fake Flow Service. `script` maps "POST" to a list of outcomes taken in turn for creates:
-- "ok" (create, 201), "500-after" (create, then answer 500), "500-before" (answer 500 without
-- creating), "reset-after" (create, then a transport failure), "400" (a validation problem).
local function fake_service(script)
  local store, next_id = {}, 0
  local posts = script and script.POST or {}
  local function list_body()
    local items = {}
    for _, item in ipairs(store) do items[#items + 1] = item end
    return { items = items }
  end
  local function create(body)
    next_id = next_id + 1
    local item = cjson.decode(body)
    item.id, item.etag = ("c%02d"):format(next_id), ('"e%d"'):format(next_id)
    store[#store + 1] = item
    return item
  end
  local responder = function(req)
    if req.url:find("/ims/token/v3", 1, true) then
      return 200, JSON, cjson.encode { access_token = "SENTINEL-ensure-token", expires_in = 86399 }
    end
    if req.method == "GET" and req.url:find("/connections?", 1, true) then
      return 200, JSON, cjson.encode(list_body())
    end
    if req.method == "POST" and req.url:find("/connections$") then
      local outcome = table.remove(posts, 1) or "ok"
      if outcome == "400" then
        return 400, JSON, cjson.encode { type = "https://ns.adobe.com/aep/errors/FLOW-1439-400",
          title = "Bad request", status = 400 }
      elseif outcome == "500-before" then
        return 500, JSON, cjson.encode { title = "Internal Server Error", status = 500 }
      end
      local item = create(req.body)
      if outcome == "500-after" then
        return 500, JSON, cjson.encode { title = "Internal Server Error", status = 500 }
      elseif outcome == "reset-after" then
        return nil, "CURLE_RECV_ERROR: Connection reset by peer", "CURLE_RECV_ERROR"
      end
      return 201, JSON, cjson.encode { id = item.id, etag = item.etag }
    end
    return 404, JSON, cjson.encode { type = "https://ns.adobe.com/aep/errors/FLOW-1101-404", status = 404 }
  end
  return responder, store
end

local function setup(script)
  local responder, store = fake_service(script)
  local flowservice, sent = fakecore.load(responder)
  -- a fake clock that sleeping advances (ensure waits out in_flight_limit after an ambiguous
  -- create); fakecore.load gives every setup fresh modules
  local now = 0
  require("flowservice.client").clock = function() return now end
  local client = assert(flowservice.new {
    env = false, client_id = "unit", client_secret = "SENTINEL-ensure-secret",
    org_id = "UNIT@AdobeOrg", base_url = "http://127.0.0.1:9", ims_url = "http://127.0.0.1:9",
    retry = { sleep = function(s) now = now + s end },
  })
  local function count(method)
    local n = 0
    for _, r in ipairs(sent) do
      if r.method == method and not r.url:find("/ims/", 1, true) then n = n + 1 end
    end
    return n
  end
  return client, store, count, sent
end

describe("resources:ensure", function()
  it("creates the resource when none has the name and spec, and says so", function()
    local client, store, count, sent = setup()
    local result = assert(client.connections:ensure(INPUT))
    assert.are.equal(true, result.created)
    assert.are.equal(store[1].id, result.id)
    assert.are.equal(store[1].etag, result.etag)
    assert.are.equal(1, count("POST"))
    -- the lookup filtered by name and connection spec
    local list_url
    for _, r in ipairs(sent) do if r.method == "GET" then list_url = r.url end end
    local query = list_url:match("%?(.*)$"):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    assert.truthy(query:find('property=name=="OSC prod"', 1, true))
    assert.truthy(query:find("property=connectionSpec.id==" .. OSC, 1, true)
      or query:find('property=connectionSpec.id=="' .. OSC .. '"', 1, true))
  end)

  it("running it twice creates nothing the second time", function()
    local client, store, count = setup()
    local first = assert(client.connections:ensure(INPUT))
    local second = assert(client.connections:ensure(INPUT))
    assert.are.equal(first.id, second.id)
    assert.are.equal(false, second.created)
    assert.are.equal("OSC prod", second.item.name)
    assert.are.equal(1, #store)
    assert.are.equal(1, count("POST"))
  end)

  it("after an ambiguous create that did create, looks again and finds it: no duplicate", function()
    for _, outcome in ipairs { "500-after", "reset-after" } do
      local client, store, count = setup { POST = { outcome } }
      local result = assert(client.connections:ensure(INPUT))
      assert.are.equal(1, #store, outcome)
      assert.are.equal(1, count("POST"), outcome) -- an ambiguous POST is not retried blindly
      assert.are.equal(store[1].id, result.id)
      assert.are.equal(true, result.created)
      assert.are.equal(true, result.recovered)
    end
  end)

  it("after an ambiguous create that did not create, looks again, then creates once", function()
    local client, store, count = setup { POST = { "500-before" } }
    local result = assert(client.connections:ensure(INPUT))
    assert.are.equal(1, #store)
    assert.are.equal(2, count("POST"))
    assert.are.equal(true, result.created)
    assert.is_nil(result.recovered)
  end)

  it("gives up after three rounds of ambiguous failures, with the last (ambiguous) error", function()
    local client, store, count = setup { POST = { "500-before", "500-before", "500-before", "ok" } }
    local result, err = client.connections:ensure(INPUT)
    assert.is_nil(result)
    assert.are.equal(true, err.ambiguous)
    assert.are.equal(500, err.status)
    assert.are.equal(3, count("POST"))
    assert.are.equal(0, #store)
  end)

  it("returns a failure that is not ambiguous at once, without looking again", function()
    local client, store, count = setup { POST = { "400" } }
    local result, err = client.connections:ensure(INPUT)
    assert.is_nil(result)
    assert.are.equal(400, err.status)
    assert.are.equal(false, err.ambiguous)
    assert.are.equal(1, count("GET"))
    assert.are.equal(0, #store)
  end)

  it("refuses to choose between several resources with the name", function()
    local client, store = setup()
    assert(client.connections:create(INPUT))
    assert(client.connections:create(INPUT))
    assert.are.equal(2, #store)
    local result, err = client.connections:ensure(INPUT)
    assert.is_nil(result)
    assert.are.equal("conflict", err.kind)
    assert.truthy(tostring(err):find(store[1].id, 1, true))
    assert.falsy(tostring(err):find("SENTINEL", 1, true))
  end)

  it("takes only an item with exactly the name, whatever else the list returns", function()
    -- this fake service ignores the name filter (as a service matching case-insensitively might)
    local client, store, count = setup()
    local other = {}
    for k, v in pairs(INPUT) do other[k] = v end
    other.name = "osc PROD"
    assert(client.connections:create(other))
    local result = assert(client.connections:ensure(INPUT))
    assert.are.equal(true, result.created)
    assert.are.equal(2, #store)
    assert.are.equal("OSC prod", store[2].name)
    assert.are.equal(store[2].id, result.id)
    assert.are.equal(2, count("POST"))
  end)

  it("checks its input before sending anything", function()
    local client, _, _, sent = setup()
    local input = { spec = "oracle-service-cloud", auth = INPUT.auth }
    local result, err = client.connections:ensure(input)
    assert.is_nil(result)
    assert.are.equal("validation", err.kind)
    assert.are.equal("name", err.field)
    result, err = client.connections:ensure { name = "x", spec = "oracle-service-cloud", auth = { host = "h" } }
    assert.is_nil(result)
    assert.are.equal("validation", err.kind)
    assert.are.equal(0, #sent)
    assert.has_error(function() client.connections:ensure { name = "x", spek = "y" } end,
      "connections:ensure: unknown option 'spek' (expected one of: auth, auth_spec, description, name, spec, "
      .. "spec_version)")
    assert.has_error(function() client.connections.ensure(INPUT) end, "call it as a method: resources:ensure(...)")
    assert.has_error(function() client.connection_specs:ensure(INPUT) end,
      "connection_specs are read-only: there is no ensure")
  end)
end)
