-- Every ```lua block of README.md runs, against the emulator, as a user would run it.
local helper = require "helper"

local function lua_blocks(text)
  local blocks = {}
  for block in text:gmatch("\n```lua\n(.-)\n```") do blocks[#blocks + 1] = block end
  return blocks
end

describe("README.md", function()
  local emu
  setup(function() emu = helper.start_emulator() end)
  teardown(function() emu.stop() end)

  local blocks = lua_blocks(helper.read_file("README.md"))

  it("has Lua examples", function()
    assert.truthy(#blocks >= 1)
  end)

  for i, block in ipairs(blocks) do
    it("example " .. i .. " runs and prints what the README says", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(block)
      f:close()
      local out, ok = helper.run_script(emu, path, { OSC_PASSWORD = "SENTINEL-readme-password" })
      os.remove(path)
      assert.is_true(ok, out)
      -- Lines marked "--> text" in the example must appear in its output.
      for expected in block:gmatch("%-%->%s*([^\n]+)") do
        assert.truthy(out:find(expected, 1, true), "missing output: " .. expected .. "\n" .. out)
      end
      assert.is_nil(out:find("SENTINEL", 1, true))
    end)
  end
end)
