-- examples/failure_handling.lua runs against the emulator process, as a user would run it, and
-- sees every failure it checks for (issue 17).
local helper = require "spec.helper"

describe("examples/failure_handling.lua", function()
  local emu
  lazy_setup(function() emu = helper.start_emulator { args = { "--run-duration", "0.5" } } end)
  lazy_teardown(function() if emu then emu.stop() end end)

  it("sees the failed test, the refused create, the failed run and its retry, the unknown sandbox", function()
    local out, ok = helper.run_script(emu, "examples/failure_handling.lua", { RUN_POLL = "0.2" })
    assert.is_true(ok, out)
    assert.matches("ok      connection test failed", out, 1, true)
    assert.matches("ok      create refused", out, 1, true)
    assert.matches("ok      run ended failed", out, 1, true)
    assert.matches("ok      run error CONNECTOR-1001-500", out, 1, true)
    assert.matches("ok      retry started", out, 1, true)
    assert.matches("ok      unknown sandbox", out, 1, true)
    assert.matches("every failure showed as expected", out, 1, true)
    assert.is_nil(out:find("UNEXPECTED", 1, true))
    assert.is_nil(out:find(helper.CLIENT_SECRET, 1, true))
  end)
end)
