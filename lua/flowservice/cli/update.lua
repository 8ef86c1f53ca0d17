-- `update` for base connections, source and target connections and flows: what Adobe's update
-- pages document, as one JSON Patch sent with If-Match (the etag given, or read just before).
--   every kind  --name, --description
--   flows       --frequency, --interval, --start (members of /scheduleParams)
--   connections the credentials: "Update a base connection" (Flow Service API guide,
--               https://experienceleague.adobe.com/docs/experience-platform/sources/api-tutorials/update.html)
--               replaces /auth/params as a whole object. A GET shows secret params masked, so
--               they cannot be carried over: every secret param is given again (--password-stdin,
--               --param-env NAME=VAR, or a prompt on a terminal); plain params not given are
--               kept from the GET.
local flowservice = require "flowservice"
local output = require "flowservice.cli.output"
local params = require "flowservice.cli.params"
local refs = require "flowservice.cli.refs"
local resource = require "flowservice.resource"
local schedule = require "flowservice.cli.schedule"

local EXIT = output.EXIT
local specs = flowservice.specs

-- JSON Pointer of a member (RFC 6901 escapes).
local function pointer(...)
  local parts = {}
  for i, name in ipairs { ... } do parts[i] = (name:gsub("~", "~0"):gsub("/", "~1")) end
  return "/" .. table.concat(parts, "/")
end

-- The auth spec a stored connection uses (from the built-in catalogue, else the service's spec).
local function auth_spec_of(ctx, item)
  local spec_id = type(item.connectionSpec) == "table" and item.connectionSpec.id
  local auth_name = type(item.auth) == "table" and item.auth.specName
  if type(spec_id) ~= "string" or type(auth_name) ~= "string" then
    ctx:fail(EXIT.server, "the connection has no connectionSpec.id or auth.specName to rotate against")
  end
  local entry = specs.resolve(spec_id)
  if not entry or entry.unknown then
    entry = ctx:must(specs.resolve(ctx:must(ctx:client().connection_specs:get(spec_id))))
  end
  local auth = entry.auth and entry.auth[auth_name]
  if not auth then ctx:fail(EXIT.server, "connection spec " .. spec_id .. " has no auth spec '" .. auth_name .. "'") end
  return spec_id, auth_name, auth
end

-- The new /auth/params: the stored plain params, the ones given, and every secret given again.
local function rotated_params(ctx, args, item)
  local spec_id, auth_name, auth = auth_spec_of(ctx, item)
  args.spec, args.auth_spec = spec_id, auth_name -- what params.collect reads the spec from
  local given = params.collect(ctx, args) or {}
  local stored = type(item.auth.params) == "table" and item.auth.params or {}
  local new, missing = {}, {}
  for name, value in pairs(stored) do
    if not params.is_secret(auth, name) then new[name] = value end
  end
  for name, value in pairs(given) do new[name] = value end
  local required = {}
  for _, name in ipairs(type(auth.schema.required) == "table" and auth.schema.required or {}) do
    required[name] = true
  end
  for name in pairs(auth.secrets) do
    if new[name] == nil and (stored[name] ~= nil or required[name]) then missing[#missing + 1] = name end
  end
  table.sort(missing)
  if #missing > 0 then
    ctx:fail(EXIT.usage, "rotating credentials replaces /auth/params as a whole and a GET shows secrets masked: "
      .. "give every secret param again (missing: " .. table.concat(missing, ", ")
      .. "; use --password-stdin or --param-env NAME=VAR)")
  end
  return ctx:must(auth.check(new))
end

local function has_credentials(args)
  return args.password_stdin or #(args.param or {}) > 0 or #(args.param_env or {}) > 0
end

return function(kind)
  local is_flow, is_connection = kind.field == "flows", kind.field == "connections"
  local examples = "  flowservice " .. kind.group .. " update ID_OR_NAME --name 'New name'\n"
    .. "  flowservice " .. kind.group .. " update ID --description 'nightly' --etag '\"8c1d...\"'"
  if is_flow then
    examples = examples .. "\n  flowservice flows update 'OSC to Platform' --frequency hour --interval 2"
  elseif is_connection then
    examples = examples .. "\n  flowservice connections update OSC --password-stdin < new-password.txt"
      .. "\n  NEW_PW=... flowservice connections update OSC --param username=svc2 --param-env password=NEW_PW"
  end
  return {
    summary = "Change a " .. kind.noun .. "'s name or description"
      .. (is_flow and ", or its schedule" or is_connection and ", or rotate its credentials" or "")
      .. " (JSON Patch with If-Match).", sends = true,
    epilog = examples,
    options = function(cmd)
      local label = "ID_OR_NAME"
      cmd:argument(label, "The " .. kind.noun .. "'s id or name."):argname(label):target "ref"
      cmd:option("--name", "New name."):argname "NAME"
      cmd:option("--description", "New description."):argname "TEXT"
      if is_flow then schedule.options(cmd, false) end
      if is_connection then
        cmd:option("--param", "A plain auth param to change (not a secret)."):argname "NAME=VALUE":count "*"
        cmd:option("--param-env", "An auth param read from an environment variable.")
          :argname "NAME=VAR":count "*"
        cmd:flag("--password-stdin", "Read the password (the spec's secret param) from stdin, one line.")
      end
      cmd:option("--etag", "The etag you read (default: read it now; a stale one is a conflict)."):argname "ETAG"
    end,
    run = function(ctx, args)
      local ops = {}
      local function add(path, value) ops[#ops + 1] = { op = "add", path = path, value = value } end
      if args.name then add(pointer("name"), args.name) end
      if args.description then add(pointer("description"), args.description) end
      if is_flow then
        for _, member in ipairs(schedule.members(args)) do add(pointer("scheduleParams", member[1]), member[2]) end
      end
      local rotate = is_connection and has_credentials(args)
      if #ops == 0 and not rotate then
        ctx:fail(EXIT.usage, "nothing to change: give --name, --description"
          .. (is_flow and ", --frequency, --interval or --start" or "")
          .. (is_connection and ", or credentials (--password-stdin, --param-env, --param)" or ""))
      end
      local id = refs.resolve(ctx, kind.field, args.ref)
      local resources = ctx:client()[kind.field]
      if args.dry_run then
        if rotate then add(pointer("auth", "params"), "<the stored plain params, and those given>") end
        ctx:dry { { method = "PATCH", path = kind.path .. "/" .. id, body = ctx:must(resource._patch_body(ops)),
          headers = { ["If-Match"] = args.etag or "<etag read with GET first>" } } }
        return EXIT.ok
      end
      local etag = args.etag
      if rotate or not etag then
        local item = ctx:must(resources:get(id))
        etag = etag or item.etag
        if rotate then
          ops[#ops + 1] = { op = "replace", path = pointer("auth", "params"), value = rotated_params(ctx, args, item) }
        end
      end
      local updated = ctx:must(resources:update(id, ops, etag))
      return ctx:print(updated, function() output.item(ctx.streams, updated) end)
    end,
  }
end
