-- The `flowservice` command line, run as a process (bin/flowservice) against the emulator: the
-- whole Oracle Service Cloud walkthrough, --json parsed back, --dry-run sending nothing, refused
-- secrets, each documented exit code, --help of every command, the credentials file and its
-- precedence, and sentinels (the password, the client secret) never in any output.
local helper = require "spec.helper"
local flowservice = require "flowservice"

local json = flowservice.json
local PASSWORD = "SENTINEL-cli-password-5b7e"
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local EXIT = { ok = 0, failed_run = 1, usage = 2, validation = 3, auth = 4, not_found = 5, conflict = 6,
  server = 7, network = 8, ambiguous = 9, wait_timeout = 10 }

-- Every output any command printed, for the sentinel sweep at the end.
local seen = {}

local function env_for(emu, extra)
  local env = {
    AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
    AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID,
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- Runs the command; returns stdout, stderr, status, and records the outputs.
local function cli(emu, args, opts)
  opts = opts or {}
  local out, err, code = helper.run_cli(args, { env = opts.env or env_for(emu, opts.extra_env), stdin = opts.stdin })
  seen[#seen + 1] = out
  seen[#seen + 1] = err
  return out, err, code
end

-- Runs a command that must succeed with --json; returns the decoded document.
local function cli_json(emu, args, opts)
  local full = { "--json" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local out, err, code = cli(emu, full, opts)
  assert(code == 0, "flowservice " .. table.concat(args, " ") .. " exited " .. tostring(code) .. ": " .. err)
  local doc, why = json.decode(out)
  assert(doc ~= nil, "not one JSON document (" .. tostring(why) .. "): " .. out)
  return doc
end

local function osc_create(name, extra)
  local args = { "connections", "create", "--spec", "oracle-service-cloud", "--name", name,
    "--param", "host=example.custhelp.com", "--param", "username=svc-user", "--password-stdin" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

-- Access-log lines of requests (method and path), to prove what was (not) sent.
local function requests_in(log)
  local n = 0
  for _ in log:gmatch("[A-Z]+ /[^\n]*\n") do n = n + 1 end
  return n
end

describe("flowservice command line", function()
  local emu
  setup(function()
    emu = helper.start_emulator { args = { "--run-duration", "0.5" } }
  end)
  teardown(function()
    if emu then emu.stop() end
  end)

  describe("--help", function()
    local COMMANDS = {
      {}, { "token" }, { "specs" }, { "specs", "list" }, { "specs", "show" }, { "explore" },
      { "connections" }, { "connections", "create" }, { "connections", "list" }, { "connections", "get" },
      { "connections", "update" }, { "connections", "delete" }, { "connections", "test" },
      { "source-connections", "create" }, { "source-connections", "list" }, { "source-connections", "get" },
      { "source-connections", "delete" }, { "target-connections", "create" }, { "target-connections", "list" },
      { "target-connections", "get" }, { "target-connections", "delete" }, { "flows", "create" },
      { "flows", "list" }, { "flows", "get" }, { "flows", "enable" }, { "flows", "disable" },
      { "flows", "delete" }, { "runs", "list" }, { "runs", "get" }, { "runs", "watch" }, { "emulator" },
    }
    for _, words in ipairs(COMMANDS) do
      it("flowservice " .. table.concat(words, " ") .. " --help shows usage and examples", function()
        local args = {}
        for i, w in ipairs(words) do args[i] = w end
        args[#args + 1] = "--help"
        local out, err, code = cli(emu, args)
        assert.equal(0, code, err)
        assert.truthy(out:find("Usage: flowservice", 1, true), out)
        if #words == 2 or (#words == 1 and words[1] ~= "specs" and words[1] ~= "connections") then
          assert.truthy(out:find("Examples:", 1, true), out)
        end
      end)
    end

    it("emulator --help shows the emulator's own options after the command's help", function()
      local out, _, code = cli(emu, { "emulator", "--help" })
      assert.equal(0, code)
      assert.truthy(out:find("Usage: flowservice emulator", 1, true))
      assert.truthy(out:find("--tls-cert", 1, true))
    end)
  end)

  describe("usage errors exit 2", function()
    for _, args in ipairs {
      { "nonsense" }, { "connections" }, { "connections", "get" }, { "connections", "list", "--bogus" },
      { "explore", "x", "--preview", "0" }, { "runs", "watch" },
      { "connections", "create", "--param", "no-equals-sign" },
    } do
      it(table.concat(args, " "), function()
        local out, err, code = cli(emu, args)
        assert.equal(EXIT.usage, code, err)
        assert.equal("", out)
        assert.truthy(err:find("flowservice", 1, true))
      end)
    end
  end)

  describe("the whole Oracle Service Cloud walkthrough", function()
    it("connection (password on stdin), test, explore, source, target, flow, watch, lists", function()
      local name = "CLI OSC walkthrough"
      local created = cli_json(emu, osc_create(name), { stdin = PASSWORD .. "\n" })
      assert.matches(UUID, created.id)
      assert.matches('^".+"$', created.etag)

      -- The plain params are as given (the service masks the password in its view).
      local got = cli_json(emu, { "connections", "get", created.id })
      assert.equal(name, got.name)
      assert.equal("example.custhelp.com", got.auth.params.host)

      local test_out, _, test_code = cli(emu, { "connections", "test", name })
      assert.equal(0, test_code)
      assert.truthy(test_out:find("ok", 1, true))

      local tables = cli_json(emu, { "explore", name })
      assert.equal("incidents", tables[1].path)
      local text = cli(emu, { "explore", name })
      assert.truthy(text:find("NAME%s+PATH%s+TYPE"), text)
      local columns = cli_json(emu, { "explore", created.id, "incidents" })
      assert.equal("id", columns[1].name)
      local preview = cli_json(emu, { "explore", name, "incidents", "--preview", "3" })
      assert.equal(3, #preview.rows)
      assert.equal(20001, preview.rows[1].id)

      local source = cli_json(emu, { "source-connections", "create", "--name", "CLI source",
        "--connection", name, "--table", "incidents" })
      local target = cli_json(emu, { "target-connections", "create", "--name", "CLI target",
        "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      local flow = cli_json(emu, { "flows", "create", "--name", "CLI flow", "--source", "CLI source",
        "--target", target.id, "--delta-column", "updatedTime", "--mapping", "8c1d0e2f3a4b5c6d7e8f90a1b2c3d4e5" })
      assert.matches(UUID, source.id)
      assert.matches(UUID, flow.id)

      -- Not a terminal: plain progress lines, then the result line; exit 0 on success.
      local out, err, code = cli(emu, { "runs", "watch", "--flow", flow.id, "--interval", "0.2", "--timeout", "60" })
      assert.equal(0, code, err)
      assert.falsy(out:find("\r", 1, true))
      assert.truthy(out:find("inprogress\n", 1, true) or out:find("waiting for the first run\n", 1, true), out)
      assert.truthy(out:find("success %(records in 48, out 48, failed 0%)"), out)

      local runs = cli_json(emu, { "runs", "list", "--flow", flow.id })
      assert.equal(1, #runs)
      assert.equal(flow.id, runs[1].flowId)
      local run = cli_json(emu, { "runs", "get", runs[1].id })
      assert.equal(runs[1].id, run.id)
      local watched = cli_json(emu, { "runs", "watch", runs[1].id, "--interval", "0.2" })
      assert.equal(runs[1].id, watched.id)
      -- --flow takes the flow's name too (resolved to its id like every other reference)
      local by_name = cli_json(emu, { "runs", "watch", "--flow", "CLI flow", "--interval", "0.2", "--timeout", "30" })
      assert.equal(runs[1].id, by_name.id)

      local disabled = cli_json(emu, { "flows", "disable", "CLI flow" })
      assert.equal(flow.id, disabled.id)
      assert.equal("disabled", cli_json(emu, { "flows", "get", flow.id }).state)
      cli_json(emu, { "flows", "enable", flow.id })
      assert.equal("enabled", cli_json(emu, { "flows", "get", "CLI flow" }).state)

      local flows = cli_json(emu, { "flows", "list" })
      assert.equal(1, #flows)
      local listed = cli(emu, { "connections", "list" })
      assert.truthy(listed:find("ID%s+NAME%s+SPEC"), listed)
      assert.truthy(listed:find("oracle-service-cloud", 1, true), listed)

      local updated = cli_json(emu, { "connections", "update", name, "--description", "from the CLI" })
      assert.equal(created.id, updated.id)
      assert.not_equal(created.etag, updated.etag)

      -- Deleting in dependency order.
      assert.same({ id = flow.id, deleted = true }, cli_json(emu, { "flows", "delete", flow.id }))
      cli_json(emu, { "source-connections", "delete", source.id })
      cli_json(emu, { "target-connections", "delete", "CLI target" })
      cli_json(emu, { "connections", "delete", created.id })
      assert.same({}, cli_json(emu, { "flows", "list" }))
    end)

    it("--param-env reads the password from the environment", function()
      local args = { "connections", "create", "--spec", "oracle-service-cloud", "--name", "CLI env",
        "--param", "host=h.example", "--param", "username=u", "--param-env", "password=OSC_PW" }
      local created = cli_json(emu, args, { env = env_for(emu, { OSC_PW = PASSWORD }) })
      assert.matches(UUID, created.id)
      cli_json(emu, { "connections", "delete", created.id })
    end)

    it("--json prints [] for an empty list", function()
      local out, _, code = cli(emu, { "--json", "target-connections", "list", "--filter", 'name=="none such"' })
      assert.equal(0, code)
      assert.equal("[]\n", out)
    end)

    it("specs list and show (service and built-in)", function()
      local list = cli_json(emu, { "specs", "list" })
      assert.truthy(#list >= 7)
      local offline = cli_json(emu, { "specs", "list", "--offline" })
      assert.equal("oracle-service-cloud", offline[1].alias)
      local shown = cli_json(emu, { "specs", "show", "oracle-service-cloud" })
      assert.equal("ba5126ec-c9ac-11eb-b8bc-0242ac130003", shown.id)
      local secret = {}
      for _, p in ipairs(shown.auth_specs[1].params) do secret[p.name] = p.secret end
      assert.same({ host = false, username = false, password = true }, secret)
      local by_id = cli_json(emu, { "specs", "show", shown.id })
      assert.equal("oracle-service-cloud", by_id.name)  -- the service's own name for it
      local _, _, code = cli(emu, { "specs", "show", "no such spec" })
      assert.equal(EXIT.not_found, code)
    end)

    it("token shows org, sandbox and expiry, never the token", function()
      local doc = cli_json(emu, { "token" })
      assert.equal(helper.ORG_ID, doc.org_id)
      assert.equal("prod", doc.sandbox)
      assert.truthy(doc.expires_in > 0)
      assert.is_nil(doc.access_token)
      local out = cli(emu, { "token" })
      assert.truthy(out:find("expires", 1, true))
    end)
  end)

  describe("secrets", function()
    it("refuses a password given as --param, without echoing it, and sends nothing", function()
      local before = requests_in(emu.log())
      local args = { "connections", "create", "--spec", "oracle-service-cloud", "--name", "x",
        "--param", "host=h", "--param", "username=u", "--param", "password=" .. PASSWORD }
      local out, err, code = cli(emu, args)
      assert.equal(EXIT.usage, code)
      assert.equal("", out)
      assert.truthy(err:find("ps", 1, true) and err:find("history", 1, true), err)
      assert.is_nil(err:find(PASSWORD, 1, true))
      assert.equal(before, requests_in(emu.log()))
    end)

    it("refuses any secret-looking param, also for a spec it does not know", function()
      local _, err, code = cli(emu, { "connections", "create", "--spec", "11111111-2222-3333-4444-555555555555",
        "--name", "x", "--auth-spec", "Basic", "--param", "apiKey=" .. PASSWORD })
      assert.equal(EXIT.usage, code)
      assert.is_nil(err:find(PASSWORD, 1, true))
    end)

    it("--param-env with an unset variable is a usage error naming the variable", function()
      local _, err, code = cli(emu, { "connections", "create", "--spec", "oracle-service-cloud", "--name", "x",
        "--param-env", "password=NOT_SET_ANYWHERE" })
      assert.equal(EXIT.usage, code)
      assert.truthy(err:find("NOT_SET_ANYWHERE", 1, true))
    end)
  end)

  describe("--dry-run", function()
    it("prints the create request with secrets masked and sends nothing (not even a token request)", function()
      local log_before = emu.log()
      local out, err, code = cli(emu, osc_create("dry", { "--dry-run" }), { stdin = PASSWORD .. "\n" })
      assert.equal(0, code, err)
      assert.truthy(out:find("POST " .. emu.url .. "/data/foundation/flowservice/connections\n", 1, true), out)
      assert.truthy(out:find("Authorization: [redacted]", 1, true), out)
      assert.truthy(out:find('"connectionSpec":{"id":"ba5126ec-c9ac-11eb-b8bc-0242ac130003"', 1, true), out)
      assert.is_nil(out:find(PASSWORD, 1, true))
      assert.equal(requests_in(log_before), requests_in(emu.log()))
    end)

    it("--json --dry-run prints the requests as one JSON array", function()
      local before = requests_in(emu.log())
      local doc = cli_json(emu, { "flows", "create", "--name", "f", "--source", "s", "--target", "t",
        "--delta-column", "updatedTime", "--dry-run" })
      assert.equal(1, #doc)
      assert.equal("POST", doc[1].method)
      assert.equal("[redacted]", doc[1].headers.Authorization)
      assert.equal("updatedTime", doc[1].body.transformations[1].params.deltaColumn.name)
      local deleted = cli_json(emu, { "connections", "delete", "some name", "--dry-run" })
      assert.equal("DELETE", deleted[1].method)
      local patched = cli_json(emu, { "connections", "update", "00000000-0000-4000-8000-000000000000",
        "--name", "n", "--etag", '"e"', "--dry-run" })
      assert.equal('"e"', patched[1].headers["If-Match"])
      assert.same({ { op = "add", path = "/name", value = "n" } }, patched[1].body)
      assert.equal(before, requests_in(emu.log()))
    end)

    it("shows the list and watch queries the library itself sends (quoting, filter order)", function()
      local FLOW = "4b1c7e0a-0000-4000-8000-000000000001"
      local urls = {}
      local client = helper.new_client(emu, { trace = function(e) urls[#urls + 1] = e.url end })
      client.runs:list { property = { 'status=="a\\"b"' }, flow_id = FLOW, limit = 3 }()
      client.runs:list { flow_id = FLOW, orderby = "createdAt", limit = 1 }()
      client:close()
      local listed = cli_json(emu, { "runs", "list", "--flow", FLOW, "--filter", 'status=="a\\"b"', "--page-size", "3",
        "--dry-run" })
      assert.equal(urls[#urls - 1], listed[1].url)
      local watched = cli_json(emu, { "runs", "watch", "--flow", FLOW, "--dry-run" })
      assert.equal(urls[#urls], watched[1].url)
    end)
  end)

  describe("exit codes", function()
    it("3 validation: refused before sending", function()
      local _, err, code = cli(emu, { "connections", "create", "--spec", "oracle-service-cloud", "--name", "x",
        "--param", "host=h" }, { stdin = "" })
      assert.equal(EXIT.validation, code)
      assert.truthy(err:find("^flowservice: validation error: auth%.username"), err)
    end)

    it("4 auth: IMS refuses the client secret", function()
      local _, err, code = cli(emu, { "token" }, { env = env_for(emu, { AEP_CLIENT_SECRET = "wrong-secret" }) })
      assert.equal(EXIT.auth, code)
      assert.truthy(err:find("auth error 401 invalid_client", 1, true), err)
    end)

    it("5 not found, with the code and request id on one line", function()
      local _, err, code = cli(emu, { "connections", "get", "00000000-0000-4000-8000-000000000000" })
      assert.equal(EXIT.not_found, code)
      assert.truthy(err:find("^flowservice: http error 404 FLOW%-1439%-404: .*%(request id [^)]+%)\n$"), err)
      local _, err2, code2 = cli(emu, { "flows", "get", "no flow has this name" })
      assert.equal(EXIT.not_found, code2, err2)
    end)

    it("6 conflict: a stale etag, and a name that matches two resources", function()
      local created = cli_json(emu, osc_create("CLI twin"), { stdin = PASSWORD .. "\n" })
      local _, err, code = cli(emu, { "connections", "update", created.id, "--name", "n", "--etag", '"stale"' })
      assert.equal(EXIT.conflict, code)
      assert.truthy(err:find("412", 1, true), err)
      local twin = cli_json(emu, osc_create("CLI twin"), { stdin = PASSWORD .. "\n" })
      local _, err2, code2 = cli(emu, { "connections", "get", "CLI twin" })
      assert.equal(EXIT.conflict, code2)
      assert.truthy(err2:find("give the id", 1, true), err2)
      cli_json(emu, { "connections", "delete", created.id })
      cli_json(emu, { "connections", "delete", twin.id })
    end)

    it("7 service error: a 4xx the client could not foresee", function()
      local base = cli_json(emu, osc_create("CLI 7"), { stdin = PASSWORD .. "\n" })
      local _, err, code = cli(emu, { "source-connections", "create", "--name", "s", "--connection", base.id,
        "--table", "no_such_table" })
      assert.equal(EXIT.server, code)
      assert.truthy(err:find("http error 400", 1, true), err)
      cli_json(emu, { "connections", "delete", base.id })
    end)

    it("7 service error: a 5xx to a GET; 9 ambiguous: a 5xx to a create (it may have been carried out)", function()
      local faulty = helper.start_emulator { args = { "--faults",
        '{"rules": [{"fault": "status", "status": 500, "path": "*/connections"}]}' } }
      local _, err, code = cli(faulty, { "connections", "list" })
      assert.equal(EXIT.server, code)
      assert.truthy(err:find("http error 500", 1, true), err)
      _, err, code = cli(faulty, osc_create("x"), { stdin = PASSWORD .. "\n" })
      faulty.stop()
      assert.equal(EXIT.ambiguous, code)
      assert.truthy(err:find("http error 500", 1, true) and err:find("ambiguous", 1, true), err)
    end)

    it("8 network: nothing listens", function()
      local url = "http://127.0.0.1:" .. helper.closed_port()
      local _, err, code = cli(emu, { "--base-url", url, "--ims-url", url, "connections", "list" })
      assert.equal(EXIT.network, code)
      assert.truthy(err:find("transport error", 1, true), err)
    end)
  end)

  describe("configuration", function()
    local dir
    setup(function()
      dir = helper.run("mktemp -d"):gsub("%s+$", "")
    end)
    teardown(function()
      os.execute("rm -rf " .. helper.shell_quote(dir))
    end)

    -- A file in the Developer Console's shape.
    local function credentials_file(mode, org)
      local path = dir .. "/credentials-" .. mode .. ".json"
      local f = assert(io.open(path, "w"))
      f:write(json.encode {
        CLIENT_ID = helper.CLIENT_ID, CLIENT_SECRETS = { helper.CLIENT_SECRET, "an-older-secret" },
        ORG_ID = org or helper.ORG_ID, SCOPES = { "openid", "AdobeID", "read_organizations" },
        TECHNICAL_ACCOUNT_ID = "A1B2C3@techacct.adobe.com", TECHNICAL_ACCOUNT_EMAIL = "x@techacct.adobe.com",
      })
      f:close()
      os.execute("chmod " .. mode .. " " .. helper.shell_quote(path))
      return path
    end

    local function urls_only(extra)
      local env = { AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url }
      for k, v in pairs(extra or {}) do env[k] = v end
      return env
    end

    it("reads the credentials file (--credentials), with no warning when only the owner can read it", function()
      local path = credentials_file("600")
      local out, err, code = cli(emu, { "--json", "--credentials", path, "token" }, { env = urls_only() })
      assert.equal(0, code, err)
      assert.equal(helper.ORG_ID, json.decode(out).org_id)
      assert.equal("", err)
    end)

    it("warns when others can read the credentials file", function()
      local path = credentials_file("644")
      local _, err, code = cli(emu, { "token" }, { env = urls_only { AEP_CREDENTIALS_FILE = path } })
      assert.equal(0, code, err)
      assert.truthy(err:find("readable by other users", 1, true), err)
    end)

    it("flags beat the environment, which beats the file", function()
      local path = credentials_file("600", "FILEORG0000@AdobeOrg")
      -- The file's org is not the emulator's: the environment's wins.
      local doc = cli_json(emu, { "token" }, { env = urls_only { AEP_CREDENTIALS_FILE = path,
        AEP_ORG_ID = helper.ORG_ID, AEP_SANDBOX = "dev" } })
      assert.equal(helper.ORG_ID, doc.org_id)
      assert.equal("dev", doc.sandbox)
      -- A flag beats the environment.
      doc = cli_json(emu, { "--sandbox", "prod", "token" }, { env = urls_only { AEP_CREDENTIALS_FILE = path,
        AEP_ORG_ID = helper.ORG_ID, AEP_SANDBOX = "dev" } })
      assert.equal("prod", doc.sandbox)
      local _, err, code = cli(emu, { "--org-id", "FILEORG0000@AdobeOrg", "connections", "list" },
        { env = urls_only { AEP_CREDENTIALS_FILE = path, AEP_ORG_ID = helper.ORG_ID } })
      assert.equal(EXIT.auth, code, err)
      -- Without environment: the file's org is used (the emulator's IMS does not check it; its
      -- gateway does, on Flow Service calls, as above).
      local from_file = cli_json(emu, { "--credentials", path, "token" }, { env = urls_only() })
      assert.equal("FILEORG0000@AdobeOrg", from_file.org_id)
    end)

    it("an unreadable or malformed credentials file is a usage error that shows no contents", function()
      local _, _, code = cli(emu, { "--credentials", dir .. "/missing.json", "token" }, { env = urls_only() })
      assert.equal(EXIT.usage, code)
      local path = dir .. "/bad.json"
      local f = assert(io.open(path, "w"))
      f:write("not json " .. PASSWORD)
      f:close()
      local _, err, code2 = cli(emu, { "--credentials", path, "token" }, { env = urls_only() })
      assert.equal(EXIT.usage, code2)
      assert.is_nil(err:find(PASSWORD, 1, true))
    end)
  end)

  -- On a terminal (a pseudo-terminal from util-linux `script`): the password prompt with echo
  -- off (and echo back on afterwards), and the live progress line of runs watch.
  describe("on a terminal", function()
    local has_script = os.execute("command -v script >/dev/null 2>&1")

    -- Runs the command on a pseudo-terminal; `input` is typed after a second (once the prompt
    -- has turned echo off). Returns what the terminal showed.
    local function on_terminal(args, input, after)
      local words = {}
      for i, a in ipairs(args) do words[i] = helper.shell_quote(a) end
      local vars = {}
      for k, v in pairs(env_for(emu)) do vars[#vars + 1] = k .. "=" .. helper.shell_quote(v) end
      local command = "env " .. table.concat(vars, " ") .. " " .. helper.LUA .. " bin/flowservice "
        .. table.concat(words, " ") .. (after or "")
      local out = helper.run_process("(sleep 1; printf '%s\\n' " .. helper.shell_quote(input or "")
        .. ") | script -qec " .. helper.shell_quote(command) .. " /dev/null")
      seen[#seen + 1] = out
      return out
    end

    it("prompts for the password without echo and restores echo", function()
      if not has_script then return pending("util-linux script is not installed") end
      local out = on_terminal({ "connections", "create", "--spec", "oracle-service-cloud", "--name", "CLI tty",
        "--param", "host=h.example", "--param", "username=u" }, PASSWORD, "; stty -a")
      assert.truthy(out:find("password: ", 1, true), out)
      assert.truthy(out:find("id: +%x+%-"), out)
      assert.is_nil(out:find(PASSWORD, 1, true))
      assert.truthy(out:find("[ ;]echo[ ;\r\n]"), out)            -- stty shows echo on again
      cli_json(emu, { "connections", "delete", "CLI tty" })
    end)

    it("runs watch rewrites one progress line with \\r", function()
      if not has_script then return pending("util-linux script is not installed") end
      local base = cli_json(emu, osc_create("CLI watch"), { stdin = PASSWORD .. "\n" })
      local source = cli_json(emu, { "source-connections", "create", "--name", "CLI watch source",
        "--connection", base.id, "--table", "accounts" })
      local target = cli_json(emu, { "target-connections", "create", "--name", "CLI watch target",
        "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      local flow = cli_json(emu, { "flows", "create", "--name", "CLI watch flow", "--source", source.id,
        "--target", target.id, "--frequency", "once" })
      local out = on_terminal { "runs", "watch", "--flow", flow.id, "--interval", "0.1" }
      assert.truthy(out:find("\r +%d+%.%d s"), out)                 -- \r then the next progress
      assert.truthy(out:find("success %(records in 12"), out)
      for _, id in ipairs { flow.id } do cli_json(emu, { "flows", "delete", id }) end
      cli_json(emu, { "source-connections", "delete", source.id })
      cli_json(emu, { "target-connections", "delete", target.id })
      cli_json(emu, { "connections", "delete", base.id })
    end)
  end)

  it("runs in-process through cli.main(argv, streams, env)", function()
    local cli_module = require "flowservice.cli"
    local function buffer()
      local parts = {}
      return { write = function(self, ...) for _, p in ipairs { ... } do parts[#parts + 1] = p end return self end,
        flush = function() end, text = function() return table.concat(parts) end }
    end
    local out, err = buffer(), buffer()
    local streams = { stdout = out, stderr = err, isatty = function() return false end }
    assert.equal(0, cli_module.main({ "--json", "specs", "list", "--offline" }, streams, {}))
    assert.equal("oracle-service-cloud", json.decode(out:text())[1].alias)
    assert.equal(2, cli_module.main({ "specs", "frobnicate" }, streams, {}))
    assert.equal(3, cli_module.main({ "token" }, streams, { AEP_CLIENT_ID = "c", AEP_CLIENT_SECRET = "s" }))
    assert.truthy(err:text():find("validation error: org_id", 1, true), err:text())
  end)

  it("the emulator command starts the emulator in the same process", function()
    local proc = helper.spawn("env FLOWSERVICE_EMULATOR_CLIENT_SECRET=x " .. helper.LUA
      .. " bin/flowservice emulator --port 0 2>/dev/null")
    local url = proc.first_line
    proc.stop()
    assert.matches("^http://127%.0%.0%.1:%d+$", url)
  end)

  it("no output ever held the password or the client secret", function()
    assert.truthy(#seen > 50)
    for _, text in ipairs(seen) do
      assert.is_nil(text:find(PASSWORD, 1, true))
      assert.is_nil(text:find(helper.CLIENT_SECRET, 1, true))
    end
    assert.is_nil(emu.log():find(PASSWORD, 1, true))
  end)
end)
