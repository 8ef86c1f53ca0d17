-- Our client's generic path, public API only: client:request with the same create body (headers,
-- JSON encode in C, request, decode, error mapping; no auth-schema check, no resource layer).
-- The first call (IMS token + connect) is an untimed warm-up; then BENCH_CALLS timed calls.
local workload = require "workload"

local env = workload.env()
local client = workload.client(env)
local req = { method = "POST", path = "/connections", body = workload.BODY_TABLE }

assert(client:request(req))
local ok = workload.timed_loop(env.calls, function() return client:request(req) end)
client:close()
os.exit(ok == env.calls and 0 or 1)
