"""The whole credential lifecycle works through the official Keycard Python SDK.

Organizations, service accounts and credentials are created, read, changed,
listed page by page and deleted with keycardai-api exactly as a user would
call it, with only `base_url` pointed at a local keycred server. Every
operation the SDK offers for service accounts and their credentials is
exercised, together with the errors each one should raise.
"""

import socket
import time

import httpx
import pytest
from keycardai_api import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    KeycardAPI,
    NotFoundError,
    PermissionDeniedError,
)

# Shaped like real ids (26-character nanoids), but never issued.
MISSING_SERVICE_ACCOUNT_ID = "nosuchserviceaccount000000"
MISSING_CREDENTIAL_ID = "nosuchcredential0000000000"

# Long enough apart that "oldest first" has one answer: timestamps are
# stored to the millisecond, so two things made in the same millisecond
# would be equally old.
CREATION_GAP_SECONDS = 0.005

# How often to repeat a check for a narrow race between requests.
REPEATS_FOR_A_RACE = 1000


def sdk_client(base_url: str, token: str) -> KeycardAPI:
    """An SDK client as a user would make one, minus retries.

    Retries would hide the first answer and slow down the error tests.
    """
    return KeycardAPI(base_url=base_url, api_key=token, max_retries=0)


def token_endpoint_status(base_url: str, client_id: str, client_secret: str) -> int:
    """The HTTP status of one attempt to mint a token with a credential."""
    response = httpx.post(
        f"{base_url}/service-account-token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=30,
    )
    return response.status_code


def assert_is_permissions(permissions) -> None:
    """Check the shape of an expanded `permissions`: a dict of dicts of booleans."""
    assert isinstance(permissions, dict), permissions
    assert permissions, "expected at least one resource type in permissions"
    for resource_type, grants in permissions.items():
        assert isinstance(grants, dict), resource_type
        assert grants, f"expected at least one permission for {resource_type}"
        for permission, granted in grants.items():
            assert isinstance(granted, bool), f"{resource_type}.{permission} = {granted!r}"


def walk_forward(list_page) -> list:
    """Every page of a list, first to last, following `end_cursor`.

    `list_page(**cursor)` returns one page; it is first called with no
    cursor, then with `after=` the previous page's end_cursor for as long
    as the previous page says it has a next page.
    """
    pages = [list_page()]
    while pages[-1].page_info.has_next_page:
        assert len(pages) < 50, "pagination does not end"
        cursor = pages[-1].page_info.end_cursor
        assert cursor, "a page with a next page must have an end_cursor"
        pages.append(list_page(after=cursor))
    return pages


def walk_backward(list_page, last_page) -> list:
    """Every page before `last_page`, and it, in first-to-last order.

    Follows `before=` each page's start_cursor for as long as that page says
    it has a previous page.
    """
    pages = [last_page]
    while pages[-1].page_info.has_prev_page:
        assert len(pages) < 50, "pagination does not end"
        cursor = pages[-1].page_info.start_cursor
        assert cursor, "a page with a previous page must have a start_cursor"
        pages.append(list_page(before=cursor))
    return list(reversed(pages))


def ids_of(pages) -> list:
    """The ids on a run of pages, in order, one list for all of them."""
    return [item.id for page in pages for item in page.items]


def ids_per_page(pages) -> list:
    """The ids on each page, as a list of lists."""
    return [[item.id for item in page.items] for page in pages]


def assert_pages_of_two_cover(pages, expected_ids: list) -> None:
    """Check that pages of limit=2 hold exactly `expected_ids`, in order.

    Each id appears exactly once, every page but the last is full, only the
    first page has no previous page and only the last has no next page.
    """
    assert ids_of(pages) == expected_ids
    assert len(set(ids_of(pages))) == len(expected_ids), "an item appeared twice"
    assert all(len(page.items) == 2 for page in pages[:-1]), ids_per_page(pages)
    assert 1 <= len(pages[-1].items) <= 2, ids_per_page(pages)
    assert [page.page_info.has_prev_page for page in pages] == [False] + [True] * (len(pages) - 1)
    assert [page.page_info.has_next_page for page in pages] == [True] * (len(pages) - 1) + [False]


def make_service_accounts(client: KeycardAPI, organization_id: str, count: int) -> list:
    """Create `count` service accounts through the SDK, oldest first."""
    made = []
    for number in range(count):
        time.sleep(CREATION_GAP_SECONDS)
        made.append(
            client.organizations.service_accounts.create(
                organization_id, name=f"worker-{number}", description=f"worker number {number}"
            )
        )
    return made


