import pytest

from preferences.links import preference_path
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lucia(notices):
    return ContactFactory(name="Lucía", language="es")


def test_the_page_is_in_the_contacts_language(client, lucia):
    response = client.get(preference_path(lucia))
    html = response.content.decode()
    assert '<html lang="es">' in html
    assert "Tus preferencias de mensajes" in html
    assert "[es] Yes, send me marketing messages from Demo Shop." in html


def test_the_language_can_be_switched_and_the_choice_is_remembered(client, lucia):
    page = preference_path(lucia)
    switched = client.get(f"{page}?lang=en")
    assert '<html lang="en">' in switched.content.decode()
    assert "Your message choices" in switched.content.decode()
    assert "[en] Yes, send me marketing messages from Demo Shop." in switched.content.decode()
    again = client.get(page)
    assert '<html lang="en">' in again.content.decode()


def test_an_unsupported_language_falls_back_to_english(client, notices):
    contact = ContactFactory(language="fr")
    assert '<html lang="en">' in client.get(preference_path(contact)).content.decode()


def test_bad_links_are_explained_in_the_browsers_language(client, db):
    response = client.get("/preferences/nonsense/", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 404
    assert "No pudimos abrir este enlace" in response.content.decode()


def test_the_whatsapp_confirmation_is_in_the_pages_language(
    client, lucia, sent_messages, django_capture_on_commit_callbacks
):
    from tests.consent_helpers import record

    record(lucia, "grant", "marketing")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"{preference_path(lucia)}change/", {"action": "withdraw", "purpose": "marketing"}
        )
    assert "ya no recibirás ofertas y novedades" in sent_messages[0][2]
