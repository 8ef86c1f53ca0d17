-- Every ```lua block of README.md runs, against the emulator, as a user would run it.
local helper = require "helper"
local compat = require "flowservice.compat"

-- Where Lua has no integers (5.1, 5.2, LuaJIT) the JSON encoder writes whole numbers up to 2^53
-- without ".0" (docs/DESIGN.md): expected JSON such as {"n":10000.0} reads {"n":10000} there.
local function as_printed_here(expected)
  if compat.HAS_INTEGERS then return expected end
  return (expected:gsub("([:%[,]%-?%d+)%.0([,%]}])", "%1%2"))
end

-- The ```lua blocks of the README as scripts: a block whose first line starts with
-- "-- continues" runs after the blocks before it (back to the last one that does not), so the
-- API reference can build on the quick start's client, connection, flow and run.
local function lua_scripts(text)
  local scripts = {}
  for block in text:gmatch("\n```lua\n(.-)\n```") do
    if block:find("^%-%- continues") and #scripts > 0 then
      local last = scripts[#scripts]
      last.code = last.code .. "\n" .. block
      last.blocks = last.blocks + 1
    else
      scripts[#scripts + 1] = { code = block, blocks = 1, first_line = block:match("^[^\n]*") }
    end
  end
  return scripts
end

describe("README.md", function()
  local emu
  setup(function() emu = helper.start_emulator() end)
  teardown(function() emu.stop() end)

  local scripts = lua_scripts(helper.read_file("README.md"))

  it("has Lua examples", function()
    assert.truthy(#scripts >= 1)
  end)

  for i, script in ipairs(scripts) do
    it(("example %d (%d block(s), from %q) runs and prints what the README says"):format(
        i, script.blocks, script.first_line), function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(script.code)
      f:close()
      local out, ok = helper.run_script(emu, path, { OSC_PASSWORD = "SENTINEL-readme-password" })
      os.remove(path)
      assert.is_true(ok, out)
      -- Lines marked "--> text" in the example must appear in its output, in the same order.
      local from = 1
      for expected in script.code:gmatch("%-%->%s*([^\n]+)") do
        expected = as_printed_here(expected)
        local at, last = out:find(expected, from, true)
        assert.truthy(at, "missing output (in this order): " .. expected .. "\n" .. out)
        from = last + 1
      end
      assert.is_nil(out:find("SENTINEL", 1, true))
    end)
  end
end)
