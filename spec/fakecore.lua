-- A fake flowservice.core for unit specs: session:request records every request and asks
-- `responder(req)` for what the real one would return. load() reloads the library on it.
local cjson = require "cjson"

local fakecore = {}

function fakecore.new(responder)
  local sent = {}
  local core = {}
  function core.json_encode(v)
    local ok, s = pcall(cjson.encode, v)
    if ok then return s end
    return nil, "cannot encode"
  end
  core.monotonic = os.clock
  function core.sleep() end
  function core.session()
    return {
      request = function(_, req)
        sent[#sent + 1] = req
        return responder(req)
      end,
      close = function() end,
    }
  end
  return core, sent
end

-- Fresh copies of every flowservice module on a fake core. Returns flowservice, sent (the list
-- of requests made) and the fake core.
function fakecore.load(responder)
  for name in pairs(package.loaded) do
    if name:match("^flowservice") then package.loaded[name] = nil end
  end
  local core, sent = fakecore.new(responder)
  package.loaded["flowservice.core"] = core
  return require "flowservice", sent, core
end

return fakecore
