-- The commands that are not a resource's create/list/get/...: token, specs, explore, emulator.
local flowservice = require "flowservice"
local compat = require "flowservice.compat"
local filter = require "flowservice.filter"
local output = require "flowservice.cli.output"
local refs = require "flowservice.cli.refs"

local specs, json = flowservice.specs, flowservice.json
local EXIT = output.EXIT

local SPEC_COLUMNS = {
  { title = "ID", value = "id" }, { title = "ALIAS", value = "alias" }, { title = "NAME", value = "name" },
  { title = "KIND", value = "kind" },
}

-- A connection spec as the command prints it: the entry's facts and each auth spec's params.
local function spec_view(entry)
  local auth = json.array()
  for _, name in ipairs(entry.auth_specs or {}) do
    local a = entry.auth[name]
    local props = type(a.schema.properties) == "table" and a.schema.properties or {}
    local required = {}
    for _, r in ipairs(type(a.schema.required) == "table" and a.schema.required or {}) do required[r] = true end
    local params = json.array()
    for param in pairs(props) do
      params[#params + 1] = { name = param, required = required[param] == true, secret = a.secrets[param] == true }
    end
    table.sort(params, function(x, y) return x.name < y.name end)
    auth[#auth + 1] = { name = name, params = params }
  end
  return {
    id = entry.id, version = entry.version, name = entry.name, alias = entry.alias, kind = entry.kind,
    origin = entry.origin, deprecated = entry.deprecated, auth_specs = auth,
  }
end

local function print_spec(ctx, view)
  return ctx:print(view, function()
    local out = ctx.streams.stdout
    output.item(ctx.streams, { id = view.id, name = view.name, alias = view.alias, kind = view.kind,
      version = view.version, deprecated = view.deprecated })
    for _, a in ipairs(view.auth_specs) do
      out:write("auth spec \"", a.name, "\":\n")
      for _, p in ipairs(a.params) do
        out:write("  ", p.name, p.required and " (required)" or "", p.secret and " (secret)" or "", "\n")
      end
    end
  end)
end

local function specs_list(ctx, args)
  local entries = {}
  if args.offline then
    for i, e in ipairs(specs.list()) do entries[i] = spec_view(e) end
  else
    if ctx:dry { { method = "GET", path = "/connectionSpecs" } } then return EXIT.ok end
    for _, item in ipairs(ctx:must(ctx:client().connection_specs:all())) do
      entries[#entries + 1] = spec_view(ctx:must(specs.resolve(item)))
    end
  end
  return ctx:print(output.list(entries), function() output.table(ctx.streams, SPEC_COLUMNS, entries) end)
end

-- A built-in entry by alias, id, or display name ("Oracle Service Cloud": the service's own name
-- for it may differ, e.g. oracle-service-cloud), or nil.
local function builtin_spec(ref)
  local entry = specs.resolve(ref)
  if entry then return entry end
  for _, e in ipairs(specs.list()) do
    if e.name and e.name:lower() == ref:lower() then return e end
  end
  return nil
end

local function specs_show(ctx, args)
  local ref = args.spec
  local builtin = builtin_spec(ref)
  if args.offline then
    if not builtin or builtin.unknown then ctx:fail(EXIT.not_found, "no built-in connection spec '" .. ref .. "'") end
    return print_spec(ctx, spec_view(builtin))
  end
  local id = builtin and builtin.id
  -- What connection_specs:get (a built-in's id) or connection_specs:find (a name) sends.
  local request = id and { method = "GET", path = "/connectionSpecs/" .. id }
    or { method = "GET", path = "/connectionSpecs", query = { property = "name==" .. filter.literal(ref) } }
  if ctx:dry { request } then return EXIT.ok end
  local client = ctx:client()
  local item = id and ctx:must(client.connection_specs:get(id)) or ctx:must(client.connection_specs:find(ref))
  return print_spec(ctx, spec_view(ctx:must(specs.resolve(item))))
end

local function token(ctx, args)
  local client = ctx:client()
  if args.forget then
    ctx:must(client:forget_token())
    return ctx:print({ forgotten = true }, function() ctx.streams.stdout:write("the cached token is forgotten\n") end)
  end
  local info = ctx:must(client:authenticate())
  local function whole(v) return v and math.floor(v) or nil end
  local view = {
    org_id = client.config.org_id, sandbox = client.config.sandbox, client_id = client.config.client_id,
    expires_in = whole(info.expires_in), refresh_in = whole(info.refresh_in), cached = info.cached,
  }
  return ctx:print(view, function()
    local given = "(a given access token)"
    output.item(ctx.streams, { org = view.org_id, sandbox = view.sandbox,
      expires_in = view.expires_in and (view.expires_in .. " s") or given,
      refresh_in = view.refresh_in and (view.refresh_in .. " s") or given,
      cached = view.cached == nil and given or (view.cached and "yes (token cache)" or "no (asked IMS)") })
  end)
end

local TABLE_COLUMNS = {
  { title = "NAME", value = "name" }, { title = "PATH", value = "path" }, { title = "TYPE", value = "type" },
}
local COLUMN_COLUMNS = {
  { title = "NAME", value = "name" }, { title = "TYPE", value = "type" },
  { title = "XDM", value = function(c) return type(c.xdm) == "table" and c.xdm.type or nil end },
  { title = "FORMAT", value = function(c) return type(c.xdm) == "table" and c.xdm.format or nil end },
}

local function explore(ctx, args)
  local path = args.table
  local query = { objectType = "root" }
  if path then query = { objectType = "table", object = path, preview = args.preview and true or nil } end
  local id = refs.resolve(ctx, "connections", args.connection)
  if ctx:dry { { method = "GET", path = "/connections/" .. id .. "/explore", query = query } } then return EXIT.ok end
  local connections = ctx:client().connections
  if not path then
    local tables = ctx:must(connections:tables(id))
    return ctx:print(output.list(tables), function() output.table(ctx.streams, TABLE_COLUMNS, tables) end)
  end
  if not args.preview then
    local columns = ctx:must(connections:columns(id, path))
    return ctx:print(output.list(columns), function() output.table(ctx.streams, COLUMN_COLUMNS, columns) end)
  end
  local preview = ctx:must(connections:preview(id, path))
  local rows = output.list()
  for i = 1, math.min(args.preview, #preview.rows) do rows[i] = preview.rows[i] end
  return ctx:print({ columns = output.list(preview.columns), rows = rows }, function()
    local columns = {}
    for i, c in ipairs(preview.columns) do columns[i] = { title = c.name, value = c.name } end
    output.table(ctx.streams, columns, rows)
  end)
end

local function positive_integer(v)
  local n = compat.tointeger(tonumber(v))
  if not n or n < 1 then return nil, "expected a whole number >= 1" end
  return n
end

-- The emulator launcher next to this command (source tree or install), else on PATH.
local function emulator_script()
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$")
  local candidates = { dir and dir .. "/flowservice-emulator" }
  for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do candidates[#candidates + 1] = d .. "/flowservice-emulator" end
  for _, path in ipairs(candidates) do
    local f = path and io.open(path, "r")
    if f then
      f:close()
      return path
    end
  end
  return nil
end

-- Runs bin/flowservice-emulator in this process with the remaining arguments, so its options
-- (TLS, faults, ...) and their parsing stay in one place and the process id stays the same.
local function emulator(ctx, args)
  local script = emulator_script()
  if not script then ctx:fail(EXIT.usage, "flowservice-emulator not found next to this command or on PATH") end
  local forwarded = { [0] = script }
  for i, a in ipairs(args.emulator_args) do forwarded[i] = a end
  _G.arg = forwarded
  dofile(script)
  return EXIT.ok
end

return {
  {
    path = { "token" },
    summary = "Check the credentials: get a token (cached, or from IMS) and show org, sandbox and expiry "
      .. "(never the token).",
    epilog = "  flowservice --credentials ~/aep-credentials.json token\n  flowservice token --json\n"
      .. "  flowservice token --forget          # remove the cached token",
    options = function(cmd)
      cmd:flag("--forget", "Remove the cached token (the next command asks IMS for a new one).")
    end,
    run = token,
  },
  {
    path = { "specs", "list" }, sends = true,
    summary = "List connection specs (the service's, or the built-in catalogue with --offline).",
    epilog = "  flowservice specs list\n  flowservice specs list --offline --json",
    options = function(cmd) cmd:flag("--offline", "The built-in catalogue; sends nothing.") end,
    run = specs_list,
  },
  {
    path = { "specs", "show" }, sends = true,
    summary = "Show a connection spec and its auth params (which are secret, which required).",
    epilog = "  flowservice specs show oracle-service-cloud\n  flowservice specs show \"Oracle Service Cloud\" --json\n"
      .. "  flowservice specs show ba5126ec-c9ac-11eb-b8bc-0242ac130003 --offline",
    options = function(cmd)
      cmd:argument("ID_OR_NAME", "Alias (oracle-service-cloud), id or name."):argname("ID_OR_NAME"):target "spec"
      cmd:flag("--offline", "Only the built-in catalogue; sends nothing.")
    end,
    run = specs_show,
  },
  {
    path = { "explore" }, sends = true,
    summary = "Explore a tabular source: its tables, a table's columns, or preview rows.",
    epilog = "  flowservice explore OSC                   # the tables\n"
      .. "  flowservice explore OSC incidents         # its columns\n"
      .. "  flowservice explore OSC incidents --preview 5 --json",
    options = function(cmd)
      cmd:argument("CONNECTION", "Base connection id or name."):argname("CONNECTION"):target "connection"
      cmd:argument("TABLE", "A table's path (from the listing)."):args("?"):argname("TABLE"):target "table"
      cmd:option("--preview", "Show N preview rows of TABLE."):argname "N":convert(positive_integer)
    end,
    run = function(ctx, args)
      if args.preview and not args.table then ctx:fail(EXIT.usage, "--preview needs a TABLE") end
      return explore(ctx, args)
    end,
  },
  {
    path = { "emulator" },
    summary = "Start the local emulator of IMS and Flow Service (every option of flowservice-emulator).",
    epilog = "  flowservice emulator --port 0\n"
      .. "  flowservice emulator --port 8443 --tls-cert server.pem --tls-key server.key\n"
      .. "  FLOWSERVICE_EMULATOR_CLIENT_SECRET=... flowservice emulator --client-id my-client\n"
      .. "The emulator's own options follow this help.",
    options = function(cmd)
      cmd:argument("OPTION", "Options of flowservice-emulator (see below)."):args("*"):argname("OPTION")
        :target "emulator_args"
    end,
    run = emulator,
  },
}
