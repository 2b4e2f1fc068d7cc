"""Every staff or API-key action that changes something writes an audit row with its actor.

In the spirit of Zulip's test_audit_log.py: the admin's actions and the API's
write endpoints are discovered, not listed by hand, and each must have a case
here; a new action or endpoint without one fails `test_every_…_has_a_case`.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from api.models import ApiKey
from api.scopes import SCOPES
from campaigns.models import Campaign, CampaignKind
from consent.models import ConsentNotice, OutrankedOptOut
from consent.rules import Action, Purpose
from contacts.models import Contact, LikelyDuplicate, Tag
from conversation.models import ConsentKeyword, OptOutReview
from groups.models import Group, GroupMembership
from groups.services import invite_contact, respond_to_invitation
from integrations.models import Delivery
from integrations.services import register_endpoint
from staff.models import AuditEntry
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory, TopicFactory
from whatsapp import outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.client import JoinRequest
from whatsapp.models import InboundEvent, OutboundMessage, SendingNumber, ServiceWindow

pytestmark = pytest.mark.django_db

# Actions that change nothing: they are exempt, and say why.
READ_ONLY_ACTIONS = {
    ("campaigns.Campaign", "preview_selected"): "redirects to the preview page",
}
READ_ONLY_ENDPOINTS = {
    ("POST", "/api/v1/eligibility/bulk/"): "asks about many phones at once",
}


def webhook_endpoint():
    return register_endpoint(url="https://hooks.example.com/in", events=["consent.changed"])


def webhook_delivery():
    webhook_endpoint()
    record(ContactFactory(), Action.WITHDRAW)
    return Delivery.objects.get()


def opted_in():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    return contact


def outranked_opt_out():
    contact = opted_in()
    record(contact, Action.WITHDRAW, at=timezone.now() - timedelta(hours=1))
    return OutrankedOptOut.objects.get(event__contact=contact)


def likely_duplicate():
    first, second = sorted([ContactFactory(), ContactFactory()], key=lambda c: str(c.pk))
    return LikelyDuplicate.objects.create(first=first, second=second)


def review():
    return OptOutReview.objects.create(
        contact=ContactFactory(), wamid="wamid.R1", text="stop it", received_at=timezone.now()
    )


def failed_inbound():
    return InboundEvent.objects.create(
        kind=InboundEvent.Kind.OTHER, dedupe_key="other:1", payload={}, state="failed"
    )


def unreadable_inbound():
    """A body that could not be read, naming a known contact: it holds their messages."""
    contact = ContactFactory(wa_id="447911000222")
    return InboundEvent.objects.create(
        kind=InboundEvent.Kind.MALFORMED,
        dedupe_key="malformed:1",
        sender=contact.wa_id,
        state="failed",
        carries_opt_out=True,
    )


def unknown_outbound():
    contact = ContactFactory()
    row = outbox.enqueue_template(
        address=whatsapp_address(wa_id=contact.wa_id), name="hello", language="en"
    )
    OutboundMessage.objects.filter(pk=row.pk).update(status=OutboundMessage.Status.UNKNOWN)
    return row


def campaign():
    return Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose=Purpose.MARKETING,
        template_name="winter_sale",
        template_language="en",
    )


def group():
    return Group.objects.create(name="VIP", purpose="marketing")


def whatsapp_group(monkeypatch):
    found = Group.objects.create(name="VIP on WhatsApp", purpose="marketing")
    Group.objects.filter(pk=found.pk).update(whatsapp_group_id="wa-group-1")

    class Platform:
        def list_join_requests(self, group_id):
            return [JoinRequest(id="jr-1", wa_id="447911000999")]

    monkeypatch.setattr("groups.whatsapp_groups.graph_client", Platform)
    return found


def pending_invitation():
    return invite_contact(group=group(), contact=opted_in())


def membership():
    invitation = pending_invitation()
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    return GroupMembership.objects.get(invitation=invitation)


def periodic_task():
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(
        name="stale requests",
        task="consent.tasks.expire_stale_opt_in_requests",
        interval=every,
    )


DELETE = {"post": "yes"}

# (model, action) -> what to select (given monkeypatch), and the rest of the POST.
ACTION_CASES = {
    ("auth.Group", "delete_selected"): (lambda mp: AuthGroup.objects.create(name="temp"), DELETE),
    ("auth.User", "delete_selected"): (
        lambda mp: get_user_model().objects.create_user("leaver"),
        DELETE,
    ),
    # The library's own APIKey admin is not registered: keys are ApiKey rows (api.admin).
    ("django_celery_beat.PeriodicTask", "delete_selected"): (lambda mp: periodic_task(), DELETE),
    ("django_celery_beat.PeriodicTask", "enable_tasks"): (lambda mp: periodic_task(), {}),
    ("django_celery_beat.PeriodicTask", "disable_tasks"): (lambda mp: periodic_task(), {}),
    ("django_celery_beat.PeriodicTask", "toggle_tasks"): (lambda mp: periodic_task(), {}),
    ("django_celery_beat.PeriodicTask", "run_tasks"): (lambda mp: periodic_task(), {}),
    ("django_celery_beat.ClockedSchedule", "delete_selected"): (
        lambda mp: ClockedSchedule.objects.create(clocked_time=timezone.now()),
        DELETE,
    ),
    ("django_celery_beat.CrontabSchedule", "delete_selected"): (
        lambda mp: CrontabSchedule.objects.create(minute="5"),
        DELETE,
    ),
    ("django_celery_beat.SolarSchedule", "delete_selected"): (
        lambda mp: SolarSchedule.objects.create(event="sunrise", latitude=51, longitude=0),
        DELETE,
    ),
    ("django_celery_beat.IntervalSchedule", "delete_selected"): (
        lambda mp: IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES),
        DELETE,
    ),
    ("contacts.Tag", "delete_selected"): (lambda mp: Tag.objects.create(name="old"), DELETE),
    ("consent.OutrankedOptOut", "withdraw_now"): (lambda mp: outranked_opt_out(), {}),
    ("consent.OutrankedOptOut", "keep_later_answer"): (lambda mp: outranked_opt_out(), {}),
    ("contacts.LikelyDuplicate", "merge_pairs"): (
        lambda mp: likely_duplicate(),
        lambda pair: {"survivor": str(pair.first_id), "confirm": "yes"},
    ),
    ("contacts.LikelyDuplicate", "mark_distinct"): (lambda mp: likely_duplicate(), {}),
    ("consent.ConsentNotice", "publish_notices"): (
        lambda mp: NoticeFactory(version=7, published_at=None),
        {},
    ),
    ("consent.Topic", "retire_topics"): (lambda mp: TopicFactory(key="retired"), {}),
    ("consent.ReconsentPolicy", "delete_selected"): (lambda mp: PolicyFactory(), DELETE),
    ("consent.ReconsentPolicy", "extend_deadline"): (
        lambda mp: PolicyFactory(),
        lambda policy: {
            "new_deadline_0": (policy.deadline + timedelta(days=30)).date().isoformat(),
            "new_deadline_1": "12:00:00",
            "reason": "the launch moved",
        },
    ),
    ("conversation.ConsentKeyword", "delete_selected"): (
        lambda mp: ConsentKeyword.objects.create(phrase="HALT", language="en", meaning="stop"),
        DELETE,
    ),
    ("conversation.OptOutReview", "confirm_opt_out"): (lambda mp: review(), {}),
    ("conversation.OptOutReview", "dismiss_opt_out"): (lambda mp: review(), {}),
    ("whatsapp.InboundEvent", "reprocess"): (lambda mp: failed_inbound(), {}),
    ("whatsapp.InboundEvent", "record_opt_out_for_named"): (
        lambda mp: unreadable_inbound(),
        lambda item: {
            "confirm": "yes",
            "people": [str(c.pk) for c in Contact.objects.filter(wa_id=item.sender)],
            "scope": "marketing",
        },
    ),
    ("whatsapp.InboundEvent", "settle_no_opt_out"): (
        lambda mp: unreadable_inbound(),
        {"confirm": "yes", "reason": "a test ping, no text"},
    ),
    ("whatsapp.OutboundMessage", "mark_sent"): (lambda mp: unknown_outbound(), {}),
    ("whatsapp.OutboundMessage", "send_again"): (lambda mp: unknown_outbound(), {}),
    ("whatsapp.SendingNumber", "delete_selected"): (
        lambda mp: SendingNumber.objects.create(phone_number_id="1000009"),
        DELETE,
    ),
    ("whatsapp.ServiceWindow", "delete_selected"): (
        lambda mp: ServiceWindow.objects.create(
            recipient="447911000111", last_inbound_at=timezone.now()
        ),
        DELETE,
    ),
    ("campaigns.Campaign", "delete_selected"): (lambda mp: campaign(), DELETE),
    ("campaigns.Campaign", "launch_selected"): (lambda mp: campaign(), {}),
    ("campaigns.Campaign", "cancel_selected"): (lambda mp: campaign(), {}),
    ("groups.Group", "delete_selected"): (lambda mp: group(), DELETE),
    ("groups.Group", "create_on_whatsapp"): (lambda mp: group(), {}),
    ("groups.Group", "review_join_requests"): (whatsapp_group, {}),
    ("groups.GroupInvitation", "revoke_invitations"): (lambda mp: pending_invitation(), {}),
    ("groups.GroupInvitation", "resend_invitations"): (lambda mp: pending_invitation(), {}),
    ("groups.GroupMembership", "end_memberships"): (lambda mp: membership(), {}),
    ("contacts.Contact", "record_marketing_opt_out"): (lambda mp: ContactFactory(), {}),
    ("contacts.Contact", "record_full_opt_out"): (lambda mp: ContactFactory(), {}),
    ("contacts.Contact", "erase_selected"): (lambda mp: ContactFactory(), {}),
    # Who asked for which people's data.
    ("contacts.Contact", "export_selected"): (
        lambda mp: ContactFactory(),
        {"file_format": "csv", "style": "words"},
    ),
    ("contacts.Contact", "invite_to_group"): (
        lambda mp: opted_in(),
        lambda contact: {"group": str(group().pk), "confirm": "yes"},
    ),
    ("api.ApiKey", "delete_selected"): (
        lambda mp: ApiKey.objects.create_key(name="old", scopes=[])[0],
        DELETE,
    ),
    ("api.ApiKey", "revoke"): (lambda mp: ApiKey.objects.create_key(name="x", scopes=[])[0], {}),
    ("integrations.WebhookEndpoint", "rotate_secret"): (lambda mp: webhook_endpoint(), {}),
    ("integrations.WebhookEndpoint", "enable"): (lambda mp: webhook_endpoint(), {}),
    ("integrations.WebhookEndpoint", "disable"): (lambda mp: webhook_endpoint(), {}),
    ("integrations.WebhookEndpoint", "replay_from"): (
        lambda mp: webhook_endpoint(),
        {"since": "2020-01-01 00:00", "confirm": "Replay"},
    ),
    ("integrations.Delivery", "resend"): (lambda mp: webhook_delivery(), {}),
}


def available_actions(user) -> set[tuple[str, str]]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return {
        (model._meta.label, name)
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_actions(request)
    }


def test_every_admin_action_has_a_case(admin_user):
    assert available_actions(admin_user) == set(ACTION_CASES) | set(READ_ONLY_ACTIONS)


@pytest.mark.parametrize(("model", "action"), sorted(ACTION_CASES))
def test_the_admin_action_writes_an_audit_row_with_the_staff_user(
    admin_client, admin_user, monkeypatch, model, action
):
    make, extra = ACTION_CASES[(model, action)]
    selected = make(monkeypatch)
    data = extra(selected) if callable(extra) else extra
    app_label, model_name = model.lower().split(".")
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    response = admin_client.post(
        reverse(f"admin:{app_label}_{model_name}_changelist"),
        {"action": action, "_selected_action": [str(selected.pk)], **data},
    )

    assert response.status_code in (200, 302)
    written = AuditEntry.objects.exclude(pk__in=before)
    assert written.exists(), f"{model} › {action} changed something without an audit row"
    assert {entry.actor_user_id for entry in written} == {admin_user.pk}


# --- The API ------------------------------------------------------------------------


def write_endpoints(client) -> set[tuple[str, str]]:
    schema = client.get("/api/schema/?format=json").json()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }


def _contact_path(path):
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)
    return path.format(id=contact.pk), {}


def _grant(path):
    notice = NoticeFactory()
    body = {
        "phone": "+447911123456",
        "purpose": "marketing",
        "action": "grant",
        "source": "web_form",
        "notice": notice.ref,
    }
    return path, body


def _campaign(path):
    return path.format(id=campaign().pk), None


def _invitation(path):
    return path.format(id=pending_invitation().pk), {"answer": "accept"}


def _member(path):
    return path.format(id=membership().invitation_id), None


def _invite(path):
    contact = opted_in()
    return path.format(id=group().pk), {"phone": str(contact.phone)}


ENDPOINT_CASES = {
    ("POST", "/api/v1/contacts/"): lambda path: (path, {"phone": "+447911123456", "name": "Ada"}),
    ("PATCH", "/api/v1/contacts/{id}/"): lambda path: (_contact_path(path)[0], {"name": "Ada"}),
    ("DELETE", "/api/v1/contacts/{id}/"): _contact_path,
    ("POST", "/api/v1/consent-events/"): _grant,
    ("POST", "/api/v1/campaigns/{id}/launch/"): _campaign,
    ("POST", "/api/v1/groups/"): lambda path: (path, {"name": "VIP", "purpose": "marketing"}),
    ("POST", "/api/v1/groups/{id}/invitations/"): _invite,
    ("POST", "/api/v1/invitations/{id}/respond/"): _invitation,
    ("POST", "/api/v1/invitations/{id}/revoke/"): lambda path: (_invitation(path)[0], None),
    ("POST", "/api/v1/invitations/{id}/leave/"): _member,
    ("POST", "/api/v1/webhook-endpoints/"): lambda path: (
        path,
        {"url": "https://hooks.example.com/in", "events": ["consent.changed"]},
    ),
    ("PATCH", "/api/v1/webhook-endpoints/{id}/"): lambda path: (
        path.format(id=webhook_endpoint().pk),
        {"enabled": False},
    ),
    ("DELETE", "/api/v1/webhook-endpoints/{id}/"): lambda path: (
        path.format(id=webhook_endpoint().pk),
        None,
    ),
    ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret/"): lambda path: (
        path.format(id=webhook_endpoint().pk),
        None,
    ),
}


def test_every_write_endpoint_has_a_case():
    client = client_with_key(*SCOPES)

    assert write_endpoints(client) == set(ENDPOINT_CASES) | set(READ_ONLY_ENDPOINTS)


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINT_CASES))
def test_the_write_endpoint_writes_an_audit_row_with_the_key(method, path):
    client = client_with_key(*SCOPES)
    url, body = ENDPOINT_CASES[(method, path)](path)
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    response = getattr(client, method.lower())(url, body, format="json")

    assert response.status_code < 300, response.content
    written = AuditEntry.objects.exclude(pk__in=before)
    assert written.exists(), f"{method} {path} changed something without an audit row"
    assert {entry.actor_key for entry in written} == {client.api_key.prefix}
    assert {entry.actor_user_id for entry in written} == {None}


def test_a_refused_change_leaves_no_audit_row():
    client = client_with_key(*SCOPES)
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)

    response = client.post(
        "/api/v1/consent-events/",
        {"phone": str(contact.phone), "purpose": "marketing", "action": "expire",
         "source": "api"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 409
    assert not AuditEntry.objects.exists()


def test_an_admin_form_change_is_audited(admin_client, admin_user):
    keyword = ConsentKeyword.objects.create(phrase="HALT", language="en", meaning="stop")
    url = reverse("admin:conversation_consentkeyword_change", args=[keyword.pk])

    admin_client.post(
        url, {"phrase": "HALT NOW", "language": "en", "meaning": "stop", "active": "on"}
    )

    entry = AuditEntry.objects.get(action="admin_change")
    assert (entry.actor_user, entry.object_id) == (admin_user, str(keyword.pk))
    assert entry.after == [{"changed": {"fields": ["Phrase"]}}]


def test_a_published_notice_is_audited_once(admin_client):
    notice = NoticeFactory(version=3, published_at=None)

    admin_client.post(
        reverse("admin:consent_consentnotice_changelist"),
        {"action": "publish_notices", "_selected_action": [notice.pk]},
    )

    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["publish_notice"]
    assert ConsentNotice.objects.get(pk=notice.pk).is_published


def test_confirming_a_contact_import_is_audited_once(admin_user):
    from imports.jobs import confirm_import
    from imports.models import ContactImport

    job = ContactImport.objects.create(
        file_name="people.csv", uploaded_by=admin_user, stage=ContactImport.Stage.CHECKED
    )

    assert confirm_import(job=job, confirmed_by=admin_user)
    assert not confirm_import(job=job, confirmed_by=admin_user)

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_user, entry.object_id) == (
        "confirm_contact_import",
        admin_user,
        str(job.pk),
    )


def test_compliance_staff_read_the_audit_and_nobody_edits_it(admin_user):
    from tests.test_staff_roles import staff

    compliance, marketing = staff("Compliance"), staff("Marketing")
    entry = AuditEntry.objects.create(actor_user=admin_user, action="x", object_type="y")
    listing = reverse("admin:staff_auditentry_changelist")
    change = reverse("admin:staff_auditentry_change", args=[entry.pk])

    assert (
        compliance.get(listing, {"action": "x", "actor_user__id__exact": admin_user.pk}).status_code
        == 200
    )
    assert b'name="_save"' not in compliance.get(change).content
    assert compliance.post(change, {"action": "edited"}).status_code == 403
    assert marketing.get(listing).status_code == 403
