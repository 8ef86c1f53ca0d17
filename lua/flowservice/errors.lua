--- The one error type of the library. Every runtime failure is returned as `nil, err` where err
-- is a table made here, whatever produced it: our own validation, libcurl, IMS, the adobe.io
-- gateway or Flow Service (whose three documented error body shapes all end up the same).
--
-- An error never holds a request header, a request body or a token: only what Adobe sent back
-- about the failure, and our own messages, which name fields but never their values.
-- @module flowservice.errors
local errors = {}

local Error = { __name = "flowservice.error" }
Error.__index = Error

-- Fields an error may carry; anything else is a bug.
local FIELDS = {
  kind = true, message = true, status = true, code = true, title = true, detail = true,
  request_id = true, field = true, curl_code = true, location = true, conflict = true,
  retryable = true, ambiguous = true, attempts = true, budget_exhausted = true,
}

-- kind: "validation" (nothing was sent), "transport" (libcurl failed), "http" (an error status),
-- "auth" (IMS refused or gave no usable token), "decode" (a response that is not valid JSON or
-- not the expected shape), "not_found" (a find by name matched nothing), "timeout" (a wait
-- helper gave up, or a call's retry deadline passed before it could send a request; each
-- request has its own transport timeouts), "conflict" (ensure found several resources with the
-- name it was given and cannot tell which one is meant).
local KINDS = {
  validation = true, transport = true, http = true, auth = true, decode = true,
  not_found = true, timeout = true, conflict = true,
}

-- Every error also says whether another attempt may succeed (`retryable`), whether a request
-- that is not safe to repeat may have been carried out all the same (`ambiguous`: a resource may
-- have been created; look before creating again) and how many requests were tried for the call
-- (`attempts`, 0 when nothing was sent). The client's request loop sets them (client.lua);
-- `budget_exhausted` is true when retries stopped because the client's retry budget was spent.
function errors.new(fields)
  assert(KINDS[fields.kind], "unknown error kind")
  for k in pairs(fields) do assert(FIELDS[k], "unknown error field") end
  if fields.retryable == nil then fields.retryable = false end
  if fields.ambiguous == nil then fields.ambiguous = false end
  if fields.attempts == nil then fields.attempts = 0 end
  return setmetatable(fields, Error)
end

--- True when `value` is an error of this library (`Error`).
-- @param value anything
-- @treturn boolean
-- @usage
-- local item, err = client.flows:get(id)
-- if not item and flowservice.errors.is(err) and err.kind == "not_found" then ... end
function errors.is(value)
  return getmetatable(value) == Error
end

