-- Connection specs and flow specs the emulator knows, in Adobe's shapes (GET /connectionSpecs and
-- GET /flowSpecs return items of these shapes). Each authSpec[].spec is a JSON Schema that
-- POST /connections validates auth.params against; properties with format "password" are
-- secrets and are masked when a connection is read back. A connection spec without authSpec
-- takes no auth.
--
-- To add a connector, append a table to CONNECTION_SPECS; every entry is checked when this file
-- loads (ids are UUIDs, every authSpec compiles with schema.lua).
--
-- Documented (reference /work/shared/reference/flow-service-api.md §3, §7 and the Adobe pages
-- named there; EN: = AdobeDocs/experience-platform.en, help/sources/tutorials/api/...):
--   Oracle Service Cloud ba5126ec-c9ac-11eb-b8bc-0242ac130003, "Basic Authentication":
--     host, username, password (create/customer-success/oracle-service-cloud.md).
--   Salesforce Service Cloud cb66ab34-8619-49cb-96d1-39b37ede86ea, "Basic Authentication":
--     username, password, securityToken (create/customer-success/salesforce-service-cloud.md;
--     the id as in collect/customer-success.md's appendix: the tutorial drops its first digit).
--   ServiceNow eb13cb25-47ab-407f-ba89-c0125281c563, "Basic Authentication": endpoint, username,
--     password (create/customer-success/servicenow.md: request body and credentials table; its
--     params table says `server`).
--   Zendesk 0a27232b-2c6e-4396-b8c6-c9fc24e37ba4, "OAuth2 Refresh Code": subdomain, accessToken;
--     a REST source explored with objectType=rest (create/customer-success/zendesk.md).
--   Salesforce cfc0fee1-7dc0-40ef-b73e-d8b134c436f5: "Basic Authentication" environmentUrl,
--     username, password, securityToken, apiVersion (optional); "OAuth2 Client Credential"
--     environmentUrl, clientId, clientSecret, apiVersion (mandatory there)
--     (create/crm/salesforce.md, Azure section; the AWS-only "OAuth2 JWT Token Credential" is
--     left out).
--   Microsoft Dynamics 38ad80fe-8b06-4938-94f4-d4ee80266b07: "Basic Authentication for
--     Dynamics-Online" serviceUri, username, password; "Service Principal Key Based
--     Authentication" serviceUri, servicePrincipalId, servicePrincipalKey (create/crm/ms-dynamics.md).
--   Data Lake target c604ff05-7f1a-43c0-8e18-33bf874cb11c, params.dataSetId (collect/crm.md).
--   providerId 0ed90a81-07f4-4586-8190-b40eccef1c5a is the one these flow specs carry.
--   Flow spec CRMToAEP 14518937-270c-4525-bdec-c2ba7cce3860: id, name, providerId, version,
--     attributes, sourceConnectionSpecIds (the list in collect/database-nosql.md, which includes
--     the OSC id; collect/crm.md shows an older list without it), targetConnectionSpecIds (the
--     data lake only), transformationSpecs Copy (deltaColumn {name, dateFormat, timezone}, name
--     required, deltaColumn required) and Mapping (mappingId, mappingVersion), scheduleSpec
--     PeriodicSchedule (JSON Schema: startTime + frequency required, frequency once|minute|hour|
--     day|week, interval forbidden for once, >= 15 for minute, >= 1 otherwise, backfill default
--     true), optionSpec (collect/database-nosql.md, collect/crm.md).
--   Flow spec CloudStorageToAEP 9753525b-82c7-4dce-8a9b-5ccfce2b9876: id, name, providerId,
--     version, attributes, sourceConnectionSpecIds (cloud storage sources, not OSC),
--     targetConnectionSpecIds (data lake), a Mapping transformation (collect/cloud-storage.md).
--   Tabular (explore serves tables): customer-success and CRM sources (explore/tabular.md,
--     explore/customer-success.md); Zendesk is explored as REST (zendesk.md).
--
-- Emulator choices (not documented by Adobe):
--   Connection spec `name`s (lower-case, hyphenated) and `attributes` ({category, isSource} for
--     sources; {category = "Storage", isDestination = true} for the data lake); descriptions.
--   Which params are required: every param Adobe's tutorials show, except Salesforce Basic
--     Authentication's apiVersion (documented as optional). Which are secrets (format
--     "password"): passwords, security tokens, access tokens, client secrets, principal keys.
--   additionalProperties false in every authSpec (a mistyped param name is refused).
--   The data lake's targetSpec ({name, type, spec} with dataSetId required) and its lack of
--     authSpec; nothing else from Adobe's full spec payloads (sourceSpec, exploreSpec, ...) is
--     served: Adobe does not show them for these connectors.
--   CloudStorageToAEP's scheduleSpec and optionSpec are CRMToAEP's (Adobe's payload is cut short
--     in the pages read); it has no Copy transformation, so no deltaColumn.
--   The rules in catalog.flow_rules are what the scheduleSpec and the Copy spec say, written out
--     in Lua so that dataflow validation does not need if/then/else JSON Schema support.
local schema = require "flowservice.emulator.schema"

