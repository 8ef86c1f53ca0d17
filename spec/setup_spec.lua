-- Issue 19's small things: a missing C core or module said in one line (no traceback, no list of
-- searched files), flowservice.assert for a readable error on every Lua, one install prefix,
-- and the Debian packages split by need.
local helper = require "helper"

-- A scratch copy of the commands and the Lua modules, with nothing built: a fresh checkout.
local function unbuilt_checkout()
  local dir = os.tmpname()
  os.remove(dir)
  local out, ok = helper.run(("mkdir -p %s && cp -r bin lua %s/"):format(dir, dir))
  assert(ok, out)
  return dir
end

-- Requires flowservice from the checkout's lua/ and prints pcall's results.
local REQUIRE_SCRIPT = [[
  package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
  local ok, err = pcall(require, "flowservice")
  print(ok, err)]]

-- An empty directory, as LUA_CPATH: no C module is found there.
local function empty_cpath(dir)
  return dir .. "/nothing/?.so"
end

describe("a checkout before make", function()
  local dir
  setup(function() dir = unbuilt_checkout() end)
  teardown(function() os.execute("rm -rf " .. helper.shell_quote(dir)) end)

  it("bin/flowservice says in one line that the C core is not built, and how to build it", function()
    local out, err, code = helper.run_process(("cd %s && LUA_CPATH=%s %s bin/flowservice --help"):format(
      helper.shell_quote(dir), helper.shell_quote(empty_cpath(dir)), helper.LUA))
    assert.equals(2, code)
    assert.equals("", out)
    assert.matches("^flowservice: cannot start: the C core %(flowservice%.core%) is not built", err)
    assert.matches("run `make", err, 1)
    assert.is_nil(err:find("traceback", 1, true))
    assert.is_nil(err:find("no file", 1, true))
    assert.equals(1, select(2, err:gsub("\n", "")))
  end)

  it("require 'flowservice' raises one clear line naming the C core and this Lua", function()
    local out = helper.run(("cd %s && LUA_CPATH=%s %s -e %s"):format(helper.shell_quote(dir),
      helper.shell_quote(empty_cpath(dir)), helper.LUA, helper.shell_quote(REQUIRE_SCRIPT)))
    assert.matches("^false\tflowservice: the C core %(flowservice%.core%) is not built or not on "
      .. "package%.cpath for " .. helper.LUA:gsub("%.", "%%."), out)
    assert.is_nil(out:find("no file", 1, true))
  end)

  it("require 'flowservice' with a core that does not load says why, in one line", function()
    -- a file named core.so that is not a shared object
    local out = helper.run(("cd %s && mkdir -p bad/flowservice && echo junk >bad/flowservice/core.so && "
      .. "LUA_CPATH='./bad/?.so' %s -e %s"):format(helper.shell_quote(dir), helper.LUA,
      helper.shell_quote(REQUIRE_SCRIPT)))
    assert.matches("^false\tflowservice: the C core %(flowservice%.core%) does not load %(", out)
    assert.equals(1, select(2, out:gsub("\n", "")))
  end)

  it("bin/flowservice-emulator without luasocket names the module and its packages", function()
    local out, err, code = helper.run_process(("cd %s && LUA_PATH='./lua/?.lua;./lua/?/init.lua' "
      .. "LUA_CPATH=%s %s bin/flowservice-emulator --port 0"):format(helper.shell_quote(dir),
      helper.shell_quote(empty_cpath(dir)), helper.LUA))
    assert.equals(2, code)
    assert.equals("", out)
    assert.matches("^flowservice%-emulator: cannot start: the emulator needs the Lua module 'socket[%w.]*' "
      .. "for [%w.]+: apt%-get install lua%-socket, or luarocks %-%-lua%-version 5%.%d install luasocket\n$", err)
  end)
end)

describe("flowservice.assert", function()
  local flowservice = require "flowservice"

  it("raises the text of a library error (where 5.1's assert raises 'bad argument #2')", function()
    local ok, err = pcall(function()
      local client = flowservice.assert(flowservice.new { env = false, sandbox = "Not A Sandbox" })
      return client -- not a tail call: the error names this line
    end)
    assert.is_false(ok)
    assert.equals("string", type(err))
    assert.matches("setup_spec%.lua:%d+: flowservice: validation error: ", err)
  end)

  it("returns every result of a call that succeeded", function()
    local a, b, c = flowservice.assert("value", nil, 3)
    assert.same({ "value", nil, 3 }, { a, b, c })
  end)

  it("raises 'assertion failed!' for nil or false without an error, and a string as it is", function()
    assert.has_error(function() flowservice.assert(false) end)
    local _, err = pcall(flowservice.assert, nil)
    assert.matches("assertion failed!$", err)
    _, err = pcall(flowservice.assert, nil, "plain text")
    assert.matches("plain text$", err)
  end)
end)

describe("Debian packages by need", function()
  -- The packages a target's recipe would install (make -n prints the loop over them).
  local function packages_of(target)
    local out, ok = helper.run("make -n " .. target)
    assert(ok, out)
    local list = assert(out:match("for p in ([^;]+);"), "no package loop in make -n " .. target)
    local set = {}
    for name in list:gmatch("%S+") do set[name] = true end
    return set
  end

  it("make demo installs the runtime set only: no test runner, bench server or checker", function()
    local set = packages_of("demo")
    local runtime = { "lua5.4", "liblua5.4-dev", "libcurl4-openssl-dev", "lua-cjson", "lua-socket", "gcc" }
    for _, needed in ipairs(runtime) do
      assert.is_true(set[needed], needed)
    end
    for _, dev in ipairs { "lua-busted", "nginx-light", "valgrind", "clang-tidy", "cppcheck", "lua-check" } do
      assert.is_nil(set[dev], dev)
    end
    assert.is_nil(set["lua-ldoc"])
  end)

  it("make test adds the test set but not the checkers of make lint and make check", function()
    local set = packages_of("test")
    for _, needed in ipairs { "lua-cjson", "lua-busted", "openssl", "luarocks", "nginx-light" } do
      assert.is_true(set[needed], needed)
    end
    for _, dev in ipairs { "valgrind", "clang-tidy", "cppcheck", "lua-check" } do assert.is_nil(set[dev], dev) end
  end)

  it("make lint and make check install the checkers", function()
    for _, target in ipairs { "lint", "check" } do
      local set = packages_of(target)
      for _, dev in ipairs { "valgrind", "clang-tidy", "cppcheck", "lua-check", "lua-busted" } do
        assert.is_true(set[dev], target .. ": " .. dev)
      end
    end
  end)
end)
