-- Kind hooks for base, source and target connections: how flow.lua's shared create / PATCH
-- handlers validate a body of each kind and what a stored record looks like when served.
-- Each validate(state, ctx, body, spec, lookup) returns the fields to store or nil, failure;
-- `spec` is the catalogue entry of body.connectionSpec, `lookup(kind, id)` finds a record of the
-- same sandbox. Documented codes and emulator choices are listed at the top of flow.lua.
local catalog = require "flowservice.emulator.catalog"
local dataset = require "flowservice.emulator.dataset"
local problem = require "flowservice.emulator.problem"
local schema = require "flowservice.emulator.schema"
local store = require "flowservice.emulator.store"
local util = require "flowservice.emulator.util"

local connections = {}

local failure, invalid = problem.failure, problem.invalid
local is_object = util.is_object

local SECRET_MASK = "****"

local is_nonempty_string = util.is_nonempty_string

local function given_description(body)
  if body.description == util.null then return nil end
  return body.description
end

local function spec_ref(spec)
  return { id = spec.public.id, version = spec.public.version }
end

---------------------------------------------------------------------------------------------------
-- Kind hooks: connections
---------------------------------------------------------------------------------------------------

local function masked_secret_param(params, secrets)
  for name in pairs(secrets) do
    if params[name] == SECRET_MASK then return name end
  end
  return nil
end

-- Checks auth against the spec; returns the auth entry or nil, err.
local function check_auth(spec, auth)
  if next(spec.auth) == nil then return {} end     -- a spec without authSpec takes no auth
  if not is_object(auth) or type(auth.specName) ~= "string" then
    return nil, invalid("The field auth with a string field specName is required.")
  end
  local entry = spec.auth[auth.specName]
  if not entry then
    return nil, failure(1415, 400, ("The auth spec '%s' could not be found for the "
      .. "connection spec ID %s."):format(util.safe_label(auth.specName), spec.public.id))
  end
  local params = auth.params
  if params == nil then params = {} end
  local errors = schema.validate(entry.schema, params, "auth.params")
  if #errors > 0 then
    return nil, invalid("auth.params does not match the auth spec '"
      .. auth.specName .. "': " .. table.concat(errors, "; ") .. ".")
  end
  local masked = masked_secret_param(params, entry.secrets or {})
  if masked then
    return nil, invalid(("auth.params.%s: the mask %s is a placeholder, not a value; send the "
      .. "secret itself."):format(util.safe_label(masked), SECRET_MASK))
  end
  return entry
end

function connections.validate_connection(_, _, body, spec)
  local auth_entry, err = check_auth(spec, body.auth)
  if not auth_entry then return nil, err end
  return {
    name = body.name, description = given_description(body), connectionSpec = spec_ref(spec),
    state = "enabled",
    auth = body.auth and { specName = body.auth.specName, params = body.auth.params or {} },
    _secrets = auth_entry.secrets or {},
  }
end

local function masked_params(params, secrets)
  local out = util.object()
  for name, value in pairs(params) do
    out[name] = secrets[name] and SECRET_MASK or value
  end
  return out
end

-- The connection as Flow Service returns it (secrets masked; internal fields left out).
function connections.connection_view(record)
  local item = store.public(record)
  if record.auth then
    item.auth = {
      specName = record.auth.specName,
      params = masked_params(record.auth.params, record._secrets or {}),
    }
  end
  return item
end

---------------------------------------------------------------------------------------------------
-- Kind hooks: source and target connections
---------------------------------------------------------------------------------------------------

local SOURCE_FORMATS = { tabular = true, delimited = true, json = true, parquet = true }

local function format_failure(format, allowed)
  local shown = type(format) == "string" and util.safe_label(format) or "null"
  return failure("CONNECTOR-1327", 400, ("The format of source data supplied=%s in "
    .. "SourceConnection is not supported. The allowed values are: %s. Please provide allowed "
    .. "values and try again."):format(shown, allowed))
end

local function param_failure(name)
  return failure("CONNECTOR-1329", 400, ("The param: %s cannot be null or empty in the provided "
    .. "request. Please provide valid %s and try again."):format(name, name))
end


local function check_base_connection(body, spec, lookup)
  local id = body.baseConnectionId
  if not is_nonempty_string(id) then
    return nil, invalid("The field baseConnectionId is required and must be a non-empty string.")
  end
  local base = lookup("connections", id)
  if not base then
    return nil, invalid("The field baseConnectionId does not name a connection in this sandbox.")
  end
  if base.connectionSpec.id ~= spec.public.id then
    return nil, invalid("The field baseConnectionId names a connection of another connectionSpec.")
  end
  return true
end

local function check_table(params)
  local name = params.tableName
  if not is_nonempty_string(name) then return nil, param_failure("tableName") end
  if not dataset.get(name) then
    return nil, failure("CONNECTOR-1330", 400, ("No columns were found for table %s. Please "
      .. "provide a valid table name and try again."):format(util.safe_label(name)))
  end
  if params.columns ~= nil and type(params.columns) ~= "table" then
    return nil, invalid("The field params.columns must be an array.")
  end
  return true
end

function connections.validate_source(_, _, body, spec, lookup)
  local ok, err = check_base_connection(body, spec, lookup)
  if not ok then return nil, err end
  if not is_object(body.data) then return nil, invalid("The field data must be an object.") end
  if not SOURCE_FORMATS[body.data.format] then
    return nil, format_failure(body.data.format, "tabular, delimited, json, parquet")
  end
  local params = body.params
  if params ~= nil and not is_object(params) then
    return nil, invalid("The field params must be an object.")
  end
  if catalog.is_tabular(spec.public.id) then
    if params == nil then return nil, param_failure("tableName") end
    ok, err = check_table(params)
    if not ok then return nil, err end
  end
  return {
    name = body.name, description = given_description(body), baseConnectionId = body.baseConnectionId,
    data = body.data, params = params or util.object(), connectionSpec = spec_ref(spec),
    state = "enabled",
  }
end

local function check_target_data(data)
  if not is_object(data) then return nil, invalid("The field data must be an object.") end
  if data.format ~= "parquet_xdm" then return nil, format_failure(data.format, "parquet_xdm") end
  local s = data.schema
  if not is_object(s) or type(s.id) ~= "string" or type(s.version) ~= "string" then
    return nil, invalid("The field data.schema with string fields id and version is required.")
  end
  return true
end

function connections.validate_target(_, _, body, spec, lookup)
  if spec.public.id ~= catalog.DATA_LAKE_ID then
    return nil, failure("CONNECTOR-1307", 400, ("The target connection spec ID is not valid=%s. "
      .. "The allowed value is: %s."):format(spec.public.id, catalog.DATA_LAKE_ID))
  end
  local ok, err = check_target_data(body.data)
  if not ok then return nil, err end
  local params = body.params
  if not is_object(params) or not is_nonempty_string(params.dataSetId) then
    return nil, failure("CONNECTOR-1325", 400, ("The dataSetId param cannot be null or empty in "
      .. "target connection: %s. Please provide valid dataSetId param and try again."):format(
        util.safe_label(body.name)))
  end
  local base_id = body.baseConnectionId
  local given = base_id ~= nil and base_id ~= util.null
  if given and not (type(base_id) == "string" and lookup("connections", base_id)) then
    return nil, invalid("The field baseConnectionId does not name a connection in this sandbox.")
  end
  return {
    name = body.name, description = given_description(body),
    baseConnectionId = base_id ~= util.null and base_id or nil,
    data = body.data, params = params, connectionSpec = spec_ref(spec), state = "enabled",
  }
end

return connections
