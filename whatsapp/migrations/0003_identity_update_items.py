from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0002_store_raw_deliveries_first"),
    ]

    operations = [
        migrations.AlterField(
            model_name="inboundevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("message", "Message"),
                    ("status", "Status"),
                    ("user_preference", "User preference"),
                    ("identity_update", "Identity update"),
                    ("group_participants", "Group participants"),
                    ("other", "Other (stored, ignored)"),
                    ("malformed", "Malformed body"),
                ],
                max_length=24,
            ),
        ),
    ]
