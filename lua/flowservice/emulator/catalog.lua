-- Connection specs the emulator knows, in Adobe's connectionSpec shape (GET /connectionSpecs/{id}
-- returns items of this shape). Each authSpec[].spec is a JSON Schema that POST /connections
-- validates auth.params against; properties with format "password" are secrets and are masked
-- when a connection is read back.
--
-- To add a connector, append a table to SPECS below; catalog.lua checks each entry when it loads.
--
-- Facts (see /work/shared/reference/flow-service-api.md §7 and the Sources SDK authSpec page):
--   Oracle Service Cloud: id ba5126ec-c9ac-11eb-b8bc-0242ac130003, version "1.0",
--   auth "Basic Authentication" with host, username, password; providerId is the one Adobe's
--   batch-source specs share. Emulator choices: the spec's `name` and `attributes`, the
--   descriptions, and which params are required (all three, as the OSC tutorial lists them).
local schema = require "flowservice.emulator.schema"

local catalog = {}

local SOURCES_PROVIDER_ID = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
local DRAFT_07 = "http://json-schema.org/draft-07/schema#"

local SPECS = {
  {
    id = "ba5126ec-c9ac-11eb-b8bc-0242ac130003",
    name = "oracle-service-cloud",
    providerId = SOURCES_PROVIDER_ID,
    version = "1.0",
    attributes = { category = "CustomerSuccess", isSource = true },
    authSpec = {
      {
        name = "Basic Authentication",
        type = "BasicAuthentication",
        spec = {
          ["$schema"] = DRAFT_07,
          type = "object",
          description = "Defines auth params required for connecting to Oracle Service Cloud.",
          properties = {
            host = { type = "string", description = "The host URL of the Oracle Service Cloud instance." },
            username = { type = "string", description = "Username of the Oracle Service Cloud account." },
            password = {
              type = "string", format = "password",
              description = "Password of the Oracle Service Cloud account.",
            },
          },
          required = { "host", "username", "password" },
          additionalProperties = false,
        },
      },
    },
  },
}

-- id -> { public = <spec as served>, auth = { [authSpec name] = { schema=, secrets= } } }
local by_id = {}

local function register(spec)
  assert(type(spec.id) == "string" and type(spec.version) == "string", "spec needs id and version")
  assert(not by_id[spec.id], "duplicate connection spec " .. spec.id)
  local auth = {}
  for _, entry in ipairs(spec.authSpec or {}) do
    local compiled = schema.compile(entry.spec, spec.id .. " " .. entry.name)
    auth[entry.name] = { schema = compiled, secrets = schema.secret_properties(compiled) }
  end
  by_id[spec.id] = { public = spec, auth = auth }
end

for _, spec in ipairs(SPECS) do register(spec) end

-- The spec with this id and version, or nil.
function catalog.find(id, version)
  local entry = by_id[id]
  if entry and entry.public.version == version then return entry end
  return nil
end

-- The spec with this id (any version), or nil.
function catalog.get(id)
  return by_id[id]
end

-- Every spec in Adobe's shape, in catalogue order.
function catalog.list()
  local out = {}
  for i, spec in ipairs(SPECS) do out[i] = spec end
  return out
end

return catalog
