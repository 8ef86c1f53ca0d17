-- How the command line prints: aligned tables and key/value blocks for people, exactly one JSON
-- document for scripts (--json), one line per error on stderr, and the documented exit codes.
local flowservice = require "flowservice"

local json, errors = flowservice.json, flowservice.errors

local output = {}

-- Documented exit codes (docs/CLI.md, `flowservice --help`).
output.EXIT = {
  ok = 0, failed_run = 1, usage = 2, validation = 3, auth = 4, not_found = 5, conflict = 6,
  server = 7, network = 8, ambiguous = 9, wait_timeout = 10,
}
local EXIT = output.EXIT

-- The `kind` of a --json error object for a failure that is not a library error, by exit code.
local KIND_OF_EXIT = {
  [EXIT.usage] = "usage", [EXIT.validation] = "validation", [EXIT.auth] = "auth",
  [EXIT.not_found] = "not_found", [EXIT.conflict] = "conflict", [EXIT.server] = "http",
  [EXIT.network] = "transport", [EXIT.ambiguous] = "ambiguous", [EXIT.wait_timeout] = "timeout",
}

-- The exit code for a library error, from its fields (never from its message).
function output.exit_code(err)
  if not errors.is(err) then return EXIT.server end
  local kind, status = err.kind, err.status
  -- first: whatever else went wrong, the change may have happened (look before retrying)
  if err.ambiguous then return EXIT.ambiguous end
  if kind == "validation" then return EXIT.validation end
  if kind == "transport" or kind == "timeout" then return EXIT.network end
  if kind == "auth" or status == 401 or status == 403 then return EXIT.auth end
  if kind == "not_found" or status == 404 then return EXIT.not_found end
  if kind == "conflict" or err.conflict or status == 409 then return EXIT.conflict end
  return EXIT.server
end

-- Text that came from the service, made safe to show on a terminal: line breaks and tabs become
-- one space, every other control character (C0, DEL, and C1 such as U+009B, the one-byte CSI)
-- is shown as an escape (\x1b, \u009b) instead of being sent, so ESC ] 0 ; ... BEL (a window
-- title) or ESC [ 2 J (clear screen) in an error message or a member name does nothing.
local function escape_control(c)
  return ("\\x%02x"):format(c:byte())
end

function output.safe(text)
  text = tostring(text):gsub("[\t\r\n]+", " ")
  text = text:gsub("[%z\1-\31\127]", escape_control)
  return (text:gsub("\194([\128-\159])", function(c) return ("\\u%04x"):format(c:byte()) end))
end
local safe = output.safe

-- JSON text with DEL and the C1 controls (U+0080-U+009F, U+009B being a one-character CSI)
-- written as \u escapes too (the encoder escapes only C0): the same JSON values, and no byte a
-- terminal would act on. Those bytes occur in JSON text only inside strings.
local function terminal_safe_json(text)
  text = text:gsub("\127", "\\u007f")
  return (text:gsub("\194([\128-\159])", function(c) return ("\\u%04x"):format(c:byte()) end))
end

-- One line on stderr: the error's kind, status, code, message and request id (its tostring,
-- which never shows a secret), made safe for the terminal.
function output.error(streams, err)
  streams.stderr:write(safe(tostring(err)), "\n")
end

-- A plain "flowservice: message" line on stderr (usage problems, refusals).
function output.fail(streams, message)
  streams.stderr:write("flowservice: ", safe(message), "\n")
end

-- The fields of a --json error object, each present (null when it does not apply).
local ERROR_FIELDS = { "kind", "status", "code", "title", "detail", "request_id", "field", "retryable",
  "ambiguous", "attempts" }

-- --json: the failure as exactly one JSON object on one line of stderr: ERROR_FIELDS, `message`
-- (the one-line text) and `exit` (the exit status). `err` is a library error, or nil with
-- `message` (a usage problem, a refusal); `warnings`: messages printed before, or nil.
function output.json_error(streams, err, code, message, warnings)
  local object = {}
  for _, name in ipairs(ERROR_FIELDS) do object[name] = json.null end
  if errors.is(err) then
    for _, name in ipairs(ERROR_FIELDS) do
      if err[name] ~= nil then object[name] = err[name] end
    end
    object.message = err.message
  else
    object.kind, object.message = KIND_OF_EXIT[code] or "error", message
    object.retryable, object.ambiguous, object.attempts = false, false, 0
  end
  object.exit = code
  if warnings and #warnings > 0 then object.warnings = json.array(warnings) end
  local text = json.encode(object) or json.encode { kind = object.kind, message = "(unprintable error)", exit = code }
  streams.stderr:write(terminal_safe_json(text), "\n")
end

-- Marks a Lua list as a JSON array, so an empty list prints as [] and not {}.
function output.list(t)
  return json.array(t or {})
end

function output.json(streams, value)
  local text, err = json.encode(value)
  if not text then error("cannot print JSON: " .. err) end
  streams.stdout:write(terminal_safe_json(text), "\n")
end

-- A value as one table cell or block line: strings as they are, epoch-ms timestamps readable,
-- tables as compact JSON.
local function cell(value, key)
  if value == nil or value == json.null then return "-" end
  if type(value) == "number" and key and key:match("At$") and value > 1e11 then
    return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(value / 1000))
  end
  if type(value) == "table" then return safe(json.encode(value) or "?") end
  return safe(value)
end
output.cell = cell

-- Display width: UTF-8 characters, not bytes (works on every Lua, without the utf8 library).
local function width_of(s)
  return select(2, s:gsub("[^\128-\191]", ""))
end

-- rows: list of tables; columns: list of { title, value = function(row) or field name }.
function output.table(streams, columns, rows)
  local lines, widths = {}, {}
  local function add(cells)
    for i, c in ipairs(cells) do widths[i] = math.max(widths[i] or 0, width_of(c)) end
    lines[#lines + 1] = cells
  end
  local header = {}
  for i, col in ipairs(columns) do header[i] = safe(col.title) end -- a preview's titles are the source's
  add(header)
  for _, row in ipairs(rows) do
    local cells = {}
    for i, col in ipairs(columns) do
      local v
      if type(col.value) == "function" then v = col.value(row) else v = row[col.value] end
      cells[i] = cell(v, type(col.value) == "string" and col.value or nil)
    end
    add(cells)
  end
  for _, cells in ipairs(lines) do
    local parts = {}
    for i, c in ipairs(cells) do
      parts[i] = i < #cells and c .. (" "):rep(widths[i] - (width_of(c))) or c
    end
    streams.stdout:write(table.concat(parts, "  "), "\n")
  end
end

-- One item as "key: value" lines, keys sorted and aligned.
function output.item(streams, item)
  local keys, width = {}, 0
  local shown = {} -- member names come from the service: shown safe
  for k in pairs(item) do
    keys[#keys + 1] = k
    shown[k] = safe(k)
    width = math.max(width, width_of(shown[k]))
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local name = shown[k]
    local value = cell(item[k], type(k) == "string" and k or nil)
    streams.stdout:write(name, ":", (" "):rep(width - width_of(name) + 1), value, "\n")
  end
end

return output
