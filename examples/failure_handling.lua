-- Failure handling, checked the way a user's own tests would check it against the emulator's
-- failure switches (docs/EMULATOR.md, "Failure switches"): a connection whose test fails, a dataflow whose
-- run fails (then Adobe's retry of the failed run), and a sandbox that does not exist. Each step
-- prints what the library reported; the script exits 1 if a failure did not show as expected.
--
-- Against the emulator only (the magic values mean nothing to the real platform):
--   flowservice-emulator --port 0 &     # then AEP_BASE_URL / AEP_IMS_URL = its URL
--   AEP_CLIENT_ID, AEP_CLIENT_SECRET, AEP_ORG_ID   the emulator's demo credential
--   RUN_TIMEOUT (seconds to wait for the run, default 60), RUN_POLL (default 1)
local flowservice = require "flowservice"

local problems = 0
local function expect(ok, what)
  print((ok and "ok      " or "UNEXPECTED ") .. what)
  if not ok then problems = problems + 1 end
end

local client = assert(flowservice.new {})          -- everything from AEP_* environment variables
local timeout = tonumber(os.getenv("RUN_TIMEOUT")) or 60
local poll = tonumber(os.getenv("RUN_POLL")) or 1

-- 1. A connection whose credentials the source refuses at test time.
local conn = assert(client.connections:create {
  name = "failure handling: bad password", spec = "oracle-service-cloud",
  auth = { host = "example.custhelp.com", username = "svc-user", password = "flowservice-test-fails" },
})
local passed, err = client.connections:test(conn.id)
expect(passed == false, "connection test failed (result " .. tostring(passed or err) .. ")")

-- A create the source refuses: a structured error, nothing stored.
local _, refused = client.connections:create {
  name = "failure handling: refused", spec = "oracle-service-cloud",
  auth = { host = "example.custhelp.com", username = "svc-user", password = "flowservice-rejected" },
}
expect(refused and refused.code == "CONNECTOR-1001-401", "create refused: " .. tostring(refused))

-- 2. A dataflow whose runs fail (its name carries the fail-runs marker).
local source = assert(client.source_connections:create {
  name = "failure handling: incidents", base_connection_id = conn.id, table = "incidents" })
local target = assert(client.target_connections:create {
  name = "failure handling: dataset", dataset_id = "5f7e0d1c2b3a4d5e6f708192",
  schema_id = "https://ns.adobe.com/tenant/schemas/0d1c2b3a4d5e" })
local flow = assert(client.flows:create {
  name = "failure handling fail-runs", flow_spec = "CRMToAEP",
  source_connection_id = source.id, target_connection_id = target.id, delta_column = "updatedTime",
  schedule = { start_time = os.time() + 1, frequency = "minute", interval = 15 },
})
local run, status = client.runs:wait { flow_id = flow.id, interval = poll, timeout = timeout }
expect(status == "failed", "run ended " .. tostring(status or run))
if status == "failed" then
  local first = run.metrics.statusSummary.errors[1] or {}
  expect(first.code == "CONNECTOR-1001-500", "run error " .. tostring(first.code) .. ": "
    .. tostring(first.message))
  -- Adobe's documented retry of a failed run: a new run over the same window.
  local retry, retry_err = client.runs:retry(run.id)
  expect(retry ~= nil, "retry started: " .. tostring(retry and retry.id or retry_err))
end

-- 3. A sandbox that does not exist: Adobe's answer, not an empty list.
local typo = assert(flowservice.new { sandbox = "prdo" })
local count, sandbox_err = typo.connections:count()
expect(count == nil and sandbox_err.code == "FLOW-2101-404", "unknown sandbox: " .. tostring(sandbox_err or count))
typo:close()

client:close()
print(problems == 0 and "every failure showed as expected" or (problems .. " unexpected result(s)"))
os.exit(problems == 0 and 0 or 1)
