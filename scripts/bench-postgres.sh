#!/usr/bin/env bash
# Benchmarks keycred on PostgreSQL with one and with three instances on one
# database: authenticated PATCH and GET of credentials, driven by oha.
#
#   - builds release keycred; creates a fresh database on the PostgreSQL server
#     at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
#     and drops it at the end;
#   - bootstraps an org_admin and creates N credentials through the API
#     (BENCH_CREDENTIALS, default 10,000), so every row goes through keycred;
#   - for 1 and then 3 instances: PATCH and GET for BENCH_SECONDS (10) at
#     BENCH_CONNECTIONS (64) in all, spread evenly over the instances, one oha
#     per instance at once; prints req/s summed over instances and the worst
#     instance's p50/p99.
#
# Usage: bash scripts/bench-postgres.sh   (needs psql, python3, curl and oha;
# no stdin; stops every process it started). Results are printed, not written:
# copy them into BENCHMARKS.md with the date.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
admin_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
credentials="${BENCH_CREDENTIALS:-10000}"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
oha=$(command -v oha || true)
if [ -z "$oha" ]; then
    cargo install oha --locked
    oha=$(command -v oha)
fi

cargo build --release --bin keycred
keycred="$CARGO_TARGET_DIR/release/keycred"
work=$(mktemp -d)
database="keycred_bench_$$"
url="${admin_url%/*}/$database"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$admin_url" -q -c "CREATE DATABASE $database" >/dev/null

# start_instances COUNT: starts COUNT more servers on the database; their base URLs
# are appended to $work/addresses.
start_instances() {
    for _ in $(seq "$1"); do
        local log="$work/serve-${#pids[@]}"
        KEYCRED_LOG=warn "$keycred" serve --listen 127.0.0.1:0 --database "$url" >"$log.out" 2>"$log.err" &
        pids+=("$!")
        for _ in $(seq 100); do
            grep -q 'listening on' "$log.out" 2>/dev/null && break
            sleep 0.1
        done
        grep -o 'http://[0-9.:]*' "$log.out" >>"$work/addresses"
    done
}

start_instances 1
base=$(head -1 "$work/addresses")
"$keycred" bootstrap --database "$url" --org-label bench --json >"$work/admin.json"
field() { python3 -c "import json,sys; print(json.load(open('$work/admin.json'))['$1'])"; }
token=$(curl -sSf -u "$(field client_id):$(field client_secret)" -d grant_type=client_credentials \
    "$base/service-account-token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
auth="Authorization: Bearer $token"
path="/organizations/$(field organization_id)/service-accounts/$(field service_account_id)/credentials"
echo "creating $credentials credentials through the API"
"$oha" --no-tui -n "$credentials" -c 16 -m POST -H "$auth" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$base$path" >/dev/null
target="$path/$(field credential_id)"

# drive METHOD: one oha per instance at once; prints the summed rate and worst latencies.
drive() {
    local method=$1 count share
    count=$(wc -l <"$work/addresses")
    share=$((connections / count))
    local runs=()
    local index=0
    while read -r address; do
        local args=(--no-tui --output-format json -z "${seconds}s" -c "$share" -H "$auth")
        if [ "$method" = PATCH ]; then
            args+=(-m PATCH -H 'Content-Type: application/json' -d '{"description":"bench"}')
        fi
        "$oha" "${args[@]}" "$address$target" >"$work/$method-$index.json" &
        runs+=("$!")
        index=$((index + 1))
    done <"$work/addresses"
    wait "${runs[@]}"
    python3 - "$method" "$count" "$work"/"$method"-*.json <<'PY'
import json, sys
method, count, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(path)) for path in files]
rate = sum(run["summary"]["requestsPerSec"] for run in runs)
p50 = max(run["latencyPercentiles"]["p50"] for run in runs) * 1000
p99 = max(run["latencyPercentiles"]["p99"] for run in runs) * 1000
statuses = {}
for run in runs:
    for status, n in run.get("statusCodeDistribution", {}).items():
        statuses[status] = statuses.get(status, 0) + n
print(f"{count} instance(s) {method}: {rate:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, statuses {statuses}")
PY
}

echo "PostgreSQL, $credentials credentials, $connections connections in all, ${seconds} s per run"
drive PATCH
drive GET
start_instances 2
drive PATCH
drive GET
