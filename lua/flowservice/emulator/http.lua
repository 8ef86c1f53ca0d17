-- HTTP/1.1 server for the emulator: one socket.select loop, one coroutine per connection,
-- non-blocking sockets, so slow or idle clients never hold up the others.
--
-- Handles keep-alive (HTTP/1.1 default, `Connection: close` honoured, HTTP/1.0 keep-alive on
-- request), pipelining, Content-Length and chunked request bodies, `Expect: 100-continue`,
-- size limits (414 request line, 431 header section, 413 body), timeouts (408) and malformed
-- requests (400, then close). Routing is a table of (method, Lua pattern, handler) so other
-- modules add routes without touching the server.
--
-- Handlers receive a request table and return a response table {status=, headers=, body=}
-- (see http.json / http.generic_error). Every response carries x-request-id (fresh per request),
-- Date and Content-Length (except 204, where HTTP forbids it).
--
-- The access log has method, path without query, status and milliseconds (from the end of the
-- request head to the response being ready): never headers, query strings or bodies, which
-- carry secrets.
--
-- TLS (opts.tls = {certificate = path, key = path}): the server then speaks HTTPS only, with
-- luasec (Debian lua-sec). Emulator choices, not Adobe facts: TLS 1.2 or later, no client
-- certificates. Each accepted socket is wrapped and its handshake runs in the connection's
-- coroutine (non-blocking, yielding on wantread / wantwrite, bounded by the request timeout), so
-- a slow or failing handshake never holds up other connections. A failed handshake is logged as
-- one line without any request data (none was read) and the connection closed.
--
-- Faults (opts.intercept, see faults.lua and admin.lua): intercept(req) is called once the head of
-- a well-formed request is read, before its body; it returns a fault rule or nil. This file does
-- the wire work of each fault: delays sleep in the connection's coroutine (the select loop keeps
-- serving the others), resets close with SO_LINGER 0, truncation sends a prefix of the real bytes.
-- The access log line of a faulted request ends with "fault=<kind> phase=<phase>".
local compat = require "flowservice.compat"
local socket = require "socket"
local faults = require "flowservice.emulator.faults"
local util = require "flowservice.emulator.util"
local ssl -- luasec, loaded only when TLS is asked for

local http = {}

local DEFAULT_LIMITS = {
  request_line = 8 * 1024,       -- bytes in the request line
  header_bytes = 32 * 1024,      -- bytes in the whole header section
  header_count = 100,
  body_bytes = 4 * 1024 * 1024,  -- decoded body, Content-Length or chunked
  buffered_bytes = 64 * 1024 * 1024, -- bodies being received, all connections together (503 beyond)
  chunk_line = 1024,             -- chunk-size line or trailer line
  max_connections = 512,         -- stays below select()'s FD_SETSIZE
}
local DEFAULT_TIMEOUTS = {
  idle = 60,                     -- seconds a keep-alive connection may wait for a request
  request = 30,                  -- seconds to receive one request once it has started
  write = 30,                    -- seconds to send one response
  linger = 2,                    -- seconds to drain a client's unread input before closing
}
local READ_SIZE = 16 * 1024
-- Reads one connection may do before it lets the others have a turn: a client that keeps its
-- socket full (a large body, even in 1-byte pieces) cannot hold up the select loop.
local READS_PER_TURN = 4

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [411] = "Length Required", [412] = "Precondition Failed", [413] = "Content Too Large",
  [414] = "URI Too Long", [415] = "Unsupported Media Type", [417] = "Expectation Failed",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
}

---------------------------------------------------------------------------------------------------
-- Responses
---------------------------------------------------------------------------------------------------

-- A JSON response. extra_headers: optional table name -> value.
function http.json(status, value, extra_headers)
  local headers = { ["Content-Type"] = "application/json" }
  for name, v in pairs(extra_headers or {}) do headers[name] = v end
  return { status = status, headers = headers, body = util.json_encode(value) }
end

-- The generic error body the Platform edge uses (documented for a missing Content-Type).
function http.generic_error(status, title, detail, extra_headers)
  return http.json(status, {
    type = "/placeholder/type/uri", status = status, title = title, detail = detail,
  }, extra_headers)
end

