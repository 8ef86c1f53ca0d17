-- On-demand flow runs (POST /runs) and the retry of a failed run (POST /runs/{id}/action?op=
-- re-trigger). The runs themselves live in the flow record's _runs (dataflows.lua), next to the
-- scheduled ones.
--
--   runs.create(state, req, ctx, body) -> response
--   runs.action(state, req, ctx, run_id, op) -> response
--
-- Facts and their sources:
--   "Create a flow run for on-demand ingestion using the Flow Service API"
--   (https://experienceleague.adobe.com/en/docs/experience-platform/sources/api-tutorials/
--   on-demand-ingestion; EN:help/sources/tutorials/api/on-demand-ingestion.md): POST /runs with
--   {"flowId", "params": {"startTime", "windowStartTime", "windowEndTime", "deltaColumn":
--   {"name"}}}, times in unix seconds sent as strings; only for batch sources and for a flow
--   "scheduled for one-time ingestion"; table-based sources give deltaColumn on the first run only,
--   after which it "will be patched as part of copy transformation in the flow" and changing it
--   through run params is an error; file-based sources send no deltaColumn. Its response is
--   {"items": [{"id", "etag"}]}; the OpenAPI (static/swagger-specs/flow-service.yaml,
--   createFlowRun) declares 201 with CreateFlowRunResponse {id, etag}. The emulator answers 201
--   with the tutorial's body (the library accepts both).
--   An on-demand run shows its params and starts "scheduled" until its startTime
--   (EN:help/sources/tutorials/api/create-flow-runs.md, the earlier version of the page); its copy
--   activity carries durationSummary.extensions {windowStart, windowEnd} in ms (monitor.md).
--   "Retry failed dataflow runs" (https://experienceleague.adobe.com/en/docs/experience-platform/
--   sources/api-tutorials/retry-flows): POST /runs/{RUN_ID}/action?op=re-trigger, batch sources,
--   failed runs (and successful runs that ingested no records); the answer is the new run's
--   {"id", "etag"}. "Retrying a flow run will only process files with timestamps that fall within
--   the range of the original run" (on-demand page): the new run keeps the original's params.
--   Codes (EN:help/sources/errors/sources-errors.md, all -400): CONNECTOR-1340 time not parsable,
--   1359 param missing, 1381 windowEndTime before windowStartTime, 1382 deltaColumn differs from
--   the flow's Copy transformation, 1383 deltaColumn missing on a table-based flow's first run,
--   1384 params invalid or empty, 1386 the flow's frequency is not once, 1387 the run is in a
--   state that cannot be re-triggered, 1388 the flow is not enabled. Flow Service codes
--   (flow-service-errors.md): FLOW-1446-400 flow ID null or empty, FLOW-1430-400 flow not found.
--
-- Emulator choices:
--   windowStartTime and windowEndTime are required (1359); startTime is optional (the run starts
--   at once); a startTime in the past also starts it at once. Times are JSON numbers or strings
--   of digits, stored as strings. Unknown params keys and a non-object deltaColumn are 1384.
--   deltaColumn.name must be a column of the source table (FLOW-1100, as for flows); a
--   deltaColumn on a flow whose source is not tabular is 1384.
--   A disabled flow takes no on-demand run: CONNECTOR-1388 (documented for re-trigger).
--   The re-trigger answer is 200 (the page shows no status); ops other than re-trigger are
--   CONNECTOR-1401 ("flow run action ... is not supported"). The op is matched case-insensitively
--   with "_" for "-" (the OpenAPI's enum is RE_TRIGGER).
--   Each run's outcome (success, failed, success with failed records) and duration come from the
--   scenario switches (scenarios.lua) when it is created.
local catalog = require "flowservice.emulator.catalog"
local dataflows = require "flowservice.emulator.dataflows"
local dataset = require "flowservice.emulator.dataset"
local http = require "flowservice.emulator.http"
local problem = require "flowservice.emulator.problem"
local store = require "flowservice.emulator.store"
local util = require "flowservice.emulator.util"

local runs = {}

local PARAM_KEYS = { startTime = true, windowStartTime = true, windowEndTime = true, deltaColumn = true }

local function fail(code, detail)
  return nil, problem.failure(code, 400, detail)
end

-- A whole number of seconds given as a JSON number or a string of digits; nil when absent; false
-- when not parsable.
local function seconds(v)
  if v == nil or v == util.null then return nil end
  if type(v) == "string" and v:find("^%d+$") and #v <= 15 then return math.floor(tonumber(v)) end
  if type(v) == "number" and v >= 0 and v == math.floor(v) and v < 1e15 then return v end
  return false
end

local function params_label(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = util.safe_label(tostring(k), 32) end
  table.sort(keys)
  return "{" .. table.concat(keys, ",") .. "}"
end

-- The Copy transformation's deltaColumn name of a flow, or nil.
local function flow_delta_column(flow)
  for _, t in ipairs(type(flow.transformations) == "table" and flow.transformations or {}) do
    if type(t) == "table" and t.name == "Copy" and type(t.params) == "table"
        and type(t.params.deltaColumn) == "table" then
      return t.params.deltaColumn.name
    end
  end
  return nil
end

local function source_is_tabular(state, ctx, flow)
  local source = store.find(state, ctx, "sourceConnections", flow.sourceConnectionIds[1])
  local spec = source and type(source.connectionSpec) == "table" and source.connectionSpec.id
  if type(catalog.is_tabular) ~= "function" then return true end
  return spec and catalog.is_tabular(spec) and true or false
end

local function invalid_params(params)
  return fail("CONNECTOR-1384", ("The params=%s provided for creating flow run are invalid or empty. "
    .. "Please provide valid params and try again."):format(params_label(params)))
end

-- Checks params against the flow; returns {start, window, params (stored form), delta} or nil, err.
local function check_params(state, ctx, flow, params)
  if type(params) ~= "table" or params == util.null or next(params) == nil or params[1] ~= nil then
    return fail("CONNECTOR-1384", "The params={} provided for creating flow run are invalid or empty. "
      .. "Please provide valid params and try again.")
  end
  for key in pairs(params) do
    if not PARAM_KEYS[key] then
      return invalid_params(params)
    end
  end
  local times = {}
  for _, name in ipairs { "startTime", "windowStartTime", "windowEndTime" } do
    local value = seconds(params[name])
    if value == false then
      return fail("CONNECTOR-1340", ("An error occurred while parsing %s. Please check the time format "
        .. "provided in the request and try again."):format(name))
    end
    if value == nil and name ~= "startTime" then
      return fail("CONNECTOR-1359", ("The param %s is missing in the request. Please provide a valid %s "
        .. "and try again."):format(name, name))
    end
    times[name] = value
  end
  if times.windowEndTime < times.windowStartTime then
    return fail("CONNECTOR-1381", ("WindowEndTime=%d cannot be before Window StartTime=%d. Please provide "
      .. "a valid end time and try again."):format(times.windowEndTime, times.windowStartTime))
  end
  local stored = { windowStartTime = string.format("%d", times.windowStartTime),
    windowEndTime = string.format("%d", times.windowEndTime) }
  if times.startTime then stored.startTime = string.format("%d", times.startTime) end

  local delta = params.deltaColumn
  local current = flow_delta_column(flow)
  if delta ~= nil and delta ~= util.null then
    if type(delta) ~= "table" or type(delta.name) ~= "string" or delta.name == "" then
      return invalid_params(params)
    end
    if not source_is_tabular(state, ctx, flow) then
      return invalid_params(params)
    end
    if current and current ~= delta.name then
      return fail("CONNECTOR-1382", "The delta column should match the value present in the flow's Copy "
        .. "transformations. Please provide a valid delta column and try again.")
    end
    local t = flow._source_table and dataset.get(flow._source_table)
    if t and not dataset.column(t, delta.name) then
      return nil, problem.invalid(("The delta column %s is not a column of the source table %s."):format(
        util.safe_label(delta.name), t.path))
    end
    stored.deltaColumn = { name = delta.name }
  elseif not current and source_is_tabular(state, ctx, flow) then
    return fail("CONNECTOR-1383", "The delta column is missing in the params received for creating a flow "
      .. "run. Please provide delta column in params and try again.")
  end
  local now = math.floor(util.now())
  return {
    start = math.max(times.startTime or now, now),
    window = { start = times.windowStartTime, ["end"] = times.windowEndTime },
    params = stored,
    delta = stored.deltaColumn and stored.deltaColumn.name,
  }
end

-- The first run's deltaColumn becomes the flow's Copy transformation (on-demand page).
local function patch_delta_column(flow, name, ctx)
  local transformations = type(flow.transformations) == "table" and flow.transformations or util.array()
  table.insert(transformations, 1, { name = "Copy", params = { deltaColumn = { name = name } } })
  flow.transformations = util.array(transformations)
  flow._run_delta_column = name
  store.touch(flow, ctx)
end

-- CONNECTOR-1388: documented for re-trigger, used for on-demand runs too.
local function not_enabled(req, flow)
  return problem.response(req, "CONNECTOR-1388", 400, ("The flow=%s is in state=%s and cannot be "
    .. "re-triggered. The flow must be in enabled state for re-triggering."):format(flow.id,
      util.safe_label(tostring(flow.state))))
end

local function created(run)
  return http.json(201, { items = util.array { { id = run.id, etag = run.etag } } })
end

function runs.create(state, req, ctx, body)
  if not util.is_object(body) then
    return problem.render(req, problem.invalid("The request body must be a JSON object."))
  end
  local flow_id = body.flowId
  if flow_id == nil or flow_id == util.null or flow_id == "" then
    return problem.response(req, 1446, 400, "The flow ID cannot be null or empty. Please update the flow "
      .. "ID and try again.")
  end
  if type(flow_id) ~= "string" then
    return problem.render(req, problem.invalid("The field flowId must be a string."))
  end
  local flow = store.find(state, ctx, "flows", flow_id)
  if not flow then
    return problem.response(req, 1430, 400, ("Flow not found with id %s."):format(util.safe_label(flow_id)))
  end
  local frequency = flow._schedule and flow._schedule.frequency
  if frequency ~= "once" then
    return problem.response(req, "CONNECTOR-1386", 400, ("The flowId=%s with scheduleParams frequency=%s "
      .. "is not supported for creating flow runs. Please provide a valid frequency and try again."):format(
        flow.id, util.safe_label(tostring(frequency))))
  end
  if flow.state ~= "enabled" then return not_enabled(req, flow) end
  local checked, err = check_params(state, ctx, flow, body.params)
  if not checked then return problem.render(req, err) end
  if checked.delta and not flow_delta_column(flow) then patch_delta_column(flow, checked.delta, ctx) end
  local run = dataflows.new_run(state, flow, checked.start, {
    on_demand = true, params = checked.params, window = checked.window,
    created = math.floor(util.now()),
  })
  dataflows.add_run(flow, run)
  return created(run)
end

function runs.action(state, req, ctx, run_id, op)
  local normalised = type(op) == "string" and op:lower():gsub("_", "-") or nil
  if normalised ~= "re-trigger" then
    return problem.response(req, "CONNECTOR-1401", 400, ("The provided flow run action=%s is not "
      .. "supported. Please provide a valid flow run action and try again."):format(
        util.safe_label(tostring(op))))
  end
  local run, flow = dataflows.find_run(state, store.all(state, ctx, "flows"), run_id)
  if not run then return problem.render(req, problem.not_found("runs", run_id)) end
  local status = dataflows.run_status(run)
  -- failed runs; a successful one only when it ingested nothing (never here: every table has rows)
  if status ~= "failed" then
    return problem.response(req, "CONNECTOR-1387", 400, ("The flowRunId=%s is in an invalid state=%s for "
      .. "re-triggering. Please try again after some time and contact customer support if the problem "
      .. "persists."):format(run.id, status))
  end
  if flow.state ~= "enabled" then return not_enabled(req, flow) end
  local now = math.floor(util.now())
  local retry = dataflows.new_run(state, flow, now, {
    on_demand = true, params = run.params, window = run.window, created = now, retry_of = run.id,
  })
  dataflows.add_run(flow, retry)
  return http.json(200, { id = retry.id, etag = retry.etag })
end

return runs
