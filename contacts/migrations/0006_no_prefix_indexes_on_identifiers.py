"""Indexes no query uses, dropped: each cost every insert (imports, record_consent).

Django gives each unique text column a second `varchar_pattern_ops` index for
LIKE 'prefix%' lookups. Nothing looks these columns up by prefix: hashes,
idempotency keys and identifiers are matched whole (the unique index serves
that), and the admin's contains-search cannot use a prefix index. PostgreSQL only.
"""

from django.db import migrations

LIKE_INDEXES = [
    ("contacts_contact", "phone_hash"),
    ("contacts_contact", "wa_id"),
    ("contacts_contact", "whatsapp_user_id"),
    ("contacts_contact", "external_id"),
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


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_suppression_list_of_erased_identifiers")]

    operations = [migrations.RunPython(drop, create)]
