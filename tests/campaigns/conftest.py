from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, Message
from consent.rules import Purpose
from contacts.models import Contact
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory
from whatsapp.client import ConsoleGraph
from whatsapp.models import OutboundMessage


class ScriptedClient(ConsoleGraph):
    """The console backend, with errors to raise per recipient and a hook before each send."""

    def __init__(self) -> None:
        self.errors: dict[str, list[Exception]] = {}
        self.before_send: Callable[[OutboundMessage], None] | None = None

    def fail_next(self, contact: Contact, *errors: Exception) -> None:
        self.errors.setdefault(contact.wa_id, []).extend(errors)

    def send_message(self, payload: dict, *, phone_number_id: str = "") -> str:
        if self.before_send:
            self.before_send(OutboundMessage.objects.get(pk=payload["biz_opaque_callback_data"]))
        pending = self.errors.get(payload.get("to"))
        if pending:
            raise pending.pop(0)
        return super().send_message(payload, phone_number_id=phone_number_id)


@pytest.fixture
def whatsapp(monkeypatch) -> ScriptedClient:
    """Every outbox delivery goes through this scripted console client."""
    client = ScriptedClient()
    monkeypatch.setattr("whatsapp.delivery.client_for", lambda backend: client)
    return client


def make_contact(marketing: str | None = None, **kwargs) -> Contact:
    """A contact whose marketing consent tells the given story."""
    contact = ContactFactory(**kwargs)
    if marketing == "opted_in":
        record(contact, "grant")
    elif marketing == "opted_out":
        record(contact, "withdraw")
    elif marketing == "legacy":
        record(contact, "legacy", expires_at=timezone.now() + timedelta(days=30))
    elif marketing == "expired":
        record(contact, "legacy", expires_at=timezone.now() + timedelta(days=30))
        record(contact, "expire", source="system")
    elif marketing == "pending":
        record(contact, "request")
    elif marketing == "paused":
        record(contact, "grant")
        record(contact, "pause", paused_until=timezone.now() + timedelta(weeks=4))
    return contact


@pytest.fixture
def contact_with():
    return make_contact


@pytest.fixture
def campaign(db) -> Campaign:
    return Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose=Purpose.MARKETING,
        template_name="winter_sale",
        template_language="en",
        body_params=["{name}", "20%"],
    )


@pytest.fixture
def policy(db):
    return PolicyFactory(
        deadline=timezone.now() + timedelta(days=45),
        reminder_offsets=[30, 7, 1],
        template_name="reconsent_reminder",
    )


def sent_to(contact: Contact) -> int:
    """Messages the WhatsApp client accepted for this contact."""
    return OutboundMessage.objects.filter(
        contact_id=contact.pk, status=OutboundMessage.Status.ACCEPTED
    ).count()


def message_for(campaign: Campaign, contact: Contact) -> Message:
    return Message.objects.get(campaign=campaign, contact=contact)


@pytest.fixture
def marketing_user(db):
    user = get_user_model().objects.create_user("mia", "mia@example.com", "pw", is_staff=True)
    perms = Permission.objects.filter(
        content_type__app_label="campaigns",
        codename__in=[
            "view_campaign",
            "add_campaign",
            "change_campaign",
            "launch_campaign",
            "view_message",
        ],
    )
    user.user_permissions.set(perms)
    return user


@pytest.fixture
def outsider(db):
    """Staff who may look at campaigns but not launch them."""
    user = get_user_model().objects.create_user("otto", "otto@example.com", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="campaigns", codename="view_campaign")
    )
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
