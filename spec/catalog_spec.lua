-- The emulator's catalogue (in-process): connection specs and flow specs in Adobe's shapes,
-- every authSpec compiles and validates, the flow specs say which sources and targets they join.
local catalog = require "flowservice.emulator.catalog"
local schema = require "flowservice.emulator.schema"
local util = require "flowservice.emulator.util"
local jsonschema = require "flowservice.jsonschema"

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local OSC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local SSC = "cb66ab34-8619-49cb-96d1-39b37ede86ea"
local SERVICENOW = "eb13cb25-47ab-407f-ba89-c0125281c563"
local ZENDESK = "0a27232b-2c6e-4396-b8c6-c9fc24e37ba4"
local SALESFORCE = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
local DYNAMICS = "38ad80fe-8b06-4938-94f4-d4ee80266b07"
local DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
local CRM_TO_AEP = "14518937-270c-4525-bdec-c2ba7cce3860"
local CLOUD_STORAGE_TO_AEP = "9753525b-82c7-4dce-8a9b-5ccfce2b9876"

local SOURCES = { OSC, SSC, SERVICENOW, ZENDESK, SALESFORCE, DYNAMICS }

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- A value for every property of an authSpec schema: what a valid request sends.
local function valid_params(spec)
  local params = {}
  for name in pairs(spec.properties) do params[name] = "SENTINEL-catalog-" .. name end
  return params
end

describe("emulator connection specs", function()
  it("lists every documented spec once, in Adobe's shape", function()
    local ids = {}
    for _, spec in ipairs(catalog.list()) do
      assert.matches(UUID, spec.id)
      assert.matches(UUID, spec.providerId)
      assert.equals("1.0", spec.version)
      assert.equals("string", type(spec.name))
      assert.equals("table", type(spec.attributes))
      assert.is_nil(ids[spec.id])
      ids[spec.id] = true
    end
    for _, id in ipairs(SOURCES) do assert.is_true(ids[id], id) end
    assert.is_true(ids[DATA_LAKE])
  end)

  it("has authSpecs that compile, accept a full set of params and refuse a missing or unknown one", function()
    for _, spec in ipairs(catalog.list()) do
      for _, auth in ipairs(spec.authSpec or {}) do
        assert.equals("string", type(auth.name))
        assert.equals("string", type(auth.type))
        local compiled = schema.compile(auth.spec, auth.name)
        local params = valid_params(auth.spec)
        assert.same({}, schema.validate(compiled, params, "auth.params"))
        local first_required = auth.spec.required[1]
        params[first_required] = nil
        assert.matches("required property '" .. first_required .. "'",
          table.concat(schema.validate(compiled, params, "auth.params"), "\n"), 1, true)
        params = valid_params(auth.spec)
        params.notAParam = "x"
        assert.matches("'notAParam' is not allowed",
          table.concat(schema.validate(compiled, params, "auth.params"), "\n"), 1, true)
        -- what find() hands the connection routes is the same schema, compiled
        assert.is_table(catalog.find(spec.id, spec.version).auth[auth.name].schema)
      end
    end
  end)

  it("marks every secret-looking param as a password, so reads mask it", function()
    for _, spec in ipairs(catalog.list()) do
      for _, auth in ipairs(spec.authSpec or {}) do
        local masked = catalog.get(spec.id).auth[auth.name].secrets
        for name in pairs(jsonschema.secrets(auth.spec)) do
          assert.is_true(masked[name], spec.name .. " " .. auth.name .. " " .. name)
        end
      end
    end
    assert.same({ securityToken = true, password = true }, catalog.get(SSC).auth["Basic Authentication"].secrets)
    assert.same({ accessToken = true }, catalog.get(ZENDESK).auth["OAuth2 Refresh Code"].secrets)
  end)

  it("gives Salesforce and Microsoft Dynamics two auth specs each, as Adobe documents", function()
    local salesforce = catalog.get(SALESFORCE).auth
    assert.is_table(salesforce["Basic Authentication"])
    assert.is_table(salesforce["OAuth2 Client Credential"])
    -- apiVersion is optional with basic authentication only
    local basic = valid_params(catalog.get(SALESFORCE).public.authSpec[1].spec)
    basic.apiVersion = nil
    assert.same({}, schema.validate(salesforce["Basic Authentication"].schema, basic))
    local dynamics = catalog.get(DYNAMICS).auth
    assert.is_table(dynamics["Basic Authentication for Dynamics-Online"])
    assert.is_table(dynamics["Service Principal Key Based Authentication"])
  end)

  it("serves the data lake as a target without auth, with dataSetId required", function()
    local lake = catalog.find(DATA_LAKE, "1.0")
    assert.is_nil(lake.public.authSpec)
    assert.same({}, lake.auth)
    assert.is_true(lake.public.attributes.isDestination)
    assert.same({}, schema.validate(lake.target_params, { dataSetId = "5c8c3c555033b814b69f947f" }))
    assert.matches("dataSetId", table.concat(schema.validate(lake.target_params, {}), "\n"), 1, true)
    assert.equals(DATA_LAKE, catalog.DATA_LAKE_ID)
  end)

  it("finds by id and version, gets by id only", function()
    assert.equals(OSC, catalog.find(OSC, "1.0").public.id)
    assert.is_nil(catalog.find(OSC, "2.0"))
    assert.equals(OSC, catalog.get(OSC).public.id)
    assert.is_nil(catalog.get("00000000-0000-4000-8000-000000000000"))
  end)

  it("knows which sources explore serves tables for", function()
    for _, id in ipairs { OSC, SSC, SERVICENOW, SALESFORCE, DYNAMICS } do
      assert.is_true(catalog.is_tabular(id), id)
    end
    assert.is_false(catalog.is_tabular(ZENDESK))
    assert.is_false(catalog.is_tabular(DATA_LAKE))
    assert.is_false(catalog.is_tabular("00000000-0000-4000-8000-000000000000"))
    assert.is_false(catalog.is_tabular(nil))
  end)

  it("encodes as JSON and says in its header where every id comes from", function()
    assert.is_string(util.json_encode { items = catalog.list() })
    local source = assert(io.open("lua/flowservice/emulator/catalog.lua")):read("*a")
    local header = source:match("^(.-)\nlocal ")
    for _, spec in ipairs(catalog.list()) do
      assert.truthy(header:find(spec.id, 1, true), spec.id)
    end
    for _, spec in ipairs(catalog.flow_specs()) do
      assert.truthy(header:find(spec.id, 1, true), spec.id)
    end
  end)
end)

