-- Finalizer chaos (issue 13, point 2 and deliverable 4): finalizers that close sessions,
-- multis and clients, wipe the secrets a request uses, and call back into the core and the
-- client, run while a request is read, built and sent and while its results are pushed.
--
-- The collector is put in a mode where every allocation finishes a whole cycle (pause 0 and a
-- step large enough for a cycle, on every Lua version),
-- and a population of finalizable objects that make a new one each time they are collected
-- keeps finalizers running at nearly every allocation: a "tick" is one such cycle. A sweep runs
-- the same call again and again with one destructive action armed for tick k = 1, 2, ...: every
-- allocation point of the call in turn, until the call ends before tick k. No call may crash
-- or trip a sanitizer (make check runs this file under ASan/UBSan and valgrind); each must
-- complete with a well-formed result, or raise an error that says why (the session, multi or
-- client was closed, the secret wiped, the object is in use).
-- FLOWSERVICE_CHAOS_TRIES=n: a sweep tries at most n ticks, spread evenly (make check sets it
-- under valgrind, which is slow: a sweep costs its tries times the call's ticks in cycles).
local helper = require "helper"
local core = require "flowservice.core"
local flowservice = require "flowservice"
local compat = require "flowservice.compat"

-- How many ticks a sweep tries at most, spread evenly over the call: every one on 5.4; 12
-- elsewhere, where a call allocates more and a cycle costs more.
local MAX_TRIES = tonumber(os.getenv("FLOWSERVICE_CHAOS_TRIES") or "") or (_VERSION == "Lua 5.4" and math.huge or 12)
local MAX_TICKS = 2000     -- far more than any call here allocates
local POPULATION = 8       -- finalizable objects pending at any time

-- What a raise must say: why the call could not go on.
local REASONS = { "closed", "wiped", "busy", "in use", "finali[sz]" }

local function says_why(message)
  if type(message) ~= "string" then return false end
  for _, pattern in ipairs(REASONS) do
    if message:find(pattern) then return true end
  end
  return false
end

---------------------------------------------------------------------------------------------------
-- The chaos: ticks, background finalizers and the armed action
---------------------------------------------------------------------------------------------------

local chaos = { active = false, tick = 0, fired = false, callbacks = 0, callback_errors = {} }

local make_finalizable -- below

-- Runs in every finalizer while chaos is active: counts the tick (the first object of a cycle),
-- fires the armed action at its tick, runs light callbacks into the core, makes a replacement.
local function finalize(role)
  if not chaos.active then return end
  if role == "tick" then
    chaos.tick = chaos.tick + 1
    if chaos.armed and chaos.tick == chaos.at then
      chaos.fired = true
      local action = chaos.armed
      chaos.armed = nil
      local ok, err = pcall(action)
      if not ok then chaos.callback_errors[#chaos.callback_errors + 1] = tostring(err) end
    end
  elseif chaos.background then
    chaos.callbacks = chaos.callbacks + 1
    pcall(chaos.background)
  end
  make_finalizable(role)
end

-- A garbage object with a finalizer: a table (5.2+) or a proxy (5.1 and LuaJIT run no __gc of
-- tables). The finalizer is pcall'd: in 5.1 to 5.3 an error in __gc propagates to the allocation.
-- `holder` (optional) keeps it alive until the holder is dropped.
function make_finalizable(role, holder)
  local function gc() pcall(finalize, role) end
  local object
  if newproxy then -- luacheck: ignore 113
    object = newproxy(true) -- luacheck: ignore 113
    getmetatable(object).__gc = gc
  else
    object = setmetatable({}, { __gc = gc })
  end
  if holder then holder[#holder + 1] = object end
end

local saved_pause, saved_stepmul

-- JIT_LIVELOCK: on LuaJIT the sweeps run with the JIT compiler off. LuaJIT 2.1 (Debian 12's
-- 2.1.0~beta3+git20220320) runs no finalizer on a trace, and with this collector mode and
-- finalizers that make new finalizable objects its collector never leaves a step taken on a
-- trace: the process spins at 100 % in the collector, with no C of ours on the stack. Pure Lua
-- shows it (no flowservice at all): pause 0 or 100 with stepmul 0 (or 10^5), eight newproxy
-- objects whose __gc makes a new one, and a loop over pairs() called 5,000 times hangs; with
-- -joff, or pause 200, it ends in milliseconds. The interpreter reaches every allocation point
-- of the core, which is what the sweeps are for.

-- A step multiplier that makes one step a whole cycle: 5.1 and LuaJIT read 0 as "no limit";
-- 5.2 and 5.3 raise anything under 40 to 40, so a huge one; 5.4 keeps it in a byte (at most
-- 1023), so 1000 and a step size of 2^40 bytes (set below).
local WHOLE_CYCLE_STEPMUL = (_VERSION == "Lua 5.1" and 0) or (_VERSION == "Lua 5.4" and 1000) or 1000000000

-- From here every allocation finishes a collection cycle (and so runs finalizers): pause 0 and
-- a step that does a whole cycle, and a collection so the new pause applies at once. Returns
-- the finalizable objects, held: the first allocation after the caller drops them collects them.
local function chaos_on(background)
  if jit then jit.off() jit.flush() end -- see JIT_LIVELOCK
  saved_pause = collectgarbage("setpause", 0)
  saved_stepmul = collectgarbage("setstepmul", WHOLE_CYCLE_STEPMUL)
  if _VERSION == "Lua 5.4" then collectgarbage("incremental", 0, 0, 40) end
  collectgarbage("collect")
  local holder = {}
  make_finalizable("tick", holder)
  for _ = 1, POPULATION do make_finalizable("background", holder) end
  chaos.active, chaos.tick, chaos.background = true, 0, background
  return holder
end

local function chaos_off()
  chaos.active, chaos.armed, chaos.background = false, nil, nil
  collectgarbage("setpause", saved_pause)
  collectgarbage("setstepmul", saved_stepmul)
  if _VERSION == "Lua 5.4" then collectgarbage("incremental", 0, 0, 13) end -- 5.4's default step
  collectgarbage("collect") -- runs the last finalizers, with chaos off
  if jit then jit.on() end
end

-- Runs call() with `action` armed for tick `at` (none: nil); returns whether it fired, pcall's
-- results and the ticks the call took.
local function with_chaos(at, action, background, call)
  chaos.fired, chaos.armed, chaos.at = false, action, at
  chaos.holder = chaos_on(background)
  chaos.holder = nil -- the objects are garbage: the call's first allocation collects them
  local results = compat.pack(pcall(call))
  local ticks = chaos.tick
  chaos_off()
  return chaos.fired, results, ticks
end

-- Sweeps tick k from 1 until the call ends before its tick (by a stride that keeps the tries
-- under MAX_TRIES: a first run with nothing armed counts the call's ticks); `setup()` makes a
-- fresh world and returns { call = function, action = function, check = function(results) ->
-- problem, cleanup = function }, where results are pcall's. Returns the problems, with their tick.
local function sweep(name, setup, background)
  local calibration = setup()
  local _, _, ticks = with_chaos(nil, nil, background, calibration.call)
  if calibration.cleanup then pcall(calibration.cleanup) end
  local stride = math.max(1, math.ceil(ticks / MAX_TRIES))
  local problems, tried, fired, completed, raised = {}, 0, true, 0, {}
  local k = 1
  while fired and k <= MAX_TICKS do
    local world = setup()
    local results
    fired, results = with_chaos(k, world.action, background, world.call)
    tried = tried + 1
    local problem
    if not results[1] then
      local message = tostring(results[2])
      raised[message] = (raised[message] or 0) + 1
      if not says_why(results[2]) then problem = "raised without saying why: " .. message end
    else
      completed = completed + 1
      problem = world.check(results)
    end
    if problem then problems[#problems + 1] = ("%s, tick %d: %s"):format(name, k, problem) end
    if world.cleanup then pcall(world.cleanup) end
    k = k + stride
  end
  assert(tried > 1, name .. ": the action never fired (no finalizer ran during the call)")
  local reasons = {}
  for message, n in pairs(raised) do reasons[#reasons + 1] = ("%d x %q"):format(n, message) end
  table.sort(reasons)
  io.stderr:write(("\nchaos: %s: %d ticks, %d tried, %d completed, raised: %s\n"):format(name, ticks, tried, completed,
    #reasons > 0 and table.concat(reasons, ", ") or "none"))
  return problems
end

---------------------------------------------------------------------------------------------------
-- Well-formed results
---------------------------------------------------------------------------------------------------

-- session:request's returns (after pcall's true): status, headers, body, info, or nil,
-- "CURLE_...", name, info.
local function core_result_problem(r, from)
  from = from or 2
  local status, headers, body, info = r[from], r[from + 1], r[from + 2], r[from + 3]
  if status == nil then
    if type(headers) == "string" and headers:match("^CURLE_") and type(info) == "table" then return nil end
    return "a failure without its message and info: " .. tostring(headers)
  end
  if type(status) ~= "number" or type(headers) ~= "table" or type(body) ~= "string" or type(info) ~= "table" then
    return ("not a response: %s, %s, %s, %s"):format(type(status), type(headers), type(body), type(info))
  end
  return nil
end

-- m:wait results collected by the call: each { key, <session:request's returns>, n = 5 }.
local function multi_results_problem(r)
  local list = r[2]
  if type(list) ~= "table" then return "no list of results" end
  for _, one in ipairs(list) do
    if type(one) ~= "table" or one.n ~= 5 then return "a result that is not { key, ..., n = 5 }: " .. tostring(one) end
    local problem = core_result_problem(one, 2)
    if problem then return problem end
  end
  return nil
end

-- client:request and resource calls: a value (body, item) or nil and an error that says why.
local function client_result_problem(r)
  if r[2] ~= nil then return nil end
  local err = r[3]
  if flowservice.errors.is(err) and type(err.message) == "string" and err.message ~= "" then return nil end
  return "nil without an error that says why: " .. tostring(err)
end

local function batch_results_problem(r)
  local results = r[2]
  if type(results) ~= "table" then return "client:batch returned no results" end
  for i, one in ipairs(results) do
    if type(one) ~= "table" then return "call " .. i .. " has no result" end
    local problem = client_result_problem { true, one[1], one[2] }
    if problem then return "call " .. i .. ": " .. problem end
  end
  return nil
end

---------------------------------------------------------------------------------------------------
-- The specs
---------------------------------------------------------------------------------------------------

local TOKEN = "chaos-token-0123456789"

describe("finalizer chaos", function()
  local fx, emu
  setup(function()
    fx = helper.start_http_fixture("reply") -- answers each request with its own body
    emu = helper.start_emulator()
  end)
  teardown(function()
    if fx then fx.stop() end
    if emu then emu.stop() end
  end)

  -- A request with secret pieces in a header and in the body, and a capture (its empty secret
  -- is allocated between reading the request and building it).
  local function secret_request(header_secret, body_secret)
    return {
      method = "POST", url = fx.url .. "/200", capture = "access_token",
      headers = { Authorization = { "Bearer ", header_secret }, ["X-Chaos"] = "yes" },
      body = { '{"access_token":"', body_secret, '","token_type":"bearer","expires_in":60}' },
    }
  end

  -- The world of a core call: a session, two secrets and the request (made before the chaos,
  -- so the ticks count the call's own allocations).
  local function core_world()
    local w = { session = core.session { timeout = 10 } }
    w.header_secret, w.body_secret = core.secret(TOKEN), core.secret(TOKEN)
    w.request = secret_request(w.header_secret, w.body_secret)
    function w.cleanup()
      if w.multi then w.multi:close() end
      w.session:close()
    end
    return w
  end

  local core_actions = {
    { "closes the session", function(w) w.session:close() end },
    { "wipes the header's secret", function(w) w.header_secret:wipe() end },
    { "wipes the body's secret", function(w) w.body_secret:wipe() end },
    { "sends a request on the same session", function(w)
      w.session:request { method = "POST", url = fx.url .. "/200", body = '{"inner":true}' }
    end },
  }

  for _, action in ipairs(core_actions) do
    local name, act = action[1], action[2]
    it("session:request: a finalizer that " .. name .. " at every allocation", function()
      local problems = sweep("session:request, " .. name, function()
        local w = core_world()
        return {
          action = function() act(w) end,
          call = function() return w.session:request(w.request) end,
          check = core_result_problem,
          cleanup = w.cleanup,
        }
      end)
      assert.same({}, problems)
    end)
  end

  local multi_actions = {
    { "closes the multi", function(w) w.multi:close() end },
    { "closes the session", function(w) w.session:close() end },
    { "wipes the header's secret", function(w) w.header_secret:wipe() end },
    { "wipes the body's secret", function(w) w.body_secret:wipe() end },
    { "starts another transfer", function(w)
      w.multi:start({ method = "POST", url = fx.url .. "/200", body = '{"inner":true}' }, "inner")
    end },
    { "waits on the multi", function(w) w.multi:wait(0) end },
  }

  -- Starts the two transfers of a multi world: the request with secrets, and a second one.
  -- false alone: a finalizer's transfer took the last slot; false and a message: the multi could
  -- not start it (raised, so it counts unless it says why).
  local function start_both(w)
    for _, start in ipairs { { w.request, "outer" },
        { { url = fx.url .. "/201", method = "POST", body = '{"second":1}' }, "second" } } do
      local started, why = w.multi:start(start[1], start[2])
      if not started and why then error("m:start: " .. tostring(why), 0) end
    end
  end

  -- Collects m:wait's results until nothing is pending.
  local function drain(w)
    local results = {}
    local give_up = core.monotonic() + 30
    while w.multi:pending() > 0 and core.monotonic() < give_up do
      for _, r in ipairs(w.multi:wait(1)) do results[#results + 1] = r end
    end
    return results
  end

  for _, action in ipairs(multi_actions) do
    local name, act = action[1], action[2]
    it("session:multi: a finalizer that " .. name .. " at every allocation of m:start and m:wait", function()
      local problems = sweep("session:multi, " .. name, function()
        local w = core_world()
        w.multi = w.session:multi(2)
        return {
          action = function() act(w) end,
          call = function()
            start_both(w)
            return drain(w)
          end,
          check = multi_results_problem,
          cleanup = w.cleanup,
        }
      end)
      assert.same({}, problems)
    end)

    -- the transfers started before the chaos: every allocation of m:wait and its result pushing
    it("session:multi: a finalizer that " .. name .. " at every allocation of m:wait", function()
      local problems = sweep("session:multi (wait), " .. name, function()
        local w = core_world()
        w.multi = w.session:multi(2)
        start_both(w)
        return {
          action = function() act(w) end,
          call = function() return drain(w) end,
          check = multi_results_problem,
          cleanup = w.cleanup,
        }
      end)
      assert.same({}, problems)
    end)
  end

  -- The library's private state of a client (its session and secrets), found through the
  -- upvalue every method shares: the chaos needs what a user cannot reach.
  local function private_of(client)
    local tostring_method = getmetatable(client).__tostring
    for i = 1, 50 do
      local name, value = debug.getupvalue(tostring_method, i)
      if name == nil then break end
      if name == "private" then return value[client] end
    end
    error("no private state found")
  end

  local function client_world()
    local w = { client = helper.new_client(emu, { retry = false, timeout = 10 }) }
    w.private = private_of(w.client)
    return w
  end

  local client_actions = {
    { "closes the client", function(w) w.client:close() end },
    { "closes the client's session", function(w) w.private.session:close() end },
    { "wipes the client's secrets", function(w)
      for _, key in ipairs { "token", "client_secret", "static_token" } do
        if w.private[key] then w.private[key]:wipe() end
      end
    end },
    { "calls back into the client", function(w)
      w.client:request { method = "GET", path = "/connections" }
    end },
  }

  local client_calls = {
    { "client:request", function(w) return w.client:request { method = "GET", path = "/connections" } end,
      client_result_problem },
    { "connections:create", function(w)
      return w.client.connections:create {
        name = "chaos", spec = "oracle-service-cloud",
        auth = { host = "example.custhelp.com", username = "svc-user", password = "chaos-password" },
      }
    end, client_result_problem },
    { "client:batch", function(w)
      return w.client:batch({
        function() return w.client:request { method = "GET", path = "/connections" } end,
        function() return w.client.connections:get("00000000-0000-4000-8000-000000000000") end,
        function() return w.client:request { method = "GET", path = "/flows" } end,
      }, { concurrency = 2 })
    end, batch_results_problem },
  }

  -- Not chaos, the same hazard by hand: a batch call closes the client while another call waits
  -- for its token; that call resumes to find the client closed.
  it("client:batch: a call that closes the client while another is in flight", function()
    local client = helper.new_client(emu, { retry = false })
    local ok, err = pcall(client.batch, client, {
      function() return client:request { method = "GET", path = "/connections" } end,
      function() client:close() return true end,
    }, { concurrency = 2 })
    assert.is_false(ok)
    assert.matches("closed flowservice client", err)
  end)

  for _, call in ipairs(client_calls) do
    for _, action in ipairs(client_actions) do
      local name, act = action[1], action[2]
      it(call[1] .. ": a finalizer that " .. name .. " at every allocation", function()
        local problems = sweep(call[1] .. ", " .. name, function()
          local w = client_world()
          return {
            action = function() act(w) end,
            call = function() return call[2](w) end,
            check = call[3],
            cleanup = function() w.client:close() end,
          }
        end, function() return core.type(TOKEN) end)
        assert.same({}, problems)
      end)
    end
  end
end)
