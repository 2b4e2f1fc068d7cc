"""Personal evidence moves out of the ledger into its own table.

Events already written keep the canonical form they were hashed in (`form` 1,
evidence inline): nothing about them is rewritten. Their evidence is copied to
`ConsentEvidence`, every chain is re-verified from the copy, and only then are
the columns dropped (a column drop, not an UPDATE: the ledger trigger stays).
New events are `form` 2, chaining a salted digest of the evidence instead.
"""

import hashlib
import json
from datetime import UTC

import django.db.models.deletion
from django.db import migrations, models

# The form-1 serialisation, frozen here as it was when those events were hashed.
FORM_ONE = (
    "id",
    "contact",
    "seq",
    "purpose",
    "action",
    "source",
    "notice",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "paused_until",
    "ip",
    "user_agent",
    "page_url",
    "wamid",
    "prompted_by_wamid",
    "note",
    "context",
    "actor",
    "idempotency_key",
    "applied",
    "status_after",
    "prev_hash",
)
INSTANTS = {"occurred_at", "recorded_at", "expires_at", "paused_until"}
PERSONAL = ("ip", "user_agent", "page_url", "note")


def _form_one_hash(event) -> str:
    row = {}
    for name in FORM_ONE:
        if name in ("id", "contact"):
            value = str(getattr(event, f"{name}_id" if name == "contact" else name))
        elif name in ("notice", "actor"):
            value = getattr(event, f"{name}_id")
        else:
            value = getattr(event, name)
        if name in INSTANTS and value is not None:
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        row[name] = value
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def move_evidence(apps, schema_editor):
    ConsentEvent = apps.get_model("consent", "ConsentEvent")
    ConsentEvidence = apps.get_model("consent", "ConsentEvidence")
    alias = schema_editor.connection.alias
    events = ConsentEvent.objects.using(alias).order_by("contact_id", "seq")
    batch, broken = [], []
    current, prev_hash, expected = None, None, 0
    for event in events.iterator(chunk_size=2000):
        if event.contact_id != current:
            current, prev_hash, expected = event.contact_id, None, 0
        expected += 1
        if (
            event.seq != expected
            or event.prev_hash != prev_hash
            or event.hash != _form_one_hash(event)
        ):
            broken.append(f"{event.contact_id} at #{event.seq}")
        prev_hash = event.hash
        if any(getattr(event, name) for name in PERSONAL):
            batch.append(
                ConsentEvidence(event_id=event.pk, **{n: getattr(event, n) for n in PERSONAL})
            )
        if len(batch) >= 2000:
            ConsentEvidence.objects.using(alias).bulk_create(batch)
            batch = []
    ConsentEvidence.objects.using(alias).bulk_create(batch)
    if broken:
        # Never drop the evidence of a chain that does not verify: it is what
        # an investigation of the break needs.
        raise RuntimeError(
            f"{len(broken)} consent chain(s) do not verify before evidence moves out: "
            + ", ".join(broken[:20])
        )


def verify_moved(apps, schema_editor):
    """Every form-1 hash again, now reading the evidence from its new table."""
    ConsentEvent = apps.get_model("consent", "ConsentEvent")
    ConsentEvidence = apps.get_model("consent", "ConsentEvidence")
    alias = schema_editor.connection.alias
    moved = {
        str(e["event_id"]): e
        for e in ConsentEvidence.objects.using(alias).values("event_id", *PERSONAL)
    }
    for event in ConsentEvent.objects.using(alias).iterator(chunk_size=2000):
        evidence = moved.get(str(event.pk), dict.fromkeys(PERSONAL, ""))
        for name in PERSONAL:
            setattr(event, name, evidence[name])
        if event.hash != _form_one_hash(event):
            raise RuntimeError(f"event {event.pk} does not verify from the moved evidence")


SQLITE_TRIGGER = """CREATE TRIGGER IF NOT EXISTS consent_event_no_update
    BEFORE UPDATE ON consent_consentevent
    BEGIN SELECT RAISE(ABORT, 'consent events are append-only (UPDATE refused)'); END;"""


def sqlite_trigger(apps, schema_editor):
    # SQLite drops a table's triggers when Django rebuilds it to drop columns.
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0007_contact_imports_from_the_admin"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsentEvidence",
            fields=[
                (
                    "event",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="personal_evidence",
                        serialize=False,
                        to="consent.consentevent",
                    ),
                ),
                ("salt", models.CharField(blank=True, max_length=32)),
                ("ip", models.CharField(blank=True, max_length=45, verbose_name="IP address")),
                ("user_agent", models.TextField(blank=True)),
                ("page_url", models.URLField(blank=True, max_length=2000)),
                ("note", models.TextField(blank=True)),
                ("erased_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"verbose_name_plural": "consent evidence"},
        ),
        # Existing events are form 1; PostgreSQL adds a constant default without
        # touching rows, so the UPDATE trigger never fires.
        migrations.AddField(
            model_name="consentevent",
            name="form",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="consentevent",
            name="evidence_digest",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.RunPython(move_evidence, migrations.RunPython.noop),
        migrations.RunPython(verify_moved, migrations.RunPython.noop),
        migrations.RemoveField(model_name="consentevent", name="ip"),
        migrations.RemoveField(model_name="consentevent", name="note"),
        migrations.RemoveField(model_name="consentevent", name="page_url"),
        migrations.RemoveField(model_name="consentevent", name="user_agent"),
        migrations.AlterField(
            model_name="consentevent",
            name="form",
            field=models.PositiveSmallIntegerField(default=2, editable=False),
        ),
        migrations.RunPython(sqlite_trigger, migrations.RunPython.noop),
    ]
