-- The rockspec and the Makefile must ship every module and C source there is, and the
-- C core must carry the same version as the Lua layer.
local helper = require "helper"

local function lines_of(cmd)
  local out = {}
  local p = assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

describe("packaging", function()
  local rockspec = {}
  setup(function()
    assert(load(helper.read_file("flowservice-scm-1.rockspec"), "rockspec", "t", rockspec))()
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

  it("gives the C core the Lua layer's version", function()
    local flowservice = require "flowservice"
    local core = require "flowservice.core"
    assert.equals(flowservice.VERSION, core.version)
    local define = rockspec.build.modules["flowservice.core"].defines[1]
    assert.equals('FLOWSERVICE_VERSION="' .. flowservice.VERSION .. '"', define)
  end)
end)
