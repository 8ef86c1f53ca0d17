--- JSON for request and response bodies (`flowservice.json`).
-- Encoding is done in the C core (exact integers, strict UTF-8, explicit empty arrays).
-- Decoding uses a private lua-cjson instance, so the host's cjson settings are never touched,
-- followed by a pass that turns integral numbers back into Lua integers: Debian's lua-cjson
-- 2.1.0 decodes every number as a float, and 10000.0 would otherwise leak into URLs and output.
-- @module flowservice.json
local core = require "flowservice.core"
local cjson = require("cjson.safe").new()

cjson.decode_invalid_numbers(false) -- no NaN, Infinity or hex numbers
cjson.decode_max_depth(1000)

local json = {}

--- The JSON null value (the same lightuserdata as cjson.null).
-- @field null
json.null = cjson.null

local ARRAY_MT = { __jsontype = "array" }
local OBJECT_MT = { __jsontype = "object" }

--- Marks `t` (or a new table) as a JSON array, so that an empty one encodes as [] and not {}.
-- It sets the metatable `{ __jsontype = "array" }`.
-- @tparam[opt] table t
-- @treturn table `t`, or a new empty table
-- @usage
-- print(flowservice.json.encode { ids = flowservice.json.array() })   --> {"ids":[]}
function json.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

--- Marks `t` (or a new table) as a JSON object.
-- It sets the metatable `{ __jsontype = "object" }`.
-- @tparam[opt] table t
-- @treturn table `t`, or a new empty table
-- @usage
-- print(flowservice.json.encode(flowservice.json.object()))   --> {}
function json.object(t)
  return setmetatable(t or {}, OBJECT_MT)
end

--- value -> string, or nil and a message naming the path and the rule.
--
-- Integers are written exactly, floats in the shortest form that reads back the same (always
-- with a `.` or an exponent: `10000.0`); `NaN`, infinities and invalid UTF-8 are refused with
-- the path of the value (`$.auth.params.port`). A table whose keys are exactly 1..n is an array,
-- one with string keys an object, `{}` is `{}` (use `array` for `[]`); mixed or sparse keys,
-- functions and userdata are refused; object keys are sorted; nesting deeper than 100 is refused.
-- `nil` and `null` encode as `null`.
-- @function encode
-- @param value
-- @treturn[1] string the JSON text
-- @return[2] nil
-- @treturn[2] string why, e.g. `cannot encode NaN or infinity at $.auth.params.port`
-- @usage
-- local json = flowservice.json
-- print(json.encode { ids = json.array(), n = 10000.0, big = 2^53 })
-- --> {"big":9007199254740992.0,"ids":[],"n":10000.0}
json.encode = core.json_encode

-- In the C core (they run on every response): the strict UTF-8 check, and the pass that
-- converts integral numbers below 2^53 in place (at 2^53 and above the text may have been
-- rounded: 9007199254740993 reads as 2^53, so such numbers stay floats); it returns false for
-- a number out of range (1e400 -> inf).
local utf8_valid, integers = core.utf8_valid, core.json_integers

--- string -> value, or nil and a message (invalid UTF-8, syntax, invalid or huge numbers, depth).
-- A private lua-cjson instance (the host's cjson settings are not touched): no `NaN`,
-- `Infinity` or hex numbers, valid UTF-8 only. Integral numbers below 2^53 in magnitude come
-- back as Lua integers; `null` is `null`; an empty array comes back as an empty table.
-- @tparam string text
-- @return[1] the value
-- @return[2] nil
-- @treturn[2] string why
-- @usage
-- local v = assert(flowservice.json.decode('{"count": 3}'))
-- print(math.type(v.count))   --> integer
function json.decode(text)
  if not utf8_valid(text) then
    return nil, "invalid UTF-8"
  end
  local value, err = cjson.decode(text)
  if err then return nil, err end
  if type(value) == "table" then
    if not integers(value) then return nil, "number out of range" end
    return value
  end
  -- The root may be a bare number.
  local box = { value }
  if not integers(box) then return nil, "number out of range" end
  return box[1]
end

json.EMPTY_ARRAY_MARK = "\0[]"

-- JSON text with each `[]` outside strings written as ["\u0000[]"], which decodes to a table
-- holding only json.EMPTY_ARRAY_MARK: lua-cjson decodes `[]` and `{}` alike, and what is shown
-- or sent again must keep the difference (trace.lua, json.decode_exact).
function json.mark_empty_arrays(text)
  if not text:find("%[%s*%]") then return text end
  local out, from, pos = {}, 1, 1
  while true do
    local at = text:find('["%[]', pos)
    if not at then break end
    if text:sub(at, at) == '"' then -- skip the string, escapes included
      local j = at + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then return text end -- not JSON: left for the decoder to refuse
        if text:sub(q, q) == "\\" then
          j = q + 2
        else
          pos = q + 1
          break
        end
      end
    else
      local after = text:match("^%[%s*%]()", at)
      if after then
        out[#out + 1] = text:sub(from, at - 1)
        out[#out + 1] = '["\\u0000[]"]'
        from = after
      end
      pos = at + 1
    end
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end


local function is_mark(t)
  return t[1] == json.EMPTY_ARRAY_MARK and next(t, 1) == nil
end

local function restore_arrays(t, depth)
  if depth > 1000 then return end
  for k, v in pairs(t) do
    if type(v) == "table" then
      if is_mark(v) then t[k] = json.array() else restore_arrays(v, depth + 1) end
    end
  end
end

-- Like json.decode, but an empty array decodes to json.array() (encoded again as []), not to
-- a plain table (encoded as {}): for JSON that is sent on as it was given.
function json.decode_exact(text)
  local value, err = json.decode(json.mark_empty_arrays(text))
  if value == nil then return nil, err end
  if type(value) == "table" then
    if is_mark(value) then return json.array() end
    restore_arrays(value, 0)
  end
  return value
end

return json
