"""The drill's data, written and read in its private database: `python -m tests.faults.drill_data`.

`setup N` makes N contacts opted in to marketing, a marketing campaign to them and an
API key (campaigns:write, consent:write), and prints them as JSON. `ledger` prints
every consent event and what became of the campaign, as JSON, for the assertions.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta

import django


def setup(n: int) -> dict:
    from django.core.management import call_command
    from django.utils import timezone

    from campaigns.models import Campaign
    from consent.models import ConsentNotice
    from consent.services import Evidence, record_consent
    from contacts.models import Contact

    notice = ConsentNotice.objects.create(
        purpose="marketing", language="en", version=1, text="Yes, send me offers."
    )
    ConsentNotice.objects.filter(pk=notice.pk).update(published_at=timezone.now())
    notice.refresh_from_db()
    granted = timezone.now() - timedelta(days=1)
    contacts = []
    for i in range(n):
        phone = f"+4479111{i:05d}"
        contact = Contact.objects.create(phone=phone, wa_id=phone.lstrip("+"), name=f"P{i}")
        record_consent(
            contact=contact,
            purpose="marketing",
            action="grant",
            source="web_form",
            notice=notice,
            occurred_at=granted,
            evidence=Evidence(ip="203.0.113.9", user_agent="drill"),
        )
        contacts.append({"id": str(contact.pk), "phone": phone, "wa_id": contact.wa_id})
    campaign = Campaign.objects.create(
        name="Drill offer",
        kind="marketing",
        purpose="marketing",
        template_name="drill_offer",
        template_language="en",
    )
    out = io.StringIO()
    call_command("create_api_key", "drill", scopes="campaigns:write,consent:write", stdout=out)
    return {"contacts": contacts, "campaign": str(campaign.pk), "key": out.getvalue().strip()}


def ledger() -> dict:
    from campaigns.models import Campaign, Message
    from consent.models import ConsentEvent
    from whatsapp.models import InboundEvent, OutboundMessage

    events = [
        {
            "id": str(e["id"]),
            "contact": str(e["contact_id"]),
            "action": e["action"],
            "source": e["source"],
            "wamid": e["wamid"],
            "idempotency_key": e["idempotency_key"],
            "applied": e["applied"],
        }
        for e in ConsentEvent.objects.values(
            "id", "contact_id", "action", "source", "wamid", "idempotency_key", "applied"
        )
    ]
    campaign = Campaign.objects.get()
    return {
        "events": events,
        "campaign_status": campaign.status,
        "messages": {
            str(m["contact_id"]): m["status"]
            for m in Message.objects.filter(campaign=campaign).values("contact_id", "status")
        },
        "inbound_unprocessed": InboundEvent.objects.exclude(state="processed").count(),
        "outbox": {
            status: OutboundMessage.objects.filter(status=status).count()
            for status in OutboundMessage.Status.values
        },
    }


if __name__ == "__main__":
    django.setup()
    command = sys.argv[1]
    result = setup(int(sys.argv[2])) if command == "setup" else ledger()
    json.dump(result, sys.stdout)
