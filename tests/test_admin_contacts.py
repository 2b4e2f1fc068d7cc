"""Marketing staff's contact pages: search, filters, states, the ledger, opt-outs."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import may_send
from contacts.models import Tag
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:contacts_contact_changelist")


@pytest.mark.parametrize("typed", ["07911 123456", "+44 7911 123456", "447911123456"])
def test_search_by_phone_in_any_format(staff_client, typed):
    ada = ContactFactory(phone="+447911123456", name="Ada")
    ContactFactory(name="Someone else")

    page = staff_client.get(CHANGELIST, {"q": typed})

    assert list(page.context["cl"].result_list) == [ada]


def test_search_by_name_and_external_id(staff_client):
    ada = ContactFactory(name="Ada Lovelace", external_id="crm-42")
    ContactFactory(name="Alan")
    for term in ("lovelace", "crm-42"):
        assert list(staff_client.get(CHANGELIST, {"q": term}).context["cl"].result_list) == [ada]


@pytest.mark.parametrize("typed", ["Lucia", "perez", "LUCÍA PÉREZ", "lucía", "luc per"])
def test_search_by_name_ignores_accents_and_case(staff_client, typed):
    lucia = ContactFactory(name="Lucía Pérez")
    ContactFactory(name="Lucas Peralta Smith")

    page = staff_client.get(CHANGELIST, {"q": typed})

    assert lucia in page.context["cl"].result_list
    assert len(page.context["cl"].result_list) == (2 if typed == "luc per" else 1)


def test_search_by_whatsapp_user_id(staff_client):
    bsuid = ContactFactory(phone=None, whatsapp_user_id="US.13491208655302741918")
    ContactFactory()

    page = staff_client.get(CHANGELIST, {"q": "US.13491208655302741918"})

    assert list(page.context["cl"].result_list) == [bsuid]


def test_filter_by_tag_and_by_consent_state(staff_client):
    vip = ContactFactory()
    vip.tags.add(Tag.objects.create(name="vip"))
    opted_out = ContactFactory()
    record(opted_out, Action.WITHDRAW)
    untouched = ContactFactory()

    by_tag = staff_client.get(CHANGELIST, {"tags__id__exact": vip.tags.get().pk})
    by_state = staff_client.get(CHANGELIST, {"marketing_consent": Status.OPTED_OUT})
    by_none = staff_client.get(CHANGELIST, {"marketing_consent": Status.NONE})

    assert list(by_tag.context["cl"].result_list) == [vip]
    assert list(by_state.context["cl"].result_list) == [opted_out]
    assert set(by_none.context["cl"].result_list) == {vip, untouched}


def test_contact_page_shows_state_and_ledger_newest_first(staff_client):
    contact = ContactFactory()
    first = record(contact, Action.GRANT)
    last = record(contact, Action.WITHDRAW)
    # Recorded last, dated first (an old import): by effective time it is the oldest.
    backdated = record(
        contact,
        Action.LEGACY,
        at=first.occurred_at - timedelta(days=365),
        expires_at=timezone.now() + timedelta(days=30),
    )

    page = staff_client.get(reverse("admin:contacts_contact_change", args=[contact.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Opted out" in html
    assert html.index(str(last.occurred_at.year)) > 0
    # The consent panel and its timeline come before the edit form.
    assert html.index('id="contact-consent-title"') < html.index('id="contact_form"')
    seqs = re.findall(r'class="contact-event[^"]*" data-seq="(\d+)"', html)
    assert seqs == [str(last.seq), str(first.seq), str(backdated.seq)]
    assert f"#{backdated.seq}" in html


def test_invalid_phone_in_the_admin_form_is_an_error_on_the_field(staff_client):
    page = staff_client.post(
        reverse("admin:contacts_contact_add"),
        {"phone": "12345", "name": "Bad", "language": "en", "attributes": "{}"},
    )
    assert page.status_code == 200
    assert "phone" in page.context["adminform"].form.errors


@pytest.mark.parametrize(
    ("action", "purposes"),
    [
        ("record_marketing_opt_out", {"marketing"}),
        ("record_full_opt_out", {"marketing", "service", "calls"}),
    ],
)
def test_record_opt_out_action_records_admin_events_with_the_acting_user(
    staff_client, action, purposes
):
    contacts = ContactFactory.create_batch(2)
    for c in contacts:
        record(c, Action.GRANT, "service")

    staff_client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(c.pk) for c in contacts]}
    )

    withdrawals = ConsentEvent.objects.filter(action=Action.WITHDRAW)
    assert withdrawals.count() == 2 * len(purposes)
    assert {e.purpose for e in withdrawals} == purposes
    assert all(e.source == Source.ADMIN and e.actor == staff_client.user for e in withdrawals)
    assert all(may_send(c, p).reason == "opted_out" for c in contacts for p in purposes)


def test_notice_page_shows_versions_side_by_side(staff_client):
    v1 = NoticeFactory(version=1, text="First wording")
    NoticeFactory(version=2, text="Second wording", published_at=None)

    page = staff_client.get(reverse("admin:consent_consentnotice_change", args=[v1.pk]))

    html = page.content.decode()
    assert "First wording" in html and "Second wording" in html
    assert 'name="text"' not in html  # published: read-only
    # Laid out by a stylesheet: the CSP blocks inline styles.
    assert "style=" not in html.split('class="notice-versions"')[1].split("</table>")[0]
    assert "consent/admin.css" in html


@pytest.mark.parametrize(
    "name",
    [
        "contacts_contact",
        "contacts_tag",
        "consent_consentevent",
        "consent_consentnotice",
        "consent_reconsentpolicy",
    ],
)
def test_admin_changelists_render(staff_client, name):
    ContactFactory()
    assert staff_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
