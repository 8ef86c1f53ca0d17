-- Shared by every spec: starts the emulator as a separate process on a port the OS picks.
local helper = {}

helper.LUA = os.getenv("FLOWSERVICE_LUA") or "lua5.4"

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
  local proc = { pid = tonumber(pipe:read("l")), first_line = pipe:read("l") }
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
function helper.run(command)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. shell_quote(command) .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

-- Runs a Lua script as a user would, configured for `emu` through the AEP_* variables, with
-- the in-tree library; `env` adds or overrides variables. Returns its output and success.
function helper.run_script(emu, script, env)
  local vars = {
    AEP_BASE_URL = emu.url, AEP_IMS_URL = emu.url, AEP_CLIENT_ID = helper.CLIENT_ID,
    AEP_CLIENT_SECRET = helper.CLIENT_SECRET, AEP_ORG_ID = helper.ORG_ID,
    LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;", LUA_CPATH = "./build/?.so;;",
  }
  for k, v in pairs(env or {}) do vars[k] = v end
  return helper.run("env " .. env_words(vars) .. " " .. helper.LUA .. " " .. shell_quote(script))
end

-- Starts bin/flowservice-emulator. Returns an object with url, pid, log_path, log() and stop().
-- opts.args: extra command-line arguments (list); opts.env: extra environment (table).
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
  for i, a in ipairs(args) do args[i] = shell_quote(a) end
  local emu = helper.spawn(string.format("%s %s bin/flowservice-emulator %s 2>%s",
    env_words(env), helper.LUA, table.concat(args, " "), shell_quote(log_path)))
  emu.url, emu.log_path = emu.first_line, log_path
  function emu.log() -- the shell created the file before starting the emulator
    return helper.read_file(log_path)
  end
  if not (emu.pid and emu.url and emu.url:match("^https?://")) then
    emu.stop()
    error("emulator did not start: " .. tostring(emu.url) .. "\n" .. emu.log(), 2)
  end
  return emu
end

-- A TCP port on 127.0.0.1 that nothing listens on (bound by the OS, then released).
function helper.closed_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

function helper.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

return helper
