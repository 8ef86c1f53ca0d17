-- The adobe.io gateway's header checks, run before every Flow Service route.
--
-- Codes and messages are Adobe's, from the Platform troubleshooting guide ("Request header
-- errors"; EN:help/landing/troubleshooting.md): body {"error_code", "message"}.
--   403010 Oauth token is missing.   401013 Oauth token is not valid
--   403000 Api Key is required       403003 Api Key is invalid
--   400003 Missing header            403025 Profile is not valid
-- Emulator choices: the HTTP status is the code's first three digits (the guide gives only the
-- bodies); checks run in the order above; a token is "not valid" when unknown or expired; the
-- API key must equal the client id the token was issued to and the org header the token's org.
local compat = require "flowservice.compat"
local http = require "flowservice.emulator.http"
local ims = require "flowservice.emulator.ims"

local gateway = {}

local function gateway_error(code, message)
  return http.json(compat.tointeger(tonumber(code:sub(1, 3))), { error_code = code, message = message })
end

local function bearer_token(authorization)
  if not authorization then return nil end
  local scheme, token = authorization:match("^(%a+)%s+(%S+)%s*$")
  if scheme and scheme:lower() == "bearer" then return token end
  return nil
end

-- Returns the caller's identity {client_id, org_id}, or nil and the gateway's error response.
function gateway.check(state, req)
  local headers = req.headers
  local token = bearer_token(headers.authorization)
  if not token then return nil, gateway_error("403010", "Oauth token is missing.") end
  local record = ims.lookup(state, token)
  if not record then return nil, gateway_error("401013", "Oauth token is not valid") end
  local api_key = headers["x-api-key"]
  if not api_key or api_key == "" then
    return nil, gateway_error("403000", "Api Key is required")
  end
  if api_key ~= record.client_id then return nil, gateway_error("403003", "Api Key is invalid") end
  local org = headers["x-gw-ims-org-id"]
  if not org or org == "" then return nil, gateway_error("400003", "Missing header") end
  if org ~= record.org_id then return nil, gateway_error("403025", "Profile is not valid") end
  return { client_id = record.client_id, org_id = record.org_id }
end

return gateway
