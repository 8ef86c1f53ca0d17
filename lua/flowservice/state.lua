--- Desired state: a sandbox's base connections, source and target connections and dataflows,
-- described by name in one file; `export` writes it from a sandbox, `plan` compares it with what
-- the service returns (so it also shows changes made by hand), `apply` carries the plan out in
-- dependency order, each level's calls concurrently through `client:batch`.
--
-- The file (JSON, or a Lua chunk returning the same data; see `state.load`):
--
--     { "version": 1,
--       "managed": { "prefix": "osc-", "names": ["old flow"] },       -- what --prune may delete
--       "variables": { "dataset": { "default": "…", "values": { "dev": "…", "prod": "…" } } },
--       "connections": [ { "name", "spec", "auth_spec"?, "description"?, "auth": { … } } ],
--       "source_connections": [ { "name", "connection", "table"?, "format"?, "columns"?,
--                                 "description"? } ],
--       "target_connections": [ { "name", "dataset_id", "schema_id", "schema_version"?,
--                                 "description"? } ],
--       "flows": [ { "name", "flow_spec", "source", "target", "delta_column"?, "mapping_id"?,
--                    "mapping_version"?, "schedule": { "frequency", "interval"?, "backfill"?,
--                    "start_time"? }, "description"? } ] }
--
-- Any string value may be `{"$var": "NAME"}` (a variable: the value for the client's sandbox, or
-- for opts.profile, else its default; opts.variables overrides) or `{"$env": "NAME"}` (read from
-- the environment). Secret auth params must be `$env` references: the file never holds a
-- secret, and a plan never shows one. Names are the identity: a resource of the file is the one
-- of that kind with that name in the sandbox.
-- @module flowservice.state
local batch = require "flowservice.batch"
local compat = require "flowservice.compat"
local core = require "flowservice.core"
local errors = require "flowservice.errors"
local flows = require "flowservice.flows"
local json = require "flowservice.json"
local sensitive = require "flowservice.sensitive"
local specs = require "flowservice.specs"

local state = {}

-- The kinds in dependency order, with the file's section name and the client field.
local KINDS = {
  { section = "connections", field = "connections", kind = "connection", level = 1 },
  { section = "source_connections", field = "source_connections", kind = "source_connection", level = 2 },
  { section = "target_connections", field = "target_connections", kind = "target_connection", level = 2 },
  { section = "flows", field = "flows", kind = "flow", level = 3 },
}
local BY_KIND = {}
for _, k in ipairs(KINDS) do BY_KIND[k.kind] = k end

local CRM_FLOW_SPEC = { id = flows.CRM_FLOW_SPEC, name = "CRMToAEP" }
local XDM_FULL = "application/vnd.adobe.xed-full+json;version=1"
local FREQUENCIES = { once = true, minute = true, hour = true, day = true, week = true }
local MIN_INTERVAL = { minute = 15, hour = 1, day = 1, week = 1 }
local SOURCE_FORMATS = { tabular = true, delimited = true, json = true, parquet = true }
local SECRET_MASK = "****"
-- Seconds from now a created flow starts when the file gives no start_time.
local START_DELAY = 60
local DEFAULT_CONCURRENCY = 16
-- How often (seconds) a worker with nothing ready looks again while a dependency runs.
local WAIT_STEP = 0.002
-- A Lua desired-state file may run at most this many VM instructions (no endless loops).
local MAX_INSTRUCTIONS = 1000000
-- ... and hold at most this much memory (KiB) while it runs.
local MAX_KIB = 64 * 1024

-- Plans made here -> what apply needs but a printed plan must not show (create inputs, patches).
local internals = setmetatable({}, { __mode = "k" })

-- ---- Small helpers -----------------------------------------------------------------------------

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return setmetatable(c, getmetatable(v))
end

local function whole_number(v)
  if type(v) == "number" then return compat.tointeger(v) end
  if type(v) == "string" and v:match("^%d+$") then return compat.tointeger(tonumber(v)) end
  return nil
end

local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function ref_of(v, key)
  if type(v) == "table" and type(v[key]) == "string" and next(v, next(v)) == nil then return v[key] end
  return nil
end
local function env_ref(v) return ref_of(v, "$env") end
local function var_ref(v) return ref_of(v, "$var") end

local function slug(name, upper)
  local s = tostring(name):gsub("[^%w]+", "_"):gsub("^_+", ""):gsub("_+$", "")
  if s == "" or s:match("^%d") then s = "x_" .. s end
  return upper and s:upper() or s:lower()
end

-- ---- Loading: JSON, or a Lua chunk run as data only --------------------------------------------

-- Walks a loaded value: only strings, numbers, booleans, JSON null and plain tables.
local function data_only(v, path)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" or v == json.null then return true end
  if t ~= "table" then return nil, path .. ": a " .. t .. " is not data (only strings, numbers, booleans, tables)" end
  for k, x in pairs(v) do
    if type(k) ~= "string" and type(k) ~= "number" then return nil, path .. ": keys must be strings or numbers" end
    local ok, why = data_only(x, type(k) == "number" and path .. "[" .. k .. "]" or path .. "." .. k)
    if not ok then return nil, why end
  end
  return true
end

-- Runs a Lua chunk (text only) in an empty environment, with an instruction budget.
local function run_lua(text, name)
  if text:byte(1) == 27 then return nil, "binary chunks are not accepted" end
  local chunk, err
  if setfenv then -- luacheck: ignore 113 (5.1 and LuaJIT)
    chunk, err = loadstring(text, "=" .. name) -- luacheck: ignore 113
    if chunk then setfenv(chunk, {}) end -- luacheck: ignore 113
  else
    chunk, err = load(text, "=" .. name, "t", {})
  end
  -- a syntax error quotes the text "near" it: an unfinished string would show a secret's value
  if not chunk then return nil, (tostring(err):gsub(" near .*$", "")) end
  local co = coroutine.create(chunk)
  -- Checked at every instruction: the budget, and the memory the chunk holds (s = s .. s
  -- doubles a string in a handful of instructions).
  local steps, memory_at_start = 0, collectgarbage("count")
  local function guard()
    -- LuaJIT's hooks are global: the host's own code runs under it until it is put back
    if coroutine.running() ~= co then return end
    steps = steps + 1
    if steps > MAX_INSTRUCTIONS then
      error("the file runs too long (more than " .. MAX_INSTRUCTIONS .. " instructions): a desired-state "
        .. "file is data", 2)
    end
    if collectgarbage("count") - memory_at_start > MAX_KIB then
      error("the file uses more than " .. MAX_KIB .. " KiB: a desired-state file is data", 2)
    end
  end
  -- String methods ("x"):rep(n) reach past the empty environment through the string metatable:
  -- hidden while the chunk runs. LuaJIT's hooks are global: the host's hook is put back.
  local string_mt = getmetatable("")
  local string_index = string_mt and string_mt.__index
  local saved = rawget(_G, "jit") and compat.pack(debug.gethook())
  if string_mt then string_mt.__index = {} end
  debug.sethook(co, guard, "", 1)
  local ok, value = coroutine.resume(co)
  if saved then debug.sethook(compat.unpack(saved, 1, saved.n)) end
  if string_mt then string_mt.__index = string_index end
  if not ok then return nil, tostring(value) end
  if coroutine.status(co) ~= "dead" then return nil, "the file must not yield" end
  return value
end

