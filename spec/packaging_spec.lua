-- The rockspec and the Makefile must ship every module and C source there is, and the
-- C core must carry the same version as the Lua layer.
local helper = require "helper"

local function lines_of(cmd)
  local out = {}
  for line in helper.run(cmd):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- make install into a scratch directory given as DESTDIR or PREFIX (var); returns the directory.
local function scratch_install(var)
  local dir = os.tmpname()
  os.remove(dir)
  local out, ok = helper.run("make -s install LUA=" .. helper.LUA .. " " .. var .. "=" .. dir)
  assert.is_true(ok, out)
  return dir
end

describe("packaging", function()
  local rockspec = {}
  setup(function()
    local text = helper.read_file("flowservice-scm-1.rockspec")
    if setfenv then -- luacheck: ignore 113 (Lua 5.1 and LuaJIT: load takes no environment)
      assert(setfenv(assert(loadstring(text, "rockspec")), rockspec))() -- luacheck: ignore 113
    else
      assert(load(text, "rockspec", "t", rockspec))()
    end
  end)

  it("releases (rockspecs/) build, install and depend exactly as the scm rockspec", function()
    for _, path in ipairs(lines_of("ls rockspecs/*.rockspec")) do
      local release = {}
      local text = helper.read_file(path)
      if setfenv then -- luacheck: ignore 113
        assert(setfenv(assert(loadstring(text, path)), release))() -- luacheck: ignore 113
      else
        assert(load(text, path, "t", release))()
      end
      assert.equals(path, "rockspecs/" .. release.package .. "-" .. release.version .. ".rockspec")
      assert.same(rockspec.build, release.build, path)
      assert.same(rockspec.dependencies, release.dependencies, path)
      assert.same(rockspec.external_dependencies, release.external_dependencies, path)
    end
  end)

  it("declares what the installed emulator needs: luasocket, and luasec for HTTPS", function()
    local declared = table.concat(rockspec.dependencies, "\n")
    assert.matches("\nluasocket ", declared)
    assert.matches("\nluasec ", declared)
  end)

  it("lists every Lua module of lua/ in the rockspec", function()
    for _, path in ipairs(lines_of("find lua -name '*.lua' | sort")) do
      local module = path:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      assert.equals(path, rockspec.build.modules[module], "rockspec lacks " .. module)
    end
  end)

  it("compiles every C file of src/ in the rockspec", function()
    local listed = {}
    for _, s in ipairs(rockspec.build.modules["flowservice.core"].sources) do listed[s] = true end
    for _, path in ipairs(lines_of("find src -name '*.c' | sort")) do
      assert.is_true(listed[path], "rockspec lacks " .. path)
    end
  end)

  it("make install puts a loadable library and the emulator under DESTDIR", function()
    local dest = scratch_install("DESTDIR")
    local init = lines_of("find " .. dest .. " -path '*/flowservice/init.lua'")[1]
    local so = lines_of("find " .. dest .. " -path '*/flowservice/core.so'")[1]
    local bin = lines_of("find " .. dest .. " -name flowservice-emulator -perm -u+x")[1]
    assert.is_string(init)
    assert.is_string(so)
    assert.is_string(bin)
    local lua_dir = init:gsub("flowservice/init%.lua$", "")
    local lpath = lua_dir .. "?.lua;" .. lua_dir .. "?/init.lua;;"
    local cpath = so:gsub("flowservice/core%.so$", "?.so") .. ";;"
    -- the file require finds (package.searchpath, which 5.1 lacks: its first readable candidate)
    local searchpath = [[local function searchpath(name, path)
        for template in path:gmatch("[^;]+") do
          local file = template:gsub("%?", (name:gsub("%.", "/")))
          local f = io.open(file) if f then f:close() return file end
        end
      end]]
    local loaded = lines_of(string.format(
      "cd /tmp && LUA_PATH='%s' LUA_CPATH='%s' %s -e '%s print(searchpath(\"flowservice.core\", "
      .. "package.cpath), require(\"flowservice\").VERSION)' 2>&1", lpath, cpath, helper.LUA, searchpath))
    assert.equals(so .. "\t" .. require("flowservice").VERSION, loaded[1])
    assert.equals("#!/usr/bin/env " .. helper.LUA, helper.read_file(bin):match("^[^\n]*"))
    os.execute("rm -rf " .. dest)
  end)

  it("make install puts library and commands under one prefix (default /usr/local, DESTDIR for packagers)", function()
    local dest = scratch_install("DESTDIR")
    local abi = helper.LUA == "luajit" and "5.1" or helper.LUA:match("[%d.]+$")
    for _, file in ipairs { "/usr/local/share/lua/" .. abi .. "/flowservice/init.lua",
        "/usr/local/lib/lua/" .. abi .. "/flowservice/core.so", "/usr/local/bin/flowservice",
        "/usr/local/bin/flowservice-emulator" } do
      assert.truthy(io.open(dest .. file), "not installed: " .. file)
    end
    os.execute("rm -rf " .. dest)
  end)

  it("commands installed under any PREFIX run from there without LUA_PATH", function()
    local prefix = scratch_install("PREFIX")
    local stdout, stderr, code = helper.run_process("cd /tmp && env -u LUA_PATH -u LUA_CPATH "
      .. prefix .. "/bin/flowservice --version")
    assert.equals(0, code, stderr)
    assert.matches("^flowservice " .. require("flowservice").VERSION:gsub("%.", "%%.") .. " ", stdout)
    local emu = helper.spawn("sh -c 'cd /tmp && exec env -u LUA_PATH -u LUA_CPATH " .. prefix
      .. "/bin/flowservice-emulator --port 0 2>/dev/null'")
    local url = emu.first_line
    emu.stop()
    os.execute("rm -rf " .. prefix)
    assert.matches("^http://127%.0%.0%.1:%d+$", url)
  end)

  it("gives the C core the Lua layer's version", function()
    local flowservice = require "flowservice"
    local core = require "flowservice.core"
    assert.equals(flowservice.VERSION, core.version)
    local define = rockspec.build.modules["flowservice.core"].defines[1]
    assert.equals('FLOWSERVICE_VERSION="' .. flowservice.VERSION .. '"', define)
  end)
end)
