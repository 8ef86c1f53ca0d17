-- The LDoc API reference (config.ld, `make doc`): generated without a warning, and with an
-- entry for every public function the API section of docs/LIBRARY.md documents.
local helper = require "helper"

-- LDoc runs on Lua 5.1, where Debian's lua-markdown is (the Makefile's LDOC does the same).
local LDOC = os.getenv("LDOC") or "lua5.1 /usr/bin/ldoc"

-- The only lines LDoc prints when nothing is wrong; anything else is a warning.
local QUIET = { "^reading configuration from ", "^output written to " }

-- The API section of docs/LIBRARY.md: its "#### name" headings, and the "### flowservice.x" ones (a
-- heading may name several functions, "client.flows:enable, client.flows:disable").
local function readme_api_names(text)
  local api = assert(text:match("\n## API\n(.-)\n## "), "docs/LIBRARY.md has no API section")
  local names = {}
  for line in api:gmatch("[^\n]+") do
    local heading = line:match("^#### (.+)$") or line:match("^### (flowservice%..+)$")
    if heading then
      for name in heading:gmatch("[^,]+") do names[#names + 1] = name:match("^%s*(.-)%s*$") end
    end
  end
  return names
end

-- client.<field> -> the LDoc module and class documenting that resource kind.
local KINDS = {
  connections = { "flowservice.connections", "Connections" },
  source_connections = { "flowservice.source_connections", "SourceConnections" },
  target_connections = { "flowservice.target_connections", "TargetConnections" },
  flows = { "flowservice.flows", "Flows" },
  runs = { "flowservice.runs", "Runs" },
}

-- A README name -> the page (module) and anchor of its LDoc entry; nil anchor: the module page.
local function entry_of(name)
  if name == "Filters" then return "flowservice.filter", "build" end
  local method = name:match("^resources:([%w_]+)$")
  if method then return "flowservice.resource", "Resource:" .. method end
  local field = name:match("^client%.([%w_]+)$")
  if field then return "flowservice.client", "Client." .. field end
  method = name:match("^client:([%w_]+)$")
  if method then return "flowservice.client", "Client:" .. method end
  local kind, sep, fn = name:match("^client%.([%w_]+)([:.])([%w_]+)$")
  if kind then
    local page = assert(KINDS[kind], "no LDoc class for client." .. tostring(kind))
    return page[1], page[2] .. sep .. fn
  end
  if name:match("^flowservice%.[%w_]+$") then
    if name == "flowservice.new" or name == "flowservice.harden_process" or name == "flowservice.assert" then
      return "flowservice", name:match("[%w_]+$")
    end
    return name, nil
  end
  local module, fn2 = name:match("^(flowservice%.[%w_]+)%.([%w_]+)$")
  if module then return module, fn2 end
  error("README heading '" .. name .. "': no rule maps it to an LDoc entry (add one here)")
end

-- Public API the README does not head but the reference must have.
local EXTRA = {
  { "flowservice.resource", "Resource:create" }, { "flowservice.resource", "Resource:ensure" },
  { "flowservice.client", "Client:batch" }, { "flowservice.errors", "Error" },
  { "flowservice.json", "encode" }, { "flowservice.json", "decode" }, { "flowservice.json", "array" },
  { "flowservice.json", "object" }, { "flowservice.json", "null" },
  { "flowservice.specs", "resolve" }, { "flowservice.specs", "list" }, { "flowservice.specs", "entry" },
}

describe("make doc (LDoc)", function()
  local dir, output, ok

  setup(function()
    local p = assert(io.popen("mktemp -d"))
    dir = p:read("*l")
    p:close()
    output, ok = helper.run(LDOC .. " -d " .. helper.shell_quote(dir) .. " .")
  end)

  teardown(function()
    if dir and dir:match("^/tmp/tmp%.") then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  local function anchors(module)
    local f = io.open(dir .. "/modules/" .. module .. ".html", "rb")
    if not f then return nil end
    local html = f:read("*a")
    f:close()
    local set = {}
    for a in html:gmatch('name%s*=%s*"([^"]+)"') do set[a] = true end
    return set
  end

  it("runs and prints no warning", function()
    assert.is_true(ok, output)
    for line in output:gmatch("[^\n]+") do
      local quiet = false
      for _, pattern in ipairs(QUIET) do quiet = quiet or line:find(pattern) ~= nil end
      assert.is_true(quiet, "LDoc warning: " .. line .. "\n" .. output)
    end
  end)

  it("has an entry for every public function in the API section (docs/LIBRARY.md)", function()
    local names = readme_api_names(helper.read_file("docs/LIBRARY.md"))
    assert.truthy(#names >= 20, "too few API headings found in docs/LIBRARY.md")
    for _, name in ipairs(names) do
      local module, anchor = entry_of(name)
      local set = anchors(module)
      assert.truthy(set, name .. ": no page for module " .. module)
      if anchor then assert.truthy(set[anchor], name .. ": no entry " .. anchor .. " in " .. module) end
    end
  end)

  it("documents ensure, batch, the error type, flowservice.json and flowservice.specs", function()
    for _, e in ipairs(EXTRA) do
      local set = anchors(e[1])
      assert.truthy(set, "no page for module " .. e[1])
      assert.truthy(set[e[2]], "no entry " .. e[2] .. " in " .. e[1])
    end
  end)

  it("leaves the emulator and the command line's internals out", function()
    assert.is_nil(anchors("flowservice.emulator"))
    assert.is_nil(anchors("flowservice.cli"))
    assert.is_nil(anchors("flowservice.batch"))
  end)
end)
