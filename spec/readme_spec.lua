-- Every ```lua block of README.md and of the guide pages in docs/ runs, against the emulator, as
-- a user would run it.
local helper = require "helper"
local compat = require "flowservice.compat"

-- Where Lua has no integers (5.1, 5.2, LuaJIT) the JSON encoder writes whole numbers up to 2^53
-- without ".0" (docs/DESIGN.md): expected JSON such as {"n":10000.0} reads {"n":10000} there.
local function as_printed_here(expected)
  if compat.HAS_INTEGERS then return expected end
  return (expected:gsub("([:%[,]%-?%d+)%.0([,%]}])", "%1%2"))
end

-- The ```lua blocks of the pages as scripts: a block whose first line starts with
-- "-- continues" runs after the blocks before it (back to the last one that does not, on this
-- page or an earlier one), so the API reference can build on the quick start's client,
-- connection, flow and run.
local function lua_scripts(list)
  local scripts = {}
  for _, page in ipairs(list) do
    for block in helper.read_file(page):gmatch("\n```lua\n(.-)\n```") do
      if block:find("^%-%- continues") and #scripts > 0 then
        local last = scripts[#scripts]
        last.code = last.code .. "\n" .. block
        last.blocks = last.blocks + 1
        if not last.pages[page] then
          last.pages[page] = true
          last.page_list[#last.page_list + 1] = page
        end
      else
        scripts[#scripts + 1] = { code = block, blocks = 1, first_line = block:match("^[^\n]*"),
          pages = { [page] = true }, page_list = { page } }
      end
    end
  end
  return scripts
end

describe("README.md and docs/", function()
  local emu
  setup(function() emu = helper.start_emulator() end)
  teardown(function() emu.stop() end)

  local scripts = lua_scripts(helper.doc_pages())

  it("has Lua examples", function()
    assert.truthy(#scripts >= 1)
  end)

  it("runs the blocks of the guide pages too, after the README's they build on", function()
    local ran = {}
    for _, script in ipairs(scripts) do
      for _, page in ipairs(script.page_list) do ran[page] = true end
    end
    for _, page in ipairs { "README.md", "docs/CONFIGURATION.md", "docs/LIBRARY.md", "docs/RELIABILITY.md",
        "docs/EMULATOR.md", "docs/CLI.md" } do
      assert.is_true(ran[page], page .. ": no lua block found")
    end
  end)

  for i, script in ipairs(scripts) do
    it(("example %d (%d block(s) of %s, from %q) runs and prints what the page says"):format(
        i, script.blocks, table.concat(script.page_list, ", "), script.first_line), function()
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
