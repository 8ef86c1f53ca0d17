-- The command line against hostile or odd input, as a process (bin/flowservice): terminal
-- escape sequences in what the service sends never reach the terminal (JSON output stays exact),
-- and bad option values end with a documented exit code and one line, never a Lua traceback.
-- The service here is the scripted spec/fixtures/flaky_server.lua on 127.0.0.1.
local helper = require "spec.helper"
local cjson = require "cjson"

local ESC_TITLE = "\27]0;owned\7"     -- sets the terminal window's title
local ESC_CLEAR = "\27[2J"            -- clears the screen
local CSI_C1 = "\194\155" .. "2J"     -- U+009B, the one-character CSI
local ID = "4b1c7e0a-0000-4000-8000-000000000001"

local function env_for(url)
  return {
    AEP_BASE_URL = url, AEP_IMS_URL = url, AEP_ORG_ID = helper.ORG_ID,
    AEP_ACCESS_TOKEN = "SENTINEL-cli-safety-token", AEP_API_KEY = "cli-safety-key",
  }
end

local function has_control(s)
  return s:find("[%z\1-\8\11-\31\127]") ~= nil or s:find("\194[\128-\159]") ~= nil
end

describe("the command line shows server text safely", function()
  local fx
  after_each(function()
    if fx then fx.stop() end
    fx = nil
  end)

  it("escapes control characters in error titles and details (also with --json) and in member names", function()
    local problem = cjson.encode {
      type = "https://ns.adobe.com/aep/errors/FLOW-1439-404", title = "Not found" .. ESC_CLEAR, status = 404,
      report = { ["detailed-message"] = "gone" .. ESC_TITLE .. CSI_C1 },
    }
    local item = { id = ID, name = "n" .. ESC_TITLE, etag = '"1"', createdAt = 1700000000000 }
    item[ESC_CLEAR .. "member"] = "v" .. CSI_C1
    fx = helper.start_logging_fixture("flaky_server.lua", cjson.encode {
      { status = 404, body = problem }, { status = 404, body = problem },
      { status = 200, body = cjson.encode { items = { item } } },
      { status = 200, body = cjson.encode { items = { item } } },
    })
    -- the fixture answers requests in order: two errors, then two gets
    local env = env_for(fx.url)
    local out, err, code = helper.run_cli({ "connections", "get", ID }, { env = env })
    assert.are.equal(5, code, err)
    assert.are.equal("", out)
    assert.is_false(has_control(err:sub(1, -2)), err)
    assert.truthy(err:find("Not found\\x1b[2J", 1, true), err)
    assert.truthy(err:find("gone\\x1b]0;owned\\x07\\u009b2J", 1, true), err)
    -- --json: one JSON object on stderr, every control character a JSON escape, values exact
    out, err, code = helper.run_cli({ "--json", "connections", "get", ID }, { env = env })
    assert.are.equal(5, code, err)
    assert.are.equal("", out)
    assert.is_false(has_control(err:sub(1, -2)), err)
    local object = cjson.decode(err)
    assert.are.equal("Not found" .. ESC_CLEAR, object.title)
    assert.are.equal("gone" .. ESC_TITLE .. CSI_C1, object.detail)
    out, err, code = helper.run_cli({ "connections", "get", ID }, { env = env })
    assert.are.equal(0, code, err)
    assert.is_false(has_control((out:gsub("\n", ""))), out)
    assert.truthy(out:find("\\x1b[2Jmember:", 1, true), out)
    assert.truthy(out:find("n\\x1b]0;owned\\x07", 1, true), out)
    -- --json prints the service's strings exactly (as JSON escapes)
    out, err, code = helper.run_cli({ "--json", "connections", "get", ID }, { env = env })
    assert.are.equal(0, code, err)
    assert.is_false(has_control((out:gsub("\n", ""))), out)
    local doc = cjson.decode(out)
    assert.are.equal("n" .. ESC_TITLE, doc.name)
    assert.are.equal("v" .. CSI_C1, doc[ESC_CLEAR .. "member"])
  end)
end)

describe("the command line refuses bad option values with an exit code", function()
  local function run(args)
    return helper.run_cli(args, { env = env_for("http://127.0.0.1:" .. helper.closed_port()) })
  end

  it("a base URL with a space: a validation error (exit 3) naming the option, no traceback", function()
    local _, err, code = run { "--base-url", "http://127.0.0.1:1/ x", "connections", "list" }
    assert.are.equal(3, code, err)
    assert.matches("^flowservice: validation error: base_url: must not contain spaces", err)
    assert.falsy(err:find("traceback", 1, true))
  end)

  it("a watch interval longer than a sleep can be: a usage error (exit 2), no traceback", function()
    local _, err, code = run { "runs", "watch", "4b1c7e0a-0000-4000-8000-000000000001", "--interval", "3e6" }
    assert.are.equal(2, code, err)
    assert.truthy(err:find("expected seconds >= 0.05 and <= 86400", 1, true), err)
    assert.falsy(err:find("traceback", 1, true))
  end)

  it("a timeout out of range: a usage error (exit 2), like zero, no traceback", function()
    for _, t in ipairs { "3e6", "1e999", "0", "-1", "nan" } do
      local _, err, code = run { "--timeout=" .. t, "connections", "list" }
      assert.are.equal(2, code, t .. ": " .. err)
      assert.truthy(err:find("--timeout needs a number of seconds > 0 and <= 2147483", 1, true), err)
      assert.falsy(err:find("traceback", 1, true))
    end
  end)
end)
