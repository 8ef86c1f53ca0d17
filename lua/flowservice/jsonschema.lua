-- Client-side check of a Lua value against the JSON Schema subset that connection specs use for
-- their authSpec[].spec (draft-07). It exists so that a bad `auth` is refused before anything is
-- sent; the service stays the judge, so what cannot be checked here is skipped, never guessed.
--
-- Checked: type (string, integer, number, boolean, object, array, null, or a list of them),
-- enum, const, minLength / maxLength (in UTF-8 characters), minimum / maximum /
-- exclusiveMinimum / exclusiveMaximum (draft-07 numbers), format (`uri` and `email` loosely,
-- `password` marks a secret and is not checked, other formats are ignored), pattern (see
-- translate_regex), required, properties, additionalProperties (false or a schema), items (one
-- schema for every element), allOf, anyOf, oneOf. Anything else ($ref, if/then/else, not, ...)
-- is ignored.
--
-- Order of problems (only the first is returned): at a node, type first, then enum/const, then
-- the string, number, object or array rules, then allOf/anyOf/oneOf. In an object: properties
-- that additionalProperties forbids (sorted; an unknown name is most often a typo, and the rule
-- lists the expected names), then `required` (in the schema's order), then each property in
-- sorted name order. Array elements in index order.
--
-- Messages name the field and the rule, never the value: auth params carry secrets. Names that
-- come from the caller (unknown keys) are shown only when they look like identifiers.
local cjson = require "cjson"
local compat = require "flowservice.compat"
local sensitive = require "flowservice.sensitive"

local jsonschema = {}

local NULL = cjson.null
local find = string.find

---------------------------------------------------------------------------------------------------
-- ECMA-262 regex subset -> Lua pattern
---------------------------------------------------------------------------------------------------

local CLASS_ESCAPES = { d = "%d", D = "%D", s = "%s", S = "%S", w = "[%w_]", W = "[^%w_]" }
local SET_ESCAPES = { d = "%d", s = "%s", w = "%w_" }

local function literal(c)
  return c:match("[%w_]") and c or "%" .. c
end

local function unsupported(what)
  error({ unsupported = what }, 0)
end

-- The escape after a backslash inside or outside a class: a class, an escaped punctuation
-- character, or unsupported (\b, \u, back-references: no Lua equivalent).
local function escape(e, classes)
  if e == "" then unsupported("trailing backslash") end
  if classes[e] then return classes[e] end
  if e:match("%w") then unsupported("escape \\" .. e) end
  return literal(e)
end

-- Translates a [...] class starting after '['; returns the Lua set and the index after ']'.
local function translate_set(regex, i)
  local out = { "[" }
  if regex:sub(i, i) == "^" then
    out[#out + 1] = "^"
    i = i + 1
  end
  local first = true
  while true do
    local c = regex:sub(i, i)
    if c == "" then unsupported("unterminated character class") end
    if c == "]" and not first then return table.concat(out) .. "]", i + 1 end
    first = false
    if c == "\\" then
      out[#out + 1] = escape(regex:sub(i + 1, i + 1), SET_ESCAPES)
      i = i + 2
    elseif regex:sub(i + 1, i + 1) == "-" and regex:sub(i + 2, i + 2):match("%w") and c:match("%w") then
      out[#out + 1] = regex:sub(i, i + 2)      -- a-z style range
      i = i + 3
    else
      out[#out + 1] = literal(c)
      i = i + 1
    end
  end
end

-- {n}, {n,} or {n,m} after a single atom: Lua has no counted repetition, so the atom is
-- repeated n times, followed by (m - n) optional copies or by atom* for an open bound.
local function counted(atom, regex, i)
  local n, m, after = regex:match("^{(%d+)(,?%d*)}()", i)
  if not n then unsupported("'{' that is not a {n,m} quantifier") end
  n = tonumber(n)
  local parts = { atom:rep(n) }
  if m == "," then
    parts[2] = atom .. "*"
  elseif m ~= "" then
    local max = tonumber(m:sub(2))
    if max < n then unsupported("{n,m} with m < n") end
    -- optional copies backtrack: beyond a few, leave the check to the service
    if max - n > 16 then unsupported("{n,m} with m - n > 16") end
    parts[2] = (atom .. "?"):rep(max - n)
  end
  if n > 256 then unsupported("{n} with n > 256") end
  return table.concat(parts), after
end

local function translate(regex)
  local out, i, n = {}, 1, #regex
  if regex:sub(1, 1) == "^" then
    out[1] = "^"
    i = 2
  end
  local atom = nil                             -- the last single atom, open to a quantifier
  local function push(s)
    if atom then out[#out + 1] = atom end
    atom = s
  end
  while i <= n do
    local c = regex:sub(i, i)
    local next_c = regex:sub(i + 1, i + 1)
    if c == "$" and i == n then
      push(nil)
      out[#out + 1] = "$"
      i = i + 1
    elseif c == "*" or c == "+" or c == "?" then
      if not atom then unsupported("quantifier without a single atom") end
      if next_c:match("[%*%+%?]") then unsupported("lazy or possessive quantifier") end
      out[#out + 1] = atom .. c
      atom = nil
      i = i + 1
    elseif c == "{" then
      if not atom then unsupported("quantifier without a single atom") end
      local repeated
      repeated, i = counted(atom, regex, i)
      if regex:sub(i, i) == "?" then unsupported("lazy quantifier") end
      out[#out + 1] = repeated
      atom = nil
    elseif c:match("[()|}^$]") then
      unsupported("'" .. c .. "'")              -- groups, alternation, inner anchors
    elseif c == "[" then
      local set
      set, i = translate_set(regex, i + 1)
      push(set)
    elseif c == "\\" then
      push(escape(next_c, CLASS_ESCAPES))
      i = i + 2
    else
      push(c == "." and "." or literal(c))
      i = i + 1
    end
  end
  push(nil)
  return table.concat(out)
end

-- An ECMA-262 regex -> an equivalent Lua pattern, or nil and the construct that has no Lua
-- equivalent. Understood: ^ and $ anchors, literals, escaped punctuation, ., \d \w \s \D \W \S,
-- [...] and [^...] classes with ranges, * + ? and {n} {n,} {n,m} on a single atom. Groups,
-- alternation, back-references, lazy quantifiers and \b are not.
function jsonschema.translate_regex(regex)
  if type(regex) ~= "string" then return nil, "not a string" end
  local ok, result = pcall(translate, regex)
  if not ok then
    return nil, "unsupported regex construct: " .. (type(result) == "table" and result.unsupported or "?")
  end
  if not pcall(string.find, "", result) then return nil, "no valid Lua translation" end
  return result
end

-- Translations are cached per schema node (false: untranslatable): a schema is checked often.
local pattern_cache = setmetatable({}, { __mode = "k" })

local function lua_pattern(node)
  local cached = pattern_cache[node]
  if cached == nil then
    cached = jsonschema.translate_regex(node.pattern) or false
    pattern_cache[node] = cached
  end
  return cached or nil
end

---------------------------------------------------------------------------------------------------
-- Lua values as JSON types
---------------------------------------------------------------------------------------------------

local function json_marker(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__jsontype") or nil
end

local function is_array(v)
  local marker = json_marker(v)
  if marker then return marker == "array" end
  local count = 0
  for k in pairs(v) do
    if compat.math_type(k) ~= "integer" or k < 1 then return false end
    count = count + 1
  end
  return count == #v                          -- {} counts: cjson decodes [] as {}
end

local function is_object(v)
  local marker = json_marker(v)
  if marker then return marker == "object" end
  for k in pairs(v) do
    if type(k) ~= "string" then return false end
  end
  return true
end

local function is_finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

local TYPE_CHECKS = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" and is_finite(v) end,
  integer = function(v)
    return compat.math_type(v) == "integer" or (compat.math_type(v) == "float" and is_finite(v) and v == math.floor(v))
  end,
  boolean = function(v) return type(v) == "boolean" end,
  null = function(v) return v == NULL end,
  object = function(v) return type(v) == "table" and is_object(v) end,
  array = function(v) return type(v) == "table" and is_array(v) end,
}

-- What the value is, for "must be a string (got number)" messages; never the value itself.
local function type_name(v)
  if v == NULL then return "null" end
  if type(v) == "table" then
    if next(v) ~= nil and is_array(v) then return "array" end
    if is_object(v) then return "object" end
    return "table with mixed keys"
  end
  if compat.math_type(v) == "float" and not is_finite(v) then return "a non-finite number" end
  return type(v)
end

-- A caller-supplied key is shown only if it looks like a param name.
local function safe_name(key)
  if type(key) == "string" and key:match("^[%w_%-%.]+$") and #key <= 64 then return key end
  return "?"
end

-- `path` is false in the first, quick pass (validate): no names are built then.
local function child(path, name)
  return path and path .. "." .. safe_name(name)
end

---------------------------------------------------------------------------------------------------
-- Validation. Each check returns nil when valid, else a problem {field, rule, keyword}.
---------------------------------------------------------------------------------------------------

local function problem(field, keyword, rule)
  return { field = field, keyword = keyword, rule = rule }
end

local function list_of(values)
  local out = {}
  for i, v in ipairs(values) do
    out[i] = type(v) == "string" and ("%q"):format(v) or tostring(v)
  end
  return table.concat(out, ", ")
end

local check_node

local function check_type(node, v, path)
  local types = node.type
  if types == nil then return nil end
  if type(types) == "string" then
    local is = TYPE_CHECKS[types]
    if is == nil or is(v) then return nil end
    types = { types }
  end
  for _, t in ipairs(types) do
    local is = TYPE_CHECKS[t]
    if is == nil or is(v) then return nil end  -- an unknown type name is not ours to judge
  end
  local article = #types == 1 and (types[1]:match("^[aeiou]") and "an " or "a ") or "one of "
  return problem(path, "type", ("must be %s%s (got %s)"):format(
    article, table.concat(types, ", "), type_name(v)))
end

local function check_enum(node, v, path)
  if type(node.enum) == "table" then
    for _, allowed in ipairs(node.enum) do
      if allowed == v then return nil end
    end
    return problem(path, "enum", "must be one of: " .. list_of(node.enum))
  end
  if node.const ~= nil and type(node.const) ~= "table" and node.const ~= v then
    return problem(path, "const", "must be " .. list_of { node.const })
  end
  return nil
end

local FORMATS = {
  uri = { pattern = "^%a[%w+%.%-]*:[^%s]+$", rule = "must be a URI (scheme:...)" },
  email = { pattern = "^[^%s@]+@[^%s@]+%.[^%s@]+$", rule = "must be an email address" },
}

local function check_string(node, v, path)
  local length = compat.utf8_len(v) or #v
  if type(node.minLength) == "number" and length < node.minLength then
    if node.minLength == 1 then return problem(path, "minLength", "must not be empty") end
    return problem(path, "minLength", "must be at least " .. node.minLength .. " characters long")
  end
  if type(node.maxLength) == "number" and length > node.maxLength then
    return problem(path, "maxLength", "must be at most " .. node.maxLength .. " characters long")
  end
  local format = FORMATS[node.format]
  if format and not v:find(format.pattern) then
    return problem(path, "format", format.rule)
  end
  if type(node.pattern) == "string" then
    local pattern = lua_pattern(node)      -- nil when untranslatable: the service checks it
    if pattern and not v:find(pattern) then
      return problem(path, "pattern", "must match the pattern " .. node.pattern)
    end
  end
  return nil
end

-- The quick pass over an object (path false): the same rules in pairs() order, so no keys are
-- sorted; validate runs the ordered pass only when this one finds a problem.
local function object_problem(node, v, props, extra)
  for key, value in pairs(v) do
    local sub = props[key]
    if sub == nil then
      if extra == false then return problem(false, "additionalProperties", "") end
      if type(extra) == "table" then sub = extra end
    end
    if type(sub) == "table" then
      local p = check_node(sub, value, false)
      if p then return p end
    end
  end
  if type(node.required) == "table" then
    for _, name in ipairs(node.required) do
      if v[name] == nil then return problem(false, "required", "required") end
    end
  end
  return nil
end

local function check_number(node, v, path)
  local function num(x) return type(x) == "number" and x or nil end
  if num(node.minimum) and v < node.minimum then
    return problem(path, "minimum", "must be at least " .. node.minimum)
  end
  if num(node.maximum) and v > node.maximum then
    return problem(path, "maximum", "must be at most " .. node.maximum)
  end
  if num(node.exclusiveMinimum) and v <= node.exclusiveMinimum then
    return problem(path, "exclusiveMinimum", "must be greater than " .. node.exclusiveMinimum)
  end
  if num(node.exclusiveMaximum) and v >= node.exclusiveMaximum then
    return problem(path, "exclusiveMaximum", "must be less than " .. node.exclusiveMaximum)
  end
  return nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function property_names(node)
  return table.concat(sorted_keys(node.properties or {}), ", ")
end

local NO_PROPERTIES = {}

local function check_object(node, v, path)
  local props = type(node.properties) == "table" and node.properties or NO_PROPERTIES
  local extra = node.additionalProperties
  if not path then return object_problem(node, v, props, extra) end
  if extra == false then
    for _, key in ipairs(sorted_keys(v)) do
      if props[key] == nil then
        return problem(child(path, key), "additionalProperties",
          "is not a parameter (expected: " .. property_names(node) .. ")")
      end
    end
  end
  if type(node.required) == "table" then
    for _, name in ipairs(node.required) do
      if v[name] == nil then return problem(child(path, name), "required", "required") end
    end
  end
  for _, key in ipairs(sorted_keys(v)) do
    local sub = props[key]
    if sub == nil and type(extra) == "table" then sub = extra end
    if type(sub) == "table" then
      local p = check_node(sub, v[key], child(path, key))
      if p then return p end
    end
  end
  return nil
end

local function check_array(node, v, path)
  if type(node.items) ~= "table" or node.items[1] ~= nil then return nil end  -- tuple form: skipped
  for i = 1, #v do
    local p = check_node(node.items, v[i], path and path .. "[" .. i .. "]")
    if p then return p end
  end
  return nil
end

local function check_combinators(node, v, path)
  if type(node.allOf) == "table" then
    for _, sub in ipairs(node.allOf) do
      local p = check_node(sub, v, path)
      if p then return p end
    end
  end
  if type(node.anyOf) == "table" then
    local ok = false
    for _, sub in ipairs(node.anyOf) do
      if not check_node(sub, v, path) then ok = true break end
    end
    if not ok then return problem(path, "anyOf", "does not match any of the allowed alternatives") end
  end
  if type(node.oneOf) == "table" then
    local matches = 0
    for _, sub in ipairs(node.oneOf) do
      if not check_node(sub, v, path) then matches = matches + 1 end
    end
    if matches == 0 then
      return problem(path, "oneOf", "does not match any of the allowed alternatives")
    elseif matches > 1 then
      return problem(path, "oneOf", "matches more than one of the exclusive alternatives")
    end
  end
  return nil
end

function check_node(node, v, path)
  if type(node) ~= "table" then return nil end  -- `true` or garbage: nothing we can check
  local p = check_type(node, v, path) or check_enum(node, v, path)
  if p then return p end
  if type(v) == "string" then
    p = check_string(node, v, path)
  elseif type(v) == "number" then
    p = check_number(node, v, path)
  elseif type(v) == "table" and is_object(v) and (next(v) ~= nil or json_marker(v) == "object") then
    p = check_object(node, v, path) -- an empty table marked as an object too (json.object())
  elseif type(v) == "table" and is_array(v) then
    -- {} is both: an empty object must still meet `required`
    p = check_array(node, v, path) or (next(v) == nil and is_object(v) and check_object(node, v, path))
  end
  return p or check_combinators(node, v, path)
end

---------------------------------------------------------------------------------------------------
-- The quick pass: is the value valid? Auth params are checked on every create, so the common
-- schema shapes (a string with length, format and pattern rules; an object of them) are turned
-- once into closures that answer that with no paths, no sorting and no problem tables. Any
-- other node is asked through check_node(node, v, false). Either way the answer is check_node's.
---------------------------------------------------------------------------------------------------

-- Keywords only check_node's general path handles.
local GENERAL = { "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items",
  "allOf", "anyOf", "oneOf" }

local compiled = setmetatable({}, { __mode = "k" }) -- node -> validator (schemas are not changed)

local function always() return true end

local compile

-- check_string's rules with the schema's values read once.
local function compile_string(node)
  local min = type(node.minLength) == "number" and node.minLength or nil
  local max = type(node.maxLength) == "number" and node.maxLength or nil
  local format = FORMATS[node.format]
  format = format and format.pattern
  local pattern = type(node.pattern) == "string" and lua_pattern(node) or nil
  -- a non-empty string has at least one character (compat.utf8_len, or #v when not UTF-8)
  local bytes_suffice = max == nil and (min == nil or min <= 1)
  if bytes_suffice and not format and not pattern then -- the usual param: a non-empty string
    min = min or 0
    return function(v) return type(v) == "string" and #v >= min end
  end
  return function(v)
    if type(v) ~= "string" then return false end
    if bytes_suffice then
      if min and #v < min then return false end
    else
      local length = compat.utf8_len(v) or #v
      if (min and length < min) or (max and length > max) then return false end
    end
    if format and not find(v, format) then return false end
    if pattern and not find(v, pattern) then return false end
    return true
  end
end

local function compile_object(node)
  local props = type(node.properties) == "table" and node.properties or NO_PROPERTIES
  local extra = node.additionalProperties
  local required = type(node.required) == "table" and node.required or NO_PROPERTIES
  local subs, named = {}, {} -- named: the string-keyed ones (a key found there is a string)
  for key, sub in pairs(props) do
    subs[key] = compile(sub)
    if type(key) == "string" then named[key] = subs[key] end
  end
  local other = type(extra) == "table" and compile(extra) or always
  local names = {} -- `required` read once, as ipairs would
  for _, name in ipairs(required) do names[#names + 1] = name end
  return function(v)
    if type(v) ~= "table" then return false end
    local marker = getmetatable(v) ~= nil and json_marker(v) or nil -- most tables have none
    if marker and marker ~= "object" then return false end
    for key, value in pairs(v) do
      local valid = named[key]
      if valid == nil then
        -- is_object's rule in the same loop: without a marker every key is a string
        if not marker and type(key) ~= "string" then return false end
        valid = subs[key]
        if valid == nil then
          if extra == false then return false end
          valid = other
        end
      end
      if not valid(value) then return false end
    end
    for i = 1, #names do
      if v[names[i]] == nil then return false end
    end
    return true
  end
end

function compile(node)
  if type(node) ~= "table" then return always end
  local valid = compiled[node]
  if valid then return valid end
  local general = node.type ~= "string" and node.type ~= "object"
  for _, keyword in ipairs(GENERAL) do
    if node[keyword] ~= nil then general = true end
  end
  local function ask(v) return check_node(node, v, false) == nil end
  compiled[node] = ask -- what a node inside itself (a cyclic table) uses
  if general then
    valid = ask
  elseif node.type == "string" then
    valid = compile_string(node)
  else
    valid = compile_object(node)
  end
  compiled[node] = valid
  return valid
end

-- Checks `value` against `schema`. Returns true, or nil and the first problem
-- { field = "auth.password", rule = "required", keyword = "required" }; `path` (default "$")
-- names the value itself. Never raises on a malformed schema: what it cannot read it skips.
-- The quick pass first: a valid value, the usual case, is done then; the ordered pass
-- names the first problem.
local function run(quick, schema, value, path)
  if quick(value) then return true end
  return nil, check_node(schema, value, path or "$")
end

function jsonschema.validate(schema, value, path)
  return run(compile(schema), schema, value, path)
end

-- validate bound to one schema: validator(schema)(value, path), compiled at its first use (a
-- listing of specs makes many validators that are never used).
function jsonschema.validator(schema)
  local quick
  return function(value, path)
    quick = quick or compile(schema)
    return run(quick, schema, value, path)
  end
end

-- The set of top-level property names whose values are secrets: format "password", or a name
-- containing password, secret, token, key or credential (any case).
function jsonschema.secrets(schema)
  local set = {}
  local props = type(schema) == "table" and schema.properties
  if type(props) ~= "table" then return set end
  for name, sub in pairs(props) do
    if type(name) == "string" and ((type(sub) == "table" and sub.format == "password")
        or sensitive.name(name)) then
      set[name] = true
    end
  end
  return set
end

return jsonschema
