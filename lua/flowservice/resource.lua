-- What every Flow Service resource kind has in common (create, get; later list, update,
-- delete), written once. A resource file only says what differs: its path and how a create
-- body is built from the caller's table.
local check = require "flowservice.check"
local errors = require "flowservice.errors"
local url = require "flowservice.url"

local resource = {}

local Resource = {}

-- def = {
--   kind = "connection",             -- singular, for messages
--   path = "/connections",           -- relative to the Flow Service base
--   create_fields = { name = "string", ... },   -- whitelist of create's table (name -> Lua type)
--   build_body = function(input) -> body | nil, err   -- value errors become validation errors
-- }
function resource.define(def)
  local class = { def = def, __name = "flowservice." .. def.kind .. "s" }
  class.__index = class
  setmetatable(class, { __index = Resource })
  function class.new(client)
    return setmetatable({ client = client }, class)
  end
  function class.__tostring()
    return "flowservice." .. def.kind .. "s"
  end
  return class
end

-- Catches `client.connections.create{...}` (a dot instead of a colon) with a clear message.
local function check_self(self, method)
  if type(self) ~= "table" or getmetatable(self) == nil or rawget(self, "client") == nil then
    error("call it as a method: resources:" .. method .. "(...)", 3)
  end
  self.client:_check_open()
  return self.def
end

--- Creates a resource. Returns { id = ..., etag = ... } or nil, err.
function Resource:create(input)
  local def = check_self(self, "create")
  local what = def.kind .. "s:create"
  check.table(input, what, 3)
  check.options(input, def.create_fields, what, 3)
  local body, err = def.build_body(input)
  if not body then return nil, err end
  local created, resp = self.client:request { method = "POST", path = def.path, body = body }
  if not created then return nil, resp end
  if type(created) ~= "table" or type(created.id) ~= "string" or type(created.etag) ~= "string" then
    return nil, errors.decode(resp.status, "expected {id, etag} in the create response",
      resp.request_id)
  end
  return { id = created.id, etag = created.etag }
end

--- Reads one resource by id; unwraps Flow Service's {"items": [ ... ]} envelope.
function Resource:get(id)
  local def = check_self(self, "get")
  if type(id) ~= "string" then
    error(def.kind .. "s:get: id: expected a string, got " .. type(id), 2)
  end
  local segment, rule = url.segment(id)
  if not segment then return nil, errors.validation("id", rule) end
  local body, resp = self.client:request { method = "GET", path = def.path .. "/" .. segment }
  if not body then return nil, resp end
  local item = type(body) == "table" and type(body.items) == "table" and body.items[1]
  if type(item) ~= "table" then
    return nil, errors.decode(resp.status, "expected {items: [...]} with one item", resp.request_id)
  end
  return item
end

return resource
