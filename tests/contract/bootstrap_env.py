"""Prepares a running keycred for the contract tests and prints what they need.

Usage: bootstrap_env.py KEYCRED_BINARY DATABASE BASE_URL > env.sh

It makes the organizations, service accounts and credentials with
`keycred bootstrap` (as an operator would), mints bearer tokens at
POST /service-account-token (as a service account would), and prints
`export NAME=value` lines for scripts/contract.sh to source:

- KC_URL, KC_ORG, KC_TOKEN, KC_CLIENT_ID, KC_CLIENT_SECRET: the org_admin that
  schemathesis acts as (its token, and its credential for the token endpoint).
  schemathesis never gets its IDs as parameters, so it cannot delete the
  account it acts as.
- KC_SA, KC_CRED: the service account and credential that get/update/list
  operations are pinned to, so generated cases reach the 2xx branches.
- KC_SA_DELETE, KC_CRED_DELETE_SA, KC_CRED_DELETE: a service account and a
  credential kept for the delete operations to delete (deleting the pinned
  ones above would turn every later case into a 404).
- KC_SDK_ORG, KC_SDK_TOKEN: an org_admin in an organization of its own for the
  generated SDKs, so their list assertions see only what they made.
"""

import json
import shlex
import subprocess
import sys

import httpx


def bootstrap(binary: str, database: str, label: str) -> dict:
    """One `keycred bootstrap --json`: an org_admin service account and its credential."""
    result = subprocess.run(
        [binary, "bootstrap", "--database", database, "--org-label", label, "--role", "org_admin", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"keycred bootstrap failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def mint_token(base_url: str, made: dict) -> str:
    """The client credentials grant, with HTTP Basic as the README shows it."""
    response = httpx.post(
        f"{base_url}/service-account-token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["client_secret"]),
        timeout=30,
    )
    if response.status_code != 200:
        sys.exit(f"POST /service-account-token returned {response.status_code}: {response.text}")
    return response.json()["access_token"]


def main() -> None:
    binary, database, base_url = sys.argv[1:4]
    admin = bootstrap(binary, database, "contract")
    pinned = bootstrap(binary, database, "contract")
    sa_to_delete = bootstrap(binary, database, "contract")
    credential_to_delete = bootstrap(binary, database, "contract")
    sdk_admin = bootstrap(binary, database, "sdk")

    env = {
        "KC_URL": base_url,
        "KC_ORG": admin["organization_id"],
        "KC_TOKEN": mint_token(base_url, admin),
        "KC_CLIENT_ID": admin["client_id"],
        "KC_CLIENT_SECRET": admin["client_secret"],
        "KC_SA": pinned["service_account_id"],
        "KC_CRED": pinned["credential_id"],
        "KC_SA_DELETE": sa_to_delete["service_account_id"],
        "KC_CRED_DELETE_SA": credential_to_delete["service_account_id"],
        "KC_CRED_DELETE": credential_to_delete["credential_id"],
        "KC_SDK_ORG": sdk_admin["organization_id"],
        "KC_SDK_TOKEN": mint_token(base_url, sdk_admin),
    }
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
