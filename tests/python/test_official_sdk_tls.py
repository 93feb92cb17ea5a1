"""The official Keycard Python SDK (keycardai-api) works against keycred over HTTPS.

A keycred of this module's own serves HTTPS (`--tls-cert`, `--tls-key`) with a
certificate of a test certificate authority made here with the openssl
command line; the SDK is given that authority through its http client, as a
user with a private CA would do.
"""

import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from conftest import (
    BACKEND,
    SHUTDOWN_TIMEOUT_SECONDS,
    keycred_binary,
    new_label,
    read_lines_into,
    wait_for_base_url,
)
from keycardai_api import APIConnectionError, DefaultHttpxClient, KeycardAPI

# The server certificate's extensions: what a CA-issued server certificate has.
SERVER_EXTENSIONS = """\
subjectAltName=DNS:localhost,IP:127.0.0.1
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
authorityKeyIdentifier=keyid
"""


def openssl(*args: str, cwd: Path) -> None:
    """Run one openssl command in `cwd`, failing the test with its output."""
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)}:\n{result.stderr}"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A directory with a test CA (ca.pem) and a server pair it signed (cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        message = "the openssl command line is needed to make the test certificates"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    directory = tmp_path_factory.mktemp("tls")
    p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *p256, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=keycred test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=directory)
    openssl("req", *p256, "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost",
            cwd=directory)
    (directory / "server.ext").write_text(SERVER_EXTENSIONS)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "server.ext",
            cwd=directory)
    return directory


@pytest.fixture(scope="module")
def https_server(certificates, database, tmp_path_factory):
    """A `keycred serve` on HTTPS: (base_url, database), stopped with SIGTERM.

    On SQLite it has a database file of its own (the session's server has the
    other); on PostgreSQL it shares the session's database, as instances do.
    """
    if BACKEND == "sqlite":
        database = str(tmp_path_factory.mktemp("keycred-tls") / "keycred.db")
    workdir = tmp_path_factory.mktemp("keycred-serve-tls")
    stderr_path = workdir / "serve.stderr"
    command = [
        str(keycred_binary()), "serve", "--listen", "127.0.0.1:0", "--database", database,
        "--tls-cert", str(certificates / "cert.pem"), "--tls-key", str(certificates / "key.pem"),
    ]
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines_into, args=(process.stdout, lines), daemon=True).start()

    base_url = wait_for_base_url(process, lines, stderr_path)
    yield base_url, database

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS) == 0, stderr_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def trusting_the_test_ca(certificates) -> ssl.SSLContext:
    """An SSL context that trusts the test CA (and nothing else)."""
    return ssl.create_default_context(cafile=str(certificates / "ca.pem"))


@pytest.fixture
def admin(https_server, trusting_the_test_ca):
    """A fresh org_admin credential on the HTTPS server, and a token minted over HTTPS."""
    base_url, database = https_server
    result = subprocess.run(
        [str(keycred_binary()), "bootstrap", "--database", database, "--org-label", new_label(),
         "--json"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    creds = json.loads(result.stdout)
    response = httpx.post(
        f"{base_url}/service-account-token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
        verify=trusting_the_test_ca,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return creds, response.json()["access_token"]


def test_the_server_says_it_serves_https(https_server):
    base_url, _ = https_server
    assert base_url.startswith("https://127.0.0.1:")


def test_the_sdk_given_the_test_ca_updates_and_reads_a_credential_over_https(
    https_server, trusting_the_test_ca, admin
):
    base_url, _ = https_server
    creds, token = admin
    where = {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }
    http_client = DefaultHttpxClient(verify=trusting_the_test_ca)
    with KeycardAPI(base_url=base_url, api_key=token, max_retries=0, http_client=http_client) as client:
        credentials = client.organizations.service_accounts.credentials

        updated = credentials.update(creds["credential_id"], **where, name="over https")
        fetched = credentials.retrieve(creds["credential_id"], **where)

    assert updated.name == "over https"
    assert fetched.name == "over https"
    assert fetched.client_id == creds["client_id"]


def test_the_sdk_without_the_test_ca_refuses_the_server(https_server, admin):
    base_url, _ = https_server
    creds, token = admin
    with KeycardAPI(base_url=base_url, api_key=token, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            client.organizations.service_accounts.credentials.retrieve(
                creds["credential_id"],
                organization_id=creds["organization_id"],
                service_account_id=creds["service_account_id"],
            )