def make_credentials(
    client: KeycardAPI, organization_id: str, service_account_id: str, count: int
) -> list:
    """Create `count` credentials for one service account through the SDK, oldest first."""
    made = []
    for number in range(count):
        time.sleep(CREATION_GAP_SECONDS)
        made.append(
            client.organizations.service_accounts.credentials.create(
                service_account_id,
                organization_id=organization_id,
                name=f"key-{number}",
                description=f"key number {number}",
            )
        )
    return made


@pytest.fixture
def admin(bootstrap, base_url, mint_token):
    """A fresh organization's org_admin: its bootstrap output and a logged-in SDK client."""
    creds = bootstrap(role="org_admin")
    token = mint_token(base_url, creds["client_id"], creds["client_secret"])
    with sdk_client(base_url, token) as client:
        yield creds, client


@pytest.fixture
def service_account(admin):
    """A service account made through the SDK in the admin's organization."""
    creds, client = admin
    return client.organizations.service_accounts.create(
        creds["organization_id"], name="lifecycle", description="made by the SDK"
    )


@pytest.fixture
def credential(admin, service_account):
    """A credential made through the SDK for `service_account` (with its secret)."""
    creds, client = admin
    return client.organizations.service_accounts.credentials.create(
        service_account.id,
        organization_id=creds["organization_id"],
        name="lifecycle-key",
        description="made by the SDK",
    )


def credential_path(creds: dict, service_account) -> dict:
    """The keyword arguments that locate a credential of `service_account`."""
    return {"organization_id": creds["organization_id"], "service_account_id": service_account.id}


# --- Organizations -------------------------------------------------------------


def test_listing_organizations_returns_exactly_the_callers_organization(admin):
    creds, client = admin

    page = client.organizations.list()

    assert [org.id for org in page.items] == [creds["organization_id"]]
    assert page.items[0].label == creds["organization_label"]
    assert page.page_info.has_next_page is False
    assert page.page_info.has_prev_page is False


def test_the_organization_can_be_retrieved_by_its_label_and_by_its_id(admin):
    creds, client = admin

    by_label = client.organizations.retrieve(creds["organization_label"])
    by_id = client.organizations.retrieve(creds["organization_id"])

    for org in (by_label, by_id):
        assert org.id == creds["organization_id"]
        assert org.label == creds["organization_label"]
        assert org.name
        assert org.sso_enabled is False
        assert org.zone_id == creds["organization_id"], "keycred has one zone per organization"
        assert org.created_at <= org.updated_at
    assert by_label == by_id


def test_retrieving_the_organization_with_expand_permissions_includes_them(admin):
    creds, client = admin

    org = client.organizations.retrieve(creds["organization_id"], expand=["permissions"])

    assert_is_permissions(org.permissions)
    assert client.organizations.retrieve(creds["organization_id"]).permissions is None


def test_another_organization_is_not_found(admin, bootstrap):
    creds, client = admin
    other = bootstrap(role="org_admin")
    other_credential = {
        "organization_id": other["organization_id"],
        "service_account_id": other["service_account_id"],
    }
    service_accounts = client.organizations.service_accounts

    for organization in (other["organization_id"], other["organization_label"]):
        with pytest.raises(NotFoundError):
            client.organizations.retrieve(organization)
        with pytest.raises(NotFoundError):
            service_accounts.list(organization)
        with pytest.raises(NotFoundError):
            service_accounts.create(organization, name="intruder")
    with pytest.raises(NotFoundError):
        service_accounts.retrieve(
            other["service_account_id"], organization_id=other["organization_id"]
        )
    with pytest.raises(NotFoundError):
        service_accounts.credentials.retrieve(other["credential_id"], **other_credential)
    with pytest.raises(NotFoundError):
        service_accounts.credentials.list(
            other["service_account_id"], organization_id=other["organization_id"]
        )
    with pytest.raises(NotFoundError):
        service_accounts.credentials.delete(other["credential_id"], **other_credential)


def test_another_organizations_service_account_is_not_found_under_the_callers_organization(
    admin, bootstrap
):
    creds, client = admin
    other = bootstrap(role="org_admin")
    mine = {"organization_id": creds["organization_id"]}

    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.retrieve(other["service_account_id"], **mine)
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.credentials.retrieve(
            other["credential_id"], **mine, service_account_id=other["service_account_id"]
        )
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.credentials.retrieve(
            other["credential_id"], **mine, service_account_id=creds["service_account_id"]
        )


# --- Service accounts ----------------------------------------------------------


