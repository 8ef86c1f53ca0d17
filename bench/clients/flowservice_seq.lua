-- Our client, public API only: one flowservice client, then connections:create in a loop.
-- The first call (IMS token + connect) is an untimed warm-up; then BENCH_CALLS timed calls.
local workload = require "workload"

local env = workload.env()
local client = workload.client(env)
local input = workload.INPUT

assert(client.connections:create(input))
local ok = workload.timed_loop(env.calls, function() return client.connections:create(input) end)
client:close()
os.exit(ok == env.calls and 0 or 1)
