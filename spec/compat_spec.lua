-- flowservice.compat: the 5.3/5.4 standard functions on every Lua. The fallbacks (used on 5.1,
-- 5.2 and LuaJIT) are also loaded here on 5.3/5.4, with the standard ones hidden, so both run
-- everywhere.
local compat = require "flowservice.compat"
local core = require "flowservice.core"

-- flowservice.compat as Lua 5.1 sees it: without math.type, math.tointeger, utf8, table.unpack.
local function load_fallbacks()
  local saved = { type = math.type, tointeger = math.tointeger, utf8 = rawget(_G, "utf8") }
  math.type, math.tointeger, _G.utf8 = nil, nil, nil -- luacheck: ignore 122
  package.loaded["flowservice.compat"] = nil
  local ok, fallback = pcall(require, "flowservice.compat")
  math.type, math.tointeger, _G.utf8 = saved.type, saved.tointeger, saved.utf8 -- luacheck: ignore 122
  package.loaded["flowservice.compat"] = compat
  assert(ok, fallback)
  return fallback
end

-- computed, not a literal: Lua 5.1 may fold -0.0 into the constant 0 of the same function
local NEG_ZERO = -1 / math.huge

describe("flowservice.compat", function()
  local fallback = load_fallbacks()

  it("uses the standard functions where they exist", function()
    assert.equal(math.type ~= nil, compat.HAS_INTEGERS)
    if compat.HAS_INTEGERS then
      assert.equal(math.type, compat.math_type)
      assert.equal(math.tointeger, compat.tointeger)
    end
    if rawget(_G, "utf8") then assert.equal(utf8.len, compat.utf8_len) end
    assert.is_false(fallback.HAS_INTEGERS)
  end)

  it("unpack and pack like table.unpack and table.pack", function()
    assert.same({ 1, 2, 3 }, { compat.unpack { 1, 2, 3 } })
    assert.same({ n = 3, 1, nil, 3 }, compat.pack(1, nil, 3))
    assert.equal(0, compat.pack().n)
  end)

  describe("without integers", function()
    it("a whole number up to 2^53 is an integer, other numbers are floats", function()
      for _, v in ipairs { 0, 1, -1, 42, 1700000000000, 2 ^ 53, -2 ^ 53 } do
        assert.equal("integer", fallback.math_type(v), tostring(v))
        assert.equal(v, fallback.tointeger(v))
      end
      for _, v in ipairs { 0.5, -1.5, 2 ^ 53 + 2, -2 ^ 53 - 2, 1e300, math.huge, -math.huge, 0 / 0, NEG_ZERO } do
        assert.equal("float", fallback.math_type(v), tostring(v))
        if v ~= 0 then assert.is_nil(fallback.tointeger(v), tostring(v)) end
      end
    end)

    it("-0 is a float, and tointeger turns it into 0", function()
      assert.equal("float", fallback.math_type(NEG_ZERO))
      local zero = fallback.tointeger(NEG_ZERO)
      assert.equal(0, zero)
      assert.equal(math.huge, 1 / zero)
    end)

    it("math_type is nil for non-numbers; tointeger reads numeric strings", function()
      for _, v in ipairs { "1", {}, true } do assert.is_nil(fallback.math_type(v)) end
      assert.is_nil(fallback.math_type(nil))
      assert.equal(3, fallback.tointeger("3"))
      assert.equal(3, fallback.tointeger("3.0"))
      assert.is_nil(fallback.tointeger("3.5"))
      assert.is_nil(fallback.tointeger("x"))
      assert.is_nil(fallback.tointeger({}))
    end)

    it("agree with the C core's JSON encoder on what is an integer", function()
      for _, v in ipairs { 1, -7, 2 ^ 53, 2 ^ 53 + 2, 0.25, 1e21 } do
        local text = assert(core.json_encode(v))
        if not compat.HAS_INTEGERS then
          assert.equal(fallback.math_type(v) == "integer", text:find("[%.e]") == nil, text)
        end
        assert.equal(v, tonumber(text))
      end
    end)
  end)

  describe("utf8_len", function()
    local VALID = { "", "ascii", "é", "€", "😀", "naïve café ☕ 𝄞", "\223\191", "\224\160\128",
      "\237\159\191", "\238\128\128", "\239\191\191", "\240\144\128\128", "\244\143\191\191" }
    -- overlongs, surrogates, past U+10FFFF, truncated, stray continuation bytes
    local INVALID = { "\128", "ab\191", "\192\175", "\193\191", "\224\128\175", "\240\128\128\175",
      "\237\160\128", "\237\191\191", "\244\144\128\128", "\245\128\128\128", "\255", "\195",
      "x\226\130", "\240\159\152", "\226\040\161", "ok\195\169\195" }

    it("counts code points of valid UTF-8", function()
      local counts = { 0, 5, 1, 1, 1, 14, 1, 1, 1, 1, 1, 1, 1 }
      for i, s in ipairs(VALID) do
        assert.equal(counts[i], fallback.utf8_len(s), s)
        assert.equal(counts[i], compat.utf8_len(s), s)
        assert.truthy(core.json_encode(s))
      end
    end)

    it("refuses what the C core refuses, with the byte position of the bad sequence", function()
      for _, s in ipairs(INVALID) do
        local n, at = fallback.utf8_len(s)
        assert.is_nil(n, s)
        assert.is_number(at)
        assert.is_nil(core.json_encode(s))
      end
      assert.equal(5, select(2, fallback.utf8_len("ok\195\169\195")))
      assert.equal(3, select(2, fallback.utf8_len("ab\191")))
    end)
  end)
  describe("isyieldable", function()
    -- Each situation calls `probe` where a batch call would ask before yielding; the answers of
    -- `fn` by situation.
    local function record(fn)
      local seen = {}
      local function probe(what) seen[what] = fn() end
      local function tail() return probe("tail call") end
      local function get_probe() return probe end
      local co = coroutine.create(function()
        probe("plain")
        pcall(probe, "pcall")
        pcall(function() probe("inside a pcall") end)
        for _ in function() probe("for iterator") end do end -- one call, returning nil
        local _ = setmetatable({}, { __index = function() probe("metamethod") end }).x
        tail()
        local callable = setmetatable({}, { __call = function() probe("__call") end })
        callable()
        get_probe()("call of a call's result")
        table.sort({ 2, 1 }, function(a, b) probe("table.sort comparator"); return a < b end)
      end)
      assert(coroutine.resume(co))
      probe("main thread")
      return seen
    end
    local YIELDABLE_52 = { -- Lua 5.2 and later, and the 5.2 rule of the fallback on 5.3 and 5.4
      plain = true, pcall = true, ["inside a pcall"] = true, ["for iterator"] = true, metamethod = true,
      ["tail call"] = true, __call = true, ["call of a call's result"] = true, ["table.sort comparator"] = false,
      ["main thread"] = false,
    }
    local YIELDABLE_51 = { -- PUC Lua 5.1, and the fallback's 5.1 rule on LuaJIT (stricter than LuaJIT)
      plain = true, pcall = false, ["inside a pcall"] = false, ["for iterator"] = false, metamethod = false,
      ["tail call"] = true, __call = true, ["table.sort comparator"] = false, ["main thread"] = false,
      ["call of a call's result"] = false, -- 5.1 could yield there, but cannot tell it from a metamethod
    }

    -- LuaJIT has coroutine.isyieldable (and yields in more places than 5.1): the fallback is PUC's
    local it_on_puc = rawget(_G, "jit") and pending or it
    it_on_puc("the fallback tells where this Lua can yield", function()
      assert.same(_VERSION == "Lua 5.1" and YIELDABLE_51 or YIELDABLE_52, record(fallback._isyieldable))
    end)

    it("is coroutine.isyieldable where it exists, and agrees with the fallback's 5.2 rule there", function()
      if coroutine.isyieldable then
        assert.equal(coroutine.isyieldable, compat.isyieldable)
        if _VERSION ~= "Lua 5.1" then assert.same(YIELDABLE_52, record(coroutine.isyieldable)) end
      else
        assert.equal(compat._isyieldable, compat.isyieldable)
      end
    end)

    it("the fallback's answer is true: a yield where it says so resumes", function()
      local co = coroutine.create(function()
        for _, step in ipairs { function(f) f() end, function(f) return f() end } do
          step(function() if fallback._isyieldable() then coroutine.yield("yielded") end end)
        end
        return "done"
      end)
      local results = {}
      repeat
        local ok, v = coroutine.resume(co)
        assert.is_true(ok, v)
        results[#results + 1] = v
      until coroutine.status(co) == "dead"
      assert.same({ "yielded", "yielded", "done" }, results)
    end)

    it("PUC Lua 5.1 only does not yield across pcall", function()
      local co = coroutine.create(function() return pcall(coroutine.yield, "x") end)
      local _, v = coroutine.resume(co)
      assert.equal(compat.YIELDS_ACROSS_PCALL, v == "x")
    end)
  end)
end)
