#!/usr/bin/env bash
# Contract tests of openapi.yaml against a live keycred:
#   1. lint: openapi-spec-validator, spectral (spectral:oas), and the spec's own
#      completeness rules (tests/contract/check_spec.py);
#   2. schemathesis: every check, positive and negative cases, the examples,
#      coverage, fuzzing and stateful phases;
#   3. SDKs generated from the spec (openapi-generator, openapi-python-client,
#      @hey-api/openapi-ts, and progenitor for Rust) each create, update, get,
#      list and delete.
# It installs its own tools into .tools/ (gitignored): a Python venv from
# tests/contract/requirements.txt, npm packages from
# tests/contract/package-lock.json, and the Rust client's build
# (tests/contract/rust-client, with its own Cargo.lock). Needs python3,
# node >= 20.19, java >= 11, cargo and a built keycred (`cargo build --bin
# keycred`; scripts/test.sh does that).
# Usage: bash scripts/contract.sh   (from anywhere; needs no stdin)
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
contract_started=$SECONDS

section() {
    printf '\n==> %s\n' "$*"
}

fail() {
    echo "error: $*" >&2
    exit 1
}

tools=.tools
venv=$tools/venv
node_prefix=$tools/node
node_bin=$node_prefix/node_modules/.bin
# Generated SDKs: rebuilt on every run, never committed.
clients=$tools/clients

# The same binary tests/python uses: KEYCRED_BIN, else CARGO_TARGET_DIR (relative
# to the repository, like cargo), else target/.
keycred_bin=${KEYCRED_BIN:-${CARGO_TARGET_DIR:-target}/debug/keycred}
[ -x "$keycred_bin" ] || fail "keycred binary not found at $keycred_bin; run cargo build --bin keycred"

section "contract tools: Python venv ($venv)"
requirements=tests/contract/requirements.txt
stamp=$venv/requirements.sha256
wanted_hash=$(sha256sum "$requirements" | cut -d' ' -f1)
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv" || fail "python3 -m venv failed; on Debian, apt-get install python3-venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted_hash" ]; then
    echo "installing $requirements"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$wanted_hash" >"$stamp"
else
    echo "up to date with $requirements"
fi

section "contract tools: npm packages ($node_prefix)"
# @hey-api/openapi-ts 0.95 needs node 20.19 or later.
node_version=$(node --version 2>/dev/null || true)
if ! [[ $node_version =~ ^v([0-9]+)\.([0-9]+)\. ]] ||
    [ $((BASH_REMATCH[1] * 1000 + BASH_REMATCH[2])) -lt 20019 ]; then
    fail "node 20.19 or later is needed (found '${node_version:-none}')"
fi
lock=tests/contract/package-lock.json
stamp=$node_prefix/package-lock.sha256
wanted_hash=$(cat tests/contract/package.json "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted_hash" ] || [ ! -d "$node_bin" ]; then
    echo "installing $lock with npm ci (node $node_version)"
    mkdir -p "$node_prefix"
    cp tests/contract/package.json "$lock" "$node_prefix/"
    # --ignore-scripts: none of these tools needs an install script (esbuild,
    # under tsx, finds its platform package without one).
    (cd "$node_prefix" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$wanted_hash" >"$stamp"
else
    echo "up to date with $lock"
fi

java -version >/dev/null 2>&1 || fail "java (11 or later) is needed by openapi-generator"
command -v cargo >/dev/null 2>&1 || fail "cargo is needed to build the progenitor client"

# Each check runs in turn; a failure is counted and reported at the end
# instead of stopping the run, so one run shows every disagreement. (A check
# function runs as an `if` condition, where bash ignores `set -e`: each step
# that can fail says `|| return 1`.)
passed=0
failed=0
failed_names=()
timings=()
check() {
    local name=$1
    shift
    local started=$SECONDS
    section "$name"
    if "$@"; then
        passed=$((passed + 1))
        echo "ok: $name"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "FAILED: $name"
    fi
    timings+=("$name $((SECONDS - started)) s")
}

lint_openapi_spec_validator() {
    "$venv/bin/openapi-spec-validator" openapi.yaml
}

lint_spectral() {
    # .spectral.yaml extends spectral:oas; warnings fail too.
    "$node_bin/spectral" lint --ruleset .spectral.yaml --fail-severity warn openapi.yaml
}

lint_completeness() {
    "$venv/bin/python" tests/contract/check_spec.py openapi.yaml
}

check "lint: openapi-spec-validator" lint_openapi_spec_validator
check "lint: spectral (spectral:oas)" lint_spectral
check "lint: operations, examples and error responses" lint_completeness

section "live keycred for the contract tests"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/keycred-contract.XXXXXX")
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    # Kept for a look after a failure: one line per request, with its status.
    cp "$workdir/serve.log" "$tools/contract-serve.log" 2>/dev/null || true
    rm -rf "$workdir"
}
trap stop_server EXIT
"$keycred_bin" serve --listen 127.0.0.1:0 --database "$workdir/keycred.db" \
    </dev/null >"$workdir/serve.out" 2>"$workdir/serve.log" &
server_pid=$!
base_url=
for _ in $(seq 1 300); do
    base_url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$workdir/serve.out")
    [ -n "$base_url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$base_url" ]; then
    cat "$workdir/serve.out" "$workdir/serve.log" >&2
    fail "keycred serve did not start"