local catalog = {}

local SOURCES_PROVIDER_ID = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
local DRAFT_07 = "http://json-schema.org/draft-07/schema#"

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local OSC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local SALESFORCE_SERVICE_CLOUD_ID = "cb66ab34-8619-49cb-96d1-39b37ede86ea"
local SERVICENOW_ID = "eb13cb25-47ab-407f-ba89-c0125281c563"
local ZENDESK_ID = "0a27232b-2c6e-4396-b8c6-c9fc24e37ba4"
local SALESFORCE_ID = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
local DYNAMICS_ID = "38ad80fe-8b06-4938-94f4-d4ee80266b07"
local DATA_LAKE_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"

catalog.DATA_LAKE_ID = DATA_LAKE_ID

---------------------------------------------------------------------------------------------------
-- Connection specs
---------------------------------------------------------------------------------------------------

local function text(description)
  return { type = "string", description = description }
end

local function secret(description)
  return { type = "string", format = "password", description = description }
end

-- One authSpec entry: a JSON Schema object of string params, all listed in `required`.
local function auth_spec(name, type_, description, properties, required)
  return {
    name = name,
    type = type_,
    spec = {
      ["$schema"] = DRAFT_07,
      type = "object",
      description = description,
      properties = properties,
      required = required,
      additionalProperties = false,
    },
  }
end

local function source(id, name, category, auth)
  return {
    id = id,
    name = name,
    providerId = SOURCES_PROVIDER_ID,
    version = "1.0",
    attributes = { category = category, isSource = true },
    authSpec = auth,
  }
end

