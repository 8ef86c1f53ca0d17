-- Client-side connection specs (in-process, fake C core): the JSON Schema subset validator, the
-- built-in catalogue and specs.resolve, and how connections:create builds its body from them,
-- including the service's own spec items remembered in client._seen_specs.
local fakecore = require "spec.fakecore"
local cjson = require "cjson"

local SECRET = "SENTINEL-specs-secret-7f31"    -- put in every value that must never be shown

local OSC = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local SALESFORCE = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
local DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
local UNKNOWN = "00000000-0000-4000-8000-00000000abcd"

local flowservice, sent, jsonschema, specs, connections

local JSON = { ["content-type"] = "application/json" }

local function happy(req)
  if req.url:find("/ims/token/v3", 1, true) then
    return 200, JSON, cjson.encode { access_token = "SENTINEL-specs-token", token_type = "bearer", expires_in = 86399 }
  end
  return 201, JSON, [[{"id":"4b1c7e0a-0000-4000-8000-000000000002","etag":"\"0a00\""}]]
end

local function reload()
  flowservice, sent = fakecore.load(happy)
  jsonschema = require "flowservice.jsonschema"
  specs = require "flowservice.specs"
  connections = require "flowservice.connections"
end

reload()

local function new_client()
  return assert(flowservice.new {
    env = false, client_id = "specs-client", client_secret = "specs-client-secret",
    org_id = "SPECSORG@AdobeOrg", sandbox = "prod",
  })
end

-- The first problem, asserting the value was refused.
local function problem(schema, value, path)
  local ok, p = jsonschema.validate(schema, value, path or "auth")
  assert.is_nil(ok)
  return p
end

-- Asserts err is a validation error on `field` whose message contains `text` and no secret.
local function assert_refused(err, field, text)
  assert.is_table(err)
  assert.equals("validation", err.kind)
  assert.equals(field, err.field)
  if text then assert.matches(text, err.message, 1, true) end
  assert.is_nil(tostring(err):find("SENTINEL", 1, true))
end

