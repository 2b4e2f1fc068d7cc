# ContactImport, moved from the consent app with its table (consent_contactimport):
# the state is created here, the database is left alone, and the content type (with its
# permissions, so the staff groups keep theirs) is relabelled to this app.

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import core.storage


def relabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label="imports", model="contactimport").exists():
        return
    ContentType.objects.using(db).filter(app_label="consent", model="contactimport").update(
        app_label="imports"
    )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label="consent", model="contactimport").exists():
        return
    ContentType.objects.using(db).filter(app_label="imports", model="contactimport").update(
        app_label="consent"
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("consent", "0014_contact_imports_move_to_the_imports_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ContactImport",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        (
                            "file",
                            models.FileField(
                                blank=True,
                                storage=core.storage.import_storage,
                                upload_to="%Y/%m/",
                            ),
                        ),
                        ("file_name", models.CharField(max_length=255)),
                        ("tag", models.CharField(blank=True, max_length=64)),
                        (
                            "stage",
                            models.CharField(
                                choices=[
                                    ("checking", "Checking the file"),
                                    ("checked", "Checked: waiting for confirmation"),
                                    ("invalid", "Has problems: nothing imported"),
                                    ("queued", "Confirmed: waiting for a worker"),
                                    ("running", "Importing"),
                                    ("done", "Imported"),
                                    ("failed", "Failed: nothing imported"),
                                ],
                                default="checking",
                                max_length=16,
                            ),
                        ),
                        ("phase", models.CharField(blank=True, max_length=16)),
                        ("done", models.PositiveIntegerField(default=0)),
                        ("total", models.PositiveIntegerField(blank=True, null=True)),
                        ("check_report", models.JSONField(blank=True, default=dict)),
                        ("preview", models.JSONField(blank=True, default=dict)),
                        ("result", models.JSONField(blank=True, default=dict)),
                        ("error", models.TextField(blank=True)),
                        (
                            "created_at",
                            models.DateTimeField(
                                default=django.utils.timezone.now, editable=False
                            ),
                        ),
                        ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "confirmed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "policy",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="consent.reconsentpolicy",
                            ),
                        ),
                        (
                            "uploaded_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "db_table": "consent_contactimport",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, restore_content_type, elidable=False),
    ]
