-- Connection specs (read-only): get by id, list, find by name. Every spec read is remembered on
-- the client (client._seen_specs, id -> item), so that connections:create can check auth params
-- against the service's own authSpec JSON Schema instead of the built-in catalogue.
local resource = require "flowservice.resource"

return resource.define {
  kind = "connection_spec",
  path = "/connectionSpecs",
  read_only = true,
  on_item = function(client, item)
    if type(item) == "table" and type(item.id) == "string" then client._seen_specs[item.id] = item end
  end,
}
