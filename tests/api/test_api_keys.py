"""Keys: created once-visible by command or admin, hashed at rest, scoped, revocable."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiKey
from api.scopes import SCOPES
from tests.api.conftest import assert_error, client_with_key

ELIGIBILITY = "/api/v1/eligibility/?phone=%2B447911123456&purpose=marketing"


def test_create_api_key_prints_the_key_once_and_stores_only_its_hash(db):
    # when
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key", "shop", "--scopes", "consent:read,contacts:write", stdout=out, stderr=err
    )
    # then
    key = out.getvalue().strip()
    stored = ApiKey.objects.get()
    assert stored.name == "shop"
    assert stored.scopes == ["contacts:write", "consent:read"]
    assert key.startswith(stored.prefix + ".")
    assert key not in stored.hashed_key and key not in stored.id
    assert "cannot be shown again" in err.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(ELIGIBILITY).status_code == 200


def test_create_api_key_accepts_all_scopes(db):
    call_command("create_api_key", "ops", "--scopes", "all", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.get().scopes == list(SCOPES)


def test_create_api_key_grants_the_new_scopes_by_name(db):
    call_command(
        "create_api_key",
        "compliance tool",
        "--scopes",
        "contacts:erase,consent:evidence,contacts:links",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert ApiKey.objects.get().scopes == ["contacts:erase", "contacts:links", "consent:evidence"]


@pytest.mark.parametrize("scopes", ["", "consent:delete", "consent:read,everything"])
def test_create_api_key_refuses_unknown_or_missing_scopes(db, scopes):
    with pytest.raises(CommandError):
        call_command("create_api_key", "x", "--scopes", scopes, stdout=StringIO())
    assert not ApiKey.objects.exists()


def test_no_key_is_401(anonymous_client, db):
    response = anonymous_client.get(ELIGIBILITY)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "header",
    ["Api-Key nope.nope", "Api-Key ", "Api-Key abc", "Api-Key a\x00b", "Api-Key " + "k" * 500],
)
def test_a_wrong_key_is_401(anonymous_client, db, header):
    anonymous_client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(anonymous_client.get(ELIGIBILITY), 401, "authentication_failed")


def test_a_revoked_key_is_401(make_client):
    client = make_client("consent:read")
    ApiKey.objects.filter(pk=client.api_key.pk).update(revoked=True)
    assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")


class TestAKeyInUse:
    """A key is checked against its hash once per process; what can change is read each time."""

    def test_revoked_after_use_it_is_refused_at_its_next_request(self, make_client):
        client = make_client("consent:read")
        assert client.get(ELIGIBILITY).status_code == 200

        ApiKey.objects.filter(pk=client.api_key.pk).update(revoked=True)

        assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")
        assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")

    def test_revoked_in_the_admin_after_use_it_is_refused(self, admin_client, make_client):
        client = make_client("consent:read")
        assert client.get(ELIGIBILITY).status_code == 200

        admin_client.post(
            "/admin/api/apikey/",
            {"action": "revoke", "_selected_action": [client.api_key.pk]},
        )

        assert ApiKey.objects.get(pk=client.api_key.pk).revoked
        assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")

    def test_expired_after_use_it_is_refused(self, make_client):
        client = make_client("consent:read")
        assert client.get(ELIGIBILITY).status_code == 200

        ApiKey.objects.filter(pk=client.api_key.pk).update(
            expiry_date=timezone.now() - timedelta(minutes=1)
        )

        assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")

    def test_a_scope_taken_away_after_use_is_refused(self, make_client):
        client = make_client("consent:read", "contacts:read")
        assert client.get(ELIGIBILITY).status_code == 200

        ApiKey.objects.filter(pk=client.api_key.pk).update(scopes=["contacts:read"])

        assert_error(client.get(ELIGIBILITY), 403, "permission_denied")

    def test_a_wrong_secret_with_a_known_prefix_is_refused(self, make_client, anonymous_client):
        client = make_client("consent:read")
        assert client.get(ELIGIBILITY).status_code == 200
        prefix = client.api_key.prefix

        anonymous_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'x' * 32}")

        assert_error(anonymous_client.get(ELIGIBILITY), 401, "authentication_failed")

    def test_its_use_is_written_once_a_minute_not_per_request(
        self, make_client, django_assert_num_queries
    ):
        client = make_client("consent:read")
        client.get(ELIGIBILITY)
        assert ApiKey.objects.get(pk=client.api_key.pk).last_used_at is not None

        # the key's standing and the eligibility lookup; no write
        with django_assert_num_queries(2):
            client.get(ELIGIBILITY)


def test_an_expired_key_is_401(make_client):
    client = make_client("consent:read")
    ApiKey.objects.filter(pk=client.api_key.pk).update(
        expiry_date=timezone.now() - timedelta(minutes=1)
    )
    assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")


def test_a_key_without_the_scope_is_403(make_client):
    client = make_client("contacts:read")
    body = assert_error(client.get(ELIGIBILITY), 403, "permission_denied")
    assert "consent:read" in body["errors"][0]["detail"]


def test_reading_needs_read_and_writing_needs_write(make_client):
    reader = make_client("contacts:read")
    assert reader.get("/api/v1/contacts/").status_code == 200
    assert_error(
        reader.post("/api/v1/contacts/", {"phone": "+447911123456"}), 403, "permission_denied"
    )
    writer = make_client("contacts:write")
    assert writer.post("/api/v1/contacts/", {"phone": "+447911123456"}).status_code == 201
    assert_error(writer.get("/api/v1/contacts/"), 403, "permission_denied")


def test_bulk_eligibility_is_a_read(make_client):
    client = make_client("consent:read")
    response = client.post(
        "/api/v1/eligibility/bulk/", {"purpose": "marketing", "phones": []}, format="json"
    )
    assert response.status_code == 200


def test_use_is_recorded_on_the_key(make_client):
    client = make_client("consent:read")
    assert client.api_key.last_used_at is None
    client.get(ELIGIBILITY)
    client.api_key.refresh_from_db()
    assert client.api_key.last_used_at is not None


def test_staff_session_may_use_the_api(staff_client):
    assert staff_client.get(ELIGIBILITY).status_code == 200


def test_staff_sessions_read_and_write_where_the_admin_lets_them(db, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    client = APIClient()
    client.force_login(clerk)
    assert client.get("/api/v1/contacts/").status_code == 200
    # consent states are not this clerk's to read in the admin
    assert_error(client.get(ELIGIBILITY), 403, "permission_denied")
    response = client.post("/api/v1/contacts/", {"phone": "+447911123456"}, format="json")
    assert_error(response, 403, "permission_denied")
    # when the admin lets them add and change contacts, and read consent
    clerk.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_contact", "change_contact", "view_consentstate"]
        )
    )
    client.force_login(django_user_model.objects.get(pk=clerk.pk))
    assert client.get(ELIGIBILITY).status_code == 200
    bulk = {"purpose": "marketing", "phones": ["+447911123456"]}
    assert client.post("/api/v1/eligibility/bulk/", bulk, format="json").status_code == 200
    response = client.post("/api/v1/contacts/", {"phone": "+447911123456"}, format="json")
    assert response.status_code == 201


def test_a_signed_in_non_staff_user_is_403(db, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw")
    client = APIClient()
    client.force_login(user)
    assert_error(client.get(ELIGIBILITY), 403, "permission_denied")


def test_admin_shows_the_new_key_once(admin_client):
    # when
    response = admin_client.post(
        "/admin/api/apikey/add/",
        {"name": "crm", "scopes": ["consent:read", "consent:write"]},
        follow=True,
    )
    # then
    assert response.status_code == 200
    stored = ApiKey.objects.get()
    assert stored.scopes == ["consent:read", "consent:write"]
    shown = " ".join(str(m) for m in response.context["messages"])
    key = re.search(r"is: (\S+)\. ", shown).group(1)
    assert key.startswith(stored.prefix + ".")
    assert key not in admin_client.get(f"/admin/api/apikey/{stored.pk}/change/").content.decode()
    assert key not in admin_client.get("/admin/api/apikey/").content.decode()


def test_admin_revokes_keys(admin_client, make_client):
    client = make_client("consent:read")
    admin_client.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [client.api_key.pk]},
    )
    assert_error(client.get(ELIGIBILITY), 401, "authentication_failed")


def test_admin_key_list_shows_scopes_and_last_use(admin_client, db):
    client_with_key("consent:read", name="warehouse")
    page = admin_client.get("/admin/api/apikey/")
    assert page.status_code == 200
    assert "warehouse" in page.content.decode()
    assert "consent:read" in page.content.decode()
