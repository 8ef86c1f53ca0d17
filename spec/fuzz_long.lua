-- The hostile-server fuzzer's long run (issue 13; `make fuzz-long`): rounds of random cases
-- (spec/hostile_fuzz.lua) against one spec/fixtures/hostile_server.lua, each round in a child
-- process (under the ASan build when make fuzz-long runs it), so a crash ends one round, not
-- the run: it is reported with the round's seed, the cases in flight and the end of the child's
-- stderr (the sanitizer's report), and the next round goes on.
--
-- Usage (from the top of the tree):
--   lua5.4 spec/fuzz_long.lua [--seed N] [--duration SECONDS] [--cases PER_ROUND]
--     [--cpath PATTERN] [--preload LIB]
-- Round k runs seed N + k - 1 (N: the time when not given), so `--seed S --duration 1` repeats
-- round S alone. Prints the seed first, then per round a line, and at the end requests,
-- responses and failures per API and kind, and every problem and crash. Exit status 0 when
-- there were none, 1 otherwise.
package.path = "./lua/?.lua;./lua/?/init.lua;./spec/?.lua;" .. package.path

local function option(args, name, default)
  for i = 1, #args - 1 do
    if args[i] == name then return args[i + 1] end
  end
  return default
end

local function flag(args, name)
  for _, a in ipairs(args) do
    if a == name then return true end
  end
  return false
end

-- The child: one round against the server at --url; counts on stdout, problems on stderr.
if flag(arg, "--child") then
  local fuzz = require "hostile_fuzz"
  local run = fuzz.new { url = option(arg, "--url"), seed = tonumber(option(arg, "--seed")),
    case_file = option(arg, "--case-file") }
  run:random(tonumber(option(arg, "--cases")))
  run:close()
  for api, by_kind in pairs(run.counts) do
    for kind, c in pairs(by_kind) do
      io.stdout:write(("count %s %s %d %d %d %d\n"):format(api, kind, c.requests, c.response, c.failure, c.problem))
    end
  end
  io.stdout:write("done\n")
  os.exit(#run.problems == 0 and 0 or 1, true)
end

local helper = require "helper"
local hostile = require "fixtures.hostile_http"

local seed = tonumber(option(arg, "--seed", "") or "") or os.time()
local duration = tonumber(option(arg, "--duration", "600"))
local per_round = tonumber(option(arg, "--cases", "400"))
local cpath = option(arg, "--cpath", "./build/?.so")
local preload = option(arg, "--preload")
local ROUND_LIMIT = 1200 -- seconds a round may take before it counts as hung

local q = helper.shell_quote
local server = helper.spawn(helper.LUA .. " spec/fixtures/hostile_server.lua")
local url = "http://127.0.0.1:" .. assert(tonumber(server.first_line), "hostile server did not start")
io.stdout:write(("fuzz-long: seed %d, %d s, %d cases a round, core from %s%s\n"):format(seed, duration, per_round,
  cpath, preload and (" with " .. preload) or ""))
io.stdout:flush()

local totals, problems, crashes = {}, {}, {}
local case_file, out_file, err_file = os.tmpname(), os.tmpname(), os.tmpname()
local started, round = os.time(), 0

local died_requests = 0 -- cases run by rounds that died (not in the per-kind counts)

-- The sanitizer's or glibc's report in a child's stderr: 30 lines from the first error line,
-- without the shadow-byte map and the interpreter's own frames.
local function first_error(err)
  local lines, seen = {}, false
  for line in err:gmatch("[^\n]+") do
    seen = seen or line:find("ERROR: ", 1, true) or line:find("runtime error", 1, true)
      or line:find("free(): ", 1, true) or line:find("corrupted", 1, true) or line:find("Segmentation", 1, true)
      or line:find("Aborted", 1, true)
    local noise = line:find("^ *0x%x+:") or line:find("^=>") or line:find("(/usr/bin/lua", 1, true)
      or line:find(" in lua_pcallk ", 1, true)
    if seen and not noise and #lines < 30 then
      lines[#lines + 1] = line
    end
  end
  if #lines == 0 then
    for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
    lines = { table.concat(lines, "\n  ", math.max(1, #lines - 20)) }
  end
  return table.concat(lines, "\n  ")
end

local function add_count(api, kind, numbers)
  totals[api] = totals[api] or {}
  local t = totals[api][kind] or { 0, 0, 0, 0 }
  for i = 1, 4 do t[i] = t[i] + numbers[i] end
  totals[api][kind] = t
end

repeat
  round = round + 1
  local round_seed = seed + round - 1
  os.remove(case_file)
  local env = ("LUA_PATH=%s LUA_CPATH=%s"):format(q("./lua/?.lua;./lua/?/init.lua;./spec/?.lua;;"), q(cpath .. ";;"))
  if preload then
    env = env .. (" LD_PRELOAD=%s ASAN_OPTIONS=%s UBSAN_OPTIONS=%s"):format(q(preload),
      "detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1", "print_stacktrace=1:halt_on_error=1")
  end
  local command = ("env %s timeout %d %s spec/fuzz_long.lua --child --url %s --seed %d --cases %d --case-file %s"
    .. " >%s 2>%s; echo $?"):format(env, ROUND_LIMIT, helper.LUA, q(url), round_seed, per_round, q(case_file),
    q(out_file), q(err_file))
  local round_started = os.time()
  local p = assert(io.popen(command, "r"))
  local status = tonumber(p:read("*l"))
  p:close()
  local out, err = helper.read_file(out_file), helper.read_file(err_file)
  local requests = 0
  for api, kind, a, b, c, d in out:gmatch("count (%S+) (%S+) (%d+) (%d+) (%d+) (%d+)") do
    add_count(api, kind, { tonumber(a), tonumber(b), tonumber(c), tonumber(d) })
    requests = requests + tonumber(a)
  end
  for line in err:gmatch("FAIL ([^\n]*)") do problems[#problems + 1] = line end
  local crashed = not out:find("done\n", 1, true)
  local in_flight = ""
  if crashed then
    local f = io.open(case_file, "rb")
    in_flight = f and f:read("*a") or "(no case file)\n"
    if f then f:close() end
    requests = tonumber(in_flight:match("(%d+) cases before these")) or 0
    died_requests = died_requests + requests
  end
  io.stdout:write(("round %d: seed %d, %d requests, %d s, %s\n"):format(round, round_seed, requests,
    os.time() - round_started, crashed and ("DIED (exit " .. tostring(status) .. ")")
      or (status == 0 and "ok" or "problems")))
  if crashed then
    local how = status == 124 and ("hung past %d s"):format(ROUND_LIMIT) or ("exit status " .. tostring(status))
    local report = ("round %d (seed %d) died (%s); %sits stderr from the first error on:\n  %s"):format(round,
      round_seed, how, in_flight, first_error(err))
    crashes[#crashes + 1] = report
    io.stdout:write(report, "\n")
  end
  io.stdout:flush()
until os.time() - started >= duration

server.stop()
for _, path in ipairs { case_file, out_file, err_file } do os.remove(path) end

io.stdout:write(("\nfuzz-long: seed %d, %d rounds (seeds %d to %d), %d s\n"):format(seed, round, seed, seed + round - 1,
  os.time() - started))
io.stdout:write(("%-8s %-18s %8s %9s %8s %8s\n"):format("api", "kind", "requests", "responses", "failures", "problems"))
local all = { 0, 0, 0, 0 }
for _, api in ipairs { "session", "client", "multi", "batch" } do
  for _, kind in ipairs(hostile.ALL_KINDS) do
    local t = totals[api] and totals[api][kind]
    if t then
      io.stdout:write(("%-8s %-18s %8d %9d %8d %8d\n"):format(api, kind, t[1], t[2], t[3], t[4]))
      for i = 1, 4 do all[i] = all[i] + t[i] end
    end
  end
end
io.stdout:write(("%-8s %-18s %8d %9d %8d %8d\n"):format("all", "", all[1], all[2], all[3], all[4]))
io.stdout:write(("and %d cases run by rounds that died (not counted above)\n"):format(died_requests))
io.stdout:write(("%d problems, %d rounds died\n"):format(#problems, #crashes))
for _, line in ipairs(problems) do io.stdout:write("problem: ", line, "\n") end
for _, report in ipairs(crashes) do io.stdout:write("died: ", report, "\n") end
os.exit((#problems == 0 and #crashes == 0) and 0 or 1)
