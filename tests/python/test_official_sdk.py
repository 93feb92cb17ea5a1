"""The official Keycard Python SDK (keycardai-api) works against keycred.

keycred promises to be a drop-in for the Keycard API's service-account
credentials, so these tests call it only through the published SDK, exactly
as a user would, with `base_url` pointed at a local keycred server.
"""

import pytest
from keycardai_api import (
    AuthenticationError,
    BadRequestError,
    KeycardAPI,
    NotFoundError,
    PermissionDeniedError,
)

# Shaped like a real credential id (a 26-character nanoid), but never issued.
MISSING_CREDENTIAL_ID = "nosuchcredential0000000000"


def sdk_client(base_url: str, token: str) -> KeycardAPI:
    """An SDK client as a user would make one, minus retries.

    Retries would hide the first answer and slow down the error tests.
    """
    return KeycardAPI(base_url=base_url, api_key=token, max_retries=0)


def where(creds: dict) -> dict:
    """The path arguments that locate a bootstrap-made credential."""
    return {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }


@pytest.fixture
def admin(bootstrap, base_url, mint_token):
    """A fresh org_admin credential, and the SDK's credentials API logged in with it.

    Minting the token is also what marks the credential as used.
    """
    creds = bootstrap(role="org_admin")
    token = mint_token(base_url, creds["client_id"], creds["client_secret"])
    with sdk_client(base_url, token) as client:
        yield creds, client.organizations.service_accounts.credentials


def test_update_changes_the_credential_and_retrieve_sees_the_change(admin):
    creds, credentials = admin

    updated = credentials.update(
        creds["credential_id"], **where(creds), name="deploy bot", description="Used by CI"
    )
    assert updated.id == creds["credential_id"]
    assert updated.client_id == creds["client_id"]
    assert updated.name == "deploy bot"
    assert updated.description == "Used by CI"

    fetched = credentials.retrieve(creds["credential_id"], **where(creds))
    assert fetched.id == creds["credential_id"]
    assert fetched.name == "deploy bot"
    assert fetched.description == "Used by CI"


def test_retrieve_with_expand_permissions_returns_a_dict_of_dicts_of_booleans(admin):
    creds, credentials = admin

    fetched = credentials.retrieve(creds["credential_id"], **where(creds), expand=["permissions"])

    assert isinstance(fetched.permissions, dict)
    assert fetched.permissions, "expected at least one resource type in permissions"
    for resource_type, grants in fetched.permissions.items():
        assert isinstance(grants, dict), resource_type
        assert grants, f"expected at least one permission for {resource_type}"
        for permission, granted in grants.items():
            assert isinstance(granted, bool), f"{resource_type}.{permission} = {granted!r}"


def test_retrieve_without_expand_leaves_permissions_out(admin):
    creds, credentials = admin

    fetched = credentials.retrieve(creds["credential_id"], **where(creds))

    assert fetched.permissions is None


def test_the_organization_can_be_addressed_by_its_label(admin):
    creds, credentials = admin
    by_label = {
        "organization_id": creds["organization_label"],
        "service_account_id": creds["service_account_id"],
    }

    credentials.update(creds["credential_id"], **by_label, name="named via label")

    assert credentials.retrieve(creds["credential_id"], **by_label).name == "named via label"
    assert credentials.retrieve(creds["credential_id"], **where(creds)).name == "named via label"


def test_update_with_only_a_description_leaves_the_name_unchanged(admin):
    creds, credentials = admin
    name_before = credentials.retrieve(creds["credential_id"], **where(creds)).name

    updated = credentials.update(creds["credential_id"], **where(creds), description="just this")

    assert updated.name == name_before
    assert updated.description == "just this"
    fetched = credentials.retrieve(creds["credential_id"], **where(creds))
    assert fetched.name == name_before
    assert fetched.description == "just this"


def test_a_missing_credential_raises_not_found(admin):
    creds, credentials = admin

    with pytest.raises(NotFoundError) as retrieve_error:
        credentials.retrieve(MISSING_CREDENTIAL_ID, **where(creds))
    with pytest.raises(NotFoundError):
        credentials.update(MISSING_CREDENTIAL_ID, **where(creds), name="ghost")

    body = retrieve_error.value.body
    assert isinstance(body, dict), body
    assert body["status"] == 404
    assert isinstance(body["message"], str) and body["message"]
    assert body["code"]


def test_an_org_viewer_cannot_update_a_credential(bootstrap, base_url, mint_token, admin):
    creds, credentials = admin
    viewer = bootstrap(role="org_viewer", label=creds["organization_label"])
    viewer_token = mint_token(base_url, viewer["client_id"], viewer["client_secret"])
    name_before = credentials.retrieve(creds["credential_id"], **where(creds)).name

    with sdk_client(base_url, viewer_token) as client:
        with pytest.raises(PermissionDeniedError) as error:
            client.organizations.service_accounts.credentials.update(
                creds["credential_id"], **where(creds), name="viewer was here"
            )

    assert error.value.status_code == 403
    assert credentials.retrieve(creds["credential_id"], **where(creds)).name == name_before


def test_a_bad_token_raises_authentication_error(base_url, admin):
    creds, _ = admin

    with sdk_client(base_url, "not-a-real-token") as client:
        credentials = client.organizations.service_accounts.credentials
        with pytest.raises(AuthenticationError):
            credentials.retrieve(creds["credential_id"], **where(creds))
        with pytest.raises(AuthenticationError):
            credentials.update(creds["credential_id"], **where(creds), name="intruder")


def test_a_description_of_501_characters_is_rejected(admin):
    creds, credentials = admin
    credentials.update(creds["credential_id"], **where(creds), description="before")

    with pytest.raises(BadRequestError):
        credentials.update(creds["credential_id"], **where(creds), description="x" * 501)

    fetched = credentials.retrieve(creds["credential_id"], **where(creds))
    assert fetched.description == "before"


def test_a_description_of_500_multibyte_characters_is_accepted(admin):
    """The limit counts characters, not bytes: 500 "é" are 1000 bytes of UTF-8."""
    creds, credentials = admin
    description = "é" * 500

    updated = credentials.update(creds["credential_id"], **where(creds), description=description)

    assert updated.description == description
    fetched = credentials.retrieve(creds["credential_id"], **where(creds))
    assert fetched.description == description


def test_responses_never_contain_the_client_secret(admin):
    """The secret is shown once, by bootstrap; the API must never echo it."""
    creds, credentials = admin

    responses = [
        credentials.with_raw_response.update(
            creds["credential_id"], **where(creds), description="no secrets here"
        ),
        credentials.with_raw_response.retrieve(creds["credential_id"], **where(creds)),
        credentials.with_raw_response.retrieve(
            creds["credential_id"], **where(creds), expand=["permissions"]
        ),
    ]

    for response in responses:
        assert response.status_code == 200
        assert "client_secret" not in response.text()
        assert creds["client_secret"] not in response.text()


def test_last_used_at_is_set_once_the_credential_has_minted_a_token(admin):
    creds, credentials = admin

    fetched = credentials.retrieve(creds["credential_id"], **where(creds))

    assert fetched.last_used_at is not None

