-- The one rule for names that hold secrets, shared by the auth-param checks (jsonschema.lua:
-- which params are secrets) and tracing (trace.lua: which JSON members to redact).
local sensitive = {}

local WORDS = { "password", "secret", "token", "key", "credential" }

-- True when `name` contains password, secret, token, key or credential in any case
-- ("clientSecret", "accessToken", "apiKey", "Credentials").
function sensitive.name(name)
  if type(name) ~= "string" then return false end
  local lower = name:lower()
  for _, word in ipairs(WORDS) do
    if lower:find(word, 1, true) then return true end
  end
  return false
end

return sensitive
