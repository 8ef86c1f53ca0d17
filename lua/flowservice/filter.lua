--- Builds Flow Service `property` filters (reference §4) from Lua values, so callers never
-- hand-quote or hand-encode them. Each filter becomes one `property=` query parameter (several
-- are AND-ed by the service); the client's URL encoding then percent-encodes the whole value.
--
-- Accepted forms (all may be mixed in a list):
--
--     "state==enabled"                      a raw filter string, sent as given
--     { "name", "==", "My conn" }           field, operator, value (strings are quoted)
--     { "id", "==", { "a", "b" } }          an OR list (== and != only)
--     { name = "x", state = "enabled" }     a map: field == value for each key (sorted)
--
-- Operators: `==`, `!=`, `>`, `<`, `>=`, `<=`. Strings are double-quoted with `"` and `\`
-- escaped; whole numbers are written as integers (`1.7e12` as `1700000000000`); array members
-- are matched with `field[]` (`sourceConnectionIds[]`). The `property` option of
-- `flowservice.resource.Resource:list`, `all`, `count` and `find` takes any of these.
-- @module flowservice.filter
-- @usage
-- client.flows:count { property = { { "sourceConnectionIds[]", "==", source.id },
--   { "state", "==", "enabled" } } }
local compat = require "flowservice.compat"

local filter = {}

local OPERATORS = { ["=="] = true, ["!="] = true, [">"] = true, ["<"] = true, [">="] = true,
  ["<="] = true }

-- A string value is double-quoted, with " and \ escaped, so commas and operators inside it are
-- data, not syntax. Numbers are written as integers when whole (never "10000.0").
local function literal(value)
  local t = type(value)
  if t == "string" then
    return '"' .. value:gsub('[\\"]', "\\%0") .. '"'
  elseif t == "number" then
    if compat.tointeger(value) then return string.format("%d", compat.tointeger(value)) end
    if value ~= value or value == math.huge or value == -math.huge then return nil end
    return string.format("%.17g", value)
  elseif t == "boolean" then
    return tostring(value)
  end
  return nil
end

local function is_list(t)
  return type(t) == "table" and t[1] ~= nil
end

-- One { field, op, value } triple -> "field<op>value", or nil and a rule.
local function from_triple(t)
  local field, op, value = t[1], t[2], t[3]
  if type(field) ~= "string" or not field:match("^[%w_%.%[%]%-]+$") then
    return nil, "field must be a property path such as name or connectionSpec.id"
  end
  if not OPERATORS[op] then return nil, "operator must be one of ==, !=, >, <, >=, <=" end
  local values = is_list(value) and value or { value }
  if #values > 1 and op ~= "==" and op ~= "!=" then
    return nil, "an OR list of values needs == or !="
  end
  local parts = {}
  for i, v in ipairs(values) do
    parts[i] = literal(v)
    if not parts[i] then return nil, "values must be strings, finite numbers or booleans" end
  end
  if #parts == 0 then return nil, "a value is required" end
  return field .. op .. table.concat(parts, ",")
end

--- spec: a string, a triple, a map, or a list of strings/triples.
-- Returns a list of filter strings, or nil, field ("property[2]"), rule.
-- @tparam string|table|nil spec the filters
-- @treturn[1] {string,...} one `field<op>value` string per filter (`{}` for nil)
-- @return[2] nil
-- @treturn[2] string the offending part: `property`, `property[2]`, `property.name`
-- @treturn[2] string the rule it breaks
-- @usage
-- local filter = require "flowservice.filter"
-- print(filter.build { { "name", "==", 'say "hi"' } }[1])   --> name=="say \"hi\""
function filter.build(spec)
  if spec == nil then return {} end
  if type(spec) == "string" then spec = { spec } end
  if type(spec) ~= "table" then return nil, "property", "expected a string or a table" end
  local out = {}
  if not is_list(spec) then                   -- a map of equality filters
    local names = {}
    for k in pairs(spec) do
      if type(k) ~= "string" then return nil, "property", "map keys must be field names" end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local s, rule = from_triple { name, "==", spec[name] }
      if not s then return nil, "property." .. name, rule end
      out[#out + 1] = s
    end
    return out
  end
  if type(spec[1]) == "string" and OPERATORS[spec[2]] then spec = { spec } end -- one triple
  for i, item in ipairs(spec) do
    local s, rule
    if type(item) == "string" then
      if item == "" or item:find("[%z\1-\31\127]") then
        s, rule = nil, "must be a non-empty filter without control characters"
      else
        s = item
      end
    elseif type(item) == "table" then
      s, rule = from_triple(item)
    else
      rule = "expected a filter string or a {field, operator, value} table"
    end
    if not s then return nil, "property[" .. i .. "]", rule end
    out[#out + 1] = s
  end
  return out
end

filter.literal = literal

return filter
