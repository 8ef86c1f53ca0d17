--- Flow specs (read-only): get by id, list, find by name (e.g. "CRMToAEP").
--
-- `client.flow_specs` has `get`, `list`, `all`, `count` and `find` of
-- `flowservice.resource.Resource` (no `create`, `ensure`, `update` or `delete`).
-- @module flowservice.flow_specs
-- @usage
-- local crm = assert(client.flow_specs:find("CRMToAEP"))
-- print(crm.id)   --> 14518937-270c-4525-bdec-c2ba7cce3860
local resource = require "flowservice.resource"

return resource.define {
  kind = "flow_spec",
  path = "/flowSpecs",
  read_only = true,
}
