-- The emulator's admin endpoints under /_emulator/ (an emulator choice modelled on moto's
-- /moto-api/reset and LocalStack's chaos API): fault rules, a reset of all state, request
-- statistics. JSON in and out, no authentication, loopback peers only (anyone else gets 403 and
-- nothing changes), and nothing a web page of another site could send (admin.cross_site: a
-- loopback Host, no foreign Origin, Content-Type: application/json to change anything).
-- Admin requests are never faulted and never counted in the statistics.
--
--   GET    /_emulator/faults   -> {"seed", "rules": [{...rule..., "matched", "fired"}]}
--   PUT    /_emulator/faults   {"seed"?, "rules"} replaces the rules and reseeds
--   POST   /_emulator/faults   {"rules"} appends rules
--   DELETE /_emulator/faults   removes every rule and reseeds
--   POST   /_emulator/reset    clears every store, issued tokens, rules, counters; start seed
--   GET    /_emulator/stats    -> {"requests", "by_route": {"POST /data/.../connections": n},
--                                  "faults_fired", "throttled", "early"}
--   GET    /_emulator/ratelimit -> {"enabled", "rate", "burst", "per", "retry_after",
--                                   "throttled", "early"} (ratelimit.lua)
--   PUT    /_emulator/ratelimit {"rate", "burst"?, "per"?, "retry_after"?} sets the limit at
--                               run time (buckets keep their tokens)
--   DELETE /_emulator/ratelimit  no limit
-- Every faults route answers with the rule set as GET shows it; a bad body gets 400 with a
-- message naming the rule and the field.
local faults = require "flowservice.emulator.faults"
local http = require "flowservice.emulator.http"
local ratelimit = require "flowservice.emulator.ratelimit"
local util = require "flowservice.emulator.util"

local admin = {}

local PREFIX = "/_emulator"
local BASE = "/data/foundation/flowservice"
local IMS_PATH = "/ims/token/v3"
local MAX_ROUTE_KEYS = 1000                  -- beyond this, odd paths share one key
local OTHER = "(other)"

---------------------------------------------------------------------------------------------------
-- Peers, paths, statistics
---------------------------------------------------------------------------------------------------

-- Whether a peer address (as getpeername returns it) is a loopback address: 127.0.0.0/8, ::1,
-- or an IPv4-mapped 127.x address.
function admin.is_loopback(address)
  if type(address) ~= "string" then return false end
  address = address:lower()
  if address == "::1" then return true end
  local v4 = address:match("^::ffff:(.+)$") or address
  local a, b, c, d = v4:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, octet in ipairs { a, b, c, d } do
    if tonumber(octet) > 255 then return false end
  end
  return tonumber(a) == 127
end

