-- Shared by every spec: starts the emulator as a separate process on a port the OS picks.
local helper = {}

helper.LUA = os.getenv("FLOWSERVICE_LUA") or "lua5.4"
-- Where processes the specs start find the C core built for that Lua (make test sets it).
helper.CPATH = os.getenv("FLOWSERVICE_CPATH") or "./build/?.so"

-- Credentials the emulator knows in the specs. The secret is a sentinel: specs grep every
-- output for it.
helper.CLIENT_ID = "spec-client-id"
helper.CLIENT_SECRET = "SENTINEL-client-secret-7f3a9c"
helper.ORG_ID = "SPECORG0123456789@AdobeOrg"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end
helper.shell_quote = shell_quote

-- NAME='value' words for `env`, from a table.
local function env_words(vars)
  local words = {}
  for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. shell_quote(v) end
  return table.concat(words, " ")
end

-- Starts `command` (a shell command line) as a separate process whose first line on stdout
-- is read and returned as `proc.first_line`; proc.stop() kills it by its PID (idempotent).
-- LD_PRELOAD is dropped so servers never run under `make check`'s ASan runtime.
function helper.spawn(command)
  local pipe = assert(io.popen("echo $$; exec env -u LD_PRELOAD " .. command, "r"))
  local proc = { pid = tonumber(pipe:read("*l")), first_line = pipe:read("*l") }
  function proc.stop()
    if proc.stopped then return end
    proc.stopped = true
    if proc.pid then os.execute("kill " .. proc.pid .. " 2>/dev/null") end
    pipe:close()
  end
  return proc
end

-- Runs a shell command line (without make check's LD_PRELOAD, like spawn); returns its
-- stdout and stderr together, and whether it exited with status 0.
-- The exit status comes back as the last line: Lua 5.1's close() of a pipe does not report it.
function helper.run(command)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. shell_quote(command) .. ' 2>&1; echo "exit:$?"', "r"))
  local out = p:read("*a")
  p:close()
  local status
  out, status = out:match("^(.-)exit:(%d+)\n$")
  return out, status == "0"
end

-- Runs a Lua script as a user would, configured for `emu` through the AEP_* variables, with
-- the in-tree library; `env` adds or overrides variables. Returns its output and success.
function helper.run_script(emu, script, env)
  local vars = {
    AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
    AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID,
    LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;", LUA_CPATH = helper.CPATH .. ";;",
  }
  for k, v in pairs(env or {}) do vars[k] = v end
  return helper.run("env " .. env_words(vars) .. " " .. helper.LUA .. " " .. shell_quote(script))
end

