--- Connection specs as the client sees them: a built-in catalogue (what the client knows offline,
-- so that a bad `auth` is refused before anything is sent) and entries made from the service's
-- own connection spec items (GET /connectionSpecs/{id} -> items[1]), which are the truth when the
-- client has read them. Auth params are checked against each authSpec[].spec JSON Schema with
-- flowservice.jsonschema; a spec id that is in neither is sent as given.
--
-- An entry is what specs.resolve and specs.list return: see `entry` at the end of this file.
--
-- The built-in auth specs follow the Adobe pages cited in flowservice/emulator/catalog.lua (same
-- ids, auth spec names and params); the client adds minLength 1 to every string param, so an
-- empty string is refused here with "must not be empty".
-- @module flowservice.specs
local errors = require "flowservice.errors"
local jsonschema = require "flowservice.jsonschema"

local specs = {}

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

function specs.is_uuid(s)
  return type(s) == "string" and s:match(UUID) ~= nil
end

-- ---- Built-in catalogue ------------------------------------------------------------------------

local TEXT = { type = "string", minLength = 1 }
local SECRET = { type = "string", minLength = 1, format = "password" }

-- An authSpec item in Adobe's shape; `required` lists the required params (optional ones are
-- only in `properties`).
local function auth_spec(name, properties, required)
  return {
    name = name,
    spec = { type = "object", properties = properties, required = required, additionalProperties = false },
  }
end

local BASIC = "Basic Authentication"

local CATALOGUE = {
  {
    alias = "oracle-service-cloud", name = "Oracle Service Cloud", kind = "source",
    id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003", version = "1.0",
    -- Adobe announced the deprecation of this source in 2025; the call is the same for every spec.
    deprecated = true,
    authSpec = {
      auth_spec(BASIC, { host = TEXT, username = TEXT, password = SECRET }, { "host", "username", "password" }),
    },
  },
  {
    alias = "salesforce-service-cloud", name = "Salesforce Service Cloud", kind = "source",
    id = "cb66ab34-8619-49cb-96d1-39b37ede86ea", version = "1.0",
    authSpec = {
      auth_spec(BASIC, { username = TEXT, password = SECRET, securityToken = SECRET },
        { "username", "password", "securityToken" }),
    },
  },
  {
    alias = "servicenow", name = "ServiceNow", kind = "source",
    id = "eb13cb25-47ab-407f-ba89-c0125281c563", version = "1.0",
    authSpec = {
      auth_spec(BASIC, { endpoint = TEXT, username = TEXT, password = SECRET }, { "endpoint", "username", "password" }),
    },
  },
  {
    alias = "zendesk", name = "Zendesk", kind = "source",
    id = "0a27232b-2c6e-4396-b8c6-c9fc24e37ba4", version = "1.0",
    authSpec = {
      auth_spec("OAuth2 Refresh Code", { subdomain = TEXT, accessToken = SECRET }, { "subdomain", "accessToken" }),
    },
  },
  {
    alias = "salesforce", name = "Salesforce", kind = "source",
    id = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5", version = "1.0",
    authSpec = {
      auth_spec(BASIC, {
        environmentUrl = TEXT, username = TEXT, password = SECRET, securityToken = SECRET, apiVersion = TEXT,
      }, { "environmentUrl", "username", "password", "securityToken" }),
      auth_spec("OAuth2 Client Credential", {
        environmentUrl = TEXT, clientId = TEXT, clientSecret = SECRET, apiVersion = TEXT,
      }, { "environmentUrl", "clientId", "clientSecret", "apiVersion" }),
    },
  },
  {
    alias = "microsoft-dynamics", name = "Microsoft Dynamics", kind = "source",
    id = "38ad80fe-8b06-4938-94f4-d4ee80266b07", version = "1.0",
    authSpec = {
      auth_spec("Basic Authentication for Dynamics-Online",
        { serviceUri = TEXT, username = TEXT, password = SECRET }, { "serviceUri", "username", "password" }),
      auth_spec("Service Principal Key Based Authentication",
        { serviceUri = TEXT, servicePrincipalId = TEXT, servicePrincipalKey = SECRET },
        { "serviceUri", "servicePrincipalId", "servicePrincipalKey" }),
    },
  },
  {
    alias = "data-lake", name = "Data Lake", kind = "target",
    id = "c604ff05-7f1a-43c0-8e18-33bf874cb11c", version = "1.0",
    targetSpec = { spec = { type = "object", properties = { dataSetId = TEXT }, required = { "dataSetId" } } },
  },
}

