-- flowservice.core sessions against real server processes (spec/fixtures/http_server.lua),
-- each bound to a port the OS picks.
local core = require "flowservice.core"
local helper = require "helper"
local socket = require "socket"
local cjson = require "cjson"
local math_type = require("flowservice.compat").math_type -- math.type, or the 2^53 rule

local SECRET = "SENTINEL-token-4b1d"

local start_fixture = helper.start_http_fixture

local function count(s, url)
  local status, _, body = s:request { url = url .. "/count" }
  assert.equal(200, status)
  return tonumber(body)
end

local function echo(s, req)
  local status, headers, body, info = s:request(req)
  assert.equal(200, status, tostring(headers))
  return cjson.decode(body), headers, info
end

describe("flowservice.core", function()
  describe("module", function()
    it("exposes version, curl_version and features", function()
      assert.matches("^%d+%.%d+%.%d+", core.version)
      assert.matches("^libcurl/%d", core.curl_version)
      for _, k in ipairs { "ssl", "asynchdns", "http2", "threadsafe" } do
        assert.is_boolean(core.features[k])
      end
      assert.is_function(core.session)
      assert.is_function(core.json_encode)
    end)

    it("monotonic() counts seconds with sub-second resolution and never goes back", function()
      local t0 = core.monotonic()
      assert.equals("float", math_type(t0))
      socket.sleep(0.05)
      local t1 = core.monotonic()
      assert.truthy(t1 - t0 >= 0.04 and t1 - t0 < 5)
    end)

    it("sleep() blocks for the given seconds and refuses negative or huge values", function()
      local t0 = core.monotonic()
      core.sleep(0.06)
      core.sleep(0)
      local slept = core.monotonic() - t0
      assert.truthy(slept >= 0.06 and slept < 2, slept)
      local RANGE = "bad argument #1 to 'sleep' (expected seconds between 0 and 86400)"
      assert.has_error(function() core.sleep(-1) end, RANGE)
      assert.has_error(function() core.sleep(86401) end, RANGE)
      assert.has_error(function() core.sleep("x") end, "bad argument #1 to 'sleep' (number expected, got string)")
    end)

    it("type() tells sessions, closed sessions and other values apart", function()
      local s = core.session()
      assert.equal("session", core.type(s))
      s:close()
      assert.equal("closed session", core.type(s))
      assert.is_nil(core.type({}))
      assert.is_nil(core.type(io.stdout))
      assert.is_nil(core.type(nil))
    end)
  end)

  describe("session options", function()
    it("accept the whitelisted options", function()
      local s = core.session { connect_timeout = 0.5, timeout = 2, max_response_size = 1024,
        user_agent = "spec/1", ca_file = "/etc/ssl/certs/ca-certificates.crt", ca_path = "/etc/ssl/certs",
        ca_blob = "-----BEGIN CERTIFICATE-----\n", low_speed_limit = 10, low_speed_time = 5,
        proxy = "http://127.0.0.1:3128" }
      assert.equal("session", core.type(s))
      s:close()
      core.session():close()
      core.session(nil):close()
      core.session({ proxy = "" }):close()
      core.session({ proxy = "HTTPS://proxy.example:8443" }):close()
    end)

    it("refuse unknown names, naming the typo and the valid names", function()
      local ok, err = pcall(core.session, { timout = 5 })
      assert.is_false(ok)
      assert.matches("unknown option 'timout'", err, 1, true)
      assert.matches("ca_blob, ca_file, ca_path, connect_timeout, low_speed_limit, low_speed_time, "
        .. "max_response_size, proxy, timeout, user_agent", err, 1, true)
      assert.has_error(function() core.session { [1] = true } end,
        "bad argument #1 to 'session' (option names must be strings, got a number key)")
    end)

    it("refuse wrong types and ranges, naming the option", function()
      local bad = {
        { connect_timeout = "5" }, { connect_timeout = 0 }, { connect_timeout = -1 },
        { connect_timeout = 0 / 0 }, { connect_timeout = math.huge }, { timeout = true },
        { timeout = 0 }, { timeout = 1e12 }, { max_response_size = 0 },
        { max_response_size = -1 }, { max_response_size = 1.5 }, { max_response_size = "10" },
        { user_agent = 5 }, { user_agent = "a\r\nX-Injected: 1" }, { user_agent = "a\0b" },
        { ca_file = 5 }, { ca_file = "" }, { ca_file = "/etc/ssl\0x" }, { ca_path = true },
        { ca_path = "" }, { ca_path = "/etc\0x" }, { ca_blob = 5 }, { ca_blob = "" },
        { low_speed_limit = 0 }, { low_speed_limit = 1.5 }, { low_speed_limit = "1" },
        { low_speed_limit = -1 }, { low_speed_time = 0 }, { low_speed_time = 0.5 },
        { low_speed_time = 1e12 }, { proxy = 5 }, { proxy = "socks5://127.0.0.1:1" },
        { proxy = "127.0.0.1:3128" }, { proxy = "http://" }, { proxy = "http://a b" },
        { proxy = "http://a\r\nb" }, { proxy = "http://a\0b" },
      }
      for _, opts in ipairs(bad) do
        local name = next(opts)
        local ok, err = pcall(core.session, opts)
        assert.is_false(ok, name)
        assert.matches("'" .. name .. "'", err, 1, true)
      end
      assert.has_error(function() core.session(5) end, "bad argument #1 to 'session' (table expected, got number)")
      assert.has_error(function() core.session("timeout=1") end,
        "bad argument #1 to 'session' (table expected, got string)")
    end)
  end)

  describe("lifecycle", function()
    it("shows its state in tostring", function()
      local s = core.session()
      assert.matches("^flowservice%.core%.session %(0x%x+%)$", tostring(s))
      s:close()
      assert.equal("flowservice.core.session (closed)", tostring(s))
    end)

    it("close, __close and __gc are idempotent", function()
      local s = core.session()
      s:close()
      s:close()
      local kept = core.session()
      if helper.HAS_CLOSE then
        helper.in_close_scope(kept, function(t) assert.equal("session", core.type(t)) end)
      else
        getmetatable(kept).__close(kept) -- what leaving the scope does on 5.4
      end
      assert.equal("closed session", core.type(kept))
      kept:close()
      getmetatable(kept).__gc(kept)
      for _ = 1, 50 do core.session() end
      s, kept = nil, nil -- luacheck: ignore (dropped so the collector finalizes them)
      collectgarbage()
      collectgarbage()
    end)

    it("methods on a closed session raise", function()
      local s = core.session()
      s:close()
      local ok, err = pcall(s.request, s, { url = "http://127.0.0.1:1/" })
      assert.is_false(ok)
      assert.matches("attempt to use a closed session", err, 1, true)
    end)

    it("keeps methods apart from metamethods", function()
      local mt = getmetatable(core.session())
      assert.is_table(mt.__index)
      assert.is_function(mt.__index.request)
      assert.is_function(mt.__index.close)
      assert.is_nil(mt.__index.__gc)
      assert.equal("flowservice.core.session", mt.__name)
    end)
  end)

  describe("against a local server", function()
    local fx, url

    setup(function()
      fx = start_fixture("http")
      url = fx.url
    end)

    teardown(function() fx.stop() end)

    it("returns status, lower-cased headers, body and info", function()
      local s = core.session()
      local status, headers, body, info = s:request { url = url .. "/headers" }
      assert.equal(200, status)
      assert.equal("ok", body)
      assert.equal("Value", headers["x-mixed-case"])
      assert.equal("one, two", headers["x-repeat"])
      assert.equal("", headers["x-empty"])
      assert.equal("padded", headers["x-spaces"])
      assert.equal("2", headers["content-length"])
      for k in pairs(headers) do assert.equal(k:lower(), k) end
      assert.equal(1, info.connects)
      assert.equal("float", math_type(info.total_time))
      assert.is_true(info.total_time >= 0)
      s:close()
    end)

    it("asks for compressed bodies and decodes a gzip one", function()
      local s = core.session()
      local status, headers, body = s:request { url = url .. "/gzip" }
      assert.equal(200, status)
      assert.equal("gzip", headers["content-encoding"])
      assert.equal('{"compressed":true}', body)
      local _, _, echoed = s:request { url = url .. "/echo" }
      assert.matches("gzip", require("cjson").decode(echoed).headers["accept-encoding"])
      s:close()
    end)

    it("returns 4xx/5xx statuses as data and an empty body as ''", function()
      local s = core.session()
      local status, _, body = s:request { url = url .. "/status/404" }
      assert.equal(404, status)
      assert.equal("status 404", body)
      status, _, body = s:request { url = url .. "/status/500" }
      assert.equal(500, status)
      assert.equal("status 500", body)
      status, _, body = s:request { url = url .. "/status/204" }
      assert.equal(204, status)
      assert.equal("", body)
    end)

    it("reuses the connection (keep-alive)", function()
      local s = core.session()
      local _, _, info = echo(s, { url = url .. "/echo" })
      assert.equal(1, info.connects)
      _, _, info = echo(s, { url = url .. "/echo" })
      assert.equal(0, info.connects)
      _, _, info = echo(s, { method = "POST", url = url .. "/echo", body = "x" })
      assert.equal(0, info.connects)
      -- the server closes: the next request has to reconnect
      local status = s:request { url = url .. "/close" }
      assert.equal(200, status)
      _, _, info = echo(s, { url = url .. "/echo" })
      assert.equal(1, info.connects)
      s:close()
    end)

    it("discards interim 1xx responses", function()
      local s = core.session()
      local status, headers, body = s:request { url = url .. "/continue" }
      assert.equal(200, status)
      assert.equal("final", body)
      assert.equal("yes", headers["x-final"])
      assert.is_nil(headers["x-interim"])
    end)

    it("unfolds obsolete line folding into one value", function()
      local s = core.session()
      local status, headers = s:request { url = url .. "/folded" }
      assert.equal(200, status)
      assert.equal("first second third", headers["x-folded"])
    end)

    it("does not follow redirects", function()
      local s = core.session()
      local status, headers, body = s:request { url = url .. "/redirect", headers = { Authorization = SECRET } }
      assert.equal(302, status)
      assert.equal("/echo", headers.location)
      assert.equal("moved", body)
    end)

    it("sends method, headers and body; nothing carries over to the next request", function()
      local s = core.session()
      local e = echo(s, { method = "POST", url = url .. "/echo", body = '{"a":1}',
        headers = { ["Content-Type"] = "application/json", ["X-Api-Key"] = "k", ["X-Empty"] = "" } })
      assert.equal("POST", e.method)
      assert.equal('{"a":1}', e.body)
      assert.equal("application/json", e.headers["content-type"])
      assert.equal("k", e.headers["x-api-key"])
      assert.equal("", e.headers["x-empty"])
      assert.equal("flowservice/" .. core.version, e.headers["user-agent"])

      e = echo(s, { url = url .. "/echo" })
      assert.equal("GET", e.method)
      assert.equal("", e.body)
      assert.is_nil(e.headers["content-length"])
      assert.is_nil(e.headers["content-type"])
      assert.is_nil(e.headers["x-api-key"])

      local status, _, body = s:request { method = "HEAD", url = url .. "/echo" }
      assert.equal(200, status)
      assert.equal("", body)

      e = echo(s, { method = "GET", url = url .. "/echo" })
      assert.equal("GET", e.method)

      e = echo(s, { method = "PUT", url = url .. "/echo", body = "put-body" })
      assert.equal("PUT", e.method)
      assert.equal("put-body", e.body)

      e = echo(s, { method = "DELETE", url = url .. "/echo" })
      assert.equal("DELETE", e.method)
      assert.equal("", e.body)
      assert.is_nil(e.headers["content-length"])

      e = echo(s, { method = "PATCH", url = url .. "/echo" })
      assert.equal("PATCH", e.method)
      assert.equal("0", e.headers["content-length"])

      e = echo(s, { method = "DELETE", url = url .. "/echo", body = "del" })
      assert.equal("DELETE", e.method)
      assert.equal("del", e.body)

      e = echo(s, { url = url .. "/echo" })
      assert.equal("GET", e.method)
      assert.equal("", e.body)
      s:close()
    end)

    it("starts every request clean, whatever came before (all method pairs)", function()
      local s = core.session()
      local with_body = { POST = true, PUT = true, PATCH = true, DELETE = true }
      local methods = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD" }
      local function run(m, tag)
        local req = { method = m, url = url .. "/echo",
          headers = { ["X-Tag"] = tag, ["Content-Type"] = m == "PUT" and "text/plain" or nil } }
        if with_body[m] then req.body = "body-" .. tag end
        local status, headers, body = s:request(req)
        assert.equal(200, status)
        if m == "HEAD" then
          assert.equal("", body)
          assert.is_string(headers["content-length"])
          return
        end
        local e = cjson.decode(body)
        assert.equal(m, e.method)
        assert.equal(tag, e.headers["x-tag"])
        assert.equal(req.body or "", e.body)
        assert.equal(req.body and tostring(#req.body) or nil, e.headers["content-length"])
        assert.equal(m == "PUT" and "text/plain" or nil, e.headers["content-type"])
      end
      for _, a in ipairs(methods) do
        for _, b in ipairs(methods) do
          run(a, a .. "-then-" .. b)
          run(b, b .. "-after-" .. a)
        end
      end
      s:close()
    end)

    it("adds no form Content-Type or Expect of its own, and sends bodies byte for byte", function()
      local s = core.session { user_agent = "custom-agent/2" }
      local body = "a\0b" .. string.rep("z", 2 * 1024 * 1024)
      local e = echo(s, { method = "POST", url = url .. "/echo", body = body })
      assert.is_nil(e.headers["content-type"])
      assert.is_nil(e.headers["expect"])
      assert.equal(tostring(#body), e.headers["content-length"])
      assert.equal(body, e.body)
      assert.equal("custom-agent/2", e.headers["user-agent"])
    end)

    it("refuses a body with GET and HEAD", function()
      local s = core.session()
      assert.has_error(function() s:request { url = url .. "/echo", body = "x" } end,
        "bad argument #1 to 'request' (field 'body' is not allowed with GET)")
      assert.has_error(function() s:request { method = "HEAD", url = url .. "/echo", body = "" } end,
        "bad argument #1 to 'request' (field 'body' is not allowed with HEAD)")
    end)

    it("refuses header injection and bad names before anything is sent", function()
      local s = core.session()
      local before = count(s, url)
      local bad = {
        { ["X-Token"] = SECRET .. "\r\nX-Injected: yes" },
        { ["X-Token"] = SECRET .. "\nX-Injected: yes" },
        { ["X-Token"] = SECRET .. "\rX" },
        { ["X-Token"] = SECRET .. "\0" },
        { Authorization = "Bearer " .. SECRET .. "\r\n" },
        { ["X-Injected: yes\r\nX-Token"] = SECRET },
        { ["Bad Name"] = SECRET },
        { ["Bad:Name"] = SECRET },
        { ["Bad\0Name"] = SECRET },
        { [""] = SECRET },
        { ["Naïve"] = SECRET },
        { ["X-Number"] = 5 },
        { [1] = SECRET },
      }
      for i, headers in ipairs(bad) do
        local ok, err = pcall(s.request, s, { method = "POST", url = url .. "/echo", headers = headers, body = "b" })
        assert.is_false(ok, "case " .. i)
        assert.matches("field 'headers'", err, 1, true)
        assert.is_nil(err:find(SECRET, 1, true), "error shows a header value: " .. err)
      end
      -- one more request (the count itself) and nothing else reached the server
      assert.equal(before + 1, count(s, url))
    end)

    it("refuses bad request tables before anything is sent", function()
      local s = core.session()
      local before = count(s, url)
      local METHODS = "field 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got "
      local URL_BYTES = "field 'url' must not contain spaces or control characters"
      local bad = { -- request, the reason in the error
        { { url = url .. "/echo", method = "FETCH" }, METHODS .. "'FETCH'" },
        { { url = url .. "/echo", method = "get" }, METHODS .. "'get'" },
        { { url = url .. "/echo", method = 1 }, "field 'method' must be a string, got number" },
        { { url = 5 }, "field 'url' must be a string, got number" },
        { {}, "field 'url' must be a string, got nil" },
        { { url = url .. "/echo x" }, URL_BYTES },
        { { url = url .. "/echo\r\nX: y" }, URL_BYTES },
        { { url = url .. "/echo\0" }, URL_BYTES },
        { { url = url .. "/echo", headers = "X: y" }, "field 'headers' must be a table, got string" },
        { { url = url .. "/echo", method = "POST", body = 5 },
          "field 'body' must be a string or a list of strings and secrets, got number" },
        { { url = url .. "/echo", bodyy = "x" },
          "unknown field 'bodyy' (valid: body, capture, headers, method, resend, timeout, url)" },
      }
      for _, case in ipairs(bad) do
        assert.has_error(function() s:request(case[1]) end, "bad argument #1 to 'request' (" .. case[2] .. ")")
      end
      local ok, err = pcall(s.request, s, { url = url, bodyy = "x" })
      assert.is_false(ok)
      assert.matches("unknown field 'bodyy'", err, 1, true)
      assert.has_error(function() s:request() end, "bad argument #1 to 'request' (table expected, got no value)")
      assert.has_error(function() s:request(url) end, "bad argument #1 to 'request' (table expected, got string)")
      assert.equal(before + 1, count(s, url))
    end)

    it("stops a chunked body larger than max_response_size", function()
      local s = core.session { max_response_size = 64 * 1024 }
      local status, msg, name = s:request { url = url .. "/chunked/" .. 8 * 1024 * 1024 }
      assert.is_nil(status)
      assert.equal("CURLE_FILESIZE_EXCEEDED", name)
      assert.equal("CURLE_FILESIZE_EXCEEDED: response body larger than 65536 bytes", msg)
      -- exactly at the limit is fine; the session stays usable
      local st, _, body = s:request { url = url .. "/chunked/65536" }
      assert.equal(200, st)
      assert.equal(65536, #body)
      assert.is_nil((s:request { url = url .. "/chunked/65537" }))
      st, _, body = s:request { url = url .. "/length/65536" }
      assert.equal(200, st)
      assert.equal(65536, #body)
    end)

    it("stops a Content-Length body larger than max_response_size", function()
      local s = core.session { max_response_size = 1000 }
      local status, msg, name = s:request { url = url .. "/length/1001" }
      assert.is_nil(status)
      assert.equal("CURLE_FILESIZE_EXCEEDED", name)
      assert.equal("CURLE_FILESIZE_EXCEEDED: response body larger than 1000 bytes", msg)
    end)

    it("caps the number and size of response headers", function()
      local s = core.session()
      local status, headers = s:request { url = url .. "/many-headers/90" }
      assert.equal(200, status)
      assert.equal("v", headers["x-h90"])
      local st, msg, name = s:request { url = url .. "/many-headers/150" }
      assert.is_nil(st)
      assert.equal("CURLE_FILESIZE_EXCEEDED", name)
      assert.matches("response headers larger than 100 fields or 65536 bytes", msg, 1, true)
      st, msg, name = s:request { url = url .. "/big-headers/20" }
      assert.is_nil(st)
      assert.equal("CURLE_FILESIZE_EXCEEDED", name)
      assert.matches("response headers larger than", msg, 1, true)
      assert.equal(200, (s:request { url = url .. "/echo" }))
    end)
  end)

  describe("transport errors", function()
    it("name connection refused CURLE_COULDNT_CONNECT, without header values", function()
      local s = core.session()
      local status, msg, name = s:request { url = "http://127.0.0.1:" .. helper.closed_port() .. "/",
        headers = { Authorization = "Bearer " .. SECRET } }
      assert.is_nil(status)
      assert.equal("CURLE_COULDNT_CONNECT", name)
      assert.matches("^CURLE_COULDNT_CONNECT: ", msg)
      assert.is_nil(msg:find(SECRET, 1, true))
    end)

    it("refuse protocols other than http and https", function()
      local s = core.session()
      for _, u in ipairs { "ftp://127.0.0.1:1/", "file:///etc/passwd", "gopher://127.0.0.1:1/" } do
        local status, msg, name = s:request { url = u }
        assert.is_nil(status)
        assert.equal("CURLE_UNSUPPORTED_PROTOCOL", name)
        assert.matches("^CURLE_UNSUPPORTED_PROTOCOL: ", msg)
      end
    end)

    it("time out on a server that never answers", function()
      local fx = start_fixture("blackhole")
      finally(fx.stop)
      local s = core.session { timeout = 1 }
      local t0 = socket.gettime()
      local status, msg, name = s:request { url = fx.url .. "/" }
      local elapsed = socket.gettime() - t0
      assert.is_nil(status)
      assert.equal("CURLE_OPERATION_TIMEDOUT", name)
      assert.matches("^CURLE_OPERATION_TIMEDOUT: ", msg)
      assert.is_true(elapsed >= 0.9 and elapsed < 2.5, "elapsed " .. elapsed)
    end)
  end)
  describe("TLS trust options", function()
    local dir, tls, pem

    -- A throwaway self-signed certificate for 127.0.0.1 (its own CA), served by
    -- `openssl s_server -www` on a port the OS picks.
    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. helper.shell_quote(dir .. "/cadir")))
      local out, ok = helper.run(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem "
        .. "-out ca.pem -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
        .. "&& cp ca.pem cadir/ && openssl rehash cadir"):format(helper.shell_quote(dir)))
      assert(ok, out)
      pem = helper.read_file(dir .. "/ca.pem")
      tls = helper.spawn(("openssl s_server -accept 127.0.0.1:0 -no_dhe -www -cert %s -key %s 2>/dev/null")
        :format(helper.shell_quote(dir .. "/ca.pem"), helper.shell_quote(dir .. "/key.pem")))
      local port = assert(tls.first_line:match("^ACCEPT 127%.0%.0%.1:(%d+)$"), tls.first_line)
      tls.url = "https://127.0.0.1:" .. port .. "/"
    end)

    teardown(function()
      if tls then tls.stop() end
      if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
    end)

    it("do not trust a certificate outside the default bundle", function()
      local status, msg, name = core.session():request { url = tls.url }
      assert.is_nil(status, msg)
      assert.equal("CURLE_PEER_FAILED_VERIFICATION", name)
    end)

    it("trust it from ca_file, ca_path or ca_blob", function()
      for _, opts in ipairs { { ca_file = dir .. "/ca.pem" }, { ca_path = dir .. "/cadir" }, { ca_blob = pem } } do
        local status, msg = core.session(opts):request { url = tls.url }
        assert.equal(200, status, tostring(next(opts)) .. ": " .. tostring(msg))
      end
    end)

    it("still verify the host name with a trusted CA", function()
      local by_name = tls.url:gsub("127%.0%.0%.1", "localhost")
      local status, _, name = core.session({ ca_blob = pem }):request { url = by_name }
      assert.is_nil(status)
      assert.equal("CURLE_PEER_FAILED_VERIFICATION", name)
    end)

    it("fail the request when ca_file cannot be read", function()
      local status, _, name = core.session({ ca_file = dir .. "/missing.pem" }):request { url = tls.url }
      assert.is_nil(status)
      assert.equal("CURLE_SSL_CACERT_BADFILE", name)
    end)
  end)

  describe("proxy", function()
    local fx
    setup(function() fx = start_fixture("http") end)
    teardown(function() fx.stop() end)

    -- In a child process whose environment names a proxy on a closed port: prints the
    -- status of one request to the fixture server, or the failure name.
    local function request_with_proxy_env(session_opts)
      local closed = "http://127.0.0.1:" .. helper.closed_port()
      local script = ([[
        local core = require "flowservice.core"
        local status, _, name = core.session(%s):request { url = %q }
        io.write(tostring(status or name))]]):format(session_opts, fx.url .. "/echo")
      return helper.run(("env http_proxy=%s HTTPS_PROXY=%s ALL_PROXY=%s all_proxy=%s LUA_CPATH='%s;;' "
        .. "%s -e %s"):format(closed, closed, closed, closed, helper.CPATH, helper.LUA, helper.shell_quote(script)))
    end

    it("by default ignores http_proxy and all_proxy from the environment", function()
      local out, ok = request_with_proxy_env("")
      assert.is_true(ok, out)
      assert.equal("200", out)
    end)

    it("uses the proxy given as an option (here a closed port, so the request fails)", function()
      local out, ok = request_with_proxy_env(("{ proxy = %q }"):format("http://127.0.0.1:" .. helper.closed_port()))
      assert.is_true(ok, out)
      assert.equal("CURLE_COULDNT_CONNECT", out)
    end)
  end)

  describe("low-speed limit", function()
    it("ends a transfer from a server that sends one byte a second within low_speed_time + 1 s", function()
      local fx = start_fixture("drip")
      finally(fx.stop)
      local s = core.session { low_speed_limit = 100, low_speed_time = 2, timeout = 30 }
      local t0 = socket.gettime()
      local status, msg, name = s:request { url = fx.url .. "/" }
      local elapsed = socket.gettime() - t0
      assert.is_nil(status)
      assert.equal("CURLE_OPERATION_TIMEDOUT", name, msg)
      assert.is_true(elapsed >= 1.5 and elapsed < 3, "elapsed " .. elapsed)
    end)
  end)
end)
