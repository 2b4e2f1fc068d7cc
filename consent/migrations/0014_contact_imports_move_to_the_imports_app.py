# ContactImport now belongs to the imports app (imports/migrations/0001_initial.py):
# only Django's idea of the model moves; the table stays as it is, rows and all.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0013_keywords_and_reviews_to_the_conversation_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ContactImport")],
            database_operations=[],
        ),
    ]
