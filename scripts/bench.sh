#!/usr/bin/env bash
# Benchmarks keycred against its two reference ceilings, in one run:
#   - builds release (keycred and the keycred-bench tools);
#   - seeds a database of N credentials for N in 10,000 and 1,000,000 (`seed`,
#     through keycred's own store);
#   - starts the fixed-JSON axum ceiling (`reference-axum`), one `keycred serve`
#     per database, and per database the "bare server" (`reference-axum --store`
#     on a copy of it: the fixed-JSON handler plus exactly keycred's store read or
#     update, without auth, validation, logging or metrics), mints a token for
#     each keycred, and measures the raw SQLite rate at 1 update per transaction
#     once per database;
#   - then, in each of several rounds and for each N, back to back: the raw SQLite
#     ceiling (`reference-sqlite`, on a copy of the database of its own: keycred's
#     point read and UPDATE of a PATCH with keycred's pragmas and checkpointing, 64
#     per durable transaction), keycred PATCH,
#     keycred GET, keycred token mints (POST /service-account-token with the right
#     secret: like PATCH, one durable write each), the bare server's PATCH and GET,
#     and the axum GET, each driven by oha at 64 connections;
#   - then, still in each round, the mixed workload (`mixed`) on a keycred of its
#     own: 10,000 credentials in 100 org_member service accounts, a token minted
#     for each of 1,000 of their clients, then 80% GET, 10% token mints, 10% PATCH
#     at 64 connections, each request with a random credential, token or client;
#   - reads each keycred's peak RSS (VmHWM), prints req/s, p50/p99 latency, CPU
#     per request, peak RSS and keycred's ratios to the ceilings (and of 1,000,000
#     to 10,000), and writes them into BENCHMARKS.md (between its bench.sh
#     markers). Ratios are taken within each round, then the median.
#   - fails (exit 1) if any token mint, or any request of the mixed workload, got
#     an answer other than 2xx: with the right secret, no client may ever be
#     refused, however many mint at once.
#
#   - with `--baseline REV`, also builds keycred as it was at git revision REV,
#     seeds it its own databases, and runs its PATCH and GET in every round right
#     after this keycred's: the same-run measure of what a change costs or saves
#     (keycred's ratio to the baseline is taken within each round, like the others).
#     `--baseline-patch FILE` applies FILE (`git apply`) to that revision first:
#     keycred as shipped against itself with one thing taken out, e.g.
#     bench/patches/audit-events-not-inserted.patch (never shipped).
#
# Usage: bash scripts/bench.sh [--quick] [--no-record] [--baseline REV [--baseline-patch FILE]]
#   --quick                N = 10,000 only, 5 s runs, 2 rounds (instead of 10 s, 3 rounds)
#   --no-record            print the results but leave BENCHMARKS.md alone
#   --baseline REV         measure keycred at git revision REV beside this checkout
#   --baseline-patch FILE  with --baseline: apply FILE to REV's files before building
# Environment overrides: BENCH_SIZES ("10000 1000000"), BENCH_SECONDS (10),
# BENCH_ROUNDS (3), BENCH_CONNECTIONS (64). Needs python3 and curl; installs oha
# with `cargo install oha --locked` if it is missing. Needs no stdin, and stops
# every process it started, whatever happens.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="$CARGO_TARGET_DIR/release"

command_line="bash scripts/bench.sh${*:+ $*}"
for var in BENCH_SIZES BENCH_SECONDS BENCH_ROUNDS BENCH_CONNECTIONS; do
    if [ -n "${!var:-}" ]; then
        command_line="$var=\"${!var}\" $command_line"
    fi
done
quick=0
record=1
baseline=""
baseline_patch=""
while [ $# -gt 0 ]; do
    arg=$1
    shift
    case "$arg" in
        --quick) quick=1 ;;
        --no-record) record=0 ;;
        --baseline)
            [ $# -gt 0 ] || {
                echo "bench.sh: --baseline needs a git revision" >&2
                exit 2
            }
            baseline=$1
            shift
            ;;
        --baseline-patch)
            [ $# -gt 0 ] || {
                echo "bench.sh: --baseline-patch needs a file" >&2
                exit 2
            }
            baseline_patch=$(realpath "$1")
            shift
            ;;
        -h | --help)
            sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done
if [ -n "$baseline_patch" ] && { [ -z "$baseline" ] || [ ! -f "$baseline_patch" ]; }; then
    echo "bench.sh: --baseline-patch needs --baseline REV and an existing file" >&2
    exit 2
fi

if [ "$quick" = 1 ]; then
    sizes=${BENCH_SIZES:-10000}
    run_seconds=${BENCH_SECONDS:-5}
    rounds=${BENCH_ROUNDS:-2}
    mode=quick
else
    sizes=${BENCH_SIZES:-10000 1000000}
    run_seconds=${BENCH_SECONDS:-10}
    rounds=${BENCH_ROUNDS:-3}
    mode=full
fi
connections=${BENCH_CONNECTIONS:-64}
warmup_seconds=2
# PATCH bodies: 1,000 different descriptions, one picked at random per request
# (oha -Z) and per raw UPDATE alike. They must differ: SQLite writes no cell whose
# content is unchanged, so re-sending one fixed body would, after the first pass
# over the rows, commit transactions that sync nothing.
body_count=1000
# The mixed workload's database: credentials, per service account, and the clients
# (spread evenly over the service accounts) whose tokens its requests carry.
mixed_credentials=10000
mixed_per_account=100
mixed_clients=1000
clock_ticks=$(getconf CLK_TCK)

