-- state.apply of BENCH_CALLS resources of each kind (base, source and target connections, and
-- flows, each flow with its own source and target) into a fresh sandbox, BENCH_CONCURRENCY calls
-- in flight per dependency level. The orchestrator injects a delay on every Flow Service
-- request; the report counts requests (every list, look-before-create and create), so calls/s
-- compares with what K requests in flight allow at that delay.
local core = require "flowservice.core"
local state = require "flowservice.state"
local workload = require "workload"

local env = workload.env()
local per_kind = env.calls
local requests = 0
env.sandbox = ("test-bench-state-%d-%d"):format(os.time(), math.random(1, 1e6))
local client = assert(require("flowservice").new {
  client_id = env.api_key, client_secret = env.client_secret, org_id = env.org_id, sandbox = env.sandbox,
  base_url = env.base_url, ims_url = env.ims_url, env = false,
  trace = function(e) if e.url:find("/data/foundation/flowservice/", 1, true) then requests = requests + 1 end end,
})

local desired = { connections = {}, source_connections = {}, target_connections = {}, flows = {} }
for i = 1, per_kind do
  desired.connections[i] = { name = "base " .. i, spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc", password = { ["$env"] = "BENCH_OSC_PASSWORD" } } }
  desired.source_connections[i] = { name = "source " .. i, connection = "base " .. i, table = "incidents" }
  desired.target_connections[i] = { name = "target " .. i, dataset_id = "5f7e0d1c2b3a4d5e6f708192",
    schema_id = "https://ns.adobe.com/bench/schemas/" .. i }
  desired.flows[i] = { name = "flow " .. i, flow_spec = "CRMToAEP", source = "source " .. i, target = "target " .. i,
    delta_column = "updatedTime", schedule = { frequency = "hour" } }
end
local secrets = { BENCH_OSC_PASSWORD = "bench-password" }

assert(client.flow_specs:all()) -- the IMS token, outside the timed part
requests = 0
local wall, cpu = core.monotonic(), os.clock()
local report, err = state.apply(client, desired, { env = secrets, concurrency = env.concurrency })
wall, cpu = core.monotonic() - wall, os.clock() - cpu
local done = report and #report.done or 0
if not report then io.stderr:write("apply failed: ", tostring(err), "\n") end
if report and not report.ok then io.stderr:write("apply: ", #report.failed, " failed\n") end
io.stderr:write(("state apply: %d resources in %.2f s, %d requests\n"):format(done, wall, requests))
-- calls = requests, ok = requests when every resource was applied
workload.report(requests, done == 4 * per_kind and requests or 0, wall, cpu)
client:close()
os.exit(done == 4 * per_kind and 0 or 1)
