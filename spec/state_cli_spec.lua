-- The desired-state commands (export, plan FILE, apply FILE) against the emulator: as a process
-- for export -> plan -> apply across two sandboxes, and in-process (cli.main with a fake
-- terminal) for apply's question.
local helper = require "spec.helper"
local cli = require "flowservice.cli"
local json = require "flowservice.json"

local PASSWORD = "SENTINEL-state-cli-password"
local EXIT = cli.EXIT

local DESIRED = [[{
  "managed": {"prefix": "cli-"},
  "variables": {"dataset": {"values": {"dev": "5f7e0d1c2b3a4d5e6f708192"}}},
  "connections": [{"name": "cli-base", "spec": "oracle-service-cloud",
    "auth": {"host": "example.custhelp.com", "username": "svc", "password": {"$env": "OSC_PASSWORD"}}}],
  "source_connections": [{"name": "cli-incidents", "connection": "cli-base", "table": "incidents"}],
  "target_connections": [{"name": "cli-lake", "dataset_id": {"$var": "dataset"},
    "schema_id": "https://ns.adobe.com/t/schemas/abc"}],
  "flows": [{"name": "cli-flow", "flow_spec": "CRMToAEP", "source": "cli-incidents", "target": "cli-lake",
    "delta_column": "updatedTime", "schedule": {"frequency": "hour", "interval": 2}, "description": "v1"}]
}]]

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("flowservice export / plan / apply", function()
  local emu, file, outputs
  lazy_setup(function()
    -- the sandboxes the tests name (the emulator answers 2101 for any other)
    emu = helper.start_emulator { args = { "--scenario", '{"sandboxes": ["prod", "dev", "stage", "tty", "a-*", '
      .. '"c-*", "p-*", "v-*", "prop-*", "prune", "rotate", "test-*"]}' } }
    file = os.tmpname()
    write(file, DESIRED)
    outputs = {}
  end)
  lazy_teardown(function()
    if emu then emu.stop() end
    os.remove(file)
    for _, text in ipairs(outputs) do assert.is_nil(text:find("SENTINEL", 1, true)) end
  end)

  local function env(extra)
    local e = { AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
      AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID }
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  local function run(args, opts)
    opts = opts or {}
    local out, err, code = helper.run_cli(args, { env = env(opts.env), stdin = opts.stdin })
    outputs[#outputs + 1] = out
    outputs[#outputs + 1] = err
    return out, err, code
  end

  it("plans, refuses to apply without --yes off a terminal, applies with --yes, then plans nothing", function()
    local _, out, err, code
    out, err, code = run { "--sandbox", "dev", "plan", file }
    assert.equal(EXIT.ok, code, err)
    assert.matches('+ create flow "cli-flow"', out, 1, true)
    assert.matches("auth.password: (secret)", out, 1, true)
    assert.matches("Missing environment variables (secrets): OSC_PASSWORD", out, 1, true)

    _, err, code = run({ "--sandbox", "dev", "apply", file }, { env = { OSC_PASSWORD = PASSWORD } })
    assert.equal(EXIT.usage, code)
    assert.matches("give --yes", err, 1, true)
    out = run { "--sandbox", "dev", "--json", "connections", "list" }
    assert.same({}, json.decode(out))

    _, err, code = run { "--sandbox", "dev", "apply", file, "--yes" }
    assert.equal(EXIT.validation, code)
    assert.matches("not set: OSC_PASSWORD", err, 1, true)

    out, err, code = run({ "--sandbox", "dev", "apply", file, "--yes" }, { env = { OSC_PASSWORD = PASSWORD } })
    assert.equal(EXIT.ok, code, err)
    assert.matches("Applied: 4 done, 0 failed, 0 skipped.", out, 1, true)

    out, err, code = run { "--sandbox", "dev", "plan", file, "--json" }
    assert.equal(EXIT.ok, code, err)
    local doc = assert(json.decode(out))
    assert.equal(0, doc.pending)
    assert.equal(4, #doc.changes)
    for _, c in ipairs(doc.changes) do assert.equal("noop", c.action) end
  end)

  it("exports dev and promotes it to stage with --var; a hand change shows in plan --json", function()
    local exported, err, code = run { "--sandbox", "dev", "export", "--prefix", "cli-" }
    assert.equal(EXIT.ok, code, err)
    local doc = assert(json.decode(exported))
    assert.same({ ["$env"] = "CLI_BASE_PASSWORD" }, doc.connections[1].auth.password)
    -- one member per line, for review and diff; --json gives the same document on one line
    assert.matches('\n        "password": {\n          "$env": "CLI_BASE_PASSWORD"\n        },', exported, 1, true)
    local compact = run { "--sandbox", "dev", "--json", "export", "--prefix", "cli-" }
    assert.equal(1, select(2, compact:gsub("\n", "")))
    assert.same(doc, json.decode(compact))
    local export_file = os.tmpname()
    write(export_file, exported)
    local vars = { "--var", "cli_base_host=stage.custhelp.com", "--var", "cli_lake_dataset_id=6a7e0d1c2b3a4d5e6f708193",
      "--var", "cli_lake_schema_id=https://ns.adobe.com/t/schemas/stage" }
    local args = { "--sandbox", "stage", "--json", "apply", export_file, "--yes" }
    for _, v in ipairs(vars) do args[#args + 1] = v end
    local out
    out, err, code = run(args, { env = { CLI_BASE_PASSWORD = PASSWORD } })
    assert.equal(EXIT.ok, code, err)
    local report = assert(json.decode(out))
    assert.is_true(report.ok)
    assert.equal(4, #report.done)

    -- a hand change in stage
    local client = helper.new_client(emu, { sandbox = "stage" })
    local flow = assert(client.flows:find("cli-flow"))
    assert(client.flows:update(flow.id, { description = "by hand" }, flow.etag))
    client:close()
    args = { "--sandbox", "stage", "plan", export_file, "--json" }
    for _, v in ipairs(vars) do args[#args + 1] = v end
    out, err, code = run(args)
    assert.equal(EXIT.ok, code, err)
    local plan = assert(json.decode(out))
    assert.equal(1, plan.pending)
    local change
    for _, c in ipairs(plan.changes) do
      if c.action ~= "noop" then change = c end
    end
    assert.same({ action = "update", kind = "flow", name = "cli-flow", id = flow.id,
      fields = { { field = "description", old = "by hand", new = "v1" } } }, change)
    os.remove(export_file)
  end)

  it("has --help with examples for export, plan and apply", function()
    for _, command in ipairs { "export", "plan", "apply" } do
      local out, _, code = run { command, "--help" }
      assert.equal(EXIT.ok, code)
      assert.matches("Usage: flowservice " .. command, out, 1, true)
      assert.matches("Examples:", out, 1, true)
    end
  end)

  it("names the path of a problem in the file (exit 3) and sends nothing", function()
    local bad = os.tmpname()
    write(bad, (DESIRED:gsub('"interval": 2', '"interval": 0')))
    local _, err, code = run { "--sandbox", "dev", "plan", bad }
    assert.equal(EXIT.validation, code)
    assert.matches("flows[1].schedule.interval: must be a whole number of at least 1", err, 1, true)
    os.remove(bad)
  end)

  describe("apply on a terminal", function()
    local function main(args, answer)
      local stdin, stdout, stderr = io.tmpfile(), io.tmpfile(), io.tmpfile()
      stdin:write(answer)
      stdin:seek("set")
      local code = cli.main(args, { stdin = stdin, stdout = stdout, stderr = stderr,
        isatty = function() return true end }, env { OSC_PASSWORD = PASSWORD })
      stdout:seek("set")
      stderr:seek("set")
      local out, err = stdout:read("*a"), stderr:read("*a")
      outputs[#outputs + 1], outputs[#outputs + 2] = out, err
      return code, out, err
    end

    it("shows the plan and asks; anything but yes applies nothing", function()
      local code, out, err = main({ "--sandbox", "tty", "apply", file, "--var", "dataset=x1" }, "no\n")
      assert.equal(EXIT.usage, code)
      assert.matches('+ create connection "cli-base"', out, 1, true)
      assert.matches("Type yes:", err, 1, true)
      assert.matches("not applied", err, 1, true)
      local listed = select(2, main({ "--sandbox", "tty", "--json", "connections", "list" }, ""))
      assert.same({}, json.decode(listed))
      code, out = main({ "--sandbox", "tty", "apply", file, "--var", "dataset=x1" }, "yes\n")
      assert.equal(EXIT.ok, code)
      assert.matches("Applied: 4 done", out, 1, true)
    end)
  end)
end)