local PROTOCOL_ERRORS = {
  [400] = { "BadRequestError", "The request is malformed." },
  [408] = { "RequestTimeoutError", "The request was not received in time." },
  [413] = { "PayloadTooLargeError", "The request body is too large." },
  [414] = { "UriTooLongError", "The request line is too long." },
  [417] = { "ExpectationFailedError", "Only the expectation 100-continue is supported." },
  [431] = { "HeaderFieldsTooLargeError", "The request header section is too large." },
  [503] = { "ServiceUnavailableError", "Too many request bodies are being received; try again." },
  [500] = { "InternalServerError", "An internal error has occurred." },
  [501] = { "NotImplementedError", "Only the chunked transfer coding is supported." },
  [505] = { "HttpVersionNotSupportedError", "Only HTTP/1.0 and HTTP/1.1 are supported." },
}

local function protocol_error(status)
  local e = PROTOCOL_ERRORS[status] or PROTOCOL_ERRORS[400]
  return http.generic_error(status, e[1], e[2])
end

---------------------------------------------------------------------------------------------------
-- Router
---------------------------------------------------------------------------------------------------

local Router = {}
Router.__index = Router

function http.router()
  return setmetatable({ routes = {} }, Router)
end

-- pattern: an anchored Lua pattern for the path (no query); its captures, percent-decoded,
-- become req.params[1..n].
function Router:add(method, pattern, handler)
  assert(type(method) == "string" and type(pattern) == "string" and type(handler) == "function",
    "route needs method, pattern and handler")
  self.routes[#self.routes + 1] = { method = method, pattern = pattern, handler = handler }
end

-- Returns handler, params; or nil, 404; or nil, 405, "GET, POST" (the Allow header value).
function Router:match(method, path)
  local allowed
  for _, route in ipairs(self.routes) do
    local captures = compat.pack(path:match(route.pattern))
    if captures[1] ~= nil then
      if route.method == method or (method == "HEAD" and route.method == "GET") then
        local params = {}
        for i = 1, captures.n do
          params[i] = util.percent_decode(captures[i]) or captures[i]
        end
        return route.handler, params
      end
      allowed = allowed or {}
      allowed[#allowed + 1] = route.method
    end
  end
  if allowed then return nil, 405, table.concat(allowed, ", ") end
  return nil, 404
end

---------------------------------------------------------------------------------------------------
-- Connection I/O (runs inside the connection's coroutine; yields to the select loop)
---------------------------------------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

-- sock: the socket reads and writes go through (luasec's with TLS); raw: the TCP socket;
-- peer: the peer's address.
local function new_conn(sock, raw, tls, peer)
  return setmetatable({
    sock = sock, raw = raw, tls = tls, peer = peer, buf = "", pos = 1, deadline = math.huge, reads = 0,
    reserved = 0,                            -- bytes of the server's body budget (see reserve)
    idle_since = nil,                        -- set while waiting for a request's first byte
  }, Conn)
end

-- What a non-blocking socket error means: "read" / "write" (wait for readiness, then retry) or
-- nil (the connection failed). luasec reports "wantread" / "wantwrite" where luasocket says
-- "timeout"; `default` is the direction of the call that got "timeout".
local function wait_kind(err, default)
  if err == "timeout" then return default end
  if err == "wantread" then return "read" end
  if err == "wantwrite" then return "write" end
  return nil
end

function Conn:available()
  return #self.buf - self.pos + 1
end

function Conn:take(n)
  local s = self.buf:sub(self.pos, self.pos + n - 1)
  self.pos = self.pos + n
  return s
end

-- Waits until the socket is ready; returns true, or nil and "timeout".
function Conn:wait(kind)
  self.reads = 0                             -- a new turn starts when the loop resumes us
  local ok, why = coroutine.yield(kind, self.deadline)
  if ok then return true end
  return nil, why
end

-- Sleeps without blocking the server: the select loop watches neither direction and resumes the
-- coroutine when the deadline passes.
function Conn:sleep(seconds)
  self.reads = 0
  self.deadline = util.now() + seconds
  coroutine.yield("sleep", self.deadline)
end

-- Lets every other connection have a turn, then goes on (its deadline unchanged). Not a wait
-- for readability: over TLS the next bytes may already sit in luasec's buffer, which select
-- cannot see.
function Conn:yield_turn()
  local deadline = self.deadline
  self.reads = 0
  coroutine.yield("sleep", util.now())       -- due at once: resumed in the loop's next round
  self.deadline = deadline
end

-- Makes the coming close abort the connection (RST) instead of ending it (FIN). Plain close
-- where the option cannot be set. Over TLS, luasec sends close_notify before closing, so the
-- client may see a clean end rather than a reset.
function Conn:abort()
  pcall(self.raw.setoption, self.raw, "linger", { on = true, timeout = 0 })
end

-- Ends a connection whose request was read in full without more reply bytes: FIN, then a short
-- drain of what the client still sends, so the close does not turn into a reset. Over TLS
-- (no half-close) the coming close is enough: draining would only keep the client waiting.
function Conn:end_cleanly(seconds, max_bytes)
  if not self.tls then self:linger(seconds, max_bytes) end
end

-- Reads whatever is available (at least one byte) into the buffer.
-- Returns true, or nil and "closed" / "timeout".
function Conn:fill()
  if self.reads >= READS_PER_TURN then self:yield_turn() end
  while true do
    self.reads = self.reads + 1
    local data, err, partial = self.sock:receive(READ_SIZE)
    local got = data or partial
    if got and #got > 0 then
      if self.pos > 1 then                   -- drop consumed bytes before appending
        self.buf, self.pos = self.buf:sub(self.pos), 1
      end
      self.buf = self.buf .. got
      return true
    end
    local kind = wait_kind(err, "read")
    if not kind then return nil, "closed" end
    local ok, why = self:wait(kind)
    if not ok then return nil, why end
  end
end

-- Appends s to a stack of strings kept in decreasing size (Programming in Lua, "string
-- buffers"): a body that arrives in many tiny pieces costs O(n log n) copying and about twice its
-- size in memory, not one Lua string per piece.
local function push_piece(stack, s)
  stack[#stack + 1] = s
  for i = #stack - 1, 1, -1 do
    if #stack[i] > #stack[i + 1] then break end
    stack[i] = stack[i] .. table.remove(stack)
  end
end

function Conn:read_exact(n)
  local parts, need = {}, n
  while true do
    local avail = self:available()
    if avail >= need then
      push_piece(parts, self:take(need))
      return table.concat(parts)
    end
    if avail > 0 then
      push_piece(parts, self:take(avail))
      need = need - avail
    end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

-- Reads one CRLF-terminated line (without the CRLF). Over max bytes -> nil, too_long_status.
function Conn:read_line(max, too_long_status)
  local scanned = 0
  while true do
    local s = self.buf:find("\r\n", self.pos + scanned, true)
    if s then
      local line = self.buf:sub(self.pos, s - 1)
      self.pos = s + 2
      if #line > max then return nil, too_long_status end
      return line
    end
    if self:available() > max then return nil, too_long_status end
    scanned = math.max(0, self:available() - 1)
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

function Conn:send_all(data)
  local i, n = 1, #data
  while i <= n do
    local last, err, partial_last = self.sock:send(data, i)
    local kind = wait_kind(err, "write")
    if last then
      i = last + 1
    elseif kind then
      i = partial_last + 1
      if i <= n then
        local ok, why = self:wait(kind)
        if not ok then return nil, why end
      end
    else
      return nil, err
    end
  end
  return true
end

-- Runs the TLS handshake within `seconds`. Returns true, or nil and why it failed (OpenSSL's
-- reason, "closed" or "timeout"; never anything the client sent).
function Conn:handshake(seconds)
  self.deadline = util.now() + seconds
  while true do
    local ok, err = self.sock:dohandshake()
    if ok then return true end
    local kind = wait_kind(err, "read")
    if not kind then return nil, err end
    local ready, why = self:wait(kind)
    if not ready then return nil, why end
  end
end

-- After an error response: stop sending, then read and discard what the client is still
-- sending for a short while, so closing does not reset the connection before the client has
-- read the response. A TLS socket cannot half-close (luasec has no shutdown): it only drains.
function Conn:linger(seconds, max_bytes)
  if not self.tls then self.sock:shutdown("send") end
  self.deadline = util.now() + seconds
  local discarded = 0
  while discarded < max_bytes do
    local data, err, partial = self.sock:receive(READ_SIZE)
    local got = data or partial
    discarded = discarded + (got and #got or 0)
    local kind = err and wait_kind(err, "read")
    if err and not kind then return end
    if kind and (not got or #got == 0) and not self:wait(kind) then return end
  end
end

---------------------------------------------------------------------------------------------------
-- Request parsing
---------------------------------------------------------------------------------------------------

local TOKEN = "^[!#$%%&'*+%-%.%^_`|~%w]+$"
local BAD_VALUE_CHARS = "[%z\1-\8\10-\31\127]"   -- controls except HTAB

-- Reads up to the end of the header section. Returns the head (request line + headers, without
-- the final CRLFCRLF) or nil and "closed" / "timeout" / status. started tells whether any byte of
-- this request arrived (a timeout before that is just an idle keep-alive connection).
local function read_head(conn, limits, timeouts)
  conn.deadline = util.now() + timeouts.idle
  conn.idle_since = util.now()               -- idle until a byte arrives: may be evicted
  local started = false
  local scanned = 0
  while true do
    -- RFC 9112 2.2: ignore empty lines before the request line.
    while conn.buf:sub(conn.pos, conn.pos + 1) == "\r\n" do conn.pos = conn.pos + 2 end
    local avail = conn:available()
    if avail > 0 and not started then
      started = true
      conn.idle_since = nil
      conn.deadline = util.now() + timeouts.request
    end
    local s = conn.buf:find("\r\n\r\n", conn.pos + scanned, true)
    local line_end = conn.buf:find("\r\n", conn.pos, true)
    if (line_end or conn.pos + avail) - conn.pos > limits.request_line then
      return nil, 414
    end
    if (s or conn.pos + avail) - conn.pos > limits.header_bytes then return nil, 431 end
    if s then
      local head = conn.buf:sub(conn.pos, s - 1)
      conn.pos = s + 4
      return head
    end
    scanned = math.max(0, avail - 3)
    local ok, err = conn:fill()
    if not ok then
      if started then return nil, err == "timeout" and 408 or "closed" end
      return nil, "closed"
    end
  end
end

-- Parses the request line and headers into req. Returns req or nil, status.
local function parse_head(head, limits)
  local line_end = head:find("\r\n", 1, true) or #head + 1
  local request_line = head:sub(1, line_end - 1)
  local method, target, minor = request_line:match("^(%u+) (%S+) HTTP/1%.([01])$")
  if not method then
    if request_line:match("^%S+ %S+ HTTP/%d%.%d$") then return nil, 505 end
    return nil, 400
  end
  target = target:match("^https?://[^/]*(/.*)$") or target   -- absolute-form
  if target:sub(1, 1) ~= "/" or target:find("[^\33-\126]") then return nil, 400 end
  local path, query = target:match("^([^?]*)%??(.*)$")

  local headers, count = {}, 0
  local pos = line_end + 2
  while pos <= #head do
    local e = head:find("\r\n", pos, true) or #head + 1
    local name, value = head:sub(pos, e - 1):match("^([^:]*):[ \t]*(.-)[ \t]*$")
    pos = e + 2
    if not name or not name:find(TOKEN) or value:find(BAD_VALUE_CHARS) then
      return nil, 400                        -- also rejects obs-fold and bare CR/LF
    end
    count = count + 1
    if count > limits.header_count then return nil, 431 end
    name = name:lower()
    local previous = headers[name]
    headers[name] = previous and (previous .. ", " .. value) or value
  end
  if minor == "1" and not headers.host then return nil, 400 end
  return {
    method = method, target = target, path = path, query = query, minor = minor,
    headers = headers,
  }
end

-- "5" or "5, 5" (a repeated header) -> 5; anything else -> nil.
local function parse_content_length(value)
  local length
  for part in value:gmatch("[^,]+") do
    local digits = part:match("^%s*(%d+)%s*$")
    if not digits or #digits > 15 then return nil end
    local n = tonumber(digits)
    if length and n ~= length then return nil end
    length = n
  end
  return length
end

-- Decides how the body is framed. Returns "none" | "length", n | "chunked"; or nil, status.
local function body_framing(req, limits)
  local te, cl = req.headers["transfer-encoding"], req.headers["content-length"]
  if te then
    if cl or req.minor == "0" then return nil, 400 end   -- request smuggling guard
    if te:lower() ~= "chunked" then return nil, 501 end
    return "chunked"
  end
  if cl then
    local n = parse_content_length(cl)
    if not n then return nil, 400 end
    if n > limits.body_bytes then return nil, 413 end
    if n == 0 then return "none" end
    return "length", n
  end
  return "none"
end

-- Takes `n` bytes of the server's budget for bodies being received (budget.used) for the
-- connection; Server:release gives them back once the request is answered or the connection
-- ends, however it ends. False when they are not there.
local function reserve(budget, limits, conn, n)
  if budget.used + n > limits.buffered_bytes then return false end
  budget.used = budget.used + n
  conn.reserved = conn.reserved + n
  return true
end

local function read_chunked(conn, limits, budget)
  local parts, total = {}, 0
  while true do
    local line, err = conn:read_line(limits.chunk_line, 400)
    if not line then return nil, err end
    local hex, ext = line:match("^(%x+)(.*)$")
    if not hex or not (ext == "" or ext:find("^[ \t]*;")) then return nil, 400 end
    if #hex > 8 then return nil, 413 end
    local size = tonumber(hex, 16)
    if size == 0 then break end
    total = total + size
    if total > limits.body_bytes then return nil, 413 end
    if not reserve(budget, limits, conn, size) then return nil, 503 end
    local data, derr = conn:read_exact(size)
    if not data then return nil, derr end
    parts[#parts + 1] = data
    local crlf, cerr = conn:read_exact(2)
    if not crlf then return nil, cerr end
    if crlf ~= "\r\n" then return nil, 400 end
  end
  for _ = 1, limits.header_count do          -- trailer section: read and ignore
    local line, err = conn:read_line(limits.chunk_line, 431)
    if not line then return nil, err end
    if line == "" then return table.concat(parts) end
  end
  return nil, 431
end

local function wants_100_continue(req, conn, framing)
  return req.minor == "1" and framing ~= "none" and conn:available() == 0
end

-- Reads one request. Returns req, or nil and a status to answer with (then close), or nil when
-- the connection just ended. intercept (optional) sees the parsed head and sets req.fault; a
-- "reset" fault before processing returns the request at once, its body unread.
local function read_request(conn, limits, timeouts, intercept, budget)
  local head, err = read_head(conn, limits, timeouts)
  if not head then
    return nil, type(err) == "number" and err or nil
  end
  local started = util.now()
  local req, status = parse_head(head, limits)
  if not req then return nil, status end
  req.started = started

  local framing, length = body_framing(req, limits)
  if not framing then return nil, length, req end
  if intercept then
    req.fault = intercept(req)
    if req.fault and req.fault.fault == "reset" and req.fault.phase == "before" then return req end
  end

  local expect = req.headers.expect
  if expect then
    if expect:lower() ~= "100-continue" then return nil, 417, req end
    if wants_100_continue(req, conn, framing) then
      local ok = conn:send_all("HTTP/1.1 100 Continue\r\n\r\n")
      if not ok then return nil end
    end
  end

  local body, berr = "", nil
  if framing == "length" then
    if not reserve(budget, limits, conn, length) then return nil, 503, req end
    body, berr = conn:read_exact(length)
  elseif framing == "chunked" then
    body, berr = read_chunked(conn, limits, budget)
  end
  if not body then
    if berr == "timeout" then return nil, 408, req end
    return nil, type(berr) == "number" and berr or nil, req
  end
  req.body = body
  return req
end

local function wants_keep_alive(req)
  local connection = req.headers.connection
  connection = connection and connection:lower() or ""
  for option in connection:gmatch("[^,%s]+") do
    if option == "close" then return false end
    if option == "keep-alive" and req.minor == "0" then return true end
  end
  return req.minor == "1"
end

local function serialize(req, res, keep_alive)
  local status, body = res.status, res.body or ""
  local out = { "HTTP/1.1 ", tostring(status), " ", REASONS[status] or "Unknown", "\r\n" }
  for name, value in pairs(res.headers or {}) do
    assert(not tostring(value):find("[\r\n]"), "header value contains CR or LF")
    out[#out + 1] = name .. ": " .. value .. "\r\n"
  end
  out[#out + 1] = "x-request-id: " .. req.request_id .. "\r\n"
  -- RFC 9110 6.6.1: an origin server with a clock sends Date (a Retry-After date is read
  -- against it).
  if not (res.headers and res.headers.Date) then out[#out + 1] = "Date: " .. util.http_date(util.now()) .. "\r\n" end
  if status == 204 then
    body = ""                                -- 204 has neither body nor Content-Length
  else
    out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  if not keep_alive then
    out[#out + 1] = "Connection: close\r\n"
  elseif req.minor == "0" then
    out[#out + 1] = "Connection: keep-alive\r\n"
  end
  out[#out + 1] = "\r\n"
  if req.method ~= "HEAD" then out[#out + 1] = body end
  return table.concat(out)
end

---------------------------------------------------------------------------------------------------
-- Server
---------------------------------------------------------------------------------------------------

local Server = {}
Server.__index = Server

-- Path for the access log: printable ASCII only, bounded, never the query string.
local function loggable_path(path)
  if not path then return "-" end
  path = path:gsub("[^\33-\126]", function(c) return ("%%%02X"):format(c:byte()) end)
  if #path > 256 then path = path:sub(1, 256) .. "..." end
  return path
end

-- status: the one sent, or nil when none was; fault: the rule applied, if any.
function Server:log_access(req, status, fault)
  local ms = (util.now() - (req.started or util.now())) * 1000
  local note = fault and (" fault=%s phase=%s"):format(fault.fault, fault.phase) or ""
  if fault and fault.rate_limited then note = " ratelimit=throttled" end
  self.log:write(("%s %s %s %s %.2fms%s\n"):format(os.date("!%Y-%m-%dT%H:%M:%SZ"), req.method or "-",
    loggable_path(req.path), status and ("%d"):format(status) or "-", ms, note))
end

-- A failed TLS handshake: no request was read, so there is nothing of one to log.
function Server:log_handshake_failure(why)
  self.log:write(("%s - TLS handshake failed: %s\n"):format(
    os.date("!%Y-%m-%dT%H:%M:%SZ"), util.safe_label(why, 120)))
end

-- Internal failures: the message names code locations, never request data; still bounded.
function Server:log_internal(what, err)
  self.log:write(("%s internal error in %s: %s\n"):format(
    os.date("!%Y-%m-%dT%H:%M:%SZ"), what, util.safe_label(err, 300)))
end

function Server:handle(req)
  local handler, params, allow = self.router:match(req.method, req.path)
  if not handler then
    if params == 405 then
      return http.generic_error(405, "MethodNotAllowedError",
        "The method is not allowed for this resource.", { Allow = allow })
    end
    return http.generic_error(404, "NotFoundError", "No resource matches the request path.")
  end
  req.params = params
  local ok, res = pcall(handler, req)
  if not ok or type(res) ~= "table" or not res.status then
    self:log_internal("handler for " .. req.method, ok and "handler returned no response" or res)
    return protocol_error(500)
  end
  return res
end

-- Sends a response; returns true when the connection stays open for another request.
function Server:send_response(conn, req, res, fault)
  local keep_alive = wants_keep_alive(req)
  -- Log before sending, so the line exists by the time the client has its answer.
  self:log_access(req, res.status, fault)
  conn.deadline = util.now() + self.timeouts.write
  return conn:send_all(serialize(req, res, keep_alive)) and keep_alive
end

-- Ends the connection without a reply: RST for "reset", FIN for "empty".
function Server:hang_up(conn, req, fault, status)
  self:log_access(req, status, fault)
  if fault.fault == "reset" then
    conn:abort()
  else
    conn:end_cleanly(self.timeouts.linger, self.limits.body_bytes)
  end
  return false
end

-- Streams the "oversized" body: 200, JSON, exactly fault.bytes bytes, then close.
function Server:send_oversized(conn, req, fault)
  self:log_access(req, 200, fault)
  local head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: %s\r\n"
    .. "Content-Length: %d\r\nConnection: close\r\n\r\n"):format(req.request_id, fault.bytes)
  conn.deadline = util.now() + self.timeouts.write
  if not conn:send_all(head) or req.method == "HEAD" then return false end
  for chunk in faults.oversized_chunks(fault.bytes) do
    conn.deadline = util.now() + self.timeouts.write
    if not conn:send_all(chunk) then return false end
  end
  return false
end

-- A fault applied instead of processing the request ("before").
function Server:inject_before(conn, req, fault)
  if fault.delay then conn:sleep(fault.delay) end -- the rate limit's 429 after injected latency
  if fault.fault == "status" then
    return self:send_response(conn, req, faults.status_response(fault, req.request_id), fault)
  end
  return self:hang_up(conn, req, fault, nil)
end

-- A fault applied to the real response `res` of a processed request ("after").
function Server:inject_after(conn, req, fault, res)
  local kind = fault.fault
  if kind == "status" then
    return self:send_response(conn, req, faults.status_response(fault, req.request_id), fault)
  elseif kind == "delay" then
    conn:sleep(fault.seconds)
    return self:send_response(conn, req, res, fault)
  elseif kind == "reset" or kind == "empty" then
    return self:hang_up(conn, req, fault, res.status)
  elseif kind == "invalid_json" then
    local headers = {}
    for name, value in pairs(res.headers or {}) do headers[name] = value end
    local mangled = { status = res.status == 204 and 200 or res.status, headers = headers,
      body = faults.invalid_json_body(res.body) }
    return self:send_response(conn, req, mangled, fault)
  elseif kind == "oversized" then
    return self:send_oversized(conn, req, fault)
  end
  -- truncate: the bytes of the real response (counted from the status line), cut, then FIN. By
  -- default the cut is in the middle of the body, headers whole (the usual broken reply), or of
  -- the whole response when there is no body.
  local bytes = serialize(req, res, false)
  local head_end = bytes:find("\r\n\r\n", 1, true) + 3
  local cut = fault.bytes or (#bytes > head_end and head_end + math.floor((#bytes - head_end) / 2))
    or math.floor(#bytes / 2)
  self:log_access(req, res.status, fault)
  conn.deadline = util.now() + self.timeouts.write
  if conn:send_all(bytes:sub(1, cut)) then
    conn:end_cleanly(self.timeouts.linger, self.limits.body_bytes)
  end
  return false
end

-- Processes one request, with its fault if one fired; returns true to keep the connection.
function Server:respond(conn, req)
  local fault = req.fault
  if fault and fault.phase == "before" then
    if fault.fault ~= "delay" then return self:inject_before(conn, req, fault) end
    conn:sleep(fault.seconds)                -- then process the request as usual
    return self:send_response(conn, req, self:handle(req), fault)
  end
  local res = self:handle(req)
  if fault then return self:inject_after(conn, req, fault, res) end
  return self:send_response(conn, req, res)
end

-- The body of each connection's coroutine.
function Server:serve(conn)
  if conn.tls then
    local ok, why = conn:handshake(self.timeouts.request)
    if not ok then
      self:log_handshake_failure(why)
      return
    end
  end
  while true do
    local req, status, partial_req = read_request(conn, self.limits, self.timeouts, self.intercept, self.buffered)
    if not req then
      self:release(conn)
      if status then                         -- answer the protocol error, then close
        local r = partial_req or { headers = {} }
        r.request_id = util.uuid4()
        conn.deadline = util.now() + self.timeouts.write
        self:log_access(r, status)
        if conn:send_all(serialize(r, protocol_error(status), false)) then
          conn:linger(self.timeouts.linger, self.limits.body_bytes)
        end
      end
      return
    end
    req.request_id = util.uuid4()
    req.peer = conn.peer
    local keep = self:respond(conn, req)
    self:release(conn)
    if not keep then return end
  end
end

-- Gives back the connection's share of the budget for bodies being received.
function Server:release(conn)
  self.buffered.used = self.buffered.used - conn.reserved
  conn.reserved = 0
end

function Server:drop(conn)
  self:release(conn)
  conn.sock:close()
  self.conns[conn.sock] = nil
  self.count = self.count - 1
end

function Server:resume(conn, ...)
  local ok, wait, deadline = coroutine.resume(conn.co, ...)
  if not ok then
    self:log_internal("connection", wait)
    self:drop(conn)
  elseif coroutine.status(conn.co) == "dead" then
    self:drop(conn)
  else
    conn.waiting, conn.deadline = wait, deadline
  end
end

function Server:accept_all()
  while true do
    local sock = self.listener:accept()
    if not sock then return end
    if self.count >= self.limits.max_connections then self:evict_idle() end
    if self.count >= self.limits.max_connections then
      sock:close()
    else
      sock:setoption("tcp-nodelay", true)
      local conn_sock, err = sock, nil
      if self.tls_context then conn_sock, err = ssl.wrap(sock, self.tls_context) end
      if conn_sock then
        self:add_conn(conn_sock, sock)
      else
        self:log_handshake_failure(err)
        sock:close()
      end
    end
  end
end

-- At the connection limit: closes the connection that has waited longest for a request without
-- sending a byte, so idle keep-alive connections (or a client hoarding them) cannot lock new
-- clients out. Connections in the middle of a request are never evicted.
function Server:evict_idle()
  local oldest
  for _, conn in pairs(self.conns) do
    if conn.idle_since and (not oldest or conn.idle_since < oldest.idle_since) then oldest = conn end
  end
  if oldest then self:drop(oldest) end
end

-- sock: a luasocket TCP socket, or (TLS) the luasec socket wrapping raw, the TCP socket.
function Server:add_conn(sock, raw)
  raw = raw or sock
  sock:settimeout(0)
  local conn = new_conn(sock, raw, self.tls_context ~= nil, (raw:getpeername()))
  conn.co = coroutine.create(function() return self:serve(conn) end)
  self.conns[sock] = conn
  self.count = self.count + 1
  self:resume(conn)
end

-- Runs one round of the loop: waits at most timeout seconds (nil = until something happens).
function Server:step(timeout)
  local recvt, sendt = { self.listener }, {}
  local now = util.now()
  local wake = timeout and now + timeout or math.huge
  for sock, conn in pairs(self.conns) do
    if conn.waiting == "write" then
      sendt[#sendt + 1] = sock
    elseif conn.waiting ~= "sleep" then      -- a sleeping connection waits for its deadline only
      recvt[#recvt + 1] = sock
    end
    if conn.deadline < wake then wake = conn.deadline end
  end
  local wait = wake < math.huge and math.max(0, wake - now) or nil
  local readable, writable = socket.select(recvt, sendt, wait)
  for _, sock in ipairs(readable or {}) do
    if sock == self.listener then
      self:accept_all()
    elseif self.conns[sock] then
      self:resume(self.conns[sock], true)
    end
  end
  for _, sock in ipairs(writable or {}) do
    if self.conns[sock] then self:resume(self.conns[sock], true) end
  end
  now = util.now()
  for _, conn in pairs(self.conns) do
    if conn.deadline <= now then self:resume(conn, false, "timeout") end
  end
end

function Server:run()
  self.running = true
  while self.running do self:step(nil) end
end

function Server:stop()
  self.running = false
end

function Server:close()
  for _, conn in pairs(self.conns) do conn.sock:close() end
  self.conns, self.count = {}, 0
  self.listener:close()
end

local function merged(defaults, overrides)
  local t = {}
  for k, v in pairs(defaults) do t[k] = v end
  for k, v in pairs(overrides or {}) do
    if defaults[k] == nil then error("unknown option '" .. tostring(k) .. "'", 3) end
    t[k] = v
  end
  return t
end

local function url_for(scheme, host, port)
  if host == "0.0.0.0" or host == "*" then host = "127.0.0.1" end
  if host == "::" then host = "::1" end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return ("%s://%s:%d"):format(scheme, host, port)
end

-- A luasec server context: TLS 1.2 or later, no client certificates. Returns it, or nil and a
-- message (a file that cannot be read, a key that does not match the certificate). The option
-- table was checked by emulator.new.
local function tls_context(tls)
  assert(type(tls.certificate) == "string" and type(tls.key) == "string", "tls needs certificate and key")
  ssl = ssl or require "ssl"
  local ctx, err = ssl.newcontext {
    mode = "server", protocol = "any", certificate = tls.certificate, key = tls.key,
    verify = "none", options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
  }
  if not ctx then return nil, "cannot use the TLS certificate or key: " .. tostring(err) end
  return ctx
end

-- opts: host (default 127.0.0.1), port (default 0 = OS picks), router, log (file handle,
-- default io.stderr), limits, timeouts (tables overriding the defaults above), tls (optional
-- {certificate = path, key = path}: serve HTTPS only), intercept (optional function(req) -> fault
-- rule or nil, called with each request head; see the top of this file).
-- Returns the server (with .url and .port), or nil and an error message.
function http.server(opts)
  local host = opts.host or "127.0.0.1"
  local context, cerr
  if opts.tls ~= nil then
    context, cerr = tls_context(opts.tls)
    if not context then return nil, cerr end
  end
  local listener, err = socket.bind(host, opts.port or 0, 128)
  if not listener then return nil, ("cannot listen on %s:%s: %s"):format(host, opts.port, err) end
  listener:settimeout(0)
  local _, port = listener:getsockname()
  port = compat.tointeger(tonumber(port))
  return setmetatable({
    listener = listener,
    port = port,
    url = url_for(context and "https" or "http", host, port),
    tls_context = context,
    router = assert(opts.router, "http.server needs a router"),
    intercept = opts.intercept,
    log = opts.log or io.stderr,
    limits = merged(DEFAULT_LIMITS, opts.limits),
    timeouts = merged(DEFAULT_TIMEOUTS, opts.timeouts),
    conns = {},
    count = 0,
    buffered = { used = 0 },                 -- bytes of bodies being received (limits.buffered_bytes)
  }, Server)
end

return http
