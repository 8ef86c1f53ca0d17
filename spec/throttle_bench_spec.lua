-- bench/throttle/run (issue 18's figures) runs and prints its table with every row. A smoke test:
-- `--smoke` (a few calls per row, 2 s phases) checks that every run works; it asserts no
-- timing, only what is not one: no failed call and no duplicate where the limiter is on, and
-- the exit status that tells a missed target (1) from a broken bench (2).
local helper = require "helper"

local ROWS = {
  "adaptive, 50/s burst 10, 40 creates, batch", "no adaptation, 50/s burst 10, 40 creates, batch",
  "moving limit, phase 1: 50/s (1 s on)", "moving limit, phase 2: 20/s (change + 1 s on)",
  "moving limit, phase 3: 50/s (change + 1 s on)", "sequential, 5/s, 6 single calls",
  "Retry-After on, 50/s burst 10, 30 creates",
}

local function run(args)
  return helper.run_bench("bench/throttle/run", args)
end

describe("bench/throttle/run --smoke #lua54only", function()
  local out, status
  setup(function()
    out, status = run("--smoke")
  end)

  it("finishes with a verdict (0: all targets hold, 1: some missed), not a failure of its own", function()
    assert.is_true(status == 0 or status == 1, out)
    assert.matches("%d+ PASS, %d+ FAIL", out)
  end)

  it("prints goodput, the 429 share, failed calls and duplicates for every row", function()
    for _, col in ipairs { "goodput/s", "429 share", "failed", "duplicates", "target", "result" } do
      assert.truthy(out:find(col, 1, true), col)
    end
    local rows = helper.table_rows(out)
    for _, label in ipairs(ROWS) do
      local row = rows[label]
      assert.is_table(row, "no row " .. label .. " in\n" .. out)
      assert.is_number(tonumber(row[2]), label .. ": " .. tostring(row[2]))
    end
    -- with the limiter on, nothing fails and nothing is created twice
    local adaptive = rows[ROWS[1]]
    assert.same({ "0", "0" }, { adaptive[5], adaptive[6] })
  end)

  it("exits 2, not 1, when the bench itself cannot run", function()
    local bad, code = run("--no-such-option")
    assert.equals(2, code, bad)
  end)
end)
