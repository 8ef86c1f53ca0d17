rockspec_format = "3.0"
package = "flowservice"
version = "0.1.0-1"
-- The repository's address is a placeholder (flowservice-lua is not a published organisation
-- yet); the scheme and the tag are what a release uses. Build a checkout with `luarocks make`.
source = {
  url = "git+https://github.com/flowservice-lua/flowservice.git",
  tag = "v0.1.0",
}
description = {
  summary = "Adobe Experience Platform Flow Service API client: Lua on a thin libcurl core",
  detailed = [[
Drives Flow Service from Lua: base connections (Oracle Service Cloud and other sources),
explore, source and target connections, dataflows and runs, with IMS OAuth server-to-server
tokens, structured errors, secrets kept in C memory and out of every message, and a local
emulator of Flow Service and IMS (http or https) for tests.
]],
  license = "MIT",
  labels = { "adobe", "aep", "http", "libcurl" },
}
dependencies = {
  "lua >= 5.1, < 5.5", -- 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1
  "lua-cjson >= 2.1.0",
  "argparse >= 0.7", -- the flowservice command
  -- The emulator (flowservice-emulator, `flowservice emulator`) ships in this rock: scripts are
  -- tested against it, so it is wherever the library is. It needs luasocket, and luasec to serve
  -- HTTPS; luasec builds against OpenSSL's headers, which libcurl's OpenSSL build already needs.
  "luasocket >= 3.0",
  "luasec >= 1.0",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
}
test_dependencies = { "busted" }
test = { type = "busted" }
build = {
  type = "builtin",
  modules = {
    ["flowservice.core"] = {
      sources = { "src/core.c", "src/session.c", "src/request.c", "src/buffer.c", "src/json_encode.c",
        "src/json_decode.c", "src/secret.c", "src/capture.c", "src/multi.c",
        "src/private_file.c", "src/harden.c", "src/wipe_alloc.c" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      -- Must match VERSION in lua/flowservice/init.lua (a spec checks that they agree).
      defines = { 'FLOWSERVICE_VERSION="0.1.0"' },
    },
    ["flowservice"] = "lua/flowservice/init.lua",
    ["flowservice.batch"] = "lua/flowservice/batch.lua",
    ["flowservice.check"] = "lua/flowservice/check.lua",
    ["flowservice.cli"] = "lua/flowservice/cli/init.lua",
    ["flowservice.cli.commands"] = "lua/flowservice/cli/commands.lua",
    ["flowservice.cli.config"] = "lua/flowservice/cli/config.lua",
    ["flowservice.cli.credentials"] = "lua/flowservice/cli/credentials.lua",
    ["flowservice.cli.dryrun"] = "lua/flowservice/cli/dryrun.lua",
    ["flowservice.cli.extras"] = "lua/flowservice/cli/extras.lua",
    ["flowservice.cli.output"] = "lua/flowservice/cli/output.lua",
    ["flowservice.cli.params"] = "lua/flowservice/cli/params.lua",
    ["flowservice.cli.refs"] = "lua/flowservice/cli/refs.lua",
    ["flowservice.cli.resources"] = "lua/flowservice/cli/resources.lua",
    ["flowservice.cli.runcreate"] = "lua/flowservice/cli/runcreate.lua",
    ["flowservice.cli.schedule"] = "lua/flowservice/cli/schedule.lua",
    ["flowservice.cli.settings"] = "lua/flowservice/cli/settings.lua",
    ["flowservice.cli.update"] = "lua/flowservice/cli/update.lua",
    ["flowservice.cli.state"] = "lua/flowservice/cli/state.lua",
    ["flowservice.cli.watch"] = "lua/flowservice/cli/watch.lua",
    ["flowservice.client"] = "lua/flowservice/client.lua",
    ["flowservice.compat"] = "lua/flowservice/compat.lua",
    ["flowservice.connection_specs"] = "lua/flowservice/connection_specs.lua",
    ["flowservice.connections"] = "lua/flowservice/connections.lua",
    ["flowservice.errors"] = "lua/flowservice/errors.lua",
    ["flowservice.filter"] = "lua/flowservice/filter.lua",
    ["flowservice.flow_specs"] = "lua/flowservice/flow_specs.lua",
    ["flowservice.flows"] = "lua/flowservice/flows.lua",
    ["flowservice.json"] = "lua/flowservice/json.lua",
    ["flowservice.jsonschema"] = "lua/flowservice/jsonschema.lua",
    ["flowservice.limiter"] = "lua/flowservice/limiter.lua",
    ["flowservice.missing"] = "lua/flowservice/missing.lua",
    ["flowservice.resource"] = "lua/flowservice/resource.lua",
    ["flowservice.retry"] = "lua/flowservice/retry.lua",
    ["flowservice.runs"] = "lua/flowservice/runs.lua",
    ["flowservice.sensitive"] = "lua/flowservice/sensitive.lua",
    ["flowservice.source_connections"] = "lua/flowservice/source_connections.lua",
    ["flowservice.specs"] = "lua/flowservice/specs.lua",
    ["flowservice.state"] = "lua/flowservice/state.lua",
    ["flowservice.target_connections"] = "lua/flowservice/target_connections.lua",
    ["flowservice.token_cache"] = "lua/flowservice/token_cache.lua",
    ["flowservice.trace"] = "lua/flowservice/trace.lua",
    ["flowservice.url"] = "lua/flowservice/url.lua",
    ["flowservice.emulator"] = "lua/flowservice/emulator/init.lua",
    ["flowservice.emulator.admin"] = "lua/flowservice/emulator/admin.lua",
    ["flowservice.emulator.catalog"] = "lua/flowservice/emulator/catalog.lua",
    ["flowservice.emulator.connections"] = "lua/flowservice/emulator/connections.lua",
    ["flowservice.emulator.dataflows"] = "lua/flowservice/emulator/dataflows.lua",
    ["flowservice.emulator.dataset"] = "lua/flowservice/emulator/dataset.lua",
    ["flowservice.emulator.explore"] = "lua/flowservice/emulator/explore.lua",
    ["flowservice.emulator.faults"] = "lua/flowservice/emulator/faults.lua",
    ["flowservice.emulator.runs"] = "lua/flowservice/emulator/runs.lua",
    ["flowservice.emulator.scenarios"] = "lua/flowservice/emulator/scenarios.lua",
    ["flowservice.emulator.flow"] = "lua/flowservice/emulator/flow.lua",
    ["flowservice.emulator.gateway"] = "lua/flowservice/emulator/gateway.lua",
    ["flowservice.emulator.http"] = "lua/flowservice/emulator/http.lua",
    ["flowservice.emulator.ims"] = "lua/flowservice/emulator/ims.lua",
    ["flowservice.emulator.patch"] = "lua/flowservice/emulator/patch.lua",
    ["flowservice.emulator.problem"] = "lua/flowservice/emulator/problem.lua",
    ["flowservice.emulator.query"] = "lua/flowservice/emulator/query.lua",
    ["flowservice.emulator.ratelimit"] = "lua/flowservice/emulator/ratelimit.lua",
    ["flowservice.emulator.schema"] = "lua/flowservice/emulator/schema.lua",
    ["flowservice.emulator.store"] = "lua/flowservice/emulator/store.lua",
    ["flowservice.emulator.util"] = "lua/flowservice/emulator/util.lua",
  },
  install = {
    bin = { ["flowservice-emulator"] = "bin/flowservice-emulator", ["flowservice"] = "bin/flowservice" },
  },
}
