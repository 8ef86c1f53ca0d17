-- Two guards of the C core, checked here independently of the specs that meet them on the way
-- (ensure_faults_spec.lua, core_spec.lua):
--  - the resend guard: libcurl sends a request again by itself when a kept-alive connection
--    closes before any reply; a request made with `resend = false` must go out once only;
--  - the header value check (CR, LF, NUL): 8 bytes at a time, then byte by byte for the
--    tail, so a bad byte is tried at every position of values of every length up to 3 words.
local core = require "flowservice.core"
local helper = require "helper"

local function count(s, url)
  local status, _, body = s:request { url = url .. "/count" }
  assert.equal(200, status)
  return tonumber(body)
end

describe("the resend guard", function()
  local fx

  setup(function() fx = helper.start_http_fixture("http") end)
  teardown(function() fx.stop() end)

  -- A kept-alive connection, then a request the server reads and answers by closing it.
  -- Returns what session:request returned and how many times the server read the request.
  local function dropped(s, resend)
    local before = count(s, fx.url) -- opens the connection the next request reuses
    local status, message, name, info = s:request { method = "POST", url = fx.url .. "/drop", body = "once",
      resend = resend }
    return { status = status, message = message, name = name, info = info,
      reads = count(s, fx.url) - before - 1 }
  end

  it("lets libcurl send a request again on a new connection by default (what the guard stops)", function()
    local s = core.session()
    local r = dropped(s, nil)
    assert.equal(2, r.reads)
    assert.equal("CURLE_GOT_NOTHING", r.name)
    s:close()
  end)

  it("refuses the second send of a request made with resend = false, and says why", function()
    local s = core.session()
    local r = dropped(s, false)
    assert.equal(1, r.reads)
    assert.is_nil(r.status)
    assert.equal("CURLE_SEND_FAIL_REWIND", r.name)
    assert.matches("was not sent again", r.message, 1, true)
    -- the session stays usable, and the guard holds for the next request too
    assert.equal(1, dropped(s, false).reads)
    assert.equal(2, dropped(s, true).reads)
    s:close()
  end)

  it("holds in session:multi too", function()
    local s = core.session()
    local before = count(s, fx.url)
    local m = s:multi(2)
    -- the multi handle keeps its own connections: open one, then have it dropped
    assert.is_true(m:start({ url = fx.url .. "/echo" }, "open"))
    local results = m:wait(10)
    assert.equal(200, results[1] and results[1][2])
    assert.is_true(m:start({ method = "POST", url = fx.url .. "/drop", body = "once", resend = false }, "drop"))
    local r = m:wait(10)[1]
    assert.equal("drop", r[1])
    assert.equal("CURLE_SEND_FAIL_REWIND", r[4])
    assert.equal(before + 2, count(s, fx.url) - 1) -- /echo and /drop once each, then this count
    m:close()
    s:close()
  end)
end)

describe("the response header limit", function()
  local fx

  setup(function() fx = helper.start_http_fixture("http") end)
  teardown(function() fx.stop() end)

  it("counts the bytes received, not only the bytes kept (white space around a value)", function()
    local s = core.session()
    local status, headers = s:request { url = fx.url .. "/padded-header/60000" }
    assert.equal(200, status)
    assert.equal("v", headers["x-padded"])
    local st, msg, name = s:request { url = fx.url .. "/padded-header/70000" }
    assert.is_nil(st)
    assert.equal("CURLE_FILESIZE_EXCEEDED", name)
    assert.matches("response headers larger than 100 fields or 65536 bytes", msg, 1, true)
    s:close()
  end)
end)

describe("the header value check", function()
  -- Nothing listens there: a value that passes the check fails to connect instead of raising.
  local closed_url = "http://127.0.0.1:" .. helper.closed_port() .. "/"
  local BAD = { CR = "\r", LF = "\n", NUL = "\0" }

  local function try(s, value)
    return pcall(s.request, s, { url = closed_url, headers = { ["X-Value"] = value } })
  end

  it("refuses CR, LF and NUL at every position of values up to 24 bytes, as strings and secrets", function()
    local s = core.session { connect_timeout = 2 }
    for len = 1, 24 do
      for pos = 1, len do
        for name, byte in pairs(BAD) do
          local value = ("v"):rep(pos - 1) .. byte .. ("v"):rep(len - pos)
          local ok, err = try(s, value)
          assert.is_false(ok, ("%s at %d of %d (string)"):format(name, pos, len))
          assert.matches("field 'headers'", err, 1, true)
          ok, err = try(s, { "X", core.secret(value) })
          assert.is_false(ok, ("%s at %d of %d (secret)"):format(name, pos, len))
          assert.matches("field 'headers'", err, 1, true)
        end
      end
      -- the same length without a bad byte passes the check (and then fails to connect)
      local ok, status, _, curl_name = try(s, ("v"):rep(len))
      assert.is_true(ok, status)
      assert.same({ nil, "CURLE_COULDNT_CONNECT" }, { status, curl_name })
    end
    s:close()
  end)
end)
