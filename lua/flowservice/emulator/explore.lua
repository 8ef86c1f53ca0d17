-- GET /connections/{id}/explore for tabular sources: lists the dataset's tables, a table's
-- columns, and a preview of its rows.
--
--   explore.handle(connection_record, params) -> status, value | nil, err
--
-- params: query parameter name -> decoded string value. value is plain Lua data for
-- util.json_encode; err = {code = "CONNECTOR-1358" | "FLOW-1451" | ..., status = 400, detail}.
--
-- Facts (EN:help/sources/tutorials/api/explore/tabular.md, explore/customer-success.md,
-- EN:help/sources/tutorials/api/filter.md, reference §3 "Explore"):
--   objectType=root -> array of {type "table", name, path, canPreview, canFetchSchema};
--   objectType=table&object=<path> -> {format "flat", schema = {columns}};
--   preview=true adds "data", an array of row objects.
--   The spec's objectType enum is upper case (ROOT, TABLE, FILE, FOLDER, REST); the docs send
--   lower case. SPEC (static/swagger-specs/flow-service.yaml, GET /connections/{id}/explore)
--   marks objectType optional, and the tutorials (explore/tabular.md, explore/customer-success.md)
--   only ever send it; no page documents an error for its absence, so without objectType the
--   answer is the root listing, as for objectType=root.
-- Documented error codes and texts used (EN:help/sources/errors/sources-errors.md):
--   CONNECTOR-1358-400 objectType invalid (file, folder and rest are not served by a
--                      tabular source, so they count as invalid here)
--   CONNECTOR-1337-400 object missing or empty with objectType=table
--   CONNECTOR-1330-400 no such table ("No columns were found for table ...")
--   CONNECTOR-1336-400 the connection's spec is not tabular (catalog.is_tabular)
--   CONNECTOR-1312-400 preview not "true" or "false"
--   CONNECTOR-1353-400 filters given: filter at source is documented for BigQuery and Snowflake
--                      only
--   FLOW-1451-400      a query parameter explore does not know ("Invalid params ... provided in
--                      query params.", EN:help/sources/errors/flow-service-errors.md)
-- Emulator choices:
--   objectType is matched case-insensitively; object is matched exactly against table paths.
--   A preview returns the first PREVIEW_ROWS (10) rows of the table; preview=false is the same as
--   no preview.
--   Known parameters: objectType, object, preview, filters; fileType and sourceParams (file and
--   REST sources only) count as unknown. Parameter names in messages pass util.safe_label.
--   catalog.is_tabular decides (unknown spec ids are not tabular); without it, every spec is.
local catalog = require "flowservice.emulator.catalog"
local dataset = require "flowservice.emulator.dataset"
local util = require "flowservice.emulator.util"

local explore = {}

explore.PREVIEW_ROWS = 10

local KNOWN_PARAMS = { objectType = true, object = true, preview = true, filters = true }

local function bad_request(code, detail)
  return nil, { code = code, status = 400, detail = detail }
end

local function is_tabular(spec_id)
  if type(catalog.is_tabular) ~= "function" then return true end
  return catalog.is_tabular(spec_id) and true or false
end

local function root_listing()
  local items = util.array()
  for i, t in ipairs(dataset.tables()) do
    items[i] = { type = "table", name = t.name, path = t.path, canPreview = true, canFetchSchema = true }
  end
  return items
end

-- A fresh copy of a column in the explore shape (the dataset's tables are shared).
local function column_view(column)
  local xdm = { type = column.xdm.type, format = column.xdm.format }
  return { name = column.name, type = column.type, xdm = xdm, ["meta:xdmType"] = column["meta:xdmType"] }
end

local function first_rows(t, n)
  local data = util.array()
  for i = 1, math.min(n, #t.rows) do
    local row = util.object()
    for k, v in pairs(t.rows[i]) do row[k] = v end
    data[i] = row
  end
  return data
end

local function table_view(t, with_preview)
  local columns = util.array()
  for i, column in ipairs(t.columns) do columns[i] = column_view(column) end
  local view = { format = "flat", schema = { columns = columns } }
  if with_preview then view.data = first_rows(t, explore.PREVIEW_ROWS) end
  return view
end

-- Returns the first parameter explore does not know, or nil (checked in sorted order so the
-- answer does not depend on table iteration order).
local function unknown_param(params)
  local names = {}
  for name in pairs(params) do
    if not KNOWN_PARAMS[name] then names[#names + 1] = name end
  end
  table.sort(names)
  return names[1]
end

-- preview=true|false (case-insensitive); returns the boolean, or nil and an error.
local function parse_preview(value)
  if value == nil then return false end
  local lowered = value:lower()
  if lowered == "true" then return true end
  if lowered == "false" then return false end
  return bad_request("CONNECTOR-1312", ("The provided param value %s is not a valid input for "
    .. "property=preview. Please provide a valid param value and try again."):format(util.safe_label(value)))
end

local function explore_table(params)
  local path = params.object
  if path == nil or path == "" then
    return bad_request("CONNECTOR-1337", "The object cannot be empty for objectType=table. "
      .. "Please provide valid object and try again.")
  end
  local with_preview, err = parse_preview(params.preview)
  if with_preview == nil then return nil, err end
  local t = dataset.get(path)
  if not t then
    return bad_request("CONNECTOR-1330", ("No columns were found for table %s. Please provide a "
      .. "valid table name and try again."):format(util.safe_label(path)))
  end
  return 200, table_view(t, with_preview)
end

function explore.handle(connection_record, params)
  local spec_id = connection_record.connectionSpec.id
  if not is_tabular(spec_id) then
    return bad_request("CONNECTOR-1336", ("Explore connection is not supported for connection spec "
      .. "ID: %s. Please provide supported connection spec id and try again."):format(util.safe_label(spec_id)))
  end
  local unknown = unknown_param(params)
  if unknown then
    return bad_request("FLOW-1451", ("Invalid params %s provided in query params."):format(
      util.safe_label(unknown)))
  end
  if params.filters ~= nil then
    return bad_request("CONNECTOR-1353", "The filter at source is not yet supported for "
      .. util.safe_label(spec_id) .. " connector. Please check the supported connectors in the "
      .. "documentation: https://experienceleague.adobe.com/docs/experience-platform/sources/"
      .. "api-tutorials/filter.html.")
  end
  local object_type = params.objectType and params.objectType:lower()
  if object_type == nil or object_type == "root" then
    return 200, root_listing()
  elseif object_type == "table" then
    return explore_table(params)
  end
  return bad_request("CONNECTOR-1358", "The provided param 'objectType' is invalid. Please provide "
    .. "a valid objectType and try again.")
end

return explore
