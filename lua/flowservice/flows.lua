--- Dataflows: a source connection, a target connection, transformations (Copy with a delta
-- column, Mapping) and a schedule (reference §3, "Dataflow"), plus enable/disable through the
-- action endpoint. The schedule rules Adobe documents for flow specs are checked here before
-- anything is sent; the service checks them again.
-- @module flowservice.flows
local check = require "flowservice.check"
local compat = require "flowservice.compat"
local errors = require "flowservice.errors"
local json = require "flowservice.json"
local resource = require "flowservice.resource"
local specs = require "flowservice.specs"

-- CRM and customer-success sources (Oracle Service Cloud among them) use this flow spec; its
-- Copy transform needs a delta column unless the flow runs once (sources errors 1367, 1369).
local CRM_FLOW_SPEC = { id = "14518937-270c-4525-bdec-c2ba7cce3860", name = "CRMToAEP" }

local FREQUENCIES = { once = true, minute = true, hour = true, day = true, week = true }
local MIN_INTERVAL = { minute = 15, hour = 1, day = 1, week = 1 }

-- flow_spec: an id, a name ("CRMToAEP", looked up with one GET) or a flow spec item.
-- Returns { id, version, name? } or nil, err.
local function resolve_flow_spec(input, client)
  local fs = input.flow_spec
  if fs == nil then
    return nil, errors.validation("flow_spec", "required (a flow spec id, a name such as CRMToAEP, "
      .. "or an item from flow_specs:get/find)")
  end
  local version = input.flow_spec_version
  if type(fs) == "table" then
    if type(fs.id) ~= "string" then return nil, errors.validation("flow_spec", "the item has no id") end
    return { id = fs.id, version = version or fs.version or "1.0", name = fs.name }
  end
  if type(fs) ~= "string" or fs == "" then
    return nil, errors.validation("flow_spec", "must be a flow spec id, name or item")
  end
  if specs.is_uuid(fs) then
    return { id = fs, version = version or "1.0", name = fs == CRM_FLOW_SPEC.id and CRM_FLOW_SPEC.name or nil }
  end
  local item, err = client.flow_specs:find(fs)
  if not item then return nil, err end
  return { id = item.id, version = version or item.version or "1.0", name = item.name }
end

local function whole_number(v)
  if type(v) == "number" then return compat.tointeger(v) end
  if type(v) == "string" and v:match("^%d+$") then return compat.tointeger(tonumber(v)) end
  return nil
end

local SCHEDULE_FIELDS = { start_time = "any", frequency = "string", interval = "any", backfill = "boolean" }

-- schedule = { start_time = epoch seconds, frequency = "minute", interval = 15, backfill = true }
-- -> scheduleParams, or nil, err. startTime and interval go as strings of digits and backfill as
-- "true" / "false": what Adobe's create tutorials send (collect/customer-success.md, crm.md) and
-- what the service returns (update-dataflows.md); the OpenAPI's integer / boolean types are not
-- what its own examples use.
local function schedule_params(schedule, now)
  check.options(schedule, SCHEDULE_FIELDS, "flows:create: schedule", 5)
  local start = whole_number(schedule.start_time)
  if not start or start < 0 then
    return nil, errors.validation("schedule.start_time", "required: epoch seconds (e.g. os.time() + 60)")
  end
  if start < now then
    return nil, errors.validation("schedule.start_time", "must not be in the past")
  end
  local frequency = schedule.frequency
  if not FREQUENCIES[frequency] then
    return nil, errors.validation("schedule.frequency", "must be one of once, minute, hour, day, week")
  end
  local params = { startTime = string.format("%d", start), frequency = frequency }
  if frequency == "once" then
    if schedule.interval ~= nil then
      return nil, errors.validation("schedule.interval", "not allowed when frequency is once")
    end
    if schedule.backfill ~= nil then
      return nil, errors.validation("schedule.backfill", "not allowed when frequency is once")
    end
    return params
  end
  local interval = schedule.interval == nil and MIN_INTERVAL[frequency] or whole_number(schedule.interval)
  if not interval or interval < MIN_INTERVAL[frequency] then
    return nil, errors.validation("schedule.interval", "must be a whole number of at least "
      .. MIN_INTERVAL[frequency] .. " for frequency " .. frequency)
  end
  params.interval = string.format("%d", interval)
  if schedule.backfill ~= nil then params.backfill = schedule.backfill and "true" or "false" end
  return params
