-- Our client, public API only: one flowservice client, then connections:create in a loop.
-- The first call (IMS token + connect) is an untimed warm-up; then BENCH_CALLS timed calls.
local core = require "flowservice.core"
local workload = require "workload"

local env = workload.env()
local client = workload.client(env)
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
