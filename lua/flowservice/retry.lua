-- The retry policy's pure parts (no I/O, no clock, no sleeping): option checking, what may be
-- retried (classify), how long to wait (delay, Retry-After parsing) and the retry budget (a token
-- bucket). client.lua runs the loop; anything else that sends requests (batches) can reuse this.
--
-- Defaults follow the AWS SDKs' standard mode and Google's non-idempotent rule
-- (docs/DESIGN.md, "Retries"): 3 attempts, full jitter, 0.1 s base (1 s when throttled), 20 s cap,
-- Retry-After honoured up to 60 s, a 120 s deadline per call, a 500-token budget per client.
local check = require "flowservice.check"
local compat = require "flowservice.compat"
local errors = require "flowservice.errors"
local json = require "flowservice.json"

local retry = {}

retry.DEFAULTS = {
  attempts = 3, base = 0.1, throttle_base = 1, cap = 20, retry_after_max = 60, deadline = 120,
  budget = 500,
}

-- Budget costs: a retry after throttling (429, or 503 with Retry-After) is cheap, other retries
-- cost more; a call that succeeds without retrying puts REFUND back.
retry.THROTTLE_COST = 5
retry.RETRY_COST = 14
retry.REFUND = 1

local OPTIONS = {
  attempts = "number", base = "number", throttle_base = "number", cap = "number",
  retry_after_max = "number", deadline = "number", budget = "number", sleep = "function",
  random = "function",
}

local function finite(v, min)
  return v == v and v >= min and v < math.huge
end

--- Checks the client option `retry` (a table, false, or nil) and fills in defaults.
-- Returns the policy table, or nil and a validation error; unknown names and wrong types raise
-- at `level` (as for error() in the function calling this). `sleep` and `random` default to
-- `default_sleep` and math.random.
function retry.policy(opts, default_sleep, level)
  level = (level or 1) + 2 -- + this function + check's own frame
  if opts == false then opts = { attempts = 1 } end
  opts = check.table(opts == nil and {} or opts, "flowservice.new: retry", level)
  check.options(opts, OPTIONS, "flowservice.new: retry", level)
  local p = {}
  for name, value in pairs(retry.DEFAULTS) do
    if opts[name] == nil then p[name] = value else p[name] = opts[name] end
  end
  if not (compat.tointeger(p.attempts) and p.attempts >= 1) then
    return nil, errors.validation("retry.attempts", "must be a whole number from 1")
  end
  p.attempts = compat.tointeger(p.attempts)
  for _, name in ipairs { "base", "throttle_base", "cap", "retry_after_max", "budget" } do
    if not finite(p[name], 0) then
      return nil, errors.validation("retry." .. name, "must be a number >= 0")
    end
  end
  if not (finite(p.deadline, 0) and p.deadline > 0) then
    return nil, errors.validation("retry.deadline", "must be a number of seconds > 0")
  end
  p.sleep = opts.sleep or default_sleep
  p.random = opts.random or math.random
  return p
end

---------------------------------------------------------------------------------------------------
-- What may be retried
---------------------------------------------------------------------------------------------------

-- Statuses worth another attempt of a request that is safe to repeat.
local TRANSIENT_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- Transport failures that happen before any request byte is sent: resolving, connecting, the
-- TLS handshake. A POST that failed so is safe to repeat.
local NOT_SENT = {
  CURLE_COULDNT_RESOLVE_HOST = true, CURLE_COULDNT_RESOLVE_PROXY = true, CURLE_COULDNT_CONNECT = true,
  CURLE_SSL_CONNECT_ERROR = true,
}

-- Transport failures that another attempt cannot fix: certificate and TLS verification, a
-- response over the size limit, bad options, no memory. Those marked `false` were before
-- sending; `true` after.
local PERMANENT = {
  CURLE_PEER_FAILED_VERIFICATION = false, CURLE_SSL_CACERT_BADFILE = false, CURLE_SSL_CERTPROBLEM = false,
  CURLE_SSL_CIPHER = false, CURLE_SSL_ISSUER_ERROR = false, CURLE_SSL_PINNEDPUBKEYNOTMATCH = false,
  CURLE_SSL_INVALIDCERTSTATUS = false, CURLE_SSL_CRL_BADFILE = false, CURLE_SSL_CLIENTCERT = false,
  CURLE_SSL_ENGINE_NOTFOUND = false, CURLE_SSL_ENGINE_SETFAILED = false, CURLE_SSL_ENGINE_INITFAILED = false,
  CURLE_URL_MALFORMAT = false, CURLE_UNSUPPORTED_PROTOCOL = false, CURLE_BAD_FUNCTION_ARGUMENT = false,
  CURLE_UNKNOWN_OPTION = false, CURLE_SETOPT_OPTION_SYNTAX = false, CURLE_NOT_BUILT_IN = false,
  CURLE_FAILED_INIT = false, CURLE_RECURSIVE_API_CALL = false,
  CURLE_FILESIZE_EXCEEDED = true, CURLE_OUT_OF_MEMORY = true, CURLE_TOO_MANY_REDIRECTS = true,
  CURLE_LOGIN_DENIED = true, CURLE_AUTH_ERROR = true,
}