describe("jsonschema.validate", function()
  it("checks required members of an empty table marked as an object too", function()
    local json = require "flowservice.json"
    local schema = { type = "object", required = { "host" }, properties = { host = { type = "string" } } }
    for _, empty in ipairs { {}, json.object(), json.object {} } do
      local ok, found = jsonschema.validate(schema, empty)
      assert.is_nil(ok)
      assert.same({ "$.host", "required" }, { found.field, found.rule })
    end
  end)


  it("checks every JSON type, and lists of types", function()
    local cases = {
      { "string", "s", 1 }, { "integer", 3, 3.5 }, { "integer", 4.0, "4" }, { "number", 2.5, "2.5" },
      { "boolean", false, "false" }, { "null", cjson.null, false }, { "object", { a = 1 }, { 1, 2 } },
      { "array", { 1, 2 }, { a = 1 } },
    }
    for _, case in ipairs(cases) do
      assert.is_true(jsonschema.validate({ type = case[1] }, case[2]), case[1])
      local p = problem({ type = case[1] }, case[3], "v")
      assert.equals("v", p.field)
      assert.equals("type", p.keyword)
      assert.matches("must be an? " .. case[1], p.rule)
    end
    assert.is_true(jsonschema.validate({ type = { "string", "null" } }, cjson.null))
    assert.matches("must be one of string, null %(got number%)", problem({ type = { "string", "null" } }, 1).rule)
    assert.equals("must be a number (got a non-finite number)", problem({ type = "number" }, 0 / 0).rule)
    -- {} is both an empty object and an empty array (lua-cjson decodes [] as {})
    assert.is_true(jsonschema.validate({ type = "array" }, {}))
    assert.is_true(jsonschema.validate({ type = "object" }, {}))
    assert.is_nil(jsonschema.validate({ type = "object" }, setmetatable({}, { __jsontype = "array" })))
  end)

  it("reports unknown params, then required ones, then properties in sorted order", function()
    local schema = {
      type = "object", required = { "zeta", "alpha" }, additionalProperties = false,
      properties = { alpha = { type = "string" }, beta = { type = "integer" }, zeta = { type = "string" } },
    }
    local p = problem(schema, { alpha = 1, beta = "x", typo = SECRET })
    assert.same({ "auth.typo", "additionalProperties" }, { p.field, p.keyword })
    assert.matches("expected: alpha, beta, zeta", p.rule, 1, true)
    p = problem(schema, { alpha = 1, beta = "x" })
    assert.same({ "auth.zeta", "required" }, { p.field, p.keyword })
    p = problem(schema, { alpha = 1, beta = "x", zeta = 2 })
    assert.same({ "auth.alpha", "must be a string (got number)" }, { p.field, p.rule })
    p = problem(schema, { alpha = "a", beta = "x", zeta = 2 })
    assert.equals("auth.beta", p.field)
  end)

  it("checks enum, const, lengths, bounds and nested paths without showing values", function()
    local schema = {
      type = "object",
      properties = {
        mode = { type = "string", enum = { "a", "b" } },
        kind = { const = "fixed" },
        name = { type = "string", minLength = 3, maxLength = 5 },
        empty = { type = "string", minLength = 1 },
        port = { type = "integer", minimum = 1, maximum = 65535 },
        ratio = { type = "number", exclusiveMinimum = 0, exclusiveMaximum = 1 },
        nested = { type = "object", properties = { deep = { type = "string", maxLength = 2 } } },
        list = { type = "array", items = { type = "string", maxLength = 2 } },
      },
    }
    local cases = {
      { { mode = SECRET }, "auth.mode", 'must be one of: "a", "b"' },
      { { kind = SECRET }, "auth.kind", 'must be "fixed"' },
      { { name = "SE" }, "auth.name", "must be at least 3 characters long" },
      { { name = SECRET }, "auth.name", "must be at most 5 characters long" },
      { { empty = "" }, "auth.empty", "must not be empty" },
      { { port = 0 }, "auth.port", "must be at least 1" },
      { { port = 70000 }, "auth.port", "must be at most 65535" },
      { { ratio = 0 }, "auth.ratio", "must be greater than 0" },
      { { ratio = 1 }, "auth.ratio", "must be less than 1" },
      { { nested = { deep = SECRET } }, "auth.nested.deep", "must be at most 2 characters long" },
      { { list = { "ok", SECRET } }, "auth.list[2]", "must be at most 2 characters long" },
    }
    for _, case in ipairs(cases) do
      local p = problem(schema, case[1])
      assert.same({ case[2], case[3] }, { p.field, p.rule })
    end
    assert.is_true(jsonschema.validate(schema, { mode = "a", kind = "fixed", name = "abc", port = 443,
      ratio = 0.5, nested = { deep = "ok" }, list = { "ok" } }))
    -- counts characters, not bytes
    assert.is_true(jsonschema.validate({ type = "string", maxLength = 2 }, "éé"))
  end)

  it("checks uri and email formats loosely, and ignores password and unknown formats", function()
    assert.is_true(jsonschema.validate({ type = "string", format = "uri" }, "https://x.my.salesforce.com"))
    assert.equals("must be a URI (scheme:...)", problem({ format = "uri" }, "not a uri").rule)
    assert.is_true(jsonschema.validate({ format = "email" }, "a.b@example.com"))
    assert.equals("must be an email address", problem({ format = "email" }, SECRET).rule)
    assert.is_true(jsonschema.validate({ format = "password" }, ""))
    assert.is_true(jsonschema.validate({ format = "hostname" }, "not checked at all"))
  end)

  it("checks translatable patterns and skips the rest without raising", function()
    local schema = { type = "string", pattern = "^[a-z0-9-]+\\.custhelp\\.com$" }
    assert.is_true(jsonschema.validate(schema, "acme.custhelp.com"))
    local p = problem(schema, SECRET)
    assert.equals("pattern", p.keyword)
    assert.is_nil(p.rule:find(SECRET, 1, true))
    assert.is_true(jsonschema.validate({ type = "string", pattern = "^(a|b)$" }, SECRET))
    assert.is_true(jsonschema.validate({ type = "string", pattern = "^\\bword" }, SECRET))
    assert.is_true(jsonschema.validate({ type = "string", pattern = "[" }, SECRET))
  end)

  it("translates the common regex subset to Lua patterns", function()
    local cases = {
      { "^\\d{3}-\\d{2,4}$", "^%d%d%d%-%d%d%d?%d?$" },
      { "^\\w{2,}$", "^[%w_][%w_][%w_]*$" },
      { "^[^/]+\\.my\\.salesforce\\.com$", "^[^%/]+%.my%.salesforce%.com$" },
      { "a.c", "a.c" },
      { "^[A-Za-z_][\\w.-]*$", "^[A-Za-z_][%w_%.%-]*$" },
    }
    for _, case in ipairs(cases) do assert.equals(case[2], jsonschema.translate_regex(case[1])) end
    for _, regex in ipairs { "(a)", "a|b", "a+?", "\\1", "^a$b", "{2}", "a{3,1}", "a{1,40}", "a{300}" } do
      local pattern, why = jsonschema.translate_regex(regex)
      assert.is_nil(pattern, regex)
      assert.matches("unsupported", why)
    end
    assert.equals("^%d%d%d%-%d%d%d?%d?$", jsonschema.translate_regex("^\\d{3}-\\d{2,4}$"))
    assert.truthy(("123-45"):find(jsonschema.translate_regex("^\\d{3}-\\d{2,4}$")))
    assert.falsy(("123-45678"):find(jsonschema.translate_regex("^\\d{3}-\\d{2,4}$")))
  end)

  it("checks anyOf, oneOf and allOf alternatives", function()
    local either = { anyOf = { { type = "string" }, { type = "integer" } } }
    assert.is_true(jsonschema.validate(either, 3))
    assert.equals("anyOf", problem(either, true).keyword)
    local exclusive = { oneOf = { { type = "integer" }, { type = "number" } } }
    assert.is_true(jsonschema.validate(exclusive, 1.5))
    assert.matches("more than one", problem(exclusive, 2).rule)
    local both = { allOf = { { type = "string" }, { minLength = 2 } } }
    assert.equals("minLength", problem(both, "a").keyword)
    -- an authSpec with two alternative param sets
    local params = {
      type = "object",
      oneOf = { { required = { "password" } }, { required = { "keyFile" } } },
    }
    assert.is_true(jsonschema.validate(params, { password = SECRET }))
    assert.equals("oneOf", problem(params, { user = "u" }).keyword)
  end)

  it("never raises on schemas it cannot read", function()
    assert.is_true(jsonschema.validate(true, SECRET))
    assert.is_true(jsonschema.validate({ type = "uuid" }, SECRET))
    assert.is_true(jsonschema.validate({ properties = "x", required = 3, items = { { type = "string" } } }, { 1 }))
  end)

  it("names the secret params", function()
    local schema = { properties = {
      host = { type = "string" }, pass = { format = "password" }, securityToken = {}, clientSecret = {},
      servicePrincipalKey = {}, CREDENTIALS = {}, userPassword = {}, username = {},
    } }
    assert.same({ pass = true, securityToken = true, clientSecret = true, servicePrincipalKey = true,
      CREDENTIALS = true, userPassword = true }, jsonschema.secrets(schema))
    assert.same({}, jsonschema.secrets({}))
  end)
end)

