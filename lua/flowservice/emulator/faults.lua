-- Fault injection for the emulator: rules, matching, and a private seeded random generator.
--
-- A rule selects requests by method and path and says which fault to inject (see DESIGN.md,
-- "Fault injection"). Every IMS / Flow Service request is matched against the rules in order;
-- the first rule that fires applies. A rule fires on a match unless it is still skipping
-- (`skip`), is spent (`count`) or loses the draw (`probability`).
--
-- The generator is Park-Miller's minimal standard (x = x * 48271 mod 2^31 - 1): exact in integer
-- and in double arithmetic, so a seed gives the same draws on every Lua and platform, and it is
-- separate from the emulator's ids (which come from /dev/urandom). Only rules with
-- 0 < probability < 1 draw a number.
--
-- This module decides; http.lua does the wire work (delays, resets, truncation) and builds
-- responses with status_response / invalid_json_body / oversized_chunks below.
local util = require "flowservice.emulator.util"

local faults = {}

faults.DEFAULT_SEED = 1
faults.DEFAULT_OVERSIZED_BYTES = 64 * 1024 * 1024
faults.STATUSES = { 429, 500, 502, 503, 504 }

local MODULUS = 2147483647                   -- 2^31 - 1
local MULTIPLIER = 48271
local MAX_SEED = 2 ^ 53
local MAX_DELAY = 3600                       -- seconds
local MAX_RETRY_AFTER_TEXT = 256

-- The fields each fault accepts besides the common ones; true marks a required field.
local FAULT_FIELDS = {
  status = { status = true, retry_after = false, retry_after_date = false },
  delay = { seconds = true },
  reset = {},
  empty = {},
  truncate = { bytes = false },
  invalid_json = {},
  oversized = { bytes = false },
}
local FAULT_NAMES = "status, delay, reset, empty, truncate, invalid_json, oversized"
local COMMON_FIELDS = {
  method = true, path = true, probability = true, count = true, skip = true, fault = true,
  phase = true,
}
-- Faults that mangle the real response, so the request is always processed first.
local AFTER_ONLY = { truncate = true, invalid_json = true, oversized = true }

local OVERSIZED_HEAD, OVERSIZED_TAIL = '{"items":[],"padding":"', '"}'
local MIN_OVERSIZED = #OVERSIZED_HEAD + #OVERSIZED_TAIL

---------------------------------------------------------------------------------------------------
-- Rule checking
---------------------------------------------------------------------------------------------------

local function is_whole(v, min, max)
  return type(v) == "number" and v == math.floor(v) and v >= min and v <= max
end

local function has_control_chars(s)
  return s:find("[%z\1-\31\127]") ~= nil
end

-- Each checker returns the normalised value, or nil and what the value must be.
local CHECKS = {}

function CHECKS.method(v)
  if v == "*" then return v end
  if type(v) == "string" and v:find("^%a+$") then return v:upper() end
  return nil, 'must be an HTTP method such as "GET", or "*"'
end

function CHECKS.path(v)
  if type(v) == "string" and v ~= "" and not has_control_chars(v) then return v end
  return nil, 'must be a non-empty path, where "*" matches any run of characters'
end

function CHECKS.probability(v)
  if type(v) == "number" and v >= 0 and v <= 1 then return v end
  return nil, "must be a number from 0 to 1"
end

function CHECKS.count(v)
  if is_whole(v, 0, MAX_SEED) then return math.floor(v) end
  return nil, "must be a whole number >= 0"
end
CHECKS.skip = CHECKS.count

function CHECKS.status(v)
  for _, s in ipairs(faults.STATUSES) do
    if v == s then return s end
  end
  return nil, "must be one of " .. table.concat(faults.STATUSES, ", ")
end

function CHECKS.retry_after(v)
  if is_whole(v, 0, MAX_SEED) then return math.floor(v) end
  if type(v) == "string" and #v <= MAX_RETRY_AFTER_TEXT and not has_control_chars(v) then
    return v
  end
  return nil, "must be whole seconds >= 0, or a string (sent verbatim) without control characters"