--- Reads a desired state from text: JSON when it starts with `{`, else a Lua chunk returning a
-- table, run as data only (text, never bytecode; an empty environment: no functions, no globals;
-- a bounded number of instructions). Returns the table, or nil and a `validation` error naming
-- `name`. The result is not yet checked: `validate`, `plan` and `apply` do that.
-- @tparam string text
-- @tparam[opt="desired state"] string name for messages (a file name)
-- @treturn[1] table
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
function state.load(text, name)
  if type(text) ~= "string" then error("state.load: text: expected a string, got " .. type(text), 2) end
  name = name or "desired state"
  local value, why
  if text:match("^%s*{") then
    value, why = json.decode(text)
  else
    value, why = run_lua(text, name)
  end
  if value == nil then return nil, errors.validation(name, "cannot be read: " .. tostring(why)) end
  if type(value) ~= "table" then return nil, errors.validation(name, "must be an object (a table)") end
  local ok
  ok, why = data_only(value, name)
  if not ok then return nil, errors.validation(name, why) end
  return value
end

--- Reads a desired-state file (`state.load` on its content).
-- @tparam string path
-- @treturn[1] table
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
function state.read(path)
  if type(path) ~= "string" then error("state.read: path: expected a string", 2) end
  local f, err = io.open(path, "rb")
  if not f then return nil, errors.validation(path, "cannot be opened: " .. tostring(err)) end
  local text = f:read("*a")
  f:close()
  return state.load(text, path)
end

-- ---- Validation: every problem names its path, before anything is sent -------------------------

local function fail(path, rule) error({ state_problem = errors.validation(path, rule) }, 0) end

local NAME_PATTERN = "^[%a_][%w_]*$"

-- A string, or a {"$var"}/{"$env"} reference (checked here for shape, resolved later).
local function check_string(v, path, opts)
  if type(v) == "string" then
    if v == "" and not (opts and opts.empty) then fail(path, "must not be empty") end
    return
  end
  local ref = env_ref(v) or var_ref(v)
  if ref then
    if not ref:match(NAME_PATTERN) then fail(path, "a reference names a variable: letters, digits and _") end
    return
  end
  if type(v) == "table" then
    fail(path, "must be a string, {\"$var\": NAME} or {\"$env\": NAME}")
  end
  fail(path, "must be a string, got " .. (v == json.null and "null" or type(v)))
end

local function check_fields(t, path, allowed)
  if type(t) ~= "table" or (next(t) ~= nil and is_list(t)) then fail(path, "must be an object") end
  for _, k in ipairs(sorted_keys(t)) do
    if allowed[k] == nil then
      fail(path == "" and tostring(k) or path .. "." .. tostring(k), "unknown field (expected one of: "
        .. table.concat(sorted_keys(allowed), ", ") .. ")")
    end
  end
end

local function required_string(t, key, path)
  if t[key] == nil then fail(path .. "." .. key, "required") end
  check_string(t[key], path .. "." .. key)
end

local function optional_string(t, key, path, opts)
  if t[key] ~= nil then check_string(t[key], path .. "." .. key, opts) end
end

local function check_whole(v, path, min)
  local n = whole_number(v)
  if not n or n < min then fail(path, "must be a whole number of at least " .. min) end
  return n
end

local CONNECTION_FIELDS = { name = 1, spec = 1, auth_spec = 1, description = 1, auth = 1 }
local SOURCE_FIELDS = { name = 1, connection = 1, table = 1, format = 1, columns = 1, description = 1 }
local TARGET_FIELDS = { name = 1, dataset_id = 1, schema_id = 1, schema_version = 1, description = 1 }
local FLOW_FIELDS = {
  name = 1, flow_spec = 1, source = 1, target = 1, delta_column = 1, mapping_id = 1,
  mapping_version = 1, schedule = 1, description = 1,
}
local SCHEDULE_FIELDS = { frequency = 1, interval = 1, backfill = 1, start_time = 1 }
local DELTA_FIELDS = { name = 1, date_format = 1, timezone = 1 }

-- The secret param names of a connection's spec: the built-in catalogue's, plus any name that
-- looks secret. An unknown spec: only the names.
local function secret_params(spec, auth_spec)
  local set = {}
  local entry = type(spec) == "string" and specs.resolve(spec)
  if entry and entry.auth then
    local a = entry.auth[auth_spec or entry.default_auth_spec or ""]
    for name in pairs(a and a.secrets or {}) do set[name] = true end
  end
  return setmetatable(set, { __index = function(_, name) return sensitive.name(name) end })
end

local function check_connection(c, path)
  check_fields(c, path, CONNECTION_FIELDS)
  required_string(c, "name", path)
  required_string(c, "spec", path)
  if type(c.spec) == "string" then
    local entry, err = specs.resolve(c.spec)
    if not entry then fail(path .. ".spec", err.message:gsub("^[^:]*: ", "")) end
  end
  optional_string(c, "auth_spec", path)
  optional_string(c, "description", path, { empty = true })
  if c.auth ~= nil then
    check_fields(c.auth, path .. ".auth", setmetatable({}, { __index = function() return 1 end }))
    local secrets = secret_params(c.spec, c.auth_spec)
    for _, k in ipairs(sorted_keys(c.auth)) do
      local p, v = path .. ".auth." .. k, c.auth[k]
      if secrets[k] then
        if not env_ref(v) then
          fail(p, "a secret: must be a reference {\"$env\": \"NAME\"}, never a value in the file")
        end
      elseif type(v) ~= "number" and type(v) ~= "boolean" then
        check_string(v, p)
      end
    end
  end
end

local function check_source(s, path)
  check_fields(s, path, SOURCE_FIELDS)
  required_string(s, "name", path)
  required_string(s, "connection", path)
  optional_string(s, "table", path)
  optional_string(s, "description", path, { empty = true })
  if s.format ~= nil and not SOURCE_FORMATS[s.format] then
    fail(path .. ".format", "must be one of delimited, json, parquet, tabular")
  end
  if (s.format or "tabular") == "tabular" and s.table == nil then
    fail(path .. ".table", "required for a tabular source")
  end
  if s.columns ~= nil then
    if type(s.columns) ~= "table" or s.columns[1] == nil or not is_list(s.columns) then
      fail(path .. ".columns", "must be a non-empty list")
    end
  end
end

local function check_target(t, path)
  check_fields(t, path, TARGET_FIELDS)
  required_string(t, "name", path)
  required_string(t, "dataset_id", path)
  required_string(t, "schema_id", path)
  optional_string(t, "schema_version", path)
  optional_string(t, "description", path, { empty = true })
end

local function check_schedule(s, path)
  if s == nil then fail(path, "required ({ frequency, interval })") end
  check_fields(s, path, SCHEDULE_FIELDS)
  if not FREQUENCIES[s.frequency] then
    fail(path .. ".frequency", "must be one of once, minute, hour, day, week")
  end
  if s.frequency == "once" then
    if s.interval ~= nil then fail(path .. ".interval", "not allowed when frequency is once") end
    if s.backfill ~= nil then fail(path .. ".backfill", "not allowed when frequency is once") end
  elseif s.interval ~= nil then
    check_whole(s.interval, path .. ".interval", MIN_INTERVAL[s.frequency])
  end
  if s.backfill ~= nil and type(s.backfill) ~= "boolean" then fail(path .. ".backfill", "must be true or false") end
  if s.start_time ~= nil then check_whole(s.start_time, path .. ".start_time", 0) end
end

