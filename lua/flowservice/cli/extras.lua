-- Commands around the resource ones: `api` (any Flow Service endpoint through the client, so with
-- its headers, retries, limits and secret handling), `completion` (bash, zsh and fish scripts
-- from argparse's own generators) and `man` (a man page made from the commands' help).
local flowservice = require "flowservice"
local output = require "flowservice.cli.output"

local json = flowservice.json
local EXIT = output.EXIT

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }

local function percent_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "NAME=VALUE" pairs into a query table (a name given twice becomes a list).
local function add_query(query, name, value)
  local old = query[name]
  if old == nil then
    query[name] = value
  elseif type(old) == "table" then
    old[#old + 1] = value
  else
    query[name] = { old, value }
  end
end

local function api(ctx, args)
  local method = args.method:upper()
  if not METHODS[method] then ctx:fail(EXIT.usage, "METHOD must be GET, POST, PUT, PATCH or DELETE") end
  local path, query_text = args.path:match("^([^?]*)%??(.*)$")
  if path:sub(1, 1) ~= "/" then
    ctx:fail(EXIT.usage, "PATH is relative to /data/foundation/flowservice and starts with / (e.g. /flows)")
  end
  local query = {}
  for pair in query_text:gmatch("[^&]+") do
    local name, value = pair:match("^([^=]*)=?(.*)$")
    add_query(query, percent_decode(name), percent_decode(value))
  end
  for _, pair in ipairs(args.query) do
    local name, value = pair:match("^([^=]+)=(.*)$")
    if not name then ctx:fail(EXIT.usage, "--query expects NAME=VALUE") end
    add_query(query, name, value)
  end
  local body
  if args.body_stdin then
    local text = ctx.streams.stdin:read("*a") or ""
    local why
    body, why = json.decode_exact(text)
    if body == nil then ctx:fail(EXIT.usage, "--body-stdin: not JSON: " .. tostring(why)) end
  end
  local headers = args.if_match and { ["If-Match"] = args.if_match } or nil
  local req = { method = method, path = path, query = next(query) and query or nil, body = body, headers = headers }
  if ctx:dry { req } then return EXIT.ok end
  local result = ctx:must(ctx:client():request(req))
  -- the response body (true when there was none: printed as {})
  output.json(ctx.streams, result == true and json.object() or result)
  return EXIT.ok
end

local function completion(ctx, args)
  local parser = ctx.parser
  local script = ({ bash = parser.get_bash_complete, zsh = parser.get_zsh_complete,
    fish = parser.get_fish_complete })[args.shell](parser)
  ctx.streams.stdout:write(script)
  return EXIT.ok
end

-- roff: a line starting with . or ' is a request, and \ escapes.
local function roff(text)
  return (text:gsub("\\", "\\e"):gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

local function man(ctx)
  local out = ctx.streams.stdout
  local parser, parsers = ctx.parser, ctx.parsers
  out:write('.TH FLOWSERVICE 1 "" "flowservice ', flowservice.VERSION, '" "User Commands"\n')
  out:write(".SH NAME\nflowservice \\- drive Adobe Experience Platform's Flow Service from the shell\n")
  out:write(".SH SYNOPSIS\n.B flowservice\n[\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIVERB\\fR] [\\fIoptions\\fR]\n")
  out:write(".SH DESCRIPTION\n.nf\n", roff(parser:get_help()), "\n.fi\n.SH COMMANDS\n")
  for _, name in ipairs(parsers) do
    out:write(".SS flowservice ", name, "\n.nf\n", roff(parsers[name]:get_help()), "\n.fi\n")
  end
  out:write(".SH FILES\n.TP\n$XDG_CONFIG_HOME/flowservice/config\nprofiles (see flowservice config show --help)\n",
    ".TP\n$XDG_CACHE_HOME/flowservice/token-*\nthe cached IMS token (flowservice token --forget removes it)\n")
  return EXIT.ok
end

return {
  {
    path = { "api" }, sends = true,
    summary = "Call any Flow Service endpoint with the client's headers, retries, limits and secret handling; "
      .. "prints the response body as JSON.",
    epilog = "  flowservice api GET /flows\n  flowservice api GET '/flows?property=state==enabled&limit=5'\n"
      .. "  flowservice api POST /flows/FLOW_ID/action --query op=disable\n"
      .. "  flowservice api PATCH /flows/FLOW_ID --if-match '\"etag\"' --body-stdin < patch.json",
    options = function(cmd)
      cmd:argument("METHOD", "GET, POST, PUT, PATCH or DELETE."):argname("METHOD"):target "method"
      cmd:argument("PATH", "Path under /data/foundation/flowservice, with an optional ?query."):argname("PATH")
        :target "path"
      cmd:option("--query", "A query parameter, repeatable."):argname("NAME=VALUE"):count "*"
      cmd:flag("--body-stdin", "Send the JSON on stdin as the body (empty arrays kept as []).")
      cmd:option("--if-match", "The If-Match header (an etag), for PATCH and DELETE."):argname "ETAG"
    end,
    run = api,
  },
  {
    path = { "completion" },
    summary = "Print a shell completion script for bash, zsh or fish.",
    epilog = "  source <(flowservice completion bash)\n"
      .. "  flowservice completion zsh > \"${fpath[1]}/_flowservice\"\n"
      .. "  flowservice completion fish > ~/.config/fish/completions/flowservice.fish",
    options = function(cmd)
      cmd:argument("SHELL", "bash, zsh or fish."):argname("SHELL"):target("shell"):choices { "bash", "zsh", "fish" }
    end,
    run = completion,
  },
  {
    path = { "man" },
    summary = "Print the man page (roff), made from every command's help.",
    epilog = "  flowservice man > ~/.local/share/man/man1/flowservice.1 && man flowservice",
    run = man,
  },
}
