-- JSON Patch (RFC 6902) subset as Flow Service's PATCH takes it: a JSON array of
-- {op, path, value} with op add | replace | remove (reference §3 "PATCH"; Adobe's docs write the
-- ops in lower case, the API spec's enum in upper case, so they are compared case-insensitively).
-- Paths are JSON Pointers (RFC 6901: "/a/b", "~1" for "/", "~0" for "~", array indexes, "-" to
-- append with add).
--
-- Documented codes (EN:help/sources/errors/flow-service-errors.md):
--   FLOW-1434-400 "Unsupported operation 'move' received. ..." for move, copy, test, ...
--   FLOW-1455-400 "An error has occurred while validating patch instructions: Missing field ..."
--                 for replace / remove of a path that does not exist (and add below one).
-- Emulator choices: a body that is not a non-empty array of objects with a string op and path,
--   a path that is not a JSON Pointer or is the whole document (""), and add / replace without a
--   value are FLOW-1100-400; an empty table that is not marked as an array is an object, except
--   that index "0" or "-" on it treats it as an empty array.
local compat = require "flowservice.compat"
local util = require "flowservice.emulator.util"

local patch = {}

local SUPPORTED = { add = true, replace = true, remove = true }

local function invalid(reason)
  return { code = 1100, status = 400, detail = "The request could not be processed. " .. reason }
end

local function missing(segment)
  return { code = 1455, status = 400, detail = "An error has occurred while validating patch "
    .. ('instructions: Missing field "%s".'):format(util.safe_label(segment)) }
end

-- "/a/b~1c" -> {"a", "b/c"}; nil for "" (the whole document) or a malformed pointer.
function patch.pointer(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then return nil end
  local segments = {}
  for raw in (path .. "/"):sub(2):gmatch("([^/]*)/") do
    if raw:find("~[^01]") or raw:find("~$") then return nil end
    segments[#segments + 1] = raw:gsub("~1", "/"):gsub("~0", "~")
  end
  return segments
end

-- Checks the body's shape; returns a list of {op, path = segments, value, raw_path} or nil, err.
function patch.parse(body)
  -- cjson decodes [] and {} alike (as an empty table): both are refused
  if type(body) ~= "table" or #body == 0 then
    return nil, invalid("The PATCH body must be a non-empty JSON array of operations.")
  end
  local ops = {}
  for i, entry in ipairs(body) do
    if type(entry) ~= "table" or type(entry.op) ~= "string" or type(entry.path) ~= "string" then
      return nil, invalid(("Operation %d needs a string op and a string path."):format(i))
    end
    local op = entry.op:lower()
    if not SUPPORTED[op] then
      return nil, { code = 1434, status = 400, detail = ("Unsupported operation '%s' received. "
        .. "Please use one of the supported operation types and try again."):format(
          util.safe_label(entry.op)) }
    end
    local segments = patch.pointer(entry.path)
    if not segments then
      return nil, invalid(("Operation %d: path must be a JSON Pointer below the resource "
        .. "(such as /name)."):format(i))
    end
    if op ~= "remove" and entry.value == nil then
      return nil, invalid(("Operation %d (%s) needs a value."):format(i, op))
    end
    ops[i] = { op = op, path = segments, value = entry.value, raw_path = entry.path }
  end
  for k in pairs(body) do
    if compat.math_type(k) ~= "integer" then return nil, invalid("The PATCH body must be a JSON array.") end
  end
  return ops
end

local function is_array(t, segment)
  local mt = getmetatable(t)
  if mt and mt.__jsontype then return mt.__jsontype == "array" end
  if next(t) == nil then return segment == "-" or segment == "0" end
  return #t > 0
end

-- The array position a segment names (1-based), or nil. append: "-" allowed (one past the end).
local function array_position(t, segment, append)
  if segment == "-" then return append and #t + 1 or nil end
  if segment == "0" or segment:find("^[1-9]%d?%d?%d?%d?%d?$") then  -- no leading zeros
    return compat.tointeger(tonumber(segment)) + 1
  end
  return nil
end

-- Walks to the container holding the last segment; nil, err when a step is missing.
local function parent_of(doc, segments)
  local node = doc
  for i = 1, #segments - 1 do
    local segment = segments[i]
    if type(node) ~= "table" then return nil, missing(segment) end
    local child
    if is_array(node, segment) then
      local pos = array_position(node, segment, false)
      child = pos and node[pos]
    else
      child = node[segment]
    end
    if type(child) ~= "table" then return nil, missing(segment) end
    node = child
  end
  return node
end

local function apply_one(doc, op)
  local parent, err = parent_of(doc, op.path)
  if not parent then return nil, err end
  local last = op.path[#op.path]
  if is_array(parent, last) then
    local pos = array_position(parent, last, op.op == "add")
    local n = #parent
    if op.op == "add" then
      if not pos or pos > n + 1 then return nil, missing(last) end
      table.insert(parent, pos, op.value)
    elseif not pos or pos > n then
      return nil, missing(last)
    elseif op.op == "replace" then
      parent[pos] = op.value
    else
      table.remove(parent, pos)
    end
    return true
  end
  if op.op ~= "add" and parent[last] == nil then return nil, missing(last) end
  if op.op == "remove" then
    parent[last] = nil
  else
    parent[last] = op.value
  end
  return true
end

-- Applies parsed ops to doc in order (doc is changed: pass a copy). Returns true or nil, err;
-- after a failure doc is partly changed, so the caller drops it.
function patch.apply(doc, ops)
  for _, op in ipairs(ops) do
    local ok, err = apply_one(doc, op)
    if not ok then return nil, err end
  end
  return true
end

return patch
