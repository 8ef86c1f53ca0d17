-- The hostile-server fuzzer, short run (issue 13): spec/fixtures/hostile_server.lua answers with
-- random and malformed HTTP/1.1 (spec/fixtures/hostile_http.lua), and spec/hostile_fuzz.lua
-- drives session:request, session:multi, client:request and client:batch against it. No call may
-- crash, hang or raise, and each must return what a correct client returns for its case.
-- Seeded: the seed is printed; FLOWSERVICE_FUZZ_SEED repeats a run, FLOWSERVICE_FUZZ_CASES sets
-- the number of random cases (make check sets fewer under valgrind). If the process dies, the
-- case that was running is in the file named in the first line printed, and
-- `make fuzz-long FUZZ_SEED=<seed>` runs the same cases in a child process and names it.
local helper = require "helper"
local fuzz = require "hostile_fuzz"

local SEED = tonumber(os.getenv("FLOWSERVICE_FUZZ_SEED") or "") or (os.time() % 1000000 + 1)
local CASES = tonumber(os.getenv("FLOWSERVICE_FUZZ_CASES") or "") or 500

local server, run, case_file
setup(function()
  server = helper.spawn(helper.LUA .. " spec/fixtures/hostile_server.lua")
  assert(tonumber(server.first_line), "hostile server did not start")
  case_file = os.tmpname()
  run = fuzz.new { url = "http://127.0.0.1:" .. server.first_line, seed = SEED, case_file = case_file }
  io.stderr:write(("\nhostile fuzz: seed %d, %d random cases (FLOWSERVICE_FUZZ_SEED=%d repeats them); "
    .. "the case in flight is in %s\n"):format(SEED, CASES, SEED, case_file))
end)
teardown(function()
  if run then run:close() end
  if server then server.stop() end
  if case_file then os.remove(case_file) end
end)

-- The problems the driver saw since `before` (it prints each one as it sees it).
local function problems_since(before)
  local list = {}
  for i = before + 1, #run.problems do list[#list + 1] = run.problems[i] end
  return list
end

describe("hostile server fuzz", function()
  for _, api in ipairs { { "session:multi", "multi_cases" }, { "client:batch", "batch_cases" } } do
    it("header counts at and past the cap come back as results through " .. api[1], function()
      local before = #run.problems
      for _, count in ipairs { 99, 100, 101, 102, 150, 1000 } do
        local cases = {}
        for i = 1, 3 do cases[i] = run:new_case("fields", count) end
        run[api[2]](run, cases, 2)
      end
      assert.same({}, problems_since(before))
    end)
  end

  it("64 responses over the header cap ending in one m:wait and in one client:batch", function()
    local before = #run.problems
    run:storm("multi", "fields", 64, 101)
    run:storm("batch", "fields", 64, 101)
    assert.same({}, problems_since(before))
  end)

  it("seeded random hostile responses through all four APIs, on kept-alive connections", function()
    local before = #run.problems
    run:random(CASES)
    local report, totals = run:report()
    io.stderr:write(("hostile fuzz: seed %d\n%s\n"):format(SEED, report))
    assert.equals(0, totals.problem)
    assert.same({}, problems_since(before))
  end)
end)
