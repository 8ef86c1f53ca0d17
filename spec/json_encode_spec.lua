-- core.json_encode: the rules in docs/DESIGN.md ("C core"), checked value by value.
local core = require "flowservice.core"
local cjson = require "cjson"
local compat = require "flowservice.compat"

local encode = core.json_encode

local function refused(value)
  local out, msg = encode(value)
  assert.is_nil(out)
  assert.is_string(msg)
  return msg
end

local function array(t) return setmetatable(t or {}, { __jsontype = "array" }) end
local function object(t) return setmetatable(t or {}, { __jsontype = "object" }) end

describe("core.json_encode", function()
  describe("integers", function()
    local it_with_integers = compat.HAS_INTEGERS and it or pending

    it_with_integers("are written exactly around 2^53 and at the 64-bit limits", function()
      local p53 = math.tointeger(2 ^ 53)
      for _, v in ipairs { 0, 1, -1, p53, p53 - 1, p53 + 1, -p53, -p53 - 1, -p53 + 1,
        math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1 } do
        assert.equal(string.format("%d", v), encode(v))
      end
      assert.equal("9223372036854775807", encode(math.maxinteger))
      assert.equal("-9223372036854775808", encode(math.mininteger))
      assert.equal("9007199254740993", encode(p53 + 1))
      assert.equal('{"n":-9007199254740993}', encode { n = -p53 - 1 })
    end)

    -- Lua 5.1, 5.2 and LuaJIT: numbers are doubles; the documented rule in docs/DESIGN.md.
    local it_without_integers = compat.HAS_INTEGERS and pending or it

    it_without_integers("are whole numbers up to 2^53, written without a fraction", function()
      local p53 = 2 ^ 53
      for _, v in ipairs { 0, 1, -1, 42, p53, p53 - 1, -p53, -p53 + 1, 1e15, 1700000000000 } do
        assert.equal(string.format("%d", v), encode(v))
      end
      assert.equal("9007199254740992", encode(2 ^ 53))
      assert.equal('{"n":-9007199254740992}', encode { n = -p53 })
    end)

    it_without_integers("become floats past 2^53, where doubles lose whole numbers", function()
      local p53 = 2 ^ 53
      assert.equal("9007199254740994.0", encode(p53 + 2))
      assert.equal("-9007199254740994.0", encode(-p53 - 2))
      assert.equal("9.223372036854776e+18", encode(2 ^ 63))
      -- the literal 2^53 + 1 already reads as 2^53: the precision is lost before encoding
      assert.equal("9007199254740992", encode(9007199254740993))
      assert.equal("-0.0", encode(-0.0))
    end)
  end)

  describe("floats", function()
    it("use the shortest form that reads back as the same double", function()
      assert.equal("0.1", encode(0.1))
      assert.equal("0.3", encode(0.3))
      assert.equal("0.3333333333333333", encode(1 / 3))
      assert.equal("1e+300", encode(1e300))
      assert.equal("5e-324", encode(5e-324))
      assert.equal("2.2250738585072014e-308", encode(2.2250738585072014e-308))
    end)

    -- Without an integer subtype 1.0 is 1: see "integers" above.
    local it_with_integers = compat.HAS_INTEGERS and it or pending

    it_with_integers("always contain a '.' or an exponent", function()
      assert.equal("9007199254740992.0", encode(2.0 ^ 53))
      assert.equal("1.0", encode(1.0))
      assert.equal("-0.0", encode(-0.0))
      assert.equal("100.0", encode(100.0))
      assert.equal("-3.0", encode(-3.0))
      assert.equal("1e+21", encode(1e21))
    end)

    it("round-trip", function()
      for _, v in ipairs { 0.1, 1e300, 5e-324, -0.0, 1.0, 1 / 3, 2.0 ^ 53, 2.0 ^ 63, -1.5e-7,
        123.456, 1e21, 1.7976931348623157e308, 4.9e-322, math.pi, -math.pi * 1e-200 } do
        local s = encode(v)
        local back = tonumber(s)
        if compat.HAS_INTEGERS then
          assert.truthy(s:find("[%.e]"), s)
          assert.equal("float", math.type(back))
        end
        assert.equal(v, back)
        assert.equal(1 / v, 1 / back) -- keeps the sign of zero
      end
    end)

    it("match the reference rule (first of %.14g..%.17g that reads back) on random doubles", function()
      local function reference(v)
        -- whole numbers up to 2^53 are integers where Lua has none (see "integers")
        if not compat.HAS_INTEGERS and compat.math_type(v) == "integer" then return string.format("%d", v) end
        local s
        local start = (v ~= 0 and math.abs(v) < 2.2250738585072014e-308) and 1 or 14
        for p = start, 17 do
          s = string.format("%." .. p .. "g", v)
          if tonumber(s) == v then break end
        end
        if not s:find("[%.e]") then s = s .. ".0" end
        return s
      end
      math.randomseed(20240601)
      for _ = 1, 5000 do
        local k = math.random(0, 8)
        for _, v in ipairs {
          math.random(-10 ^ 9, 10 ^ 9) / 10 ^ k,
          (math.random() - 0.5) * 10 ^ math.random(-8, 12),
          math.random(-100000, 100000) + 0.0,
          -- any 64 bits (5.3's math.random takes no 64-bit interval; no string.pack before 5.3)
          string.pack and (string.unpack("d", string.pack("I4I4", math.random(0, 0xFFFFFFFF),
            math.random(0, 0xFFFFFFFF)))) or (math.random() - 0.5) * 2 ^ math.random(-1074, 1023),
        } do
          if v == v and v ~= math.huge and v ~= -math.huge then
            assert.equal(reference(v), encode(v))
          end
        end
      end
    end)

    it("refuse NaN and infinities, naming the path", function()
      assert.equal("cannot encode NaN or infinity at $", refused(0 / 0))
      assert.equal("cannot encode NaN or infinity at $", refused(math.huge))
      assert.equal("cannot encode NaN or infinity at $", refused(-math.huge))
      assert.equal("cannot encode NaN or infinity at $.auth.params.port",
        refused { auth = { params = { port = 0 / 0, host = "h" } } })
      assert.equal("cannot encode NaN or infinity at $.items[2]", refused { items = { 1, math.huge } })
      assert.equal('cannot encode NaN or infinity at $["a b"].x', refused { ["a b"] = { x = -math.huge } })
      assert.equal('cannot encode NaN or infinity at $["a\\"b"]', refused { ['a"b'] = 0 / 0 })
    end)
  end)

  describe("strings", function()
    it("escape quotes, backslashes and control characters, but not '/'", function()
      assert.equal([["\"\\/\b\f\n\r\t\u0000\u0001\u001f]] .. "\127" .. '"',
        encode('"\\/\b\f\n\r\t\0\1\31\127'))
      assert.equal('"plain text"', encode("plain text"))
      assert.equal('""', encode(""))
    end)

    it("keep valid multibyte UTF-8 as is", function()
      -- U+7FF, U+800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF (decimal escapes: 5.1 has no \u{})
      for _, s in ipairs { "é", "€", "😀", "\223\191", "\224\160\128", "\237\159\191", "\238\128\128",
        "\239\191\191", "\240\144\128\128", "\244\143\191\191", "naïve café ☕ 𝄞" } do
        assert.equal('"' .. s .. '"', encode(s))
      end
    end)

    it("refuse invalid UTF-8 with the byte offset and path", function()
      local bad = {
        lone_continuation = "\128",
        continuation_after_ascii = "ab\191",
        overlong_2 = "\192\175",
        overlong_2b = "\193\191",
        overlong_3 = "\224\128\175",
        overlong_4 = "\240\128\128\175",
        surrogate_high = "\237\160\128",
        surrogate_low = "\237\191\191",
        above_10FFFF = "\244\144\128\128",
        f5 = "\245\128\128\128",
        ff = "\255",
        truncated_2 = "\195",
        truncated_3 = "x\226\130",
        truncated_4 = "\240\159\152",
        bad_continuation = "\226\040\161",
      }
      for name, s in pairs(bad) do
        local msg = refused(s)
        assert.matches("^cannot encode string with invalid UTF%-8 %(byte %d+%) at %$$", msg)
        assert.is_string(name)
      end
      assert.equal("cannot encode string with invalid UTF-8 (byte 3) at $", refused("ab\191"))
      assert.equal("cannot encode string with invalid UTF-8 (byte 1) at $.a[2]", refused { a = { "ok", "\195" } })
    end)

    it("refuse object keys with invalid UTF-8", function()
      assert.equal('cannot encode object key with invalid UTF-8 at $.a["\\xff"]', refused { a = { ["\255"] = 1 } })
    end)

    it("handle long strings that need many escapes", function()
      local s = string.rep("\n\"", 50000)
      local out = encode(s)
      assert.equal(#s * 2 + 2, #out)
      assert.equal(s, cjson.decode(out))
    end)
  end)

  describe("tables", function()
    it("write {} as an object and marked empty tables as their kind", function()
      assert.equal("{}", encode {})
      assert.equal("[]", encode(array()))
      assert.equal("{}", encode(object()))
      assert.equal("[1,2]", encode(array { 1, 2 }))
      assert.equal('{"a":1}', encode(object { a = 1 }))
    end)

    it("write keys 1..n as arrays", function()
      assert.equal("[1,2,3]", encode { 1, 2, 3 })
      assert.equal('["a",true,false,null]', encode { "a", true, false, cjson.null })
      local big = {}
      for i = 1, 1000 do big[i] = i end
      assert.equal("[" .. table.concat(big, ",") .. "]", encode(big))
    end)

    it("sort object keys bytewise", function()
      assert.equal('{"A":5,"a":2,"aa":4,"b":1,"c":3}', encode { b = 1, a = 2, c = 3, aa = 4, A = 5 })
      assert.equal('{"":0,"a":1,"é":2}', encode { ["é"] = 2, a = 1, [""] = 0 })
      -- more keys than the insertion-sort cutoff
      local t, keys = {}, {}
      for i = 100, 1, -1 do
        local k = string.format("k%03d", i)
        t[k] = i
      end
      for i = 1, 100 do keys[i] = string.format('"k%03d":%d', i, i) end
      assert.equal("{" .. table.concat(keys, ",") .. "}", encode(t))
    end)

    it("nest", function()
      assert.equal('{"a":{"b":{"c":[1,{"d":true}]}},"n":null}',
        encode { a = { b = { c = { 1, { d = true } } } }, n = cjson.null })
      assert.equal('[[],{},[[]]]', encode { array(), {}, { array() } })
    end)

    it("refuse sparse arrays", function()
      local sparse = "cannot encode sparse array (keys must be exactly 1..n) at $"
      assert.equal(sparse, refused { 1, nil, 3 })
      assert.equal(sparse, refused { [2] = 1 })
      assert.equal(sparse, refused { [0] = 1, [1] = 2 })
      assert.equal(sparse, refused { [-1] = 1 })
      assert.equal(sparse, refused(array { [1] = 1, [3] = 3 }))
      assert.equal("cannot encode sparse array (keys must be exactly 1..n) at $.list",
        refused { list = { [1] = "a", [5] = "b" } })
    end)

    it("refuse mixed and non-string keys", function()
      assert.equal("cannot encode table with mixed integer and string keys at $", refused { 1, a = 2 })
      assert.equal("cannot encode table with mixed integer and string keys at $.x",
        refused { x = { a = 1, [1] = 2 } })
      assert.matches("float key", refused { [1.5] = 1 })
      assert.matches("boolean key", refused { [true] = 1 })
      assert.matches("non%-string key", refused { [{}] = 1 })
      assert.matches("array with a string key", refused(array { a = 1 }))
      assert.matches("object with an integer key", refused(object { 1 }))
      assert.matches('__jsontype is not "array" or "object"',
        refused(setmetatable({}, { __jsontype = "list" })))
      assert.matches('__jsontype is not "array" or "object"',
        refused(setmetatable({}, { __jsontype = true })))
    end)

    it("read __jsontype raw, without running metamethods", function()
      local mt = setmetatable({}, { __index = function() error("must not run") end })
      assert.equal('{"a":1}', encode(setmetatable({ a = 1 }, mt)))
      local t = setmetatable({ 1 }, { __jsontype = "array", __index = function() error("no") end,
        __pairs = function() error("no") end, __len = function() error("no") end })
      assert.equal("[1]", encode(t))
    end)

    it("allow 100 levels of nesting and refuse 101", function()
      local function nest(n)
        local t = array()
        for _ = 2, n do t = { t } end
        return t
      end
      assert.equal(string.rep("[", 100) .. string.rep("]", 100), encode(nest(100)))
      assert.matches("^cannot encode table nested deeper than 100 levels", refused(nest(101)))
    end)

    it("refuse cycles", function()
      local t = {}
      t.self = t
      assert.matches("^cannot encode table nested deeper than 100 levels %(cyclic reference%?%) at %$%.self%.self",
        refused(t))
      local a = {}
      a[1] = { a }
      assert.matches("nested deeper than 100", refused(a))
    end)
  end)

  describe("other values", function()
    it("write nil, booleans and NULL lightuserdata", function()
      assert.equal("null", encode(nil))
      assert.equal("null", encode(cjson.null))
      assert.equal("true", encode(true))
      assert.equal("false", encode(false))
      assert.equal('{"a":null}', encode { a = cjson.null })
    end)

    it("refuse functions, userdata and threads without raising", function()
      assert.equal("cannot encode a function at $", refused(print))
      assert.equal("cannot encode a function at $.f", refused { f = function() end })
      assert.equal("cannot encode a userdata at $[1]", refused { io.stdout })
      assert.equal("cannot encode a thread at $.co", refused { co = coroutine.create(function() end) })
    end)

    it("raises only when called without a value", function()
      assert.has_error(function() encode() end, "bad argument #1 to 'encode' (value expected)")
    end)
  end)

  describe("state between calls", function()
    it("is reset after a refusal", function()
      refused { a = { b = { 0 / 0 } } }
      assert.equal("[1]", encode { 1 })
      refused { string.rep("x", 100000), "\255" }
      assert.equal('"ok"', encode("ok"))
    end)

    it("survives a re-entrant call from a finalizer", function()
      -- finalizers can run during any allocation; ours must not share a buffer with
      -- the call in progress
      local results = {}
      for i = 1, 200 do
        setmetatable({}, { __gc = function() results[#results + 1] = encode { gc = i } end })
      end
      local big = {}
      for i = 1, 2000 do big[i] = { id = i, name = "n" .. i } end
      for _ = 1, 5 do
        local s = encode(big)
        assert.equal(big[2000].name, cjson.decode(s)[2000].name)
      end
      collectgarbage()
      for _, r in ipairs(results) do assert.matches('^{"gc":%d+}$', r) end
    end)
  end)

  describe("output", function()
    it("round-trips through cjson", function()
      local v = {
        name = "flow \"1\"", n = 42, f = 0.5, neg = -7, list = { 1, 2, 3 },
        nested = { deep = { s = "é\n\t/", empty = {} } }, t = true, f2 = false,
        items = { { id = "a" }, { id = "b" } },
      }
      local decoded = cjson.decode(encode(v))
      assert.same(v, decoded)
    end)
  end)
end)