section() {
    printf '\n==> %s\n' "$*" >&2
}

for tool in python3 curl; do
    command -v "$tool" >/dev/null || {
        echo "bench.sh: $tool is needed" >&2
        exit 1
    }
done

# ---------------------------------------------------------------- processes
# Every process started here is recorded, and stopped on any exit.
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]+"${pids[@]}"}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME COMMAND...: starts a server that prints `listening on http://ADDR`,
# waits for that line, and sets $server_pid and $server_url.
start_server() {
    local name=$1
    shift
    # Created here, so the loop below can read it before the child opens it.
    : >"$work/$name.out"
    "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
    server_pid=$!
    pids+=("$server_pid")
    local tries=0
    server_url=""
    while [ -z "$server_url" ]; do
        server_url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$work/$name.out" | head -n 1)
        if [ -n "$server_url" ]; then
            break
        fi
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$tries" -ge 600 ]; then
            echo "bench.sh: $name did not start; its stderr:" >&2
            tail -n 20 "$work/$name.err" >&2
            exit 1
        fi
        tries=$((tries + 1))
        sleep 0.1
    done
}

# stop_server PID: SIGTERM, then wait for it to finish.
stop_server() {
    local pid=$1 kept=() other
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for other in "${pids[@]}"; do
        [ "$other" = "$pid" ] || kept+=("$other")
    done
    pids=("${kept[@]+"${kept[@]}"}")
}

# peak_rss_kib PID: the process's peak resident set (VmHWM), in KiB.
peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ---------------------------------------------------------------- build and tools
section "cargo build --release (keycred, keycred-bench)"
cargo build --release -p keycred -p keycred-bench --bins
if [ -n "$baseline" ]; then
    baseline_commit=$(git rev-parse --verify "$baseline^{commit}")
    section "baseline: cargo build --release of $baseline ($baseline_commit)${baseline_patch:+ with $(basename "$baseline_patch")}"
    # The revision's files, not a worktree: nothing to clean up in the repository.
    baseline_src="$CARGO_TARGET_DIR/baseline-src"
    rm -rf "$baseline_src"
    mkdir -p "$baseline_src"
    git archive "$baseline_commit" | tar -x -C "$baseline_src"
    if [ -n "$baseline_patch" ]; then
        # The ceiling keeps git from finding this repository above the copy: the
        # patch applies to the copy's files, never to the checkout's.
        # (An absolute path: git ignores relative ones, and would then apply the patch
        # from inside this repository, skipping every file outside the directory.)
        (cd "$baseline_src" && GIT_CEILING_DIRECTORIES="$(dirname "$(pwd -P)")" git apply --verbose "$baseline_patch")
    fi
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR/baseline" cargo build --release --manifest-path "$baseline_src/Cargo.toml" \
        -p keycred -p keycred-bench --bins
    baseline_bin="$CARGO_TARGET_DIR/baseline/release"
fi

section "oha"
oha=$(command -v oha || true)
if [ -z "$oha" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/oha" ]; then
    oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
fi
if [ -z "$oha" ] || ! "$oha" --version >/dev/null 2>&1; then
    echo "oha not found: cargo install oha --locked" >&2
    # Its own temporary target directory, not the workspace's.
    env -u CARGO_TARGET_DIR cargo install oha --locked </dev/null
    oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
fi
oha_version=$("$oha" --version)
echo "$oha_version" >&2
oha_help=$("$oha" --help)
if grep -q -- '--output-format' <<<"$oha_help"; then
    oha_json=(--output-format json)
else
    oha_json=(-j)
fi
for flag in --urls-from-file -Z; do
    grep -q -- "$flag" <<<"$oha_help" || {
        echo "bench.sh: this oha has no $flag; install a newer one (cargo install oha --locked)" >&2
        exit 1
    }
done

work="$CARGO_TARGET_DIR/bench-run"
rm -rf "$work"
mkdir -p "$work"
results="$work/results.jsonl"
: >"$results"
bodies="$work/bodies.txt"
for ((i = 0; i < body_count; i++)); do
    printf '{"description":"bench %d"}\n' "$i"
done >"$bodies"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')

# record KEY=VALUE...: appends one JSON object to the results.
record() {
    python3 - "$results" "$@" <<'PY'
import json, sys
entry = {}
for pair in sys.argv[2:]:
    key, _, value = pair.partition("=")
    try:
        entry[key] = json.loads(value)
    except ValueError:
        entry[key] = value
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(entry) + "\n")
PY
}

# json_fields JSON FIELD[:VAR]...: prints `VAR=value` shell assignments of the
# object's fields (numbers rounded to 3 decimals; null as "null"; objects as JSON),
# for eval. FIELD may be a dotted path into nested objects (`operations.GET.p50_ms`).
json_fields() {
    python3 - "$@" <<'PY'
import json, shlex, sys
data = json.loads(sys.argv[1])
for spec in sys.argv[2:]:
    field, _, var = spec.partition(":")
    value = data
    for part in field.split("."):
        value = value[part]
    if isinstance(value, float):
        value = f"{value:.3f}"
    elif value is None:
        value = "null"
    elif isinstance(value, (dict, list)):
        value = json.dumps(value)
    print(f"{var or field}={shlex.quote(str(value))}")
PY
}

