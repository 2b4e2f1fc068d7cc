"""The database itself refuses a membership that does not stand on an accepted invitation
of the same group and contact: no code path, admin form or SQL can add someone."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION groups_membership_requires_acceptance() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM groups_groupinvitation i
        WHERE i.id = NEW.invitation_id AND i.status = 'accepted'
          AND i.group_id = NEW.group_id AND i.contact_id = NEW.contact_id
    ) THEN
        RAISE EXCEPTION 'a group membership needs an accepted invitation of that contact'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER groups_membership_requires_acceptance
    BEFORE INSERT OR UPDATE OF invitation_id, group_id, contact_id ON groups_groupmembership
    FOR EACH ROW EXECUTE FUNCTION groups_membership_requires_acceptance();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS groups_membership_requires_acceptance ON groups_groupmembership;
DROP FUNCTION IF EXISTS groups_membership_requires_acceptance();
"""
_SQLITE_CHECK = """
BEGIN
    SELECT RAISE(ABORT, 'a group membership needs an accepted invitation of that contact')
    WHERE NOT EXISTS (
        SELECT 1 FROM groups_groupinvitation i
        WHERE i.id = NEW.invitation_id AND i.status = 'accepted'
          AND i.group_id = NEW.group_id AND i.contact_id = NEW.contact_id
    );
END;"""
SQLITE_UP = [
    "CREATE TRIGGER groups_membership_insert_requires_acceptance "
    "BEFORE INSERT ON groups_groupmembership FOR EACH ROW" + _SQLITE_CHECK,
    "CREATE TRIGGER groups_membership_update_requires_acceptance "
    "BEFORE UPDATE OF invitation_id, group_id, contact_id ON groups_groupmembership "
    "FOR EACH ROW" + _SQLITE_CHECK,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS groups_membership_insert_requires_acceptance;",
    "DROP TRIGGER IF EXISTS groups_membership_update_requires_acceptance;",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
