-- What the library and the emulator use from Lua 5.3/5.4, on Lua 5.1, 5.2 and LuaJIT 2.1 too.
-- On 5.3 and 5.4 every function here is the standard one.
--
-- Without an integer subtype (5.1, 5.2, LuaJIT) an "integer" is a whole number with
-- |x| <= 2^53: the range where a double holds every whole number exactly. The C core's JSON
-- encoder uses the same rule.
local compat = {}

compat.HAS_INTEGERS = math.type ~= nil
compat.MAX_EXACT = 2 ^ 53

compat.unpack = table.unpack or unpack -- luacheck: ignore 113 (a global in 5.1 and LuaJIT)

function compat.pack(...)
  return { n = select("#", ...), ... }
end

local function is_exact_whole(x)
  return x == math.floor(x) and x >= -compat.MAX_EXACT and x <= compat.MAX_EXACT
end

-- math.type: "integer", "float", or nil for a value that is not a number. -0 is a float (as
-- -0.0 is on 5.4): it keeps its sign.
compat.math_type = math.type or function(x)
  if type(x) ~= "number" then return nil end
  return is_exact_whole(x) and not (x == 0 and 1 / x < 0) and "integer" or "float"
end

-- math.tointeger: the integer x stands for (numbers and numeric strings), else nil.
compat.tointeger = math.tointeger or function(x)
  if type(x) == "string" then x = tonumber(x) end
  if type(x) == "number" and is_exact_whole(x) then return x == 0 and 0 or x end
  return nil
end

-- Length in code points of valid UTF-8 (no overlongs, surrogates or code points past
-- U+10FFFF), else nil and the byte position of the first invalid sequence: utf8.len's
-- results on 5.4.
local function utf8_len(s)
  if not s:find("[\128-\255]") then return #s end
  local n, i, len = 0, 1, #s
  while i <= len do
    local c = s:byte(i)
    local size, lo, hi = 1, 0x80, 0xBF
    if c >= 0xC2 and c <= 0xDF then size = 2
    elseif c >= 0xE0 and c <= 0xEF then
      size = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      size = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    elseif c >= 0x80 then
      return nil, i
    end
    for k = 1, size - 1 do
      local b = s:byte(i + k)
      if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then return nil, i end
    end
    n, i = n + 1, i + size
  end
  return n
end

compat.utf8_len = utf8 and utf8.len or utf8_len
compat._utf8_len = utf8_len -- the fallback, for specs on every version

return compat
