-- Process-wide protections, each in a child process (they change the process for good): core
-- dumps off (flowservice.harden_process, always on in the command line) and libcurl's freed
-- buffers wiped (no "Bearer <token>" left in memory after close).
local helper = require "spec.helper"

local LUA_ENV = ("LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH=%s"):format(
  helper.shell_quote((os.getenv("FLOWSERVICE_CPATH") or "./build/?.so") .. ";;"))

describe("process hardening", function()
  it("flowservice.harden_process turns core dumps off, soft and hard, and makes the process not dumpable", function()
    local script = [[
      local flowservice = require "flowservice"
      local state = flowservice.harden_process()
      print(state.core_dumps_off, state.not_dumpable)
      for line in io.lines("/proc/self/limits") do
        if line:find("^Max core file size") then print(line) end
      end
    ]]
    local out, ok = helper.run(("ulimit -c unlimited; %s %s -e %s"):format(LUA_ENV, helper.LUA,
      helper.shell_quote(script)))
    assert(ok, out)
    assert.matches("^true\ttrue\n", out)
    assert.matches("Max core file size%s+0%s+0%s+bytes", out)
  end)

  it("the command line turns core dumps off before it reads a secret", function()
    -- The command waits for the password on stdin (a FIFO held open here), so its limits can be
    -- read while it runs; started with an unlimited core size.
    local fifo = os.tmpname()
    os.remove(fifo)
    local script = ([[
      set -e
      mkfifo %s
      exec 3<>%s
      ulimit -c unlimited
      env -i PATH="$PATH" AEP_BASE_URL=http://127.0.0.1:%d AEP_IMS_URL=http://127.0.0.1:1 \
        AEP_ORG_ID=%s AEP_ACCESS_TOKEN=t AEP_API_KEY=k %s bin/flowservice connections create \
        --spec oracle-service-cloud --name hardened --param host=h --param username=u --password-stdin \
        <%s >/dev/null 2>&1 3>&- &
      pid=$!
      i=0
      while [ $i -lt 100 ] && ! grep -q "^Max core file size *0 *0" /proc/$pid/limits 2>/dev/null; do
        sleep 0.1; i=$((i+1))
      done
      grep "^Max core file size" /proc/$pid/limits || echo "process gone"
      exec 3>&-
      wait $pid || true
      rm -f %s
    ]]):format(fifo, fifo, helper.closed_port(), helper.ORG_ID, helper.LUA, fifo, fifo)
    local out, ok = helper.run("sh -c " .. helper.shell_quote(script))
    os.remove(fifo)
    assert(ok, out)
    assert.matches("Max core file size%s+0%s+0%s+bytes", out)
  end)

  it("wipes libcurl's freed buffers: no bearer token is left in memory after close", function()
    local emu = helper.start_emulator()
    local out, ok = helper.run(("%s %s spec/fixtures/residue_probe.lua %s %s %s %s"):format(LUA_ENV, helper.LUA,
      emu.url, helper.shell_quote(helper.CLIENT_ID), helper.shell_quote(helper.CLIENT_SECRET),
      helper.shell_quote(helper.ORG_ID)))
    emu.stop()
    assert(ok, out)
    assert.matches("wiping=true copies=0", out)
  end)
  it("a host that uses libcurl after closing the Lua state that loaded the core does not crash", function()
    -- libcurl keeps the wiping allocation functions for the life of the process, while Lua
    -- unloads the core's library (dlclose) in lua_close; the host's next libcurl call must not
    -- jump into unmapped code.
    local dir = os.tmpname()
    os.remove(dir)
    local host = [[
#include <curl/curl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
int main(void) {
  lua_State *L = luaL_newstate();
  CURL *h;
  luaL_openlibs(L);
  if (luaL_dostring(L, "print('wiping', require('flowservice.core').features.wiping_allocator)") != 0) {
    printf("error: %s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_close(L);
  h = curl_easy_init();
  curl_easy_cleanup(h);
  printf("host survived\n");
  return 0;
}
]]
    local out, ok = helper.run(("mkdir %s && cd %s && cat > host.c <<'EOF'\n%sEOF\n"
      .. "cc -o host host.c $(pkg-config --cflags --libs %s) -lcurl"):format(dir, dir, host, helper.LUA))
    assert(ok, out)
    out, ok = helper.run(("LUA_CPATH=%s %s/host; rm -r %s"):format(helper.shell_quote(helper.CPATH .. ";;"), dir, dir))
    assert(ok, out)
    assert.matches("wiping\ttrue\nhost survived\n", out)
  end)
end)
