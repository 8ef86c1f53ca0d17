-- A raw HTTP/1.1 client over luasocket for driving the emulator in specs, without the C core or
-- libcurl: what the bytes on the wire look like is under the spec's control.
local assert = require "luassert"
local helper = require "spec.helper"
local socket = require "socket"
local cjson = require("cjson.safe").new()

local rawhttp = {}

---------------------------------------------------------------------------------------------------
-- Raw HTTP client
---------------------------------------------------------------------------------------------------

local function host_port(emu)
  local host, port = emu.url:match("^http://([^:/]+):(%d+)$")
  return host, tonumber(port)
end

local function connect(emu)
  local sock = assert(socket.tcp())
  sock:settimeout(10)
  assert(sock:connect(host_port(emu)))
  sock:setoption("tcp-nodelay", true)
  return sock
end

-- headers: list of {name, value} (order kept, repeats allowed) or a map name -> value.
local function header_list(headers)
  if headers == nil then return {} end
  if headers[1] ~= nil or next(headers) == nil then return headers end
  local list = {}
  for name, value in pairs(headers) do list[#list + 1] = { name, value } end
  return list
end

-- The bytes of a request; adds Host, and Content-Length when there is a body and no framing.
local function build_request(method, target, headers, body)
  local lines = { method .. " " .. target .. " HTTP/1.1" }
  local framed, host = false, false
  for _, h in ipairs(header_list(headers)) do
    lines[#lines + 1] = h[1] .. ": " .. h[2]
    local name = h[1]:lower()
    if name == "content-length" or name == "transfer-encoding" then framed = true end
    if name == "host" then host = true end
  end
  if not host then table.insert(lines, 2, "Host: 127.0.0.1") end
  if body and not framed then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- Reads one response (interim 1xx responses are returned as such, not skipped).
local function read_response(sock)
  local status_line = assert(sock:receive("*l"))
  local status = tonumber(status_line:match("^HTTP/1%.1 (%d%d%d) "))
  assert(status, "bad status line: " .. status_line)
  local headers = {}
  while true do
    local line = assert(sock:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    headers[name:lower()] = value
  end
  local body = ""
  if status >= 200 and status ~= 204 then
    local length = tonumber(headers["content-length"])
    assert(length, "response without Content-Length")
    if length > 0 then body = assert(sock:receive(length)) end
  end
  return { status = status, headers = headers, body = body, json = cjson.decode(body) }
end

-- One request on a fresh connection.
local function request(emu, method, target, headers, body)
  local sock = connect(emu)
  assert(sock:send(build_request(method, target, headers, body)))
  local res = read_response(sock)
  sock:close()
  return res
end

local function form(params)
  local parts = {}
  for _, p in ipairs(params) do
    parts[#parts + 1] = p[1] .. "=" .. p[2]:gsub("[^%w%-%._~]", function(c)
      return ("%%%02X"):format(c:byte())
    end)
  end
  return table.concat(parts, "&")
end

local FORM = { { "Content-Type", "application/x-www-form-urlencoded" } }

local function token_params(overrides)
  local values = {
    grant_type = "client_credentials", client_id = helper.CLIENT_ID,
    client_secret = helper.CLIENT_SECRET, scope = "openid,AdobeID,read_organizations",
  }
  for k, v in pairs(overrides or {}) do values[k] = v end
  local list = {}
  for _, name in ipairs { "grant_type", "client_id", "client_secret", "scope" } do
    if values[name] then list[#list + 1] = { name, values[name] } end
  end
  return form(list)
end

local function get_token(emu)
  local res = request(emu, "POST", "/ims/token/v3", FORM, token_params())
  assert.are.equal(200, res.status)
  return res.json.access_token
end

-- The four Platform headers; overrides: name -> value, or false to leave a header out.
local function platform_headers(token, overrides)
  local values = {
    ["Authorization"] = "Bearer " .. token, ["x-api-key"] = helper.CLIENT_ID,
    ["x-gw-ims-org-id"] = helper.ORG_ID, ["x-sandbox-name"] = "prod",
  }
  for k, v in pairs(overrides or {}) do values[k] = v or nil end
  local list, platform = {}, { "Authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name" }
  for _, name in ipairs(platform) do
    if values[name] then list[#list + 1] = { name, values[name] } end
    values[name] = nil
  end
  local extra = {}                       -- any other override (If-Match, ...), in a stable order
  for name in pairs(values) do extra[#extra + 1] = name end
  table.sort(extra)
  for _, name in ipairs(extra) do list[#list + 1] = { name, values[name] } end
  return list
end

local function with_json(headers)
  for _, h in ipairs(headers) do
    if h[1]:lower() == "content-type" then return headers end
  end
  headers[#headers + 1] = { "Content-Type", "application/json" }
  return headers
end

local function assert_gateway_error(res, status, code, message)
  assert.are.equal(status, res.status)
  assert.are.equal("application/json", res.headers["content-type"])
  assert.are.same({ error_code = code, message = message }, res.json)
end

local function assert_flow_problem(res, status, code)
  assert.are.equal(status, res.status)
  local p = res.json
  -- code: "1439" (a Flow Service code) or a prefixed one such as "CONNECTOR-1360"
  local prefixed = tostring(code):find("%a") and tostring(code) or "FLOW-" .. code
  assert.are.equal(("https://ns.adobe.com/aep/errors/%s-%d"):format(prefixed, status), p.type)
  assert.are.equal(status, p.status)
  assert.is_string(p.title)
  assert.is_string(p.errorMessage)
  assert.is_string(p.report["detailed-message"])
  assert.are.equal(res.headers["x-request-id"], p.report["request-id"])
  assert.matches('"status":' .. status .. '[,}]', res.body)   -- an exact integer
end


-- A ready-made caller for Flow Service routes: fetches one token, then
-- api.call(method, path_relative_to_flowservice_base, body_table_or_string, header_overrides)
-- returns {status, headers, body, json}. A table body is JSON-encoded and sent with
-- Content-Type: application/json.
function rawhttp.api(emu, sandbox)
  local token = get_token(emu)
  local api = { token = token }
  function api.call(method, path, body, overrides)
    local headers = platform_headers(token, overrides)
    if sandbox and not (overrides and overrides["x-sandbox-name"] ~= nil) then
      for _, h in ipairs(headers) do
        if h[1] == "x-sandbox-name" then h[2] = sandbox end
      end
    end
    if type(body) == "table" then body = assert(cjson.encode(body)) end
    if body then with_json(headers) end
    return request(emu, method, rawhttp.BASE .. path, headers, body)
  end
  return api
end

-- Sends one request on a fresh connection and reads until the server closes it (or `timeout`
-- seconds, default 10, pass): returns every byte received and how the read ended ("closed" or
-- "timeout"). Adds `Connection: close` so a complete response ends the connection too.
function rawhttp.exchange(emu, method, target, headers, body, timeout)
  local list = {}
  for i, h in ipairs(header_list(headers)) do list[i] = h end
  list[#list + 1] = { "Connection", "close" }
  local sock = connect(emu)
  sock:settimeout(timeout or 10)
  assert(sock:send(build_request(method, target, list, body)))
  local data, err, partial = sock:receive("*a")
  sock:close()
  return data or partial, data and "closed" or err
end

-- Raw HTTP calls to the emulator's admin endpoints (/_emulator/...). Each function returns the
-- decoded JSON answer and raises when the status is not 200:
--   set_faults(config)  PUT: config {seed?, rules}, or a bare list of rules; replaces and reseeds
--   add_faults(rules)   POST: appends rules
--   clear_faults()      DELETE: removes every rule
--   faults()            GET: {seed, rules = [{...rule..., matched, fired}]}
--   reset()             POST /_emulator/reset: clears all state, tokens, rules, statistics
--   stats()             GET /_emulator/stats: {requests, by_route, faults_fired, throttled, early}
--   set_ratelimit(config) PUT /_emulator/ratelimit {rate, burst?, per?, retry_after?}
--   clear_ratelimit()   DELETE /_emulator/ratelimit
--   ratelimit()         GET /_emulator/ratelimit
function rawhttp.admin(emu)
  local function call(method, path, value)
    local body = value ~= nil and assert(cjson.encode(value)) or nil
    -- the admin endpoints want JSON on every request that changes something (also without a body)
    local headers = method ~= "GET" and { { "Content-Type", "application/json" } } or nil
    local res = request(emu, method, "/_emulator" .. path, headers, body)
    if res.status ~= 200 then
      error(("%s /_emulator%s answered %d: %s"):format(method, path, res.status, res.body), 2)
    end
    return res.json
  end
  return {
    set_faults = function(config)
      if config[1] ~= nil then config = { rules = config } end
      return call("PUT", "/faults", config)
    end,
    add_faults = function(rules) return call("POST", "/faults", { rules = rules }) end,
    clear_faults = function() return call("DELETE", "/faults") end,
    faults = function() return call("GET", "/faults") end,
    reset = function() return call("POST", "/reset") end,
    stats = function() return call("GET", "/stats") end,
    set_ratelimit = function(config) return call("PUT", "/ratelimit", config) end,
    clear_ratelimit = function() return call("DELETE", "/ratelimit") end,
    ratelimit = function() return call("GET", "/ratelimit") end,
  }
end

rawhttp.BASE = "/data/foundation/flowservice"
rawhttp.connect, rawhttp.build_request, rawhttp.read_response = connect, build_request, read_response
rawhttp.request, rawhttp.form, rawhttp.FORM, rawhttp.token_params = request, form, FORM, token_params
rawhttp.get_token, rawhttp.platform_headers, rawhttp.with_json = get_token, platform_headers, with_json
rawhttp.assert_gateway_error, rawhttp.assert_flow_problem = assert_gateway_error, assert_flow_problem
rawhttp.cjson = cjson

return rawhttp