# summarize OHA_JSON: prints `rps=… p50_ms=… p99_ms=… requests=… non_2xx=… errors=…`.
summarize() {
    python3 - "$1" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
summary = data["summary"]
percentiles = data.get("latencyPercentiles", {})
statuses = {int(code): count for code, count in data.get("statusCodeDistribution", {}).items()}
errors = sum(data.get("errorDistribution", {}).values())
requests = sum(statuses.values())
non_2xx = sum(count for code, count in statuses.items() if not 200 <= code < 300)
print(
    f"rps={summary['requestsPerSec']:.1f} p50_ms={percentiles.get('p50', float('nan')) * 1000:.3f} "
    f"p99_ms={percentiles.get('p99', float('nan')) * 1000:.3f} requests={requests} "
    f"non_2xx={non_2xx} errors={errors} statuses='{json.dumps(statuses)}'"
)
PY
}

# load LABEL PID URLS SECONDS OUT [oha args...]: one oha run against the server
# PID, its JSON in OUT; sets $rps $p50_ms $p99_ms $requests $non_2xx $errors
# $statuses and $cpu_us (the server's CPU time per request, in µs).
load() {
    local label=$1 pid=$2 urls=$3 seconds=$4 out=$5 before after
    shift 5
    echo "oha: $label, $connections connections, ${seconds} s" >&2
    before=$(cpu_ticks "$pid")
    # -w: requests still running at the deadline are finished, not counted as failures.
    # --urls-from-file: the URL argument is a file of URLs, one picked for each request.
    "$oha" --no-tui "${oha_json[@]}" -z "${seconds}s" -w -c "$connections" "$@" --urls-from-file "$urls" \
        </dev/null >"$out"
    after=$(cpu_ticks "$pid")
    eval "$(summarize "$out")"
    cpu_us=$(python3 -c 'import sys; t, hz, n = map(float, sys.argv[1:]); print(f"{t / hz * 1e6 / max(n, 1):.1f}")' \
        "$((after - before))" "$clock_ticks" "$requests")
}

# request_args METHOD: sets $extra to oha's arguments for a PATCH (a body picked at
# random for each request) or a GET.
request_args() {
    if [ "$1" = PATCH ]; then
        extra=(-m PATCH -H 'Content-Type: application/json' -Z "$bodies")
    else
        extra=(-m GET)
    fi
}

# copy_database FROM TO: copies a database no process has open, with its write-ahead
# log: the seed's last writes may still be only in the log (a store's read-only
# connections, closed last, do not fold it back into the file), and a copy of the
# file alone would lack them.
copy_database() {
    rm -f "$2" "$2-wal" "$2-shm"
    cp "$1" "$2"
    if [ -f "$1-wal" ]; then
        cp "$1-wal" "$2-wal"
    fi
}

