-- Smoke test of the reliability bench (bench/reliability/run): the short form runs against real
-- processes and prints every row of the table with a verdict, its exit status agrees with the
-- verdicts, and a client process that crashes or hangs on a corpus case is counted (so figure 5
-- can fail). No timing is asserted.
local helper = require "spec.helper"

local RUN = "bench/reliability/run"

-- Runs the bench with `args` (and extra environment words); returns its output and success.
local function run(args, env)
  return helper.run(("%s LUA=%s %s %s"):format(env or "", helper.shell_quote(helper.LUA), RUN, args))
end

-- The table's rows, their wrapped cells joined again: list of {figure, measured, target, verdict}.
local function table_rows(out)
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    local cells = {}
    for cell in (line:match("^| (.*) |$") or ""):gmatch("([^|]*)") do
      cells[#cells + 1] = cell:match("^%s*(.-)%s*$")
    end
    if #cells == 4 and cells[1]:match("^%d%.") then
      rows[#rows + 1] = { figure = cells[1], measured = cells[2], target = cells[3], verdict = cells[4] }
    elseif #cells == 4 and rows[#rows] and cells[4] == "" then -- a wrapped row goes on
      local r = rows[#rows]
      for i, field in ipairs { "figure", "measured", "target" } do
        if cells[i] ~= "" then r[field] = r[field] .. " " .. cells[i] end
      end
    end
  end
  return rows
end

local EXPECTED_ROWS = {
  "1. GET success, 10 % 503s", "1. GET success, 30 % 503s", "1. GET success, 50 % 503s",
  "2. outage, 100 % 503", "2. outage, 100 % 429",
  "3. ensure, reset after send", "3. ensure, 500 after create", "3. ensure, read timeout after create",
  "3. ensure, create still in flight when the client times out", "3. ensure, 503/429 after the create was carried out",
  "4. Retry-After delta-seconds 1, requested sleep", "4. Retry-After HTTP-date +2 s, requested sleep",
  "4. Retry-After invalid 'soon', requested sleep", "4. Retry-After huge 100000, requested sleep",
  "4. Retry-After delta-seconds 1, real delay (server)", "4. Retry-After HTTP-date +2 s, real delay (server)",
  "4. Retry-After invalid 'soon', real delay (server)", "4. Retry-After huge 100000, real delay (server)",
  "5. malformed/truncated corpus", "5. truncated bodies taken as values",
}

describe("bench/reliability/run #lua54only", function()
  it("--short prints every figure with a verdict, the versions and the seed; exits 0 only when all pass", function()
    local out, ok = run("--short --seed 7")
    assert.matches("short form %(fewer calls", out)
    assert.matches("seed 7", out)
    assert.matches("versions: flowservice [%d.]+; libcurl/[%d.]+", out)
    local rows = table_rows(out)
    assert.are.equal(#EXPECTED_ROWS, #rows, out)
    for i, expected in ipairs(EXPECTED_ROWS) do
      assert.are.equal(expected, rows[i].figure, out)
      assert.is_true(rows[i].verdict == "PASS" or rows[i].verdict == "FAIL", out)
      assert.are_not.equal("", rows[i].measured)
    end
    local failed = 0
    for _, r in ipairs(rows) do
      if r.verdict == "FAIL" then failed = failed + 1 end
    end
    assert.matches(("%d figures, %d PASS, %d FAIL"):format(#rows, #rows - failed, failed), out, 1, true)
    assert.are.equal(failed == 0, ok, out)
    -- the corpus row counts what was fed
    assert.matches("^%d+ fed %(12 kinds, truncation stride %d+%), %d+ crashes", rows[#rows - 1].measured)
  end)

  -- Runs figure 5 alone with `env` making the feeder fail on one case: the run fails, every
  -- case is still fed (the feeder restarted after it). Returns the corpus row's measured text.
  local function corpus_with_failing_case(env)
    local out, ok = run("--short --only 5", env)
    assert.is_false(ok)
    local corpus = table_rows(out)[1]
    assert.are.equal("FAIL", corpus.verdict, out)
    assert.are.equal(corpus.target:match("^(%d+) cases"), corpus.measured:match("^(%d+) fed"))
    return corpus.measured
  end

  it("counts a client process that dies on a corpus case as a crash, goes on, and fails", function()
    local measured = corpus_with_failing_case("RELIABILITY_SIMULATE_CRASH=3")
    assert.matches("1 crashes (1 process deaths), 0 hangs", measured, 1, true)
    assert.matches("process died on ", measured, 1, true)
  end)

  it("counts a client process stuck on a corpus case as a hang and goes on", function()
    local measured = corpus_with_failing_case("RELIABILITY_SIMULATE_HANG=4 RELIABILITY_STALL_SECONDS=1")
    assert.matches("0 crashes (0 process deaths), 1 hangs", measured, 1, true)
    assert.matches("stuck on ", measured, 1, true)
  end)

  it("refuses unknown arguments with status 2", function()
    local out, ok = run("--bogus")
    assert.is_false(ok)
    assert.matches("usage: bench/reliability/run", out)
  end)
end)
