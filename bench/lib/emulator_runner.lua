-- The emulator's own speed (issue 7, requirement 5) and the batch against an injected delay
-- (requirement 3): bin/flowservice-emulator started here, the C loops and the batch client
-- pointed at it; and the command line's wall time per command with the token cache (issue 15).
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"
local proc = require "proc"
local workload = require "workload"

local runner = {}

local function start(ctx)
  local out = ctx.dir .. "/emulator.out"
  local cmd = ("cd %s && env -u LD_PRELOAD FLOWSERVICE_EMULATOR_CLIENT_SECRET=%s %s bin/flowservice-emulator "
    .. "--host 127.0.0.1 --port 0 --client-id %s --org-id %s >%s 2>/dev/null & echo $!")
    :format(ctx.root, proc.quote(workload.CLIENT_SECRET), ctx.lua, proc.quote(workload.API_KEY),
      proc.quote(workload.ORG_ID), out)
  local pid = proc.capture(cmd):match("%d+")
  assert(pid, "could not start the emulator")
  proc.remember_pid(ctx.dir, pid)
  for _ = 1, 250 do
    local url = (proc.read(out) or ""):match("^(https?://[^\n]+)\n")
    if url then return { pid = pid, url = url } end
    proc.sleep(0.02)
  end
  os.execute("kill " .. pid .. " 2>/dev/null")
  error("the emulator did not print its URL")
end

local function post(url, method, body, content_type)
  local chunks = {}
  local _, status = http.request {
    url = url, method = method, source = ltn12.source.string(body),
    headers = { ["content-type"] = content_type, ["content-length"] = tostring(#body) },
    sink = ltn12.sink.table(chunks),
  }
  return status, table.concat(chunks)
end

local function token(url)
  local form = "grant_type=client_credentials&client_id=" .. workload.API_KEY .. "&client_secret="
    .. workload.CLIENT_SECRET .. "&scope=openid"
  local status, body = post(url .. workload.IMS_PATH, "POST", form, "application/x-www-form-urlencoded")
  assert(status == 200, "the emulator's IMS refused the bench's credentials: " .. tostring(status))
  return cjson.decode(body).access_token
end

-- Sets a delay of `seconds` on every create call (PUT /_emulator/faults answers 200).
local function delay_creates(url, seconds)
  local rules = ('{"rules":[{"fault":"delay","seconds":%s,"method":"POST","path":"%s"}]}')
    :format(seconds, workload.CREATE_PATH)
  local status = post(url .. "/_emulator/faults", "PUT", rules, "application/json")
  assert(status == 200, "the emulator refused the delay rule: " .. tostring(status))
end

-- Sets a delay of `seconds` on every Flow Service request (lists and creates alike).
local function delay_flow_service(url, seconds)
  local rules = ('{"rules":[{"fault":"delay","seconds":%s,"path":"/data/foundation/flowservice/*"}]}')
    :format(seconds)
  local status = post(url .. "/_emulator/faults", "PUT", rules, "application/json")
  assert(status == 200, "the emulator refused the delay rule: " .. tostring(status))
end

-- Returns { seq, multi, cli, delayed_c, delayed_batch, state_apply } run tables (see main.lua's run).
function runner.measure(ctx)
  local emu = start(ctx)
  local results = {}
  local ok, err = pcall(function()
    local env = { BENCH_BASE_URL = emu.url, BENCH_TOKEN = token(emu.url) }
    local function with(n, extra)
      local e = ctx.calls_env(n, extra)
      for k, v in pairs(env) do e[k] = v end
      return e
    end
    results.seq = ctx.run(ctx.cmds.c_loop, with(ctx.size.emu_seq))
    ctx.progress("emulator, 1 conn", results.seq)
    results.multi = ctx.run(ctx.cmds.c_multi, with(ctx.size.emu_multi))
    ctx.progress("emulator, 16 conns", results.multi)
    results.cli = ctx.run(ctx.cmds.cli, with(ctx.size.cli, { LUA = ctx.lua }))
    ctx.progress("command line, 1 process/command", results.cli)
    delay_creates(emu.url, 0.05)
    results.delayed_c = ctx.run(ctx.cmds.c_multi, with(ctx.size.delayed))
    ctx.progress("emulator+50ms, C multi", results.delayed_c)
    results.delayed_batch = ctx.run(ctx.cmds.batch, with(ctx.size.delayed))
    ctx.progress("emulator+50ms, batch", results.delayed_batch)
    -- issue 16: state.apply of 4 x size.state resources, every request 50 ms late
    delay_flow_service(emu.url, 0.05)
    results.state_apply = ctx.run(ctx.cmds.state_apply, with(ctx.size.state))
    ctx.progress("emulator+50ms, state apply", results.state_apply)
  end)
  os.execute("kill " .. emu.pid .. " 2>/dev/null")
  if not ok then error(err, 0) end
  return results
end

return runner
