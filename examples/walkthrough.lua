-- The whole Oracle Service Cloud walkthrough: base connection -> explore (tables and a preview)
-- -> source connection -> target connection (data lake) -> dataflow (CRMToAEP) -> wait for the
-- first run -> its status and record counts. Prints each step's id.
--
-- Configuration comes from the environment, so the same script talks to the emulator
-- (make demo) or to the real platform:
--   AEP_CLIENT_ID, AEP_CLIENT_SECRET, AEP_ORG_ID, AEP_SANDBOX   your Developer Console credential
--   AEP_BASE_URL, AEP_IMS_URL                                   only to point at the emulator
--   OSC_HOST, OSC_USERNAME, OSC_PASSWORD                        the Oracle Service Cloud account
--   OSC_TABLE (default: the first table whose name has "incident", else the first table)
--   AEP_DATASET_ID, AEP_SCHEMA_ID, AEP_MAPPING_ID               the dataset, its XDM schema and a
--                                                               Data Prep mapping set, made beforehand
--   RUN_TIMEOUT (seconds to wait for the first run, default 600), RUN_POLL (default 5)
local flowservice = require "flowservice"

local function need(name)
  local value = os.getenv(name)
  if not value or value == "" then
    io.stderr:write("walkthrough: set ", name, "\n")
    os.exit(2)
  end
  return value
end

-- Stops the script with the error (its tostring never shows a secret).
local function check(value, err)
  if value == nil or value == false then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local client = check(flowservice.new {}) -- everything from AEP_* environment variables

-- 1. Base connection.
local base = check(client.connections:create {
  name = "Oracle Service Cloud base connection",
  description = "made by examples/walkthrough.lua",
  spec = "oracle-service-cloud",
  auth = { host = need("OSC_HOST"), username = need("OSC_USERNAME"), password = need("OSC_PASSWORD") },
})
print("base connection:   " .. base.id .. "  etag " .. base.etag)
print("connection test:   " .. tostring(check(client.connections:test(base.id))))

-- 2. Explore: the tables, then one table's columns and a few rows.
local tables = check(client.connections:tables(base.id))
local names = {}
for i, t in ipairs(tables) do names[i] = t.name end
print("tables:            " .. table.concat(names, ", "))
local chosen = os.getenv("OSC_TABLE")
if not chosen then
  for _, t in ipairs(tables) do
    if not chosen and tostring(t.name):lower():find("incident", 1, true) then chosen = t.path end
  end
  chosen = chosen or check(tables[1], "the source has no tables").path
end
local preview = check(client.connections:preview(base.id, chosen))
local delta
for _, column in ipairs(preview.columns) do
  local xdm = column.xdm or {}
  if not delta and xdm.format == "date-time" and column.name:lower():find("updated", 1, true) then
    delta = column.name
  end
end
delta = delta or check(nil, "no updated-at column in " .. chosen .. " to use as the delta column")
print(string.format("preview of %s:  %d columns, %d rows; delta column %s",
  chosen, #preview.columns, #preview.rows, delta))
for i = 1, math.min(3, #preview.rows) do
  local row, cells = preview.rows[i], {}
  for j = 1, math.min(4, #preview.columns) do
    local name = preview.columns[j].name
    cells[#cells + 1] = name .. "=" .. tostring(row[name])
  end
  print("  " .. table.concat(cells, "  "))
end

-- 3. Source connection: which table to read.
local source = check(client.source_connections:create {
  name = "Oracle Service Cloud " .. chosen,
  base_connection_id = base.id,
  table = chosen,
})
print("source connection: " .. source.id)

-- 4. Target connection: the data lake dataset.
local target = check(client.target_connections:create {
  name = "Data lake for Oracle Service Cloud " .. chosen,
  dataset_id = need("AEP_DATASET_ID"),
  schema_id = need("AEP_SCHEMA_ID"),
})
print("target connection: " .. target.id)

-- 5. Dataflow: CRMToAEP, incremental on the delta column, every 15 minutes from now on.
local flow_spec = check(client.flow_specs:find("CRMToAEP"))
print("flow spec:         " .. flow_spec.id .. " (" .. flow_spec.name .. ")")
local flow = check(client.flows:create {
  name = "Oracle Service Cloud " .. chosen .. " to Platform",
  flow_spec = flow_spec,
  source_connection_id = source.id,
  target_connection_id = target.id,
  delta_column = delta,
  mapping_id = need("AEP_MAPPING_ID"),
  schedule = { start_time = os.time() + 1, frequency = "minute", interval = 15 },
})
print("dataflow:          " .. flow.id .. "  etag " .. flow.etag)

-- 6. Wait for the first run and report it.
local run, status = client.runs:wait {
  flow_id = flow.id,
  timeout = tonumber(os.getenv("RUN_TIMEOUT")) or 600,
  interval = tonumber(os.getenv("RUN_POLL")) or 5,
  progress = function(r, elapsed)
    print(string.format("  %5.1f s  %s", elapsed, r and client.runs.status(r) or "waiting for the first run"))
  end,
}
check(run, status)
local records = run.metrics and run.metrics.recordSummary or {}
print(string.format("first run:         %s  status %s  records in %s, out %s, failed %s", run.id, status,
  tostring(records.inputRecordCount), tostring(records.outputRecordCount), tostring(records.failedRecordCount)))
client:close()
