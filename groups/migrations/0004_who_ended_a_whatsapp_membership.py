"""Who ended a membership, as the WhatsApp group reported it (`initiated_by`)."""

from django.db import migrations, models

# 0002's SQLite triggers: SQLite may rebuild the table to add a column, which drops them.
_SQLITE_CHECK = """
BEGIN
    SELECT RAISE(ABORT, 'a group membership needs an accepted invitation of that contact')
    WHERE NOT EXISTS (
        SELECT 1 FROM groups_groupinvitation i
        WHERE i.id = NEW.invitation_id AND i.status = 'accepted'
          AND i.group_id = NEW.group_id AND i.contact_id = NEW.contact_id
    );
END;"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS groups_membership_insert_requires_acceptance "
    "BEFORE INSERT ON groups_groupmembership FOR EACH ROW" + _SQLITE_CHECK,
    "CREATE TRIGGER IF NOT EXISTS groups_membership_update_requires_acceptance "
    "BEFORE UPDATE OF invitation_id, group_id, contact_id ON groups_groupmembership "
    "FOR EACH ROW" + _SQLITE_CHECK,
]


def sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0003_leave_on_erasure"),
    ]

    operations = [
        migrations.AddField(
            model_name="groupmembership",
            name="left_initiated_by",
            field=models.CharField(blank=True, db_default="", default="", max_length=32),
        ),
        migrations.RunPython(sqlite_triggers, migrations.RunPython.noop),
    ]