def test_creating_a_service_account_returns_it_with_its_name_and_description(admin):
    creds, client = admin

    made = client.organizations.service_accounts.create(
        creds["organization_id"], name="deploy-pipeline", description="Deploys the web app"
    )

    assert len(made.id) == 26
    assert made.name == "deploy-pipeline"
    assert made.description == "Deploys the web app"
    assert made.created_at == made.updated_at
    assert made.to_dict()["role"] == "org_viewer", "without a role a service account gets the least"
    assert made.permissions is None


def test_a_created_service_account_can_be_retrieved_by_organization_id_and_label(
    admin, service_account
):
    creds, client = admin

    for organization in (creds["organization_id"], creds["organization_label"]):
        fetched = client.organizations.service_accounts.retrieve(
            service_account.id, organization_id=organization
        )
        assert fetched == service_account


def test_retrieving_a_service_account_with_expand_permissions_includes_them(admin, service_account):
    creds, client = admin

    fetched = client.organizations.service_accounts.retrieve(
        service_account.id, organization_id=creds["organization_id"], expand=["permissions"]
    )

    assert fetched.id == service_account.id
    assert_is_permissions(fetched.permissions)


def test_retrieving_a_service_account_without_expand_leaves_permissions_out(admin, service_account):
    creds, client = admin

    fetched = client.organizations.service_accounts.retrieve(
        service_account.id, organization_id=creds["organization_id"]
    )

    assert fetched.permissions is None
    assert "permissions" not in fetched.to_dict()


def test_updating_a_service_account_changes_the_given_fields_and_keeps_the_rest(
    admin, service_account
):
    creds, client = admin
    service_accounts = client.organizations.service_accounts
    where = {"organization_id": creds["organization_id"]}

    renamed = service_accounts.update(service_account.id, **where, name="renamed")
    assert renamed.name == "renamed"
    assert renamed.description == "made by the SDK"

    described = service_accounts.update(service_account.id, **where, description="new words")
    assert described.name == "renamed"
    assert described.description == "new words"

    both = service_accounts.update(service_account.id, **where, name="both", description="changed")
    assert (both.name, both.description) == ("both", "changed")
    assert both.id == service_account.id
    assert both.created_at == service_account.created_at
    assert both.updated_at >= service_account.updated_at
    assert both.to_dict()["role"] == service_account.to_dict()["role"]

    nothing = service_accounts.update(service_account.id, **where)
    assert (nothing.name, nothing.description) == ("both", "changed")

    fetched = service_accounts.retrieve(service_account.id, **where)
    assert (fetched.name, fetched.description) == ("both", "changed")


def test_listing_service_accounts_two_at_a_time_visits_each_exactly_once_in_both_directions(
    admin,
):
    creds, client = admin
    org = creds["organization_id"]
    made = make_service_accounts(client, org, 5)
    expected = [creds["service_account_id"]] + [sa.id for sa in made]

    def list_page(**cursor):
        """One page of two of the organization's service accounts."""
        return client.organizations.service_accounts.list(org, limit=2, **cursor)

    forward = walk_forward(list_page)
    assert_pages_of_two_cover(forward, expected)
    assert len(forward) == 3

    backward = walk_backward(list_page, forward[-1])
    assert ids_per_page(backward) == ids_per_page(forward)
    assert backward[0].page_info.has_prev_page is False

    listed = {item.id: item for page in forward for item in page.items}
    for sa in made:
        assert listed[sa.id] == sa


def test_listing_service_accounts_without_a_limit_returns_them_all_on_one_page(admin):
    creds, client = admin
    made = make_service_accounts(client, creds["organization_id"], 3)

    page = client.organizations.service_accounts.list(creds["organization_id"])

    assert [sa.id for sa in page.items] == [creds["service_account_id"]] + [sa.id for sa in made]
    assert page.page_info.has_next_page is False
    assert page.page_info.has_prev_page is False


def test_deleting_a_service_account_makes_it_not_found(admin, service_account):
    creds, client = admin
    where = {"organization_id": creds["organization_id"]}

    assert client.organizations.service_accounts.delete(service_account.id, **where) is None

    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.retrieve(service_account.id, **where)
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.update(service_account.id, **where, name="ghost")
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.delete(service_account.id, **where)
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.credentials.list(service_account.id, **where)
    listed = client.organizations.service_accounts.list(creds["organization_id"])
    assert service_account.id not in [sa.id for sa in listed.items]


