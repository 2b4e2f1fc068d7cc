"""The keyword lists and opt-out reviews moved from consent to the conversation app: a
database written before the move keeps its rows, its tables and its permissions."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversation.models import ConsentKeyword, OptOutReview

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("consent", "0012_sealed_heads_without_a_foreign_key_constraint"),
    ("conversation", None),
]
AFTER = [
    ("consent", "0013_keywords_and_reviews_to_the_conversation_app"),
    ("conversation", "0001_initial"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


@pytest.fixture
def back_to_the_latest_state():
    yield
    call_command("migrate", verbosity=0)


def test_a_database_from_before_the_move_keeps_its_keywords_reviews_and_permissions(
    back_to_the_latest_state,
):
    # given a database before the move, with a staff keyword, a review and its permission
    apps = migrate(BEFORE)
    OldKeyword = apps.get_model("consent", "ConsentKeyword")
    OldReview = apps.get_model("consent", "OptOutReview")
    OldContact = apps.get_model("contacts", "Contact")
    keyword = OldKeyword.objects.create(phrase="halt", language="de", meaning="stop")
    contact = OldContact.objects.create(phone="+447911123456", phone_hash="h" * 64)
    review = OldReview.objects.create(
        contact_id=contact.pk,
        wamid="wamid.before-the-move",
        text="please no more",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ContentType.objects.filter(app_label="conversation").delete()
    review_type, _ = ContentType.objects.get_or_create(app_label="consent", model="optoutreview")
    Permission.objects.get_or_create(
        content_type=review_type,
        codename="change_optoutreview",
        defaults={"name": "Can change opt out review"},
    )

    # when the models move
    migrate(AFTER)

    # then the same rows are there through the conversation app's models, in the same tables
    assert ConsentKeyword._meta.db_table == "consent_consentkeyword"
    assert OptOutReview._meta.db_table == "consent_optoutreview"
    assert ConsentKeyword.objects.get(pk=keyword.pk).phrase == "halt"
    moved = OptOutReview.objects.get(pk=review.pk)
    assert (moved.contact_id, moved.text) == (contact.pk, "please no more")
    # and the permission a staff group holds now names the conversation app
    assert Permission.objects.filter(
        content_type__app_label="conversation", codename="change_optoutreview"
    ).exists()
    assert not Permission.objects.filter(
        content_type__app_label="consent", codename="change_optoutreview"
    ).exists()


@pytest.mark.django_db
def test_old_admin_links_to_the_keyword_lists_and_reviews_follow_them(admin_client):
    answer = admin_client.get("/admin/consent/optoutreview/?decision__exact=pending")
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/conversation/optoutreview/?decision__exact=pending"
    answer = admin_client.get("/admin/consent/consentkeyword/7/change/")
    assert answer["Location"] == "/admin/conversation/consentkeyword/7/change/"
