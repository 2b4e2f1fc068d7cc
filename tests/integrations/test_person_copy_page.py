"""A person asks for their own copy on the preference centre: a link by WhatsApp that
expires, a readable page and the JSON; every request and download audited."""

import json
import re

import pytest
from django.core.cache import cache

from contacts.services import erase_person
from integrations.copies import copy_token
from preferences.links import preference_path
from staff.models import AuditEntry
from tests.consent_helpers import record
from tests.factories import ContactFactory
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(service_notice):
    cache.clear()
    ada = ContactFactory(phone="+447911123456", wa_id="447911123456", name="Ada Lovelace")
    record(ada, "grant", "service", notice=service_notice)
    return ada


def test_asking_on_the_preference_centre_sends_a_link_by_whatsapp(client, ada):
    page = preference_path(ada)
    assert b"Download my data" in client.get(page).content

    response = client.post(f"{page}my-data/")

    assert response.status_code == 302
    (sent,) = OutboundMessage.objects.filter(contact_id=ada.pk)
    link = re.search(r"https?://\S+/my-data/\S+/", json.dumps(sent.payload)).group(0)
    assert AuditEntry.objects.filter(action="request_person_copy", object_id=str(ada.pk)).exists()

    path = link.split("://", 1)[1].partition("/")[2]
    opened = client.get(f"/{path}")
    assert opened.status_code == 200
    assert b"Ada Lovelace" in opened.content
    download = client.get(f"/{path}data.json")
    assert json.loads(download.content)["contact"]["name"] == "Ada Lovelace"
    assert AuditEntry.objects.filter(action="export_person_data").count() == 2


def test_the_link_expires(client, ada, settings):
    token = copy_token(ada)
    settings.PERSON_COPY_LINK_HOURS = -1
    assert client.get(f"/my-data/{token}/").status_code == 410


@pytest.mark.parametrize("forged", ["nonsense", "3f2504e0-4f89-11d3-9a0c-0305e82c3301.x:y"])
def test_a_forged_link_opens_nothing(client, ada, forged):
    assert client.get(f"/my-data/{forged}/").status_code == 404
    token = copy_token(ada)
    assert client.get(f"/my-data/{token[:-2]}xx/").status_code == 404


def test_an_erased_persons_link_opens_nothing(client, ada):
    token = copy_token(ada)
    erase_person(contact=ada, erased_by="test")
    assert client.get(f"/my-data/{token}/").status_code == 404


def test_no_link_is_sent_to_someone_service_messages_may_not_reach(client, db):
    cache.clear()
    bob = ContactFactory(phone="+447911123457", wa_id="447911123457")
    record(bob, "withdraw", "service")
    response = client.post(f"{preference_path(bob)}my-data/", follow=True)
    assert b"could not send" in response.content
    assert not OutboundMessage.objects.filter(contact_id=bob.pk).exists()
