-- Figure 5's client process: feeds every corpus case through the public client API, from case
-- FIRST on, against the fixture server at URL, and writes (line-buffered) per case
--   > <index>                                  before the call
--   <index> <typed|value|crash|hang> <milliseconds>   after it
-- followed, for a crash, by "# <message>", and "done" at the end. A Lua error escaping a call is
-- a crash; so is a failure that is not a flowservice error. figures.lua watches this output:
-- when the process dies, or stops making progress, on a case, that case is a crash or a hang and
-- a new feeder goes on after it.
-- RELIABILITY_SIMULATE_CRASH=<index> / RELIABILITY_SIMULATE_HANG=<index>: the process kills
-- itself (SIGSEGV) / sleeps for good on that case, so a spec can check that both are counted.
-- Usage: lua5.4 bench/reliability/corpus_feed.lua CORPUS_FILE URL FIRST
package.path = "./bench/?.lua;" .. package.path
local flowservice = require "flowservice"
local core = require "flowservice.core"
local corpus = require "reliability.corpus"

local corpus_file, base, first = arg[1], arg[2], tonumber(arg[3] or 1)
assert(corpus_file and base, "usage: corpus_feed.lua CORPUS_FILE URL [FIRST]")
local cases = corpus.load(corpus_file)

local ORG_ID = "RELIABILITY0123456789@AdobeOrg"
local ID = "00000000-0000-4000-8000-000000000000"
local OSC_SPEC_ID = "ba5126ec-c9ac-11eb-b8bc-0242ac130003"
local TIMEOUT = 5          -- seconds per request (libcurl total timeout)
local HANG_SECONDS = 20    -- a call longer than this is a hang (3 attempts x TIMEOUT, plus room)

local function new_client(url, with_secret)
  return assert(flowservice.new {
    env = false, base_url = url, ims_url = url, org_id = ORG_ID, client_id = "reliability-bench",
    client_secret = with_secret and "reliability-secret" or nil,
    access_token = not with_secret and "reliability-token" or nil,
    timeout = TIMEOUT, connect_timeout = TIMEOUT,
    retry = { base = 0.001, throttle_base = 0.001 },
  })
end

local CALLS = {
  authenticate = function(c) return c:authenticate() end,
  create = function(c)
    return c.connections:create { name = "corpus", spec = "oracle-service-cloud",
      auth = { host = "osc.example.com", username = "corpus", password = "corpus-password" } }
  end,
  get = function(c) return c.connections:get(ID) end,
  all = function(c) return c.connections:all() end,
  tables = function(c) return c.connections:tables(ID) end,
  columns = function(c) return c.connections:columns(ID, "incidents") end,
  preview = function(c) return c.connections:preview(ID, "incidents") end,
  spec = function(c) return c.connection_specs:get(OSC_SPEC_ID) end,
}

-- Runs one case; returns outcome and, for a crash, what escaped.
local function feed(index, case)
  local client = new_client(base .. "/case/" .. index, case.call == "authenticate")
  local ok, value, err = pcall(CALLS[case.call], client)
  client:close()
  if not ok then return "crash", "Lua error escaped: " .. tostring(value) end
  if value ~= nil and value ~= false then return "value" end
  if flowservice.errors.is(err) then return "typed" end
  return "crash", "not a flowservice error: " .. tostring(err)
end

local simulate_crash = tonumber(os.getenv("RELIABILITY_SIMULATE_CRASH") or "")
local simulate_hang = tonumber(os.getenv("RELIABILITY_SIMULATE_HANG") or "")

local function own_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("n")
  f:close()
  return pid
end

io.stdout:setvbuf("line")
for index = first, #cases do
  io.stdout:write("> ", index, "\n")
  if index == simulate_crash then os.execute("kill -SEGV " .. own_pid()) end
  if index == simulate_hang then core.sleep(86400) end
  local started = core.monotonic()
  local outcome, why = feed(index, cases[index])
  local elapsed = core.monotonic() - started
  if elapsed > HANG_SECONDS then outcome = "hang" end
  io.stdout:write(("%d %s %d\n"):format(index, outcome, math.floor(elapsed * 1000 + 0.5)))
  if why then io.stdout:write("# ", (why:gsub("[\r\n]", " ")), "\n") end
  collectgarbage("step")
end
io.stdout:write("done\n")
