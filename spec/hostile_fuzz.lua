-- The driver of the hostile-server fuzzer (issue 13): runs cases of
-- spec/fixtures/hostile_http.lua against spec/fixtures/hostile_server.lua through the four ways
-- a response reaches Lua (session:request and session:multi of the C core, client:request and
-- client:batch of the library) and judges each result against what the case says a correct
-- client returns. A crash or a hang is what it is there to find; any other misbehaviour is a
-- "problem" (a string naming the case, its kind and seed, and what went wrong), printed as soon
-- as it is seen (the next case may crash the process) and kept in run.problems.
-- Used by spec/hostile_fuzz_spec.lua (short run, in make test and make check) and
-- spec/fuzz_long.lua (make fuzz-long).
local hostile = require "fixtures.hostile_http"
local core = require "flowservice.core"
local flowservice = require "flowservice"
local cjson = require "cjson"
local compat = require "flowservice.compat"

local fuzz = {}

local CALL_TIMEOUT = 20  -- seconds libcurl may take for one transfer (a stall lasts <= 1.2 s)
local CALL_BOUND = 60    -- seconds after which a call counts as hung (valgrind is slow)
local APIS = { "session", "client", "multi", "batch" }

local Run = {}
Run.__index = Run

-- opts: url (the hostile server), seed, log (function(line), default stderr), case_file (a path
-- the case in progress is written to before it runs: what to read when the process dies).
function fuzz.new(opts)
  local run = setmetatable({
    url = assert(opts.url), seed = assert(tonumber(opts.seed)), rng = hostile.rng(opts.seed),
    log = opts.log or function(line) io.stderr:write(line, "\n") end,
    case_file = opts.case_file, next_id = 0, problems = {}, counts = {}, queues = {},
  }, Run)
  for _, api in ipairs(APIS) do run.counts[api] = {} end
  return run
end

