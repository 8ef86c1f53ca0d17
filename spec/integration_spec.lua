-- The client against the emulator, a separate process on a port the OS picked.
local helper = require "helper"
local flowservice = require "flowservice"
local core = require "flowservice.core"
local errors = require "flowservice.errors"
local json = require "flowservice.json"
local math_type = require("flowservice.compat").math_type -- math.type, or the 2^53 rule

local PASSWORD = "SENTINEL-osc-password-4e1d77"
local OSC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"

local emu

local function new_client(extra)
  local opts = {
    env = false, base_url = emu.url, ims_url = emu.url, client_id = helper.CLIENT_ID,
    client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID, sandbox = "prod",
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(flowservice.new(opts))
end

local function osc(extra)
  local t = {
    name = "Base connection for Oracle Service Cloud",
    description = "Base connection for Oracle Service Cloud",
    spec = "oracle-service-cloud",
    auth = { host = "example.custhelp.com", username = "svc-user", password = PASSWORD },
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

-- The number of requests the emulator has logged so far (one access-log line each).
local function requests_logged()
  local n = 0
  for _ in emu.log():gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- A token straight from the emulator's IMS, for raw requests.
local function raw_token(session)
  local form = "grant_type=client_credentials&client_id=" .. helper.CLIENT_ID
    .. "&client_secret=" .. helper.CLIENT_SECRET .. "&scope=openid"
  local status, _, body = session:request {
    method = "POST", url = emu.url .. "/ims/token/v3", body = form,
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
  }
  assert.equals(200, status)
  return json.decode(body).access_token
end

setup(function()
  emu = helper.start_emulator()
end)

teardown(function()
  emu.stop()
end)

describe("creating an Oracle Service Cloud base connection", function()
  it("returns the id and the quoted etag, and the connection reads back", function()
    local client = new_client()
    local conn, err = client.connections:create(osc())
    assert.is_nil(err)
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", conn.id)
    assert.matches('^".+"$', conn.etag)

    local item = assert(client.connections:get(conn.id))
    assert.equals(conn.id, item.id)
    assert.equals("Base connection for Oracle Service Cloud", item.name)
    assert.same({ id = OSC_ID, version = "1.0" }, item.connectionSpec)
    assert.equals("Basic Authentication", item.auth.specName)
    assert.equals("svc-user", item.auth.params.username)
    assert.are_not.equal(PASSWORD, item.auth.params.password)
    assert.equals("integer", math_type(item.createdAt))
    assert.equals(helper.ORG_ID, item.imsOrgId)
    assert.equals("prod", item.sandboxName)
    client:close()
  end)

  it("accepts the spec id as well as the alias", function()
    local client = new_client()
    local conn = assert(client.connections:create(osc { spec = OSC_ID }))
    assert.equals(OSC_ID, assert(client.connections:get(conn.id)).connectionSpec.id)
  end)

  it("keeps one token across calls", function()
    local client = new_client()
    local before = select(2, emu.log():gsub("/ims/token/v3", ""))
    for _ = 1, 3 do assert(client.connections:create(osc())) end
    local after = select(2, emu.log():gsub("/ims/token/v3", ""))
    assert.equals(1, after - before)
  end)

  it("sends a body over 1 MiB whole (the core turns off libcurl's Expect wait)", function()
    local client = new_client()
    local description = string.rep("d", 1536 * 1024)
    local conn = assert(client.connections:create(osc { description = description }))
    assert.equals(#description, #assert(client.connections:get(conn.id)).description)
  end)

  it("a body over the service's limit is refused with 413, and the client carries on", function()
    local client = new_client()
    local _, err = client.connections:create(osc { description = string.rep("d", 5 * 1024 * 1024) })
    assert.same({ "http", 413 }, { err.kind, err.status })
    assert(client.connections:create(osc()))
  end)

  it("fetches a new token before the old one expires", function()
    local short = helper.start_emulator { args = { "--token-ttl", "2" } }
    local client = assert(flowservice.new {
      env = false, base_url = short.url, ims_url = short.url, client_id = helper.CLIENT_ID,
      client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID,
    })
    local ok, err = pcall(function()
      assert(client.connections:create(osc()))
      require("socket").sleep(2.2) -- past the first token's expiry
      assert(client.connections:create(osc()))
      local tokens = select(2, short.log():gsub("/ims/token/v3", ""))
      assert.equals(2, tokens)
    end)
    short.stop()
    assert(ok, err)
  end)

  it("keeps connections per sandbox", function()
    local prod = new_client()
    local conn = assert(prod.connections:create(osc()))
    local dev = new_client { sandbox = "dev" }
    local item, err = dev.connections:get(conn.id)
    assert.is_nil(item)
    assert.equals(404, err.status)
  end)
end)

describe("errors from the emulator", function()
  it("a wrong client secret is an IMS auth error", function()
    local client = new_client { client_secret = "SENTINEL-wrong-secret-0b9e" }
    local conn, err = client.connections:create(osc())
    assert.is_nil(conn)
    assert.equals("auth", err.kind)
    assert.equals("invalid_client", err.code)
    assert.truthy(err.status >= 400)
  end)

  it("a token IMS never issued is 401 401013", function()
    local client = new_client { access_token = "SENTINEL-forged-token-77aa" }
    local _, err = client.connections:create(osc())
    assert.same({ "http", 401, "401013" }, { err.kind, err.status, err.code })
  end)

  it("an API key that is not the token's client is 403 403003", function()
    local client = new_client { api_key = "someone-else" }
    local _, err = client.connections:create(osc())
    assert.same({ 403, "403003" }, { err.status, err.code })
  end)

  it("an org the credential does not belong to is 403 403025", function()
    local client = new_client { org_id = "OTHERORG@AdobeOrg" }
    local _, err = client.connections:create(osc())
    assert.same({ 403, "403025" }, { err.status, err.code })
  end)

  it("an unknown id is 404 FLOW-1439-404 with a request id", function()
    local client = new_client()
    local item, err = client.connections:get("00000000-0000-4000-8000-000000000000")
    assert.is_nil(item)
    assert.same({ "http", 404, "FLOW-1439-404" }, { err.kind, err.status, err.code })
    assert.is_string(err.request_id)
    assert.matches(err.request_id, tostring(err), 1, true)
  end)

  it("a connection spec the service does not know is refused by the service", function()
    local client = new_client()
    local _, err = client.connections:create(osc {
      spec = "11111111-2222-4333-8444-555555555555", auth_spec = "Basic Authentication",
    })
    assert.equals("http", err.kind)
    assert.truthy(err.status == 400 or err.status == 404)
    assert.matches("^FLOW%-%d+%-%d+$", err.code)
  end)

  it("auth params the spec refuses are a 400 Flow Service error naming the param", function()
    local client = new_client()
    local _, err = client:request { method = "POST", path = "/connections", body = {
      name = "raw", connectionSpec = { id = OSC_ID, version = "1.0" },
      auth = { specName = "Basic Authentication", params = { host = "h", username = "u" } },
    } }
    assert.same({ "http", 400 }, { err.kind, err.status })
    assert.matches("^FLOW%-%d+%-400$", err.code)
    assert.matches("password", tostring(err))
  end)

  it("a base URL nobody listens on is a transport error", function()
    local client = new_client { base_url = "http://127.0.0.1:" .. helper.closed_port(),
      ims_url = "http://127.0.0.1:" .. helper.closed_port() }
    local _, err = client.connections:create(osc())
    assert.same({ "transport", "CURLE_COULDNT_CONNECT" }, { err.kind, err.curl_code })
  end)
end)

describe("headers the gateway and Flow Service require", function()
  local session, token
  setup(function()
    session = core.session()
    token = raw_token(session)
  end)
  teardown(function() session:close() end)

  local function headers(without, extra)
    local h = {
      ["Authorization"] = "Bearer " .. token, ["x-api-key"] = helper.CLIENT_ID,
      ["x-gw-ims-org-id"] = helper.ORG_ID, ["x-sandbox-name"] = "prod",
      ["Content-Type"] = "application/json", ["Accept"] = "application/json",
    }
    if without then h[without] = nil end
    for k, v in pairs(extra or {}) do h[k] = v end
    return h
  end

  local body = [[{"name":"n","connectionSpec":{"id":"]] .. OSC_ID .. [[","version":"1.0"},]]
    .. [["auth":{"specName":"Basic Authentication","params":{"host":"h","username":"u","password":"p"}}}]]

  -- Sends a create with one header changed; returns the error the client would give.
  local function create_error(h, b)
    local status, resp_headers, raw = session:request {
      method = "POST", url = emu.url .. "/data/foundation/flowservice/connections",
      headers = h, body = b or body,
    }
    assert.is_number(status)
    return errors.from_response(status, resp_headers, json.decode(raw))
  end

  it("sanity: all headers present creates the connection", function()
    local status = session:request {
      method = "POST", url = emu.url .. "/data/foundation/flowservice/connections",
      headers = headers(), body = body,
    }
    assert.equals(201, status)
  end)

  local cases = {
    { "Authorization", 403, "403010" },
    { "x-api-key", 403, "403000" },
    { "x-gw-ims-org-id", 400, "400003" },
  }
  for _, case in ipairs(cases) do
    it("missing " .. case[1] .. " is " .. case[2] .. " " .. case[3], function()
      local err = create_error(headers(case[1]))
      assert.same({ case[2], case[3] }, { err.status, err.code })
    end)
  end

  it("missing x-sandbox-name is a Flow Service error", function()
    local err = create_error(headers("x-sandbox-name"))
    assert.truthy(err.status >= 400 and err.status < 500)
    assert.matches("sandbox", tostring(err):lower())
  end)

  it("missing Content-Type is the generic 400 BadRequestError", function()
    local err = create_error(headers("Content-Type"))
    assert.same({ 400, "BadRequestError", "A valid content-type must be specified" },
      { err.status, err.title, err.detail })
  end)

  it("a body that is not JSON is a 400 Flow Service error", function()
    local err = create_error(headers(), "{name:")
    assert.equals(400, err.status)
    assert.matches("^FLOW%-%d+%-400$", err.code)
  end)

  it("a body without name is a 400 Flow Service error naming it", function()
    local err = create_error(headers(), (body:gsub('"name":"n",', "")))
    assert.equals(400, err.status)
    assert.matches("name", tostring(err))
  end)
end)

describe("client-side errors", function()
  it("send nothing at all", function()
    local client = new_client()
    assert(client:authenticate()) -- the token call is logged now, not during the checks below
    local before = requests_logged()
    local bad = {
      osc { name = "" },
      osc { spec = "no-such-source" },
      osc { auth = { host = "h", username = "u" } },
      osc { auth = { host = "h", username = "u", password = 42 } },
      osc { auth = { host = "h", username = "u", password = "p", extra = "x" } },
    }
    for _, input in ipairs(bad) do
      local conn, err = client.connections:create(input)
      assert.is_nil(conn)
      assert.equals("validation", err.kind)
    end
    local _, err = client.connections:get("..")
    assert.equals("validation", err.kind)
    assert.equals(before, requests_logged())
  end)
end)

describe("secrets", function()
  it("appear in no error, tostring, emulator log or example output", function()
    local outputs = {}
    local function keep(v) outputs[#outputs + 1] = tostring(v) end

    local client = new_client()
    keep(client)
    local conn = assert(client.connections:create(osc()))
    keep(assert(client.connections:get(conn.id)).auth.params.password)
    keep(select(2, client.connections:create(osc { auth = { host = "h", username = "u" } })))
    keep(select(2, new_client { client_secret = "SENTINEL-wrong-secret-0b9e" }.connections:create(osc())))
    local session = core.session()
    local token = raw_token(session)
    keep(session)
    session:close()
    keep(select(2, new_client { access_token = token, org_id = "OTHERORG@AdobeOrg" }
      .connections:create(osc())))
    keep(select(2, new_client { access_token = token }.connections:get("missing-id")))

    -- The example script as a user runs it, once working and once with a wrong secret.
    local function run_example(secret)
      return helper.run_script(emu, "examples/create_connection.lua", {
        AEP_CLIENT_SECRET = secret, OSC_HOST = "example.custhelp.com", OSC_USERNAME = "svc-user",
        OSC_PASSWORD = PASSWORD,
      })
    end
    local out, ok = run_example(helper.CLIENT_SECRET)
    assert.is_true(ok)
    assert.matches("id:%s+%x+%-", out)
    keep(out)
    out, ok = run_example("SENTINEL-wrong-secret-0b9e")
    assert.is_falsy(ok)
    assert.matches("invalid_client", out)
    keep(out)
    keep(emu.log())

    local all = table.concat(outputs, "\n")
    for _, secret in ipairs { PASSWORD, helper.CLIENT_SECRET, "SENTINEL-wrong-secret-0b9e", token } do
      assert.is_nil(all:find(secret, 1, true), "a secret leaked")
    end
  end)
end)

describe("transport options and secrets", function()
  it("reaches the emulator directly when the environment names a proxy", function()
    local closed = "http://127.0.0.1:" .. helper.closed_port()
    local script = os.tmpname()
    finally(function() os.remove(script) end)
    local f = assert(io.open(script, "w"))
    f:write([[
      local client = assert(require("flowservice").new())
      assert(client:authenticate())
      local n = assert(client.connections:count())
      io.write("reached, ", require("flowservice.compat").math_type(n))
    ]])
    f:close()
    local out, ok = helper.run_script(emu, script,
      { http_proxy = closed, HTTPS_PROXY = closed, ALL_PROXY = closed, all_proxy = closed })
    assert.is_true(ok, out)
    assert.equals("reached, integer", out)
  end)

  it("uses a proxy given as an option: a closed one is a transport error without secrets", function()
    local client = new_client { proxy = "http://127.0.0.1:" .. helper.closed_port() }
    local _, err = client:authenticate()
    assert.same({ "transport", "CURLE_COULDNT_CONNECT" }, { err.kind, err.curl_code })
    assert.is_nil(tostring(err):find(helper.CLIENT_SECRET, 1, true))
  end)

  it("works with the low-speed options set", function()
    local client = new_client { low_speed_limit = 1, low_speed_time = 10, proxy = "" }
    assert(client.connections:create(osc()))
  end)

  it("form-encodes a client secret with reserved characters in C, as IMS expects", function()
    local secret = "SENTINEL &+=%/?#\"'\\ ü secret"
    local other = helper.start_emulator { env = { FLOWSERVICE_EMULATOR_CLIENT_SECRET = secret } }
    finally(other.stop)
    local client = assert(flowservice.new { env = false, base_url = other.url, ims_url = other.url,
      client_id = helper.CLIENT_ID, client_secret = secret, org_id = helper.ORG_ID })
    assert(client:authenticate())
    assert(client.connections:create(osc()))
    local wrong = assert(flowservice.new { env = false, base_url = other.url, ims_url = other.url,
      client_id = helper.CLIENT_ID, client_secret = secret .. "x", org_id = helper.ORG_ID })
    local _, err = wrong:authenticate()
    assert.same({ "auth", 401 }, { err.kind, err.status })
  end)
end)
