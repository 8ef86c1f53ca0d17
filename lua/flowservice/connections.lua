-- Base connections: what differs from the shared resource code is how the create body is
-- built from a connection spec (alias or id) and the auth params, checked against the
-- catalogue before anything is sent.
local errors = require "flowservice.errors"
local resource = require "flowservice.resource"
local specs = require "flowservice.specs"

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function build_body(input)
  if input.name == nil or input.name == "" then
    return nil, errors.validation("name", "required (a non-empty string)")
  end
  if input.spec == nil then
    return nil, errors.validation("spec", "required (a connection spec id or alias such as "
      .. "oracle-service-cloud)")
  end
  local entry, err = specs.resolve(input.spec)
  if not entry then return nil, err end

  local auth
  if entry.unknown then
    -- A spec the catalogue does not know: sent as given; the service validates it.
    if input.auth then
      if not input.auth_spec then
        return nil, errors.validation("auth_spec", "required with auth for a connection spec "
          .. "that is not in the built-in catalogue (e.g. \"Basic Authentication\")")
      end
      auth = { specName = input.auth_spec, params = copy(input.auth) }
    end
  else
    if input.auth_spec and input.auth_spec ~= entry.auth.spec_name then
      return nil, errors.validation("auth_spec", "must be \"" .. entry.auth.spec_name
        .. "\" for " .. entry.name)
    end
    if input.auth == nil then
      return nil, errors.validation("auth", "required by " .. entry.name .. " ("
        .. entry.auth.spec_name .. ")")
    end
    local params
    params, err = specs.check_auth(entry, input.auth)
    if not params then return nil, err end
    auth = { specName = entry.auth.spec_name, params = params }
  end

  return {
    name = input.name,
    description = input.description,
    auth = auth,
    connectionSpec = { id = entry.id, version = input.spec_version or entry.version or "1.0" },
  }
end

return resource.define {
  kind = "connection",
  path = "/connections",
  create_fields = {
    name = "string", description = "string", spec = "string", spec_version = "string",
    auth = "table", auth_spec = "string",
  },
  build_body = build_body,
}
