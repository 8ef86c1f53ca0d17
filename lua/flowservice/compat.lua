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

-- coroutine.isyieldable (5.3, 5.4, LuaJIT) on 5.1 and 5.2: whether the running coroutine can
-- yield from here, read from the stack between the caller and the coroutine's body. Lua 5.2
-- yields across pcall, xpcall, metamethods and for iterators, but not across another C
-- function (table.sort, string.gsub, tostring, ...). Lua 5.1 yields across none of them: a
-- frame called by a C function, a for iterator (named "(for generator)") or a metamethod (no
-- name, and not a tail call: 5.1 marks those with a "tail" frame above) blocks it. A Lua 5.1
-- call through an expression it cannot name (`t[k]()`) also counts as a blocker: a false
-- "no" only makes the caller take its non-yielding path.
-- Whether the frame at `level` (counted from this function) blocks a yield; nil past the last.
local function frame_blocks_yield(level)
  local info = debug.getinfo(level, "Snf")
  if info == nil then return nil end
  if info.what == "C" then
    return _VERSION == "Lua 5.1" or (info.func ~= pcall and info.func ~= xpcall)
  end
  if _VERSION ~= "Lua 5.1" or info.what ~= "Lua" then return false end
  if info.name == "(for generator)" then return true end
  local caller = debug.getinfo(level + 1, "S")
  return info.name == nil and caller ~= nil and caller.what ~= "tail"
end

local function isyieldable()
  local co, is_main = coroutine.running()
  if co == nil or is_main then return false end -- 5.1 returns no coroutine for the main one
  local level = 3 -- from frame_blocks_yield: itself, isyieldable, then isyieldable's caller
  while true do
    local blocks = frame_blocks_yield(level)
    if blocks == nil then return true end
    if blocks then return false end
    level = level + 1
  end
end

compat.isyieldable = coroutine.isyieldable or isyieldable
-- PUC Lua 5.1 cannot yield across pcall; 5.2+ and LuaJIT can.
compat.YIELDS_ACROSS_PCALL = not (_VERSION == "Lua 5.1" and rawget(_G, "jit") == nil)
compat._isyieldable = isyieldable -- the fallback, for specs on every version

return compat