function Error.__tostring(e)
  local parts = { "flowservice: " .. e.kind .. " error" }
  if e.status then parts[#parts + 1] = " " .. e.status end
  if e.code then parts[#parts + 1] = " " .. e.code end
  parts[#parts + 1] = ": " .. e.message
  if e.request_id then parts[#parts + 1] = " (request id " .. e.request_id .. ")" end
  if e.attempts and e.attempts > 1 then parts[#parts + 1] = " after " .. e.attempts .. " attempts" end
  if e.budget_exhausted then parts[#parts + 1] = " (retry budget exhausted)" end
  if e.ambiguous then parts[#parts + 1] = " (ambiguous: the request may have taken effect)" end
  return table.concat(parts)
end

-- Nothing was sent: `field` names the offending input, `rule` says what it must be.
function errors.validation(field, rule)
  return errors.new { kind = "validation", field = field, message = field .. ": " .. rule }
end

-- libcurl failed: `message` is "CURLE_NAME: text" from the C core.
function errors.transport(message, curl_code)
  return errors.new { kind = "transport", curl_code = curl_code, message = message }
end

function errors.decode(status, why, request_id)
  return errors.new {
    kind = "decode", status = status, request_id = request_id,
    message = "response body is not valid JSON: " .. why,
  }
end

-- A 2xx response whose JSON is valid but not the shape the API documents.
function errors.unexpected(status, what, request_id, ambiguous)
  return errors.new {
    kind = "decode", status = status, request_id = request_id, ambiguous = ambiguous == true,
    message = "unexpected response: " .. what,
  }
end

local function text(value)
  if type(value) == "string" and value ~= "" then return value end
  return nil
end

-- Reads whichever of Adobe's error shapes `body` (decoded JSON, or nil) has.
-- Returns code, title, detail, request_id (each possibly nil).
local function read_shape(body)
  if type(body) ~= "table" then return nil end
  -- 1. adobe.io gateway: {"error_code": "403010", "message": "Oauth token is missing."}
  if body.error_code ~= nil then
    return tostring(body.error_code), text(body.message), nil, nil
  end
  -- IMS OAuth errors: {"error": "invalid_client", "error_description": "..."}
  if text(body.error) then
    return body.error, text(body.error_description), nil, nil
  end
  local report = type(body.report) == "table" and body.report or {}
  local request_id = text(report["request-id"])
  -- 2. Flow Service problem: {"type": ".../FLOW-1439-404", "title", "status", "report": {...}}
  -- 3. generic problem {"type": "/placeholder/type/uri", "title", "detail"}, or {"errorMessage"}
  local code = type(body.type) == "string" and body.type:match("([A-Z]+%-%d+%-%d+)$") or nil
  local detail = text(report["detailed-message"]) or text(body.detail) or text(body.errorMessage)
    or text(body.errorDetails) or text(body.message)
  return code, text(body.title), detail, request_id
end

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [412] = "Precondition Failed",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

-- An error status from Flow Service, the gateway or IMS. `body` is the decoded JSON (or nil),
-- `headers` the lower-cased response headers; kind defaults to "http".
function errors.from_response(status, headers, body, kind)
  local code, title, detail, request_id = read_shape(body)
  request_id = request_id or text(headers["x-request-id"])
  local message
  if status >= 300 and status < 400 then
    -- Redirects are never followed: our headers would go to the new host.
    title = title or "redirect not followed"
    detail = "the server redirected to " .. (text(headers.location) or "(no Location header)")
  end
  title = title or REASONS[status] or ("HTTP " .. status)
  message = detail and (title .. ": " .. detail) or title
  return errors.new {
    kind = kind or "http", status = status, code = code, title = title, detail = detail,
    request_id = request_id, message = message,
    -- 412: the etag sent with If-Match is stale (someone changed the resource): re-read it.
    conflict = status == 412 or nil,
    location = status >= 300 and status < 400 and text(headers.location) or nil,
  }
end

--- An error, returned as the second value of `nil, err`. `tostring(err)` gives one line:
-- `flowservice: <kind> error [status] [code]: message [(request id ...)] [after N attempts]
-- [(retry budget exhausted)] [(ambiguous: the request may have taken effect)]`. No field ever
-- holds a request header, a request body, a token or another secret.
-- @table Error
-- @tfield string kind `validation` (refused before sending), `transport` (libcurl failed),
--   `http` (an error status), `auth` (IMS refused or gave no usable token), `decode` (a 2xx body
--   that is not JSON or not the documented shape), `not_found` (`find` matched nothing),
--   `timeout` (`runs:wait` gave up, a batch's deadline passed, or a call's deadline passed
--   before it could send), `conflict` (`ensure` found several resources with that name)
-- @tfield string message what happened
-- @tfield[opt] string field the offending input, for `validation` (`org_id`, `auth.password`,
--   `property[2]`, ...)
-- @tfield[opt] int status the HTTP status
-- @tfield[opt] string code Adobe's code: `FLOW-1439-404`, `403010`, `invalid_client`, ...
-- @tfield[opt] string title Adobe's title
-- @tfield[opt] string detail Adobe's detailed message
-- @tfield[opt] string request_id `report.request-id` from the body, else the `x-request-id`
--   header: quote it to Adobe support
-- @tfield[opt] string curl_code for `transport`: libcurl's `CURLE_*` name
-- @tfield[opt] boolean conflict true for a 412: the etag sent with `If-Match` is stale
-- @tfield[opt] string location for a 3xx (never followed): its `Location`
-- @tfield boolean retryable another attempt may succeed
-- @tfield boolean ambiguous a request that is not safe to repeat may have taken effect all the
--   same: look before creating again (`ensure` does)
-- @tfield int attempts requests tried for the call (0 when nothing was sent)
-- @tfield[opt] boolean budget_exhausted true when the client's retry budget stopped the retries
-- @usage
-- local _, err = client.flows:get("00000000-0000-4000-8000-000000000000")
-- print(err.kind, err.status, err.code)   --> http	404	FLOW-1439-404
-- print(tostring(err))

return errors
