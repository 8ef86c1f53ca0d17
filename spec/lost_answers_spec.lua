-- Answers that are lost or cannot be read, after the request went out: a response cut off
-- inside its header block (which libcurl 7.88 takes as a complete response with no body), and
-- a create answered 2xx with a body that is not {id, etag}. Either way the request may have been
-- carried out, so the error is ambiguous for a create (look before creating again) and a safe
-- request is retried.
local helper = require "helper"
local core = require "flowservice.core"
local flowservice = require "flowservice"

describe("lost and unreadable answers", function()
  local fx, reply
  setup(function()
    fx = helper.start_http_fixture("http")
    reply = helper.start_http_fixture("reply") -- answers each request with its own body
  end)
  teardown(function()
    if fx then fx.stop() end
    if reply then reply.stop() end
  end)

  local function client_of(url, retry)
    return assert(flowservice.new { base_url = url, access_token = "spec-token", api_key = "spec-key",
      org_id = helper.ORG_ID, env = false, limiter = false,
      retry = retry or { base = 0.01, throttle_base = 0.01, cap = 0.02 } })
  end

  it("the core reports a response cut off inside its header block as a transfer failure", function()
    local session = core.session { timeout = 10 }
    for _, path in ipairs { "/head-cut", "/head-cut-fields" } do
      local status, message, name = session:request { method = "POST", url = fx.url .. path, body = "{}" }
      assert.is_nil(status)
      assert.equal("CURLE_PARTIAL_FILE", name)
      assert.matches("ended inside its header block", message)
    end
    -- the session goes on: the next response is whole
    assert.equal(200, (session:request { method = "GET", url = fx.url .. "/echo" }))
    session:close()
  end)

  -- requests the fixture has read so far (this one included)
  local function count()
    local session = core.session {}
    local _, _, body = session:request { method = "GET", url = fx.url .. "/count" }
    session:close()
    return tonumber(body)
  end

  it("a create whose answer was cut off is ambiguous and not sent again", function()
    local client = client_of(fx.url)
    local before = count()
    local body, err = client:request { method = "POST", path = "/head-cut", body = { name = "x" } }
    assert.is_nil(body)
    assert.equal("transport", err.kind)
    assert.is_true(err.ambiguous)
    assert.equal(1, err.attempts)
    assert.matches("ambiguous", tostring(err))
    assert.equal(before + 2, count()) -- the POST once, then this count
    client:close()
  end)

  it("a GET whose answer was cut off is retried, and says so when it keeps happening", function()
    local client = client_of(fx.url)
    local body, err = client:request { method = "GET", path = "/head-cut" }
    assert.is_nil(body)
    assert.equal("transport", err.kind)
    assert.is_false(err.ambiguous)
    assert.is_true(err.retryable)
    assert.is_true(err.attempts > 1)
    client:close()
  end)

  it("a create answered 2xx without {id, etag} is ambiguous: it was carried out", function()
    local client = client_of(reply.url)
    local created, err = client.connections:create { name = "X", spec = "oracle-service-cloud",
      auth = { host = "example.custhelp.com", username = "u", password = "SENTINEL-lost-password" } }
    assert.is_nil(created)
    assert.equal("decode", err.kind)
    assert.is_true(err.ambiguous)
    assert.matches("ambiguous", tostring(err))
    assert.is_nil(tostring(err):find("SENTINEL", 1, true))
    client:close()
  end)
end)
