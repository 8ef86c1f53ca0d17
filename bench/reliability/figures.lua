-- The five figures of the reliability bench (issue 5, "Measured figures"; reference
-- transport-security.md section 6, rows R1, R4-R7). Each takes the context from
-- harness.start and the sizes for the chosen form, and returns result rows.
local harness = require "reliability.harness"
local corpus = require "reliability.corpus"
local retry = require "flowservice.retry"
local helper = require "spec.helper"
local core = require "flowservice.core"

local figures = {}

local FLOW = harness.FLOW
local GET_ONE = FLOW .. "/connections/*"
local CREATE = FLOW .. "/connections"
local SMALL_BACKOFF = 0.001 -- seconds: base and throttle_base where the wait is not measured

---------------------------------------------------------------------------------------------------
-- 1. GET success rate under injected 503s (R4)
---------------------------------------------------------------------------------------------------

function figures.get_success(ctx, sizes)
  local rows = {}
  local attempts = retry.DEFAULTS.attempts
  for _, p in ipairs { 0.1, 0.3, 0.5 } do
    ctx.faults()
    -- An unlimited budget: this figure measures the attempts, figure 2 the budget.
    local client = ctx.client { sandbox = "test-get-success", retry = {
      attempts = attempts, base = SMALL_BACKOFF, throttle_base = SMALL_BACKOFF, budget = 1e12 } }
    local id = assert(client.connections:create(harness.osc_input("target"))).id
    ctx.admin.set_faults { seed = ctx.seed, rules = {
      { method = "GET", path = GET_ONE, probability = p, fault = "status", status = 503 } } }
    local n, ok = sizes.get_calls, 0
    local before = ctx.admin.stats().requests
    for _ = 1, n do
      if client.connections:get(id) then ok = ok + 1 end
    end
    local sent = ctx.admin.stats().requests - before
    client:close()
    local expected = 1 - p ^ attempts
    local sigma = math.sqrt(expected * (1 - expected) / n)
    local margin = math.max(0.01, 3 * sigma) -- +-1 pp (R4), or 3 sigma where n is too small for it
    local rate = ok / n
    rows[#rows + 1] = harness.row(
      ("1. GET success, %d %% 503s"):format(p * 100),
      ("%s of %d calls; %.3f requests/call (server)"):format(harness.pct(rate), n, sent / n),
      ("1-p^%d = %s +- %.2f pp; %.3f requests/call"):format(attempts, harness.pct(expected), 100 * margin,
        1 + p + p ^ 2),
      math.abs(rate - expected) <= margin)
  end
  return rows
end

---------------------------------------------------------------------------------------------------
-- 2. Sustained outage: requests per call once the budget is spent (R5)
---------------------------------------------------------------------------------------------------

-- One outage: every request answers `status`; returns the row.
local function outage(ctx, sizes, status, throttle)
  ctx.faults()
  local client = ctx.client { sandbox = "test-outage", retry = { base = SMALL_BACKOFF, throttle_base = SMALL_BACKOFF } }
  local id = assert(client.connections:create(harness.osc_input("target"))).id
  assert(client:authenticate())
  ctx.admin.set_faults { seed = ctx.seed, rules = { { path = "*", fault = "status", status = status } } }
  local n = sizes.outage_calls
  local per_call, exhausted_at, last_multi, succeeded, elapsed = {}, nil, 0, 0, 0
  local before = ctx.admin.stats().requests
  for i = 1, n do
    local s0 = ctx.admin.stats().requests
    local started = harness.now()
    local item, err = client.connections:get(id)
    elapsed = elapsed + harness.now() - started
    per_call[i] = ctx.admin.stats().requests - s0
    if per_call[i] > 1 then last_multi = i end
    if item then
      succeeded = succeeded + 1
    elseif err.budget_exhausted and not exhausted_at then
      exhausted_at = i
    end
  end
  local total = ctx.admin.stats().requests - before
  -- Recovery: the outage ends; the next call must succeed at once.
  ctx.admin.clear_faults()
  local recovered = client.connections:get(id) ~= nil
  client:close()

  local after, after_calls = 0, 0
  for i = last_multi + 1, n do
    after, after_calls = after + per_call[i], after_calls + 1
  end
  local cost = retry.cost(throttle)
  local extra = retry.DEFAULTS.budget // cost
  local expected_spent = math.ceil(extra / (retry.DEFAULTS.attempts - 1))
  local rate = after_calls > 0 and after / after_calls or 0
  return harness.row(
    ("2. outage, 100 %% %d"):format(status),
    ("%.2f requests/call after the budget was spent; spent after call %d (client: %s); "
      .. "%d requests for %d calls (%d succeeded); %.2f ms/call; next call after the outage %s")
      :format(rate, last_multi, tostring(exhausted_at), total, n, succeeded, 1000 * elapsed / n,
        recovered and "succeeded" or "FAILED"),
    ("1.00 requests/call; spent after call %d (budget %d / cost %d = %d retries); <= %d requests; recovers")
      :format(expected_spent, retry.DEFAULTS.budget, cost, extra, n + extra),
    rate == 1 and last_multi == expected_spent and total <= n + extra and recovered and succeeded == 0)
