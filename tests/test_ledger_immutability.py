"""The ledger is append-only: in the ORM, in the admin, and in the database."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from consent.models import ConsentEvent, ConsentNotice, LedgerIsAppendOnly
from consent.rules import Action
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return record(ContactFactory(), Action.GRANT)


class TestInTheOrm:
    def test_saving_an_existing_event_is_refused(self, event):
        event.wamid = "rewritten"
        with pytest.raises(LedgerIsAppendOnly):
            event.save()

    def test_deleting_an_event_is_refused(self, event):
        with pytest.raises(LedgerIsAppendOnly):
            event.delete()

    def test_queryset_update_and_delete_are_refused(self, event):
        with pytest.raises(LedgerIsAppendOnly):
            ConsentEvent.objects.filter(pk=event.pk).update(wamid="x")
        with pytest.raises(LedgerIsAppendOnly):
            ConsentEvent.objects.all().delete()
        with pytest.raises(LedgerIsAppendOnly):
            ConsentEvent.objects.bulk_update([event], ["wamid"])
        assert ConsentEvent.objects.get(pk=event.pk).wamid == event.wamid

    def test_a_contact_with_a_ledger_cannot_be_deleted(self, event):
        from django.db.models import ProtectedError

        with pytest.raises(ProtectedError):
            event.contact.delete()


class TestNotices:
    def test_published_notice_cannot_change_or_be_deleted(self):
        notice = NoticeFactory()
        notice.text = "different words"
        with pytest.raises(LedgerIsAppendOnly):
            notice.save()
        with pytest.raises(LedgerIsAppendOnly):
            notice.delete()
        assert ConsentNotice.objects.get(pk=notice.pk).text != "different words"

    def test_draft_notice_can_be_edited(self):
        draft = NoticeFactory(version=2, published_at=None)
        draft.text = "better words"
        draft.save()
        assert ConsentNotice.objects.get(pk=draft.pk).text == "better words"


class TestInTheAdmin:
    def test_ledger_change_page_is_read_only(self, staff_client, event):
        url = reverse("admin:consent_consentevent_change", args=[event.pk])
        page = staff_client.get(url)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content

        posted = staff_client.post(url, {"note": "rewritten", "action": "withdraw"})

        assert posted.status_code == 403
        assert ConsentEvent.objects.get(pk=event.pk).action == Action.GRANT

    def test_ledger_cannot_be_added_or_deleted_through_the_admin(self, staff_client, event):
        assert staff_client.get(reverse("admin:consent_consentevent_add")).status_code == 403
        delete_url = reverse("admin:consent_consentevent_delete", args=[event.pk])
        assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
        assert ConsentEvent.objects.filter(pk=event.pk).exists()

    def test_no_bulk_delete_action_on_the_ledger(self, staff_client, event):
        changelist = reverse("admin:consent_consentevent_changelist")
        page = staff_client.get(changelist)
        assert b"delete_selected" not in page.content
        staff_client.post(
            changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
        )
        assert ConsentEvent.objects.filter(pk=event.pk).exists()


class TestInTheDatabase:
    def test_raw_update_is_rejected_by_the_trigger(self, event):
        pk = event.pk.hex if connection.vendor == "sqlite" else event.pk
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE consent_consentevent SET wamid = 'x' WHERE id = %s", [pk])
        assert ConsentEvent.objects.get(pk=event.pk).wamid == event.wamid

    @pytest.mark.postgres
    def test_raw_delete_is_rejected_by_the_trigger_on_postgresql(self, event):
        if connection.vendor != "postgresql":
            pytest.skip("the DELETE trigger is PostgreSQL's (CI runs this on PostgreSQL)")
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [event.pk])
        assert ConsentEvent.objects.filter(pk=event.pk).exists()