def test_deleting_a_service_account_stops_its_credentials_tokens_at_once(
    admin, service_account, credential, base_url, mint_token
):
    creds, client = admin
    token = mint_token(base_url, credential.client_id, credential.client_secret)
    with sdk_client(base_url, token) as theirs:
        theirs.organizations.retrieve(creds["organization_id"])

        client.organizations.service_accounts.delete(
            service_account.id, organization_id=creds["organization_id"]
        )

        with pytest.raises(AuthenticationError):
            theirs.organizations.retrieve(creds["organization_id"])
    assert token_endpoint_status(base_url, credential.client_id, credential.client_secret) == 401
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.credentials.retrieve(
            credential.id, **credential_path(creds, service_account)
        )


def test_a_missing_service_account_raises_not_found_for_every_operation(admin):
    creds, client = admin
    service_accounts = client.organizations.service_accounts
    where = {"organization_id": creds["organization_id"]}
    path = {**where, "service_account_id": MISSING_SERVICE_ACCOUNT_ID}

    with pytest.raises(NotFoundError) as error:
        service_accounts.retrieve(MISSING_SERVICE_ACCOUNT_ID, **where)
    with pytest.raises(NotFoundError):
        service_accounts.update(MISSING_SERVICE_ACCOUNT_ID, **where, name="ghost")
    with pytest.raises(NotFoundError):
        service_accounts.delete(MISSING_SERVICE_ACCOUNT_ID, **where)
    with pytest.raises(NotFoundError):
        service_accounts.credentials.create(MISSING_SERVICE_ACCOUNT_ID, **where, name="ghost")
    with pytest.raises(NotFoundError):
        service_accounts.credentials.list(MISSING_SERVICE_ACCOUNT_ID, **where)
    with pytest.raises(NotFoundError):
        service_accounts.credentials.retrieve(creds["credential_id"], **path)

    assert error.value.status_code == 404
    assert error.value.body["status"] == 404
    assert error.value.body["code"]
    assert error.value.body["message"]


def test_a_missing_organization_raises_not_found(admin):
    _, client = admin

    with pytest.raises(NotFoundError):
        client.organizations.retrieve("no-such-organization")
    with pytest.raises(NotFoundError):
        client.organizations.service_accounts.list("no-such-organization")


# --- Credentials ---------------------------------------------------------------


def test_creating_a_credential_returns_a_64_character_secret(admin, service_account):
    creds, client = admin

    made = client.organizations.service_accounts.credentials.create(
        service_account.id,
        organization_id=creds["organization_id"],
        name="deploy-bot",
        description="Used by the deploy pipeline",
    )

    assert len(made.id) == 26
    assert made.client_id
    assert isinstance(made.client_secret, str) and len(made.client_secret) == 64
    assert made.name == "deploy-bot"
    assert made.description == "Used by the deploy pipeline"
    assert made.created_at is not None


def test_two_credentials_get_different_ids_and_secrets(admin, service_account):
    creds, client = admin

    first, second = make_credentials(client, creds["organization_id"], service_account.id, 2)

    assert first.id != second.id
    assert first.client_id != second.client_id
    assert first.client_secret != second.client_secret


def test_a_new_credential_mints_a_token_the_sdk_can_use(
    admin, service_account, credential, base_url, mint_token
):
    creds, _ = admin

    token = mint_token(base_url, credential.client_id, credential.client_secret)

    with sdk_client(base_url, token) as theirs:
        org = theirs.organizations.retrieve(creds["organization_label"])
        assert org.id == creds["organization_id"]
        assert [o.id for o in theirs.organizations.list().items] == [creds["organization_id"]]
        me = theirs.organizations.service_accounts.retrieve(
            service_account.id, organization_id=creds["organization_id"]
        )
        assert me.id == service_account.id
        mine = theirs.organizations.service_accounts.credentials.retrieve(
            credential.id, **credential_path(creds, service_account)
        )
        assert mine.client_id == credential.client_id
        assert mine.last_used_at is not None


def test_a_new_credential_is_unused_until_it_mints_a_token(
    admin, service_account, credential, base_url, mint_token
):
    creds, client = admin
    credentials = client.organizations.service_accounts.credentials
    where = credential_path(creds, service_account)

    assert credentials.retrieve(credential.id, **where).last_used_at is None
    mint_token(base_url, credential.client_id, credential.client_secret)
    assert credentials.retrieve(credential.id, **where).last_used_at is not None


