-- Local emulator of Adobe IMS (token endpoint) and the Flow Service API, on one port.
--
--   local emulator = require "flowservice.emulator"
--   local server = assert(emulator.new{ client_id = "id", client_secret = "secret",
--                                       org_id = "ORG@AdobeOrg" })
--   print(server.url)     -- http://127.0.0.1:<port>
--   server:run()          -- or server:step(timeout) from a test loop
--
-- Options (unknown names raise): host ("127.0.0.1"), port (0 = the OS picks), client_id,
-- client_secret, org_id (all three required), token_ttl (seconds, default 86399, as IMS),
-- log (file handle for the access log, default io.stderr), limits / timeouts (tables overriding
-- http.lua's defaults), page_size (default page size of list routes, positive integer, default 20),
-- run_duration (seconds a dataflow run stays in progress, number > 0, default 2),
-- tls ({certificate = path, key = path}, PEM files: serve HTTPS only, TLS 1.2 or later),
-- faults ({seed = n, rules = {...}}: fault injection from the start, see faults.lua; a bad rule
-- raises with a message naming the rule and the field), scenario (failure switches from the
-- start, see scenarios.lua; a bad one raises naming the field), rate_limit ({rate, burst?, per?,
-- retry_after?}: the gateway's throttling from the start, see ratelimit.lua; a bad one raises
-- naming the field). Admin endpoints: admin.lua, scenarios.lua.
local compat = require "flowservice.compat"
local admin = require "flowservice.emulator.admin"
local faults = require "flowservice.emulator.faults"
local flow = require "flowservice.emulator.flow"
local http = require "flowservice.emulator.http"
local ims = require "flowservice.emulator.ims"
local scenarios = require "flowservice.emulator.scenarios"
local ratelimit = require "flowservice.emulator.ratelimit"

local emulator = {}

emulator.DEFAULT_TOKEN_TTL = 86399
emulator.DEFAULT_PAGE_SIZE = 20
emulator.DEFAULT_RUN_DURATION = 2

local OPTIONS = {
  host = "string", port = "number", client_id = "string", client_secret = "string",
  org_id = "string", token_ttl = "number", log = "userdata", limits = "table", timeouts = "table",
  page_size = "number", run_duration = "number", tls = "table", faults = "table", scenario = "table",
  rate_limit = "table",
}

local function check_tls(tls)
  if tls == nil then return end
  for name in pairs(tls) do
    if name ~= "certificate" and name ~= "key" then
      error("option 'tls': unknown field '" .. tostring(name) .. "'", 4)
    end
  end
  for _, name in ipairs { "certificate", "key" } do
    if type(tls[name]) ~= "string" or tls[name] == "" then
      error("option 'tls': field '" .. name .. "' must be a file path", 4)
    end
  end
end

local function check_options(opts)
  if type(opts) ~= "table" then error("emulator.new expects an option table", 3) end
  for name, value in pairs(opts) do
    local expected = OPTIONS[name]
    if not expected then error("unknown option '" .. tostring(name) .. "'", 3) end
    if type(value) ~= expected then
      error(("option '%s' must be a %s"):format(name, expected), 3)
    end
  end
  for _, name in ipairs { "client_id", "client_secret", "org_id" } do
    if not opts[name] or opts[name] == "" then error("option '" .. name .. "' is required", 3) end
  end
  if opts.port and (compat.math_type(opts.port) ~= "integer" or opts.port < 0 or opts.port > 65535) then
    error("option 'port' must be an integer between 0 and 65535", 3)
  end
  if opts.token_ttl and not (compat.math_type(opts.token_ttl) == "integer" and opts.token_ttl > 0) then
    error("option 'token_ttl' must be a positive integer (seconds)", 3)
  end
  if opts.page_size and not (compat.math_type(opts.page_size) == "integer" and opts.page_size > 0) then
    error("option 'page_size' must be a positive integer", 3)
  end
  local d = opts.run_duration
  if d and not (d > 0 and d < math.huge) then
    error("option 'run_duration' must be a number > 0 (seconds)", 3)
  end
  check_tls(opts.tls)
  if opts.faults then
    local ok, err = faults.check_config(opts.faults)
    if not ok then error("option 'faults': " .. err, 3) end
  end
  if opts.scenario then
    local ok, err = scenarios.check_config(opts.scenario)
    if not ok then error("option 'scenario': " .. err, 3) end
  end
  if opts.rate_limit then
    local ok, err = ratelimit.check_config(opts.rate_limit)
    if not ok then error("option 'rate_limit': " .. err, 3) end
  end
end

-- Returns a server with .url, :run(), :step(timeout), :stop(), :close(); or nil and a message
-- when the port cannot be bound or the TLS certificate / key cannot be used.
function emulator.new(opts)
  check_options(opts)
  local state = {
    clients = { [opts.client_id] = { secret = opts.client_secret, org_id = opts.org_id } },
    tokens = {},
    token_ttl = opts.token_ttl or emulator.DEFAULT_TOKEN_TTL,
    page_size = opts.page_size or emulator.DEFAULT_PAGE_SIZE,
    run_duration = opts.run_duration or emulator.DEFAULT_RUN_DURATION,
    buckets = {},                            -- store.lua: org + sandbox -> resources
    sandbox_ids = {},
  }
  local router = http.router()
  admin.init(state, opts.faults, opts.rate_limit and ratelimit.check_config(opts.rate_limit))
  scenarios.init(state, (scenarios.check_config(opts.scenario or {})))
  admin.register(router, state)
  scenarios.register(router, state)
  ims.register(router, state)
  flow.register(router, state)
  return http.server {
    host = opts.host, port = opts.port, router = router, log = opts.log,
    limits = opts.limits, timeouts = opts.timeouts, tls = opts.tls,
    intercept = admin.interceptor(state),
  }
end

return emulator
