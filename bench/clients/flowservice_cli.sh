#!/bin/sh
# The command line as scripts use it (issue 15): one `flowservice` process per command, the
# token from the token cache (the first command fills it), against the emulator. One small GET
# per command (specs show: GET /connectionSpecs/{id}), so the figure is the command's start-up,
# parsing and exit, not the server's work. CPU is taken from /usr/bin/time by the orchestrator.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export XDG_CACHE_HOME="$dir" AEP_BASE_URL="$BENCH_BASE_URL" AEP_IMS_URL="$BENCH_BASE_URL" \
  AEP_CLIENT_ID="$BENCH_API_KEY" AEP_CLIENT_SECRET="$BENCH_CLIENT_SECRET" AEP_ORG_ID="$BENCH_ORG_ID"
cmd="${LUA:-lua5.4} bin/flowservice specs show oracle-service-cloud"

$cmd >/dev/null || { echo "warm-up command failed" >&2; exit 1; }
ok=0
i=0
start=$(date +%s.%N)
while [ "$i" -lt "$BENCH_CALLS" ]; do
  $cmd >/dev/null && ok=$((ok + 1))
  i=$((i + 1))
done
end=$(date +%s.%N)
echo "result calls=$BENCH_CALLS ok=$ok wall=$(awk "BEGIN { print $end - $start }") cpu=-1 connects=-"
[ "$ok" -eq "$BENCH_CALLS" ]