def test_retrieving_a_credential_returns_what_create_returned_minus_the_secret(
    admin, service_account, credential
):
    creds, client = admin

    fetched = client.organizations.service_accounts.credentials.retrieve(
        credential.id, **credential_path(creds, service_account)
    )

    assert fetched.id == credential.id
    assert fetched.client_id == credential.client_id
    assert fetched.name == credential.name
    assert fetched.description == credential.description
    assert fetched.created_at == credential.created_at
    assert "client_secret" not in fetched.to_dict()


def test_retrieving_a_credential_with_expand_permissions_includes_them(
    admin, service_account, credential
):
    creds, client = admin
    credentials = client.organizations.service_accounts.credentials
    where = credential_path(creds, service_account)

    expanded = credentials.retrieve(credential.id, **where, expand=["permissions"])
    plain = credentials.retrieve(credential.id, **where)

    assert_is_permissions(expanded.permissions)
    assert plain.permissions is None


def test_updating_a_credential_changes_the_given_fields_and_keeps_the_rest(
    admin, service_account, credential
):
    creds, client = admin
    credentials = client.organizations.service_accounts.credentials
    where = credential_path(creds, service_account)

    renamed = credentials.update(credential.id, **where, name="renamed")
    assert (renamed.name, renamed.description) == ("renamed", "made by the SDK")

    described = credentials.update(credential.id, **where, description="new words")
    assert (described.name, described.description) == ("renamed", "new words")

    nothing = credentials.update(credential.id, **where)
    assert (nothing.name, nothing.description) == ("renamed", "new words")
    assert nothing.id == credential.id
    assert nothing.client_id == credential.client_id
    assert nothing.created_at == credential.created_at

    fetched = credentials.retrieve(credential.id, **where)
    assert (fetched.name, fetched.description) == ("renamed", "new words")


def test_listing_credentials_two_at_a_time_visits_each_exactly_once_in_both_directions(
    admin, service_account
):
    creds, client = admin
    made = make_credentials(client, creds["organization_id"], service_account.id, 5)
    where = {"organization_id": creds["organization_id"]}

    def list_page(**cursor):
        """One page of two of the service account's credentials."""
        return client.organizations.service_accounts.credentials.list(
            service_account.id, **where, limit=2, **cursor
        )

    forward = walk_forward(list_page)
    assert_pages_of_two_cover(forward, [c.id for c in made])
    assert [len(page.items) for page in forward] == [2, 2, 1]

    backward = walk_backward(list_page, forward[-1])
    assert ids_per_page(backward) == ids_per_page(forward)

    listed = {item.id: item for page in forward for item in page.items}
    for created in made:
        assert listed[created.id].client_id == created.client_id
        assert listed[created.id].name == created.name
        assert listed[created.id].description == created.description


def test_listing_credentials_only_shows_that_service_accounts_credentials(admin, service_account):
    creds, client = admin
    made = make_credentials(client, creds["organization_id"], service_account.id, 2)

    theirs = client.organizations.service_accounts.credentials.list(
        service_account.id, organization_id=creds["organization_id"]
    )
    bootstraps = client.organizations.service_accounts.credentials.list(
        creds["service_account_id"], organization_id=creds["organization_id"]
    )

    assert [c.id for c in theirs.items] == [c.id for c in made]
    assert [c.id for c in bootstraps.items] == [creds["credential_id"]]


def test_listing_credentials_with_expand_permissions_includes_them(
    admin, service_account, credential
):
    creds, client = admin

    page = client.organizations.service_accounts.credentials.list(
        service_account.id, organization_id=creds["organization_id"], expand=["permissions"]
    )

    assert [c.id for c in page.items] == [credential.id]
    assert_is_permissions(page.permissions)


def test_deleting_a_credential_stops_its_token_at_once_and_makes_it_not_found(
    admin, service_account, credential, base_url, mint_token
):
    creds, client = admin
    credentials = client.organizations.service_accounts.credentials
    where = credential_path(creds, service_account)
    token = mint_token(base_url, credential.client_id, credential.client_secret)

    with sdk_client(base_url, token) as theirs:
        theirs.organizations.retrieve(creds["organization_id"])

        assert credentials.delete(credential.id, **where) is None

        with pytest.raises(AuthenticationError) as error:
            theirs.organizations.retrieve(creds["organization_id"])
    assert error.value.status_code == 401

    with pytest.raises(NotFoundError):
        credentials.retrieve(credential.id, **where)
    with pytest.raises(NotFoundError):
        credentials.update(credential.id, **where, name="ghost")
    with pytest.raises(NotFoundError):
        credentials.delete(credential.id, **where)
    listed = credentials.list(service_account.id, organization_id=creds["organization_id"])
    assert credential.id not in [c.id for c in listed.items]
    assert token_endpoint_status(base_url, credential.client_id, credential.client_secret) == 401


