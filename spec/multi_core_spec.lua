-- The C core's multi handle (session:multi) against the emulator, a separate process. Delays
-- come from the emulator's fault rules (PUT /_emulator/faults through rawhttp.admin).
local helper = require "helper"
local rawhttp = require "rawhttp"
local core = require "flowservice.core"

local BASE = rawhttp.BASE
local block = helper.emulator_block()
local emu, admin
setup(function()
  block.start()
  emu, admin = block.emu, block.admin
end)
teardown(block.stop)
before_each(block.reset)

-- A path under the Flow Service base that answers 404 after the gateway checks fail (no
-- headers: 403/403 from the gateway), quickly unless a delay rule matches it.
local function url_of(name)
  return emu.url .. BASE .. "/connections/" .. name
end

local function delay(path_pattern, seconds)
  return { fault = "delay", seconds = seconds, method = "GET", path = BASE .. "/connections/" .. path_pattern }
end

-- Waits until every started transfer is back; returns key -> result table and the keys in the
-- order they finished.
local function drain(m, timeout)
  local by_key, order = {}, {}
  local give_up = core.monotonic() + (timeout or 20)
  while m:pending() > 0 do
    assert(core.monotonic() < give_up, "transfers did not finish")
    for _, r in ipairs(m:wait(1)) do
      by_key[r[1]] = r
      order[#order + 1] = r[1]
    end
  end
  return by_key, order
end

local function sum_connects(results)
  local n = 0
  for _, r in pairs(results) do n = n + r[5].connects end
  return n
end

describe("session:multi", function()
  it("checks its concurrency and refuses a closed session", function()
    local s = core.session()
    for _, bad in ipairs { 0, 65, 1.5 } do
      assert.error_matches(function() s:multi(bad) end, "^bad argument #1 to 'multi' %(")
    end
    assert.has_error(function() s:multi("x") end, "bad argument #1 to 'multi' (number expected, got string)")
    assert.has_error(function() s.multi(s) end, "bad argument #2 to 'multi' (number expected, got no value)")
    s:close()
    assert.has_error(function() s:multi(2) end, "attempt to use a closed session")
  end)

  it("runs transfers together and returns each one's result with its key", function()
    local s = core.session()
    local m = s:multi(4)
    local keys = { "a", 2, { table = "key" } }
    for i, key in ipairs(keys) do assert.is_true(m:start({ url = url_of("x" .. i) }, key)) end
    assert.equals(3, m:pending())
    local by_key = drain(m)
    assert.equals(0, m:pending())
    for _, key in ipairs(keys) do
      local r = by_key[key]
      assert.equals(5, r.n)
      assert.equals(key, r[1])
      assert.equals(403, r[2]) -- no credentials: the gateway answers
      assert.equals("table", type(r[3]))
      assert.matches("application/json", r[3]["content-type"])
      assert.equals("string", type(r[4]))
      assert.equals("number", type(r[5].total_time))
    end
    m:close()
    s:close()
  end)

  it("returns a transport failure as nil, message, curl name, info", function()
    local m = core.session():multi(2)
    assert.is_true(m:start({ url = "http://127.0.0.1:" .. helper.closed_port() .. "/" }, "closed"))
    local r = drain(m).closed
    assert.equals(5, r.n)
    assert.is_nil(r[2])
    assert.matches("^CURLE_COULDNT_CONNECT: ", r[3])
    assert.equals("CURLE_COULDNT_CONNECT", r[4])
    assert.equals("table", type(r[5]))
    m:close()
  end)

  it("checks the request like session:request, before anything is sent", function()
    local m = core.session():multi(2)
    local ok, err = pcall(function() m:start({ url = url_of("a"), bogus = 1 }, "k") end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'start' %(unknown field 'bogus' %(valid: body, capture, ", err)
    assert.has_error(function() m:start({ url = url_of("a"), headers = { ["Bad Name"] = "v" } }, "k") end,
      "bad argument #1 to 'start' (field 'headers': invalid header name \"Bad Name\" (must be an RFC 9110 token))")
    assert.has_error(function() m:start({ url = url_of("a"), headers = { X = "a\r\nb" } }, "k") end,
      "bad argument #1 to 'start' (field 'headers': value of 'X' contains CR, LF or NUL)")
    assert.has_error(function() m:start({ url = url_of("a"), method = "GET", body = "x" }, "k") end,
      "bad argument #1 to 'start' (field 'body' is not allowed with GET)")
    assert.has_error(function() m:start({ url = url_of("a") }) end,
      "bad argument #2 to 'start' (key must not be nil)")
    assert.has_error(function() m:start("k") end, "bad argument #1 to 'start' (table expected, got string)")
    local wiped = core.secret("s")
    wiped:wipe()
    assert.has_error(function() m:start({ url = url_of("a"), headers = { X = { wiped } } }, "k") end,
      "attempt to use a wiped secret")
    assert.equals(0, m:pending())
    assert.equals(0, admin.stats().requests)
    -- the slots are still usable
    assert.is_true(m:start({ url = url_of("a") }, "k"))
    assert.equals(403, drain(m).k[2])
    m:close()
  end)

  it("refuses to start more than its concurrency, and wait(timeout) comes back empty-handed", function()
    admin.set_faults { delay("slow*", 0.6) }
    local m = core.session():multi(2)
    assert.is_true(m:start({ url = url_of("slow1") }, 1))
    assert.is_true(m:start({ url = url_of("slow2") }, 2))
    assert.is_false(m:start({ url = url_of("slow3") }, 3))
    local t0 = core.monotonic()
    assert.same({}, m:wait(0.05))
    assert.is_true(core.monotonic() - t0 < 0.5)
    assert.equals(2, m:pending())
    local by_key = drain(m)
    assert.equals(403, by_key[1][2])
    assert.equals(403, by_key[2][2])
    assert.same({}, m:wait(0)) -- nothing pending
    m:close()
  end)

  it("opens at most `concurrency` connections and keeps them alive", function()
    admin.set_faults { delay("slow*", 0.2) }
    local m = core.session():multi(3)
    local all = {}
    for round = 1, 3 do
      for i = 1, 3 do assert.is_true(m:start({ url = url_of("slow" .. i) }, round * 10 + i)) end
      for k, r in pairs(drain(m)) do all[k] = r end
    end
    local connects = sum_connects(all)
    assert.is_true(connects >= 2 and connects <= 3, "connections opened: " .. connects)
    assert.equals(9, admin.stats().requests)
    m:close()
  end)

  it("finishes transfers out of order: a fast one comes back before a slow one", function()
    admin.set_faults { delay("slow", 0.5) }
    local m = core.session():multi(2)
    m:start({ url = url_of("slow") }, "slow")
    m:start({ url = url_of("fast") }, "fast")
    local _, order = drain(m)
    assert.same({ "fast", "slow" }, order)
    m:close()
  end)

  it("applies the session's limits: max_response_size and a request's timeout", function()
    admin.set_faults {
      { fault = "oversized", bytes = 100000, path = BASE .. "/connections/big" },
      delay("stall", 5),
    }
    local m = core.session { max_response_size = 1000 }:multi(2)
    m:start({ url = url_of("big") }, "big")
    m:start({ url = url_of("stall"), timeout = 0.3 }, "stall")
    local by_key = drain(m)
    assert.equals("CURLE_FILESIZE_EXCEEDED", by_key.big[4])
    assert.matches("larger than 1000 bytes", by_key.big[3])
    assert.equals("CURLE_OPERATION_TIMEDOUT", by_key.stall[4])
    m:close()
  end)

  it("joins secret pieces in C and captures a token like session:request", function()
    local m = core.session():multi(2)
    local secret = core.secret(helper.CLIENT_SECRET, "form")
    m:start({
      method = "POST", url = emu.url .. "/ims/token/v3", capture = "access_token",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
      body = { "grant_type=client_credentials&client_id=" .. helper.CLIENT_ID .. "&client_secret=", secret,
        "&scope=openid" },
    }, "token")
    local r = drain(m).token
    assert.equals(200, r[2])
    assert.equals("secret", core.type(r[5].captured))
    assert.matches('"access_token":%s*"<captured>"', r[4])
    -- the captured token works as a piece of the next request
    m:start({
      url = url_of("nothing-here"),
      headers = {
        Authorization = { "Bearer ", r[5].captured }, ["x-api-key"] = helper.CLIENT_ID,
        ["x-gw-ims-org-id"] = helper.ORG_ID, ["x-sandbox-name"] = "prod",
      },
    }, "use")
    assert.equals(404, drain(m).use[2])
    m:close()
  end)

  it("close aborts transfers in flight, is idempotent, and == __gc == __close", function()
    admin.set_faults { delay("slow*", 5) }
    local m = core.session():multi(2)
    m:start({ url = url_of("slow1") }, 1)
    m:start({ url = url_of("slow2") }, 2)
    m:wait(0.1)
    local t0 = core.monotonic()
    assert.is_true(m:close())
    assert.is_true(core.monotonic() - t0 < 2)
    assert.is_true(m:close())
    assert.equals("flowservice.core.multi (closed)", tostring(m))
    assert.has_error(function() m:start({ url = url_of("a") }, 3) end, "attempt to use a closed multi")
    assert.has_error(function() m:wait(0) end, "attempt to use a closed multi")
    assert.has_error(function() m:pending() end, "attempt to use a closed multi")
    local scoped = core.session():multi(1)
    scoped:start({ url = url_of("slow3") }, 1)
    if helper.HAS_CLOSE then -- `local v <close>` parses only on 5.4
      helper.in_close_scope(scoped, function(v) assert.matches("^flowservice.core.multi %(0x", tostring(v)) end)
    else
      assert.matches("^flowservice.core.multi %(0x", tostring(scoped))
      getmetatable(scoped).__close(scoped) -- what leaving the scope does on 5.4
    end
    assert.equals("flowservice.core.multi (closed)", tostring(scoped))
    -- dropped with a transfer in flight: __gc aborts it
    local dropped = core.session():multi(1)
    dropped:start({ url = url_of("slow4") }, 1)
    dropped = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
  end)

  it("outlives its session: the session closing does not stop it", function()
    local s = core.session()
    local m = s:multi(1)
    s:close()
    m:start({ url = url_of("a") }, "k")
    assert.equals(403, drain(m).k[2])
    m:close()
  end)
end)

describe("session:multi over TLS", function()
  local certs, tls_emu

  setup(function()
    certs = helper.make_certs()
    tls_emu = helper.start_emulator { tls = { cert = certs.cert, key = certs.key } }
  end)

  teardown(function()
    tls_emu.stop()
  end)

  it("verifies the server like the session: refused without the CA, accepted with it", function()
    local m = core.session():multi(1)
    m:start({ url = tls_emu.url .. "/" }, "k")
    local r = drain(m).k
    assert.is_nil(r[2])
    assert.equals("CURLE_PEER_FAILED_VERIFICATION", r[4])
    m:close()

    m = core.session { ca_file = certs.ca }:multi(2)
    m:start({ url = tls_emu.url .. BASE .. "/connections/a" }, 1)
    m:start({ url = tls_emu.url .. BASE .. "/connections/b" }, 2)
    local by_key = drain(m)
    assert.equals(403, by_key[1][2])
    assert.equals(403, by_key[2][2])
    m:close()
  end)
end)
