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
package.path = "./bench/?.lua;./spec/fixtures/?.lua;" .. package.path
local socket = require "socket"
local corpus = require "reliability.corpus"
local serial_http = require "serial_http"
local http_date = require("flowservice.emulator.util").http_date

local cases = corpus.load(assert(arg[1], "usage: fixture_server.lua CORPUS_FILE"))

local server = serial_http.listen()

local function respond(sock, status, headers, body)
  sock:send(serial_http.response(status, headers, body))
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
  date = function(now) return http_date(now + 2) end,
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
      "Date: " .. http_date(now),
      "Retry-After: " .. RETRY_AFTER[form](now) }, body)
  end
  local body = '{"items":[{"id":"' .. key .. '","name":"retry-after"}]}'
  respond(sock, 200, { "Content-Type: application/json", "Content-Length: " .. #body,
    ("X-Observed-Gap: %.4f"):format(first and now - first or -1) }, body)
end

serial_http.serve(server, function(sock)
  local req = serial_http.read_request(sock)
  local target = req and req.target
  if not target then return end
  local index = target:match("^/case/(%d+)/")
  local form, key = target:match("^/ra/(%a+)/([%w%-]+)/")
  if index then
    serve_case(sock, tonumber(index))
  elseif form then
    serve_retry_after(sock, form, key)
  else
    respond(sock, 404, { "Content-Type: text/plain", "Content-Length: 9" }, "not found")
  end
end)
