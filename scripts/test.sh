#!/usr/bin/env bash
# Runs the whole test suite: Rust formatting, lints and tests, then the
# official Python SDK against a real keycred server, then the contract tests
# (scripts/contract.sh: spec lint, schemathesis, generated SDKs). The end-to-end
# suite and the SDK tests run twice, once per storage backend: SQLite, then
# PostgreSQL.
#
# Usage: bash scripts/test.sh   (from anywhere; needs no stdin)
#
# PostgreSQL: the PostgreSQL variants use the server at KEYCRED_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test; the user must be allowed to
# create databases, one per test). If it does not answer and a local Debian
# cluster exists, this script starts it (as root). If it still does not answer,
# the PostgreSQL variants are skipped with a message saying why, or, in CI
# (CI=true), the run fails.
set -euo pipefail

cd "$(dirname "$0")/.."

section() {
    printf '\n==> %s\n' "$*"
}

export KEYCRED_TEST_POSTGRES_URL=${KEYCRED_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

# True when the PostgreSQL server at KEYCRED_TEST_POSTGRES_URL accepts a query
# (with psql), or at least a TCP connection (without it).
postgres_answers() {
    if command -v psql >/dev/null 2>&1; then
        psql "$KEYCRED_TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1
        return
    fi
    local host port
    host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]*).*#\2#' <<<"$KEYCRED_TEST_POSTGRES_URL")
    port=$(sed -E 's#^[a-z]+://([^@/]*@)?[^:/?]*(:([0-9]+))?.*#\3#' <<<"$KEYCRED_TEST_POSTGRES_URL")
    (exec 3<>"/dev/tcp/${host:-127.0.0.1}/${port:-5432}") 2>/dev/null
}

# Starts the local Debian cluster(s) if PostgreSQL does not answer, then waits for
# it. Sets postgres_skip_reason when it cannot be had.
postgres_skip_reason=""
ensure_postgres() {
    if postgres_answers; then
        return
    fi
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && [ "$(id -u)" = 0 ]; then
        for version in $(ls /etc/postgresql); do
            if [ -d "/etc/postgresql/$version/main" ]; then
                echo "PostgreSQL does not answer; starting cluster $version/main"
                pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            fi
        done
        for _ in $(seq 1 30); do
            if postgres_answers; then
                return
            fi
            sleep 1
        done
    fi
    postgres_skip_reason="no PostgreSQL answers at ${KEYCRED_TEST_POSTGRES_URL}"
}

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test (unit tests; end-to-end on SQLite)"
KEYCRED_TEST_BACKEND=sqlite cargo test --workspace

# The hostile-input and slow-client tests once more with every server on HTTPS
# (KEYCRED_TEST_TLS=1): what they check must hold over TLS as well.
section "cargo test: hostile input and slow clients over TLS, on SQLite"
KEYCRED_TEST_TLS=1 KEYCRED_TEST_BACKEND=sqlite cargo test --test api -- errors::hostile_input slow_clients

section "PostgreSQL (${KEYCRED_TEST_POSTGRES_URL})"
ensure_postgres
if [ -n "$postgres_skip_reason" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "error: CI=true and $postgres_skip_reason: the PostgreSQL variants cannot run" >&2
        exit 1
    fi
    echo "SKIPPED: the PostgreSQL variants (store tests, end-to-end suite, Python SDK):"
    echo "         $postgres_skip_reason. Start PostgreSQL, or set KEYCRED_TEST_POSTGRES_URL."
else
    echo "PostgreSQL answers"

    section "cargo test: the PostgreSQL store"
    cargo test -p keycred-store --lib -- --ignored

    section "cargo test: end-to-end on PostgreSQL (with the multi-instance tests)"
    KEYCRED_TEST_BACKEND=postgres cargo test --test api -- --include-ignored

    section "cargo test: hostile input and slow clients over TLS, on PostgreSQL"
    KEYCRED_TEST_TLS=1 KEYCRED_TEST_BACKEND=postgres cargo test --test api -- errors::hostile_input slow_clients
fi

section "cargo build --bin keycred"
cargo build --bin keycred

section "Python venv (.venv)"
requirements=tests/python/requirements.txt
stamp=.venv/requirements.sha256
wanted_hash=$(sha256sum "$requirements" | cut -d' ' -f1)
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    # Missing, or half-made (e.g. Debian without python3-venv): start over.
    rm -rf .venv
    python3 -m venv .venv || {
        echo "error: python3 -m venv failed; on Debian, apt-get install python3-venv" >&2
        exit 1
    }
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted_hash" ]; then
    echo "installing $requirements"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$wanted_hash" > "$stamp"
else
    echo "up to date with $requirements"
fi

section "Chromium (for the /docs page test)"
if command -v chromium >/dev/null 2>&1; then
    echo "found $(command -v chromium)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    echo "installed $(command -v chromium)"
else
    echo "chromium is missing and cannot be installed here (needs root and apt-get); the /docs browser test will skip"
fi

section "pytest tests/python (SQLite)"
KEYCRED_TEST_BACKEND=sqlite .venv/bin/python -m pytest -q -rs tests/python

if [ -n "$postgres_skip_reason" ]; then
    section "pytest tests/python (PostgreSQL): SKIPPED, $postgres_skip_reason"
else
    section "pytest tests/python (PostgreSQL)"
    KEYCRED_TEST_BACKEND=postgres .venv/bin/python -m pytest -q -rs tests/python
fi

# Its own sections, tools (in .tools/) and closing "contract: N passed, N failed" line.
section "contract tests (scripts/contract.sh)"
bash scripts/contract.sh
