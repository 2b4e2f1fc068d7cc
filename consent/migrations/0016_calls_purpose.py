# The calls purpose: a choice only (no change to the tables).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0015_sealed_blocks_and_notices"),
    ]

    operations = [
        migrations.AlterField(
            model_name="consentevent",
            name="purpose",
            field=models.CharField(
                choices=[("marketing", "Marketing"), ("service", "Service"), ("calls", "Calls")],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="consentnotice",
            name="purpose",
            field=models.CharField(
                choices=[("marketing", "Marketing"), ("service", "Service"), ("calls", "Calls")],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="consentstate",
            name="purpose",
            field=models.CharField(
                choices=[("marketing", "Marketing"), ("service", "Service"), ("calls", "Calls")],
                max_length=16,
            ),
        ),
    ]
