-- Argument checking shared by every public function.
-- Programmer errors (unknown option names, wrong Lua types) raise at the caller's level;
-- bad values that come from data return a validation error instead (see errors.lua).
local check = {}

local function sorted_names(set)
  local names = {}
  for name in pairs(set) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ", ")
end

-- Raises when `tbl` has a key that is not in `allowed` (a set or a name -> type map).
-- `what` names the table in the message; `level` is passed to error() (caller of the caller = 3).
function check.fields(tbl, allowed, what, level)
  for key in pairs(tbl) do
    if type(key) ~= "string" or allowed[key] == nil then
      error(string.format("%s: unknown option '%s' (expected one of: %s)",
        what, tostring(key), sorted_names(allowed)), level or 3)
    end
  end
end

-- Raises unless `value` is nil or of Lua type `expected`.
function check.optional(value, expected, name, level)
  if value ~= nil and type(value) ~= expected then
    error(string.format("%s: expected %s, got %s", name, expected, type(value)), level or 3)
  end
  return value
end

-- Raises unless `value` is a table.
function check.table(value, name, level)
  if type(value) ~= "table" then
    error(string.format("%s: expected a table, got %s", name, type(value)), level or 3)
  end
  return value
end

-- The full check, in the order the messages are given: unknown names first, then types.
local function options_slow(tbl, spec, what, level)
  check.fields(tbl, spec, what, level)
  for name, expected in pairs(spec) do
    if expected ~= "any" then
      check.optional(tbl[name], expected, what .. ": " .. name, level)
    end
  end
end

-- Checks an options table against `spec` (name -> Lua type, or "any" for no type check):
-- unknown names and wrong types raise.
function check.options(tbl, spec, what, level)
  -- One pass over the given names (this runs on every call); the full check, which builds
  -- the messages in their order, only when something is wrong.
  for key, value in pairs(tbl) do
    local expected = spec[key] -- nil for any name that is not a string: spec's are
    if expected == nil or (expected ~= "any" and type(value) ~= expected) then
      options_slow(tbl, spec, what, (level or 3) + 2) -- + this function and options_slow
      break
    end
  end
  return tbl
end

return check
