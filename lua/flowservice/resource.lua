--- What every Flow Service resource kind has in common, written once: create, get, list (an
-- iterator over every page), all, count, find, update (JSON Patch with If-Match) and delete.
-- A resource file only says what differs: its path, how a create body is built, extra list
-- options, and methods of its own.
--
-- Every resource kind is a field of the client and has the methods of `Resource`:
--
-- * `client.connections`, `/connections`: `flowservice.connections`
-- * `client.connection_specs`, `/connectionSpecs`: read-only, `flowservice.connection_specs`
-- * `client.source_connections`, `/sourceConnections`: `flowservice.source_connections`
-- * `client.target_connections`, `/targetConnections`: `flowservice.target_connections`
-- * `client.flow_specs`, `/flowSpecs`: read-only, `flowservice.flow_specs`
-- * `client.flows`, `/flows`: `flowservice.flows`
-- * `client.runs`, `/runs`: read-only, `flowservice.runs`
--
-- Read-only kinds have no `create`, `ensure`, `update` or `delete` (calling one raises). Ids
-- are percent-encoded as one path segment; an empty id, `.` or `..` is a `validation` error.
-- @module flowservice.resource
local check = require "flowservice.check"
local batch = require "flowservice.batch"
local compat = require "flowservice.compat"
local errors = require "flowservice.errors"
local filter = require "flowservice.filter"
local json = require "flowservice.json"
local url = require "flowservice.url"

local resource = {}

--- The methods every resource kind shares, called on a client field: `client.flows:get(id)`.
-- Runtime failures return `nil, err` (`flowservice.errors`); calling with `.` instead of `:`,
-- on a closed client or with wrong Lua types raises.
-- @type Resource
local Resource = {}

-- def = {
--   kind = "connection",                 -- singular, for messages
--   path = "/connections",               -- relative to the Flow Service base
--   read_only = true,                    -- specs and runs: no create/update/delete
--   creatable = true,                    -- with read_only: the kind's own create (runs) is allowed
--   create_fields = { name = "string", ... },   -- whitelist of create's table (name -> Lua type)
--   build_body = function(input, client, borrow) -> body | nil, err  -- borrow: see create
--   list_shortcuts = { flow_id = "flowId" },    -- list options that become field == value filters
--   on_item = function(client, item)             -- sees every item read (e.g. to cache specs)
-- }
function resource.define(def)
  local name = "flowservice." .. def.kind .. "s"
  -- create_what: create's name in messages, made once (create runs in loops)
  local class = { def = def, __name = name, create_what = def.kind .. "s:create" }
  class.__index = class
  setmetatable(class, { __index = Resource })
  function class.new(client)
    return setmetatable({ client = client }, class)
  end
  function class.__tostring()
    return name
  end
  return class
end

-- A shallow copy: body builders copy the caller's tables into the body, never change them.
function resource.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Every public resource method starts here: catches `client.connections.create{...}` (a dot
-- instead of a colon), a closed client, and create/update/delete on a read-only kind, raising
-- at the caller of the public method. `depth`: frames between that method and this call (0 when
-- the method calls it directly).
local function check_self(self, method, depth)
  local level = 3 + (depth or 0)
  if type(self) ~= "table" or rawget(self, "client") == nil then
    error("call it as a method: resources:" .. method .. "(...)", level)
  end
  self.client:_check_open(level)
  if self.def.read_only and ((method == "create" and not self.def.creatable) or method == "ensure"
      or method == "update" or method == "delete") then
    error(self.def.kind .. "s are read-only: there is no " .. method, level)
  end
  return self.def
end
resource.check_self = check_self

-- The id as one encoded path segment; a non-string raises, an empty or dot id is refused.
local function id_segment(def, method, id, level)
  if type(id) ~= "string" then
    error(def.kind .. "s:" .. method .. ": id: expected a string, got " .. type(id), level + 1)
  end
  local segment, rule = url.segment(id)
  if not segment then return nil, errors.validation("id", rule) end
  return segment
end
resource.id_segment = id_segment

local function seen(self, item)
  if self.def.on_item then self.def.on_item(self.client, item) end
  return item
end