def test_deleting_one_credential_leaves_the_others_working(
    admin, service_account, base_url, mint_token
):
    creds, client = admin
    kept, dropped = make_credentials(client, creds["organization_id"], service_account.id, 2)
    kept_token = mint_token(base_url, kept.client_id, kept.client_secret)

    client.organizations.service_accounts.credentials.delete(
        dropped.id, **credential_path(creds, service_account)
    )

    with sdk_client(base_url, kept_token) as theirs:
        org = theirs.organizations.retrieve(creds["organization_id"])
        assert org.id == creds["organization_id"]


def test_a_missing_credential_raises_not_found_for_every_operation(admin):
    creds, client = admin
    credentials = client.organizations.service_accounts.credentials
    where = {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }

    with pytest.raises(NotFoundError):
        credentials.retrieve(MISSING_CREDENTIAL_ID, **where)
    with pytest.raises(NotFoundError):
        credentials.update(MISSING_CREDENTIAL_ID, **where, name="ghost")
    with pytest.raises(NotFoundError):
        credentials.delete(MISSING_CREDENTIAL_ID, **where)


def test_a_credential_is_not_found_under_another_service_account(
    admin, service_account, credential
):
    creds, client = admin
    wrong = {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }
    credentials = client.organizations.service_accounts.credentials

    with pytest.raises(NotFoundError):
        credentials.retrieve(credential.id, **wrong)
    with pytest.raises(NotFoundError):
        credentials.update(credential.id, **wrong, name="moved")
    with pytest.raises(NotFoundError):
        credentials.delete(credential.id, **wrong)
    still_there = credentials.retrieve(credential.id, **credential_path(creds, service_account))
    assert still_there.name == credential.name


# --- The client secret ---------------------------------------------------------


def test_the_client_secret_appears_only_in_the_create_response(admin, service_account):
    creds, client = admin
    org = creds["organization_id"]
    service_accounts = client.organizations.service_accounts.with_raw_response
    credentials = service_accounts.credentials
    where = credential_path(creds, service_account)

    created = credentials.create(service_account.id, organization_id=org, name="once")
    assert created.status_code == 200
    made = created.parse()
    assert made.client_secret in created.text()

    later = [
        credentials.retrieve(made.id, **where),
        credentials.retrieve(made.id, **where, expand=["permissions"]),
        credentials.update(made.id, **where, description="no secrets here"),
        credentials.list(service_account.id, organization_id=org),
        credentials.list(service_account.id, organization_id=org, expand=["permissions"]),
        service_accounts.retrieve(service_account.id, organization_id=org, expand=["permissions"]),
        service_accounts.list(org),
        client.organizations.with_raw_response.retrieve(org),
    ]
    for response in later:
        assert response.status_code == 200
        assert "client_secret" not in response.text(), response.http_request.url
        assert made.client_secret not in response.text(), response.http_request.url


def test_creating_a_service_account_returns_no_secret(admin):
    creds, client = admin

    response = client.organizations.service_accounts.with_raw_response.create(
        creds["organization_id"], name="plain"
    )

    assert response.status_code == 200
    assert "secret" not in response.text()


# --- Roles ---------------------------------------------------------------------


def test_an_org_viewer_cannot_create_a_service_account_or_a_credential(
    admin, bootstrap, base_url, mint_token
):
    creds, client = admin
    org = creds["organization_id"]
    viewer = bootstrap(role="org_viewer", label=creds["organization_label"])
    viewer_token = mint_token(base_url, viewer["client_id"], viewer["client_secret"])
    accounts_before = client.organizations.service_accounts.list(org).items
    credentials_before = client.organizations.service_accounts.credentials.list(
        creds["service_account_id"], organization_id=org
    ).items

    with sdk_client(base_url, viewer_token) as theirs:
        with pytest.raises(PermissionDeniedError) as error:
            theirs.organizations.service_accounts.create(org, name="viewer made this")
        with pytest.raises(PermissionDeniedError):
            theirs.organizations.service_accounts.credentials.create(
                creds["service_account_id"], organization_id=org, name="viewer made this"
            )
        with pytest.raises(PermissionDeniedError):
            theirs.organizations.service_accounts.credentials.create(
                viewer["service_account_id"], organization_id=org, name="for myself"
            )

    assert error.value.status_code == 403
    assert client.organizations.service_accounts.list(org).items == accounts_before
    assert (
        client.organizations.service_accounts.credentials.list(
            creds["service_account_id"], organization_id=org
        ).items
        == credentials_before
    )