# mint_token URL CLIENT_ID CLIENT_SECRET: prints a new access token from that keycred.
mint_token() {
    curl -sSf -u "$2:$3" -d grant_type=client_credentials "$1/service-account-token" </dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# ---------------------------------------------------------------- seed every N
for n in $sizes; do
    section "N=$n: seed"
    mkdir -p "$work/n$n"
    "$bin/seed" --database "$work/n$n/keycred.db" --credentials "$n" --out "$work/n$n/seed.json" \
        --paths "$work/n$n/paths.txt" </dev/null
    if [ -n "$baseline" ]; then
        section "N=$n: seed the baseline's database (its own seed: its schema may differ)"
        "$baseline_bin/seed" --database "$work/n$n/baseline.db" --credentials "$n" \
            --out "$work/n$n/baseline-seed.json" --paths "$work/n$n/baseline-paths.txt" </dev/null
    fi
done
section "mixed workload: seed"
mkdir -p "$work/mixed"
"$bin/seed" --database "$work/mixed/keycred.db" --credentials "$mixed_credentials" \
    --per-service-account "$mixed_per_account" --role org_member --clients-out "$work/mixed/clients.jsonl" \
    --clients "$mixed_clients" --out "$work/mixed/seed.json" --paths "$work/mixed/paths.txt" </dev/null

# ---------------------------------------------------------------- start the servers
# Every server stays up for the whole run, so that each round measures every N and
# both ceilings within a few seconds of one another (other work on the machine
# comes and goes; comparing within a round keeps it out of the ratios).
section "reference-axum (fixed JSON)"
start_server reference-axum "$bin/reference-axum" --listen 127.0.0.1:0
axum_pid=$server_pid
axum_url=$server_url
declare -A keycred_pids bare_pids
for n in $sizes; do
    dir="$work/n$n"
    section "N=$n: bare server (reference-axum --store, on a copy of the database)"
    copy_database "$dir/keycred.db" "$dir/bare.db"
    # The raw SQLite reference writes to a copy of its own too: its writes, run
    # into keycred's file, would leave keycred's checkpointer their log to copy,
    # on keycred's CPU, during the keycred run that follows.
    copy_database "$dir/keycred.db" "$dir/raw.db"
    start_server "bare-n$n" "$bin/reference-axum" --listen 127.0.0.1:0 --store "$dir/bare.db"
    bare_pids[$n]=$server_pid
    sed "s|^|$server_url|" "$dir/paths.txt" >"$dir/bare-urls.txt"
    first_url=$(head -n 1 "$dir/bare-urls.txt")
    curl -sSf -o /dev/null "$first_url" </dev/null
    curl -sSf -o /dev/null -X PATCH -H 'Content-Type: application/json' -d "$(head -n 1 "$bodies")" \
        "$first_url" </dev/null
done
for n in $sizes; do
    dir="$work/n$n"
    db="$dir/keycred.db"
    section "N=$n: keycred"
    eval "$(json_fields "$(cat "$dir/seed.json")" client_id client_secret)"
    start_server "keycred-n$n" "$bin/keycred" serve --listen 127.0.0.1:0 --database "$db"
    keycred_pids[$n]=$server_pid
    echo "Authorization: Bearer $(mint_token "$server_url" "$client_id" "$client_secret")" >"$dir/auth-header"
    echo "Authorization: Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)" >"$dir/basic-header"
    echo "$server_url/service-account-token" >"$dir/token-urls.txt"
    sed "s|^|$server_url|" "$dir/paths.txt" >"$dir/keycred-urls.txt"
    # The same routes for the fixed-JSON handler (it ignores the IDs).
    sed "s|^|$axum_url|" "$dir/paths.txt" >"$dir/axum-urls.txt"
    # One request of each kind must succeed before anything is timed.
    first_url=$(head -n 1 "$dir/keycred-urls.txt")
    curl -sSf -o /dev/null -H "$(cat "$dir/auth-header")" "$first_url" </dev/null
    curl -sSf -o /dev/null -X PATCH -H "$(cat "$dir/auth-header")" -H 'Content-Type: application/json' \
        -d "$(head -n 1 "$bodies")" "$first_url" </dev/null
    load "keycred GET warm-up" "${keycred_pids[$n]}" "$dir/keycred-urls.txt" "$warmup_seconds" \
        "$dir/warmup.json" -H "$(cat "$dir/auth-header")"

    section "N=$n: raw SQLite, 1 update per transaction (for reference)"
    "$bin/reference-sqlite" --database "$dir/raw.db" --paths "$dir/paths.txt" --bodies "$bodies" \
        --seconds "$run_seconds" --batch 1 </dev/null >"$dir/sqlite-1.jsonl"
    eval "$(json_fields "$(head -n 1 "$dir/sqlite-1.jsonl")" updates_per_sec:ups transaction_ms_p50:tp50 \
        transaction_ms_p99:tp99 commit_ms_p50:cp50 commit_ms_p99:cp99 cpu_us_per_update:cpu)"
    echo "raw SQLite, 1 per transaction: $ups updates/s (COMMIT p50 $cp50 ms, p99 $cp99 ms)" >&2
    record kind=sqlite n="$n" batch=1 round=0 rps="$ups" p50_ms="$tp50" p99_ms="$tp99" \
        commit_p50_ms="$cp50" commit_p99_ms="$cp99" cpu_us="$cpu"
done
if [ -n "$baseline" ]; then
    declare -A baseline_pids
    for n in $sizes; do
        dir="$work/n$n"
        section "N=$n: the baseline keycred ($baseline)"
        eval "$(json_fields "$(cat "$dir/baseline-seed.json")" client_id client_secret)"
        start_server "baseline-n$n" "$baseline_bin/keycred" serve --listen 127.0.0.1:0 \
            --database "$dir/baseline.db"
        baseline_pids[$n]=$server_pid
        echo "Authorization: Bearer $(mint_token "$server_url" "$client_id" "$client_secret")" \
            >"$dir/baseline-auth-header"
        sed "s|^|$server_url|" "$dir/baseline-paths.txt" >"$dir/baseline-urls.txt"
        load "baseline GET warm-up" "${baseline_pids[$n]}" "$dir/baseline-urls.txt" "$warmup_seconds" \
            "$dir/baseline-warmup.json" -H "$(cat "$dir/baseline-auth-header")"
    done
fi
load "reference-axum GET warm-up" "$axum_pid" "$work/n$(awk '{ print $1 }' <<<"$sizes")/axum-urls.txt" \
    "$warmup_seconds" "$work/axum-warmup.json"
section "mixed workload: keycred"
start_server keycred-mixed "$bin/keycred" serve --listen 127.0.0.1:0 --database "$work/mixed/keycred.db"
mixed_pid=$server_pid
mixed_url=$server_url

# mixed_run ROUND: one run of the mixed workload (its own token minting and warm-up
# first), recorded as one row for the whole and one per operation; adds the requests
# not answered 2xx to $mixed_failures.
mixed_run() {
    local round=$1 out="$work/mixed/mixed-$1.json" status=0 op load_avg
    load_avg=$(cut -d' ' -f1 /proc/loadavg)
    echo "mixed: $connections connections, ${run_seconds} s after ${warmup_seconds} s of warm-up" >&2
    "$bin/mixed" --url "$mixed_url" --paths "$work/mixed/paths.txt" --clients "$work/mixed/clients.jsonl" \
        --bodies "$bodies" --connections "$connections" --seconds "$run_seconds" \
        --warmup-seconds "$warmup_seconds" --server-pid "$mixed_pid" --clock-ticks "$clock_ticks" \
        </dev/null >"$out" || status=$?
    if [ ! -s "$out" ]; then
        echo "bench.sh: the mixed workload stopped before measuring (exit $status)" >&2
        exit 1
    fi
    eval "$(json_fields "$(cat "$out")" requests_per_sec:rps requests non_2xx errors \
        server_cpu_us_per_request:cpu_us warmup_non_2xx warmup_errors)"
    mixed_failures=$((mixed_failures + non_2xx + errors + warmup_non_2xx + warmup_errors))
    record kind=mixed n="$mixed_credentials" method=ALL round="$round" rps="$rps" cpu_us="$cpu_us" \
        requests="$requests" non_2xx="$((non_2xx + warmup_non_2xx))" errors="$((errors + warmup_errors))" \
        load="$load_avg"
    for op in GET MINT PATCH; do
        eval "$(json_fields "$(cat "$out")" "operations.$op.requests_per_sec:rps" "operations.$op.p50_ms:p50_ms" \
            "operations.$op.p99_ms:p99_ms" "operations.$op.requests:requests" "operations.$op.non_2xx:non_2xx" \
            "operations.$op.errors:errors" "operations.$op.statuses:statuses")"
        record kind=mixed n="$mixed_credentials" method="$op" round="$round" rps="$rps" p50_ms="$p50_ms" \
            p99_ms="$p99_ms" requests="$requests" non_2xx="$non_2xx" errors="$errors" statuses="$statuses" \
            load="$load_avg"
    done
    if [ "$status" != 0 ]; then
        echo "bench.sh: the mixed workload got answers other than 2xx (statuses above)" >&2
    fi
}

# ---------------------------------------------------------------- the rounds
mint_failures=0
mixed_failures=0
for ((round = 1; round <= rounds; round++)); do
    for n in $sizes; do
        section "round $round of $rounds, N=$n"
        dir="$work/n$n"
        pid=${keycred_pids[$n]}
        load_avg=$(cut -d' ' -f1 /proc/loadavg)

        "$bin/reference-sqlite" --database "$dir/raw.db" --paths "$dir/paths.txt" --bodies "$bodies" \
            --seconds "$run_seconds" --batch 64 </dev/null >"$dir/sqlite-64-$round.jsonl"
        eval "$(json_fields "$(head -n 1 "$dir/sqlite-64-$round.jsonl")" updates_per_sec:ups \
            transaction_ms_p50:tp50 transaction_ms_p99:tp99 commit_ms_p50:cp50 commit_ms_p99:cp99 \
            cpu_us_per_update:cpu)"
        echo "raw SQLite, 64 per transaction: $ups updates/s (COMMIT p50 $cp50 ms, p99 $cp99 ms)" >&2
        record kind=sqlite n="$n" batch=64 round="$round" rps="$ups" p50_ms="$tp50" p99_ms="$tp99" \
            commit_p50_ms="$cp50" commit_p99_ms="$cp99" cpu_us="$cpu" load="$load_avg"

        for method in PATCH GET; do
            request_args "$method"
            load "keycred $method" "$pid" "$dir/keycred-urls.txt" "$run_seconds" \
                "$dir/keycred-$method-$round.json" -H "$(cat "$dir/auth-header")" "${extra[@]}"
            echo "keycred $method: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, $cpu_us µs CPU/request," \
                "$non_2xx non-2xx, $errors errors" >&2
            record kind=keycred n="$n" method="$method" round="$round" rps="$rps" p50_ms="$p50_ms" \
                p99_ms="$p99_ms" cpu_us="$cpu_us" requests="$requests" non_2xx="$non_2xx" errors="$errors" \
                statuses="$statuses" load="$load_avg"
        done
        if [ -n "$baseline" ]; then
            for method in PATCH GET; do
                request_args "$method"
                load "baseline $method" "${baseline_pids[$n]}" "$dir/baseline-urls.txt" "$run_seconds" \
                    "$dir/baseline-$method-$round.json" -H "$(cat "$dir/baseline-auth-header")" "${extra[@]}"
                echo "baseline $method: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, $cpu_us µs CPU/request," \
                    "$non_2xx non-2xx, $errors errors" >&2
                record kind=baseline n="$n" method="$method" round="$round" rps="$rps" p50_ms="$p50_ms" \
                    p99_ms="$p99_ms" cpu_us="$cpu_us" requests="$requests" non_2xx="$non_2xx" \
                    errors="$errors" load="$load_avg"
            done
        fi
        load "keycred token mint" "$pid" "$dir/token-urls.txt" "$run_seconds" "$dir/keycred-MINT-$round.json" \
            -m POST -H "$(cat "$dir/basic-header")" -H 'Content-Type: application/x-www-form-urlencoded' \
            -d 'grant_type=client_credentials'
        echo "keycred token mint: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, $cpu_us µs CPU/request," \
            "$non_2xx non-2xx, $errors errors" >&2
        if [ "$non_2xx" != 0 ] || [ "$errors" != 0 ]; then
            echo "bench.sh: token mints with the right secret were refused or failed: $statuses" >&2
            mint_failures=$((mint_failures + non_2xx + errors))
        fi
        record kind=keycred n="$n" method=MINT round="$round" rps="$rps" p50_ms="$p50_ms" \
            p99_ms="$p99_ms" cpu_us="$cpu_us" requests="$requests" non_2xx="$non_2xx" errors="$errors" \
            statuses="$statuses" load="$load_avg"
        for method in PATCH GET; do
            request_args "$method"
            load "bare server $method" "${bare_pids[$n]}" "$dir/bare-urls.txt" "$run_seconds" \
                "$dir/bare-$method-$round.json" "${extra[@]}"
            echo "bare server $method: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, $cpu_us µs CPU/request," \
                "$non_2xx non-2xx, $errors errors" >&2
            record kind=bare n="$n" method="$method" round="$round" rps="$rps" p50_ms="$p50_ms" \
                p99_ms="$p99_ms" cpu_us="$cpu_us" requests="$requests" non_2xx="$non_2xx" errors="$errors" \
                load="$load_avg"
        done

        load "reference-axum GET" "$axum_pid" "$dir/axum-urls.txt" "$run_seconds" "$dir/axum-GET-$round.json" -m GET
        echo "reference-axum GET: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, $cpu_us µs CPU/request" >&2
        record kind=axum n="$n" method=GET round="$round" rps="$rps" p50_ms="$p50_ms" p99_ms="$p99_ms" \
            cpu_us="$cpu_us" requests="$requests" non_2xx="$non_2xx" errors="$errors" load="$load_avg"
    done
    section "round $round of $rounds, mixed workload"
    mixed_run "$round"
done

# ---------------------------------------------------------------- peak RSS, stop
for n in $sizes; do
    dir="$work/n$n"
    rss_kib=$(peak_rss_kib "${keycred_pids[$n]}")
    echo "keycred peak RSS at N=$n: $((rss_kib / 1024)) MiB" >&2
    eval "$(json_fields "$(cat "$dir/seed.json")" seconds:seed_seconds)"
    record kind=keycred-rss n="$n" rss_kib="$rss_kib" seed_seconds="$seed_seconds" \
        db_mib="$(du -sm "$dir/keycred.db" | cut -f1)"
    stop_server "${keycred_pids[$n]}"
    stop_server "${bare_pids[$n]}"
    if [ -n "$baseline" ]; then
        stop_server "${baseline_pids[$n]}"
        rm -f "$dir/baseline.db" "$dir/baseline.db-wal" "$dir/baseline.db-shm"
    fi
    # The databases and request logs are large; the figures are in results.jsonl.
    rm -f "$dir/keycred.db" "$dir/keycred.db-wal" "$dir/keycred.db-shm" "$dir/bare.db" "$dir/bare.db-wal" \
        "$dir/bare.db-shm" "$dir/raw.db" "$dir/raw.db-wal" "$dir/raw.db-shm"
    tail -n 20 "$work/keycred-n$n.err" >"$work/keycred-n$n.err.tail"
    rm -f "$work/keycred-n$n.err"
done
record kind=axum-rss rss_kib="$(peak_rss_kib "$axum_pid")"
stop_server "$axum_pid"
rss_kib=$(peak_rss_kib "$mixed_pid")
echo "keycred peak RSS, mixed workload: $((rss_kib / 1024)) MiB" >&2
eval "$(json_fields "$(cat "$work/mixed/seed.json")" seconds:seed_seconds)"
record kind=mixed-rss n="$mixed_credentials" rss_kib="$rss_kib" seed_seconds="$seed_seconds" \
    db_mib="$(du -sm "$work/mixed/keycred.db" | cut -f1)" clients="$mixed_clients" \
    service_accounts="$((mixed_credentials / mixed_per_account))"
stop_server "$mixed_pid"
rm -f "$work/mixed/keycred.db" "$work/mixed/keycred.db-wal" "$work/mixed/keycred.db-shm"
tail -n 20 "$work/keycred-mixed.err" >"$work/keycred-mixed.err.tail"
rm -f "$work/keycred-mixed.err"

# ---------------------------------------------------------------- report
section "results"
export BENCH_CPU BENCH_CORES BENCH_MEMORY BENCH_KERNEL BENCH_RUSTC BENCH_OHA BENCH_LOAD_START BENCH_LOAD_END \
    BENCH_DATE BENCH_SECONDS_RUN BENCH_ROUNDS_RUN BENCH_CONNECTIONS_RUN BENCH_COMMAND BENCH_BASELINE
BENCH_BASELINE=${baseline:+$baseline ($baseline_commit)${baseline_patch:+ with $(basename "$baseline_patch")}}
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
BENCH_CORES=$(nproc)
BENCH_MEMORY=$(free -h | awk '/^Mem:/ { print $2 }')
BENCH_KERNEL=$(uname -sr)
BENCH_RUSTC=$(rustc --version)
BENCH_OHA=$oha_version
BENCH_LOAD_START=$load_at_start
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_DATE=$started_at
BENCH_SECONDS_RUN=$run_seconds
BENCH_ROUNDS_RUN=$rounds
BENCH_CONNECTIONS_RUN=$connections
BENCH_COMMAND=$command_line
python3 - "$results" "$root/BENCHMARKS.md" "$mode" "$record" <<'PY'
import json, os, re, statistics, sys

results_file, benchmarks_file, mode, record = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
rows = [json.loads(line) for line in open(results_file)]
env = os.environ


def select(**want):
    return [row for row in rows if all(row.get(key) == value for key, value in want.items())]


def median(values):
    values = [value for value in values if isinstance(value, (int, float))]
    return statistics.median(values) if values else None


def num(value, digits=0):
    return "–" if value is None else f"{value:,.{digits}f}"


def spread(runs):
    values = [run["rps"] for run in runs]
    return f"{min(values):,.0f}–{max(values):,.0f}" if len(values) > 1 else "–"


sizes = sorted({row["n"] for row in rows if row.get("kind") == "keycred"})
lines = [
    f"Run {env['BENCH_DATE']} with `{env['BENCH_COMMAND']}`: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, "
    f"{env['BENCH_MEMORY']} memory, {env['BENCH_KERNEL']}; {env['BENCH_RUSTC']}; {env['BENCH_OHA']}. "
    f"Each measurement: {env['BENCH_SECONDS_RUN']} s at {env['BENCH_CONNECTIONS_RUN']} connections, oha on the "
    f"same machine; {env['BENCH_ROUNDS_RUN']} rounds, each running, for every N, the raw SQLite, keycred PATCH, "
    f"keycred GET, token mint, bare server PATCH and GET, and axum GET measurements back to back, then the mixed "
    f"workload (its own load generator, `mixed`, on the same machine); figures are medians over "
    f"the rounds (range of req/s "
    f"given), ratios are medians of the ratios within each round. "
    f"Load average at start {env['BENCH_LOAD_START']}, at end {env['BENCH_LOAD_END']}.",
    "",
    "| N credentials | what | req/s | req/s range | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | failed |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
]
axum_rss = select(kind="axum-rss")
for n in sizes:
    rss = select(kind="keycred-rss", n=n)
    rss_mib = rss[0]["rss_kib"] / 1024 if rss else None
    entries = [
        ("keycred PATCH", select(kind="keycred", n=n, method="PATCH"), rss_mib),
        ("keycred GET", select(kind="keycred", n=n, method="GET"), rss_mib),
        ("keycred token mint (right secret)", select(kind="keycred", n=n, method="MINT"), rss_mib),
        (f"baseline keycred PATCH ({env['BENCH_BASELINE']})", select(kind="baseline", n=n, method="PATCH"), None),
        (f"baseline keycred GET ({env['BENCH_BASELINE']})", select(kind="baseline", n=n, method="GET"), None),
        ("bare server PATCH (fixed JSON + keycred's store, nothing else)",
         select(kind="bare", n=n, method="PATCH"), None),
        ("bare server GET (fixed JSON + keycred's store, nothing else)", select(kind="bare", n=n, method="GET"), None),
        ("raw SQLite UPDATE, 64/transaction (ms per transaction)", select(kind="sqlite", n=n, batch=64), None),
        ("raw SQLite UPDATE, 1/transaction (ms per transaction)", select(kind="sqlite", n=n, batch=1), None),
        ("fixed-JSON axum GET", select(kind="axum", n=n),
         axum_rss[0]["rss_kib"] / 1024 if axum_rss else None),
    ]
    for label, runs, rss_value in entries:
        if not runs:
            continue
        failed = sum(run.get("non_2xx", 0) + run.get("errors", 0) for run in runs) if "non_2xx" in runs[0] else None
        lines.append(
            f"| {n:,} | {label} | {num(median(r['rps'] for r in runs))} | {spread(runs)} | "
            f"{num(median(r['p50_ms'] for r in runs), 2)} | {num(median(r['p99_ms'] for r in runs), 2)} | "
            f"{num(median(r.get('cpu_us') for r in runs), 1)} | {num(rss_value, 1)} | "
            f"{'–' if failed is None else failed} |"
        )
mixed_rss = select(kind="mixed-rss")
mixed_n = mixed_rss[0]["n"] if mixed_rss else None
mixed_entries = [
    ("ALL", "mixed workload: all requests (80% GET, 10% token mint, 10% PATCH)"),
    ("GET", "mixed workload: its GETs"),
    ("MINT", "mixed workload: its token mints"),
    ("PATCH", "mixed workload: its PATCHes"),
]
for method, label in mixed_entries:
    runs = select(kind="mixed", method=method)
    if not runs:
        continue
    everything = method == "ALL"
    rss_value = mixed_rss[0]["rss_kib"] / 1024 if everything and mixed_rss else None
    failed = sum(run["non_2xx"] + run["errors"] for run in runs)
    lines.append(
        f"| {runs[0]['n']:,} | {label} | {num(median(r['rps'] for r in runs))} | {spread(runs)} | "
        f"{num(median(r.get('p50_ms') for r in runs), 2)} | {num(median(r.get('p99_ms') for r in runs), 2)} | "
        f"{num(median(r.get('cpu_us') for r in runs), 1)} | {num(rss_value, 1)} | {failed} |"
    )


def ratio(_n, numerator, denominator):
    """Median over rounds of numerator/denominator, each taken within one round."""
    values = []
    for top in numerator:
        for bottom in denominator:
            if top.get("round") == bottom.get("round") and bottom["rps"]:
                values.append(top["rps"] / bottom["rps"])
    return median(values)


def verdict(ok):
    return "yes" if ok else "**no**"


lines += ["", "| target | N | measured | met |", "|---|---:|---:|:---:|"]
for n in sizes:
    patch, get = select(kind="keycred", n=n, method="PATCH"), select(kind="keycred", n=n, method="GET")
    raw, axum = select(kind="sqlite", n=n, batch=64), select(kind="axum", n=n)
    rss = select(kind="keycred-rss", n=n)
    value = ratio(n, patch, raw)
    if value is not None:
        lines.append(f"| PATCH ≥ 0.85× raw durable batched UPDATE (64/transaction) | {n:,} | {value:.2f}× | "
                     f"{verdict(value >= 0.85)} |")
    value = median(r["p99_ms"] for r in patch)
    if value is not None:
        lines.append(f"| PATCH p99 ≤ 10 ms | {n:,} | {value:.2f} ms | {verdict(value <= 10)} |")
    mint = select(kind="keycred", n=n, method="MINT")
    if mint:
        refused = sum(run["non_2xx"] + run["errors"] for run in mint)
        lines.append(f"| token mints with the right secret: zero non-2xx | {n:,} | {refused} | "
                     f"{verdict(refused == 0)} |")
        value = ratio(n, mint, patch)
        if value is not None:
            lines.append(f"| token mints ≥ 0.8× PATCH (both one durable write) | {n:,} | {value:.2f}× | "
                         f"{verdict(value >= 0.8)} |")
    value = ratio(n, get, axum)
    if value is not None:
        lines.append(f"| GET ≥ 0.6× fixed-JSON axum handler | {n:,} | {value:.2f}× | {verdict(value >= 0.6)} |")
    value = median(r["p99_ms"] for r in get)
    if value is not None:
        lines.append(f"| GET p99 ≤ 5 ms | {n:,} | {value:.2f} ms | {verdict(value <= 5)} |")
    for method, runs in (("GET", get), ("PATCH", patch)):
        value = ratio(n, runs, select(kind="bare", n=n, method=method))
        if value is not None:
            lines.append(f"| keycred {method} ≥ 0.9× the bare server's | {n:,} | {value:.2f}× | "
                         f"{verdict(value >= 0.9)} |")
    for method, runs in (("PATCH", patch), ("GET", get)):
        value = ratio(n, runs, select(kind="baseline", n=n, method=method))
        if value is not None:
            lines.append(f"| keycred {method} against the baseline ({env['BENCH_BASELINE']}) | {n:,} | "
                         f"{value:.2f}× | – |")
    if rss:
        mib = rss[0]["rss_kib"] / 1024
        lines.append(f"| peak RSS ≤ 64 MiB | {n:,} | {mib:.1f} MiB | {verdict(mib <= 64)} |")
mixed_all = select(kind="mixed", method="ALL")
if mixed_all:
    refused = sum(run["non_2xx"] + run["errors"] for run in mixed_all)
    lines.append(f"| mixed workload: zero non-2xx | {mixed_n or mixed_all[0]['n']:,} | {refused} | "
                 f"{verdict(refused == 0)} |")
if mixed_rss:
    mib = mixed_rss[0]["rss_kib"] / 1024
    lines.append(f"| peak RSS ≤ 64 MiB, mixed workload | {mixed_n:,} | {mib:.1f} MiB | {verdict(mib <= 64)} |")
if len(sizes) >= 2:
    small, large = sizes[0], sizes[-1]
    for method in ("PATCH", "GET"):
        a = select(kind="keycred", n=small, method=method)
        b = select(kind="keycred", n=large, method=method)
        if a and b:
            change = ratio(large, b, a) - 1
            cpu_a, cpu_b = median(r["cpu_us"] for r in a), median(r["cpu_us"] for r in b)
            lines.append(f"| {method} req/s at {large:,} within 10% of {small:,} (same round; CPU µs/req "
                         f"{cpu_a:.0f} → {cpu_b:.0f}) | {large:,} | {change:+.1%} | {verdict(abs(change) <= 0.10)} |")
lines.append("")
notes = []
for n in sizes:
    rss = select(kind="keycred-rss", n=n)
    if rss:
        notes.append(f"seeding {n:,} credentials through keycred's store took {rss[0]['seed_seconds']} s "
                     f"(database {rss[0]['db_mib']} MiB)")
    raw, raw1 = select(kind="sqlite", n=n, batch=64), select(kind="sqlite", n=n, batch=1)
    bare_patch, bare_get = select(kind="bare", n=n, method="PATCH"), select(kind="bare", n=n, method="GET")
    axum = select(kind="axum", n=n)
    if bare_patch and bare_get and raw and axum:
        notes.append(f"the bare server, which does keycred's storage work and nothing else, reached "
                     f"{ratio(n, bare_patch, raw):.2f}× the raw UPDATE rate with PATCH and "
                     f"{ratio(n, bare_get, axum):.2f}× the fixed-JSON handler with GET at {n:,}")
    if raw and raw1:
        notes.append(f"raw SQLite COMMIT (WAL fsync) at {n:,}: p50 {raw1[0]['commit_p50_ms']:.2f} ms / "
                     f"p99 {raw1[0]['commit_p99_ms']:.2f} ms alone, p50 "
                     f"{median(r['commit_p50_ms'] for r in raw):.2f} ms / p99 "
                     f"{median(r['commit_p99_ms'] for r in raw):.2f} ms after 64 updates")
    loads = [r["load"] for r in rows
             if r.get("n") == n and r.get("kind") != "mixed" and isinstance(r.get("load"), (int, float))]
    if loads:
        notes.append(f"1-minute load average at the rounds' starts at {n:,}: {min(loads):.2f}–{max(loads):.2f}")
if mixed_rss:
    row = mixed_rss[0]
    notes.append(f"the mixed workload's database: {row['n']:,} credentials in {row['service_accounts']:,} "
                 f"org_member service accounts, seeded in {row['seed_seconds']} s (database {row['db_mib']} MiB); "
                 f"each run first mints a token for each of {row['clients']:,} of their clients; its CPU µs/req is "
                 f"keycred's over the measured window, its p50/p99 are per operation")
lines.append("Notes: " + "; ".join(notes) + ".")
report = "\n".join(lines)
print(report)

if record:
    begin, end = f"<!-- bench.sh {mode}: begin -->", f"<!-- bench.sh {mode}: end -->"
    block = f"{begin}\n{report}\n{end}"
    try:
        text = open(benchmarks_file).read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        title = "Latest full run" if mode == "full" else "Latest quick run"
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"
    open(benchmarks_file, "w").write(text)
    print(f"\nwritten to {benchmarks_file}", file=sys.stderr)
PY
echo "raw results: $results" >&2
failed=0
if [ "$mint_failures" != 0 ]; then
    echo "bench.sh: $mint_failures token mints with the right secret were not answered 2xx" >&2
    failed=1
fi
if [ "$mixed_failures" != 0 ]; then
    echo "bench.sh: $mixed_failures requests of the mixed workload were not answered 2xx" >&2
    failed=1
fi
exit "$failed"
