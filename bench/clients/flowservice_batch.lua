-- Our client's batch API: BENCH_CALLS connections:create calls with BENCH_CONCURRENCY in flight
-- (client:batch over libcurl's multi interface). BENCH_STREAM=1 feeds the calls from an
-- iterator and takes results through on_result (memory proportional to K, not to the batch).
-- Results in call order as results[i] = table.pack(call()) when on_result is not given.
local core = require "flowservice.core"
local workload = require "workload"

local env = workload.env()
local client = workload.client(env)
local input = workload.INPUT
local function create() return client.connections:create(input) end

assert(client.connections:create(input)) -- IMS token, outside the timed part
local ok, first_err = 0, nil
local function count(result, err)
  if result then ok = ok + 1 elseif not first_err then first_err = err end
end

local wall, cpu = core.monotonic(), os.clock()
if env.stream then
  local issued = 0
  local function next_call()
    if issued >= env.calls then return nil end
    issued = issued + 1
    return create
  end
  -- With on_result nothing is kept and nothing returned; a failed call is its (nil, err).
  client:batch(next_call, {
    concurrency = env.concurrency,
    on_result = function(_, result, err) count(result, err) end,
  })
else
  local calls = {}
  for i = 1, env.calls do calls[i] = create end
  local results = assert(client:batch(calls, { concurrency = env.concurrency }))
  for i = 1, env.calls do
    local r = results[i]
    count(r and r[1], r and r[2])
  end
end
wall, cpu = core.monotonic() - wall, os.clock() - cpu
if first_err then io.stderr:write("first failure: ", tostring(first_err), "\n") end
workload.report(env.calls, ok, wall, cpu)
client:close()
os.exit(ok == env.calls and 0 or 1)
