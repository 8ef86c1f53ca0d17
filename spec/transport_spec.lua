-- The transport's protections through the public client (flowservice.new), each against a real
-- server process: redirects are not followed, header injection is refused before anything is
-- sent, ids are always one encoded path segment (property-based, checked at the emulator),
-- oversized responses end with bounded memory, and silent or dripping servers end in time.
-- The fixture server is spec/fixtures/transport_server.lua; the emulator is bin/flowservice-emulator.
local helper = require "spec.helper"
local flowservice = require "flowservice"
local socket = require "socket"

local TOKEN = "SENTINEL-transport-token-5c2e91"
local API_KEY = "transport-spec-api-key"
local BASE = "/data/foundation/flowservice"
local MiB = 1024 * 1024

-- Starts the fixture in `mode` (see its header); returns helper.start_logging_fixture's
-- process with connections() added.
local function start_fixture(mode)
  local fx = helper.start_logging_fixture("transport_server.lua", mode)
  local probes = 0
  -- Connections the fixture accepted, not counting these probes.
  function fx.connections()
    fx.probe()
    probes = probes + 1
    local n = 0
    for line in fx.log():gmatch("[^\n]+") do
      if line == "connect" then n = n + 1 end
    end
    return n - probes
  end
  return fx
end

-- A client that plays against a fixture standing in for Flow Service: a given token, no IMS.
local function fixture_client(fx, opts)
  local o = {
    env = false, base_url = fx.url, ims_url = fx.url, org_id = helper.ORG_ID,
    access_token = TOKEN, api_key = API_KEY,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(flowservice.new(o))
end

local function elapsed_since(t0)
  return socket.gettime() - t0
end

---------------------------------------------------------------------------------------------------

describe("redirects", function()
  local target, redirector

  before_each(function()
    target = start_fixture("json")
    redirector = start_fixture("redirect:" .. target.port)
  end)

  after_each(function()
    redirector.stop()
    target.stop()
  end)

  local function assert_redirect_error(err, kind)
    local where = ("http://127.0.0.1:%d/stolen"):format(target.port)
    assert.are.equal(kind, err.kind)
    assert.are.equal(302, err.status)
    assert.are.equal(where, err.location)
    assert.truthy(tostring(err):find(where, 1, true), tostring(err))
  end

  it("a 302 from Flow Service is an http error naming the target, which receives nothing", function()
    local client = fixture_client(redirector)
    local res, err = client.connections:get("abc")
    client:close()
    assert.is_nil(res)
    assert_redirect_error(err, "http")
    assert.matches("request GET " .. BASE .. "/connections/abc\n", redirector.log(), 1, true)
    assert.are.equal(0, target.connections())
  end)

  it("a 302 from IMS is an auth error naming the target; the client secret goes nowhere else", function()
    local client = assert(flowservice.new {
      env = false, base_url = redirector.url, ims_url = redirector.url, org_id = helper.ORG_ID,
      client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET,
    })
    local res, err = client:authenticate()
    client:close()
    assert.is_nil(res)
    assert_redirect_error(err, "auth")
    assert.matches("request POST /ims/token/v3\n", redirector.log(), 1, true)
    assert.are.equal(0, target.connections())
  end)
end)

---------------------------------------------------------------------------------------------------

describe("header injection", function()
  local fx

  before_each(function() fx = start_fixture("json") end)
  after_each(function() fx.stop() end)

  local BAD_CHARS = { CR = "\r", LF = "\n", NUL = "\0", CRLF = "\r\n" }

  -- A refusal is either a returned validation error or a raised (programmer) error. Returns its
  -- message; `bad` (the injected text) must not be in it.
  local function refusal_message(bad, fn)
    local ok, res, err = pcall(fn)
    local message
    if not ok then
      message = tostring(res)
    else
      assert.is_nil(res, "not refused")
      assert.are.equal("validation", err.kind)
      message = tostring(err)
    end
    assert.is_nil(message:find(bad, 1, true), "the message shows the value: " .. message)
    return message
  end

  -- Each of these options ends up in a request header.
  local CONFIG_FIELDS = {
    sandbox = function(c) return "prod" .. c .. "X-Injected: 1" end,
    org_id = function(c) return "ORG" .. c .. "X-Injected: 1@AdobeOrg" end,
    api_key = function(c) return "key" .. c .. "X-Injected: 1" end,
    access_token = function(c) return "token" .. c .. "X-Injected: 1" end,
    client_id = function(c) return "id" .. c .. "X-Injected: 1" end,
  }

  for field, make in pairs(CONFIG_FIELDS) do
    for char_name, char in pairs(BAD_CHARS) do
      it(("refuses %s in %s before sending anything"):format(char_name, field), function()
        local value = make(char)
        local opts = {
          env = false, base_url = fx.url, ims_url = fx.url, org_id = helper.ORG_ID,
          access_token = TOKEN, api_key = API_KEY,
        }
        if field == "client_id" then   -- the x-api-key header when api_key is not given
          opts.access_token, opts.api_key, opts.client_secret = nil, nil, "s"
        end
        opts[field] = value
        local message = refusal_message("X-Injected", function() return flowservice.new(opts) end)
        assert.truthy(message:find(field, 1, true), message)
        assert.are.equal(0, fx.connections())
      end)
    end
  end

  describe("in client:request{headers=...}", function()
    local client

    before_each(function()
      -- IMS credentials, not a token: a token call would also show up as a connection
      client = assert(flowservice.new {
        env = false, base_url = fx.url, ims_url = fx.url, org_id = helper.ORG_ID,
        client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET,
      })
    end)
    after_each(function() client:close() end)

    local VALUE = "SENTINEL-header-value-77ab"

    local function get_with(headers)
      return function() return client:request { method = "GET", path = "/connections", headers = headers } end
    end

    for char_name, char in pairs(BAD_CHARS) do
      it("refuses " .. char_name .. " in a header value, naming the header", function()
        local message = refusal_message("X-Injected", get_with { ["X-Extra"] = "v" .. char .. "X-Injected: 1" })
        assert.truthy(message:find("headers", 1, true), message)
        assert.truthy(message:find("X-Extra", 1, true), message)
        assert.are.equal(0, fx.connections())
      end)

      it("refuses " .. char_name .. " in a header name", function()
        local message = refusal_message(VALUE, get_with { ["X-Extra" .. char .. "X-Injected"] = VALUE })
        assert.truthy(message:find("headers", 1, true), message)
        assert.is_nil(message:find("[%z\1-\31]"), "control characters in the message")
        assert.are.equal(0, fx.connections())
      end)
    end

    for _, name in ipairs { "X Space", "X:Colon", "X(paren)", "X/slash", 'X"quote', "X@at", "Ünï", "",
                            "X\tTab", "X\127Del" } do
      it(("refuses the header name %q (not an RFC 9110 token)"):format(name), function()
        local message = refusal_message(VALUE, get_with { [name] = VALUE })
        assert.truthy(message:find("headers", 1, true), message)
        assert.are.equal(0, fx.connections())
      end)
    end

    it("sends a clean extra header (control: the fixture does see connections)", function()
      local token_client = fixture_client(fx)
      local body = assert(token_client:request { method = "GET", path = "/connections",
        headers = { ["X-Extra_ok.1~"] = "fine" } })
      token_client:close()
      assert.are.same({ items = {} }, body)
      assert.are.equal(1, fx.connections())
      assert.matches("\nheader X-Extra_ok.1~\n", fx.log(), 1, true)
    end)
  end)
end)

---------------------------------------------------------------------------------------------------

describe("URLs", function()
  local emu, client

  lazy_setup(function()
    emu = helper.start_emulator()
    client = assert(flowservice.new {
      env = false, base_url = emu.url, ims_url = emu.url, org_id = helper.ORG_ID,
      client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET,
    })
  end)

  lazy_teardown(function()
    if client then client:close() end
    if emu then emu.stop() end
  end)

  local PIECES = { "/", "%", "?", "#", " ", "..", ".", "%2F", "%25", "+", "&", "=", ";", "\\", "\r\n",
    "\0", "~", "*", "'", "@", ":" }

  local function random_byte_id()
    local parts = {}
    for i = 1, math.random(1, 12) do
      if math.random() < 0.4 then
        parts[i] = PIECES[math.random(#PIECES)]
      else
        parts[i] = string.char(math.random(0, 255))
      end
    end
    return table.concat(parts)
  end

  local RANGES = { { 0x20, 0x7E }, { 0xA0, 0x7FF }, { 0x800, 0xD7FF }, { 0xE000, 0xFFFD },
    { 0x10000, 0x10FFFF } }

  -- utf8.char (no utf8 library before 5.3)
  local function utf8_char(cp)
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
    if cp < 0x10000 then
      return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
      0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end

  local function random_unicode_id()
    local parts = {}
    for i = 1, math.random(1, 8) do
      local r = RANGES[math.random(#RANGES)]
      parts[i] = utf8_char(math.random(r[1], r[2]))
    end
    return table.concat(parts)
  end

  -- An id as a printable Lua string literal (for failure messages).
  local function show(id)
    return (("%q"):format(id):gsub("[\128-\255]", function(c) return "\\" .. c:byte() end))
  end

  local function percent_decode(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end

  -- The paths of the emulator's access-log lines for GET /connections/..., in order.
  local function logged_connection_paths()
    local paths = {}
    for path in emu.log():gmatch("\n?%S+ GET (" .. BASE .. "/connections/%S*) %d+ ") do
      paths[#paths + 1] = path
    end
    return paths
  end

  it("puts 200 random byte and Unicode ids into one encoded path segment each", function()
    local seed = tonumber(os.getenv("FLOWSERVICE_URL_SEED")) or os.time()
    math.randomseed(seed)
    local ids = {}
    while #ids < 200 do
      local id = #ids % 2 == 0 and random_byte_id() or random_unicode_id()
      if id ~= "." and id ~= ".." then ids[#ids + 1] = id end
    end
    -- other specs get fresh randomness again (randomseed needs its argument before 5.4)
    if _VERSION == "Lua 5.4" then math.randomseed() else math.randomseed(os.time() + os.clock() * 1e6) end
    local before = #logged_connection_paths()
    for i, id in ipairs(ids) do
      local res, err = client.connections:get(id)
      local what = ("seed %d, id %d %s"):format(seed, i, show(id))
      assert.is_nil(res, what)
      -- the connections route answered: an unknown id, not an unknown route or a method error
      assert.are.equal("FLOW-1439-404", err.code, what .. ": " .. tostring(err))
    end
    local paths = logged_connection_paths()
    assert.are.equal(before + #ids, #paths, "seed " .. seed)
    for i, id in ipairs(ids) do
      local what = ("seed %d, id %d %s"):format(seed, i, show(id))
      local segment = paths[before + i]:sub(#BASE + #"/connections/" + 1)
      -- one segment of unreserved characters and %XX triplets only: nothing the server could
      -- read as a separator, a dot segment, a query or a fragment
      assert.truthy(segment:gsub("%%%x%x", ""):match("^[%w%-%._~]*$"), what .. " -> " .. segment)
      assert.are.equal(id, percent_decode(segment), what .. " -> " .. segment)
    end
  end)

  for _, id in ipairs { "", ".", ".." } do
    it(("refuses the id %q with a validation error and sends nothing"):format(id), function()
      local log_before = emu.log()
      for _, call in ipairs {
        function() return client.connections:get(id) end,
        function() return client.connections:delete(id) end,
        function() return client.connections:update(id, { name = "x" }, '"etag"') end,
      } do
        local res, err = call()
        assert.is_nil(res)
        assert.are.equal("validation", err.kind)
        assert.are.equal("id", err.field)
      end
      assert.are.equal(log_before, emu.log())
    end)
  end

  it("encodes spaces in query values as %20 (never + or a raw space)", function()
    local fx = start_fixture("json")
    local fclient = fixture_client(fx)
    local items = assert(fclient.connections:all { property = { { "name", "==", "a b  c" } } })
    fclient:close()
    local log = fx.log()
    fx.stop()
    assert.are.same({}, items)
    local logged = assert(log:match("request GET (%S+)\n"))
    assert.are.equal(BASE .. "/connections?property=name%3D%3D%22a%20b%20%20c%22", logged)
  end)
end)

---------------------------------------------------------------------------------------------------

describe("response limits", function()
  -- Peak resident memory of this process (VmHWM), in KiB.
  local function peak_kib()
    for line in io.lines("/proc/self/status") do
      local kib = line:match("^VmHWM:%s*(%d+)")
      if kib then return tonumber(kib) end
    end
    error("no VmHWM in /proc/self/status")
  end

  -- Resets VmHWM to the current RSS (Linux >= 4.0), so earlier specs' peaks do not hide ours.
  local function reset_peak()
    collectgarbage()
    collectgarbage()
    local f = assert(io.open("/proc/self/clear_refs", "w"))
    assert(f:write("5"))
    f:close()
  end

  -- Fetches a 10 MiB body with `framing`; returns the result, error and KiB the peak RSS grew by.
  local function fetch_10_mib(framing, max_response_size)
    local fx = start_fixture(("%s:%d"):format(framing, 10 * MiB))
    local client = fixture_client(fx, { max_response_size = max_response_size })
    reset_peak()
    local before = peak_kib()
    local res, err = client:request { method = "GET", path = "/connections" }
    local grown = peak_kib() - before
    client:close()
    fx.stop()
    return res, err, grown
  end

  for _, framing in ipairs { "chunked", "length" } do
    it(("ends a 10 MiB %s body at max_response_size = 1 MiB, with peak RSS + < 4 MiB"):format(framing),
      function()
        local res, err, grown = fetch_10_mib(framing, MiB)
        assert.is_nil(res)
        assert.are.equal("transport", err.kind)
        assert.are.equal("CURLE_FILESIZE_EXCEEDED", err.curl_code)
        assert.is_true(grown < 4 * 1024, ("peak RSS grew by %d KiB"):format(grown))
      end)
  end

  it("control: the same 10 MiB chunked body under the default limit does raise peak RSS", function()
    local res, err, grown = fetch_10_mib("chunked", nil)
    assert.is_nil(res)
    assert.are.equal("decode", err.kind)   -- received whole; just not JSON
    assert.is_true(grown > 8 * 1024, ("peak RSS grew by only %d KiB"):format(grown))
  end)
end)

---------------------------------------------------------------------------------------------------

-- One GET through `client` (closed afterwards) must end in a timeout after `deadline` seconds
-- and within a second more. The clients make one attempt (retry = false): the retry loop and
-- its deadline are spec/retry_spec.lua's.
local function assert_times_out(client, deadline)
  local t0 = socket.gettime()
  local res, err = client.connections:get("abc")
  local took = elapsed_since(t0)
  client:close()
  assert.is_nil(res)
  assert.are.equal("transport", err.kind)
  assert.are.equal("CURLE_OPERATION_TIMEDOUT", err.curl_code)
  assert.is_true(took >= deadline - 0.1 and took <= deadline + 1, ("took %.2f s"):format(took))
end

describe("timeouts", function()
  local fx

  after_each(function()
    if fx then fx.stop() end
    fx = nil
  end)

  it("a server that accepts and never answers ends within timeout + 1 s", function()
    fx = start_fixture("silent")
    assert_times_out(fixture_client(fx, { timeout = 2, retry = false }), 2)
  end)

  it("a connection that is never accepted ends within connect_timeout + 1 s", function()
    local port, close = helper.unaccepting_port()
    local url = "http://127.0.0.1:" .. port
    assert_times_out(fixture_client({ url = url }, { connect_timeout = 1, timeout = 30, retry = false }), 1)
    close()
  end)

  it("a server that drips a byte a second ends within low_speed_time + 1 s", function()
    fx = start_fixture("drip")
    -- a byte a second is not below the default floor of 1 byte/s: ask for 10
    assert_times_out(fixture_client(fx, { timeout = 30, low_speed_time = 2, low_speed_limit = 10,
      retry = false }), 2)
    assert.matches("request GET " .. BASE .. "/connections/abc\n", fx.log(), 1, true)
  end)
end)
