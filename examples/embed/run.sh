#!/bin/sh
# make example-embed: start the emulator on a port the OS picks, run each C host built from
# host.c against it (each prints the id of the connection it created), stop the emulator.
# usage: run.sh HOST... (the host executables, built by the Makefile)
set -eu
cd "$(dirname "$0")/../.."
log=$(mktemp)
fifo=$(mktemp -u)
mkfifo "$fifo"
LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" lua5.4 bin/flowservice-emulator --port 0 >"$fifo" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$fifo" "$log"' EXIT
exec 3<"$fifo"
read -r url <&3
echo "emulator (pid $pid) at $url"
# The emulator's demo credential (flowservice.new reads AEP_*); the host sets the module paths
# itself, so LUA_PATH and LUA_CPATH are cleared to show that nothing comes from them.
status=0
for host in "$@"; do
  printf '%s: ' "$host"
  env -u LUA_PATH -u LUA_CPATH AEP_CLIENT_ID=flowservice-demo-client AEP_CLIENT_SECRET=flowservice-demo-secret \
    AEP_ORG_ID=DEMOORG0000000000000000@AdobeOrg "$host" "$PWD/lua" "$PWD/build" "$url" || status=1
done
exit $status
