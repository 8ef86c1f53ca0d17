-- bench/run's driver: starts the servers, runs every client between runs of its C baseline,
-- measures (calls/s, CPU, instructions, RSS, TCP connections) and prints one table with
-- PASS/FAIL against issue 7's targets. Run through bench/run, which owns the temporary
-- directory (BENCH_DIR) and kills the servers on exit.
local proc = require "proc"
local nginx = require "nginx"
local workload = require "workload"
local core = require "flowservice.core"
local emulator = require "emulator_runner"
local report = require "report"

local ROOT, DIR = assert(os.getenv("BENCH_ROOT")), assert(os.getenv("BENCH_DIR"))
local LUA = os.getenv("LUA") or "lua5.4"

local USAGE = [[
Usage: bench/run [--short | --smoke] [--profile]
  (default)  full form: about 10,000 calls per run, repeated runs, callgrind 100 vs 1,100 calls
  --short    CI form: fewer calls, one run each, callgrind 20 vs 220 calls (under 2 minutes)
  --smoke    a few hundred calls: checks that every row runs (used by spec/bench_spec.lua)
  --profile  also print callgrind_annotate's top functions of the flowservice loop
]]

local SIZES = {
  full = { seq = 10000, reps = 3, luasocket = 5000, python = 3000, curl = 100, multi = 20000,
    https = 10000, https_reps = 2, emu_seq = 2000, emu_multi = 4000, delayed = 480, cli = 100,
    callgrind = { 100, 1100 }, batch_memory = { 1000, 10000 }, state = 50 },
  short = { seq = 4000, reps = 1, luasocket = 1500, python = 1000, curl = 30, multi = 8000,
    https = 3000, https_reps = 1, emu_seq = 500, emu_multi = 1000, delayed = 160, cli = 30,
    callgrind = { 20, 220 }, batch_memory = { 500, 4000 }, state = 50 },
  smoke = { seq = 300, reps = 1, luasocket = 100, python = 100, curl = 5, multi = 600,
    https = 300, https_reps = 1, emu_seq = 100, emu_multi = 200, delayed = 64, cli = 10,
    callgrind = { 5, 25 }, batch_memory = { 100, 400 }, state = 5 },
}

local function parse_args(args)
  local opts = { size = "full" }
  for _, a in ipairs(args) do
    if a == "--short" then opts.size = "short"
    elseif a == "--smoke" then opts.size = "smoke"
    elseif a == "--profile" then opts.profile = true
    elseif a == "-h" or a == "--help" then io.write(USAGE) os.exit(0)
    else io.stderr:write("bench/run: unknown argument ", a, "\n", USAGE) os.exit(2) end
  end
  return opts
end

---------------------------------------------------------------------------------------------------
-- Building and running clients
---------------------------------------------------------------------------------------------------

local function build_c()
  local flags = proc.capture("pkg-config --cflags --libs libcurl"):gsub("%s+$", "")
  for _, name in ipairs { "loop", "multi" } do
    local cmd = ("cc -std=gnu99 -O2 -g -Wall -Wextra -o %s/%s %s/bench/c/%s.c %s 2>&1")
      :format(DIR, name, ROOT, name, flags)
    local out, ok = proc.capture(cmd)
    if not ok then error("building bench/c/" .. name .. ".c failed:\n" .. out) end
  end
  -- Where libcurl needs a fresh handle per transfer (core.fresh_handles, before 8.1.0), a core
  -- built to reuse its handle anyway, only to measure what the fresh handles cost (it is unsafe
  -- against a hostile server on such a libcurl; nothing but this measurement loads it).
  if core.fresh_handles then
    local out, ok = proc.capture(("make -s -C %s all BUILD=%s/reuse "
      .. "CFLAGS='-O2 -g -DFLOWSERVICE_MEASURE_REUSED_HANDLES' 2>&1"):format(ROOT, DIR))
    if not ok then error("building the reused-handle core failed:\n" .. out) end
  end
end

local function python()
  local _, ok = proc.capture("/usr/bin/python3 -c 'import requests' 2>/dev/null")
  return ok and "/usr/bin/python3" or "python3"
end