local function check_flow(f, path)
  check_fields(f, path, FLOW_FIELDS)
  for _, k in ipairs { "name", "flow_spec", "source", "target" } do required_string(f, k, path) end
  optional_string(f, "description", path, { empty = true })
  optional_string(f, "mapping_id", path)
  if f.mapping_version ~= nil then check_whole(f.mapping_version, path .. ".mapping_version", 0) end
  if f.mapping_version ~= nil and f.mapping_id == nil then
    fail(path .. ".mapping_version", "only with mapping_id")
  end
  check_schedule(f.schedule, path .. ".schedule")
  local d = f.delta_column
  if d ~= nil and type(d) == "table" and not env_ref(d) and not var_ref(d) then
    check_fields(d, path .. ".delta_column", DELTA_FIELDS)
    required_string(d, "name", path .. ".delta_column")
    optional_string(d, "date_format", path .. ".delta_column")
    optional_string(d, "timezone", path .. ".delta_column")
  elseif d ~= nil then
    check_string(d, path .. ".delta_column")
  end
  if f.flow_spec == CRM_FLOW_SPEC.name or f.flow_spec == CRM_FLOW_SPEC.id then
    local once = f.schedule.frequency == "once"
    if once and d ~= nil then fail(path .. ".delta_column", "not allowed when the schedule frequency is once") end
    if not once and d == nil then
      fail(path .. ".delta_column", "required by CRMToAEP unless the schedule frequency is once")
    end
  end
end

local CHECKS = {
  connection = check_connection, source_connection = check_source,
  target_connection = check_target, flow = check_flow,
}
local TOP_FIELDS = {
  version = 1, managed = 1, variables = 1, connections = 1, source_connections = 1,
  target_connections = 1, flows = 1,
}

local function check_variables(vars)
  check_fields(vars, "variables", setmetatable({}, { __index = function() return 1 end }))
  for _, name in ipairs(sorted_keys(vars)) do
    local path = "variables." .. tostring(name)
    if type(name) ~= "string" or not name:match(NAME_PATTERN) then
      fail(path, "a variable name: letters, digits and _")
    end
    local v = vars[name]
    if type(v) == "table" then
      check_fields(v, path, { default = 1, values = 1 })
      if v.default ~= nil then check_string(v.default, path .. ".default") end
      if v.values ~= nil then
        check_fields(v.values, path .. ".values", setmetatable({}, { __index = function() return 1 end }))
        for _, key in ipairs(sorted_keys(v.values)) do
          check_string(v.values[key], path .. ".values." .. tostring(key))
          if env_ref(v.values[key]) or var_ref(v.values[key]) then
            fail(path .. ".values." .. tostring(key), "must be a plain string")
          end
        end
      end
    else
      check_string(v, path)
    end
  end
end

local function check_managed(m)
  check_fields(m, "managed", { prefix = 1, names = 1 })
  if m.prefix ~= nil and (type(m.prefix) ~= "string" or m.prefix == "") then
    fail("managed.prefix", "must be a non-empty string")
  end
  if m.names ~= nil then
    if type(m.names) ~= "table" or not is_list(m.names) then fail("managed.names", "must be a list of names") end
    for i, n in ipairs(m.names) do
      if type(n) ~= "string" or n == "" then fail("managed.names[" .. i .. "]", "must be a non-empty string") end
    end
  end
end

local function validate(desired)
  check_fields(desired, "", TOP_FIELDS)
  if desired.version ~= nil and desired.version ~= 1 then fail("version", "must be 1") end
  if desired.variables ~= nil then check_variables(desired.variables) end
  if desired.managed ~= nil then check_managed(desired.managed) end
  local names = {}
  for _, k in ipairs(KINDS) do
    local list = desired[k.section]
    names[k.kind] = {}
    if list ~= nil then
      if type(list) ~= "table" or not is_list(list) then fail(k.section, "must be a list") end
      for i, item in ipairs(list) do
        local path = k.section .. "[" .. i .. "]"
        CHECKS[k.kind](item, path)
        if type(item.name) == "string" then
          if names[k.kind][item.name] then
            fail(path .. ".name", "repeats " .. k.section .. "[" .. names[k.kind][item.name] .. "].name: names "
              .. "identify resources")
          end
          names[k.kind][item.name] = i
        end
      end
    end
  end
  -- References by name must name a resource of the file.
  local function refers(list, section, key, kind)
    for i, item in ipairs(list or {}) do
      local v = item[key]
      if type(v) == "string" and not names[kind][v] then
        fail(section .. "[" .. i .. "]." .. key, "no " .. BY_KIND[kind].section .. " entry is named '" .. v .. "'")
      elseif type(v) ~= "string" then
        fail(section .. "[" .. i .. "]." .. key, "must be a name (not a reference)")
      end
    end
  end
  refers(desired.source_connections, "source_connections", "connection", "connection")
  refers(desired.flows, "flows", "source", "source_connection")
  refers(desired.flows, "flows", "target", "target_connection")
  return true
end

--- Checks a desired state (as `load` returns it) without sending anything. Returns true, or nil
-- and a `validation` error whose field is the path of the first problem, such as
-- `flows[2].schedule.interval`.
-- @tparam table desired
-- @treturn[1] boolean true
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
function state.validate(desired)
  if type(desired) ~= "table" then error("state.validate: desired: expected a table, got " .. type(desired), 2) end
  local ok, err = pcall(validate, desired)
  if ok then return true end
  if type(err) == "table" and err.state_problem then return nil, err.state_problem end
  error(err, 0)
end

-- ---- Resolving variables and references --------------------------------------------------------

local function getenv_of(env)
  if env == nil then return os.getenv end
  if type(env) == "function" then return env end
  return function(name) return env[name] end
end

-- The resolver for one sandbox/profile: value(v, path) -> v with $var (and non-secret $env)
-- references replaced; secret $env references stay for apply.
local function resolver(desired, ctx)
  local vars = desired.variables or {}
  local function variable(name, path)
    local given = ctx.variables[name]
    if given ~= nil then
      if type(given) ~= "string" then fail("variables." .. name, "a value passed in variables must be a string") end
      return given
    end
    local v = vars[name]
    if v == nil then fail(path, "names variable '" .. name .. "', which the file does not declare") end
    if type(v) ~= "table" or env_ref(v) or var_ref(v) then v = { default = v } end
    local value = v.values and v.values[ctx.key]
    if value == nil then value = v.default end
    if value == nil then
      fail(path, "variable '" .. name .. "' has no value for '" .. ctx.key .. "' (add variables." .. name
        .. ".values." .. ctx.key .. " or a default, or pass it in opts.variables / --var)")
    end
    return value
  end
  local function value(v, path)
    local name = var_ref(v)
    if name then v = variable(name, path) end
    name = env_ref(v)
    if name then
      local got = ctx.getenv(name)
      if got == nil or got == "" then fail(path, "the environment variable " .. name .. " is not set") end
      return got
    end
    return v
  end
  return value
end

-- The desired resources of one kind, resolved: list of { name, path, view, input, secrets }.
-- view: the fields compared with the service's (no secrets); input: what ensure takes, with
-- secret params still as {"$env"} references.
local function resolve_connection(c, path, value)
  local spec = value(c.spec, path .. ".spec")
  local entry, err = specs.resolve(spec)
  if not entry then fail(path .. ".spec", err.message:gsub("^[^:]*: ", "")) end
  local auth_spec = c.auth_spec and value(c.auth_spec, path .. ".auth_spec") or entry.default_auth_spec
  local secrets = secret_params(spec, auth_spec)
  local params, input_auth, secret_refs = {}, {}, {}
  for k, v in pairs(c.auth or {}) do
    if secrets[k] then
      if not env_ref(v) then
        fail(path .. ".auth." .. k, "a secret: must be a reference {\"$env\": \"NAME\"}, never a value in the file")
      end
      secret_refs[k] = env_ref(v)
      input_auth[k] = { ["$env"] = env_ref(v) }
    else
      params[k] = value(v, path .. ".auth." .. k)
      input_auth[k] = params[k]
    end
  end
  local description = c.description and value(c.description, path .. ".description")
  return {
    view = { spec = entry.id, auth_spec = auth_spec, params = params, description = description },
    input = { name = c.name, description = description, spec = spec, auth_spec = c.auth_spec and auth_spec,
      auth = c.auth and input_auth or nil },
    secrets = secret_refs,
  }
