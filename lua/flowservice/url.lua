-- Percent-encoding for URLs built from user input.
local url = {}

-- Everything but RFC 3986 unreserved characters is encoded, including "/", "%", "+" and space
-- (as %20), so a value can never change the route or the query it is placed in.
local function encode_byte(c)
  return string.format("%%%02X", string.byte(c))
end

function url.encode(value)
  return (value:gsub("[^A-Za-z0-9%-%._~]", encode_byte))
end

-- An id used as one path segment. Returns the encoded segment, or nil and the rule broken.
function url.segment(id)
  if id == "" then return nil, "must not be empty" end
  if id == "." or id == ".." then return nil, "must not be '.' or '..'" end
  return url.encode(id)
end

-- name=value pairs (a list of {name, value}) joined with "&", both sides encoded.
function url.form(pairs_list)
  local out = {}
  for i, kv in ipairs(pairs_list) do
    out[i] = url.encode(kv[1]) .. "=" .. url.encode(kv[2])
  end
  return table.concat(out, "&")
end

-- Splits "scheme://host[:port][/path]" for validation. Returns scheme, host, port, path or nil.
function url.split(u)
  local scheme, rest = u:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  if not host then return nil end
  return scheme:lower(), host:lower(), port, path
end

return url
