--- Connection specs (read-only): get by id, list, find by name. Every spec read is remembered on
-- the client (`client._seen_specs`, id -> item), so that connections:create can check auth params
-- against the service's own authSpec JSON Schema instead of the built-in catalogue.
--
-- `client.connection_specs` has `get`, `list`, `all`, `count` and `find` of
-- `flowservice.resource.Resource` (no `create`, `ensure`, `update` or `delete`).
-- @module flowservice.connection_specs
-- @usage
-- local osc = assert(client.connection_specs:get("ba5126ec-c9ac-11eb-b8bc-0242ac130003"))
-- print(osc.name, osc.authSpec[1].name)   --> Oracle Service Cloud	Basic Authentication
local resource = require "flowservice.resource"

return resource.define {
  kind = "connection_spec",
  path = "/connectionSpecs",
  read_only = true,
  on_item = function(client, item)
    if type(item) == "table" and type(item.id) == "string" then client._seen_specs[item.id] = item end
  end,
}
