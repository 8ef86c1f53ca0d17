-- A dataflow's schedule on the command line: --frequency, --interval and --start for
-- `flows create` (with defaults) and `flows update` (only what is given). --start takes ISO 8601
-- (what the output prints), epoch seconds, or +SECONDS from now.
local compat = require "flowservice.compat"

local schedule = {}

-- Days from 1970-01-01 to year-month-day (proleptic Gregorian; H. Hinnant's days_from_civil),
-- so an ISO 8601 time converts without os.time's local time zone.
local function days_from_civil(y, m, d)
  local floor = math.floor -- no // before Lua 5.3
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m > 2 and m - 3 or m + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- 2026-12-04T17:30:00Z, 2026-12-04T17:30:00+01:00, 2026-12-04T17:30Z, 2026-12-04 (UTC midnight).
local function iso8601_seconds(v)
  local y, mo, d, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  local h, mi, sec, zone = 0, 0, 0, "Z"
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, after = tail:match("^:(%d%d)(.*)$")
    if ss then sec, tail = tonumber(ss), after:gsub("^%.%d+", "") end
    zone = tail
  end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "+" and 1 or -1)
  end
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
end

function schedule.epoch_seconds(v)
  local rel = v:match("^%+(%d+)$")
  if rel then return os.time() + tonumber(rel) end
  local n = compat.tointeger(tonumber(v)) or iso8601_seconds(v)
  if not n then
    return nil, "expected epoch seconds, an ISO 8601 time (2026-12-04T17:30:00Z) or +SECONDS from now"
  end
  return n
end


local FREQUENCIES = { once = true, minute = true, hour = true, day = true, week = true }

local function frequency(v)
  if not FREQUENCIES[v] then return nil, "expected once, minute, hour, day or week" end
  return v
end

-- An argparse convert: a whole number >= 1 (also resources.lua's --max-items, --page-size).
function schedule.whole_positive(v)
  local n = compat.tointeger(tonumber(v))
  if not n or n < 1 then return nil, "expected a whole number >= 1" end
  return n
end
local whole = schedule.whole_positive

-- Adds the options; `create`: with create's defaults (every minute, starting in a second).
function schedule.options(cmd, create)
  cmd:option("--frequency", "once, minute, hour, day or week.", create and "minute" or nil):argname("FREQ")
    :convert(frequency)
  cmd:option("--interval", "Interval in units of the frequency (minute: at least 15)."):argname("N"):convert(whole)
  cmd:option("--start", "Start: ISO 8601 (2026-12-04T17:30:00Z), epoch seconds, or +SECONDS from now.",
    create and "+1" or nil):argname("TIME"):convert(schedule.epoch_seconds)
end

-- For update: the scheduleParams members given, as { member, value } (startTime a string of
-- digits, as create sends it).
function schedule.members(args)
  local out = {}
  if args.frequency then out[#out + 1] = { "frequency", args.frequency } end
  if args.interval then out[#out + 1] = { "interval", args.interval } end
  if args.start then out[#out + 1] = { "startTime", string.format("%d", args.start) } end
  return out
end

return schedule