-- {id, etag} from a create, update or action response (status and request id for the error).
-- A create answered 2xx was carried out even when its answer cannot be read: ambiguous (look
-- before creating again), as for every create whose answer was lost.
local function ids(body, status, request_id, what)
  if type(body) ~= "table" or type(body.id) ~= "string" or type(body.etag) ~= "string" then
    return nil, errors.unexpected(status, "expected {id, etag} in the " .. what .. " response", request_id,
      what == "create")
  end
  return { id = body.id, etag = body.etag }
end

-- The same from client:request's results.
local function id_and_etag(body, resp, what)
  return ids(body, resp.status, resp.request_id, what)
end
resource.id_and_etag = id_and_etag

--- Creates a resource. Returns { id = ..., etag = ... } or nil, err.
-- The fields of `input` depend on the kind: `flowservice.connections.Connections:create`,
-- `flowservice.source_connections.SourceConnections:create`,
-- `flowservice.target_connections.TargetConnections:create`, `flowservice.flows.Flows:create`.
-- An unknown field raises; a missing or invalid value is a `validation` error and nothing is
-- sent. The caller's table is not changed.
-- @tparam table input the new resource's fields
-- @treturn[1] table `{ id = "...", etag = "\"...\"" }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- local target = assert(client.target_connections:create { name = "OSC incidents",
--   dataset_id = dataset_id, schema_id = schema_id })
-- print(target.id, target.etag)
function Resource:create(input)
  local def = check_self(self, "create")
  local what = self.create_what
  check.table(input, what, 3)
  check.options(input, def.create_fields, what, 3)
  -- borrow: the body may hold the caller's tables (not copied), as it is encoded before
  -- anything can yield or change them
  local body, err = def.build_body(input, self.client, true)
  if not body then return nil, err end
  -- arguments of our own: client:request's argument checks are skipped
  local created, status, headers = self.client:_request("POST", def.path, body)
  if not created then return nil, status end
  return ids(created, status, headers["x-request-id"], "create")
end

-- The members of a create body that identify "the same resource" for ensure, besides its name:
-- its connection spec or flow spec.
local IDENTITY = { "connectionSpec", "flowSpec" }

-- Filters {name == body.name, connectionSpec.id == ...} for the body's identity.
local function identity_filters(body)
  local property = { { "name", "==", body.name } }
  for _, member in ipairs(IDENTITY) do
    local ref = body[member]
    if type(ref) == "table" and type(ref.id) == "string" then
      property[#property + 1] = { member .. ".id", "==", ref.id }
    end
  end
  return property
end

-- The one resource matching the filters: item, or false when there is none, or nil, err (a
-- failed list, or several matches: ensure cannot tell which one is meant).
local function find_one(self, property, name)
  local found
  for item, err in self:list { property = property } do
    if not item then return nil, err end
    if item.name == name then
      if found then
        return nil, errors.new { kind = "conflict", field = "name", message = "several " .. self.def.kind
          .. "s are named '" .. name .. "' (ids " .. found.id .. ", " .. tostring(item.id) .. ")" }
      end
      found = item
    end
  end
  return found or false
end

-- For the command line's `ensure --dry-run` (cli/resources.lua): the filters ensure looks with.
resource._identity_filters = identity_filters

local ensure_rounds -- the look-then-create rounds of one ensure call (below Resource:ensure)

-- Rounds of look-then-create ensure makes when creates keep failing ambiguously.
local ENSURE_ROUNDS = 3
-- Waits between looks after an ambiguous create: doubling from LOOK_BASE up to LOOK_CAP seconds.
local LOOK_BASE, LOOK_CAP = 0.1, 8

-- After a create that failed ambiguously at `failed_at` (client.clock): looks for the resource
-- until that create can no longer be carried out (the client's in_flight_limit later), waiting
-- between looks with backoff, and once more after that. A create still in flight at the service
-- when the client gave up would otherwise land after a look that missed it, and the next create
-- would make a duplicate. Returns the item, false (not there once the window closed), or nil, err.
local function look_until_settled(self, property, name, failed_at)
  local clock = require("flowservice.client").clock -- read each time: specs replace it
  local settled_at = failed_at + self.client:_in_flight_limit()
  local wait = LOOK_BASE
  while true do
    local found, err = find_one(self, property, name)
    if found ~= false then return found, err end
    local left = settled_at - clock()
    if left <= 0 then return false end
    self.client:_sleep(math.min(wait, left))
    wait = math.min(wait * 2, LOOK_CAP)
  end
end

--- Finds the resource with input.name (and the same connection or flow spec) or creates it.
-- After a create whose outcome is unknown (err.ambiguous: it may have reached the service), it
-- looks again before creating, so running the same script twice creates nothing the second time.
-- Returns { id, etag, created = true|false, recovered = true when found after an ambiguous
-- create, item = the item found (not after a plain create) } or nil, err.
-- @tparam table input the fields `create` takes; `name` is required
-- @treturn[1] table `{ id, etag, created, recovered, item }`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error kind `conflict` when several resources have that name
-- @usage
-- local conn = assert(client.connections:ensure { name = "Oracle Service Cloud",
--   spec = "oracle-service-cloud", auth = { host = host, username = user, password = password } })
-- print(conn.id, conn.created)
function Resource:ensure(input)
  local def = check_self(self, "ensure")
  local what = def.kind .. "s:ensure"
  check.table(input, what, 3)
  check.options(input, def.create_fields, what, 3)
  local body, err = def.build_body(input, self.client)
  if not body then return nil, err end
  if type(body.name) ~= "string" or body.name == "" then
    return nil, errors.validation("name", "required: ensure finds the " .. def.kind .. " by its name")
  end
  local property = identity_filters(body)
  -- Calls of one batch ensuring the same resource take turns: each looks only once the one
  -- before it is done, so they find its create instead of all creating (a silent duplicate).
  local key = { "ensure", def.path }
  for _, f in ipairs(property) do key[#key + 1] = f[1] .. "==" .. f[3] end
  key = table.concat(key, "\0")
  while true do
    local led = false
    local results = compat.pack(batch.single_flight(key, function()
      led = true
      return ensure_rounds(self, def, body, property)
    end))
    if led then return compat.unpack(results, 1, results.n) end
  end
end

ensure_rounds = function(self, def, body, property)
  local err
  local clock = require("flowservice.client").clock
  local last_err, failed_at
  for _ = 1, ENSURE_ROUNDS do
    local found
    if last_err then
      found, err = look_until_settled(self, property, body.name, failed_at)
    else
      found, err = find_one(self, property, body.name)
    end
    if found == nil then
      -- after an ambiguous create the resource may exist whatever the look said
      if last_err and errors.is(err) then err.ambiguous = true end
      return nil, err
    end
    if found then
      -- Found after an ambiguous create: that create reached the service after all.
      local recovered = last_err ~= nil
      return { id = found.id, etag = found.etag, created = recovered, recovered = recovered, item = found }
    end
    local created, resp = self.client:request { method = "POST", path = def.path, body = body }
    if created then
      local result
      result, err = id_and_etag(created, resp, "create")
      if result then result.created = true end
      return result, err
    end
    if last_err and errors.is(resp) and not resp.ambiguous then
      resp.ambiguous = true -- a definite refusal after an earlier ambiguous create: that one may have worked
      return nil, resp
    end
    if not (errors.is(resp) and resp.ambiguous) then return nil, resp end
    last_err, failed_at = resp, clock() -- it may exist now, or soon: look again before creating
  end
  return nil, last_err
end

--- Reads one resource by id; unwraps Flow Service's {"items": [ ... ]} envelope.
-- The item has `id`, `name`, `etag`, `createdAt`/`updatedAt` (epoch milliseconds, Lua
-- integers), ...; a base connection's secret params come back masked by the service.
-- @tparam string id
-- @treturn[1] table the item
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error e.g. `status = 404`, `code = "FLOW-1439-404"`
-- @usage
-- local flow = assert(client.flows:get(flow_id))
-- print(flow.name, flow.state)
function Resource:get(id)
  local def = check_self(self, "get")
  local segment, err = id_segment(def, "get", id, 2)
  if not segment then return nil, err end
  local body, resp = self.client:request { method = "GET", path = def.path .. "/" .. segment }
  if not body then return nil, resp end
  local item = type(body) == "table" and type(body.items) == "table" and body.items[1]
  if type(item) ~= "table" then
    return nil, errors.unexpected(resp.status, "expected {items: [...]} with one item", resp.request_id)
  end
  return seen(self, item)
end

local LIST_OPTIONS = { property = "any", orderby = "string", limit = "number" }

-- The list options as a query table (property filters, orderby, limit) or nil, err.
local function list_query(def, opts, what, level)
  opts = opts == nil and {} or check.table(opts, what .. ": options", level + 2) -- + check.table, this
  local allowed = LIST_OPTIONS
  if def.list_shortcuts then
    allowed = {}
    for k, v in pairs(LIST_OPTIONS) do allowed[k] = v end
    for k in pairs(def.list_shortcuts) do allowed[k] = "any" end
  end
  check.options(opts, allowed, what, level + 2)
  local filters, field, rule = filter.build(opts.property)
  if not filters then return nil, errors.validation(field, rule) end
  for option, path in pairs(def.list_shortcuts or {}) do
    if opts[option] ~= nil then
      local s
      s, rule = filter.build { { path, "==", opts[option] } }
      if not s then return nil, errors.validation(option, rule) end
      filters[#filters + 1] = s[1]
    end
  end
  local query = {}
  if #filters > 0 then query.property = filters end
  if opts.orderby then
    if not opts.orderby:match("^[+-]?[%w_%.]+$") then
      return nil, errors.validation("orderby", "must be a field name, optionally prefixed by + or -")
    end
    query.orderby = opts.orderby
  end
  if opts.limit ~= nil then
    local n = compat.tointeger(opts.limit)
    if not n or n < 1 then return nil, errors.validation("limit", "must be a positive whole number") end
    query.limit = n
  end
  return query
end

-- One page: GET with the query (first page) or the href the service returned (later pages).
-- Returns items, next_href (nil on the last page), or nil, err.
local function fetch_page(self, request)
  local body, resp = self.client:request(request)
  if not body then return nil, resp end
  if type(body) ~= "table" or (body.items ~= nil and type(body.items) ~= "table") then
    return nil, errors.unexpected(resp.status, "expected {items: [...]} in a list", resp.request_id)
  end
  local links = type(body._links) == "table" and body._links or {}
  local next_link = type(links.next) == "table" and links.next.href
  if next_link == "" or type(next_link) ~= "string" then next_link = nil end
  return body.items or {}, next_link
end

-- The query `list(opts)` would send for its first page (property filters, shortcuts such as
-- runs' flow_id, orderby, limit), or nil, err; for the command line's --dry-run, so it shows
-- exactly what the library sends. Raises like list on unknown options.
function Resource:_list_query(opts)
  local def = check_self(self, "list")
  local query, err = list_query(def, opts, def.kind .. "s:list", 2)
  return query, err
end

-- list's work, shared with all: argument errors raise at `level` counted from the caller of the
-- function calling this one (list or all).
local function iterate(self, def, opts, level)
  local query, err = list_query(def, opts, def.kind .. "s:list", level + 1)
  local request = { method = "GET", path = def.path, query = query }
  local items, index, done, seen_links = {}, 0, false, {}
  return function()
    if err then                                -- report the failure once, then end
      local e = err
      err, done = nil, true
      return false, e
    end
    while not done do
      index = index + 1
      if items[index] ~= nil then return seen(self, items[index]) end
      if not request then
        done = true
        break
      end
      local next_href
      items, next_href = fetch_page(self, request)
      index = 0
      if not items then
        done = true
        return false, next_href
      end
      if next_href and seen_links[next_href] then  -- a service bug must not loop forever
        done = true
        return false, errors.unexpected(nil, "the next page link repeats an earlier one")
      end
      if next_href then seen_links[next_href] = true end
      request = next_href and { method = "GET", href = next_href } or nil
    end
    return nil
  end
end

--- Iterates over every item, page after page, following _links.next.href.
-- When a page fails, the loop gets `false, err` once and then ends; a next-page link that
-- repeats an earlier one ends it with an error too.
-- @tparam[opt] table opts
-- @param[opt] opts.property filters (`flowservice.filter`): a string, a `{ field, op, value }`
--   table, a map, or a list of strings and tables
-- @tparam[opt] string opts.orderby a field with an optional `+` or `-`, e.g. `"-createdAt"`
-- @tparam[opt] int opts.limit the page size
-- @tparam[opt] string opts.flow_id `runs:list` only: the runs of that flow (a `flowId==` filter)
-- @treturn function an iterator giving each item, or `false, err` once on a failure
-- @usage
-- for conn, err in client.connections:list { property = { { "name", ">=", "OSC " } },
--     orderby = "-name", limit = 20 } do
--   if not conn then error(tostring(err)) end
--   print(conn.id, conn.name)
-- end
function Resource:list(opts)
  local items = iterate(self, check_self(self, "list"), opts, 2)
  return items -- not a tail call: the argument errors' level counts this frame
end

--- Every item of every page in one table, or nil, err.
-- @tparam[opt] table opts as for `list`
-- @treturn[1] {table,...} the items
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- local runs = assert(client.runs:all { flow_id = flow_id })
-- print(#runs)
function Resource:all(opts)
  local def = check_self(self, "all")
  local out = {}
  for item, err in iterate(self, def, opts, 2) do
    if not item then return nil, err end
    out[#out + 1] = item
  end
  return out
end

--- The number of items matching the filters (the service's count=true), or nil, err.
-- @tparam[opt] table opts `property` (and `orderby`, `flow_id` as for `list`); `limit` raises
-- @treturn[1] int the number of items
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- print(client.flows:count { property = "state==enabled" })
function Resource:count(opts)
  local def = check_self(self, "count")
  local query, err = list_query(def, opts, def.kind .. "s:count", 2)
  if not query then return nil, err end
  if query.limit then error(def.kind .. "s:count: limit: not allowed with count", 2) end
  query.count = true
  local body, resp = self.client:request { method = "GET", path = def.path, query = query }
  if not body then return nil, resp end
  local n = type(body) == "table" and compat.tointeger(body.count)
  if not n then
    return nil, errors.unexpected(resp.status, "expected {count: N}", resp.request_id)
  end
  return n
end

--- The first item whose name is `name` (exact match, found with a property filter), or nil and
-- an error of kind "not_found" when there is none. opts.property adds filters (AND-ed).
-- @tparam string name
-- @tparam[opt] table opts `{ property = filters }`
-- @treturn[1] table the item
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error kind `not_found` when no item has that name
-- @usage
-- local crm = assert(client.flow_specs:find("CRMToAEP"))
-- print(crm.id)   --> 14518937-270c-4525-bdec-c2ba7cce3860
function Resource:find(name, opts)
  local def = check_self(self, "find")
  if type(name) ~= "string" then error(def.kind .. "s:find: name: expected a string", 2) end
  opts = opts == nil and {} or check.table(opts, def.kind .. "s:find: options", 3)
  check.options(opts, { property = "any" }, def.kind .. "s:find", 3)
  local extra, field, rule = filter.build(opts.property)
  if not extra then return nil, errors.validation(field, rule) end
  local property = { { "name", "==", name } }
  for _, f in ipairs(extra) do property[#property + 1] = f end
  for item, err in self:list { property = property } do
    if not item then return nil, err end
    if item.name == name then return item end
  end
  return nil, errors.new { kind = "not_found", field = "name",
    message = "no " .. def.kind .. " named '" .. name .. "'" }
end

local PATCH_OPS = { add = true, replace = true, remove = true }

-- Checks a JSON Patch (list of {op, path, value}) or turns a map {field = value} into "add"
-- operations (add replaces an existing member). Returns the patch as a JSON array, or nil, err.
local function patch_body(patch)
  local ops = json.array()
  if patch[1] == nil and next(patch) ~= nil then
    local names = {}
    for k in pairs(patch) do
      if type(k) ~= "string" or k == "" then
        return nil, errors.validation("patch", "map keys must be field names")
      end
      names[#names + 1] = k
    end
    table.sort(names)
    for i, k in ipairs(names) do
      ops[i] = { op = "add", path = "/" .. k:gsub("~", "~0"):gsub("/", "~1"), value = patch[k] }
    end
    return ops
  end
  if patch[1] == nil then return nil, errors.validation("patch", "must not be empty") end
  for i, op in ipairs(patch) do
    local field = "patch[" .. i .. "]"
    if type(op) ~= "table" then return nil, errors.validation(field, "must be a table {op, path, value}") end
    for k in pairs(op) do
      if k ~= "op" and k ~= "path" and k ~= "value" then
        return nil, errors.validation(field .. "." .. tostring(k), "unknown field (expected op, path, value)")
      end
    end
    if not PATCH_OPS[op.op] then
      return nil, errors.validation(field .. ".op", "must be add, replace or remove")
    end
    if type(op.path) ~= "string" or op.path:sub(1, 1) ~= "/" then
      return nil, errors.validation(field .. ".path", "must be a JSON Pointer such as /name")
    end
    if op.op == "remove" and op.value ~= nil then
      return nil, errors.validation(field .. ".value", "must be absent for remove")
    end
    if op.op ~= "remove" and op.value == nil then
      return nil, errors.validation(field .. ".value", "required for " .. op.op
        .. " (use flowservice.json.null for null)")
    end
    ops[i] = { op = op.op, path = op.path, value = op.value }
  end
  return ops
end

-- The PATCH body update sends for `patch`, for the command line's --dry-run.
resource._patch_body = patch_body

local UPDATE_OPTIONS = { retry_on_conflict = "boolean" }

--- Applies a JSON Patch with If-Match: etag (exactly as received, quotes included).
-- opts.retry_on_conflict: on 412 (stale etag), read the resource again and re-apply once.
-- Returns { id, etag } (the new etag) or nil, err (err.conflict is true for a stale etag).
-- @tparam string id
-- @tparam table patch a list of `{ op = "add"|"replace"|"remove", path = "/name", value = ... }`
--   (`value` required for add and replace, absent for remove; `flowservice.json.null` for null),
--   or a map `{ name = "new" }` that becomes `add` operations
-- @tparam string etag the resource's etag, as create, get or a previous update returned it
-- @tparam[opt] table opts
-- @tparam[opt=false] boolean opts.retry_on_conflict on a stale etag, read the resource again and
--   re-send the same patch once with the fresh etag
-- @treturn[1] table `{ id, etag }` with the new etag
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error `status = 412` and `conflict = true` for a stale etag
-- @usage
-- local renamed = assert(client.connections:update(conn.id,
--   { { op = "replace", path = "/name", value = "OSC production" } }, conn.etag))
-- assert(client.connections:update(conn.id, { description = "x" }, renamed.etag))
function Resource:update(id, patch, etag, opts)
  local def = check_self(self, "update")
  local what = def.kind .. "s:update"
  local segment, err = id_segment(def, "update", id, 2)
  check.table(patch, what .. ": patch", 3)
  if type(etag) ~= "string" then
    error(what .. ": etag: expected a string (the etag from create, get or a previous update)", 2)
  end
  opts = check.options(opts == nil and {} or check.table(opts, what .. ": options", 3),
    UPDATE_OPTIONS, what, 3)
  if not segment then return nil, err end
  local body
  body, err = patch_body(patch)
  if not body then return nil, err end
  if etag == "" then return nil, errors.validation("etag", "must not be empty") end

  local path = def.path .. "/" .. segment
  local result, resp = self.client:request {
    method = "PATCH", path = path, body = body, headers = { ["If-Match"] = etag },
  }
  if not result and opts.retry_on_conflict and errors.is(resp) and resp.conflict then
    local current, get_err = self:get(id)
    if not current then return nil, get_err end
    if type(current.etag) ~= "string" then
      return nil, errors.unexpected(nil, "the re-read " .. def.kind .. " has no etag")
    end
    result, resp = self.client:request {
      method = "PATCH", path = path, body = body, headers = { ["If-Match"] = current.etag },
    }
  end
  if not result then return nil, resp end
  return id_and_etag(result, resp, "update")
end

--- Deletes a resource. Returns true or nil, err.
-- The service refuses to delete a base connection that a flow uses (`FLOW-1418-400`) and a
-- source or target connection of a flow (`FLOW-1447-400`).
-- @tparam string id
-- @treturn[1] boolean `true`
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
-- @usage
-- assert(client.source_connections:delete(source_id))
function Resource:delete(id)
  local def = check_self(self, "delete")
  local segment, err = id_segment(def, "delete", id, 2)
  if not segment then return nil, err end
  local ok, resp = self.client:request { method = "DELETE", path = def.path .. "/" .. segment }
  if not ok then return nil, resp end
  return true
end

return resource
