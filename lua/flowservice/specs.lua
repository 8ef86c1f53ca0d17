-- The built-in catalogue of connection specs: what the client knows offline, so that a bad
-- `auth` is refused before anything is sent. A spec id that is not here is sent as given.
local errors = require "flowservice.errors"

local specs = {}

-- One entry per source. `params` is ordered (messages list them in this order).
local CATALOGUE = {
  {
    alias = "oracle-service-cloud",
    name = "Oracle Service Cloud",
    id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003",
    version = "1.0",
    -- Adobe announced the deprecation of this source in 2025; the call is the same for every spec.
    deprecated = true,
    auth = {
      spec_name = "Basic Authentication",
      params = {
        { name = "host", type = "string", required = true,
          description = "host of the Oracle Service Cloud instance, e.g. example.custhelp.com" },
        { name = "username", type = "string", required = true,
          description = "user name of the Oracle Service Cloud account" },
        { name = "password", type = "string", required = true, secret = true,
          description = "password of the Oracle Service Cloud account" },
      },
    },
  },
}

local by_alias, by_id = {}, {}
for _, entry in ipairs(CATALOGUE) do
  by_alias[entry.alias] = entry
  by_id[entry.id] = entry
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

function specs.is_uuid(s)
  return type(s) == "string" and s:match(UUID) ~= nil
end

local function known_aliases()
  local names = {}
  for _, entry in ipairs(CATALOGUE) do names[#names + 1] = entry.alias end
  return table.concat(names, ", ")
end

-- The catalogue entries, in order (copies are not needed: callers must not change them).
function specs.list()
  return CATALOGUE
end

-- An alias or a connection spec id -> the catalogue entry, or for an unknown UUID a minimal
-- entry { id = ..., unknown = true }. Anything else is a validation error on `field`.
function specs.resolve(spec, field)
  field = field or "spec"
  local entry = by_alias[spec] or by_id[spec]
  if entry then return entry end
  if specs.is_uuid(spec) then return { id = spec, unknown = true } end
  return nil, errors.validation(field, "unknown connection spec '" .. spec
    .. "' (expected a connection spec id (UUID) or one of: " .. known_aliases() .. ")")
end

local function param_names(entry)
  local names = {}
  for _, p in ipairs(entry.auth.params) do names[#names + 1] = p.name end
  return table.concat(names, ", ")
end

-- Checks `auth` (param name -> value) against a catalogue entry. Returns a copy of the params,
-- or nil and a validation error naming `auth.<param>`. Messages never contain values.
function specs.check_auth(entry, auth)
  local params = {}
  local what = entry.name .. " (" .. entry.auth.spec_name .. ")"
  local declared = {}
  for _, p in ipairs(entry.auth.params) do declared[p.name] = p end
  local unknown = {}
  for name in pairs(auth) do
    if not declared[name] then unknown[#unknown + 1] = tostring(name) end
  end
  if #unknown > 0 then
    table.sort(unknown)
    return nil, errors.validation("auth." .. unknown[1], "not a parameter of " .. what
      .. " (expected: " .. param_names(entry) .. ")")
  end
  for _, p in ipairs(entry.auth.params) do
    local value, field = auth[p.name], "auth." .. p.name
    if value == nil then
      if p.required then
        return nil, errors.validation(field, "required by " .. what)
      end
    elseif type(value) ~= p.type then
      return nil, errors.validation(field, "must be a " .. p.type .. " (got " .. type(value) .. ")")
    elseif p.type == "string" and value == "" then
      return nil, errors.validation(field, "must not be empty")
    end
    params[p.name] = value
  end
  return params
end

return specs
