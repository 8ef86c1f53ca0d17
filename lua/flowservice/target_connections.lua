-- Target connections: where the data lands. For sources into Platform that is the data lake
-- (reference §3, "Target connection"): spec c604ff05-7f1a-43c0-8e18-33bf874cb11c, data.format
-- "parquet_xdm", the XDM schema of the dataset, and params.dataSetId.
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