local CONNECTION_SPECS = {
  source(OSC_ID, "oracle-service-cloud", "CustomerSuccess", {
    auth_spec("Basic Authentication", "BasicAuthentication",
      "Defines auth params required for connecting to Oracle Service Cloud.", {
        host = text("The host URL of the Oracle Service Cloud instance."),
        username = text("Username of the Oracle Service Cloud account."),
        password = secret("Password of the Oracle Service Cloud account."),
      }, { "host", "username", "password" }),
  }),
  source(SALESFORCE_SERVICE_CLOUD_ID, "salesforce-service-cloud", "CustomerSuccess", {
    auth_spec("Basic Authentication", "BasicAuthentication",
      "Defines auth params required for connecting to Salesforce Service Cloud.", {
        username = text("The user name for the user account."),
        password = secret("The password for the user account."),
        securityToken = secret("The security token for the user account."),
      }, { "username", "password", "securityToken" }),
  }),
  source(SERVICENOW_ID, "servicenow", "CustomerSuccess", {
    auth_spec("Basic Authentication", "BasicAuthentication",
      "Defines auth params required for connecting to ServiceNow.", {
        endpoint = text("The endpoint of the ServiceNow server."),
        username = text("The username used to connect to the ServiceNow server."),
        password = secret("The password used to connect to the ServiceNow server."),
      }, { "endpoint", "username", "password" }),
  }),
  source(ZENDESK_ID, "zendesk", "CustomerSuccess", {
    auth_spec("OAuth2 Refresh Code", "OAuth2RefreshCode",
      "Defines auth params required for connecting to Zendesk.", {
        subdomain = text("The unique domain of the account, e.g. https://yoursubdomain.zendesk.com."),
        accessToken = secret("Zendesk API token."),
      }, { "subdomain", "accessToken" }),
  }),
  source(SALESFORCE_ID, "salesforce", "CRM", {
    auth_spec("Basic Authentication", "BasicAuthentication",
      "Defines auth params required for connecting to Salesforce with a user account.", {
        environmentUrl = text("The URL of the Salesforce instance (https://[domain].my.salesforce.com)."),
        username = text("The username for the Salesforce user account."),
        password = secret("The password for the Salesforce user account."),
        securityToken = secret("The security token for the Salesforce user account."),
        apiVersion = text("The REST API version, with a decimal (e.g. 52.0); latest when absent."),
      }, { "environmentUrl", "username", "password", "securityToken" }),
    auth_spec("OAuth2 Client Credential", "OAuth2ClientCredential",
      "Defines auth params required for connecting to Salesforce with OAuth 2 client credentials.", {
        environmentUrl = text("The URL of the Salesforce instance (https://[domain].my.salesforce.com)."),
        clientId = text("The client ID of the connected app."),
        clientSecret = secret("The client secret of the connected app."),
        apiVersion = text("The REST API version, with a decimal (e.g. 60.0)."),
      }, { "environmentUrl", "clientId", "clientSecret", "apiVersion" }),
  }),
  source(DYNAMICS_ID, "microsoft-dynamics", "CRM", {
    auth_spec("Basic Authentication for Dynamics-Online", "BasicAuthentication",
      "Defines auth params required for connecting to Microsoft Dynamics with a user account.", {
        serviceUri = text("The service URL of the Dynamics instance."),
        username = text("The user name for the Dynamics user account."),
        password = secret("The password for the Dynamics account."),
      }, { "serviceUri", "username", "password" }),
    auth_spec("Service Principal Key Based Authentication", "ServicePrincipalKeyBasedAuthentication",
      "Defines auth params required for connecting to Microsoft Dynamics with a service principal.", {
        serviceUri = text("The service URL of the Dynamics instance."),
        servicePrincipalId = text("The client ID of the Dynamics account."),
        servicePrincipalKey = secret("The service principal secret key."),
      }, { "serviceUri", "servicePrincipalId", "servicePrincipalKey" }),
  }),
  {
    id = DATA_LAKE_ID,
    name = "data-lake",
    providerId = SOURCES_PROVIDER_ID,
    version = "1.0",
    attributes = { category = "Storage", isDestination = true },
    targetSpec = {
      name = "Data Lake",
      type = "DataLake",
      spec = {
        ["$schema"] = DRAFT_07,
        type = "object",
        description = "Defines the params of a target connection to the data lake.",
        properties = { dataSetId = text("The ID of the target dataset.") },
        required = { "dataSetId" },
      },
    },
  },
}

-- Sources whose explore serves tables (objectType=root / table).
local TABULAR = {
  [OSC_ID] = true, [SALESFORCE_SERVICE_CLOUD_ID] = true, [SERVICENOW_ID] = true,
  [SALESFORCE_ID] = true, [DYNAMICS_ID] = true,
}

-- id -> { public = <spec as served>, auth = { [authSpec name] = { schema=, secrets= } },
--         target_params = <compiled targetSpec.spec> or nil }
local by_id = {}

local function register(spec)
  assert(type(spec.id) == "string" and spec.id:match(UUID), "connection spec id must be a UUID")
  assert(type(spec.version) == "string", "connection spec needs a version")
  assert(not by_id[spec.id], "duplicate connection spec " .. spec.id)
  local auth = {}
  for _, entry in ipairs(spec.authSpec or {}) do
    assert(not auth[entry.name], "duplicate auth spec " .. entry.name)
    local compiled = schema.compile(entry.spec, spec.id .. " " .. entry.name)
    auth[entry.name] = { schema = compiled, secrets = schema.secret_properties(compiled) }
  end
  local target_params = spec.targetSpec and schema.compile(spec.targetSpec.spec, spec.id .. " targetSpec")
  by_id[spec.id] = { public = spec, auth = auth, target_params = target_params }
end

for _, spec in ipairs(CONNECTION_SPECS) do register(spec) end

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

-- Every connection spec in Adobe's shape, in catalogue order (a new list; the specs are shared
-- and must not be changed).
function catalog.list()
  local out = {}
  for i, spec in ipairs(CONNECTION_SPECS) do out[i] = spec end
  return out
end

-- True for a source whose explore serves tables; false for REST sources, targets and unknown ids.
function catalog.is_tabular(id)
  return TABULAR[id] == true
end

---------------------------------------------------------------------------------------------------
-- Flow specs
---------------------------------------------------------------------------------------------------