end

function CHECKS.retry_after_date(v)
  if type(v) == "number" and v >= -MAX_SEED and v <= MAX_SEED then return v end
  return nil, "must be a number of seconds from now"
end

function CHECKS.seconds(v)
  if type(v) == "number" and v >= 0 and v <= MAX_DELAY then return v end
  return nil, "must be a number of seconds from 0 to " .. MAX_DELAY
end

function CHECKS.bytes(v)
  if is_whole(v, 0, MAX_SEED) then return math.floor(v) end
  return nil, "must be a whole number of bytes >= 0"
end

function CHECKS.phase(v)
  if v == "before" or v == "after" then return v end
  return nil, 'must be "before" or "after"'
end

local function rule_error(index, message)
  return nil, ("rule %d: %s"):format(index, message)
end

-- Checks the fields against the fault's own list; returns the fault name or nil, message.
local function check_fields(rule, index)
  local kind = rule.fault
  if kind == nil then return rule_error(index, "field 'fault' is required") end
  local own = type(kind) == "string" and FAULT_FIELDS[kind]
  if not own then
    return rule_error(index, "field 'fault' must be one of " .. FAULT_NAMES)
  end
  for name in pairs(rule) do
    local label = util.safe_label(name)
    if type(name) ~= "string" then return rule_error(index, "has a field that is not a name") end
    if not COMMON_FIELDS[name] and own[name] == nil then
      local users = {}
      for other, fields in pairs(FAULT_FIELDS) do
        if fields[name] ~= nil then users[#users + 1] = other end
      end
      if #users == 0 then return rule_error(index, ("unknown field '%s'"):format(label)) end
      table.sort(users)
      return rule_error(index, ("field '%s' does not apply to fault '%s' (only to %s)")
        :format(label, kind, table.concat(users, ", ")))
    end
  end
  for name, required in pairs(own) do
    if required and rule[name] == nil then
      return rule_error(index, ("field '%s' is required for fault '%s'"):format(name, kind))
    end
  end
  return kind
end

-- Returns the normalised rule (defaults filled in), or nil and a message naming the rule
-- (1-based index) and the field.
local function check_rule(rule, index)
  if type(rule) ~= "table" or not util.is_object(rule) then
    return rule_error(index, "must be an object")
  end
  local kind, err = check_fields(rule, index)
  if not kind then return nil, err end
  local out = { fault = kind, method = "*", path = "*", probability = 1, skip = 0 }
  for name, value in pairs(rule) do
    if name ~= "fault" then
      local normalised, why = CHECKS[name](value)
      if normalised == nil then return rule_error(index, ("field '%s' %s"):format(name, why)) end
      out[name] = normalised
    end
  end
  if out.retry_after ~= nil and out.retry_after_date ~= nil then
    return rule_error(index, "fields 'retry_after' and 'retry_after_date' exclude each other")
  end
  if AFTER_ONLY[kind] then
    if out.phase == "before" then
      return rule_error(index, ("field 'phase' must be \"after\" for fault '%s'"):format(kind))
    end
    out.phase = "after"
  end
  out.phase = out.phase or "before"
  if kind == "oversized" then
    out.bytes = out.bytes or faults.DEFAULT_OVERSIZED_BYTES
    if out.bytes < MIN_OVERSIZED then
      return rule_error(index, ("field 'bytes' must be at least %d for fault 'oversized'")
        :format(MIN_OVERSIZED))
    end
  end
  return out
end

-- Checks a list of rules. Returns the normalised list, or nil and a message.
function faults.check_rules(rules)
  if type(rules) ~= "table" then return nil, "'rules' must be a list of rule objects" end
  local n = #rules
  for k in pairs(rules) do
    if type(k) ~= "number" or k ~= math.floor(k) or k < 1 or k > n then
      return nil, "'rules' must be a list of rule objects"
    end
  end
  local out = {}
  for i = 1, n do
    local rule, err = check_rule(rules[i], i)
    if not rule then return nil, err end
    out[i] = rule
  end
  return out
end

-- Checks a configuration {seed = n, rules = {...}} (both optional); `allowed` names the
-- top-level fields accepted (default seed and rules). Returns {seed = n|nil, rules = list|nil},
-- or nil and a message.
function faults.check_config(config, allowed)
  allowed = allowed or { seed = true, rules = true }
  if type(config) ~= "table" or not util.is_object(config) then
    return nil, "the fault configuration must be an object"
  end
  for name in pairs(config) do
    if not allowed[name] then
      return nil, ("unknown field '%s' in the fault configuration"):format(util.safe_label(name))
    end
  end
  local out = {}
  if config.seed ~= nil then
    if not is_whole(config.seed, 0, MAX_SEED) then
      return nil, "field 'seed' must be a whole number >= 0"
    end
    out.seed = math.floor(config.seed)
  end
  if config.rules ~= nil then
    local rules, err = faults.check_rules(config.rules)
    if not rules then return nil, err end
    out.rules = rules
  end
  return out
end

-- Decodes JSON text of a configuration and checks it (see check_config).
function faults.decode_config(text, allowed)
  local value, err = util.json_decode(text)
  if value == nil then return nil, "the fault configuration is not valid JSON: " .. tostring(err) end
  return faults.check_config(value, allowed)
end

---------------------------------------------------------------------------------------------------
-- Rule sets
---------------------------------------------------------------------------------------------------

local Set = {}
Set.__index = Set

-- "*" matches any run of characters; everything else literally; anchored at both ends.
local function glob_pattern(glob)
  local escaped = glob:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0")
  return "^" .. escaped:gsub("%*", ".*") .. "$"
end

local function compile(rule)
  return { spec = rule, pattern = glob_pattern(rule.path), matched = 0, fired = 0 }
end

-- config: {seed = n, rules = list} as returned by check_config (or nil). Raises on a bad one:
-- callers check first.
function faults.new(config)
  local checked = assert(faults.check_config(config or {}))
  local set = setmetatable({ seed = checked.seed or faults.DEFAULT_SEED, rules = {} }, Set)
  set:replace(checked.rules or {})
  return set
end

-- Restarts the generator from the seed.
function Set:reseed(seed)
  if seed ~= nil then self.seed = seed end
  self.state = self.seed % (MODULUS - 1) + 1   -- 1 .. MODULUS - 1, never 0
end

-- The next number in [0, 1).
function Set:draw()
  self.state = self.state * MULTIPLIER % MODULUS
  return (self.state - 1) / (MODULUS - 1)
end

-- Replaces the rules (a checked list) and reseeds (with `seed` when given).
function Set:replace(rules, seed)
  self.rules = {}
  self:append(rules)
  self:reseed(seed)
end

-- Appends checked rules; counters and the generator carry on.
function Set:append(rules)
  for _, rule in ipairs(rules) do self.rules[#self.rules + 1] = compile(rule) end
end

-- Removes every rule and reseeds.
function Set:clear()
  self:replace({})
end

local function fires(self, r)
  local spec = r.spec
  if r.matched <= spec.skip then return false end
  if spec.count and r.fired >= spec.count then return false end
  if spec.probability <= 0 then return false end
  if spec.probability < 1 and self:draw() >= spec.probability then return false end
  return true
end

-- The rule (normalised fields) that fires for this request, or nil. Counts matches and fires.
function Set:match(method, path)
  for _, r in ipairs(self.rules) do
    local spec = r.spec
    if (spec.method == "*" or spec.method == method) and path:find(r.pattern) then
      r.matched = r.matched + 1
      if fires(self, r) then
        r.fired = r.fired + 1
        return spec
      end
    end
  end
  return nil
end

-- {seed, rules = [{...rule fields..., matched, fired}]} for the admin endpoint.
function Set:describe()
  local rules = util.array()
  for i, r in ipairs(self.rules) do
    local item = { matched = r.matched, fired = r.fired }
    for k, v in pairs(r.spec) do item[k] = v end
    rules[i] = item
  end
  return { seed = self.seed, rules = rules }
end

---------------------------------------------------------------------------------------------------
-- Fault responses
---------------------------------------------------------------------------------------------------

-- Emulator choices (Adobe documents no 429 or Retry-After for Flow Service). A status fault
-- "before" processing stands for the adobe.io gateway refusing the request: its
-- {"error_code", "message"} shape, code = status .. "050" (429050 "Too many requests" is the
-- gateway's documented throttling answer: developer.adobe.com/analytics-apis/docs/2.0/guides/faq).
-- A status fault "after" processing stands for the service (or an upstream behind the gateway)
-- failing once it acted: Flow Service's problem shape (experienceleague.adobe.com/en/docs/
-- experience-platform/sources/flow-service-api-errors: FLOW-1102 Internal Error, 1103 Service
-- Unavailable, 1104 Gateway Timeout; 429 and 502 have no code of their own there: 1102).
local STATUS_MESSAGES = {
  [429] = "Too many requests", [500] = "Internal server error", [502] = "Bad gateway",
  [503] = "Service unavailable", [504] = "Gateway timeout",
}
local FLOW_CODES = { [503] = { 1103, "Service Unavailable" }, [504] = { 1104, "Gateway Timeout" } }

faults.http_date = util.http_date

-- The Retry-After value of a status rule, or nil. A date is exactly retry_after_date seconds
-- after the response's Date header (both whole seconds of the same clock, see http.lua), so a
-- client that measures it against Date, as it should (no clock skew), waits exactly that long.
function faults.retry_after_value(rule, now)
  if type(rule.retry_after) == "number" then return ("%d"):format(rule.retry_after) end
  if rule.retry_after ~= nil then return rule.retry_after end
  if rule.retry_after_date ~= nil then
    return util.http_date(math.floor(now or util.now()) + rule.retry_after_date)
  end
  return nil
end

-- The response of a "status" rule: {status, headers, body}; the body's shape follows the
-- rule's phase (see STATUS_MESSAGES), `request_id` goes into a problem's report.
function faults.status_response(rule, request_id)
  local status = rule.status
  local headers = { ["Content-Type"] = "application/json" }
  headers["Retry-After"] = faults.retry_after_value(rule)
  local body
  if rule.phase == "after" then
    local flow = FLOW_CODES[status] or { 1102, "Internal Error" }
    local code, title = flow[1], flow[2]
    local detail = STATUS_MESSAGES[status]
    body = util.json_encode({
      type = ("https://ns.adobe.com/aep/errors/FLOW-%d-%d"):format(code, status), title = title,
      status = status, report = { ["detailed-message"] = detail, ["request-id"] = request_id },
      errorMessage = detail, errorDetails = detail,
    })
  else
    body = util.json_encode({ error_code = status .. "050", message = STATUS_MESSAGES[status] })
  end
  return { status = status, headers = headers, body = body }
end

-- A body that is not JSON: the first half of the real body when that does not parse, else a
-- fixed opening of a list.
function faults.invalid_json_body(real_body)
  real_body = real_body or ""
  local half = real_body:sub(1, math.floor(#real_body / 2))
  if half ~= "" and util.json_decode(half) == nil then return half end
  return '{"items": ['
end

-- An iterator over the chunks of a JSON object of exactly `bytes` bytes (>= the minimum that
-- check_rule enforces), so the body is never built in memory at once.
function faults.oversized_chunks(bytes, chunk_size)
  chunk_size = chunk_size or 64 * 1024
  local padding = bytes - MIN_OVERSIZED
  local stage = 0
  local block
  return function()
    if stage == 0 then
      stage = 1
      return OVERSIZED_HEAD
    elseif stage == 1 then
      if padding > 0 then
        local n = math.min(padding, chunk_size)
        padding = padding - n
        if not block or #block ~= n then block = string.rep("x", n) end
        return block
      end
      stage = 2
      return OVERSIZED_TAIL
    end
    return nil
  end
end

return faults
