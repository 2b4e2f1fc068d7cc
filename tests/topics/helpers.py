"""Recording topic answers in tests: the story, not the plumbing."""

from datetime import datetime

from consent.models import ConsentEvent, Topic
from consent.rules import Action, Source
from consent.services import Evidence, record_topic_consent
from contacts.models import Contact
from tests.factories import TopicNoticeFactory


def answer_topic(
    contact: Contact,
    topic: Topic,
    action: str,
    *,
    at: datetime | None = None,
    source: str = Source.PREFERENCE_CENTRE,
    **kwargs,
) -> ConsentEvent:
    if action == Action.GRANT and "notice" not in kwargs:
        kwargs["notice"] = TopicNoticeFactory(topic=topic)
    kwargs.setdefault("evidence", Evidence(ip="203.0.113.9", user_agent="pytest"))
    return record_topic_consent(
        contact=contact, topic=topic, action=action, source=source, occurred_at=at, **kwargs
    )
