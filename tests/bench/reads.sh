#!/usr/bin/env bash
# The read path the invoice preview and the billing run stand on, measured against a one-row GET
# in the same run, on SQLite and on PostgreSQL.
#
#   bash tests/bench/reads.sh [--duration 10] [--connections 16] [--skip-postgres] [--skip-sqlite]
#
# Builds the release binary, starts `billing serve --demo` on a fresh database (a temporary
# SQLite file; a fresh schema of $BENCH_DATABASE_URL, else $TEST_DATABASE_URL, else the local
# PostgreSQL), and runs `wrk -t2 -c<connections> -d<duration>s` as the demo account's owner against:
#   health    GET /healthz                                   (the machine's ceiling)
#   account   GET /v1/accounts/{id}                          (one row: the baseline)
#   usage     GET /v1/accounts/{id}/usage?period=<last month>
#   channels  GET /v1/accounts/{id}/billing/channels?period=<last month>
# and prints requests/s and latency of each, and the cost of each read relative to the one-row
# GET (account req/s / read req/s; targets: usage <= 2, channels <= 3). Any non-2xx answer fails
# the run. wrk comes from Debian's package, installed here when missing. BENCH_BILLING=<path>
# measures that binary instead of this tree's release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

duration=10
connections=16
backends=(sqlite postgres)
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --skip-postgres) backends=("${backends[@]/postgres}"); shift ;;
    --skip-sqlite) backends=("${backends[@]/sqlite}"); shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# wrk, the binary to measure (BILLING) and the PostgreSQL to use (PG_URL).
source tests/bench/common.sh
export BILLING_AUTH__HS256_SECRET="bench-reads-secret-0123456789-0123456789"

work=$(mktemp -d)
server_pid=
schema=
stop() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
  if [ -n "$schema" ]; then psql "$PG_URL" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; fi
  schema=
}
trap 'stop; rm -rf "$work"' EXIT

# req/s of one endpoint; fails on any error answer.
measure() {
  local url=$1 token=$2 out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Authorization: Bearer $token" "$url")
  if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
    echo "$out" >&2
    echo "error answers from $url" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  echo "$rps $p50 $p99"
}

declare -A results
for backend in "${backends[@]}"; do
  [ -n "$backend" ] || continue
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/$backend"
  if [ "$backend" = postgres ]; then
    schema="bench_reads_$(date +%s)_$$"
    psql "$PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
    export DATABASE_URL="$PG_URL" BILLING_DATABASE__SCHEMA="$schema"
  else
    export DATABASE_URL="sqlite://$work/$backend/billing.db?mode=rwc"
    unset BILLING_DATABASE__SCHEMA
  fi
  (cd "$work/$backend" && exec "$BILLING" serve --demo --bind "127.0.0.1:$port" > server.out 2> server.log) &
  server_pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 240); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.5; done
  curl -fs "$base/readyz" >/dev/null || { cat "$work/$backend/server.log"; echo "the server did not start" >&2; exit 1; }
  token=$("$BILLING" token --sub alice@acme.example --ttl 1h)
  account=$(curl -fs -H "Authorization: Bearer $token" "$base/v1/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  period=$(python3 -c 'import datetime; d = datetime.date.today().replace(day=1) - datetime.timedelta(days=1); print(d.strftime("%Y-%m"))')
  results[$backend,health]=$(measure "$base/healthz" "$token")
  results[$backend,account]=$(measure "$base/v1/accounts/$account" "$token")
  results[$backend,usage]=$(measure "$base/v1/accounts/$account/usage?period=$period" "$token")
  results[$backend,channels]=$(measure "$base/v1/accounts/$account/billing/channels?period=$period" "$token")
  stop
  unset DATABASE_URL
done

printf '\nwrk -t2 -c%s -d%ss, demo data (period %s)\n\n' "$connections" "$duration" "$period"
printf '| backend | endpoint | req/s | p50 | p99 | cost vs one-row GET |\n| --- | --- | --- | --- | --- | --- |\n'
status=0
for backend in "${backends[@]}"; do
  [ -n "$backend" ] || continue
  base_rps=$(cut -d' ' -f1 <<<"${results[$backend,account]}")
  for endpoint in health account usage channels; do
    read -r rps p50 p99 <<<"${results[$backend,$endpoint]}"
    ratio=$(python3 -c "print(f'{$base_rps / $rps:.2f}')")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$backend" "$endpoint" "$rps" "$p50" "$p99" "$ratio"
  done
done
for backend in "${backends[@]}"; do
  [ -n "$backend" ] || continue
  base_rps=$(cut -d' ' -f1 <<<"${results[$backend,account]}")
  for pair in usage:2 channels:3; do
    endpoint=${pair%%:*} target=${pair##*:}
    rps=$(cut -d' ' -f1 <<<"${results[$backend,$endpoint]}")
    verdict=$(python3 -c "print('ok' if $base_rps / $rps <= $target else 'over')")
    printf '%s %s: %.2fx a one-row GET (target <= %s): %s\n' "$backend" "$endpoint" "$(python3 -c "print($base_rps / $rps)")" "$target" "$verdict"
  done
done
