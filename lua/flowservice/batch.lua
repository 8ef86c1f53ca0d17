-- Batches: many library calls at once (client:batch). Each call runs as its own function in a
-- worker coroutine (see worker below); up to `concurrency` of them run at a time, and their
-- requests are in flight together on the core's multi handle (session:multi). client.lua sends
-- every request through batch.request and waits through batch.sleep: inside a batch call they
-- yield to the scheduler here, outside one they do the plain blocking thing. So a call in a
-- batch runs exactly the code a single call runs (retries, limits, secrets), only its waits
-- overlap with the other calls' waits.
local core = require "flowservice.core"
local check = require "flowservice.check"
local compat = require "flowservice.compat"
local errors = require "flowservice.errors"

local batch = {}

-- table.pack where there is one (it sizes the table at once): every call's results are packed.
local pack = table.pack or compat.pack

local DEFAULT_CONCURRENCY = 8
local MAX_CONCURRENCY = 64
local OPTIONS = { concurrency = "number", on_result = "function", deadline = "number" }

-- First value of every yield of ours, so a stray coroutine.yield in a call is recognised.
local YIELD = setmetatable({}, { __name = "flowservice.batch.yield" })
-- First value of a worker's yield when its call returned (the second: the packed results).
local DONE = setmetatable({}, { __name = "flowservice.batch.done" })

-- The batch coroutines (weak keys) -> their scheduler; and the scheduler of the batch running
-- now (batches do not nest: a batch blocks until it is done).
local owner = setmetatable({}, { __mode = "k" })
local active = nil

-- The scheduler and the coroutine when the running coroutine is a batch call that may yield,
-- else nil.
local function current()
  if active == nil then return nil end -- no batch running (the usual case: two calls saved)
  local co = coroutine.running()
  local sched = co and owner[co]
  if sched and compat.isyieldable() then return sched, co end
  return nil
end

local Scheduler = {}
Scheduler.__index = Scheduler

