#!/usr/bin/env bash
# A mixed workload at fixed concurrency against PostgreSQL: every kind of request at once, for
# the same seconds, on the demo data.
#
#   bash tests/bench/load.sh [--duration 20] [--connections 2]
#
# Builds the release binary and starts `billing serve --demo` on a fresh schema of
# $BENCH_DATABASE_URL (else $TEST_DATABASE_URL, else the local PostgreSQL). Then one `wrk`
# per kind runs at the same time, each with --connections connections (closed loop: a
# connection sends its next request when the answer arrives), so the kinds compete for the
# same two cores:
#   trivial    GET  /v1/accounts/{id}                      (one row: the ceiling of a read)
#   ingest     POST /v1/accounts/{id}/usage-events         (batches of 100 new events, metering token)
#   preview    GET  /v1/accounts/{id}/invoices/preview     (this month, from live usage)
#   usage      GET  /v1/accounts/{id}/usage?period=        (last month per project and product)
#   invoices   GET  /v1/accounts/{id}/invoices             (the billing history)
#   payments   GET  /v1/accounts/{id}/payments             (the payment history)
# It prints requests/s, p50 and p99 of each, and each read's requests/s against the trivial
# GET's of the same run (target: at least 0.3). Any error answer (non-2xx) fails the run, and
# so does an ingestion answer that did not accept all of its events.
# `GET /healthz` is measured alone first: the machine's ceiling for any answer at all.
# wrk comes from Debian's package, installed here when missing. BENCH_BILLING=<path> measures
# that binary instead of this tree's release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

duration=20
connections=2
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# wrk, the binary to measure (BILLING) and the PostgreSQL to use (PG_URL).
source tests/bench/common.sh
export BILLING_AUTH__HS256_SECRET="bench-load-secret-0123456789-0123456789"

work=$(mktemp -d)
server_pid=
schema="bench_load_$(date +%s)_$$"
stop() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
trap 'stop; rm -rf "$work"' EXIT
psql "$PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
(cd "$work" && DATABASE_URL="$PG_URL" BILLING_DATABASE__SCHEMA="$schema" \
  exec "$BILLING" serve --demo --bind "127.0.0.1:$port" > server.out 2> server.log) &
server_pid=$!
for _ in $(seq 1 240); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.5; done
curl -fs "$base/readyz" >/dev/null || { cat "$work/server.log"; echo "the server did not start" >&2; exit 1; }

owner=$("$BILLING" token --sub alice@acme.example --ttl 1h)
account=$(curl -fs -H "Authorization: Bearer $owner" "$base/v1/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
project=$(curl -fs -H "Authorization: Bearer $owner" "$base/v1/accounts/$account/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
metering=$("$BILLING" token --sub load@bench --account "$account" --scope usage:write --ttl 1h)
period=$(python3 -c 'import datetime; d = datetime.date.today().replace(day=1) - datetime.timedelta(days=1); print(d.strftime("%Y-%m"))')

# Ingestion: each request a batch of 100 events never sent before (ids from the wrk thread,
# connection and a counter), a minute ago, into the demo's first project. The answer must
# accept all 100.
# Ids are letters only: a run of 13 to 19 digits could be a card number, which the API refuses.
cat > "$work/ingest.lua" <<LUA
local counter = 0
local function letters(n)
  local out = ""
  repeat
    out = string.char(97 + n % 26) .. out
    n = math.floor(n / 26)
  until n == 0
  return out
end
local prefix
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $metering"
request = function()
  prefix = prefix or (letters(math.random(1, 2^30)) .. letters(os.time()))
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60)
  local events = {}
  for i = 1, 100 do
    counter = counter + 1
    events[i] = string.format('{"id":"load-%s-%s","project_id":"$project","product":"api_calls","quantity":"1","timestamp":"%s"}', prefix, letters(counter), at)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
end
local short = 0
response = function(status, headers, body)
  if status == 200 and not string.find(body, '"accepted":100,', 1, true) then short = short + 1 end
end
done = function(summary, latency, requests)
  io.stderr:write(string.format("ingest answers that did not accept every event: %d\n", short))
end
LUA

run() {
  local name=$1 url=$2; shift 2
  wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url" > "$work/$name.out" 2> "$work/$name.err"
}

echo "ceiling alone: GET /healthz"
wrk -t2 -c16 -d5s --latency "$base/healthz" > "$work/health.out"

echo "mixed workload: $duration s, $connections connections per kind"
auth=(-H "Authorization: Bearer $owner")
pids=()
run trivial "$base/v1/accounts/$account" "${auth[@]}" & pids+=($!)
run ingest "$base/v1/accounts/$account/usage-events" -s "$work/ingest.lua" & pids+=($!)
run preview "$base/v1/accounts/$account/invoices/preview" "${auth[@]}" & pids+=($!)
run usage "$base/v1/accounts/$account/usage?period=$period" "${auth[@]}" & pids+=($!)
run invoices "$base/v1/accounts/$account/invoices" "${auth[@]}" & pids+=($!)
run payments "$base/v1/accounts/$account/payments" "${auth[@]}" & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done

python3 - "$work" "$duration" "$connections" <<'PY'
import re, sys
work, duration, connections = sys.argv[1], sys.argv[2], sys.argv[3]
def parse(name):
    text = open(f"{work}/{name}.out").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: (.*)", text)
    return rps, p50, p99, int(errors.group(1)) if errors else 0, sockets.group(1) if sockets else ""
health = parse("health")
print(f"\nceiling alone: GET /healthz {health[0]:.0f} req/s (wrk -t2 -c16 -d5s)\n")
print(f"mixed workload, wrk -t1 -c{connections} -d{duration}s per kind, all at once (PostgreSQL, demo data)\n")
print("| kind | req/s | p50 | p99 | errors | vs trivial GET |")
print("| --- | --- | --- | --- | --- | --- |")
rows = {k: parse(k) for k in ["trivial", "ingest", "preview", "usage", "invoices", "payments"]}
failed = []
for kind, (rps, p50, p99, errors, sockets) in rows.items():
    ratio = rps / rows["trivial"][0]
    print(f"| {kind} | {rps:.0f} | {p50} | {p99} | {errors} | {ratio:.2f} |")
    if errors or sockets:
        failed.append(f"{kind}: {errors} error answers {sockets}")
    if kind not in ("trivial", "ingest") and ratio < 0.3:
        failed.append(f"{kind}: {ratio:.2f}x the trivial GET (target >= 0.3)")
short = open(f"{work}/ingest.err").read()
print("\n" + short.strip())
if not short.strip().endswith(": 0"):
    failed.append("some ingestion batches were not accepted whole")
print()
for f in failed:
    print("over target:", f)
if not failed:
    print("every read at least 0.3x the trivial GET, no error answers")
sys.exit(1 if failed else 0)
PY
