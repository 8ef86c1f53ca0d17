--- Flow runs: list (by flow), get, wait for a run to finish, create an on-demand run and retry
-- a failed one.
-- @module flowservice.runs
local check = require "flowservice.check"
local compat = require "flowservice.compat"
local core = require "flowservice.core"
local errors = require "flowservice.errors"
local resource = require "flowservice.resource"

--- The object at `client.runs`: `get`, `list` (also with `flow_id`), `all`, `count` and `find`
-- of `flowservice.resource.Resource`, and these.
-- @type Runs
local Runs = resource.define {
  kind = "run",
  path = "/runs",
  read_only = true,
  creatable = true,
  list_shortcuts = { flow_id = "flowId" },
}
-- (build_body is set below, once run_body exists: the command line's --dry-run uses it)

local CREATE_FIELDS = {
  flow_id = "string", start_time = "any", window_start = "any", window_end = "any", delta_column = "string",
}

-- Epoch seconds given as a whole number or a string of digits; nil when not one.
local function epoch_seconds(v)
  if type(v) == "string" and v:match("^%d+$") and #v <= 15 then return compat.tointeger(tonumber(v)) end
  if type(v) == "number" then
    local n = compat.tointeger(v)
    if n and n >= 0 then return n end
  end
  return nil
end

-- The POST /runs body of "Create a flow run for on-demand ingestion" (Adobe's tutorial): times as
-- strings of digits, as its example sends them. Returns the body or nil, a validation error.
local function run_body(input)
  if input.flow_id == nil or input.flow_id == "" then
    return nil, errors.validation("flow_id", "required (the id of a flow scheduled once)")
  end
  local params = {}
  for _, f in ipairs { { "window_start", "windowStartTime", true }, { "window_end", "windowEndTime", true },
      { "start_time", "startTime", false } } do
    local field, key, required = f[1], f[2], f[3]
    local value = input[field]
    if value == nil then
      if required then
        return nil, errors.validation(field, "required: epoch seconds (the ingestion window's "
          .. (field == "window_start" and "start" or "end") .. ")")
      end
    else
      local n = epoch_seconds(value)
      if not n then return nil, errors.validation(field, "must be epoch seconds (a whole number >= 0)") end
      params[key] = string.format("%d", n)
    end
  end
  if tonumber(params.windowEndTime) < tonumber(params.windowStartTime) then
    return nil, errors.validation("window_end", "must not be before window_start")
  end
  if input.delta_column ~= nil then
    if input.delta_column == "" then return nil, errors.validation("delta_column", "must not be empty") end
    params.deltaColumn = { name = input.delta_column }
  end
  return { flowId = input.flow_id, params = params }
end

Runs.def.build_body = function(input) return run_body(input) end

-- {id, etag} from the answer: the tutorial's {"items": [{id, etag}]} or the OpenAPI's {id, etag}.
local function created_run(body, status, request_id)
  local item = body
  if type(body) == "table" and type(body.items) == "table" then item = body.items[1] end
  if type(item) ~= "table" or type(item.id) ~= "string" or type(item.etag) ~= "string" then
    return nil, errors.unexpected(status, "expected {id, etag} in the run create response", request_id, true)
  end
  return { id = item.id, etag = item.etag }
end

--- Creates an on-demand run of a dataflow (`POST /runs`, Adobe's "on-demand ingestion").
-- The flow must be scheduled once (frequency `once`) and enabled. Table-based sources need the
-- delta column on the first run only: the service then keeps it in the flow, and a different one
-- later is refused (`CONNECTOR-1382-400`). Every field is checked before anything is sent; the
-- POST is never resent blindly (a failure after sending is `ambiguous`).
-- @tparam table input
-- @tparam string input.flow_id the flow (scheduled once)
-- @tparam number|string input.window_start epoch seconds: the first moment of the data to ingest
-- @tparam number|string input.window_end epoch seconds, not before `window_start`
-- @tparam[opt] number|string input.start_time epoch seconds: when the run starts (default: now)
-- @tparam[opt] string input.delta_column the column that tells new rows (first run of a
--   table-based flow)
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }` of the new run
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error naming the field, or the service's error
-- @usage
-- local run = assert(client.runs:create { flow_id = flow.id, delta_column = "updatedTime",
--   window_start = os.time() - 86400, window_end = os.time() })
-- local final, status = client.runs:wait { run_id = run.id, interval = 0.5, timeout = 60 }
function Runs:create(input)
  resource.check_self(self, "create")
  check.table(input, "runs:create", 3)
  check.options(input, CREATE_FIELDS, "runs:create", 3)
  local body, err = run_body(input)
  if not body then return nil, err end
  local answer, status, headers = self.client:_request("POST", "/runs", body)
  if not answer then return nil, status end
  return created_run(answer, status, headers["x-request-id"])
end

--- Retries a failed run (`POST /runs/{id}/action?op=re-trigger`, Adobe's "Retry failed dataflow
-- runs"). Returns the new run's `{ id, etag }`; the retry covers the original run's window. The
-- service refuses runs that did not fail (`CONNECTOR-1387-400`) and flows that are not enabled
-- (`CONNECTOR-1388-400`).
-- @tparam string id the failed run's id
-- @treturn[1] table `{ id, etag }` of the new run
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- local retry = assert(client.runs:retry(failed_run.id))
function Runs:retry(id)
  resource.check_self(self, "retry")
  local segment, err = resource.id_segment(self.def, "retry", id, 2)
  if not segment then return nil, err end
  local body, resp = self.client:request {
    method = "POST", path = "/runs/" .. segment .. "/action", query = { op = "re-trigger" },
  }
  if not body then return nil, resp end
  return resource.id_and_etag(body, resp, "re-trigger")
end

-- Adobe writes statuses in two styles (docs "inProgress", "success"; the OpenAPI enum
-- IN_PROGRESS, PARTIAL_SUCCESS...): both normalise to lower case without underscores.
local FINAL = {
  success = true, completed = true, failed = true, partialsuccess = true, partialfailure = true,
  cancelled = true, canceled = true,
}

-- `client.runs:status(run)` passes the runs object first: a misuse, raised like every other one
-- rather than answered with nil (which reads as "no status yet").
local function check_plain_call(name, run)
  if getmetatable(run) == Runs then
    error("runs." .. name .. ": a plain function: call client.runs." .. name .. "(run), not client.runs:"
      .. name .. "(run)", 3)
  end
end

--- The run's status in lower case without underscores ("inprogress", "success", "failed",
-- "partialsuccess", ...), or nil when the run has none yet.
-- Adobe writes both `inProgress` and `IN_PROGRESS`; both come out as `"inprogress"`. A plain
-- function: `client.runs.status(run)`.
-- @tparam table run a run item
-- @treturn string|nil the status
-- @usage
-- print(client.runs.status(run))   --> success
function Runs.status(run)
  check_plain_call("status", run)
  local summary = type(run) == "table" and type(run.metrics) == "table" and run.metrics.statusSummary
  local status = type(summary) == "table" and summary.status
  if type(status) ~= "string" and type(run) == "table" and type(run.status) == "table" then
    status = run.status.value
  end
  if type(status) ~= "string" then return nil end
  return (status:lower():gsub("_", ""))
end

--- True when the run will not change any more (success, failed, partial success ...).
-- A plain function: `client.runs.is_final(run)`.
-- @tparam table run a run item
-- @treturn boolean
-- @usage
-- if client.runs.is_final(run) then print(client.runs.status(run)) end
function Runs.is_final(run)
  check_plain_call("is_final", run)
  return FINAL[Runs.status(run) or ""] == true
end

local WAIT_OPTIONS = {
  run_id = "string", flow_id = "string", timeout = "number", interval = "number",
  progress = "function", sleep = "function", clock = "function",
}

-- The run to watch: by id, or the first (oldest) run of a flow once there is one.
local function current_run(self, opts)
  if opts.run_id then return self:get(opts.run_id) end
  local next_run = self:list { flow_id = opts.flow_id, orderby = "createdAt", limit = 1 }
  local run, err = next_run()
  if run == false then return nil, err end
  return run or false
end

--- Waits until a run is final, polling it.
-- Returns the final run and its status ("success", "failed", ...), or nil and an error of kind
-- "timeout" (or the error of a failed poll). A failed run is a result, not an error.
-- Give exactly one of `run_id` and `flow_id`.
-- @tparam table opts
-- @tparam[opt] string opts.run_id the run to wait for
-- @tparam[opt] string opts.flow_id wait for the flow's first run (once there is one)
-- @tparam[opt=600] number opts.timeout seconds
-- @tparam[opt=5] number opts.interval seconds between polls
-- @tparam[opt] function opts.progress `progress(run_or_nil, elapsed)`, called after every poll
-- @tparam[opt] function opts.sleep `sleep(seconds)` instead of the client's blocking sleep between
--   polls (the polls themselves still block: docs/EMBEDDING.md)
-- @treturn[1] table the final run
-- @treturn[1] string its status (`Runs.status`)
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error kind `timeout`, or the error of a failed poll
-- @usage
-- local run, status = assert(client.runs:wait { flow_id = flow.id, timeout = 900 })
-- print(status, run.metrics.recordSummary.outputRecordCount)
function Runs:wait(opts)
  resource.check_self(self, "wait")
  check.table(opts, "runs:wait: options", 3)
  check.options(opts, WAIT_OPTIONS, "runs:wait", 3)
  if (opts.run_id == nil) == (opts.flow_id == nil) then
    error("runs:wait: give exactly one of run_id and flow_id", 2)
  end
  local timeout, interval = opts.timeout or 600, opts.interval or 5
  if not (timeout >= 0 and timeout < math.huge) then error("runs:wait: timeout: expected seconds >= 0", 2) end
  if not (interval > 0 and interval <= 86400) then
    error("runs:wait: interval: expected seconds > 0 and <= 86400", 2) -- core.sleep's limit
  end
  local sleep, clock = opts.sleep or function(s) self.client:_sleep(s) end, opts.clock or core.monotonic
  local started = clock()
  while true do
    local run, err = current_run(self, opts)
    if run == nil then return nil, err end
    local elapsed = clock() - started
    if opts.progress then opts.progress(run or nil, elapsed) end
    if run and Runs.is_final(run) then return run, Runs.status(run) end
    if elapsed >= timeout then
      return nil, errors.new {
        kind = "timeout",
        message = string.format("%s did not finish within %g s (last status: %s)",
          opts.run_id and "the run" or "the flow's first run", timeout,
          run and (Runs.status(run) or "none") or "no run yet"),
      }
    end
    sleep(math.min(interval, math.max(0, timeout - elapsed)))
  end
end

return Runs