-- The commands of every client; each prints workload.report's line (or "n/a ..." and exits 3).
local function commands()
  local lua_client = LUA .. " " .. ROOT .. "/bench/clients/"
  return {
    c_loop = DIR .. "/loop",
    c_multi = DIR .. "/multi",
    flowservice = lua_client .. "flowservice_seq.lua",
    flowservice_request = lua_client .. "flowservice_request.lua",
    batch = lua_client .. "flowservice_batch.lua",
    state_apply = lua_client .. "flowservice_state_apply.lua",
    luasocket = lua_client .. "luasocket.lua",
    python = python() .. " " .. ROOT .. "/bench/clients/requests_session.py",
    curl = "sh " .. ROOT .. "/bench/clients/curl_cli.sh",
    cli = "sh " .. ROOT .. "/bench/clients/flowservice_cli.sh",
  }
end

local BASE_ENV -- filled in main: the workload for every client

local function merged_env(extra)
  local env = {}
  for k, v in pairs(BASE_ENV) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

local function parse_result(out)
  local calls, ok, wall, cpu, connects =
    out:match("result calls=(%d+) ok=(%d+) wall=([%d.e+-]+) cpu=([%d.e+-]+) connects=(%S+)")
  if not calls then return nil end
  return { calls = tonumber(calls), ok = tonumber(ok), wall = tonumber(wall), cpu = tonumber(cpu),
    client_connects = tonumber(connects) }
end