local SCHEDULE_SPEC = {
  name = "PeriodicSchedule",
  type = "Periodic",
  spec = {
    ["$schema"] = DRAFT_07,
    type = "object",
    properties = {
      startTime = { description = "epoch time", type = "integer" },
      frequency = { type = "string", enum = { "once", "minute", "hour", "day", "week" } },
      interval = { type = "integer" },
      backfill = { type = "boolean", default = true },
    },
    required = { "startTime", "frequency" },
    ["if"] = { properties = { frequency = { const = "once" } } },
    ["then"] = {
      allOf = {
        { ["not"] = { required = { "interval" } } },
        { ["not"] = { required = { "backfill" } } },
      },
    },
    ["else"] = {
      required = { "interval" },
      ["if"] = { properties = { frequency = { const = "minute" } } },
      ["then"] = { properties = { interval = { minimum = 15 } } },
      ["else"] = { properties = { interval = { minimum = 1 } } },
    },
  },
}

local OPTION_SPEC = {
  name = "OptionSpec",
  spec = {
    ["$schema"] = DRAFT_07,
    type = "object",
    properties = {
      errorDiagnosticsEnabled = {
        title = "Error diagnostics.",
        description = "Flag to enable detailed and sample error diagnostics summary.",
        type = "boolean", default = false,
      },
      partialIngestionPercent = {
        title = "Partial ingestion threshold.",
        description = "Percentage which defines the threshold of errors allowed before the run is "
          .. "marked as failed.",
        type = "number", exclusiveMinimum = 0,
      },
    },
  },
}

local COPY_SPEC = {
  name = "Copy",
  spec = {
    ["$schema"] = DRAFT_07,
    type = "object",
    properties = {
      deltaColumn = {
        type = "object",
        properties = {
          name = { type = "string" }, dateFormat = { type = "string" }, timezone = { type = "string" },
        },
        required = { "name" },
      },
    },
    required = { "deltaColumn" },
  },
}

local MAPPING_SPEC = {
  name = "Mapping",
  spec = {
    ["$schema"] = DRAFT_07,
    type = "object",
    description = "defines various params required for different mapping from source to target",
    properties = { mappingId = { type = "string" }, mappingVersion = { type = "string" } },
  },
}

local SOURCE_FLOW_ATTRIBUTES = {
  isSourceFlow = true,
  frequency = "batch",
  notification = { category = "sources", flowRun = { enabled = true } },
}

