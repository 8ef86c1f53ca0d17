--- Adaptive client-side rate limiting: how fast a client sends when the service throttles it.
--
-- Adobe publishes no request budget for Flow Service and sends no rate-limit headers; throttling
-- shows only as 429 answers from the adobe.io gateway. The limiter finds the allowance from
-- those answers, after the AWS SDKs' adaptive retry mode (a client-side token bucket whose rate
-- follows a CUBIC curve) with two changes (docs/CONFIGURATION.md, "Adaptive rate limiting"):
--
-- * the rate after a throttling answer is `beta` times the rate of *successful* answers over the
--   last second (not the send rate): what a token-bucket server accepted is its limit;
-- * one decrease per congestion event, as in TCP: a 429 to a request sent before the last
--   decrease says nothing new and lowers nothing.
--
-- Between throttling answers the rate follows W(t) = W_max * (1 + scale * (t - K)^3) with
-- K = cbrt((1 - beta) / scale): concave back to W_max (the rate that was throttled) in K
-- seconds, then convex beyond it, probing for a higher limit. The curve is relative to W_max,
-- so the time to recover does not depend on the size of the limit. Before the first throttling
-- answer there is no limit at all. The batch's in-flight count (`window`) falls by `beta` on the
-- same events and grows by 1/window per success (TCP's AIMD), up to `max_window`.
--
-- Pure logic: no I/O and no sleeping. `acquire` says how long to wait before a request; the
-- client sleeps and reports the outcome with `record`. Times come from `clock` (monotonic
-- seconds; injected in specs).
-- @module flowservice.limiter
local check = require "flowservice.check"
local compat = require "flowservice.compat"
local errors = require "flowservice.errors"

local limiter = {}

limiter.DEFAULTS = {
  beta = 0.7,          -- multiplicative decrease (CUBIC's and AWS's)
  scale = 0.0375,      -- cubic growth relative to W_max: K = cbrt(0.3 / 0.0375) = 2 s
  min_rate = 0.5,      -- requests per second, never below (AWS's minimum fill rate)
  burst = 0.1,         -- seconds of the current rate the client may send at once (at least 1)
  max_window = 64,     -- the batch's in-flight count never above (batch.lua's maximum)
  throttled_attempts = 10, -- throttling answers a call may get before it fails
}

local MEASURE_WINDOW = 1   -- seconds over which successful answers are counted
local MIN_MEASURE = 0.1    -- a younger measurement is taken over this much time
local LATENCY_GAIN = 0.125 -- smoothing of the latency (TCP's SRTT gain)
local WINDOW_HEADROOM = 2  -- in-flight calls: at most this many times rate x latency, plus one
local ABSORB_WINDOW = 10   -- seconds: a success this recent means the limiter is finding the rate
local REPORT_STEP = 0.1    -- a rise is traced once the rate grew this much since the last trace

local OPTIONS = {
  beta = "number", scale = "number", min_rate = "number", burst = "number",
  max_window = "number", throttled_attempts = "number", clock = "function", org_id = "string",
}

local Limiter = { __name = "flowservice.limiter" }
Limiter.__index = Limiter

local function finite(v)
  return v == v and v > -math.huge and v < math.huge
end

--- Checks limiter options (a table of those in `limiter.DEFAULTS`, `clock`, `org_id`).
-- Unknown names and wrong types raise at `level`; bad values return nil and a validation error.
function limiter.check_options(opts, what, level)
  level = (level or 1) + 1
  check.table(opts, what, level + 1)
  check.options(opts, OPTIONS, what, level + 1)
  if opts.beta ~= nil and not (finite(opts.beta) and opts.beta > 0 and opts.beta < 1) then
    return nil, errors.validation("limiter.beta", "must be a number between 0 and 1")
  end
  for _, name in ipairs { "scale", "min_rate", "burst" } do
    local v = opts[name]
    if v ~= nil and not (finite(v) and v > 0) then
      return nil, errors.validation("limiter." .. name, "must be a number > 0")
    end
  end
  for _, name in ipairs { "max_window", "throttled_attempts" } do
    local v = opts[name]
    if v ~= nil and not (compat.tointeger(v) and v >= 1) then
      return nil, errors.validation("limiter." .. name, "must be a whole number from 1")
    end
  end
  return true
end

--- A limiter. Options: `beta`, `scale`, `min_rate`, `burst`, `max_window`,
-- `throttled_attempts` (defaults in `limiter.DEFAULTS`), `clock` (monotonic seconds, default
-- the core's), `org_id` (the organisation of the clients that may share it; set by the first
-- client otherwise). Returns the limiter, or nil and a validation error.
-- @tparam[opt] table opts
-- @usage
-- local shared = assert(flowservice.limiter.new { beta = 0.7 })
-- -- flowservice.new { ..., limiter = shared } for each client of the organisation
function limiter.new(opts)
  opts = opts == nil and {} or opts
  local ok, err = limiter.check_options(opts, "limiter.new", 2)
  if not ok then return nil, err end
  local self = setmetatable({}, Limiter)
  for name, value in pairs(limiter.DEFAULTS) do
    if opts[name] == nil then self[name] = value else self[name] = opts[name] end
  end
  self.clock = opts.clock or require("flowservice.core").monotonic
  self.org_id = opts.org_id
  self.k = (( 1 - self.beta) / self.scale) ^ (1 / 3)
  self.rate = math.huge          -- no limit until the first throttling answer
  self.window = self.max_window
  self.tokens = 0
  self.last_fill = nil
  self.last_decrease = -math.huge -- when the rate last fell (clock)
  self.w_max = nil
  self.paused_until = -math.huge
  self.successes = { times = {} } -- times of recent successful answers
  self.sent, self.sent_since = 0, nil -- requests placed since sent_since (a window's start)
  self.reported_rate = math.huge
  self.listeners = setmetatable({}, { __mode = "k" })
  self.counts = { throttled = 0, decreases = 0, pauses = 0 }
  return self
end

--- True for a limiter made by `limiter.new`.
function limiter.is_limiter(v)
  return getmetatable(v) == Limiter
end

function Limiter:__tostring()
  return string.format("flowservice.limiter (rate %s, window %d)",
    self.rate == math.huge and "unlimited" or string.format("%.1f/s", self.rate), math.floor(self.window))
end

-- Trace listeners (the clients sharing this limiter): called with an event table on each change.
function Limiter:_listen(fn)
  self.listeners[fn] = true
end

local function notify(self, event)
  event.kind = "limiter"
  event.rate = self.rate < math.huge and self.rate or nil -- absent while unlimited (JSON-safe)
  event.window = math.floor(self.window)
  for fn in pairs(self.listeners) do fn(event) end
end

-- Times of recent successful answers, for rates over the last MEASURE_WINDOW seconds: a list
-- trimmed now and then.
local function note(series, now)
  local times = series.times
  times[#times + 1] = now
  if #times > 64 and times[1] <= now - 4 * MEASURE_WINDOW then
    local kept, j = {}, 0
    for i = 1, #times do
      if times[i] > now - MEASURE_WINDOW then j = j + 1; kept[j] = times[i] end
    end
    series.times = kept
  end
end

-- Events per second over the last MEASURE_WINDOW seconds, and how many there were: their
-- number over the time from the first of them to now (at least MIN_MEASURE), which neither
-- counts an empty start of the window against a young series nor is as coarse as whole events
-- in a fixed window at low rates.
local function per_second(series, now)
  local times, n = series.times, 0
  local first = now
  for i = #times, 1, -1 do
    if times[i] > now - MEASURE_WINDOW then n, first = n + 1, times[i] else break end
  end
  return n / math.max(MIN_MEASURE, now - first), n
end

-- The bucket's capacity at the current rate.
local function capacity(self)
  return math.max(1, self.rate * self.burst)
end

-- Refills the bucket up to `now` at the current rate.
local function refill(self, now)
  if self.last_fill and self.rate < math.huge then
    self.tokens = math.min(capacity(self), self.tokens + (now - self.last_fill) * self.rate)
  end
  self.last_fill = now
end

-- Moves the rate along the cubic curve to `now` (only rises between throttling answers).
local function follow_curve(self, now)
  if not self.w_max then return end
  local t = now - self.last_decrease - self.k
  local rate = self.w_max * (1 + self.scale * t * t * t)
  if rate > self.rate then
    refill(self, now)
    self.rate = rate
    if rate >= self.reported_rate * (1 + REPORT_STEP) then
      self.reported_rate = rate
      notify(self, { event = "raise" })
    end
  end
end

-- Counts a request placed at `at` towards the send rate (per_second's stand-in while too few
-- requests succeeded to measure): a count per MEASURE_WINDOW, the fast path's one chore.
local function count_send(self, at)
  local since = self.sent_since
  if since == nil or at - since >= MEASURE_WINDOW then
    self.sent, self.sent_since = 1, at
  else
    self.sent = self.sent + 1
  end
end

-- Requests placed per second in the current window (at least MIN_MEASURE long).
local function send_rate(self, now)
  if self.sent_since == nil then return 0 end
  return self.sent / math.max(MIN_MEASURE, now - self.sent_since)
end

--- Seconds to wait before sending the next request (0: send now); the request's place is taken,
-- so concurrent callers are spaced out. Returns the wait and the ticket (a time) to give `record`.
function Limiter:acquire()
  local now = self.clock()
  if self.w_max == nil and now >= self.paused_until then -- never throttled: no limit
    count_send(self, now)
    return 0, now
  end
  follow_curve(self, now)
  local at = math.max(now, self.paused_until)
  if self.rate == math.huge then
    count_send(self, at)
    return at - now, at
  end
  refill(self, now)
  -- Tokens may go negative: each waiting request holds its place in the queue.
  self.tokens = self.tokens - 1
  local wait = self.tokens < 0 and -self.tokens / self.rate or 0
  if now + wait < at then
    -- a pause: the bucket starts again when it ends, with this request first
    self.tokens = 0
    self.last_fill = at
    wait = at - now
  end
  count_send(self, now + wait)
  -- `now`, not the send time, identifies the request's congestion event: a place taken before
  -- a decrease was paced at the old rate.
  return wait, now
end

--- Seconds left of the current pause (a Retry-After; 0: none). A caller whose wait was computed
-- before a pause began (`counts.pauses` moved while it waited) waits these too before sending.
function Limiter:paused_for()
  return math.max(0, self.paused_until - self.clock())
end

--- Reports the answer to the request of ticket `sent_at` (from `acquire`): `throttled` for a
-- throttling answer (429); `retry_after` (seconds, optional) pauses every request until then.
function Limiter:record(sent_at, throttled, retry_after, latency)
  local now = self.clock()
  if latency then
    self.latency = self.latency and self.latency + LATENCY_GAIN * (latency - self.latency) or latency
  end
  if retry_after and retry_after > 0 and now + retry_after > self.paused_until then
    self.paused_until = now + retry_after
    self.counts.pauses = self.counts.pauses + 1
    notify(self, { event = "pause", seconds = retry_after })
  end
  if not throttled then
    note(self.successes, now)
    if self.w_max then follow_curve(self, now) end
    if self.window < self.max_window then
      self.window = math.min(self.max_window, self.window + 1 / self.window)
    end
    return
  end
  self.counts.throttled = self.counts.throttled + 1
  if sent_at < self.last_decrease then return end -- the same congestion event
  refill(self, now)
  -- What the service accepted; with too few successes to tell, what was sent (AWS's measure).
  local measured, successes = per_second(self.successes, now)
  if successes < 2 then measured = send_rate(self, now) end
  local w_max = math.max(self.min_rate, math.min(self.rate, measured))
  self.w_max = w_max
  self.rate = math.max(self.min_rate, w_max * self.beta)
  self.tokens = math.min(self.tokens, capacity(self))
  self.last_decrease = now
  self.reported_rate = self.rate
  self.window = math.max(1, self.window * self.beta)
  self.counts.decreases = self.counts.decreases + 1
  notify(self, { event = "throttled", max_rate = w_max })
end

--- True while the limiter is finding the allowed rate: some request succeeded in the last
-- ABSORB_WINDOW seconds. Then a 429 is its signal and the retry after it costs no attempt and
-- no retry budget; in a sustained throttling outage (nothing succeeds) the retry policy's
-- attempts and budget apply as to any other failure.
function Limiter:absorbs()
  local times = self.successes.times
  local last = times[#times]
  return last ~= nil and self.clock() - last < ABSORB_WINDOW
end

--- The number of calls a batch may have in flight now (at most `max_window`).
function Limiter:in_flight()
  local n = self.window
  if self.rate < math.huge and self.latency then
    -- more calls in flight than the rate needs only wait in the limiter, where a decrease
    -- cannot reach them
    n = math.min(n, math.ceil(WINDOW_HEADROOM * self.rate * self.latency) + 1)
  end
  return math.max(1, math.floor(n))
end

--- A snapshot for callers and traces: `rate` (requests per second; `math.huge` before the first
-- throttling answer), `window`, `paused_until` (clock time), `throttled`, `decreases`, `pauses`.
function Limiter:state()
  return {
    rate = self.rate, window = math.floor(self.window), paused_until = self.paused_until,
    throttled = self.counts.throttled, decreases = self.counts.decreases, pauses = self.counts.pauses,
  }
end

return limiter
