-- What every figure of the reliability bench shares: the emulator process and its admin
-- endpoints, clients pointed at it, small statistics, and the result table.
local helper = require "spec.helper"
local rawhttp = require "spec.rawhttp"
local flowservice = require "flowservice"
local core = require "flowservice.core"

local harness = {}

harness.FLOW = "/data/foundation/flowservice"
harness.now = core.monotonic

--- Starts the emulator (a separate process on a port the OS picks). Returns a context:
-- { emu, admin (rawhttp.admin), seed, short, client(opts) -> a client for the emulator }.
function harness.start(settings)
  local emu = helper.start_emulator {}
  local ctx = { emu = emu, admin = rawhttp.admin(emu), seed = settings.seed, short = settings.short }
  -- A client of the emulator; opts override the defaults (sandbox, retry, timeout, ...). These
  -- figures measure the retry policy (issue 5) alone: no limiter, whose figures are
  -- bench/throttle's (issue 18).
  function ctx.client(opts)
    local o = {
      env = false, base_url = emu.url, ims_url = emu.url, client_id = helper.CLIENT_ID,
      client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID, limiter = false,
    }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(flowservice.new(o))
  end
  -- Clears the emulator (state, tokens, rules, statistics) and installs `rules` with the seed.
  function ctx.faults(rules)
    ctx.admin.reset()
    if rules then ctx.admin.set_faults { seed = ctx.seed, rules = rules } end
  end
  function ctx.stop() emu.stop() end
  return ctx
end

--- An Oracle Service Cloud base connection named `name` (the input of connections:create).
function harness.osc_input(name)
  return {
    name = name, spec = "oracle-service-cloud",
    auth = { host = "osc.example.com", username = "reliability", password = "reliability-password" },
  }
end

--- Every item of `kind` ("connections") in `sandbox`, read from the emulator with raw HTTP (not
-- through the client under test), following the continuation links.
function harness.emulator_items(ctx, sandbox, kind)
  local api = rawhttp.api(ctx.emu, sandbox)
  local items, path = {}, "/" .. kind .. "?limit=1000"
  while path do
    local res = api.call("GET", path)
    assert(res.status == 200, "listing " .. kind .. " answered " .. res.status)
    for _, item in ipairs(res.json.items) do items[#items + 1] = item end
    local next_link = res.json._links and res.json._links.next
    path = type(next_link) == "table" and next_link.href or nil
  end
  return items
end

---------------------------------------------------------------------------------------------------
-- Statistics
---------------------------------------------------------------------------------------------------

function harness.summary(values)
  local n, sum = #values, 0
  if n == 0 then return { n = 0 } end
  local min, max = math.huge, -math.huge
  for _, v in ipairs(values) do
    sum = sum + v
    if v < min then min = v end
    if v > max then max = v end
  end
  return { n = n, min = min, max = max, mean = sum / n }
end

--- The p-th percentile (0..100) of `values` (nearest rank).
function harness.percentile(values, p)
  local sorted = {}
  for i, v in ipairs(values) do sorted[i] = v end
  table.sort(sorted)
  if #sorted == 0 then return nil end
  return sorted[math.max(1, math.ceil(#sorted * p / 100))]
end

function harness.pct(x)
  return ("%.2f %%"):format(100 * x)
end

---------------------------------------------------------------------------------------------------
-- The result table
---------------------------------------------------------------------------------------------------

--- A row: figure, measured, target (strings), pass (boolean).
function harness.row(figure, measured, target, pass)
  return { figure = figure, measured = measured, target = target, pass = pass and true or false }
end

local function wrap(text, width)
  local lines, line = {}, ""
  for word in tostring(text):gmatch("%S+") do
    if line ~= "" and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or line .. " " .. word
    end
  end
  lines[#lines + 1] = line
  return lines
end

local COLUMNS = { { "figure", 30 }, { "measured", 52 }, { "expected / target", 40 }, { "result", 6 } }

--- The rows as a plain-text table (cells wrapped to their column's width).
function harness.format_table(rows)
  local out = {}
  local function line(cells)
    local wrapped, height = {}, 1
    for i, col in ipairs(COLUMNS) do
      wrapped[i] = wrap(cells[i], col[2])
      height = math.max(height, #wrapped[i])
    end
    for h = 1, height do
      local parts = {}
      for i, col in ipairs(COLUMNS) do
        parts[i] = ("%-" .. col[2] .. "s"):format(wrapped[i][h] or "")
      end
      out[#out + 1] = "| " .. table.concat(parts, " | ") .. " |"
    end
  end
  local rule = {}
  for i, col in ipairs(COLUMNS) do rule[i] = ("-"):rep(col[2]) end
  line { COLUMNS[1][1], COLUMNS[2][1], COLUMNS[3][1], COLUMNS[4][1] }
  out[#out + 1] = "|-" .. table.concat(rule, "-|-") .. "-|"
  for _, r in ipairs(rows) do
    line { r.figure, r.measured, r.target, r.pass and "PASS" or "FAIL" }
  end
  return table.concat(out, "\n")
end

return harness
