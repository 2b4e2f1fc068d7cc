"""Changes by contact and deliveries by endpoint are served by the unique constraints'
indexes, (contact, sequence) and (endpoint, change): the foreign keys' own indexes only
cost each consent's write. Only the indexes go; the constraints stay as they are (altering
the fields would drop and re-check them over the whole table)."""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("integrations_change_contact_id_973d1c3a", "integrations_change", "contact_id"),
    ("integrations_delivery_endpoint_id_226afb88", "integrations_delivery", "endpoint_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_changes_endpoints_deliveries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="change",
                    name="contact",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="integrations.webhookendpoint",
                    ),
                ),
            ],
        ),
    ]
