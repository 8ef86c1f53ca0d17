-- Every code block of README.md and docs/ that is not Lua (spec/readme_spec.lua runs the ```lua
-- ones): shell blocks run, output blocks are compared with what the commands print, and the
-- rest (a config file, a credentials file, a C excerpt, a file tree, a bench table) are read by
-- what reads them or checked against what they show.
--
-- The shell blocks of a page run in one bash session of their own, as a reader who has done
-- the README's quick start would run them: a copy of the tree as the working directory, a
-- fresh HOME, `flowservice` and `flowservice-emulator` on PATH, and the library where Lua finds
-- it (installed, as the pages assume). The README's quick start runs first in every session
-- (on the README itself, where it stands). Every command line must exit 0 (a line ending in "&"
-- starts a server: the lines after it talk to it). Files a page takes the reader to have (a
-- password file, a credentials file) are in the workspace. Two stand-ins:
--  - `make`: `make demo`, `make all` (or plain `make`) and `make example-embed` run for real;
--    any other target is a dry run (`make -n`: the target exists and its recipe expands). Those
--    are what CI itself runs (make test, check, mutants, the benches), or install into the
--    system (make install).
--  - `NAME=…`: a value of the reader's own (a client id, a secret); the session's value of NAME
--    (the emulator's) stands in for it.
-- An output block whose lines start with "$ " is a transcript: each command's output must show
-- the lines under it, in order (ids, numbers, dates and times may differ; "…" stands for
-- anything). A command the page's shell blocks ran already is compared with that run's output;
-- any other runs where the transcript stands.
-- #lua54only: the pages' commands are `lua5.4 ...`.
local helper = require "helper"
local json = require "flowservice.json"

-- The fenced blocks of a page: { page, line, info, text }.
local function blocks_of(page)
  local blocks, open = {}, nil
  local n = 0
  for line in (helper.read_file(page) .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if open then
      if line:match("^```%s*$") then
        open.text = table.concat(open.lines, "\n")
        blocks[#blocks + 1] = open
        open = nil
      else
        open.lines[#open.lines + 1] = line
      end
    else
      local info = line:match("^```(%S*)%s*$")
      if info then open = { page = page, line = n, info = info, lines = {} } end
    end
  end
  assert(open == nil, page .. ": a code block that is never closed, from line " .. (open and open.line or 0))
  return blocks
end

local function where(block) return block.page .. ":" .. block.line end

---------------------------------------------------------------------------------------------------
-- Shell text: logical lines, comments
---------------------------------------------------------------------------------------------------

-- Splits shell text into command lines: a line continues while it ends with "\", or a quote or
-- a "$(" is still open. Returns { { text = ..., line = offset of its first line } }.
local function command_lines(text)
  local commands, current, first = {}, nil, nil
  local single, double, depth = false, false, 0
  local offset = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    offset = offset + 1
    local i, escaped = 1, false
    while i <= #line do
      local c = line:sub(i, i)
      if escaped then
        escaped = false
      elseif single then
        if c == "'" then single = false end
      elseif c == "\\" then
        escaped = true
      elseif c == "'" and not double then
        single = true
      elseif c == '"' then
        double = not double
      elseif not double and c == "#" and (i == 1 or line:sub(i - 1, i - 1):match("%s")) then
        break -- a comment: the rest of the line
      elseif c == "(" then
        depth = depth + 1
      elseif c == ")" then
        depth = depth - 1
      end
      i = i + 1
    end
    current = current and (current .. "\n" .. line) or line
    first = first or offset
    local continued = single or double or depth > 0 or (line:match("\\$") and not line:match("#"))
    if not continued then
      if current:match("%S") and not current:match("^%s*#") then
        commands[#commands + 1] = { text = current, line = first }
      end
      current, first = nil, nil
    end
  end
  if current and current:match("%S") then commands[#commands + 1] = { text = current, line = first } end
  return commands
end

-- A command line as written, for comparing: without its trailing comment, blanks collapsed.
local function command_key(text)
  local out = {}
  for _, piece in ipairs(command_lines(text)) do
    for line in (piece.text .. "\n"):gmatch("([^\n]*)\n") do
      out[#out + 1] = (line:gsub("%s+#[^'\"]*$", ""))
    end
  end
  return (table.concat(out, " "):gsub("\\%s", " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- `NAME=…` (or `NAME=…@AdobeOrg`): the reader's own value; here the session's.
local function own_values(text)
  return (text:gsub("([%u_][%u%d_]*)=…[^%s]*", '%1="${%1}"'))
end

---------------------------------------------------------------------------------------------------
-- Comparing output
---------------------------------------------------------------------------------------------------

-- Ids, hex strings, numbers, dates and times become one mark each; blanks collapse.
local function normalize(line)
  line = line:gsub("%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x", "<id>")
  line = line:gsub("[%x%-]+", function(s) if #s >= 8 and s:find("%d") then return "<hex>" end end)
  line = line:gsub("%d[%d%.:]*", "#")
  return (line:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- An expected line as a pattern over normalized text: "…" (and a line "...") is anything.
local function expected_pattern(line)
  local norm = normalize(line)
  if norm == "..." or norm == "…" then return nil end
  local escaped = norm:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  return "^" .. escaped:gsub("…", ".-") .. "$"
end

-- Whether every expected line matches a line of `actual`, in order. Returns true, or false
-- and the first expected line not found.
local function shows(actual, expected_lines)
  local lines = {}
  for line in (actual .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = normalize(line) end
  local at = 1
  for _, expected in ipairs(expected_lines) do
    local pattern = expected_pattern(expected)
    if pattern then
      local found = false
      while at <= #lines do
        at = at + 1
        if lines[at - 1]:find(pattern) then found = true break end
      end
      if not found then return false, expected end
    end
  end
  return true
end

---------------------------------------------------------------------------------------------------
-- The session
---------------------------------------------------------------------------------------------------

local shell_quote = helper.shell_quote

-- A copy of the tree to work in (what a page's commands write stays there), HOME, and bin/
-- with the commands and the make stand-in. Returns the directory.
local function make_workspace()
  local dir = helper.run("mktemp -d"):match("^(%S+)")
  local copy = dir .. "/tree"
  local _, ok = helper.run(table.concat({
    "set -e",
    "mkdir -p " .. copy .. "/build " .. dir .. "/home " .. dir .. "/bin",
    "git ls-files -z | xargs -0 cp --parents -t " .. copy,
    "cp -r build/flowservice build/obj " .. copy .. "/build/", -- after the sources: up to date
  }, "\n"))
  assert(ok, "could not copy the tree")
  local function script(name, text)
    local f = assert(io.open(dir .. "/bin/" .. name, "w"))
    f:write("#!/bin/sh\n", text)
    f:close()
    os.execute("chmod +x " .. dir .. "/bin/" .. name)
  end
  -- Files the pages take the reader to have: password files, and credentials files (Adobe's
  -- shape, docs/CONFIGURATION.md) holding the emulator's demo credential; the one the
  -- configuration page makes private with chmod starts readable by all.
  local function file(path, text, mode)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    if mode then os.execute("chmod " .. mode .. " " .. shell_quote(path)) end
  end
  local demo_credentials = json.encode {
    CLIENT_ID = "flowservice-demo-client", CLIENT_SECRETS = { "flowservice-demo-secret" },
    ORG_ID = "DEMOORG0000000000000000@AdobeOrg", SCOPES = { "openid", "AdobeID", "read_organizations" },
  }
  os.execute("mkdir -p " .. shell_quote(dir .. "/home/aep"))
  for _, name in ipairs { "aep-credentials.json", "aep/dev-credentials.json", "aep/prod-credentials.json" } do
    file(dir .. "/home/" .. name, demo_credentials, name == "aep-credentials.json" and "644" or "600")
  end
  file(copy .. "/new-password.txt", "new-demo-password\n", "600")
  file(copy .. "/password-file", "demo-password\n", "600")
  script("flowservice", 'exec lua5.4 ' .. copy .. '/bin/flowservice "$@"\n')
  script("flowservice-emulator", 'exec lua5.4 ' .. copy .. '/bin/flowservice-emulator "$@"\n')
  -- The make stand-in (see the top of this file).
  script("make", [[
for arg in "$@"; do
  case $arg in
    -*|*=*) ;;
    all|demo|example-embed) ;;
    *) echo "make (dry run, -n): $*"; exec /usr/bin/make -n "$@" >/dev/null ;;
  esac
done
exec /usr/bin/make "$@"
]])
  return dir, copy
end

local SESSION_SECONDS = 300

-- Runs `commands` ({ text = command line, ... }) in one bash session in the workspace, at most
-- SESSION_SECONDS; returns for each command { output, status } (nil for those it did not reach)
-- and the whole output.
local function run_session(dir, copy, commands)
  local parts = {
    "set -o pipefail",
    "shopt -s expand_aliases",
    -- background jobs (emulators) end with the session
    "trap 'status=$?; trap \"\" TERM; kill -TERM 0 2>/dev/null; exit $status' EXIT",
    "cd " .. shell_quote(copy),
  }
  for i, command in ipairs(commands) do
    parts[#parts + 1] = ("printf '\\n__begin %d\\n'"):format(i)
    parts[#parts + 1] = command.text
    parts[#parts + 1] = ("printf '\\n__end %d %%s\\n' \"$?\""):format(i)
  end
  local path = dir .. "/session.sh"
  local f = assert(io.open(path, "w"))
  f:write(table.concat(parts, "\n"), "\n")
  f:close()
  local env = {
    "HOME=" .. dir .. "/home", "PATH=" .. dir .. "/bin:" .. (os.getenv("PATH") or "/usr/bin:/bin"),
    "LUA_PATH=" .. shell_quote(copy .. "/lua/?.lua;" .. copy .. "/lua/?/init.lua;;"),
    "LUA_CPATH=" .. shell_quote(copy .. "/build/?.so;;"),
    -- what the pages take as made beforehand in Platform and the OSC account (as make demo does)
    "OSC_HOST=example.custhelp.com", "OSC_USERNAME=svc-user",
    "AEP_DATASET_ID=5f7e0d1c2b3a4d5e6f708192",
    "AEP_SCHEMA_ID=https://ns.adobe.com/demotenant/schemas/0d1c2b3a4d5e6f7081920a1b2c3d4e5f",
    "AEP_MAPPING_ID=8c1d0e2f3a4b5c6d7e8f90a1b2c3d4e5", "RUN_POLL=0.5",
    "NEW_PW=new-demo-password",
  }
  local out = helper.run("env -u AEP_BASE_URL -u AEP_IMS_URL " .. table.concat(env, " ")
    -- a time limit: a block that waits for ever (a server in the foreground) fails, not hangs
    .. " timeout -k 5 " .. SESSION_SECONDS .. " setsid bash " .. shell_quote(path) .. " </dev/null")
  local results = {}
  for i in ipairs(commands) do
    local body, status = out:match("\n__begin " .. i .. "\n(.-)\n__end " .. i .. " (%d+)\n")
    results[i] = { output = body, status = tonumber(status) }
  end
  return results, out
end

-- The README's quick start: its shell block that starts the emulator.
local function quick_start(readme_blocks)
  for _, block in ipairs(readme_blocks) do
    if block.info == "sh" and block.text:find("flowservice emulator", 1, true) then return block end
  end
  error("README.md: no quick start block (a sh block that starts `flowservice emulator`)")
end

-- Transcript blocks: { { command = "...", expected = { lines } } }, or nil for other blocks.
local function transcript(block)
  if not block.text:match("^%$ ") then return nil end
  local entries, entry = {}, nil
  for line in (block.text .. "\n"):gmatch("([^\n]*)\n") do
    local command = line:match("^%$ (.*)")
    if command then
      entry = { command = command, expected = {} }
      entries[#entries + 1] = entry
    elseif entry and #entry.expected == 0 and entry.command:match("\\$") then
      entry.command = entry.command .. "\n" .. line -- a continued command line
    elseif entry then
      entry.expected[#entry.expected + 1] = line
    end
  end
  return entries
end

---------------------------------------------------------------------------------------------------
-- Blocks that are neither shell nor transcripts: each kind and what checks it
---------------------------------------------------------------------------------------------------

local CHECKERS -- below

describe("the code blocks of README.md and docs/ #lua54only", function()
  local list = helper.doc_pages()
  local all = {}
  for _, page in ipairs(list) do
    for _, block in ipairs(blocks_of(page)) do all[#all + 1] = block end
  end
  local readme_blocks = blocks_of("README.md")
  local start = quick_start(readme_blocks)

  local dir, copy
  setup(function() dir, copy = make_workspace() end)
  teardown(function() if dir then os.execute("rm -rf " .. shell_quote(dir)) end end)

  it("are each of a kind this spec runs or checks", function()
    for _, block in ipairs(all) do
      local known = block.info == "lua" or block.info == "sh" or transcript(block) ~= nil
      for _, checker in ipairs(CHECKERS) do
        if checker.matches(block) then known = true end
      end
      assert.is_true(known, where(block) .. ": a ```" .. block.info .. " block no spec runs or checks")
    end
  end)

  -- One session a page that has shell blocks or transcripts.
  for _, page in ipairs(list) do
    local blocks = {}
    for _, block in ipairs(all) do
      if block.page == page and (block.info == "sh" or transcript(block)) then blocks[#blocks + 1] = block end
    end
    if #blocks > 0 then
      it(page .. ": every shell block runs, every transcript shows what its commands print", function()
        local commands, ran = {}, {}
        local function add(block, text)
          for _, piece in ipairs(command_lines(text)) do
            commands[#commands + 1] = { text = own_values(piece.text), block = block, line = block.line + piece.line }
            ran[command_key(piece.text)] = #commands
          end
        end
        if page ~= "README.md" then add(start, start.text) end
        local checks = {}
        for _, block in ipairs(blocks) do
          local entries = transcript(block)
          if entries then
            for _, entry in ipairs(entries) do
              local index = ran[command_key(entry.command)]
              if not index then
                commands[#commands + 1] = { text = entry.command, block = block, line = block.line }
                index = #commands
              end
              checks[#checks + 1] = { index = index, entry = entry, block = block }
            end
          else
            add(block, block.text)
          end
        end
        local results, out = run_session(dir, copy, commands)
        for i, command in ipairs(commands) do
          local result = results[i]
          assert.truthy(result.status, ("%s:%d: the session stopped (or ran past %d s) before `%s` ended:\n%s")
            :format(command.block.page, command.line, SESSION_SECONDS, command.text, out))
          assert.equal(0, result.status, ("%s:%d: `%s` exited %d:\n%s"):format(command.block.page, command.line,
            command.text, result.status, result.output))
        end
        for _, check in ipairs(checks) do
          local output = results[check.index].output
          local ok, missing = shows(output, check.entry.expected)
          assert.is_true(ok, ("%s: `%s` printed no line like %q:\n%s"):format(where(check.block), check.entry.command,
            tostring(missing), output))
        end
      end)
    end
  end

  for _, block in ipairs(all) do
    for _, checker in ipairs(CHECKERS) do
      if checker.matches(block) then
        it(where(block) .. ": " .. checker.what, function() checker.check(block, dir, copy) end)
      end
    end
  end
end)

-- Runs `command` in the workspace copy with the library found (no session); returns output, ok.
local function in_copy(copy, command)
  return helper.run("cd " .. shell_quote(copy) .. " && LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
    .. "LUA_CPATH='./build/?.so;;' " .. command)
end

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

CHECKERS = {
  {
    what = "the INI profile file: the command line reads it",
    matches = function(block) return block.info == "ini" end,
    check = function(block, dir, copy)
      local path = dir .. "/config.ini"
      local f = assert(io.open(path, "w"))
      f:write(block.text, "\n")
      f:close()
      for _, profile in ipairs { "default", "prod" } do
        local out, ok = in_copy(copy, "HOME=" .. shell_quote(dir .. "/home") .. " AEP_CONFIG_FILE=" .. shell_quote(path)
          .. " lua5.4 bin/flowservice --profile " .. profile .. " config show")
        assert.is_true(ok, out)
        local sandbox = block.text:match("%[profile " .. profile .. "%].-sandbox = (%S+)")
          or block.text:match("^%[default%].-sandbox = (%S+)")
        assert.truthy(out:find(sandbox, 1, true),
          "profile " .. profile .. " does not show sandbox " .. sandbox .. ":\n" .. out)
      end
    end,
  },
  {
    what = "the credentials file: the command line reads it",
    matches = function(block) return block.info == "json" and block.text:find('"CLIENT_ID"', 1, true) ~= nil end,
    check = function(block, dir, copy)
      local fields = assert(json.decode(block.text))
      local path = dir .. "/credentials.json"
      local f = assert(io.open(path, "w"))
      f:write(block.text)
      f:close()
      os.execute("chmod 600 " .. shell_quote(path))
      local out, ok = in_copy(copy, "HOME=" .. shell_quote(dir .. "/home") .. " lua5.4 bin/flowservice --credentials "
        .. shell_quote(path) .. " config show")
      assert.is_true(ok, out)
      assert.truthy(out:find(fields.CLIENT_ID, 1, true), out)
      assert.truthy(out:find(fields.ORG_ID, 1, true), out)
      assert.is_nil(out:find(fields.CLIENT_SECRETS[1], 1, true), "config show printed the client secret")
    end,
  },
  {
    what = "the C excerpt is the embedding example's code (make example-embed builds and runs it)",
    matches = function(block) return block.info == "c" end,
    check = function(block)
      local source = helper.read_file("examples/embed/host.c"):gsub("%s+", " ")
      for _, line in ipairs(lines_of(block.text)) do
        local code = line:gsub("/%*.-%*/", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
        if code ~= "" then
          assert.truthy(source:find(code, 1, true), "examples/embed/host.c has no " .. code)
        end
      end
    end,
  },
  {
    what = "the output of make demo (README) or make example-embed (docs/EMBEDDING.md): it prints it",
    matches = function(block) return block.info == "" and block.text:match("^emulator %(pid") end,
    check = function(block, _, copy)
      local command = block.page == "README.md" and "LUA=lua5.4 FLOWSERVICE_CPATH='./build/?.so' sh examples/demo.sh"
        or "/usr/bin/make --no-print-directory example-embed"
      local out, ok = in_copy(copy, command)
      assert.is_true(ok, out)
      local shown, missing = shows(out, lines_of(block.text))
      assert.is_true(shown, command .. " printed no line like " .. tostring(missing) .. ":\n" .. out)
    end,
  },
  {
    what = "the source tree: every file and directory it names exists",
    matches = function(block) return block.info == "" and block.text:match("^src/%s") end,
    check = function(block)
      -- "name  description": names up to the first run of blanks; an indented name is under the
      -- directory of the line above it with less indent.
      local dirs = {}
      local checked = 0
      for _, line in ipairs(lines_of(block.text)) do
        local indent, names = line:match("^(%s*)(%S.-)%s%s")
        if not names then indent, names = line:match("^(%s*)(%S.*)$") end
        if names and #indent <= 4 then
          local depth = math.floor(#indent / 2)
          for name in names:gmatch("%S+") do
            name = name:gsub(",$", "")
            -- names have a "." or a "/"; the first word without is the description
            if not (name:match("^[%w_%.][%w_%-%./]*$") and name:find("[%./]")) then break end
            if name ~= ".h" then
              local path = (dirs[depth - 1] or "") .. name
              local f = io.open(path, "r")
              assert.truthy(f, block.page .. ": the tree names " .. path .. ", which does not exist")
              f:close()
              checked = checked + 1
              dirs[depth] = name:match("/$") and path or path:match("^(.*/)") or ""
            end
          end
        end
      end
      assert.truthy(checked > 50, "too few names read from the tree: " .. checked)
    end,
  },
  {
    what = "the error messages: tostring(err) of these failures prints them",
    matches = function(block) return block.info == "" and block.text:match("^flowservice: http error") end,
    check = function(block)
      local emu = helper.start_emulator()
      local admin = require("rawhttp").admin(emu)
      local client = helper.new_client(emu, { retry = { base = 0.01, throttle_base = 0.01, cap = 0.05 } })
      local printed = {}
      local function failure(value, err)
        assert.is_nil(value)
        printed[#printed + 1] = tostring(err)
      end
      local osc = { name = "X", spec = "oracle-service-cloud",
        auth = { host = "example.custhelp.com", username = "u", password = "SENTINEL-docs-password" } }
      failure(client.connections:get("00000000-0000-4000-8000-000000000000"))
      admin.set_faults { { method = "GET", path = "/data/foundation/flowservice/flows", fault = "status",
        status = 500 } }
      failure(client:request { method = "GET", path = "/flows" })
      admin.set_faults { { method = "POST", path = "/data/foundation/flowservice/connections", fault = "reset",
        phase = "after" } }
      failure(client.connections:create(osc))
      admin.clear_faults()
      osc.auth.password = nil
      failure(client.connections:create(osc))
      client:close()
      emu.stop()
      local everything = table.concat(printed, "\n")
      for _, line in ipairs(lines_of(block.text)) do
        assert.is_true((shows(everything, { line })), "no failure printed a line like " .. line .. ":\n" .. everything)
      end
    end,
  },
  {
    what = "the bench table: bench/run prints these columns and rows",
    matches = function(block) return block.info == "" and block.text:match("^client / variant") end,
    check = function(block)
      local sources = helper.run("cat bench/lib/*.lua bench/run")
      local header = lines_of(block.text)[1]
      for column in (header .. "  "):gmatch("(.-)%s%s+") do
        if column ~= "" then assert.truthy(sources:find(column, 1, true), "bench/ prints no column " .. column) end
      end
      -- every row's label is one bench/lib/report.lua writes (its format, %s any text)
      local report = helper.read_file("bench/lib/report.lua")
      local labels = {}
      for format in report:gmatch('row%(%(?"([^"]+)"') do
        format = format:gsub("^%s+", "")
        local escaped = format:gsub("%%s", "\0"):gsub("[%^%$%(%)%.%[%]%*%+%-%?]", "%%%0"):gsub("%z", ".-")
        labels[#labels + 1] = "^" .. escaped .. "$"
      end
      local rows = 0
      for line in (block.text .. "\n"):gmatch("([^\n]*)\n") do
        local label = line:match("^%s*(.-)%s%s+%S")
        if label and line ~= header then
          rows = rows + 1
          local known = false
          for _, pattern in ipairs(labels) do
            if label:find(pattern) then known = true end
          end
          assert.is_true(known, "bench/lib/report.lua writes no row " .. label)
        end
      end
      assert.truthy(rows > 10)
    end,
  },
}