end

function figures.outage(ctx, sizes)
  return {
    outage(ctx, sizes, 503, false), -- no Retry-After: a transient error, cost RETRY_COST
    outage(ctx, sizes, 429, true),  -- throttling, cost THROTTLE_COST
  }
end

---------------------------------------------------------------------------------------------------
-- 3. Duplicates created by ensure under faults after send (R6)
---------------------------------------------------------------------------------------------------

-- calls / probability: the sizes' fields to use (default ensure_calls, fault_probability).
-- in_flight_limit: the client option (seconds ensure waits for an ambiguous create to land):
-- small here, as the emulator's delays are short; the default is Adobe's gateway cut plus a margin.
local ENSURE_FAULTS = {
  { label = "reset after send", rule = { fault = "reset", phase = "after" } },
  { label = "500 after create", rule = { fault = "status", status = 500, phase = "after" } },
  -- The reply comes later than the client's timeout: a read timeout after the create was done.
  { label = "read timeout after create", timeout = 0.3, rule = { fault = "delay", seconds = 0.6, phase = "after" },
    calls = "delay_calls", probability = "delay_probability" },
  -- The create is still queued at the service when the client gives up: it is carried out
  -- 0.3 s later, after ensure's first look (issue 14 point 2).
  { label = "create still in flight when the client times out", timeout = 0.3, in_flight_limit = 1,
    rule = { fault = "delay", seconds = 0.6, phase = "before" },
    calls = "in_flight_calls", probability = "in_flight_probability" },
  -- The service carried the create out, then a 503 or 429 came back (a problem document, not
  -- the gateway's 429050 refusal): not resent, ambiguous (issue 14 point 4).
  { label = "503/429 after the create was carried out", in_flight_limit = 1,
    rule = { fault = "status", status = 503, phase = "after" },
    second = { fault = "status", status = 429, phase = "after" } },
}

-- Names created more than once, names never created, from the emulator's own list.
local function count_names(items, prefix, n)
  local per_name = {}
  for _, item in ipairs(items) do per_name[item.name] = (per_name[item.name] or 0) + 1 end
  local duplicates, missing = 0, 0
  for i = 1, n do
    local c = per_name[prefix .. i] or 0
    if c == 0 then missing = missing + 1 end
    if c > 1 then duplicates = duplicates + c - 1 end
  end
  return duplicates, missing
end

local function ensure_under(ctx, sizes, f)
  ctx.faults()
  local sandbox = "test-ensure-" .. f.rule.fault
  local client = ctx.client { sandbox = sandbox, timeout = f.timeout, in_flight_limit = f.in_flight_limit,
    retry = { base = SMALL_BACKOFF, throttle_base = SMALL_BACKOFF } }
  assert(client:authenticate())
  local probability = sizes[f.probability or "fault_probability"]
  local rules = {}
  for _, r in ipairs { f.rule, f.second } do
    -- with a second rule, each fires for half of the faulted creates
    local rule = { method = "POST", path = CREATE, probability = f.second and probability / 2 or probability }
    if #rules == 1 then rule.probability = rule.probability / (1 - rules[1].probability) end
    for k, v in pairs(r) do rule[k] = v end
    rules[#rules + 1] = rule
  end
  ctx.admin.set_faults { seed = ctx.seed, rules = rules }

  local n = sizes[f.calls or "ensure_calls"]
  local recovered, failed, raised = 0, 0, nil
  for i = 1, n do
    local called, result = pcall(client.connections.ensure, client.connections, harness.osc_input("ensure " .. i))
    if not called then raised = raised or result end -- a bug, reported in the row
    if called and result then
      if result.recovered then recovered = recovered + 1 end
    else
      failed = failed + 1
    end
  end
  local fired_by_ensure = ctx.admin.stats().faults_fired
  local plain_failed, ambiguous = 0, 0
  for i = 1, n do
    local created, err = client.connections:create(harness.osc_input("plain " .. i))
    if not created then
      plain_failed = plain_failed + 1
      if err.ambiguous then ambiguous = ambiguous + 1 end
    end
  end
  local fired_by_plain = ctx.admin.stats().faults_fired - fired_by_ensure
  ctx.admin.clear_faults()
  client:close()
  -- a plain create the client gave up on may still land: count once none can be in flight
  if f.in_flight_limit then core.sleep(f.in_flight_limit) end
  local items = harness.emulator_items(ctx, sandbox, "connections")
  local duplicates, missing = count_names(items, "ensure ", n)
  local plain_duplicates, plain_missing = count_names(items, "plain ", n)
  return harness.row(
    "3. ensure, " .. f.label,
    ("%d ensures (%d faults): %d duplicates, %d missing, %d recovered, %d failed; %d creates (%d faults): "
      .. "%d failed, %d ambiguous, %d duplicates, %d missing")
      :format(n, fired_by_ensure, duplicates, missing, recovered, failed, n, fired_by_plain, plain_failed,
        ambiguous, plain_duplicates, plain_missing)
      .. (raised and "; ensure raised: " .. tostring(raised) or ""),
    "0 duplicates, 0 missing, 0 failed ensures, recovered >= faults; failed creates = faults, all ambiguous",
    duplicates == 0 and missing == 0 and failed == 0 and plain_duplicates == 0 and plain_missing == 0
      and ambiguous == plain_failed and plain_failed == fired_by_plain
      and fired_by_ensure > 0 and recovered >= fired_by_ensure)
end

function figures.ensure(ctx, sizes)
  local rows = {}
  for _, f in ipairs(ENSURE_FAULTS) do rows[#rows + 1] = ensure_under(ctx, sizes, f) end
  return rows
end

---------------------------------------------------------------------------------------------------
-- 4. Retry-After: requested sleep (emulator, retry.sleep hook) and real delay (fixture) (R7)
---------------------------------------------------------------------------------------------------

local THROTTLE_BASE = 0.5 -- the backoff an invalid Retry-After falls back to: [0, 0.5) s
local REAL_MAX = 1        -- retry_after_max for the huge value's real-time run: it waits 1 s
local REAL_SLACK = 0.25   -- scheduling and process start-up allowance for real time

-- form -> emulator rule fields, expected wait [lo, hi] with retry_after_max = max.
local FORMS = {
  { name = "delta", label = "delta-seconds 1", rule = { retry_after = 1 }, expect = function() return 1, 1 end },
  -- The date is 2 s after the response's Date header, and the client reads it against that
  -- header (not its own clock): exactly 2 s.
  { name = "date", label = "HTTP-date +2 s", rule = { retry_after_date = 2 },
    expect = function() return 2, 2 end },
  { name = "invalid", label = "invalid 'soon'", rule = { retry_after = "soon" },
    expect = function() return 0, THROTTLE_BASE end },
  { name = "huge", label = "huge 100000", rule = { retry_after = 100000 }, real_max = REAL_MAX,
    expect = function(max) return max, max end },
}

local function within(s, lo, hi)
  return s.n > 0 and s.min >= lo and s.max <= hi
end

local function describe(s)
  if s.n == 0 then return "no retries seen" end
  return ("min %.3f / mean %.3f / max %.3f s over %d"):format(s.min, s.mean, s.max, s.n)
end

-- Requested sleeps over many calls against the emulator, recorded through retry.sleep.
local function requested_sleeps(ctx, sizes, form)
  ctx.faults()
  local sleeps, per_call_ok = {}, true
  local client = ctx.client { sandbox = "test-retry-after", retry = { base = SMALL_BACKOFF,
    throttle_base = THROTTLE_BASE, budget = 1e12, sleep = function(s) sleeps[#sleeps + 1] = s end } }
  local id = assert(client.connections:create(harness.osc_input("target"))).id
  local rule = { method = "GET", path = GET_ONE, count = 1, fault = "status", status = 429 }
  for k, v in pairs(form.rule) do rule[k] = v end
  for _ = 1, sizes.retry_after_calls do
    local seen = #sleeps
    ctx.admin.set_faults { rules = { rule } }
    if not client.connections:get(id) or #sleeps ~= seen + 1 then per_call_ok = false end
  end
  client:close()
  local max = retry.DEFAULTS.retry_after_max
  local lo, hi = form.expect(max)
  local s = harness.summary(sleeps)
  return harness.row(
    "4. Retry-After " .. form.label .. ", requested sleep",
    describe(s) .. (per_call_ok and "" or "; a call did not retry exactly once"),
    ("[%g, %g] s%s"):format(lo, hi, form.name == "huge" and " (clamped to retry_after_max)" or ""),
    per_call_ok and s.n == sizes.retry_after_calls and within(s, lo, hi))
end

-- Real waits the fixture server saw between its 429 and the retry.
local function real_gaps(ctx, sizes, form, fixture_url)
  local gaps, ok = {}, true
  for i = 1, sizes.real_calls do
    local client = ctx.client { base_url = fixture_url .. "/ra/" .. form.name .. "/" .. ctx.seed .. "-" .. i,
      access_token = "reliability-token", retry = { base = SMALL_BACKOFF, throttle_base = THROTTLE_BASE,
        retry_after_max = form.real_max } }
    local body, res = client:request { method = "GET", path = "/connections/x" }
    client:close()
    local gap = body and tonumber(res.headers["x-observed-gap"])
    if gap and gap >= 0 then gaps[#gaps + 1] = gap else ok = false end
  end
  local lo, hi = form.expect(form.real_max)
  local s = harness.summary(gaps)
  return harness.row(
    "4. Retry-After " .. form.label .. ", real delay (server)",
    describe(s) .. (ok and "" or "; a call failed"),
    ("[%g, %g + %g] s%s"):format(lo, hi, REAL_SLACK, form.name == "huge" and " (retry_after_max = 1 s)" or ""),
    ok and within(s, lo, hi + REAL_SLACK))
end

function figures.retry_after(ctx, sizes, fixture)
  local rows = {}
  for _, form in ipairs(FORMS) do rows[#rows + 1] = requested_sleeps(ctx, sizes, form) end
  for _, form in ipairs(FORMS) do rows[#rows + 1] = real_gaps(ctx, sizes, form, fixture.url) end
  return rows
end

---------------------------------------------------------------------------------------------------
-- 5. Malformed and truncated responses (R1)
---------------------------------------------------------------------------------------------------

-- A feeder silent this long is stuck on its case: a hang (each request has a 5 s timeout).
local STALL_SECONDS = tonumber(os.getenv("RELIABILITY_STALL_SECONDS") or "") or 30
local POLL_SECONDS = 0.05

-- True while process `pid` (our child: an exited one stays a zombie until reaped) runs.
local function is_running(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("%) (%a)") ~= "Z"
end

-- Runs corpus_feed.lua from case `first` with its output going to a file, which is polled, so a
-- feeder stuck on a case can be told from a slow one and stopped. Calls on_line(index, outcome,
-- ms) per finished case and on_line(index, "why", 0, message) for a crash's message.
-- Returns "done", or "died"/"stuck" and the index of the case it was on.
local function run_feeder(corpus_file, url, first, on_line)
  local out_path = os.tmpname()
  -- $$ is the shell's pid, which exec makes the feeder's.
  local command = ("echo $$; exec env -u LD_PRELOAD %s bench/reliability/corpus_feed.lua %s %s %d >%s 2>&1")
    :format(helper.LUA, helper.shell_quote(corpus_file), helper.shell_quote(url), first, helper.shell_quote(out_path))
  local pipe = assert(io.popen(command))
  local pid = assert(tonumber(pipe:read("l")), "corpus feeder did not start")
  local out = assert(io.open(out_path, "r"))
  local current, pending, last_progress, result = nil, "", harness.now(), nil
  while not result do
    local alive = is_running(pid) -- before reading: whatever it wrote before dying is read now
    local chunk = out:read("a")
    if chunk ~= "" then last_progress = harness.now() end
    pending = pending .. chunk
    for line in pending:gmatch("([^\n]*)\n") do
      local index, outcome, ms = line:match("^(%d+) (%a+) (%d+)$")
      if index then
        current = nil
        on_line(tonumber(index), outcome, tonumber(ms))
      elseif line:match("^> %d+$") then
        current = tonumber(line:sub(3))
      elseif line:sub(1, 2) == "# " then
        on_line(current or first, "why", 0, line:sub(3))
      elseif line == "done" then
        result = "done"
      end
    end
    pending = pending:match("[^\n]*$")
    if not result then
      if not alive then
        result = "died"
      elseif harness.now() - last_progress > STALL_SECONDS then
        os.execute("kill -KILL " .. pid .. " 2>/dev/null")
        result = "stuck"
      else
        core.sleep(POLL_SECONDS)
      end
    end
  end
  out:close()
  pipe:close()
  os.remove(out_path)
  return result, current or first
end

function figures.corpus(sizes, fixture)
  local cases = fixture.cases
  local counts = { typed = 0, value = 0, crash = 0, hang = 0 }
  local truncated_values, examples, max_ms, lenient = 0, {}, 0, {}
  local function on_line(index, outcome, ms, why)
    if outcome == "why" then
      if #examples < 3 then examples[#examples + 1] = cases[index].label .. ": " .. why end
      return
    end
    counts[outcome] = (counts[outcome] or 0) + 1
    if ms > max_ms then max_ms = ms end
    if outcome == "value" and not cases[index].is_json then lenient[#lenient + 1] = cases[index].label end
    if outcome == "value" and cases[index].label:find(" cut ", 1, true) then
      truncated_values = truncated_values + 1
      if #examples < 3 then examples[#examples + 1] = "value from " .. cases[index].label end
    end
    if outcome == "hang" and #examples < 3 then examples[#examples + 1] = "hang: " .. cases[index].label end
  end
  local started = harness.now()
  local first, deaths = 1, 0
  while first <= #cases do
    local result, on_case = run_feeder(fixture.corpus_file, fixture.url, first, on_line)
    if result == "done" then break end
    -- The client process died (a crash) or got stuck (a hang) on a case: go on after it.
    if result == "died" then deaths = deaths + 1 end
    local outcome = result == "died" and "crash" or "hang"
    counts[outcome] = counts[outcome] + 1
    if #examples < 3 then
      examples[#examples + 1] = (result == "died" and "process died on " or "stuck on ") .. cases[on_case].label
    end
    first = on_case + 1
  end
  local fed = counts.typed + counts.value + counts.crash + counts.hang
  local rows = {
    harness.row("5. malformed/truncated corpus",
      ("%d fed (%d kinds, truncation stride %d), %d crashes (%d process deaths), %d hangs, %d typed errors, "
        .. "%d valid values (%d of them from bodies that are not RFC 8259 JSON: %s); slowest case %d ms; %.0f s%s")
        :format(fed, fixture.kinds, sizes.stride, counts.crash, deaths, counts.hang, counts.typed, counts.value,
          #lenient, table.concat(lenient, ", "), max_ms, harness.now() - started,
          #examples > 0 and "; e.g. " .. table.concat(examples, "; ") or ""),
      ("%d cases; 0 crashes, 0 hangs; every case a typed error or a valid value"):format(#cases),
      fed == #cases and counts.crash == 0 and counts.hang == 0),
    harness.row("5. truncated bodies taken as values",
      ("%d"):format(truncated_values), "0 (a cut body is never a valid value)", truncated_values == 0),
  }
  return rows
end

--- Captures the emulator's responses, writes the corpus file and starts the fixture server.
-- Returns { url, cases, kinds, corpus_file, stop() }.
function figures.start_fixture(ctx, sizes)
  ctx.faults()
  local captured = corpus.capture(ctx.emu)
  local corpus_file = os.tmpname()
  corpus.save(corpus_file, captured, sizes.stride)
  local cases = corpus.load(corpus_file)
  local kinds = 0
  for _ in pairs(captured) do kinds = kinds + 1 end
  local proc = helper.spawn(("%s bench/reliability/fixture_server.lua %s"):format(helper.LUA,
    helper.shell_quote(corpus_file)))
  local port = assert(tonumber(proc.first_line), "fixture server did not start")
  return {
    url = "http://127.0.0.1:" .. port, cases = cases, kinds = kinds, corpus_file = corpus_file,
    stop = function()
      proc.stop()
      os.remove(corpus_file)
    end,
  }
end

return figures
