-- `runs create`: an on-demand run of a dataflow scheduled once (the library's runs:create, Adobe's
-- "Create a flow run for on-demand ingestion"). The options, input and examples VERBS.create in
-- resources.lua uses for the runs kind.
local refs = require "flowservice.cli.refs"

-- Epoch seconds, or +SECONDS / -SECONDS from now.
local function moment(v)
  local sign, rel = v:match("^([+-])(%d+)$")
  if sign then return os.time() + (sign == "+" and 1 or -1) * tonumber(rel) end
  if not v:match("^%d+$") then return nil, "expected epoch seconds, or +SECONDS / -SECONDS from now" end
  return tonumber(v)
end

return {
  options = function(cmd)
    cmd:option("--flow", "The dataflow (id or name); it must be scheduled once."):argname "FLOW"
    cmd:option("--window-start",
      "Ingest data from this time: epoch seconds, or -SECONDS from now (write --window-start=-SECONDS).")
      :argname "TIME":convert(moment)
    cmd:option("--window-end", "Ingest data up to this time (default now).", "+0"):argname "TIME"
      :convert(moment)
    cmd:option("--start", "When the run starts (default now)."):argname "TIME":convert(moment)
    cmd:option("--delta-column", "Column that tells new rows (first run of a table-based flow only)."):argname "COLUMN"
  end,
  input = function(ctx, args)
    return { flow_id = args.flow and refs.resolve(ctx, "flows", args.flow), window_start = args.window_start,
      window_end = args.window_end, start_time = args.start, delta_column = args.delta_column }
  end,
  epilog = "  flowservice runs create --flow 'OSC once' --window-start=-86400 --delta-column updatedTime\n"
    .. "  flowservice runs create --flow FLOW_ID --window-start 1700000000 --window-end 1700086400\n"
    .. "  flowservice runs watch RUN_ID        # then follow it",
}
