-- A fake flowservice.core for unit specs: session:request records every request and asks
-- `responder(req)` for what the real one would return. load() reloads the library on it.
--
-- Secrets: core.secret returns a table that shows only "flowservice.secret"; its value is kept
-- here, out of reach of the library, so specs can check what would have been sent. Each
-- recorded request has header values and the body joined from their pieces (secrets as their
-- values), and the request exactly as the library passed it in `raw`. `capture` is emulated
-- like the C core does it: a 2xx JSON object's string member becomes a secret and reads
-- "<captured>" in the body.
local cjson = require "cjson"
local compat = require "flowservice.compat"

local fakecore = {}

local values = setmetatable({}, { __mode = "k" }) -- fake secret -> value (nil once wiped)
local wiped = setmetatable({}, { __mode = "k" })

local Secret = { __name = "flowservice.secret" }
Secret.__index = Secret
function Secret.__tostring() return "flowservice.secret" end
function Secret:wipe()
  values[self] = nil
  wiped[self] = true
end
function Secret:is_wiped() return wiped[self] == true end

local function new_secret(value, encoding)
  if encoding == "form" then
    value = value:gsub("[^A-Za-z0-9%-._~]", function(c) return ("%%%02X"):format(c:byte()) end)
  end
  local s = setmetatable({}, Secret)
  values[s] = value
  return s
end

function fakecore.is_secret(v) return getmetatable(v) == Secret end

-- The bytes a value made of pieces stands for; raises on a wiped secret, as the core does.
function fakecore.join(v)
  if type(v) ~= "table" then return v end
  if fakecore.is_secret(v) then v = { v } end
  local out = {}
  for i, piece in ipairs(v) do
    if fakecore.is_secret(piece) then
      if wiped[piece] then error("attempt to use a wiped secret", 3) end
      piece = values[piece]
    end
    out[i] = piece
  end
  return table.concat(out)
end

local function joined(req)
  local copy = { raw = req }
  for k, v in pairs(req) do copy[k] = v end
  if req.headers then
    copy.headers = {}
    for name, value in pairs(req.headers) do copy.headers[name] = fakecore.join(value) end
  end
  copy.body = fakecore.join(req.body)
  return copy
end

local function capture(name, status, body, info)
  if status < 200 or status >= 300 or type(body) ~= "string" then return body end
  local ok, doc = pcall(cjson.decode, body)
  if not ok or type(doc) ~= "table" or type(doc[name]) ~= "string" or doc[name] == "" then return body end
  info.captured = new_secret(doc[name])
  doc[name] = "<captured>"
  return cjson.encode(doc)
end

-- The decoding aids, as the C core does them (src/json_decode.c).
local function utf8_valid(s)
  if type(s) ~= "string" then error("bad argument #1 to 'utf8_valid' (string expected)", 2) end
  return compat._utf8_len(s) ~= nil
end

local function json_integers(t)
  for k, v in pairs(t) do
    if type(v) == "number" then
      if v == math.huge or v == -math.huge then return false end
      if v > -2 ^ 53 and v < 2 ^ 53 and v == math.floor(v) then t[k] = compat.tointeger(v) end
    elseif type(v) == "table" and not json_integers(v) then
      return false
    end
  end
  return true
end

function fakecore.new(responder)
  local sent = {}
  local core = { sessions = {} }
  function core.json_encode(v)
    local ok, s = pcall(cjson.encode, v)
    if ok then return s end
    return nil, "cannot encode"
  end
  core.utf8_valid, core.json_integers = utf8_valid, json_integers
  core.monotonic = os.clock
  core.curl_version = "libcurl/7.88.1 OpenSSL/3.0.19"
  function core.sleep() end
  core.secret = new_secret
  function core.session(opts)
    core.sessions[#core.sessions + 1] = opts or {}
    return {
      request = function(_, req)
        local copy = joined(req)
        sent[#sent + 1] = copy
        local status, headers, body, info = responder(copy)
        if status and req.capture then
          info = info or {}
          body = capture(req.capture, status, body, info)
        end
        return status, headers, body, info
      end,
      close = function() end,
    }
  end
  return core, sent
end

-- The requests in `sent` that went to Flow Service (not the token calls to IMS), in order.
function fakecore.flow_requests(sent)
  local out = {}
  for _, r in ipairs(sent) do
    if not r.url:find("/ims/", 1, true) then out[#out + 1] = r end
  end
  return out
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
