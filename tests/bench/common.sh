# What the wrk benchmarks (reads.sh, load.sh) share; sourced from the repository's root.
#
# Installs wrk from Debian's package when it is missing, sets BILLING to the binary to measure
# (BENCH_BILLING names another build, an earlier commit's for a comparison; else this tree's
# release build) and PG_URL to the PostgreSQL to use (BENCH_DATABASE_URL, else
# TEST_DATABASE_URL, else the local server).

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [ -n "${BENCH_BILLING:-}" ]; then
  BILLING=$BENCH_BILLING
else
  cargo build --release --locked -p billing-api --bin billing
  BILLING="$ROOT/target/release/billing"
fi
PG_URL="${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
export RUST_LOG=warn
