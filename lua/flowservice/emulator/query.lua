-- List queries of Flow Service's GET /<kind> routes: property filters, orderby, limit, count and
-- continuation tokens. Pure functions: query.parse(raw_query, opts) then query.apply(items, q).
--
-- Documented (EN:help/dataflows/api/sort-and-filter.md; reference §4; codes and messages from
-- EN:help/sources/errors/flow-service-errors.md):
--   property=<path><op><value> with ops == != > < >= <=; several property params are AND-ed;
--   comma-separated values are an OR list (id==a,b); "name[]" matches any member of an array
--   (sourceConnectionIds[]==id, transformations[].params.x); dotted paths (connectionSpec.id);
--   values may be quoted (name==%22CRMToAEP%22); orderby=name / +name / -name; count=true answers
--   {"count": N} (the number of matching items); limit and count together -> FLOW-1401-400.
--   FLOW-1443-400 "Operator '<=' is not allowed for multiple values."
--   FLOW-1450-400 "Invalid operator !> in filter params."
--   FLOW-1451-400 "Invalid params testParam provided in query params."
--   FLOW-1453-400 "Invalid query value createdAt== provided in query param."
--   FLOW-1432-400 bad orderby syntax, FLOW-1433-400 orderby on an unknown field.
--   List responses {"items", "count", "_links": {"next": {"href": "/<kind>?continuationToken=.."}}}
--   with the href relative to the flowservice base and "_links": {} on the last page (monitor.md).
-- Emulator choices:
--   - Query parameters are percent-decoded one by one, "+" as a space and "%2B" as a plus, as
--     the Java servlet containers behind Adobe's APIs read a query string (reference §13); a bad
--     %-escape is FLOW-1453. So an unencoded orderby=+name arrives as " name": a leading space is
--     read as the "+" (ascending) the sort-and-filter guide documents.
--   - Inside a double-quoted value \" and \\ are escapes and commas are literal; an unquoted value
--     runs to the next comma; an empty value or an unterminated quote is FLOW-1453.
--   - Comparison: a number field against a value that reads as a number compares numerically; a
--     boolean field compares with "true" / "false"; anything else compares as strings (bytewise
--     for < and >). A missing (or null) field matches only !=; != with a list means "none of them".
--   - count=false is the same as no count; other count values are FLOW-1453.
--   - limit is an integer 1..1000 (1000 is the documented maximum of POST /connections/search),
--     else FLOW-1453; the default page size is 20 (opts.page_size).
--   - orderby takes comma-separated keys; a key's first path segment must be one of the kind's
--     fields (opts.orderable); items missing the field sort last; ties keep insertion order.
--   - continuationToken is base64url of "<offset>\n<normalised query>": stateless. It must come
--     alone (with other list parameters it is FLOW-1453); a token that does not decode is
--     FLOW-1453. Pages are offsets into the filtered, sorted list, so items created or deleted
--     between two page requests shift the window.
local compat = require "flowservice.compat"
local util = require "flowservice.emulator.util"

local query = {}

query.DEFAULT_PAGE_SIZE = 20
query.MAX_LIMIT = 1000

local OPERATORS = { ["=="] = true, ["!="] = true, [">"] = true, ["<"] = true, [">="] = true,
  ["<="] = true }
local KNOWN_PARAMS = { property = true, orderby = true, limit = true, count = true,
  continuationToken = true }

local function fail(code, detail)
  return nil, { code = code, status = 400, detail = detail }
end

local function bad_value(raw)
  return fail(1453, ("Invalid query value %s provided in query param."):format(util.safe_label(raw)))
end

---------------------------------------------------------------------------------------------------
-- base64url (for continuation tokens)
---------------------------------------------------------------------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local B64_INDEX = {}
for i = 1, #B64 do B64_INDEX[B64:sub(i, i)] = i - 1 end