end

local function resolve_source(s, path, value)
  local description = s.description and value(s.description, path .. ".description")
  local view = {
    connection = s.connection, table = s.table and value(s.table, path .. ".table"),
    format = s.format or "tabular", columns = s.columns, description = description,
  }
  return {
    view = view,
    input = { name = s.name, description = description, table = view.table, format = s.format,
      columns = s.columns },
    depends = { { "connection", s.connection } },
  }
end

local function resolve_target(t, path, value)
  local view = {
    dataset_id = value(t.dataset_id, path .. ".dataset_id"),
    schema_id = value(t.schema_id, path .. ".schema_id"),
    schema_version = t.schema_version and value(t.schema_version, path .. ".schema_version") or XDM_FULL,
    description = t.description and value(t.description, path .. ".description"),
  }
  return {
    view = view,
    input = { name = t.name, description = view.description, dataset_id = view.dataset_id,
      schema_id = view.schema_id, schema_version = t.schema_version and view.schema_version },
  }
end

local function delta_view(d)
  if d == nil then return nil end
  if type(d) == "string" then return { name = d, date_format = "YYYY-MM-DD", timezone = "UTC" } end
  return { name = d.name, date_format = d.date_format or "YYYY-MM-DD", timezone = d.timezone or "UTC" }
end

local function resolve_flow(f, path, value, ctx)
  local fs = value(f.flow_spec, path .. ".flow_spec")
  local fs_id = ctx.flow_spec_id(fs, path .. ".flow_spec")
  local s = f.schedule
  local schedule = {
    frequency = s.frequency,
    interval = s.frequency ~= "once" and (whole_number(s.interval) or MIN_INTERVAL[s.frequency]) or nil,
    backfill = s.backfill,
    start_time = whole_number(s.start_time),
  }
  local delta = f.delta_column
  if delta ~= nil and (env_ref(delta) or var_ref(delta)) then delta = value(delta, path .. ".delta_column") end
  if type(delta) == "table" then
    delta = { name = value(delta.name, path .. ".delta_column.name"), date_format = delta.date_format,
      timezone = delta.timezone }
  end
  local mapping_id = f.mapping_id and value(f.mapping_id, path .. ".mapping_id")
  local view = {
    flow_spec = fs_id, source = f.source, target = f.target, delta_column = delta_view(delta),
    mapping_id = mapping_id, mapping_version = mapping_id and (whole_number(f.mapping_version) or 0) or nil,
    schedule = schedule, description = f.description and value(f.description, path .. ".description"),
  }
  return {
    view = view,
    input = { name = f.name, description = view.description, flow_spec = fs_id,
      delta_column = delta, mapping_id = mapping_id, mapping_version = view.mapping_version,
      schedule = schedule },
    depends = { { "source_connection", f.source }, { "target_connection", f.target } },
  }
end

local RESOLVERS = {
  connection = resolve_connection, source_connection = resolve_source,
  target_connection = resolve_target, flow = resolve_flow,
}

-- ---- Reading the sandbox -----------------------------------------------------------------------

