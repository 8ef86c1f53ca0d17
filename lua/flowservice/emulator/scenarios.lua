-- Failure switches: failures a user's tests can ask the emulator for, deterministically, in the
-- way payment providers' test modes document values that always fail a known way. Two kinds:
--
-- Magic values (always on, no configuration): values in a request that always produce one
-- documented failure.
--   auth password "flowservice-test-fails"     the connection is created; GET .../test answers
--                                               {"result": false}
--   auth password "flowservice-rejected"       POST /connections: CONNECTOR-1001-401
--   auth host "timeout.invalid"                POST /connections: CONNECTOR-1006-408
--   flow name containing "fail-runs"           every run of the flow fails (CONNECTOR-1001-500)
--   flow name containing "partial-runs"        every run succeeds with failed records
--                                               (CONNECTOR-2001-500, INGEST-1212-400, MAPPER-3700-400)
--
-- Switches (a scenario: emulator.new{scenario = ...}, --scenario FILE|JSON at start, and
-- GET / PUT /_emulator/scenario at run time; PUT replaces the whole scenario):
--   sandboxes        the sandboxes that exist (default prod, dev, stage and test-*; a trailing "*"
--                    names a family by prefix); any other name: FLOW-2101-404
--   sandbox_resets   {name: seconds}: the sandbox is being reset for that long from when the
--                    scenario is applied; its resources are gone at once; meanwhile FLOW-2108-500
--   runs             {outcome: "success" | "failed" | "partial", failed_records: n (default 1),
--                    duration: seconds}: for every run created from then on
--   credentials      "enabled" (default) | "disabled": IMS refuses the client's token requests
--                    (400 unauthorized_client) and its tokens get 401013 from the gateway
--   tokens           "expired" | "revoked": applied once when the scenario is applied: every token
--                    issued so far stops working (401013); new ones can be fetched
--
-- Facts and their sources:
--   Sandbox codes (EN:help/sources/errors/flow-service-errors.md): 2101-404 "Sandbox not found ...
--   Error from Sandbox Management API: Sandbox with name '<name>' not present.", 2108-500 "Get
--   active sandboxes error". A reset empties a sandbox and its state is "resetting" until it is
--   done (EN:help/sandboxes/api/sandboxes.md, "Reset a sandbox").
--   Sources codes (EN:help/sources/errors/sources-errors.md, "Generic errors"): 1001-401
--   Unauthorized "The user is unauthorized. Please contact your administrator to gain access to
--   the resource.", 1006-408 Request Timeout. Test connection answers {"result": bool}
--   (static/swagger-specs/flow-service.yaml, TestConnectionResponse).
--   Run errors and metrics (EN:help/sources/tutorials/api/monitor.md; reference §3): see
--   dataflows.lua.
--   Expired and revoked tokens: the gateway answers {"error_code": "401013", "message": "Oauth
--   token is not valid"} (EN:help/landing/troubleshooting.md). A credential IMS will not serve:
--   {"error": "unauthorized_client"} (adobe/aepp issue #8, the answer Adobe's IMS gave there).
--
-- Emulator choices: which Adobe codes stand for which switch (Adobe documents the codes, not the
-- conditions); a resetting sandbox answers 2108-500 (it exists but is not active); sandbox names
-- are matched exactly; the flow-name markers are matched case-sensitively.
local admin = require "flowservice.emulator.admin"
local http = require "flowservice.emulator.http"
local problem = require "flowservice.emulator.problem"
local util = require "flowservice.emulator.util"

local scenarios = {}

scenarios.DEFAULT_SANDBOXES = { "prod", "dev", "stage", "test-*" }
scenarios.TEST_FAILS_PASSWORD = "flowservice-test-fails"
scenarios.REJECTED_PASSWORD = "flowservice-rejected"
scenarios.TIMEOUT_HOST = "timeout.invalid"
scenarios.FAIL_RUNS_MARKER = "fail-runs"
scenarios.PARTIAL_RUNS_MARKER = "partial-runs"

local FIELDS = { sandboxes = true, sandbox_resets = true, runs = true, credentials = true, tokens = true }
local RUN_FIELDS = { outcome = true, failed_records = true, duration = true }
local OUTCOMES = { success = true, failed = true, partial = true }
local MAX_SECONDS = 86400
local SANDBOX_NAME = "^[a-z0-9][a-z0-9%-]*%*?$"

---------------------------------------------------------------------------------------------------
-- Checking a scenario
---------------------------------------------------------------------------------------------------

local function seconds_ok(v)
  return type(v) == "number" and v > 0 and v <= MAX_SECONDS
end

local function check_sandboxes(list)
  if type(list) ~= "table" or util.is_object(list) and next(list) ~= nil then
    return nil, "field 'sandboxes' must be an array of sandbox names"
  end
  local out = {}
  for i, name in ipairs(list) do
    if type(name) ~= "string" or #name > 64 or not name:find(SANDBOX_NAME) then
      return nil, ("sandboxes[%d] must be a lowercase sandbox name (letters, digits, '-'; a trailing "
        .. "'*' for a prefix)"):format(i)
    end
    out[i] = name
  end
  return out
end

local function check_resets(resets)
  if not util.is_object(resets) then return nil, "field 'sandbox_resets' must be an object {name: seconds}" end
  local out = {}
  for name, seconds in pairs(resets) do
    if type(name) ~= "string" or not name:find("^[a-z0-9][a-z0-9%-]*$") then
      return nil, ("sandbox_resets: '%s' is not a sandbox name"):format(util.safe_label(tostring(name)))
    end
    if not seconds_ok(seconds) then
      return nil, ("sandbox_resets.%s must be seconds (0 < n <= %d)"):format(name, MAX_SECONDS)
    end
    out[name] = seconds
  end
  return out
end

local function check_runs(runs)
  if not util.is_object(runs) then return nil, "field 'runs' must be an object" end
  for name in pairs(runs) do
    if not RUN_FIELDS[name] then
      return nil, ("runs: unknown field '%s' (outcome, failed_records, duration)"):format(
        util.safe_label(tostring(name)))
    end
  end
  if runs.outcome ~= nil and not OUTCOMES[runs.outcome] then
    return nil, "runs.outcome must be one of success, failed, partial"
  end
  local n = runs.failed_records
  if n ~= nil and not (type(n) == "number" and n >= 1 and n == math.floor(n)) then
    return nil, "runs.failed_records must be a whole number >= 1"
  end
  if runs.duration ~= nil and not seconds_ok(runs.duration) then
    return nil, ("runs.duration must be seconds (0 < n <= %d)"):format(MAX_SECONDS)
  end
  return { outcome = runs.outcome, failed_records = n and math.floor(n), duration = runs.duration }
end

-- Checks a scenario (a table as decoded from JSON). Returns the checked copy or nil, a message
-- naming the field and the rule.
function scenarios.check_config(config)
  if not util.is_object(config) then return nil, "the scenario must be an object" end
  for name in pairs(config) do
    if not FIELDS[name] then
      return nil, ("unknown field '%s' in the scenario (sandboxes, sandbox_resets, runs, credentials, "
        .. "tokens)"):format(util.safe_label(tostring(name)))
    end
  end
  local out, err = {}
  if config.sandboxes ~= nil then
    out.sandboxes, err = check_sandboxes(config.sandboxes)
    if not out.sandboxes then return nil, err end
  end
  if config.sandbox_resets ~= nil then
    out.sandbox_resets, err = check_resets(config.sandbox_resets)
    if not out.sandbox_resets then return nil, err end
  end
  if config.runs ~= nil then
    out.runs, err = check_runs(config.runs)
    if not out.runs then return nil, err end
  end
  if config.credentials ~= nil and config.credentials ~= "enabled" and config.credentials ~= "disabled" then
    return nil, "field 'credentials' must be enabled or disabled"
  end
  out.credentials = config.credentials
  if config.tokens ~= nil and config.tokens ~= "expired" and config.tokens ~= "revoked" then
    return nil, "field 'tokens' must be expired or revoked"
  end
  out.tokens = config.tokens
  return out
end

function scenarios.decode_config(text)
  local value, err = util.json_decode(text)
  if value == nil then return nil, "the scenario is not valid JSON: " .. tostring(err) end
  return scenarios.check_config(value)
end

---------------------------------------------------------------------------------------------------
-- Applying a scenario
---------------------------------------------------------------------------------------------------

-- The sandbox name of a bucket / sandbox id key ("<org>\0<name>").
local function key_sandbox(key)
  local sep = key:find("\0", 1, true)
  return sep and key:sub(sep + 1)
end

-- Empties a sandbox (every org's bucket of that name) and forgets its id.
local function empty_sandbox(state, name)
  for _, t in ipairs { state.buckets, state.sandbox_ids } do
    for key in pairs(t) do
      if key_sandbox(key) == name then t[key] = nil end
    end
  end
end

-- Makes `config` (checked) the current scenario; applies its one-shot parts.
function scenarios.apply(state, config)
  config = config or {}
  local now = util.now()
  local current = {
    config = config,
    sandboxes = config.sandboxes or scenarios.DEFAULT_SANDBOXES,
    resets = {},
    runs = config.runs or {},
  }
  for name, seconds in pairs(config.sandbox_resets or {}) do
    current.resets[name] = now + seconds
    empty_sandbox(state, name)
  end
  for _, client in pairs(state.clients) do client.disabled = config.credentials == "disabled" or nil end
  if config.tokens == "revoked" then
    for token in pairs(state.tokens) do state.tokens[token] = nil end
  elseif config.tokens == "expired" then
    for _, record in pairs(state.tokens) do record.expires_at = math.min(record.expires_at, now) end
  end
  state.scenario = current
end

-- Called once by emulator.new: the start scenario, kept for POST /_emulator/reset.
function scenarios.init(state, config)
  state.start_scenario = config or {}
  scenarios.apply(state, state.start_scenario)
  state.decide_run = scenarios.decider(state)
  state.scenario_reset = function() scenarios.apply(state, state.start_scenario) end
end

function scenarios.describe(state)
  local s = state.scenario
  local resets = util.object()
  local now = util.now()
  for name, until_time in pairs(s.resets) do
    if until_time > now then resets[name] = until_time - now end
  end
  local config = {}
  for k, v in pairs(s.config) do config[k] = v end
  config.sandboxes = util.array(s.sandboxes)
  config.sandbox_resets = resets
  return config
end

---------------------------------------------------------------------------------------------------
-- The switches, as the routes ask them
---------------------------------------------------------------------------------------------------

local function sandbox_exists(list, name)
  for _, entry in ipairs(list) do
    if entry == name then return true end
    if entry:sub(-1) == "*" and name:sub(1, #entry - 1) == entry:sub(1, -2) then return true end
  end
  return false
end

local function gateway_invalid_token()
  return http.json(401, { error_code = "401013", message = "Oauth token is not valid" })
end

-- After the gateway's checks: a response for a disabled credential, else nil.
function scenarios.identity_problem(state, identity)
  local client = state.clients[identity.client_id]
  if client and client.disabled then return gateway_invalid_token() end
  return nil
end

-- After the header checks of the sandbox name: a response for a sandbox that does not exist or is
-- being reset, else nil.
function scenarios.sandbox_problem(state, req, name)
  local s = state.scenario
  local shown = util.safe_label(name)
  if not sandbox_exists(s.sandboxes, name) then
    return problem.response(req, 2101, 404, ("The sandbox with the name '%s' could not be found. Error from "
      .. "Sandbox Management API: Sandbox with name '%s' not present. Please check if resource exists.")
      :format(shown, shown))
  end
  local until_time = s.resets[name]
  if until_time then
    if util.now() < until_time then
      return problem.response(req, 2108, 500, ("There was a problem retrieving an active sandbox. Error from "
        .. "Sandbox Management API: the sandbox '%s' is in state resetting. Please try again."):format(shown))
    end
    s.resets[name] = nil
  end
  return nil
end

-- The failure a create request's values ask for (magic values), as a problem.failure, or nil.
function scenarios.create_problem(kind, body)
  if kind ~= "connections" then return nil end
  local params = type(body.auth) == "table" and type(body.auth.params) == "table" and body.auth.params or {}
  if params.password == scenarios.REJECTED_PASSWORD then
    return problem.failure("CONNECTOR-1001", 401, "The user is unauthorized. Please contact your "
      .. "administrator to gain access to the resource.")
  end
  if params.host == scenarios.TIMEOUT_HOST then
    return problem.failure("CONNECTOR-1006", 408, "An error occurred while processing the request. The "
      .. "request has been timed out. Please try again and contact customer support if the problem persists.")
  end
  return nil
end

-- GET /connections/{id}/test's result for a stored connection record.
function scenarios.test_result(record)
  local params = type(record.auth) == "table" and type(record.auth.params) == "table" and record.auth.params or {}
  return params.password ~= scenarios.TEST_FAILS_PASSWORD
end

-- state.decide_run: the outcome, failed records and duration of a new run of `flow`.
function scenarios.decider(state)
  return function(flow)
    local runs = state.scenario and state.scenario.runs or {}
    local outcome = runs.outcome or "success"
    local name = type(flow.name) == "string" and flow.name or ""
    if name:find(scenarios.FAIL_RUNS_MARKER, 1, true) then
      outcome = "failed"
    elseif name:find(scenarios.PARTIAL_RUNS_MARKER, 1, true) then
      outcome = "partial"
    end
    return { outcome = outcome, failed_records = runs.failed_records, duration = runs.duration }
  end
end

---------------------------------------------------------------------------------------------------
-- Admin routes: GET / PUT /_emulator/scenario, behind admin.lua's guard (loopback peers only,
-- nothing a web page of another site could send)
---------------------------------------------------------------------------------------------------

function scenarios.register(router, state)
  local path = "^/_emulator/scenario/?$"
  router:add("GET", path, admin.guard(state, function(st) return http.json(200, scenarios.describe(st)) end))
  router:add("PUT", path, admin.guard(state, function(st, req)
    if (req.body or "") == "" then
      return http.generic_error(400, "BadRequestError", "the body must be a JSON object")
    end
    local config, err = scenarios.decode_config(req.body)
    if not config then return http.generic_error(400, "BadRequestError", err) end
    scenarios.apply(st, config)
    return http.json(200, scenarios.describe(st))
  end))
end

return scenarios
