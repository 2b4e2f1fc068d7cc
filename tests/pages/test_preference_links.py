import time
import uuid

import pytest
from django.core import signing

from contacts.services import erase_contact
from preferences.links import (
    BadLink,
    ExpiredLink,
    contact_for_token,
    preference_token,
    preference_url,
)

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


def token_signed_days_ago(monkeypatch, contact, days: int) -> str:
    real = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: real - days * DAY)
    token = preference_token(contact)
    monkeypatch.setattr(signing.time, "time", lambda: real)
    return token


def tampered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def test_a_link_leads_back_to_its_contact(contact, settings):
    settings.SITE_URL = "https://prefs.example"
    url = preference_url(contact)
    assert url.startswith("https://prefs.example/preferences/")
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert contact_for_token(token) == contact


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "not-a-uuid:abc:def", f"{uuid.uuid4().hex}:1xWEcq:abc"],
    # Named, not by value: every xdist worker must collect the same test ids.
    ids=["empty", "nonsense", "not-a-uuid", "unknown-contact"],
)
def test_malformed_or_unknown_tokens_are_bad_links(db, token):
    with pytest.raises(BadLink):
        contact_for_token(token)


def test_a_tampered_signature_is_a_bad_link(contact):
    with pytest.raises(BadLink) as caught:
        contact_for_token(tampered(preference_token(contact)))
    assert not isinstance(caught.value, ExpiredLink)


def test_another_contacts_id_with_a_valid_signature_is_a_bad_link(contact):
    from tests.factories import ContactFactory

    other = ContactFactory()
    _, stamp, signature = preference_token(contact).split(":")
    with pytest.raises(BadLink):
        contact_for_token(f"{other.pk.hex}:{stamp}:{signature}")


def test_a_link_expires_after_the_configured_days(contact, settings, monkeypatch):
    settings.PREFERENCE_LINK_MAX_AGE_DAYS = 30
    assert contact_for_token(token_signed_days_ago(monkeypatch, contact, 29)) == contact
    with pytest.raises(ExpiredLink):
        contact_for_token(token_signed_days_ago(monkeypatch, contact, 31))


def test_rotating_the_secret_revokes_every_link(contact):
    token = preference_token(contact)
    contact.link_secret = "rotated-secret"
    contact.save()
    with pytest.raises(BadLink):
        contact_for_token(token)


def test_an_erased_contact_has_no_preference_centre(contact):
    token = preference_token(contact)
    erase_contact(contact=contact)
    with pytest.raises(BadLink):
        contact_for_token(token)


# --- The pages a bad link leads to --------------------------------------------------


def assert_no_contact_data(response, contact):
    html = response.content.decode()
    assert contact.name not in html
    assert str(contact.phone) not in html
    assert "Yes, send me" not in html


def test_a_bad_link_is_a_friendly_404_without_contact_data(client, contact):
    response = client.get(f"/preferences/{tampered(preference_token(contact))}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not open this link" in html
    assert "PREFERENCES" in html
    assert_no_contact_data(response, contact)


def test_a_guessed_contact_id_gets_nothing(client, contact):
    response = client.get(f"/preferences/{contact.pk.hex}/")
    assert response.status_code == 404
    assert_no_contact_data(response, contact)


def test_an_expired_link_is_a_410_saying_how_to_get_a_new_one(
    client, contact, settings, monkeypatch
):
    settings.PREFERENCE_LINK_MAX_AGE_DAYS = 30
    token = token_signed_days_ago(monkeypatch, contact, 31)
    response = client.get(f"/preferences/{token}/")
    assert response.status_code == 410
    html = response.content.decode()
    assert "This link has expired" in html
    assert "Send the word <strong>PREFERENCES</strong>" in html
    assert_no_contact_data(response, contact)


@pytest.mark.parametrize("suffix", ["change/", "undo/", "record.json", "record/", "done/"])
def test_every_page_behind_a_link_refuses_a_bad_one(client, contact, suffix):
    url = f"/preferences/{tampered(preference_token(contact))}/{suffix}"
    response = client.post(url) if suffix in ("change/", "undo/") else client.get(url)
    assert response.status_code == 404
    assert_no_contact_data(response, contact)
