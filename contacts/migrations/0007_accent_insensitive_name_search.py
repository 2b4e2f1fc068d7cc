"""Name search that ignores accents and case: `contact_search_name(name)`, and on PostgreSQL
a trigram index on it, so "lucia perez" finds "Lucía Pérez" through the index at any size.

unaccent() is STABLE (its dictionary could change), so it cannot be indexed directly;
the wrapper names the dictionary and is declared IMMUTABLE, the usual way to index it.
SQLite registers a Python function of the same name on each connection (contacts.apps).
"""

from django.db import migrations

POSTGRESQL = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE OR REPLACE FUNCTION contact_search_name(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;
CREATE INDEX contact_search_name_idx ON contacts_contact
    USING gin (contact_search_name(name) gin_trgm_ops);
"""

POSTGRESQL_DROP = """
DROP INDEX IF EXISTS contact_search_name_idx;
DROP FUNCTION IF EXISTS contact_search_name(text);
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_no_prefix_indexes_on_identifiers")]

    operations = [migrations.RunPython(install, uninstall)]