-- ---- Entries ----------------------------------------------------------------------------------

local function sorted_names(set)
  local names = {}
  for name in pairs(set) do
    if type(name) == "string" then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

-- The validator of one auth spec: a copy of the params, or nil and a validation error naming
-- `auth.<param>` and the rule (never the value). With `borrow` (connections:create, which
-- encodes the body at once) a params table without a metatable is returned itself: copying it
-- costs more than checking it, and nothing changes it.
local function auth_checker(entry_name, auth_name, schema)
  local what = entry_name .. " (" .. auth_name .. ")"
  local validate = jsonschema.validator(schema)
  return function(params, borrow)
    local ok, problem = validate(params, "auth")
    if not ok then
      local rule, top_level = problem.rule, problem.field:match("^auth%.[^.%[]+$") ~= nil
      if top_level and problem.keyword == "required" then
        rule = "required by " .. what
      elseif top_level and problem.keyword == "additionalProperties" then
        local props = type(schema.properties) == "table" and schema.properties or {}
        rule = "not a parameter of " .. what .. " (expected: " .. table.concat(sorted_names(props), ", ") .. ")"
      end
      return nil, errors.validation(problem.field, rule)
    end
    if borrow and getmetatable(params) == nil then return params end
    local copy = {}
    for k, v in pairs(params) do copy[k] = v end
    return copy
  end
end

