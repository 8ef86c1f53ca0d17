#!/bin/sh
# Baseline: the curl command line, one process per call. CPU is taken from /usr/bin/time by the
# orchestrator (cpu=-1 here): the processes it starts are the cost being measured.
set -u
url="$BENCH_BASE_URL/data/foundation/flowservice/connections"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'Authorization: Bearer %s\nx-api-key: %s\nx-gw-ims-org-id: %s\nx-sandbox-name: %s\n' \
  "$BENCH_TOKEN" "$BENCH_API_KEY" "$BENCH_ORG_ID" "$BENCH_SANDBOX" >"$dir/headers"
printf 'Accept: application/json\nContent-Type: application/json\n' >>"$dir/headers"
printf '%s' "$BENCH_BODY" >"$dir/body"
set -- -sS -o /dev/null -w '%{http_code}' -X POST -H "@$dir/headers" --data-binary "@$dir/body"
if [ -n "${BENCH_CA_FILE:-}" ]; then set -- "$@" --cacert "$BENCH_CA_FILE"; fi

[ "$(curl "$@" "$url")" = 201 ] || { echo "warm-up call failed" >&2; exit 1; }
ok=0
i=0
start=$(date +%s.%N)
while [ "$i" -lt "$BENCH_CALLS" ]; do
  [ "$(curl "$@" "$url")" = 201 ] && ok=$((ok + 1))
  i=$((i + 1))
done
end=$(date +%s.%N)
echo "result calls=$BENCH_CALLS ok=$ok wall=$(awk "BEGIN { print $end - $start }") cpu=-1 connects=-"
[ "$ok" -eq "$BENCH_CALLS" ]
