-- One run of the whole client with unique sentinel secrets (client secret, a wrong client
-- secret, a given access token, two source passwords) and tracing on: success, every error
-- class, a token refresh, retries (of the token request too) and an ambiguous failure under
-- the emulator's injected faults, a 401 refresh after the emulator revoked its tokens, tostring
-- of every public object. Its stdout, stderr (trace events included) and the emulator's log
-- must not hold any sentinel, nor any token the emulator issued (64 hex digits).
local helper = require "spec.helper"

local SENTINELS = {
  password = "SENTINEL-sweep-password-0a9d",
  password_2 = "SENTINEL-sweep-password-two-7c2e",
  static_token = "SENTINEL-sweep-static-token-4b8f",
  wrong_secret = "SENTINEL-sweep-wrong-secret-91e3",
  client_secret = helper.CLIENT_SECRET,
}
local ISSUED_TOKEN = string.rep("%x", 64)

describe("sentinel sweep", function()
  local emu, bad_json, out, ok

  setup(function()
    emu = helper.start_emulator()
    bad_json = helper.start_logging_fixture("transport_server.lua", "badjson")
    out, ok = helper.run_script(emu, "spec/fixtures/sentinel_script.lua", {
      EMU_URL = emu.url, BAD_JSON_URL = bad_json.url,
      CLOSED_URL = "http://127.0.0.1:" .. helper.closed_port(),
      CLIENT_ID = helper.CLIENT_ID, CLIENT_SECRET = SENTINELS.client_secret, ORG_ID = helper.ORG_ID,
      PASSWORD = SENTINELS.password, PASSWORD_2 = SENTINELS.password_2,
      STATIC_TOKEN = SENTINELS.static_token, WRONG_SECRET = SENTINELS.wrong_secret,
    })
  end)

  teardown(function()
    if emu then emu.stop() end
    if bad_json then bad_json.stop() end
  end)

  it("ran every scenario, with tracing on", function()
    assert.is_true(ok, out)
    for _, kind in ipairs { "validation", "http", "not_found", "timeout", "auth", "transport", "decode" } do
      assert.truthy(out:find("kind: " .. kind, 1, true), "no " .. kind .. " error\n" .. out)
    end
    local events = tonumber(out:match("trace events: (%d+)"))
    assert.is_true(events >= 15, "trace events: " .. tostring(events))
    assert.truthy(out:find("[redacted]", 1, true))
    assert.truthy(out:find("after refresh", 1, true))
    assert.truthy(out:find("retried attempts: 3", 1, true), out)
    assert.truthy(out:find("ambiguous kind: http", 1, true))
    assert.truthy(out:find("refreshed after 401", 1, true))
    local log = emu.log()
    assert.truthy(log:find("POST /ims/token/v3 503", 1, true), log)
    assert.truthy(log:find("GET /data/foundation/flowservice/connections 401", 1, true), log)
    -- two token calls by the main client: the first and the refresh
    local _, token_calls = out:gsub('"url":"[^"]*ims\\/token\\/v3"', "")
    assert.is_true(token_calls >= 4, "token calls traced: " .. token_calls)
  end)

  for name, value in pairs(SENTINELS) do
    it("never shows the " .. name:gsub("_", " ") .. " in output, traces, errors or the emulator log", function()
      assert.is_nil(out:find(value, 1, true))
      assert.is_nil(emu.log():find(value, 1, true))
    end)
  end

  it("never shows a token the emulator issued", function()
    assert.is_nil(out:find(ISSUED_TOKEN))
    assert.is_nil(emu.log():find(ISSUED_TOKEN))
  end)
end)