--- True when repeating the request cannot do anything the first one did not: GET, HEAD, PUT,
-- DELETE; PATCH with If-Match (a second one fails with 412 once the first applied); a POST the
-- caller marks `repeatable` (the IMS token request: a new token is harmless).
function retry.is_idempotent(method, conditional, repeatable)
  if method == "GET" or method == "HEAD" or method == "PUT" or method == "DELETE" then return true end
  if method == "PATCH" then return conditional == true end
  return repeatable == true
end

--- True when an answer proves that a request never reached the service behind Adobe's API
-- gateway (adobe.io), so even a POST may be sent again: a 429 whose JSON body has the gateway's
-- throttling shape `{"error_code": "429050", "message": "..."}` (Adobe documents it for the
-- gateway: developer.adobe.com/analytics-apis/docs/2.0/guides/faq; the gateway's own errors are
-- `{error_code, message}`, Flow Service's are problem documents). Any other 429 or 503 may come
-- from behind the gateway, after the service acted. `body`: the decoded JSON (a table) or the
-- raw text; `headers` is accepted for callers that have it and not needed today.
function retry.refused_before_service(status, headers, body) -- luacheck: ignore 212/headers
  if status ~= 429 then return false end
  if type(body) == "string" then
    body = json.decode(body)
  end
  return type(body) == "table" and body.error_code == "429050" and type(body.message) == "string"
end

--- Classifies the outcome of one attempt. `outcome`:
--   method      "GET" | "POST" | ...
--   conditional true for a request with If-Match
--   repeatable  true for a POST that is safe to repeat (IMS token)
--   status      the response status, or
--   curl_code   the transport failure ("CURLE_..."), with `sent` false when the core reports
--               that no request byte was sent (request_size 0), or
--   decode      true: a 2xx response whose body could not be read
--   retry_after true when the response has a valid Retry-After
--   refused     true when the answer proves the request never reached the service
--               (retry.refused_before_service)
-- Returns a table { retryable, ambiguous, throttle }: `retryable` another attempt may succeed
-- and is allowed; `ambiguous` a request that is not safe to repeat may have been carried out
-- (a resource may have been created); `throttle` the server asked us to slow down (429, or 503
-- with Retry-After): the longer base delay and the cheaper budget cost apply.
function retry.classify(outcome)
  local idempotent = retry.is_idempotent(outcome.method, outcome.conditional, outcome.repeatable)
  local status = outcome.status
  if status and not outcome.decode then
    local throttle = status == 429 or (status == 503 and outcome.retry_after == true)
    if not TRANSIENT_STATUS[status] then
      -- 5xx answers other than 503 leave a non-idempotent request's effect unknown; a 4xx
      -- (or 2xx, 3xx) is a definite answer.
      return { retryable = false, ambiguous = not idempotent and status >= 500, throttle = false }
    end
    if idempotent or outcome.refused == true then
      return { retryable = true, ambiguous = false, throttle = throttle }
    end
    -- 408 means the server did not get the whole request; 500, 502, 504 may come after the work,
    -- and so may a 429 or 503 without the gateway's proof (an upstream behind the gateway can
    -- answer them after acting on the request).
    return { retryable = false, ambiguous = status ~= 408, throttle = false }
  end
  if outcome.decode then
    -- The server answered 2xx: it did the work; the body is unreadable. Retrying would not fix a
    -- server that sends bad JSON.
    return { retryable = false, ambiguous = not idempotent, throttle = false }
  end
  local code = outcome.curl_code
  local not_sent = NOT_SENT[code] or PERMANENT[code] == false
    or (code == "CURLE_OPERATION_TIMEDOUT" and outcome.sent == false)
  if PERMANENT[code] ~= nil then
    return { retryable = false, ambiguous = not idempotent and not not_sent, throttle = false }
  end
  if idempotent or not_sent then
    return { retryable = true, ambiguous = false, throttle = false }
  end
  -- A reset, an empty reply, a timeout or a truncated body after the request went out.
  return { retryable = false, ambiguous = true, throttle = false }
