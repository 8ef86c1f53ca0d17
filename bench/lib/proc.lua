-- Process and file helpers for the orchestrator (shell commands through os.execute/io.popen).
local socket = require "socket"

local proc = {}

function proc.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function proc.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function proc.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Runs a shell command line; returns its stdout (stderr left alone) and whether it exited 0.
function proc.capture(command)
  local p = assert(io.popen(command, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

-- "env -u LD_PRELOAD NAME=value ..." (make check preloads ASan; the bench's processes must not
-- inherit it).
function proc.env_words(vars)
  local words = { "env -u LD_PRELOAD" }
  local names = {}
  for name in pairs(vars) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do words[#words + 1] = name .. "=" .. proc.quote(vars[name]) end
  return table.concat(words, " ")
end

-- A TCP port on 127.0.0.1 that is free now (bound by the OS, then released).
function proc.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return math.tointeger(tonumber(port))
end

-- Waits until something accepts connections on 127.0.0.1:port; false after `timeout` seconds.
function proc.wait_port(port, timeout)
  local deadline = socket.gettime() + timeout
  repeat
    local c = socket.tcp()
    c:settimeout(0.2)
    local ok = c:connect("127.0.0.1", port)
    c:close()
    if ok then return true end
    socket.sleep(0.02)
  until socket.gettime() > deadline
  return false
end

-- Remembers a server's pid in DIR/pids, which bench/run's trap kills on exit.
function proc.remember_pid(dir, pid)
  local f = assert(io.open(dir .. "/pids", "a"))
  f:write(pid, "\n")
  f:close()
end

proc.sleep = socket.sleep
proc.now = socket.gettime

return proc
