-- The embedding example (examples/embed/, docs/EMBEDDING.md): a C host that creates a Lua state,
-- requires flowservice from directories it sets itself and creates an Oracle Service Cloud
-- connection; built against the shared and the static liblua5.4 (#lua54only: the host is a Lua
-- 5.4 program).
local helper = require "helper"

local UUID = "%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x"

describe("examples/embed #lua54only", function()
  local emu
  setup(function() emu = helper.start_emulator() end)
  teardown(function() emu.stop() end)

  local function run_host(host)
    local env = ("cd /tmp && env -u LUA_PATH -u LUA_CPATH AEP_CLIENT_ID=%s AEP_CLIENT_SECRET=%s AEP_ORG_ID=%s ")
      :format(helper.shell_quote(helper.CLIENT_ID), helper.shell_quote(helper.CLIENT_SECRET),
        helper.shell_quote(helper.ORG_ID))
    local cwd = helper.run("pwd"):match("^[^\n]+")
    return helper.run_process(env .. host .. " " .. cwd .. "/lua " .. cwd .. "/build " .. emu.url)
  end

  it("make example-embed builds both hosts and each prints the id of the connection it created", function()
    local out, ok = helper.run("make -s example-embed")
    assert.is_true(ok, out)
    assert.matches("\nbuild/embed/host%-shared: connection id: " .. UUID .. "\n", out)
    assert.matches("\nbuild/embed/host%-static: connection id: " .. UUID .. "\n", out)
  end)

  for _, host in ipairs { "build/embed/host-shared", "build/embed/host-static" } do
    it(host .. " creates the connection on the service it is given (the client sees it)", function()
      local cwd = helper.run("pwd"):match("^[^\n]+")
      local stdout, stderr, code = run_host(cwd .. "/" .. host)
      assert.equals(0, code, stderr)
      local id = assert(stdout:match("^connection id: (" .. UUID .. ")\n$"), stdout)
      local client = helper.new_client(emu)
      local conn = assert(client.connections:get(id))
      assert.equals("Oracle Service Cloud (embedded host)", conn.name)
      client:close()
      assert.is_nil((stdout .. stderr):find("embed-demo-password", 1, true))
    end)
  end

  it("a host linked with the static liblua but without -Wl,-E gets a Lua error saying so, not a crash", function()
    local exe = os.tmpname()
    local out, ok = helper.run("cc -std=gnu99 -O1 -o " .. exe .. " examples/embed/host.c $(pkg-config --cflags lua5.4) "
      .. "$(pkg-config --variable=libdir lua5.4)/liblua5.4.a -lm -ldl")
    assert.is_true(ok, out)
    local stdout, stderr, code = run_host(exe)
    os.remove(exe)
    assert.equals(1, code)
    assert.equals("", stdout)
    assert.matches("^host: flowservice: the C core %(flowservice%.core%) does not load %(.*undefined symbol: lua_",
      stderr)
    assert.matches("must export the Lua API %(%-Wl,%-E; docs/EMBEDDING%.md%)", stderr)
  end)
end)
