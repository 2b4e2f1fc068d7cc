import pytest

from consent.models import Topic
from tests.factories import TopicFactory, TopicNoticeFactory


@pytest.fixture
def offers(db) -> Topic:
    topic = TopicFactory(key="offers", names={"en": "Offers", "es": "Ofertas"})
    TopicNoticeFactory(topic=topic, language="en")
    TopicNoticeFactory(topic=topic, language="es", text="Sí, envíame ofertas.")
    return topic


@pytest.fixture
def arrivals(db) -> Topic:
    topic = TopicFactory(key="new_arrivals", names={"en": "New arrivals", "es": "Novedades"})
    TopicNoticeFactory(topic=topic, language="en")
    return topic
