-- Unit specs of resources:ensure after an ambiguous create, on the fake core (spec/fakecore.lua)
-- with an injected clock and sleep: a create still in flight at the service when the client gave
-- up lands later, and ensure must wait for it (option in_flight_limit) instead of creating a
-- duplicate; an error after an ambiguous create stays ambiguous.
local cjson = require "cjson"
local fakecore = require "spec.fakecore"

local JSON = { ["content-type"] = "application/json" }
local TARGETS = "/data/foundation/flowservice/targetConnections"

describe("ensure after an ambiguous create", function()
  local flowservice, sent, core, client_module
  local now, slept
  -- the fake service: created items, each visible from its `lands_at`
  local items, creates
  local behaviour -- per spec: what a create and a list do

  local function load()
    items, creates, slept, now = {}, 0, {}, 1000
    flowservice, sent, core = fakecore.load(function(req)
      if req.url:find("/ims/token/v3", 1, true) then
        return 200, JSON, cjson.encode { access_token = "t", expires_in = 86399 }
      end
      if req.method == "POST" then
        creates = creates + 1
        return behaviour.create(req)
      end
      if behaviour.list then
        local status, headers, body = behaviour.list(req)
        if status then return status, headers, body end
      end
      local visible = {}
      for _, item in ipairs(items) do
        if now >= item.lands_at then visible[#visible + 1] = { id = item.id, name = item.name, etag = '"1"' } end
      end
      return 200, JSON, cjson.encode { items = visible }
    end)
    client_module = require "flowservice.client"
    client_module.clock = function() return now end
  end

  after_each(function()
    if client_module then client_module.clock = core.monotonic end
  end)

  local function new_client(extra)
    local opts = {
      env = false, org_id = "UNIT@AdobeOrg", access_token = "t", api_key = "k",
      retry = { sleep = function(s) slept[#slept + 1] = s; now = now + s end, random = function() return 0 end },
    }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(flowservice.new(opts))
  end

  local function input(name)
    return { name = name, dataset_id = "d", schema_id = "https://ns.adobe.com/t/schemas/s" }
  end

  -- A create the service carries out `delay` seconds after it arrives (nil: never), while the
  -- client gives up after 0.3 s (a timeout after sending: ambiguous).
  local function slow_create(delay)
    return function(req)
      now = now + 0.3
      if delay then
        local body = cjson.decode(req.body)
        items[#items + 1] = { id = "id-" .. creates, name = body.name, lands_at = now - 0.3 + delay }
      end
      return nil, "CURLE_OPERATION_TIMEDOUT: timed out", "CURLE_OPERATION_TIMEDOUT", { request_size = 300 }
    end
  end

  local function total(list)
    local sum = 0
    for _, v in ipairs(list) do sum = sum + v end
    return sum
  end

  it("defaults in_flight_limit to 65 s and checks it", function()
    load()
    behaviour = { create = slow_create(nil) }
    for _, bad in ipairs { 0, -1, 0 / 0, math.huge } do
      local c, err = flowservice.new { env = false, org_id = "UNIT@AdobeOrg", access_token = "t", api_key = "k",
        in_flight_limit = bad }
      assert.is_nil(c)
      assert.same({ "validation", "in_flight_limit" }, { err.kind, err.field })
    end
    assert.has_error(function()
      flowservice.new { env = false, org_id = "UNIT@AdobeOrg", access_token = "t", in_flight_limit = "1" }
    end)
    -- a create that never lands: ensure waits the default window once, then creates again
    local c = new_client()
    local started = now
    local _, err = c.target_connections:ensure(input("never"))
    assert.is_true(err.ambiguous)
    assert.equals(3, creates)
    -- each round after an ambiguous create waits until 65 s after it failed
    assert.is_true(now - started >= 2 * 65, tostring(now - started))
  end)

  it("waits for a create still in flight instead of creating a duplicate", function()
    load()
    behaviour = { create = slow_create(0.6) }
    local c = new_client { in_flight_limit = 1 }
    local made = assert(c.target_connections:ensure(input("slow")))
    assert.same({ true, true, "id-1" }, { made.created, made.recovered, made.id })
    assert.equals(1, creates)
    -- looks after the failure at +0.3 s: waits 0.1, 0.2 (found at 0.6 s)
    assert.same({ 0.1, 0.2 }, slept)
  end)

  it("creates again only once the window after the failed create has passed, looking with backoff", function()
    load()
    local first = true
    behaviour = { create = function(req)
      if first then
        first = false
        return slow_create(nil)(req)
      end
      local body = cjson.decode(req.body)
      items[#items + 1] = { id = "id-" .. creates, name = body.name, lands_at = now }
      return 201, JSON, cjson.encode { id = "id-" .. creates, etag = '"1"' }
    end }
    local c = new_client { in_flight_limit = 1 }
    local made = assert(c.target_connections:ensure(input("lost")))
    assert.same({ true, "id-2" }, { made.created, made.id })
    assert.equals(2, creates)
    -- failed at 1000.3: waits 0.1, 0.2, 0.4, then the 0.3 left, looks once more, creates
    assert.same({ 0.1, 0.2, 0.4 }, { slept[1], slept[2], slept[3] })
    assert.is_near(0.3, slept[4], 1e-9)
    assert.equals(4, #slept)
    assert.is_near(1, total(slept), 1e-9)
    local posts = 0
    for _, r in ipairs(fakecore.flow_requests(sent)) do
      if r.method == "POST" then posts = posts + 1 end
    end
    assert.equals(2, posts)
    assert.truthy(sent[#sent].url:find(TARGETS, 1, true))
  end)

  it("keeps the error ambiguous when the look after an ambiguous create fails", function()
    load()
    behaviour = {
      create = function(req)
        local body = cjson.decode(req.body)
        items[#items + 1] = { id = "id-" .. creates, name = body.name, lands_at = now }
        return 500, JSON, cjson.encode { title = "Internal Error", status = 500 }
      end,
      list = function()
        if creates > 0 then return 400, JSON, cjson.encode { title = "Bad list", status = 400 } end
      end,
    }
    local c = new_client()
    local _, err = c.target_connections:ensure(input("made"))
    assert.equals(1, creates)
    assert.same({ "http", 400, true }, { err.kind, err.status, err.ambiguous })
    assert.matches("ambiguous", tostring(err))
  end)

  it("keeps the error ambiguous when a later create is refused outright", function()
    load()
    behaviour = { create = function()
      if creates == 1 then
        return nil, "CURLE_RECV_ERROR: reset", "CURLE_RECV_ERROR", { request_size = 300 }
      end
      return 403, JSON, cjson.encode { title = "Forbidden", status = 403 }
    end }
    local c = new_client()
    local _, err = c.target_connections:ensure(input("refused"))
    assert.equals(2, creates)
    assert.same({ 403, true }, { err.status, err.ambiguous })
  end)

  it("a first look that fails before any create is not ambiguous", function()
    load()
    behaviour = { create = slow_create(nil), list = function()
      return 400, JSON, cjson.encode { title = "Bad list", status = 400 }
    end }
    local _, err = new_client().target_connections:ensure(input("x"))
    assert.same({ 0, 400, false }, { creates, err.status, err.ambiguous })
  end)
end)
