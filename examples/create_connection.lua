-- Creates an Oracle Service Cloud base connection and prints its id and etag.
--
-- Configuration comes from the environment, so the same script talks to the emulator
-- (make demo) or to the real platform:
--   AEP_CLIENT_ID, AEP_CLIENT_SECRET, AEP_ORG_ID, AEP_SANDBOX   your Developer Console credential
--   AEP_BASE_URL, AEP_IMS_URL                                   only to point at the emulator
--   OSC_HOST, OSC_USERNAME, OSC_PASSWORD                        the Oracle Service Cloud account
local flowservice = require "flowservice"

local function need(name)
  local value = os.getenv(name)
  if not value or value == "" then
    io.stderr:write("create_connection: set ", name, "\n")
    os.exit(2)
  end
  return value
end

local client, err = flowservice.new {} -- everything from AEP_* environment variables
if not client then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end

local conn
conn, err = client.connections:create {
  name = "Base connection for Oracle Service Cloud",
  description = "Base connection for Oracle Service Cloud",
  spec = "oracle-service-cloud",
  auth = {
    host = need("OSC_HOST"),
    username = need("OSC_USERNAME"),
    password = need("OSC_PASSWORD"),
  },
}
if not conn then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print("id:   " .. conn.id)
print("etag: " .. conn.etag)

-- Read it back: Flow Service returns the connection without the password.
local item
item, err = client.connections:get(conn.id)
if not item then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(string.format("read back: %q, spec %s, state %s", item.name, item.connectionSpec.id, item.state))
client:close()
