#!/usr/bin/env bash
# Benchmarks keycred on PostgreSQL with one and with three instances on one
# database: authenticated PATCH and GET of credentials and token mints, each
# request to a credential picked at random, driven by oha.
#
#   - builds release keycred; creates a fresh database on the PostgreSQL server
#     at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
#     and drops it at the end;
#   - bootstraps an org_admin (`keycred bootstrap`), mints its bearer token, and
#     creates BENCH_CREDENTIALS (10,000) credentials under its service account
#     through the API (POST …/credentials, 16 at a time), keeping each one's ID,
#     client_id and client_secret, so every row goes through keycred;
#   - starts one `keycred serve` (default `info` request log, sent to a file, as
#     in bench.sh), and later two more on the same database;
#   - for 1 and then 3 instances, after a 2 s GET warm-up that fills the
#     instances' connection pools: PATCH, GET and token mint, each for
#     BENCH_SECONDS (10) at BENCH_CONNECTIONS (64) in all, split as evenly as
#     possible over the instances, one oha per instance, all at once. Every PATCH
#     and GET goes to one of all the credentials, picked at random for each
#     request (`--urls-from-file`), with the admin's bearer token; each PATCH sets
#     one of 1,000 descriptions, picked at random (`-Z`); each mint is
#     POST /service-account-token with one credential's right client_id and
#     client_secret in the form, picked at random (`-Z`);
#   - for each run prints req/s summed over the instances; the worst instance's
#     p50 and p99; CPU µs per request of keycred (user + system time of every
#     instance over the run, from /proc/PID/stat, divided by the requests
#     answered) and of PostgreSQL (user + system time of every process named
#     `postgres` on the machine, the backends serving keycred among them, plus
#     that of those that exited meanwhile as their parent counts it: the cutime
#     and cstime fields); how busy the machine's CPUs were over the run (from
#     /proc/stat: everything running, oha and other tenants included); and the
#     answers other than 2xx and oha's errors;
#   - fails (exit 1) after printing the table if any request got an answer other
#     than 2xx or failed.
#
# PostgreSQL's CPU counts every process named postgres: run it where nothing
# else uses that server (a CI run on the same server shows up in it), and oha on
# the same machine shares its cores with keycred and PostgreSQL.
#
# Usage: bash scripts/bench-postgres.sh   (needs psql, python3, curl and oha;
# installs oha with `cargo install oha --locked` if it is missing; no stdin;
# stops every process it started). Environment overrides: BENCH_POSTGRES_URL,
# BENCH_CREDENTIALS (10000), BENCH_SECONDS (10), BENCH_CONNECTIONS (64).
# Results are printed, not written: copy the table into BENCHMARKS.md.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
admin_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
credentials="${BENCH_CREDENTIALS:-10000}"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
warmup_seconds=2
# PATCH bodies: one of 1,000 descriptions at random, as in bench.sh.
body_count=1000
command_line="bash scripts/bench-postgres.sh"
for var in BENCH_CREDENTIALS BENCH_SECONDS BENCH_CONNECTIONS; do
    if [ -n "${!var:-}" ]; then
        command_line="$var=${!var} $command_line"
    fi
done

for tool in psql python3 curl; do
    command -v "$tool" >/dev/null || {
        echo "bench-postgres.sh: $tool is needed" >&2
        exit 1
    }
