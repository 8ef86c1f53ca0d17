-- The command line run unattended (issue 15), as processes against the emulator: the token
-- cache shared by processes (one token request for a 30-command script, file modes, refusals,
-- dropped on a 401, token --forget), and the library's token_cache option.
local helper = require "spec.helper"
local flowservice = require "flowservice"

local json = flowservice.json
local unpack = table.unpack or unpack -- luacheck: ignore 143

local EXIT = { ok = 0, failed_run = 1, usage = 2, validation = 3, auth = 4, not_found = 5, conflict = 6,
  server = 7, network = 8, ambiguous = 9, wait_timeout = 10 }

local TOKEN_ROUTE = "POST /ims/token/v3"

-- A fresh directory to stand for $XDG_CACHE_HOME; removed by cleanup().
local made = {}
local function temp_dir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -m 700 " .. helper.shell_quote(path)))
  made[#made + 1] = path
  return path
end
local function cleanup()
  for _, path in ipairs(made) do os.execute("rm -rf " .. helper.shell_quote(path)) end
  made = {}
end

local function sh(command)
  local out, ok = helper.run(command)
  assert(ok, command .. ": " .. out)
  return out
end

local env_for = helper.cli_env

local function cli(emu, args, extra_env, stdin)
  return helper.run_cli(args, { env = env_for(emu, extra_env), stdin = stdin })
end

-- Runs a command that must succeed with --json first; returns the decoded document.
local function cli_json(emu, args, stdin)
  local full = { "--json" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local out, err, code = cli(emu, full, nil, stdin)
  assert(code == 0, table.concat(args, " ") .. " exited " .. tostring(code) .. ": " .. err)
  return assert(json.decode(out), out)
end

local TARGET_ARGS = { "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" }

-- A base connection, source, target and flow named after `name`; returns the flow.
local function make_flow(emu, name)
  local conn = cli_json(emu, { "connections", "create", "--spec", "oracle-service-cloud", "--name", name .. " conn",
    "--param", "host=example.custhelp.com", "--param", "username=u", "--password-stdin" }, "pw\n")
  local source = cli_json(emu, { "source-connections", "create", "--name", name .. " source",
    "--connection", conn.id, "--table", "incidents" })
  local target = cli_json(emu, { "target-connections", "create", "--name", name .. " target", unpack(TARGET_ARGS) })
  return cli_json(emu, { "flows", "create", "--name", name, "--source", source.id, "--target", target.id,
    "--delta-column", "updatedTime", "--mapping", "8c1d0e2f3a4b5c6d7e8f90a1b2c3d4e5" })
end

-- The one file in the cache directory (token-HASH), or nil.
local function cache_file(cache_home)
  local out = sh("ls " .. helper.shell_quote(cache_home .. "/flowservice"))
  local name = out:match("(token%-%x+)\n")
  return name and cache_home .. "/flowservice/" .. name
end

local function mode_of(path)
  return (sh("stat -c %a " .. helper.shell_quote(path)):gsub("%s+$", ""))
end

describe("the command line, unattended", function()
  local block = helper.emulator_block { args = { "--run-duration", "0.5" } }
  setup(block.start)
  teardown(block.stop)
  before_each(block.reset)
  after_each(cleanup)

  local function token_requests()
    return block.admin.stats().by_route[TOKEN_ROUTE] or 0
  end

  describe("the token cache", function()
    it("a 30-command shell script makes exactly 1 token request", function()
      local cache_home = temp_dir()
      local commands = {
        "token", "specs list", "connections list", "source-connections list", "target-connections list",
        "flows list", "runs list", "connections list --json", "flows list --json", "token --json",
      }
      local lines = { "set -e" }
      for i = 1, 30 do
        lines[#lines + 1] = helper.LUA .. " bin/flowservice " .. commands[(i - 1) % #commands + 1] .. " >/dev/null"
      end
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
      local vars = env_for(block.emu, { XDG_CACHE_HOME = cache_home })
      local words = {}
      for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. helper.shell_quote(v) end
      local out, ok = helper.run("env " .. table.concat(words, " ") .. " sh " .. helper.shell_quote(script))
      os.remove(script)
      assert(ok, out)
      local stats = block.admin.stats()
      assert.equal(1, stats.by_route[TOKEN_ROUTE])
      -- 24 commands call Flow Service once each; the 6 `token` commands only read the cache
      assert.equal(25, stats.requests, json.encode(stats))
    end)

    it("is a 0700 directory and a 0600 file holding the key and the token, never the client secret", function()
      local cache_home = temp_dir()
      local _, err, code = cli(block.emu, { "token" }, { XDG_CACHE_HOME = cache_home })
      assert.equal(EXIT.ok, code, err)
      local path = assert(cache_file(cache_home))
      assert.equal("700", mode_of(cache_home .. "/flowservice"))
      assert.equal("600", mode_of(path))
      local text = helper.read_file(path)
      assert.is_nil(text:find(helper.CLIENT_SECRET, 1, true))
      local header = assert(json.decode(text:match("^([^\n]*)\n")))
      assert.truthy(header.key:find(helper.CLIENT_ID, 1, true) and header.key:find(helper.ORG_ID, 1, true))
      assert.is_true(header.refresh_at < header.expires_at)
      -- no temporary file left behind by the atomic write
      assert.equal(path:match("[^/]+$") .. "\n", sh("ls -a " .. helper.shell_quote(cache_home .. "/flowservice")
        .. " | grep -v '^[.]*$'"))
    end)

    it("token --json says whether the token came from the cache", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      local first = json.decode((cli(block.emu, { "--json", "token" }, env)))
      local second = json.decode((cli(block.emu, { "--json", "token" }, env)))
      assert.is_false(first.cached)
      assert.is_true(second.cached)
      assert.is_true(second.refresh_in < second.expires_in)
      assert.equal(1, token_requests())
    end)

    it("finds a token only with the client secret that got it: a wrong secret asks IMS and fails", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }, env)))
      local _, err, code = cli(block.emu, { "token" }, { XDG_CACHE_HOME = cache_home,
        AEP_CLIENT_SECRET = "SENTINEL-wrong-secret" })
      assert.equal(EXIT.auth, code, err)
      assert.is_nil(err:find("SENTINEL", 1, true))
      local again = json.decode((cli(block.emu, { "--json", "token" }, env)))
      assert.is_true(again.cached) -- the right secret still finds its token
      assert.equal(2, token_requests())
    end)

    it("is refused, with the path and the rule, when group or others can read the file", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }, env)))
      local path = assert(cache_file(cache_home))
      sh("chmod 640 " .. helper.shell_quote(path))
      local out, err, code = cli(block.emu, { "connections", "list" }, env)
      assert.equal(EXIT.validation, code)
      assert.equal("", out)
      assert.truthy(err:find(path, 1, true), err)
      assert.truthy(err:find("group or others", 1, true), err)
      assert.truthy(err:find("token --forget", 1, true), err)
      -- --forget removes it; the next command asks IMS again and writes a private file
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token", "--forget" }, env)))
      assert.is_nil(cache_file(cache_home))
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "connections", "list" }, env)))
      assert.equal("600", mode_of(assert(cache_file(cache_home))))
      assert.equal(2, token_requests())
    end)

    it("is refused when the directory is open to others, or the file is a symbolic link", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }, env)))
      sh("chmod 755 " .. helper.shell_quote(cache_home .. "/flowservice"))
      local _, err, code = cli(block.emu, { "token" }, env)
      assert.equal(EXIT.validation, code)
      assert.truthy(err:find(cache_home .. "/flowservice", 1, true) and err:find("0755", 1, true), err)
      sh("chmod 700 " .. helper.shell_quote(cache_home .. "/flowservice"))
      local path = assert(cache_file(cache_home))
      local elsewhere = temp_dir() .. "/token"
      sh("mv " .. helper.shell_quote(path) .. " " .. helper.shell_quote(elsewhere) .. " && ln -s "
        .. helper.shell_quote(elsewhere) .. " " .. helper.shell_quote(path))
      _, err, code = cli(block.emu, { "token" }, env)
      assert.equal(EXIT.validation, code)
      assert.truthy(err:find("symbolic link", 1, true), err)
    end)

    it("is dropped on a 401: the next command gets a new token and caches it", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }, env)))
      block.admin.reset() -- the emulator forgets every token it issued: the cached one now gets a 401
      local _, err, code = cli(block.emu, { "connections", "list" }, env)
      assert.equal(EXIT.ok, code, err)
      assert.equal(1, token_requests())
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "flows", "list" }, env)))
      assert.equal(1, token_requests())
    end)

    it("is not used past its refresh time", function()
      local cache_home = temp_dir()
      local env = { XDG_CACHE_HOME = cache_home }
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }, env)))
      local path = assert(cache_file(cache_home))
      local text = helper.read_file(path)
      local header, token = text:match("^([^\n]*)\n(.*)$")
      local meta = json.decode(header)
      meta.refresh_at = os.time() - 1
      local f = assert(io.open(path, "wb"))
      f:write(json.encode(meta), "\n", token)
      f:close()
      local doc = json.decode((cli(block.emu, { "--json", "token" }, env)))
      assert.is_false(doc.cached)
      assert.equal(2, token_requests())
    end)

    it("is off without a home directory or XDG_CACHE_HOME", function()
      for _ = 1, 2 do assert.equal(EXIT.ok, select(3, cli(block.emu, { "token" }))) end
      assert.equal(2, token_requests())
    end)
  end)

  describe("errors for scripts", function()
    local FIELDS = { "kind", "status", "code", "title", "detail", "request_id", "field", "retryable", "ambiguous",
      "attempts" }

    -- stderr must be exactly one JSON object with every documented field; returns it decoded.
    local function one_error_object(err)
      local line, rest = err:match("^([^\n]*)\n(.*)$")
      assert.equal("", rest, "more than one line on stderr: " .. err)
      local doc = json.decode(line)
      assert.is_table(doc, err)
      for _, name in ipairs(FIELDS) do assert.is_not_nil(doc[name], name .. " missing in " .. line) end
      return doc
    end

    it("--json: a service error is one JSON object on stderr with its fields, and nothing on stdout", function()
      local out, err, code = cli(block.emu, { "--json", "connections", "get", "11111111-2222-3333-4444-555555555555" })
      assert.equal(EXIT.not_found, code)
      assert.equal("", out)
      local doc = one_error_object(err)
      assert.equal("http", doc.kind)
      assert.equal(404, doc.status)
      assert.is_string(doc.request_id)
      assert.is_false(doc.ambiguous)
      assert.equal(1, doc.attempts)
      assert.equal(EXIT.not_found, doc.exit)
    end)

    it("--json: a usage error and a validation error are JSON objects too", function()
      local _, err, code = cli(block.emu, { "--json", "connections", "list", "--bogus" })
      assert.equal(EXIT.usage, code)
      local doc = one_error_object(err)
      assert.equal("usage", doc.kind)
      assert.truthy(doc.message:find("--bogus", 1, true))
      _, err, code = cli(block.emu, { "--json", "--sandbox", "Not-Lower", "flows", "list" })
      assert.equal(EXIT.validation, code)
      doc = one_error_object(err)
      assert.equal("validation", doc.kind)
      assert.equal("sandbox", doc.field)
      assert.equal(0, doc.attempts)
    end)

    it("without --json errors stay one line of text", function()
      local out, err, code = cli(block.emu, { "connections", "get", "11111111-2222-3333-4444-555555555555" })
      assert.equal(EXIT.not_found, code)
      assert.equal("", out)
      assert.is_nil(json.decode(err))
      assert.truthy(err:find("404", 1, true))
    end)

    it("an ambiguous create (carried out, then the connection reset) exits 9, and says so", function()
      block.admin.set_faults { { method = "POST", path = "/data/foundation/flowservice/targetConnections",
        fault = "reset", phase = "after" } }
      local out, err, code = cli(block.emu, { "--json", "target-connections", "create", "--name", "Ambiguous target",
        "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      assert.equal(EXIT.ambiguous, code, err)
      assert.equal("", out)
      local doc = one_error_object(err)
      assert.is_true(doc.ambiguous)
      assert.equal("transport", doc.kind)
      block.admin.clear_faults()
      -- it was created: the list shows it
      local list = json.decode((cli(block.emu, { "--json", "target-connections", "list" })))
      assert.equal("Ambiguous target", list[1].name)
    end)

    it("runs watch exits 10 when --timeout passes first (not 8, a network failure)", function()
      local flow = make_flow(block.emu, "W flow")
      local out, err, code = cli(block.emu, { "--json", "runs", "watch", "--flow", flow.id, "--timeout", "0" })
      assert.equal(EXIT.wait_timeout, code, err)
      assert.equal("", out)
      local doc = one_error_object(err)
      assert.equal("timeout", doc.kind)
      assert.equal(EXIT.wait_timeout, doc.exit)
      out, err, code = cli(block.emu, { "runs", "watch", "--flow", flow.id, "--timeout", "0" })
      assert.equal(EXIT.wait_timeout, code)
      assert.truthy(out:find("waiting for the first run", 1, true) or out:find("inprogress", 1, true), out)
      assert.truthy(err:find("did not finish within 0 s", 1, true), err)
    end)
  end)

  describe("ensure", function()
    it("creates, then finds, each of the four kinds (exit 0 both times), one resource each", function()
      local function ensure(args, stdin)
        local out, err, code = cli(block.emu, args, nil, stdin)
        assert.equal(EXIT.ok, code, err)
        return out
      end
      local function twice(group, args, stdin)
        local first = json.decode(ensure({ "--json", group, "ensure", unpack(args) }, stdin))
        local text = ensure({ group, "ensure", unpack(args) }, stdin)
        local second = json.decode(ensure({ "--json", group, "ensure", unpack(args) }, stdin))
        assert.is_true(first.created)
        assert.is_false(second.created)
        assert.equal(first.id, second.id)
        assert.equal("found " .. first.id .. " (it already existed)\n", text)
        local list = json.decode((cli(block.emu, { "--json", group, "list" })))
        local same = 0
        for _, item in ipairs(list) do if item.id == first.id then same = same + 1 end end
        assert.equal(1, same)
        assert.equal(1, #list)
        return first.id
      end
      local conn = twice("connections", { "--spec", "oracle-service-cloud", "--name", "E conn",
        "--param", "host=example.custhelp.com", "--param", "username=u", "--password-stdin" }, "pw\n")
      local source = twice("source-connections", { "--name", "E source", "--connection", "E conn",
        "--table", "incidents" })
      local target = twice("target-connections", { "--name", "E target", "--dataset", "5f7e0d1c2b3a4d5e6f708192",
        "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      twice("flows", { "--name", "E flow", "--source", source, "--target", target, "--delta-column", "updatedTime",
        "--mapping", "8c1d0e2f3a4b5c6d7e8f90a1b2c3d4e5" })
      assert.is_string(conn)
      local human = ensure({ "target-connections", "ensure", "--name", "E target 2", "--dataset",
        "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      assert.matches("^created %x+%-", human)
    end)

    it("--dry-run shows the look-up and the create, and sends nothing", function()
      local before = block.admin.stats().requests
      local out, err, code = cli(block.emu, { "--json", "target-connections", "ensure", "--name", "D", "--dataset",
        "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c", "--dry-run" })
      assert.equal(EXIT.ok, code, err)
      local requests = json.decode(out)
      assert.equal("GET", requests[1].method)
      assert.truthy(requests[1].url:find("property=name%3D%3D%22D%22", 1, true), requests[1].url)
      assert.equal("POST", requests[2].method)
      assert.equal("D", requests[2].body.name)
      assert.equal(before, block.admin.stats().requests)
    end)

    it("several resources with the name: exit 6, nothing created", function()
      for _ = 1, 2 do
        assert.equal(EXIT.ok, select(3, cli(block.emu, { "target-connections", "create", "--name", "Twin",
          "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })))
      end
      local _, err, code = cli(block.emu, { "target-connections", "ensure", "--name", "Twin",
        "--dataset", "5f7e0d1c2b3a4d5e6f708192", "--schema", "https://ns.adobe.com/t/schemas/0d1c" })
      assert.equal(EXIT.conflict, code, err)
      assert.equal(2, #json.decode((cli(block.emu, { "--json", "target-connections", "list" }))))
    end)
  end)

  describe("bugs seen", function()
    it("connections list --orderby -createdAt (a value starting with -) sorts descending", function()
      cli_json(block.emu, { "target-connections", "create", "--name", "Older", unpack(TARGET_ARGS) })
      cli_json(block.emu, { "target-connections", "create", "--name", "Newer", unpack(TARGET_ARGS) })
      local list = cli_json(block.emu, { "target-connections", "list", "--orderby", "-createdAt" })
      assert.equal(2, #list)
      local newest_first = list[1].createdAt > list[2].createdAt
        or list[1].createdAt == list[2].createdAt and list[1].name == "Newer"
      assert.is_true(newest_first)
      local dry = cli_json(block.emu, { "connections", "list", "--orderby", "-createdAt", "--dry-run" })
      assert.truthy(dry[1].url:find("orderby=-createdAt", 1, true), dry[1].url)
    end)

    it("runs list --flow takes a name, and an unknown name fails (exit 5) instead of printing []", function()
      local flow = make_flow(block.emu, "Named flow")
      cli_json(block.emu, { "runs", "watch", "--flow", flow.id, "--interval", "0.1", "--timeout", "30" })
      local by_id = cli_json(block.emu, { "runs", "list", "--flow", flow.id })
      local by_name = cli_json(block.emu, { "runs", "list", "--flow", "Named flow" })
      assert.is_true(#by_id >= 1)
      assert.equal(by_id[1].id, by_name[1].id) -- a later run may have started in between
      for _, run in ipairs(by_name) do assert.equal(flow.id, run.flowId) end
      local out, err, code = cli(block.emu, { "runs", "list", "--flow", "No such flow" })
      assert.equal(EXIT.not_found, code)
      assert.equal("", out)
      assert.truthy(err:find("No such flow", 1, true), err)
      local help = cli(block.emu, { "runs", "watch", "--help" })
      assert.is_nil(help:find("--flow 'OSC incidents'", 1, true)) -- that is the source connection's name
    end)

    it("flows create --frequency once --dry-run shows the bytes sent: \"transformations\":[]", function()
      local args = { "flows", "create", "--name", "Once", "--source", "11111111-2222-3333-4444-555555555555",
        "--target", "11111111-2222-3333-4444-666666666666", "--frequency", "once", "--dry-run" }
      local out, err, code = cli(block.emu, args)
      assert.equal(EXIT.ok, code, err)
      assert.truthy(out:find('"transformations":[]', 1, true), out)
      table.insert(args, 1, "--json")
      out = cli(block.emu, args)
      assert.truthy(out:find('"transformations":[]', 1, true), out)
      assert.is_nil(out:find('"transformations":{}', 1, true))
      -- and the library's trace shows what was sent too
      local bodies = {}
      local client = helper.new_client(block.emu, { trace = function(e)
        if e.method == "POST" and e.url:find("/flows$") then bodies[#bodies + 1] = e.request_body end
      end })
      local _, create_err = client.flows:create { name = "Once", flow_spec = "CRMToAEP",
        source_connection_id = "11111111-2222-3333-4444-555555555555",
        target_connection_id = "11111111-2222-3333-4444-666666666666",
        schedule = { frequency = "once", start_time = os.time() + 60 } }
      client:close()
      assert.equal(1, #bodies, tostring(create_err))
      assert.truthy(bodies[1]:find('"transformations":[]', 1, true), bodies[1])
    end)

    it("specs show \"Oracle Service Cloud\" --json, its own help example, works", function()
      local doc = cli_json(block.emu, { "specs", "show", "Oracle Service Cloud" })
      assert.equal("ba5126ec-c9ac-11eb-b8bc-0242ac130003", doc.id)
      local help = cli(block.emu, { "specs", "show", "--help" })
      assert.truthy(help:find('specs show "Oracle Service Cloud" --json', 1, true))
    end)

    it("required options are required (usage, exit 2, the command's usage line), not optional", function()
      local out, err, code = cli(block.emu, { "target-connections", "create", "--dataset", "d", "--schema", "s" })
      assert.equal(EXIT.usage, code)
      assert.equal("", out)
      assert.truthy(err:find("missing option '--name'", 1, true), err)
      assert.truthy(err:find("Usage: flowservice target-connections create", 1, true), err)
      local help = cli(block.emu, { "flows", "create", "--help" })
      assert.truthy(help:find(" --name NAME", 1, true) and help:find(" --source SOURCE", 1, true), help)
      assert.is_nil(help:find("[--name NAME]", 1, true))
      assert.is_nil(help:find("[--source SOURCE]", 1, true))
      help = cli(block.emu, { "connections", "get", "--help" })
      assert.truthy(help:find("\n%s+ID_OR_NAME%s"), help) -- the argument list says what the usage says
      assert.is_nil(help:find("\n%s+ref%s"), help)
    end)

    it("a typo in a verb prints that group's usage, not the top level's", function()
      local _, err, code = cli(block.emu, { "connections", "lst" })
      assert.equal(EXIT.usage, code)
      assert.truthy(err:find("Usage: flowservice connections ", 1, true), err)
      assert.truthy(err:find("Did you mean 'list'", 1, true), err)
    end)

    it("--limit is gone; --max-items caps what is printed, --page-size is the library's limit", function()
      for i = 1, 3 do
        cli_json(block.emu, { "target-connections", "create", "--name", "L" .. i, unpack(TARGET_ARGS) })
      end
      local _, _, code = cli(block.emu, { "target-connections", "list", "--limit", "2" })
      assert.equal(EXIT.usage, code)
      assert.equal(2, #cli_json(block.emu, { "target-connections", "list", "--max-items", "2" }))
      assert.equal(3, #cli_json(block.emu, { "target-connections", "list", "--page-size", "1" }))
      local dry = cli_json(block.emu, { "target-connections", "list", "--page-size", "1", "--dry-run" })
      assert.truthy(dry[1].url:find("limit=1", 1, true), dry[1].url)
    end)

    it("--start takes ISO 8601 as well as epoch seconds", function()
      local function start_time(value)
        local dry = cli_json(block.emu, { "flows", "create", "--name", "S", "--source",
          "11111111-2222-3333-4444-555555555555", "--target", "11111111-2222-3333-4444-666666666666",
          "--delta-column", "updatedTime", "--start", value, "--dry-run" })
        return tonumber(dry[1].body.scheduleParams.startTime)
      end
      assert.equal(1893553445, start_time("2030-01-02T03:04:05Z"))
      assert.equal(1893553445, start_time("2030-01-02T04:04:05+01:00"))
      assert.equal(1893553445, start_time("2030-01-01T22:34:05-0430"))
      assert.equal(1893553445, start_time("1893553445"))
      assert.equal(1893542400, start_time("2030-01-02"))
      local _, err, code = cli(block.emu, { "flows", "create", "--name", "S", "--source", "x", "--target", "y",
        "--start", "04/12/2026", "--dry-run" })
      assert.equal(EXIT.usage, code)
      assert.truthy(err:find("ISO 8601", 1, true), err)
    end)

    it("client.runs:status(run) with a colon raises, like every other misuse", function()
      local client = helper.new_client(block.emu)
      local run = { metrics = { statusSummary = { status = "success" } } }
      assert.equal("success", client.runs.status(run))
      assert.has_error(function() client.runs:status(run) end,
        "runs.status: a plain function: call client.runs.status(run), not client.runs:status(run)")
      assert.has_error(function() client.runs:is_final(run) end)
      client:close()
    end)

    it("token shows expires_in (the token's lifetime) and refresh_in (when it is fetched again)", function()
      local doc = cli_json(block.emu, { "token" })
      assert.is_true(doc.expires_in > 86000) -- the emulator's tokens live 86399 s
      assert.is_true(doc.refresh_in <= doc.expires_in - 299)
    end)
  end)

  describe("profiles and config show", function()
    -- A config home with `text` as its config file, and a private credentials file beside it.
    local function config_home(text)
      local home = temp_dir()
      sh("mkdir -p " .. helper.shell_quote(home .. "/flowservice"))
      local f = assert(io.open(home .. "/flowservice/config", "w"))
      f:write(text)
      f:close()
      f = assert(io.open(home .. "/credentials.json", "w"))
      f:write(json.encode { CLIENT_ID = helper.CLIENT_ID, CLIENT_SECRETS = { helper.CLIENT_SECRET },
        ORG_ID = helper.ORG_ID })
      f:close()
      sh("chmod 600 " .. helper.shell_quote(home .. "/credentials.json"))
      return home
    end

    local function urls_only(extra)
      local env = { AEP_BASE_URL = block.emu.url, AEP_IMS_URL = block.emu.url }
      for k, v in pairs(extra or {}) do env[k] = v end
      return env
    end

    local function run(args, env)
      return helper.run_cli(args, { env = env })
    end

    it("a profile names the credentials file and the sandbox; --profile and AEP_PROFILE pick it", function()
      local home = config_home("# profiles\n[default]\nsandbox = dev\ncredentials = ~/credentials.json\n\n"
        .. "[profile prod]\ncredentials = ~/credentials.json\nsandbox = prod-eu\n")
      local env = urls_only { XDG_CONFIG_HOME = home, HOME = home }
      local doc = json.decode((run({ "--json", "token" }, env)))
      assert.equal("dev", doc.sandbox)
      assert.equal(helper.ORG_ID, doc.org_id)
      doc = json.decode((run({ "--json", "--profile", "prod", "token" }, env)))
      assert.equal("prod-eu", doc.sandbox)
      env.AEP_PROFILE = "prod"
      assert.equal("prod-eu", json.decode((run({ "--json", "token" }, env))).sandbox)
      -- precedence: flag > environment > profile
      env.AEP_SANDBOX = "from-env"
      assert.equal("from-env", json.decode((run({ "--json", "token" }, env))).sandbox)
      assert.equal("from-flag", json.decode((run({ "--json", "--sandbox", "from-flag", "token" }, env))).sandbox)
    end)

    it("config show lists each setting and where it came from, secrets masked, and sends nothing", function()
      local home = config_home("[default]\ncredentials = ~/credentials.json\nsandbox = dev\n")
      local before = block.admin.stats().requests
      local out, err, code = run({ "--json", "config", "show" }, urls_only { XDG_CONFIG_HOME = home, HOME = home,
        AEP_ORG_ID = "ENV0123456789@AdobeOrg" })
      assert.equal(EXIT.ok, code, err)
      assert.is_nil(out:find(helper.CLIENT_SECRET, 1, true))
      local doc = json.decode(out)
      assert.equal("default", doc.profile)
      assert.equal("[redacted]", doc.settings.client_secret.value)
      assert.truthy(doc.settings.client_secret.source:find("credentials file", 1, true))
      assert.equal("dev", doc.settings.sandbox.value)
      assert.truthy(doc.settings.sandbox.source:find("profile default", 1, true))
      assert.equal("ENV0123456789@AdobeOrg", doc.settings.org_id.value)
      assert.equal("environment AEP_ORG_ID", doc.settings.org_id.source)
      assert.equal("environment AEP_BASE_URL", doc.settings.base_url.source)
      assert.equal(before, block.admin.stats().requests)
      -- profile > credentials file: the profile's org_id wins over the file's ORG_ID
      local with_org = config_home("[default]\ncredentials = ~/credentials.json\norg_id = PROFILE01@AdobeOrg\n")
      doc = json.decode((run({ "--json", "config", "show" },
        urls_only { XDG_CONFIG_HOME = with_org, HOME = with_org })))
      assert.equal("PROFILE01@AdobeOrg", doc.settings.org_id.value)
      assert.truthy(doc.settings.org_id.source:find("profile default", 1, true))
      assert.equal(helper.CLIENT_ID, doc.settings.client_id.value)
      assert.truthy(doc.settings.client_id.source:find("credentials file", 1, true))
      local text = run({ "config", "show" }, urls_only { XDG_CONFIG_HOME = home, HOME = home })
      assert.truthy(text:find("client_secret%s+%[redacted%]"), text)
      assert.is_nil(text:find(helper.CLIENT_SECRET, 1, true))
    end)

    it("config show masks the password of every URL setting, also one holding '@' or '/'", function()
      for _, password in ipairs { "SENTINELpw@x", "ab/SENTINELpw", "SENTINELpw" } do
        local home = config_home("[default]\nproxy = http://u:" .. password .. "@127.0.0.1:3128\n"
          .. "base_url = http://u:" .. password .. "@127.0.0.1:9\nims_url = http://u:" .. password .. "@127.0.0.1:9\n")
        for _, json_flag in ipairs { true, false } do
          local args = json_flag and { "--json", "config", "show" } or { "config", "show" }
          local out, err = run(args, { XDG_CONFIG_HOME = home, HOME = home })
          assert.is_nil((out .. err):find("SENTINEL", 1, true), out .. err)
          assert.truthy(out:find("http://u:[redacted]@127.0.0.1:3128", 1, true), out)
          assert.truthy(out:find("http://u:[redacted]@127.0.0.1:9", 1, true), out)
        end
      end
    end)

    it("refuses secrets, unknown keys and code in the config file, naming the line, never the value", function()
      for _, case in ipairs {
        { "[default]\nclient_secret = " .. helper.CLIENT_SECRET .. "\n", "is a secret" },
        { "[default]\nsandbox = dev\nsandbx = dev\n", "unknown key 'sandbx'" },
        { "return { sandbox = os.execute('touch /tmp/pwned') }\n", "expected [profile NAME]" },
        { "sandbox = dev\n", "before any [profile]" },
      } do
        local home = config_home(case[1])
        local out, err, code = run({ "token" }, urls_only { XDG_CONFIG_HOME = home, HOME = home })
        assert.equal(EXIT.usage, code, err)
        assert.equal("", out)
        assert.truthy(err:find(case[2], 1, true), err)
        assert.truthy(err:find(home .. "/flowservice/config:", 1, true), err)
        assert.is_nil(err:find(helper.CLIENT_SECRET, 1, true))
      end
    end)

    it("an unknown profile is a usage error listing the profiles there are", function()
      local home = config_home("[default]\nsandbox = dev\n[profile prod]\nsandbox = prod\n")
      local _, err, code = run({ "--profile", "staging", "token" }, urls_only { XDG_CONFIG_HOME = home, HOME = home })
      assert.equal(EXIT.usage, code)
      assert.truthy(err:find("no profile 'staging'", 1, true) and err:find("default, prod", 1, true), err)
    end)
  end)

  describe("network settings", function()
    local proxy, log_path
    setup(function()
      log_path = os.tmpname()
      proxy = helper.spawn(helper.LUA .. " spec/fixtures/proxy_server.lua " .. helper.shell_quote(log_path))
      proxy.url = "http://127.0.0.1:" .. assert(tonumber(proxy.first_line), "proxy fixture did not start")
    end)
    teardown(function()
      if proxy then proxy.stop() end
      os.remove(log_path)
    end)

    local function proxied()
      return helper.read_file(log_path)
    end

    it("--proxy, AEP_PROXY and a profile's proxy send every request through the proxy", function()
      local before = #proxied()
      local _, err, code = cli(block.emu, { "--proxy", proxy.url, "connections", "list" })
      assert.equal(EXIT.ok, code, err)
      local seen = proxied():sub(before + 1)
      assert.truthy(seen:find("POST " .. block.emu.url .. "/ims/token/v3\n", 1, true), seen)
      assert.truthy(seen:find("GET " .. block.emu.url .. "/data/foundation/flowservice/connections\n", 1, true), seen)
      before = #proxied()
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "flows", "list" }, { AEP_PROXY = proxy.url })))
      assert.truthy(proxied():sub(before + 1):find("/flows\n", 1, true))
      local home = temp_dir()
      sh("mkdir -p " .. helper.shell_quote(home .. "/flowservice") .. " && printf '[default]\\nproxy = %s\\n' "
        .. helper.shell_quote(proxy.url) .. " > " .. helper.shell_quote(home .. "/flowservice/config"))
      before = #proxied()
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "runs", "list" }, { XDG_CONFIG_HOME = home })))
      assert.truthy(proxied():sub(before + 1):find("/runs\n", 1, true))
      -- without any of them: straight to the service
      before = #proxied()
      assert.equal(EXIT.ok, select(3, cli(block.emu, { "runs", "list" })))
      assert.equal(before, #proxied())
    end)

    it("a bad proxy URL is refused before anything is sent", function()
      local _, err, code = cli(block.emu, { "--proxy", "socks5://127.0.0.1:1", "flows", "list" })
      assert.equal(EXIT.validation, code)
      assert.truthy(err:find("proxy", 1, true), err)
    end)

    it("--ca-file and AEP_CA_FILE trust a private CA (the emulator over TLS)", function()
      local certs = helper.make_certs()
      local tls = helper.start_emulator { tls = { cert = certs.cert, key = certs.key } }
      local env = env_for(tls)
      local function run_tls(args, extra)
        for k, v in pairs(extra or {}) do env[k] = v end
        return helper.run_cli(args, { env = env })
      end
      local _, _, untrusted = run_tls({ "token" })
      local _, err1, flag = run_tls({ "--ca-file", certs.ca, "token" })
      local _, err2, from_env = run_tls({ "token" }, { AEP_CA_FILE = certs.ca })
      tls.stop()
      assert.equal(EXIT.network, untrusted)
      assert.equal(EXIT.ok, flag, err1)
      assert.equal(EXIT.ok, from_env, err2)
    end)
  end)

  describe("update", function()
    it("flows update changes the schedule and description (JSON Patch with If-Match)", function()
      local flow = make_flow(block.emu, "U flow")
      local updated = cli_json(block.emu, { "flows", "update", "U flow", "--frequency", "hour", "--interval", "2",
        "--description", "nightly" })
      assert.equal(flow.id, updated.id)
      local got = cli_json(block.emu, { "flows", "get", flow.id })
      assert.equal("hour", got.scheduleParams.frequency)
      assert.equal(2, tonumber(got.scheduleParams.interval))
      assert.equal("nightly", got.description)
      local dry = cli_json(block.emu, { "flows", "update", flow.id, "--start", "2030-01-02T03:04:05Z", "--dry-run" })
      assert.equal("PATCH", dry[1].method)
      assert.same({ { op = "add", path = "/scheduleParams/startTime", value = "1893553445" } }, dry[1].body)
      local _, err, code = cli(block.emu, { "flows", "update", flow.id })
      assert.equal(EXIT.usage, code)
      assert.truthy(err:find("nothing to change", 1, true), err)
    end)

    it("source and target connections: update changes the name and description", function()
      local source_flow = make_flow(block.emu, "U2")
      assert(source_flow)
      cli_json(block.emu, { "source-connections", "update", "U2 source", "--name", "U2 source renamed" })
      cli_json(block.emu, { "target-connections", "update", "U2 target", "--description", "the dataset" })
      assert.equal(1, #cli_json(block.emu, { "source-connections", "list", "--filter", 'name=="U2 source renamed"' }))
      local targets = cli_json(block.emu, { "target-connections", "list", "--filter", 'name=="U2 target"' })
      assert.equal("the dataset", targets[1].description)
    end)

    it("rotating credentials replaces /auth/params whole: plain params kept, every secret given again", function()
      cli_json(block.emu, { "connections", "create", "--spec", "oracle-service-cloud", "--name", "Rotate",
        "--param", "host=example.custhelp.com", "--param", "username=u1", "--password-stdin" }, "old-pw\n")
      -- without the password: refused before anything is sent (the GET would only show it masked)
      local before = block.admin.stats().requests
      local out, err, code = cli(block.emu, { "connections", "update", "Rotate", "--param", "username=u2" })
      assert.equal(EXIT.usage, code)
      assert.equal("", out)
      assert.truthy(err:find("missing: password", 1, true), err)
      local function patches()
        local n = 0
        for route, count in pairs(block.admin.stats().by_route) do
          if route:find("^PATCH ") then n = n + count end
        end
        return n
      end
      assert.equal(0, patches())
      assert.is_true(block.admin.stats().requests > before) -- it read the connection, and sent no PATCH
      -- with it: the emulator validates the whole params object like a create, so host must have been kept
      out, err, code = cli(block.emu, { "connections", "update", "Rotate", "--param", "username=u2",
        "--password-stdin" }, nil, "new-pw\n")
      assert.equal(EXIT.ok, code, err)
      assert.equal(1, patches())
      assert.is_nil((out .. err):find("new-pw", 1, true))
      local got = cli_json(block.emu, { "connections", "get", "Rotate" })
      assert.same({ host = "example.custhelp.com", username = "u2", password = got.auth.params.password },
        got.auth.params)
      assert.not_equal("new-pw", got.auth.params.password) -- masked by the service
      local pw_env = cli(block.emu, { "connections", "update", "Rotate", "--param-env", "password=NEW_PW" },
        { NEW_PW = "env-pw" })
      assert.truthy(pw_env:find("etag", 1, true), pw_env)
      local _, dry_err, dry_code = cli(block.emu, { "connections", "update", "Rotate", "--param", "password=x" })
      assert.equal(EXIT.usage, dry_code) -- a secret as --param is refused, as in create
      assert.truthy(dry_err:find("ps", 1, true), dry_err)
    end)
  end)

  it("every new command has --help with examples", function()
    for _, words in ipairs {
      { "connections", "ensure" }, { "source-connections", "ensure" }, { "target-connections", "ensure" },
      { "flows", "ensure" }, { "source-connections", "update" }, { "target-connections", "update" },
      { "flows", "update" }, { "config", "show" }, { "api" }, { "completion" }, { "man" },
    } do
      local args = { unpack(words) }
      args[#args + 1] = "--help"
      local out, err, code = cli(block.emu, args)
      assert.equal(EXIT.ok, code, err)
      assert.truthy(out:find("Usage: flowservice " .. table.concat(words, " "), 1, true), out)
      assert.truthy(out:find("Examples:", 1, true), table.concat(words, " "))
    end
  end)

  describe("api, --version, completion, man", function()
    it("api calls any endpoint through the client and prints the body as JSON", function()
      cli_json(block.emu, { "target-connections", "create", "--name", "Api target", unpack(TARGET_ARGS) })
      local out, err, code = cli(block.emu, { "api", "GET", "/targetConnections?property=name%3D%3DApi%20target" })
      assert.equal(EXIT.ok, code, err)
      local doc = json.decode(out)
      assert.equal("Api target", doc.items[1].name)
      local _, err2, code2 = cli(block.emu, { "api", "GET", "/targetConnections/11111111-2222-3333-4444-555555555555" })
      assert.equal(EXIT.not_found, code2)
      assert.truthy(err2:find("404", 1, true), err2)
      local _, _, code3 = cli(block.emu, { "api", "FETCH", "/flows" })
      assert.equal(EXIT.usage, code3)
    end)

    it("api --body-stdin sends the JSON as given, empty arrays included", function()
      local out, err, code = cli(block.emu, { "--json", "api", "POST", "/flows", "--body-stdin", "--dry-run" }, nil,
        '{"name":"x","transformations":[],"scheduleParams":{}}')
      assert.equal(EXIT.ok, code, err)
      assert.truthy(out:find('"transformations":[]', 1, true), out)
      assert.truthy(out:find('"scheduleParams":{}', 1, true), out)
      local _, err2, code2 = cli(block.emu, { "api", "POST", "/flows", "--body-stdin" }, nil, "{not json")
      assert.equal(EXIT.usage, code2)
      assert.truthy(err2:find("not JSON", 1, true), err2)
    end)

    it("--version prints the library's version", function()
      local out, _, code = cli(block.emu, { "--version" })
      assert.equal(EXIT.ok, code)
      assert.truthy(out:find("flowservice " .. flowservice.VERSION, 1, true), out)
    end)

    it("completion prints a bash, zsh and fish script that knows the commands", function()
      for _, shell in ipairs { "bash", "zsh", "fish" } do
        local out, err, code = cli(block.emu, { "completion", shell })
        assert.equal(EXIT.ok, code, err)
        assert.truthy(out:find("ensure", 1, true) and out:find("target-connections", 1, true), shell)
        if shell == "bash" then
          local path = os.tmpname()
          local f = assert(io.open(path, "w"))
          f:write(out)
          f:close()
          local check, ok = helper.run("bash -n " .. helper.shell_quote(path))
          os.remove(path)
          assert(ok, check)
        end
      end
      assert.equal(EXIT.usage, select(3, cli(block.emu, { "completion", "tcsh" })))
    end)

    it("man prints a man page with every command", function()
      local out, err, code = cli(block.emu, { "man" })
      assert.equal(EXIT.ok, code, err)
      assert.truthy(out:find('^%.TH FLOWSERVICE 1'), out:sub(1, 100))
      for _, name in ipairs { "token", "connections ensure", "flows update", "api", "config show" } do
        assert.truthy(out:find("\n.SS flowservice " .. name .. "\n", 1, true), name)
      end
    end)
  end)

  describe("the library's token_cache option", function()
    it("is off by default", function()
      local a, b = helper.new_client(block.emu), helper.new_client(block.emu)
      assert(a:authenticate())
      assert.is_false(assert(b:authenticate()).cached)
      a:close()
      b:close()
      assert.equal(2, token_requests())
    end)

    it("a directory path shares one token between clients; forget_token removes it", function()
      local dir = temp_dir() .. "/tokens"
      local a = helper.new_client(block.emu, { token_cache = dir })
      local b = helper.new_client(block.emu, { token_cache = dir })
      assert.is_false(assert(a:authenticate()).cached)
      assert.is_true(assert(b:authenticate()).cached)
      assert(b.connections:all())
      assert.equal(1, token_requests())
      assert.is_true(a:forget_token())
      assert.equal("", sh("ls " .. helper.shell_quote(dir)))
      a:close()
      b:close()
    end)

    it("bad values: a relative path is a validation error, a number raises", function()
      local c, err = flowservice.new { env = false, base_url = block.emu.url, ims_url = block.emu.url,
        client_id = helper.CLIENT_ID, client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID,
        token_cache = "relative/dir" }
      assert.is_nil(c)
      assert.equal("token_cache", err.field)
      assert.has_error(function() helper.new_client(block.emu, { token_cache = 5 }) end)
    end)
  end)
end)
