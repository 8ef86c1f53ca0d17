-- Where the command line's configuration comes from, in order of precedence: flags, the
-- environment (the library's AEP_* variables, plus AEP_CREDENTIALS_FILE, AEP_PROXY,
-- AEP_CA_FILE), the profile of the config file (cli/config.lua), then the JSON file the Adobe
-- Developer Console downloads for an OAuth Server-to-Server credential. Secrets never come from
-- flags (ps and shell history would show them), nor from the config file.
--
-- The downloaded file ("Download JSON" on the credential's page) is one object with upper-case
-- members, e.g. as read by datajoin-org/aezpz (aezpz/api.py, load_config_file) and Adobe's
-- Postman tooling (CLIENT_SECRETS as a list, the first one used; SCOPES as a list):
--   { "CLIENT_ID": "...", "CLIENT_SECRETS": ["p8e-..."], "ORG_ID": "...@AdobeOrg",
--     "SCOPES": ["openid", "AdobeID", ...], "TECHNICAL_ACCOUNT_ID": "...@techacct.adobe.com",
--     "TECHNICAL_ACCOUNT_EMAIL": "..." }
-- API_KEY is read when CLIENT_ID is missing. The sandbox is not in the file (--sandbox or
-- AEP_SANDBOX, default prod).
local flowservice = require "flowservice"
local token_cache = require "flowservice.token_cache"
local config = require "flowservice.cli.config"

local json = flowservice.json

local credentials = {}

-- Client option -> flag field (argparse target), in the order they are documented.
credentials.FLAGS = {
  { "base_url", "base_url" }, { "ims_url", "ims_url" }, { "org_id", "org_id" },
  { "client_id", "client_id" }, { "sandbox", "sandbox" }, { "scopes", "scopes" },
}
-- The library's environment variables (client.lua ENV), read here so precedence is decided once.
local ENV = {
  base_url = "AEP_BASE_URL", ims_url = "AEP_IMS_URL", org_id = "AEP_ORG_ID",
  client_id = "AEP_CLIENT_ID", sandbox = "AEP_SANDBOX", scopes = "AEP_SCOPES",
  client_secret = "AEP_CLIENT_SECRET", access_token = "AEP_ACCESS_TOKEN", api_key = "AEP_API_KEY",
}
credentials.ENV = ENV
credentials.FILE_ENV = "AEP_CREDENTIALS_FILE"

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

-- True when group or others may read the file (like ssh, which refuses such key files; we warn).
local function readable_by_others(path)
  local p = io.popen("stat -L -c %a -- " .. shell_quote(path) .. " 2>/dev/null")
  if not p then return false end
  local mode = p:read("*l")
  p:close()
  local group, other = (mode or ""):match("(%d)(%d)$")
  if not group then return false end
  return tonumber(group) % 8 >= 4 or tonumber(other) % 8 >= 4
end

local function nonempty_string(v)
  return type(v) == "string" and v ~= "" and v or nil
end

-- Reads a Developer Console credential file. Returns { client_id, client_secret, org_id,
-- scopes, technical_account_id } (fields may be nil), or nil and a message that never
-- shows the file's contents. `warn(message)` is called when the file is readable by others.
function credentials.read(path, warn)
  local f, open_err = io.open(path, "rb")
  if not f then return nil, "cannot read the credentials file: " .. open_err end
  local text = f:read("*a") or ""
  f:close()
  if readable_by_others(path) then
    warn("warning: the credentials file " .. path .. " is readable by other users; "
      .. "run: chmod 600 " .. path)
  end
  local doc = json.decode(text)
  if type(doc) ~= "table" then
    return nil, "the credentials file " .. path .. " is not a JSON object (expected the file the "
      .. "Developer Console downloads for an OAuth Server-to-Server credential)"
  end
  local secrets = doc.CLIENT_SECRETS
  if secrets ~= nil and (type(secrets) ~= "table" or (secrets[1] ~= nil and not nonempty_string(secrets[1]))) then
    return nil, "the credentials file " .. path .. ": CLIENT_SECRETS must be a list of strings"
  end
  local scopes = doc.SCOPES
  if type(scopes) == "table" then
    for _, s in ipairs(scopes) do
      if type(s) ~= "string" then
        return nil, "the credentials file " .. path .. ": SCOPES must be a list of strings"
      end
    end
    scopes = scopes[1] and table.concat(scopes, ",") or nil
  end
  return {
    client_id = nonempty_string(doc.CLIENT_ID) or nonempty_string(doc.API_KEY),
    client_secret = secrets and secrets[1],
    org_id = nonempty_string(doc.ORG_ID),
    scopes = nonempty_string(scopes),
    technical_account_id = nonempty_string(doc.TECHNICAL_ACCOUNT_ID),
  }
end

-- Settings that are paths or network options, besides FLAGS: flag field, environment variable.
local NETWORK = {
  { "proxy", "proxy", "AEP_PROXY" }, { "ca_file", "ca_file", "AEP_CA_FILE" },
}
credentials.NETWORK = NETWORK

-- The options for flowservice.new, in order of precedence: flags (the parsed arguments), the
-- environment (`getenv`), the profile of the config file (cli/config.lua), then the credentials
-- file (flag --credentials, else AEP_CREDENTIALS_FILE, else the profile's `credentials`). The
-- library is then told not to read the environment itself (env = false), so this order is the
-- only one. Returns opts and sources (option -> where its value came from, for `config show`),
-- or nil and a message. `warn(message)` prints warnings.
function credentials.resolve(args, getenv, warn)
  local function env(name)
    local v = getenv(name)
    if v == "" then return nil end
    return v
  end
  local profile, profile_name, config_path = config.select(args.profile, env)
  if not profile then return nil, profile_name end
  local from_profile = "profile " .. tostring(profile_name) .. " (" .. tostring(config_path) .. ")"
  local sources = { profile_name = profile_name, config_file = config_path }
  local file = {}
  local path, path_source
  if args.credentials then
    path, path_source = args.credentials, "flag --credentials"
  elseif env(credentials.FILE_ENV) then
    path, path_source = env(credentials.FILE_ENV), "environment " .. credentials.FILE_ENV
  elseif profile.credentials then
    path, path_source = profile.credentials, from_profile
  end
  if path then
    local read, err = credentials.read(path, warn)
    if not read then return nil, err end
    file = read
  end
  sources.credentials = path_source
  local from_file = "credentials file " .. tostring(path)
  local opts = { env = false }
  local function pick(name, flag, var)
    local candidates = {
      { flag and args[flag], "flag --" .. (flag or ""):gsub("_", "-") },
      { var and env(var), "environment " .. tostring(var) },
      { profile[name], from_profile },
      { file[name], from_file },
    }
    for _, c in ipairs(candidates) do
      if c[1] ~= nil then
        opts[name], sources[name] = c[1], c[2]
        return
      end
    end
  end
  for _, pair in ipairs(credentials.FLAGS) do pick(pair[1], pair[2], ENV[pair[1]]) end
  for _, t in ipairs(NETWORK) do pick(t[1], t[2], t[3]) end
  pick("client_secret", nil, ENV.client_secret)
  pick("access_token", nil, ENV.access_token)
  pick("api_key", nil, ENV.api_key)
  opts.timeout = args.timeout
  -- The token cache shared by processes (token_cache.lua): off only without a home directory.
  opts.token_cache = token_cache.default_dir(env) or false
  return opts, sources, path
end

-- The options for flowservice.new (see resolve), or nil and a message.
function credentials.client_options(args, getenv, warn)
  local opts, why = credentials.resolve(args, getenv, warn)
  return opts, why
end

return credentials
