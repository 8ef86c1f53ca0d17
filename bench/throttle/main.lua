-- bench/throttle/run's driver (issue 18): the library's client against the emulator's rate limit
-- (the adobe.io gateway's 429, ratelimit.lua) with 50 ms injected latency on every Flow Service
-- request. Prints one table (goodput = successful calls per second, the share of requests
-- answered 429, failed calls, duplicates) with PASS/FAIL against the issue's targets, then
-- writes the verdict (0 all hold, 1 one missed) to BENCH_DIR/verdict; a Lua error exits 2.
-- Goodput and 429 shares are timings on a shared machine: the figures, not a test.
local proc = require "proc"
local cjson = require "cjson"
local http = require "socket.http"
local ltn12 = require "ltn12"
local flowservice = require "flowservice"
local core = require "flowservice.core"

local ROOT, DIR = assert(os.getenv("BENCH_ROOT")), assert(os.getenv("BENCH_DIR"))
local LUA = os.getenv("LUA") or "lua5.4"

local USAGE = [[
Usage: bench/throttle/run [--short | --smoke]
  (default)  full form: 2,000 creates per batch row, 15 s per phase of the moving limit (~3 min)
  --short    CI form: 400 creates, 8 s phases (about a minute; verdicts not meaningful)
  --smoke    a few calls per row, 2 s phases: checks that every row runs (spec/throttle_bench_spec.lua)
]]

local SIZES = {
  full = { creates = 2000, phase = 15, settle = 5, sequential = 100, retry_after = 500 },
  short = { creates = 400, phase = 8, settle = 5, sequential = 25, retry_after = 150 },
  smoke = { creates = 40, phase = 2, settle = 1, sequential = 6, retry_after = 30 },
}

local CLIENT_ID = "throttle-bench-client"
local CLIENT_SECRET = "throttle-bench-secret"
local ORG_ID = "THROTTLEBENCH00000000000@AdobeOrg"
local CREATE_ROUTE = "POST /data/foundation/flowservice/connections"
local LATENCY = 0.05          -- seconds injected before every Flow Service answer
local WIDTH = 16              -- the batch's concurrency

local TARGET = {
  goodput = 0.85,             -- of the limit
  share_429 = 0.05,           -- of requests
  moving_band = 0.15,         -- goodput within this share of the new limit
}

local now = core.monotonic

---------------------------------------------------------------------------------------------------
-- The emulator
---------------------------------------------------------------------------------------------------

local function start_emulator()
  local out = DIR .. "/emulator.out"
  local cmd = ("cd %s && %s bin/flowservice-emulator --host 127.0.0.1 --port 0 --client-id %s "
    .. "--org-id %s >%s 2>/dev/null & echo $!"):format(proc.quote(ROOT),
      proc.env_words { FLOWSERVICE_EMULATOR_CLIENT_SECRET = CLIENT_SECRET }
        .. " " .. proc.quote(LUA), proc.quote(CLIENT_ID), proc.quote(ORG_ID), proc.quote(out))
  local pid = proc.capture(cmd):match("%d+")
  assert(pid, "could not start the emulator")
  proc.remember_pid(DIR, pid)
  for _ = 1, 250 do
    local url = (proc.read(out) or ""):match("^(https?://[^\n]+)\n")
    if url then return { pid = pid, url = url } end
    proc.sleep(0.02)
  end
  error("the emulator did not print its URL")
end

-- An admin call (/_emulator/...): the decoded answer; raises unless 200.
local function admin(emu, method, path, value)
  local body = value ~= nil and cjson.encode(value) or ""
  local chunks = {}
  local _, status = http.request {
    url = emu.url .. "/_emulator" .. path, method = method, source = ltn12.source.string(body),
    headers = { ["content-type"] = "application/json", ["content-length"] = tostring(#body) },
    sink = ltn12.sink.table(chunks),
  }
  local text = table.concat(chunks)
  assert(status == 200, ("%s /_emulator%s answered %s: %s"):format(method, path, tostring(status), text))
  return cjson.decode(text)
end

-- A fresh emulator state: no resources, statistics zeroed, 50 ms on every Flow Service answer
-- (a 429 too), and `limit` ({rate, burst?, retry_after?}) as the gateway's rate limit.
local function prepare(emu, limit)
  admin(emu, "POST", "/reset")
  admin(emu, "PUT", "/faults", { rules = {
    { fault = "delay", seconds = LATENCY, method = "*", path = "/data/foundation/flowservice/*" },
  } })
  admin(emu, "PUT", "/ratelimit", limit)
end

local function new_client(emu, opts)
  local o = {
    env = false, base_url = emu.url, ims_url = emu.url, client_id = CLIENT_ID,
    client_secret = CLIENT_SECRET, org_id = ORG_ID,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  local client = assert(flowservice.new(o))
  assert(client:authenticate())               -- the token before the clock starts
  return client
end

local function input(name)
  return {
    name = name, spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc-user", password = "throttle-bench-password" },
  }
end

-- Connections the emulator holds, and how many of their names are taken more than once:
-- read after the limit and the latency are lifted, by a client without a limiter.
local function duplicates(emu)
  admin(emu, "DELETE", "/ratelimit")
  admin(emu, "DELETE", "/faults")
  local client = new_client(emu, { limiter = false })
  local seen, items, dups = {}, 0, 0
  for item, err in client.connections:list { limit = 100 } do
    assert(item, err)
    items = items + 1
    if seen[item.name] then dups = dups + 1 end
    seen[item.name] = true
  end
  client:close()
  return dups, items
end

---------------------------------------------------------------------------------------------------
-- Runs
---------------------------------------------------------------------------------------------------

-- `n` creates through a batch of WIDTH; returns {elapsed, ok, failed, requests, throttled,
-- early, duplicates, created}.
local function batch_creates(emu, client, n, prefix)
  local ok, failed = 0, 0
  local i = 0
  local calls = function()
    i = i + 1
    if i > n then return nil end
    local name = prefix .. i
    return function() return client.connections:create(input(name)) end
  end
  local started = now()
  client:batch(calls, { concurrency = WIDTH, on_result = function(_, item)
    if item then ok = ok + 1 else failed = failed + 1 end
  end })
  local elapsed = now() - started
  local stats = admin(emu, "GET", "/stats")
  client:close()
  local dups, created = duplicates(emu)
  return { elapsed = elapsed, ok = ok, failed = failed, requests = stats.by_route[CREATE_ROUTE] or 0,
    throttled = stats.throttled, early = stats.early, duplicates = dups, created = created }
end

-- Rows 1 and 2: the hidden limit of 50/s (burst 10) with and without adaptation.
local function fixed_limit(emu, size, adaptive)
  prepare(emu, { rate = 50, burst = 10 })
  local opts = {}
  if not adaptive then opts.limiter = false end
  local client = new_client(emu, opts)
  local r = batch_creates(emu, client, size.creates, adaptive and "adaptive-" or "fixed-")
  r.limit = 50
  return r
end

-- Row 3: the limit moves 50 -> 20 -> 50 per second, `size.phase` seconds each. Every answer's
-- time and status comes from the client's trace; each phase after a change is judged from
-- `size.settle` seconds (the issue's 5; less in the smoke form) after the change to its end.
local function moving_limit(emu, size)
  local limits = { 50, 20, 50 }
  prepare(emu, { rate = limits[1], burst = 10 })
  local answers = {}
  local client = new_client(emu, { trace = function(e)
    if e.status then answers[#answers + 1] = { now(), e.status } end
  end })
  answers = {}                                -- the token request is not counted
  local started = now()
  local phase, failed, ok = 1, 0, 0
  local i = 0
  local calls = function()
    local t = now() - started
    if t >= #limits * size.phase then return nil end
    local p = math.floor(t / size.phase) + 1
    if p ~= phase then
      phase = p
      admin(emu, "PUT", "/ratelimit", { rate = limits[p], burst = 10 })
    end
    i = i + 1
    local name = "moving-" .. i
    return function() return client.connections:create(input(name)) end
  end
  client:batch(calls, { concurrency = WIDTH, on_result = function(_, item)
    if item then ok = ok + 1 else failed = failed + 1 end
  end })
  client:close()
  local phases = {}
  for p, limit in ipairs(limits) do
    local from = started + (p - 1) * size.phase + size.settle
    local to = started + p * size.phase
    local good, all, throttled = 0, 0, 0
    for _, a in ipairs(answers) do
      if a[1] >= from and a[1] < to then
        all = all + 1
        if a[2] >= 200 and a[2] < 300 then good = good + 1 elseif a[2] == 429 then throttled = throttled + 1 end
      end
    end
    phases[p] = { limit = limit, goodput = good / (to - from), share = all > 0 and throttled / all or 0,
      changed = p > 1 }
  end
  local dups = duplicates(emu)
  return { phases = phases, failed = failed, ok = ok, duplicates = dups }
end

-- Row 4: sequential single calls against 5/s (the emulator's default burst: one second's worth).
local function sequential(emu, size)
  prepare(emu, { rate = 5 })
  local client = new_client(emu)
  local ok, failed = 0, 0
  local started = now()
  for i = 1, size.sequential do
    if client.connections:create(input("sequential-" .. i)) then ok = ok + 1 else failed = failed + 1 end
  end
  local elapsed = now() - started
  local stats = admin(emu, "GET", "/stats")
  client:close()
  local dups = duplicates(emu)
  return { elapsed = elapsed, ok = ok, failed = failed, limit = 5, requests = stats.by_route[CREATE_ROUTE] or 0,
    throttled = stats.throttled, duplicates = dups }
end

-- Row 5: Retry-After switched on; the emulator counts requests that came before the time it
-- named (ratelimit.lua: `early`).
local function with_retry_after(emu, size)
  prepare(emu, { rate = 50, burst = 10, retry_after = true })
  local client = new_client(emu)
  local r = batch_creates(emu, client, size.retry_after, "retry-after-")
  r.limit = 50
  return r
end

---------------------------------------------------------------------------------------------------
-- The table
---------------------------------------------------------------------------------------------------

local COLUMNS = { "run", "goodput/s", "of limit", "429 share", "failed", "duplicates", "target", "result" }
local WIDTHS = { 50, 10, 9, 10, 7, 11, 46, 6 }

local function pct(x) return ("%.1f %%"):format(100 * x) end

local function print_row(cells)
  local out = {}
  for i, c in ipairs(cells) do
    local w = WIDTHS[i]
    out[i] = (i == 1 or i == 7) and ("%-" .. w .. "s"):format(c) or ("%" .. w .. "s"):format(c)
  end
  print(table.concat(out, "  "))
end

local function main(args)
  local form = "full"
  for _, a in ipairs(args) do
    if a == "--short" then form = "short"
    elseif a == "--smoke" then form = "smoke"
    elseif a == "-h" or a == "--help" then io.write(USAGE) os.exit(0)
    else io.stderr:write("bench/throttle/run: unknown argument ", a, "\n", USAGE) os.exit(2) end
  end
  local size = SIZES[form]
  local emu = start_emulator()
  local rows, verdicts = {}, {}
  local function row(cells, pass)
    cells[8] = pass == nil and "-" or (pass and "PASS" or "FAIL")
    if pass ~= nil then verdicts[#verdicts + 1] = pass end
    rows[#rows + 1] = cells
    print_row(cells)
    io.stdout:flush()
  end
  print(("throughput at the service's limit (issue 18): %s form, emulator with %d ms latency, "
    .. "batch concurrency %d"):format(form, LATENCY * 1000, WIDTH))
  print_row(COLUMNS)

  local started = now()
  for _, adaptive in ipairs { true, false } do
    local r = fixed_limit(emu, size, adaptive)
    local goodput, share = r.ok / r.elapsed, r.throttled / math.max(1, r.requests)
    local label = ("%s, 50/s burst 10, %d creates, batch"):format(adaptive and "adaptive" or "no adaptation",
      size.creates)
    if adaptive then
      row({ label, ("%.1f"):format(goodput), pct(goodput / r.limit), pct(share), r.failed, r.duplicates,
        ">=85 % of limit, <=5 % 429, 0 failed, 0 dups" },
        goodput >= TARGET.goodput * r.limit and share <= TARGET.share_429 and r.failed == 0 and r.duplicates == 0)
    else
      row({ label, ("%.1f"):format(goodput), pct(goodput / r.limit), pct(share), r.failed, r.duplicates,
        "comparison (no target)" })
    end
  end

  local m = moving_limit(emu, size)
  for p, ph in ipairs(m.phases) do
    local label = ("moving limit, phase %d: %d/s (%s%d s on)"):format(p, ph.limit, ph.changed and "change + " or "",
      size.settle)
    local within = math.abs(ph.goodput - ph.limit) <= TARGET.moving_band * ph.limit
    row({ label, ("%.1f"):format(ph.goodput), pct(ph.goodput / ph.limit), pct(ph.share),
      p == #m.phases and m.failed or "", p == #m.phases and m.duplicates or "",
      ph.changed and "goodput within 15 % of limit, <5 % 429" or "before the first change (no target)" },
      ph.changed and (within and ph.share < TARGET.share_429) or nil)
  end

  local s = sequential(emu, size)
  local sg = s.ok / s.elapsed
  row({ ("sequential, 5/s, %d single calls"):format(size.sequential), ("%.2f"):format(sg), pct(sg / s.limit),
    pct(s.throttled / math.max(1, s.requests)), s.failed, s.duplicates, ">=85 % of limit, 0 failed" },
    sg >= TARGET.goodput * s.limit and s.failed == 0)

  local ra = with_retry_after(emu, size)
  local rg = ra.ok / ra.elapsed
  row({ ("Retry-After on, 50/s burst 10, %d creates"):format(size.retry_after), ("%.1f"):format(rg),
    pct(rg / ra.limit), pct(ra.throttled / math.max(1, ra.requests)), ra.failed, ra.duplicates,
    ("no request before Retry-After (%d early)"):format(ra.early) }, ra.early == 0)

  os.execute("kill " .. emu.pid .. " 2>/dev/null")
  local passed, failed = 0, 0
  for _, v in ipairs(verdicts) do
    if v then passed = passed + 1 else failed = failed + 1 end
  end
  print(("%d PASS, %d FAIL; %.0f s"):format(passed, failed, now() - started))
  proc.write(DIR .. "/verdict", failed == 0 and "0" or "1")
end

local ok, err = pcall(main, arg)
if not ok then
  io.stderr:write("bench/throttle/run: ", tostring(err), "\n")
  os.exit(2)
end