-- A seeded random seed for a case (the driver's generator is the only source).
function Run:case_seed()
  return self.rng:int(1, 2147483646)
end

-- The next kind for `api`: every kind once in a seeded order, then drawn by weight.
function Run:next_kind(api)
  local queue = self.queues[api]
  if not queue then
    queue = {}
    for i, kind in ipairs(hostile.KINDS) do queue[i] = kind end
    for i = #queue, 2, -1 do
      local j = self.rng:int(1, i)
      queue[i], queue[j] = queue[j], queue[i]
    end
    self.queues[api] = queue
  end
  if #queue > 0 then return table.remove(queue, 1) end
  local total = 0
  for _, kind in ipairs(hostile.KINDS) do total = total + hostile.WEIGHTS[kind] end
  local r = self.rng:int(1, total)
  for _, kind in ipairs(hostile.KINDS) do
    r = r - hostile.WEIGHTS[kind]
    if r <= 0 then return kind end
  end
end

-- A new case of `kind` (its own seed unless given), with its URL.
function Run:new_case(kind, seed, group, count)
  self.next_id = self.next_id + 1
  local id = "c" .. self.next_id
  local case = hostile.case(kind, seed or self:case_seed(), id)
  case.path = hostile.path(id, kind, case.seed, group, count)
  case.url = self.url .. case.path
  return case
end

local function describe_case(case, api)
  return ("%s case %s %s/%d"):format(api, case.id, case.kind, case.seed)
end

-- Writes what is about to run to the case file (reproduce a crash with the driver's seed, or the
-- kind and seed alone: hostile_http.case(kind, seed)).
function Run:running(api, cases)
  if not self.case_file then return end
  local f = io.open(self.case_file, "w")
  if not f then return end
  f:write(("seed %d, %d cases before these, %s, in flight:\n"):format(self.seed, self.next_id - #cases, api))
  for _, case in ipairs(cases) do f:write("  ", describe_case(case, api), "\n") end
  f:close()
end

function Run:problem(case, api, what)
  local line = ("hostile fuzz (seed %d): %s: %s"):format(self.seed, case and describe_case(case, api) or api, what)
  self.problems[#self.problems + 1] = line
  self.log("FAIL " .. line)
end

-- Counts a request and its outcome ("response", "failure" or "problem") per API and kind.
function Run:count(api, case, outcome)
  local by_kind = self.counts[api][case.kind] or { requests = 0, response = 0, failure = 0, problem = 0 }
  self.counts[api][case.kind] = by_kind
  by_kind.requests = by_kind.requests + 1
  by_kind[outcome] = by_kind[outcome] + 1
end

local function short(s)
  s = tostring(s)
  return #s > 120 and s:sub(1, 120) .. "..." or s
end

-- Judges what session:request (or a multi result after its key) returned for `case`:
-- status, headers, body, info or nil, message, curl name, info. `strict`: the connection was
-- clean, so a correct response must come back as it is. Returns a problem or nil, and the outcome.
local function judge_core(case, strict, status, headers, body, info)
  if status == nil then
    if type(headers) ~= "string" or not headers:match("^CURLE_[%u%d_]+: .") or type(body) ~= "string"
        or type(info) ~= "table" then
      return ("a failure without its message, name and info: %s, %s, %s"):format(type(headers), type(body),
        type(info)), "problem"
    end
    if case.expect and strict then return "failed on a clean connection: " .. short(headers), "problem" end
    return nil, "failure"
  end
  if type(status) ~= "number" or type(headers) ~= "table" or type(body) ~= "string" or type(info) ~= "table" then
    return ("a result that is neither a response nor a failure: %s, %s, %s, %s"):format(type(status),
      type(headers), type(body), type(info)), "problem"
  end
  if case.must_fail then
    return ("returned status %d for a response it must refuse"):format(status), "problem"
  end
  if headers["x-case"] and headers["x-case"] ~= case.id then
    return "returned the response of case " .. short(headers["x-case"]), "problem"
  end
  if case.expect and (status ~= case.expect.status or body ~= case.expect.body) then
    return ("returned %d %q, not the case's %d %q"):format(status, short(body), case.expect.status,
      short(case.expect.body)), "problem"
  end
  return nil, "response"
end

-- Judges what client:request returned (body, response or nil, err).
local function judge_client(case, strict, body, res)
  if body == nil then
    local err = res
    if not flowservice.errors.is(err) or type(err.message) ~= "string" or err.message == "" then
      return "a failure without an error that says why: " .. short(err), "problem"
    end
    if case.must_fail then return nil, "failure" end
    local expect = case.expect
    if expect and err.status and err.status ~= expect.status then
      return ("an error with status %s for the case's %d"):format(tostring(err.status), expect.status), "problem"
    end
    local decodable = expect and (not expect.json or pcall(cjson.decode, expect.body))
    if expect and strict and decodable and expect.status < 300 then
      return "failed on a clean connection: " .. short(err), "problem"
    end
    return nil, "failure"
  end
  if type(res) ~= "table" or type(res.status) ~= "number" then
    return "a result without its response table", "problem"
  end
  if case.must_fail then
    return ("returned status %d for a response it must refuse"):format(res.status), "problem"
  end
  if type(res.headers) ~= "table" or (res.headers["x-case"] and res.headers["x-case"] ~= case.id) then
    return "returned the response of case " .. short(type(res.headers) == "table" and res.headers["x-case"]),
      "problem"
  end
  local expect = case.expect
  if expect then
    -- a JSON body comes back decoded; any other body as true
    local ok, want = pcall(cjson.decode, expect.body)
    local same
    if expect.json then
      same = ok and type(body) == "table" and body.case == want.case and body.pad == want.pad
    else
      same = body == true
    end
    if res.status ~= expect.status or not same then
      return ("returned %d %s, not the case's %d %q"):format(res.status, short(type(body) == "table"
        and body.case or body), expect.status, short(expect.body)), "problem"
    end
  end
  return nil, "response"
end

-- Runs fn (a call that may raise), bounded: a raise and a call over CALL_BOUND are problems.
function Run:timed(case, api, fn)
  local started = core.monotonic()
  local results = compat.pack(pcall(fn))
  local took = core.monotonic() - started
  if not results[1] then
    self:problem(case, api, "raised: " .. short(results[2]))
    return nil
  end
  if took > CALL_BOUND then self:problem(case, api, ("took %.1f s"):format(took)) end
  return results
end

function Run:settle(case, api, problem, outcome)
  if problem then self:problem(case, api, problem) end
  self:count(api, case, problem and "problem" or outcome)
end

-- A session (core) or client (library) for the round: kept across rounds, so a handle serves
-- responses of every kind one after another (point 3 needs a reused handle); a fresh one now
-- and then.
function Run:session()
  if not self.core_session or self.rng:chance(15) then
    if self.core_session then self.core_session:close() end
    self.core_session = core.session { timeout = CALL_TIMEOUT, connect_timeout = 10 }
    self.session_dirty = false
  end
  return self.core_session
end

function Run:client()
  if not self.lib_client or self.rng:chance(15) then
    if self.lib_client then self.lib_client:close() end
    self.lib_client = assert(flowservice.new {
      env = false, base_url = self.url, ims_url = self.url, access_token = "fuzz-token", api_key = "fuzz-key",
      org_id = "FUZZ0000@AdobeOrg", retry = false, timeout = CALL_TIMEOUT, connect_timeout = 10,
    })
    self.client_dirty = false
  end
  return self.lib_client
end

-- `n` cases one after another on the round's session (core).
function Run:session_round(n)
  local s = self:session()
  for _ = 1, n do
    local case = self:new_case(self:next_kind("session"))
    self:running("session:request", { case })
    local r = self:timed(case, "session", function() return s:request { url = case.url, timeout = CALL_TIMEOUT } end)
    if r then
      self:settle(case, "session", judge_core(case, case.clean and not self.session_dirty, r[2], r[3], r[4], r[5]))
    else
      self:count("session", case, "problem")
    end
    self.session_dirty = not case.clean and not case.must_fail
  end
end

-- `n` cases one after another through client:request.
function Run:client_round(n)
  local c = self:client()
  for _ = 1, n do
    local case = self:new_case(self:next_kind("client"))
    self:running("client:request", { case })
    local r = self:timed(case, "client", function()
      return c:request { method = "GET", path = case.path }
    end)
    if r then
      self:settle(case, "client", judge_client(case, case.clean and not self.client_dirty, r[2], r[3]))
    else
      self:count("client", case, "problem")
    end
    self.client_dirty = not case.clean and not case.must_fail
  end
end

-- Judges a multi's finished list: each entry { key, <session:request's returns>, n = 5 }.
function Run:judge_wait(done, by_key, strict, finished)
  if type(done) ~= "table" then
    self:problem(nil, "multi", "m:wait returned a " .. type(done))
    return false
  end
  for i, r in ipairs(done) do
    local case = type(r) == "table" and by_key[r[1]]
    if not case then
      self:problem(nil, "multi", ("m:wait's entry %d is a %s%s, not a result with a started key"):format(i,
        type(r), type(r) == "string" and (" (" .. short(r) .. ")") or ""))
      return false
    end
    by_key[r[1]] = nil
    finished[#finished + 1] = case
    if r.n ~= 5 then
      self:settle(case, "multi", ("a result with n = %s, not 5"):format(tostring(r.n)))
    else
      self:settle(case, "multi", judge_core(case, strict[case], r[2], r[3], r[4], r[5]))
    end
  end
  return true
end

-- `cases` through one session:multi(concurrency) (core): started as slots free up, results
-- judged as m:wait returns them. `settle` (seconds): after the first starts, one m:wait of that
-- long (the requests go out, the server holds the ends of the responses) and a sleep of twice
-- that without driving the transfers, so what the server sends meanwhile is all read by the
-- next m:wait.
function Run:multi_cases(cases, concurrency, settle)
  local s = core.session { timeout = CALL_TIMEOUT, connect_timeout = 10 }
  local m = s:multi(concurrency)
  local by_key, strict, finished, next_case, dirty = {}, {}, {}, 1, false
  local give_up = core.monotonic() + CALL_BOUND + 2 * #cases
  self:running("session:multi(" .. concurrency .. ")", cases)
  while next_case <= #cases or m:pending() > 0 do
    while next_case <= #cases do
      local case = cases[next_case]
      local ok, started = pcall(m.start, m, { url = case.url, timeout = CALL_TIMEOUT }, case.id)
      if not ok then
        self:problem(case, "multi", "m:start raised: " .. short(started))
        next_case = next_case + 1
      elseif not started then
        break
      else
        by_key[case.id], strict[case] = case, case.clean and not dirty
        dirty = dirty or (not case.clean and not case.must_fail)
        next_case = next_case + 1
      end
    end
    if m:pending() > 0 then
      local ok, done = pcall(m.wait, m, settle or 1)
      if settle and ok then core.sleep(2 * settle) end
      settle = nil
      if not ok then
        self:problem(nil, "multi", "m:wait raised: " .. short(done))
        break
      end
      if not self:judge_wait(done, by_key, strict, finished) then break end
    end
    if core.monotonic() > give_up then
      self:problem(nil, "multi", ("transfers not finished after %d s"):format(CALL_BOUND + 2 * #cases))
      break
    end
  end
  m:close()
  s:close()
  return finished
end

function Run:multi_round(n, concurrency)
  local cases = {}
  for i = 1, n do cases[i] = self:new_case(self:next_kind("multi")) end
  self:multi_cases(cases, concurrency)
end

-- `cases` through client:batch (library) with `concurrency`, each a client:request.
function Run:batch_cases(cases, concurrency, c)
  c = c or self:client()
  local calls, dirty, strict = {}, false, {}
  for i, case in ipairs(cases) do
    calls[i] = function() return c:request { method = "GET", path = case.path } end
    strict[i] = case.clean and not dirty
    dirty = dirty or (not case.clean and not case.must_fail)
  end
  self:running("client:batch(concurrency " .. concurrency .. ")", cases)
  local r = self:timed(cases[1], "batch", function() return c:batch(calls, { concurrency = concurrency }) end)
  if not r then
    for _, case in ipairs(cases) do self:count("batch", case, "problem") end
    self.client_dirty = true
    return
  end
  local results = r[2]
  for i, case in ipairs(cases) do
    local one = results[i]
    if type(one) ~= "table" then
      self:settle(case, "batch", "no result")
    else
      self:settle(case, "batch", judge_client(case, strict[i], one[1], one[2]))
    end
  end
  self.client_dirty = self.client_dirty or dirty
end

function Run:batch_round(n, concurrency)
  local cases = {}
  for i = 1, n do cases[i] = self:new_case(self:next_kind("batch")) end
  self:batch_cases(cases, concurrency)
end

-- `count` responses of `kind` (with one seed) held by the server until all have arrived, so
-- they end within one m:wait (api "multi") or one batch turn (api "batch").
function Run:storm(api, kind, count, seed)
  self.next_id = self.next_id + 1
  local group, cases = "g" .. self.next_id, {}
  seed = seed or self:case_seed()
  for i = 1, count do cases[i] = self:new_case(kind, seed, group, count) end
  if api == "multi" then return self:multi_cases(cases, count, 1) end
  return self:batch_cases(cases, count)
end

-- Cases until `total` have run: rounds of 1 to 20 through a randomly chosen API, concurrency
-- 1 to 8 for multi and batch (now and then 16 or 64).
function Run:random(total)
  local ran = 0
  while ran < total do
    local api = self.rng:pick(APIS)
    local n = math.min(total - ran, self.rng:int(1, 20))
    local concurrency = self.rng:chance(10) and self.rng:pick { 16, 64 } or self.rng:int(1, 8)
    if api == "session" then self:session_round(n)
    elseif api == "client" then self:client_round(n)
    elseif api == "multi" then self:multi_round(n, concurrency)
    else self:batch_round(n, concurrency) end
    ran = ran + n
  end
end

function Run:close()
  if self.core_session then self.core_session:close() end
  if self.lib_client then self.lib_client:close() end
  self.core_session, self.lib_client = nil, nil
end

-- Totals per API and per kind: lines of "api kind requests responses failures problems".
function Run:report()
  local lines = { ("%-8s %-18s %8s %9s %8s %8s"):format("api", "kind", "requests", "responses", "failures",
    "problems") }
  local totals = { requests = 0, response = 0, failure = 0, problem = 0 }
  for _, api in ipairs(APIS) do
    for _, kind in ipairs(hostile.ALL_KINDS) do
      local c = self.counts[api][kind]
      if c then
        lines[#lines + 1] = ("%-8s %-18s %8d %9d %8d %8d"):format(api, kind, c.requests, c.response, c.failure,
          c.problem)
        for k in pairs(totals) do totals[k] = totals[k] + c[k] end
      end
    end
  end
  lines[#lines + 1] = ("%-8s %-18s %8d %9d %8d %8d"):format("all", "", totals.requests, totals.response,
    totals.failure, totals.problem)
  return table.concat(lines, "\n"), totals
end

fuzz.APIS = APIS
return fuzz
