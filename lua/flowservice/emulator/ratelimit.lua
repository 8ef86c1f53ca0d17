-- The emulator's rate limit: the adobe.io gateway throttling Flow Service requests.
--
-- Adobe documents no request budget for Flow Service and no rate-limit headers
-- (https://experienceleague.adobe.com/en/docs/experience-platform/landing/troubleshooting);
-- throttling comes from the adobe.io gateway in front of it, whose body Adobe documents for
-- another API behind the same gateway as {"error_code":"429050","message":"Too many requests"}
-- (https://developer.adobe.com/analytics-apis/docs/2.0/guides/faq). The gateway answers before
-- the request reaches the service, so a throttled request has no effect (a create throttled
-- here is safe to send again).
--
-- Emulator choices (no Adobe facts): a token bucket of `rate` tokens per second holding at most
-- `burst` (default max(1, rate)), one per organisation (x-gw-ims-org-id), or per organisation
-- and sandbox (`per` = "sandbox"), or per organisation and route class (`per` = "class": reads,
-- GET and HEAD, apart from writes). Only Flow Service requests count and are throttled (not
-- IMS, not the admin endpoints); a throttled request takes no token. `retry_after` (default
-- false, as Adobe mostly sends none): the 429 carries Retry-After, whole seconds until a token
-- is free (at least 1), and a request of the same bucket that arrives before that time
-- (`EARLY_GRACE` seconds after the 429 left, for requests already on their way) is counted as
-- `early` in the statistics.
local util = require "flowservice.emulator.util"

local ratelimit = {}

ratelimit.PER = { org = true, sandbox = true, class = true }
ratelimit.EARLY_GRACE = 0.25
local MAX_RATE = 1e6
local MAX_BUCKETS = 10000                    -- beyond this, odd keys share one bucket

local FIELDS = { rate = true, burst = true, per = true, retry_after = true }

-- Checks a configuration {rate, burst?, per?, retry_after?}; returns the normalised copy, or nil
-- and a message naming the field.
function ratelimit.check_config(config)
  if type(config) ~= "table" or not util.is_object(config) then
    return nil, "the rate limit must be an object {\"rate\": n, \"burst\"?: n, \"per\"?, \"retry_after\"?}"
  end
  for name in pairs(config) do
    if not FIELDS[name] then
      return nil, ("unknown field '%s' in the rate limit (expected rate, burst, per, retry_after)")
        :format(util.safe_label(name))
    end
  end
  local rate = config.rate
  if type(rate) ~= "number" or not (rate > 0 and rate <= MAX_RATE) then
    return nil, "field 'rate' must be a number of requests per second > 0"
  end
  local burst = config.burst
  if burst ~= nil and (type(burst) ~= "number" or not (burst >= 1 and burst <= MAX_RATE)) then
    return nil, "field 'burst' must be a number of requests >= 1"
  end
  local per = config.per
  if per ~= nil and not ratelimit.PER[per] then
    return nil, 'field \'per\' must be "org", "sandbox" or "class"'
  end
  if config.retry_after ~= nil and type(config.retry_after) ~= "boolean" then
    return nil, "field 'retry_after' must be true or false"
  end
  return { rate = rate, burst = burst or math.max(1, rate), per = per or "org",
    retry_after = config.retry_after == true }
end

-- Decodes JSON text of a configuration and checks it.
function ratelimit.decode_config(text)
  local value, err = util.json_decode(text)
  if value == nil then return nil, "the rate limit is not valid JSON: " .. tostring(err) end
  return ratelimit.check_config(value)
end

local Limit = {}
Limit.__index = Limit

-- A limit from a checked configuration (nil: none). `clock` (seconds) defaults to util.now.
function ratelimit.new(config, clock)
  local self = setmetatable({ clock = clock or util.now, throttled = 0, early = 0 }, Limit)
  self:configure(config)
  return self
end

-- Replaces the configuration (nil: no limit). Existing buckets keep their tokens (capped at the
-- new burst) so a change of rate at run time takes effect from now on, as a real one would.
function Limit:configure(config)
  local now = self.clock()
  if self.config and config and self.buckets then
    for _, b in pairs(self.buckets) do
      b.tokens = math.min(config.burst, b.tokens + (now - b.at) * self.config.rate)
      b.at = now
    end
    if config.per ~= self.config.per then self.buckets, self.count = {}, 0 end
  else
    self.buckets, self.count = {}, 0
  end
  self.config = config
end

-- Statistics and buckets back to zero; `config` as at start.
function Limit:reset(config)
  self.config = nil
  self:configure(config)
  self.throttled, self.early = 0, 0
end

local READS = { GET = true, HEAD = true }

local function bucket_key(per, req)
  local h = req.headers
  local key = h["x-gw-ims-org-id"] or ""
  if per == "sandbox" then
    key = key .. "\0" .. (h["x-sandbox-name"] or "prod")
  elseif per == "class" then
    key = key .. "\0" .. (READS[req.method] and "read" or "write")
  end
  return key
end

-- Takes a token for a request (its parsed head). Returns nil when it may go on, or the 429's
-- Retry-After in whole seconds (false when Retry-After is off) when it is throttled.
function Limit:take(req)
  local config = self.config
  if not config then return nil end
  local now = self.clock()
  local key = bucket_key(config.per, req)
  local b = self.buckets[key]
  if not b then
    if self.count >= MAX_BUCKETS then key = "(other)" end
    b = self.buckets[key]
    if not b then
      b = { tokens = config.burst, at = now }
      self.buckets[key] = b
      self.count = self.count + 1
    end
  end
  b.tokens = math.min(config.burst, b.tokens + (now - b.at) * config.rate)
  b.at = now
  if b.until_at and now < b.until_at and now > b.told_at + ratelimit.EARLY_GRACE then
    self.early = self.early + 1
  end
  if b.tokens >= 1 then
    b.tokens = b.tokens - 1
    return nil
  end
  self.throttled = self.throttled + 1
  if not config.retry_after then return false end
  local seconds = math.max(1, math.ceil((1 - b.tokens) / config.rate))
  b.told_at, b.until_at = now, now + seconds
  return seconds
end

-- The configuration as the admin endpoint shows it, with the counters.
function Limit:describe()
  local c = self.config
  local out = { enabled = c ~= nil, throttled = self.throttled, early = self.early }
  if c then
    out.rate, out.burst, out.per, out.retry_after = c.rate, c.burst, c.per, c.retry_after
  end
  return out
end

-- The fault rule (faults.lua's shape) answering a throttled request: a 429 before processing,
-- in the gateway's shape (faults.status_response), after the delay of `delay_rule` when one
-- fired for the request (injected latency applies to every answer).
function ratelimit.rule(retry_after, delay_rule)
  return {
    fault = "status", status = 429, phase = "before", method = "*", path = "*",
    retry_after = retry_after or nil, rate_limited = true,
    delay = delay_rule and delay_rule.fault == "delay" and delay_rule.seconds or nil,
  }
end

return ratelimit
