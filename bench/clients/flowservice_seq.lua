-- Our client, public API only: one flowservice client, then connections:create in a loop.
-- The first call (IMS token + connect) is an untimed warm-up; then BENCH_CALLS timed calls.
local flowservice = require "flowservice"
local core = require "flowservice.core"
local workload = require "workload"

local env = workload.env()
local client = assert(flowservice.new {
  client_id = env.api_key, client_secret = env.client_secret, org_id = env.org_id,
  sandbox = env.sandbox, base_url = env.base_url, ims_url = env.ims_url, ca_file = env.ca_file,
  env = false,
})
local input = workload.INPUT

assert(client.connections:create(input))
local ok = 0
local wall, cpu = core.monotonic(), os.clock()
for _ = 1, env.calls do
  local created = client.connections:create(input)
  if created then ok = ok + 1 end
end
wall, cpu = core.monotonic() - wall, os.clock() - cpu
workload.report(env.calls, ok, wall, cpu)
client:close()
os.exit(ok == env.calls and 0 or 1)
