"""Rotating a credential's secret through the official Keycard Python SDK.

keycardai-api has no method for keycred's rotate operation (a keycred
addition), so it is called as an SDK user would call any operation the SDK
does not wrap: through the client's raw request API, `client.post(...)`,
which sends the SDK's own authentication and headers. The new secret then
mints a token, and the old one no longer does.
"""

import httpx
from keycardai_api import KeycardAPI


def token_response(base_url: str, client_id: str, client_secret: str) -> httpx.Response:
    """One attempt to mint a token with a credential, by HTTP Basic."""
    return httpx.post(
        f"{base_url}/service-account-token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=30,
    )


def rotate_path(creds: dict, credential_id: str) -> str:
    return (
        f"/organizations/{creds['organization_id']}/service-accounts/"
        f"{creds['service_account_id']}/credentials/{credential_id}/rotate"
    )


def test_rotate_through_the_sdks_raw_request_api_gives_a_secret_that_mints(
    bootstrap, base_url, mint_token
):
    creds = bootstrap(role="org_admin")
    token = mint_token(base_url, creds["client_id"], creds["client_secret"])
    with KeycardAPI(base_url=base_url, api_key=token, max_retries=0) as client:
        credential = client.organizations.service_accounts.credentials.create(
            creds["service_account_id"],
            organization_id=creds["organization_id"],
            name="rotated-by-sdk",
        )
        old_secret = credential.client_secret

        rotated = client.post(
            rotate_path(creds, credential.id),
            cast_to=object,
            body={"previous_secret_valid_for_seconds": 0},
        )

        assert rotated["id"] == credential.id
        assert rotated["client_id"] == credential.client_id
        assert rotated["status"] == "active"
        assert "secret_rotated_at" in rotated
        assert "previous_secret_expires_at" not in rotated
        new_secret = rotated["client_secret"]
        assert len(new_secret) == 64 and new_secret != old_secret

        minted = token_response(base_url, credential.client_id, new_secret)
        assert minted.status_code == 200, minted.text
        assert minted.json()["token_type"] == "Bearer"
        refused = token_response(base_url, credential.client_id, old_secret)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"

        # The SDK's own model of the credential still reads it, lifecycle fields and all.
        read = client.organizations.service_accounts.credentials.retrieve(
            credential.id,
            organization_id=creds["organization_id"],
            service_account_id=creds["service_account_id"],
        )
        assert read.client_id == credential.client_id


def test_rotate_with_grace_through_the_sdk_keeps_the_old_secret_for_a_while(
    bootstrap, base_url, mint_token
):
    creds = bootstrap(role="org_admin")
    token = mint_token(base_url, creds["client_id"], creds["client_secret"])
    with KeycardAPI(base_url=base_url, api_key=token, max_retries=0) as client:
        credential = client.organizations.service_accounts.credentials.create(
            creds["service_account_id"],
            organization_id=creds["organization_id"],
            name="graceful",
        )

        rotated = client.post(
            rotate_path(creds, credential.id),
            cast_to=object,
            body={"previous_secret_valid_for_seconds": 3600},
        )

        assert "previous_secret_expires_at" in rotated
        for secret in (credential.client_secret, rotated["client_secret"]):
            minted = token_response(base_url, credential.client_id, secret)
            assert minted.status_code == 200, minted.text
