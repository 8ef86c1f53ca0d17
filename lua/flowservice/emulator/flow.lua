-- Flow Service routes under /data/foundation/flowservice (base connections so far).
--
-- Every route first passes the gateway checks (gateway.lua), then the sandbox check, then its own
-- validation. Errors use Flow Service's problem shape:
--   {"type": "https://ns.adobe.com/aep/errors/FLOW-<code>-<status>", "title", "status",
--    "report": {"detailed-message", "request-id", ...}, "errorMessage", "errorDetails"}
-- with report.request-id equal to the response's x-request-id header.
--
-- Documented codes used (EN:help/sources/errors/flow-service-errors.md, labels.md):
--   FLOW-2105-400 Header is missing        x-sandbox-name absent or empty
--   FLOW-2100-404 Sandbox not found        sandbox name not all-lowercase (sandbox names are
--                                          lowercase, so such a sandbox cannot exist)
--   FLOW-1405-400 Invalid request          empty request body
--   FLOW-1413-400 Invalid request          unknown connectionSpec id/version
--   FLOW-1415-400 Invalid request          auth.specName not among the spec's authSpecs
--   FLOW-1439-404 Resource not found       unknown connection id (also from another sandbox)
-- Generic edge error (EN:help/landing/troubleshooting.md): 400 BadRequestError
--   "A valid content-type must be specified" for a POST without Content-Type: application/json.
--
-- Emulator choices (not documented by Adobe):
--   FLOW-1100-400 Invalid request, "The request could not be processed. <reason>", for a body that
--     is not valid JSON or not an object, missing/mistyped name, description, connectionSpec or
--     auth, and auth.params failing the authSpec's JSON Schema (all problems listed, each naming
--     the param and the rule, never the value). 1100 is the catalogue's generic invalid-request
--     code, whose message wraps a more specific reason.
--   Any well-formed lowercase sandbox name exists ([a-z0-9][a-z0-9-]*, at most 64 characters);
--     its sandboxId is a random UUID fixed for the process lifetime.
--   Secret params (format "password" in the authSpec) read back as the fixed string "****":
--     Adobe says a GET returns only a partial view of the credentials and shows placeholders in
--     its examples; the mask never depends on the value (not even its length).
--   createdBy / updatedBy are "<client id>@techacct.adobe.com"; etags look like Adobe's
--     ("\"xxxxxxxx-0000-0200-0000-<hex seconds>0000\"", quotes included) and version == etag.
--   description is returned only when it was given (as in Adobe's GET examples).
local catalog = require "flowservice.emulator.catalog"
local gateway = require "flowservice.emulator.gateway"
local http = require "flowservice.emulator.http"
local schema = require "flowservice.emulator.schema"
local util = require "flowservice.emulator.util"

local flow = {}

local BASE = "/data/foundation/flowservice"
local SECRET_MASK = "****"
local SANDBOX_NAME = "^[a-z0-9][a-z0-9%-]*$"
local MAX_SANDBOX_NAME = 64

---------------------------------------------------------------------------------------------------
-- Problem responses
---------------------------------------------------------------------------------------------------

local TITLES = {
  [1100] = "Invalid request", [1405] = "Invalid request", [1413] = "Invalid request",
  [1415] = "Invalid request", [1439] = "Resource not found",
  [2100] = "Sandbox not found", [2105] = "Header is missing",
}

-- report_extra: more report fields (Adobe adds e.g. id and type for 1439).
local function problem(req, code, status, detail, report_extra)
  local report = { ["detailed-message"] = detail, ["request-id"] = req.request_id }
  for k, v in pairs(report_extra or {}) do report[k] = v end
  return http.json(status, {
    type = ("https://ns.adobe.com/aep/errors/FLOW-%d-%d"):format(code, status),
    title = TITLES[code],
    status = status,
    report = report,
    errorMessage = detail,
    errorDetails = detail,
  })
end

local function invalid_request(req, reason)
  return problem(req, 1100, 400, "The request could not be processed. " .. reason)
end

---------------------------------------------------------------------------------------------------
-- Guards shared by every route
---------------------------------------------------------------------------------------------------

local function sandbox_problem(req)
  local name = req.headers["x-sandbox-name"]
  if not name or name == "" then
    return problem(req, 2105, 400, "The header x-sandbox-name is missing in the request. "
      .. "Please add the header in the request and try again.")
  end
  if #name > MAX_SANDBOX_NAME or not name:find(SANDBOX_NAME) then
    return problem(req, 2100, 404, "The sandbox with the name '" .. util.safe_label(name)
      .. "' could not be found. Sandbox names are all-lowercase; please ensure that the "
      .. "sandbox name is correct and try again.")
  end
  return nil
end

local function sandbox_id(state, org, name)
  local key = org .. "\0" .. name
  local id = state.sandbox_ids[key]
  if not id then
    id = util.uuid4()
    state.sandbox_ids[key] = id
  end
  return id
end

-- Wraps a route handler: gateway checks, then sandbox check, then handler(state, req, ctx) with
-- ctx = {client_id, org_id, sandbox_name, sandbox_id}.
local function guarded(state, handler)
  return function(req)
    local identity, denied = gateway.check(state, req)
    if not identity then return denied end
    local bad_sandbox = sandbox_problem(req)
    if bad_sandbox then return bad_sandbox end
    local name = req.headers["x-sandbox-name"]
    identity.sandbox_name = name
    identity.sandbox_id = sandbox_id(state, identity.org_id, name)
    return handler(state, req, identity)
  end
end

---------------------------------------------------------------------------------------------------
-- Connection store: per org + sandbox
---------------------------------------------------------------------------------------------------

local function store_key(ctx)
  return ctx.org_id .. "\0" .. ctx.sandbox_name
end

local function store_connection(state, ctx, record)
  local key = store_key(ctx)
  local bucket = state.connections[key]
  if not bucket then
    bucket = {}
    state.connections[key] = bucket
  end
  bucket[record.id] = record
end

local function find_connection(state, ctx, id)
  local bucket = state.connections[store_key(ctx)]
  return bucket and bucket[id]
end

-- An etag in Adobe's style, literal quotes included.
local function new_etag()
  return ('"%s-0000-0200-0000-%08x0000"'):format(util.random_hex(4), os.time())
end

---------------------------------------------------------------------------------------------------
-- POST /connections
---------------------------------------------------------------------------------------------------

local function is_json_content_type(value)
  local media = value and value:match("^%s*([^;%s]+)")
  return media ~= nil and media:lower() == "application/json"
end

local function is_object(v)
  if type(v) ~= "table" then return false end
  for k in pairs(v) do
    if type(k) ~= "string" then return false end
  end
  return true
end

-- Checks the fields around auth; returns the spec entry or nil and an error response.
local function check_envelope(req, body)
  if type(body.name) ~= "string" or body.name == "" then
    return nil, invalid_request(req, "The field name is required and must be a non-empty string.")
  end
  local description = body.description
  if description ~= nil and description ~= util.null and type(description) ~= "string" then
    return nil, invalid_request(req, "The field description must be a string.")
  end
  local cs = body.connectionSpec
  if not is_object(cs) or type(cs.id) ~= "string" or type(cs.version) ~= "string" then
    return nil, invalid_request(req,
      "The field connectionSpec with string fields id and version is required.")
  end
  local spec = catalog.find(cs.id, cs.version)
  if not spec then
    return nil, problem(req, 1413, 400, "The spec ID provided is invalid. Please provide a valid "
      .. "spec ID and try again.", { connectionSpecId = util.safe_label(cs.id) })
  end
  return spec
end

-- Checks auth against the spec; returns the auth entry or nil and an error response.
local function check_auth(req, spec, auth)
  if next(spec.auth) == nil then return {} end     -- a spec without authSpec takes no auth
  if not is_object(auth) or type(auth.specName) ~= "string" then
    return nil, invalid_request(req, "The field auth with a string field specName is required.")
  end
  local entry = spec.auth[auth.specName]
  if not entry then
    return nil, problem(req, 1415, 400, ("The auth spec '%s' could not be found for the "
      .. "connection spec ID %s."):format(util.safe_label(auth.specName), spec.public.id))
  end
  local params = auth.params
  if params == nil then params = {} end
  local errors = schema.validate(entry.schema, params, "auth.params")
  if #errors > 0 then
    return nil, invalid_request(req, "auth.params does not match the auth spec '"
      .. auth.specName .. "': " .. table.concat(errors, "; ") .. ".")
  end
  return entry
end

local function create_connection(state, req, ctx)
  if not is_json_content_type(req.headers["content-type"]) then
    return http.generic_error(400, "BadRequestError", "A valid content-type must be specified")
  end
  if req.body:find("^%s*$") then
    return problem(req, 1405, 400, "The request body cannot be null or empty. Please provide a "
      .. "request body and try again.")
  end
  local body, err = util.json_decode(req.body)
  if body == nil then
    return invalid_request(req, "The request body is not valid JSON: " .. err .. ".")
  end
  if not is_object(body) then
    return invalid_request(req, "The request body must be a JSON object.")
  end
  local spec, problem_response = check_envelope(req, body)
  if not spec then return problem_response end
  local auth_entry, auth_problem = check_auth(req, spec, body.auth)
  if not auth_entry then return auth_problem end

  local now, etag, id = util.now_ms(), new_etag(), util.uuid4()
  local who = ctx.client_id .. "@techacct.adobe.com"
  store_connection(state, ctx, {
    id = id, createdAt = now, updatedAt = now, createdBy = who, updatedBy = who,
    createdClient = ctx.client_id, updatedClient = ctx.client_id,
    sandboxId = ctx.sandbox_id, sandboxName = ctx.sandbox_name, imsOrgId = ctx.org_id,
    name = body.name,
    description = body.description ~= util.null and body.description or nil,
    connectionSpec = { id = spec.public.id, version = spec.public.version },
    state = "enabled",
    auth = body.auth and { specName = body.auth.specName, params = body.auth.params or {} },
    secrets = auth_entry.secrets or {},
    etag = etag,
  })
  return http.json(201, { id = id, etag = etag })
end

---------------------------------------------------------------------------------------------------
-- GET /connections/{id}
---------------------------------------------------------------------------------------------------

local function masked_params(params, secrets)
  local out = util.object()
  for name, value in pairs(params) do
    out[name] = secrets[name] and SECRET_MASK or value
  end
  return out
end

-- The connection as Flow Service returns it (secrets masked; internal fields left out).
local function public_view(record)
  local item = {}
  for _, field in ipairs { "id", "createdAt", "updatedAt", "createdBy", "updatedBy",
      "createdClient", "updatedClient", "sandboxId", "sandboxName", "imsOrgId", "name",
      "description", "connectionSpec", "state" } do
    item[field] = record[field]
  end
  if record.auth then
    item.auth = {
      specName = record.auth.specName,
      params = masked_params(record.auth.params, record.secrets),
    }
  end
  item.version = record.etag
  item.etag = record.etag
  return item
end

local function get_connection(state, req, ctx)
  local id = req.params[1]
  local record = find_connection(state, ctx, id)
  if not record then
    local shown = util.safe_label(id)
    local detail = ("The requested connections resource %s is not found. Verify the resource ID "
      .. "before trying again."):format(shown)
    return problem(req, 1439, 404, detail, { id = shown, type = "connections" })
  end
  return http.json(200, { items = util.array { public_view(record) } })
end

---------------------------------------------------------------------------------------------------

-- state: { clients, tokens, token_ttl, connections = {}, sandbox_ids = {} } (see init.lua).
function flow.register(router, state)
  router:add("POST", "^" .. BASE .. "/connections/?$", guarded(state, create_connection))
  router:add("GET", "^" .. BASE .. "/connections/([^/]+)/?$", guarded(state, get_connection))
end

flow.guarded = guarded                       -- for routes added by later modules
flow.problem = problem

return flow
