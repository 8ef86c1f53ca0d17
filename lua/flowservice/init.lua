--- flowservice: a Lua client for Adobe Experience Platform's Flow Service API.
--
-- `require "flowservice"` gives this table. `flowservice.new` makes a client
-- (`flowservice.client`); each resource kind is a field of the client (`client.connections`,
-- `client.flows`, ...) with the methods of `flowservice.resource` and its own.
--
-- Runtime failures return `nil, err` with `err` a `flowservice.errors` error; programmer errors
-- (unknown option names, wrong Lua types, `.` instead of `:`) raise at the caller's line.
-- @module flowservice
-- @usage
-- local flowservice = require "flowservice"
-- local client = assert(flowservice.new { client_id = os.getenv("AEP_CLIENT_ID"),
--   client_secret = os.getenv("AEP_CLIENT_SECRET"), org_id = os.getenv("AEP_ORG_ID") })
-- for flow in client.flows:list { property = "state==enabled" } do print(flow.id, flow.name) end
-- client:close()
local VERSION = "0.1.0"

-- Without the C core built for this Lua, say so in one line rather than list the files searched.
local missing = require "flowservice.missing"
missing.require "flowservice.core"
local client = missing.require "flowservice.client"
local errors = require "flowservice.errors"

--- Creates a client. Nothing is sent until the first call.
--
-- Every option it does not give is read from the environment variable named beside it, then
-- from the default. An unknown option name or a wrong Lua type raises; a missing or invalid value
-- returns `nil` and a `validation` error naming the option (and its environment variable).
-- @function new
-- @tparam[opt] table options
-- @tparam[opt] string options.client_id OAuth Server-to-Server client id, also the `x-api-key`
--   (`AEP_CLIENT_ID`)
-- @tparam[opt] string options.client_secret its client secret; not needed with `access_token`
--   (`AEP_CLIENT_SECRET`)
-- @tparam[opt] string options.org_id IMS organization, `...@AdobeOrg` (`AEP_ORG_ID`)
-- @tparam[opt="prod"] string options.sandbox sandbox name, all lowercase (`AEP_SANDBOX`)
-- @tparam[opt] string options.scopes IMS scopes, comma-separated (`AEP_SCOPES`; default
--   `openid,session,AdobeID,read_organizations,additional_info.projectedProductContext`)
-- @tparam[opt] string options.access_token use this token instead of asking IMS; never refreshed
--   (`AEP_ACCESS_TOKEN`)
-- @tparam[opt] string options.api_key the `x-api-key` header when it differs from `client_id`
--   (`AEP_API_KEY`)
-- @tparam[opt="https://platform.adobe.io"] string options.base_url Platform host (`AEP_BASE_URL`);
--   `https://`, or `http://` to a loopback address only (the emulator)
-- @tparam[opt="https://ims-na1.adobelogin.com"] string options.ims_url IMS host (`AEP_IMS_URL`),
--   same rule
-- @tparam[opt=60] number options.timeout seconds for a whole request
-- @tparam[opt=10] number options.connect_timeout seconds to connect
-- @tparam[opt=33554432] number options.max_response_size bytes; a larger response body is an error
-- @tparam[opt] string options.user_agent the `User-Agent` header (default `flowservice/VERSION`)
-- @tparam[opt=1] number options.low_speed_limit bytes/s; with `low_speed_time`, a transfer slower
--   than this for that long is cut off
-- @tparam[opt=30] number options.low_speed_time seconds
-- @tparam[opt] string options.ca_file PEM file of the CAs to trust instead of the system store
-- @tparam[opt] string options.ca_path directory of CA certificates (hashed with `openssl rehash`)
-- @tparam[opt] string options.ca_blob PEM text of the CAs to trust
-- @tparam[opt=""] string options.proxy `http://` or `https://` proxy URL; by default none, and
--   `http_proxy`, `https_proxy`, `all_proxy` are ignored
-- @tparam[opt] table|false options.retry the retry policy (`attempts`, `base`, `throttle_base`,
--   `cap`, `retry_after_max`, `deadline`, `budget`, `sleep`, `random`); `false` for one attempt
-- @tparam[opt] function options.trace `function(event)` called after every request with a trace
--   whose secrets are redacted, and on each change of the limiter's rate (`event.kind` is
--   `"limiter"`)
-- @param[opt] options.limiter adaptive rate limiting of Flow Service requests, on by default:
--   `false` turns it off, a table tunes the client's own (`beta`, `scale`, `min_rate`, `burst`,
--   `max_window`, `throttled_attempts`: `flowservice.limiter`), a limiter from
--   `flowservice.limiter.new` is shared with the other clients of the same organization given it
-- @tparam[opt=false] boolean options.trace_api_key `true` shows `x-api-key` in traces
-- @tparam[opt=true] boolean|table options.env `false` ignores the environment; a table is read
--   instead of it
-- @tparam[opt=65] number options.in_flight_limit seconds after which a request the client gave
--   up on can no longer be carried out by the service (Adobe's gateway cuts requests at 60 s);
--   `ensure` waits this long after an ambiguous create before creating again
-- @treturn[1] flowservice.client.Client the client
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error
-- @usage
-- local client, err = flowservice.new { sandbox = "dev" }  -- the rest from AEP_* variables
-- if not client then error(tostring(err)) end

--- Turns core dumps off for the whole process, before it reads any secret: `RLIMIT_CORE` 0
-- (soft and hard, so it cannot be turned back on) and, on Linux, `PR_SET_DUMPABLE` 0 (no core
-- file whatever the limit, no ptrace or `/proc/<pid>/mem` access by other processes of the same
-- user). A crash then leaves no file holding the client secret, the token or a password. Opt-in
-- for the library (it changes the host process); the command line always does it.
-- @function harden_process
-- @treturn table `{ core_dumps_off = true, not_dumpable = true }`, as the system reports it
--   afterwards (`not_dumpable` is false where there is no `prctl`)
-- @usage
-- local state = flowservice.harden_process()
-- print(state.core_dumps_off)   --> true

--- The module table.
-- @field _VERSION `"flowservice 0.1.0"`
-- @field VERSION the library's version, `"0.1.0"` (the C core's `core.version` is the same)
-- @field new `new`, which makes a client
-- @field harden_process `harden_process`, which turns core dumps off
-- @field errors the error type: `flowservice.errors`
-- @field json JSON as the client sends and reads it: `flowservice.json`
-- @field specs the built-in connection spec catalogue: `flowservice.specs`
-- @field limiter adaptive client-side rate limiting: `flowservice.limiter`
-- @field assert `assert`, which raises a failure's text on every Lua
-- @table flowservice
local flowservice = {
  _VERSION = "flowservice " .. VERSION,
  VERSION = VERSION,
  new = client.new,
  harden_process = require("flowservice.core").harden_process,
  errors = errors,
  json = require "flowservice.json",
  specs = require "flowservice.specs",
  limiter = require "flowservice.limiter",
}

--- Like Lua's `assert`, but raises the error's text: `flowservice.assert(client.flows:get(id))`.
-- On PUC Lua 5.1, `assert(nil, err)` with `err` one of this library's error tables raises
-- "bad argument #2 to 'assert' (string expected, got table)" and hides the failure; Lua 5.2 and
-- later and LuaJIT show it. This one raises `tostring(err)` (with the caller's line) everywhere.
-- @function assert
-- @param value the first result of a call
-- @param[opt] err its error (`flowservice.errors` error or string)
-- @param[opt] ... further results, returned with `value`
-- @return `value, err, ...` when `value` is neither `nil` nor `false`
-- @raise the text of `err` ("assertion failed!" without one)
-- @usage
-- local conn = flowservice.assert(client.connections:get(id))
function flowservice.assert(value, err, ...)
  if value then return value, err, ... end
  if err == nil then err = "assertion failed!" end
  error(errors.is(err) and tostring(err) or err, 2)
end

return flowservice
