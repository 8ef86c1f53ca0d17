--- Base connections: what differs from the shared resource code is how the create body is
-- built from a connection spec (alias, id or the service's spec item) and the auth params,
-- checked against the spec's auth JSON Schema before anything is sent; and test / explore.
-- @module flowservice.connections
local errors = require "flowservice.errors"
local resource = require "flowservice.resource"
local specs = require "flowservice.specs"

local function quoted_names(names)
  return "\"" .. table.concat(names, "\", \"") .. "\""
end

-- The entry to validate against: for an alias or id, the service's own item when the client has
-- read it (client._seen_specs, filled by client.connection_specs), else the built-in catalogue;
-- for a table, that item. Raises on a spec that is neither a string nor a table.
local function resolve_spec(spec, client)
  local kind = type(spec)
  if kind ~= "string" and kind ~= "table" then
    error("connections:create: spec: expected a string or a table, got " .. kind, 4)
  end
  local entry, err = specs.resolve(spec)
  if not entry then return nil, err end
  local seen = kind == "string" and client and client._seen_specs
  if seen and seen[entry.id] then return specs.resolve(seen[entry.id]) end
  return entry
end

-- The auth spec name to use: the caller's, or the spec's only one. Nil and an error otherwise.
local function pick_auth_spec(entry, wanted)
  if wanted then
    if entry.auth[wanted] then return wanted end
    local rule = #entry.auth_specs == 1 and "must be " or "must be one of "
    return nil, errors.validation("auth_spec", rule .. quoted_names(entry.auth_specs) .. " for " .. entry.name)
  end
  if entry.default_auth_spec then return entry.default_auth_spec end
  return nil, errors.validation("auth_spec", "required: " .. entry.name .. " has several auth specs ("
    .. quoted_names(entry.auth_specs) .. ")")
end

-- The body's `auth`, or nil and an error. `false` means "no auth to send".
local function build_auth(entry, input, borrow)
  if entry.unknown then
    -- A spec the client knows nothing about: sent as given; the service validates it.
    if input.auth == nil then return false end
    if not input.auth_spec then
      return nil, errors.validation("auth_spec", "required with auth for a connection spec "
        .. "that is not in the built-in catalogue (e.g. \"Basic Authentication\")")
    end
    return { specName = input.auth_spec, params = resource.copy(input.auth) }
  end
  if #entry.auth_specs == 0 then
    if input.auth ~= nil or input.auth_spec ~= nil then
      return nil, errors.validation(input.auth ~= nil and "auth" or "auth_spec",
        "not allowed: " .. entry.name .. " takes no auth")
    end
    return false
  end
  local name, err = pick_auth_spec(entry, input.auth_spec)
  if not name then return nil, err end
  if input.auth == nil then
    return nil, errors.validation("auth", "required by " .. entry.name .. " (" .. name .. ")")
  end
  local params
  params, err = entry.auth[name].check(input.auth, borrow)
  if not params then return nil, err end
  return { specName = name, params = params }
end

-- `borrow`: the body may hold the caller's auth table itself (create encodes it at once).
local function build_body(input, client, borrow)
  if input.name == nil or input.name == "" then
    return nil, errors.validation("name", "required (a non-empty string)")
  end
  if input.spec == nil then
    return nil, errors.validation("spec", "required (a connection spec id or alias such as "
      .. "oracle-service-cloud)")
  end
  local entry, err = resolve_spec(input.spec, client)
  if not entry then return nil, err end
  if entry.kind == "target" then
    return nil, errors.validation("spec", entry.name .. " is a target connection spec: a base "
      .. "connection needs a source connection spec")
  end
  local auth
  auth, err = build_auth(entry, input, borrow)
  if auth == nil then return nil, err end

  return {
    name = input.name,
    description = input.description,
    auth = auth or nil,
    connectionSpec = { id = entry.id, version = input.spec_version or entry.version or "1.0" },
  }
end

--- The object at `client.connections`: the methods of `flowservice.resource.Resource` and
-- these (`create` and `ensure` take the fields below).
-- @type Connections
local Connections = resource.define {
  kind = "connection",
  path = "/connections",
  create_fields = {
    name = "string", description = "string", spec = "any", spec_version = "string",
    auth = "table", auth_spec = "string",
  },
  build_body = build_body,
}

--- Creates a base connection (`POST /connections`).
--
-- `auth` is checked before sending: against the spec's `authSpec[].spec` JSON Schema when the
-- spec was read from the service (passed as a table, or read earlier by this client through
-- `client.connection_specs`: types, `required`, `enum`, string `format` and `pattern`, unknown
-- params), otherwise against the built-in catalogue (`flowservice.specs`: every required
-- param present, of the right type, not empty, no unknown param). The error names
-- `auth.<param>` and the rule, never the value. The caller's table is not changed.
-- @function Connections:create
-- @tparam table input
-- @tparam string input.name
-- @tparam[opt] string input.description
-- @tparam string|table input.spec a connection spec id, an alias (`oracle-service-cloud`,
--   `salesforce-service-cloud`, `servicenow`, `salesforce`, `zendesk`, `microsoft-dynamics`) or a
--   spec item read with `client.connection_specs:get` or `:find`; an unknown alias is an error,
--   an unknown id is sent as given
-- @tparam[opt] table input.auth the auth params, e.g. `{ host =, username =, password = }` for
--   Oracle Service Cloud
-- @tparam[opt] string input.auth_spec the auth spec name; defaults to the spec's only one
--   (`Basic Authentication` for Oracle Service Cloud)
-- @tparam[opt="1.0"] string input.spec_version the connection spec version
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error (nothing sent) or the service's
--   error
-- @usage
-- local base = assert(client.connections:create { name = "Oracle Service Cloud",
--   spec = "oracle-service-cloud", auth = { host = "example.custhelp.com", username = "api",
--   password = os.getenv("OSC_PASSWORD") } })

-- ---- What only base connections have: test and explore (tabular sources) ---------------------

-- GET /connections/{id}/<sub>?query -> decoded body, or nil, err.
local function get_sub(self, method, id, sub, query)
  resource.check_self(self, method, 1)
  local segment, err = resource.id_segment(self.def, method, id, 3)
  if not segment then return nil, err end
  return self.client:request { method = "GET", path = "/connections/" .. segment .. sub, query = query }
end

--- Asks the service to test the connection's credentials against the source.
-- Returns true or false (the service's verdict), or nil, err when the call itself fails.
-- `GET /connections/{id}/test`.
-- @tparam string id the base connection's id
-- @treturn[1] boolean the service's verdict
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- print(client.connections:test(base.id))   --> true
function Connections:test(id)
  local body, resp = get_sub(self, "test", id, "/test")
  if not body then return nil, resp end
  if type(body) ~= "table" or type(body.result) ~= "boolean" then
    return nil, errors.unexpected(resp.status, "expected {result: true|false}", resp.request_id)
  end
  return body.result
end

local function table_path(method, path)
  if type(path) ~= "string" then error("connections:" .. method .. ": table: expected a string", 3) end
  if path == "" then return nil, errors.validation("table", "must not be empty") end
  return path
end

--- The tables of a tabular source: a list of { name, path, type, canPreview, canFetchSchema }.
-- `GET /connections/{id}/explore?objectType=root`.
-- @tparam string id the base connection's id
-- @treturn[1] {table,...} `{ type = "table", name, path, canPreview, canFetchSchema }` each
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- for _, t in ipairs(assert(client.connections:tables(base.id))) do print(t.path) end
function Connections:tables(id)
  local body, resp = get_sub(self, "tables", id, "/explore", { objectType = "root" })
  if not body then return nil, resp end
  if type(body) ~= "table" then
    return nil, errors.unexpected(resp.status, "expected a list of tables", resp.request_id)
  end
  return body
end

-- GET explore for one table; `preview` adds rows.
local function explore_table(self, method, id, path, preview)
  local ok, err = table_path(method, path)
  if not ok then return nil, err end
  local body, resp = get_sub(self, method, id, "/explore",
    { objectType = "table", object = path, preview = preview or nil })
  if not body then return nil, resp end
  local columns = type(body) == "table" and type(body.schema) == "table" and body.schema.columns
  if type(columns) ~= "table" then
    return nil, errors.unexpected(resp.status, "expected {schema: {columns: [...]}}", resp.request_id)
  end
  return body, columns
end

--- The columns of one table (its `path` from tables()): a list of { name, type, xdm = {...} }.
-- `GET /connections/{id}/explore?objectType=table&object=<path>`.
-- @tparam string id the base connection's id
-- @tparam string path a table's `path` from `tables`
-- @treturn[1] {table,...} `{ name, type, xdm = { type, format } }` each
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- for _, c in ipairs(assert(client.connections:columns(base.id, "incidents"))) do
--   print(c.name, c.xdm.type)
-- end
function Connections:columns(id, path)
  local body, columns = explore_table(self, "columns", id, path, false)
  if not body then return nil, columns end
  return columns
end

--- A preview of a table: { columns = {...}, rows = { {column = value, ...}, ... } }.
-- `GET /connections/{id}/explore?objectType=table&object=<path>&preview=true`.
-- @tparam string id the base connection's id
-- @tparam string path a table's `path` from `tables`
-- @treturn[1] table `{ columns = { ... }, rows = { { column = value, ... }, ... } }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- local rows = assert(client.connections:preview(base.id, "contacts")).rows
-- print(rows[1].email)
function Connections:preview(id, path)
  local body, columns = explore_table(self, "preview", id, path, true)
  if not body then return nil, columns end
  return { columns = columns, rows = type(body.data) == "table" and body.data or {} }
end

return Connections