local function read_auth_specs(entry, auth_specs)
  entry.auth_specs, entry.auth = {}, {}
  for _, item in ipairs(auth_specs or {}) do
    local schema = type(item.spec) == "table" and item.spec or {}   -- no schema: the service judges
    entry.auth_specs[#entry.auth_specs + 1] = item.name
    entry.auth[item.name] = {
      name = item.name, type = item.type, schema = schema, secrets = jsonschema.secrets(schema),
      check = auth_checker(entry.name, item.name, schema),
    }
  end
  if #entry.auth_specs == 1 then entry.default_auth_spec = entry.auth_specs[1] end
end

local function target_params(target_spec)
  local spec = type(target_spec) == "table" and target_spec.spec
  if type(spec) ~= "table" or type(spec.properties) ~= "table" then return nil end
  return sorted_names(spec.properties)
end

local by_alias, by_id, builtin_entries = {}, {}, {}
for i, item in ipairs(CATALOGUE) do
  local entry = {
    id = item.id, version = item.version, name = item.name, alias = item.alias, kind = item.kind,
    origin = "builtin", deprecated = item.deprecated, target_params = target_params(item.targetSpec),
  }
  read_auth_specs(entry, item.authSpec)
  by_alias[entry.alias], by_id[entry.id], builtin_entries[i] = entry, entry, entry
end

-- A server item's kind: what its attributes say, else the built-in entry's, else nil.
local function kind_of(item)
  local attributes = type(item.attributes) == "table" and item.attributes or {}
  if attributes.isSource == true then return "source" end
  if attributes.isDestination == true or attributes.isTarget == true then return "target" end
  local builtin = by_id[item.id]
  return builtin and builtin.kind or nil
end

-- Why a server item cannot be used, or nil when it can.
local function item_problem(item)
  if not specs.is_uuid(item.id) then return "a connection spec item needs an id (a UUID)" end
  if type(item.version) ~= "string" then return "a connection spec item needs a string version" end
  if item.name ~= nil and type(item.name) ~= "string" then return "a connection spec item's name must be a string" end
  if item.authSpec ~= nil and type(item.authSpec) ~= "table" then
    return "a connection spec item's authSpec must be a list"
  end
  for i, auth in ipairs(item.authSpec or {}) do
    if type(auth) ~= "table" or type(auth.name) ~= "string" then
      return "a connection spec item's authSpec[" .. i .. "] needs a string name"
    end
  end
  return nil
end

local from_server = setmetatable({}, { __mode = "k" })   -- item -> entry (items are not changed)

local function server_entry(item, field)
  local cached = from_server[item]
  if cached then return cached end
  local why = item_problem(item)
  if why then return nil, errors.validation(field, why) end
  local builtin = by_id[item.id]
  local entry = {
    id = item.id, version = item.version, name = item.name or (builtin and builtin.name) or item.id,
    alias = builtin and builtin.alias, kind = kind_of(item), origin = "server",
    target_params = target_params(item.targetSpec),
  }
  read_auth_specs(entry, item.authSpec)
  from_server[item] = entry
  return entry
end

local function known_aliases()
  local names = {}
  for _, entry in ipairs(builtin_entries) do names[#names + 1] = entry.alias end
  return table.concat(names, ", ")
end

--- The built-in entries, in order: Oracle Service Cloud, Salesforce Service Cloud, ServiceNow,
-- Salesforce, Microsoft Dynamics, Zendesk and the data lake target. Callers must not change them.
-- @treturn {entry,...}
-- @usage
-- for _, e in ipairs(flowservice.specs.list()) do print(e.alias, e.id, e.kind) end
function specs.list()
  return builtin_entries
end

--- spec -> entry (see `entry`), or nil and a validation error on `field` (default
-- "spec"). `spec` is an alias or a connection spec id (a built-in entry; an unknown UUID gives
-- { id = spec, unknown = true, origin = "unknown" }), or a connection spec item as the service
-- returns it (the entry is made from its authSpec JSON Schemas).
-- @tparam string|table spec an alias, a connection spec id or a spec item read from the service
-- @tparam[opt="spec"] string field the field a validation error names
-- @treturn[1] entry the entry
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error: an unknown alias, or an unusable item
-- @usage
-- local entry = assert(flowservice.specs.resolve("servicenow"))
-- print(entry.id, entry.default_auth_spec)   --> eb13cb25-47ab-407f-ba89-c0125281c563	Basic Authentication
-- local params, err = entry.auth[entry.default_auth_spec].check { endpoint = "e", username = "u" }
-- print(params, err.field)   --> nil	auth.password
function specs.resolve(spec, field)
  field = field or "spec"
  local kind = type(spec)
  if kind == "table" then return server_entry(spec, field) end
  if kind ~= "string" then
    return nil, errors.validation(field, "must be a connection spec id, alias or item")
  end
  local entry = by_alias[spec] or by_id[spec]
  if entry then return entry end
  if specs.is_uuid(spec) then return { id = spec, unknown = true, origin = "unknown" } end
  return nil, errors.validation(field, "unknown connection spec '" .. spec
    .. "' (expected a connection spec id (UUID) or one of: " .. known_aliases() .. ")")
end

--- What `resolve` and `list` return (callers must not change it). An unknown id's entry has only
-- `id`, `unknown` and `origin`: nothing can be checked.
-- @table entry
-- @tfield string id the spec's UUID
-- @tfield string version
-- @tfield string name a display name
-- @tfield string alias built-in entries only: `"oracle-service-cloud"`, ...
-- @tfield string kind `"source"`, `"target"`, or nil (a server item that does not say)
-- @tfield string origin `"builtin"`, `"server"` or `"unknown"`
-- @tfield boolean unknown true for an id the client knows nothing about (sent as given)
-- @tfield boolean deprecated true where Adobe announced the source's end
-- @tfield {string,...} auth_specs the auth spec names, in the spec's order (`{}`: takes no auth)
-- @tfield string default_auth_spec the only name, when there is exactly one
-- @tfield table auth `auth[name]` = `{ name, type, schema, secrets, check }`, where
--   `check(params)` returns a copy of the params or `nil, err` naming `auth.<param>`
-- @tfield {string,...} target_params targets: the param names of its targetSpec (`{ "dataSetId" }`)

return specs
