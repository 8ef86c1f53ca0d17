-- A base connection's auth params from the command line. Plain values come from --param
-- NAME=VALUE; secrets (params the connection spec marks format "password", and any name
-- containing password, secret, token, key or credential) only from --password-stdin,
-- --param-env NAME=VAR or an echo-free prompt on a terminal. A secret given as --param is
-- refused: the command line shows in `ps` and lands in shell history. No message shows a value.
local flowservice = require "flowservice"
local sensitive = require "flowservice.sensitive"
local output = require "flowservice.cli.output"

local params = {}

local EXIT = output.EXIT

-- The auth spec the library will use (the one named, or the spec's only one), or nil.
local function auth_spec(entry, wanted)
  if not entry or entry.unknown then return nil end
  return entry.auth[wanted or entry.default_auth_spec or ""]
end

local function is_secret(auth, name)
  return sensitive.name(name) or (auth ~= nil and auth.secrets[name] == true)
end
params.is_secret = is_secret

-- A plain value converted to the JSON type the spec's schema asks for (port numbers, flags).
local function typed(auth, name, value)
  local props = auth and type(auth.schema.properties) == "table" and auth.schema.properties or {}
  local want = type(props[name]) == "table" and props[name].type
  if (want == "integer" or want == "number") and tonumber(value) then return tonumber(value) end
  if want == "boolean" and (value == "true" or value == "false") then return value == "true" end
  return value
end

local function split(ctx, option, text)
  local name, value = text:match("^([^=]+)=(.*)$")
  if not name then
    ctx:fail(EXIT.usage, option .. " expects NAME=" .. (option == "--param-env" and "VAR" or "VALUE"))
  end
  return name, value
end

local function refuse(ctx, name)
  ctx:fail(EXIT.usage, "auth param '" .. name .. "' is a secret and is not accepted as --param: the "
    .. "command line is visible to other users (ps) and saved in shell history. Use --password-stdin, "
    .. "--param-env " .. name .. "=VAR, or run on a terminal to be prompted")
end

-- Reads one line, newline stripped.
local function read_line(stream)
  local line = stream:read("*l")
  if line then line = line:gsub("\r$", "") end
  return line
end

-- Asks for a secret on the terminal with echo off; echo is restored even when reading fails.
local function prompt(ctx, name)
  ctx.streams.stderr:write(name, ": ")
  ctx.streams.stderr:flush()
  os.execute("stty -echo 2>/dev/null")
  local ok, line = pcall(read_line, ctx.streams.stdin)
  os.execute("stty echo 2>/dev/null")
  ctx.streams.stderr:write("\n")
  if not ok then error(line, 0) end
  return line
end

-- The param --password-stdin fills: "password" when the spec has it (or is unknown), else the
-- spec's only secret param.
local function stdin_param(ctx, auth)
  if not auth then return "password" end
  local props = type(auth.schema.properties) == "table" and auth.schema.properties or {}
  if props.password then return "password" end
  local names = {}
  for name in pairs(auth.secrets) do names[#names + 1] = name end
  if #names ~= 1 then
    ctx:fail(EXIT.usage, "--password-stdin: this auth spec has " .. #names .. " secret params; "
      .. "use --param-env NAME=VAR for each")
  end
  return names[1]
end

-- The required secret params still missing, in name order.
local function missing_secrets(auth, got)
  local out = {}
  local required = auth and type(auth.schema.required) == "table" and auth.schema.required or {}
  for _, name in ipairs(required) do
    if got[name] == nil and is_secret(auth, name) then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

-- args: parsed options (param, param_env, password_stdin, spec, auth_spec). Returns the auth
-- table for connections:create, or nil when no param was given at all.
function params.collect(ctx, args)
  local entry = flowservice.specs.resolve(args.spec)
  local auth = auth_spec(entry, args.auth_spec)
  local got, any = {}, false
  for _, text in ipairs(args.param or {}) do
    local name, value = split(ctx, "--param", text)
    if is_secret(auth, name) then refuse(ctx, name) end
    got[name], any = typed(auth, name, value), true
  end
  for _, text in ipairs(args.param_env or {}) do
    local name, var = split(ctx, "--param-env", text)
    local value = ctx.getenv(var)
    if value == nil or value == "" then ctx:fail(EXIT.usage, "--param-env " .. name .. ": environment variable "
      .. var .. " is unset or empty") end
    got[name], any = value, true
  end
  if args.password_stdin then
    local name = stdin_param(ctx, auth)
    local value = read_line(ctx.streams.stdin)
    if value == nil or value == "" then ctx:fail(EXIT.usage, "--password-stdin: no line on stdin") end
    got[name], any = value, true
  elseif not args.dry_run and ctx:isatty("stdin") then
    for _, name in ipairs(missing_secrets(auth, got)) do
      local value = prompt(ctx, name)
      if value and value ~= "" then got[name], any = value, true end
    end
  end
  return any and got or nil
end

return params