describe("emulator flow specs", function()
  it("lists CRMToAEP and CloudStorageToAEP in Adobe's shape", function()
    local names = {}
    for _, spec in ipairs(catalog.flow_specs()) do
      assert.matches(UUID, spec.id)
      assert.matches(UUID, spec.providerId)
      assert.equals("1.0", spec.version)
      for _, id in ipairs(spec.sourceConnectionSpecIds) do assert.matches(UUID, id) end
      for _, id in ipairs(spec.targetConnectionSpecIds) do assert.matches(UUID, id) end
      assert.equals("PeriodicSchedule", spec.scheduleSpec.name)
      assert.equals("Periodic", spec.scheduleSpec.type)
      assert.same({ "startTime", "frequency" }, spec.scheduleSpec.spec.required)
      assert.same({ "once", "minute", "hour", "day", "week" },
        spec.scheduleSpec.spec.properties.frequency.enum)
      assert.is_true(spec.attributes.isSourceFlow)
      for _, t in ipairs(spec.transformationSpecs) do
        assert.equals("string", type(t.name))
        assert.equals("object", t.spec.type)
      end
      names[spec.name] = spec.id
    end
    assert.same({ CRMToAEP = CRM_TO_AEP, CloudStorageToAEP = CLOUD_STORAGE_TO_AEP }, names)
    assert.is_string(util.json_encode { items = catalog.flow_specs() })
  end)

  it("lets CRMToAEP join OSC and its siblings to the data lake only", function()
    local crm = catalog.flow_spec(CRM_TO_AEP)
    assert.equals("CRMToAEP", crm.name)
    for _, id in ipairs(SOURCES) do
      if id ~= ZENDESK then assert.is_true(contains(crm.sourceConnectionSpecIds, id), id) end
    end
    assert.is_false(contains(crm.sourceConnectionSpecIds, DATA_LAKE))
    assert.same({ DATA_LAKE }, crm.targetConnectionSpecIds)
    assert.same({ "Copy", "Mapping" }, { crm.transformationSpecs[1].name, crm.transformationSpecs[2].name })
    assert.same({ "deltaColumn" }, crm.transformationSpecs[1].spec.required)
  end)

  it("does not let CloudStorageToAEP take OSC", function()
    local storage = catalog.flow_spec(CLOUD_STORAGE_TO_AEP)
    assert.is_false(contains(storage.sourceConnectionSpecIds, OSC))
    assert.same({ DATA_LAKE }, storage.targetConnectionSpecIds)
    assert.is_nil(catalog.flow_spec("00000000-0000-4000-8000-000000000000"))
  end)

  it("spells out the schedule and Copy rules for dataflow checks", function()
    local crm = catalog.flow_rules(CRM_TO_AEP)
    assert.same({ once = true, minute = true, hour = true, day = true, week = true }, crm.frequencies)
    assert.same({ once = true }, crm.interval_forbidden)
    assert.equals(15, crm.min_interval.minute)
    assert.equals(1, crm.min_interval.default)
    assert.is_true(crm.backfill_default)
    assert.is_true(crm.delta_column_required)
    assert.same({ Copy = true, Mapping = true }, crm.transformations)
    local storage = catalog.flow_rules(CLOUD_STORAGE_TO_AEP)
    assert.is_false(storage.delta_column_required)
    assert.same({ Mapping = true }, storage.transformations)
    assert.is_nil(catalog.flow_rules(OSC))
  end)
end)
