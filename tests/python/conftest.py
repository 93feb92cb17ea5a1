"""Fixtures that run a real keycred server for the Python tests.

The tests talk to keycred the way a user would: a real `keycred serve`
process on a loopback port, a real database, and credentials made with
the `keycred bootstrap` command line.

The database is a SQLite file by default. With KEYCRED_TEST_BACKEND=postgres
it is a PostgreSQL database of the session's own, `CREATE DATABASE
keycred_test_<random>` on the server at KEYCRED_TEST_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/test), dropped at the end. Without a
reachable PostgreSQL that variant is skipped, saying why, except in CI
(CI=true), where it fails.
"""

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
SHUTDOWN_TIMEOUT_SECONDS = 10
LISTENING = re.compile(r"listening on (https?://\S+)")
BACKEND = os.environ.get("KEYCRED_TEST_BACKEND") or "sqlite"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"


@dataclass
class Server:
    """What the tests need to know about the running keycred server."""

    base_url: str
    database: str
    binary: Path


def keycred_binary() -> Path:
    """Where the keycred binary is, the same place `cargo build` puts it.

    KEYCRED_BIN wins so a binary can be tested from anywhere; otherwise we
    follow CARGO_TARGET_DIR (relative to the repository, as scripts/test.sh
    runs cargo from there) and fall back to `<repo>/target`.
    """
    if os.environ.get("KEYCRED_BIN"):
        return Path(os.environ["KEYCRED_BIN"])
    target_dir = REPO_ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
    return target_dir / "debug" / "keycred"


def read_lines_into(stream, lines: queue.Queue) -> None:
    """Copy a process's output into a queue, then None at end of output.

    Run in a thread so the startup wait can time out, and kept running for
    the server's whole life so its stdout pipe never fills up and blocks it.
    """
    for line in stream:
        lines.put(line)
    lines.put(None)


def wait_for_base_url(process: subprocess.Popen, lines: queue.Queue, stderr_path: Path) -> str:
    """Read the server's stdout until it says where it listens.

    Fails the session with the server's own output if it exits first or
    stays silent for too long, since that output says what went wrong.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    seen = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            problem = f"did not print 'listening on http(s)://...' within {STARTUP_TIMEOUT_SECONDS} s"
            break
        if line is None:
            problem = "stopped before it was listening"
            break
        seen.append(line)
        match = LISTENING.search(line)
        if match:
            return match.group(1).rstrip("/")

    process.kill()
    process.wait()
    pytest.fail(
        f"keycred serve {problem} (exit code {process.returncode}).\n"
        f"--- stdout ---\n{''.join(seen)}"
        f"--- stderr ---\n{stderr_path.read_text(errors='replace')}",
        pytrace=False,
    )


def with_database(url: str, database: str) -> str:
    """`url` with its database name replaced by `database` (query kept)."""
    scheme, rest = url.split("://", 1)
    before_query, _, query = rest.partition("?")
    authority = before_query.split("/", 1)[0]
    return f"{scheme}://{authority}/{database}" + (f"?{query}" if query else "")


def postgres_unavailable(reason: str):
    """Skip the PostgreSQL variant, saying why; in CI, fail instead."""
    message = (
        f"PostgreSQL variant skipped: {reason}. Start PostgreSQL, or point "
        "KEYCRED_TEST_POSTGRES_URL at one (scripts/test.sh starts a local cluster when it can)."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """The `--database` value for the session's server, per KEYCRED_TEST_BACKEND."""
    if BACKEND == "sqlite":
        yield str(tmp_path_factory.mktemp("keycred") / "keycred.db")
        return
    if BACKEND != "postgres":
        pytest.fail(f"KEYCRED_TEST_BACKEND={BACKEND!r}: expected sqlite or postgres", pytrace=False)

    admin_url = os.environ.get("KEYCRED_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    try:
        import psycopg
    except ImportError as error:
        postgres_unavailable(f"the psycopg package is missing ({error})")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        postgres_unavailable(f"cannot connect to {admin_url} ({str(error).strip()})")
    name = f"keycred_test_{uuid.uuid4().hex[:16]}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def keycred_server(tmp_path_factory, database):
    """Start one `keycred serve` for the whole session and stop it with SIGTERM.

    Stopping with SIGTERM, and requiring a prompt exit, checks the graceful
    shutdown that operators rely on.
    """
    binary = keycred_binary()
    if not binary.is_file():
        pytest.fail(
            f"keycred binary not found at {binary}. "
            "Build it with `cargo build --bin keycred` (or run `bash scripts/test.sh`), "
            "or point KEYCRED_BIN at it.",
            pytrace=False,
        )

    workdir = tmp_path_factory.mktemp("keycred-serve")
    stderr_path = workdir / "serve.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--database", database],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines_into, args=(process.stdout, lines), daemon=True).start()

    base_url = wait_for_base_url(process, lines, stderr_path)
    yield Server(base_url=base_url, database=database, binary=binary)

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"keycred serve did not exit within {SHUTDOWN_TIMEOUT_SECONDS} s of SIGTERM.\n"
            f"--- stderr ---\n{stderr_path.read_text(errors='replace')}",
            pytrace=False,
        )
    assert code == 0, (
        f"keycred serve exited with code {code} after SIGTERM.\n"
        f"--- stderr ---\n{stderr_path.read_text(errors='replace')}"
    )


@pytest.fixture
def base_url(keycred_server) -> str:
    """The server's root URL, e.g. http://127.0.0.1:41234."""
    return keycred_server.base_url


def new_label() -> str:
    """An organization label no other test uses, so tests do not share state."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bootstrap(keycred_server):
    """Make an organization, service account and credential with the CLI.

    Returns a function: bootstrap(role="org_admin", label=None) -> dict with
    organization_id, organization_label, service_account_id, credential_id,
    client_id and client_secret. A None label means a fresh organization;
    passing an existing label adds a service account to that organization.
    """

    def run(role: str = "org_admin", label: str | None = None) -> dict:
        command = [
            str(keycred_server.binary),
            "bootstrap",
            "--database",
            keycred_server.database,
            "--org-label",
            label or new_label(),
            "--role",
            role,
            "--json",
        ]
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, (
            f"`{' '.join(command)}` exited with code {result.returncode}.\n"
            f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
        )
        return json.loads(result.stdout)

    return run


def mint_token(base_url: str, client_id: str, client_secret: str) -> str:
    """Exchange a credential for an access token, as a service account does.

    This also marks the credential as used (its last_used_at gets set).
    """
    response = httpx.post(
        f"{base_url}/service-account-token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=30,
    )
    assert response.status_code == 200, (
        f"POST /service-account-token returned {response.status_code}: {response.text}"
    )
    body = response.json()
    assert body["token_type"] == "Bearer"
    return body["access_token"]


@pytest.fixture(name="mint_token")
def mint_token_fixture():
    """mint_token as a fixture, so test modules need not import conftest."""
    return mint_token


@pytest.fixture(autouse=True)
def no_keycard_environment(monkeypatch):
    """Keep a developer's KEYCARD_API_* settings out of the SDK under test.

    The SDK reads its base URL, key and OAuth client from these variables
    when they are set, which would send the tests somewhere else.
    """
    for name in list(os.environ):
        if name.startswith("KEYCARD_API_"):
            monkeypatch.delenv(name)