-- A full, valid set of auth params for each built-in auth spec.
local VALID = {
  ["oracle-service-cloud"] = { host = "acme.custhelp.com", username = "u", password = SECRET },
  ["salesforce-service-cloud"] = { username = "u", password = SECRET, securityToken = SECRET },
  servicenow = { endpoint = "https://acme.service-now.com", username = "u", password = SECRET },
  zendesk = { subdomain = "https://acme.zendesk.com", accessToken = SECRET },
  salesforce = { environmentUrl = "https://acme.my.salesforce.com", username = "u", password = SECRET,
    securityToken = SECRET },
  ["microsoft-dynamics"] = { serviceUri = "https://acme.crm.dynamics.com", username = "u", password = SECRET },
}
local AUTH_SPEC = {
  ["oracle-service-cloud"] = "Basic Authentication", ["salesforce-service-cloud"] = "Basic Authentication",
  servicenow = "Basic Authentication", zendesk = "OAuth2 Refresh Code", salesforce = "Basic Authentication",
  ["microsoft-dynamics"] = "Basic Authentication for Dynamics-Online",
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- build_body as connections:create calls it, with a stand-in client.
local function build(input, seen)
  return connections.def.build_body(input, { _seen_specs = seen })
end

describe("flowservice.specs", function()
  it("resolves every alias and id of the built-in catalogue", function()
    local kinds = {}
    for _, entry in ipairs(specs.list()) do
      assert.equals(entry, specs.resolve(entry.alias))
      assert.equals(entry, specs.resolve(entry.id))
      assert.equals("builtin", entry.origin)
      assert.equals("1.0", entry.version)
      kinds[entry.alias] = entry.kind
    end
    assert.same({
      ["oracle-service-cloud"] = "source", ["salesforce-service-cloud"] = "source", servicenow = "source",
      zendesk = "source", salesforce = "source", ["microsoft-dynamics"] = "source", ["data-lake"] = "target",
    }, kinds)
    assert.same({ "dataSetId" }, specs.resolve("data-lake").target_params)
    assert.same({}, specs.resolve("data-lake").auth_specs)
  end)

  it("has a default auth spec only where there is exactly one", function()
    assert.equals("Basic Authentication", specs.resolve("oracle-service-cloud").default_auth_spec)
    local salesforce = specs.resolve("salesforce")
    assert.is_nil(salesforce.default_auth_spec)
    assert.same({ "Basic Authentication", "OAuth2 Client Credential" }, salesforce.auth_specs)
    assert.same({ password = true, securityToken = true }, salesforce.auth["Basic Authentication"].secrets)
  end)

  it("returns a minimal entry for an unknown UUID and refuses anything else", function()
    assert.same({ id = UNKNOWN, unknown = true, origin = "unknown" }, specs.resolve(UNKNOWN))
    local entry, err = specs.resolve("oracle-cloud")
    assert.is_nil(entry)
    assert_refused(err, "spec", "unknown connection spec")
    assert.matches("data-lake", err.message, 1, true)
    assert_refused(select(2, specs.resolve(42, "x")), "x", "must be a connection spec id, alias or item")
  end)

  it("makes an entry from a connection spec item the service returned", function()
    local item = {
      id = OSC, version = "1.0", name = "oracle-service-cloud", attributes = { isSource = true },
      authSpec = { { name = "Basic Authentication", type = "BasicAuthentication", spec = {
        type = "object", required = { "host" },
        properties = { host = { type = "string" }, password = { type = "string", format = "password" } },
      } } },
    }
    local entry = assert(specs.resolve(item))
    assert.same({ OSC, "1.0", "oracle-service-cloud", "server", "source", "oracle-service-cloud" },
      { entry.id, entry.version, entry.name, entry.origin, entry.kind, entry.alias })
    assert.equals("Basic Authentication", entry.default_auth_spec)
    assert.same({ password = true }, entry.auth["Basic Authentication"].secrets)
    assert.equals(entry, specs.resolve(item))            -- made once per item
    assert.same({ host = "h" }, entry.auth["Basic Authentication"].check { host = "h" })
    local _, err = entry.auth["Basic Authentication"].check { password = SECRET }
    assert_refused(err, "auth.host", "required by oracle-service-cloud (Basic Authentication)")
  end)

  it("refuses items without a UUID id, a string version or named auth specs", function()
    local bad = {
      { version = "1.0" }, { id = "x", version = "1.0" }, { id = OSC }, { id = OSC, version = 1 },
      { id = OSC, version = "1.0", name = 3 }, { id = OSC, version = "1.0", authSpec = "basic" },
      { id = OSC, version = "1.0", authSpec = { { spec = {} } } },
    }
    for i, item in ipairs(bad) do
      local entry, err = specs.resolve(item)
      assert.is_nil(entry, i)
      assert_refused(err, "spec", "a connection spec item")
    end
  end)
end)

describe("connections build_body", function()
  before_each(reload)

  it("builds a body for every built-in source with its auth spec", function()
    for alias, params in pairs(VALID) do
      local entry = specs.resolve(alias)
      local pick = not entry.default_auth_spec and AUTH_SPEC[alias] or nil
      local body = assert(build { name = "n", spec = alias, auth_spec = pick, auth = params })
      assert.same({ id = specs.resolve(alias).id, version = "1.0" }, body.connectionSpec)
      assert.equals(AUTH_SPEC[alias], body.auth.specName)
      assert.same(params, body.auth.params)
      assert.are_not.equal(params, body.auth.params)    -- a copy, the caller's table is left alone
    end
  end)

  it("refuses a missing, mistyped, empty or unknown param of every built-in source", function()
    for alias, valid in pairs(VALID) do
      local what = specs.resolve(alias).name .. " (" .. AUTH_SPEC[alias] .. ")"
      local function try(params)
        return build { name = "n", spec = alias, auth_spec = AUTH_SPEC[alias], auth = params }
      end
      for name in pairs(valid) do
        local params = copy(valid)
        params[name] = nil
        local _, err = try(params)
        assert_refused(err, "auth." .. name, "required by " .. what)
        params[name] = 42
        _, err = try(params)
        assert_refused(err, "auth." .. name, "must be a string (got number)")
        params[name] = ""
        _, err = try(params)
        assert_refused(err, "auth." .. name, "must not be empty")
      end
      local params = copy(valid)
      params["SENTINEL key!"] = SECRET
      local _, err = try(params)
      assert_refused(err, "auth.?", "not a parameter")   -- a caller's odd key is not echoed
      params = copy(valid)
      params.hots = "x"
      _, err = try(params)
      assert_refused(err, "auth.hots", "not a parameter of " .. what)
    end
  end)

  it("makes the caller pick among several auth specs, and checks the one picked", function()
    local params = VALID.salesforce
    local _, err = build { name = "n", spec = "salesforce", auth = params }
    assert_refused(err, "auth_spec", 'several auth specs ("Basic Authentication", "OAuth2 Client Credential")')
    assert(build { name = "n", spec = "salesforce", auth_spec = "Basic Authentication", auth = params })
    local oauth = { environmentUrl = "https://acme.my.salesforce.com", clientId = "c", clientSecret = SECRET }
    _, err = build { name = "n", spec = "salesforce", auth_spec = "OAuth2 Client Credential", auth = oauth }
    assert_refused(err, "auth.apiVersion", "required by Salesforce (OAuth2 Client Credential)")
    oauth.apiVersion = "60.0"
    local body = assert(build { name = "n", spec = SALESFORCE, auth_spec = "OAuth2 Client Credential", auth = oauth })
    assert.equals("OAuth2 Client Credential", body.auth.specName)
    _, err = build { name = "n", spec = "salesforce", auth_spec = "OAuth 2", auth = oauth }
    assert_refused(err, "auth_spec", 'must be one of "Basic Authentication", "OAuth2 Client Credential" for Salesforce')
    _, err = build { name = "n", spec = "zendesk", auth_spec = "Basic Authentication", auth = VALID.zendesk }
    assert_refused(err, "auth_spec", 'must be "OAuth2 Refresh Code" for Zendesk')
    local dynamics = { serviceUri = "https://x", servicePrincipalId = "id", servicePrincipalKey = SECRET }
    assert(build { name = "n", spec = "microsoft-dynamics", auth_spec = "Service Principal Key Based Authentication",
      auth = dynamics })
  end)

  it("refuses a target spec for a base connection", function()
    for _, spec in ipairs { "data-lake", DATA_LAKE } do
      local _, err = build { name = "n", spec = spec, auth = { dataSetId = "x" } }
      assert_refused(err, "spec", "Data Lake is a target connection spec")
    end
  end)

  it("sends an unknown UUID as given, with auth_spec required alongside auth", function()
    local body = assert(build { name = "n", spec = UNKNOWN, auth_spec = "Custom", auth = { anything = SECRET } })
    assert.same({ specName = "Custom", params = { anything = SECRET } }, body.auth)
    assert.same({ id = UNKNOWN, version = "1.0" }, body.connectionSpec)
    local _, err = build { name = "n", spec = UNKNOWN, auth = { anything = SECRET } }
    assert_refused(err, "auth_spec", "required with auth")
    body = assert(build { name = "n", spec = UNKNOWN, spec_version = "2.0" })
    assert.is_nil(body.auth)
    assert.equals("2.0", body.connectionSpec.version)
  end)

  -- A connection spec item as the service might return it: stricter than the built-in OSC entry.
  local function server_osc()
    return {
      id = OSC, version = "1.0", name = "oracle-service-cloud",
      authSpec = { { name = "Basic Authentication", type = "BasicAuthentication", spec = {
        type = "object", additionalProperties = false,
        required = { "host", "username", "password", "port" },
        properties = {
          host = { type = "string", format = "uri" },
          username = { type = "string", pattern = "^[a-z][a-z0-9._-]*$" },
          password = { type = "string", format = "password" },
          port = { type = "integer", minimum = 1, maximum = 65535 },
          region = { type = "string", enum = { "us", "eu" } },
          contact = { type = "string", format = "email" },
          tenant = { type = "string", pattern = "^(prod|stage)$" },   -- no Lua translation: skipped
        },
      } } },
    }
  end

  it("checks against the service's item once the client has read it", function()
    local seen = { [OSC] = server_osc() }
    local base = { host = "https://acme.custhelp.com", username = "svc", password = SECRET, port = 443 }
    -- the built-in entry knows no port: only the service's item can refuse its absence
    assert(build { name = "n", spec = "oracle-service-cloud", auth = VALID["oracle-service-cloud"] })
    local _, err = build({ name = "n", spec = "oracle-service-cloud", auth = VALID["oracle-service-cloud"] }, seen)
    assert_refused(err, "auth.port", "required by oracle-service-cloud (Basic Authentication)")
    local cases = {
      { { port = SECRET }, "auth.port", "must be an integer (got string)" },
      { { port = 0 }, "auth.port", "must be at least 1" },
      { { region = SECRET }, "auth.region", 'must be one of: "us", "eu"' },
      { { username = "SENTINEL" }, "auth.username", "must match the pattern ^[a-z][a-z0-9._-]*$" },
      { { contact = SECRET }, "auth.contact", "must be an email address" },
      { { host = SECRET }, "auth.host", "must be a URI" },
    }
    for _, case in ipairs(cases) do
      local params = copy(base)
      for k, v in pairs(case[1]) do params[k] = v end
      for _, spec in ipairs { "oracle-service-cloud", OSC } do
        _, err = build({ name = "n", spec = spec, auth = params }, seen)
        assert_refused(err, case[2], case[3])
      end
      _, err = build { name = "n", spec = server_osc(), auth = params }    -- the item itself
      assert_refused(err, case[2], case[3])
    end
    local params = copy(base)
    params.tenant = SECRET                                   -- the untranslatable pattern is skipped
    params.region = "eu"
    local body = assert(build({ name = "n", spec = "oracle-service-cloud", auth = params }, seen))
    assert.same(params, body.auth.params)
    local without_port = copy(base)
    without_port.port = nil
    _, err = build({ name = "n", spec = OSC, auth = without_port }, seen)
    assert_refused(err, "auth.port", "required by oracle-service-cloud (Basic Authentication)")
  end)

  it("takes a spec item without authSpec as taking no auth", function()
    local item = { id = UNKNOWN, version = "1.0", name = "no-auth-source", attributes = { isSource = true } }
    local body = assert(build { name = "n", spec = item })
    assert.is_nil(body.auth)
    assert.same({ id = UNKNOWN, version = "1.0" }, body.connectionSpec)
    local _, err = build { name = "n", spec = item, auth = { x = SECRET } }
    assert_refused(err, "auth", "no-auth-source takes no auth")
    local target = { id = UNKNOWN, version = "1.0", name = "sink", attributes = { isDestination = true } }
    _, err = build { name = "n", spec = target }
    assert_refused(err, "spec", "sink is a target connection spec")
  end)

  it("goes through connections:create: sends nothing on a bad param, the checked body otherwise", function()
    local c = new_client()
    c._seen_specs[OSC] = server_osc()
    local conn, err = c.connections:create { name = "n", spec = "oracle-service-cloud",
      auth = { host = "https://acme.custhelp.com", username = "svc", password = SECRET, port = SECRET } }
    assert.is_nil(conn)
    assert_refused(err, "auth.port", "must be an integer")
    assert.equals(0, #sent)
    assert(c.connections:create { name = "n", spec = server_osc(),
      auth = { host = "https://acme.custhelp.com", username = "svc", password = SECRET, port = 443 } })
    local body = cjson.decode(sent[#sent].body)
    assert.same({ specName = "Basic Authentication",
      params = { host = "https://acme.custhelp.com", username = "svc", password = SECRET, port = 443 } }, body.auth)
    assert.has_error(function() c.connections:create { name = "n", spec = 42 } end,
      "connections:create: spec: expected a string or a table, got number")
  end)
end)

describe("client and emulator catalogues", function()
  it("agree on ids, auth spec names, params, required params and secrets", function()
    local catalog = require "flowservice.emulator.catalog"
    for _, entry in ipairs(specs.list()) do
      local served = catalog.get(entry.id)
      assert.is_table(served, entry.alias)
      assert.equals(entry.version, served.public.version)
      local names = {}
      for _, auth in ipairs(served.public.authSpec or {}) do
        names[#names + 1] = auth.name
        local mine = entry.auth[auth.name].schema
        local function keys(t) local k = {} for n in pairs(t) do k[n] = true end return k end
        assert.same(keys(auth.spec.properties), keys(mine.properties), auth.name)
        assert.same(auth.spec.required, mine.required, auth.name)
        assert.same(served.auth[auth.name].secrets, entry.auth[auth.name].secrets, auth.name)
      end
      assert.same(names, entry.auth_specs, entry.alias)
    end
  end)
end)
