-- The mutation check's runner (mutants/run.lua, `make mutants`): that it tells killed, surviving
-- and broken mutants apart, loads data files as data only, and that every mutant's text still
-- occurs exactly once in the tree (a change that moves it must update mutants/*.lua). The full
-- run is `make mutants` (in .ci/run). mutants/run.lua is a Lua 5.4 tool.
local helper = require "helper"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  assert(f:write(text))
  assert(f:close())
end

describe("mutants/run.lua #lua54only", function()
  it("finds every mutant's text exactly once in the tree (--check)", function()
    local out, ok = helper.run("lua5.4 mutants/run.lua --check")
    assert.is_true(ok, out)
    local n = tonumber(out:match("(%d+) mutants, 0 broken"))
    assert.is_true(n ~= nil and n >= 40, out)
  end)

  describe("on a copy of the tree with planted data files", function()
    local dir

    setup(function()
      dir = assert(helper.run("mktemp -d /tmp/flowservice-mutants-spec.XXXXXX")):gsub("\n$", "")
      local out, ok = helper.run(("tar --exclude=./.git --exclude='./build*' --exclude=./luarocks-tree -cf - . "
        .. "| tar -C %s -xf -"):format(shell_quote(dir)))
      assert(ok, out)
    end)

    teardown(function()
      if dir and dir:match("^/tmp/flowservice%-mutants%-spec%.") then helper.run("rm -rf " .. shell_quote(dir)) end
    end)

    it("reports killed, survived and broken mutants, and fails unless all were killed", function()
      write(dir .. "/mutants/zz_selftest.lua", [==[
return {
  { id = "caught", file = "lua/flowservice/trace.lua", from = [[lower == "cookie"]], to = [[lower == "x"]],
    breaks = "cookies in traces", specs = { "spec/trace_spec.lua" } },
  { id = "comment", file = "lua/flowservice/url.lua", from = "-- Percent-encoding for URLs",
    to = "-- Encoding for URLs", breaks = "nothing", specs = { "spec/trace_spec.lua" } },
  { id = "absent", file = "lua/flowservice/url.lua", from = "no such text", to = "x", breaks = "-",
    specs = { "spec/trace_spec.lua" } },
  { id = "no_lua", file = "lua/flowservice/url.lua", from = "local url = {}", to = "local url = {",
    breaks = "-", specs = { "spec/trace_spec.lua" } },
  { id = "no_c", file = "src/request.c", from = "guard->once = !r->resend;", to = "guard->once = !;",
    breaks = "-", specs = { "spec/trace_spec.lua" } },
}
]==])
      local out, ok = helper.run("cd " .. shell_quote(dir) .. " && lua5.4 mutants/run.lua zz_selftest")
      assert.is_false(ok, out)
      assert.matches("\nkilled +zz_selftest%.caught ", out)
      assert.matches("\nSURVIVED +zz_selftest%.comment .* nothing %-%- not caught by spec/trace_spec%.lua", out)
      assert.matches("\nBROKEN +zz_selftest%.absent .* the text occurs 0 times in lua/flowservice/url%.lua", out)
      assert.matches("\nBROKEN +zz_selftest%.no_lua .* the mutated Lua does not compile", out)
      assert.matches("\nBROKEN +zz_selftest%.no_c .* the mutated C core does not build", out)
      assert.matches("\n1 killed, 1 survived, 3 broken %(5 mutants, %d+ s%)\n$", out)
      -- every file was put back as it was
      local diff, same = helper.run(("diff -r -x 'build*' -x .git -x luarocks-tree -x zz_selftest.lua . %s")
        :format(shell_quote(dir)))
      assert.is_true(same, diff)
      os.remove(dir .. "/mutants/zz_selftest.lua")
    end)

    it("loads data files as data only, and refuses malformed mutants naming them", function()
      write(dir .. "/mutants/zz_code.lua", 'os.execute("touch ran") return {}\n')
      local out, ok = helper.run("cd " .. shell_quote(dir) .. " && lua5.4 mutants/run.lua --check")
      assert.is_false(ok, out)
      assert.matches("mutants/zz_code%.lua: must return a list %(.*'os'", out)
      assert.is_nil(io.open(dir .. "/ran"))
      write(dir .. "/mutants/zz_code.lua", 'return { { id = "x", file = "src/request.c", from = "a", to = "b", '
        .. 'breaks = "-", specs = {} } }\n')
      out, ok = helper.run("cd " .. shell_quote(dir) .. " && lua5.4 mutants/run.lua --check")
      assert.is_false(ok, out)
      assert.matches("mutants/zz_code%.lua, mutant 1: specs must list at least one spec file", out)
      os.remove(dir .. "/mutants/zz_code.lua")
    end)
  end)
end)
