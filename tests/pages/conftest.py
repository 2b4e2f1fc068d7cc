import pytest
from django.core.cache import cache

from preferences.links import preference_path
from tests.factories import ContactFactory, NoticeFactory


@pytest.fixture(autouse=True)
def _pages_settings(settings):
    settings.PAGES_RATE_LIMITS = {
        "preferences_ip": "1000/h",
        "preferences_token": "1000/h",
        "optin_ip": "1000/h",
        "optin_phone": "1000/h",
    }
    settings.OPTIN_MIN_SUBMIT_SECONDS = 3
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def notices(db):
    return {
        (purpose, language): NoticeFactory(
            purpose=purpose,
            language=language,
            text=f"[{language}] Yes, send me {purpose} messages from Demo Shop.",
        )
        for purpose in ("marketing", "service")
        for language in ("en", "es")
    }


@pytest.fixture
def contact(db, notices):
    return ContactFactory(name="Ada Lovelace", language="en")


@pytest.fixture
def page(contact) -> str:
    return preference_path(contact)


@pytest.fixture
def sent_messages(monkeypatch):
    """What would have gone out on WhatsApp: (kind, contact, payload)."""
    sent: list[tuple[str, object, object]] = []
    import conversation.outreach as outreach

    monkeypatch.setattr(
        outreach,
        "send_confirmation_text",
        lambda *, contact, body, **_: sent.append(("text", contact, body)),
    )
    monkeypatch.setattr(
        outreach,
        "send_one_tap_opt_in",
        lambda *, contact, purposes, reason="", **_: sent.append(("one_tap", contact, purposes)),
    )
    return sent
