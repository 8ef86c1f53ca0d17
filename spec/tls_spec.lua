-- TLS through the public client against the emulator serving HTTPS (bin/flowservice-emulator
-- --tls-cert/--tls-key) with throwaway certificates (spec/helper.lua make_certs): the CA can be
-- given as a file, a directory or PEM text; an untrusted (self-signed) certificate, a certificate
-- for another name and a plain http:// URL that is not loopback are each refused before any
-- credential is sent. The emulator keeps serving through stalled or failed handshakes.
local helper = require "spec.helper"
local flowservice = require "flowservice"
local rawhttp = require "spec.rawhttp"
local socket = require "socket"

local OSC_SPEC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"

-- Access-log lines of requests (method and path); a failed handshake logs "- TLS handshake ...".
local function request_lines(log)
  local lines = {}
  for line in log:gmatch("[^\n]+") do
    if line:match("^%S+ %u+ /") then lines[#lines + 1] = line end
  end
  return lines
end

local function handshake_failures(log)
  local n = 0
  for _ in log:gmatch("%- TLS handshake failed: [^\n]*") do n = n + 1 end
  return n
end

-- The emulator logs a failed handshake when it sees the client's alert or close, which may be
-- just after the client has returned: wait for it a little.
local function wait_for_handshake_failures(emu, n)
  local deadline = socket.gettime() + 5
  while handshake_failures(emu.log()) < n and socket.gettime() < deadline do socket.sleep(0.05) end
  return handshake_failures(emu.log())
end

describe("TLS", function()
  local certs, emu, wrong_emu, self_emu

  lazy_setup(function()
    certs = helper.make_certs()
    emu = helper.start_emulator { tls = { cert = certs.cert, key = certs.key } }
    wrong_emu = helper.start_emulator { tls = { cert = certs.wrong_cert, key = certs.wrong_key } }
    self_emu = helper.start_emulator { tls = { cert = certs.self_cert, key = certs.self_key } }
  end)

  lazy_teardown(function()
    for _, e in ipairs { emu, wrong_emu, self_emu } do e.stop() end
  end)

  local function new_client(url, opts)
    local o = {
      env = false, base_url = url, ims_url = url, org_id = helper.ORG_ID,
      client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET,
    }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(flowservice.new(o))
  end

  -- A few calls (IMS token, then Flow Service) that must all succeed.
  local function assert_works(client)
    assert(client:authenticate())
    assert.are.equal(OSC_SPEC, assert(client.connection_specs:get(OSC_SPEC)).id)
    assert.is_number(assert(client.connections:count()))
    client:close()
  end

  it("prints an https URL when given a certificate", function()
    for _, e in ipairs { emu, wrong_emu, self_emu } do
      assert.matches("^https://127%.0%.0%.1:%d+$", e.url)
    end
  end)

  describe("a client that trusts the CA", function()
    it("through ca_file: TLS 1.2+ refuses nothing for a normal client", function()
      local before = #request_lines(emu.log())
      assert_works(new_client(emu.url, { ca_file = certs.ca }))
      local log = emu.log()
      assert.is_true(#request_lines(log) >= before + 3)
      assert.matches("POST /ims/token/v3 200", log, 1, true)
      assert.are.equal(0, handshake_failures(log))
    end)

    it("through ca_blob (the CA's PEM text)", function()
      assert_works(new_client(emu.url, { ca_blob = helper.read_file(certs.ca) }))
    end)

    it("through ca_path (a directory with the CA and its openssl rehash links)", function()
      local dir = certs.dir .. "/ca-dir"
      local out, ok = helper.run(("mkdir -p %s && cp %s %s/ && openssl rehash %s"):format(
        helper.shell_quote(dir), helper.shell_quote(certs.ca), helper.shell_quote(dir), helper.shell_quote(dir)))
      assert(ok, out)
      assert_works(new_client(emu.url, { ca_path = dir }))
    end)
  end)

  describe("refuses before any credential is sent", function()
    -- handshake_fails: whether the emulator sees the handshake fail. libcurl checks the chain
    -- during the handshake (the client sends an "unknown ca" alert) but the host name after it
    -- has completed, then closes the connection without sending a request.
    local function assert_refused(server, handshake_fails, why)
      local client = new_client(server.url, { ca_file = certs.ca })
      local res, err = client.connections:count()
      client:close()
      assert.is_nil(res)
      assert.are.equal("transport", err.kind)
      assert.are.equal("CURLE_PEER_FAILED_VERIFICATION", err.curl_code)
      assert.matches(why, err.message)
      assert.is_nil(tostring(err):find(helper.CLIENT_SECRET, 1, true))
      if handshake_fails then assert.is_true(wait_for_handshake_failures(server, 1) >= 1) end
      -- no request at all reached the emulator: not even the IMS token call
      socket.sleep(0.2)
      assert.are.same({}, request_lines(server.log()))
    end

    it("a self-signed certificate (not signed by the trusted CA)", function()
      assert_refused(self_emu, true, "self.signed certificate")
    end)

    it("a certificate for another name (signed by the trusted CA)", function()
      assert_refused(wrong_emu, false, "subject name")
    end)

    it("a plain http:// URL that is not loopback (validation error from flowservice.new)", function()
      for _, url in ipairs { "http://platform.example", "http://127.0.0.1.example", "http://localhost.example",
                             "HTTP://platform.example:80", "http://127.0.0.300", "http://127.999.999.999:80" } do
        for _, field in ipairs { "base_url", "ims_url" } do
          local opts = {
            env = false, base_url = "https://platform.example", ims_url = "https://ims.example",
            org_id = helper.ORG_ID, client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET,
          }
          opts[field] = url
          local client, err = flowservice.new(opts)
          assert.is_nil(client, url)
          assert.are.equal("validation", err.kind)
          assert.are.equal(field, err.field)
          assert.is_nil(tostring(err):find(helper.CLIENT_SECRET, 1, true))
        end
      end
    end)
  end)

  it("refuses a server that only speaks TLS 1.1, even where OpenSSL itself would allow it", function()
    -- Debian's OpenSSL configuration already sets TLS 1.2 as the minimum, which would hide a
    -- missing CURLOPT_SSLVERSION: both sides here run with a permissive configuration instead.
    local conf = certs.dir .. "/permissive.cnf"
    local f = assert(io.open(conf, "w"))
    f:write("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n[ssl_sect]\n",
      "system_default = system_default_sect\n[system_default_sect]\nMinProtocol = TLSv1\n",
      "CipherString = DEFAULT:@SECLEVEL=0\n")
    f:close()
    local port = helper.closed_port()
    local server = helper.spawn(("OPENSSL_CONF=%s openssl s_server -accept 127.0.0.1:%d -cert %s -key %s "
      .. "-tls1_1 -www -cipher 'DEFAULT:@SECLEVEL=0' 2>&1"):format(helper.shell_quote(conf), port,
      helper.shell_quote(certs.cert), helper.shell_quote(certs.key)))
    local deadline = socket.gettime() + 5
    while socket.gettime() < deadline do
      local probe = socket.connect("127.0.0.1", port)
      if probe then probe:close() break end
      socket.sleep(0.05)
    end
    -- control: the server is reachable with TLS 1.1 under that configuration
    local control = helper.run(("OPENSSL_CONF=%s openssl s_client -connect 127.0.0.1:%d -tls1_1 -CAfile %s "
      .. "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null"):format(helper.shell_quote(conf), port,
      helper.shell_quote(certs.ca)))
    -- the client, in a process started with the same configuration
    local script = ([[
      local flowservice = require "flowservice"
      local url = "https://127.0.0.1:%d"
      local c = assert(flowservice.new { env = false, base_url = url, ims_url = url, org_id = %q,
        access_token = "t", api_key = "k", ca_file = %q })
      local res, err = c.connections:count()
      print(res, err and err.curl_code)
    ]]):format(port, helper.ORG_ID, certs.ca)
    local out = helper.run(("OPENSSL_CONF=%s LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
      .. "LUA_CPATH='%s;;' %s -e %s"):format(helper.shell_quote(conf), helper.CPATH, helper.LUA,
      helper.shell_quote(script)))
    server.stop()
    assert.matches("Protocol%s*: TLSv1%.1", control)
    assert.matches("^nil\tCURLE_SSL_CONNECT_ERROR", out)
  end)

  describe("the emulator", function()
    -- A raw HTTP/1.1 connection over TLS (luasec), verifying the emulator's certificate.
    local function tls_connect()
      local ssl = require "ssl"
      local host, port = emu.url:match("^https://([^:]+):(%d+)$")
      local tcp = assert(socket.connect(host, tonumber(port)))
      tcp:settimeout(10)
      local conn = assert(ssl.wrap(tcp, { mode = "client", protocol = "any", verify = "peer",
        cafile = certs.ca, options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" } }))
      assert(conn:dohandshake())
      return conn
    end

    it("keeps connections alive, reads chunked bodies and enforces its limits over TLS", function()
      local conn = tls_connect()
      local body = rawhttp.token_params()
      local chunked = ("%x\r\n%s\r\n0\r\n\r\n"):format(#body, body)
      local headers = { { "Content-Type", "application/x-www-form-urlencoded" },
        { "Transfer-Encoding", "chunked" } }
      assert(conn:send(rawhttp.build_request("POST", "/ims/token/v3", headers, chunked)))
      local res = rawhttp.read_response(conn)
      assert.are.equal(200, res.status)
      assert.is_string(res.json.access_token)
      -- the same connection, again: a body over the limit is refused and the connection closed
      assert(conn:send(rawhttp.build_request("POST", "/ims/token/v3",
        { { "Content-Length", tostring(64 * 1024 * 1024) } })))
      res = rawhttp.read_response(conn)
      assert.are.equal(413, res.status)
      assert.are.equal("close", res.headers.connection)
      conn:close()
    end)

    it("keeps serving while a handshake is stalled, and after a plaintext request on its port", function()
      local host, port = emu.url:match("^https://([^:]+):(%d+)$")
      local stalled = assert(socket.connect(host, tonumber(port)))   -- sends no ClientHello
      local t0 = socket.gettime()
      assert_works(new_client(emu.url, { ca_file = certs.ca }))
      assert.is_true(socket.gettime() - t0 < 5)

      local before = handshake_failures(emu.log())
      local plain = assert(socket.connect(host, tonumber(port)))
      plain:settimeout(5)
      assert(plain:send("GET /data/foundation/flowservice/SENTINEL-plain-path HTTP/1.1\r\nHost: x\r\n\r\n"))
      plain:receive("*a")   -- the emulator closes it
      plain:close()
      assert.are.equal(before + 1, wait_for_handshake_failures(emu, before + 1))
      assert_works(new_client(emu.url, { ca_file = certs.ca }))
      stalled:close()
      assert.is_nil(emu.log():find("SENTINEL-plain-path", 1, true))
    end)
  end)
end)
