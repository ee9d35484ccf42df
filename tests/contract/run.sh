#!/usr/bin/env bash
# The contract tests of the committed OpenAPI document (issue: contract tests and SDKs):
#
#   bash tests/contract/run.sh
#
# 1. Redocly CLI lints openapi/openapi.json with the strictest recommended rules (redocly.yaml),
#    and must refuse a copy broken on purpose (so the lint is known to bite).
# 2. Clients are generated from the committed document, exactly as a partner would:
#    TypeScript (openapi-typescript types, openapi-fetch calls, checked by `tsc --strict`),
#    Python (openapi-python-client), Rust (progenitor, from the document converted to OpenAPI 3.0
#    by rust/openapi30.rs, whose tests run first).
# 3. A demo server is started (PostgreSQL from TEST_DATABASE_URL when set, else SQLite), and the
#    same end-to-end story runs with each client: operator, metering service, owner, billing
#    run as of the 5th, invoice, payment, receipt PDF, balance.
# 4. Headless Chromium opens /docs/ of that server (browser/docs.mjs); the screenshot is kept in
#    target/contract/docs.png.
#
# Needs node and npm, python3 with venv, cargo and Debian's chromium (.ci/run installs them).
# BILLING=<path> uses that `billing` binary instead of building target/debug/billing.
set -euo pipefail
cd "$(dirname "$0")"
CONTRACT=$(pwd)
ROOT=$(cd ../.. && pwd)
OUT="$ROOT/target/contract"
mkdir -p "$OUT"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

step() { printf '\n--> %s\n' "$*"; }
fail() { printf '\ncontract: FAILED: %s\n' "$*" >&2; exit 1; }

if [ -z "${BILLING:-}" ]; then
  (cd "$ROOT" && cargo build --locked -p billing-api --bin billing)
  BILLING="$ROOT/target/debug/billing"
fi

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "Redocly lint (recommended-strict)"
npx redocly lint ../../openapi/openapi.json --config redocly.yaml
# The same lint must refuse a document with an operation that documents no answer.
python3 - "$ROOT/openapi/openapi.json" "$OUT/broken.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["paths"]["/v1/accounts"]["get"]["responses"] = {}
del doc["paths"]["/v1/accounts"]["get"]["operationId"]
json.dump(doc, open(sys.argv[2], "w"))
PY
if npx redocly lint "$OUT/broken.json" --config redocly.yaml > "$OUT/broken-lint.log" 2>&1; then
  fail "the lint accepted a document broken on purpose"
fi
echo "the lint refuses a document broken on purpose"

step "TypeScript client: openapi-typescript + openapi-fetch, tsc --strict"
rm -rf typescript/generated typescript/dist
npx openapi-typescript ../../openapi/openapi.json --output typescript/generated/schema.d.ts
npx tsc --project typescript/tsconfig.json

step "Python client: openapi-python-client"
VENV="$OUT/venv"
if [ ! -x "$VENV/bin/openapi-python-client" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r python/requirements.txt
fi
rm -rf "$OUT/python-client"
"$VENV/bin/openapi-python-client" generate --path ../../openapi/openapi.json \
  --output-path "$OUT/python-client" --config python/openapi-python-client.yml > "$OUT/python-generate.log" 2>&1 \
  || { cat "$OUT/python-generate.log"; fail "openapi-python-client could not generate the client"; }
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$OUT/python-client"

step "Rust client: the OpenAPI 3.0 converter's tests, then progenitor"
(cd rust && cargo test --locked --quiet && cargo build --locked --quiet)

step "a demo server"
export BILLING_AUTH__HS256_SECRET="contract-tests-secret-0123456789-0123456789"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
work=$(mktemp -d)
server_pid=
schema=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql "$TEST_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  schema="contract_$(date +%s)_$$"
  psql "$TEST_DATABASE_URL" -qc "CREATE SCHEMA $schema"
  export DATABASE_URL="$TEST_DATABASE_URL" BILLING_DATABASE__SCHEMA="$schema"
else
  export DATABASE_URL="sqlite://$work/billing.db?mode=rwc"
fi
(cd "$work" && BILLING_SERVER__PUBLIC_URL="$BASE" RUST_LOG=warn \
  exec "$BILLING" serve --demo --bind "127.0.0.1:$PORT" > "$OUT/server.out" 2> "$OUT/server.log") &
server_pid=$!
for _ in $(seq 1 120); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.5; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$OUT/server.log"; fail "the server did not start"; }
echo "serving on $BASE (${schema:-SQLite})"

export BILLING_URL="$BASE" BILLING_BIN="$BILLING"
step "the story with the TypeScript client"
STORY_NAME=typescript node typescript/dist/story.js || { tail -n 30 "$OUT/server.log"; fail "the TypeScript story"; }
step "the story with the Python client"
STORY_NAME=python "$VENV/bin/python" python/story.py || { tail -n 30 "$OUT/server.log"; fail "the Python story"; }
step "the story with the Rust client"
STORY_NAME=rust rust/target/debug/story || { tail -n 30 "$OUT/server.log"; fail "the Rust story"; }

step "the docs page in headless Chromium"
BILLING_TOKEN="$("$BILLING" token --sub alice@acme.example --ttl 1h)" SCREENSHOT="$OUT/docs.png" \
  node browser/docs.mjs || fail "the docs page"

printf '\ncontract: lint, three client stories and the docs page passed\n'