-- Starts bin/flowservice-emulator. Returns an object with url, pid, log_path, log() and stop().
-- opts.args: extra command-line arguments (list); opts.env: extra environment (table);
-- opts.tls: { cert = path, key = path } (e.g. from helper.make_certs()) to serve HTTPS.
function helper.start_emulator(opts)
  opts = opts or {}
  local log_path = os.tmpname()
  local env = {
    FLOWSERVICE_EMULATOR_CLIENT_SECRET = helper.CLIENT_SECRET,
    LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;",
  }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local args = { "--port", "0", "--client-id", helper.CLIENT_ID, "--org-id", helper.ORG_ID }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  if opts.tls then
    for _, a in ipairs { "--tls-cert", assert(opts.tls.cert), "--tls-key", assert(opts.tls.key) } do
      args[#args + 1] = a
    end
  end
  for i, a in ipairs(args) do args[i] = shell_quote(a) end
  local emu = helper.spawn(string.format("%s %s bin/flowservice-emulator %s 2>%s",
    env_words(env), helper.LUA, table.concat(args, " "), shell_quote(log_path)))
  emu.url, emu.log_path = emu.first_line, log_path
  local final_log
  function emu.log() -- the shell created the file before starting the emulator
    return final_log or helper.read_file(log_path)
  end
  -- Stopping keeps the log readable through emu.log() and removes the file.
  local stop_process = emu.stop
  function emu.stop()
    if emu.stopped then return end
    stop_process()
    final_log = helper.read_file(log_path)
    os.remove(log_path)
  end
  if not (emu.pid and emu.url and emu.url:match("^https?://")) then
    emu.stop()
    error("emulator did not start: " .. tostring(emu.url) .. "\n" .. emu.log(), 2)
  end
  return emu
end

---------------------------------------------------------------------------------------------------
-- Throwaway certificates (openssl command line)
---------------------------------------------------------------------------------------------------

local CERT_DAYS = "2"
local CERT_CACHE = "flowservice.spec.certs" -- registry key: busted's file insulation resets
                                            -- globals and package.loaded, not the registry

-- Runs openssl with `args` in `dir`; raises with its output when it fails.
local function openssl(dir, args)
  local out, ok = helper.run("cd " .. shell_quote(dir) .. " && openssl " .. args)
  if not ok then error("openssl " .. args .. " failed:\n" .. out, 3) end
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local NEW_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

-- A server key (name.key) and certificate (name.pem) signed by ca.pem / ca.key, with `san`.
local function ca_signed(dir, name, san)
  openssl(dir, ("req %s -keyout %s.key -out %s.csr -subj /CN=%s"):format(NEW_KEY, name, name, name))
  write_file(dir .. "/" .. name .. ".ext", "subjectAltName = " .. san .. "\n"
    .. "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
    .. "extendedKeyUsage = serverAuth\n")
  openssl(dir, ("x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days %s "
    .. "-extfile %s.ext -out %s.pem"):format(name, CERT_DAYS, name, name))
end

local function generate_certs()
  local dir = helper.run("mktemp -d"):gsub("%s+$", "")
  assert(dir:match("^/"), "mktemp -d failed: " .. dir)
  openssl(dir, ("req -x509 %s -keyout ca.key -out ca.pem -days %s -subj '/CN=flowservice spec CA' "
    .. "-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'")
    :format(NEW_KEY, CERT_DAYS))
  ca_signed(dir, "server", "IP:127.0.0.1, DNS:localhost")
  ca_signed(dir, "wrong", "DNS:wrong.example")
  openssl(dir, ("req -x509 %s -keyout self.key -out self.pem -days %s -subj /CN=127.0.0.1 "
    .. "-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost'"):format(NEW_KEY, CERT_DAYS))
  return {
    dir = dir, ca = dir .. "/ca.pem", cert = dir .. "/server.pem", key = dir .. "/server.key",
    wrong_cert = dir .. "/wrong.pem", wrong_key = dir .. "/wrong.key",
    self_cert = dir .. "/self.pem", self_key = dir .. "/self.key",
  }
end

-- Generates, once per busted run, into a fresh temporary directory: a throwaway CA (ca), a
-- server certificate it signed for 127.0.0.1 and localhost (cert, key), one it signed for
-- wrong.example only (wrong_cert, wrong_key) and a self-signed one for 127.0.0.1 (self_cert,
-- self_key). EC P-256 keys, valid for 2 days. Returns those paths and dir. The directory is
-- removed when the Lua state closes (busted exits with os.exit(code, true)).
function helper.make_certs()
  local registry = debug.getregistry()
  if registry[CERT_CACHE] then return registry[CERT_CACHE].certs end
  local certs = generate_certs()
  local function remove() os.execute("rm -rf " .. shell_quote(certs.dir)) end
  if newproxy then -- luacheck: ignore 113 (5.1 and LuaJIT run no __gc of tables, but of a proxy)
    local proxy = newproxy(true) -- luacheck: ignore 113
    getmetatable(proxy).__gc = remove
    registry[CERT_CACHE] = { certs = certs, proxy = proxy }
  else
    registry[CERT_CACHE] = setmetatable({ certs = certs }, { __gc = remove })
  end
  return certs
end

-- Starts spec/fixtures/http_server.lua in `mode` (see its header); returns the process with
-- port, url and stop().
function helper.start_http_fixture(mode)
  local fx = helper.spawn(helper.LUA .. " spec/fixtures/http_server.lua " .. mode)
  fx.port = assert(tonumber(fx.first_line), "fixture server did not start")
  fx.url = "http://127.0.0.1:" .. fx.port
  return fx
end

-- Starts spec/fixtures/`script` (flaky_server.lua or transport_server.lua: one connection at a
-- time, events written to a log file; see their headers) with `argument`. Returns the process
-- with port, url, log() (the log's text so far), probe() and stop() (which removes the log too).
-- probe() sends GET /__probe and waits for its answer: connections are served in order, so by
-- then every earlier one is logged.
function helper.start_logging_fixture(script, argument)
  local log_path = os.tmpname()
  local fx = helper.spawn(("%s spec/fixtures/%s %s %s"):format(helper.LUA, script, shell_quote(argument),
    shell_quote(log_path)))
  fx.port = assert(tonumber(fx.first_line), script .. " did not start")
  fx.url = "http://127.0.0.1:" .. fx.port
  function fx.log() return helper.read_file(log_path) end
  function fx.probe()
    local sock = assert(require("socket").connect("127.0.0.1", fx.port))
    sock:settimeout(10)
    assert(sock:send("GET /__probe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    sock:receive("*a")
    sock:close()
  end
  local stop = fx.stop
  function fx.stop()
    stop()
    os.remove(log_path)
  end
  return fx
end

-- A TCP port on 127.0.0.1 that nothing listens on (bound by the OS, then released).
function helper.closed_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- Lua 5.4's to-be-closed variables: helper.in_close_scope(value, body) runs body(v) in a block
-- `local v <close> = value`. The syntax does not parse before 5.4, so the chunk is compiled from
-- text, and only where helper.HAS_CLOSE.
helper.HAS_CLOSE = _VERSION == "Lua 5.4"
function helper.in_close_scope(value, body)
  assert(helper.HAS_CLOSE, "no to-be-closed variables before Lua 5.4")
  local chunk = assert(load("local value, body = ... do local v <close> = value; body(v) end"))
  chunk(value, body)
end

-- README.md and the guide pages in the order a reader meets them (blocks build on the pages
-- before them: the guides on the README's quick start); a page of docs/ not listed here comes
-- after these, in name order.
local DOC_PAGES = {
  "README.md", "docs/INSTALL.md", "docs/CONFIGURATION.md", "docs/LIBRARY.md", "docs/RELIABILITY.md",
  "docs/PERFORMANCE.md", "docs/SECURITY.md", "docs/EMULATOR.md", "docs/CLI.md", "docs/TESTING.md",
  "docs/EMBEDDING.md",
}

function helper.doc_pages()
  local list, listed = {}, {}
  for _, page in ipairs(DOC_PAGES) do
    listed[page] = true
    local f = io.open(page, "rb")
    if f then f:close() list[#list + 1] = page end
  end
  local p = assert(io.popen("ls docs/*.md 2>/dev/null | sort"))
  for page in p:lines() do
    if not listed[page] then list[#list + 1] = page end
  end
  p:close()
  return list
end

function helper.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs a shell command line (without LD_PRELOAD) with `stdin` (a string, default empty) as its
-- standard input. Returns its stdout, its stderr (separately) and its exit status (a number).
function helper.run_process(command, stdin)
  local input, out, err = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(stdin or "")
  f:close()
  local p = assert(io.popen(("env -u LD_PRELOAD sh -c %s <%s >%s 2>%s; echo $?"):format(shell_quote(command),
    shell_quote(input), shell_quote(out), shell_quote(err)), "r"))
  local code = tonumber(p:read("*l"))
  p:close()
  local stdout, stderr = helper.read_file(out), helper.read_file(err)
  os.remove(input)
  os.remove(out)
  os.remove(err)
  return stdout, stderr, code
end

-- Runs bin/flowservice (the command line) as a process with the in-tree library. `args`: a
-- list of arguments; opts.env: environment variables (table; nothing else is inherited but
-- PATH); opts.stdin: its standard input. Returns stdout, stderr, exit status.
function helper.run_cli(args, opts)
  opts = opts or {}
  local vars = { PATH = os.getenv("PATH") or "/usr/bin:/bin" }
  for k, v in pairs(opts.env or {}) do vars[k] = v end
  local words = {}
  for i, a in ipairs(args) do words[i] = shell_quote(a) end
  return helper.run_process("env -i " .. env_words(vars) .. " " .. helper.LUA .. " bin/flowservice "
    .. table.concat(words, " "), opts.stdin)
end

-- Runs a bench script (`script`, e.g. "bench/run", with `args`) as CI does, without make
-- check's LD_PRELOAD; returns its output (stdout and stderr) and exit status.
function helper.run_bench(script, args)
  local p = assert(io.popen("env -u LD_PRELOAD LUA=" .. shell_quote(helper.LUA) .. " " .. script .. " "
    .. (args or "") .. " 2>&1; echo \"exit status $?\""))
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("exit status (%d+)%s*$"))
end

-- A bench's printed table by row label: each row's cells (split on runs of two or more spaces).
function helper.table_rows(out)
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    local cells = {}
    for cell in (line .. "  "):gmatch("(.-)%s%s+") do
      if cell ~= "" then cells[#cells + 1] = cell end
    end
    if #cells >= 3 then rows[cells[1]] = cells end
  end
  return rows
end

-- The environment of a command line run against `emu` with the specs' credentials (AEP_*);
-- `extra` adds or overrides variables.
function helper.cli_env(emu, extra)
  local env = {
    AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
    AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID,
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- A client of the emulator `emu` with its demo credentials and no environment variables;
-- `extra` adds or overrides options.
function helper.new_client(emu, extra)
  local opts = {
    env = false, base_url = emu.url, ims_url = emu.url, client_id = helper.CLIENT_ID,
    client_secret = helper.CLIENT_SECRET, org_id = helper.ORG_ID,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(require("flowservice").new(opts))
end

-- An emulator shared by a describe block, with its admin helpers (rawhttp.admin): hand
-- `block.start`, `block.stop` and, to reset state and fault rules before each test,
-- `block.reset` to busted's setup, teardown and before_each (busted's hooks are not visible
-- from here). `block.emu` and `block.admin` are set once started.
function helper.emulator_block(opts)
  local block = {}
  function block.start()
    block.emu = helper.start_emulator(opts)
    block.admin = require("rawhttp").admin(block.emu)
  end
  function block.stop()
    if block.emu then block.emu.stop() end
  end
  function block.reset()
    block.admin.reset()
  end
  return block
end

-- A port on 127.0.0.1 whose connections are never accepted: a backlog of 0 with one
-- connection already queued, so the kernel drops further SYNs and a client's connect hangs
-- until its own timeout. Returns the port and a function that closes both sockets.
function helper.unaccepting_port()
  local socket = require "socket"
  local listener = assert(socket.tcp())
  assert(listener:bind("127.0.0.1", 0))
  assert(listener:listen(0))
  local _, port = listener:getsockname()
  local filler = assert(socket.tcp())
  filler:settimeout(1)
  assert(filler:connect("127.0.0.1", port))
  return port, function()
    filler:close()
    listener:close()
  end
end

return helper
