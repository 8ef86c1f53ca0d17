--- The client: configuration, the IMS token cache and the request pipeline every resource uses.
--
-- A client is made by `flowservice.new`. Its resource kinds are fields, each with the methods
-- of `flowservice.resource` and its own: `connections` (`flowservice.connections`),
-- `connection_specs`, `source_connections`, `target_connections`, `flow_specs`, `flows`
-- (`flowservice.flows`) and `runs` (`flowservice.runs`).
-- @module flowservice.client
local compat = require "flowservice.compat"
local core = require "flowservice.core"
local batch = require "flowservice.batch"
local check = require "flowservice.check"
local errors = require "flowservice.errors"
local json = require "flowservice.json"
local limiter = require "flowservice.limiter"
local retry = require "flowservice.retry"
local token_cache = require "flowservice.token_cache"
local trace = require "flowservice.trace"
local url = require "flowservice.url"

local client = {}

local DEFAULTS = {
  base_url = "https://platform.adobe.io",
  ims_url = "https://ims-na1.adobelogin.com",
  sandbox = "prod",
  scopes = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext",
  -- Seconds after which a request the client gave up on can no longer be carried out: Adobe's
  -- API gateway cuts requests at 60 s (developer.adobe.com/analytics-apis/docs/2.0/guides/faq),
  -- plus a margin. ensure waits this long after an ambiguous create before creating again.
  in_flight_limit = 65,
}
client.DEFAULTS = DEFAULTS -- read-only: the command line's `config show` lists them

-- Option name -> Lua type. Unknown names and wrong types raise.
local OPTIONS = {
  base_url = "string", ims_url = "string", client_id = "string", client_secret = "string",
  org_id = "string", sandbox = "string", access_token = "string", api_key = "string",
  scopes = "string", timeout = "number", connect_timeout = "number",
  max_response_size = "number", user_agent = "string", env = "any",
  ca_file = "string", ca_path = "string", ca_blob = "string", low_speed_limit = "number",
  low_speed_time = "number", proxy = "string", trace = "function", trace_api_key = "boolean",
  retry = "any", limiter = "any", token_cache = "any", in_flight_limit = "number",
}

-- Options read from the environment when the table does not give them.
local ENV = {
  base_url = "AEP_BASE_URL", ims_url = "AEP_IMS_URL", client_id = "AEP_CLIENT_ID",
  client_secret = "AEP_CLIENT_SECRET", org_id = "AEP_ORG_ID", sandbox = "AEP_SANDBOX",
  access_token = "AEP_ACCESS_TOKEN", api_key = "AEP_API_KEY", scopes = "AEP_SCOPES",
}
client.ENV = ENV

local MAX_SECONDS = 2147483 -- the core's limit for timeouts (src/request.h FS_MAX_SECONDS)

local FLOW_PATH = "/data/foundation/flowservice"
client.FLOW_PATH = FLOW_PATH
local IMS_TOKEN_PATH = "/ims/token/v3"

-- Refresh a cached token this long before it expires (capped at a tenth of its lifetime,
-- so short-lived tokens are not refreshed on every call). A 401 from Flow Service with a token
-- from IMS drops it and fetches a new one, once per call.
local REFRESH_MARGIN = 300
client.REFRESH_MARGIN = REFRESH_MARGIN

-- Secrets live here, keyed by client, never on the client table itself, so that printing,
-- serialising or iterating a client cannot show them. They are C secrets (core.secret): the
-- client secret form-encoded, a given access token, the token IMS issued (captured in C from
-- its response); Lua code cannot read them back and close() wipes them.
local private = setmetatable({}, { __mode = "k" })

-- client.<field> -> module implementing that resource kind.
local RESOURCES = {
  connections = "flowservice.connections",
  connection_specs = "flowservice.connection_specs",
  source_connections = "flowservice.source_connections",
  target_connections = "flowservice.target_connections",
  flow_specs = "flowservice.flow_specs",
  flows = "flowservice.flows",
  runs = "flowservice.runs",
}

--- A client of one organization and sandbox (`flowservice.new`). `tostring(client)` shows the
-- organization, sandbox and base URL (never a secret) and ends in `(closed)` once closed.
-- @type Client
-- @usage
-- print(client.config.org_id, client.config.sandbox)
-- local conn = assert(client.connections:get(id))
local Client = { __name = "flowservice.client" }
Client.__index = Client

