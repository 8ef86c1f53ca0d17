-- The mutation check (`make mutants`): plants each deliberate bug listed in mutants/*.lua in a
-- scratch copy of the tree, runs the spec files that must catch it, and counts how many did.
--
-- Usage: lua5.4 mutants/run.lua [--list | --check] [--keep] [--jobs N] [--timeout S] [SELECTOR...]
--   SELECTOR   an area (the data file's name: "secrets") or one mutant ("secrets.cookie");
--              none: every mutant
--   --list     prints the mutants and exits
--   --check    only checks that each mutant's text occurs exactly once in the tree and that
--              mutated Lua still compiles (seconds: for editing the data files)
--   --jobs N   mutants checked at once, each in its own scratch copy (default 1)
--   --timeout  seconds one mutant's specs may take (default 300); a timeout counts as killed
--   --keep     leaves the scratch copies (and each mutant's log) in place
--
-- The data files: every mutants/*.lua but this one returns a list of mutants, each a table
--   { id = "cookie",                       -- unique within its file
--     file = "lua/flowservice/trace.lua",  -- from the top of the tree
--     from = 'lower == "cookie"',          -- exact text; it must occur exactly once in file
--     to = 'lower == "no-cookie"',         -- what replaces it
--     breaks = "a Cookie header shows in traces",
--     specs = { "spec/trace_spec.lua" } }  -- the spec files that must fail with it
-- A data file is loaded as data only (no globals: it cannot call anything).
--
-- For each mutant: the text is replaced in the scratch copy (a mutant whose text is not found
-- exactly once, whose Lua no longer compiles or whose C core no longer builds is "broken"),
-- the C core is rebuilt there when a C file changed, the listed specs run (busted, Lua 5.4),
-- and the file is put back. A failing spec run kills the mutant; a passing one means it
-- survived. Before any mutant, the listed spec files must pass on the unchanged copy.
-- Prints one line per mutant and "N killed, M survived, B broken"; exits 0 only when every
-- mutant was killed (1 otherwise, 2 for a usage error or a baseline that fails).
local ROOT = arg[0]:match("^(.*)/mutants/[^/]*$") or "."
package.path = ROOT .. "/bench/lib/?.lua;" .. package.path
local proc = require "proc" -- bench/lib/proc.lua: quote, read, write, capture
local socket = require "socket"
local clock = socket.gettime

local LUA = "lua5.4"
local shell_quote, read_file, write_file = proc.quote, proc.read, proc.write

-- Runs a shell command; returns its output (stderr included) and whether it exited 0.
local function run(command)
  return proc.capture(command .. " 2>&1")
end

local function fail(message, status)
  io.stderr:write("mutants: ", message, "\n")
  os.exit(status or 2)
end

-- The number of times `needle` occurs in `text` (plain text, no patterns), and where first.
local function occurrences(text, needle)
  local n, first, at = 0, nil, 1
  while true do
    local s, e = text:find(needle, at, true)
    if not s then return n, first end
    n, first, at = n + 1, first or s, e + 1
  end
end

---------------------------------------------------------------------------------------------------
-- Arguments and the data files
---------------------------------------------------------------------------------------------------

local opts = { jobs = 1, timeout = 300, selectors = {} }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--list" or a == "--keep" or a == "--check" then
      opts[a:sub(3)] = true
    elseif a == "--jobs" or a == "--timeout" then
      local n = tonumber(arg[i + 1])
      if not n or n < 1 or n ~= math.floor(n) then fail(a .. " needs a whole number from 1") end
      opts[a:sub(3)] = math.tointeger(n)
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      fail("unknown option " .. a .. " (see the header of mutants/run.lua)")
    else
      opts.selectors[#opts.selectors + 1] = a
    end
    i = i + 1
  end
end

local ROOT_ABS = run("cd " .. shell_quote(ROOT) .. " && pwd"):gsub("\n$", "")

local FIELDS = { id = "string", file = "string", from = "string", to = "string", breaks = "string",
  specs = "table" }

-- Every mutant of every data file, in file order; raises on a malformed one.
local function load_mutants()
  local names = {}
  for name in run("ls " .. shell_quote(ROOT_ABS .. "/mutants")):gmatch("[^\n]+") do
    if name:match("^[%w_]+%.lua$") and name ~= "run.lua" then names[#names + 1] = name end
  end
  table.sort(names)
  local all, seen = {}, {}
  for _, name in ipairs(names) do
    local area = name:gsub("%.lua$", "")
    local chunk, err = loadfile(ROOT_ABS .. "/mutants/" .. name, "t", {})
    if not chunk then fail(err) end
    local ok, list = pcall(chunk)
    if not ok or type(list) ~= "table" then
      fail("mutants/" .. name .. ": must return a list (" .. tostring(list) .. ")")
    end
    for i, m in ipairs(list) do
      local where = ("mutants/%s, mutant %d"):format(name, i)
      for field, kind in pairs(FIELDS) do
        if type(m[field]) ~= kind then fail(where .. ": field " .. field .. " must be a " .. kind) end
      end
      for field in pairs(m) do
        if not FIELDS[field] then fail(where .. ": unknown field " .. tostring(field)) end
      end
      if m.from == "" or m.from == m.to then fail(where .. ": from must be non-empty and differ from to") end
      if #m.specs == 0 then fail(where .. ": specs must list at least one spec file") end
      for _, spec in ipairs(m.specs) do
        if type(spec) ~= "string" or not read_file(ROOT_ABS .. "/" .. spec) then
          fail(where .. ": no spec file " .. tostring(spec))
        end
      end
      m.name = area .. "." .. m.id
      if seen[m.name] then fail(where .. ": the id " .. m.id .. " is used twice") end
      seen[m.name] = true
      m.area = area
      all[#all + 1] = m
    end
  end
  return all
end

local function selected(all)
  if #opts.selectors == 0 then return all end
  local out, used = {}, {}
  for _, m in ipairs(all) do
    for _, s in ipairs(opts.selectors) do
      if s == m.area or s == m.name then
        out[#out + 1] = m
        used[s] = true
        break
      end
    end
  end
  for _, s in ipairs(opts.selectors) do
    if not used[s] then fail("no mutant or area named " .. s) end
  end
  return out
end

local mutants = selected(load_mutants())

if opts.list then
  for _, m in ipairs(mutants) do
    print(("%-28s %-36s %s"):format(m.name, m.file, m.breaks))
    print(("%-28s %s"):format("", table.concat(m.specs, " ")))
  end
  print(#mutants .. " mutants")
  os.exit(0)
end

-- Lua text that no longer compiles makes the mutant broken (its "kill" would prove nothing).
local function compiles(path, text)
  if not (path:match("%.lua$") or text:match("^#![^\n]*lua")) then return true end
  local chunk, err = load((text:gsub("^#![^\n]*", "")), "=" .. path, "t")
  return chunk ~= nil, err
end

-- The text of `m.file` under `dir` with the mutant planted, or nil and why the mutant is broken;
-- also the original text.
local function mutated_text(dir, m)
  local text = read_file(dir .. "/" .. m.file)
  if not text then return nil, "no file " .. m.file end
  local n, at = occurrences(text, m.from)
  if n ~= 1 then return nil, ("the text occurs %d times in %s (must be once)"):format(n, m.file) end
  local mutated = text:sub(1, at - 1) .. m.to .. text:sub(at + #m.from)
  local ok, err = compiles(m.file, mutated)
  if not ok then return nil, "the mutated Lua does not compile: " .. tostring(err) end
  return mutated, text
end

if opts.check then
  local bad = 0
  for _, m in ipairs(mutants) do
    local ok, why = mutated_text(ROOT_ABS, m)
    if not ok then
      bad = bad + 1
      print(("BROKEN    %-30s %s"):format(m.name, why))
    end
  end
  print(("%d mutants, %d broken"):format(#mutants, bad))
  os.exit(bad == 0 and 0 or 1)
end

---------------------------------------------------------------------------------------------------
-- Scratch copies
---------------------------------------------------------------------------------------------------

local t0 = clock()

-- A copy of the tree without .git and build products, with its own C core built.
local function new_scratch()
  local dir = run("mktemp -d /tmp/flowservice-mutants.XXXXXX"):gsub("\n$", "")
  local out, ok = run(("tar -C %s --exclude=./.git --exclude='./build*' --exclude=./luarocks-tree -cf - . "
    .. "| tar -C %s -xf -"):format(shell_quote(ROOT_ABS), shell_quote(dir)))
  if not ok then fail("cannot copy the tree to " .. dir .. ":\n" .. out) end
  out, ok = run("make -s -C " .. shell_quote(dir) .. " all LUA=" .. LUA)
  if not ok then fail("the C core does not build in " .. dir .. ":\n" .. out) end
  return dir
end

-- The shell command that rebuilds the core (a no-op unless a C file changed) and runs `specs`
-- in `dir`; it prints "build failed" or "specs exited N" last, the rest goes to `log`.
local function spec_command(dir, specs, log)
  local quoted = {}
  for i, s in ipairs(specs) do quoted[i] = shell_quote(s) end
  return ("cd %s && { make -s all LUA=%s >%s 2>&1 || { echo 'build failed'; exit 0; }; "
    .. "FLOWSERVICE_LUA=%s FLOWSERVICE_CPATH='./build/?.so' timeout %d busted --lua=%s --cpath='./build/?.so' "
    .. "-o utfTerminal %s >>%s 2>&1; echo \"specs exited $?\"; }")
    :format(shell_quote(dir), LUA, shell_quote(log), LUA, opts.timeout, LUA, table.concat(quoted, " "),
      shell_quote(log))
end

local function tail(text, n)
  local lines = {}
  for line in text:gmatch("[^\n]*") do lines[#lines + 1] = line end
  return table.concat(lines, "\n", math.max(1, #lines - n))
end

local scratch = {}
for i = 1, math.min(opts.jobs, math.max(#mutants, 1)) do scratch[i] = new_scratch() end

-- Baseline: every listed spec file passes on the unchanged copy (otherwise every mutant would
-- look killed).
do
  local union, seen = {}, {}
  for _, m in ipairs(mutants) do
    for _, s in ipairs(m.specs) do
      if not seen[s] then union[#union + 1], seen[s] = s, true end
    end
  end
  table.sort(union)
  local log = scratch[1] .. "/baseline.log"
  local out = run(spec_command(scratch[1], union, log))
  if not out:find("specs exited 0", 1, true) then
    io.stderr:write(tail(read_file(log) or "", 40), "\n")
    fail("the listed spec files fail without any mutant (" .. out:gsub("\n$", "") .. "); see above")
  end
  print(("baseline: %d spec files pass on the unchanged tree (%.0f s)"):format(#union, clock() - t0))
end

---------------------------------------------------------------------------------------------------
-- The mutants
---------------------------------------------------------------------------------------------------

-- Plants `m` in `dir`; returns the original text of the file, or nil and why the mutant is broken.
local function plant(dir, m)
  local mutated, text = mutated_text(dir, m)
  if not mutated then return nil, text end
  write_file(dir .. "/" .. m.file, mutated)
  return text
end

local killed, survived, broken = {}, {}, {}

local function report(m, verdict, detail, seconds)
  print(("%-9s %-30s %-34s %5.1f s  %s"):format(verdict, m.name, m.file, seconds or 0, detail or ""))
  io.stdout:flush()
end

local next_mutant = 1
while next_mutant <= #mutants do
  local running = {}
  for slot = 1, #scratch do
    local m = mutants[next_mutant]
    if not m then break end
    next_mutant = next_mutant + 1
    local dir = scratch[slot]
    local original, why = plant(dir, m)
    if not original then
      broken[#broken + 1] = m
      report(m, "BROKEN", why)
    else
      local log = ("%s/%s.log"):format(dir, m.name)
      running[#running + 1] = { m = m, dir = dir, original = original, log = log, started = clock(),
        pipe = assert(io.popen(spec_command(dir, m.specs, log), "r")) }
    end
  end
  for _, r in ipairs(running) do
    local out = r.pipe:read("a")
    r.pipe:close()
    write_file(r.dir .. "/" .. r.m.file, r.original) -- put back before anything else
    local seconds = clock() - r.started
    local status = tonumber(out:match("specs exited (%d+)"))
    if out:find("build failed", 1, true) then
      broken[#broken + 1] = r.m
      report(r.m, "BROKEN", "the mutated C core does not build" .. (opts.keep and " (" .. r.log .. ")"
        or " (--keep keeps its log)"), seconds)
    elseif status == 0 then
      survived[#survived + 1] = r.m
      report(r.m, "SURVIVED", r.m.breaks .. " -- not caught by " .. table.concat(r.m.specs, " "), seconds)
    elseif status then
      killed[#killed + 1] = r.m
      report(r.m, "killed", status == 124 and "(timed out)" or nil, seconds)
    else
      broken[#broken + 1] = r.m
      report(r.m, "BROKEN", "the spec run did not finish: " .. out, seconds)
    end
  end
end

-- Put back: the copies are rebuilt from the original files (for --keep) or removed.
for _, dir in ipairs(scratch) do
  if opts.keep then
    run("make -s -C " .. shell_quote(dir) .. " all LUA=" .. LUA)
    print("kept " .. dir)
  else
    run("rm -rf " .. shell_quote(dir))
  end
end

print(("%d killed, %d survived, %d broken (%d mutants, %.0f s)"):format(#killed, #survived, #broken, #mutants,
  clock() - t0))
os.exit((#survived == 0 and #broken == 0) and 0 or 1)
