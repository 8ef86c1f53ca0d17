#!/bin/sh
# make demo: start the emulator on a port the OS picks, run the whole walkthrough against it
# (base connection -> explore -> source and target connections -> dataflow -> first run), stop it.
set -eu
LUA=${LUA:-lua5.4}
cd "$(dirname "$0")/.."
export LUA_PATH="./lua/?.lua;./lua/?/init.lua;;"
# FLOWSERVICE_CPATH: the C core built for $LUA (make demo LUA=lua5.1 sets ./build/lua5.1/?.so)
export LUA_CPATH="${FLOWSERVICE_CPATH:-./build/?.so};;"

log=$(mktemp)
fifo=$(mktemp -u)
mkfifo "$fifo"
"$LUA" bin/flowservice-emulator --port 0 --run-duration 2 >"$fifo" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$fifo" "$log"' EXIT
exec 3<"$fifo"
read -r url <&3
echo "emulator (pid $pid) at $url"

# The emulator's demo credential; on the real platform these come from the Developer Console.
# The dataset, schema and mapping set ids stand for what Catalog Service and Data Prep (not
# emulated) would have created beforehand.
AEP_BASE_URL=$url AEP_IMS_URL=$url \
AEP_CLIENT_ID=flowservice-demo-client AEP_CLIENT_SECRET=flowservice-demo-secret \
AEP_ORG_ID=DEMOORG0000000000000000@AdobeOrg AEP_SANDBOX=prod \
OSC_HOST=example.custhelp.com OSC_USERNAME=svc-user OSC_PASSWORD=demo-password \
AEP_DATASET_ID=5f7e0d1c2b3a4d5e6f708192 \
AEP_SCHEMA_ID=https://ns.adobe.com/demotenant/schemas/0d1c2b3a4d5e6f7081920a1b2c3d4e5f \
AEP_MAPPING_ID=8c1d0e2f3a4b5c6d7e8f90a1b2c3d4e5 RUN_POLL=0.5 RUN_TIMEOUT=60 \
  "$LUA" examples/walkthrough.lua

kill "$pid"
wait "$pid" 2>/dev/null || true
echo "emulator stopped"