-- Every resource of the four kinds and every flow spec, read concurrently. Returns
-- { [kind] = { by_name = { name -> {items} }, by_id = { id -> item }, items = {...} },
--   flow_specs = {...} } or nil, err.
local function read_sandbox(client, concurrency)
  local fields = { "connections", "source_connections", "target_connections", "flows", "flow_specs" }
  local calls = {}
  for i, f in ipairs(fields) do calls[i] = function() return client[f]:all() end end
  local results = client:batch(calls, { concurrency = math.min(concurrency, #calls) })
  local actual = {}
  for i = 1, #fields do
    local items, err = results[i][1], results[i][2]
    if not items then return nil, err end
    local set = { by_name = {}, by_id = {}, items = items }
    for _, item in ipairs(items) do
      if type(item.id) == "string" then set.by_id[item.id] = item end
      if type(item.name) == "string" then
        local same = set.by_name[item.name] or {}
        same[#same + 1] = item
        set.by_name[item.name] = same
      end
    end
    actual[i <= 4 and KINDS[i].kind or "flow_spec"] = set
  end
  return actual
end

local function name_of(actual, kind, id)
  local item = type(id) == "string" and actual[kind].by_id[id]
  return item and item.name or (id and "(id " .. tostring(id) .. ")")
end

-- The service's item as the same view resolve_* builds from the file.
local ACTUAL_VIEWS = {}

function ACTUAL_VIEWS.connection(item)
  local auth = type(item.auth) == "table" and item.auth or {}
  local spec = type(item.connectionSpec) == "table" and item.connectionSpec.id or nil
  local secrets = secret_params(spec, auth.specName)
  local params = {}
  for k, v in pairs(type(auth.params) == "table" and auth.params or {}) do
    if v ~= SECRET_MASK and not secrets[k] then params[k] = v end
  end
  return { spec = spec, auth_spec = auth.specName, params = params, description = item.description }
end

function ACTUAL_VIEWS.source_connection(item, actual)
  local params = type(item.params) == "table" and item.params or {}
  local columns = params.columns
  if type(columns) == "table" and next(columns) == nil then columns = nil end
  return {
    connection = name_of(actual, "connection", item.baseConnectionId), table = params.tableName,
    format = type(item.data) == "table" and item.data.format or nil, columns = columns,
    description = item.description,
  }
end

function ACTUAL_VIEWS.target_connection(item)
  local data = type(item.data) == "table" and item.data or {}
  local schema = type(data.schema) == "table" and data.schema or {}
  return {
    dataset_id = type(item.params) == "table" and item.params.dataSetId or nil,
    schema_id = schema.id, schema_version = schema.version, description = item.description,
  }
end

local function flow_transforms(item)
  local delta, mapping
  for _, t in ipairs(type(item.transformations) == "table" and item.transformations or {}) do
    local params = type(t) == "table" and type(t.params) == "table" and t.params or {}
    if t.name == "Copy" and type(params.deltaColumn) == "table" then
      local d = params.deltaColumn
      delta = { name = d.name, date_format = d.dateFormat, timezone = d.timezone }
    elseif t.name == "Mapping" then
      mapping = { id = params.mappingId, version = whole_number(params.mappingVersion) or params.mappingVersion }
    end
  end
  return delta, mapping
end

function ACTUAL_VIEWS.flow(item, actual)
  local sp = type(item.scheduleParams) == "table" and item.scheduleParams or {}
  local backfill = sp.backfill
  if backfill == "true" then backfill = true elseif backfill == "false" then backfill = false end
  local delta, mapping = flow_transforms(item)
  local first = function(list) return type(list) == "table" and list[1] or nil end
  return {
    flow_spec = type(item.flowSpec) == "table" and item.flowSpec.id or nil,
    source = name_of(actual, "source_connection", first(item.sourceConnectionIds)),
    target = name_of(actual, "target_connection", first(item.targetConnectionIds)),
    delta_column = delta, mapping_id = mapping and mapping.id, mapping_version = mapping and mapping.version,
    schedule = {
      frequency = sp.frequency, interval = whole_number(sp.interval) or sp.interval, backfill = backfill,
      start_time = whole_number(sp.startTime),
    },
    description = item.description,
  }
end

-- ---- Comparing: which fields differ, and how each is patched (or why it cannot be) -------------

local function op_for(path, old, new)
  if new == nil then return { op = "remove", path = path } end
  return { op = old == nil and "add" or "replace", path = path, value = new }
end

local function transformations_of(view)
  local list = json.array()
  local d = view.delta_column
  if d then
    list[#list + 1] = { name = "Copy", params = { deltaColumn = { name = d.name, dateFormat = d.date_format,
      timezone = d.timezone } } }
  end
  if view.mapping_id then
    list[#list + 1] = { name = "Mapping", params = { mappingId = view.mapping_id,
      mappingVersion = view.mapping_version or 0 } }
  end
  return list
end

-- Per kind: the compared fields in order. `get(view)` reads the value; `patch(old_view,
-- new_view, old, new)` gives the JSON Patch ops, or `replace` says why the service cannot patch it.
local function simple(key, pointer)
  return { key = key, get = function(v) return v[key] end,
    patch = function(_, _, old, new) return { op_for(pointer, old, new) } end }
end

local FIELDS = {
  connection = {
    { key = "spec", get = function(v) return v.spec end,
      replace = "Flow Service cannot change a connection's connection spec (FLOW-1414)" },
    { key = "auth_spec", get = function(v) return v.auth_spec end,
      replace = "a new auth spec needs new credentials: the connection must be created again" },
    simple("description", "/description"),
  },
  source_connection = {
    { key = "connection", get = function(v) return v.connection end,
      replace = "Flow Service cannot change a source connection's base connection" },
    simple("table", "/params/tableName"),
    simple("format", "/data/format"),
    simple("columns", "/params/columns"),
    simple("description", "/description"),
  },
  target_connection = {
    simple("dataset_id", "/params/dataSetId"),
    simple("schema_id", "/data/schema/id"),
    simple("schema_version", "/data/schema/version"),
    simple("description", "/description"),
  },
  flow = {
    { key = "flow_spec", get = function(v) return v.flow_spec end,
      replace = "Flow Service cannot change a dataflow's flow spec" },
    { key = "source", get = function(v) return v.source end,
      replace = "Flow Service cannot change a dataflow's source connection" },
    { key = "target", get = function(v) return v.target end,
      replace = "Flow Service cannot change a dataflow's target connection" },
    simple("description", "/description"),
  },
}
-- Flows' schedule and transformations: each field shown on its own; the transformations go in
-- one op (the service keeps them as one list).
for _, key in ipairs { "frequency", "interval", "backfill" } do
  local pointer = "/scheduleParams/" .. key
  FIELDS.flow[#FIELDS.flow + 1] = { key = "schedule." .. key, get = function(v) return v.schedule[key] end,
    patch = function(_, _, old, new) return { op_for(pointer, old, new) } end }
end
FIELDS.flow[#FIELDS.flow + 1] = { key = "schedule.start_time", only_when_given = true,
  get = function(v) return v.schedule.start_time end,
  patch = function(_, _, old, new)
    return { op_for("/scheduleParams/startTime", old, new and string.format("%d", new)) }
  end }
for _, key in ipairs { "delta_column", "mapping_id", "mapping_version" } do
  FIELDS.flow[#FIELDS.flow + 1] = { key = key, get = function(v) return v[key] end,
    patch = function(old_view, new_view)
      local had = old_view.delta_column or old_view.mapping_id
      return { op_for("/transformations", had and true or nil, transformations_of(new_view)) }
    end }
end

local function param_pointer(name)
  return "/auth/params/" .. name:gsub("~", "~0"):gsub("/", "~1")
end

-- Connections: each non-secret auth param is a field of its own.
local function param_fields(old_view, new_view)
  local keys, seen = {}, {}
  for _, v in ipairs { old_view.params, new_view.params } do
    for k in pairs(v) do
      if not seen[k] then seen[k], keys[#keys + 1] = true, k end
    end
  end
  table.sort(keys)
  local fields = {}
  for i, k in ipairs(keys) do
    local pointer = param_pointer(k)
    fields[i] = { key = "auth." .. k, get = function(v) return v.params[k] end,
      patch = function(_, _, old, new) return { op_for(pointer, old, new) } end }
  end
  return fields
end

-- The differences between the service's view and the file's: fields (shown), ops (sent),
-- replace (why not patchable, or nil).
local function diff(kind, old_view, new_view)
  local fields, ops, seen_ops, replace = {}, {}, {}, nil
  local list = FIELDS[kind]
  if kind == "connection" then
    list = {}
    for _, f in ipairs(FIELDS.connection) do list[#list + 1] = f end
    for _, f in ipairs(param_fields(old_view, new_view)) do list[#list + 1] = f end
  end
  for _, f in ipairs(list) do
    local old, new = f.get(old_view), f.get(new_view)
    if not (f.only_when_given and new == nil) and not deep_equal(old, new) then
      fields[#fields + 1] = { field = f.key, old = old, new = new }
      if f.replace then
        replace = replace or f.replace
      else
        for _, op in ipairs(f.patch(old_view, new_view, old, new)) do
          if not seen_ops[op.path] then
            seen_ops[op.path] = true
            ops[#ops + 1] = op
          end
        end
      end
    end
  end
  return fields, ops, replace
end

-- ---- plan --------------------------------------------------------------------------------------

local PLAN_OPTIONS = {
  variables = "table", profile = "string", env = "any", prune = "boolean", rotate_secrets = "boolean",
  concurrency = "number",
}

local function check_opts(opts, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(what .. ": options: expected a table, got " .. type(opts), 3) end
  for k, v in pairs(opts) do
    local expected = PLAN_OPTIONS[k]
    if expected == nil then
      error(what .. ": unknown option '" .. tostring(k) .. "' (expected one of: "
        .. table.concat(sorted_keys(PLAN_OPTIONS), ", ") .. ")", 3)
    end
    if expected ~= "any" and type(v) ~= expected then
      error(what .. ": " .. k .. ": expected " .. expected .. ", got " .. type(v), 3)
    end
  end
  if opts.env ~= nil and type(opts.env) ~= "table" and type(opts.env) ~= "function" then
    error(what .. ": env: expected a table or a function", 3)
  end
  local c = opts.concurrency
  if c ~= nil and (compat.tointeger(c) == nil or c < 1 or c > 64) then
    error(what .. ": concurrency: expected a whole number from 1 to 64", 3)
  end
  return opts
end

local function is_managed(managed, name)
  if not managed then return false end
  if managed.prefix and name:sub(1, #managed.prefix) == managed.prefix then return true end
  for _, n in ipairs(managed.names or {}) do
    if n == name then return true end
  end
  return false
end

-- The flows (items) that use a connection item of `kind`, directly or through a source connection.
local function flows_using(actual, kind, item)
  local users = {}
  for _, flow in ipairs(actual.flow.items) do
    local source_id = type(flow.sourceConnectionIds) == "table" and flow.sourceConnectionIds[1]
    local target_id = type(flow.targetConnectionIds) == "table" and flow.targetConnectionIds[1]
    local source = source_id and actual.source_connection.by_id[source_id]
    if (kind == "source_connection" and source_id == item.id)
        or (kind == "target_connection" and target_id == item.id)
        or (kind == "connection" and source and source.baseConnectionId == item.id) then
      users[#users + 1] = flow
    end
  end
  return users
end

local function plan(client, desired, opts)
  validate(desired)
  if opts.prune and not desired.managed then
    fail("managed", "required with prune: a name prefix or a list of names of the resources the file owns")
  end
  local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
  local actual, err = read_sandbox(client, concurrency)
  if not actual then return nil, err end
  local ctx = {
    variables = opts.variables or {}, key = opts.profile or client.config.sandbox,
    getenv = getenv_of(opts.env),
  }
  function ctx.flow_spec_id(fs, path)
    if specs.is_uuid(fs) then return fs end
    local found = actual.flow_spec.by_name[fs]
    if not found then fail(path, "no flow spec named '" .. fs .. "' in the sandbox") end
    return found[1].id
  end
  local value = resolver(desired, ctx)
  local changes, hidden, missing_env, missing_seen = json.array(), {}, json.array(), {}
  local function need_env(name)
    local v = ctx.getenv(name)
    if (v == nil or v == "") and not missing_seen[name] then
      missing_seen[name] = true
      missing_env[#missing_env + 1] = name
    end
  end
  local wanted, conn_specs = {}, {}
  for _, k in ipairs(KINDS) do
    wanted[k.kind] = {}
    for i, item in ipairs(desired[k.section] or {}) do
      local path = k.section .. "[" .. i .. "]"
      local r = RESOLVERS[k.kind](item, path, value, ctx)
      wanted[k.kind][item.name] = true
      local same = actual[k.kind].by_name[item.name] or {}
      local change = { kind = k.kind, name = item.name }
      local internal = { input = r.input, depends = r.depends or {}, secrets = r.secrets or {} }
      -- A source connection takes its base connection's spec: known here, so no GET of the base.
      if k.kind == "connection" then conn_specs[item.name] = r.view.spec end
      if k.kind == "source_connection" then internal.spec = conn_specs[item.connection] end
      if #same > 1 then
        change.action = "conflict"
        change.reason = #same .. " " .. k.section .. " are named '" .. item.name .. "': remove the extra ones"
      elseif #same == 0 then
        change.action = "create"
        change.fields = json.array()
        for _, f in ipairs(diff(k.kind, { params = {}, schedule = {} }, r.view)) do
          if f.new ~= nil then change.fields[#change.fields + 1] = { field = f.field, new = f.new } end
        end
        for _, param in ipairs(sorted_keys(r.secrets or {})) do
          change.fields[#change.fields + 1] = { field = "auth." .. param, secret = true }
          need_env(r.secrets[param])
        end
      else
        local current = same[1]
        change.id = current.id
        local old_view = ACTUAL_VIEWS[k.kind](current, actual)
        local fields, ops, replace = diff(k.kind, old_view, r.view)
        if opts.rotate_secrets then
          for _, param in ipairs(sorted_keys(r.secrets or {})) do
            fields[#fields + 1] = { field = "auth." .. param, secret = true }
            ops[#ops + 1] = { op = "replace", path = param_pointer(param), value = { ["$env"] = r.secrets[param] } }
            need_env(r.secrets[param])
          end
        end
        for _, f in ipairs(fields) do json.object(f) end
        change.fields = json.array(fields)
        if replace then
          change.action, change.reason = "replace", replace
        elseif #ops > 0 then
          change.action = "update"
        else
          change.action = "noop"
        end
        internal.ops, internal.etag = ops, current.etag
      end
      changes[#changes + 1] = change
      hidden[change] = internal
    end
  end
  if opts.prune then
    -- Deletes in reverse dependency order, each refused while a flow that stays uses it.
    local deleted = {}
    for i = #KINDS, 1, -1 do
      local k = KINDS[i]
      for _, item in ipairs(actual[k.kind].items) do
        if type(item.name) == "string" and not wanted[k.kind][item.name]
            and is_managed(desired.managed, item.name) then
          local change = { action = "delete", kind = k.kind, name = item.name, id = item.id }
          if k.kind ~= "flow" then
            local blocking = {}
            for _, flow in ipairs(flows_using(actual, k.kind, item)) do
              if not deleted[flow.id] then blocking[#blocking + 1] = flow.name end
            end
            if #blocking > 0 then
              table.sort(blocking)
              change.refused = "used by flows that stay: " .. table.concat(blocking, ", ")
              change.used_by = json.array(blocking)
            end
          end
          if not change.refused then deleted[item.id] = true end
          changes[#changes + 1] = change
          hidden[change] = { depends = {} }
        end
      end
    end
  end
  local summary = { create = 0, update = 0, replace = 0, delete = 0, noop = 0, conflict = 0 }
  for _, c in ipairs(changes) do summary[c.action] = summary[c.action] + 1 end
  local result = {
    sandbox = client.config.sandbox, changes = changes, missing_env = missing_env, summary = summary,
    pending = summary.create + summary.update + summary.replace + summary.delete + summary.conflict,
  }
  internals[result] = { hidden = hidden, opts = opts, sandbox = client.config.sandbox,
    org_id = client.config.org_id, base_url = client.config.base_url }
  return result
end

local function protected(fn, ...)
  local ok, res, err = pcall(fn, ...)
  if ok then return res, err end
  if type(res) == "table" and res.state_problem then return nil, res.state_problem end
  error(res, 0)
end

--- Compares a desired state with the sandbox the client points at. Sends only GETs (the four
-- resource lists and the flow specs, concurrently).
--
-- Returns a plan: `{ sandbox, changes = { ... }, summary = { create =, update =, replace =,
-- delete =, noop =, conflict = }, pending = n, missing_env = { NAME, ... } }`. Each change has
-- `action` (`create`, `update`, `replace`, `delete`, `noop`, or `conflict` when several resources
-- have the name), `kind` (`connection`, `source_connection`, `target_connection`, `flow`),
-- `name`, `id` (existing ones), `fields` (`{ field =, old =, new = }`; a secret shows as
-- `{ field =, secret = true }` and never a value), `reason` (a replace: which field the service
-- cannot patch) and, for a delete a flow still needs, `refused` and `used_by` (the flows' names).
-- A plan is plain data: `flowservice.json.encode(plan)` prints it. `missing_env` lists the
-- environment variables that secrets of creates and rotations name and that are not set.
-- @tparam flowservice.client client
-- @tparam table desired as `state.load` returns it
-- @tparam[opt] table opts `variables` (name -> value, overrides the file), `profile` (the key of
--   `variables.NAME.values` to use instead of the sandbox's name), `env` (a table or function
--   name -> value, default `os.getenv`), `prune` (deletes of managed resources not in the file),
--   `rotate_secrets` (send every secret again), `concurrency` (default 16)
-- @treturn[1] table the plan
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error a `validation` error naming the path, or a read failure
function state.plan(client, desired, opts)
  if type(client) ~= "table" or not client.connections then error("state.plan: client: expected a client", 2) end
  if type(desired) ~= "table" then error("state.plan: desired: expected a table, got " .. type(desired), 2) end
  opts = check_opts(opts, "state.plan")
  return protected(plan, client, desired, opts)
end

-- ---- apply -------------------------------------------------------------------------------------

-- Replaces {"$env": NAME} references (secrets) with their values, at the last moment.
local function with_secrets(v, getenv)
  local name = env_ref(v)
  if name then return getenv(name) end
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = with_secrets(x, getenv) end
  return setmetatable(c, getmetatable(v))
end

-- Runs one change; returns true, or nil and an error. ids[kind][name] has the ids so far.
local function run_change(client, change, internal, ids, getenv)
  local resources = client[BY_KIND[change.kind].field]
  if change.action == "delete" then
    if change.refused then
      return nil, errors.validation(change.kind .. " '" .. change.name .. "'", "not deleted: " .. change.refused)
    end
    local ok, err = resources:delete(change.id)
    if not ok and not (errors.is(err) and err.status == 404) then return nil, err end
    return true
  end
  if change.action == "update" then
    local res, err = resources:update(change.id, with_secrets(internal.ops, getenv), internal.etag)
    if not res then return nil, err end
    return true
  end
  if change.action == "replace" and change.kind ~= "flow" then
    return nil, errors.validation(change.kind .. " '" .. change.name .. "'", "needs replacing ("
      .. change.reason .. "): delete it or give it a new name in the file, then apply again")
  end
  if change.action == "replace" then -- a flow: nothing depends on it, delete then create
    local ok, err = resources:delete(change.id)
    if not ok and not (errors.is(err) and err.status == 404) then return nil, err end
  end
  local input = deep_copy(internal.input)
  if change.kind == "connection" then
    input.auth = with_secrets(input.auth, getenv)
  elseif change.kind == "source_connection" then
    input.base_connection_id = ids.connection[internal.depends[1][2]]
    input.spec = internal.spec
  elseif change.kind == "flow" then
    input.source_connection_id = ids.source_connection[internal.depends[1][2]]
    input.target_connection_id = ids.target_connection[internal.depends[2][2]]
    local s = input.schedule
    input.schedule = { frequency = s.frequency, interval = s.interval, backfill = s.backfill,
      start_time = s.start_time or os.time() + START_DELAY }
  end
  local res, err = resources:ensure(input)
  if not res then return nil, err end
  ids[change.kind][change.name] = res.id
  return true, nil, res
end

local function apply(client, given, opts)
  local the_plan = given
  if not internals[given] then
    local err
    the_plan, err = plan(client, given, opts)
    if not the_plan then return nil, err end
  end
  local inner = internals[the_plan]
  local where = client.config
  if inner.org_id ~= where.org_id or inner.sandbox ~= where.sandbox or inner.base_url ~= where.base_url then
    return nil, errors.validation("plan", "was made for sandbox " .. inner.sandbox .. " of " .. inner.org_id
      .. ", not for this client's sandbox " .. where.sandbox .. " of " .. where.org_id)
  end
  local getenv = getenv_of(inner.opts.env)
  if #the_plan.missing_env > 0 then
    return nil, errors.validation("env", "not set: " .. table.concat(the_plan.missing_env, ", ")
      .. " (secrets the plan needs; nothing was sent)")
  end
  local concurrency = opts.concurrency or inner.opts.concurrency or DEFAULT_CONCURRENCY
  local ids = {}
  for _, k in ipairs(KINDS) do ids[k.kind] = {} end
  for _, c in ipairs(the_plan.changes) do
    if c.id and c.action ~= "delete" and c.action ~= "replace" then ids[c.kind][c.name] = c.id end
  end
  local report = { done = json.array(), failed = json.array(), skipped = json.array() }
  local broken = {} -- kind -> name -> true: failed or skipped, so dependents are skipped
  for _, k in ipairs(KINDS) do broken[k.kind] = {} end
  local any_failed = false

  local function entry(c, extra)
    local e = { action = c.action, kind = c.kind, name = c.name, id = c.id }
    for key, v in pairs(extra or {}) do e[key] = v end
    return e
  end
  local function record(c, ok, err, res)
    if ok then
      local extra = nil
      if res then extra = { id = res.id, created = res.created, recovered = res.recovered } end
      report.done[#report.done + 1] = entry(c, extra)
    else
      any_failed = true
      broken[c.kind][c.name] = true
      report.failed[#report.failed + 1] = entry(c, { error = err })
    end
  end
  -- Runs `list` (in dependency order) on `concurrency` workers of one batch: each worker takes
  -- the first change whose dependencies in the list are done, so a flow starts as soon as its
  -- source and target are there, not when its whole level is. A change whose dependency
  -- failed or was skipped is skipped.
  local function run_changes(list)
    if #list == 0 then return end
    local in_list, status, first = {}, {}, 1
    for _, c in ipairs(list) do in_list[c.kind .. "\0" .. c.name] = c end
    local function blocked(c) -- nil (ready), "wait", or why it is skipped
      local state_of = "ready"
      for _, dep in ipairs(inner.hidden[c].depends or {}) do
        local label = BY_KIND[dep[1]].kind .. " '" .. dep[2] .. "'"
        if broken[dep[1]][dep[2]] then return label .. " was not applied" end
        local pending_dep = in_list[dep[1] .. "\0" .. dep[2]]
        if pending_dep and status[pending_dep] ~= "done" then
          state_of = "wait"
        elseif c.action ~= "delete" and not ids[dep[1]][dep[2]] then
          return label .. " does not exist"
        end
      end
      if state_of == "wait" then return "wait" end
      return nil
    end
    local function next_ready()
      while status[list[first]] ~= nil do first = first + 1 end
      local waiting = false
      for i = first, #list do
        local c = list[i]
        if status[c] == nil then
          local why = blocked(c)
          if why == nil then
            status[c] = "running"
            return c
          elseif why == "wait" then
            waiting = true
          else
            status[c] = "skipped"
            broken[c.kind][c.name] = true
            report.skipped[#report.skipped + 1] = entry(c, { reason = why })
          end
        elseif status[c] == "running" then
          waiting = true
        end
      end
      return nil, waiting
    end
    local function worker()
      while true do
        local c, waiting = next_ready()
        if c then
          record(c, run_change(client, c, inner.hidden[c], ids, getenv))
          status[c] = "done"
        elseif waiting then
          batch.sleep(WAIT_STEP, core.sleep) -- a dependency is still running in another worker
        else
          return
        end
      end
    end
    local workers = {}
    for i = 1, math.min(concurrency, #list) do workers[i] = worker end
    client:batch(workers, { concurrency = #workers })
  end

  local writes = {}
  for level = 1, 3 do
    for _, c in ipairs(the_plan.changes) do
      if BY_KIND[c.kind].level == level and c.action ~= "noop" and c.action ~= "delete" then
        if c.action == "conflict" then
          record(c, nil, errors.new { kind = "conflict", field = "name", message = c.reason })
        else
          writes[#writes + 1] = c
        end
      end
    end
  end
  run_changes(writes)
  -- Deletes last, flows first; none after a failed create or update (a refused or failed
  -- delete does not stop the others: the service itself refuses what a flow still uses).
  local no_deletes = any_failed
  for level = 3, 1, -1 do
    local list = {}
    for _, c in ipairs(the_plan.changes) do
      if c.action == "delete" and BY_KIND[c.kind].level == level then
        if no_deletes then
          report.skipped[#report.skipped + 1] = entry(c, { reason = "an earlier change failed: no deletes" })
        else
          list[#list + 1] = c
        end
      end
    end
    run_changes(list)
  end
  report.unchanged = the_plan.summary.noop
  report.ok = #report.failed == 0 and #report.skipped == 0
  return report
end

--- Carries out a plan (from `state.plan`), or plans a desired state and carries that out.
-- In dependency order: base connections, then source and target connections, then flows, each
-- level's changes concurrently through `client:batch`; then the plan's deletes (flows first).
-- Creates go through `ensure` (it looks before it creates, so a create that may have happened
-- is never repeated); updates are JSON Patches with the etag the plan read (a change since then
-- is a `conflict` error: plan again); a flow to replace is deleted and created again; a
-- connection to replace is refused (delete or rename it). A change whose dependency failed or
-- was skipped is skipped; after any failure nothing is deleted. Secrets are read from the
-- environment here; a missing one is a `validation` error before anything is sent.
--
-- Returns a report `{ ok, done = {...}, failed = {...}, skipped = {...} }` (each entry `action`,
-- `kind`, `name`, `id`; `error` for failed, `reason` for skipped; `created`/`recovered` for an
-- ensure), or nil and an error when nothing could be started (validation, the sandbox unreadable).
-- @tparam flowservice.client client
-- @tparam table plan_or_desired
-- @tparam[opt] table opts as for `plan` (with a desired state), and `concurrency`
-- @treturn[1] table the report
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
function state.apply(client, plan_or_desired, opts)
  if type(client) ~= "table" or not client.connections then error("state.apply: client: expected a client", 2) end
  if type(plan_or_desired) ~= "table" then
    error("state.apply: expected a plan or a desired state, got " .. type(plan_or_desired), 2)
  end
  opts = check_opts(opts, "state.apply")
  return protected(apply, client, plan_or_desired, opts)
end

-- ---- export ------------------------------------------------------------------------------------

-- Auth params whose values usually differ per sandbox: exported as variables.
local function per_sandbox_param(name)
  local lower = name:lower()
  for _, word in ipairs { "host", "url", "endpoint", "domain", "server", "instance" } do
    if lower:find(word, 1, true) then return true end
  end
  return false
end

local EXPORT_OPTIONS = { prefix = "string", names = "table", start_times = "boolean" }

local function export(client, filter)
  local actual, err = read_sandbox(client, 5)
  if not actual then return nil, err end
  local sandbox = client.config.sandbox
  -- A file exported by prefix owns that prefix (what prune may delete).
  local out = { version = 1, variables = {}, managed = filter.prefix and { prefix = filter.prefix } or nil }
  local taken = {}
  local function variable(base, v)
    local name, n = slug(base), 1
    while taken[name] do
      n = n + 1
      name = slug(base) .. "_" .. n
    end
    taken[name] = true
    out.variables[name] = { values = { [sandbox] = v } }
    return { ["$var"] = name }
  end
  local env_taken = {}
  local function env_name(base)
    local name, n = slug(base, true), 1
    while env_taken[name] do
      n = n + 1
      name = slug(base, true) .. "_" .. n
    end
    env_taken[name] = true
    return name
  end
  local function selected(item)
    if type(item.name) ~= "string" then return false end
    if filter.names then
      for _, n in ipairs(filter.names) do
        if n == item.name then return true end
      end
      return false
    end
    return not filter.prefix or item.name:sub(1, #filter.prefix) == filter.prefix
  end
  -- What is exported: the selected resources and what they depend on; unnamed or duplicate
  -- names are left out (a file names each resource once).
  local chosen = { connection = {}, source_connection = {}, target_connection = {}, flow = {} }
  local function choose(kind, item)
    if item and type(item.name) == "string" and #actual[kind].by_name[item.name] == 1 then
      chosen[kind][item.id] = item
      return true
    end
    return false
  end
  local function first_id(list) return type(list) == "table" and list[1] or "" end
  for _, flow in ipairs(actual.flow.items) do
    if selected(flow) then
      local s = actual.source_connection.by_id[first_id(flow.sourceConnectionIds)]
      local t = actual.target_connection.by_id[first_id(flow.targetConnectionIds)]
      local b = s and actual.connection.by_id[s.baseConnectionId or ""]
      if b and t and choose("connection", b) and choose("source_connection", s) and choose("target_connection", t) then
        choose("flow", flow)
      end
    end
  end
  for _, s in ipairs(actual.source_connection.items) do
    local b = actual.connection.by_id[s.baseConnectionId or ""]
    if selected(s) and b and choose("connection", b) then choose("source_connection", s) end
  end
  for _, k in ipairs { "connection", "target_connection" } do
    for _, item in ipairs(actual[k].items) do
      if selected(item) then choose(k, item) end
    end
  end
  local function sorted_items(kind)
    local list = {}
    for _, item in pairs(chosen[kind]) do list[#list + 1] = item end
    table.sort(list, function(a, b) return a.name < b.name end)
    return list
  end
  local flow_spec_names = {}
  for _, fs in ipairs(actual.flow_spec.items) do
    if type(fs.name) == "string" and #actual.flow_spec.by_name[fs.name] == 1 then flow_spec_names[fs.id] = fs.name end
  end

  out.connections = json.array()
  for _, item in ipairs(sorted_items("connection")) do
    local view = ACTUAL_VIEWS.connection(item)
    local entry = specs.resolve(view.spec or "")
    local c = { name = item.name, spec = entry and entry.alias or view.spec, description = view.description }
    if entry and view.auth_spec ~= entry.default_auth_spec then c.auth_spec = view.auth_spec end
    local params = type(item.auth) == "table" and type(item.auth.params) == "table" and item.auth.params or nil
    if params then
      c.auth = {}
      for _, k in ipairs(sorted_keys(params)) do
        if view.params[k] == nil then
          c.auth[k] = { ["$env"] = env_name(item.name .. "_" .. k) }
        elseif per_sandbox_param(k) and type(params[k]) == "string" then
          c.auth[k] = variable(item.name .. "_" .. k, params[k])
        else
          c.auth[k] = params[k]
        end
      end
    end
    out.connections[#out.connections + 1] = c
  end
  out.source_connections = json.array()
  for _, item in ipairs(sorted_items("source_connection")) do
    local v = ACTUAL_VIEWS.source_connection(item, actual)
    out.source_connections[#out.source_connections + 1] = { name = item.name, connection = v.connection,
      table = v.table, format = v.format ~= "tabular" and v.format or nil, columns = v.columns,
      description = v.description }
  end
  out.target_connections = json.array()
  for _, item in ipairs(sorted_items("target_connection")) do
    local v = ACTUAL_VIEWS.target_connection(item)
    out.target_connections[#out.target_connections + 1] = { name = item.name,
      dataset_id = variable(item.name .. "_dataset_id", v.dataset_id),
      schema_id = variable(item.name .. "_schema_id", v.schema_id),
      schema_version = v.schema_version ~= XDM_FULL and v.schema_version or nil, description = v.description }
  end
  out.flows = json.array()
  for _, item in ipairs(sorted_items("flow")) do
    local v = ACTUAL_VIEWS.flow(item, actual)
    local d = v.delta_column
    if d and d.date_format == "YYYY-MM-DD" and d.timezone == "UTC" then d = d.name end
    local schedule = { frequency = v.schedule.frequency, interval = v.schedule.interval,
      backfill = v.schedule.backfill, start_time = filter.start_times and v.schedule.start_time or nil }
    out.flows[#out.flows + 1] = { name = item.name, flow_spec = flow_spec_names[v.flow_spec] or v.flow_spec,
      source = v.source, target = v.target, delta_column = d,
      mapping_id = v.mapping_id and variable(item.name .. "_mapping_id", v.mapping_id),
      mapping_version = v.mapping_id and v.mapping_version ~= 0 and v.mapping_version or nil,
      schedule = schedule, description = v.description }
  end
  if next(out.variables) == nil then out.variables = nil end
  return out
end

--- Reads the sandbox the client points at and returns it as a desired state (the table `plan`
-- and `apply` take; `flowservice.json.encode` writes the file). Secrets become `{"$env": NAME}`
-- references (NAME from the connection's and the param's names, e.g. `OSC_PASSWORD`); values
-- that differ between sandboxes (host-like auth params, dataset and schema ids, mapping ids)
-- become variables with this sandbox's value, so another sandbox's values are added next to it.
-- Flows' `start_time` is left out (a start in the past cannot be created elsewhere) unless
-- `filter.start_times`. A selected flow brings its source, target and base connection along.
-- With `filter.prefix`, the file's `managed.prefix` is that prefix (what `prune` may delete).
-- @tparam flowservice.client client
-- @tparam[opt] table filter `prefix` (names starting with it), `names` (a list of names),
--   `start_times` (boolean)
-- @treturn[1] table the desired state
-- @return[2] nil
-- @treturn[2] flowservice.errors.Error
function state.export(client, filter)
  if type(client) ~= "table" or not client.connections then error("state.export: client: expected a client", 2) end
  if filter ~= nil then
    if type(filter) ~= "table" then error("state.export: filter: expected a table, got " .. type(filter), 2) end
    for k, v in pairs(filter) do
      if EXPORT_OPTIONS[k] == nil or type(v) ~= EXPORT_OPTIONS[k] then
        error("state.export: filter: '" .. tostring(k) .. "': expected one of prefix (string), names (table), "
          .. "start_times (boolean)", 2)
      end
    end
  end
  return export(client, filter or {})
end

state.KINDS = { "connection", "source_connection", "target_connection", "flow" }

return state
