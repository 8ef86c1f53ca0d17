-- `config show`: the settings a command would use and where each came from (flag, environment,
-- profile, credentials file, default), secrets masked. Sends nothing.
local flowservice = require "flowservice"
local credentials = require "flowservice.cli.credentials"
local output = require "flowservice.cli.output"
local token_cache = require "flowservice.token_cache"

local EXIT = output.EXIT

-- The library's defaults, and what no proxy or CA file means, shown when nothing gave a value.
local DEFAULTS = { proxy = "(none)", ca_file = "(the system's CA store)" }
for name, value in pairs(require("flowservice.client").DEFAULTS) do DEFAULTS[name] = value end

-- Shown, in this order; `secret` ones are never shown, only whether they are set.
local SETTINGS = {
  { "base_url" }, { "ims_url" }, { "org_id" }, { "client_id" }, { "sandbox" }, { "scopes" }, { "proxy" },
  { "ca_file" }, { "client_secret", secret = true }, { "access_token", secret = true }, { "api_key" },
}

-- A URL may carry user:password@: the password is masked, up to the last '@' (a password
-- may hold '@' or '/' unencoded).
local function mask_userinfo(value)
  return (value:gsub("^(%a[%w+.-]*://)(.*)@", function(scheme, userinfo)
    return scheme .. (userinfo:match("^([^:]*)") or "") .. ":[redacted]@"
  end))
end

local function show(ctx)
  local opts, sources, path = credentials.resolve(ctx.args, ctx.getenv, function(m) ctx:warn(m) end)
  if not opts then ctx:fail(EXIT.usage, sources) end
  local view = {
    profile = sources.profile_name or "(none)", config_file = sources.config_file or "(none: HOME is not set)",
    credentials_file = path and (path .. " (" .. sources.credentials .. ")") or "(none)",
    token_cache = (function()
      local getenv = function(n) local v = ctx.getenv(n) return v ~= "" and v or nil end
      local dir = token_cache.default_dir(getenv)
      return dir or "(off: HOME is not set)"
    end)(),
    settings = {},
  }
  for _, s in ipairs(SETTINGS) do
    local name, value = s[1], opts[s[1]]
    local shown
    if value == nil then
      shown = DEFAULTS[name]
    elseif s.secret then
      shown = "[redacted]"
    elseif name == "proxy" or name == "base_url" or name == "ims_url" then
      shown = mask_userinfo(value)
    else
      shown = value
    end
    view.settings[name] = { value = shown or flowservice.json.null,
      source = value ~= nil and sources[name] or (DEFAULTS[name] and "default" or "not set") }
  end
  return ctx:print(view, function()
    local out = ctx.streams.stdout
    output.item(ctx.streams, { profile = view.profile, config_file = view.config_file,
      credentials_file = view.credentials_file, token_cache = view.token_cache })
    local rows = {}
    for i, s in ipairs(SETTINGS) do
      local v = view.settings[s[1]]
      rows[i] = { name = s[1], value = v.value, source = v.source }
    end
    out:write("\n")
    output.table(ctx.streams, { { title = "SETTING", value = "name" }, { title = "VALUE", value = "value" },
      { title = "FROM", value = "source" } }, rows)
  end)
end

return {
  {
    path = { "config", "show" },
    summary = "Show the settings in use and where each came from (secrets masked); sends nothing.",
    epilog = "  flowservice config show\n  flowservice --profile prod config show --json\n"
      .. "Config file ($XDG_CONFIG_HOME/flowservice/config), data only:\n"
      .. "  [default]\n  credentials = ~/aep/dev-credentials.json\n  sandbox = dev\n\n"
      .. "  [profile prod]\n  credentials = ~/aep/prod-credentials.json\n  sandbox = prod\n"
      .. "  proxy = http://proxy.example.com:3128\n  ca_file = /etc/ssl/corp-ca.pem",
    run = show,
  },
}
