"""Small helpers that make consent tests read as the story they tell."""

from datetime import datetime

from consent.models import ConsentEvent, ConsentNotice
from consent.rules import Action, Source
from consent.services import Evidence, record_consent
from contacts.models import Contact
from tests.factories import NoticeFactory


def notice_for(purpose: str, language: str = "en", version: int = 1) -> ConsentNotice:
    return NoticeFactory(purpose=purpose, language=language, version=version)


def record(
    contact: Contact,
    action: str,
    purpose: str = "marketing",
    *,
    source: str = Source.API,
    at: datetime | None = None,
    **kwargs,
) -> ConsentEvent:
    if action in (Action.GRANT, Action.REQUEST) and "notice" not in kwargs:
        kwargs["notice"] = notice_for(purpose)
    kwargs.setdefault("evidence", Evidence(ip="203.0.113.9", user_agent="pytest"))
    return record_consent(
        contact=contact, purpose=purpose, action=action, source=source, occurred_at=at, **kwargs
    )
