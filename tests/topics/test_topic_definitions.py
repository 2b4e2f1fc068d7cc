"""Staff define topics under a purpose, with wording per language that never changes once
published; a topic is retired, never deleted."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from consent.models import ConsentNotice, LedgerIsAppendOnly, Topic
from consent.selectors import current_notice, notice_by_ref
from consent.services import retire_topic
from staff.models import AuditEntry
from tests.factories import NoticeFactory, TopicFactory, TopicNoticeFactory

pytestmark = pytest.mark.django_db


def staff(role: str) -> Client:
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_a_topic_notice_is_named_by_purpose_topic_language_and_version():
    notice = TopicNoticeFactory(topic=TopicFactory(key="offers"), language="es", version=2)

    assert notice.ref == "marketing/offers/es/2"
    assert notice_by_ref("marketing/offers/es/2") == notice


def test_topic_and_purpose_notices_number_their_versions_apart():
    purpose = NoticeFactory(purpose="marketing", language="en", version=1)
    offers = TopicNoticeFactory(topic=TopicFactory(key="offers"), version=1)
    arrivals = TopicNoticeFactory(topic=TopicFactory(key="new_arrivals"), version=1)

    assert len({purpose.pk, offers.pk, arrivals.pk}) == 3
    assert current_notice("marketing", "en") == purpose
    assert notice_by_ref("marketing/en/1") == purpose


def test_a_topic_cannot_have_two_notices_of_one_version():
    topic = TopicFactory()
    ConsentNotice.objects.create(
        purpose="marketing", topic=topic, language="en", version=1, text="a"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentNotice.objects.create(
            purpose="marketing", topic=topic, language="en", version=1, text="b"
        )


def test_a_published_topic_notice_never_changes():
    notice = TopicNoticeFactory()
    notice.text = "Something else"
    with pytest.raises(LedgerIsAppendOnly):
        notice.save()
    with pytest.raises(LedgerIsAppendOnly):
        notice.delete()


def test_a_topic_notice_names_the_topics_own_purpose():
    notice = ConsentNotice(
        purpose="service", topic=TopicFactory(purpose="marketing"), language="en", version=1
    )
    with pytest.raises(ValidationError, match="topic"):
        notice.clean()


def test_an_unpublished_or_unknown_topic_ref_names_nothing():
    TopicNoticeFactory(published_at=None)

    assert notice_by_ref("marketing/offers/en/1") is None
    assert notice_by_ref("marketing/nothing/en/1") is None
    assert notice_by_ref("marketing/OFFERS/en/1") is None


def test_a_topic_is_retired_with_an_audit_row_never_deleted(staff_client):
    topic = TopicFactory()

    retire_topic(topic=topic, actor=staff_client.user)

    topic.refresh_from_db()
    assert topic.retired_at is not None
    assert AuditEntry.objects.filter(action="retire_topic").count() == 1
    with pytest.raises(LedgerIsAppendOnly):
        topic.delete()


def test_the_name_falls_back_to_english_then_the_key():
    topic = TopicFactory(key="new_arrivals", names={"en": "New arrivals", "es": "Novedades"})

    assert (topic.name("es"), topic.name("fr")) == ("Novedades", "New arrivals")
    assert TopicFactory(key="bare", names={}).name("es") == "bare"


def test_marketing_staff_define_a_topic_with_names_per_language():
    marketing = staff("Marketing")

    answer = marketing.post(
        reverse("admin:consent_topic_add"),
        {
            "purpose": "marketing",
            "key": "new_arrivals",
            "name_en": "New arrivals",
            "name_es": "Novedades",
            "description_en": "When something new is in.",
            "description_es": "",
        },
    )

    assert answer.status_code == 302, answer.content[:2000]
    topic = Topic.objects.get(key="new_arrivals")
    assert topic.names == {"en": "New arrivals", "es": "Novedades"}
    assert topic.descriptions == {"en": "When something new is in."}


def test_the_topic_admin_retires_and_never_deletes(staff_client):
    topic = TopicFactory()
    changelist = reverse("admin:consent_topic_changelist")

    page = staff_client.get(changelist)
    staff_client.post(changelist, {"action": "retire_topics", "_selected_action": [topic.pk]})

    assert page.status_code == 200
    assert b"delete_selected" not in page.content
    assert Topic.objects.get(pk=topic.pk).retired_at is not None
    change = staff_client.get(reverse("admin:consent_topic_change", args=[topic.pk]))
    assert change.status_code == 200


def test_compliance_publishes_a_topic_notice_marketing_only_reads_it():
    notice = TopicNoticeFactory(published_at=None)
    changelist = reverse("admin:consent_consentnotice_changelist")

    assert b"publish_notices" not in staff("Marketing").get(changelist).content
    staff("Compliance").post(
        changelist, {"action": "publish_notices", "_selected_action": [notice.pk]}
    )

    assert ConsentNotice.objects.get(pk=notice.pk).is_published
