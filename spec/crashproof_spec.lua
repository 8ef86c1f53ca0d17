-- What a server sends, or a caller gives, must never crash the host process (issue 13): each
-- case here crashed, corrupted the Lua stack or misbehaved on the C core before the fix. The
-- server is spec/fixtures/http_server.lua, a separate process.
local helper = require "helper"
local core = require "flowservice.core"
local flowservice = require "flowservice"

local fx
setup(function() fx = helper.start_http_fixture("http") end)
teardown(function() fx.stop() end)

-- Every transfer of multi m back, as a list of result tables.
local function drain(m)
  local results = {}
  local give_up = core.monotonic() + 60
  while m:pending() > 0 do
    assert(core.monotonic() < give_up, "transfers did not finish")
    for _, r in ipairs(m:wait(1)) do results[#results + 1] = r end
  end
  return results
end

local function assert_header_cap_failure(r)
  assert.equals(5, r.n) -- key, nil, message, name, info: nothing more, nothing less
  assert.is_nil(r[2])
  assert.equals("CURLE_FILESIZE_EXCEEDED: response headers larger than 100 fields or 65536 bytes", r[3])
  assert.equals("CURLE_FILESIZE_EXCEEDED", r[4])
  assert.equals("table", type(r[5]))
  assert.equals("number", type(r[5].request_size))
end

describe("a response with more headers than the cap", function()
  it("fails alone with exactly the failure values on session:request", function()
    local s = core.session()
    local r = table.pack(s:request { url = fx.url .. "/many-headers/101" })
    assert.equals(4, r.n)
    assert.is_nil(r[1])
    assert.equals("CURLE_FILESIZE_EXCEEDED", r[3])
    s:close()
  end)

  it("comes back from m:wait as one well-formed failure", function()
    local m = core.session():multi(4)
    assert.is_true(m:start({ url = fx.url .. "/many-headers/101" }, "k"))
    local results = drain(m)
    assert.equals(1, #results)
    assert.equals("k", results[1][1])
    assert_header_cap_failure(results[1])
    m:close()
  end)

  it("64 of them finishing in one wait leave the Lua stack intact", function()
    local m = core.session():multi(64)
    for i = 1, 64 do assert.is_true(m:start({ url = fx.url .. "/many-headers/150" }, i)) end
    local seen = {}
    for _, r in ipairs(drain(m)) do
      assert_header_cap_failure(r)
      seen[r[1]] = true
    end
    for i = 1, 64 do assert.is_true(seen[i], "result " .. i) end
    m:close()
  end)

  it("fails each call of client:batch with a transport error, the batch itself goes on", function()
    local client = assert(flowservice.new {
      env = false, base_url = fx.url, ims_url = fx.url, access_token = "token-for-the-fixture",
      api_key = "key", org_id = helper.ORG_ID, retry = false,
    })
    local calls = {}
    for i = 1, 24 do
      calls[i] = function() return client:request { method = "GET", path = "/many-headers/" .. (100 + i) } end
    end
    local results = client:batch(calls, { concurrency = 16 })
    for i = 1, 24 do
      assert.is_nil(results[i][1], "call " .. i)
      assert.matches("response headers larger than 100 fields", tostring(results[i][2]))
    end
    client:close()
  end)
end)

describe("a folded line first in a response on a reused handle (libcurl < 8.1.0's use-after-free)", function()
  -- Before the fix: a segmentation fault or "free(): double free detected" on the second
  -- response. Now libcurl sees a handle with no earlier header, and refuses the block.
  local function assert_refused(ok, message, name)
    assert.is_nil(ok)
    assert.equals("CURLE_WEIRD_SERVER_REPLY", name)
    assert.matches("folded line with no field before it", message, 1, true)
  end

  it("is a failure that says why on session:request, and the session goes on", function()
    local s = core.session()
    for _ = 1, 3 do
      local status, headers = s:request { url = fx.url .. "/headers" }
      assert.equals(200, status)
      assert.equals("Value", headers["x-mixed-case"])
      local ok, message, name = s:request { url = fx.url .. "/fold-first" }
      assert_refused(ok, message, name)
    end
    s:close()
  end)

  it("is a failure that says why on a multi's reused slot, and the slot goes on", function()
    local m = core.session():multi(1)
    for i = 1, 3 do
      assert.is_true(m:start({ url = fx.url .. "/headers" }, "plain" .. i))
      assert.equals(200, drain(m)[1][2])
      assert.is_true(m:start({ url = fx.url .. "/fold-first" }, "folded" .. i))
      local r = drain(m)[1]
      assert_refused(r[2], r[3], r[4])
    end
    m:close()
  end)

  it("still goes over one kept-alive connection per session and per multi slot", function()
    local s = core.session()
    local connects = 0
    for _ = 1, 5 do
      local _, _, _, info = s:request { url = fx.url .. "/headers" }
      connects = connects + info.connects
    end
    assert.equals(1, connects)
    local m = s:multi(1)
    connects = 0
    for i = 1, 5 do
      m:start({ url = fx.url .. "/headers" }, i)
      connects = connects + drain(m)[1][5].connects
    end
    assert.equals(1, connects)
    m:close()
    s:close()
  end)

  it("core.fresh_handles says which path this libcurl takes", function()
    local major, minor = core.curl_version:match("^libcurl/(%d+)%.(%d+)")
    local affected = tonumber(major) < 8 or (tonumber(major) == 8 and tonumber(minor) < 1)
    if affected then assert.is_true(core.fresh_handles) end
    assert.equals("boolean", type(core.fresh_handles))
  end)
end)

describe("headers the transport owns", function()
  local names = { "Transfer-Encoding", "content-length", "Connection", "TE", "Upgrade", "Trailer",
    "Keep-Alive", "Proxy-Connection" }
  for _, name in ipairs(names) do
    it("are refused by the core before anything is sent: " .. name, function()
      local s = core.session()
      local _, _, before = s:request { url = fx.url .. "/count" }
      local ok, err = pcall(s.request, s, { method = "POST", url = fx.url .. "/echo", body = "{}",
        headers = { [name] = "0" } })
      assert.is_false(ok)
      assert.matches("'" .. name .. "' is set by the transport", err, 1, true)
      local _, _, after = s:request { url = fx.url .. "/count" }
      assert.equals(tonumber(before) + 1, tonumber(after)) -- nothing reached the server in between
      s:close()
    end)
  end

  it("are refused by client:request with the rule named", function()
    local client = assert(flowservice.new {
      env = false, base_url = fx.url, ims_url = fx.url, access_token = "t", api_key = "k",
      org_id = helper.ORG_ID,
    })
    for _, name in ipairs(names) do
      local ok, err = pcall(client.request, client, { method = "POST", path = "/echo", body = {},
        headers = { [name] = "x" } })
      assert.is_false(ok)
      assert.matches(name .. " is set by the transport", err, 1, true)
    end
    client:close()
  end)
end)

describe("request fields the core refuses", function()
  it("a method with an embedded NUL", function()
    local s = core.session()
    local ok, err = pcall(s.request, s, { method = "GET\0x", url = fx.url .. "/echo" })
    assert.is_false(ok)
    assert.matches([[field 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got 'GET\x00x']], err, 1, true)
    s:close()
  end)

  it("a header value of spaces and tabs only (libcurl would drop the line)", function()
    local s = core.session()
    for _, value in ipairs { " ", "\t", "  \t ", { " ", "\t" } } do
      local ok, err = pcall(s.request, s, { url = fx.url .. "/echo", headers = { ["X-Blank"] = value } })
      assert.is_false(ok)
      assert.matches("value of 'X-Blank' is only spaces or tabs", err, 1, true)
    end
    local status, _, body = s:request { url = fx.url .. "/echo", headers = { ["X-Empty"] = "", ["X-Pad"] = " v " } }
    assert.equals(200, status)
    assert.matches('"x-pad":"v"', body, 1, true)
    assert.matches('"x-empty":""', body, 1, true)
    s:close()
  end)

  it("a user_agent longer than 1024 bytes, or with control characters", function()
    local ok, err = pcall(core.session, { user_agent = ("u"):rep(5 * 1024 * 1024) })
    assert.is_false(ok)
    assert.matches("option 'user_agent' must be at most 1024 bytes", err, 1, true)
    for _, bad in ipairs { "a\1b", "a\27[2Jb", "a\127", "a\rb", "a\0b" } do
      ok, err = pcall(core.session, { user_agent = bad })
      assert.is_false(ok)
      assert.matches("option 'user_agent' must not contain", err, 1, true)
    end
    local s = core.session { user_agent = ("u"):rep(1024) .. "" }
    local status = s:request { url = fx.url .. "/echo" }
    assert.equals(200, status)
    s:close()
    assert.is_truthy(core.session { user_agent = "tool/1.0 (tab\tok; caf\195\169)" })
  end)
end)

describe("a token captured from a response that fills max_response_size", function()
  local reply
  setup(function() reply = helper.start_http_fixture("reply") end)
  teardown(function() reply.stop() end)

  it("is still captured, never left in the body", function()
    for _, value in ipairs { "tok", "a", "0123456789" } do -- each shorter than "<captured>"
      local head = '{"access_token":"' .. value .. '","pad":"'
      local size = 4096
      local body = head .. ("p"):rep(size - #head - 2) .. '"}'
      assert.equals(size, #body)
      local s = core.session { max_response_size = size }
      local status, _, text, info = s:request { method = "POST", url = reply.url .. "/200", body = body,
        capture = "access_token" }
      assert.equals(200, status)
      assert.equals(core.type(info.captured), "secret")
      assert.is_nil(text:find(value .. '"', 1, true))
      assert.matches('"access_token":"<captured>"', text, 1, true)
      s:close()
    end
  end)
end)

describe("core.json_encode", function()
  it("encodes objects wider than the Lua stack", function()
    -- 600,000 keys: two stack slots a key stopped at about 500,000 on Lua 5.4 (1,000,000 slots)
    -- and at about 4,000 on Lua 5.1 (8,000). In a child process: the text is 10 MB, and other
    -- specs measure this process's peak memory.
    local script = [[
      local core = require "flowservice.core"
      local n = 600000
      local t = {}
      for i = 1, n do t["k" .. i] = i end
      local text = assert(core.json_encode(t))
      assert(text:sub(1, 73) == '{"k1":1,"k10":10,"k100":100,"k1000":1000,"k10000":10000,"k100000":100000,',
        text:sub(1, 80))
      assert(select(2, text:gsub('"k%d+":', "")) == n)
      print("encoded " .. n)
    ]]
    local out = helper.run(("%s -e %s"):format(helper.LUA, helper.shell_quote(
      ("package.cpath = %q .. ';' .. package.cpath\n"):format(helper.CPATH) .. script)))
    assert.matches("encoded 600000", out)
  end)

  it("reports a bad value in a wide object with its path", function()
    local t = {}
    for i = 1, 20000 do t["k" .. i] = i end
    t.k777 = function() end
    local text, err = core.json_encode { outer = t }
    assert.is_nil(text)
    assert.equals("cannot encode a function at $.outer.k777", err)
  end)
end)