end

local DELTA_FIELDS = { name = "string", date_format = "string", timezone = "string" }

-- delta_column: a column name, or { name, date_format, timezone }.
local function delta_column(value)
  if type(value) == "string" then
    if value == "" then return nil, errors.validation("delta_column", "must not be empty") end
    return { name = value, dateFormat = "YYYY-MM-DD", timezone = "UTC" }
  end
  check.options(value, DELTA_FIELDS, "flows:create: delta_column", 6)
  if not value.name or value.name == "" then
    return nil, errors.validation("delta_column.name", "required (the column that tells new rows)")
  end
  return { name = value.name, dateFormat = value.date_format or "YYYY-MM-DD", timezone = value.timezone or "UTC" }
end

-- CRMToAEP's rule for the Copy transformation (sources errors 1367, 1369): a delta column
-- unless the flow runs once, and none when it does. Raw transformations are the caller's.
local function crm_delta_rule(input, once)
  if input.transformations ~= nil then return true end
  if input.delta_column ~= nil and once then
    return nil, errors.validation("delta_column", "not allowed when the schedule frequency is once")
  end
  if input.delta_column == nil and not once then
    return nil, errors.validation("delta_column", "required by " .. CRM_FLOW_SPEC.name
      .. " unless the schedule frequency is once")
  end
  return true
end