local function b64url_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)  -- 24 bits, no bit operators before 5.3
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local shift = 18 - 6 * (j - 1)
      local k = math.floor(n / 2 ^ shift) % 64 + 1
      out[#out + 1] = B64:sub(k, k)
    end
  end
  return table.concat(out)
end

local function b64url_decode(s)
  if #s % 4 == 1 or s:find("[^%w%-_]") then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local chunk = s:sub(i, i + 3)
    local n = 0
    for j = 1, 4 do n = n * 64 + (B64_INDEX[chunk:sub(j, j)] or 0) end
    local bytes = string.char(math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
    out[#out + 1] = bytes:sub(1, #chunk - 1)
  end
  return table.concat(out)
end

---------------------------------------------------------------------------------------------------
-- Parsing
---------------------------------------------------------------------------------------------------

-- "a.b[].c" -> { {name="a"}, {name="b", each=true}, {name="c"} }; nil when malformed.
local function parse_path(text)
  if text == "" then return nil end
  local segments = {}
  for part in (text .. "."):gmatch("([^.]*)%.") do
    local name, brackets = part:match("^([%w_%-@:$]+)(%[?%]?)$")
    if not name or (brackets ~= "" and brackets ~= "[]") then return nil end
    segments[#segments + 1] = { name = name, each = brackets == "[]" }
  end
  return segments
end

-- 'a,"b,c",d' -> {"a", "b,c", "d"}; nil when a value is empty or a quote is unterminated.
local function parse_values(text)
  local values, pos = {}, 1
  while true do
    local value
    if text:sub(pos, pos) == '"' then
      local parts, i = {}, pos + 1
      while true do
        local c = text:sub(i, i)
        if c == "" then return nil end            -- unterminated
        if c == '"' then break end
        if c == "\\" then
          local nxt = text:sub(i + 1, i + 1)
          if nxt ~= '"' and nxt ~= "\\" then return nil end
          c, i = nxt, i + 1
        end
        parts[#parts + 1] = c
        i = i + 1
      end
      value, pos = table.concat(parts), i + 1
      local after = text:sub(pos, pos)
      if after ~= "" and after ~= "," then return nil end
    else
      local stop = text:find(",", pos, true) or #text + 1
      value = text:sub(pos, stop - 1)
      if value == "" or value:find('"', 1, true) then return nil end
      pos = stop
    end
    values[#values + 1] = value
    if pos > #text then return values end
    pos = pos + 1                                  -- skip the comma
    if pos > #text then return nil end             -- trailing comma
  end
end

local function parse_filter(raw)
  local path_text, op, rest = raw:match("^([^=!<>~]*)([=!<>~]+)(.*)$")
  if not path_text then return bad_value(raw) end
  if not OPERATORS[op] then
    -- op holds only the characters = ! < > ~: safe to show, bounded
    return fail(1450, ("Invalid operator %s in filter params."):format(op:sub(1, 8)))
  end
  local path = parse_path(path_text)
  local values = path and rest ~= "" and parse_values(rest)
  if not values then return bad_value(raw) end
  if #values > 1 and op ~= "==" and op ~= "!=" then
    return fail(1443, ("Operator '%s' is not allowed for multiple values."):format(op))
  end
  return { path = path, op = op, values = values }
end

local ORDER_HELP = "Sort order specified is not correct, prepend + for ascending order and - for "
  .. "descending order in the fieldName."

local function parse_orderby(raw, orderable)
  local keys = {}
  for key in (raw .. ","):gmatch("([^,]*),") do
    local sign, name = key:match("^([+ -]?)([%w_.]+)$")   -- " ": an unencoded "+", decoded
    if not sign or name:find("^%.") or name:find("%.$") or name:find("%.%.") then
      return fail(1432, ORDER_HELP)
    end
    local path = parse_path(name)
    if not path or (orderable and not orderable[path[1].name]) then
      return fail(1433, ("Incorrect field= %s passed in orderBy, example are +name, -name, "
        .. "name."):format(util.safe_label(name)))
    end
    keys[#keys + 1] = { path = path, descending = sign == "-" }
  end
  return keys
end

local function parse_limit(raw)
  local n = raw:find("^%d+$") and compat.tointeger(tonumber(raw))
  if not n or n < 1 or n > query.MAX_LIMIT then return bad_value("limit=" .. raw) end
  return n
end

-- Splits a raw query string into a list of {name, value} (percent-decoded; "+" is a space).
-- A bad escape -> nil, err (FLOW-1453).
local function split_params(raw)
  local params = {}
  for pair in (raw or ""):gmatch("[^&]+") do
    local raw_name, raw_value = pair:match("^([^=]*)=?(.*)$")
    local name, value = util.percent_decode(raw_name, true), util.percent_decode(raw_value, true)
    if not name or not value then return bad_value(raw_name) end
    params[#params + 1] = { name = name, value = value, raw = pair }
  end
  return params
end

query.split_params = split_params

local function parse_token(token, opts)
  local decoded = b64url_decode(token)
  local offset, inner = (decoded or ""):match("^(%d+)\n(.*)$")
  offset = offset and compat.tointeger(tonumber(offset))
  if not offset or inner:find("continuationToken", 1, true) then
    return bad_value("continuationToken")
  end
  local q, err = query.parse(inner, opts)
  if not q then return nil, err end
  q.offset = offset
  return q
end

-- Parses a raw query string. opts: page_size (default 20), orderable (set of field names that
-- orderby accepts; nil accepts any). Returns q = {filters, orderby, limit, count, offset,
-- normalised} or nil, err (err = {code, status = 400, detail}).
function query.parse(raw, opts)
  opts = opts or {}
  local params, err = split_params(raw)
  if not params then return nil, err end
  local q = { filters = {}, orderby = {}, offset = 0, normalised = {} }
  local token
  for _, p in ipairs(params) do
    if not KNOWN_PARAMS[p.name] then
      return fail(1451, ("Invalid params %s provided in query params."):format(
        util.safe_label(p.name)))
    end
    if p.name == "continuationToken" then
      token = p.value
    else
      q.normalised[#q.normalised + 1] = p.raw
    end
    local problem
    if p.name == "property" then
      q.filters[#q.filters + 1], problem = parse_filter(p.value)
    elseif p.name == "orderby" then
      q.orderby, problem = parse_orderby(p.value, opts.orderable)
    elseif p.name == "limit" then
      q.limit, problem = parse_limit(p.value)
    elseif p.name == "count" then
      if p.value ~= "true" and p.value ~= "false" then return bad_value("count=" .. p.value) end
      q.count = p.value == "true"
    end
    if problem then return nil, problem end
  end
  if token then
    if #q.normalised > 0 then return bad_value("continuationToken") end
    local resumed, token_err = parse_token(token, opts)
    if not resumed then return nil, token_err end
    return resumed
  end
  if q.count and q.limit then
    return fail(1401, "The limit and count parameters cannot be given together in the same "
      .. "request. Please provide either only the limit or the count parameter and try again.")
  end
  q.limit = q.limit or opts.page_size or query.DEFAULT_PAGE_SIZE
  q.normalised = table.concat(q.normalised, "&")
  return q
end

---------------------------------------------------------------------------------------------------
-- Applying
---------------------------------------------------------------------------------------------------

-- Every value at path in item ("[]" segments fan out over array members); nulls left out.
local function values_at(node, path, i, out)
  if node == nil or node == util.null then return out end
  if i > #path then
    out[#out + 1] = node
    return out
  end
  if type(node) ~= "table" then return out end
  local segment = path[i]
  local child = node[segment.name]
  if segment.each then
    if type(child) == "table" then
      for _, member in ipairs(child) do values_at(member, path, i + 1, out) end
    end
    return out
  end
  return values_at(child, path, i + 1, out)
end

-- -1, 0, 1 comparing a field value with a filter value (a string); nil when not comparable.
local function compare(field, text)
  local t = type(field)
  if t == "number" then
    local n = tonumber(text)
    if n then return field < n and -1 or (field > n and 1 or 0) end
    field = tostring(compat.tointeger(field) or field)
  elseif t == "boolean" then
    field = field and "true" or "false"
  elseif t ~= "string" then
    return nil
  end
  return field < text and -1 or (field > text and 1 or 0)
end

local TESTS = {
  ["=="] = function(c) return c == 0 end, ["!="] = function(c) return c ~= 0 end,
  [">"] = function(c) return c > 0 end, ["<"] = function(c) return c < 0 end,
  [">="] = function(c) return c >= 0 end, ["<="] = function(c) return c <= 0 end,
}

local function any_equal(found, values)
  for _, field in ipairs(found) do
    for _, text in ipairs(values) do
      if compare(field, text) == 0 then return true end
    end
  end
  return false
end

local function matches(item, filter)
  local found = values_at(item, filter.path, 1, {})
  if filter.op == "==" then return any_equal(found, filter.values) end
  if filter.op == "!=" then return not any_equal(found, filter.values) end
  local test = TESTS[filter.op]
  for _, field in ipairs(found) do
    local c = compare(field, filter.values[1])
    if c and test(c) then return true end
  end
  return false
end

local function sort_value(item, path)
  local v = values_at(item, path, 1, {})[1]
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return v end
  return nil
end

local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "boolean" then return (not a) and b end
  return a < b
end

local function sorted(items, keys)
  if #keys == 0 then return items end
  local decorated = {}
  for i, item in ipairs(items) do decorated[i] = { item = item, index = i } end
  table.sort(decorated, function(x, y)
    for _, key in ipairs(keys) do
      local a, b = sort_value(x.item, key.path), sort_value(y.item, key.path)
      if a == nil and b ~= nil then return false end      -- missing values last
      if b == nil and a ~= nil then return true end
      if a ~= nil and (before(a, b) or before(b, a)) then
        if key.descending then return before(b, a) end
        return before(a, b)
      end
    end
    return x.index < y.index
  end)
  local out = {}
  for i, d in ipairs(decorated) do out[i] = d.item end
  return out
end

local function token_for(q, offset)
  return b64url_encode(offset .. "\n" .. q.normalised)
end

-- Applies q to items (public views, in insertion order). Returns the response value:
-- {count = N} for count=true, else {items, count, _links}. kind names the href's path.
function query.apply(items, q, kind)
  local selected = {}
  for _, item in ipairs(items) do
    local keep = true
    for _, filter in ipairs(q.filters) do
      if not matches(item, filter) then
        keep = false
        break
      end
    end
    if keep then selected[#selected + 1] = item end
  end
  if q.count then return { count = #selected } end
  selected = sorted(selected, q.orderby)
  local page = util.array()
  for i = q.offset + 1, math.min(q.offset + q.limit, #selected) do page[#page + 1] = selected[i] end
  local links = util.object()
  local next_offset = q.offset + q.limit
  if next_offset < #selected then
    links.next = { href = "/" .. kind .. "?continuationToken=" .. token_for(q, next_offset) }
  end
  return { items = page, count = #page, _links = links }
end

-- Exposed for the unit specs.
query._b64url_encode, query._b64url_decode = b64url_encode, b64url_decode

return query
