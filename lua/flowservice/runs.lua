--- Flow runs (read-only): list (by flow), get, and wait for a run to finish.
-- @module flowservice.runs
local check = require "flowservice.check"
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
  list_shortcuts = { flow_id = "flowId" },
}

-- Adobe writes statuses in two styles (docs "inProgress", "success"; the OpenAPI enum
-- IN_PROGRESS, PARTIAL_SUCCESS...): both normalise to lower case without underscores.
local FINAL = {
  success = true, completed = true, failed = true, partialsuccess = true, partialfailure = true,
  cancelled = true, canceled = true,
}

--- The run's status in lower case without underscores ("inprogress", "success", "failed",
-- "partialsuccess", ...), or nil when the run has none yet.
-- Adobe writes both `inProgress` and `IN_PROGRESS`; both come out as `"inprogress"`. A plain
-- function: `client.runs.status(run)`.
-- @tparam table run a run item
-- @treturn string|nil the status
-- @usage
-- print(client.runs.status(run))   --> success
function Runs.status(run)
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
-- @tparam[opt] function opts.sleep `sleep(seconds)` instead of the client's blocking sleep (e.g.
--   `ngx.sleep` in OpenResty)
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
