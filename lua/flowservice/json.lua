-- JSON for request and response bodies.
-- Encoding is done in the C core (exact integers, strict UTF-8, explicit empty arrays).
-- Decoding uses a private lua-cjson instance, so the host's cjson settings are never touched,
-- followed by a pass that turns integral numbers back into Lua integers: Debian's lua-cjson
-- 2.1.0 decodes every number as a float, and 10000.0 would otherwise leak into URLs and output.
local compat = require "flowservice.compat"
local core = require "flowservice.core"
local cjson = require("cjson.safe").new()

cjson.decode_invalid_numbers(false) -- no NaN, Infinity or hex numbers
cjson.decode_max_depth(1000)

local json = {}

-- The JSON null value (the same lightuserdata as cjson.null).
json.null = cjson.null

local ARRAY_MT = { __jsontype = "array" }
local OBJECT_MT = { __jsontype = "object" }

-- Marks `t` (or a new table) as a JSON array, so that an empty one encodes as [] and not {}.
function json.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

-- Marks `t` (or a new table) as a JSON object.
function json.object(t)
  return setmetatable(t or {}, OBJECT_MT)
end

-- value -> string, or nil and a message naming the path and the rule.
json.encode = core.json_encode

-- Below 2^53 every integral float is exactly the integer the text said; at 2^53 and above
-- the text may have been rounded (9007199254740993 reads as 2^53), so such numbers stay floats.
local EXACT = 2 ^ 53
local HUGE = math.huge

-- Converts integral numbers in place; returns false for a number out of range (1e400 -> inf).
local function integers(t)
  for k, v in pairs(t) do
    local kind = type(v)
    if kind == "number" then
      if v == HUGE or v == -HUGE then return false end
      if v > -EXACT and v < EXACT and v == math.floor(v) then t[k] = compat.tointeger(v) end
    elseif kind == "table" then
      if not integers(v) then return false end
    end
  end
  return true
end

-- string -> value, or nil and a message (invalid UTF-8, syntax, invalid or huge numbers, depth).
function json.decode(text)
  if not compat.utf8_len(text) then
    return nil, "invalid UTF-8"
  end
  local value, err = cjson.decode(text)
  if err then return nil, err end
  -- The root may be a bare number.
  local box = { value }
  if not integers(box) then return nil, "number out of range" end
  return box[1]
end

return json