local FLOW_SPECS = {
  {
    id = "14518937-270c-4525-bdec-c2ba7cce3860",
    name = "CRMToAEP",
    providerId = SOURCES_PROVIDER_ID,
    version = "1.0",
    attributes = SOURCE_FLOW_ATTRIBUTES,
    sourceConnectionSpecIds = {
      "3416976c-a9ca-4bba-901a-1f08f66978ff", DYNAMICS_ID, "d771e9c1-4f26-40dc-8617-ce58c4b53702",
      "3c9b37f8-13a6-43d8-bad3-b863b941fedd", "cc6a4487-9e91-433e-a3a3-9cf6626c1806",
      "3000eb99-cd47-43f3-827c-43caf170f015", "26d738e0-8963-47ea-aadf-c60de735468a",
      "74a1c565-4e59-48d7-9d67-7c03b8a13137", SALESFORCE_ID, "4f63aa36-bd48-4e33-bb83-49fbcd11c708",
      SALESFORCE_SERVICE_CLOUD_ID, SERVICENOW_ID, "1f372ff9-38a4-4492-96f5-b9a4e4bd00ec",
      "37b6bf40-d318-4655-90be-5cd6f65d334b", "a49bcc7d-8038-43af-b1e4-5a7a089a7d79",
      "221c7626-58f6-4eec-8ee2-042b0226f03b", "a8b6a1a4-5735-42b4-952c-85dce0ac38b5",
      "6a8d82bc-1caf-45d1-908d-cadabc9d63a6", "aac9bbd4-6c01-46ce-b47e-51c6f0f6db3f",
      "8e6b41a8-d998-4545-ad7d-c6a9fff406c3", "ecde33f2-c56f-46cc-bdea-ad151c16cd69",
      "102706fb-a5cd-42ee-afe0-bc42f017ff43", "09182899-b429-40c9-a15a-bf3ddbc8ced7",
      "0479cc14-7651-4354-b233-7480606c2ac3", "d6b52d86-f0f8-475f-89d4-ce54c8527328",
      "a8f4d393-1a6b-43f3-931f-91a16ed857f4", "1fe283f6-9bec-11ea-bb37-0242ac130002",
      "fcad62f3-09b0-41d3-be11-449d5a621b69", "ea1c2a08-b722-11eb-8529-0242ac130003",
      "35d6c4d8-c9a9-11eb-b8bc-0242ac130003", "ff4274f2-c9a9-11eb-b8bc-0242ac130003",
      OSC_ID, "b2e08744-4f1a-40ce-af30-7abac3e23cf3", "929e4450-0237-4ed2-9404-b7e1e0a00309",
      "2acf109f-9b66-4d5e-bc18-ebb2adcff8d5",
    },
    targetConnectionSpecIds = { DATA_LAKE_ID },
    optionSpec = OPTION_SPEC,
    transformationSpecs = { COPY_SPEC, MAPPING_SPEC },
    scheduleSpec = SCHEDULE_SPEC,
  },
  {
    id = "9753525b-82c7-4dce-8a9b-5ccfce2b9876",
    name = "CloudStorageToAEP",
    providerId = SOURCES_PROVIDER_ID,
    version = "1.0",
    attributes = SOURCE_FLOW_ATTRIBUTES,
    sourceConnectionSpecIds = {
      "b3ba5556-48be-44b7-8b85-ff2b69b46dc4", "ecadc60c-7455-4d87-84dc-2a0e293d997b",
      "b7829c2f-2eb0-4f49-a6ee-55e33008b629", "4c10e202-c428-4796-9208-5f1f5732b1cf",
      "fb2e94c9-c031-467d-8103-6bd6e0a432f2", "32e8f412-cdf7-464c-9885-78184cb113fd",
      "b7bf2577-4520-42c9-bae9-cad01560f7bc", "998b8ae3-cec0-43b7-8abe-40b1eb4ee069",
      "be5ec48c-5b78-49d5-b8fa-7c89ec4569b8", "54e221aa-d342-4707-bcff-7a4bceef0001",
      "c85f9425-fb21-426c-ad0b-405e9bd8a46c", "26f526f2-58f4-4712-961d-e41bf1ccc0e8",
    },
    targetConnectionSpecIds = { DATA_LAKE_ID },
    optionSpec = OPTION_SPEC,
    transformationSpecs = { MAPPING_SPEC },
    scheduleSpec = SCHEDULE_SPEC,
  },
}

-- What the scheduleSpec and transformationSpecs say, for dataflow validation:
--   frequencies          set of allowed scheduleParams.frequency values
--   interval_forbidden   set of frequencies that take no interval (and no backfill)
--   min_interval         frequency -> smallest interval; `default` for the others
--   backfill_default     value of backfill when absent
--   transformations      set of transformation names the spec declares
--   delta_column_required  the Copy transformation must carry params.deltaColumn (with a name)
--                          unless the frequency is in interval_forbidden (Adobe: 1367 / 1369)
local SCHEDULE_RULES = {
  frequencies = { once = true, minute = true, hour = true, day = true, week = true },
  interval_forbidden = { once = true },
  min_interval = { minute = 15, default = 1 },
  backfill_default = true,
}

local flow_by_id, rules_by_id = {}, {}

for _, spec in ipairs(FLOW_SPECS) do
  assert(spec.id:match(UUID) and not flow_by_id[spec.id], "flow spec ids must be unique UUIDs")
  local transformations, copy_needs_delta = {}, false
  for _, t in ipairs(spec.transformationSpecs) do
    transformations[t.name] = true
    if t.name == "Copy" then copy_needs_delta = true end   -- COPY_SPEC requires deltaColumn
  end
  local rules = {}
  for k, v in pairs(SCHEDULE_RULES) do rules[k] = v end
  rules.transformations = transformations
  rules.delta_column_required = copy_needs_delta
  flow_by_id[spec.id] = spec
  rules_by_id[spec.id] = rules
end

-- Every flow spec in Adobe's shape, in catalogue order (a new list; the specs are shared).
function catalog.flow_specs()
  local out = {}
  for i, spec in ipairs(FLOW_SPECS) do out[i] = spec end
  return out
end

-- The flow spec with this id in Adobe's shape, or nil.
function catalog.flow_spec(id)
  return flow_by_id[id]
end

-- The schedule and transformation rules of a flow spec (see SCHEDULE_RULES above), or nil.
function catalog.flow_rules(id)
  return rules_by_id[id]
end

return catalog
