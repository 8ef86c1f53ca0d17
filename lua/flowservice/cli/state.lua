-- The desired-state commands: export, plan FILE, apply FILE (flowservice.state). Secrets come
-- from the environment variables the file's {"$env": NAME} references name, never from flags.
local flowservice = require "flowservice"
local output = require "flowservice.cli.output"
local state = require "flowservice.state"

local json = flowservice.json
local EXIT = output.EXIT

-- What plan and apply read first (the only requests plan sends): for --dry-run.
local READS = {
  { method = "GET", path = "/connections" }, { method = "GET", path = "/sourceConnections" },
  { method = "GET", path = "/targetConnections" }, { method = "GET", path = "/flows" },
  { method = "GET", path = "/flowSpecs" },
}

local function variables(ctx, list)
  local vars = {}
  for _, v in ipairs(list or {}) do
    local name, value = v:match("^([%a_][%w_]*)=(.*)$")
    if not name then ctx:fail(EXIT.usage, "--var: expected NAME=VALUE") end
    vars[name] = value
  end
  return vars
end

local function plan_options(ctx, args)
  return {
    variables = variables(ctx, args.var), profile = args.profile, env = ctx.getenv,
    prune = args.prune or nil, rotate_secrets = args.rotate_secrets or nil,
  }
end

local function shown(v)
  if v == nil then return "(none)" end
  return json.encode(v) or "?"
end

local SIGN = { create = "+", update = "~", replace = "-/+", delete = "-", conflict = "!" }

-- The plan for people: one line per change that is not a noop, its fields below it.
local function print_plan(out, plan)
  for _, c in ipairs(plan.changes) do
    if c.action ~= "noop" then
      out:write(SIGN[c.action], " ", c.action, " ", c.kind, " \"", c.name, "\"")
      if c.reason then out:write(": ", c.reason) end
      if c.refused then out:write(" (refused: ", c.refused, ")") end
      out:write("\n")
      for _, f in ipairs(c.fields or {}) do
        if f.secret then
          out:write("    ", f.field, ": (secret", c.action == "update" and ", sent again" or "", ")\n")
        elseif c.action == "create" then
          out:write("    ", f.field, ": ", shown(f.new), "\n")
        else
          out:write("    ", f.field, ": ", shown(f.old), " -> ", shown(f.new), "\n")
        end
      end
    end
  end
  local s = plan.summary
  out:write(("Plan for sandbox %s: %d to create, %d to update, %d to replace, %d to delete, %d unchanged%s.\n")
    :format(plan.sandbox, s.create, s.update, s.replace, s.delete, s.noop,
      s.conflict > 0 and (", " .. s.conflict .. " in conflict") or ""))
  if #plan.missing_env > 0 then
    out:write("Missing environment variables (secrets): ", table.concat(plan.missing_env, ", "), "\n")
  end
end

local function read_desired(ctx, path)
  return ctx:must(state.read(path))
end

-- JSON with one member or element per line and two-space indents (keys sorted, as
-- json.encode sorts them): a file people review and diff.
local function pretty(value, indent)
  if type(value) ~= "table" or value == json.null then return assert(json.encode(value)) end
  local mt = getmetatable(value)
  local n, is_array = 0, mt and mt.__jsontype == "array"
  for _ in pairs(value) do n = n + 1 end
  if n == 0 then return is_array and "[]" or "{}" end
  if not (mt and mt.__jsontype == "object") and n == #value then is_array = true end
  local inner, parts = indent .. "  ", {}
  if is_array then
    for i = 1, n do parts[i] = inner .. pretty(value[i], inner) end
    return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = inner .. assert(json.encode(k)) .. ": " .. pretty(value[k], inner) end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

local function export_command(ctx, args)
  if ctx:dry(READS) then return EXIT.ok end
  local filter = { prefix = args.prefix, start_times = args.start_times or nil }
  if args.name and #args.name > 0 then filter.names = args.name end
  local desired = ctx:must(state.export(ctx:client(), filter))
  if args.json then
    output.json(ctx.streams, desired)
  else
    ctx.streams.stdout:write(pretty(desired, ""), "\n")
  end
  return EXIT.ok
end

local function plan_command(ctx, args)
  local desired = read_desired(ctx, args.file)
  ctx:must(state.validate(desired))
  if ctx:dry(READS) then return EXIT.ok end
  local plan = ctx:must(state.plan(ctx:client(), desired, plan_options(ctx, args)))
  return ctx:print(plan, function() print_plan(ctx.streams.stdout, plan) end)
end

local function report_entry(e)
  local out = { action = e.action, kind = e.kind, name = e.name, id = e.id, reason = e.reason,
    created = e.created, recovered = e.recovered }
  if e.error then out.error = tostring(e.error) end
  return out
end

