"""ContactImport moved from the consent app to the imports app without touching its table:
a database from before the move migrates forward with its jobs, and the staff roles keep
their permissions (the content type is relabelled, not made anew)."""

import uuid

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imports.models import ContactImport

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("consent", "0013_keywords_and_reviews_to_the_conversation_app"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("imports", None),
]
AFTER = [("imports", "0002_valid_rows_only_rejected_rows_and_exports")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def test_a_database_from_before_the_move_keeps_its_imports_and_permissions():
    # given jobs written by the consent app, and a role allowed to import
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    OldImport = apps.get_model("consent", "ContactImport")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    OldGroup = apps.get_model("auth", "Group")
    user = User.objects.create(username="importer")
    job_id = uuid.uuid4()
    OldImport.objects.create(
        id=job_id, file_name="spring.csv", stage="done", uploaded_by_id=user.pk
    )
    old_type, _ = ContentType.objects.get_or_create(app_label="consent", model="contactimport")
    permission, _ = Permission.objects.get_or_create(
        content_type=old_type, codename="add_contactimport", defaults={"name": "Can add"}
    )
    marketing, _ = OldGroup.objects.get_or_create(name="Marketing")
    marketing.permissions.add(permission)

    try:
        # when the project migrates forward
        migrate(AFTER)

        # then the job is there, in the same table, under its new app
        job = ContactImport.objects.get(pk=job_id)
        assert (job.file_name, job.stage, job.valid_rows_only) == ("spring.csv", "done", False)
        assert ContactImport._meta.db_table == "consent_contactimport"
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM consent_contactimport")
            assert cursor.fetchone()[0] == 1
        # and the role kept its permission, now the imports app's
        codes = Group.objects.get(name="Marketing").permissions.values_list(
            "content_type__app_label", "codename"
        )
        assert ("imports", "add_contactimport") in set(codes)
    finally:
        call_command("migrate", verbosity=0)
