-- Adobe IMS OAuth Server-to-Server token endpoint: POST /ims/token/v3.
--
-- Facts (reference §8, IMS-DOC): form-urlencoded body with grant_type=client_credentials,
-- client_id, client_secret, scope (comma-separated); parameters may also come in the query
-- string, though the body is the norm. Success: {"access_token", "token_type": "bearer",
-- "expires_in": <seconds>} (86399 on the real service). Errors use the OAuth shape
-- {"error", "error_description"}.
--
-- Emulator choices (Adobe does not document its token errors in detail): statuses and error codes
-- follow RFC 6749 section 5.2 - invalid_request 400 (missing or repeated parameter, wrong
-- Content-Type), unsupported_grant_type 400, invalid_client 401 (unknown client id or wrong
-- secret). Descriptions name the parameter, never its value. Tokens are opaque random strings
-- (the real ones are JWTs); each remembers its client id, org and expiry.
local http = require "flowservice.emulator.http"
local util = require "flowservice.emulator.util"

local ims = {}

local TOKEN_PATH = "^/ims/token/v3/?$"
local SWEEP_EVERY = 256                      -- issues between sweeps of expired tokens
-- Emulator choice (memory bound, not an IMS fact): at most this many tokens are remembered; a
-- new one makes the emulator forget the oldest, whose next use gets 401 (a client fetches a new
-- token then). Expired tokens are forgotten by the sweep.
local MAX_TOKENS = 4096
ims.MAX_TOKENS = MAX_TOKENS
local REQUIRED = { "client_id", "client_secret", "scope" }

local function oauth_error(status, code, description)
  return http.json(status, { error = code, error_description = description },
    { ["Cache-Control"] = "no-store", Pragma = "no-cache" })
end

local function is_form(content_type)
  local media = content_type and content_type:match("^%s*([^;%s]+)")
  return media ~= nil and media:lower() == "application/x-www-form-urlencoded"
end

-- Parameters from the query string and the form body together; a name given twice (in either
-- place) is an error, as RFC 6749 section 3.2 requires.
local function collect_params(req)
  local params, err = util.parse_form(req.query)
  if not params then return nil, err end
  if req.body ~= "" then
    if not is_form(req.headers["content-type"]) then
      return nil, "Content-Type must be application/x-www-form-urlencoded"
    end
    params, err = util.parse_form(req.body, params)
    if not params then return nil, err end
  end
  return params
end

local function sweep_expired(tokens, now)
  for token, record in pairs(tokens) do
    if record.expires_at <= now then tokens[token] = nil end
  end
end

local function issue_token(state, client_id, client)
  state.issued = (state.issued or 0) + 1
  local now = util.now()
  if state.issued % SWEEP_EVERY == 0 then sweep_expired(state.tokens, now) end
  local token = util.random_hex(32)
  state.tokens[token] = {
    client_id = client_id, org_id = client.org_id, expires_at = now + state.token_ttl,
  }
  -- issue order, oldest first: the queue holds every token not yet forgotten by it (some may
  -- be gone already), so the tokens remembered never exceed MAX_TOKENS
  local queue = state.token_queue or { first = 1, last = 0 }
  state.token_queue = queue
  queue.last = queue.last + 1
  queue[queue.last] = token
  if queue.last - queue.first + 1 > (state.max_tokens or MAX_TOKENS) then
    state.tokens[queue[queue.first]] = nil
    queue[queue.first] = nil
    queue.first = queue.first + 1
  end
  return token
end

local function token_endpoint(state, req)
  local params, err = collect_params(req)
  if not params then return oauth_error(400, "invalid_request", err) end
  if params.grant_type == nil or params.grant_type == "" then
    return oauth_error(400, "invalid_request", "missing grant_type parameter")
  end
  if params.grant_type ~= "client_credentials" then
    return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
  end
  for _, name in ipairs(REQUIRED) do
    if params[name] == nil or params[name] == "" then
      return oauth_error(400, "invalid_request", "missing " .. name .. " parameter")
    end
  end
  local client = state.clients[params.client_id]
  if not client then
    return oauth_error(401, "invalid_client", "invalid client_id parameter")
  end
  if not util.secure_equals(params.client_secret, client.secret) then
    return oauth_error(401, "invalid_client", "invalid client_secret parameter")
  end
  if client.disabled then                    -- a scenario switch (scenarios.lua)
    return oauth_error(400, "unauthorized_client", "the client is not allowed to get tokens")
  end
  return http.json(200, {
    access_token = issue_token(state, params.client_id, client),
    token_type = "bearer",
    expires_in = state.token_ttl,
  }, { ["Cache-Control"] = "no-store", Pragma = "no-cache" })
end

-- The token's record {client_id, org_id, expires_at} if it exists and has not expired.
function ims.lookup(state, token)
  local record = state.tokens[token]
  if not record then return nil end
  if record.expires_at <= util.now() then
    state.tokens[token] = nil
    return nil
  end
  return record
end

function ims.register(router, state)
  router:add("POST", TOKEN_PATH, function(req) return token_endpoint(state, req) end)
end

return ims
