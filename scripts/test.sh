#!/usr/bin/env bash
# Runs the whole test suite: Rust formatting, lints and tests, then the
# official Python SDK against a real keycred server, then the contract tests
# (scripts/contract.sh: spec lint, schemathesis, generated SDKs).
# Usage: bash scripts/test.sh   (from anywhere; needs no stdin)
set -euo pipefail

cd "$(dirname "$0")/.."

section() {
    printf '\n==> %s\n' "$*"
}

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test"
cargo test --workspace

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

section "pytest tests/python"
.venv/bin/python -m pytest -q tests/python

# Its own sections, tools (in .tools/) and closing "contract: N passed, N failed" line.
section "contract tests (scripts/contract.sh)"
bash scripts/contract.sh
