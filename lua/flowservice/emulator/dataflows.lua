-- Dataflows (POST/PATCH /flows, POST /flows/{id}/action) and their runs (GET /runs).
--
--   dataflows.validate_create(state, ctx, body, lookup) -> fields | nil, err
--   dataflows.validate_patch(state, ctx, old_record, new_record) -> true | nil, err
--   dataflows.action(state, ctx, record, op) -> true | nil, err
--   dataflows.runs(state, ctx, flows) -> list of run items, oldest first
--
-- err = {code = "FLOW-1413" | "CONNECTOR-1360" | ..., status = 400, detail = "..."}.
-- lookup(kind, id) returns a record of the caller's sandbox ("connections", "sourceConnections",
-- "targetConnections") or nil; validate_patch looks connections up with store.find in the caller's
-- sandbox.
-- Internal fields (never served, "_" prefix): _schedule (parsed schedule), _source_table
-- (the source connection's params.tableName), _enabled_periods ({from, to?} in epoch seconds),
-- _runs (the runs materialised so far, oldest first).
--
-- Clock: util.now() (epoch seconds, float), read at each call, so in-process specs can replace it.
--
-- Facts and their sources:
--   Body (reference §3 "Dataflow"; EN:help/sources/tutorials/api/collect/customer-success.md):
--   name, description, flowSpec {id, version}, sourceConnectionIds, targetConnectionIds,
--   transformations [Copy {deltaColumn {name, dateFormat, timezone}}, Mapping {mappingId,
--   mappingVersion}], scheduleParams {startTime (epoch seconds, sent as a string), frequency,
--   interval, backfill}. Schedule rules from the flow spec's scheduleSpec: frequency in
--   once|minute|hour|day|week, no interval or backfill with once, interval >= 15 for minute and
--   >= 1 otherwise. Flows start "enabled"; a GET shows inheritedAttributes {sourceConnections
--   [{id, connectionSpec, baseConnection {id, connectionSpec}}], targetConnections [{id,
--   connectionSpec}]} and scheduleParams values such as "15" and mappingVersion "0" as strings
--   (EN:help/sources/tutorials/api/update-dataflows.md), so digit strings are accepted.
--   Field types (issue 17, point 5): the OpenAPI (static/swagger-specs/flow-service.yaml, the
--   CRMToAEP flow spec's scheduleSpec / transformationSpec) types startTime and interval integer,
--   backfill boolean and mappingVersion string; the create tutorials
--   (EN:help/sources/tutorials/api/collect/customer-success.md, crm.md, database-nosql.md) send
--   "startTime": "1625040887", "interval": "15" or 15, "backfill": "true" and
--   "mappingVersion": "0", and the update tutorial (update-dataflows.md) sends mappingVersion 2
--   while its GET shows every one of them as a string. So the service accepts both forms and
--   stores the string form: the emulator accepts a JSON number or a string of digits (backfill
--   true / false or "true" / "false") and stores and returns startTime, interval, backfill and
--   mappingVersion as strings, as update-dataflows.md's GET shows.
--   Codes (EN:help/sources/errors/flow-service-errors.md): FLOW-1410-400 state in a create
--   request; FLOW-1412-400 invalid mapping version; FLOW-1413-400 invalid spec id;
--   FLOW-1422-400 "The action disable cannot be applied on the current state ...".
--   Codes (EN:help/sources/errors/sources-errors.md): CONNECTOR-1307 target spec not allowed,
--   1312 invalid param value, 1317 empty schedule params, 1321 connection id list not of length
--   one, 1329 param null or empty (mappingId), 1338 connection id null, 1340 time not parsable,
--   1359 param missing, 1360 start time in the past, 1361 interval with once, 1362 interval below
--   the minimum, 1364 backfill with once, 1367 delta column required (CRM), 1369 delta column
--   with once; all -400.
--   Runs (EN:help/sources/tutorials/api/monitor.md): items with id, flowId, createdAt, updatedAt,
--   createdBy, updatedBy, createdClient, updatedClient, sandboxId, sandboxName, etag, metrics
--   {durationSummary {startedAtUTC, completedAtUTC}, sizeSummary {inputBytes, outputBytes},
--   recordSummary {inputRecordCount, outputRecordCount, failedRecordCount}, fileSummary
--   {inputFileCount, outputFileCount, activityRefs}, statusSummary {status, errors, activityRefs}}
--   and activities [{id "copyActivity", ...}, {id "promotionActivity", ...}] with updatedAtUTC,
--   durationSummary, sizeSummary, recordSummary, fileSummary, statusSummary and
--   sourceInfo/targetInfo. Status "success" is Adobe's example; "inProgress" is the in-progress
--   status named in FLOW-1407's message.
--
-- Emulator choices:
--   FLOW-1100-400 ("The request could not be processed. <reason>") for mistyped fields, unknown
--     source/target connection ids, a source connection spec the flow spec does not list,
--     transformations the flow spec does not declare (catalog.flow_rules(id).transformations;
--     Copy and Mapping when the catalogue has no rules) or repeated ones, unknown scheduleParams keys,
--     and a deltaColumn that is not a column of the source table.
--   Missing startTime, frequency, or interval (with a frequency other than once) -> 1359.
--   Mapping is optional; for a Mapping transformation a missing mappingId is CONNECTOR-1329.
--   The delta column is required when catalog.flow_rules(id).delta_column_required says so
--     (CRMToAEP: CRM and customer-success sources); without rules, for flow specs named CRMToAEP.
--   Other top-level body fields are ignored (not stored).
--   inheritedAttributes is computed when the flow is created or patched.
--   Runs: run k starts at startTime + k * interval * unit (minute 60 s, hour, day, week; once: one
--   run) when that second has come and the flow was enabled at that second; runs are created
--   lazily when runs() is called and then kept (ids stable). Only the latest MAX_RUNS_PER_FLOW
--   schedule slots are considered and kept. A run is inProgress for state.run_duration seconds
--   (default 2): copyActivity in the first half, promotionActivity in the second; then success.
--   Every run copies the whole source table (the dataset does not change): record counts are its
--   row count, no failures; bytes are the length of the rows' JSON. While in progress, the counts
--   and bytes are 0 and completedAtUTC is absent. Run etags change when the run completes.
--   Runs carry flowSpec and imsOrgId (from the flow) besides the fields in Adobe's example;
--   createdBy/createdClient are the flow's. No top-level run "status" field: Adobe's example has
--   none. Batch ids are 26 random characters of Crockford's base32, like Adobe's.
local compat = require "flowservice.compat"
local catalog = require "flowservice.emulator.catalog"
local dataset = require "flowservice.emulator.dataset"
local store = require "flowservice.emulator.store"
local util = require "flowservice.emulator.util"

local dataflows = {}

dataflows.MAX_RUNS_PER_FLOW = 100
dataflows.DEFAULT_RUN_DURATION = 2

local UNIT_SECONDS = { minute = 60, hour = 3600, day = 86400, week = 604800 }
local MIN_INTERVAL = { minute = 15, hour = 1, day = 1, week = 1 }
local SCHEDULE_KEYS = { startTime = true, frequency = true, interval = true, backfill = true }
local KNOWN_TRANSFORMATIONS = { Copy = true, Mapping = true }
local DELTA_COLUMN_FLOW_SPECS = { CRMToAEP = true }

---------------------------------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------------------------------

local function fail(code, detail)
  return nil, { code = code, status = 400, detail = detail }
end

local function invalid(reason)
  return fail("FLOW-1100", "The request could not be processed. " .. reason)
end

local function param_missing(name)
  return fail("CONNECTOR-1359", ("The param %s is missing in the request. Please provide a valid %s "
    .. "and try again."):format(name, name))
end

local function invalid_param_value(name, value)
  return fail("CONNECTOR-1312", ("The provided param value %s is not a valid input for property=%s. "
    .. "Please provide a valid param value and try again."):format(util.safe_label(value), name))
end

local function is_absent(v)
  return v == nil or v == util.null
end

local is_object = util.is_object

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- A whole number >= 0 given as a JSON number or a string of digits; else nil.
local function whole_number(v)
  if type(v) == "string" then
    if not v:find("^%d+$") or #v > 15 then return nil end
    return compat.tointeger(tonumber(v))
  elseif type(v) == "number" then
    local n = compat.tointeger(v)
    if n and n >= 0 then return n end
  end
  return nil
end

local function now_seconds()
  return math.floor(util.now())
end

local function contains(list, value)
  for _, v in ipairs(list or {}) do
    if v == value then return true end
  end
  return false
end

local function spec_ref(record)
  local cs = record and record.connectionSpec
  if type(cs) ~= "table" then return nil end
  return { id = cs.id, version = cs.version }
end

---------------------------------------------------------------------------------------------------
-- Body checks
---------------------------------------------------------------------------------------------------

local function check_envelope(body)
  if type(body.name) ~= "string" or body.name == "" then
    return invalid("The field name is required and must be a non-empty string.")
  end
  if not is_absent(body.description) and type(body.description) ~= "string" then
    return invalid("The field description must be a string.")
  end
  local fs = body.flowSpec
  if not is_object(fs) or type(fs.id) ~= "string" or type(fs.version) ~= "string" then
    return invalid("The field flowSpec with string fields id and version is required.")
  end
  local spec = type(catalog.flow_spec) == "function" and catalog.flow_spec(fs.id)
  if not spec or spec.version ~= fs.version then
    return fail("FLOW-1413", "The spec ID provided is invalid. Please provide a valid spec ID and try again.")
  end
  return spec
end

-- The one connection id in body[field] ("source" / "target" connections); or nil, err.
local function single_connection_id(body, field, label)
  local ids = body[field]
  local null_id = ("The %s connection ID can't be null in flowRequest. Please provide valid %s "
    .. "connection ID in flowRequest."):format(label, label)
  if is_absent(ids) or (type(ids) == "table" and next(ids) == nil) then
    return fail("CONNECTOR-1338", null_id)
  end
  if not is_list(ids) then
    return invalid(("The field %s must be an array of connection IDs."):format(field))
  end
  if #ids ~= 1 then
    return fail("CONNECTOR-1321", ("The length of %s should be one, supplied size is %d. Please "
      .. "provide valid size and try again."):format(field, #ids))
  end
  local id = ids[1]
  if is_absent(id) or id == "" then return fail("CONNECTOR-1338", null_id) end
  if type(id) ~= "string" then
    return invalid(("The field %s must be an array of connection IDs."):format(field))
  end
  return id
end

-- Looks up the source and target connections and checks them against the flow spec.
-- Returns {source =, target =} records or nil, err.
local function check_connections(body, spec, lookup)
  local source_id, err = single_connection_id(body, "sourceConnectionIds", "source")
  if not source_id then return nil, err end
  local target_id, target_err = single_connection_id(body, "targetConnectionIds", "target")
  if not target_id then return nil, target_err end
  local source = lookup("sourceConnections", source_id)
  if not source then
    return invalid(("The source connection %s does not exist in this sandbox."):format(
      util.safe_label(source_id)))
  end
  local target = lookup("targetConnections", target_id)
  if not target then
    return invalid(("The target connection %s does not exist in this sandbox."):format(
      util.safe_label(target_id)))
  end
  local source_spec = spec_ref(source)
  if not (source_spec and contains(spec.sourceConnectionSpecIds, source_spec.id)) then
    return invalid(("The connection spec of the source connection is not supported by the flow spec %s.")
      :format(util.safe_label(spec.name)))
  end
  local target_spec = spec_ref(target)
  if not (target_spec and contains(spec.targetConnectionSpecIds, target_spec.id)) then
    return fail("CONNECTOR-1307", ("The target connection spec ID is not valid=%s. The allowed value "
      .. "is: %s."):format(util.safe_label(target_spec and target_spec.id),
        table.concat(spec.targetConnectionSpecIds or {}, ", ")))
  end
  return { source = source, target = target }
end

-- Returns name -> transformation, or nil, err.
-- The transformation names a flow spec declares (catalog.flow_rules), else Copy and Mapping.
local function allowed_transformations(spec)
  local rules = type(catalog.flow_rules) == "function" and catalog.flow_rules(spec.id)
  return rules and rules.transformations or KNOWN_TRANSFORMATIONS
end

-- Whether the flow spec's Copy transformation needs a deltaColumn (catalog.flow_rules, else by name).
local function delta_column_required(spec)
  local rules = type(catalog.flow_rules) == "function" and catalog.flow_rules(spec.id)
  if rules and rules.delta_column_required ~= nil then return rules.delta_column_required end
  return DELTA_COLUMN_FLOW_SPECS[spec.name] == true
end

local function index_transformations(list, spec)
  local allowed = allowed_transformations(spec)
  local by_name = {}
  if is_absent(list) then return by_name end
  if not is_list(list) then return invalid("The field transformations must be an array.") end
  for i, t in ipairs(list) do
    if not is_object(t) or type(t.name) ~= "string" then
      return invalid(("transformations[%d] must be an object with a string name."):format(i - 1))
    end
    if not allowed[t.name] then
      return invalid(("The transformation %s is not supported by the flow spec %s."):format(
        util.safe_label(t.name), util.safe_label(spec.name)))
    end
    if by_name[t.name] then
      return invalid(("The transformation %s is given more than once."):format(t.name))
    end
    if not is_absent(t.params) and not is_object(t.params) then
      return invalid(("The params of transformation %s must be an object."):format(t.name))
    end
    by_name[t.name] = t
  end
  return by_name
end

local function check_mapping(mapping)
  if not mapping then return true end
  local params = is_object(mapping.params) and mapping.params or {}
  if type(params.mappingId) ~= "string" or params.mappingId == "" then
    return fail("CONNECTOR-1329", "The param: mappingId cannot be null or empty in the provided request. "
      .. "Please provide valid mappingId and try again.")
  end
  if not whole_number(params.mappingVersion) then
    return fail("FLOW-1412", "Invalid Mapping Version in request. Please provide correct mapping version.")
  end
  return true
end

-- The Copy transformation's deltaColumn table, nil when there is none; or false, err.
local function delta_column_of(copy)
  local params = copy and is_object(copy.params) and copy.params or {}
  local delta = params.deltaColumn
  if is_absent(delta) then return nil end
  if not is_object(delta) or type(delta.name) ~= "string" or delta.name == "" then
    return false, select(2, invalid("The Copy transformation's deltaColumn must be an object with a "
      .. "non-empty string name."))
  end
  for _, field in ipairs { "dateFormat", "timezone" } do
    if not is_absent(delta[field]) and type(delta[field]) ~= "string" then
      return false, select(2, invalid(("deltaColumn.%s must be a string."):format(field)))
    end
  end
  return delta
end

-- Parses and checks scheduleParams; returns {start, frequency, interval?} or nil, err.
-- check_past: refuse a start time before the current second.
local function check_schedule(params, check_past)
  if not is_object(params) or next(params) == nil then
    return fail("CONNECTOR-1317", "The provided schedule params are empty but should not be empty. "
      .. "Please provide valid schedule params and try again.")
  end
  local keys = {}
  for key in pairs(params) do
    if not SCHEDULE_KEYS[key] then keys[#keys + 1] = key end
  end
  if #keys > 0 then
    table.sort(keys)
    return invalid(("scheduleParams has an unknown field %s."):format(util.safe_label(keys[1])))
  end
  if is_absent(params.startTime) then return param_missing("startTime") end
  local start = whole_number(params.startTime)
  if not start then
    return fail("CONNECTOR-1340", "An error occurred while parsing startTime. Please check the time "
      .. "format provided in the request and try again.")
  end
  if check_past and start < now_seconds() then
    return fail("CONNECTOR-1360", "The start time cannot be set in the past. Please provide a valid "
      .. "start time and try again.")
  end
  local frequency = params.frequency
  if is_absent(frequency) then return param_missing("frequency") end
  if type(frequency) ~= "string" or not (frequency == "once" or UNIT_SECONDS[frequency]) then
    return invalid_param_value("frequency", type(frequency) == "string" and frequency or type(frequency))
  end
  local backfill = params.backfill
  if frequency == "once" then
    if not is_absent(params.interval) then
      return fail("CONNECTOR-1361", "Interval is not allowed with one time ingestion. Please remove "
        .. "interval or change frequency and then try again.")
    end
    if not is_absent(backfill) then
      return fail("CONNECTOR-1364", "The backfill flag is not allowed when frequency is set to one. "
        .. "Please remove the backfill flag when frequency is set to once and try again.")
    end
    return { start = start, frequency = frequency }
  end
  if is_absent(params.interval) then return param_missing("interval") end
  local interval = whole_number(params.interval)
  if not interval then
    return invalid_param_value("interval", type(params.interval) == "string" and params.interval
      or tostring(params.interval))
  end
  if interval < MIN_INTERVAL[frequency] then
    return fail("CONNECTOR-1362", ("Interval cannot be less than %d. Please provide a valid interval "
      .. "value and try again."):format(MIN_INTERVAL[frequency]))
  end
  if not is_absent(backfill) and type(backfill) ~= "boolean" and backfill ~= "true" and backfill ~= "false" then
    return invalid_param_value("backfill", type(backfill) == "string" and backfill or type(backfill))
  end
  return { start = start, frequency = frequency, interval = interval }
end

-- CRM delta-column rules, then the column's existence in the source table.
-- Returns the source table path (or nil) or nil, err.
-- run_delta: the delta column a first on-demand run patched into the flow (runs.lua), allowed
-- with once.
local function check_delta_column(spec, by_name, schedule, source, run_delta)
  local delta, err = delta_column_of(by_name.Copy)
  if delta == false then return nil, err end
  if schedule.frequency == "once" then
    if delta and delta.name ~= run_delta then
      return fail("CONNECTOR-1369", "The delta column in copy transform is not allowed when frequency "
        .. "is set to once. Please remove the delta column and try again.")
    end
  elseif not delta and delta_column_required(spec) then
    return fail("CONNECTOR-1367", "The delta column is required in copy transformation when creating "
      .. "a CRM connector. Please provide delta column and try again.")
  end
  local path = type(source.params) == "table" and source.params.tableName or nil
  local source_table = type(path) == "string" and dataset.get(path) or nil
  if delta and source_table and not dataset.column(source_table, delta.name) then
    return invalid(("The delta column %s is not a column of the source table %s."):format(
      util.safe_label(delta.name), source_table.path))
  end
  return source_table and source_table.path or false
end

local function inherited_attributes(connections, lookup)
  local source, target = connections.source, connections.target
  local entry = { id = source.id, connectionSpec = spec_ref(source) }
  if type(source.baseConnectionId) == "string" then
    local base = lookup("connections", source.baseConnectionId)
    entry.baseConnection = { id = source.baseConnectionId, connectionSpec = spec_ref(base) }
  end
  return {
    sourceConnections = util.array { entry },
    targetConnections = util.array { { id = target.id, connectionSpec = spec_ref(target) } },
  }
end

-- Every check on a flow body. Returns the derived values or nil, err.
local function check_body(body, lookup, check_past)
  local spec, err = check_envelope(body)
  if not spec then return nil, err end
  local connections, conn_err = check_connections(body, spec, lookup)
  if not connections then return nil, conn_err end
  local by_name, t_err = index_transformations(body.transformations, spec)
  if not by_name then return nil, t_err end
  local mapped, m_err = check_mapping(by_name.Mapping)
  if not mapped then return nil, m_err end
  local schedule, s_err = check_schedule(body.scheduleParams, check_past)
  if not schedule then return nil, s_err end
  local table_path, d_err = check_delta_column(spec, by_name, schedule, connections.source,
    body._run_delta_column)
  if table_path == nil then return nil, d_err end
  return {
    schedule = schedule,
    source_table = table_path or nil,
    inherited = inherited_attributes(connections, lookup),
  }
end

---------------------------------------------------------------------------------------------------
-- Public: create / patch / action
---------------------------------------------------------------------------------------------------

-- scheduleParams in the form the service returns (update-dataflows.md): digit strings, backfill
-- "true" / "false"; only the documented keys.
local function stored_schedule(params, schedule)
  local out = { startTime = string.format("%d", schedule.start), frequency = schedule.frequency }
  if schedule.interval then out.interval = string.format("%d", schedule.interval) end
  if not is_absent(params.backfill) then
    out.backfill = (params.backfill == true or params.backfill == "true") and "true" or "false"
  end
  return out
end

-- The Mapping transformation's mappingVersion as a digit string (checked by check_mapping).
local function store_mapping_version(transformations)
  for _, t in ipairs(is_list(transformations) and transformations or {}) do
    if is_object(t) and t.name == "Mapping" and is_object(t.params) then
      t.params.mappingVersion = string.format("%d", whole_number(t.params.mappingVersion))
    end
  end
end

function dataflows.validate_create(_, _, body, lookup)
  if body.state ~= nil then
    return fail("FLOW-1410", "State is not allowed in the create flow request.")
  end
  local derived, err = check_body(body, lookup, true)
  if not derived then return nil, err end
  store_mapping_version(body.transformations)
  local fields = {
    name = body.name,
    flowSpec = { id = body.flowSpec.id, version = body.flowSpec.version },
    sourceConnectionIds = util.array { body.sourceConnectionIds[1] },
    targetConnectionIds = util.array { body.targetConnectionIds[1] },
    transformations = util.array(is_list(body.transformations) and body.transformations or {}),
    scheduleParams = stored_schedule(body.scheduleParams, derived.schedule),
    state = "enabled",
    inheritedAttributes = derived.inherited,
    _schedule = derived.schedule,
    _source_table = derived.source_table,
    _enabled_periods = { { from = now_seconds() } },
    _runs = {},
  }
  if type(body.description) == "string" then fields.description = body.description end
  return fields
end

-- new_record is the patched copy the store will keep: its derived internals are refreshed here.
function dataflows.validate_patch(state, ctx, old_record, new_record)
  local function lookup(kind, id) return store.find(state, ctx, kind, id) end
  local old_start = old_record._schedule and old_record._schedule.start
  local new_start = type(new_record.scheduleParams) == "table"
    and whole_number(new_record.scheduleParams.startTime)
  local derived, err = check_body(new_record, lookup, new_start ~= old_start)
  if not derived then return nil, err end
  if type(new_record.transformations) == "table" then util.array(new_record.transformations) end
  store_mapping_version(new_record.transformations)
  new_record.scheduleParams = stored_schedule(new_record.scheduleParams, derived.schedule)
  new_record._schedule = derived.schedule
  new_record._source_table = derived.source_table
  new_record.inheritedAttributes = derived.inherited
  return true
end

function dataflows.action(_, _, record, op)
  local action = type(op) == "string" and op:lower() or nil
  if action ~= "enable" and action ~= "disable" then
    return invalid(("The action %s is not supported for flows; use enable or disable."):format(
      util.safe_label(op)))
  end
  local wanted = action == "enable" and "enabled" or "disabled"
  if record.state == wanted then
    return fail("FLOW-1422", ("The action %s cannot be applied on the current state %s. Please update "
      .. "the action and try again."):format(action, util.safe_label(record.state)))
  end
  local periods = record._enabled_periods or {}
  local now = now_seconds()
  if action == "enable" then
    periods[#periods + 1] = { from = now }
  else
    local open = periods[#periods]
    if open and open.to == nil then open.to = now end
  end
  record._enabled_periods = periods
  record.state = wanted
  return true
end

---------------------------------------------------------------------------------------------------
-- Runs
---------------------------------------------------------------------------------------------------

local CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

local function batch_id()
  local bytes = { util.random_bytes(26):byte(1, 26) }
  for i, b in ipairs(bytes) do
    local at = b % 32 + 1
    bytes[i] = CROCKFORD:sub(at, at)
  end
  return table.concat(bytes)
end

local function was_enabled(record, second)
  for _, p in ipairs(record._enabled_periods or {}) do
    if p.from <= second and (p.to == nil or second < p.to) then return true end
  end
  return false
end

-- The start seconds of the schedule slots that have come, at most MAX_RUNS_PER_FLOW, oldest first.
local function due_slots(schedule, now)
  local slots = {}
  if not schedule or schedule.start > now then return slots end
  if schedule.frequency == "once" then
    slots[1] = schedule.start
    return slots
  end
  local period = schedule.interval * UNIT_SECONDS[schedule.frequency]
  local last = math.floor((now - schedule.start) / period)
  for k = math.max(0, last - dataflows.MAX_RUNS_PER_FLOW + 1), last do
    slots[#slots + 1] = schedule.start + k * period
  end
  return slots
end

-- A new run entry starting at `start` (epoch seconds). Its outcome ("success", "failed",
-- "partial") and duration are fixed now, from state.decide_run(flow) (scenarios.lua) when set.
function dataflows.new_run(state, flow, start, extra)
  local decided = state.decide_run and state.decide_run(flow) or {}
  local run = { id = util.uuid4(), start = start, etag = store.new_etag(), batch = batch_id(),
    outcome = decided.outcome or "success", failed_records = decided.failed_records,
    duration = decided.duration or state.run_duration or dataflows.DEFAULT_RUN_DURATION }
  for k, v in pairs(extra or {}) do run[k] = v end
  return run
end

-- Adds a run entry to a flow's runs; keeps the latest MAX_RUNS_PER_FLOW.
function dataflows.add_run(flow, run)
  local runs = flow._runs or {}
  flow._runs = runs
  runs[#runs + 1] = run
  table.sort(runs, function(a, b) return a.start < b.start end)
  while #runs > dataflows.MAX_RUNS_PER_FLOW do table.remove(runs, 1) end
end

-- Adds the scheduled runs that are due and were enabled at their start (on-demand runs never
-- take a schedule slot).
local function materialise(state, record, now)
  local runs = record._runs or {}
  record._runs = runs
  local have = {}
  for _, run in ipairs(runs) do
    if not run.on_demand then have[run.start] = true end
  end
  for _, start in ipairs(due_slots(record._schedule, now)) do
    if not have[start] and was_enabled(record, start) then
      dataflows.add_run(record, dataflows.new_run(state, record, start))
    end
  end
  return record._runs
end

-- Row count and JSON size of a source table (0, 0 when unknown), cached per path.
local table_sizes = {}

local function table_size(path)
  local size = path and table_sizes[path]
  if size then return size end
  local t = path and dataset.get(path)
  if not t then return { rows = 0, bytes = 0 } end
  local rows = util.array()
  for i, row in ipairs(t.rows) do rows[i] = row end
  size = { rows = #t.rows, bytes = #util.json_encode(rows) }
  table_sizes[path] = size
  return size
end

local function ms(seconds)
  return math.floor(seconds * 1000)
end

-- Errors of a failed copy (CONNECTOR-1001-500) and of records refused at promotion
-- (CONNECTOR-2001-500, with INGEST-1212-400 and MAPPER-3700-400 in the activity's extensions), as
-- monitor.md and reference §3 show them.
local COPY_FAILED = { code = "CONNECTOR-1001-500", message = "Error occurred at copy activity." }
local PROMOTION_ERRORS = { code = "CONNECTOR-2001-500", message = "Error occurred at promotion activity." }

-- One activity's view over [from, to) seconds at time `now`; status is its final status.
local function activity(id, from, to, now, size, info_key, info, status)
  local done = now >= to
  local view = {
    id = id,
    updatedAtUTC = ms(done and to or from),
    durationSummary = { startedAtUTC = ms(from), completedAtUTC = done and ms(to) or nil },
    sizeSummary = { inputBytes = done and size.bytes or 0, outputBytes = done and size.bytes or 0 },
    recordSummary = util.object(),
    fileSummary = { inputFileCount = done and 1 or 0, outputFileCount = done and 1 or 0 },
    statusSummary = { status = done and (status or "success") or "inProgress" },
    [info_key] = util.array { info },
  }
  return view
end

-- The records a finished run reports: {input, output, failed}.
local function record_counts(run, rows)
  if run.outcome == "failed" then return 0, 0, 0 end
  if run.outcome == "partial" then
    local failed = math.min(rows, math.max(1, run.failed_records or 1))
    return rows, rows - failed, failed
  end
  return rows, rows, 0
end

local function run_view(flow, run, now, duration, ctx)
  local size = table_size(flow._source_table)
  local finish = run.start + duration
  local done = now >= finish
  if done and not run.done then        -- completing changes the run, so a new etag
    run.done, run.etag = true, store.new_etag()
  end
  local status = dataflows.run_status(run, now)
  local started = now >= run.start
  local input, output, failed = 0, 0, 0
  if done then input, output, failed = record_counts(run, size.rows) end
  local creator = flow.createdBy or ctx.client_id .. "@techacct.adobe.com"
  local client = flow.createdClient or ctx.client_id
  local failed_copy = run.outcome == "failed"
  local copy_end = failed_copy and finish or run.start + duration / 2
  local activities = util.array()
  if started then
    local copy = activity("copyActivity", run.start, copy_end, now, failed_copy and { rows = 0, bytes = 0 } or size,
      "sourceInfo", { id = flow.sourceConnectionIds[1], type = "SourceConnection" },
      failed_copy and "failed" or "success")
    if failed_copy and done then copy.statusSummary.errors = util.array { COPY_FAILED } end
    if run.window then
      copy.durationSummary.extensions = { windowStart = ms(run.window.start), windowEnd = ms(run.window["end"]) }
    end
    activities[1] = copy
    if not failed_copy then
      local promotion = activity("promotionActivity", copy_end, finish, now, size,
        "targetInfo", { id = flow.targetConnectionIds[1], type = "TargetConnection",
          reference = { type = "Batch", ids = util.array { run.batch } } })
      promotion.recordSummary = { inputRecordCount = input, outputRecordCount = output, failedRecordCount = failed }
      if done and failed > 0 then
        promotion.statusSummary.errors = util.array { PROMOTION_ERRORS }
        promotion.statusSummary.extensions = { errors = util.array {
          { code = "INGEST-1212-400", message = ("Encountered %d errors in the data. Successfully ingested %d "
            .. "rows. Review the associated diagnostic files for additional details."):format(failed, output) },
          { code = "MAPPER-3700-400", recordCount = failed, message = "Mapper Transform Error" },
        } }
      end
      activities[2] = promotion
    end
  end
  local errors = util.array()
  if done and failed_copy then errors[1] = COPY_FAILED end
  if done and failed > 0 then errors[1] = PROMOTION_ERRORS end
  local bytes = done and not failed_copy and size.bytes or 0
  local view = {
    id = run.id, flowId = flow.id,
    flowSpec = { id = flow.flowSpec.id, version = flow.flowSpec.version },
    createdAt = ms(run.created or run.start), updatedAt = ms(done and finish or run.created or run.start),
    createdBy = creator, updatedBy = creator, createdClient = client, updatedClient = client,
    sandboxId = flow.sandboxId or ctx.sandbox_id, sandboxName = flow.sandboxName or ctx.sandbox_name,
    imsOrgId = flow.imsOrgId or ctx.org_id,
    etag = run.etag,
    params = run.params,
    metrics = {
      durationSummary = { startedAtUTC = ms(run.start), completedAtUTC = done and ms(finish) or nil },
      sizeSummary = { inputBytes = bytes, outputBytes = bytes },
      recordSummary = { inputRecordCount = input, outputRecordCount = output, failedRecordCount = failed },
      fileSummary = {
        inputFileCount = (done and not failed_copy) and 1 or 0, outputFileCount = (done and not failed_copy) and 1 or 0,
        activityRefs = util.array { "promotionActivity" },
      },
      statusSummary = {
        status = status, errors = errors,
        activityRefs = util.array { failed_copy and "copyActivity" or "promotionActivity" },
      },
    },
    activities = activities,
  }
  return view
end

function dataflows.runs(state, ctx, flows)
  local now = util.now()
  local entries = {}
  for _, flow in ipairs(flows) do
    for _, run in ipairs(materialise(state, flow, math.floor(now))) do
      entries[#entries + 1] = { flow = flow, run = run }
    end
  end
  table.sort(entries, function(a, b)
    if a.run.start ~= b.run.start then return a.run.start < b.run.start end
    return a.run.id < b.run.id
  end)
  local items = {}
  for i, e in ipairs(entries) do items[i] = run_view(e.flow, e.run, now, e.run.duration, ctx) end
  return items
end

-- The run entry with this id among the flows' runs, and its flow; or nil.
function dataflows.find_run(state, flows, id)
  local now = math.floor(util.now())
  for _, flow in ipairs(flows) do
    for _, run in ipairs(materialise(state, flow, now)) do
      if run.id == id then return run, flow end
    end
  end
  return nil
end

-- "scheduled", "inProgress", or the final status ("success", "failed") of a run entry now.
function dataflows.run_status(run, now)
  now = now or util.now()
  if now < run.start then return "scheduled" end
  if now < run.start + run.duration then return "inProgress" end
  return run.outcome == "failed" and "failed" or "success"
end

return dataflows
