-- The command line's config file: named profiles of settings, in the INI-like shape the AWS CLI
-- (~/.aws/config) and git use, read as data only (never loaded as code).
--
-- Where: $XDG_CONFIG_HOME/flowservice/config, else ~/.config/flowservice/config
-- (AEP_CONFIG_FILE names another). Which profile: --profile NAME, else AEP_PROFILE, else
-- [default] when the file has one.
--
--   # comments start with # or ;
--   [default]
--   credentials = ~/aep/dev-credentials.json
--   sandbox = dev
--
--   [profile prod]            # or [prod]
--   credentials = ~/aep/prod-credentials.json
--   org_id = 0123456789ABCDEF@AdobeOrg
--   sandbox = prod
--   proxy = http://proxy.example.com:3128
--   ca_file = /etc/ssl/corp-ca.pem
--
-- Keys: credentials, org_id, client_id, sandbox, scopes, base_url, ims_url, proxy, ca_file.
-- Secrets stay out of it: a key that names one (client_secret, access_token, password, ...) is
-- refused; they come from the credentials file it points at, or the environment.
local sensitive = require "flowservice.sensitive"

local config = {}

config.FILE_ENV = "AEP_CONFIG_FILE"
config.PROFILE_ENV = "AEP_PROFILE"

-- Keys a profile may hold, in the order `config show` lists them.
config.KEYS = { "credentials", "org_id", "client_id", "sandbox", "scopes", "base_url", "ims_url", "proxy", "ca_file" }
local KNOWN = {}
for _, k in ipairs(config.KEYS) do KNOWN[k] = true end
-- Keys holding a path, where a leading ~/ means the home directory.
local PATHS = { credentials = true, ca_file = true }

-- The file's path from the environment (`getenv` returns nil for unset or empty), or nil.
function config.path(getenv)
  local given = getenv(config.FILE_ENV)
  if given then return given end
  local base = getenv("XDG_CONFIG_HOME")
  if not base or base:sub(1, 1) ~= "/" then
    local home = getenv("HOME")
    if not home then return nil end
    base = home .. "/.config"
  end
  return base .. "/flowservice/config"
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Parses the file's text. Returns profiles (name -> { key -> value }), or nil and a message
-- naming the file and line (never a value: a misplaced secret must not be echoed).
function config.parse(text, path, home)
  local profiles, current = {}, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local where = path .. ":" .. n .. ": "
    line = trim(line:gsub("\r$", ""))
    if line ~= "" and not line:find("^[#;]") then
      local section = line:match("^%[%s*(.-)%s*%]$")
      if section then
        local name = section:match("^profile%s+(.+)$") or section
        if not name:match("^[%w_.%-]+$") then
          return nil, where .. "a profile name has letters, digits, '.', '_' and '-' only"
        end
        profiles[name] = profiles[name] or {}
        current = profiles[name]
      else
        local key, value = line:match("^([%w_%-]+)%s*=%s*(.-)$")
        if not key then return nil, where .. "expected [profile NAME], key = value, or a # comment" end
        key = key:lower():gsub("%-", "_")
        if sensitive.name(key) and not KNOWN[key] then
          return nil, where .. "'" .. key .. "' is a secret and is not read from the config file: keep it in "
            .. "the credentials file the profile names (credentials = PATH) or in the environment"
        end
        if not KNOWN[key] then
          return nil, where .. "unknown key '" .. key .. "' (expected one of: " .. table.concat(config.KEYS, ", ")
            .. ")"
        end
        if not current then return nil, where .. "'" .. key .. "' before any [profile] line" end
        value = value:match('^"(.*)"$') or value
        if value == "" then return nil, where .. "'" .. key .. "' has no value" end
        if PATHS[key] and value:sub(1, 2) == "~/" then
          if not home then return nil, where .. "'" .. key .. "' starts with ~/ but HOME is not set" end
          value = home .. value:sub(2)
        end
        current[key] = value
      end
    end
  end
  return profiles
end

-- The selected profile: returns its settings (a table, empty when there is none), its name (or
-- nil) and the file's path; or nil and a message (a usage problem).
function config.select(profile_flag, getenv)
  local path = config.path(getenv)
  local wanted = profile_flag or getenv(config.PROFILE_ENV)
  local f = path and io.open(path, "rb")
  if not f then
    if wanted then
      return nil, "profile '" .. wanted .. "': no config file " .. (path and "at " .. path or "(HOME is not set)")
    end
    return {}, nil, path
  end
  local text = f:read("*a") or ""
  f:close()
  local profiles, err = config.parse(text, path, getenv("HOME"))
  if not profiles then return nil, err end
  local name = wanted or (profiles.default and "default") or nil
  if not name then return {}, nil, path end
  if not profiles[name] then
    local names = {}
    for k in pairs(profiles) do names[#names + 1] = k end
    table.sort(names)
    return nil, "no profile '" .. name .. "' in " .. path .. " (it has: "
      .. (names[1] and table.concat(names, ", ") or "none") .. ")"
  end
  return profiles[name], name, path
end

return config
