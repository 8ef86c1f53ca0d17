-- The `flowservice` command line: a thin layer over the library (require "flowservice"), built
-- on argparse. main(argv, streams, env) -> exit code, so specs can also run it in-process.
--
-- Commands are described as tables by the modules listed in COMMAND_MODULES (each a list of
-- { path = {group, verb} or {name}, summary, epilog, sends, options = fn(cmd), run = fn(ctx, args) }).
local argparse = require "argparse"
local flowservice = require "flowservice"
local credentials = require "flowservice.cli.credentials"
local dryrun = require "flowservice.cli.dryrun"
local output = require "flowservice.cli.output"

local json = flowservice.json

local cli = {}

local EXIT = output.EXIT

local COMMAND_MODULES = {
  "flowservice.cli.commands", "flowservice.cli.resources", "flowservice.cli.settings",
  "flowservice.cli.extras", "flowservice.cli.state",
}

-- Command groups (first word) and what they are for; their verbs come from the modules.
local GROUPS = {
  { "specs", "Connection specs: the built-in catalogue and the service's own." },
  { "connections", "Base connections: credentials for a source." },
  { "source-connections", "Source connections: which data of a base connection to read." },
  { "target-connections", "Target connections: the dataset the data lands in." },
  { "flows", "Dataflows from a source connection to a target connection." },
  { "runs", "Runs of dataflows." },
  { "config", "The settings in use: flags, environment, profile and credentials file." },
}

local ROOT_EPILOG = [[
Configuration, in order of precedence: the flags above, the environment (AEP_CLIENT_ID,
AEP_CLIENT_SECRET, AEP_ORG_ID, AEP_SANDBOX, AEP_SCOPES, AEP_BASE_URL, AEP_IMS_URL,
AEP_ACCESS_TOKEN, AEP_API_KEY, AEP_CREDENTIALS_FILE, AEP_PROXY, AEP_CA_FILE), the profile
(--profile or AEP_PROFILE, else [default]) of the config file ($XDG_CONFIG_HOME/flowservice/config,
or AEP_CONFIG_FILE), then the credentials file (the JSON the Adobe Developer Console downloads for
an OAuth Server-to-Server credential). Secrets are never taken from flags nor from the config
file. `flowservice config show` shows what is in use and where each value came from.
The IMS token is cached in $XDG_CACHE_HOME/flowservice/ (`flowservice token --forget` clears it).

Exit status: 0 ok, 1 a watched run ended without success, 2 usage, 3 validation (nothing was
sent), 4 authentication or permission, 5 not found, 6 conflict (stale etag, or a name that
matches several resources), 7 other service error (5xx, other HTTP errors, unexpected
responses), 8 network (transport failure or timeout), 9 ambiguous (a change that is not safe to
repeat may have happened: look before running it again), 10 `runs watch` timed out.
With --json a failure is exactly one JSON object on stderr (kind, status, code, title, detail,
request_id, field, retryable, ambiguous, attempts, message, exit).

Examples:
  flowservice --credentials ~/aep-credentials.json --sandbox dev token
  flowservice connections list --json
  flowservice connections create --spec oracle-service-cloud --name OSC \
      --param host=example.custhelp.com --param username=svc-user --password-stdin < pw.txt
  flowservice explore OSC incidents --preview 5
  flowservice runs watch --flow FLOW_ID]]

-- Raised (as the error value) by the help flag: argparse would print and os.exit itself.
local HELP = setmetatable({}, { __tostring = function() return "flowservice-cli-help" end })

---------------------------------------------------------------------------------------------------
-- The context a command runs in
---------------------------------------------------------------------------------------------------

local Failure = {}
Failure.__index = Failure

-- A failure the command cannot go on from: a library error, or a message with an exit code.
local function failure(err, code, message)
  return setmetatable({ err = err, code = code, message = message }, Failure)
end

local Context = {}
Context.__index = Context

