"""The dashboard's exact counts: triggers append a row per changed state (console.StateTally).

PostgreSQL: inserts and deletes by statement-level triggers with transition tables,
so an import's COPY of a million states appends one row per (purpose, status), not a
million; updates by a row trigger that fires only when the status moves, so the
upsert of a state that keeps its status costs nothing. SQLite (development, tests): row
triggers. Existing states and contacts are counted once, dated by when they began.
"""

from django.db import migrations, models

STATES, CONTACTS, TALLY = "consent_consentstate", "contacts_contact", "console_statetally"

POSTGRESQL = f"""
CREATE FUNCTION console_tally_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        SELECT purpose, status, (now() AT TIME ZONE 'UTC')::date, count(*)
        FROM new_rows GROUP BY purpose, status;
    ELSE
        INSERT INTO {TALLY} (purpose, status, day, delta)
        SELECT purpose, status, (now() AT TIME ZONE 'UTC')::date, -count(*)
        FROM old_rows GROUP BY purpose, status;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER console_tally_states_insert AFTER INSERT ON {STATES}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION console_tally_states();
-- An update counts only when the status moves: a row trigger whose WHEN skips the rest
-- costs nothing on record_consent's upsert of a state that keeps its status.
CREATE FUNCTION console_tally_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TALLY} (purpose, status, day, delta) VALUES
        (OLD.purpose, OLD.status, (now() AT TIME ZONE 'UTC')::date, -1),
        (NEW.purpose, NEW.status, (now() AT TIME ZONE 'UTC')::date, 1);
    RETURN NULL;
END $$;
CREATE TRIGGER console_tally_states_update AFTER UPDATE ON {STATES} FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.purpose IS DISTINCT FROM NEW.purpose)
    EXECUTE FUNCTION console_tally_state_change();
CREATE TRIGGER console_tally_states_delete AFTER DELETE ON {STATES}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION console_tally_states();

CREATE FUNCTION console_tally_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        SELECT '', 'contacts', (now() AT TIME ZONE 'UTC')::date, count(*) FROM new_rows
        HAVING count(*) > 0;
    ELSE
        INSERT INTO {TALLY} (purpose, status, day, delta)
        SELECT '', 'contacts', (now() AT TIME ZONE 'UTC')::date, -count(*) FROM old_rows
        HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER console_tally_contacts_insert AFTER INSERT ON {CONTACTS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION console_tally_contacts();
CREATE TRIGGER console_tally_contacts_delete AFTER DELETE ON {CONTACTS}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION console_tally_contacts();
"""

POSTGRESQL_DROP = f"""
DROP TRIGGER IF EXISTS console_tally_states_insert ON {STATES};
DROP TRIGGER IF EXISTS console_tally_states_update ON {STATES};
DROP TRIGGER IF EXISTS console_tally_states_delete ON {STATES};
DROP TRIGGER IF EXISTS console_tally_contacts_insert ON {CONTACTS};
DROP TRIGGER IF EXISTS console_tally_contacts_delete ON {CONTACTS};
DROP FUNCTION IF EXISTS console_tally_states();
DROP FUNCTION IF EXISTS console_tally_state_change();
DROP FUNCTION IF EXISTS console_tally_contacts();
"""

SQLITE = [
    f"""CREATE TRIGGER console_tally_states_insert AFTER INSERT ON {STATES} BEGIN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        VALUES (NEW.purpose, NEW.status, date('now'), 1); END""",
    f"""CREATE TRIGGER console_tally_states_update AFTER UPDATE ON {STATES}
        WHEN OLD.status IS NOT NEW.status OR OLD.purpose IS NOT NEW.purpose BEGIN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        VALUES (OLD.purpose, OLD.status, date('now'), -1),
               (NEW.purpose, NEW.status, date('now'), 1); END""",
    f"""CREATE TRIGGER console_tally_states_delete AFTER DELETE ON {STATES} BEGIN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        VALUES (OLD.purpose, OLD.status, date('now'), -1); END""",
    f"""CREATE TRIGGER console_tally_contacts_insert AFTER INSERT ON {CONTACTS} BEGIN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        VALUES ('', 'contacts', date('now'), 1); END""",
    f"""CREATE TRIGGER console_tally_contacts_delete AFTER DELETE ON {CONTACTS} BEGIN
        INSERT INTO {TALLY} (purpose, status, day, delta)
        VALUES ('', 'contacts', date('now'), -1); END""",
]

SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "console_tally_states_insert",
        "console_tally_states_update",
        "console_tally_states_delete",
        "console_tally_contacts_insert",
        "console_tally_contacts_delete",
    )
]

# What is there already, once: each state dated by when it began, contacts by creation.
BACKFILL = f"""
INSERT INTO {TALLY} (purpose, status, day, delta)
SELECT purpose, status, day, count(*) FROM (
    SELECT purpose, status, {{since}} AS day FROM {STATES}
) AS states GROUP BY purpose, status, day
"""
BACKFILL_CONTACTS = f"""
INSERT INTO {TALLY} (purpose, status, day, delta)
SELECT '', 'contacts', day, count(*) FROM (SELECT {{created}} AS day FROM {CONTACTS}) AS c
GROUP BY day
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            since = "coalesce((since AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date)"
            created = "(created_at AT TIME ZONE 'UTC')::date"
            cursor.execute(BACKFILL.format(since=since))
            cursor.execute(BACKFILL_CONTACTS.format(created=created))
            cursor.execute(POSTGRESQL)
        elif connection.vendor == "sqlite":
            cursor.execute(BACKFILL.format(since="coalesce(date(since), date('now'))"))
            cursor.execute(BACKFILL_CONTACTS.format(created="date(created_at)"))
            for statement in SQLITE:
                cursor.execute(statement)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRESQL_DROP)
        elif connection.vendor == "sqlite":
            for statement in SQLITE_DROP:
                cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_dashboard_snapshot"),
        ("consent", "0012_sealed_heads_without_a_foreign_key_constraint"),
        ("contacts", "0006_no_prefix_indexes_on_identifiers"),
    ]

    operations = [
        migrations.CreateModel(
            name="StateTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("purpose", models.CharField(max_length=16)),
                ("status", models.CharField(max_length=16)),
                ("day", models.DateField()),
                ("delta", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
