"""Meta delivers in no order: each answer counts at the time the person gave it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from tests.whatsapp.helpers import with_message

pytestmark = pytest.mark.django_db


def test_a_withdraw_arriving_after_a_later_grant_does_not_undo_it(deliver, ada, one_tap_sent):
    now = timezone.now()
    # given Ada said STOP at 10:00 and tapped "Yes" at 10:05 ...
    stop = with_message("text_stop", at=now - timedelta(minutes=5), id="wamid.STOP-FIRST")
    grant = with_message("interactive_button_reply", at=now, id="wamid.GRANT-LATER")

    # when the grant is delivered first and the STOP only afterwards
    deliver(grant)
    deliver(stop)

    # then the newer answer stands and the late one is evidence only
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_in"
    late = ConsentEvent.objects.get(wamid="wamid.STOP-FIRST")
    assert late.action == "withdraw" and late.applied is False


def test_in_order_the_later_withdraw_wins(deliver, ada, one_tap_sent):
    now = timezone.now()
    deliver(with_message("interactive_button_reply", at=now - timedelta(minutes=5)))
    deliver(with_message("text_stop", at=now))

    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"
