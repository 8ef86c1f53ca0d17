-- A small JSON Schema (draft-07) subset validator for connection-spec authSpecs.
--
-- Validation keywords: type, required, properties, additionalProperties, enum, minLength,
-- maxLength, pattern. Annotations ($schema, description, title, format, ...) are accepted and
-- ignored. schema.compile refuses any other keyword so that a catalogue entry can never rely on
-- a rule that is silently skipped.
--
-- Error messages name the property and the rule, never the value: auth params carry secrets.
--
-- `pattern` is an ECMA-262 regex, translated to a Lua pattern by flowservice.jsonschema's
-- translate_regex (anchors, literals, ., \d \w \s, classes, * + ? and {n,m} on a single atom).
-- Groups, alternation, back-references and lazy quantifiers are refused at compile time here
-- (the client skips them instead: the service is the judge).
local compat = require "flowservice.compat"
local jsonschema = require "flowservice.jsonschema"
local util = require "flowservice.emulator.util"

local schema = {}

local ANNOTATIONS = {
  ["$schema"] = true, ["$id"] = true, ["$comment"] = true, title = true, description = true,
  format = true, default = true, example = true, examples = true,
  uiAttributes = true, restAttributes = true,    -- Adobe's UI/REST hints inside authSpecs
}
local KEYWORDS = {
  type = true, required = true, properties = true, additionalProperties = true, enum = true,
  minLength = true, maxLength = true, pattern = true,
}
local TYPES = {
  string = true, number = true, integer = true, boolean = true, object = true, array = true,
  null = true,
}

-- The regex subset is the client's (flowservice.jsonschema): one translator for both sides.
schema.translate_regex = jsonschema.translate_regex

---------------------------------------------------------------------------------------------------
-- Compile: check the schema uses only supported keywords, translate patterns once.
---------------------------------------------------------------------------------------------------

local function compile_node(node, where)
  if type(node) ~= "table" then error(where .. ": a schema must be an object", 0) end
  local compiled = {}
  for key, value in pairs(node) do
    if not (KEYWORDS[key] or ANNOTATIONS[key]) then
      error(where .. ": unsupported schema keyword '" .. tostring(key) .. "'", 0)
    end
    compiled[key] = value
  end
  local types = node.type
  if types ~= nil then
    types = type(types) == "string" and { types } or types
    for _, t in ipairs(types) do
      if not TYPES[t] then error(where .. ": unknown type '" .. tostring(t) .. "'", 0) end
    end
    compiled.type = types
  end
  if node.properties then
    compiled.properties = {}
    for name, sub in pairs(node.properties) do
      compiled.properties[name] = compile_node(sub, where .. "." .. name)
    end
  end
  if type(node.additionalProperties) == "table" then
    compiled.additionalProperties = compile_node(node.additionalProperties, where .. ".*")
  end
  if node.pattern then
    local lua_pattern, why = jsonschema.translate_regex(node.pattern)
    if not lua_pattern then error(where .. ": pattern: " .. why, 0) end
    compiled.lua_pattern = lua_pattern
  end
  return compiled
end

-- Returns a compiled schema for schema.validate; raises on unsupported constructs.
function schema.compile(node, name)
  return compile_node(node, name or "schema")
end

---------------------------------------------------------------------------------------------------
-- Validate
---------------------------------------------------------------------------------------------------

local function is_array(v)
  if #v > 0 then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    return n == #v
  end
  return next(v) == nil                      -- cjson decodes [] and {} alike
end

local is_object = util.is_object

-- The JSON type names a decoded value satisfies.
local function matches_type(v, t)
  local lt = type(v)
  if t == "string" then return lt == "string"
  elseif t == "number" then return lt == "number"
  elseif t == "integer" then return lt == "number" and v == math.floor(v)
  elseif t == "boolean" then return lt == "boolean"
  elseif t == "null" then return v == util.null
  elseif t == "object" then return lt == "table" and is_object(v)
  elseif t == "array" then return lt == "table" and is_array(v)
  end
  return false
end

local function json_type_name(v)
  if v == util.null then return "null" end
  local lt = type(v)
  if lt == "table" then return is_array(v) and next(v) ~= nil and "array" or "object" end
  if lt == "number" then return v == math.floor(v) and "integer" or "number" end
  return lt
end

local function label(path, name)
  return path .. "." .. util.safe_label(name)
end

local validate_node

local function check_object(node, v, path, errors)
  for _, name in ipairs(node.required or {}) do
    if v[name] == nil then
      errors[#errors + 1] = path .. ": required property '" .. name .. "' is missing"
    end
  end
  local props = node.properties or {}
  local names = {}
  for name in pairs(v) do names[#names + 1] = name end
  table.sort(names)                          -- stable error order
  for _, name in ipairs(names) do
    local sub = props[name]
    if sub then
      validate_node(sub, v[name], label(path, name), errors)
    elseif node.additionalProperties == false then
      errors[#errors + 1] = path .. ": property '" .. util.safe_label(name) .. "' is not allowed"
    elseif type(node.additionalProperties) == "table" then
      validate_node(node.additionalProperties, v[name], label(path, name), errors)
    end
  end
end

local function check_string(node, v, path, errors)
  local length = compat.utf8_len(v) or #v
  if node.minLength and length < node.minLength then
    errors[#errors + 1] = path .. ": shorter than minLength " .. node.minLength
  end
  if node.maxLength and length > node.maxLength then
    errors[#errors + 1] = path .. ": longer than maxLength " .. node.maxLength
  end
  if node.lua_pattern and not v:find(node.lua_pattern) then
    errors[#errors + 1] = path .. ": does not match pattern " .. node.pattern
  end
end

function validate_node(node, v, path, errors)
  if node.type then
    local ok = false
    for _, t in ipairs(node.type) do
      if matches_type(v, t) then ok = true break end
    end
    if not ok then
      errors[#errors + 1] = ("%s: expected type %s, found %s"):format(
        path, table.concat(node.type, " or "), json_type_name(v))
      return                                 -- other rules would only add noise
    end
  end
  if node.enum then
    local found = false
    for _, allowed in ipairs(node.enum) do
      if allowed == v then found = true break end
    end
    if not found then
      errors[#errors + 1] = path .. ": not one of the allowed values"
    end
  end
  if type(v) == "string" then
    check_string(node, v, path, errors)
  elseif type(v) == "table" and is_object(v) and (node.properties or node.required
      or node.additionalProperties ~= nil) then
    check_object(node, v, path, errors)
  end
end

-- Validates a decoded JSON value. Returns a list of messages (empty when valid); path names the
-- value in messages (e.g. "auth.params").
function schema.validate(compiled, value, path)
  local errors = {}
  validate_node(compiled, value, path or "$", errors)
  return errors
end

-- Names of the properties marked format "password" (their values are secrets).
function schema.secret_properties(compiled)
  local secret = {}
  for name, sub in pairs(compiled.properties or {}) do
    if sub.format == "password" then secret[name] = true end
  end
  return secret
end

return schema
