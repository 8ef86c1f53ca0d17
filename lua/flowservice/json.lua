-- JSON for request and response bodies.
-- Encoding is done in the C core (exact integers, strict UTF-8, explicit empty arrays).
-- Decoding uses a private lua-cjson instance, so the host's cjson settings are never touched,
-- followed by a pass that turns integral numbers back into Lua integers: Debian's lua-cjson
-- 2.1.0 decodes every number as a float, and 10000.0 would otherwise leak into URLs and output.
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

-- Largest magnitude below which every integral float is exactly one integer.
local EXACT = 2 ^ 53

local function integers(value)
  if type(value) == "table" then
    for k, v in pairs(value) do
      local t = type(v)
      if t == "number" then
        if v == math.floor(v) and v >= -EXACT and v <= EXACT then
          value[k] = math.tointeger(v)
        end
      elseif t == "table" then
        integers(v)
      end
    end
    return value
  elseif type(value) == "number" and value == math.floor(value) and value >= -EXACT and value <= EXACT then
    return math.tointeger(value)
  end
  return value
end

-- string -> value, or nil and a message (invalid UTF-8, syntax, invalid numbers, depth).
function json.decode(text)
  if not utf8.len(text) then
    return nil, "invalid UTF-8"
  end
  local value, err = cjson.decode(text)
  if err then return nil, err end
  return integers(value)
end

return json