function admin.is_admin_path(path)
  return path == PREFIX or path:sub(1, #PREFIX + 1) == PREFIX .. "/"
end

-- The statistics key of a request: method and path, with the id segment of Flow Service paths
-- (the one after the collection name) as {id}; paths the emulator does not serve share a key.
function admin.route_key(method, path)
  path = path:gsub("(.)/+$", "%1")
  if path == IMS_PATH or path == BASE then return method .. " " .. path end
  if path:sub(1, #BASE + 1) ~= BASE .. "/" then return method .. " " .. OTHER end
  local parts = {}
  for segment in path:sub(#BASE + 2):gmatch("[^/]+") do
    parts[#parts + 1] = #parts == 1 and "{id}" or util.safe_label(segment, 32)
    if #parts == 3 then break end
  end
  return method .. " " .. BASE .. "/" .. table.concat(parts, "/")
end

local function new_stats()
  return { requests = 0, by_route = {}, routes = 0, faults_fired = 0 }
end

local function count_request(stats, req)
  stats.requests = stats.requests + 1
  local key = admin.route_key(req.method, req.path)
  if stats.by_route[key] == nil then
    if stats.routes >= MAX_ROUTE_KEYS then key = req.method .. " " .. OTHER end
    if stats.by_route[key] == nil then stats.routes = stats.routes + 1 end
  end
  stats.by_route[key] = (stats.by_route[key] or 0) + 1
end

-- Prepares state.faults (from `config`, checked by the caller), state.ratelimit (from
-- `limit`, checked by the caller, or nil) and state.stats.
function admin.init(state, config, limit)
  state.faults = faults.new(config)
  state.start_seed = state.faults.seed
  state.ratelimit = ratelimit.new(limit)
  state.start_ratelimit = limit
  state.stats = new_stats()
end

local function is_flow_service(path)
  return path:sub(1, #BASE + 1) == BASE .. "/" or path == BASE
end

-- The function http.lua calls with each request head: counts the request and returns the fault
-- rule that fires for it, or nil. Admin requests are neither counted nor faulted. The rate limit
-- (the gateway, in front of the service) overrides any other fault but a delay, which still
-- applies before the 429 (ratelimit.rule).
function admin.interceptor(state)
  return function(req)
    if admin.is_admin_path(req.path) then return nil end
    count_request(state.stats, req)
    local rule = state.faults:match(req.method, req.path)
    if rule then state.stats.faults_fired = state.stats.faults_fired + 1 end
    if is_flow_service(req.path) then
      local retry_after = state.ratelimit:take(req)
      if retry_after ~= nil then return ratelimit.rule(retry_after, rule) end
    end
    return rule
  end
end

local function clear(t)
  for k in pairs(t) do t[k] = nil end
end

-- Back to a freshly started emulator: no resources, runs or sandbox ids, no valid token, no
-- fault rule, zeroed statistics, the start seed, the rate limit it started with.
function admin.reset(state)
  clear(state.buckets)
  clear(state.sandbox_ids)
  clear(state.tokens)
  state.faults:replace({}, state.start_seed)
  state.ratelimit:reset(state.start_ratelimit)
  state.stats = new_stats()
  if state.scenario_reset then state.scenario_reset() end      -- the start scenario (scenarios.lua)
end

---------------------------------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------------------------------

local function bad_request(message)
  return http.generic_error(400, "BadRequestError", message)
end

local function describe(state)
  return http.json(200, state.faults:describe())
end

-- The checked body of PUT / POST, or nil and the 400 response.
local function read_config(req, allowed)
  if (req.body or "") == "" then return nil, bad_request("the body must be a JSON object") end
  local config, err = faults.decode_config(req.body, allowed)
  if not config then return nil, bad_request(err) end
  if not config.rules then return nil, bad_request("field 'rules' is required") end
  return config
end

local function replace_faults(state, req)
  local config, bad = read_config(req, { seed = true, rules = true })
  if not config then return bad end
  state.faults:replace(config.rules, config.seed)
  return describe(state)
end

local function append_faults(state, req)
  local config, bad = read_config(req, { rules = true })
  if not config then return bad end
  state.faults:append(config.rules)
  return describe(state)
end

local function clear_faults(state)
  state.faults:clear()
  return describe(state)
end

local function reset(state)
  admin.reset(state)
  return http.json(200, { reset = true })
end

local function stats(state)
  local s = state.stats
  return http.json(200, {
    requests = s.requests, by_route = util.object(s.by_route),
    faults_fired = s.faults_fired, throttled = state.ratelimit.throttled,
    early = state.ratelimit.early,
  })
end

local function describe_limit(state)
  return http.json(200, state.ratelimit:describe())
end

local function set_limit(state, req)
  if (req.body or "") == "" then return bad_request("the body must be a JSON object") end
  local config, err = ratelimit.decode_config(req.body)
  if not config then return bad_request(err) end
  state.ratelimit:configure(config)
  return describe_limit(state)
end

local function clear_limit(state)
  state.ratelimit:configure(nil)
  return describe_limit(state)
end

-- Whether a Host header or an Origin's host[:port] names this machine's loopback.
local function loopback_authority(authority)
  local host = authority:match("^%[([^%]]+)%]:?%d*$") or authority:match("^([^:]*):?%d*$")
  if not host then return false end
  host = host:lower()
  return host == "localhost" or admin.is_loopback(host)
end

-- Why a request may come from a web page of another site, or nil. A page in the user's browser
-- can reach a loopback port: a "simple" cross-site POST (text/plain, no preflight) or a DNS
-- rebinding page (its own name resolving to 127.0.0.1) would otherwise inject faults or reset
-- the state. So: the Host must name a loopback address (a rebinding page's Host is its own
-- name), an Origin, when sent, must be a loopback one, and a request that changes anything must
-- say `Content-Type: application/json`, which a browser sends cross-site only after a CORS
-- preflight the emulator never grants (WHATWG Fetch, "CORS-safelisted request-header").
function admin.cross_site(req)
  local headers = req.headers or {}
  if type(headers.host) ~= "string" or not loopback_authority(headers.host) then
    return "a Host header naming a loopback address (127.0.0.1, [::1] or localhost)"
  end
  local origin = headers.origin
  if origin ~= nil then
    local authority = type(origin) == "string" and origin:match("^https?://([^/]+)$")
    if not (authority and loopback_authority(authority)) then return "no Origin of another site" end
  end
  if req.method ~= "GET" and req.method ~= "HEAD" then
    local ctype = type(headers["content-type"]) == "string" and headers["content-type"]:lower() or ""
    if not (ctype == "application/json" or ctype:find("^application/json%s*;")) then
      return "Content-Type: application/json on every request that changes something"
    end
  end
  return nil
end

-- Only loopback peers, and no request a web page of another site could have made, reach the
-- handler.
local function loopback_only(state, handler)
  return function(req)
    if not admin.is_loopback(req.peer) then
      return http.generic_error(403, "ForbiddenError",
        "The emulator's admin endpoints answer loopback peers only.")
    end
    local needed = admin.cross_site(req)
    if needed then
      return http.generic_error(403, "ForbiddenError", "The emulator's admin endpoints need " .. needed .. ".")
    end
    return handler(state, req)
  end
end

-- The guard every admin route goes through (scenarios.lua's routes too): loopback_only(state, handler),
-- handler(state, req).
admin.guard = loopback_only

function admin.register(router, state)
  local function add(method, path, handler)
    router:add(method, "^" .. PREFIX .. path .. "/?$", loopback_only(state, handler))
  end
  add("GET", "/faults", describe)
  add("PUT", "/faults", replace_faults)
  add("POST", "/faults", append_faults)
  add("DELETE", "/faults", clear_faults)
  add("POST", "/reset", reset)
  add("GET", "/stats", stats)
  add("GET", "/ratelimit", describe_limit)
  add("PUT", "/ratelimit", set_limit)
  add("DELETE", "/ratelimit", clear_limit)
end

return admin
