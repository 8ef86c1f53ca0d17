-- A missing dependency said plainly. `require` reports a module it cannot find as the list of
-- every file it tried, and a command would add a traceback; this turns that into one line that
-- says what is missing for which Lua and how to get it. Used by init.lua (the C core) and by
-- bin/flowservice and bin/flowservice-emulator (the other modules they need).
local missing = {}

-- The modules of other projects we use: their Debian package and their rock.
local PACKAGES = {
  cjson = { debian = "lua-cjson", rock = "lua-cjson", user = "flowservice" },
  argparse = { debian = "lua-argparse", rock = "argparse", user = "the flowservice command" },
  socket = { debian = "lua-socket", rock = "luasocket", user = "the emulator" },
  ssl = { debian = "lua-sec", rock = "luasec", user = "the emulator's HTTPS (--tls-cert)" },
}

-- The running Lua as its command and Debian package are named: "lua5.4", "luajit".
local function lua_name()
  if rawget(_G, "jit") then return "luajit" end
  return "lua" .. _VERSION:match("[%d.]+$")
end

local function one_line(text)
  return (text:gsub("\n%s*", " "))
end

--- One line explaining the error `err` of a failed `require`, or nil when `err` is not about a
-- module that could not be found or loaded.
function missing.explain(err)
  err = tostring(err)
  local name = err:match("module '([^']+)' not found")
  local load_error = not name and err:match("error loading module '([^']+)'")
  name = name or load_error
  if not name then return nil end
  local lua = lua_name()
  local lua_version = lua == "luajit" and "5.1" or lua:sub(4)
  if name == "flowservice.core" then
    if load_error and err:find("undefined symbol: lua", 1, true) and not err:find("luaJIT", 1, true) then
      -- A host linked with a static liblua that does not export the Lua API, or a core built
      -- for another Lua.
      return ("the C core (flowservice.core) does not load (%s): a host program linked with a static "
        .. "liblua must export the Lua API (-Wl,-E; docs/EMBEDDING.md), and the core must be built for %s")
        :format(one_line(err), lua)
    end
    local what = load_error and "does not load (" .. one_line(err) .. ")" or "is not built or not on package.cpath"
    return ("the C core (flowservice.core) %s for %s: in a checkout run `make%s` first; "
      .. "installed, install it for this Lua (luarocks --lua-version %s, or make install LUA=%s)")
      :format(what, lua, lua == "lua5.4" and "" or " LUA=" .. lua, lua_version, lua)
  end
  local package = PACKAGES[name:match("^[^.]+")]
  if package then
    return ("%s needs the Lua module '%s' for %s: apt-get install %s, or luarocks --lua-version %s install %s")
      :format(package.user, name, lua, package.debian, lua_version, package.rock)
  end
  return ("the Lua module '%s' is not on package.path or package.cpath of %s"):format(name, lua)
end

-- require(name), raising the plain explanation (with no position) when it fails that way.
function missing.require(name)
  local ok, module = pcall(require, name)
  if ok then return module end
  local explained = missing.explain(module)
  if explained and not tostring(module):find("^flowservice: ") then error("flowservice: " .. explained, 0) end
  error(module, 0)
end

return missing
