"""Staff and API-key changes write an audit row with their actor (partial walk)."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from api.models import ApiKey
from api.services import revoke_api_keys
from consent.models import ConsentNotice
from consent.rules import Action
from consent.services import merge_contacts
from staff.models import AuditEntry
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_publishing_a_notice_in_the_admin_is_audited(admin_client, admin_user):
    notice = ConsentNotice.objects.create(purpose="marketing", language="en", version=9, text="x")
    url = reverse("admin:consent_consentnotice_changelist")

    admin_client.post(url, {"action": "publish_notices", "_selected_action": [notice.pk]})

    entry = AuditEntry.objects.get(action="publish_notice")
    assert (entry.actor_user, entry.object_id) == (admin_user, str(notice.pk))
    assert entry.after["ref"] == "marketing/en/9"


def test_creating_and_revoking_a_key_in_the_admin_are_audited(admin_client, admin_user):
    admin_client.post(reverse("admin:api_apikey_add"), {"name": "shop", "scopes": ["consent:read"]})
    key = ApiKey.objects.get(name="shop")
    admin_client.post(
        reverse("admin:api_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )

    actions = list(
        AuditEntry.objects.filter(object_id=str(key.pk))
        .order_by("at")
        .values_list("action", flat=True)
    )
    assert actions == ["create_api_key", "revoke_api_key"]
    assert set(AuditEntry.objects.values_list("actor_user", flat=True)) == {admin_user.pk}


def test_a_key_revoked_twice_is_revoked_and_audited_once(admin_user):
    key, _ = ApiKey.objects.create_key(name="shop", scopes=["consent:read"])
    keys = ApiKey.objects.filter(pk=key.pk)

    assert revoke_api_keys(keys=keys, actor=admin_user) == 1
    assert revoke_api_keys(keys=keys, actor=admin_user) == 0

    assert ApiKey.objects.get(pk=key.pk).revoked
    entry = AuditEntry.objects.get(object_id=str(key.pk))
    assert (entry.action, entry.actor_user_id) == ("revoke_api_key", admin_user.pk)


def test_erasure_through_the_api_is_audited_with_the_key():
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)
    client = client_with_key("contacts:erase")

    assert client.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204

    entry = AuditEntry.objects.get(action="erase_contact")
    assert (entry.actor_key, entry.object_id) == (client.api_key.prefix, str(contact.pk))


def test_the_audit_is_read_only_in_the_admin_and_filterable(admin_client):
    model_admin = site._registry[AuditEntry]
    assert {"action", "actor_user", "actor_key"} <= set(model_admin.list_filter)
    assert admin_client.get(reverse("admin:staff_auditentry_add")).status_code == 403
    response = admin_client.get(reverse("admin:staff_auditentry_changelist"), {"action": "x"})
    assert response.status_code == 200


def test_an_opt_out_recorded_in_the_admin_is_audited(admin_client, admin_user):
    contact = ContactFactory()

    admin_client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "record_marketing_opt_out", "_selected_action": [str(contact.pk)]},
    )

    entry = AuditEntry.objects.get(action="record_opt_out")
    event = contact.consent_events.get()
    assert (entry.actor_user, entry.object_id) == (admin_user, str(event.pk))


def test_a_merge_is_audited(admin_user):
    duplicate, survivor = ContactFactory(), ContactFactory()

    merge_contacts(duplicate=duplicate, survivor=survivor, actor=admin_user)

    entry = AuditEntry.objects.get(action="merge_contacts")
    assert (entry.object_id, entry.after) == (str(duplicate.pk), {"merged_into": str(survivor.pk)})
