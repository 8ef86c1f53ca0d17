-- Small helpers shared by the emulator modules: JSON in and out, random ids, clock.
--
-- JSON output uses its own encoder because Debian's lua-cjson 2.1.0 writes numbers with at most
-- 14 significant digits (encode_number_precision refuses more) and cannot express an empty array.
-- Decoding goes through a private cjson.safe instance.
local compat = require "flowservice.compat"
local socket = require "socket"
local cjson = require "cjson.safe"

local util = {}

---------------------------------------------------------------------------------------------------
-- Clock
---------------------------------------------------------------------------------------------------

util.now = socket.gettime                    -- seconds, float

-- Epoch milliseconds as a Lua integer (math.floor returns an integer when it fits).
local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

-- IMF-fixdate (RFC 9110 section 5.6.7) of an epoch time (whole seconds, rounded down), without
-- the C locale's day and month names.
function util.http_date(epoch)
  local t = os.date("!*t", math.floor(epoch))
  return ("%s, %02d %s %04d %02d:%02d:%02d GMT"):format(DAYS[t.wday], t.day, MONTHS[t.month],
    t.year, t.hour, t.min, t.sec)
end

function util.now_ms()
  return math.floor(socket.gettime() * 1000)
end

---------------------------------------------------------------------------------------------------
-- Randomness: one buffered handle on the kernel CSPRNG, opened lazily.
---------------------------------------------------------------------------------------------------

local urandom

function util.random_bytes(n)
  if not urandom then
    urandom = assert(io.open("/dev/urandom", "rb"))
  end
  local bytes = urandom:read(n)
  assert(bytes and #bytes == n, "short read from /dev/urandom")
  return bytes
end

local HEX16 = string.rep("%02x", 16)

function util.random_hex(nbytes)
  local bytes = util.random_bytes(nbytes)
  if nbytes == 16 then
    return HEX16:format(bytes:byte(1, 16))
  end
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- RFC 4122 version 4 UUID, lower-case.
function util.uuid4()
  local b = { util.random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40                    -- version 4: high nibble 0100
  b[9] = b[9] % 64 + 0x80                    -- variant: high bits 10
  return ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"):format(
    compat.unpack(b))
end

---------------------------------------------------------------------------------------------------
-- JSON decode
---------------------------------------------------------------------------------------------------

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)        -- no NaN, Infinity, hex
decoder.decode_max_depth(64)

util.null = decoder.null                     -- lightuserdata NULL, shared by every cjson instance

local function has_non_finite(v, depth)
  local t = type(v)
  if t == "number" then
    return v ~= v or v == math.huge or v == -math.huge
  elseif t == "table" and depth < 64 then
    for _, x in pairs(v) do
      if has_non_finite(x, depth + 1) then return true end
    end
  end
  return false
end

-- Decodes a request body. Returns the value, or nil and a message that only names a position
-- (never the content). Refuses invalid UTF-8 and numbers that overflow to infinity (cjson turns
-- 1e400 into inf even with decode_invalid_numbers off).
function util.json_decode(text)
  if not compat.utf8_len(text) then
    return nil, "the body is not valid UTF-8"
  end
  local value, err = decoder.decode(text)
  if value == nil then
    return nil, err
  end
  if has_non_finite(value, 0) then
    return nil, "the body contains a number out of range"
  end
  return value
end

-- A decoded JSON object: a table with only string keys (cjson decodes both {} and [] to an
-- empty table, so an empty table counts as an object).
function util.is_object(v)
  if type(v) ~= "table" then return false end
  for k in pairs(v) do
    if type(k) ~= "string" then return false end
  end
  return true
end

function util.is_nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

---------------------------------------------------------------------------------------------------
-- JSON encode
---------------------------------------------------------------------------------------------------

local ARRAY_MT = { __jsontype = "array" }
local OBJECT_MT = { __jsontype = "object" }

-- Marks a table as a JSON array (so an empty one encodes as []).
function util.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

-- Marks a table as a JSON object (so {} stays {} even if it later looks like a list).
function util.object(t)
  return setmetatable(t or {}, OBJECT_MT)
