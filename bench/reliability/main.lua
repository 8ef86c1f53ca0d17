-- bench/reliability/run [--short] [--seed N] [--only 1,2,...]: issue 5's reliability figures,
-- measured with the real client (public API, C core) against real server processes on
-- 127.0.0.1 (the emulator; the bench's fixture server for figure 5 and figure 4's real delays),
-- printed as one table. Exits 1 when a target fails, 2 on bad arguments.
local harness = require "reliability.harness"
local figures = require "reliability.figures"
local flowservice = require "flowservice"
local core = require "flowservice.core"

local USAGE = "usage: bench/reliability/run [--short] [--seed N] [--only 1,2,3,4,5]"

-- Calls per figure. The full form has at least 1,000 calls per figure (R4-R7) and every
-- truncation point (R1); the short form (CI) is the same code with small counts.
local SIZES = {
  full = {
    get_calls = 10000, outage_calls = 1000, ensure_calls = 1000, delay_calls = 1000,
    fault_probability = 0.3, delay_probability = 0.1, retry_after_calls = 1000, real_calls = 5, stride = 1,
    -- each faulted call waits in real time (0.3 s timeout, then up to 1 s for the create to land)
    in_flight_calls = 500, in_flight_probability = 0.2,
  },
  short = {
    get_calls = 200, outage_calls = 120, ensure_calls = 40, delay_calls = 20,
    fault_probability = 0.3, delay_probability = 0.3, retry_after_calls = 20, real_calls = 1, stride = 61,
    in_flight_calls = 20, in_flight_probability = 0.3,
  },
}

local function parse_args(args)
  local settings = { short = false, seed = 1, only = nil }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--short" then
      settings.short = true
    elseif a == "--seed" and tonumber(args[i + 1]) then
      settings.seed = math.tointeger(tonumber(args[i + 1])) or settings.seed
      i = i + 1
    elseif a == "--only" and args[i + 1] then
      settings.only = {}
      for n in args[i + 1]:gmatch("%d") do settings.only[tonumber(n)] = true end
      i = i + 1
    else
      io.stderr:write(USAGE, "\n")
      os.exit(2)
    end
    i = i + 1
  end
  return settings
end

local settings = parse_args(arg)
local sizes = settings.short and SIZES.short or SIZES.full
local function wanted(n) return not settings.only or settings.only[n] end

print(("flowservice reliability figures, %s form%s; seed %d"):format(settings.short and "short" or "full",
  settings.short and " (fewer calls than the full form's 1,000 per figure, truncation points sampled)" or "",
  settings.seed))
print(("versions: %s; %s; %s; lua-cjson %s"):format(flowservice._VERSION, core.curl_version, _VERSION,
  require("cjson")._VERSION or "?"))
print(("backoff: base = throttle_base = 0.001 s except figure 4 (throttle_base 0.5 s); "
  .. "figure 1 with an unlimited budget; figure 2 with the default budget"))
io.stdout:flush()

math.randomseed(settings.seed) -- the client's jitter (math.random): the same run every time

local ctx = harness.start(settings)
local fixture
local rows = {}
local ok, err = xpcall(function()
  local function add(list)
    for _, r in ipairs(list) do
      rows[#rows + 1] = r
      io.stderr:write(("  %s: %s\n"):format(r.figure, r.pass and "PASS" or "FAIL"))
    end
  end
  if wanted(1) then add(figures.get_success(ctx, sizes)) end
  if wanted(2) then add(figures.outage(ctx, sizes)) end
  if wanted(3) then add(figures.ensure(ctx, sizes)) end
  if wanted(4) or wanted(5) then fixture = figures.start_fixture(ctx, sizes) end
  if wanted(4) then add(figures.retry_after(ctx, sizes, fixture)) end
  if wanted(5) then add(figures.corpus(sizes, fixture)) end
end, debug.traceback)
if fixture then fixture.stop() end
ctx.stop()
if not ok then
  io.stderr:write("reliability bench failed: ", tostring(err), "\n")
  os.exit(1)
end

print(harness.format_table(rows))
local failed = 0
for _, r in ipairs(rows) do
  if not r.pass then failed = failed + 1 end
end
print(("%d figures, %d PASS, %d FAIL"):format(#rows, #rows - failed, failed))
os.exit(failed == 0 and 0 or 1)