-- Runs one client under /usr/bin/time. Returns a run table: rate (calls/s), cpu_us (per call),
-- rss_mib (peak), conns (server-side, when `server` is nginx), or { na = reason } / { error = }.
local function run(cmd, env, server)
  local offset = server and nginx.mark(server)
  local line = ("cd %s && %s /usr/bin/time -f '%%e %%U %%S %%M' -o %s/time.txt %s >%s/out.txt 2>%s/err.txt")
    :format(ROOT, proc.env_words(merged_env(env)), DIR, cmd, DIR, DIR)
  local _, _, code = os.execute(line)
  local out = proc.read(DIR .. "/out.txt") or ""
  if code == 3 and out:match("^n/a") then return { na = out:gsub("%s+$", "") } end
  local r = parse_result(out)
  local times = (proc.read(DIR .. "/time.txt") or ""):match("[%d.]+ [%d.]+ [%d.]+ %d+%s*$")
  if not r or not times or code ~= 0 then
    local err = (proc.read(DIR .. "/err.txt") or ""):gsub("%s+$", "")
    return { error = ("exit %s: %s"):format(tostring(code), err ~= "" and err:sub(1, 300) or out:sub(1, 300)) }
  end
  local _, user, sys, rss = times:match("([%d.]+) ([%d.]+) ([%d.]+) (%d+)")
  if r.cpu < 0 then r.cpu = tonumber(user) + tonumber(sys) end -- the curl CLI: all its processes
  r.rate = r.calls / r.wall
  r.cpu_us = r.cpu / r.calls * 1e6
  r.rss_mib = tonumber(rss) / 1024
  if server then
    local seen = nginx.connections_since(server, offset)
    r.conns, r.per_port, r.requests, r.protocols = seen.total, seen.per_port, seen.requests, seen.protocols
  else
    r.conns = r.client_connects -- as the client counted them (the C baselines: libcurl's count)
  end
  return r
end

local function median(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end

local function field(runs, name)
  local out = {}
  for _, r in ipairs(runs) do if r[name] then out[#out + 1] = r[name] end end
  return out
end

-- Summary of several runs of one client: medians, and the connection counts seen.
local function summarise(runs)
  local s = { runs = runs }
  for _, r in ipairs(runs) do
    if r.na then return { na = r.na } end
    if r.error then return { error = r.error } end
  end
  s.rate, s.cpu_us, s.rss_mib = median(field(runs, "rate")), median(field(runs, "cpu_us")),
    median(field(runs, "rss_mib"))
  s.ratio = median(field(runs, "ratio"))
  local conns = field(runs, "conns")
  if #conns > 0 then
    s.conns_min, s.conns_max = math.min(table.unpack(conns)), math.max(table.unpack(conns))
  end
  s.per_port, s.protocols = runs[#runs].per_port, runs[#runs].protocols
  return s
end

-- Runs the baseline, then each client `reps` times with a baseline run after each one: the
-- client's ratio is against the mean of the baseline runs just before and after it.
-- `clients` = list of { key, cmd, env, reps }. Returns baseline summary, { key = summary }.
local function interleaved(baseline, clients, server, progress)
  local base_runs = { run(baseline.cmd, baseline.env, server) }
  progress(baseline.key, base_runs[1])
  local results = {}
  for _, c in ipairs(clients) do
    local runs = {}
    for _ = 1, c.reps or 1 do
      local r = run(c.cmd, c.env, server)
      progress(c.key, r)
      local after = run(baseline.cmd, baseline.env, server)
      progress(baseline.key, after)
      local before = base_runs[#base_runs]
      base_runs[#base_runs + 1] = after
      if r.rate and before.rate and after.rate then r.ratio = r.rate / ((before.rate + after.rate) / 2) end
      runs[#runs + 1] = r
      if r.na then break end
    end
    results[c.key] = summarise(runs)
  end
  local base = summarise(base_runs)
  if base.rate then
    base.rate = 0
    for _, r in ipairs(base_runs) do base.rate = base.rate + r.rate / #base_runs end
    base.ratio = 1
  end
  return base, results
end

local function with_calls(env, n)
  local out = { BENCH_CALLS = tostring(n) }
  for k, v in pairs(env or {}) do if k ~= "BENCH_CALLS" then out[k] = v end end
  return out
end

-- Instructions per call under callgrind: (I(n2) - I(n1)) / (n2 - n1), so start-up, the IMS call
-- and the warm-up cancel. Returns instr/call and the n2 output file, or nil and a reason.
local function instructions(name, cmd, env, n1, n2)
  local totals = {}
  for _, n in ipairs { n1, n2 } do
    local file = ("%s/callgrind.%s.%d"):format(DIR, name, n)
    local line = ("cd %s && %s valgrind --tool=callgrind --callgrind-out-file=%s %s >/dev/null 2>%s/cg.err")
      :format(ROOT, proc.env_words(merged_env(with_calls(env, n))), file, cmd, DIR)
    if not os.execute(line) then return nil, "callgrind run failed: " .. (proc.read(DIR .. "/cg.err") or "") end
    local text = proc.read(file) or ""
    local total = text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)")
    if not total then return nil, "no totals in " .. file end
    totals[#totals + 1] = tonumber(total)
  end
  return (totals[2] - totals[1]) / (n2 - n1), ("%s/callgrind.%s.%d"):format(DIR, name, n2)
end

---------------------------------------------------------------------------------------------------
-- Main
---------------------------------------------------------------------------------------------------

local function versions(cmds)
  local function first_line(cmd)
    local out = proc.capture(cmd .. " 2>&1")
    return (out:match("[^\n]*") or ""):gsub("%s+$", "")
  end
  local cjson = require "cjson"
  local py = first_line(cmds.python:match("^%S+") .. " -c 'import sys, requests; "
    .. "print(\"Python\", sys.version.split()[0], \"requests\", requests.__version__)'")
  return {
    ("under test: %s (flowservice %s); %s; lua-cjson %s; %s"):format(core.curl_version, core.version,
      first_line(LUA .. " -v"):match("^Lua %S+") or _VERSION, cjson._VERSION or "?",
      (first_line("nginx -v"):gsub("^nginx version: ", ""))),
    ("baselines: %s; %s; %s; %s"):format(first_line("curl --version"):match("^curl [%S]+") or "curl ?",
      py, require("socket")._VERSION, first_line("openssl version")),
    ("machine: %s; %s; %s cores; %s"):format(first_line("uname -srm"),
      (proc.read("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?",
      first_line("nproc"), first_line("valgrind --version")),
  }
end

local function main(args)
  local opts = parse_args(args)
  local size = SIZES[opts.size]
  local started = proc.now()
  local function progress(key, r)
    io.stderr:write(("  %-22s %s\n"):format(key, r.na or r.error
      or ("%.0f calls/s%s"):format(r.rate, r.conns and ("  conns " .. r.conns) or "")))
  end

  build_c()
  local cmds = commands()
  local server = nginx.start(ROOT, DIR)
  local http_url = "http://127.0.0.1:" .. server.port
  local body = assert(core.json_encode(workload.BODY_TABLE))
  BASE_ENV = {
    BENCH_BASE_URL = http_url, BENCH_BODY = body, BENCH_TOKEN = workload.TOKEN,
    BENCH_API_KEY = workload.API_KEY, BENCH_ORG_ID = workload.ORG_ID, BENCH_SANDBOX = workload.SANDBOX,
    BENCH_CLIENT_SECRET = workload.CLIENT_SECRET, BENCH_CONCURRENCY = "16",
    LUA_PATH = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. ROOT .. "/bench/lib/?.lua;;",
    LUA_CPATH = ROOT .. "/build/?.so;;",
  }
  report.check_body(http_url, body) -- the baselines send the bytes our client sends

  local function calls_env(n, extra)
    local env = { BENCH_CALLS = tostring(n) }
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end
  io.stderr:write("HTTP, sequential (nginx on 127.0.0.1:", server.port, ")\n")
  local c_loop, seq = interleaved({ key = "c_loop", cmd = cmds.c_loop, env = calls_env(size.seq) }, {
    { key = "flowservice", cmd = cmds.flowservice, env = calls_env(size.seq), reps = size.reps },
    { key = "flowservice_ims2", cmd = cmds.flowservice,
      env = calls_env(size.seq, { BENCH_IMS_URL = "http://127.0.0.1:" .. server.ims_port }) },
    { key = "luasocket", cmd = cmds.luasocket, env = calls_env(size.luasocket) },
    { key = "python", cmd = cmds.python, env = calls_env(size.python) },
    { key = "curl", cmd = cmds.curl, env = calls_env(size.curl) },
  }, server, progress)

  io.stderr:write("HTTP, 16 in flight\n")
  local c_multi, multi = interleaved({ key = "c_multi", cmd = cmds.c_multi, env = calls_env(size.multi) }, {
    { key = "batch", cmd = cmds.batch, env = calls_env(size.multi), reps = size.reps },
  }, server, progress)
  local memory = {}
  for i, n in ipairs(size.batch_memory) do
    memory[i] = run(cmds.batch, calls_env(n, { BENCH_STREAM = "1" }), server)
    progress("batch streamed " .. n, memory[i])
  end

  io.stderr:write("HTTPS (TLS port ", server.tls_port, ", HTTP/2 offered)\n")
  local tls = { BENCH_BASE_URL = "https://127.0.0.1:" .. server.tls_port, BENCH_CA_FILE = server.ca_file }
  local c_tls, seq_tls = interleaved({ key = "c_loop_tls", cmd = cmds.c_loop, env = calls_env(size.https, tls) }, {
    { key = "flowservice_tls", cmd = cmds.flowservice, env = calls_env(size.https, tls), reps = size.https_reps },
  }, server, progress)
  local c_multi_tls, multi_tls = interleaved({ key = "c_multi_tls", cmd = cmds.c_multi,
    env = calls_env(size.multi, tls) }, {
    { key = "batch_tls", cmd = cmds.batch, env = calls_env(size.multi, tls) },
  }, server, progress)

  io.stderr:write("callgrind (", size.callgrind[1], " vs ", size.callgrind[2], " calls)\n")
  local instr = {}
  local measured = { { "c_loop" }, { "flowservice" }, { "flowservice_request" } }
  if core.fresh_handles then -- the same calls on one reused handle: what the fresh ones cost
    measured[#measured + 1] = { "flowservice_reused", "flowservice",
      { LUA_CPATH = DIR .. "/reuse/?.so;;" } }
  end
  for _, m in ipairs(measured) do
    local key = m[1]
    local per_call, file = instructions(key, cmds[m[2] or key], m[3], size.callgrind[1], size.callgrind[2])
    instr[key] = per_call and { per_call = per_call, file = file } or { error = file }
    io.stderr:write(("  %-22s %s\n"):format(key, per_call and ("%.0f instr/call"):format(per_call) or file))
  end

  io.stderr:write("emulator\n")
  local emu = emulator.measure {
    root = ROOT, dir = DIR, lua = LUA, size = size, run = run, cmds = cmds, calls_env = calls_env,
    progress = progress,
  }
  nginx.stop(server)

  local rows = report.rows {
    c_loop = c_loop, seq = seq, c_multi = c_multi, multi = multi, memory = memory,
    memory_sizes = size.batch_memory, c_tls = c_tls, seq_tls = seq_tls, c_multi_tls = c_multi_tls,
    multi_tls = multi_tls, instr = instr, emu = emu, server = server, seq_calls = size.seq,
    state_per_kind = size.state,
  }
  local failed = report.print(rows, {
    title = ("flowservice benchmark (%s form: %d sequential calls per run, %d run(s) per client; "
      .. "callgrind %d vs %d calls)"):format(opts.size, size.seq, size.reps, size.callgrind[1], size.callgrind[2]),
    versions = versions(cmds), seconds = proc.now() - started,
  })
  if opts.profile and instr.flowservice.file then
    io.write("\ncallgrind_annotate of the flowservice loop (", size.callgrind[2], " calls), top functions:\n")
    io.write((proc.capture("callgrind_annotate --threshold=99 " .. instr.flowservice.file .. " | head -n 45")))
  end
  return failed
end

local ok, failed = xpcall(main, debug.traceback, arg)
if not ok then
  io.stderr:write("bench/run: ", tostring(failed), "\n")
  os.exit(2)
end
os.exit(failed and 3 or 0) -- 3, not 1: Lua itself exits 1 when a file does not load