local function transformations(input)
  if input.transformations ~= nil then
    if input.delta_column ~= nil or input.mapping_id ~= nil then
      return nil, errors.validation("transformations", "give either transformations or "
        .. "delta_column/mapping_id, not both")
    end
    return input.transformations
  end
  local list = json.array()
  if input.delta_column ~= nil then
    local delta, err = delta_column(input.delta_column)
    if not delta then return nil, err end
    list[#list + 1] = { name = "Copy", params = { deltaColumn = delta } }
  end
  if input.mapping_id ~= nil then
    local version = input.mapping_version == nil and 0 or compat.tointeger(input.mapping_version)
    if not version or version < 0 then
      return nil, errors.validation("mapping_version", "must be a whole number >= 0")
    end
    -- a string, as the OpenAPI's transformationSpec types it and the tutorials send it ("0")
    list[#list + 1] = { name = "Mapping",
      params = { mappingId = input.mapping_id, mappingVersion = string.format("%d", version) } }
  end
  return list
end

local function build_body(input, client)
  if input.name == nil or input.name == "" then
    return nil, errors.validation("name", "required (a non-empty string)")
  end
  for _, name in ipairs { "source_connection_id", "target_connection_id" } do
    if input[name] == nil or input[name] == "" then
      return nil, errors.validation(name, "required (the id returned by create)")
    end
  end
  if input.schedule == nil then
    return nil, errors.validation("schedule", "required ({ start_time, frequency, interval })")
  end
  local schedule, err = schedule_params(input.schedule, os.time())
  if not schedule then return nil, err end
  -- The flow spec is resolved last: it may cost a GET, and nothing should be sent for bad input.
  -- CRMToAEP's rule is checked before that when the caller named it, after it otherwise.
  local once = schedule.frequency == "once"
  local crm_by_id = input.flow_spec == CRM_FLOW_SPEC.id or input.flow_spec == CRM_FLOW_SPEC.name
  local ok
  if crm_by_id then
    ok, err = crm_delta_rule(input, once)
    if not ok then return nil, err end
  end
  local transforms
  transforms, err = transformations(input)
  if not transforms then return nil, err end
  local fs
  fs, err = resolve_flow_spec(input, client)
  if not fs then return nil, err end
  if not crm_by_id and fs.name == CRM_FLOW_SPEC.name then
    ok, err = crm_delta_rule(input, once)
    if not ok then return nil, err end
  end
  return {
    name = input.name,
    description = input.description,
    flowSpec = { id = fs.id, version = fs.version },
    sourceConnectionIds = json.array { input.source_connection_id },
    targetConnectionIds = json.array { input.target_connection_id },
    transformations = transforms,
    scheduleParams = schedule,
  }
end

--- The object at `client.flows`: the methods of `flowservice.resource.Resource` and these
-- (`create` and `ensure` take the fields below).
-- @type Flows

--- Creates a dataflow (`POST /flows`).
-- @function Flows:create
-- @tparam table input
-- @tparam string input.name
-- @tparam[opt] string input.description
-- @tparam string|table input.flow_spec an id, a name (`"CRMToAEP"`, looked up with one `GET`) or an
--   item from `client.flow_specs:get` or `:find`
-- @tparam[opt] string input.flow_spec_version
-- @tparam string input.source_connection_id
-- @tparam string input.target_connection_id
-- @tparam[opt] string|table input.delta_column the column that tells new rows: a name, or
--   `{ name, date_format, timezone }` (default format `YYYY-MM-DD`, time zone `UTC`); the `Copy`
--   transformation. Required by `CRMToAEP` unless the frequency is `once`, where it is refused
-- @tparam[opt] string input.mapping_id a Data Prep mapping set: the `Mapping` transformation
-- @tparam[opt=0] int input.mapping_version
-- @tparam[opt] table input.transformations the transformations as Flow Service takes them,
--   instead of `delta_column` and `mapping_id`
-- @tparam table input.schedule `{ start_time =, frequency =, interval =, backfill = }`:
--   `start_time` in epoch seconds, not in the past; `frequency` one of `once`, `minute`, `hour`,
--   `day`, `week`; `interval` at least 15 for `minute`, at least 1 otherwise (the default), not
--   allowed with `once`; `backfill` not allowed with `once`
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error naming the field (nothing sent), or
--   the service's error
-- @usage
-- local flow = assert(client.flows:create { name = "OSC incidents to AEP", flow_spec = "CRMToAEP",
--   source_connection_id = source.id, target_connection_id = target.id,
--   delta_column = "updatedTime", schedule = { start_time = os.time() + 60, frequency = "hour" } })
local Flows = resource.define {
  kind = "flow",
  path = "/flows",
  create_fields = {
    name = "string", description = "string", flow_spec = "any", flow_spec_version = "string",
    source_connection_id = "string", target_connection_id = "string", delta_column = "any",
    mapping_id = "string", mapping_version = "number", transformations = "table", schedule = "table",
  },
  build_body = build_body,
}

-- POST /flows/{id}/action?op=enable|disable; the etag, when given, is sent as If-Match.
local function action(self, op, id, etag)
  resource.check_self(self, op, 1)
  local segment, err = resource.id_segment(self.def, op, id, 3)
  if etag ~= nil and type(etag) ~= "string" then error("flows:" .. op .. ": etag: expected a string", 3) end
  if not segment then return nil, err end
  local body, resp = self.client:request {
    method = "POST", path = "/flows/" .. segment .. "/action", query = { op = op },
    headers = etag and { ["If-Match"] = etag } or nil,
  }
  if not body then return nil, resp end
  return resource.id_and_etag(body, resp, op)
end

--- Enables a flow (its schedule runs again). Returns { id, etag } or nil, err.
-- `POST /flows/{id}/action?op=enable`.
-- @tparam string id the flow's id
-- @tparam[opt] string etag sent as `If-Match` when given
-- @treturn[1] table `{ id, etag }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- assert(client.flows:enable(flow.id))
function Flows:enable(id, etag)
  local res, err = action(self, "enable", id, etag) -- not a tail call: errors count this frame
  return res, err
end

--- Disables a flow (no new runs). Returns { id, etag } or nil, err.
-- `POST /flows/{id}/action?op=disable`.
-- @tparam string id the flow's id
-- @tparam[opt] string etag sent as `If-Match` when given
-- @treturn[1] table `{ id, etag }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- local off = assert(client.flows:disable(flow.id))
-- print(client.flows:get(flow.id).state)   --> disabled
function Flows:disable(id, etag)
  local res, err = action(self, "disable", id, etag) -- not a tail call: errors count this frame
  return res, err
end

Flows.CRM_FLOW_SPEC = CRM_FLOW_SPEC.id

return Flows
