-- `runs watch`: waits for a run to finish with the library's runs:wait. On a terminal one
-- progress line is rewritten in place (\r); otherwise (a pipe, a log) one plain line per poll.
-- Exit status 0 when the run succeeded, 1 when it ended otherwise (failed, partial success).
local output = require "flowservice.cli.output"
local refs = require "flowservice.cli.refs"

local EXIT = output.EXIT

-- max: the longest wait the library's sleep takes (core.sleep: 86400 s), or none
local function seconds(min, max)
  return function(v)
    local n = tonumber(v)
    if not n or n < min or n == math.huge or (max and n > max) then
      return nil, "expected seconds >= " .. min .. (max and " and <= " .. max or "")
    end
    return n
  end
end

local function progress_line(runs, run, elapsed)
  local status = run and (runs.status(run) or "no status yet") or "waiting for the first run"
  -- the id and status come from the service: shown safe
  return output.safe(string.format("%6.1f s  %s%s", elapsed, run and (tostring(run.id) .. "  ") or "", status))
end

return function(kind)
  return {
    summary = "Wait for a run (or a flow's first run) to finish, showing its progress.", sends = true,
    epilog = "  flowservice runs watch RUN_ID\n  flowservice runs watch --flow 'OSC incidents' --timeout 900\n"
      .. "  flowservice runs watch --flow FLOW_ID --json      # the final run as JSON",
    options = function(cmd)
      cmd:argument("ref", "The run's id."):args "?":argname "RUN_ID"
      cmd:option("--flow", "Watch this flow's first run instead (the flow's id or name)."):argname "FLOW"
      cmd:option("--timeout", "Give up after this many seconds.", "600"):argname "SECONDS"
        :convert(seconds(0))
      cmd:option("--interval", "Seconds between polls.", "5"):argname "SECONDS":convert(seconds(0.05, 86400))
    end,
    run = function(ctx, args)
      if (args.ref == nil) == (args.flow == nil) then ctx:fail(EXIT.usage, "give a RUN_ID or --flow FLOW") end
      local flow_id = args.flow and refs.resolve(ctx, "flows", args.flow)
      -- what runs:wait asks first
      local first_request = args.ref and { method = "GET", path = kind.path .. "/" .. args.ref }
        or { method = "GET", path = kind.path,
          query = ctx:must(ctx:client().runs:_list_query { flow_id = flow_id, orderby = "createdAt",
            limit = 1 }) }
      if ctx:dry { first_request } then return EXIT.ok end
      local runs = ctx:client().runs
      -- Progress goes to stderr with --json (stdout holds exactly one document).
      local stream = args.json and ctx.streams.stderr or ctx.streams.stdout
      local live = ctx:isatty(args.json and "stderr" or "stdout")
      local width = 0
      local run, status = runs:wait {
        run_id = args.ref, flow_id = flow_id, timeout = args.timeout, interval = args.interval,
        progress = function(r, elapsed)
          local line = progress_line(runs, r, elapsed)
          if live then
            stream:write("\r", line, (" "):rep(math.max(0, width - #line)))
            width = #line
          else
            stream:write(line, "\n")
          end
          stream:flush()
        end,
      }
      if live then stream:write("\n") end
      ctx:must(run, status)
      ctx:print(run, function()
        local records = type(run.metrics) == "table" and run.metrics.recordSummary or {}
        ctx.streams.stdout:write(output.safe(string.format("run %s: %s (records in %s, out %s, failed %s)",
          tostring(run.id), status, tostring(records.inputRecordCount), tostring(records.outputRecordCount),
          tostring(records.failedRecordCount))), "\n")
      end)
      return status == "success" and EXIT.ok or EXIT.failed_run
    end,
  }
end
