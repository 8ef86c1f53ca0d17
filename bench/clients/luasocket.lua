-- Baseline: luasocket's http.request (a new connection per call: no keep-alive) with lua-cjson
-- encoding the body and decoding the answer on every call.
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"
local workload = require "workload"

local env = workload.env()
local url = env.base_url .. workload.CREATE_PATH
local headers = {
  ["authorization"] = "Bearer " .. env.token, ["x-api-key"] = env.api_key,
  ["x-gw-ims-org-id"] = env.org_id, ["x-sandbox-name"] = env.sandbox,
  ["accept"] = "application/json", ["content-type"] = "application/json",
}

local function create()
  local body = cjson.encode(workload.BODY_TABLE)
  headers["content-length"] = tostring(#body)
  local chunks = {}
  local _, status = http.request {
    url = url, method = "POST", headers = headers, source = ltn12.source.string(body),
    sink = ltn12.sink.table(chunks),
  }
  if status ~= 201 then return nil end
  local decoded = cjson.decode(table.concat(chunks))
  return decoded.id and decoded
end

assert(create(), "warm-up call failed")
local ok = 0
local wall, cpu = socket.gettime(), os.clock()
for _ = 1, env.calls do
  if create() then ok = ok + 1 end
end
wall, cpu = socket.gettime() - wall, os.clock() - cpu
workload.report(env.calls, ok, wall, cpu)
os.exit(ok == env.calls and 0 or 1)