end

local ESCAPES = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}
for byte = 0, 31 do
  local c = string.char(byte)
  ESCAPES[c] = ESCAPES[c] or ("\\u%04x"):format(byte)
end
ESCAPES["\127"] = "\\u007f"

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', ESCAPES) .. '"'
end

local MAX_EXACT = 2 ^ 53

local function encode_number(x)
  if compat.math_type(x) == "integer" then
    return ("%d"):format(x)
  end
  if x ~= x or x == math.huge or x == -math.huge then
    error("cannot encode NaN or infinity", 0)
  end
  -- cjson 2.1.0 decodes 5 as 5.0: write integral floats back as integers.
  if x == math.floor(x) and -MAX_EXACT <= x and x <= MAX_EXACT then
    return ("%d"):format(compat.tointeger(x))
  end
  for precision = 15, 17 do                  -- shortest form that round-trips
    local s = ("%." .. precision .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
end

local encode_value

local function is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode_table(t, depth)
  if depth > 100 then error("nesting too deep", 0) end
  local mt = getmetatable(t)
  local kind = mt and mt.__jsontype or (is_list(t) and "array" or "object")
  local parts = {}
  if kind == "array" then
    for i = 1, #t do parts[i] = encode_value(t[i], depth + 1) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("object keys must be strings", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)                           -- deterministic output
  for i, k in ipairs(keys) do
    parts[i] = encode_string(k) .. ":" .. encode_value(t[k], depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function encode_value(v, depth)
  local t = type(v)
  if t == "string" then return encode_string(v)
  elseif t == "number" then return encode_number(v)
  elseif t == "boolean" then return v and "true" or "false"
  elseif t == "table" then return encode_table(v, depth)
  elseif v == nil or v == util.null then return "null"
  end
  error("cannot encode a " .. t, 0)
end

-- Encodes a Lua value built by the emulator. Integers are written exactly; object keys sorted.
-- Raises on values the emulator should never produce (NaN, functions, ...).
function util.json_encode(value)
  return encode_value(value, 0)
end

---------------------------------------------------------------------------------------------------
-- Text helpers
---------------------------------------------------------------------------------------------------

-- Percent-decodes a URL component. plus_as_space for form bodies. Returns nil on a bad escape.
function util.percent_decode(s, plus_as_space)
  if plus_as_space then s = s:gsub("+", " ") end
  if not s:find("%", 1, true) then return s end
  for at in s:gmatch("()%%") do
    if not s:find("^%x%x", at + 1) then return nil end   -- '%' without two hex digits
  end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Parses application/x-www-form-urlencoded text into name -> value. A repeated name or a bad
-- escape returns nil and a message naming the parameter (never its value).
function util.parse_form(text, into)
  local params = into or {}
  if text == nil or text == "" then return params end
  for pair in text:gmatch("[^&]+") do
    local raw_name, raw_value = pair:match("^([^=]*)=?(.*)$")
    local name = util.percent_decode(raw_name, true)
    local value = util.percent_decode(raw_value, true)
    if not name or not value then
      return nil, "a parameter is not correctly percent-encoded"
    end
    if params[name] ~= nil then
      return nil, "parameter " .. util.safe_label(name) .. " is given more than once"
    end
    params[name] = value
  end
  return params
end

-- Makes user-supplied names (parameter names, ids) safe to put into messages and logs:
-- letters, digits, space and a few punctuation marks only, bounded length.
function util.safe_label(s, max)
  max = max or 64
  s = tostring(s):gsub("[^%w%-%._~:/@ ]", "?")
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

-- Constant-time string comparison for secrets (time does not depend on where they differ).
function util.secure_equals(a, b)
  if type(a) ~= "string" or type(b) ~= "string" then return false end
  -- a sum of absolute differences (no bit operators before 5.3): 0 only when all are equal
  local diff = math.abs(#a - #b)
  for i = 1, math.max(#a, #b) do
    diff = diff + math.abs((a:byte(i) or 0) - (b:byte(i) or 0))
  end
  return diff == 0
end

return util
