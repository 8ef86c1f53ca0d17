-- bench/run (issue 7's benchmark suite) runs and prints its table with every row. A smoke test:
-- `--smoke` (a few hundred calls per client) checks that every client, server and measure
-- works; it asserts no timing. It does check what is not timing: connection reuse (requirement
-- 1), counted by nginx.
local helper = require "helper"

-- Rows that always have figures, and rows that may read "n/a (...)" while a part is missing.
local MEASURED_ROWS = {
  "C libcurl loop (baseline)", "flowservice seq", "flowservice seq, IMS on 2nd port",
  "luasocket + lua-cjson", "Python requests.Session", "curl CLI, 1 process/call", "C libcurl multi K=16",
  "C libcurl loop, HTTPS", "flowservice seq, HTTPS", "C libcurl multi K=16, HTTPS",
  "emulator, 1 conn (C loop)", "emulator, 16 conns (C multi)", "command line, 1 process/command",
}
local OPTIONAL_ROWS = {
  "flowservice batch K=16", "batch streamed, 400 calls", "flowservice batch K=16, HTTPS",
  "emulator+50ms, C multi K=16", "emulator+50ms, batch K=16", "emulator+50ms, state apply",
}
local COLUMNS = { "client / variant", "calls/s", "ratio", "CPU us/call", "instr/call", "RSS MiB", "TCP conns",
  "target", "result" }

local table_rows = helper.table_rows

describe("bench/run --smoke #lua54only", function()
  local out, status
  setup(function()
    out, status = helper.run_bench("bench/run", "--smoke")
  end)

  it("finishes with a verdict (0: all targets met, 3: some missed), not a failure of its own", function()
    assert.is_true(status == 0 or status == 3, out)
    assert.matches("%d+ PASS, %d+ FAIL, %d+ n/a", out)
  end)

  it("prints the header and one row per client with figures, or why it could not measure", function()
    for _, col in ipairs(COLUMNS) do assert.truthy(out:find(col, 1, true), col) end
    local rows = table_rows(out)
    for _, label in ipairs(MEASURED_ROWS) do
      local row = rows[label]
      assert.is_table(row, "no row " .. label .. " in\n" .. out)
      local rate = tonumber((row[2]:gsub(",", "")))
      assert.is_true(rate ~= nil and rate > 0, label .. ": " .. row[2])
    end
    for _, label in ipairs(OPTIONAL_ROWS) do
      local row = rows[label]
      assert.is_table(row, "no row " .. label .. " in\n" .. out)
      assert.truthy(tonumber((row[2]:gsub(",", ""))) or row[2]:match("^n/a %(.+%)$"), label .. ": " .. row[2])
    end
    assert.not_matches("\n  FAIL  [^\n]*exit %d", out) -- no client crashed
  end)

  it("counts the TCP connections nginx saw: one per client and host", function()
    local rows = table_rows(out)
    assert.equals("1", rows["flowservice seq"][8])
    assert.equals("1", rows["flowservice seq, HTTPS"][8])
    assert.equals("2", rows["flowservice seq, IMS on 2nd port"][8]) -- API and IMS, one each
    assert.equals("1", rows["C libcurl loop (baseline)"][8])
    assert.equals("101", rows["luasocket + lua-cjson"][8]) -- no keep-alive: warm-up + 100 calls
    assert.matches("PASS  req 1: 1 TCP connection%(s%)", out)
  end)

  it("prints instructions per call and the versions under test", function()
    local rows = table_rows(out)
    assert.matches("^[%d,]+$", rows["C libcurl loop (baseline)"][6])
    assert.matches("^[%d,]+$", rows["flowservice seq"][6])
    assert.matches("\nunder test: libcurl/[^\n]+nginx/", out)
    assert.matches("\nmachine: ", out)
  end)
end)