-- value, err -> value; stops the command with err (a library error) when value is nil, or
-- false with an error (a list iterator's failure; a plain false is a result).
function Context.must(_, value, err)
  if value == nil or value == false and err ~= nil then error(failure(err), 0) end
  return value
end

-- Stops the command with a message and an exit code.
function Context.fail(_, code, message)
  error(failure(nil, code, message), 0)
end

-- Stops the command with a library error and an exit code of its own (not the error's).
function Context.fail_with(_, err, code)
  error(failure(err, code), 0)
end

-- A warning on stderr; with --json kept for the one JSON object printed at the end.
function Context:warn(message)
  if self.json_warnings then
    self.json_warnings[#self.json_warnings + 1] = message
  else
    self.streams.stderr:write("flowservice: ", message, "\n")
  end
end

-- The client, made once from flags, environment and credentials file. Making it sends nothing.
function Context:client()
  if self._client then return self._client end
  local opts, why = credentials.client_options(self.args, self.getenv, function(m) self:warn(m) end)
  if not opts then self:fail(EXIT.usage, why) end
  self._client = self:must(flowservice.new(opts))
  return self._client
end

-- True when the command should only describe its requests.
function Context:dry(requests)
  if not self.args.dry_run then return false end
  local client = self:client()
  local descriptions = {}
  for i, req in ipairs(requests) do descriptions[i] = dryrun.describe(client, req) end
  dryrun.print(self.streams, descriptions, self.args.json)
  return true
end

-- Prints `value` as JSON with --json, else calls human(); returns EXIT.ok.
function Context:print(value, human)
  if self.args.json then output.json(self.streams, value) else human() end
  return EXIT.ok
end

function Context:isatty(name)
  return self.streams.isatty(name)
end

---------------------------------------------------------------------------------------------------
-- The parser
---------------------------------------------------------------------------------------------------

local function add_help(p, state)
  p:add_help(false)
  p:flag("-h --help", "Show this help and exit."):action(function()
    state.help = p:get_help()
    error(HELP, 0)
  end)
end

local function global_options(parser)
  parser:flag("--json", "Print exactly one JSON document on stdout (for scripts).")
  parser:option("--credentials", "Developer Console credentials file (JSON).")
    :argname "FILE":target "credentials"
  parser:option("--base-url", "Platform URL (default https://platform.adobe.io)."):argname "URL"
  parser:option("--ims-url", "IMS URL (default https://ims-na1.adobelogin.com)."):argname "URL"
  parser:option("--org-id", "IMS organization, ...@AdobeOrg."):argname "ORG"
  parser:option("--client-id", "OAuth Server-to-Server client id (also the API key)."):argname "ID"
  parser:option("--sandbox", "Sandbox name (default prod)."):argname "NAME"
  parser:option("--scopes", "IMS scopes, comma-separated."):argname "LIST"
  parser:option("--profile", "Profile of the config file (default: AEP_PROFILE, else [default]).")
    :argname "NAME"
  parser:option("--proxy", "Proxy URL, http:// or https:// (default: AEP_PROXY, the profile's, else none).")
    :argname "URL"
  parser:option("--ca-file", "PEM file of the CAs to trust instead of the system store (or AEP_CA_FILE).")
    :argname "FILE"
  parser:option("--timeout", "Seconds for each request (default 60)."):argname "SECONDS"
    :convert(function(v)
      local n = tonumber(v)
      -- the library's rule for the timeout option (flowservice.new)
      if not n or not (n > 0 and n <= 2147483) then
        return nil, "--timeout needs a number of seconds > 0 and <= 2147483"
      end
      return n
    end)
end

-- Builds the parser; returns it, name -> command definition ("connections create") and name ->
-- argparse command ("connections", "connections create"), for the usage of a command that failed.
local function build_parser(state)
  local parser = argparse("flowservice",
    "Drive Adobe Experience Platform's Flow Service from the shell (library flowservice "
      .. flowservice.VERSION .. ").")
    :epilog(ROOT_EPILOG):command_target("command"):help_max_width(100)
  add_help(parser, state)
  parser:flag("--version", "Show the version (and libcurl's) and exit."):action(function()
    local core = require "flowservice.core"
    state.help = "flowservice " .. flowservice.VERSION .. " (" .. core.curl_version .. "; " .. _VERSION .. ")"
    error(HELP, 0)
  end)
  global_options(parser)
  local groups, defs, parsers = {}, {}, {}
  for _, g in ipairs(GROUPS) do
    groups[g[1]] = { summary = g[2] }
  end
  local all = {}
  for _, module in ipairs(COMMAND_MODULES) do
    for _, def in ipairs(require(module)) do all[#all + 1] = def end
  end
  -- Groups and top-level commands in the order of their first definition.
  for _, def in ipairs(all) do
    local parent = parser
    if #def.path == 2 then
      local g = groups[def.path[1]]
      if not g.command then
        g.command = parser:command(def.path[1], g.summary):command_target("verb")
        add_help(g.command, state)
        parsers[def.path[1]] = g.command
      end
      parent = g.command
    end
    local cmd = parent:command(def.path[#def.path], def.summary)
    add_help(cmd, state)
    if def.epilog then cmd:epilog("Examples:\n" .. def.epilog) end
    if def.options then def.options(cmd) end
    if def.sends then
      cmd:flag("--dry-run", "Print the request(s) it would send, secrets masked; send nothing.")
    end
    defs[table.concat(def.path, " ")] = def
    parsers[table.concat(def.path, " ")] = cmd
    parsers[#parsers + 1] = table.concat(def.path, " ") -- the commands in order (for the man page)
  end
  return parser, defs, parsers
end

-- Options whose value may start with "-" (a descending sort, -createdAt): argparse would take
-- it for an option, so `--orderby -createdAt` becomes `--orderby=-createdAt`.
local DASH_VALUES = { ["--orderby"] = true }

local function join_dash_values(args)
  local out, i = {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i, #args do out[#out + 1] = args[j] end
      break
    end
    if DASH_VALUES[a] and args[i + 1] and args[i + 1]:sub(1, 1) == "-" then
      out[#out + 1] = a .. "=" .. args[i + 1]
      i = i + 2
    else
      out[#out + 1] = a
      i = i + 1
    end
  end
  return out
end

-- The usage of the deepest command named in args (a typo in a verb shows the group's usage,
-- a missing option the verb's), else the top level's.
local function usage_for(parser, parsers, args)
  local found, group = parser, nil
  for _, a in ipairs(args) do
    if a == "--" then break end
    if a:sub(1, 1) ~= "-" then
      local name = group and (group .. " " .. a) or a
      if parsers[name] then
        found = parsers[name]
        if group then break end
        group = a
      elseif group then
        break
      end
    end
  end
  return found:get_usage()
end

---------------------------------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------------------------------

local function default_isatty(name)
  local fd = ({ stdin = 0, stdout = 1, stderr = 2 })[name]
  local ok = os.execute("test -t " .. fd)
  return ok == true or ok == 0
end

local function getenv_from(env)
  if env == nil then return os.getenv end
  if type(env) == "function" then return env end
  return function(name) return env[name] end
end

-- `flowservice emulator ...`: everything after the word goes to flowservice-emulator unparsed
-- (argparse cannot pass unknown options through); --help shows this command's help, then the
-- emulator's own.
function cli.emulator(parser, state, def, args, streams)
  local rest = {}
  for i = 2, #args do
    rest[#rest + 1] = args[i]
    if args[i] == "-h" or args[i] == "--help" then
      pcall(parser.pparse, parser, { "emulator", "--help" })
      streams.stdout:write(state.help, "\n\n")
      streams.stdout:flush()
      rest = { "--help" }
      break
    end
  end
  local ctx = setmetatable({ streams = streams, getenv = os.getenv, args = {} }, Context)
  local ok, err = pcall(def.run, ctx, { emulator_args = rest })
  if ok then return err end
  if getmetatable(err) ~= Failure then error(err, 0) end
  output.fail(streams, err.message)
  return err.code
end

--- Runs the command line. argv: list of arguments (without the program name); streams:
-- { stdin, stdout, stderr, isatty = function("stdin"|"stdout"|"stderr") -> boolean } (each
-- optional, default the process's); env: a table or function name -> value (default os.getenv).
-- Returns the exit code.
function cli.main(argv, streams, env)
  streams = streams or {}
  streams = {
    stdin = streams.stdin or io.stdin, stdout = streams.stdout or io.stdout,
    stderr = streams.stderr or io.stderr, isatty = streams.isatty or default_isatty,
  }
  local state = {}
  local parser, defs, parsers = build_parser(state)
  local args = {}
  for i, a in ipairs(argv or {}) do args[i] = a end
  if args[1] ~= "emulator" then args = join_dash_values(args) end
  if args[1] == "emulator" then return cli.emulator(parser, state, defs.emulator, args, streams) end
  -- --json anywhere before `--` asks for JSON errors, even when the arguments do not parse
  local as_json = false
  for _, a in ipairs(args) do
    if a == "--" then break end
    if a == "--json" then as_json = true end
  end
  local ok, parsed, result = pcall(parser.pparse, parser, args)
  if state.help then
    streams.stdout:write(state.help, "\n")
    return EXIT.ok
  end
  if not ok then error(parsed, 0) end
  if not parsed then
    if as_json then
      output.json_error(streams, nil, EXIT.usage, result)
    else
      streams.stderr:write(usage_for(parser, parsers, args), "\n\nflowservice: ", result, " (see --help)\n")
    end
    return EXIT.usage
  end
  local name = result.verb and (result.command .. " " .. result.verb) or result.command
  local ctx = setmetatable({ streams = streams, getenv = getenv_from(env), args = result,
    parser = parser, parsers = parsers,
    json_warnings = as_json and {} or nil }, Context)
  local run_ok, code = pcall(defs[name].run, ctx, result)
  if ctx._client then ctx._client:close() end
  local warnings = ctx.json_warnings
  if run_ok then
    if warnings and #warnings > 0 then
      streams.stderr:write(json.encode { warnings = json.array(warnings) }, "\n")
    end
    return code or EXIT.ok
  end
  if getmetatable(code) ~= Failure then error(code, 0) end
  local exit = code.code or output.exit_code(code.err)
  if as_json then
    output.json_error(streams, code.err, exit, code.message, warnings)
  elseif code.err then
    output.error(streams, code.err)
  else
    output.fail(streams, code.message)
  end
  return exit
end

cli.EXIT = EXIT

return cli
