-- The token cache shared by processes (option `token_cache` of flowservice.new; on for the
-- command line): the IMS token of one credential kept in a file, so that many short processes
-- (a shell script calling the command line) ask IMS once rather than once each.
--
-- Where: `$XDG_CACHE_HOME/flowservice/` (else `~/.cache/flowservice/`), or the directory the
-- option names; the directory is mode 0700, each file 0600, both owned by the user. A file is
-- named after a hash of its key (IMS URL, client id, org, scopes) and the client secret, and
-- holds one header line (JSON: the key, and the wall-clock times to refresh at and to expire at)
-- and the token. The client secret is never stored. The file I/O is in C (src/private_file.c):
-- the token goes from its secret to the file and back without being a Lua string, and a file or
-- directory that group or others can reach, or that belongs to another user, is refused and not
-- read.
local core = require "flowservice.core"
local errors = require "flowservice.errors"
local json = require "flowservice.json"

local token_cache = {}

local FORMAT = 1

-- The default directory from the environment (XDG Base Directory Specification).
function token_cache.default_dir(getenv)
  getenv = getenv or os.getenv
  local base = getenv("XDG_CACHE_HOME")
  if not base or base:sub(1, 1) ~= "/" then -- the spec says a relative value is ignored
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.cache"
  end
  return base .. "/flowservice"
end

-- The cache of one credential: { dir, key, path }. The file's name also hashes the client
-- secret (a core.secret, hashed in C): a token is found only with the secret that got it, so a
-- wrong or replaced secret asks IMS (and fails there) instead of looking right.
function token_cache.new(dir, config, client_secret)
  local key = table.concat({ config.ims_url, config.client_id or "", config.org_id, config.scopes or "" }, "\n")
  return { dir = dir, key = key, path = dir .. "/token-" .. core.hash64(key, client_secret) }
end

local function refused(message, fix)
  return errors.new { kind = "validation", field = "token_cache", message = "token_cache: refused: " .. message
    .. " (" .. fix .. ")" }
end

-- Returns the cached token (a secret) and the seconds until it should be refreshed and until it
-- expires; nil when there is none that is still good; nil, err when the file or its directory
-- is not private to the user (refused, not read).
function token_cache.load(cache)
  local ok, why, reason = core.private_dir(cache.dir)
  if not ok then
    if reason == "unsafe" then
      -- chmod fixes only the mode: never advise it for a link, a device or another user's path
      local fix = why:find(" is accessible by group or others (mode", 1, true) and "chmod 700 " .. cache.dir
        or "remove it, or choose another directory with the option token_cache or XDG_CACHE_HOME"
      return nil, nil, nil, refused(why, fix)
    end
    return nil
  end
  local header, token
  header, token, reason = core.private_read(cache.path)
  if not header then
    if reason == "unsafe" then
      return nil, nil, nil, refused(token, "remove it: flowservice token --forget, or rm " .. cache.path)
    end
    return nil
  end
  local meta = json.decode(header)
  local now = os.time()
  if type(meta) ~= "table" or meta.format ~= FORMAT or meta.key ~= cache.key
      or type(meta.refresh_at) ~= "number" or type(meta.expires_at) ~= "number" or now >= meta.refresh_at then
    token:wipe()
    return nil
  end
  return token, meta.refresh_at - now, meta.expires_at - now
end

-- Stores `token` (a secret) to be used for `refresh_in` seconds and valid for `expires_in`.
-- Returns true, or nil and a message (the caller goes on without the cache).
function token_cache.store(cache, token, refresh_in, expires_in)
  local ok, why = core.private_dir(cache.dir)
  if not ok then return nil, why end
  local now = os.time()
  local header = json.encode { format = FORMAT, key = cache.key, refresh_at = math.floor(now + refresh_in),
    expires_at = math.floor(now + expires_in) }
  -- the temporary file is unique to this process; rename makes the new file appear whole
  local temp = cache.path .. ".tmp" .. tostring(core.hash64(tostring({}) .. now .. os.clock()))
  return core.private_write(cache.path, temp, header, token)
end

-- Removes the cached token. Returns true (also when there was none), or nil and an error.
function token_cache.forget(cache)
  local ok, err = os.remove(cache.path)
  if ok or err:find("No such file", 1, true) then return true end
  return nil, errors.new { kind = "validation", field = "token_cache", message = "token_cache: " .. err }
end

return token_cache
