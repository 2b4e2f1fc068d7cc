"""Indexes no query uses, dropped: each cost every insert (imports, record_consent).

The contact foreign keys are indexed by the unique (contact, seq) and (contact,
purpose) constraints already.

Django gives each unique text column a second `varchar_pattern_ops` index for
LIKE 'prefix%' lookups. Nothing looks these columns up by prefix: hashes,
idempotency keys and identifiers are matched whole (the unique index serves
that), and the admin's contains-search cannot use a prefix index. PostgreSQL only.
"""

import django.db.models.deletion
from django.db import migrations, models

LIKE_INDEXES = [
    ("consent_consentevent", "hash"),
    ("consent_consentevent", "idempotency_key"),
]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in LIKE_INDEXES:
        name = schema_editor._create_index_name(table, [column], suffix="_like")
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in LIKE_INDEXES:
        name = schema_editor._create_index_name(table, [column], suffix="_like")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON "
            f"{schema_editor.quote_name(table)} ({schema_editor.quote_name(column)} "
            "varchar_pattern_ops)"
        )


FK_INDEXES = [("consent_consentevent", "contact_id"), ("consent_consentstate", "contact_id")]


def drop_fk_indexes(apps, schema_editor):
    for table, column in FK_INDEXES:
        name = schema_editor._create_index_name(table, [column])
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_fk_indexes(apps, schema_editor):
    for table, column in FK_INDEXES:
        name = schema_editor._create_index_name(table, [column])
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON "
            f"{schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0008_evidence_apart_from_the_chain"),
        ("contacts", "0005_suppression_list_of_erased_identifiers"),
    ]

    operations = [
        migrations.RunPython(drop, create),
        # Only the index goes: an AlterField would rebuild the tables on SQLite and
        # lose the ledger's append-only triggers with them.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="consentevent",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="consent_events",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="consentstate",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="consent_states",
                        to="contacts.contact",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_fk_indexes, create_fk_indexes)],
        ),
    ]
