"""One outbound address rule, for consent, campaigns and groups alike."""

import pytest

from conversation.outreach import address_of
from tests.factories import ContactFactory
from whatsapp.addressing import RECIPIENT, TO, whatsapp_address

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    ("identifiers", "expected"),
    [
        (
            {"wa_id": "447911123456", "phone": "+447911123456", "user_id": BSUID},
            (TO, "447911123456"),
        ),
        ({"phone": "+44 7911 123456", "user_id": BSUID}, (TO, "447911123456")),
        # wa_id is what WhatsApp gave us, even when it is not a valid phone number
        ({"wa_id": "16505551234", "phone": "+447911123456"}, (TO, "16505551234")),
        ({"user_id": BSUID, "parent_user_id": PARENT}, (RECIPIENT, BSUID)),
        ({"parent_user_id": PARENT}, (RECIPIENT, PARENT)),
    ],
)
def test_a_phone_number_goes_as_to_and_a_business_scoped_id_only_as_recipient(
    identifiers, expected
):
    address = whatsapp_address(**identifiers)

    assert (address.field, address.value) == expected
    assert address.as_payload() == {expected[0]: expected[1]}


def test_nothing_to_send_to_is_no_address():
    assert whatsapp_address(phone=None, wa_id="", user_id=None) is None


def test_every_id_opens_the_same_window():
    address = whatsapp_address(wa_id="447911123456", user_id=BSUID, parent_user_id=PARENT)

    assert address.keys == ("447911123456", BSUID, PARENT)


@pytest.mark.django_db
def test_a_username_only_contact_is_addressed_by_its_business_scoped_id():
    contact = ContactFactory(phone=None, wa_id=None, whatsapp_user_id=BSUID, username="ada.l")

    address = address_of(contact)

    assert (address.field, address.value) == (RECIPIENT, BSUID)


@pytest.mark.django_db
def test_campaigns_and_groups_use_the_same_rule():
    """No other module computes a WhatsApp address of its own."""
    import inspect

    import campaigns.selectors
    import campaigns.services
    import conversation.outreach
    import groups.outreach
    import groups.selectors

    for module in (
        campaigns.selectors,
        campaigns.services,
        conversation.outreach,
        groups.outreach,
        groups.selectors,
    ):
        source = inspect.getsource(module)
        assert "wa_id or" not in source, module.__name__
