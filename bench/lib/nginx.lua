-- The fixed fast server: nginx in a temporary prefix, rendered from bench/nginx/nginx.conf.in.
local proc = require "proc"
local workload = require "workload"

local nginx = {}

-- Text for a single-quoted nginx string: nginx unescapes \\ and \' inside quotes.
local function nginx_quoted(s)
  return (s:gsub("\\", "\\\\"):gsub("'", "\\'"))
end

local function make_cert(dir)
  local cmd = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
    .. "-keyout %s/key.pem -out %s/cert.pem -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1"):format(dir, dir)
  assert(os.execute(cmd), "openssl could not make the throwaway certificate")
end

-- Starts nginx with a fresh config in `dir`; returns { port, ims_port, tls_port, ca_file, ... }.
function nginx.start(root, dir)
  local server = { dir = dir, port = proc.free_port(), ims_port = proc.free_port(),
    tls_port = proc.free_port(), ca_file = dir .. "/cert.pem", log = dir .. "/access.log" }
  make_cert(dir)
  local is_root = proc.capture("id -u"):match("^0") ~= nil
  local values = {
    DIR = dir, PORT = server.port, IMS_PORT = server.ims_port, TLS_PORT = server.tls_port,
    -- As root the worker would otherwise run as nobody; everything it needs is opened by the
    -- master, but keep it simple and predictable.
    USER = is_root and "user root;" or "",
    CREATED = nginx_quoted(workload.CREATED), IMS_RESPONSE = nginx_quoted(workload.IMS_RESPONSE),
  }
  local template = assert(proc.read(root .. "/bench/nginx/nginx.conf.in"))
  local conf = template:gsub("@([%u_]+)@", function(name)
    return tostring(assert(values[name], "no value for @" .. name .. "@"))
  end)
  proc.write(dir .. "/nginx.conf", conf)
  proc.write(server.log, "")
  local out, ok = proc.capture(("nginx -p %s/ -c %s/nginx.conf -e %s/error.log 2>&1")
    :format(dir, dir, dir))
  if not ok then error("nginx did not start: " .. out .. (proc.read(dir .. "/error.log") or "")) end
  for _ = 1, 100 do
    local pid = proc.read(dir .. "/nginx.pid")
    if pid and pid:match("%d+") then
      server.pid = pid:match("%d+")
      break
    end
    proc.sleep(0.02)
  end
  assert(server.pid, "nginx wrote no pid file")
  proc.remember_pid(dir, server.pid)
  for _, port in ipairs { server.port, server.ims_port, server.tls_port } do
    assert(proc.wait_port(port, 5), "nginx does not listen on port " .. port)
  end
  server.log_offset = 0
  return server
end

-- Size of the access log now: pass it to connections_since after a run.
function nginx.mark(server)
  proc.sleep(0.05) -- let nginx log the requests of whatever ran before
  local f = assert(io.open(server.log, "rb"))
  local size = f:seek("end")
  f:close()
  return size
end

-- Requests and distinct connections ($connection) logged since `offset`, in total and per port.
function nginx.connections_since(server, offset)
  proc.sleep(0.05) -- nginx logs a request just after answering it
  local f = assert(io.open(server.log, "rb"))
  f:seek("set", offset)
  local seen, per_port, total, requests, protocols = {}, {}, 0, 0, {}
  for line in f:lines() do
    local port, conn, proto = line:match("^(%d+) (%d+) %d+ %S+ %S+ %d+ (%S+)")
    if port then
      requests = requests + 1
      protocols[proto] = true
      local key = port .. "/" .. conn
      if not seen[key] then
        seen[key] = true
        total = total + 1
        per_port[port] = (per_port[port] or 0) + 1
      end
    end
  end
  f:close()
  local names = {}
  for p in pairs(protocols) do names[#names + 1] = p end
  table.sort(names)
  return { total = total, per_port = per_port, requests = requests, protocols = table.concat(names, ",") }
end

function nginx.stop(server)
  if server and server.pid then os.execute("kill -QUIT " .. server.pid .. " 2>/dev/null") end
end

return nginx
