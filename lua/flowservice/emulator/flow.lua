-- Flow Service routes under /data/foundation/flowservice: connections, sourceConnections,
-- targetConnections, flows (create / list / get / patch / delete, one implementation with per-kind
-- hooks), runs, connectionSpecs and flowSpecs. State lives in store.lua; list queries in
-- query.lua; PATCH documents in patch.lua; connection kinds' body checks in connections.lua;
-- flows and runs in dataflows.lua; explore in explore.lua; problem bodies in problem.lua.
--
-- Every route first passes the gateway checks (gateway.lua), then the sandbox check, then its own
-- validation. Errors use Flow Service's problem shape:
--   {"type": "https://ns.adobe.com/aep/errors/<FLOW|CONNECTOR>-<code>-<status>", "title", "status",
--    "report": {"detailed-message", "request-id", ...}, "errorMessage", "errorDetails"}
-- with report.request-id equal to the response's x-request-id header.
--
-- Documented routes and shapes (reference §2-§5; EN:help/sources/tutorials/api/update.md,
-- EN:help/dataflows/api/sort-and-filter.md): POST -> 201 {id, etag}; GET one -> {"items": [item]};
-- lists -> {items, count, _links}; PATCH (JSON Patch array, If-Match) -> 200 {id, etag};
-- DELETE -> 204; GET /connections/{id}/test -> {"result": bool}; POST /flows/{id}/action?op=.
-- SPEC (AdobeDocs/experience-platform-apis static/swagger-specs/flow-service.yaml) declares a
-- Location header on the 201 of POST /connections and POST /flows only ("Location of the newly
-- created ... instance"); the emulator sends the new resource's path, /data/foundation/
-- flowservice/<kind>/<id> (an origin-relative reference, RFC 9110 section 10.2.2).
-- Documented codes used (EN:help/sources/errors/flow-service-errors.md, labels.md; titles and
-- messages from the catalogue):
--   FLOW-2105-400 Header is missing        x-sandbox-name absent or empty
--   FLOW-2100-404 Sandbox not found        sandbox name not all-lowercase (sandbox names are
--                                          lowercase, so such a sandbox cannot exist)
--   FLOW-1405-400 empty request body       FLOW-1413-400 unknown connectionSpec id/version
--   FLOW-1414-400 PATCH of /connectionSpec FLOW-1415-400 auth.specName not among the authSpecs
--   FLOW-1416-400 update/delete in a state other than enabled / disabled
--   FLOW-1418-400 deleting a base connection a flow uses (through its source connection)
--   FLOW-1403-400 If-Match missing         FLOW-1404-412 If-Match is not the current etag
--   FLOW-1434-400, 1455-400 (patch.lua); 1401, 1432, 1433, 1443, 1450, 1451, 1453 (query.lua)
--   FLOW-1447-400 deleting a source / target connection a flow uses
--   FLOW-1439-404 Resource not found       unknown id (also from another sandbox); the catalogue
--                                          lists 1439-400, labels.md shows the 404 Adobe sends
-- Sources codes (EN:help/sources/errors/sources-errors.md): CONNECTOR-1307-400 target spec is not
--   the data lake; 1325-400 params.dataSetId empty; 1327-400 data.format not allowed; 1329-400
--   params.tableName empty; 1330-400 no such table. Generic edge error
--   (EN:help/landing/troubleshooting.md): 400 BadRequestError "A valid content-type must be
--   specified" for a POST / PATCH without Content-Type: application/json.
--
-- Emulator choices (not documented by Adobe):
--   FLOW-1100-400 Invalid request, "The request could not be processed. <reason>", for a body that
--     is not valid JSON or not an object, missing/mistyped fields, auth.params failing the
--     authSpec's JSON Schema (each problem names the param and the rule, never the value), a
--     sourceConnection's baseConnectionId that is not a connection of the sandbox or has another
--     connectionSpec, PATCH of a field other than the kind's patchable ones (read-only fields:
--     the common fields, state, baseConnectionId, flowSpec, the flow's connection ids), a flow
--     action op other than enable / disable.
--   FLOW-1101-404 Resource not found for a path under the flowservice base that no route serves
--     (any of GET HEAD POST PUT PATCH DELETE OPTIONS; other methods get the generic 404), after
--     the gateway and sandbox checks. A known path with another method answers 405 with Allow.
--   A well-formed lowercase sandbox name ([a-z0-9][a-z0-9-]*, at most 64 characters) exists when
--     the scenario lists it (scenarios.lua: default prod, dev, stage, test-*; others FLOW-2101-404);
--     its sandboxId is a random UUID fixed until the process ends or POST /_emulator/reset.
--   Secret params (format "password" in the authSpec) read back as the fixed string "****"; the
--     mask never depends on the value. The mask itself is refused as a secret's value (FLOW-1100),
--     so a masked value read back and sent again is never stored.
--   description is returned only when it was given (as in Adobe's GET examples).
--   PATCH applies to the stored document (secrets unmasked), atomically: the result is validated
--     like a create (for flows by dataflows.validate_patch) and stored only when valid.
--   Patchable fields: connections name, description, auth; sourceConnections and
--     targetConnections name, description, data, params; flows name, description, scheduleParams,
--     transformations.
--   DELETE of a base connection is refused (1418) only when a flow uses it; a source connection
--     without a flow does not block it. Deleting a flow deletes its runs.
--   GET /connections/{id}/test answers {"result": true} for any stored connection, but for the
--     magic values of scenarios.lua (which also refuse some creates).
--   Source connections: data.format is one of tabular, delimited, json, parquet; for a tabular
--     spec (catalog.is_tabular) params.tableName must name a table of dataset.lua.
local catalog = require "flowservice.emulator.catalog"
local connections = require "flowservice.emulator.connections"
local dataflows = require "flowservice.emulator.dataflows"
local explore = require "flowservice.emulator.explore"
local gateway = require "flowservice.emulator.gateway"
local http = require "flowservice.emulator.http"
local patch = require "flowservice.emulator.patch"
local query = require "flowservice.emulator.query"
local runs = require "flowservice.emulator.runs"
local scenarios = require "flowservice.emulator.scenarios"
local store = require "flowservice.emulator.store"
local util = require "flowservice.emulator.util"

local flow = {}

local BASE = "/data/foundation/flowservice"
local SANDBOX_NAME = "^[a-z0-9][a-z0-9%-]*$"
local MAX_SANDBOX_NAME = 64


local problem = require "flowservice.emulator.problem"
local render_error, failure, invalid, not_found =
  problem.render, problem.failure, problem.invalid, problem.not_found

---------------------------------------------------------------------------------------------------
-- Guards shared by every route
---------------------------------------------------------------------------------------------------

local function sandbox_problem(req)
  local name = req.headers["x-sandbox-name"]
  if not name or name == "" then
    return problem.response(req, 2105, 400, "The header x-sandbox-name is missing in the request. "
      .. "Please add the header in the request and try again.")
  end
  if #name > MAX_SANDBOX_NAME or not name:find(SANDBOX_NAME) then
    return problem.response(req, 2100, 404, "The sandbox with the name '" .. util.safe_label(name)
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
    denied = scenarios.identity_problem(state, identity)
    if denied then return denied end
    local name = req.headers["x-sandbox-name"]
    local bad_sandbox = sandbox_problem(req) or scenarios.sandbox_problem(state, req, name)
    if bad_sandbox then return bad_sandbox end
    identity.sandbox_name = name
    identity.sandbox_id = sandbox_id(state, identity.org_id, name)
    return handler(state, req, identity)
  end
end

---------------------------------------------------------------------------------------------------
-- Request bodies
---------------------------------------------------------------------------------------------------

local function is_json_content_type(value)
  local media = value and value:match("^%s*([^;%s]+)")
  return media ~= nil and media:lower() == "application/json"
end

local is_object = util.is_object

local is_nonempty_string = util.is_nonempty_string

-- The decoded JSON body; or nil, a response (content type) or nil, nil, err.
local function read_json_body(req)
  if not is_json_content_type(req.headers["content-type"]) then
    return nil, http.generic_error(400, "BadRequestError", "A valid content-type must be specified")
  end
  if req.body:find("^%s*$") then
    return nil, nil, failure(1405, 400, "The request body cannot be null or empty. Please "
      .. "provide a request body and try again.")
  end
  local body, err = util.json_decode(req.body)
  if body == nil then
    return nil, nil, invalid("The request body is not valid JSON: " .. err .. ".")
  end
  return body
end

---------------------------------------------------------------------------------------------------
-- Checks shared by every kind
---------------------------------------------------------------------------------------------------

-- name, description; and for kinds with a connectionSpec its lookup. Returns the spec entry
-- (true for kinds without one) or nil, err.
local function check_envelope(body, kind_def)
  if not is_nonempty_string(body.name) then
    return nil, invalid("The field name is required and must be a non-empty string.")
  end
  local description = body.description
  if description ~= nil and description ~= util.null and type(description) ~= "string" then
    return nil, invalid("The field description must be a string.")
  end
  if not kind_def.has_connection_spec then return true end
  local cs = body.connectionSpec
  if not is_object(cs) or type(cs.id) ~= "string" or type(cs.version) ~= "string" then
    return nil, invalid("The field connectionSpec with string fields id and version is required.")
  end
  local spec = catalog.find(cs.id, cs.version)
  if not spec then
    return nil, failure(1413, 400, "The spec ID provided is invalid. Please provide a valid "
      .. "spec ID and try again.", { connectionSpecId = util.safe_label(cs.id) })
  end
  return spec
end


-- Flows are validated by dataflows.lua (its signature has no connection spec argument).
local function validate_flow(state, ctx, body, _, lookup)
  return dataflows.validate_create(state, ctx, body, lookup)
end

---------------------------------------------------------------------------------------------------
-- Delete checks
---------------------------------------------------------------------------------------------------

local function flows_using(state, ctx, field, id)
  for _, f in ipairs(store.all(state, ctx, "flows")) do
    for _, used in ipairs(type(f[field]) == "table" and f[field] or {}) do
      if used == id then return f end
    end
  end
  return nil
end

local function check_delete_connection(state, ctx, record)
  for _, kind in ipairs { "sourceConnections", "targetConnections" } do
    local field = kind == "sourceConnections" and "sourceConnectionIds" or "targetConnectionIds"
    for _, conn in ipairs(store.all(state, ctx, kind)) do
      if conn.baseConnectionId == record.id and flows_using(state, ctx, field, conn.id) then
        return failure(1418, 400, ("The base connection with the ID %s cannot be deleted because "
          .. "the base connection is being used in one or more flows. Please ensure that "
          .. "corresponding flows are deleted before deleting a base connection."):format(record.id))
      end
    end
  end
  return nil
end

local function flow_blocks_delete(field)
  return function(state, ctx, record)
    if flows_using(state, ctx, field, record.id) then
      return failure(1447, 400, ("Found active flows containing id %s."):format(record.id))
    end
    return nil
  end
end

---------------------------------------------------------------------------------------------------
-- Kinds
---------------------------------------------------------------------------------------------------

local function field_set(extra)
  local set = {}
  for _, name in ipairs(store.COMMON_FIELDS) do set[name] = true end
  for _, name in ipairs(extra) do set[name] = true end
  return set
end

local function set_of(list)
  local set = {}
  for _, name in ipairs(list) do set[name] = true end
  return set
end

local KINDS = {
  connections = {
    has_connection_spec = true, validate = connections.validate_connection, view = connections.connection_view,
    location = true,
    patchable = set_of { "name", "description", "auth" },
    orderable = field_set { "name", "description", "connectionSpec", "state", "auth" },
    check_delete = check_delete_connection,
  },
  sourceConnections = {
    has_connection_spec = true, validate = connections.validate_source, view = store.public,
    patchable = set_of { "name", "description", "data", "params" },
    orderable = field_set { "name", "description", "baseConnectionId", "data", "params",
      "connectionSpec", "state" },
    check_delete = flow_blocks_delete("sourceConnectionIds"),
  },
  targetConnections = {
    has_connection_spec = true, validate = connections.validate_target, view = store.public,
    patchable = set_of { "name", "description", "data", "params" },
    orderable = field_set { "name", "description", "baseConnectionId", "data", "params",
      "connectionSpec", "state" },
    check_delete = flow_blocks_delete("targetConnectionIds"),
  },
  flows = {
    has_connection_spec = false, validate = validate_flow, validate_patch = dataflows.validate_patch,
    location = true,
    view = store.public,
    patchable = set_of { "name", "description", "scheduleParams", "transformations" },
    orderable = field_set { "name", "description", "flowSpec", "state", "sourceConnectionIds",
      "targetConnectionIds", "transformations", "scheduleParams", "inheritedAttributes" },
    check_delete = function() return nil end,
  },
}

local RUN_FIELDS = field_set { "flowId", "flowSpec", "metrics", "activities", "status", "state",
  "providerRefId", "params" }

local function lookup_in(state, ctx)
  return function(kind, id)
    if type(id) ~= "string" or not KINDS[kind] then return nil end
    return store.find(state, ctx, kind, id)
  end
end

---------------------------------------------------------------------------------------------------
-- Generic handlers
---------------------------------------------------------------------------------------------------

local function id_etag(record)
  return http.json(200, { id = record.id, etag = record.etag })
end

local function list_response(state, req, items, kind, orderable)
  local q, err = query.parse(req.query, { page_size = state.page_size, orderable = orderable })
  if not q then return render_error(req, err) end
  return http.json(200, query.apply(items, q, kind))
end

local function create(kind)
  local def = KINDS[kind]
  return function(state, req, ctx)
    local body, response, err = read_json_body(req)
    if not body then return response or render_error(req, err) end
    if not is_object(body) then
      return render_error(req, invalid("The request body must be a JSON object."))
    end
    local spec
    spec, err = check_envelope(body, def)
    if not spec then return render_error(req, err) end
    local fields
    fields, err = def.validate(state, ctx, body, spec, lookup_in(state, ctx))
    if not fields then return render_error(req, err) end
    err = scenarios.create_problem(kind, body)            -- magic values (scenarios.lua)
    if err then return render_error(req, err) end
    local record = store.insert(state, ctx, kind, fields)
    local headers = def.location and { Location = BASE .. "/" .. kind .. "/" .. record.id } or nil
    return http.json(201, { id = record.id, etag = record.etag }, headers)
  end
end

local function get_one(kind)
  local def = KINDS[kind]
  return function(state, req, ctx)
    local record = store.find(state, ctx, kind, req.params[1])
    if not record then return render_error(req, not_found(kind, req.params[1])) end
    return http.json(200, { items = util.array { def.view(record) } })
  end
end

local function list(kind)
  local def = KINDS[kind]
  return function(state, req, ctx)
    local items = {}
    for i, record in ipairs(store.all(state, ctx, kind)) do items[i] = def.view(record) end
    return list_response(state, req, items, kind, def.orderable)
  end
end

local UPDATABLE_STATES = { enabled = true, disabled = true }

local function check_state(record)
  if not UPDATABLE_STATES[record.state] then
    return failure(1416, 400, "Delete or Update can only be applied on connection with enabled, "
      .. "disabled or initializing state.")
  end
  return nil
end

-- If-Match against the record's etag (exact string, quotes included). required: 1403 if absent.
local function check_if_match(req, record, required)
  local given = req.headers["if-match"]
  if given == nil then
    if not required then return nil end
    return failure(1403, 400, "The header 'If-Match' is missing in the request. Please provide "
      .. "the header and try again.")
  end
  if given ~= record.etag then
    return failure(1404, 412, ("The supplied version '%s' does not match the current version on "
      .. "entity '%s'. Please ensure that the supplied version matches the current version on "
      .. "entity and try again."):format(util.safe_label(given, 80), record.etag))
  end
  return nil
end

local function check_patch_paths(ops, def)
  for _, op in ipairs(ops) do
    local top = op.path[1]
    if top == "connectionSpec" and def.has_connection_spec then
      return failure(1414, 400, "The connection spec of a connection cannot be updated.")
    end
    if not def.patchable[top] then
      return invalid(("The field '%s' cannot be changed (read-only or unknown)."):format(
        util.safe_label(top)))
    end
  end
  return nil
end

-- The record after the patch: validated like a create; nil, err when invalid.
local function patched_record(state, ctx, kind, record, ops)
  local def = KINDS[kind]
  local doc = store.public(record)                      -- secrets unmasked: the stored values
  local ok, err = patch.apply(doc, ops)
  if not ok then return nil, err end
  local spec
  spec, err = check_envelope(doc, def)
  if not spec then return nil, err end
  local new = store.copy(record)
  for name in pairs(def.patchable) do new[name] = doc[name] end
  if def.validate_patch then
    ok, err = def.validate_patch(state, ctx, record, new)
    if not ok then return nil, err end
    return new
  end
  local fields
  fields, err = def.validate(state, ctx, doc, spec, lookup_in(state, ctx))
  if not fields then return nil, err end
  for name, value in pairs(fields) do
    if def.patchable[name] or name:sub(1, 1) == "_" then new[name] = value end
  end
  return new
end

local function patch_one(kind)
  local def = KINDS[kind]
  return function(state, req, ctx)
    local record = store.find(state, ctx, kind, req.params[1])
    if not record then return render_error(req, not_found(kind, req.params[1])) end
    local body, response, err = read_json_body(req)
    if not body then return response or render_error(req, err) end
    local ops
    ops, err = patch.parse(body)
    if not ops then return render_error(req, err) end
    err = check_if_match(req, record, true) or check_state(record) or check_patch_paths(ops, def)
    if err then return render_error(req, err) end
    local new
    new, err = patched_record(state, ctx, kind, record, ops)
    if not new then return render_error(req, err) end
    store.touch(store.replace(record, new), ctx)
    return id_etag(record)
  end
end

local function delete_one(kind)
  local def = KINDS[kind]
  return function(state, req, ctx)
    local record = store.find(state, ctx, kind, req.params[1])
    if not record then return render_error(req, not_found(kind, req.params[1])) end
    local err = check_state(record) or def.check_delete(state, ctx, record)
    if err then return render_error(req, err) end
    store.remove(state, ctx, kind, record.id)
    return { status = 204, headers = {}, body = "" }
  end
end

---------------------------------------------------------------------------------------------------
-- Connection test and explore; flow actions; runs
---------------------------------------------------------------------------------------------------

local function test_connection(state, req, ctx)
  local record = store.find(state, ctx, "connections", req.params[1])
  if not record then return render_error(req, not_found("connections", req.params[1])) end
  return http.json(200, { result = scenarios.test_result(record) })
end

-- name -> value from a raw query string ("+" a space; a repeated name or a bad escape -> err).
local function simple_params(raw)
  local pairs_list, err = query.split_params(raw)
  if not pairs_list then return nil, err end
  local params = {}
  for _, p in ipairs(pairs_list) do
    if params[p.name] ~= nil then
      return nil, invalid(("The query parameter %s is given more than once."):format(
        util.safe_label(p.name)))
    end
    params[p.name] = p.value
  end
  return params
end

local function explore_connection(state, req, ctx)
  local record = store.find(state, ctx, "connections", req.params[1])
  if not record then return render_error(req, not_found("connections", req.params[1])) end
  local params, err = simple_params(req.query)
  if not params then return render_error(req, err) end
  local status, value = explore.handle(record, params)
  if not status then return render_error(req, value) end
  return http.json(status, value)
end

local ACTIONS = { enable = true, disable = true }

local function flow_action(state, req, ctx)
  local record = store.find(state, ctx, "flows", req.params[1])
  if not record then return render_error(req, not_found("flows", req.params[1])) end
  local params, err = simple_params(req.query)
  if not params then return render_error(req, err) end
  local op = type(params.op) == "string" and params.op:lower()
  if not ACTIONS[op] then
    return render_error(req, invalid("The query parameter op must be enable or disable."))
  end
  err = check_if_match(req, record, false)
  if err then return render_error(req, err) end
  local ok
  ok, err = dataflows.action(state, ctx, record, op)
  if not ok then return render_error(req, err) end
  store.touch(record, ctx)
  return id_etag(record)
end

local function all_runs(state, ctx)
  return dataflows.runs(state, ctx, store.all(state, ctx, "flows"))
end

local function list_runs(state, req, ctx)
  return list_response(state, req, all_runs(state, ctx), "runs", RUN_FIELDS)
end

-- POST /runs (on-demand ingestion) and POST /runs/{id}/action?op=re-trigger: runs.lua.
local function create_run(state, req, ctx)
  local body, response, err = read_json_body(req)
  if not body then return response or render_error(req, err) end
  return runs.create(state, req, ctx, body)
end

local function run_action(state, req, ctx)
  local params, err = simple_params(req.query)
  if not params then return render_error(req, err) end
  return runs.action(state, req, ctx, req.params[1], params.op)
end

local function get_run(state, req, ctx)
  for _, run in ipairs(all_runs(state, ctx)) do
    if run.id == req.params[1] then return http.json(200, { items = util.array { run } }) end
  end
  return render_error(req, not_found("runs", req.params[1]))
end

---------------------------------------------------------------------------------------------------
-- connectionSpecs and flowSpecs (read-only catalogue)
---------------------------------------------------------------------------------------------------

-- Orderable fields of catalogue items: their top-level keys.
local function top_level_keys(items)
  local set = {}
  for _, item in ipairs(items) do
    for k in pairs(item) do set[k] = true end
  end
  return set
end

local SPEC_SOURCES = {
  connectionSpecs = {
    all = function() return catalog.list() end,
    one = function(id)
      local entry = catalog.get(id)
      return entry and entry.public
    end,
  },
  flowSpecs = {
    all = function() return catalog.flow_specs and catalog.flow_specs() or {} end,
    one = function(id) return catalog.flow_spec and catalog.flow_spec(id) or nil end,
  },
}

local function list_specs(kind)
  return function(state, req)
    local items = SPEC_SOURCES[kind].all()
    return list_response(state, req, items, kind, top_level_keys(items))
  end
end

local function get_spec(kind)
  return function(_, req)
    local spec = SPEC_SOURCES[kind].one(req.params[1])
    if not spec then return render_error(req, not_found(kind, req.params[1])) end
    return http.json(200, { items = util.array { spec } })
  end
end

---------------------------------------------------------------------------------------------------
-- Routing
---------------------------------------------------------------------------------------------------

local ID = "/([^/]+)/?$"

local function flow_routes()
  local routes = http.router()
  for _, kind in ipairs(store.KINDS) do
    routes:add("POST", "^/" .. kind .. "/?$", create(kind))
    routes:add("GET", "^/" .. kind .. "/?$", list(kind))
    routes:add("GET", "^/" .. kind .. ID, get_one(kind))
    routes:add("PATCH", "^/" .. kind .. ID, patch_one(kind))
    routes:add("DELETE", "^/" .. kind .. ID, delete_one(kind))
  end
  routes:add("GET", "^/connections/([^/]+)/test/?$", test_connection)
  routes:add("GET", "^/connections/([^/]+)/explore/?$", explore_connection)
  routes:add("POST", "^/flows/([^/]+)/action/?$", flow_action)
  routes:add("GET", "^/runs/?$", list_runs)
  routes:add("GET", "^/runs" .. ID, get_run)
  routes:add("POST", "^/runs/?$", create_run)
  routes:add("POST", "^/runs/([^/]+)/action/?$", run_action)
  for _, kind in ipairs { "connectionSpecs", "flowSpecs" } do
    routes:add("GET", "^/" .. kind .. "/?$", list_specs(kind))
    routes:add("GET", "^/" .. kind .. ID, get_spec(kind))
  end
  return routes
end

local CATCH_ALL_METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" }

local function unknown_route(_, req)
  return problem.response(req, 1101, 404, "The requested resource is not found. No Flow Service route "
    .. "matches the request path.")
end

-- One handler for every path under the base: dispatches through the Flow routes; a known path
-- with another method gets 405 (before any check, like any route), an unknown path a Flow 404.
local function dispatcher(state, routes)
  local guarded_cache = {}
  local function guard(handler)
    local g = guarded_cache[handler]
    if not g then
      g = guarded(state, handler)
      guarded_cache[handler] = g
    end
    return g
  end
  return function(req)
    local handler, params, allow = routes:match(req.method, req.path:sub(#BASE + 1))
    if handler then
      req.params = params
      return guard(handler)(req)
    end
    if params == 405 then
      return http.generic_error(405, "MethodNotAllowedError",
        "The method is not allowed for this resource.", { Allow = allow })
    end
    return guard(unknown_route)(req)
  end
end

-- state: { clients, tokens, token_ttl, page_size, run_duration, sandbox_ids = {} } (init.lua);
-- store.lua keeps its buckets in state.buckets.
function flow.register(router, state)
  local handle = dispatcher(state, flow_routes())
  for _, method in ipairs(CATCH_ALL_METHODS) do
    router:add(method, "^" .. BASE .. "$", handle)
    router:add(method, "^" .. BASE .. "/", handle)
  end
end

flow.guarded = guarded                       -- for routes added by other modules

return flow
