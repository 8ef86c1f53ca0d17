"""Baseline: Python requests.Session (keep-alive), json encode and decode on every call."""
import json
import os
import sys
import time

import requests

url = os.environ["BENCH_BASE_URL"] + "/data/foundation/flowservice/connections"
calls = int(os.environ["BENCH_CALLS"])
body = json.loads(os.environ["BENCH_BODY"])
headers = {
    "Authorization": "Bearer " + os.environ["BENCH_TOKEN"],
    "x-api-key": os.environ["BENCH_API_KEY"],
    "x-gw-ims-org-id": os.environ["BENCH_ORG_ID"],
    "x-sandbox-name": os.environ["BENCH_SANDBOX"],
    "Accept": "application/json",
    "Content-Type": "application/json",
}
session = requests.Session()
session.verify = os.environ.get("BENCH_CA_FILE") or True


def create():
    r = session.post(url, data=json.dumps(body), headers=headers)
    return r.status_code == 201 and r.json().get("id")


if not create():
    sys.exit("warm-up call failed")
ok = 0
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(calls):
    if create():
        ok += 1
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print("result calls=%d ok=%d wall=%.6f cpu=%.6f connects=-" % (calls, ok, wall, cpu))
sys.exit(0 if ok == calls else 1)
