-- `runs watch`: waits for a run to finish with the library's runs:wait. On a terminal one
-- progress line is rewritten in place (\r); otherwise (a pipe, a log) one plain line per poll.
-- Exit status 0 when the run succeeded, 1 when it ended otherwise (failed, partial success),
-- 10 when --timeout passed first.
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
    epilog = "  flowservice runs watch RUN_ID\n  flowservice runs watch --flow 'OSC to Platform' --timeout 900\n"
      .. "  flowservice runs watch --flow FLOW_ID --json      # the final run as JSON",
    options = function(cmd)
      cmd:argument("RUN_ID", "The run's id."):args("?"):argname("RUN_ID"):target "ref"
      cmd:option("--flow", "Watch this flow's first run instead (the flow's id or name)."):argname "FLOW"
      -- its own target: the global --timeout (each request's) must not take this value
      cmd:option("--timeout", "Give up after this many seconds (exit status 10).", "600"):argname "SECONDS"
        :convert(seconds(0)):target "wait_timeout"
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
      -- Progress goes to stderr with --json (stdout holds exactly one document), and only to a
      -- terminal: a script's stderr then holds nothing but a failure's one JSON object.
      local stream = args.json and ctx.streams.stderr or ctx.streams.stdout
      local live = ctx:isatty(args.json and "stderr" or "stdout")
      local quiet = args.json and not live
      local width, last_elapsed = 0, 0
      local run, status = runs:wait {
        run_id = args.ref, flow_id = flow_id, timeout = args.wait_timeout, interval = args.interval,
        progress = function(r, elapsed)
          last_elapsed = elapsed
          if quiet then return end
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
      -- the wait's own time limit (not a request's): its own exit status
      if run == nil and status.kind == "timeout" and last_elapsed >= args.wait_timeout then
        ctx:fail_with(status, EXIT.wait_timeout)
      end
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
