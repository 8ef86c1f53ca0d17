-- The emulator's bounds against one client hogging it: the work one connection may do per turn
-- of the select loop (a body streamed in 1-byte pieces cannot stall the others), idle
-- connections evicted at the connection limit, and the number of tokens it remembers.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local socket = require "socket"

-- A socket stand-in that always has `piece` bytes of `data` ready (a client that keeps the
-- server's buffer full, one byte at a time), counting receive calls.
local function flooding_socket(data, piece)
  local pos, sent = 1, {}
  local fake = { receives = 0, sent = sent }
  function fake.receive(_, _)
    fake.receives = fake.receives + 1
    if pos > #data then return nil, "timeout", "" end
    local s = data:sub(pos, pos + piece - 1)
    pos = pos + #s
    return s
  end
  function fake.send(_, s, i) sent[#sent + 1] = s:sub(i or 1); return #s end
  function fake.settimeout() end
  function fake.setoption() return true end
  function fake.getpeername() return "127.0.0.1", 40000 end
  function fake.shutdown() end
  function fake.close() end
  return fake
end

describe("emulator limits", function()
  it("lets other connections have a turn while one streams a body in 1-byte pieces", function()
    local http = require "flowservice.emulator.http"
    local handled = 0
    local router = http.router()
    router:add("POST", "^/big$", function(req)
      handled = handled + 1
      return http.json(200, { bytes = #req.body })
    end)
    local server = assert(http.server { router = router, log = io.open("/dev/null", "w") })
    local body = ("x"):rep(4096)
    local fake = flooding_socket("POST /big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " .. #body
      .. "\r\n\r\n" .. body, 1)
    server:add_conn(fake)
    -- one turn: a handful of reads, not the whole request
    assert.is_true(fake.receives <= 8, tostring(fake.receives))
    assert.are.equal(0, handled)
    local before = fake.receives
    server:step(0)
    assert.is_true(fake.receives - before <= 8, tostring(fake.receives - before))
    local steps = 1
    while handled == 0 and steps < 100000 do
      server:step(0)
      steps = steps + 1
    end
    assert.are.equal(1, handled)
    assert.is_true(steps > 100, tostring(steps)) -- the body took many turns
    assert.truthy(table.concat(fake.sent):find('{"bytes":4096}', 1, true))
    server:close()
  end)

  it("bounds the bodies being received on all connections together: 503 beyond, released after", function()
    local http = require "flowservice.emulator.http"
    local router = http.router()
    router:add("POST", "^/big$", function(req) return http.json(200, { bytes = #req.body }) end)
    local server = assert(http.server { router = router, log = io.open("/dev/null", "w"),
      limits = { buffered_bytes = 100 } })
    local function client()
      local s = assert(socket.connect("127.0.0.1", server.port))
      s:settimeout(0)
      return s
    end
    local function head(n) return "POST /big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " .. n .. "\r\n\r\n" end
    -- steps the server until `s` has a status line (at most 5 s); returns the status
    local function status_of(s)
      local got = ""
      local deadline = socket.gettime() + 5
      while socket.gettime() < deadline do
        server:step(0.01)
        local data, _, partial = s:receive(4096)
        got = got .. (data or partial or "")
        local status = got:match("^HTTP/1%.1 (%d%d%d)")
        if status then return tonumber(status) end
      end
      return nil
    end
    local a = client()
    assert(a:send(head(80) .. ("a"):rep(10)))     -- 80 bytes reserved, 70 still to come
    for _ = 1, 20 do server:step(0.01) end
    local b = client()
    assert(b:send(head(80) .. ("b"):rep(80)))
    assert.are.equal(503, status_of(b))
    assert(a:send(("a"):rep(70)))
    assert.are.equal(200, status_of(a))
    local c = client()
    assert(c:send(head(80) .. ("c"):rep(80)))
    assert.are.equal(200, status_of(c))
    for _, s in ipairs { a, b, c } do s:close() end
    server:close()
  end)

  it("forgets the oldest token beyond its limit, and expired ones", function()
    local ims = require "flowservice.emulator.ims"
    local http = require "flowservice.emulator.http"
    assert.are.equal(4096, ims.MAX_TOKENS)
    local state = { clients = { c = { secret = "s", org_id = "O@AdobeOrg" } }, tokens = {}, token_ttl = 100,
      max_tokens = 8 }
    local router = http.router()
    ims.register(router, state)
    local handler = router:match("POST", "/ims/token/v3")
    local issued = {}
    for i = 1, 20 do
      local res = handler { method = "POST", path = "/ims/token/v3", query = "",
        headers = { ["content-type"] = "application/x-www-form-urlencoded" },
        body = "grant_type=client_credentials&client_id=c&client_secret=s&scope=openid" }
      assert.are.equal(200, res.status)
      issued[i] = require("cjson").decode(res.body).access_token
    end
    local remembered = 0
    for _ in pairs(state.tokens) do remembered = remembered + 1 end
    assert.are.equal(8, remembered)
    assert.is_nil(ims.lookup(state, issued[1]))
    assert.is_nil(ims.lookup(state, issued[12]))
    assert.is_table(ims.lookup(state, issued[13]))
    assert.is_table(ims.lookup(state, issued[20]))
  end)

  describe("as a process", function()
    local emu
    lazy_setup(function() emu = helper.start_emulator() end)
    lazy_teardown(function() if emu then emu.stop() end end)

    it("evicts the longest-idle connection at the limit, so idle connections cannot lock others out", function()
      local port = tonumber(emu.url:match(":(%d+)$"))
      local idle = {}
      for i = 1, 520 do
        local s = socket.tcp()
        s:settimeout(5)
        assert(s:connect("127.0.0.1", port))
        idle[i] = s
      end
      local ok, res = pcall(rawhttp.request, emu, "GET", "/_emulator/stats")
      -- the longest-idle connection (the first) was closed by the emulator to make room
      local _, first_err = idle[1]:receive(1)
      for _, s in ipairs(idle) do s:close() end
      assert(ok, tostring(res))
      assert.are.equal(200, res.status)
      assert.are.equal("closed", first_err)
    end)
  end)
end)
