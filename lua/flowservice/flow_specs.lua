-- Flow specs (read-only): get by id, list, find by name (e.g. "CRMToAEP").
local resource = require "flowservice.resource"

return resource.define {
  kind = "flow_spec",
  path = "/flowSpecs",
  read_only = true,
}