end

--- What classify returns for any 2xx answer (a read-only constant: the client's retry loop
-- uses it without calling classify, which makes a new table).
retry.SUCCESS = setmetatable({}, {
  __index = { retryable = false, ambiguous = false, throttle = false },
  __newindex = function() error("retry.SUCCESS is read-only", 2) end,
})

---------------------------------------------------------------------------------------------------
-- How long to wait
---------------------------------------------------------------------------------------------------

--- The wait before retry number `n` (1 = after the first attempt) with full jitter:
-- random() * min(cap, base * 2^(n-1)), base = throttle_base when throttled.
function retry.backoff(policy, n, throttle)
  local base = throttle and policy.throttle_base or policy.base
  local r = policy.random()
  if type(r) ~= "number" or not (r >= 0 and r <= 1) then -- NaN fails both comparisons
    error("flowservice: option retry.random: must return a number from 0 to 1, got " .. tostring(r), 2)
  end
  return r * math.min(policy.cap, base * 2 ^ (n - 1))
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }
local DAYS = { Mon = true, Tue = true, Wed = true, Thu = true, Fri = true, Sat = true, Sun = true }
local LONG_DAYS = { Monday = true, Tuesday = true, Wednesday = true, Thursday = true, Friday = true,
  Saturday = true, Sunday = true }

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil), so
-- no os.time and no local time zone are involved.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  if m == 2 then return (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28 end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

local function epoch(y, mon, d, hh, mm, ss)
  local m = MONTHS[mon]
  y, d, hh, mm, ss = tonumber(y), tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
  if not m or d < 1 or d > days_in_month(y, m) or hh > 23 or mm > 59 or ss > 60 then return nil end
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

--- Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the
-- obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994" forms.
-- Returns seconds since the epoch (UTC), or nil.
function retry.parse_http_date(s)
  local wd, d, mon, y, hh, mm, ss = s:match("^(%a%a%a), (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if wd and DAYS[wd] then return epoch(y, mon, d, hh, mm, ss) end
  wd, d, mon, y, hh, mm, ss = s:match("^(%a+), (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if wd and LONG_DAYS[wd] then
    y = tonumber(y)
    return epoch(y < 70 and 2000 + y or 1900 + y, mon, d, hh, mm, ss)
  end
  wd, mon, d, hh, mm, ss, y = s:match("^(%a%a%a) (%a%a%a) ([ %d]%d) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  if wd and DAYS[wd] then return epoch(y, mon, d:gsub(" ", ""), hh, mm, ss) end
  return nil
end

--- Seconds to wait from a Retry-After value (RFC 9110 §10.2.3): delta-seconds or an HTTP-date,
-- compared with `now` (seconds since the epoch). A date in the past means 0. Clamped to `max`.
-- Returns nil for anything else (the computed backoff applies then).
function retry.parse_retry_after(value, now, max)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  local seconds
  if value:match("^%d+$") then
    seconds = tonumber(value) -- a float when huge: clamped below
  else
    local at = retry.parse_http_date(value)
    if not at then return nil end
    seconds = math.max(0, at - now)
  end
  return math.min(seconds, max)
end

---------------------------------------------------------------------------------------------------
-- The retry budget
---------------------------------------------------------------------------------------------------

local Budget = { __name = "flowservice.retry.budget" }
Budget.__index = Budget

--- A token bucket holding `capacity` tokens, full at first. A retry takes its cost; when the
-- bucket cannot pay, the call gives up at once (a sustained outage fails fast instead of
-- multiplying traffic).
function retry.budget(capacity)
  return setmetatable({ tokens = capacity, capacity = capacity }, Budget)
end

--- The cost of a retry.
function retry.cost(throttle)
  return throttle and retry.THROTTLE_COST or retry.RETRY_COST
end

--- Takes `cost` tokens; false (and nothing taken) when there are not enough.
function Budget:take(cost)
  if self.tokens < cost then return false end
  self.tokens = self.tokens - cost
  return true
end

--- Puts `n` tokens back, up to the capacity.
function Budget:refund(n)
  self.tokens = math.min(self.capacity, self.tokens + n)
end

function Budget:__tostring()
  return string.format("flowservice.retry.budget (%g of %g tokens)", self.tokens, self.capacity)
end

return retry
