#!/bin/sh
# make demo: start the emulator on a port the OS picks, run the example against it, stop it.
set -eu
LUA=${LUA:-lua5.4}
cd "$(dirname "$0")/.."
export LUA_PATH="./lua/?.lua;./lua/?/init.lua;;"
export LUA_CPATH="./build/?.so;;"

log=$(mktemp)
fifo=$(mktemp -u)
mkfifo "$fifo"
"$LUA" bin/flowservice-emulator --port 0 >"$fifo" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$fifo" "$log"' EXIT
exec 3<"$fifo"
read -r url <&3
echo "emulator (pid $pid) at $url"

# The emulator's demo credential; on the real platform these come from the Developer Console.
AEP_BASE_URL=$url AEP_IMS_URL=$url \
AEP_CLIENT_ID=flowservice-demo-client AEP_CLIENT_SECRET=flowservice-demo-secret \
AEP_ORG_ID=DEMOORG0000000000000000@AdobeOrg AEP_SANDBOX=prod \
OSC_HOST=example.custhelp.com OSC_USERNAME=svc-user OSC_PASSWORD=demo-password \
  "$LUA" examples/create_connection.lua

kill "$pid"
wait "$pid" 2>/dev/null || true
echo "emulator stopped"