fi
echo "keycred serve at $base_url (its log is kept in $tools/contract-serve.log)"
"$venv/bin/python" tests/contract/bootstrap_env.py "$keycred_bin" "$workdir/keycred.db" "$base_url" >"$workdir/env.sh"
# shellcheck source=/dev/null
source "$workdir/env.sh"

# The number in schemathesis's closing "Test cases: N generated, …" line.
generated_cases() {
    sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$1" | tail -n 1
}

schemathesis_cases=0
run_schemathesis() {
    local st=("$repo/$venv/bin/schemathesis")
    local unit_log=$workdir/schemathesis-unit.log stateful_log=$workdir/schemathesis-stateful.log
    local first_log_line=$(($(wc -l <"$workdir/serve.log") + 1))
    # Run from the work directory so schemathesis and hypothesis leave nothing in the repository.
    (cd "$workdir" && "${st[@]}" --config-file "$repo/tests/contract/schemathesis.toml" \
        run "$repo/openapi.yaml" --url "$KC_URL" --checks all \
        --phases examples,coverage,fuzzing) 2>&1 | tee "$unit_log"
    local unit_status=${PIPESTATUS[0]}
    (cd "$workdir" && "${st[@]}" --config-file "$repo/tests/contract/schemathesis-stateful.toml" \
        run "$repo/openapi.yaml" --url "$KC_URL" --checks all \
        --phases stateful) 2>&1 | tee "$stateful_log"
    local stateful_status=${PIPESTATUS[0]}
    local unit_cases stateful_cases
    unit_cases=$(generated_cases "$unit_log")
    stateful_cases=$(generated_cases "$stateful_log")
    schemathesis_cases=$((${unit_cases:-0} + ${stateful_cases:-0}))
    echo "schemathesis: ${unit_cases:-0} cases in examples/coverage/fuzzing, ${stateful_cases:-0} in stateful"
    echo
    "$venv/bin/python" tests/contract/status_report.py openapi.yaml "$workdir/serve.log" "$first_log_line" || return 1
    [ "$unit_status" -eq 0 ] && [ "$stateful_status" -eq 0 ] || return 1
    # A config mistake (everything filtered out, every case skipped) must not pass quietly.
    if [ "$schemathesis_cases" -lt 1000 ]; then
        echo "expected at least 1000 generated cases, got $schemathesis_cases"
        return 1
    fi
}

check "schemathesis (all checks, all phases)" run_schemathesis

# The generated SDKs. Each is generated afresh from openapi.yaml into
# .tools/clients (gitignored) and driven against the live server as its
# users would drive it.
rm -rf "$clients"
mkdir -p "$clients"

sdk_openapi_generator() {
    local out=$clients/openapi-generator
    "$venv/bin/openapi-generator-cli" generate -g python -i openapi.yaml -o "$out" \
        --package-name keycred_oag \
        --global-property apiTests=false,modelTests=false,apiDocs=false,modelDocs=false \
        >"$workdir/openapi-generator.log" 2>&1 || {
        cat "$workdir/openapi-generator.log"
        return 1
    }
    echo "generated $out/keycred_oag"
    PYTHONPATH=$out "$venv/bin/python" tests/contract/sdk_openapi_generator.py
}

sdk_openapi_python_client() {
    local out=$clients/openapi-python-client
    # ruff (from the venv) formats the generated code; a warning (a part of
    # the spec it could not turn into code) fails the check.
    PATH="$repo/$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path openapi.yaml \
        --output-path "$out/keycred_opc" --meta none --fail-on-warning \
        --config tests/contract/openapi-python-client.yaml || return 1
    PYTHONPATH=$out "$venv/bin/python" tests/contract/sdk_openapi_python_client.py
}

sdk_hey_api() {
    local out=$clients/hey-api
    "$node_bin/openapi-ts" --input openapi.yaml --output "$out" --client @hey-api/client-fetch \
        >"$workdir/openapi-ts.log" 2>&1 || {
        cat "$workdir/openapi-ts.log"
        return 1
    }
    echo "generated $out"
    # Type-check the driver against the generated types, then run it.
    "$node_bin/tsc" -p tests/contract/tsconfig.json || return 1
    "$node_bin/tsx" --tsconfig tests/contract/tsconfig.json tests/contract/sdk_hey_api.ts
}

sdk_progenitor() {
    # The client is generated by the crate's build.rs from openapi.yaml, so
    # building the crate is generating it; --locked builds exactly the
    # committed Cargo.lock. Its own target directory keeps it apart from
    # keycred's build.
    local crate=tests/contract/rust-client
    CARGO_TARGET_DIR=$repo/$tools/rust-client-target \
        cargo build --locked --manifest-path "$crate/Cargo.toml" || return 1
    "$tools/rust-client-target/debug/keycred-progenitor-client"
}

check "SDK: openapi-generator (python)" sdk_openapi_generator
check "SDK: openapi-python-client" sdk_openapi_python_client
check "SDK: @hey-api/openapi-ts (fetch client)" sdk_hey_api
check "SDK: progenitor (Rust)" sdk_progenitor

section "summary"
for timing in "${timings[@]}"; do
    echo "  $timing"
done
echo "schemathesis generated $schemathesis_cases cases; the contract section took $((SECONDS - contract_started)) s"
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failed_names[@]}"
fi
echo "contract: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
