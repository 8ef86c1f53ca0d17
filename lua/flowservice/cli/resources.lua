-- The resource commands, described once as a table: for each kind its command group, the
-- client field, the API path, the columns of its table, how `create` reads its options, and
-- which verbs it has. The verbs (create, list, get, update, delete, test, enable, disable,
-- watch) are written once below and shared by every kind that has them.
local flowservice = require "flowservice"
local dryrun = require "flowservice.cli.dryrun"
local output = require "flowservice.cli.output"
local params = require "flowservice.cli.params"
local refs = require "flowservice.cli.refs"
local schedule = require "flowservice.cli.schedule"
local resource = require "flowservice.resource"

local EXIT = output.EXIT

local function first(list)
  return type(list) == "table" and list[1] or nil
end

local function spec_name(item)
  local id = type(item.connectionSpec) == "table" and item.connectionSpec.id
  local entry = id and flowservice.specs.resolve(id)
  return entry and (entry.alias or entry.name) or id
end

local function param(name)
  return function(item) return type(item.params) == "table" and item.params[name] or nil end
end

local NAME_ID = { { title = "ID", value = "id" }, { title = "NAME", value = "name" } }

local function columns(...)
  local out = { NAME_ID[1], NAME_ID[2] }
  for _, c in ipairs { ... } do out[#out + 1] = c end
  return out
end

---------------------------------------------------------------------------------------------------
-- create: each kind's options and how they become the library's create input
---------------------------------------------------------------------------------------------------

-- Options create (and ensure) cannot do without are required (usage error, exit 2, when missing),
-- and shown without brackets in the usage line.
local function common_create_options(cmd)
  cmd:option("--name", "Name of the new resource."):argname("NAME"):count(1)
  cmd:option("--description", "Description."):argname "TEXT"
end

local whole_positive = schedule.whole_positive


local CREATE = {
  connections = {
    options = function(cmd)
      common_create_options(cmd)
      cmd:option("--spec", "Connection spec alias (oracle-service-cloud, ...) or id."):argname("SPEC"):count(1)
      cmd:option("--auth-spec", "Auth spec name, when the spec has several."):argname "NAME"
      cmd:option("--param", "A plain auth param (not a secret)."):argname "NAME=VALUE":count "*"
      cmd:option("--param-env", "An auth param read from an environment variable.")
        :argname "NAME=VAR":count "*"
      cmd:flag("--password-stdin", "Read the password (the spec's secret param) from stdin, one line.")
    end,
    input = function(ctx, args)
      return { name = args.name, description = args.description, spec = args.spec, auth_spec = args.auth_spec,
        auth = params.collect(ctx, args) }
    end,
    epilog = "  flowservice connections create --spec oracle-service-cloud --name OSC \\\n"
      .. "      --param host=example.custhelp.com --param username=svc-user --password-stdin < pw.txt\n"
      .. "  OSC_PASSWORD=... flowservice connections create --spec oracle-service-cloud --name OSC \\\n"
      .. "      --param host=example.custhelp.com --param username=svc-user --param-env password=OSC_PASSWORD\n"
      .. "  flowservice connections create ... --dry-run     # show the request, password masked",
  },
  source_connections = {
    options = function(cmd)
      common_create_options(cmd)
      cmd:option("--connection", "Base connection id or name."):argname("CONNECTION"):count(1)
      cmd:option("--table", "Table path (from flowservice explore CONNECTION)."):argname("TABLE"):count(1)
      cmd:option("--columns", "Comma-separated columns to read (default all)."):argname "LIST"
      cmd:option("--format", "Data format (default tabular)."):argname "FORMAT"
      cmd:option("--spec", "Connection spec (default: the base connection's)."):argname "SPEC"
    end,
    input = function(ctx, args)
      local cols
      if args.columns then
        cols = {}
        for c in args.columns:gmatch("[^,]+") do cols[#cols + 1] = c end
      end
      return { name = args.name, description = args.description, table = args.table, columns = cols,
        format = args.format, spec = args.spec,
        base_connection_id = args.connection and refs.resolve(ctx, "connections", args.connection) }
    end,
    epilog = "  flowservice source-connections create --name 'OSC incidents' --connection OSC --table incidents",
  },
  target_connections = {
    options = function(cmd)
      common_create_options(cmd)
      cmd:option("--dataset", "Dataset id (Catalog Service)."):argname("ID"):count(1)
      cmd:option("--schema", "The dataset's XDM schema $id."):argname("ID"):count(1)
      cmd:option("--schema-version", "Schema version (default application/vnd.adobe.xed-full+json;version=1).")
        :argname "VERSION"
      cmd:option("--spec", "Target connection spec id (default the data lake)."):argname "ID"
    end,
    input = function(_, args)
      return { name = args.name, description = args.description, dataset_id = args.dataset,
        schema_id = args.schema, schema_version = args.schema_version, spec = args.spec }
    end,
    epilog = "  flowservice target-connections create --name 'Incidents dataset' \\\n"
      .. "      --dataset 5f7e0d1c2b3a4d5e6f708192 --schema https://ns.adobe.com/tenant/schemas/0d1c2b3a",
  },
  flows = {
    options = function(cmd)
      common_create_options(cmd)
      cmd:option("--source", "Source connection id or name."):argname("SOURCE"):count(1)
      cmd:option("--target", "Target connection id or name."):argname("TARGET"):count(1)
      cmd:option("--flow-spec", "Flow spec id or name.", "CRMToAEP"):argname "SPEC"
      cmd:option("--delta-column", "Column that tells new rows (needed unless --frequency once)."):argname "COLUMN"
      cmd:option("--mapping", "Data Prep mapping set id."):argname "ID"
      schedule.options(cmd, true)
    end,
    input = function(ctx, args)
      return { name = args.name, description = args.description, flow_spec = args.flow_spec,
        source_connection_id = args.source and refs.resolve(ctx, "source_connections", args.source),
        target_connection_id = args.target and refs.resolve(ctx, "target_connections", args.target),
        delta_column = args.delta_column, mapping_id = args.mapping,
        schedule = { start_time = args.start, frequency = args.frequency, interval = args.interval } }
    end,
    epilog = "  flowservice flows create --name 'OSC to Platform' --source 'OSC incidents' \\\n"
      .. "      --target 'Incidents dataset' --delta-column updatedTime --mapping 8c1d0e2f3a4b\n"
      .. "  flowservice flows create ... --frequency once",
  },
  runs = require "flowservice.cli.runcreate",
}

---------------------------------------------------------------------------------------------------
-- The kinds
---------------------------------------------------------------------------------------------------

local run_status = require("flowservice.runs").status -- == client.runs.status

local KINDS = {
  {
    group = "connections", field = "connections", path = "/connections", noun = "base connection",
    verbs = { "create", "ensure", "list", "get", "update", "delete", "test" },
    columns = columns({ title = "SPEC", value = spec_name }, { title = "STATE", value = "state" },
      { title = "CREATED", value = "createdAt" }),
  },
  {
    group = "source-connections", field = "source_connections", path = "/sourceConnections",
    noun = "source connection", verbs = { "create", "ensure", "list", "get", "update", "delete" },
    columns = columns({ title = "BASE CONNECTION", value = "baseConnectionId" },
      { title = "TABLE", value = param("tableName") }),
  },
  {
    group = "target-connections", field = "target_connections", path = "/targetConnections",
    noun = "target connection", verbs = { "create", "ensure", "list", "get", "update", "delete" },
    columns = columns({ title = "DATASET", value = param("dataSetId") }),
  },
  {
    group = "flows", field = "flows", path = "/flows", noun = "dataflow",
    verbs = { "create", "ensure", "list", "get", "update", "enable", "disable", "delete" },
    columns = columns({ title = "STATE", value = "state" },
      { title = "SOURCE", value = function(f) return first(f.sourceConnectionIds) end },
      { title = "TARGET", value = function(f) return first(f.targetConnectionIds) end }),
  },
  {
    group = "runs", field = "runs", path = "/runs", noun = "run", no_names = true,
    verbs = { "create", "list", "get", "watch" },
    columns = {
      { title = "ID", value = "id" }, { title = "FLOW", value = "flowId" },
      { title = "STATUS", value = run_status }, { title = "CREATED", value = "createdAt" },
      { title = "RECORDS IN", value = function(r)
        local m = type(r.metrics) == "table" and r.metrics.recordSummary
        return type(m) == "table" and m.inputRecordCount or nil
      end },
    },
  },
}

---------------------------------------------------------------------------------------------------
-- The verbs
---------------------------------------------------------------------------------------------------

local function ref_argument(kind)
  return function(cmd)
    local label = kind.no_names and "ID" or "ID_OR_NAME"
    cmd:argument(label, kind.no_names and "The " .. kind.noun .. "'s id." or "The " .. kind.noun .. "'s id or name.")
      :argname(label):target "ref"
  end
end

local function resolve(ctx, kind, ref)
  if kind.no_names then return ref end
  return refs.resolve(ctx, kind.field, ref)
end

-- A result as JSON with --json, else as "field: value" lines.
local function print_item(ctx, item)
  return ctx:print(item, function() output.item(ctx.streams, item) end)
end

local function with_id(path, id)
  return path .. "/" .. id
end

local VERBS = {}

VERBS.create = function(kind)
  local how = CREATE[kind.field]
  return {
    summary = "Create a " .. kind.noun .. "; prints its id and etag.", sends = true,
    options = how.options, epilog = how.epilog,
    run = function(ctx, args)
      local input = how.input(ctx, args)
      local class = getmetatable(ctx:client()[kind.field])
      if args.dry_run then
        local body = ctx:must(class.def.build_body(input, dryrun.lookup_client()))
        ctx:dry { { method = "POST", path = kind.path, body = body } }
        return EXIT.ok
      end
      local created = ctx:must(ctx:client()[kind.field]:create(input))
      return print_item(ctx, created)
    end,
  }
end

-- ensure: create's options, and the library's ensure (look by name, and spec, before creating;
-- an ambiguous create is looked for again, never sent blindly twice).
VERBS.ensure = function(kind)
  local how = CREATE[kind.field]
  return {
    summary = "Create a " .. kind.noun .. " unless one with this name exists; prints its id and whether it "
      .. "was created (exit 0 either way).", sends = true,
    options = how.options,
    epilog = "  flowservice " .. kind.group .. " ensure --name NAME ...   # the options of create\n"
      .. "  flowservice --json " .. kind.group .. " ensure ...   # {\"id\", \"etag\", \"created\": true|false}",
    run = function(ctx, args)
      local input = how.input(ctx, args)
      local resources = ctx:client()[kind.field]
      if args.dry_run then
        local body = ctx:must(getmetatable(resources).def.build_body(input, dryrun.lookup_client()))
        local look = { method = "GET", path = kind.path,
          query = ctx:must(resources:_list_query { property = resource._identity_filters(body) }) }
        ctx:dry { look, { method = "POST", path = kind.path, body = body } }
        return EXIT.ok
      end
      local result = ctx:must(resources:ensure(input))
      local view = { id = result.id, etag = result.etag, created = result.created == true,
        recovered = result.recovered == true or nil }
      return ctx:print(view, function()
        local out = ctx.streams.stdout
        if view.recovered then
          out:write("created ", view.id, " (found after an ambiguous create)\n")
        else
          out:write(view.created and "created " or "found ", view.id,
            view.created and "\n" or " (it already existed)\n")
        end
      end)
    end,
  }
end

VERBS.list = function(kind)
  return {
    summary = "List " .. kind.noun .. "s (every page).", sends = true,
    epilog = "  flowservice " .. kind.group .. " list\n  flowservice " .. kind.group .. " list --json"
      .. (kind.field == "runs" and "\n  flowservice runs list --flow 'OSC to Platform' --max-items 5" or
        "\n  flowservice " .. kind.group .. " list --filter 'name==\"My name\"' --orderby -createdAt"),
    options = function(cmd)
      cmd:option("--filter", "A property filter (field==value, ...), repeatable."):argname "FILTER":count "*"
      cmd:option("--orderby", "Sort field, - for descending."):argname "FIELD"
      -- Not --limit: the library's `limit` (and the API's) is the page size, and one name keeps one
      -- meaning across both.
      cmd:option("--max-items", "Print at most N items (stops reading pages)."):argname "N":convert(whole_positive)
      cmd:option("--page-size", "Items per page the service returns (the library's limit, 1 to 1000).")
        :argname("N"):convert(whole_positive)
      if kind.field == "runs" then cmd:option("--flow", "Only the runs of this flow (id or name)."):argname "FLOW" end
    end,
    run = function(ctx, args)
      local page = args.page_size or args.max_items
      local opts = { orderby = args.orderby, limit = page and math.min(page, 1000) or nil }
      if #args.filter > 0 then opts.property = args.filter end
      if args.flow then opts.flow_id = refs.resolve(ctx, "flows", args.flow) end
      local query = ctx:must(ctx:client()[kind.field]:_list_query(opts)) -- what list sends
      if ctx:dry { { method = "GET", path = kind.path, query = query } } then return EXIT.ok end
      local items = output.list()
      for item, err in ctx:client()[kind.field]:list(opts) do
        ctx:must(item, err)
        items[#items + 1] = item
        if args.max_items and #items >= args.max_items then break end
      end
      return ctx:print(items, function() output.table(ctx.streams, kind.columns, items) end)
    end,
  }
end

VERBS.get = function(kind)
  return {
    summary = "Show one " .. kind.noun .. ".", sends = true, options = ref_argument(kind),
    epilog = "  flowservice " .. kind.group .. " get " .. (kind.no_names and "ID" or "ID_OR_NAME")
      .. "\n  flowservice " .. kind.group .. " get ID --json",
    run = function(ctx, args)
      local id = resolve(ctx, kind, args.ref)
      if ctx:dry { { method = "GET", path = with_id(kind.path, id) } } then return EXIT.ok end
      local item = ctx:must(ctx:client()[kind.field]:get(id))
      return print_item(ctx, item)
    end,
  }
end

VERBS.delete = function(kind)
  return {
    summary = "Delete a " .. kind.noun .. ".", sends = true, options = ref_argument(kind),
    epilog = "  flowservice " .. kind.group .. " delete ID_OR_NAME",
    run = function(ctx, args)
      local id = resolve(ctx, kind, args.ref)
      if ctx:dry { { method = "DELETE", path = with_id(kind.path, id) } } then return EXIT.ok end
      ctx:must(ctx:client()[kind.field]:delete(id))
      return ctx:print({ id = id, deleted = true }, function() ctx.streams.stdout:write("deleted ", id, "\n") end)
    end,
  }
end

VERBS.update = require "flowservice.cli.update"

VERBS.test = function(kind)
  return {
    summary = "Ask the service to test the connection's credentials against the source.", sends = true,
    options = ref_argument(kind), epilog = "  flowservice connections test OSC",
    run = function(ctx, args)
      local id = resolve(ctx, kind, args.ref)
      if ctx:dry { { method = "GET", path = with_id(kind.path, id) .. "/test" } } then return EXIT.ok end
      local result = ctx:must(ctx:client().connections:test(id))
      ctx:print({ id = id, result = result }, function()
        ctx.streams.stdout:write(result and "ok: the service reached the source\n" or "failed: the source refused\n")
      end)
      return result and EXIT.ok or EXIT.validation
    end,
  }
end

local function action(op)
  return function(kind)
    return {
      summary = (op == "enable" and "Enable" or "Disable") .. " a dataflow (its schedule "
        .. (op == "enable" and "runs again)." or "makes no new runs)."), sends = true,
      options = ref_argument(kind), epilog = "  flowservice flows " .. op .. " ID_OR_NAME",
      run = function(ctx, args)
        local id = resolve(ctx, kind, args.ref)
        if ctx:dry { { method = "POST", path = with_id(kind.path, id) .. "/action", query = { op = op } } } then
          return EXIT.ok
        end
        local res = ctx:must(ctx:client().flows[op](ctx:client().flows, id))
        return print_item(ctx, res)
      end,
    }
  end
end
VERBS.enable, VERBS.disable = action("enable"), action("disable")

VERBS.watch = require "flowservice.cli.watch"

---------------------------------------------------------------------------------------------------
-- Command definitions for cli/init.lua
---------------------------------------------------------------------------------------------------

local defs = {}
for _, kind in ipairs(KINDS) do
  for _, verb in ipairs(kind.verbs) do
    local def = VERBS[verb](kind)
    def.path = { kind.group, verb }
    defs[#defs + 1] = def
  end
end

return defs
