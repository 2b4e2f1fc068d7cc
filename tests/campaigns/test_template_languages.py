"""A template per language: each contact gets the template in their own language where it is
approved, and the campaign's fallback language otherwise."""

import pytest

from campaigns.models import Campaign
from campaigns.services import send_campaign_batch
from tests.campaigns.conftest import make_contact
from tests.campaigns.test_outbox_sends import fanned_out
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def sent_language(contact) -> str:
    row = OutboundMessage.objects.get(contact_id=contact.pk)
    return row.payload["template"]["language"]["code"]


def test_each_contact_gets_their_language_or_the_fallback(campaign: Campaign, whatsapp):
    Campaign.objects.filter(pk=campaign.pk).update(template_languages=["es"])
    spanish = make_contact("opted_in", language="es")
    english = make_contact("opted_in", language="en")
    german = make_contact("opted_in", language="de")
    ids = fanned_out(campaign)

    send_campaign_batch(campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1])

    assert sent_language(spanish) == "es"
    assert sent_language(english) == "en"
    assert sent_language(german) == "en"


def test_with_no_other_language_everyone_gets_the_fallback(campaign: Campaign, whatsapp):
    spanish = make_contact("opted_in", language="es")
    ids = fanned_out(campaign)

    send_campaign_batch(campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1])

    assert sent_language(spanish) == "en"
