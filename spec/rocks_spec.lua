-- The released rockspec installs into a fresh tree for every Lua of the CI matrix, and the
-- command and the emulator installed there run from it (issue 19). A Lua that is not installed on
-- this machine is pending; CI installs all five (make deps LUA=...). It builds the rock five
-- times, so it runs once, with the Lua 5.4 specs.
local helper = require "helper"

local ROCKSPEC = "rockspecs/flowservice-0.1.0-1.rockspec"
local CURL_INCDIR = "/usr/include/x86_64-linux-gnu" -- Debian's multiarch curl/curl.h

local LUAS = {
  { command = "lua5.1", abi = "5.1", incdir = "/usr/include/lua5.1", says = "Lua 5.1" },
  { command = "lua5.2", abi = "5.2", incdir = "/usr/include/lua5.2", says = "Lua 5.2" },
  { command = "lua5.3", abi = "5.3", incdir = "/usr/include/lua5.3", says = "Lua 5.3" },
  { command = "lua5.4", abi = "5.4", incdir = "/usr/include/lua5.4", says = "Lua 5.4" },
  -- LuaJIT is a Lua 5.1 to LuaRocks; its headers are its own. Debian's luarocks writes wrappers
  -- that start lua5.1, so the installed scripts are run with luajit directly.
  { command = "luajit", abi = "5.1", incdir = "/usr/include/luajit-2.1", says = "Lua 5.1", direct = true },
}

local function installed(lua)
  local _, ok = helper.run("command -v " .. lua.command .. " && test -f " .. lua.incdir .. "/lua.h")
  return ok
end

local function version()
  return require("flowservice").VERSION
end

describe("the rock #lua54only", function()
  it("lints (luarocks lint) with a release source URL and tag, beside the scm rockspec", function()
    for _, spec in ipairs { ROCKSPEC, "flowservice-scm-1.rockspec" } do
      local out, ok = helper.run("luarocks lint " .. spec)
      assert.is_true(ok, spec .. ": " .. out)
    end
    local text = helper.read_file(ROCKSPEC)
    assert.matches('\nversion = "' .. version():gsub("%.", "%%.") .. '%-1"', text)
    assert.matches('url = "git%+https://github%.com/[%w-]+/flowservice%.git"', text)
    assert.matches('tag = "v' .. version():gsub("%.", "%%.") .. '"', text)
  end)

  for _, lua in ipairs(LUAS) do
    it(("installs for %s into a tree; its flowservice and flowservice-emulator run from there"):format(lua.command),
      function()
        if not installed(lua) then
          return pending(lua.command .. " or its headers are not installed here (CI installs them)")
        end
        local tree = os.tmpname()
        os.remove(tree)
        local out, ok = helper.run(("luarocks make --deps-mode=none --tree %s --lua-version %s CURL_INCDIR=%s "
          .. "LUA_INCDIR=%s %s"):format(tree, lua.abi, CURL_INCDIR, lua.incdir, ROCKSPEC))
        assert.is_true(ok, out)
        -- the tree's paths, from /tmp: nothing of the checkout is found
        local env = ("cd /tmp && eval \"$(luarocks path --tree %s --lua-version %s)\" && "):format(tree, lua.abi)
        local function command(name)
          if not lua.direct then return tree .. "/bin/" .. name end
          return ("%s %s/lib/luarocks/rocks-%s/flowservice/%s-1/bin/%s"):format(lua.command, tree, lua.abi,
            version(), name)
        end
        local stdout, stderr, code = helper.run_process(env .. command("flowservice") .. " --version")
        assert.equals(0, code, stderr)
        assert.matches("^flowservice " .. version():gsub("%.", "%%.") .. " %(libcurl/", stdout)
        assert.truthy(stdout:find(lua.says, 1, true), stdout)
        -- the core came from the tree
        local where = helper.run(env .. lua.command .. [[ -e 'for t in package.cpath:gmatch("[^;]+") do
            local f = io.open((t:gsub("%?", "flowservice/core")))
            if f then f:close() print(t) break end
          end']])
        assert.truthy(where:find(tree, 1, true), where)

        local emu = helper.spawn("sh -c " .. helper.shell_quote(env .. "exec " .. command("flowservice-emulator")
          .. " --port 0 2>/dev/null"))
        local url = emu.first_line
        local token_out, token_err, token_code = helper.run_process(env .. "env AEP_CLIENT_ID=flowservice-demo-client "
          .. "AEP_CLIENT_SECRET=flowservice-demo-secret AEP_ORG_ID=DEMOORG0000000000000000@AdobeOrg "
          .. command("flowservice") .. " --base-url " .. tostring(url) .. " --ims-url " .. tostring(url)
          .. " --json token")
        emu.stop()
        os.execute("rm -rf " .. tree)
        assert.matches("^http://127%.0%.0%.1:%d+$", url)
        assert.equals(0, token_code, token_err)
        assert.matches('"expires_in"', token_out)
        assert.is_nil(token_out:find("flowservice-demo-secret", 1, true))
      end)
  end
end)