--- Sends a request table (session:request's) on `session`: inside a batch call on the batch's
-- client, started on the batch's multi handle while the call yields; otherwise
-- session:request. Returns what session:request returns.
function batch.request(session, req)
  -- the client was closed while this call was on its way (by another batch call, a finalizer)
  if session == nil then error("attempt to use a closed flowservice client", 0) end
  if active == nil then return session:request(req) end -- no batch running: the usual case
  local sched, co = current()
  if not sched or session ~= sched.session then return session:request(req) end
  sched.multi = sched.multi or session:multi(sched.concurrency)
  -- the transfer's key is the call's coroutine (one request in flight per call): wait's entry
  -- names the coroutine to resume. Raises here, in the call, on a bad request (as
  -- session:request would).
  local started, why = sched.multi:start(req, co)
  if not started then
    return nil, "CURLE_FAILED_INIT: cannot start the transfer: " .. tostring(why), "CURLE_FAILED_INIT"
  end
  -- resumed with the multi's entry { key, status, headers, body, info, n = 5 }: always 5
  local done = coroutine.yield(YIELD, "request")
  return done[2], done[3], done[4], done[5]
end

--- Waits `seconds`: inside a batch call, a timer while the other calls go on; otherwise
-- sleep(seconds).
function batch.sleep(seconds, sleep)
  if current() then return coroutine.yield(YIELD, "sleep", seconds) end
  return sleep(seconds)
end

--- A sleep function (for the client's one sleep seam) that is batch.sleep over `sleep`.
function batch.sleeper(sleep)
  return function(seconds) return batch.sleep(seconds, sleep) end
end

-- pcall, but on Lua 5.1, which cannot yield across pcall, an unprotected call: there the call
-- got here only with no pcall on its stack (compat.isyieldable), so a raise ends the batch anyway.
local protected_call = compat.YIELDS_ACROSS_PCALL and pcall or function(fn, ...) return true, fn(...) end

--- Runs fn(...) once for `key` among the calls of a batch: a call that asks while another
-- call's fn for the same key is running waits for it and gets the same results (errors
-- raised by fn are raised in every waiting call too). Outside a batch: fn(...).
function batch.single_flight(key, fn, ...)
  local sched = current()
  if not sched then return fn(...) end
  local flight = sched.flights[key]
  local results
  if flight then
    results = coroutine.yield(YIELD, "join", flight)
  else
    flight = { waiters = {} }
    sched.flights[key] = flight
    results = compat.pack(protected_call(fn, ...))
    sched.flights[key] = nil
    for _, co in ipairs(flight.waiters) do sched.ready[#sched.ready + 1] = { co, results } end
  end
  if not results[1] then error(results[2], 0) end
  return compat.unpack(results, 2, results.n)
end

--- Wipes a secret that is no longer the current one (a replaced token): at once outside a
-- batch; at the end of the batch inside one, because another call may still hold it across a
-- wait (a retry's headers) and a wiped secret raises when sent.
function batch.retire(secret)
  if active then
    active.retired[#active.retired + 1] = secret
  else
    secret:wipe()
  end
end

-- ---- the scheduler -------------------------------------------------------------------------

local function call_error(index, err)
  if type(err) == "string" then return "batch: call " .. index .. ": " .. err end
  return err
end

-- Hands a finished call's results over: to on_result, or into the results list.
function Scheduler:deliver(index, results)
  if self.on_result then
    self.on_result(index, compat.unpack(results, 1, results.n))
  else
    self.results[index] = results
  end
end

-- The body of a worker coroutine: runs calls one after another, each as `fn()` on its own,
-- yielding DONE and the call's packed results after each and taking the next fn from the
-- resume. A coroutine (and its grown Lua stack) is made once per slot instead of once per
-- call. An idle worker holds its last fn until its next call or the end of the batch (at most
-- `concurrency` of them). A call that raises ends its worker (the error ends the batch).
local function worker(fn)
  while true do
    fn = coroutine.yield(DONE, pack(fn()))
  end
end

-- What coroutine.resume returned, taken as arguments: a yield (every request) packs nothing.
local function resumed(self, co, ok, ...)
  local index = self.index_of[co]
  if not ok then error(call_error(index, (...)), 0) end
  local tag, kind, arg = ...
  if tag == DONE then -- the call returned: the worker waits for the next call
    self.index_of[co] = nil
    self.running = self.running - 1
    self.idle[#self.idle + 1] = co
    self:deliver(index, kind)
    return
  end
  if tag ~= YIELD then
    error(call_error(index, "coroutine.yield inside a batch call is not supported"), 0)
  end
  if kind == "request" then -- nothing to file: the transfer's key is co
    return
  elseif kind == "sleep" then
    self.sleepers[#self.sleepers + 1] = { at = core.monotonic() + arg, co = co }
  else -- "join"
    arg.waiters[#arg.waiters + 1] = co
  end
end

-- Resumes a call with `...` and files what it yields: a request in flight, a timer, a flight
-- to join; or delivers its results when it returned. An error raised by the call propagates.
function Scheduler:resume(co, ...)
  return resumed(self, co, coroutine.resume(co, ...))
end

-- Starts the next call, or returns false when there is none. After the batch's deadline,
-- calls are not started: each gets a timeout error as its result.
function Scheduler:start_next()
  local fn = self.next_call()
  if fn == nil then return false end
  self.count = self.count + 1
  if type(fn) ~= "function" then
    error(call_error(self.count, "expected a function, got " .. type(fn)), 0)
  end
  if self.deadline_at and core.monotonic() >= self.deadline_at then
    self:deliver(self.count, compat.pack(nil, errors.new {
      kind = "timeout", message = "the batch's deadline passed before the call started",
    }))
    return true
  end
  local idle = self.idle
  local co = idle[#idle]
  if co then
    idle[#idle] = nil
  else
    co = coroutine.create(worker)
    owner[co] = self
  end
  self.index_of[co] = self.count
  self.running = self.running + 1
  self:resume(co, fn)
  return true
end

-- Seconds until the first timer is due (nil: no timers); resumes the due ones.
function Scheduler:run_timers()
  local now, first = core.monotonic(), nil
  local i = 1
  while i <= #self.sleepers do
    local s = self.sleepers[i]
    if s.at <= now then
      table.remove(self.sleepers, i)
      self:resume(s.co)
    else
      first = math.min(first or math.huge, s.at - now)
      i = i + 1
    end
  end
  return first
end

-- Waits for transfers (and timers) and resumes the calls whose requests finished.
function Scheduler:wait(timeout)
  if self.multi and self.multi:pending() > 0 then
    for _, done in ipairs(self.multi:wait(timeout)) do
      self:resume(done[1], done) -- the key is the coroutine; batch.request takes the values out
    end
  elseif timeout then
    core.sleep(timeout)
  else
    error("batch: no call can make progress", 0) -- a bug: every call waits on nothing
  end
end

-- Calls that may run at once: the batch's concurrency, lowered by the client's limiter while
-- the service throttles (limiter.lua).
function Scheduler:slots()
  local lim = self.limiter
  if not lim then return self.concurrency end
  return math.min(self.concurrency, lim:in_flight())
end

function Scheduler:loop()
  local more = true
  while true do
    while more and self.running < self:slots() do more = self:start_next() end
    if #self.ready > 0 then -- calls that waited for a flight (the token) go on first
      local ready = self.ready
      self.ready = {}
      for _, item in ipairs(ready) do self:resume(item[1], item[2]) end
    else
      local timeout = self:run_timers()
      if self.running == 0 and not more then return end
      if #self.ready == 0 and self.running > 0 then self:wait(timeout) end
    end
  end
end

-- The calls as an iterator: a list, or a function returning the next call or nil.
local function iterate(calls)
  if type(calls) == "function" then return calls end
  local i = 0
  return function()
    i = i + 1
    return calls[i]
  end
end

--- client:batch(calls [, opts]) (client.lua passes the client's session and limiter, if any;
-- `level` is where argument errors point). See docs/DESIGN.md, "Batches".
function batch.run(session, calls, opts, level, limiter)
  level = (level or 2) + 1
  if type(calls) ~= "table" and type(calls) ~= "function" then
    error("batch: calls: expected a list or an iterator function, got " .. type(calls), level)
  end
  opts = check.options(opts == nil and {} or check.table(opts, "batch: options", level), OPTIONS,
    "batch", level)
  local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
  if compat.tointeger(concurrency) == nil or concurrency < 1 or concurrency > MAX_CONCURRENCY then
    error("batch: concurrency: expected a whole number from 1 to " .. MAX_CONCURRENCY, level)
  end
  if opts.deadline ~= nil and not (opts.deadline > 0 and opts.deadline < math.huge) then
    error("batch: deadline: expected a positive number of seconds", level)
  end
  if active then error("batch: a batch cannot run inside another batch", level) end

  local sched = setmetatable({
    session = session, concurrency = compat.tointeger(concurrency), on_result = opts.on_result,
    limiter = limiter,
    results = not opts.on_result and {} or nil, next_call = iterate(calls),
    deadline_at = opts.deadline and core.monotonic() + opts.deadline,
    count = 0, running = 0, index_of = {}, sleepers = {},
    ready = {}, flights = {}, retired = {}, idle = {},
  }, Scheduler)
  active = sched
  local ok, err = pcall(sched.loop, sched)
  active = nil
  -- In-flight transfers are aborted (an error) or done; calls still suspended (an error) are
  -- dropped and collected with their coroutines.
  if sched.multi then sched.multi:close() end
  for co in pairs(sched.index_of) do owner[co] = nil end
  for _, co in ipairs(sched.idle) do owner[co] = nil end
  for _, secret in ipairs(sched.retired) do secret:wipe() end
  if not ok then error(err, 0) end
  return sched.results
end

return batch
