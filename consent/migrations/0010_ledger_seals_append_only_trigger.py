"""The database refuses UPDATE and DELETE on seals and sealed heads, as on the ledger.

TRUNCATE stays with the owner (the test runner empties tables with it on
PostgreSQL); on SQLite only UPDATE is refused, as for the ledger.
"""

from django.db import migrations

TABLES = ("consent_ledgerseal", "consent_sealedhead")
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_seal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger seals are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_seal_append_only();",
                params=None,
            )
        elif vendor == "sqlite":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
                "SELECT RAISE(ABORT, 'ledger seals are append-only (UPDATE refused)'); END;"
            )


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_seal_append_only();")


class Migration(migrations.Migration):
    dependencies = [("consent", "0009_ledger_seals")]
    operations = [migrations.RunPython(install, uninstall)]
