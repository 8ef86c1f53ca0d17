-- The reliability bench's own HTTP/1.1 server (a separate process), for what the emulator cannot
-- serve: figure 5's malformed responses and figure 4's server-side timing of retries.
-- Usage: lua5.4 bench/reliability/fixture_server.lua CORPUS_FILE
-- Binds 127.0.0.1 on a port the OS picks and prints the port as its first line. One connection
-- at a time, one response per connection (`Connection: close`).
--
-- Routes (the client's base_url and ims_url carry the prefix, so every request and retry of one
-- client call lands on the same case):
--   /case/<i>/...        case i of corpus.load(CORPUS_FILE): its status, Content-Type, the
--                        Content-Length it declares and the bytes it sends (maybe fewer)
--   /ra/<form>/<key>/... the first request of a key gets 429 with a Retry-After of that form
--                        (delta: "1", date: an HTTP-date 2 s after the response's Date
--                        header, like the emulator's retry_after_date, invalid: "soon", huge:
--                        "100000"); later ones get 200 {"items":[...]} with the header
--                        X-Observed-Gap: seconds since the 429 was sent (this server's clock)
package.path = "./bench/?.lua;" .. package.path
local socket = require "socket"
local corpus = require "reliability.corpus"

local cases = corpus.load(assert(arg[1], "usage: fixture_server.lua CORPUS_FILE"))

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

local READ_TIMEOUT = 10

-- Reads the request head and any Content-Length body; returns the target or nil.
local function read_request(sock)
  local line = sock:receive("*l")
  if not line then return nil end
  local target = line:match("^%S+ (%S+)")
  local length = 0
  while true do
    local h = sock:receive("*l")
    if not h then return nil end
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    if name and name:lower() == "content-length" then length = tonumber(value) or 0 end
  end
  if length > 0 and not sock:receive(length) then return nil end
  return target
end

local REASONS = { [200] = "OK", [201] = "Created", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [429] = "Too Many Requests", [500] = "Internal Server Error" }

local function respond(sock, status, headers, body)
  local lines = { ("HTTP/1.1 %d %s"):format(status, REASONS[status] or "Status") }
  for _, h in ipairs(headers) do lines[#lines + 1] = h end
  lines[#lines + 1] = "Connection: close"
  sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body)
end

local function serve_case(sock, index)
  local case = cases[index]
  if not case then
    return respond(sock, 404, { "Content-Type: text/plain", "Content-Length: 7" }, "no case")
  end
  local headers = { "Content-Length: " .. case.content_length }
  if case.content_type ~= "" then headers[2] = "Content-Type: " .. case.content_type end
  respond(sock, case.status, headers, case.body)
end

local RETRY_AFTER = {
  delta = function() return "1" end,
  date = function(now) return os.date("!%a, %d %b %Y %H:%M:%S GMT", math.floor(now) + 2) end,
  invalid = function() return "soon" end,
  huge = function() return "100000" end,
}

local throttled_at = {} -- "<form>/<key>" -> time its 429 was sent

local function serve_retry_after(sock, form, key)
  local now = socket.gettime()
  local id = form .. "/" .. key
  local first = throttled_at[id]
  if not first and RETRY_AFTER[form] then
    throttled_at[id] = now
    local body = '{"error_code":"429050","message":"Too many requests"}'
    return respond(sock, 429, { "Content-Type: application/json", "Content-Length: " .. #body,
      "Date: " .. os.date("!%a, %d %b %Y %H:%M:%S GMT", math.floor(now)),
      "Retry-After: " .. RETRY_AFTER[form](now) }, body)
  end
  local body = '{"items":[{"id":"' .. key .. '","name":"retry-after"}]}'
  respond(sock, 200, { "Content-Type: application/json", "Content-Length: " .. #body,
    ("X-Observed-Gap: %.4f"):format(first and now - first or -1) }, body)
end

while true do
  local sock = server:accept()
  if sock then
    sock:settimeout(READ_TIMEOUT)
    local target = read_request(sock)
    if target then
      local index = target:match("^/case/(%d+)/")
      local form, key = target:match("^/ra/(%a+)/([%w%-]+)/")
      if index then
        serve_case(sock, tonumber(index))
      elseif form then
        serve_retry_after(sock, form, key)
      else
        respond(sock, 404, { "Content-Type: text/plain", "Content-Length: 9" }, "not found")
      end
    end
    sock:close()
  end
end
