-- The one workload every client sends: create an Oracle Service Cloud base connection.
-- Shared by the orchestrator (bench/lib/main.lua), which hands the encoded body and the token
-- to the non-Lua clients through the environment, and by the Lua clients.
local workload = {}

workload.CREATE_PATH = "/data/foundation/flowservice/connections"
workload.IMS_PATH = "/ims/token/v3"
workload.API_KEY = "bench-client-id"
workload.CLIENT_SECRET = "bench-client-secret"
workload.ORG_ID = "BENCH000000000000000000@AdobeOrg"
workload.SANDBOX = "prod"

-- What nginx answers to the create call (the emulator's shape: etag with literal quotes).
workload.CREATED = '{"id":"6b1d5e0e-3f6a-4c4e-9a57-2f1c0d9e8b7a",'
  .. '"etag":"\\"2b00a7b1-0000-0200-0000-6b0b44220000\\""}'

-- A 1.2 KB bearer token shaped like an IMS JWT (three base64url parts). Deterministic, so the
-- C loop (which sends it directly) and the client (which gets it from nginx's IMS) send the
-- same bytes.
local function base64url_chars(n, seed)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out, x = {}, seed
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    local k = (x >> 16) % 64 + 1
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end
workload.TOKEN = "eyJhbGciOiJSUzI1NiIsIng1dSI6Imltc19uYTEta2V5LWF0LTEuY2VyIiwia2lkIjoiaW1zX25hMS1rZXktYXQtMSJ9."
  .. base64url_chars(764, 7) .. "." .. base64url_chars(342, 11)
assert(#workload.TOKEN == 1200)

workload.IMS_RESPONSE = '{"access_token":"' .. workload.TOKEN .. '","token_type":"bearer","expires_in":86399}'

-- The connections:create input (the README's quick start, step 1).
workload.INPUT = {
  name = "Oracle Service Cloud",
  spec = "oracle-service-cloud",
  auth = { host = "example.custhelp.com", username = "svc-user", password = "bench-password" },
}

-- The body the client builds from INPUT (connections.lua's build_body; checked against the
-- client's own request_body_size by the orchestrator). Lua baselines encode this table per call.
workload.BODY_TABLE = {
  name = "Oracle Service Cloud",
  auth = {
    specName = "Basic Authentication",
    params = { host = "example.custhelp.com", username = "svc-user", password = "bench-password" },
  },
  connectionSpec = { id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003", version = "1.0" },
}

-- Settings the clients read from the environment (set by the orchestrator).
function workload.env()
  local function get(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
      if default == nil then error("missing environment variable " .. name) end
      return default
    end
    return v
  end
  return {
    base_url = get("BENCH_BASE_URL"),
    ims_url = get("BENCH_IMS_URL", get("BENCH_BASE_URL")),
    ca_file = os.getenv("BENCH_CA_FILE") ~= "" and os.getenv("BENCH_CA_FILE") or nil,
    calls = math.tointeger(tonumber(get("BENCH_CALLS"))),
    concurrency = math.tointeger(tonumber(get("BENCH_CONCURRENCY", "16"))),
    token = get("BENCH_TOKEN", workload.TOKEN),
    api_key = get("BENCH_API_KEY", workload.API_KEY),
    client_secret = get("BENCH_CLIENT_SECRET", workload.CLIENT_SECRET),
    org_id = get("BENCH_ORG_ID", workload.ORG_ID),
    sandbox = get("BENCH_SANDBOX", workload.SANDBOX),
    stream = os.getenv("BENCH_STREAM") == "1",
  }
end

-- Our client as the flowservice_* clients make it: IMS credentials and URLs from `env`, none
-- from the environment.
function workload.client(env)
  return assert(require("flowservice").new {
    client_id = env.api_key, client_secret = env.client_secret, org_id = env.org_id,
    sandbox = env.sandbox, base_url = env.base_url, ims_url = env.ims_url, ca_file = env.ca_file,
    env = false,
  })
end

-- The one line every client prints: what the orchestrator parses.
function workload.report(calls, ok, wall, cpu, connects)
  io.write(string.format("result calls=%d ok=%d wall=%.6f cpu=%.6f connects=%s\n", calls, ok, wall,
    cpu, connects and tostring(connects) or "-"))
end

-- The timed part of a sequential client: `calls` calls of `call` (truthy on success), then the
-- report line. Returns how many succeeded.
function workload.timed_loop(calls, call)
  local core = require "flowservice.core"
  local ok = 0
  local wall, cpu = core.monotonic(), os.clock()
  for _ = 1, calls do
    if call() then ok = ok + 1 end
  end
  wall, cpu = core.monotonic() - wall, os.clock() - cpu
  workload.report(calls, ok, wall, cpu)
  return ok
end

return workload