local function apply_command(ctx, args)
  local desired = read_desired(ctx, args.file)
  ctx:must(state.validate(desired))
  if ctx:dry(READS) then return EXIT.ok end
  local client = ctx:client()
  local plan = ctx:must(state.plan(client, desired, plan_options(ctx, args)))
  if #plan.missing_env > 0 then
    ctx:fail(EXIT.validation, "not set: " .. table.concat(plan.missing_env, ", ")
      .. " (secrets the plan needs; nothing was sent)")
  end
  local out = args.json and ctx.streams.stderr or ctx.streams.stdout
  if plan.pending == 0 then
    if args.json then
      output.json(ctx.streams, { ok = true, done = json.array(), failed = json.array(), skipped = json.array(),
        unchanged = plan.summary.noop })
    else
      out:write("No changes: sandbox ", plan.sandbox, " matches ", args.file, ".\n")
    end
    return EXIT.ok
  end
  if not args.yes then
    if not ctx:isatty("stdin") then
      ctx:fail(EXIT.usage, "apply changes the sandbox: give --yes (stdin is not a terminal, so it cannot ask)")
    end
    print_plan(out, plan)
    ctx.streams.stderr:write("Apply these changes to sandbox ", plan.sandbox, "? Type yes: ")
    ctx.streams.stderr:flush()
    local answer = ctx.streams.stdin:read("*l")
    if not answer or answer:gsub("%s+", ""):lower() ~= "yes" then
      ctx.streams.stderr:write("flowservice: not applied\n")
      return EXIT.usage
    end
  end
  local report = ctx:must(state.apply(client, plan))
  if args.json then
    local doc = { ok = report.ok, unchanged = report.unchanged }
    for _, list in ipairs { "done", "failed", "skipped" } do
      doc[list] = json.array()
      for i, e in ipairs(report[list]) do doc[list][i] = report_entry(e) end
    end
    output.json(ctx.streams, doc)
  else
    for _, e in ipairs(report.done) do
      out:write("done     ", e.action, " ", e.kind, " \"", e.name, "\"",
        e.recovered and " (found after an ambiguous create)" or "", "\n")
    end
    for _, e in ipairs(report.failed) do
      out:write("failed   ", e.action, " ", e.kind, " \"", e.name, "\": ",
        (tostring(e.error):gsub("[\r\n]+", " ")), "\n")
    end
    for _, e in ipairs(report.skipped) do
      out:write("skipped  ", e.action, " ", e.kind, " \"", e.name, "\": ", e.reason, "\n")
    end
    out:write(("Applied: %d done, %d failed, %d skipped.\n"):format(#report.done, #report.failed, #report.skipped))
  end
  if report.ok then return EXIT.ok end
  return report.failed[1] and output.exit_code(report.failed[1].error) or EXIT.server
end

local function file_options(cmd)
  cmd:argument("file", "Desired-state file: JSON, or Lua returning the same data."):argname "FILE"
  cmd:option("--var", "Variable value, overriding the file's (repeatable)."):argname "NAME=VALUE"
    :count "*"
  cmd:option("--profile", "Which values of the file's variables to use (default: the sandbox's name).")
    :argname "NAME"
  cmd:flag("--prune", "Also delete managed resources that are not in the file (see the file's `managed`).")
  cmd:flag("--rotate-secrets", "Send every secret again (a GET masks secrets, so a plan cannot see a change).")
end

return {
  {
    path = { "export" }, sends = true,
    summary = "Write the sandbox's connections, source/target connections and flows as a desired-state file (JSON).",
    epilog = "  flowservice --sandbox dev export > dev.json\n  flowservice export --prefix osc- > osc.json",
    options = function(cmd)
      cmd:option("--prefix", "Only resources whose name starts with PREFIX (and what they use)."):argname "PREFIX"
      cmd:option("--name", "Only this resource (and what it uses); repeatable."):argname "NAME":count "*"
      cmd:flag("--start-times", "Keep flows' start times (by default left out: a past start cannot be created).")
    end,
    run = export_command,
  },
  {
    path = { "plan" }, sends = true,
    summary = "Show what apply would change in the sandbox to match FILE (drift included); changes nothing.",
    epilog = "  flowservice --sandbox stage plan dev.json\n  flowservice plan dev.json --json --var dataset=5f7e...",
    options = file_options,
    run = plan_command,
  },
  {
    path = { "apply" }, sends = true,
    summary = "Change the sandbox to match FILE: base, then source/target connections, then flows.",
    epilog = "  flowservice --sandbox stage apply dev.json          # shows the plan and asks\n"
      .. "  OSC_PASSWORD=... flowservice apply dev.json --yes --prune",
    options = function(cmd)
      file_options(cmd)
      cmd:flag("--yes", "Apply without asking (needed when stdin is not a terminal).")
    end,
    run = apply_command,
  },
}
