--- Source connections: what data of a base connection to read (reference §3, "Source
-- connection"). For tabular sources (Oracle Service Cloud and the other CRM and
-- customer-success sources): data.format "tabular" and params.tableName.
-- @module flowservice.source_connections
local errors = require "flowservice.errors"
local resource = require "flowservice.resource"
local specs = require "flowservice.specs"

local FORMATS = { tabular = true, delimited = true, json = true, parquet = true }

-- The connection spec {id, version}: from `spec` when given, else read from the base connection
-- (one GET): a source connection must use its base connection's spec.
local function connection_spec(input, client)
  if input.spec ~= nil then
    local entry, err = specs.resolve(input.spec, "spec")
    if not entry then return nil, err end
    if entry.kind == "target" then
      return nil, errors.validation("spec", "is a target spec; a source connection needs a source spec")
    end
    return { id = entry.id, version = input.spec_version or entry.version or "1.0" }
  end
  local base, err = client.connections:get(input.base_connection_id)
  if not base then return nil, err end
  local cs = base.connectionSpec
  if type(cs) ~= "table" or type(cs.id) ~= "string" then
    return nil, errors.unexpected(nil, "the base connection has no connectionSpec.id")
  end
  return { id = cs.id, version = input.spec_version or cs.version or "1.0" }
end

local function build_body(input, client)
  if input.name == nil or input.name == "" then
    return nil, errors.validation("name", "required (a non-empty string)")
  end
  if input.base_connection_id == nil or input.base_connection_id == "" then
    return nil, errors.validation("base_connection_id", "required (the id of a base connection)")
  end
  local format = input.format or "tabular"
  if not FORMATS[format] then
    return nil, errors.validation("format", "must be one of tabular, delimited, json, parquet")
  end
  local params = input.params and resource.copy(input.params) or {}
  if input.table ~= nil then
    if input.table == "" then return nil, errors.validation("table", "must not be empty") end
    params.tableName = input.table
  end
  if format == "tabular" and params.tableName == nil then
    return nil, errors.validation("table", "required for a tabular source (a path from connections:tables)")
  end
  if input.columns ~= nil then
    if input.columns[1] == nil then
      return nil, errors.validation("columns", "must be a non-empty list of columns")
    end
    params.columns = input.columns
  end
  local cs, err = connection_spec(input, client)
  if not cs then return nil, err end
  return {
    name = input.name,
    description = input.description,
    baseConnectionId = input.base_connection_id,
    data = { format = format },
    params = params,
    connectionSpec = cs,
  }
end

--- The object at `client.source_connections`: the methods of `flowservice.resource.Resource`
-- (`create` and `ensure` take the fields below).
-- @type SourceConnections

--- Creates a source connection (`POST /sourceConnections`).
-- @function SourceConnections:create
-- @tparam table input
-- @tparam string input.name
-- @tparam[opt] string input.description
-- @tparam string input.base_connection_id the base connection to read from
-- @tparam[opt] string input.table `params.tableName`: a `path` from `connections:tables`,
--   required for tabular sources
-- @tparam[opt] table input.columns `params.columns`, a non-empty list
-- @tparam[opt="tabular"] string input.format `data.format`: `tabular`, `delimited`, `json` or
--   `parquet`
-- @tparam[opt] table input.params more params (copied)
-- @tparam[opt] string|table input.spec the connection spec (id, alias or item); default the base
--   connection's own spec, read with one `GET`
-- @tparam[opt] string input.spec_version
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error (nothing sent) or the service's
--   error
-- @usage
-- local source = assert(client.source_connections:create { name = "OSC incidents",
--   base_connection_id = base.id, table = "incidents" })
return resource.define {
  kind = "source_connection",
  path = "/sourceConnections",
  create_fields = {
    name = "string", description = "string", base_connection_id = "string", spec = "any",
    spec_version = "string", table = "string", columns = "table", format = "string", params = "table",
  },
  build_body = build_body,
}
