-- --dry-run: the request a command would send (method, URL, headers, JSON body), with secrets
-- masked by the library's trace redaction, and nothing sent (not even the token request).
--
-- The library has no "prepare a request without sending it" hook yet, so the description is
-- built here from the same pieces the client uses: the resource's own body builder
-- (class.def.build_body), the client's headers and trace.lua's redaction. Lookups a body builder
-- would send (a source connection's base connection, a flow spec by name) are answered with
-- placeholders naming what would be read.
local flowservice = require "flowservice"
local client_module = require "flowservice.client"
local trace = require "flowservice.trace"

local json = flowservice.json

local dryrun = {}

-- A stand-in for the client inside body builders: answers their lookups without a request.
function dryrun.lookup_client()
  return {
    _seen_specs = {},
    connections = {
      get = function(_, id)
        return { id = id, connectionSpec = { id = "<connectionSpec.id of connection " .. id .. ">",
          version = "1.0" } }
      end,
    },
    flow_specs = {
      find = function(_, name)
        return { id = "<id of flow spec " .. name .. ">", name = name, version = "1.0" }
      end,
    },
  }
end

-- The client's own query string ("" for none).
local function query_string(query)
  local text = query and client_module._query_string(query) or ""
  return text ~= "" and "?" .. text or ""
end

-- req = { method, path, query, body (Lua value), headers (extra) } -> a description with
-- secrets masked: { method, url, headers, body } (body: the JSON text that would be sent, secrets
-- masked, never decoded again: lua-cjson would turn an empty array into {}).
function dryrun.describe(client, req)
  local headers = {
    ["Authorization"] = "Bearer <token from IMS>",
    ["x-api-key"] = client.config.client_id or "<api key>",
    ["x-gw-ims-org-id"] = client.config.org_id,
    ["x-sandbox-name"] = client.config.sandbox,
    ["Accept"] = "application/json",
  }
  for name, value in pairs(req.headers or {}) do headers[name] = value end
  local body
  if req.body ~= nil then
    headers["Content-Type"] = "application/json"
    local text, err = json.encode(req.body)
    if not text then error("cannot describe the request body: " .. err) end
    body = trace.body(text, "application/json")
  end
  return {
    method = req.method,
    url = client.config.base_url .. client_module.FLOW_PATH .. req.path .. query_string(req.query),
    headers = trace.headers(headers, { redact_api_key = true }),
    body = body,
  }
end

-- Prints descriptions (a list): as one JSON array with --json, else as HTTP-like text.
function dryrun.print(streams, descriptions, as_json)
  if as_json then
    -- each body spliced in as the JSON text itself, so the document shows the bytes sent
    local items = {}
    for i, d in ipairs(descriptions) do
      local text = json.encode { method = d.method, url = d.url, headers = d.headers }
      items[i] = d.body and text:sub(1, -2) .. ',"body":' .. d.body .. "}" or text
    end
    streams.stdout:write("[", table.concat(items, ","), "]\n")
    return
  end
  for i, d in ipairs(descriptions) do
    if i > 1 then streams.stdout:write("\n") end
    streams.stdout:write(d.method, " ", d.url, "\n")
    local names = {}
    for name in pairs(d.headers) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do streams.stdout:write(name, ": ", d.headers[name], "\n") end
    if d.body ~= nil then streams.stdout:write("\n", d.body, "\n") end
  end
  streams.stderr:write("flowservice: dry run: nothing was sent\n")
end

return dryrun
