--- Target connections: where the data lands. For sources into Platform that is the data lake
-- (reference §3, "Target connection"): spec c604ff05-7f1a-43c0-8e18-33bf874cb11c, data.format
-- "parquet_xdm", the XDM schema of the dataset, and params.dataSetId.
-- @module flowservice.target_connections
local errors = require "flowservice.errors"
local resource = require "flowservice.resource"

local DATA_LAKE_SPEC = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
local XDM_FULL = "application/vnd.adobe.xed-full+json;version=1"

local function required(input, name, rule)
  if input[name] == nil or input[name] == "" then
    return nil, errors.validation(name, "required (" .. rule .. ")")
  end
  return true
end

local function build_body(input)
  for _, f in ipairs {
    { "name", "a non-empty string" },
    { "dataset_id", "the id of the dataset the data lands in" },
    { "schema_id", "the $id of the dataset's XDM schema" },
  } do
    local ok, err = required(input, f[1], f[2])
    if not ok then return nil, err end
  end
  return {
    name = input.name,
    description = input.description,
    data = {
      format = input.format or "parquet_xdm",
      schema = { id = input.schema_id, version = input.schema_version or XDM_FULL },
    },
    params = { dataSetId = input.dataset_id },
    connectionSpec = { id = input.spec or DATA_LAKE_SPEC, version = input.spec_version or "1.0" },
  }
end

--- The object at `client.target_connections`: the methods of `flowservice.resource.Resource`
-- (`create` and `ensure` take the fields below).
-- @type TargetConnections

--- Creates a target connection (`POST /targetConnections`).
-- @function TargetConnections:create
-- @tparam table input
-- @tparam string input.name
-- @tparam[opt] string input.description
-- @tparam string input.dataset_id `params.dataSetId`: the dataset the data lands in
-- @tparam string input.schema_id `data.schema.id`: the `$id` of the dataset's XDM schema
-- @tparam[opt] string input.schema_version `data.schema.version` (default
--   `application/vnd.adobe.xed-full+json;version=1`)
-- @tparam[opt="parquet_xdm"] string input.format `data.format`
-- @tparam[opt] string input.spec the connection spec id (default the data lake,
--   `c604ff05-7f1a-43c0-8e18-33bf874cb11c`)
-- @tparam[opt="1.0"] string input.spec_version
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error (nothing sent) or the service's
--   error
-- @usage
-- local target = assert(client.target_connections:create { name = "OSC incidents",
--   dataset_id = dataset_id, schema_id = schema_id })
local TargetConnections = resource.define {
  kind = "target_connection",
  path = "/targetConnections",
  create_fields = {
    name = "string", description = "string", dataset_id = "string", schema_id = "string",
    schema_version = "string", format = "string", spec = "string", spec_version = "string",
  },
  build_body = build_body,
}
TargetConnections.DATA_LAKE_SPEC = DATA_LAKE_SPEC

return TargetConnections
