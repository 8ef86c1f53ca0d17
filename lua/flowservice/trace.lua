-- Opt-in request tracing with secrets replaced by a marker. The client calls trace.event(...)
-- for each request when the user gave `trace = function(event) ... end`; libcurl's own verbose
-- output is never turned on (it redacts nothing).
--
-- Redacted: the Authorization, Proxy-Authorization, Cookie and Set-Cookie headers and every
-- header whose name looks secret (always), x-api-key (unless the client is told the API key is
-- not secret), every IMS form field but grant_type and scope, and in JSON bodies every value
-- under auth.params, every member whose name looks secret (password, secret, token, key,
-- credential, in any case and anywhere in the name), the value of a JSON Patch operation whose
-- path reaches into auth or names such a member, and whatever lies deeper than 100 levels.
-- Header values given as pieces (strings and C secrets) show their secrets as the marker too.
local json = require "flowservice.json"
local sensitive = require "flowservice.sensitive"

local trace = {}

trace.MARKER = "[redacted]"
local MARKER = trace.MARKER

-- True when a member name looks like it holds a secret ("clientSecret", "accessToken", "apiKey").
trace.secret_name = sensitive.name

-- A JSON Patch operation's path that reaches into auth or names a secret ("/auth/params/password",
-- "/auth", "/params/apiKey"): its value must be hidden like the member it replaces.
local function secret_pointer(path)
  if type(path) ~= "string" then return false end
  if path == "/auth" or path:find("^/auth/") then return true end
  for segment in path:gmatch("[^/]+") do
    if trace.secret_name(segment) then return true end
  end
  return false
end

-- Empty arrays survive the decode and encode below (json.mark_empty_arrays): lua-cjson decodes
-- `[]` and `{}` alike, and a trace (or --dry-run) must show the bytes that are sent.
local EMPTY_ARRAY = json.EMPTY_ARRAY_MARK

local function redact_value(value, depth, under_params)
  if type(value) ~= "table" then
    if under_params then return MARKER end
    return value
  end
  if value[1] == EMPTY_ARRAY and next(value, 1) == nil then return json.array() end
  if depth > 100 then return MARKER end
  local out = setmetatable({}, getmetatable(value))
  local patch_secret = value.value ~= nil and secret_pointer(value.path)
  for k, v in pairs(value) do
    if trace.secret_name(k) or under_params or (patch_secret and k == "value") then
      out[k] = type(v) == "table" and redact_value(v, depth + 1, true) or MARKER
    elseif k == "auth" and type(v) == "table" then
      local auth = {}
      for ak, av in pairs(v) do
        auth[ak] = (ak == "params" or trace.secret_name(ak)) and redact_value(av, depth + 2, true) or av
      end
      out[k] = auth
    else
      out[k] = redact_value(v, depth + 1, false)
    end
  end
  return out
end

-- A decoded JSON value with secrets replaced (a copy; the argument is not changed).
function trace.redact(value)
  return redact_value(value, 0, false)
end

-- JSON body text -> redacted JSON text. Anything that does not decode is described, not shown
-- (it could be anything).
local function redact_json_text(text)
  local value = json.decode(json.mark_empty_arrays(text))
  if value == nil then return ("(%d bytes, not JSON)"):format(#text) end
  if type(value) ~= "table" then return text end
  local out = json.encode(redact_value(value, 0, false))
  return out or ("(%d bytes of JSON)"):format(#text)
end

local FORM_VISIBLE = { grant_type = true, scope = true }

-- An x-www-form-urlencoded body (text) with every value but grant_type and scope replaced.
local function redact_form_text(text)
  return (text:gsub("([^&=]*)=([^&]*)", function(name, value)
    if FORM_VISIBLE[name] then return name .. "=" .. value end
    return name .. "=" .. MARKER
  end))
end

-- A body given as pieces (strings and C secrets): its text with secrets as the marker.
local function pieces_text(body)
  if type(body) ~= "table" then return body end
  local parts = {}
  for i, piece in ipairs(body) do
    parts[i] = type(piece) == "string" and piece or MARKER
  end
  return table.concat(parts)
end

local function body_size(body)
  if body == nil then return 0 end
  if type(body) == "string" then return #body end
  return nil                                    -- pieces: the C core knows, Lua does not
end

-- A request or response body as the trace shows it, by content type.
function trace.body(body, content_type)
  if body == nil or body == "" then return nil end
  local text = pieces_text(body)
  content_type = (content_type or ""):lower()
  if content_type:find("x-www-form-urlencoded", 1, true) then return redact_form_text(text) end
  if content_type:find("json", 1, true) then return redact_json_text(text) end
  return ("(%d bytes of %s)"):format(#text, content_type ~= "" and content_type or "unknown type")
end

-- Header names whose values are hidden besides Authorization, Proxy-Authorization, Cookie,
-- Set-Cookie and x-api-key: the secret-looking ones (password, secret, token, key, credential,
-- like JSON members), X-Auth-*, and any with session or signature (X-Upstream-Token,
-- X-Session-Id, ...).
local function secret_header(lower)
  return lower ~= "x-api-key" and (trace.secret_name(lower) or lower:find("^x%-auth") ~= nil
    or lower:find("session", 1, true) ~= nil or lower:find("signature", 1, true) ~= nil)
end

-- Headers as the trace shows them: names kept, secret values replaced.
function trace.headers(headers, opts)
  local out = {}
  for name, value in pairs(headers or {}) do
    local lower = name:lower()
    if lower == "authorization" or lower == "proxy-authorization" or lower == "cookie"
        or lower == "set-cookie" or (lower == "x-api-key" and opts.redact_api_key) or secret_header(lower) then
      out[name] = MARKER
    elseif type(value) == "table" then
      out[name] = pieces_text(value)
    else
      out[name] = value
    end
  end
  return out
end

local function header(headers, wanted)
  for name, value in pairs(headers or {}) do
    if name:lower() == wanted then return value end
  end
  return nil
end

-- The event handed to the user's hook for one request. `req` = {method, url, headers, body};
-- `res` = {status, headers, body, info} or nil; `err` = the transport error message or nil.
-- opts = {redact_api_key}.
function trace.event(req, res, err, opts)
  local event = {
    method = req.method,
    url = req.url,
    request_headers = trace.headers(req.headers, opts),
    request_body = trace.body(req.body, header(req.headers, "content-type")),
    request_body_size = body_size(req.body),
  }
  if res then
    event.status = res.status
    event.response_headers = trace.headers(res.headers, opts)
    event.response_body = trace.body(res.body, header(res.headers, "content-type"))
    event.response_body_size = res.body and #res.body or 0
    if res.info then
      event.total_time = res.info.total_time
      event.connects = res.info.connects
    end
  end
  event.error = err
  return event
end

return trace
