-- Our client's generic path, public API only: client:request with the same create body (headers,
-- JSON encode in C, request, decode, error mapping; no auth-schema check, no resource layer).
-- The first call (IMS token + connect) is an untimed warm-up; then BENCH_CALLS timed calls.
local core = require "flowservice.core"
local workload = require "workload"

local env = workload.env()
local client = workload.client(env)
local req = { method = "POST", path = "/connections", body = workload.BODY_TABLE }

assert(client:request(req))
local ok = 0
local wall, cpu = core.monotonic(), os.clock()
for _ = 1, env.calls do
  local created = client:request(req)
  if created then ok = ok + 1 end
end
wall, cpu = core.monotonic() - wall, os.clock() - cpu
workload.report(env.calls, ok, wall, cpu)
client:close()
os.exit(ok == env.calls and 0 or 1)
