"""Items stored before senders were kept learn theirs, so they hold that person's messages."""

import pytest
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.whatsapp.helpers import load_payload
from whatsapp.parsing import split_delivery

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("whatsapp", "0004_outbox_delivery_and_sending_numbers")]
AFTER = [("whatsapp", "0005_inbound_sender")]


def migrate(targets):
    # As `manage.py migrate` does: the apps' pre- and post-migrate receivers around it.
    emit_pre_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    return executor.loader.project_state(targets).apps


def test_unprocessed_items_stored_before_learn_who_sent_them():
    # given items stored before the sender column: a STOP not processed, one processed,
    # and an unreadable body naming a number
    apps = migrate(BEFORE)
    Item = apps.get_model("whatsapp", "InboundEvent")
    Delivery = apps.get_model("whatsapp", "WebhookDelivery")
    [stop] = split_delivery(load_payload("text_stop"))
    waiting = Item.objects.create(kind="message", dedupe_key="a", payload=stop.payload)
    done = Item.objects.create(
        kind="message", dedupe_key="b", payload=stop.payload, state="processed"
    )
    raw = Delivery.objects.create(body=b'{"from": "447911123456", STOP', state="malformed")
    unreadable = Item.objects.create(
        kind="malformed", dedupe_key="c", delivery=raw, state="failed", carries_opt_out=True
    )

    try:
        # when the migration runs
        apps = migrate(AFTER)
        Item = apps.get_model("whatsapp", "InboundEvent")

        # then the unprocessed ones know their sender; the processed one needs none
        senders = {
            row.pk: (row.sender, row.sender_user_id)
            for row in Item.objects.filter(pk__in=[waiting.pk, done.pk, unreadable.pk])
        }
        assert senders[waiting.pk] == ("447911123456", "GB.1349857562938475")
        assert senders[done.pk] == ("", "")
        assert senders[unreadable.pk] == ("447911123456", "")
    finally:
        call_command("migrate", verbosity=0)
