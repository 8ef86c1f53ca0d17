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