def test_an_org_viewer_can_read_but_not_change_or_delete_service_accounts(
    admin, service_account, bootstrap, base_url, mint_token
):
    creds, client = admin
    org = {"organization_id": creds["organization_id"]}
    viewer = bootstrap(role="org_viewer", label=creds["organization_label"])
    viewer_token = mint_token(base_url, viewer["client_id"], viewer["client_secret"])

    with sdk_client(base_url, viewer_token) as theirs:
        service_accounts = theirs.organizations.service_accounts
        assert service_accounts.retrieve(service_account.id, **org).name == service_account.name
        assert service_account.id in [sa.id for sa in service_accounts.list(**org).items]
        with pytest.raises(PermissionDeniedError):
            service_accounts.update(service_account.id, **org, name="viewer was here")
        with pytest.raises(PermissionDeniedError):
            service_accounts.delete(service_account.id, **org)

    unchanged = client.organizations.service_accounts.retrieve(service_account.id, **org)
    assert unchanged == service_account


def test_an_org_member_cannot_delete_a_credential(admin, bootstrap, base_url, mint_token):
    creds, client = admin
    member = bootstrap(role="org_member", label=creds["organization_label"])
    member_token = mint_token(base_url, member["client_id"], member["client_secret"])
    where = {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }

    with sdk_client(base_url, member_token) as theirs:
        with pytest.raises(PermissionDeniedError) as error:
            theirs.organizations.service_accounts.credentials.delete(
                creds["credential_id"], **where
            )

    assert error.value.status_code == 403
    assert client.organizations.service_accounts.credentials.retrieve(
        creds["credential_id"], **where
    ).id == creds["credential_id"]


def test_an_org_member_can_update_a_credential_but_not_create_one(
    admin, bootstrap, base_url, mint_token
):
    creds, _ = admin
    member = bootstrap(role="org_member", label=creds["organization_label"])
    member_token = mint_token(base_url, member["client_id"], member["client_secret"])
    where = {
        "organization_id": creds["organization_id"],
        "service_account_id": creds["service_account_id"],
    }

    with sdk_client(base_url, member_token) as theirs:
        credentials = theirs.organizations.service_accounts.credentials
        updated = credentials.update(creds["credential_id"], **where, name="member renamed it")
        assert updated.name == "member renamed it"
        with pytest.raises(PermissionDeniedError):
            credentials.create(
                creds["service_account_id"],
                organization_id=creds["organization_id"],
                name="member made this",
            )


# --- Bad requests and bad tokens -----------------------------------------------


def test_a_description_of_501_characters_is_rejected_on_create(admin, service_account):
    creds, client = admin
    org = creds["organization_id"]
    too_long = "x" * 501
    accounts_before = len(client.organizations.service_accounts.list(org).items)

    with pytest.raises(BadRequestError) as error:
        client.organizations.service_accounts.create(org, name="wordy", description=too_long)
    with pytest.raises(BadRequestError):
        client.organizations.service_accounts.credentials.create(
            service_account.id, organization_id=org, name="wordy", description=too_long
        )

    assert error.value.status_code == 400
    assert "description" in error.value.body["message"]
    assert len(client.organizations.service_accounts.list(org).items) == accounts_before
    assert (
        client.organizations.service_accounts.credentials.list(
            service_account.id, organization_id=org
        ).items
        == []
    )


def test_a_description_of_500_characters_is_accepted_on_create(admin, service_account):
    creds, client = admin
    org = creds["organization_id"]
    longest = "é" * 500

    made_account = client.organizations.service_accounts.create(
        org, name="wordy", description=longest
    )
    made_credential = client.organizations.service_accounts.credentials.create(
        service_account.id, organization_id=org, name="wordy", description=longest
    )

    assert made_account.description == longest
    assert made_credential.description == longest


def test_a_description_of_501_characters_is_rejected_on_service_account_update(
    admin, service_account
):
    creds, client = admin
    where = {"organization_id": creds["organization_id"]}

    with pytest.raises(BadRequestError):
        client.organizations.service_accounts.update(
            service_account.id, **where, description="x" * 501
        )

    fetched = client.organizations.service_accounts.retrieve(service_account.id, **where)
    assert fetched.description == service_account.description