-- libcurl answers the name "localhost" itself with 127.0.0.1 and ::1, never asking a resolver,
-- from 7.78.0 on (curl/curl pull request #7039); older ones resolve it like any name.
local function curl_fixes_localhost()
  local major, minor = (core.curl_version or ""):match("^libcurl/(%d+)%.(%d+)")
  major, minor = tonumber(major), tonumber(minor)
  return major ~= nil and (major > 7 or (major == 7 and minor >= 78))
end

-- True for a host that is a loopback address libcurl connects to without resolving anything:
-- an IPv4 literal 127.x.y.z in canonical dotted-decimal form (each part 0-255, no leading
-- zeros: libcurl treats anything else, like 127.0.0.300 or 127.1, as a name or rewrites it),
-- the IPv6 literal ::1, or "localhost" where libcurl pins it to loopback itself. A name that
-- only looks like an address would go to whatever a hosts file or DNS says.
local function is_loopback(host)
  if host == "::1" then return true end
  if host == "localhost" then return curl_fixes_localhost() end
  local octets = { host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
  if #octets ~= 4 or octets[1] ~= "127" then return false end
  for _, octet in ipairs(octets) do
    if #octet > 3 or (#octet > 1 and octet:sub(1, 1) == "0") or tonumber(octet) > 255 then return false end
  end
  return true
end
client._is_loopback = is_loopback -- for specs

-- https anywhere; plain http only to a loopback address (the emulator).
local function check_service_url(name, value)
  local scheme, host, _, path = url.split(value)
  if not scheme or host == "" then
    return nil, errors.validation(name, "must be an absolute URL like https://host")
  end
  if value:find("[%z\1-\32\127]") then
    return nil, errors.validation(name, "must not contain spaces or control characters")
  end
  if value:find("@", 1, true) or path:find("[?#]") then
    return nil, errors.validation(name, "must not contain credentials, a query or a fragment")
  end
  if scheme ~= "https" and not (scheme == "http" and is_loopback(host)) then
    return nil, errors.validation(name, "must use https (http is allowed only to a loopback address)")
  end
  return (value:gsub("/+$", ""))
end

-- Values that end up in a header: no control characters (they would split the header).
local function check_header_value(name, value)
  if value:find("[%z\1-\31\127]") then
    return nil, errors.validation(name, "must not contain control characters")
  end
  if value == "" then
    return nil, errors.validation(name, "must not be empty")
  end
  return value
end

-- A whole number from 1 to max, or nil.
local function whole_number(v, max)
  local n = compat.tointeger(v)
  return n and n >= 1 and n <= max and n or nil
end

-- True when path names a directory we can list ("dir/." opens only for a readable directory).
local function is_readable_dir(path)
  local f = io.open(path .. "/.", "r")
  if f then f:close() end
  return f ~= nil
end

-- True when path names a regular file we can read (a directory opens too, but read fails).
local function is_readable_file(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local _, read_err = f:read(1)
  f:close()
  return read_err == nil and not is_readable_dir(path)
end

-- Trust and transport options: checked here so a bad one is a validation error before anything
-- is sent. Messages name the option and the rule, never the value.
local function check_transport(s)
  if s.ca_file and (s.ca_file == "" or s.ca_file:find("%z") or not is_readable_file(s.ca_file)) then
    return nil, errors.validation("ca_file", "must name a readable file of PEM certificates")
  end
  if s.ca_path and (s.ca_path == "" or s.ca_path:find("%z") or not is_readable_dir(s.ca_path)) then
    return nil, errors.validation("ca_path", "must name a readable directory of hashed certificates")
  end
  if s.ca_blob and not s.ca_blob:find("-----BEGIN CERTIFICATE-----", 1, true) then
    return nil, errors.validation("ca_blob", "must contain PEM certificates (-----BEGIN CERTIFICATE-----)")
  end
  if s.low_speed_limit ~= nil and not whole_number(s.low_speed_limit, 2147483647) then
    return nil, errors.validation("low_speed_limit", "must be a whole number of bytes per second from 1")
  end
  if s.low_speed_time ~= nil and not whole_number(s.low_speed_time, 2147483) then
    return nil, errors.validation("low_speed_time", "must be a whole number of seconds from 1 to 2147483")
  end
  if s.proxy and s.proxy ~= "" then
    local scheme, host = url.split(s.proxy)
    if not (scheme == "http" or scheme == "https") or host == "" or s.proxy:find("[%z\1-\32\127]") then
      return nil, errors.validation("proxy", "must be \"\" (no proxy) or an http:// or https:// URL")
    end
  end
  return true
end

-- Merges options with the environment and defaults, and checks every value.
-- Returns the settings table, or nil and a validation error.
local function settings_from(opts)
  local env = opts.env
  if env ~= nil and type(env) ~= "boolean" and type(env) ~= "table" then
    error("flowservice.new: env: expected a boolean or a table, got " .. type(env), 3)
  end
  local getenv = os.getenv
  if env == false then
    getenv = function() return nil end
  elseif type(env) == "table" then
    getenv = function(name) return env[name] end
  end
  local s = {}
  for name in pairs(OPTIONS) do
    local value = opts[name]
    if value == nil and ENV[name] then
      value = getenv(ENV[name])
      if value == "" then value = nil end
    end
    if value == nil then value = DEFAULTS[name] end
    s[name] = value
  end
  s.env = nil

  local err
  for _, name in ipairs { "base_url", "ims_url" } do
    s[name], err = check_service_url(name, s[name])
    if err then return nil, err end
  end
  if not s.org_id then
    return nil, errors.validation("org_id", "required (or set " .. ENV.org_id .. ")")
  end
  if not s.org_id:match("@AdobeOrg$") then
    return nil, errors.validation("org_id", "must be an IMS organization id ending in @AdobeOrg")
  end
  if not s.sandbox:match("^[a-z0-9][a-z0-9-]*$") or #s.sandbox > 256 then
    return nil, errors.validation("sandbox",
      "must be the all-lowercase sandbox name (letters, digits and hyphens)")
  end
  if not s.access_token then
    if not s.client_id then
      return nil, errors.validation("client_id", "required (or set " .. ENV.client_id .. ")")
    end
    if not s.client_secret then
      return nil, errors.validation("client_secret",
        "required unless access_token is given (or set " .. ENV.client_secret .. ")")
    end
  end
  s.api_key = s.api_key or s.client_id
  if not s.api_key then
    return nil, errors.validation("api_key", "required with access_token: the client id of the "
      .. "credential that issued the token (or set " .. ENV.api_key .. " or " .. ENV.client_id .. ")")
  end
  for _, name in ipairs { "client_id", "org_id", "api_key", "access_token", "client_secret" } do
    if s[name] then
      local _, bad = check_header_value(name, s[name])
      if bad then return nil, bad end
    end
  end
  for _, name in ipairs { "timeout", "connect_timeout", "max_response_size", "in_flight_limit" } do
    local v = s[name]
    if v ~= nil and (v ~= v or v <= 0 or v == math.huge) then -- NaN, zero, negative, infinite
      return nil, errors.validation(name, "must be a positive number")
    end
  end
  -- the core keeps milliseconds in a 32-bit long
  for _, name in ipairs { "timeout", "connect_timeout" } do
    if s[name] ~= nil and s[name] > MAX_SECONDS then
      return nil, errors.validation(name, "must be a number of seconds > 0 and <= " .. MAX_SECONDS)
    end
  end
  if s.user_agent then
    local _, bad = check_header_value("user_agent", s.user_agent)
    if bad then return nil, bad end
  end
  local ok
  ok, err = check_transport(s)
  if not ok then return nil, err end
  -- A proxy reads plain http in the clear: with plain http only one on this machine (loopback).
  if s.proxy and s.proxy ~= "" and (url.split(s.base_url) == "http" or url.split(s.ims_url) == "http")
      and not is_loopback(select(2, url.split(s.proxy))) then
    return nil, errors.validation("proxy", "must be \"\" (none) or a loopback address when base_url or ims_url "
      .. "uses plain http")
  end
  return s
end

-- The client option `limiter`: nil (a limiter of the client's own), false (none), a table of
-- options for one of its own, or a limiter (limiter.new) shared with other clients of the same
-- organisation. Returns the limiter or nil, and a validation error.
local function limiter_from(value, org_id)
  if value == false then return nil end
  if limiter.is_limiter(value) then
    if value.org_id and value.org_id ~= org_id then
      return nil, errors.validation("limiter", "is shared by clients of another organisation")
    end
    value.org_id = org_id
    return value
  end
  if value ~= nil and type(value) ~= "table" then
    error("flowservice.new: limiter: expected a table, a limiter or false, got " .. type(value), 4)
  end
  local opts = {}
  for k, v in pairs(value or {}) do opts[k] = v end
  if opts.org_id == nil then opts.org_id = org_id end
  -- the client's clock, read every time (specs replace client.clock)
  if opts.clock == nil then opts.clock = function() return client.clock() end end
  local ok, err = limiter.check_options(opts, "flowservice.new: limiter", 3)
  if not ok then return nil, err end
  return limiter.new(opts)
end

-- Creates a client (flowservice.new, documented in init.lua). Returns the client, or nil and a
-- validation error.
function client.new(opts)
  opts = check.table(opts == nil and {} or opts, "flowservice.new: options", 3)
  check.options(opts, OPTIONS, "flowservice.new", 3)
  local s, err = settings_from(opts)
  if not s then return nil, err end
  if opts.retry ~= nil and opts.retry ~= false and type(opts.retry) ~= "table" then
    error("flowservice.new: retry: expected a table or false, got " .. type(opts.retry), 2)
  end
  local cache_dir = opts.token_cache
  if cache_dir ~= nil and type(cache_dir) ~= "boolean" and type(cache_dir) ~= "string" then
    error("flowservice.new: token_cache: expected a boolean or a directory path, got " .. type(cache_dir), 2)
  end
  if cache_dir == true then
    cache_dir = token_cache.default_dir()
    if not cache_dir then
      return nil, errors.validation("token_cache", "needs XDG_CACHE_HOME or HOME, or a directory path")
    end
  end
  if cache_dir == "" or type(cache_dir) == "string" and (cache_dir:sub(1, 1) ~= "/" or cache_dir:find("%z")) then
    return nil, errors.validation("token_cache", "must be true, false or an absolute directory path")
  end
  local policy
  policy, err = retry.policy(opts.retry, core.sleep, 2)
  if not policy then return nil, err end
  local rate_limiter
  rate_limiter, err = limiter_from(opts.limiter, s.org_id)
  if err then return nil, err end

  local session_opts = {
    timeout = s.timeout, connect_timeout = s.connect_timeout,
    max_response_size = s.max_response_size and compat.tointeger(s.max_response_size),
    user_agent = s.user_agent, ca_file = s.ca_file, ca_path = s.ca_path, ca_blob = s.ca_blob,
    low_speed_limit = s.low_speed_limit and compat.tointeger(s.low_speed_limit),
    low_speed_time = s.low_speed_time and compat.tointeger(s.low_speed_time), proxy = s.proxy,
  }
  if s.max_response_size and not session_opts.max_response_size then
    return nil, errors.validation("max_response_size", "must be a whole number of bytes")
  end

  local self = setmetatable({
    -- Non-secret settings, readable by callers.
    config = {
      base_url = s.base_url, ims_url = s.ims_url, client_id = s.client_id, org_id = s.org_id,
      sandbox = s.sandbox, scopes = s.scopes,
    },
  }, Client)
  -- The caller's strings (and the copies in `s`, dropped on return) stay as they are: Lua
  -- strings are immutable and may be interned, so they cannot be wiped. From here on only the
  -- C copies are used.
  local client_secret = s.client_secret and core.secret(s.client_secret, "form")
  private[self] = {
    session = core.session(session_opts),
    client_secret = client_secret,
    api_key = s.api_key,
    static_token = s.access_token and core.secret(s.access_token),
    -- Opt-in tracing: every request and response, secrets replaced (trace.lua).
    trace = opts.trace,
    -- Retries (retry.lua): the policy, the client's retry budget and the one sleep every wait
    -- goes through.
    retry = policy,
    budget = retry.budget(policy.budget),
    sleep = batch.sleeper(policy.sleep), -- inside a batch call: a timer, the other calls go on
    trace_options = { redact_api_key = not opts.trace_api_key },
    -- Adaptive rate limiting (limiter.lua) of every Flow Service request, or nil (off).
    limiter = rate_limiter,
    -- The token cache shared by processes (token_cache.lua), for tokens from IMS only.
    cache = cache_dir and not s.access_token and token_cache.new(cache_dir, self.config, client_secret) or nil,
    in_flight_limit = s.in_flight_limit,
  }
  if rate_limiter and opts.trace then
    -- the limiter holds its listeners weakly: this one lives as long as the client
    local trace_fn = opts.trace
    private[self].limiter_trace = function(event) trace_fn(event) end
    rate_limiter:_listen(private[self].limiter_trace)
  end
  -- Connection specs read from the service (id -> item): connections:create validates auth
  -- params against them rather than against the built-in catalogue.
  self._seen_specs = {}
  -- Resource namespaces.
  for field, module in pairs(RESOURCES) do
    self[field] = require(module).new(self)
  end
  return self
end

function Client:__tostring()
  return string.format("flowservice.client (org %s, sandbox %s, %s)%s", self.config.org_id,
    self.config.sandbox, self.config.base_url, private[self].session and "" or " (closed)")
end

-- Raises (at `level`, default the caller of the caller) when the client has been closed.
local function state(self, level)
  local p = private[self]
  if not p or not p.session then error("attempt to use a closed flowservice client", level or 3) end
  return p
end

-- For resources: the same check; `level` counts as for error() in the function calling this.
function Client:_check_open(level)
  local p = private[self]
  if not p or not p.session then error("attempt to use a closed flowservice client", level + 1) end
end

--- The client's settings after defaults and environment were applied, without any secret:
-- `base_url`, `ims_url`, `client_id`, `org_id`, `sandbox`, `scopes` (a table).
-- @field config

--- Base connections, `/connections`: `flowservice.connections`.
-- @field connections

--- Connection specs (read-only), `/connectionSpecs`: `flowservice.connection_specs`. Every one
-- read is remembered, and `connections:create` checks auth params against it.
-- @field connection_specs

--- Source connections, `/sourceConnections`: `flowservice.source_connections`.
-- @field source_connections

--- Target connections, `/targetConnections`: `flowservice.target_connections`.
-- @field target_connections

--- Flow specs (read-only), `/flowSpecs`: `flowservice.flow_specs`.
-- @field flow_specs

--- Dataflows, `/flows`: `flowservice.flows`.
-- @field flows

--- Flow runs (read-only), `/runs`: `flowservice.runs`.
-- @field runs

--- Closes the client's connections and wipes its secrets. Idempotent; the client cannot be
-- used afterwards (a method call raises "attempt to use a closed flowservice client"). Also
-- runs for `local client <close> = ...` and when the client is collected.
-- @usage
-- client:close()
-- print(tostring(client):match("%(closed%)$"))   --> (closed)
function Client:close()
  local p = private[self]
  if p and p.session then
    p.session:close()
    p.session = nil
    for _, name in ipairs { "token", "client_secret", "static_token" } do
      if p[name] then p[name]:wipe() end
      p[name] = nil
    end
  end
end
Client.__close = Client.close

--- Runs many calls at once: `calls` is a list of functions or an iterator returning the next
-- one (batch.lua; docs/DESIGN.md, "Batches").
--
-- Each call runs as its own function in a worker coroutine (a worker runs one call after
-- another), at most `concurrency` at a time, and their requests are in flight together
-- (HTTP/2 where the server offers it); any library function may be called
-- inside a call, with the same retries, limits and secret handling as outside. Calls of
-- another client inside a call run blocking.
--
-- A Lua error raised by a call (or by `on_result`) stops the batch: transfers in flight are
-- aborted and the error is raised again from here, prefixed `batch: call <i>: `. A batch
-- inside a batch call, `coroutine.yield` inside a call, bad options or a closed client raise.
-- @tparam {function,...}|function calls a list of functions, or an iterator returning the next
--   function or nil (called only as slots free up, so a long batch need not exist at once)
-- @tparam[opt] table opts
-- @tparam[opt=8] int opts.concurrency calls running at once, 1 to 64
-- @tparam[opt] function opts.on_result `on_result(i, ...)` with each call's index and return
--   values as it finishes (in finishing order); results are then not kept
-- @tparam[opt] number opts.deadline seconds: no call starts after it; each remaining call's
--   result is `nil, err` with kind `timeout` (calls already running go on)
-- @treturn[1] {table,...} without `on_result`: the results in call order, each call's return
--   values packed with `table.pack` (so `nil, err` is `{ n = 2, nil, err }`)
-- @return[2] nothing with `on_result`
-- @usage
-- local results = client:batch {
--   function() return client.flows:get(id1) end,
--   function() return client.flows:get(id2) end,
-- }
-- local flow1, err1 = table.unpack(results[1], 1, results[1].n)
function Client:batch(calls, opts)
  local p = state(self)
  return batch.run(p.session, calls, opts, 2, p.limiter)
end

-- Sends one request of `call` (new_call: method, url, headers, body, capture, resend) with
-- the C core; returns status, headers, decoded body and the core's info table (info.captured:
-- the secret `capture` named; info.request_size: request bytes sent, see core's
-- session:request), or nil, err, info (a transport failure, or a 2xx body that is not JSON).
-- Every request goes through here: one attempt, no retries (see perform). Header values and the
-- body may be lists of strings and secrets, joined in C. `timeout` (seconds, optional) lowers
-- the session's total timeout for this request.
local function send(p, call, timeout)
  -- inside a batch call this yields while the request is in flight (batch.lua)
  local status, resp_headers, raw, info = batch.request(p.session, {
    method = call.method, url = call.url, headers = call.headers, body = call.body, capture = call.capture,
    timeout = timeout, resend = call.resend,
  })
  if p.trace then
    local req = { method = call.method, url = call.url, headers = call.headers, body = call.body }
    p.trace(trace.event(req, status and { status = status, headers = resp_headers, body = raw, info = info },
      not status and resp_headers or nil, p.trace_options))
  end
  if not status then
    return nil, errors.transport(resp_headers, raw), info
  end
  local decoded
  local ctype = resp_headers["content-type"] or ""
  if raw ~= "" and ctype:find("json", 1, true) then
    local err
    decoded, err = json.decode(raw)
    if err and status >= 200 and status < 300 then
      if info and info.captured then info.captured:wipe() end
      return nil, errors.decode(status, err, resp_headers["x-request-id"]), info
    end
  end
  return status, resp_headers, decoded, info
end

-- The clock used for token expiry and call deadlines (monotonic seconds); specs replace
-- client.clock to test refresh, so it is read as client.clock() every time.
client.clock = core.monotonic

local function has_header(headers, lower_name)
  for name in pairs(headers) do
    if name:lower() == lower_name then return true end
  end
  return false
end

-- What send() and perform() need to know about a call. `headers` may be changed between
-- attempts (a new token after a 401); `attempts` counts every request tried for the call.
-- `repeatable` marks a POST that is safe to repeat (the token request). A request that is not
-- safe to repeat is sent with `resend = false`: when a reused connection dies before any reply,
-- libcurl would send it again by itself, and a server that had acted on it would see it twice;
-- the core makes that attempt fail instead (CURLE_SEND_FAIL_REWIND, ambiguous), and the
-- connection is still reused for every other call.
local function new_call(p, method, target, headers, body, repeatable, conditional)
  if conditional == nil then conditional = has_header(headers, "if-match") end
  return {
    method = method, url = target, headers = headers, body = body, conditional = conditional,
    repeatable = repeatable, resend = retry.is_idempotent(method, conditional, repeatable),
    deadline = client.clock() + p.retry.deadline, attempts = 0,
  }
end

-- Copies what the call's attempts showed onto its error: attempts, retryable, ambiguous,
-- budget_exhausted.
local function annotate(call, err)
  err.attempts = call.attempts
  if call.verdict then
    err.retryable = call.verdict.retryable
    err.ambiguous = call.verdict.ambiguous
  end
  err.budget_exhausted = call.budget_exhausted or nil
  return err
end

-- Waits for the limiter's go for the call's next request; returns its ticket (limiter.acquire),
-- or nil when the wait would pass the call's deadline (nothing is waited then).
local function wait_for_limiter(p, lim, call)
  local wait, ticket = lim:acquire()
  while wait > 0 do
    if client.clock() + wait >= call.deadline then return nil end
    local pauses = lim.counts.pauses
    p.sleep(wait)
    -- a Retry-After that came in while this call waited holds it too
    wait = lim.counts.pauses ~= pauses and lim:paused_for() or 0
  end
  return ticket
end

-- The retry loop: sends the call (through send) until it gets an answer that is final, runs out
-- of attempts, of time before the deadline, or of retry budget. Every wait goes through p.sleep.
-- A call marked `limited` (every Flow Service call) waits for the client's limiter before each
-- request and reports each answer to it; while the limiter finds the rate (limiter:absorbs), a
-- 429 is its signal, not a failure: the retry after it costs no attempt and no retry budget (up
-- to the limiter's throttled_attempts) and waits for the limiter rather than a backoff.
-- Returns the last response (status, headers, decoded, info; any status: the caller makes
-- errors of them, then annotate), or nil and the annotated error.
local function perform(p, call)
  local policy, budget = p.retry, p.budget
  local lim = call.limited and p.limiter or nil
  local taken = 0 -- budget tokens this call took
  local throttled = 0 -- 429s the limiter absorbed
  local status, headers, decoded, info
  call.verdict, call.budget_exhausted = nil, nil
  local n = 0
  while true do
    n = n + 1
    local ticket = lim and wait_for_limiter(p, lim, call)
    local left = call.deadline - client.clock()
    if left <= 0 or (lim and not ticket) then
      if status or headers then break end -- the last attempt's outcome stands
      return nil, annotate(call, errors.new {
        kind = "timeout", message = string.format("the call's deadline (%g s) passed before a request was sent",
          policy.deadline),
      })
    end
    call.attempts = call.attempts + 1
    status, headers, decoded, info = send(p, call, left < 2147483 and left or 2147483)
    local failure, failure_info -- on failure send returned nil, err, info
    if not status then failure, failure_info = headers, decoded end
    if status and status >= 200 and status < 300 then -- final: what classify says of any 2xx
      if lim then lim:record(ticket, false, nil, info and info.total_time) end
      call.verdict = retry.SUCCESS
      break
    end
    -- A Retry-After date is read against the response's own Date (RFC 9110 10.2.3: "the time
    -- of the response"), so the client's clock skew and os.time's whole seconds do not count.
    local retry_after = status and headers["retry-after"] ~= nil
      and retry.parse_retry_after(headers["retry-after"],
        headers.date and retry.parse_http_date(headers.date) or os.time(), policy.retry_after_max) or nil
    -- a Retry-After on a 429 or 503 pauses every request of the limiter, not just this call's
    local pause = lim and (status == 429 or status == 503) and retry_after or nil
    if lim and status then lim:record(ticket, status == 429, pause, info and info.total_time) end
    call.verdict = retry.classify {
      method = call.method, conditional = call.conditional, repeatable = call.repeatable,
      status = status or failure.status, decode = failure ~= nil and failure.kind == "decode",
      curl_code = failure and failure.curl_code,
      sent = not (failure_info and failure_info.request_size == 0),
      retry_after = retry_after ~= nil,
      refused = status ~= nil and retry.refused_before_service(status, headers, decoded),
    }
    if not call.verdict.retryable then break end
    local absorbed = lim and status == 429 and policy.attempts > 1 and throttled < lim.throttled_attempts
      and lim:absorbs()
    if absorbed then
      throttled, n = throttled + 1, n - 1
      -- the limiter's next go (after its pause, if any) is the wait
      if client.clock() + (retry_after or 0) >= call.deadline then break end
    else
      if n >= policy.attempts then break end
      -- Retry-After is honoured as given (clamped); otherwise full-jitter backoff.
      local wait = retry_after or retry.backoff(policy, n, call.verdict.throttle)
      if client.clock() + wait >= call.deadline then break end
      local cost = retry.cost(call.verdict.throttle)
      if not budget:take(cost) then
        call.budget_exhausted = true
        break
      end
      taken = taken + cost
      if info and info.captured then info.captured:wipe() end
      -- a pause is waited in wait_for_limiter
      if not pause then p.sleep(wait) end
    end
  end
  if status and status >= 200 and status < 300 then
    budget:refund(taken > 0 and taken or retry.REFUND)
  end
  if not status then return nil, annotate(call, headers) end
  return status, headers, decoded, info
end

-- Returns a valid access token (a secret), fetching one from IMS when there is none or it is
-- about to expire. The token request is retried like a GET (a second token is harmless), within
-- `deadline` (the calling call's). Returns nil, err when IMS refuses.
local function fetch_token(self, p, deadline)
  if p.cache and not p.skip_cache then
    local cached, refresh_in, expires_in, refused = token_cache.load(p.cache)
    if refused then return nil, refused end
    if cached then
      if p.token then batch.retire(p.token) end
      local now = client.clock()
      p.token, p.token_refresh_at, p.token_expires_at, p.token_cached = cached, now + refresh_in, now + expires_in, true
      return cached
    end
  end
  p.skip_cache = nil
  -- The form as pieces: the client secret (already form-encoded) is joined to it in C.
  local form = {
    url.form { { "grant_type", "client_credentials" }, { "client_id", self.config.client_id } }
      .. "&client_secret=",
    p.client_secret,
    "&" .. url.form { { "scope", self.config.scopes } },
  }
  local asked_at = client.clock() -- the token's lifetime starts no later than the request
  local call = new_call(p, "POST", self.config.ims_url .. IMS_TOKEN_PATH, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }, form, true)
  call.capture, call.deadline = "access_token", deadline or call.deadline
  local status, headers, body, info = perform(p, call)
  if not status then return nil, headers end
  if status ~= 200 then
    -- IMS refusing the credentials is `auth`; IMS failing or throttling (5xx, 429) is not
    local kind = (status >= 500 or status == 429) and "http" or "auth"
    return nil, annotate(call, errors.from_response(status, headers, body, kind))
  end
  -- The core captured a usable (non-empty, header-safe) token, or left the body alone.
  local token, ttl = info.captured, type(body) == "table" and body.expires_in
  if not token or type(ttl) ~= "number" or ttl <= 0 or ttl ~= ttl then
    if token then token:wipe() end
    return nil, annotate(call, errors.new {
      kind = "auth", status = status, request_id = headers["x-request-id"],
      message = "IMS answered without a usable access_token and expires_in",
    })
  end
  if p.token then batch.retire(p.token) end
  p.token, p.token_cached = token, false
  p.token_refresh_at = asked_at + ttl - math.min(REFRESH_MARGIN, ttl / 10)
  p.token_expires_at = asked_at + ttl
  if p.cache then -- a cache that cannot be written is only a cache: the token is good
    token_cache.store(p.cache, token, p.token_refresh_at - asked_at, ttl)
  end
  return token
end

-- The Authorization value for `token`: a list joined in C, made once per token.
local function bearer(p, token)
  local value = p.bearer
  if not value or value[2] ~= token then
    value = { "Bearer ", token }
    p.bearer = value
  end
  return value
end

-- The headers of every Flow Service call but Authorization (and the caller's extra ones).
local function base_headers(self, p, with_body)
  return {
    ["x-api-key"] = p.api_key,
    ["x-gw-ims-org-id"] = self.config.org_id,
    ["x-sandbox-name"] = self.config.sandbox,
    ["Accept"] = "application/json",
    ["Content-Type"] = with_body and "application/json" or nil,
  }
end

-- The headers of a call without extra headers: the same for every such call until the token
-- changes, so made once per token (with and without a body) and shared by those calls (the
-- core and trace only read them).
local function common_headers(self, p, token, with_body)
  local cache = p.headers_cache
  if not cache or cache.token ~= token then
    cache = { token = token }
    p.headers_cache = cache
  end
  local key = with_body and "body" or "no_body"
  local headers = cache[key]
  if not headers then
    headers = base_headers(self, p, with_body)
    headers["Authorization"] = bearer(p, token) -- joined in C: the token stays a secret
    cache[key] = headers
  end
  return headers
end

local function access_token(self, p, deadline)
  if p.static_token then return p.static_token end
  if p.token and client.clock() < p.token_refresh_at then return p.token end
  -- In a batch, calls that need a token while one is being fetched wait for that one.
  return batch.single_flight(p, fetch_token, self, p, deadline)
end

-- Forgets the token IMS issued (after a 401): the next access_token call fetches a new one.
local function drop_token(p)
  if p.token then batch.retire(p.token) end
  p.token, p.token_refresh_at, p.token_expires_at = nil, nil, nil
  if p.cache then
    token_cache.forget(p.cache)
    p.skip_cache = true -- another process may have stored the same refused token meanwhile
  end
end

--- Makes sure an access token is at hand (from the token cache, or fetched from IMS if needed).
-- Returns a table without the token itself. Useful to check credentials before the first call.
-- @treturn[1] table `{ expires_in = seconds until the token expires, refresh_in = seconds until
--   it is refreshed, cached = true when it came from the token cache }` (all nil for a given
--   `access_token`)
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error an `auth` error when IMS refuses, a `transport` error, or
--   a `validation` error (field `token_cache`) when the token cache is refused
-- @usage
-- local info = assert(client:authenticate())
-- print(info.expires_in > info.refresh_in)   --> true
function Client:authenticate()
  local p = state(self)
  local token, err = access_token(self, p)
  if not token then return nil, err end
  if p.static_token then return {} end
  local now = client.clock()
  return { expires_in = math.max(0, p.token_expires_at - now), refresh_in = math.max(0, p.token_refresh_at - now),
    cached = p.token_cached }
end

--- Forgets the token: the client's, and the token cache's file (option `token_cache`). The next
-- call asks IMS for a new one.
-- @treturn[1] boolean true (also when there was none)
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error when the cache file cannot be removed
-- @usage
-- assert(client:forget_token())
function Client:forget_token()
  local p = state(self)
  if p.token then batch.retire(p.token) end
  p.token, p.token_refresh_at, p.token_expires_at = nil, nil, nil
  if p.cache then return token_cache.forget(p.cache) end
  return true
end

-- For resources that wait (runs:wait): the client's one sleep function (option retry.sleep).
function Client:_sleep(seconds)
  state(self, 3).sleep(seconds)
end

-- For ensure: seconds after a failed request until it can no longer be carried out (option
-- in_flight_limit).
function Client:_in_flight_limit()
  return state(self, 3).in_flight_limit
end

-- Query values are strings, booleans or whole numbers; a float like 10000.0 (what a decoded
-- JSON number used to be) is written as 10000, never "10000.0". A list repeats the name
-- (several `property` filters).
local function query_value(name, value, depth)
  local t = type(value)
  if t == "string" then return value end
  if t == "boolean" then return tostring(value) end
  if t == "number" and compat.tointeger(value) then return string.format("%d", compat.tointeger(value)) end
  error("request: query." .. tostring(name) .. ": expected a string, boolean, whole number or a list "
    .. "of them", 4 + depth)
end

-- `depth` (in these helpers): see request_checked.
local function query_string(query, depth)
  local names = {}
  for name in pairs(query) do
    if type(name) ~= "string" then error("request: query: names must be strings", 3 + depth) end
    names[#names + 1] = name
  end
  table.sort(names)
  local pairs_list = {}
  for _, name in ipairs(names) do
    local value = query[name]
    if type(value) == "table" then
      for _, v in ipairs(value) do pairs_list[#pairs_list + 1] = { name, query_value(name, v, depth) } end
    else
      pairs_list[#pairs_list + 1] = { name, query_value(name, value, depth) }
    end
  end
  return url.form(pairs_list)
end

-- For the command line's --dry-run (cli/dryrun.lua): the query string and base path exactly as
-- a request sends them.
function client._query_string(query)
  return query_string(query, 0)
end

-- Headers the client sets itself; `headers` in a request may not replace them.
local RESERVED_HEADERS = {
  ["authorization"] = true, ["x-api-key"] = true, ["x-gw-ims-org-id"] = true,
  ["x-sandbox-name"] = true, ["content-type"] = true, ["host"] = true,
}

-- Headers that frame the message or manage the connection: libcurl sets them (the C core
-- refuses them too). From a caller they would desynchronise the connection.
local TRANSPORT_HEADERS = {
  ["content-length"] = true, ["transfer-encoding"] = true, ["connection"] = true, ["te"] = true,
  ["upgrade"] = true, ["trailer"] = true, ["keep-alive"] = true, ["proxy-connection"] = true,
}

-- Extra request headers (e.g. If-Match): names are RFC 9110 tokens, values have no control
-- characters. A value that came from a response (an etag) is data: a validation error.
local function extra_headers(headers, into, depth)
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:match("^[!#$%%&'*+%-.^_`|~%w]+$") then
      error("request: headers: names must be header tokens", 4 + depth)
    end
    if RESERVED_HEADERS[name:lower()] then
      error("request: headers: " .. name .. " is set by the client", 4 + depth)
    end
    if TRANSPORT_HEADERS[name:lower()] then
      error("request: headers: " .. name .. " is set by the transport (message framing and connection "
        .. "handling), not by a request", 4 + depth)
    end
    if type(value) ~= "string" then error("request: headers." .. name .. ": expected a string", 4 + depth) end
    local _, bad = check_header_value("headers." .. name, value)
    if bad then return nil, bad end
    into[name] = value
  end
  return into
end

-- A link the service returned (`_links.next.href`): a path and query relative to the Flow
-- Service base. Anything that could leave that base or split the request line is refused.
-- The path is judged as servers read it: percent-escapes of unreserved characters decoded
-- (`%2e` is "."), `;parameters` dropped from each segment (`..;x` is ".."); an escaped "/", "\"
-- or "%" (`..%2f`, double encoding) is refused outright, as some servers and proxies decode them.
local function is_unreserved_escape(hex)
  local c = string.char(tonumber(hex, 16))
  if c:find("^[%w%-%._~]$") then return c end
  return nil -- gsub keeps the escape
end

local function check_href(href)
  local bad = href:sub(1, 1) ~= "/" or href:sub(1, 2) == "//" or href:find("[%z\1-\32\127#\\]")
  if not bad then
    local path = href:match("^[^?]*")
    local decoded = path:gsub("%%(%x%x)", is_unreserved_escape)
    bad = decoded:find("%%2[fF]") or decoded:find("%%5[cC]") or decoded:find("%%25")
    for segment in (decoded .. "/"):gmatch("([^/]*)/") do
      local bare = segment:match("^[^;]*")
      if bare == "." or bare == ".." then bad = true end
    end
  end
  if bad then
    return nil, errors.unexpected(nil, "a link that is not a path under the Flow Service base")
  end
  return href
end

local REQUEST_FIELDS = {
  method = "string", path = "string", query = "table", body = "any", href = "string",
  headers = "table",
}
local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }

local request_checked -- below: client:request's work after the argument checks

-- client:request after its argument checks: the request's fields as arguments. Returns the
-- decoded body (true when there is none), status, headers and attempts, or nil and the error.
-- `depth`: frames between client:request's caller and this function (1 through
-- client:request, 0 through _request), so that argument errors raised below point at that
-- caller.
request_checked = function(self, method, path, query, value, extra, href, depth)
  local p = private[self]
  -- Everything that can be refused is refused before the token call or the request.
  local body, err
  if value ~= nil then
    body, err = json.encode(value)
    if not body then return nil, errors.validation("body", err) end
  end
  local target
  if href then
    href, err = check_href(href)
    if not href then return nil, err end
    target = self.config.base_url .. FLOW_PATH .. href
  else
    target = self.config.base_url .. FLOW_PATH .. path
    if query and next(query) ~= nil then target = target .. "?" .. query_string(query, depth) end
  end
  local more_headers, headers
  if extra then
    more_headers, err = extra_headers(extra, {}, depth)
    if not more_headers then return nil, err end
    headers = base_headers(self, p, body ~= nil)
    for name, v in pairs(more_headers) do headers[name] = v end
  end
  -- the deadline starts here; only the caller's headers can hold an If-Match
  local conditional = more_headers ~= nil and has_header(more_headers, "if-match")
  local call = new_call(p, method, target, headers, body, nil, conditional)
  call.limited = true
  local status, resp_headers, decoded
  -- A 401 with a token from IMS (expired early, revoked): one new token, one more try.
  local tries = p.static_token and 1 or 2
  for try = 1, tries do
    local token
    token, err = access_token(self, p, call.deadline)
    if not token then return nil, err end
    if more_headers then
      headers["Authorization"] = bearer(p, token) -- joined in C: the token stays a secret
    else
      call.headers = common_headers(self, p, token, body ~= nil)
    end
    status, resp_headers, decoded = perform(p, call)
    if not status then return nil, resp_headers end
    if status ~= 401 or try == tries then break end
    drop_token(p)
  end
  if status < 200 or status >= 300 then
    return nil, annotate(call, errors.from_response(status, resp_headers, decoded))
  end
  if decoded == nil then decoded = true end
  return decoded, status, resp_headers, call.attempts
end

--- Low-level call to any Flow Service endpoint.
-- Returns the decoded response body (true when there is none) and a response table
-- { status, headers, request_id, attempts (requests tried, retries included) }, or nil and an
-- error. Retried, within the call's deadline, and repeated once with a new token after a 401,
-- like every call (option `retry` of `flowservice.new`; perform below).
-- @tparam table req
-- @tparam string req.method `GET`, `POST`, `PUT`, `PATCH` or `DELETE`
-- @tparam[opt] string req.path relative to `/data/foundation/flowservice`, starting with `/`
-- @tparam[opt] table req.query name -> a string, boolean, whole number or a list of them (a list
--   repeats the parameter); percent-encoded, spaces as `%20`
-- @param[opt] req.body a Lua value, sent as JSON (`flowservice.json`)
-- @tparam[opt] table req.headers extra headers such as `If-Match`; the client's own headers
--   cannot be replaced, control characters are refused
-- @tparam[opt] string req.href instead of `path` and `query`: a link the service returned
--   (`_links.next.href`), which must stay under the Flow Service base
-- @return[1] the decoded response body, or `true` when there is none
-- @treturn[1] table `{ status, headers, request_id, attempts }` (lower-case header names)
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error for a non-2xx status or a failure
-- @usage
-- local body, res = assert(client:request { method = "GET", path = "/flows",
--   query = { property = { "state==enabled" }, count = true } })
-- print(res.status, body.count)
function Client:request(req)
  state(self)
  check.table(req, "request", 3)
  check.options(req, REQUEST_FIELDS, "request", 3)
  if not METHODS[req.method] then
    error("request: method: expected one of GET, POST, PUT, PATCH, DELETE", 2)
  end
  if req.href then
    if req.path or req.query then error("request: href: not together with path or query", 2) end
  elseif not req.path or req.path:sub(1, 1) ~= "/" then
    error("request: path: expected a path starting with '/'", 2)
  end
  -- not a tail call: `depth` counts this frame
  local body, status, headers, attempts = request_checked(self, req.method, req.path, req.query, req.body,
    req.headers, req.href, 1)
  if body == nil then return nil, status end
  return body, { status = status, headers = headers, request_id = headers["x-request-id"], attempts = attempts }
end

-- client:request without its argument checks and response table, for resource methods that
-- pass well-formed arguments of their own (a method, a path starting with "/", a body): those
-- checks cost more than the rest of the Lua side of a small call. The client is open.
-- Returns the decoded body (true when there is none), status and headers, or nil and the error.
function Client:_request(method, path, body)
  return request_checked(self, method, path, nil, body, nil, nil, 0)
end

return client
