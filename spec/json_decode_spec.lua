-- Decoding: a private strict lua-cjson instance, integers back as Lua integers where exact.
local json = require "flowservice.json"
local compat = require "flowservice.compat"
local math_type = compat.math_type -- math.type, or the 2^53 rule where Lua has no integers

describe("flowservice.json.decode", function()
  it("returns integral numbers below 2^53 as Lua integers", function()
    local v = assert(json.decode('{"createdAt":1700000000000,"n":[0,-1,1e2,9007199254740991]}'))
    assert.equals("integer", math_type(v.createdAt))
    assert.equals(1700000000000, v.createdAt)
    assert.same({ 0, -1, 100, 9007199254740991 }, v.n)
    for _, x in ipairs(v.n) do assert.equals("integer", math_type(x)) end
    assert.equals("integer", math_type(json.decode("10000")))
    assert.equals("10000", tostring(json.decode('{"limit":10000}').limit))
  end)

  it("keeps fractions and numbers from 2^53 up as floats", function()
    assert.equals(2.5, json.decode("2.5"))
    assert.equals("float", math_type(json.decode("2.5")))
    assert.equals("float", math_type(json.decode("9007199254740994")))
    if compat.HAS_INTEGERS then
      -- 2^53 + 1 cannot be told apart from 2^53 once read: not made an integer.
      assert.equals("float", math_type(json.decode("9007199254740993")))
      assert.equals("float", math_type(json.decode("9007199254740992")))
    else -- every number is a double: 2^53 + 1 reads as 2^53
      assert.equals(2 ^ 53, json.decode("9007199254740993"))
    end
  end)

  it("refuses NaN, Infinity, hex and out-of-range numbers", function()
    for _, text in ipairs { "NaN", "[Infinity]", "-Infinity", "0x10", "1e400", '{"a":-1e999}' } do
      local v, err = json.decode(text)
      assert.is_nil(v, text)
      assert.is_string(err)
    end
  end)

  it("refuses invalid UTF-8 and bad syntax with a message, never raising", function()
    for _, text in ipairs { '"\255"', '{"a":"\192\175"}', "{", "", '{"a":1,}', "[1] x" } do
      local v, err = json.decode(text)
      assert.is_nil(v)
      assert.is_string(err)
    end
  end)

  it("decodes null as flowservice.json.null", function()
    assert.equals(json.null, json.decode('{"a":null}').a)
  end)

  it("leaves the host's cjson settings alone", function()
    local cjson = require "cjson"
    -- The global module still accepts NaN (its default), though ours refuses it.
    assert.is_true(pcall(cjson.decode, "NaN"))
    assert.is_nil(json.decode("NaN"))
  end)

  it("round-trips what the encoder writes", function()
    local value = { id = "a", n = 2 ^ 52 - 1, f = 0.1, list = { 1, 2, 3 },
      nested = { deeper = { "x" } } }
    local back = assert(json.decode(assert(json.encode(value))))
    assert.same(value, back)
    assert.equals("integer", math_type(back.n))
  end)
end)

describe("the core's decoding aids (core.utf8_valid, core.json_integers)", function()
  local core = require "flowservice.core"

  it("utf8_valid agrees with the strict UTF-8 rules on edge cases and random bytes", function()
    local cases = {
      "", "plain ascii, longer than eight bytes", "\0", "caf\195\169", "\226\130\172", "\240\159\152\128",
      "\237\159\191", "\238\128\128", "\244\143\191\191", -- last before surrogates, after, U+10FFFF
      "\192\175", "\193\191", "\224\159\191", "\240\143\191\191", -- overlong forms
      "\237\160\128", "\237\191\191", -- surrogates
      "\244\144\128\128", "\245\128\128\128", "\255", "\128", -- past U+10FFFF, invalid lead bytes
      "\195", "\226\130", "abcdefgh\240\159\152", "\195(", "\226\40\161", -- truncated, bad continuation
    }
    for _, s in ipairs(cases) do
      assert.equals(compat._utf8_len(s) ~= nil, core.utf8_valid(s), ("%q"):format(s))
    end
    local seed = 12345
    local function byte()
      seed = (seed * 1103515245 + 12345) % 2147483648
      local b = seed % 256
      return b < 128 and (seed % 7 == 0 and b or 97) or b -- mostly ASCII, some high bytes
    end
    for _ = 1, 3000 do
      local t = {}
      for j = 1, seed % 23 do t[j] = string.char(byte()) end
      local s = table.concat(t)
      assert.equals(compat._utf8_len(s) ~= nil, core.utf8_valid(s), ("%q"):format(s))
    end
    assert.has_error(function() core.utf8_valid(42) end,
      "bad argument #1 to 'utf8_valid' (string expected, got number)")
  end)

  it("json_integers converts integral numbers below 2^53 in place, nested, and refuses infinities", function()
    local t = { a = 3.0, b = { 1.0, 2.5, { c = -7.0 } }, d = 2 ^ 53, e = -0.0, s = "1.0" }
    assert.is_true(core.json_integers(t))
    assert.equals("integer", math_type(t.a))
    assert.equals("integer", math_type(t.b[1]))
    assert.equals("float", math_type(t.b[2]))
    assert.equals("integer", math_type(t.b[3].c))
    if compat.HAS_INTEGERS then assert.equals("float", math_type(t.d)) end -- else 2^53 is whole
    assert.equals(0, t.e)
    assert.is_true(1 / t.e > 0) -- -0 becomes 0, as math.tointeger makes it
    assert.equals("1.0", t.s)
    assert.is_false(core.json_integers { 1, { x = math.huge } })
    assert.is_false(core.json_integers { -math.huge })
    local cyclic = { n = 4.0 }
    cyclic.self = cyclic
    assert.is_true(core.json_integers(cyclic)) -- walked once: no endless descent, no error
    assert.equals("integer", math_type(cyclic.n))
    local deep = {}
    for _ = 1, 1200 do deep = { deep } end -- deeper than any document lua-cjson decodes
    assert.has_error(function() core.json_integers(deep) end, "json_integers: tables nested deeper than 1100")
  end)

  it("json_integers walks a table shared many times once, not once per path (linear, not exponential)", function()
    -- 2^60 paths through 60 tables: the old walk never ended. A child process with a time limit,
    -- so a regression fails instead of hanging the suite.
    local script = [[
      local core = require "flowservice.core"
      local t = { v = 1.0 }
      for _ = 1, 60 do t = { a = t, b = t, w = 2.0 } end
      assert(core.json_integers(t))
      local level, levels = t, 0
      while level.w do
        assert(not math.type or math.type(level.w) == "integer", "not converted")
        level, levels = level.b, levels + 1
      end
      assert(levels == 60 and level.v == 1)
      print("walked")
    ]]
    local helper = require "spec.helper"
    local out = helper.run(("timeout 20 %s -e %s"):format(helper.LUA, helper.shell_quote(
      ("package.cpath = %q .. ';' .. package.cpath\n"):format(helper.CPATH) .. script)))
    assert.matches("walked", out)
  end)
end)