done
oha=$(command -v oha || true)
if [ -z "$oha" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/oha" ]; then
    oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
fi
if [ -z "$oha" ]; then
    env -u CARGO_TARGET_DIR cargo install oha --locked </dev/null
    oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
fi
oha_help=$("$oha" --help)
for flag in --urls-from-file -Z --output-format; do
    grep -q -- "$flag" <<<"$oha_help" || {
        echo "bench-postgres.sh: this oha has no $flag; install a newer one (cargo install oha --locked)" >&2
        exit 1
    }
done

cargo build --release --bin keycred
keycred="$CARGO_TARGET_DIR/release/keycred"
work=$(mktemp -d)
database="keycred_bench_$$"
url="${admin_url%/*}/$database"
pids=()
load_pids=()
cleanup() {
    local pid
    for pid in "${load_pids[@]+"${load_pids[@]}"}" "${pids[@]+"${pids[@]}"}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
psql "$admin_url" -q -c "CREATE DATABASE $database" >/dev/null
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')

# start_instances COUNT: starts COUNT more servers on the database; their base URLs
# are appended to $work/addresses.
start_instances() {
    local log tries
    for _ in $(seq "$1"); do
        log="$work/serve-${#pids[@]}"
        : >"$log.out"
        "$keycred" serve --listen 127.0.0.1:0 --database "$url" >"$log.out" 2>"$log.err" </dev/null &
        pids+=("$!")
        tries=0
        until grep -q '^listening on' "$log.out"; do
            if ! kill -0 "${pids[-1]}" 2>/dev/null || [ "$tries" -ge 300 ]; then
                echo "bench-postgres.sh: keycred did not start; its stderr:" >&2
                tail -n 20 "$log.err" >&2
                exit 1
            fi
            tries=$((tries + 1))
            sleep 0.1
        done
        sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$log.out" | head -n 1 >>"$work/addresses"
    done
}

# keycred_ticks: user + system CPU time of every keycred instance, in clock ticks.
keycred_ticks() {
    local pid total=0
    for pid in "${pids[@]}"; do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

# postgres_ticks: user + system CPU time of every process named postgres, plus that
# of their children already reaped (the postmaster's cutime and cstime hold the
# backends that exited), in clock ticks.
postgres_ticks() {
    python3 - <<'PY'
import os
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        continue
    if text[text.index("(") + 1 : text.rindex(")")] != "postgres":
        continue
    fields = text[text.rindex(")") + 2 :].split()
    total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
print(total)
PY
}

# machine_ticks: "BUSY TOTAL" clock ticks of all CPUs so far (busy: not idle or iowait).
machine_ticks() {
    awk '/^cpu / { total = 0; for (i = 2; i <= NF; i++) total += $i; print total - $5 - $6, total }' /proc/stat
}

start_instances 1
base=$(head -n 1 "$work/addresses")
"$keycred" bootstrap --database "$url" --org-label bench --json >"$work/admin.json" </dev/null
field() { python3 -c "import json,sys; print(json.load(open('$work/admin.json'))['$1'])"; }
token=$(curl -sSf -u "$(field client_id):$(field client_secret)" -d grant_type=client_credentials \
    "$base/service-account-token" </dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
auth="Authorization: Bearer $token"
path="/organizations/$(field organization_id)/service-accounts/$(field service_account_id)/credentials"

echo "creating $credentials credentials through the API" >&2
created_at=$(date +%s.%N)
python3 - "$base" "$path" "$token" "$credentials" "$work/paths.txt" "$work/mint-bodies.txt" <<'PY'
import http.client, json, sys, threading, urllib.parse

base, path, token, count, paths_file, mint_file = sys.argv[1:]
count = int(count)
address = urllib.parse.urlsplit(base)
lock = threading.Lock()
made, failures, next_index = [], [], [0]


def create():
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while True:
        with lock:
            index = next_index[0]
            next_index[0] += 1
        if index >= count or failures:
            return
        try:
            connection.request("POST", path, body=json.dumps({"name": f"bench {index}"}), headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except OSError as err:
            failures.append(str(err))
            return
        if answer.status != 200:
            failures.append(f"{answer.status} {data[:200]!r}")
            return
        credential = json.loads(data)
        with lock:
            made.append((credential["id"], credential["client_id"], credential["client_secret"]))


threads = [threading.Thread(target=create) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if failures:
    sys.exit(f"creating credentials failed: {failures[0]}")
with open(paths_file, "w") as paths, open(mint_file, "w") as mints:
    for credential_id, client_id, client_secret in made:
        paths.write(f"{path}/{credential_id}\n")
        # Form encoding needs no escaping: IDs and secrets are alphanumeric.
        mints.write(f"grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}\n")
PY
create_seconds=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$created_at")
echo "created $(wc -l <"$work/paths.txt") credentials in $create_seconds s" >&2
for ((i = 0; i < body_count; i++)); do
    printf '{"description":"bench %d"}\n' "$i"
done >"$work/patch-bodies.txt"

# request_args WHAT: sets $target (the URL file's suffix: credential paths or the
# token endpoint) and $extra (oha's arguments) for PATCH, GET or MINT.
request_args() {
    case "$1" in
        PATCH)
            target=paths
            extra=(-m PATCH -H "$auth" -H 'Content-Type: application/json' -Z "$work/patch-bodies.txt")
            ;;
        GET)
            target=paths
            extra=(-m GET -H "$auth")
            ;;
        MINT)
            target=token
            extra=(-m POST -H 'Content-Type: application/x-www-form-urlencoded' -Z "$work/mint-bodies.txt")
            ;;
    esac
}

# prepare_urls: one URL file per instance, of its credential paths and of its token endpoint;
# checks that one request of each kind succeeds on each instance.
prepare_urls() {
    local index=0 address first
    while read -r address; do
        sed "s|^|$address|" "$work/paths.txt" >"$work/paths-$index.txt"
        echo "$address/service-account-token" >"$work/token-$index.txt"
        first=$(head -n 1 "$work/paths-$index.txt")
        curl -sSf -o /dev/null -H "$auth" "$first" </dev/null
        curl -sSf -o /dev/null -X PATCH -H "$auth" -H 'Content-Type: application/json' \
            -d "$(head -n 1 "$work/patch-bodies.txt")" "$first" </dev/null
        curl -sSf -o /dev/null -d "$(head -n 1 "$work/mint-bodies.txt")" "$address/service-account-token" </dev/null
        index=$((index + 1))
    done <"$work/addresses"
}

# drive WHAT SECONDS [record]: one oha per instance at once, the connections split
# over them; with `record`, appends the run's figures to $work/results.jsonl.
drive() {
    local what=$1 run_seconds=$2 record=${3:-} count index share keycred_before postgres_before machine_before
    local keycred_after postgres_after machine_after
    count=$(wc -l <"$work/addresses")
    request_args "$what"
    keycred_before=$(keycred_ticks)
    postgres_before=$(postgres_ticks)
    machine_before=$(machine_ticks)
    load_pids=()
    for ((index = 0; index < count; index++)); do
        share=$((connections / count + (index < connections % count ? 1 : 0)))
        # -w: requests still running at the deadline are finished, not counted as failures.
        "$oha" --no-tui --output-format json -z "${run_seconds}s" -w -c "$share" "${extra[@]}" \
            --urls-from-file "$work/$target-$index.txt" </dev/null >"$work/$what-$index.json" &
        load_pids+=("$!")
    done
    for index in "${!load_pids[@]}"; do
        wait "${load_pids[$index]}"
    done
    load_pids=()
    keycred_after=$(keycred_ticks)
    postgres_after=$(postgres_ticks)
    machine_after=$(machine_ticks)
    [ "$record" = record ] || return 0
    python3 - "$what" "$count" "$((keycred_after - keycred_before))" "$((postgres_after - postgres_before))" \
        "$machine_before" "$machine_after" "$(getconf CLK_TCK)" "$work/results.jsonl" \
        "$work/$what"-*.json <<'PY'
import json, sys

what, count, keycred_ticks, postgres_ticks, machine_before, machine_after, hz, results = sys.argv[1:9]
runs = [json.load(open(path)) for path in sys.argv[9:]]
statuses, errors = {}, 0
for run in runs:
    for status, n in run.get("statusCodeDistribution", {}).items():
        statuses[status] = statuses.get(status, 0) + n
    errors += sum(run.get("errorDistribution", {}).values())
requests = sum(statuses.values())
busy_before, total_before = map(int, machine_before.split())
busy_after, total_after = map(int, machine_after.split())
row = {
    "instances": int(count),
    "what": what,
    "rps": sum(run["summary"]["requestsPerSec"] for run in runs),
    "p50_ms": max(run["latencyPercentiles"]["p50"] for run in runs) * 1000,
    "p99_ms": max(run["latencyPercentiles"]["p99"] for run in runs) * 1000,
    "keycred_us": int(keycred_ticks) / float(hz) * 1e6 / max(requests, 1),
    "postgres_us": int(postgres_ticks) / float(hz) * 1e6 / max(requests, 1),
    "busy_percent": 100 * (busy_after - busy_before) / max(total_after - total_before, 1),
    "requests": requests,
    "failed": sum(n for status, n in statuses.items() if not 200 <= int(status) < 300) + errors,
    "statuses": statuses,
}
with open(results, "a") as out:
    out.write(json.dumps(row) + "\n")
print(
    f"{count} instance(s) {what}: {row['rps']:,.0f} req/s, p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
    f"keycred {row['keycred_us']:.1f} µs/req, PostgreSQL {row['postgres_us']:.1f} µs/req, "
    f"CPUs {row['busy_percent']:.0f}% busy, statuses {statuses}, {errors} errors",
    file=sys.stderr,
)
PY
}

echo "PostgreSQL, $credentials credentials, $connections connections in all, ${seconds} s per run" >&2
: >"$work/results.jsonl"
for instances in 1 3; do
    start_instances $((instances - $(wc -l <"$work/addresses")))
    prepare_urls
    drive GET "$warmup_seconds"
    for what in PATCH GET MINT; do
        drive "$what" "$seconds" record
    done
done

export BENCH_DATE=$started_at BENCH_COMMAND=$command_line BENCH_LOAD_START=$load_at_start
export BENCH_LOAD_END BENCH_CPU BENCH_CORES BENCH_OHA BENCH_POSTGRES BENCH_CREDENTIALS_MADE BENCH_CREATE_SECONDS
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
BENCH_CORES=$(nproc)
BENCH_OHA=$("$oha" --version)
BENCH_POSTGRES=$(psql "$admin_url" -At -c "SELECT split_part(version(), ' ', 2) || ', ' ||
    string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
    WHERE name IN ('synchronous_commit', 'shared_buffers', 'autovacuum', 'commit_delay')")
BENCH_CREDENTIALS_MADE=$(wc -l <"$work/paths.txt")
BENCH_CREATE_SECONDS=$create_seconds
python3 - "$work/results.jsonl" "$seconds" "$connections" <<'PY'
import json, os, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
seconds, connections = sys.argv[2], sys.argv[3]
env = os.environ
labels = {"PATCH": "PATCH", "GET": "GET", "MINT": "token mint (right secret)"}
print(
    f"Run {env['BENCH_DATE']} with `{env['BENCH_COMMAND']}`: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores; "
    f"PostgreSQL {env['BENCH_POSTGRES']}, on the same machine; {env['BENCH_OHA']}. "
    f"{int(env['BENCH_CREDENTIALS_MADE']):,} credentials created through the API in {env['BENCH_CREATE_SECONDS']} s; "
    f"each run {seconds} s at {connections} connections in all, split over the instances; every request to a "
    f"credential picked at random. Load average at start {env['BENCH_LOAD_START']}, at end {env['BENCH_LOAD_END']}."
)
print()
print("| instances | what | req/s | p50 ms | p99 ms | keycred CPU µs/req | PostgreSQL CPU µs/req | CPUs busy | failed |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    print(
        f"| {row['instances']} | {labels[row['what']]} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
        f"{row['keycred_us']:.1f} | {row['postgres_us']:.1f} | {row['busy_percent']:.0f}% | {row['failed']} |"
    )
failed = sum(row["failed"] for row in rows)
if failed:
    print(f"\nbench-postgres.sh: {failed} requests were answered other than 2xx or failed", file=sys.stderr)
    sys.exit(1)
PY