@pytest.mark.parametrize("limit", [0, 101])
def test_a_list_limit_outside_1_to_100_is_rejected(admin, limit):
    creds, client = admin
    org = creds["organization_id"]

    with pytest.raises(BadRequestError):
        client.organizations.list(limit=limit)
    with pytest.raises(BadRequestError):
        client.organizations.service_accounts.list(org, limit=limit)
    with pytest.raises(BadRequestError) as error:
        client.organizations.service_accounts.credentials.list(
            creds["service_account_id"], organization_id=org, limit=limit
        )

    assert error.value.status_code == 400
    assert "limit" in error.value.body["message"]


def test_a_list_limit_of_100_is_accepted(admin):
    creds, client = admin

    page = client.organizations.service_accounts.list(creds["organization_id"], limit=100)

    assert [sa.id for sa in page.items] == [creds["service_account_id"]]


def test_a_bad_token_raises_authentication_error_for_every_operation(base_url, admin):
    creds, admin_client = admin
    org = {"organization_id": creds["organization_id"]}
    where = {**org, "service_account_id": creds["service_account_id"]}

    with sdk_client(base_url, "not-a-real-token") as client:
        service_accounts = client.organizations.service_accounts
        credentials = service_accounts.credentials
        calls = [
            lambda: client.organizations.list(),
            lambda: client.organizations.retrieve(creds["organization_id"]),
            lambda: service_accounts.create(creds["organization_id"], name="intruder"),
            lambda: service_accounts.retrieve(creds["service_account_id"], **org),
            lambda: service_accounts.update(creds["service_account_id"], **org, name="intruder"),
            lambda: service_accounts.list(creds["organization_id"]),
            lambda: service_accounts.delete(creds["service_account_id"], **org),
            lambda: credentials.create(creds["service_account_id"], **org, name="intruder"),
            lambda: credentials.retrieve(creds["credential_id"], **where),
            lambda: credentials.update(creds["credential_id"], **where, name="intruder"),
            lambda: credentials.list(creds["service_account_id"], **org),
            lambda: credentials.delete(creds["credential_id"], **where),
        ]
        for call in calls:
            with pytest.raises(AuthenticationError) as error:
                call()
            assert error.value.status_code == 401
            assert error.value.response.headers.get("www-authenticate", "").startswith("Bearer")

    untouched = admin_client.organizations.service_accounts.retrieve(
        creds["service_account_id"], **org
    )
    assert untouched.name != "intruder"


# --- Connections ---------------------------------------------------------------


def read_one_response(sock: socket.socket) -> tuple:
    """Read one HTTP/1.1 response (with a Content-Length) from a socket.

    Returns (status, headers with lower-case names, body). Raises
    ConnectionError if the server closes the connection first.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection inside a response body")
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_a_call_rejected_for_its_token_does_not_break_the_next_call_on_the_connection(
    base_url, admin
):
    """A 401 to a request with a body must leave the kept-alive connection usable.

    The SDK reuses one connection for many calls. If the server answers
    before reading the body and then drops the connection without saying
    `Connection: close`, the next call fails with a connection error
    instead of its own answer. The race is narrow, so it is run many times.
    """
    creds, _ = admin
    org = creds["organization_id"]

    with sdk_client(base_url, "not-a-real-token") as client:
        for attempt in range(REPEATS_FOR_A_RACE):
            with pytest.raises(AuthenticationError):
                client.organizations.service_accounts.create(org, name="intruder")
            try:
                client.organizations.service_accounts.list(org)
            except AuthenticationError:
                pass
            except APIConnectionError as error:
                pytest.fail(f"attempt {attempt}: the call after a 401 got {error!r}")


def test_a_request_rejected_for_its_token_leaves_the_connection_usable(base_url, admin):
    """The deterministic form of the race above, on a plain socket.

    The SDK writes a request's head and body separately. The server reads the
    (bounded) body before it answers, even when the token is bad, so the
    connection stays clean and the next request on it is answered normally.
    """
    creds, _ = admin
    url = httpx.URL(base_url)
    path = f"/organizations/{creds['organization_id']}/service-accounts"
    body = b'{"name": "intruder"}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\n"
        "Authorization: Bearer not-a-real-token\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    next_request = (
        f"GET {path} HTTP/1.1\r\nHost: {url.host}\r\n"
        "Authorization: Bearer not-a-real-token\r\n\r\n"
    ).encode()

    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head)
        time.sleep(0.2)
        sock.sendall(body)
        status, headers, _ = read_one_response(sock)
        assert status == 401
        assert "close" not in headers.get("connection", "").lower()
        sock.sendall(next_request)
        next_status, _, _ = read_one_response(sock)
    assert next_status == 401
